#pragma once
// Deep supervision's extra outputs for a decoder built without them (ResEnc, the UNETR-style decoder
// of RepUX-Net and 3D UX-Net): a 1x1x1 convolution per coarser decoder stage, as nnU-Net's decoders
// have (its seg_layers). Only networks whose NetworkConfig::deep_heads is set have them, so that
// model files without them keep loading; inference never uses them.
#include <torch/torch.h>

#include <vector>

namespace repux {

struct DeepHeadsImpl : torch::nn::Module {
  // `channels`: each coarser stage's width, finest first.
  DeepHeadsImpl(const std::vector<int64_t>& channels, int64_t classes);
  // `features`: those stages' outputs, finest first; returns one logit map each.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features);
  torch::nn::ModuleList heads;
};
TORCH_MODULE(DeepHeads);

}  // namespace repux
