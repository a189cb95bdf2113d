#include "repux/infer/model_routes.h"

#include "repux/error.h"

namespace repux {

ModelRoutes::ModelRoutes(const std::vector<std::string>& specs, const torch::Device& device) {
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    const std::string key = eq == std::string::npos ? "" : spec.substr(0, eq);
    if (models_.count(key)) fail("-m {}: {} is routed twice", spec, key.empty() ? "the unkeyed model" : "modality " + key);
    const std::string path = eq == std::string::npos ? spec : spec.substr(eq + 1);
    try {
      models_.emplace(key, load_model(path, device));
    } catch (const c10::Error& e) {  // the device: not built in, not present, out of memory
      fail("-m {}: cannot load the model onto {}: {}", path, device.str(), first_line(e.what_without_backtrace()));
    }
  }
}

LoadedModel& ModelRoutes::for_modality(const std::string& modality) {
  auto it = models_.find(modality);
  if (it == models_.end()) it = models_.find("");
  if (it == models_.end()) fail("no model serves modality {} (give -m {}=MODEL or an unkeyed -m)", modality, modality);
  return it->second;
}

}  // namespace repux
