#include "repux/nn/layernorm.h"

#include "repux/ops/compute_type.h"

namespace repux {
namespace {

// Channel LayerNorm with a hand-written backward. Written with elementwise ops, autograd would keep
// four full-size intermediates per call (x - mean, its square, the normalised x, ...); this keeps the
// input and two per-voxel statistics (1/C of its size). Statistics are computed in float32 for bf16 or
// half inputs (as autocast does for torch's layer_norm) and the output has the input's dtype.
class ChannelsFirstLayerNormFunction : public torch::autograd::Function<ChannelsFirstLayerNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps) {
    const auto x = in_compute_type(input);
    const auto mean = x.mean(1, /*keepdim=*/true);
    const auto centred = x - mean;
    const auto rstd = torch::rsqrt(centred.pow(2).mean(1, /*keepdim=*/true) + eps);
    const auto shape = std::vector<int64_t>{1, -1, 1, 1, 1};
    auto y = (centred * rstd) * weight.to(x.scalar_type()).view(shape) + bias.to(x.scalar_type()).view(shape);
    ctx->save_for_backward({input, weight, mean, rstd});
    return y.to(input.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto x = in_compute_type(saved[0]);
    const auto& weight = saved[1];
    const auto xhat = (x - saved[2]) * saved[3];
    const auto dy = grads[0].to(x.scalar_type());
    const auto shape = std::vector<int64_t>{1, -1, 1, 1, 1};
    const std::vector<int64_t> all_but_channels{0, 2, 3, 4};
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) {
      // d/dx of w * (x - mean) * rstd, per voxel over the C channels.
      const auto dxhat = dy * weight.to(x.scalar_type()).view(shape);
      dx = (saved[3] * (dxhat - dxhat.mean(1, true) - xhat * (dxhat * xhat).mean(1, true))).to(saved[0].scalar_type());
    }
    if (ctx->needs_input_grad(1)) dw = (dy * xhat).sum(all_but_channels).to(weight.scalar_type());
    if (ctx->needs_input_grad(2)) db = dy.sum(all_but_channels).to(weight.scalar_type());
    return {dx, dw, db, torch::Tensor()};
  }
};

}  // namespace

ChannelsFirstLayerNormImpl::ChannelsFirstLayerNormImpl(int64_t channels, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor ChannelsFirstLayerNormImpl::forward(const torch::Tensor& x) {
  return ChannelsFirstLayerNormFunction::apply(x, weight, bias, eps);
}

}  // namespace repux
