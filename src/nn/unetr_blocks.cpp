#include "repux/nn/unetr_blocks.h"

#include "repux/nn/fused_norm.h"
#include "repux/nn/transposed_conv3d.h"

namespace repux {
namespace {

torch::Tensor instance_norm(const torch::Tensor& x) {
  return torch::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
}

}  // namespace

constexpr double kSlope = 0.01;

torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, kSlope); }

ConvHolderImpl::ConvHolderImpl(int64_t in, int64_t out, int64_t kernel, bool bias, bool transposed, int64_t stride) : stride_(stride) {
  if (transposed) {
    transposed_conv = register_module("conv", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(in, out, kernel)
                                                                            .stride(kernel)
                                                                            .bias(bias)));
  } else {
    conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias)));
  }
}

torch::Tensor ConvHolderImpl::forward(const torch::Tensor& x) {
  if (!conv) {
    const auto& w = transposed_conv->weight;
    const auto& b = transposed_conv->bias;
    if (winograd_enabled() && stride2_transposed_conv3d_pays(x, w, b)) return stride2_transposed_conv3d(x, w, b);
    return transposed_conv(x);
  }
  const int tile = stride_ == 1 && winograd_enabled() ? winograd_conv3d_tile(x, conv->weight, conv->bias) : 0;
  if (tile != 0) return winograd_conv3d(x, winograd_weight_now(tile), conv->bias);
  return conv(x);
}

const WinogradWeight& ConvHolderImpl::winograd_weight_now(int tile) {
  const auto& weight = conv->weight;
  if (winograd_source_ != weight.data_ptr() || winograd_version_ != weight._version() || winograd_.tile != tile) {
    winograd_ = winograd_weight(weight, tile);
    winograd_source_ = weight.data_ptr();
    winograd_version_ = weight._version();
  }
  return winograd_;
}

UnetResBlockImpl::UnetResBlockImpl(int64_t in, int64_t out) {
  conv1 = register_module("conv1", ConvHolder(in, out, 3, false));
  conv2 = register_module("conv2", ConvHolder(out, out, 3, false));
  if (in != out) conv3 = register_module("conv3", ConvHolder(in, out, 1, false));
}

// At inference on the CPU the norms, the add and the activations run fused in place (nn/fused_norm.h).
torch::Tensor UnetResBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv1(x);
  if (fused_norm_applies(h)) instance_norm_lrelu_(h, kSlope);
  else h = lrelu(instance_norm(h));
  h = conv2(h);
  const auto residual = (conv3 ? conv3(x) : x).contiguous();
  if (fused_norm_applies(h) && fused_norm_applies(residual)) {
    instance_norm_add_lrelu_(h, residual, /*normalise_residual=*/static_cast<bool>(conv3), kSlope);
    return h;
  }
  return lrelu(instance_norm(h) + (conv3 ? instance_norm(residual) : residual));
}

UnetrBasicBlockImpl::UnetrBasicBlockImpl(int64_t in, int64_t out) { layer = register_module("layer", UnetResBlock(in, out)); }

torch::Tensor UnetrBasicBlockImpl::forward(const torch::Tensor& x) { return layer(x); }

UnetrUpBlockImpl::UnetrUpBlockImpl(int64_t in, int64_t out) {
  transp_conv = register_module("transp_conv", ConvHolder(in, out, 2, false, /*transposed=*/true));
  conv_block = register_module("conv_block", UnetResBlock(2 * out, out));
}

torch::Tensor UnetrUpBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  return conv_block(torch::cat({transp_conv(x), skip}, 1));
}

UnetOutBlockImpl::UnetOutBlockImpl(int64_t in, int64_t classes) { conv = register_module("conv", ConvHolder(in, classes, 1, true)); }

torch::Tensor UnetOutBlockImpl::forward(const torch::Tensor& x) { return conv(x); }

}  // namespace repux
