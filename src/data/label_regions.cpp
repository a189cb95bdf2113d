#include "repux/data/label_regions.h"

#include "repux/error.h"

#include <algorithm>

namespace repux {

int64_t LabelRegions::label_classes() const {
  int64_t top = 0;
  for (const auto& r : regions) {
    top = std::max(top, r.paints);
    for (int64_t v : r.values) top = std::max(top, v);
  }
  return top + 1;
}

std::vector<std::string> LabelRegions::names_with_background() const {
  std::vector<std::string> out{"background"};
  for (const auto& r : regions) out.push_back(r.name);
  return out;
}

std::vector<std::string> LabelRegions::label_value_names() const {
  std::vector<std::string> out(static_cast<size_t>(label_classes()));
  out[0] = "background";
  for (size_t k = 1; k < out.size(); ++k) out[k] = "label" + std::to_string(k);
  for (const auto& r : regions) out[static_cast<size_t>(r.paints)] = r.name;
  return out;
}

bool LabelRegions::operator==(const LabelRegions& other) const { return to_json(*this) == to_json(other); }

void check_label_regions(const LabelRegions& regions, const std::string& source) {
  for (const auto& r : regions.regions) {
    if (r.values.empty()) fail("{}: region '{}' has no label values", source, r.name);
    for (int64_t v : r.values) {
      if (v <= 0 || v > 32767) fail("{}: region '{}' holds label value {}, expected 1 to 32767 (0 is background)", source, r.name, v);
    }
    if (r.paints <= 0 || r.paints > 32767) fail("{}: region '{}' paints label value {}, expected 1 to 32767", source, r.name, r.paints);
  }
}

nlohmann::json to_json(const LabelRegions& regions) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : regions.regions) out.push_back({{"name", r.name}, {"values", r.values}, {"paints", r.paints}});
  return out;
}

LabelRegions label_regions_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_array()) fail("{}: expected a list of regions, got {}", source, j.type_name());
  LabelRegions out;
  for (const auto& r : j) {
    if (!r.is_object() || !r.contains("name") || !r.contains("values") || !r.contains("paints")) {
      fail("{}: a region must be {{\"name\", \"values\", \"paints\"}}, got {}", source, r.dump());
    }
    out.regions.push_back({r["name"].get<std::string>(), r["values"].get<std::vector<int64_t>>(), r["paints"].get<int64_t>()});
  }
  check_label_regions(out, source);
  return out;
}

torch::Tensor region_masks(const torch::Tensor& label, const LabelRegions& regions, int64_t dim) {
  std::vector<torch::Tensor> masks;
  for (const auto& r : regions.regions) {
    const auto values = torch::tensor(r.values, torch::TensorOptions().dtype(label.scalar_type()).device(label.device()));
    masks.push_back(torch::isin(label, values));
  }
  return torch::stack(masks, dim);
}

torch::Tensor paint_regions(const torch::Tensor& masks, const LabelRegions& regions) {
  if (masks.size(0) != regions.size()) fail("{} region masks for {} regions", masks.size(0), regions.size());
  auto out = torch::zeros(masks.sizes().slice(1), masks.options().dtype(torch::kInt64));
  for (int64_t r = 0; r < regions.size(); ++r) out.masked_fill_(masks[r], regions.regions[static_cast<size_t>(r)].paints);
  return out;
}

}  // namespace repux
