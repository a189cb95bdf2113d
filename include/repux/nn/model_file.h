#pragma once
// A repux model file holds everything `predict` needs: the architecture config, the class names,
// the preprocessing recipe and the effective (deploy) weights. It is a safetensors file whose
// "__metadata__" carries the JSON description under the key "repux", so other tools can read the
// weights; it is written atomically.
#include "repux/nn/segmenter.h"
#include "repux/nn/state_dict.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace repux {

struct ModelInfo {
  NetworkConfig network;
  std::vector<std::string> class_names;  // one per output channel; index 0 is the background
  nlohmann::json preprocessing;          // the recipe replayed by predict (null: none recorded)
  nlohmann::json provenance;             // where the weights came from (import, training run)
};

struct LoadedModel {
  Segmenter net{nullptr};
  ModelInfo info;
};

// "background", "class1", ...
std::vector<std::string> default_class_names(int64_t classes);

void save_model(Segmenter& net, const ModelInfo& info, const std::string& path);
// Returns the network deployed (kernels folded) and in eval mode, on `device`.
LoadedModel load_model(const std::string& path, const torch::Device& device = torch::kCPU);

// Imports an official checkpoint (torch.save of the state dict). Official weights are effective
// weights: by default the network is deployed; with `bfr_finetune` it stays in BFR training mode
// with W = W_official / F, so fine-tuning starts from the same function.
LoadedModel import_official_checkpoint(const std::string& path, const NetworkConfig& config, bool bfr_finetune = false);

}  // namespace repux
