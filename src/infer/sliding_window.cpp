#include "repux/infer/sliding_window.h"

#include "logit_ring.h"

#include "repux/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace repux {

std::vector<int64_t> window_starts(int64_t size, int64_t window, double overlap) {
  if (size <= window) return {0};
  const double step = std::max(1.0, static_cast<double>(window) * (1.0 - overlap));
  const auto count = static_cast<int64_t>(std::ceil(static_cast<double>(size - window) / step)) + 1;
  // Spread evenly so that the last one ends exactly at the border.
  const double actual_step = static_cast<double>(size - window) / static_cast<double>(count - 1);
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count; ++i) starts.push_back(static_cast<int64_t>(std::nearbyint(actual_step * static_cast<double>(i))));
  return starts;
}

namespace {

// Window lengths along one axis: the set window, then larger multiples up to the image's size.
std::vector<int64_t> window_lengths(int64_t size, int64_t window, int64_t multiple) {
  std::vector<int64_t> lengths{window};
  for (int64_t w = (window / multiple + 1) * multiple; w <= size; w += multiple) lengths.push_back(w);
  return lengths;
}

}  // namespace

std::array<int64_t, 3> window_of(const InferenceSettings& settings) {
  if (!settings.window) fail("sliding window: no window size given (a Plan's window is its patch)");
  return *settings.window;
}

int64_t window_count(const std::array<int64_t, 3>& size, const std::array<int64_t, 3>& window, double overlap) {
  int64_t count = 1;
  for (int a = 0; a < 3; ++a) count *= static_cast<int64_t>(window_starts(std::max(size[a], window[a]), window[a], overlap).size());
  return count;
}

int64_t longest_axis(const std::array<int64_t, 3>& size) {
  return std::max_element(size.begin(), size.end()) - size.begin();  // the first of equals
}

std::array<int64_t, 3> row_frame(int64_t row_axis) {
  if (row_axis < 0 || row_axis > 2) fail("row axis {} is not 0, 1 or 2", row_axis);
  std::array<int64_t, 3> frame{row_axis, 0, 0};
  for (int64_t a = 0, p = 1; a < 3; ++a) {
    if (a != row_axis) frame[p++] = a;
  }
  return frame;
}

namespace {

// The dimension order that puts t's spatial dimensions in the order `axes` (or, inverse, back).
std::vector<int64_t> axis_order_dims(const torch::Tensor& t, const std::array<int64_t, 3>& axes, bool inverse) {
  if (t.dim() < 3) fail("a tensor of {} dimensions has no three spatial ones", t.dim());
  std::vector<int64_t> dims(static_cast<size_t>(t.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  const int64_t lead = t.dim() - 3;
  for (int64_t p = 0; p < 3; ++p) {
    const int64_t a = axes[static_cast<size_t>(p)];
    dims[static_cast<size_t>(lead + (inverse ? a : p))] = lead + (inverse ? p : a);
  }
  return dims;
}

}  // namespace

torch::Tensor in_axis_order(const torch::Tensor& t, const std::array<int64_t, 3>& axes) { return t.permute(axis_order_dims(t, axes, false)); }

torch::Tensor from_axis_order(const torch::Tensor& t, const std::array<int64_t, 3>& axes) { return t.permute(axis_order_dims(t, axes, true)); }

int64_t grown_window_voxels(const std::array<int64_t, 3>& window, double growth) {
  if (!(growth >= 1 && growth <= 64)) fail("window growth {} is out of range, expected 1 to 64", growth);
  return static_cast<int64_t>(std::llround(growth * static_cast<double>(window[0] * window[1] * window[2])));
}

std::array<int64_t, 3> fitted_window(const std::array<int64_t, 3>& size, const InferenceSettings& o) {
  const std::array<int64_t, 3> window = window_of(o);
  const int64_t base_voxels = window[0] * window[1] * window[2];
  const int64_t max_window_voxels = grown_window_voxels(window, o.window_growth);
  if (max_window_voxels <= base_voxels) return window;
  std::array<std::vector<int64_t>, 3> lengths;
  for (int a = 0; a < 3; ++a) lengths[a] = window_lengths(size[a], window[a], kWindowMultiple);
  auto best = window;
  int64_t best_voxels = std::numeric_limits<int64_t>::max(), best_windows = best_voxels;
  for (int64_t w0 : lengths[0]) {
    for (int64_t w1 : lengths[1]) {
      for (int64_t w2 : lengths[2]) {
        const int64_t voxels = w0 * w1 * w2;
        if (voxels > max_window_voxels && voxels != base_voxels) continue;
        const int64_t windows = window_count(size, {w0, w1, w2}, o.overlap);
        const int64_t total = windows * voxels;
        if (total < best_voxels || (total == best_voxels && windows < best_windows)) {
          best = {w0, w1, w2};
          best_voxels = total;
          best_windows = windows;
        }
      }
    }
  }
  return best;
}

torch::Tensor gaussian_importance_map(const std::array<int64_t, 3>& window, double sigma_scale) {
  auto map = torch::ones({1}, torch::kFloat32);
  std::vector<torch::Tensor> axes;
  for (int a = 0; a < 3; ++a) {
    const double sigma = window[a] * sigma_scale, centre = (window[a] - 1) / 2.0;
    auto i = torch::arange(window[a], torch::kFloat64) - centre;
    axes.push_back(torch::exp(-(i * i) / (2 * sigma * sigma)));
  }
  auto g = axes[0].view({-1, 1, 1}) * axes[1].view({1, -1, 1}) * axes[2].view({1, 1, -1});
  g = g / g.max();
  // No zero weights: every voxel must receive some weight from some window.
  g = g.clamp_min(g.masked_select(g > 0).min().item<double>());
  return g.to(torch::kFloat32);
}

torch::Tensor nnunet_gaussian_importance_map(const std::array<int64_t, 3>& window) {
  std::vector<torch::Tensor> axes;
  for (int a = 0; a < 3; ++a) {
    const double sigma = window[a] / 8.0;
    const auto radius = static_cast<int64_t>(4.0 * sigma + 0.5);  // scipy's truncate=4.0
    auto kernel = torch::exp(-0.5 * torch::arange(-radius, radius + 1, torch::kFloat64).pow(2) / (sigma * sigma));
    kernel = kernel / kernel.sum();
    const auto offset = torch::arange(window[a], torch::kFloat64) - static_cast<double>(window[a] / 2);
    const auto inside = offset.abs() <= static_cast<double>(radius);
    const auto at = kernel.index_select(0, (offset.clamp(-radius, radius) + radius).to(torch::kInt64));
    axes.push_back(torch::where(inside, at, torch::zeros_like(at)));
  }
  auto g = axes[0].view({-1, 1, 1}) * axes[1].view({1, -1, 1}) * axes[2].view({1, 1, -1});
  g = (g / (g.max() / 10.0)).to(torch::kHalf);
  g = torch::where(g == 0, g.masked_select(g != 0).min(), g);
  return g.to(torch::kFloat32);
}

torch::Tensor blending_weights(const std::array<int64_t, 3>& window, Blending blending) {
  switch (blending) {
    case Blending::Gaussian: return gaussian_importance_map(window);
    case Blending::NnunetGaussian: return nnunet_gaussian_importance_map(window);
    case Blending::Constant: break;
  }
  return torch::ones({window[0], window[1], window[2]});
}

void check_window_options(const InferenceSettings& o, const SlidingWindowOptions& run) {
  for (int64_t w : window_of(o)) {
    if (w < 1 || w > 1024) fail("window size {} is out of range, expected 1 to 1024 voxels", w);
  }
  if (!(o.overlap >= 0 && o.overlap < 1)) fail("window overlap {} is out of range, expected [0, 1)", o.overlap);
  grown_window_voxels(*o.window, o.window_growth);  // checks the growth's range
  if (run.batch_size < 1 || run.batch_size > 64) fail("window batch size {} is out of range, expected 1 to 64", run.batch_size);
  for (auto a : o.mirror_axes) {
    if (a < 0 || a > 2) fail("mirror axis {} is not 0, 1 or 2", a);
  }
  row_frame(run.row_axis);  // checks the row axis
}

namespace {

// Every subset of the mirror axes (as tensor dimensions), the empty one (no flip) included.
std::vector<std::vector<int64_t>> flip_sets(const std::vector<int64_t>& mirror_axes) {
  std::vector<std::vector<int64_t>> flips;
  for (int mask = 0; mask < (1 << mirror_axes.size()); ++mask) {
    std::vector<int64_t> f;
    for (size_t i = 0; i < mirror_axes.size(); ++i) {
      if (mask & (1 << i)) f.push_back(mirror_axes[i] + 2);
    }
    flips.push_back(f);
  }
  return flips;
}

// The network's averaged logits [B, K, w, w, w] for a batch of windows, on the stitch device.
torch::Tensor predict_batch(const torch::Tensor& batch, const WindowPredictor& predictor, const std::vector<std::vector<int64_t>>& flips,
                            int64_t out_channels, torch::Device stitch_device) {
  torch::Tensor out;
  for (size_t i = 0; i < flips.size(); ++i) {
    const auto& f = flips[i];
    auto y = f.empty() ? predictor(batch) : predictor(batch.flip(f)).flip(f);
    // Summed in place after the first sum: with 104 classes one window's logits are 368 MB.
    out = i == 0 ? y : i == 1 ? out + y : out.add_(y);
  }
  if (flips.size() > 1) out.div_(static_cast<double>(flips.size()));
  out = out.to(stitch_device, torch::kFloat32);
  if (out.size(1) != out_channels) fail("the network returned {} channels, expected {}", out.size(1), out_channels);
  return out;
}

// The image's axes in the frame of a row axis (row_frame), and the settings in that frame: the window
// and the mirror axes permuted alike.
InferenceSettings framed_settings(const InferenceSettings& settings, const std::array<int64_t, 3>& frame) {
  InferenceSettings s = settings;
  const auto window = window_of(settings);
  for (int p = 0; p < 3; ++p) (*s.window)[p] = window[frame[p]];
  for (auto& a : s.mirror_axes) a = std::find(frame.begin(), frame.end(), a) - frame.begin();
  return s;
}

// The predictor seen from the frame: windows go to the network in the image's own axis order, and its
// logits come back into the frame (views; the network's input is made contiguous).
WindowPredictor framed_predictor(const WindowPredictor& predictor, const std::array<int64_t, 3>& frame) {
  if (frame == std::array<int64_t, 3>{0, 1, 2}) return predictor;
  return [=](const torch::Tensor& x) { return in_axis_order(predictor(from_axis_order(x, frame).contiguous()), frame); };
}

// An image smaller than the window along an axis is padded with zeros to it, the difference split
// with the larger half after (as acvl_utils' pad_nd_image, which nnU-Net uses): the padded image, its
// size and the padding before the image.
struct PaddedImage {
  torch::Tensor input;
  std::array<int64_t, 3> padded, before;
};
PaddedImage padded_to_window(const torch::Tensor& image, const std::array<int64_t, 3>& size, const std::array<int64_t, 3>& window) {
  PaddedImage out;
  std::vector<int64_t> pads(6, 0);
  for (int a = 0; a < 3; ++a) {
    out.padded[a] = std::max(size[a], window[a]);
    out.before[a] = (out.padded[a] - size[a]) / 2;
    pads[2 * (2 - a)] = out.before[a];
    pads[2 * (2 - a) + 1] = out.padded[a] - size[a] - out.before[a];
  }
  const bool unpadded = std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
  out.input = unpadded ? image : torch::constant_pad_nd(image, pads, 0.0);  // no copy of a large image that needs none
  return out;
}

}  // namespace

void sliding_window_slabs(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                          const InferenceSettings& image_settings, const SlidingWindowOptions& o, const SlabSink& sink) {
  if (image.dim() != 5 || image.size(0) != 1) fail("sliding window expects a [1, C, D, H, W] image");
  check_window_options(image_settings, o);
  // Everything below works in the row axis's frame (row_frame): the row axis first.
  const auto frame = row_frame(o.row_axis);
  const auto framed = in_axis_order(image, frame);
  const auto settings = framed_settings(image_settings, frame);
  const auto net = framed_predictor(predictor, frame);
  const std::array<int64_t, 3> size{framed.size(2), framed.size(3), framed.size(4)};
  const std::array<int64_t, 3> window = fitted_window(size, settings);
  const auto [input, padded, before] = padded_to_window(framed, size, window);
  const auto weight = blending_weights(window, settings.blending).to(o.stitch_device);

  std::vector<std::array<int64_t, 3>> positions;  // ordered along the row axis, as the ring needs
  for (auto s0 : window_starts(padded[0], window[0], settings.overlap))
    for (auto s1 : window_starts(padded[1], window[1], settings.overlap))
      for (auto s2 : window_starts(padded[2], window[2], settings.overlap)) positions.push_back({s0, s1, s2});
  const auto flips = flip_sets(settings.mirror_axes);

  LogitRing logits(out_channels, window[0], padded[1], padded[2], o.accumulators, o.stitch_device);
  const int64_t row_bytes = out_channels * padded[1] * padded[2] * 4;
  const int64_t rows_per_slab = std::max<int64_t>(1, o.slab_bytes / row_bytes);
  // Hands on the padded rows before `row`, which no window still to come touches.
  auto finish_rows_before = [&](int64_t row) {
    while (logits.first() < row) {
      const int64_t first = logits.first(), n = std::min(rows_per_slab, row - first);
      auto slab = logits.take(n);
      const int64_t lo = std::max(first, before[0]), hi = std::min(first + n, before[0] + size[0]);
      if (lo >= hi) continue;  // padding rows
      sink(lo - before[0], slab.slice(1, lo - first, hi - first).slice(2, before[1], before[1] + size[1]).slice(3, before[2], before[2] + size[2]));
    }
  };

  for (size_t first = 0; first < positions.size(); first += o.batch_size) {
    const size_t last = std::min(positions.size(), first + static_cast<size_t>(o.batch_size));
    std::vector<torch::Tensor> windows;
    for (size_t p = first; p < last; ++p) {
      const auto& s = positions[p];
      windows.push_back(input.slice(2, s[0], s[0] + window[0]).slice(3, s[1], s[1] + window[1]).slice(4, s[2], s[2] + window[2]));
    }
    const auto out = predict_batch(torch::cat(windows, 0).to(o.compute_device), net, flips, out_channels, o.stitch_device);
    for (size_t p = first; p < last; ++p) {
      const auto& s = positions[p];
      finish_rows_before(s[0]);
      logits.add(s[0], s[1], s[2], out[static_cast<int64_t>(p - first)], weight);
    }
    if (o.on_progress) o.on_progress(last, positions.size());
  }
  finish_rows_before(padded[0]);
}

torch::Tensor nnunet_sliding_window(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                                    const InferenceSettings& settings, const std::array<int64_t, 3>& network_axes,
                                    const SlidingWindowOptions& o) {
  if (image.dim() != 5 || image.size(0) != 1) fail("sliding window expects a [1, C, D, H, W] image");
  check_window_options(settings, o);
  const std::array<int64_t, 3> size{image.size(2), image.size(3), image.size(4)};
  const std::array<int64_t, 3> window = window_of(settings);
  const auto [input, padded, before] = padded_to_window(image, size, window);
  const auto dtype = settings.accumulation == Accumulation::NnunetFloat16 ? torch::kHalf : torch::kFloat32;
  const auto weight = blending_weights(window, settings.blending).to(o.stitch_device);
  auto logits = torch::zeros({out_channels, padded[0], padded[1], padded[2]}, torch::TensorOptions().dtype(dtype).device(o.stitch_device));
  auto norm = torch::zeros({padded[0], padded[1], padded[2]}, logits.options());
  const auto weight_in_dtype = weight.to(dtype);
  // Positions in nnU-Net's order: its first (network) axis outermost.
  std::array<std::vector<int64_t>, 3> starts;
  for (int a = 0; a < 3; ++a) starts[a] = window_starts(padded[a], window[a], settings.overlap);
  const auto& n = network_axes;
  const auto flips = flip_sets(settings.mirror_axes);
  size_t done = 0, total = starts[0].size() * starts[1].size() * starts[2].size();
  for (int64_t s0 : starts[n[0]])
    for (int64_t s1 : starts[n[1]])
      for (int64_t s2 : starts[n[2]]) {
        std::array<int64_t, 3> s{};
        s[n[0]] = s0, s[n[1]] = s1, s[n[2]] = s2;
        const auto x = input.slice(2, s[0], s[0] + window[0]).slice(3, s[1], s[1] + window[1]).slice(4, s[2], s[2] + window[2]);
        const auto y = predict_batch(x.to(o.compute_device), predictor, flips, out_channels, o.stitch_device)[0] * weight;
        auto at = [&](torch::Tensor t, int64_t first) {
          return t.slice(first, s[0], s[0] + window[0]).slice(first + 1, s[1], s[1] + window[1]).slice(first + 2, s[2], s[2] + window[2]);
        };
        at(logits, 1).add_(y);  // summed in float32, stored in the accumulators' type (nnU-Net: predicted_logits[sl] += prediction)
        at(norm, 0).add_(weight_in_dtype);
        if (o.on_progress) o.on_progress(++done, total);
      }
  logits.div_(norm);
  return logits.slice(1, before[0], before[0] + size[0]).slice(2, before[1], before[1] + size[1]).slice(3, before[2], before[2] + size[2])
      .to(torch::kFloat32).unsqueeze(0);
}

torch::Tensor sliding_window_inference(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                                       const InferenceSettings& settings, const SlidingWindowOptions& o) {
  auto logits = torch::empty({1, out_channels, image.size(2), image.size(3), image.size(4)}, torch::TensorOptions().device(o.stitch_device));
  const auto frame = row_frame(o.row_axis);
  const auto framed = in_axis_order(logits[0], frame);
  sliding_window_slabs(image, out_channels, predictor, settings, o, [&](int64_t row, const torch::Tensor& slab) {
    framed.slice(1, row, row + slab.size(1)).copy_(slab);
  });
  return logits;
}

}  // namespace repux
