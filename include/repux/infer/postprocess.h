#pragma once
// Post-processing of predicted labels, as nnU-Net does it: per class, keep only the largest connected
// component, or remove the components smaller than a size; removed voxels become background.
// `repux postprocess --determine` decides per class, on validation predictions, whether keeping the
// largest component raises the mean Dice; the decision is stored in the model's Plan and `predict`
// applies it.
#include "repux/enum_names.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
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

// [D, H, W] mask -> int32 labels: 0 outside the mask, components numbered 1..count in the raster order
// of their first voxel (as scipy.ndimage.label numbers them).
torch::Tensor label_components(const torch::Tensor& mask, Connectivity connectivity, int64_t* count = nullptr);

struct ClassRule {
  bool largest_only = false;  // keep only the largest component (the first of equals)
  int64_t min_voxels = 0;     // remove components with fewer voxels
  bool operator==(const ClassRule& o) const { return largest_only == o.largest_only && min_voxels == o.min_voxels; }
};

struct Postprocessing {
  Connectivity connectivity = Connectivity::Corners;
  std::map<int64_t, ClassRule> rules;  // by class index; a class without a rule is left alone
};

nlohmann::json to_json(const Postprocessing& p);
// Checks every field against the model's number of classes; an error names the bad one.
Postprocessing postprocessing_from_json(const nlohmann::json& j, int64_t classes);
void check_postprocessing(const Postprocessing& p, int64_t classes);
// "1 (liver): largest component; 3 (kidney): components below 200 voxels removed", or "none".
std::string describe(const Postprocessing& p, const std::vector<std::string>& class_names);

// labels: [D, H, W] of class indices (any numeric type); returns the same type and shape.
torch::Tensor apply_postprocessing(const torch::Tensor& labels, const Postprocessing& p);

// --determine: Dice of each class before and after keeping its largest component, summed over the
// validation cases one at a time (so the cases need not be held in memory together).
class PostprocessingSearch {
 public:
  PostprocessingSearch(int64_t classes, Connectivity connectivity);
  void add_case(const torch::Tensor& prediction, const torch::Tensor& truth);

  struct ClassResult {
    int64_t cls = 0, cases = 0;  // cases where the class is in the truth or the prediction
    double dice_before = 0, dice_after = 0;  // means over those cases
    bool helps() const { return cases > 0 && dice_after > dice_before; }
  };
  std::vector<ClassResult> results() const;
  // Keep-the-largest for each class where it raised the mean Dice.
  Postprocessing decision() const;

 private:
  Connectivity connectivity_;
  std::vector<ClassResult> sums_;
};

}  // namespace repux
