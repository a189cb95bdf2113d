#pragma once
// Post-processing of predicted labels, as nnU-Net does it: per class, keep only the largest connected
// component, or remove the components smaller than a size; removed voxels become background. The
// rules themselves are part of a model's Plan (model/postprocessing.h); this applies and finds them.
// `repux postprocess --determine` decides per class, on validation predictions, whether keeping the
// largest component raises the mean Dice; the decision is stored in the model's Plan and `predict`
// applies it.
#include "repux/model/postprocessing.h"

#include <torch/torch.h>

#include <vector>

namespace repux {

// [D, H, W] mask -> int32 labels: 0 outside the mask, components numbered 1..count in the raster order
// of their first voxel (as scipy.ndimage.label numbers them).
torch::Tensor label_components(const torch::Tensor& mask, Connectivity connectivity, int64_t* count = nullptr);

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
