#include "repux/model/model_file.h"

#include "repux/error.h"
#include "repux/io/safetensors.h"
#include "repux/nn/network_family.h"
#include "repux/shape_string.h"

#include <map>

namespace repux {

namespace {

// The description decides how large a network gets built, so it is checked against the stored
// tensors first: widths, depths, kernels, hidden size and classes each show in one tensor's shape.
// A file that claims a large network must then also hold its weights.
void check_description_against_tensors(const NetworkConfig& c, const NamedTensors& tensors, const std::string& path) {
  StoredShapes shapes{{}, path};
  for (const auto& [name, t] : tensors) shapes.shapes.emplace(name, t.sizes());
  network_family(c.arch).check_stored(c, shapes);
  for (const auto& [name, t] : tensors) {
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) fail("{}: tensor {} holds NaN or infinite weights", path, name);
  }
}

// The plan of a version-1 description: its fields were at the top level, the patch in "preprocessing".
nlohmann::json plan_json_of_version_1(const nlohmann::json& d) {
  nlohmann::json plan = {{"network", d.at("network")}};
  if (d.contains("class_names")) plan["class_names"] = d["class_names"];
  nlohmann::json recipe = d.value("preprocessing", nlohmann::json());
  if (recipe.is_object() && recipe.contains("patch")) {
    plan["patch"] = recipe["patch"];
    recipe.erase("patch");
  }
  if (!recipe.is_null()) plan["preprocessing"] = recipe;
  return plan;
}

}  // namespace

void save_model(Segmenter& net, const ModelInfo& info, const std::string& path) {
  Plan plan = info.plan;
  plan.network = net->config;  // the weights decide (e.g. after replace_head)
  nlohmann::json description = {{"format", "repux-model"}, {"version", 2}, {"plan", to_json(plan)}, {"provenance", info.provenance}};
  SafetensorsFile file;
  file.metadata["repux"] = description.dump();
  file.tensors = state_dict(net, KernelForm::Effective);
  write_safetensors(file, path);
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  SafetensorsFile file;
  try {
    file = read_safetensors(path);
  } catch (const Error& e) {
    fail("not a repux model file: {}", e.what());
  }
  auto it = file.metadata.find("repux");
  if (it == file.metadata.end()) fail("{}: not a repux model file (no repux description in its metadata)", path);
  nlohmann::json d;
  try {
    d = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    fail("{}: the repux description is not valid JSON", path);
  }
  if (!d.is_object() || d.value("format", "") != "repux-model") fail("{}: not a repux model file", path);
  LoadedModel m;
  try {
    const int version = d.value("version", 1);
    if (version != 1 && version != 2) fail("repux model file version {} is not supported (1 or 2; a newer repux wrote it?)", version);
    m.info.plan = plan_from_json(version == 1 ? plan_json_of_version_1(d) : d.at("plan"));
    m.info.provenance = d.value("provenance", nlohmann::json());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed repux description ({})", path, first_line(e.what()));
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  const NetworkConfig& network = m.info.plan.network;
  check_description_against_tensors(network, file.tensors, path);
  m.net = create_network(network);
  m.net->deploy();
  load_state_dict(m.net, file.tensors, KernelForm::Effective, path);
  m.net->to(device);
  m.net->eval();
  return m;
}

LoadedModel import_official_checkpoint(const std::string& path, const NetworkConfig& config, bool bfr_finetune) {
  const NamedTensors state = read_torch_state_dict(path);
  const NetworkConfig cfg = config.resolved();
  const NetworkFamily& family = network_family(cfg.arch);
  if (family.official_prefix.empty()) {
    fail("{}: {} has no official checkpoints to import (train it with repux train --arch {})", path, cfg.arch, cfg.arch);
  }
  // Name the two most common mistakes plainly before the generic key comparison.
  const std::string prefix = family.official_prefix + ".";
  bool has_prefix = false;
  std::string other;
  for (const auto& [k, v] : state) {
    if (k.rfind(prefix, 0) == 0) has_prefix = true;
    if (k.rfind("repuxnet_3d.", 0) == 0) other = "repuxnet";
    if (k.rfind("uxnet_3d.", 0) == 0) other = "uxnet";
  }
  if (!has_prefix && !other.empty()) fail("{}: is a {} checkpoint, but --arch says {}", path, other, cfg.arch);
  for (const auto& [k, v] : state) {
    if (k == "out.conv.conv.weight" && v.size(0) != cfg.out_channels) {
      fail("{}: has {} output classes (out.conv.conv.weight is {}), but {} were asked for", path, v.size(0),
           shape_string(v.sizes()), cfg.out_channels);
    }
  }
  LoadedModel m;
  m.info.plan.network = cfg;
  m.info.plan = resolved(m.info.plan);
  m.info.provenance = {{"imported_from", path}};
  m.net = create_network(cfg);
  if (!bfr_finetune) m.net->deploy();
  load_state_dict(m.net, state, KernelForm::Effective, path);
  m.net->eval();
  return m;
}

}  // namespace repux
