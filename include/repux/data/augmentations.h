#pragma once
// nnU-Net's intensity augmentations (its v2 trainer's set, in its order), each a function of the
// parameters it was drawn with so that a test can check its output against them, and the draw of a
// whole set for one crop. The spatial part (rotation, scaling, mirroring) is the sampler's
// (repux/data/sampler.h): it decides how large a crop to read.
//
// nnU-Net's set, per crop: Gaussian noise (p 0.1, standard deviation from U(0, 0.1): nnU-Net calls
// the range a variance but uses the draw as the deviation); Gaussian blur (p 0.2, each channel with
// p 0.5, sigma from U(0.5, 1) per axis); multiplicative brightness (p 0.15, factor from
// [0.75, 1.25]); contrast (p 0.15, factor from [0.75, 1.25], range preserved); simulated low
// resolution (p 0.25, each channel with p 0.5, zoom from U(0.5, 1) for every axis); inverted gamma
// (p 0.1) and gamma (p 0.3), gamma from [0.7, 1.5], mean and deviation kept. Factors "from [lo, hi]"
// are drawn as nnU-Net's BGContrast draws them: below 1 or above 1 with equal chance, uniform on that side.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>

namespace repux {

// image [C, D, H, W] plus N(0, sigma^2) noise drawn from a generator seeded with `seed` (on the CPU,
// then moved: the same noise on any device).
torch::Tensor add_gaussian_noise(const torch::Tensor& image, double sigma, uint64_t seed);

// One channel [D, H, W] convolved with a Gaussian of `sigma` voxels per axis (separable, truncated at
// 3 sigma, the border replicated).
torch::Tensor gaussian_blur(const torch::Tensor& channel, const std::array<double, 3>& sigma);

// (x - mean) * factor + mean, clamped to the channel's original [min, max] (nnU-Net's preserve_range).
torch::Tensor scale_contrast(const torch::Tensor& channel, double factor);

// Downsampled by `zoom` (nearest) along every axis but `keep_axis` and upsampled back (trilinear).
torch::Tensor simulate_low_resolution(const torch::Tensor& channel, double zoom, std::optional<int64_t> keep_axis = std::nullopt);

// The channel mapped to [0, 1] by its min and range, raised to `gamma`, mapped back; then shifted and
// scaled to its original mean and standard deviation. `invert`: the same on the negated channel.
torch::Tensor apply_gamma(const torch::Tensor& channel, double gamma, bool invert);

// A value from U(lo, hi): every random draw of the sampler and the augmentations goes through it.
double draw_uniform(double lo, double hi, std::mt19937_64& rng);

// nnU-Net's BGContrast draw of a factor from [lo, hi] around 1.
double draw_around_one(double lo, double hi, std::mt19937_64& rng);

// Draws and applies nnU-Net's intensity set to one crop's image [C, D, H, W] (any device) in place of
// its value. `keep_axis`: nnU-Net's rule for anisotropic patches (no low-resolution simulation along
// the coarse axis).
torch::Tensor augment_intensities_nnunet(torch::Tensor image, std::mt19937_64& rng, std::optional<int64_t> keep_axis);

}  // namespace repux
