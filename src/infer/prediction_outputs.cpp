#include "repux/infer/prediction_outputs.h"

#include "repux/error.h"
#include "repux/eval/structure_statistics.h"
#include "repux/io/atomic_file.h"
#include "repux/io/dicom_series.h"
#include "repux/io/paths.h"
#include "repux/io/volume_file.h"

#include <filesystem>
#include <set>

namespace repux {
namespace {

bool needs_source_series(const PredictionOutputs& o) {
  if (!o.rtstruct.empty()) return true;
  for (const auto& f : o.label_files) {
    if (ends_with(f, ".dcm")) return true;
  }
  return false;
}

}  // namespace

void check_prediction_outputs(const PredictionOutputs& o) {
  std::set<std::string> seen;
  auto claim = [&](const std::string& path) {
    const std::string key = std::filesystem::absolute(path).lexically_normal().string();
    if (!seen.insert(key).second) fail("output {} is given twice", path);
  };
  for (const auto& f : o.label_files) {
    ensure_writable_volume(f);
    claim(f);
  }
  if (!o.rtstruct.empty()) {
    if (!ends_with(o.rtstruct, ".dcm")) fail("--rtstruct {}: expected a .dcm file", o.rtstruct);
    ensure_writable(o.rtstruct);
    claim(o.rtstruct);
  }
  if (!o.statistics.empty()) {
    if (!ends_with(o.statistics, ".json") && !ends_with(o.statistics, ".csv")) fail("--statistics {}: expected a .json or .csv file", o.statistics);
    ensure_writable(o.statistics);
    claim(o.statistics);
  }
  if (!o.preview.empty()) {
    if (!ends_with(o.preview, ".png")) fail("--preview {}: expected a .png file", o.preview);
    ensure_writable(o.preview);
    claim(o.preview);
  }
}

bool reads_image_voxels(const PredictionOutputs& o) { return !o.statistics.empty() || !o.preview.empty(); }

std::vector<std::string> write_prediction_outputs(const Volume& image, const Volume& labels, const PredictionOutputs& o) {
  if (needs_source_series(o) && !dicom_series_details(labels)) {
    fail("a DICOM SEG or RTSTRUCT refers to its source series, and this input is not one: predict on a DICOM series, or give the "
         "series the image was made from with --reference");
  }
  std::vector<std::string> written;
  for (const auto& f : o.label_files) {
    write_volume(labels, f, o.writing);
    written.push_back(f);
  }
  if (!o.rtstruct.empty()) {
    VolumeWriteOptions rt = o.writing;
    rt.dicom_object = DicomObject::Rtstruct;
    write_volume(labels, o.rtstruct, rt);
    written.push_back(o.rtstruct);
  }
  if (!o.statistics.empty()) {
    write_statistics(structure_statistics(image, labels), o.statistics);
    written.push_back(o.statistics);
  }
  if (!o.preview.empty()) {
    write_preview(image, {{"prediction", &labels}}, o.preview, o.preview_options);
    written.push_back(o.preview);
  }
  return written;
}

}  // namespace repux
