#include "repux/infer/sliding_window.h"

#include "repux/error.h"

#include <cmath>

namespace repux {

std::vector<int64_t> window_starts(int64_t size, int64_t window, double overlap) {
  if (size <= window) return {0};
  const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(std::floor(window * (1.0 - overlap))));
  const int64_t count = (size - window + step - 1) / step + 1;
  // Spread the windows evenly so that the last one ends exactly at the border.
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count; ++i) {
    starts.push_back(count == 1 ? 0 : static_cast<int64_t>(std::llround(static_cast<double>(i) * (size - window) / (count - 1))));
  }
  return starts;
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

void check_window_options(const SlidingWindowOptions& o) {
  for (int64_t w : o.window) {
    if (w < 1 || w > 1024) fail("window size {} is out of range, expected 1 to 1024 voxels", w);
  }
  if (!(o.overlap >= 0 && o.overlap < 1)) fail("window overlap {} is out of range, expected [0, 1)", o.overlap);
  if (o.batch_size < 1 || o.batch_size > 64) fail("window batch size {} is out of range, expected 1 to 64", o.batch_size);
  for (auto a : o.mirror_axes) {
    if (a < 0 || a > 2) fail("mirror axis {} is not 0, 1 or 2", a);
  }
}

torch::Tensor sliding_window_inference(const torch::Tensor& image, int64_t out_channels, const WindowPredictor& predictor,
                                       const SlidingWindowOptions& o) {
  if (image.dim() != 5 || image.size(0) != 1) fail("sliding window expects a [1, C, D, H, W] image");
  check_window_options(o);
  const std::array<int64_t, 3> size{image.size(2), image.size(3), image.size(4)};
  std::array<int64_t, 3> padded{};
  std::vector<int64_t> pads(6, 0);
  for (int a = 0; a < 3; ++a) {
    padded[a] = std::max(size[a], o.window[a]);
    const int64_t total = padded[a] - size[a];
    pads[2 * (2 - a)] = total / 2;
    pads[2 * (2 - a) + 1] = total - total / 2;
  }
  auto input = torch::constant_pad_nd(image, pads, 0.0);

  auto weight = o.blending == Blending::Gaussian ? gaussian_importance_map(o.window) : torch::ones({o.window[0], o.window[1], o.window[2]});
  weight = weight.to(o.stitch_device);
  auto logits = torch::zeros({1, out_channels, padded[0], padded[1], padded[2]}, torch::TensorOptions().device(o.stitch_device));
  auto norm = torch::zeros({1, 1, padded[0], padded[1], padded[2]}, torch::TensorOptions().device(o.stitch_device));

  std::vector<std::array<int64_t, 3>> positions;
  for (auto s0 : window_starts(padded[0], o.window[0], o.overlap))
    for (auto s1 : window_starts(padded[1], o.window[1], o.overlap))
      for (auto s2 : window_starts(padded[2], o.window[2], o.overlap)) positions.push_back({s0, s1, s2});

  // Every subset of the mirror axes, the empty one (no flip) included.
  std::vector<std::vector<int64_t>> flips;
  for (int mask = 0; mask < (1 << o.mirror_axes.size()); ++mask) {
    std::vector<int64_t> f;
    for (size_t i = 0; i < o.mirror_axes.size(); ++i) {
      if (mask & (1 << i)) f.push_back(o.mirror_axes[i] + 2);
    }
    flips.push_back(f);
  }

  for (size_t first = 0; first < positions.size(); first += o.batch_size) {
    const size_t last = std::min(positions.size(), first + static_cast<size_t>(o.batch_size));
    std::vector<torch::Tensor> windows;
    for (size_t p = first; p < last; ++p) {
      const auto& s = positions[p];
      windows.push_back(input.slice(2, s[0], s[0] + o.window[0]).slice(3, s[1], s[1] + o.window[1]).slice(4, s[2], s[2] + o.window[2]));
    }
    auto batch = torch::cat(windows, 0).to(o.compute_device);
    torch::Tensor out;
    for (const auto& f : flips) {
      auto y = f.empty() ? predictor(batch) : predictor(batch.flip(f)).flip(f);
      out = out.defined() ? out + y : y;
    }
    out = (out / static_cast<double>(flips.size())).to(o.stitch_device, torch::kFloat32);
    if (out.size(1) != out_channels) fail("the network returned {} channels, expected {}", out.size(1), out_channels);
    for (size_t p = first; p < last; ++p) {
      const auto& s = positions[p];
      auto region = [&](torch::Tensor& t) {
        return t.slice(2, s[0], s[0] + o.window[0]).slice(3, s[1], s[1] + o.window[1]).slice(4, s[2], s[2] + o.window[2]);
      };
      region(logits).add_(out[static_cast<int64_t>(p - first)].unsqueeze(0) * weight);
      region(norm).add_(weight);
    }
    if (o.on_progress) o.on_progress(last, positions.size());
  }
  logits.div_(norm);
  return logits.slice(2, pads[4], pads[4] + size[0]).slice(3, pads[2], pads[2] + size[1]).slice(4, pads[0], pads[0] + size[2]);
}

}  // namespace repux
