#include "repux/eval/erf.h"

#include "repux/error.h"
#include "canvas.h"
#include "repux/io/png.h"

#include <algorithm>
#include <cmath>

namespace repux {
namespace {

// The share of `map`'s sum inside the cube of half-width r around `centre` (clipped to the map).
double share_within(const torch::Tensor& map, std::array<int64_t, 3> centre, int64_t r, double total) {
  torch::Tensor cube = map;
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t lo = std::max<int64_t>(0, centre[axis] - r), hi = std::min(map.size(axis), centre[axis] + r + 1);
    cube = cube.slice(axis, lo, hi);
  }
  return cube.sum().item<double>() / total;
}

int64_t clipped_cube_voxels(const torch::Tensor& map, std::array<int64_t, 3> centre, int64_t r) {
  int64_t voxels = 1;
  for (int axis = 0; axis < 3; ++axis) {
    voxels *= std::min(map.size(axis), centre[axis] + r + 1) - std::max<int64_t>(0, centre[axis] - r);
  }
  return voxels;
}

// The smallest half-width whose cube holds at least `share` of the total.
int64_t radius_holding(const torch::Tensor& map, std::array<int64_t, 3> centre, double share, double total) {
  const int64_t largest = *std::max_element(map.sizes().begin(), map.sizes().end());
  for (int64_t r = 0; r < largest; ++r) {
    if (share_within(map, centre, r, total) >= share - 1e-12) return r;
  }
  return largest;
}

torch::Tensor log_scaled(const torch::Tensor& contribution) {
  const torch::Tensor logged = torch::log10(1 + contribution);
  const double peak = logged.max().item<double>();
  return peak > 0 ? logged / peak : logged;
}

// A dark-to-bright colour ramp (black, purple, red, orange, pale yellow) for t in [0, 1].
std::array<unsigned char, 3> ramp(double t) {
  static const double stops[5][3] = {{0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
  const double x = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(x));
  const double f = x - i;
  std::array<unsigned char, 3> rgb{};
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<unsigned char>(std::lround(stops[i][c] * (1 - f) + stops[i + 1][c] * f));
  return rgb;
}

}  // namespace

torch::Tensor effective_receptive_field(const FeatureFunction& feature, const std::vector<torch::Tensor>& inputs) {
  if (inputs.empty()) fail("an effective receptive field needs at least one input");
  torch::Tensor sum;
  for (const auto& input : inputs) {
    if (input.dim() != 5 || input.size(0) != 1) fail("ERF inputs must be [1, C, D, H, W], got {}", input.dim());
    if (sum.defined() && input.sizes().slice(2) != sum.sizes()) fail("ERF inputs must all have one shape");
    torch::Tensor x = input.detach().clone().set_requires_grad(true);
    const torch::Tensor f = feature(x);
    if (f.dim() != 5) fail("the ERF's feature map must be [1, F, d, h, w], got {} dimensions", f.dim());
    const torch::Tensor centre = torch::relu(f.select(4, f.size(4) / 2).select(3, f.size(3) / 2).select(2, f.size(2) / 2)).sum();
    const torch::Tensor grad = torch::autograd::grad({centre}, {x})[0];
    const torch::Tensor map = grad.abs().sum(std::vector<int64_t>{0, 1}).to(torch::kFloat64);
    sum = sum.defined() ? sum + map : map;
  }
  return sum / static_cast<double>(inputs.size());
}

int64_t erf_centre(int64_t input_size, int64_t feature_size) {
  const int64_t stride = std::max<int64_t>(1, input_size / std::max<int64_t>(1, feature_size));
  return std::min(input_size - 1, stride * (feature_size / 2) + (stride - 1) / 2);
}

ErfSummary summarize_erf(const torch::Tensor& contribution, std::array<int64_t, 3> centre) {
  if (contribution.dim() != 3) fail("an ERF map is [D, H, W], got {} dimensions", contribution.dim());
  ErfSummary s;
  const double total = contribution.sum().item<double>();
  if (!(total > 0)) fail("the ERF is zero everywhere: the feature's centre voxel is not positive in any channel, or does not depend on the input");
  for (size_t i = 0; i < kErfRadiusShares.size(); ++i) s.radius[i] = radius_holding(contribution, centre, kErfRadiusShares[i], total);
  const torch::Tensor scaled = log_scaled(contribution);
  const double scaled_total = scaled.sum().item<double>();
  for (size_t i = 0; i < kErfAreaThresholds.size(); ++i) {
    const int64_t r = radius_holding(scaled, centre, kErfAreaThresholds[i], scaled_total);
    s.area_ratio[i] = static_cast<double>(clipped_cube_voxels(scaled, centre, r)) / static_cast<double>(scaled.numel());
  }
  return s;
}

void write_erf_png(const torch::Tensor& contribution, std::array<int64_t, 3> centre, const std::string& path, const std::string& title) {
  const torch::Tensor scaled = log_scaled(contribution).to(torch::kFloat32);
  // Slices through the centre: across axis 2 (axes 0 x 1), axis 1 (0 x 2), axis 0 (1 x 2).
  const std::vector<torch::Tensor> slices = {scaled.select(2, centre[2]), scaled.select(1, centre[1]), scaled.select(0, centre[0])};
  const char* captions[3] = {"axes 0 x 1, through k={}", "axes 0 x 2, through j={}", "axes 1 x 2, through i={}"};
  const int64_t through[3] = {centre[2], centre[1], centre[0]};
  int64_t largest = 1;
  for (const auto& s : slices) largest = std::max({largest, s.size(0), s.size(1)});
  const int zoom = static_cast<int>(std::max<int64_t>(1, 192 / largest)), gap = 10, top = 34, bottom = 42, bar = 16, bar_space = 70;
  int width = gap, cells = 0;
  for (const auto& s : slices) {
    width += static_cast<int>(s.size(1)) * zoom + gap;
    cells = std::max(cells, static_cast<int>(s.size(0)) * zoom);
  }
  width += bar_space;
  Canvas canvas(std::max(width, 420), top + cells + bottom, {255, 255, 255});
  std::vector<Text> texts;
  const Rgb black{0, 0, 0};
  texts.push_back({canvas.width / 2.0, 14, 0.5, title.empty() ? "effective receptive field" : title, black, 0.9});
  int left = gap;
  for (size_t i = 0; i < slices.size(); ++i) {
    const torch::Tensor values = slices[i].contiguous();
    const auto a = values.accessor<float, 2>();
    const int h = static_cast<int>(values.size(0)) * zoom, w = static_cast<int>(values.size(1)) * zoom;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const auto c = ramp(a[y / zoom][x / zoom]);
        canvas.put(left + x, top + y, {c[0], c[1], c[2]});
      }
    }
    texts.push_back({left + w / 2.0, top + h + 12.0, 0.5, fmt::format(captions[i], through[i]), black, 0.6});
    left += w + gap;
  }
  // The colour scale: bright at the top (the largest contribution), dark at the bottom (none).
  for (int y = 0; y < cells; ++y) {
    const auto c = ramp(1.0 - static_cast<double>(y) / std::max(1, cells - 1));
    canvas.fill(left + 4, top + y, bar, 1, {c[0], c[1], c[2]});
  }
  texts.push_back({left + bar + 8.0, top + 4.0, 0, "max", black, 0.6});
  texts.push_back({left + bar + 8.0, top + cells - 4.0, 0, "0", black, 0.6});
  texts.push_back({canvas.width / 2.0, top + cells + 32.0, 0.5, "colour: log10(1 + contribution), scaled to its maximum", black, 0.6});
  draw_texts(canvas, texts);
  write_png(path, canvas.rgb.data(), canvas.width, canvas.height);
}

StageErf encoder_stage_erf(Segmenter& net, size_t index, const std::vector<torch::Tensor>& inputs) {
  if (inputs.empty()) fail("the ERF needs at least one input");
  std::array<int64_t, 3> feature_size{};
  StageErf out;
  out.map = effective_receptive_field(
      [&](const torch::Tensor& x) {
        const auto stages = net->encoder_stages(x);
        if (index >= stages.size()) fail("encoder stage {} does not exist (the network has {})", index, stages.size());
        for (int a = 0; a < 3; ++a) feature_size[a] = stages[index].size(2 + a);
        return stages[index];
      },
      inputs);
  for (int a = 0; a < 3; ++a) out.centre[a] = erf_centre(inputs[0].size(2 + a), feature_size[a]);
  return out;
}

}  // namespace repux
