#pragma once
// The models a DICOM node serves, routed by modality: "CT=ct.repux" serves CT, an unkeyed file every
// modality without its own. Each is loaded once, onto the device it will run on.
#include "repux/model/model_file.h"

#include <map>
#include <string>
#include <vector>

namespace repux {

class ModelRoutes {
 public:
  ModelRoutes(const std::vector<std::string>& specs, const torch::Device& device);
  // The model for `modality`; an error naming the modality when none serves it.
  LoadedModel& for_modality(const std::string& modality);

 private:
  std::map<std::string, LoadedModel> models_;
};

}  // namespace repux
