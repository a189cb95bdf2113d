#include "repux/data/fingerprint.h"

#include "repux/cpu_threads.h"
#include "repux/error.h"
#include "repux/io/geometry.h"
#include "repux/io/volume_file.h"

#include <algorithm>
#include <cmath>

namespace repux {
namespace {

constexpr int64_t kIntensitySamplesPerCase = 10000;

struct CaseReading {
  CaseFingerprint fingerprint;
  std::vector<float> foreground_sample;
};

CaseReading read_case(const CaseFiles& f) {
  if (f.label.empty()) fail("{}: training case has no label", f.image);
  const Volume image = read_case_image(f);
  const Volume label = read_label_volume(f.label, image.grid());
  CaseReading r;
  auto& c = r.fingerprint;
  c.image = f.image;
  c.orientation = orientation_code(image.affine);
  c.channels = image.data.dim() == 4 ? image.data.size(0) : 1;
  // Axis lengths and spacings in the order reorientation to RAS gives them.
  const Orientation o = io_orientation(image.affine);
  const auto spacing = image.spacing();
  const auto shape = image.spatial_shape();
  for (int a = 0; a < 3; ++a) {
    c.spacing[o.world_axis[a]] = spacing[a];
    c.shape[o.world_axis[a]] = shape[a];
  }
  const auto first = (image.data.dim() == 4 ? image.data[0] : image.data).to(torch::kFloat32);
  c.image_min = first.min().item<double>();
  c.image_max = first.max().item<double>();
  const auto labels = label.data.round().to(torch::kInt64).flatten();
  if (labels.min().item<int64_t>() < 0) fail("{}: negative label values", f.label);
  const auto counts = torch::bincount(labels);
  c.class_voxels.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  const auto values = first.flatten().masked_select(labels > 0);
  const int64_t n = values.numel(), take = std::min(n, kIntensitySamplesPerCase);
  if (take > 0) {
    const auto rows = torch::div(torch::arange(take, torch::kInt64) * n, take, "floor");
    const auto sample = values.index_select(0, rows).contiguous();
    r.foreground_sample.assign(sample.data_ptr<float>(), sample.data_ptr<float>() + take);
  }
  return r;
}

}  // namespace

double percentile_of_sorted(const torch::Tensor& sorted, double q) {
  const int64_t n = sorted.numel();
  const double position = q / 100.0 * static_cast<double>(n - 1);
  const auto below = static_cast<int64_t>(position);
  const int64_t above = std::min(below + 1, n - 1);
  const double a = sorted[below].item<double>(), b = sorted[above].item<double>();
  return a + (position - static_cast<double>(below)) * (b - a);
}

IntensityStatistics intensity_statistics(std::vector<float> values) {
  IntensityStatistics s;
  s.samples = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  double sum = 0, squares = 0;
  for (float v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  for (float v : values) squares += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(squares / static_cast<double>(values.size()));
  s.min = values.front();
  s.max = values.back();
  s.percentile_00_5 = percentile_of_sorted(values, 0.5);
  s.percentile_99_5 = percentile_of_sorted(values, 99.5);
  return s;
}

DatasetFingerprint fingerprint_dataset(const Dataset& dataset, int threads, const std::function<void(size_t, size_t)>& on_progress) {
  std::vector<CaseFiles> cases = dataset.training;
  cases.insert(cases.end(), dataset.validation.begin(), dataset.validation.end());
  if (cases.empty()) fail("the dataset has no training cases");
  std::vector<CaseReading> readings(cases.size());
  size_t done = 0;
  for_each_on_threads(cases.size(), threads, [&](size_t i) { readings[i] = read_case(cases[i]); }, [&] {
    if (on_progress) on_progress(++done, cases.size());
  });

  DatasetFingerprint f;
  std::vector<float> pooled;
  for (auto& r : readings) {
    f.cases.push_back(std::move(r.fingerprint));
    pooled.insert(pooled.end(), r.foreground_sample.begin(), r.foreground_sample.end());
  }
  f.foreground = intensity_statistics(std::move(pooled));
  return f;
}

nlohmann::json to_json(const DatasetFingerprint& f) {
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& c : f.cases) {
    cases.push_back({{"image", c.image}, {"shape", c.shape}, {"spacing", c.spacing}, {"orientation", c.orientation}, {"channels", c.channels},
                     {"image_min", c.image_min}, {"image_max", c.image_max}, {"class_voxels", c.class_voxels}});
  }
  const auto& s = f.foreground;
  return {{"cases", cases},
          {"foreground_intensities",
           {{"mean", s.mean}, {"sd", s.sd}, {"min", s.min}, {"max", s.max}, {"percentile_00_5", s.percentile_00_5},
            {"percentile_99_5", s.percentile_99_5}, {"samples", s.samples}}}};
}

}  // namespace repux
