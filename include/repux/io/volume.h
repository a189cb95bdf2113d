#pragma once
// A volume is data plus geometry: the voxel-to-world affine travels with the tensor everywhere.
// It is format-neutral: what a file format needs beyond that (NIfTI's qform/sform codes, say) rides
// along in `format_details`, owned and read by that format's reader and writer only.
#include "repux/enum_names.h"

#include <torch/torch.h>

#include <any>
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace repux {

// How voxels are stored in a file. Readers set it from the file; writers store the data as it says
// (integer types rounded and range-checked, never silently wrapped).
enum class SampleType { UInt8, Int8, Int16, UInt16, Int32, Float32, Float64 };
template <>
struct EnumNames<SampleType> {
  static constexpr const char* what = "voxel type";
  static constexpr std::pair<SampleType, const char*> table[] = {
      {SampleType::UInt8, "uint8"},   {SampleType::Int8, "int8"},       {SampleType::Int16, "int16"},   {SampleType::UInt16, "uint16"},
      {SampleType::Int32, "int32"},   {SampleType::Float32, "float32"}, {SampleType::Float64, "float64"}};
};
bool is_integer(SampleType type);

// Stored integers map to values as value = slope * stored + intercept (NIfTI's scl_slope/scl_inter,
// DICOM's RescaleSlope/RescaleIntercept). Writers use it for integer sample types only.
struct IntensityScaling {
  double slope = 1.0;
  double intercept = 0.0;
  bool is_identity() const { return slope == 1.0 && intercept == 0.0; }
};

// A voxel grid in world space: the affine and the spatial shape.
struct Grid {
  torch::Tensor affine;  // [4, 4] float64, (i, j, k, 1) -> world mm (RAS+)
  std::array<int64_t, 3> shape{};
};

struct Volume {
  // [D, H, W] or [C, D, H, W]; D is the file's i axis (fastest in a NIfTI file), H is j, W is k,
  // which is the nibabel/MONAI order the official weights expect.
  torch::Tensor data;
  // [4, 4] float64, maps (i, j, k, 1) to world coordinates in mm (RAS+, as NIfTI defines).
  torch::Tensor affine;
  SampleType sample_type = SampleType::Float32;
  IntensityScaling scaling;  // how the file's integers became `data` (identity: none)
  std::string description;
  // For a label map, the name of each label value (index = value), when known: a DICOM SEG's segment
  // labels, or the model's class names for a prediction. Formats without names ignore it.
  std::vector<std::string> label_names;
  std::any format_details;  // the reading format's own header fields, for a round trip through it

  std::array<int64_t, 3> spatial_shape() const;
  Grid grid() const { return {affine, spatial_shape()}; }
  // Voxel spacing in mm: the lengths of the affine's first three columns.
  std::array<double, 3> spacing() const;
  int64_t channels() const { return data.dim() == 4 ? data.size(0) : 1; }
};

// What reading a gantry-tilted DICOM series does: refuse it, or resample it onto an orthogonal grid.
enum class GantryTilt { Refuse, Resample };
template <>
struct EnumNames<GantryTilt> {
  static constexpr const char* what = "gantry tilt handling";
  static constexpr std::pair<GantryTilt, const char*> table[] = {{GantryTilt::Refuse, "refuse"}, {GantryTilt::Resample, "resample"}};
};

struct VolumeReadOptions {
  // A file with several volumes (a 4-D NIfTI) is an error unless channels are allowed; then data is [C, D, H, W].
  bool allow_channels = false;
  // NaN or Inf voxels are an error unless allowed.
  bool allow_nonfinite = false;
  // DICOM series (a folder): the SeriesInstanceUID to read (empty: the folder's only CT or MR series),
  // and what a gantry-tilted series gets.
  std::string dicom_series;
  GantryTilt gantry_tilt = GantryTilt::Refuse;
  // DICOM SEG: the grid its frames are placed on (the source image's). Without it, the smallest grid
  // along the slice normal that holds every frame (a SEG leaves out empty frames).
  std::optional<Grid> reference_grid;
};
// What a label map written to a .dcm file becomes: a Segmentation object (the default), or an RT
// Structure Set of contours (what radiotherapy planning systems read).
enum class DicomObject { Seg, Rtstruct };
template <>
struct EnumNames<DicomObject> {
  static constexpr const char* what = "DICOM object";
  static constexpr std::pair<DicomObject, const char*> table[] = {{DicomObject::Seg, "seg"}, {DicomObject::Rtstruct, "rtstruct"}};
};

struct VolumeWriteOptions {
  // .dcm outputs: SEG or RTSTRUCT.
  DicomObject dicom_object = DicomObject::Seg;
  // DICOM SEG: a JSON file mapping class names to segment codes (see dicom_seg.h); empty: built-in names.
  std::string segment_codes_file;
  // DICOM SEG and RTSTRUCT: when set, the object's SeriesInstanceUID and SOPInstanceUID are derived
  // from this key (dicom::derived_uid; SEG and RTSTRUCT apart), so that the same key writes the same
  // object: a DICOM node that segments a resent series sends objects that replace its first ones
  // instead of adding more. Empty: new UIDs.
  std::string seg_uid_key;
};

inline VolumeReadOptions allowing_channels(bool nonfinite_too = false) {
  VolumeReadOptions o;
  o.allow_channels = true;
  o.allow_nonfinite = nonfinite_too;
  return o;
}

// The name of label value `label`: the volume's label_names entry, else "label N" (files without names).
std::string label_name(const Volume& labels, int64_t label);

// Spacing (column norms) of any [4, 4] affine.
std::array<double, 3> affine_spacing(const torch::Tensor& affine);

}  // namespace repux
