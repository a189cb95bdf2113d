#include "repux/nn/deep_heads.h"

#include "repux/error.h"

namespace repux {

DeepHeadsImpl::DeepHeadsImpl(const std::vector<int64_t>& channels, int64_t classes) : channels_(channels) {
  heads = register_module("heads", torch::nn::ModuleList());
  for (int64_t c : channels) heads->push_back(torch::nn::Conv3d(torch::nn::Conv3dOptions(c, classes, 1).bias(true)));
}

std::vector<torch::Tensor> DeepHeadsImpl::forward(const std::vector<torch::Tensor>& features) {
  if (features.size() != heads->size()) fail("deep heads: {} feature maps for {} heads", features.size(), heads->size());
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < features.size(); ++i) out.push_back(heads[i]->as<torch::nn::Conv3dImpl>()->forward(features[i]));
  return out;
}

std::shared_ptr<DeepHeadsImpl> DeepHeadsImpl::for_classes(int64_t classes) const {
  auto fresh = std::make_shared<DeepHeadsImpl>(channels_, classes);
  const auto weights = parameters();
  if (!weights.empty()) fresh->to(weights.front().device());
  return fresh;
}

bool is_deep_head_key(const std::string& key) { return key.find("deep_heads.") != std::string::npos; }

}  // namespace repux
