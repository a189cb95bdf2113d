#pragma once
// nnU-Net's resampling, as its predictor applies it (nnunetv2 preprocessing/resampling/
// default_resampling.py, resample_data_or_seg_to_shape): the new shape is round(old spacing / new
// spacing * old shape) per axis; each channel is resized as skimage's resize(mode="edge",
// anti_aliasing=False) does it (scipy's zoom in grid mode: output voxel o samples input coordinate
// (o + 0.5) * in / out - 0.5, B-spline of the given order, edges repeated, the result clipped to the
// input's range); and where the data are anisotropic (largest spacing over smallest above 3, the old
// spacing looked at first, then the new one), each slice across the low-resolution axis is resized in
// plane with `order` and the slices are then interpolated along that axis with `order_z` (0: nearest).
// nnU-Net does this in float64; so does repux.
#include <torch/torch.h>

#include <array>
#include <optional>

namespace repux {

struct NnunetResampling {
  int order = 3;    // 0, 1 or 3
  int order_z = 0;  // along the low-resolution axis, when resampled separately
  std::optional<bool> force_separate_z;  // none: decided by the anisotropy threshold
  double anisotropy_threshold = 3.0;     // nnU-Net's ANISO_THRESHOLD
};

// resampling_fn_probabilities' defaults: order 1, nearest along a separate axis.
inline NnunetResampling linear_nnunet_resampling() {
  NnunetResampling r;
  r.order = 1;
  return r;
}

// compute_new_shape: round(old_spacing / new_spacing * old_shape), halves to even as Python rounds.
std::array<int64_t, 3> nnunet_new_shape(const std::array<int64_t, 3>& shape, const std::array<double, 3>& old_spacing,
                                        const std::array<double, 3>& new_spacing);

// The axis resampled on its own (determine_do_sep_z_and_axis), or none.
std::optional<int> nnunet_separate_axis(const std::array<double, 3>& current_spacing, const std::array<double, 3>& new_spacing,
                                        const NnunetResampling& how);

// `data` [C, D, H, W] resized to `new_shape` (returned as float32); unchanged when the shape is.
torch::Tensor nnunet_resample(const torch::Tensor& data, const std::array<int64_t, 3>& new_shape,
                              const std::array<double, 3>& current_spacing, const std::array<double, 3>& new_spacing,
                              const NnunetResampling& how);

// One axis of it: scipy's zoom of order 0, 1 or 3 in grid mode with mode "nearest", no clipping.
torch::Tensor zoom_axis(const torch::Tensor& data, int64_t dim, int64_t out_length, int order);

}  // namespace repux
