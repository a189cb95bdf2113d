#include "repux/nn/model_file.h"

#include "repux/error.h"
#include "repux/io/safetensors.h"
#include "repux/shape_string.h"

namespace repux {

std::vector<std::string> default_class_names(int64_t classes) {
  std::vector<std::string> names{"background"};
  for (int64_t c = 1; c < classes; ++c) names.push_back("class" + std::to_string(c));
  return names;
}

void save_model(Segmenter& net, const ModelInfo& info, const std::string& path) {
  if (static_cast<int64_t>(info.class_names.size()) != net->config.out_channels) {
    fail("model has {} outputs but {} class names", net->config.out_channels, info.class_names.size());
  }
  nlohmann::json description = {{"format", "repux-model"},
                                {"version", 1},
                                {"network", to_json(net->config)},
                                {"class_names", info.class_names},
                                {"preprocessing", info.preprocessing},
                                {"provenance", info.provenance}};
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
  if (d.value("format", "") != "repux-model") fail("{}: not a repux model file", path);
  LoadedModel m;
  m.info.network = network_config_from_json(d.at("network"));
  m.info.class_names = d.value("class_names", default_class_names(m.info.network.out_channels));
  m.info.preprocessing = d.value("preprocessing", nlohmann::json());
  m.info.provenance = d.value("provenance", nlohmann::json());
  m.net = create_network(m.info.network);
  m.net->deploy();
  load_state_dict(m.net, file.tensors, KernelForm::Effective, path);
  m.net->to(device);
  m.net->eval();
  return m;
}

LoadedModel import_official_checkpoint(const std::string& path, const NetworkConfig& config, bool bfr_finetune) {
  const NamedTensors state = read_torch_state_dict(path);
  const NetworkConfig cfg = config.resolved();
  // Name the two most common mistakes plainly before the generic key comparison.
  const std::string prefix = cfg.encoder_prefix() + ".";
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
  m.info.network = cfg;
  m.info.class_names = default_class_names(cfg.out_channels);
  m.info.provenance = {{"imported_from", path}};
  m.net = create_network(cfg);
  if (!bfr_finetune) m.net->deploy();
  load_state_dict(m.net, state, KernelForm::Effective, path);
  m.net->eval();
  return m;
}

}  // namespace repux
