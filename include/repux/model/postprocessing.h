#pragma once
// A model's post-processing rules, part of its Plan: per class, keep only the largest connected
// component, or remove the components smaller than a size (as nnU-Net's post-processing). What applies
// them and what decides them on validation predictions (`repux postprocess --determine`) is in
// infer/postprocess.h.
#include "repux/enum_names.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace repux {

// Which neighbours of a voxel touch it: 6 share a face, 18 a face or an edge, 26 any corner.
enum class Connectivity { Faces, Edges, Corners };
template <>
struct EnumNames<Connectivity> {
  static constexpr const char* what = "connectivity";
  static constexpr std::pair<Connectivity, const char*> table[] = {
      {Connectivity::Faces, "6"}, {Connectivity::Edges, "18"}, {Connectivity::Corners, "26"}};
};

struct ClassRule {
  bool largest_only = false;  // keep only the largest component (the first of equals)
  int64_t min_voxels = 0;     // remove components with fewer voxels
  bool operator==(const ClassRule& o) const { return largest_only == o.largest_only && min_voxels == o.min_voxels; }
};

// nnU-Net's kind of rule (its postprocessing.pkl, remove_all_but_largest_component_from_segmentation):
// the voxels of `labels` taken together as one mask, every component but the largest (all of the
// largest size, when several tie) set to `background`.
struct KeepLargestStep {
  std::vector<int64_t> labels;
  int64_t background = 0;
  bool operator==(const KeepLargestStep& o) const { return labels == o.labels && background == o.background; }
};

struct Postprocessing {
  Connectivity connectivity = Connectivity::Corners;
  std::map<int64_t, ClassRule> rules;  // by class index; a class without a rule is left alone
  std::vector<KeepLargestStep> keep_largest;  // after `rules`, in order, each on the previous one's result
  bool empty() const { return rules.empty() && keep_largest.empty(); }
};

nlohmann::json to_json(const Postprocessing& p);
// Checks every field against the model's number of classes; an error names the bad one.
Postprocessing postprocessing_from_json(const nlohmann::json& j, int64_t classes);
void check_postprocessing(const Postprocessing& p, int64_t classes);
// "1 (liver): largest component; 3 (kidney): components below 200 voxels removed", or "none".
std::string describe(const Postprocessing& p, const std::vector<std::string>& class_names);

}  // namespace repux
