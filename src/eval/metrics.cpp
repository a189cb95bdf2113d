#include "repux/eval/metrics.h"

#include "repux/data/fingerprint.h"
#include "repux/error.h"

#include <cmath>
#include <limits>

namespace repux {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// "No target on this line yet": large but finite, so the parabola arithmetic below stays exact.
constexpr double kFar = 1e30;

// Felzenszwalb & Huttenlocher's exact 1-D squared distance transform, in place along a strided line.
void edt_line(double* f, int64_t n, int64_t stride, double spacing, std::vector<double>& d, std::vector<int64_t>& v,
              std::vector<double>& z) {
  const double w = spacing * spacing;
  auto value = [&](int64_t q) { return f[q * stride]; };
  int64_t k = 0;
  v[0] = 0;
  z[0] = -kInf;
  z[1] = kInf;
  for (int64_t q = 1; q < n; ++q) {
    double s;
    while (true) {
      const int64_t p = v[k];
      s = ((value(q) + w * q * q) - (value(p) + w * p * p)) / (2.0 * w * (q - p));
      if (s <= z[k]) {
        if (k == 0) break;
        --k;
      } else {
        break;
      }
    }
    if (s <= z[k]) {  // only possible with k == 0: the new parabola is lower everywhere
      v[0] = q;
      z[1] = kInf;
      continue;
    }
    ++k;
    v[k] = q;
    z[k] = s;
    z[k + 1] = kInf;
  }
  k = 0;
  for (int64_t q = 0; q < n; ++q) {
    while (z[k + 1] < q) ++k;
    const double dq = static_cast<double>(q - v[k]);
    d[q] = w * dq * dq + value(v[k]);
  }
  for (int64_t q = 0; q < n; ++q) f[q * stride] = std::min(d[q], kFar);
}

// Linear interpolation between order statistics, as numpy.percentile (MONAI uses it).
double percentile95(const torch::Tensor& values) {
  if (values.numel() == 0) return kNaN;
  return percentile_of_sorted(std::get<0>(values.sort()), 95);
}

torch::Tensor as_mask(const torch::Tensor& t) { return t.to(torch::kCPU).to(torch::kBool).contiguous(); }

}  // namespace

double mean_of_finite(const std::vector<double>& values) {
  double sum = 0;
  int n = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    ++n;
  }
  return n ? sum / n : kNaN;
}

double dice_score(const torch::Tensor& prediction, const torch::Tensor& truth) {
  auto p = as_mask(prediction), g = as_mask(truth);
  const double np = p.sum().item<double>(), ng = g.sum().item<double>();
  if (ng == 0) return kNaN;
  return 2.0 * (p & g).sum().item<double>() / (np + ng);
}

torch::Tensor squared_distance_transform(const torch::Tensor& targets, const std::array<double, 3>& spacing) {
  auto m = as_mask(targets);
  if (m.dim() != 3) fail("distance transform expects a [D, H, W] mask");
  auto f = torch::where(m, torch::zeros({}, torch::kFloat64), torch::full({}, kFar, torch::kFloat64)).contiguous();
  double* data = f.data_ptr<double>();
  const int64_t n[3] = {f.size(0), f.size(1), f.size(2)};
  const int64_t stride[3] = {n[1] * n[2], n[2], 1};
  const int64_t longest = std::max({n[0], n[1], n[2]});
  std::vector<double> d(longest), z(longest + 1);
  std::vector<int64_t> v(longest);
  for (int axis = 2; axis >= 0; --axis) {
    const int a1 = (axis + 1) % 3, a2 = (axis + 2) % 3;
    for (int64_t i = 0; i < n[a1]; ++i)
      for (int64_t j = 0; j < n[a2]; ++j) edt_line(data + i * stride[a1] + j * stride[a2], n[axis], stride[axis], spacing[axis], d, v, z);
  }
  return torch::where(f >= kFar, torch::full({}, kInf, torch::kFloat64), f);
}

torch::Tensor surface_voxels(const torch::Tensor& mask) {
  auto m = as_mask(mask);
  auto padded = torch::constant_pad_nd(m.to(torch::kUInt8), {1, 1, 1, 1, 1, 1}, 0);
  auto interior = torch::ones_like(m);
  const int64_t D = m.size(0), H = m.size(1), W = m.size(2);
  const int offsets[6][3] = {{0, 1, 1}, {2, 1, 1}, {1, 0, 1}, {1, 2, 1}, {1, 1, 0}, {1, 1, 2}};
  for (const auto& o : offsets) interior &= padded.slice(0, o[0], o[0] + D).slice(1, o[1], o[1] + H).slice(2, o[2], o[2] + W).to(torch::kBool);
  return m & ~interior;
}

namespace {

// Distances (mm) from each surface voxel of one mask to the other mask's surface, both directions:
// the shared ground of HD95 and surface Dice, computed once per class.
struct SurfaceDistances {
  bool has_prediction = false, has_truth = false;
  torch::Tensor prediction_to_truth, truth_to_prediction;  // set when both surfaces exist
};

SurfaceDistances surface_distances(const torch::Tensor& prediction, const torch::Tensor& truth, const std::array<double, 3>& spacing) {
  auto sp = surface_voxels(prediction), sg = surface_voxels(truth);
  SurfaceDistances d;
  d.has_prediction = sp.any().item<bool>();
  d.has_truth = sg.any().item<bool>();
  if (d.has_prediction && d.has_truth) {
    d.prediction_to_truth = squared_distance_transform(sg, spacing).masked_select(sp).sqrt();
    d.truth_to_prediction = squared_distance_transform(sp, spacing).masked_select(sg).sqrt();
  }
  return d;
}

double hausdorff95(const SurfaceDistances& d) {
  if (!d.has_truth) return kNaN;
  if (!d.has_prediction) return kInf;
  return std::max(percentile95(d.prediction_to_truth), percentile95(d.truth_to_prediction));
}

double surface_dice(const SurfaceDistances& d, double tolerance_mm) {
  if (!d.has_prediction && !d.has_truth) return kNaN;
  if (!d.has_prediction || !d.has_truth) return 0.0;
  const double within = (d.prediction_to_truth <= tolerance_mm).sum().item<double>() +
                        (d.truth_to_prediction <= tolerance_mm).sum().item<double>();
  return within / static_cast<double>(d.prediction_to_truth.numel() + d.truth_to_prediction.numel());
}

}  // namespace

double hausdorff95(const torch::Tensor& prediction, const torch::Tensor& truth, const std::array<double, 3>& spacing) {
  return hausdorff95(surface_distances(prediction, truth, spacing));
}

double surface_dice(const torch::Tensor& prediction, const torch::Tensor& truth, const std::array<double, 3>& spacing,
                    double tolerance_mm) {
  return surface_dice(surface_distances(prediction, truth, spacing), tolerance_mm);
}

std::vector<ClassMetrics> evaluate_labels(const torch::Tensor& prediction, const torch::Tensor& truth, int64_t classes,
                                          const std::array<double, 3>& spacing, double tolerance_mm) {
  std::vector<std::vector<int64_t>> each;
  for (int64_t c = 1; c < classes; ++c) each.push_back({c});
  return evaluate_regions(prediction, truth, each, spacing, tolerance_mm);
}

std::vector<ClassMetrics> evaluate_regions(const torch::Tensor& prediction, const torch::Tensor& truth,
                                           const std::vector<std::vector<int64_t>>& value_sets, const std::array<double, 3>& spacing,
                                           double tolerance_mm) {
  if (prediction.sizes() != truth.sizes()) fail("prediction and ground truth shapes differ");
  auto p = prediction.to(torch::kCPU).round().to(torch::kInt64), g = truth.to(torch::kCPU).round().to(torch::kInt64);
  std::vector<ClassMetrics> out;
  for (const auto& values : value_sets) {
    const auto v = torch::tensor(values, torch::kInt64);
    auto pm = values.size() == 1 ? p == values[0] : torch::isin(p, v), gm = values.size() == 1 ? g == values[0] : torch::isin(g, v);
    const SurfaceDistances d = surface_distances(pm, gm, spacing);
    out.push_back({dice_score(pm, gm), hausdorff95(d), surface_dice(d, tolerance_mm)});
  }
  return out;
}

}  // namespace repux
