#pragma once
// NIfTI-1 and NIfTI-2 reading and writing through nifti_clib, with nibabel's geometry conventions.
// Callers outside io/ use read_volume / write_volume (volume_file.h), which choose the format.
#include "repux/io/volume.h"

#include <string>

namespace repux {

// NIfTI header fields that are not geometry but must survive a read/write round trip; kept in
// Volume::format_details by read_nifti. A volume without them is written with both codes 1 (scanner
// and aligned), millimetres and NIfTI-1.
struct NiftiDetails {
  int qform_code = 1;
  int sform_code = 1;
  int xyz_units = 2;  // NIFTI_UNITS_MM
  int version = 1;
};
const NiftiDetails* nifti_details(const Volume& volume);  // null when it came from elsewhere

// Reads .nii or .nii.gz. Data is float32 (float64 for int32 and float64 files) with scl_slope and
// scl_inter applied. The affine is nibabel's best affine: sform if its code is set, else qform,
// else the Analyze-style base affine.
Volume read_nifti(const std::string& path, const VolumeReadOptions& options = {});

// Writes atomically (temporary name, then rename) as volume.sample_type with volume.scaling and the
// codes of its NiftiDetails; integer types are rounded and range-checked, never silently wrapped.
void write_nifti(const Volume& volume, const std::string& path);

}  // namespace repux
