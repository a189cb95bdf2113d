#pragma once
// The two encoder blocks. Attribute names follow the official code so that state_dict keys match.
#include "repux/nn/large_kernel_conv.h"
#include "repux/nn/layernorm.h"
#include "repux/nn/sync_batch_norm.h"

#include <torch/torch.h>

namespace repux {

// RepUX-Net block: large-kernel depthwise conv -> BatchNorm3d -> GELU. No residual.
struct RepUxBlockImpl : torch::nn::Module {
  explicit RepUxBlockImpl(const LargeKernelConvOptions& conv);
  torch::Tensor forward(const torch::Tensor& x);

  LargeKernelConv dwconv{nullptr};
  torch::nn::BatchNorm3d norm{nullptr};
  // Set for data-parallel training with synchronised BatchNorm (statistics over every rank's batch).
  BatchStatReducer* sync_batch_norm_over = nullptr;
};
TORCH_MODULE(RepUxBlock);

// 3D UX-Net block: depthwise conv -> LayerNorm -> grouped 1x1 conv to 4C -> GELU ->
// grouped 1x1 conv to C -> per-channel gamma -> plus the input.
struct UxBlockImpl : torch::nn::Module {
  explicit UxBlockImpl(const LargeKernelConvOptions& conv);
  torch::Tensor forward(const torch::Tensor& x);

  LargeKernelConv dwconv{nullptr};
  ChannelsFirstLayerNorm norm{nullptr};
  torch::nn::Conv3d pwconv1{nullptr}, pwconv2{nullptr};
  torch::Tensor gamma;
};
TORCH_MODULE(UxBlock);

}  // namespace repux
