#pragma once
// A repux model file holds everything `predict` needs: the model's Plan (network, preprocessing,
// patch, class names, inference defaults) and the effective (deploy) weights. It is a safetensors
// file whose "__metadata__" carries the JSON description under the key "repux", so other tools can
// read the weights; it is written atomically.
//   version 2: {"format": "repux-model", "version": 2, "plan": {...}, "provenance": {...}}
//   version 1 (read only): "network", "class_names" and "preprocessing" at the top level, the
//              training patch inside "preprocessing"; read with today's inference defaults.
#include "repux/model/plan.h"
#include "repux/nn/segmenter.h"
#include "repux/nn/state_dict.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace repux {

struct ModelInfo {
  Plan plan;
  nlohmann::json provenance;  // where the weights came from (import, training run)
};

struct LoadedModel {
  Segmenter net{nullptr};
  ModelInfo info;
  // A model of several parts (TotalSegmentator's multi-part tasks, e.g. "total"'s five): each part
  // predicts on its own and their labels make one map, part after part, each part's classes numbered
  // after the previous parts'. Then `info.plan` describes the combined map (its class names) and
  // `net` is the first part's network.
  std::vector<LoadedModel> parts;
};

void save_model(Segmenter& net, const ModelInfo& info, const std::string& path);
// A multi-part model in one file: each part's weights under "parts.<p>.", its plan and provenance in
// the description's "parts".
void save_model(LoadedModel& model, const std::string& path);
// Returns the network deployed (kernels folded) and in eval mode, on `device`.
LoadedModel load_model(const std::string& path, const torch::Device& device = torch::kCPU);

// Imports an official checkpoint (torch.save of the state dict). Official weights are effective
// weights: by default the network is deployed; with `bfr_finetune` it stays in BFR training mode
// with W = W_official / F, so fine-tuning starts from the same function.
LoadedModel import_official_checkpoint(const std::string& path, const NetworkConfig& config, bool bfr_finetune = false);
// The same, from the checkpoint's tensors already read (read_torch_state_dict) from `path`.
LoadedModel import_official_checkpoint(const NamedTensors& state, const std::string& path, const NetworkConfig& config,
                                       bool bfr_finetune = false);

// The network an official checkpoint's tensors show: the family whose key prefix they carry
// (repuxnet_3d., uxnet_3d.), every width, depth, kernel size and channel count read from the tensors.
// An error naming `path` when no family's keys are there.
NetworkConfig official_network(const NamedTensors& state, const std::string& path);

}  // namespace repux
