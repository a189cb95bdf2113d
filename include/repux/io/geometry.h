#pragma once
// Geometry operations on volumes. They work on LibTorch tensors, so they run on whatever device the
// data is on, and every one updates the affine so that world coordinates of voxels stay exact.
#include "repux/io/volume.h"

#include <array>
#include <string>

namespace repux {

// For each voxel axis: which world axis (0 = x/R, 1 = y/A, 2 = z/S) it runs along, and whether it
// runs in the negative direction. Computed as nibabel's io_orientation does.
struct Orientation {
  std::array<int, 3> world_axis{0, 1, 2};
  std::array<bool, 3> flipped{false, false, false};
  bool is_identity() const;
};

Orientation io_orientation(const torch::Tensor& affine);
// Three letters naming where each voxel axis points, e.g. "RAS", "LPS", "PIR" (nibabel's aff2axcodes).
std::string orientation_code(const torch::Tensor& affine);

// nibabel's as_closest_canonical: axis permutations and flips so the data is RAS-ordered.
// `applied` receives what was done, for undo_reorientation.
Volume reorient_to_ras(const Volume& volume, Orientation* applied = nullptr);
// Puts RAS-ordered data back in the original voxel order. `original_affine` is the input's affine.
torch::Tensor undo_reorientation(const torch::Tensor& ras_data, const Orientation& applied);

enum class Interpolation { Linear, Nearest };

// Samples `data` ([D,H,W] or [C,D,H,W], affine `source_affine`) on the voxel grid of
// (`target_affine`, `target_shape`); points outside the source take the nearest border value.
torch::Tensor resample_to_grid(const torch::Tensor& data, const torch::Tensor& source_affine,
                               const torch::Tensor& target_affine, const std::array<int64_t, 3>& target_shape,
                               Interpolation interpolation);

// New grid with the given spacing over the same extent; voxel (0,0,0) keeps its world position.
// The new size along an axis is round(size * old_spacing / new_spacing), at least 1.
Volume resample_to_spacing(const Volume& volume, const std::array<double, 3>& spacing,
                           Interpolation interpolation);

// Extracts the box [start, start + size) in voxel indices; parts outside the volume are filled
// with `fill`, so this crops and pads at once. The affine follows the box's first voxel.
Volume crop_or_pad(const Volume& volume, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size,
                   double fill = 0.0);
torch::Tensor crop_or_pad(const torch::Tensor& data, const std::array<int64_t, 3>& start,
                          const std::array<int64_t, 3>& size, double fill = 0.0);

// Bounding box of voxels where `mask` ([D,H,W] bool) is true: start and size. Empty mask: whole volume.
void bounding_box(const torch::Tensor& mask, std::array<int64_t, 3>& start, std::array<int64_t, 3>& size);

}  // namespace repux
