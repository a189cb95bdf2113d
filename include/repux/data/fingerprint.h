#pragma once
// A dataset's fingerprint (nnU-Net's term): what planning needs to know of every case, read once.
// Geometry is given in the order preprocessing puts the axes (RAS), so a plan's spacing and patch
// apply to it directly.
#include "repux/data/dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <string>
#include <vector>

namespace repux {

struct CaseFingerprint {
  std::string image;
  std::array<int64_t, 3> shape{};   // voxels along R, A, S
  std::array<double, 3> spacing{};  // mm along R, A, S
  std::string orientation;          // the file's axis codes, e.g. "LPS"
  int64_t channels = 1;
  double image_min = 0, image_max = 0;  // first channel, whole image
  std::vector<int64_t> class_voxels;    // voxels per label value 0..largest
};

// Intensities of the first channel under the labels' foreground, pooled over the cases (up to
// 10,000 evenly spaced foreground voxels of each case); percentiles interpolate linearly (NumPy's).
struct IntensityStatistics {
  double mean = 0, sd = 0, min = 0, max = 0, percentile_00_5 = 0, percentile_99_5 = 0;
  int64_t samples = 0;
};

struct DatasetFingerprint {
  std::vector<CaseFingerprint> cases;
  IntensityStatistics foreground;
};

// Reads the training and validation cases (each must have a label), `threads` at a time.
DatasetFingerprint fingerprint_dataset(const Dataset& dataset, int threads, const std::function<void(size_t, size_t)>& on_progress = {});

// The q-th percentile (0-100) of ascending `sorted` values, interpolating linearly as NumPy's default.
template <typename T>
double percentile_of_sorted(const std::vector<T>& sorted, double q) {
  const double position = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(position), above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - static_cast<double>(below)) * (static_cast<double>(sorted[above]) - sorted[below]);
}

// The same of an ascending 1-D tensor (the distances of HD95, the values inside a structure).
double percentile_of_sorted(const torch::Tensor& sorted, double q);

// The statistics of a pooled sample of intensities.
IntensityStatistics intensity_statistics(std::vector<float> values);

nlohmann::json to_json(const DatasetFingerprint& fingerprint);

}  // namespace repux
