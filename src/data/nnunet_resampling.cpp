#include "repux/data/nnunet_resampling.h"

#include "repux/error.h"

#include <algorithm>
#include <cmath>

namespace repux {

std::array<int64_t, 3> nnunet_new_shape(const std::array<int64_t, 3>& shape, const std::array<double, 3>& old_spacing,
                                        const std::array<double, 3>& new_spacing) {
  std::array<int64_t, 3> out{};
  for (int a = 0; a < 3; ++a) {
    out[a] = static_cast<int64_t>(std::nearbyint(old_spacing[a] / new_spacing[a] * static_cast<double>(shape[a])));
  }
  return out;
}

namespace {

bool anisotropic(const std::array<double, 3>& spacing, double threshold) {
  return *std::max_element(spacing.begin(), spacing.end()) / *std::min_element(spacing.begin(), spacing.end()) > threshold;
}

// The one axis of the largest spacing; none when two or three share it.
std::optional<int> lowres_axis(const std::array<double, 3>& spacing) {
  const double largest = *std::max_element(spacing.begin(), spacing.end());
  std::optional<int> axis;
  int count = 0;
  for (int a = 0; a < 3; ++a) {
    if (largest / spacing[a] == 1.0) {
      axis = a;
      ++count;
    }
  }
  return count == 1 ? axis : std::nullopt;
}

// Cubic B-spline coefficients along dim 0 (Unser's recursive filter, pole sqrt(3) - 2, the causal
// start summed over the mirrored signal). The caller pads with 12 edge samples first, as scipy does,
// so the start's truncation stays far below float precision at the samples that are read.
torch::Tensor cubic_coefficients(const torch::Tensor& x) {
  const double z = std::sqrt(3.0) - 2.0;
  const int64_t n = x.size(0);
  auto c = x * 6.0;
  auto start = c[0].clone();
  double zk = 1.0;
  for (int64_t k = 1; k < n && std::abs(zk) > 1e-17; ++k) {
    zk *= z;
    start.add_(c[k], zk);
  }
  c[0].copy_(start);
  for (int64_t k = 1; k < n; ++k) c[k].add_(c[k - 1], z);
  c[n - 1].copy_((c[n - 1] + c[n - 2] * z) * (z / (z * z - 1.0)));
  for (int64_t k = n - 2; k >= 0; --k) c[k].copy_((c[k + 1] - c[k]) * z);
  return c;
}

// Source coordinates of scipy's grid-mode zoom: (o + 0.5) * in / out - 0.5.
torch::Tensor grid_coordinates(int64_t in_length, int64_t out_length) {
  const double scale = static_cast<double>(in_length) / static_cast<double>(out_length);
  return (torch::arange(out_length, torch::kFloat64) + 0.5) * scale - 0.5;
}

// Reshapes weights [m] to broadcast along dim 0 of [m, ...].
torch::Tensor along_rows(const torch::Tensor& w, int64_t dims) {
  std::vector<int64_t> shape(dims, 1);
  shape[0] = w.size(0);
  return w.view(shape);
}

torch::Tensor zoom_rows(const torch::Tensor& x, int64_t out_length, int order) {
  const int64_t n = x.size(0);
  const auto coordinate = grid_coordinates(n, out_length);
  if (order == 0) {  // scipy rounds halves up
    return x.index_select(0, torch::floor(coordinate + 0.5).clamp(0, n - 1).to(torch::kInt64));
  }
  const auto first = torch::floor(coordinate);
  const auto t = along_rows(coordinate - first, x.dim());
  const auto i = first.to(torch::kInt64);
  if (order == 1) {
    const auto below = x.index_select(0, i.clamp(0, n - 1)), above = x.index_select(0, (i + 1).clamp(0, n - 1));
    return below * (1.0 - t) + above * t;
  }
  constexpr int64_t kPad = 12;  // scipy's _prepad_for_spline_filter
  auto edge_sizes = x.sizes().vec();
  edge_sizes[0] = kPad;
  const auto padded = torch::cat({x.narrow(0, 0, 1).expand(edge_sizes), x, x.narrow(0, n - 1, 1).expand(edge_sizes)}, 0);
  const auto c = cubic_coefficients(padded);
  const auto base = (i + kPad - 1).clamp(0, n + 2 * kPad - 4);
  const auto t2 = t * t, t3 = t2 * t;
  const auto w0 = (1.0 - t) * (1.0 - t) * (1.0 - t) / 6.0, w1 = (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
             w2 = (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0, w3 = t3 / 6.0;
  return c.index_select(0, base) * w0 + c.index_select(0, base + 1) * w1 + c.index_select(0, base + 2) * w2 +
         c.index_select(0, base + 3) * w3;
}

}  // namespace

torch::Tensor zoom_axis(const torch::Tensor& data, int64_t dim, int64_t out_length, int order) {
  if (order != 0 && order != 1 && order != 3) fail("nnU-Net resampling of order {}: repux has orders 0, 1 and 3", order);
  if (data.size(dim) == out_length) return data;  // every order reproduces the samples themselves
  // In chunks along another axis, so that the filter's temporaries stay small next to the volume.
  constexpr int64_t kChunkElements = int64_t{1} << 22;
  const auto rows = data.movedim(dim, 0);
  const int64_t n = rows.size(0), last = rows.dim() - 1;
  auto sizes = rows.sizes().vec();
  sizes[0] = out_length;
  auto out = torch::empty(sizes, data.options());
  const int64_t per_column = (n + out_length + 24) * (rows.numel() / n / std::max<int64_t>(1, rows.size(last)));
  const int64_t chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, per_column));
  for (int64_t s = 0; s < rows.size(last); s += chunk) {
    const int64_t len = std::min(chunk, rows.size(last) - s);
    out.narrow(last, s, len).copy_(zoom_rows(rows.narrow(last, s, len).contiguous(), out_length, order));
  }
  return out.movedim(0, dim);
}

std::optional<int> nnunet_separate_axis(const std::array<double, 3>& current_spacing, const std::array<double, 3>& new_spacing,
                                        const NnunetResampling& how) {
  if (how.force_separate_z) return *how.force_separate_z ? lowres_axis(current_spacing) : std::nullopt;
  if (anisotropic(current_spacing, how.anisotropy_threshold)) return lowres_axis(current_spacing);
  if (anisotropic(new_spacing, how.anisotropy_threshold)) return lowres_axis(new_spacing);
  return std::nullopt;
}

namespace {

// skimage's clip to the input's range, over the dimensions given (a channel, or a slice of it).
torch::Tensor clipped_to_range_of(torch::Tensor out, const torch::Tensor& in, std::vector<int64_t> dims) {
  return out.clamp_(in.amin(dims, true), in.amax(dims, true));
}

// One channel [1, D, H, W], resized in float64 (for its time only, as nnU-Net's loop over channels).
torch::Tensor resample_channel(const torch::Tensor& data, const std::array<int64_t, 3>& new_shape, const std::array<double, 3>& current_spacing,
                               const std::array<double, 3>& new_spacing, const NnunetResampling& how) {
  const std::array<int64_t, 3> shape{data.size(1), data.size(2), data.size(3)};
  const auto x = data.to(torch::kFloat64);
  const auto axis = nnunet_separate_axis(current_spacing, new_spacing, how);
  torch::Tensor out = x;
  if (!axis) {
    for (int a = 0; a < 3; ++a) out = zoom_axis(out, a + 1, new_shape[a], how.order);
    return clipped_to_range_of(out, x, {1, 2, 3});
  }
  std::vector<int64_t> plane;
  for (int a = 0; a < 3; ++a) {
    if (a == *axis) continue;
    out = zoom_axis(out, a + 1, new_shape[a], how.order);
    plane.push_back(a + 1);
  }
  out = clipped_to_range_of(out, x, plane);  // each slice resized (and clipped) on its own
  if (shape[*axis] != new_shape[*axis]) out = zoom_axis(out, *axis + 1, new_shape[*axis], how.order_z);
  return out;
}

}  // namespace

torch::Tensor nnunet_resample(const torch::Tensor& data, const std::array<int64_t, 3>& new_shape, const std::array<double, 3>& current_spacing,
                              const std::array<double, 3>& new_spacing, const NnunetResampling& how) {
  if (data.dim() != 4) fail("nnU-Net resampling expects [C, D, H, W] data");
  if (std::array<int64_t, 3>{data.size(1), data.size(2), data.size(3)} == new_shape) return data.to(torch::kFloat32);
  auto out = torch::empty({data.size(0), new_shape[0], new_shape[1], new_shape[2]}, torch::kFloat32);
  for (int64_t c = 0; c < data.size(0); ++c) out[c].copy_(resample_channel(data.slice(0, c, c + 1), new_shape, current_spacing, new_spacing, how)[0]);
  return out;
}

}  // namespace repux
