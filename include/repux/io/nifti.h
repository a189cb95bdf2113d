#pragma once
// NIfTI-1 and NIfTI-2 reading and writing through nifti_clib, with nibabel's geometry conventions.
#include "repux/io/volume.h"

#include <string>

namespace repux {

struct NiftiReadOptions {
  // A 4-D file with several volumes is an error unless channels are allowed; then data is [C, D, H, W].
  bool allow_channels = false;
  // NaN or Inf voxels are an error unless allowed.
  bool allow_nonfinite = false;
};

// Reads .nii or .nii.gz. Data is float32 (float64 for int32 and float64 files) with scl_slope and
// scl_inter applied. The affine is nibabel's best affine: sform if its code is set, else qform,
// else the Analyze-style base affine.
Volume read_nifti(const std::string& path, const NiftiReadOptions& options = {});

// Writes atomically (temporary name, then rename) with the datatype, codes and scaling of
// volume.meta; integer datatypes are rounded and range-checked, never silently wrapped.
void write_nifti(const Volume& volume, const std::string& path);
// Before any work: the path ends in .nii or .nii.gz and its folder exists and is writable; else an error.
void ensure_writable_nifti(const std::string& path);

// "uint8", "int16", "float32", ...
std::string nifti_datatype_name(int datatype);
// The NIfTI code for a name accepted by nifti_datatype_name; throws for an unknown name.
int nifti_datatype_from_name(const std::string& name);

}  // namespace repux
