#pragma once
// Segmentation metrics per class, with MONAI's conventions for empty masks:
//   Dice:         ground truth empty -> NaN (excluded from means); prediction empty only -> 0.
//   HD95 (mm):    ground truth empty -> NaN; prediction empty only -> +inf (reported as null).
//   Surface Dice: both empty -> NaN; one empty -> 0.
// Distances use the voxel spacing, via an exact Euclidean distance transform (no brute force).
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

namespace repux {

struct ClassMetrics {
  double dice = 0, hd95 = 0, surface_dice = 0;
};

double dice_score(const torch::Tensor& prediction, const torch::Tensor& truth);  // boolean masks
// The mean of the finite values (NaN for "not defined" and +inf for "prediction empty" are skipped,
// as MONAI's nan-aware means do); NaN when there is none.
double mean_of_finite(const std::vector<double>& values);
// Squared distance (mm^2) from every voxel to the nearest voxel where `targets` is true.
torch::Tensor squared_distance_transform(const torch::Tensor& targets, const std::array<double, 3>& spacing);
// Voxels of the mask with a 6-neighbour outside it (or on the volume's border).
torch::Tensor surface_voxels(const torch::Tensor& mask);
double hausdorff95(const torch::Tensor& prediction, const torch::Tensor& truth, const std::array<double, 3>& spacing);
double surface_dice(const torch::Tensor& prediction, const torch::Tensor& truth, const std::array<double, 3>& spacing,
                    double tolerance_mm);

// Metrics for classes 1..classes-1 of two integer label maps [D, H, W].
std::vector<ClassMetrics> evaluate_labels(const torch::Tensor& prediction, const torch::Tensor& truth, int64_t classes,
                                          const std::array<double, 3>& spacing, double tolerance_mm);
// Metrics per set of label values (nnU-Net's regions: a voxel belongs to a region when its label is one
// of the region's values), in the order given.
std::vector<ClassMetrics> evaluate_regions(const torch::Tensor& prediction, const torch::Tensor& truth,
                                           const std::vector<std::vector<int64_t>>& value_sets, const std::array<double, 3>& spacing,
                                           double tolerance_mm);

}  // namespace repux
