#include "repux/nn/sync_batch_norm.h"

#include "repux/ops/compute_type.h"

namespace repux {
namespace {

torch::Tensor per_channel_sum(const torch::Tensor& t) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < t.dim(); ++d) dims.push_back(d);
  return t.sum(dims);
}

torch::Tensor as_channels(const torch::Tensor& v, int64_t dim) {
  std::vector<int64_t> shape(dim, 1);
  shape[1] = -1;
  return v.view(shape);
}

// Gradients, with n the voxel count over all ranks and xhat the normalised input (as in SyncBatchNorm):
//   dx = w * rstd * (dy - sum_all(dy) / n - xhat * sum_all(dy * xhat) / n)
//   dw = sum_local(dy * xhat), db = sum_local(dy)   (then averaged over ranks with the other gradients)
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t comm_address, torch::Tensor running_mean,
                               torch::Tensor running_var, double momentum, double eps) {
    auto& comm = *reinterpret_cast<BatchStatReducer*>(comm_address);
    const auto x = in_compute_type(input);
    const double local_count = static_cast<double>(x.numel() / x.size(1));
    // Two passes (mean, then centred squares) rather than sum of squares: no cancellation in float32.
    std::vector<torch::Tensor> first{torch::cat({per_channel_sum(x), torch::full({1}, local_count, x.options())})};
    comm.all_reduce_sum(first);
    const double count = first[0][-1].item<double>();
    const auto mean = first[0].narrow(0, 0, x.size(1)) / count;
    const auto centred = x - as_channels(mean, x.dim());
    std::vector<torch::Tensor> second{per_channel_sum(centred * centred)};
    comm.all_reduce_sum(second);
    const auto var = second[0] / count;
    const auto rstd = torch::rsqrt(var + eps);
    {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum).add_((var * (count / std::max(1.0, count - 1))).to(running_var.scalar_type()), momentum);
    }
    auto y = centred * as_channels(rstd * weight.to(x.scalar_type()), x.dim()) + as_channels(bias.to(x.scalar_type()), x.dim());
    ctx->save_for_backward({input, weight, mean, rstd});
    ctx->saved_data["comm"] = comm_address;
    ctx->saved_data["count"] = count;
    return y.to(input.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto& comm = *reinterpret_cast<BatchStatReducer*>(ctx->saved_data["comm"].toInt());
    const double count = ctx->saved_data["count"].toDouble();
    const auto saved = ctx->get_saved_variables();
    const auto x = in_compute_type(saved[0]);
    const auto& weight = saved[1];
    const int64_t dim = x.dim(), channels = x.size(1);
    const auto xhat = (x - as_channels(saved[2], dim)) * as_channels(saved[3], dim);
    const auto dy = grads[0].to(x.scalar_type());
    const auto sum_dy = per_channel_sum(dy), sum_dy_xhat = per_channel_sum(dy * xhat);
    std::vector<torch::Tensor> sums{torch::cat({sum_dy, sum_dy_xhat})};
    comm.all_reduce_sum(sums);  // every rank calls this, whatever it needs, to keep the collectives paired
    torch::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      const auto mean_dy = sums[0].narrow(0, 0, channels) / count;
      const auto mean_dy_xhat = sums[0].narrow(0, channels, channels) / count;
      dx = as_channels(weight.to(x.scalar_type()) * saved[3], dim) *
           (dy - as_channels(mean_dy, dim) - xhat * as_channels(mean_dy_xhat, dim));
      dx = dx.to(saved[0].scalar_type());
    }
    return {dx, sum_dy_xhat.to(weight.scalar_type()), sum_dy.to(weight.scalar_type()), torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm3d& bn, BatchStatReducer& comm) {
  const auto& o = bn->options;
  {
    torch::NoGradGuard no_grad;
    if (bn->num_batches_tracked.defined()) bn->num_batches_tracked.add_(1);
  }
  return SyncBatchNormFunction::apply(x, bn->weight, bn->bias, reinterpret_cast<int64_t>(&comm), bn->running_mean,
                                      bn->running_var, o.momentum().value_or(0.1), o.eps());
}

}  // namespace repux
