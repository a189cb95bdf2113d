#pragma once
// LayerNorm over the channel axis of an [N, C, D, H, W] tensor (ConvNeXt's "channels_first" form):
// per voxel, mean and biased variance over channels, then a per-channel weight and bias.
#include <torch/torch.h>

namespace repux {

struct ChannelsFirstLayerNormImpl : torch::nn::Module {
  explicit ChannelsFirstLayerNormImpl(int64_t channels, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;
  double eps;
};
TORCH_MODULE(ChannelsFirstLayerNorm);

}  // namespace repux
