#pragma once
// For the DICOM tests: running the other tools (plastimatch, DCMTK's programs, dcm2niix, dciodvfy).
#include "repux/io/nifti.h"
#include "repux/io/volume_file.h"
#include "test_util.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace repux::test {

// A path as one shell word (the tests' paths hold no single quote).
inline std::string arg(const std::string& s) { return "'" + s + "'"; }

// Runs a tool; a failure stops the test with the tool's output.
inline std::string shell(const std::string& command) {
  const auto r = run_command(command + " 2>&1 </dev/null");
  if (r.exit_code != 0) throw std::runtime_error(command + " failed (" + std::to_string(r.exit_code) + "): " + r.output);
  return r.output;
}

inline std::vector<std::string> files_in(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(folder)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// An int16 CT-like volume on `affine`, written as NIfTI and turned into a DICOM CT series by plastimatch.
inline std::string plastimatch_series(const TempDir& dir, const std::string& name, const torch::Tensor& affine, std::array<int64_t, 3> shape,
                                      const std::string& patient_position = "hfs", uint64_t seed = 1) {
  torch::manual_seed(seed);
  Volume v;
  v.data = torch::randint(-1000, 2000, {shape[0], shape[1], shape[2]}, torch::kFloat32);
  v.affine = affine;
  v.sample_type = SampleType::Int16;
  write_nifti(v, dir.file(name + ".nii.gz"));
  const std::string series = dir.file(name);
  shell("plastimatch convert --input " + arg(dir.file(name + ".nii.gz")) + " --output-dicom " + arg(series) + " --patient-pos " +
        patient_position);
  return series;
}

// An empty uint8 label map on a series' grid (its geometry and DICOM details, for a SEG that references
// it), with these label names; tests fill boxes of labels in.
inline Volume empty_labels_on(const Volume& image, std::vector<std::string> names) {
  Volume labels;
  labels.data = torch::zeros_like(image.data);
  labels.affine = image.affine.clone();
  labels.format_details = image.format_details;
  labels.label_names = std::move(names);
  labels.sample_type = SampleType::UInt8;
  return labels;
}

inline std::string error_of_reading(const std::string& path, VolumeReadOptions options = {}) {
  return error_of([&] { read_volume(path, options); });
}

// One attribute's value as dcmdump prints it, e.g. "[1.2.3]" -> "1.2.3".
inline std::vector<std::string> dumped(const std::string& file, const std::string& tag) {
  std::istringstream lines(shell("dcmdump -Un +P " + tag + " " + arg(file)));
  std::vector<std::string> values;
  for (std::string line; std::getline(lines, line);) {
    const auto open = line.find('['), close = line.find(']');
    if (open != std::string::npos && close != std::string::npos) values.push_back(line.substr(open + 1, close - open - 1));
  }
  return values;
}


}  // namespace repux::test
