#include "repux/data/sampler.h"

#include "repux/error.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace repux {

nlohmann::json to_json(const SamplerOptions& o) {
  return {{"crops_per_case", o.crops_per_case}, {"foreground_ratio", o.foreground_ratio},
          {"intensity_shift", o.intensity_shift}, {"rotation", o.rotation}, {"scaling", o.scaling}, {"flip_axes", o.flip_axes}};
}

namespace {

// The crop's centre: a voxel of the foreground sample (its class drawn in proportion to the class's
// voxels in the case, i.e. every foreground voxel equally likely when no class is subsampled), or any
// voxel of the case.
std::array<int64_t, 3> crop_start(const CropSource& source, size_t index, bool foreground, std::mt19937_64& rng,
                                  const std::array<int64_t, 3>& patch) {
  const auto size = source.shape(index);
  std::array<int64_t, 3> centre{};
  const ForegroundSample& fg = source.foreground(index);
  int64_t total = 0;
  for (int64_t n : fg.class_voxels) total += n;
  if (foreground && total > 0) {
    int64_t pick = std::uniform_int_distribution<int64_t>(0, total - 1)(rng), row = 0;
    size_t c = 1;
    for (; pick >= fg.class_voxels[c]; ++c) {
      pick -= fg.class_voxels[c];
      row += fg.sample_counts[c];
    }
    row += std::uniform_int_distribution<int64_t>(0, fg.sample_counts[c] - 1)(rng);
    const int32_t* p = fg.positions.data_ptr<int32_t>() + 3 * row;
    for (int a = 0; a < 3; ++a) centre[a] = p[a];
  } else {
    for (int a = 0; a < 3; ++a) centre[a] = std::uniform_int_distribution<int64_t>(0, size[a] - 1)(rng);
  }
  std::array<int64_t, 3> start{};
  for (int a = 0; a < 3; ++a) {
    start[a] = centre[a] - patch[a] / 2;
    // Keep the patch inside the image when the image is large enough; otherwise centre the padding.
    start[a] = size[a] >= patch[a] ? std::clamp<int64_t>(start[a], 0, size[a] - patch[a]) : -(patch[a] - size[a]) / 2;
  }
  return start;
}

}  // namespace

Batch sample_batch(const CropSource& source, uint64_t seed, const std::array<int64_t, 3>& patch, const SamplerOptions& o,
                   const torch::Device& device) {
  if (source.size() == 0) fail("no training cases");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const size_t index = std::uniform_int_distribution<size_t>(0, source.size() - 1)(rng);
  std::vector<torch::Tensor> images, labels;
  for (int64_t k = 0; k < o.crops_per_case; ++k) {
    const auto start = crop_start(source, index, u(rng) < o.foreground_ratio, rng, patch);
    Crop crop = source.crop(index, start, patch);
    images.push_back(std::move(crop.image));
    labels.push_back(std::move(crop.label));
  }
  auto image = torch::stack(images).to(device), label = torch::stack(labels).to(device);
  const int64_t b = image.size(0);

  // Random affine, one per crop: rotation in the plane of the first two axes (about the third),
  // independent scaling per axis. affine_grid works in (x, y, z) = (W, H, D) order.
  auto theta = torch::zeros({b, 3, 4}, torch::kFloat32);
  bool any_affine = false;
  for (int64_t i = 0; i < b; ++i) {
    if (u(rng) >= o.affine_probability) {
      theta[i][0][0] = theta[i][1][1] = theta[i][2][2] = 1.0;
      continue;
    }
    any_affine = true;
    const double angle = (2 * u(rng) - 1) * o.rotation;
    const double s[3] = {1 + (2 * u(rng) - 1) * o.scaling, 1 + (2 * u(rng) - 1) * o.scaling, 1 + (2 * u(rng) - 1) * o.scaling};
    const double cs = std::cos(angle), sn = std::sin(angle);
    theta[i][0][0] = s[2];                              // W
    theta[i][1][1] = cs * s[1];                         // H
    theta[i][1][2] = -sn * s[0];
    theta[i][2][1] = sn * s[1];                         // D
    theta[i][2][2] = cs * s[0];
  }
  if (any_affine) {
    auto grid = torch::affine_grid_generator(theta.to(device), {b, 1, patch[0], patch[1], patch[2]}, /*align_corners=*/false);
    // Reflection padding (MONAI's RandAffine default): with zero padding the linearly sampled image
    // fades into the border while the nearest-sampled label does not, and they disagree there.
    constexpr int64_t linear = 0, nearest = 1, reflection = 2;
    image = torch::grid_sampler(image, grid, linear, reflection, false);
    label = torch::grid_sampler(label.unsqueeze(1).to(torch::kFloat32), grid, nearest, reflection, false).squeeze(1).round().to(torch::kInt64);
  }
  for (int64_t i = 0; i < b; ++i) {
    if (u(rng) < o.intensity_probability) image[i].add_((2 * u(rng) - 1) * o.intensity_shift);
    if (!o.flip_axes.empty()) {
      for (int64_t a = 0; a < 3; ++a) {
        const bool listed = std::find(o.flip_axes.begin(), o.flip_axes.end(), a) != o.flip_axes.end();
        if (u(rng) < 0.5 && listed) {  // one draw per axis either way: the same stream for any choice
          image[i].copy_(image[i].flip({a + 1}));
          label[i].copy_(label[i].flip({a}));
        }
      }
    }
  }
  return {image.contiguous(), label.contiguous()};
}

}  // namespace repux
