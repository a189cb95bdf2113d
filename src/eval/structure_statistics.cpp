#include "repux/eval/structure_statistics.h"

#include "repux/data/fingerprint.h"
#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/paths.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace repux {
namespace {

constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

StructureStatistics one_structure(const torch::Tensor& values, const torch::Tensor& labels, const torch::Tensor& affine, int64_t k,
                                  double voxel_mm3) {
  StructureStatistics s;
  s.label = k;
  const torch::Tensor mask = labels.eq(k);
  s.voxels = mask.sum().item<int64_t>();
  s.volume_mm3 = static_cast<double>(s.voxels) * voxel_mm3;
  if (s.voxels == 0) {
    s.mean = s.median = s.std = s.p5 = s.p95 = kNoValue;
    s.bbox_min_ras = s.bbox_max_ras = s.centroid_ras = {kNoValue, kNoValue, kNoValue};
    return s;
  }
  const torch::Tensor inside = values.masked_select(mask).to(torch::kFloat64);  // summed in float64
  s.mean = inside.mean().item<double>();
  s.std = inside.std(/*unbiased=*/false).item<double>();
  const torch::Tensor sorted = std::get<0>(inside.sort());
  s.median = percentile_of_sorted(sorted, 50);
  s.p5 = percentile_of_sorted(sorted, 5);
  s.p95 = percentile_of_sorted(sorted, 95);
  const torch::Tensor ijk = mask.nonzero().to(torch::kFloat64);  // [N, 3]
  const torch::Tensor first = std::get<0>(ijk.min(0)), last = std::get<0>(ijk.max(0));
  for (int a = 0; a < 3; ++a) {
    s.bbox_first[a] = static_cast<int64_t>(first[a].item<double>());
    s.bbox_last[a] = static_cast<int64_t>(last[a].item<double>());
  }
  // World positions of every voxel centre: the centroid is their mean, the box their extremes.
  const torch::Tensor world = torch::matmul(ijk, affine.slice(0, 0, 3).slice(1, 0, 3).t()) + affine.slice(0, 0, 3).select(1, 3);
  const torch::Tensor centroid = world.mean(0), low = std::get<0>(world.min(0)), high = std::get<0>(world.max(0));
  for (int a = 0; a < 3; ++a) {
    s.centroid_ras[a] = centroid[a].item<double>();
    s.bbox_min_ras[a] = low[a].item<double>();
    s.bbox_max_ras[a] = high[a].item<double>();
  }
  return s;
}

std::array<double, 3> ras_to_lps(const std::array<double, 3>& p) { return {-p[0], -p[1], p[2]}; }

nlohmann::ordered_json value_or_null(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); }
nlohmann::ordered_json point_or_null(const std::array<double, 3>& p) { return {value_or_null(p[0]), value_or_null(p[1]), value_or_null(p[2])}; }

std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : std::string(); }

// A class name as one CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::vector<StructureStatistics> structure_statistics(const Volume& image, const Volume& labels) {
  if (labels.data.dim() != 3) fail("statistics: the label map must be 3-D, got {} channels", labels.channels());
  if (image.spatial_shape() != labels.spatial_shape() || !torch::allclose(image.affine, labels.affine, 1e-5, 1e-4)) {
    fail("statistics: the label map's grid differs from the image's (shape or affine); resample one onto the other first");
  }
  // The image as read (float32) and the labels as int32: a clinical CT's copies stay small.
  const torch::Tensor values = (image.data.dim() == 4 ? image.data[0] : image.data).cpu();
  const torch::Tensor label_values = labels.data.round().to(torch::kInt32).cpu();
  const int64_t max_label = label_values.max().item<int>();
  const int64_t classes = std::max<int64_t>(static_cast<int64_t>(labels.label_names.size()), max_label + 1);
  const auto spacing = labels.spacing();
  const double voxel_mm3 = spacing[0] * spacing[1] * spacing[2];
  const torch::Tensor affine = labels.affine.to(torch::kFloat64).cpu();
  std::vector<StructureStatistics> out;
  for (int64_t k = 1; k < classes; ++k) {
    StructureStatistics s = one_structure(values, label_values, affine, k, voxel_mm3);
    s.name = label_name(labels, k);
    out.push_back(std::move(s));
  }
  return out;
}

nlohmann::ordered_json statistics_json(const std::vector<StructureStatistics>& statistics) {
  nlohmann::ordered_json ordered = nlohmann::ordered_json::object();
  for (const auto& s : statistics) {
    ordered[s.name] = {{"label", s.label},
                       {"voxels", s.voxels},
                       {"volume", s.volume_mm3},
                       {"volume_ml", s.volume_mm3 / 1000.0},
                       {"intensity", value_or_null(s.mean)},
                       {"mean", value_or_null(s.mean)},
                       {"median", value_or_null(s.median)},
                       {"std", value_or_null(s.std)},
                       {"p5", value_or_null(s.p5)},
                       {"p95", value_or_null(s.p95)},
                       {"centroid_ras_mm", point_or_null(s.centroid_ras)},
                       {"centroid_lps_mm", point_or_null(ras_to_lps(s.centroid_ras))},
                       {"bbox_first_voxel", s.voxels ? nlohmann::ordered_json(s.bbox_first) : nlohmann::ordered_json(nullptr)},
                       {"bbox_last_voxel", s.voxels ? nlohmann::ordered_json(s.bbox_last) : nlohmann::ordered_json(nullptr)},
                       {"bbox_min_ras_mm", point_or_null(s.bbox_min_ras)},
                       {"bbox_max_ras_mm", point_or_null(s.bbox_max_ras)}};
  }
  return ordered;
}

std::string statistics_csv(const std::vector<StructureStatistics>& statistics) {
  std::string csv =
      "label,name,voxels,volume_mm3,volume_ml,mean,median,std,p5,p95,centroid_ras_x,centroid_ras_y,centroid_ras_z,centroid_lps_x,"
      "centroid_lps_y,centroid_lps_z,bbox_first_i,bbox_first_j,bbox_first_k,bbox_last_i,bbox_last_j,bbox_last_k\n";
  for (const auto& s : statistics) {
    const auto lps = ras_to_lps(s.centroid_ras);
    csv += fmt::format("{},{},{},{:.6f},{:.6f},{},{},{},{},{},{},{},{},{},{},{}", s.label, csv_field(s.name), s.voxels, s.volume_mm3,
                       s.volume_mm3 / 1000.0, csv_number(s.mean), csv_number(s.median), csv_number(s.std), csv_number(s.p5),
                       csv_number(s.p95), csv_number(s.centroid_ras[0]), csv_number(s.centroid_ras[1]), csv_number(s.centroid_ras[2]),
                       csv_number(lps[0]), csv_number(lps[1]), csv_number(lps[2]));
    for (int a = 0; a < 3; ++a) csv += s.voxels ? fmt::format(",{}", s.bbox_first[a]) : std::string(",");
    for (int a = 0; a < 3; ++a) csv += s.voxels ? fmt::format(",{}", s.bbox_last[a]) : std::string(",");
    csv += "\n";
  }
  return csv;
}

void write_statistics(const std::vector<StructureStatistics>& statistics, const std::string& path) {
  if (ends_with(path, ".json")) {
    write_file_atomically(path, statistics_json(statistics).dump(2) + "\n");
  } else if (ends_with(path, ".csv")) {
    write_file_atomically(path, statistics_csv(statistics));
  } else {
    fail("statistics output {}: expected a .json or .csv file", path);
  }
}

}  // namespace repux
