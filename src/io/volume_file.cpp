#include "repux/io/volume_file.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#ifdef REPUX_HAVE_DICOM
#include "repux/io/dicom_rtstruct.h"
#include "repux/io/dicom_seg.h"
#include "repux/io/dicom_series.h"
#endif
#include "repux/io/nifti.h"
#include "repux/io/paths.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

namespace fs = std::filesystem;

namespace repux {
namespace {

struct VolumeFormat {
  const char* name;
  std::vector<const char*> suffixes;
  Volume (*read)(const std::string& path, const VolumeReadOptions& options);
  void (*write)(const Volume& volume, const std::string& path, const VolumeWriteOptions& options);
};

#ifdef REPUX_HAVE_DICOM
// A .dcm file is a SEG, or one image of a series: then the whole series it belongs to is read.
Volume read_dicom_file(const std::string& path, const VolumeReadOptions& options) {
  if (!has_dicom_marker(path) || is_dicom_seg(path)) return read_dicom_seg(path, options);
  VolumeReadOptions series = options;
  if (series.dicom_series.empty()) series.dicom_series = dicom_series_uid(path);
  const fs::path folder = fs::path(path).parent_path();
  return read_dicom_series(folder.empty() ? "." : folder.string(), series);
}
// A label map to a .dcm file: the object the options choose.
void write_dicom_file(const Volume& labels, const std::string& path, const VolumeWriteOptions& options) {
  if (options.dicom_object == DicomObject::Rtstruct) return write_dicom_rtstruct(labels, path, options);
  write_dicom_seg(labels, path, options);
}
#else
[[noreturn]] void no_dicom(const std::string& path) { fail("{}: this repux was built without DICOM support (REPUX_DICOM=OFF)", path); }
Volume read_dicom_file(const std::string& path, const VolumeReadOptions&) { no_dicom(path); }
Volume read_dicom_series(const std::string& path, const VolumeReadOptions&) { no_dicom(path); }
void write_dicom_file(const Volume&, const std::string& path, const VolumeWriteOptions&) { no_dicom(path); }
bool is_dicom_seg(const std::string&) { return false; }
#endif

const std::vector<VolumeFormat>& formats() {
  static const std::vector<VolumeFormat> table{
      {"NIfTI", {".nii", ".nii.gz"}, read_nifti, [](const Volume& v, const std::string& p, const VolumeWriteOptions&) { write_nifti(v, p); }},
      {"DICOM", {".dcm"}, read_dicom_file, write_dicom_file}};
  return table;
}

const VolumeFormat* format_of(const std::string& path) {
  for (const auto& f : formats()) {
    for (const char* suffix : f.suffixes) {
      if (ends_with(path, suffix)) return &f;
    }
  }
  return nullptr;
}

const VolumeFormat& required_format_of(const std::string& path) {
  const VolumeFormat* f = format_of(path);
  std::error_code ec;
  if (!f && !fs::exists(path, ec)) fail("{}: not found (expected {} or a DICOM folder)", path, volume_path_kinds());
  if (!f) fail("{}: not a volume file, expected {} or a DICOM folder", path, volume_path_kinds());
  return *f;
}

}  // namespace

bool is_volume_path(const std::string& path) { return format_of(path) != nullptr; }

bool is_dicom_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) || fs::path(path).filename() == "DICOMDIR";
}

std::string volume_path_kinds() {
  std::vector<std::string> suffixes;
  for (const auto& f : formats()) suffixes.insert(suffixes.end(), f.suffixes.begin(), f.suffixes.end());
  std::string out = "a ";
  for (size_t i = 0; i < suffixes.size(); ++i) out += (i == 0 ? "" : i + 1 == suffixes.size() ? " or " : ", ") + suffixes[i];
  return out + " file";
}

std::vector<std::string> list_volume_files(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail("{}: not a directory", folder);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string name = e.path().filename().string();
    if (name[0] == '.' || !is_volume_path(name) || volume_stem(name).empty()) continue;
    // A folder of DICOM slices named *.dcm is one series, not a list of volumes: only SEGs count.
    if (volume_suffix(name) == ".dcm" && !is_dicom_seg(e.path().string())) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string volume_suffix(const std::string& name) {
  std::string longest;
  for (const auto& f : formats()) {
    for (const char* suffix : f.suffixes) {
      if (ends_with(name, suffix) && std::strlen(suffix) > longest.size()) longest = suffix;
    }
  }
  return longest;
}

std::string volume_stem(const std::string& name) { return name.substr(0, name.size() - volume_suffix(name).size()); }

Volume read_volume(const std::string& path, const VolumeReadOptions& options) {
  if (is_dicom_folder(path)) return read_dicom_series(path, options);
  return required_format_of(path).read(path, options);
}

Volume read_label_volume(const std::string& path, const Grid& image_grid) {
  VolumeReadOptions options;
  options.reference_grid = image_grid;
  return read_volume(path, options);
}

void write_volume(const Volume& volume, const std::string& path, const VolumeWriteOptions& options) {
  required_format_of(path).write(volume, path, options);
}

void attach_dicom_reference(Volume& labels, const Volume& reference, const std::string& labels_name, const std::string& reference_name) {
  if (labels.spatial_shape() != reference.spatial_shape() || !torch::allclose(labels.affine, reference.affine, 1e-4, 1e-3)) {
    fail("{}: its voxel grid differs from the reference {}'s (repux resample --like {} --nearest puts it there)", labels_name,
         reference_name, reference_name);
  }
  if (!reference.format_details.has_value()) fail("{}: not a DICOM series (a SEG or RTSTRUCT references one)", reference_name);
  labels.format_details = reference.format_details;
}

void ensure_writable_volume(const std::string& path) {
  if (!is_volume_path(path)) fail("output {} must be {}", path, volume_path_kinds());
  ensure_writable(path);
}

}  // namespace repux
