#include "repux/nn/blocks.h"

#include "repux/nn/sync_batch_norm.h"

namespace repux {

RepUxBlockImpl::RepUxBlockImpl(const LargeKernelConvOptions& conv) {
  dwconv = register_module("dwconv", LargeKernelConv(conv));
  norm = register_module("norm", torch::nn::BatchNorm3d(torch::nn::BatchNorm3dOptions(conv.channels).eps(1e-5).momentum(0.1)));
}

torch::Tensor RepUxBlockImpl::forward(const torch::Tensor& x) {
  const auto y = dwconv(x);
  if (sync_batch_norm_over && is_training()) return torch::gelu(sync_batch_norm(y, norm, *sync_batch_norm_over));
  return torch::gelu(norm(y));
}

UxBlockImpl::UxBlockImpl(const LargeKernelConvOptions& conv) {
  const int64_t c = conv.channels;
  dwconv = register_module("dwconv", LargeKernelConv(conv));
  norm = register_module("norm", ChannelsFirstLayerNorm(c, 1e-6));
  pwconv1 = register_module("pwconv1", torch::nn::Conv3d(torch::nn::Conv3dOptions(c, 4 * c, 1).groups(c)));
  pwconv2 = register_module("pwconv2", torch::nn::Conv3d(torch::nn::Conv3dOptions(4 * c, c, 1).groups(c)));
  gamma = register_parameter("gamma", torch::full({c}, 1e-6));
}

torch::Tensor UxBlockImpl::forward(const torch::Tensor& x) {
  auto y = pwconv2(torch::gelu(pwconv1(norm(dwconv(x)))));
  return x + gamma.view({1, -1, 1, 1, 1}) * y;
}

}  // namespace repux
