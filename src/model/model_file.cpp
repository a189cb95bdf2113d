#include "repux/model/model_file.h"

#include "repux/error.h"
#include "repux/io/safetensors.h"
#include "repux/nn/network_family.h"
#include "repux/shape_string.h"

#include <fmt/ranges.h>

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

void save_model(LoadedModel& model, const std::string& path) {
  if (model.parts.empty()) return save_model(model.net, model.info, path);
  nlohmann::json parts = nlohmann::json::array();
  SafetensorsFile file;
  for (size_t p = 0; p < model.parts.size(); ++p) {
    auto& part = model.parts[p];
    if (!part.parts.empty()) fail("{}: a part of a multi-part model has parts of its own", path);
    Plan plan = part.info.plan;
    plan.network = part.net->config;
    parts.push_back({{"plan", to_json(plan)}, {"provenance", part.info.provenance}});
    for (auto& [name, t] : state_dict(part.net, KernelForm::Effective)) file.tensors.emplace_back("parts." + std::to_string(p) + "." + name, t);
  }
  const nlohmann::json description = {{"format", "repux-model"}, {"version", 2}, {"plan", to_json(model.info.plan)},
                                      {"provenance", model.info.provenance}, {"parts", parts}};
  file.metadata["repux"] = description.dump();
  write_safetensors(file, path);
}

namespace {

// The network of a description's plan, built, checked against its tensors and loaded with them.
Segmenter loaded_network(const NetworkConfig& network, const NamedTensors& tensors, const torch::Device& device, const std::string& path) {
  check_description_against_tensors(network, tensors, path);
  Segmenter net = create_network(network);
  net->deploy();
  load_state_dict(net, tensors, KernelForm::Effective, path);
  net->to(device);
  net->eval();
  return net;
}

// The tensors under "parts.<p>." without that prefix.
NamedTensors part_tensors(const NamedTensors& all, size_t p) {
  const std::string prefix = "parts." + std::to_string(p) + ".";
  NamedTensors out;
  for (const auto& [name, t] : all) {
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

}  // namespace

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
  const nlohmann::json parts = d.value("parts", nlohmann::json::array());
  if (!parts.is_array()) fail("{}: malformed repux description ('parts' is not a list)", path);
  for (size_t p = 0; p < parts.size(); ++p) {
    LoadedModel part;
    try {
      part.info.plan = plan_from_json(parts[p].at("plan"));
      part.info.provenance = parts[p].value("provenance", nlohmann::json());
    } catch (const nlohmann::json::exception& e) {
      fail("{}: part {}: malformed description ({})", path, p + 1, first_line(e.what()));
    } catch (const Error& e) {
      fail("{}: part {}: {}", path, p + 1, e.what());
    }
    part.net = loaded_network(part.info.plan.network, part_tensors(file.tensors, p), device, path + " part " + std::to_string(p + 1));
    m.parts.push_back(std::move(part));
  }
  m.net = m.parts.empty() ? loaded_network(m.info.plan.network, file.tensors, device, path) : m.parts[0].net;
  return m;
}

LoadedModel import_official_checkpoint(const std::string& path, const NetworkConfig& config, bool bfr_finetune) {
  return import_official_checkpoint(read_torch_state_dict(path), path, config, bfr_finetune);
}

NetworkConfig official_network(const NamedTensors& state, const std::string& path) {
  StoredShapes shapes{{}, path};
  for (const auto& [name, t] : state) shapes.shapes.emplace(name, t.sizes());
  std::vector<std::string> prefixes;
  for (const auto& name : network_family_names()) {
    const NetworkFamily& family = network_family(name);
    if (family.official_prefix.empty() || !family.infer_stored) continue;
    prefixes.push_back(family.official_prefix + ".");
    for (const auto& [key, t] : state) {
      if (key.rfind(prefixes.back(), 0) != 0) continue;
      NetworkConfig c;
      c.arch = name;
      family.infer_stored(c, shapes);
      return c;
    }
  }
  fail("{}: no official network's tensors (expected keys starting with {})", path, fmt::join(prefixes, " or "));
}

LoadedModel import_official_checkpoint(const NamedTensors& state, const std::string& path, const NetworkConfig& config, bool bfr_finetune) {
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
