#include "repux/data/augmentations.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace repux {
namespace {

namespace F = torch::nn::functional;

bool chance(double p, std::mt19937_64& rng) { return draw_uniform(0, 1, rng) < p; }

// A normalised 1-D Gaussian of `sigma` voxels, truncated at 3 sigma.
torch::Tensor gaussian_kernel(double sigma, const torch::TensorOptions& options) {
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  const auto x = torch::arange(-radius, radius + 1, torch::kFloat64);
  const auto k = torch::exp(-0.5 * (x / sigma).pow(2));
  return (k / k.sum()).to(options);
}

}  // namespace

double draw_uniform(double lo, double hi, std::mt19937_64& rng) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

torch::Tensor add_gaussian_noise(const torch::Tensor& image, double sigma, uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  return image + (torch::randn(image.sizes(), gen, torch::kFloat32) * sigma).to(image.options());
}

torch::Tensor gaussian_blur(const torch::Tensor& channel, const std::array<double, 3>& sigma) {
  auto x = channel.unsqueeze(0).unsqueeze(0);  // [1, 1, D, H, W]
  for (int64_t a = 0; a < 3; ++a) {
    const auto k = gaussian_kernel(sigma[a], x.options());
    const int64_t r = (k.size(0) - 1) / 2;
    std::vector<int64_t> shape{1, 1, 1, 1, 1}, pad(6, 0);
    shape[2 + a] = k.size(0);
    pad[2 * (2 - a)] = pad[2 * (2 - a) + 1] = r;  // F::pad lists the last axis first
    x = F::conv3d(F::pad(x, F::PadFuncOptions(pad).mode(torch::kReplicate)), k.view(shape));
  }
  return x.squeeze(0).squeeze(0);
}

torch::Tensor scale_contrast(const torch::Tensor& channel, double factor) {
  const auto mean = channel.mean();
  return ((channel - mean) * factor + mean).clamp(channel.min(), channel.max());
}

torch::Tensor simulate_low_resolution(const torch::Tensor& channel, double zoom, std::optional<int64_t> keep_axis) {
  std::vector<int64_t> small(3);
  for (int64_t a = 0; a < 3; ++a) {
    small[a] = keep_axis == a ? channel.size(a) : std::max<int64_t>(1, std::llround(channel.size(a) * zoom));
  }
  const auto x = channel.unsqueeze(0).unsqueeze(0);
  const auto down = torch::_upsample_nearest_exact3d(x, small);
  const auto up = F::interpolate(down, F::InterpolateFuncOptions().size(channel.sizes().vec()).mode(torch::kTrilinear).align_corners(false));
  return up.squeeze(0).squeeze(0);
}

torch::Tensor apply_gamma(const torch::Tensor& channel, double gamma, bool invert) {
  const auto x = invert ? -channel : channel;
  const auto mean = x.mean(), std = x.std();
  const auto lo = x.min(), range = x.max() - lo;
  auto y = ((x - lo) / range.clamp_min(1e-7)).pow(gamma) * range + lo;
  y = (y - y.mean()) * (std / y.std().clamp_min(1e-7)) + mean;
  return invert ? -y : y;
}

double draw_around_one(double lo, double hi, std::mt19937_64& rng) {
  if (chance(0.5, rng) && lo < 1) return draw_uniform(lo, 1, rng);
  return draw_uniform(std::max(lo, 1.0), hi, rng);
}

torch::Tensor augment_intensities_nnunet(torch::Tensor image, std::mt19937_64& rng, std::optional<int64_t> keep_axis) {
  const int64_t channels = image.size(0);
  if (chance(0.1, rng)) {
    const double sigma = draw_uniform(0, 0.1, rng);
    image = add_gaussian_noise(image, sigma, rng());
  }
  auto each_channel = [&](double p_per_channel, const auto& transform) {
    for (int64_t c = 0; c < channels; ++c) {
      if (chance(p_per_channel, rng)) image[c] = transform(image[c]);
    }
  };
  if (chance(0.2, rng)) {
    each_channel(0.5, [&](const torch::Tensor& x) { return gaussian_blur(x, {draw_uniform(0.5, 1, rng), draw_uniform(0.5, 1, rng), draw_uniform(0.5, 1, rng)}); });
  }
  if (chance(0.15, rng)) each_channel(1.0, [&](const torch::Tensor& x) { return x * draw_around_one(0.75, 1.25, rng); });
  if (chance(0.15, rng)) each_channel(1.0, [&](const torch::Tensor& x) { return scale_contrast(x, draw_around_one(0.75, 1.25, rng)); });
  if (chance(0.25, rng)) each_channel(0.5, [&](const torch::Tensor& x) { return simulate_low_resolution(x, draw_uniform(0.5, 1, rng), keep_axis); });
  if (chance(0.1, rng)) each_channel(1.0, [&](const torch::Tensor& x) { return apply_gamma(x, draw_around_one(0.7, 1.5, rng), true); });
  if (chance(0.3, rng)) each_channel(1.0, [&](const torch::Tensor& x) { return apply_gamma(x, draw_around_one(0.7, 1.5, rng), false); });
  return image;
}

}  // namespace repux
