#pragma once
// Deep supervision's extra outputs for a decoder built without them (ResEnc, the UNETR-style decoder
// of RepUX-Net and 3D UX-Net): a 1x1x1 convolution per coarser decoder stage, as nnU-Net's decoders
// have (its seg_layers). Only networks whose NetworkConfig::deep_heads is set have them, so that
// model files without them keep loading; inference never uses them.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace repux {

struct DeepHeadsImpl : torch::nn::Module {
  // `channels`: each coarser stage's width, finest first.
  DeepHeadsImpl(const std::vector<int64_t>& channels, int64_t classes);
  // `features`: those stages' outputs, finest first; returns one logit map each.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features);
  // New heads on the same stages for another number of classes (fine-tuning), on the same device.
  std::shared_ptr<DeepHeadsImpl> for_classes(int64_t classes) const;
  torch::nn::ModuleList heads;

 private:
  std::vector<int64_t> channels_;
};
TORCH_MODULE(DeepHeads);

// Whether a state-dict key is one of these heads' tensors (training-only: `repux export` leaves them out).
bool is_deep_head_key(const std::string& key);

}  // namespace repux
