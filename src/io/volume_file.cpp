#include "repux/io/volume_file.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
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
  void (*write)(const Volume& volume, const std::string& path);
};

const std::vector<VolumeFormat>& formats() {
  static const std::vector<VolumeFormat> table{{"NIfTI", {".nii", ".nii.gz"}, read_nifti, write_nifti}};
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
  if (!f) fail("{}: not a volume file, expected {}", path, volume_path_kinds());
  return *f;
}

}  // namespace

bool is_volume_path(const std::string& path) { return format_of(path) != nullptr; }

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
    if (name[0] != '.' && is_volume_path(name) && volume_stem(name).size() > 0) names.push_back(name);
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

Volume read_volume(const std::string& path, const VolumeReadOptions& options) { return required_format_of(path).read(path, options); }

void write_volume(const Volume& volume, const std::string& path) { required_format_of(path).write(volume, path); }

void ensure_writable_volume(const std::string& path) {
  if (!is_volume_path(path)) fail("output {} must be {}", path, volume_path_kinds());
  ensure_writable(path);
}

}  // namespace repux
