#pragma once
// A volume is data plus geometry: the voxel-to-world affine travels with the tensor everywhere.
#include <torch/torch.h>

#include <array>
#include <string>

namespace repux {

// NIfTI header fields that are not geometry but must survive a read/write round trip.
struct NiftiMeta {
  int datatype = 16;  // NIfTI DT_* code of the file the data came from (16 = float32)
  int qform_code = 1;
  int sform_code = 1;
  double scl_slope = 1.0;
  double scl_inter = 0.0;
  int xyz_units = 2;  // NIFTI_UNITS_MM
  int nifti_version = 1;
  std::string description;
};

struct Volume {
  // [D, H, W] or [C, D, H, W]; D is the NIfTI i axis (fastest in the file), H is j, W is k,
  // which is the nibabel/MONAI order the official weights expect.
  torch::Tensor data;
  // [4, 4] float64, maps (i, j, k, 1) to world coordinates in mm (RAS+, as NIfTI defines).
  torch::Tensor affine;
  NiftiMeta meta;

  std::array<int64_t, 3> spatial_shape() const;
  // Voxel spacing in mm: the lengths of the affine's first three columns.
  std::array<double, 3> spacing() const;
  int64_t channels() const { return data.dim() == 4 ? data.size(0) : 1; }
};

// Spacing (column norms) of any [4, 4] affine.
std::array<double, 3> affine_spacing(const torch::Tensor& affine);

}  // namespace repux
