#include "repux/data/sampler.h"

#include "repux/data/augmentations.h"
#include "repux/error.h"

#include <algorithm>
#include <cmath>

namespace repux {

nlohmann::json to_json(const SamplerOptions& o) {
  nlohmann::json j = {{"crops_per_case", o.crops_per_case}, {"foreground_ratio", o.foreground_ratio},
                      {"foreground_sampling", enum_name(o.foreground_sampling)}, {"augmentations", enum_name(o.augmentations)},
                      {"flip_axes", o.flip_axes}};
  if (o.augmentations == Augmentations::Repux) {
    j.update({{"intensity_shift", o.intensity_shift}, {"rotation", o.rotation}, {"scaling", o.scaling}});
  } else if (o.in_plane_about) {
    j["in_plane_about"] = *o.in_plane_about;
  }
  return j;
}

std::optional<int64_t> anisotropic_axis(const std::array<double, 3>& spacing, const std::array<int64_t, 3>& patch) {
  const auto coarse = static_cast<int64_t>(std::max_element(spacing.begin(), spacing.end()) - spacing.begin());
  const int64_t largest = *std::max_element(patch.begin(), patch.end());
  if (static_cast<double>(largest) / static_cast<double>(patch[coarse]) > 3.0) return coarse;
  return std::nullopt;
}

int64_t draw_foreground_class(const ForegroundSample& fg, ForegroundSampling rule, std::mt19937_64& rng) {
  std::vector<int64_t> present;
  int64_t total = 0;
  for (size_t c = 1; c < fg.class_voxels.size(); ++c) {
    if (fg.sample_counts[c] > 0) present.push_back(static_cast<int64_t>(c));
    total += fg.class_voxels[c];
  }
  if (present.empty()) return 0;
  if (rule == ForegroundSampling::ClassUniform) return present[std::uniform_int_distribution<size_t>(0, present.size() - 1)(rng)];
  int64_t pick = std::uniform_int_distribution<int64_t>(0, total - 1)(rng);
  size_t c = 1;
  for (; pick >= fg.class_voxels[c]; ++c) pick -= fg.class_voxels[c];
  return static_cast<int64_t>(c);
}

namespace {

using Index = std::array<int64_t, 3>;
using Matrix = std::array<std::array<double, 3>, 3>;  // acts on voxel offsets (D, H, W)

constexpr double kPi = 3.14159265358979323846;

Matrix scaling(const std::array<double, 3>& s) { return {{{s[0], 0, 0}, {0, s[1], 0}, {0, 0, s[2]}}}; }
Matrix identity() { return scaling({1, 1, 1}); }

Matrix product(const Matrix& a, const Matrix& b) {
  Matrix m{};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 3; ++k) m[i][j] += a[i][k] * b[k][j];
    }
  }
  return m;
}

Matrix rotation_about(int64_t axis, double angle) {
  Matrix r = identity();
  const auto i = static_cast<size_t>((axis + 1) % 3), j = static_cast<size_t>((axis + 2) % 3);
  r[i][i] = r[j][j] = std::cos(angle);
  r[i][j] = -std::sin(angle);
  r[j][i] = std::sin(angle);
  return r;
}

// The crop's centre: a voxel of the foreground sample (its class drawn by the rule) or any voxel of the case.
Index draw_centre(const CropSource& source, size_t index, bool foreground, ForegroundSampling rule, std::mt19937_64& rng) {
  const ForegroundSample& fg = source.foreground(index);
  const int64_t c = foreground ? draw_foreground_class(fg, rule, rng) : 0;
  Index centre{};
  if (c == 0) {
    const auto size = source.shape(index);
    for (int a = 0; a < 3; ++a) centre[a] = std::uniform_int_distribution<int64_t>(0, size[a] - 1)(rng);
    return centre;
  }
  int64_t row = 0;
  for (int64_t k = 1; k < c; ++k) row += fg.sample_counts[k];
  row += std::uniform_int_distribution<int64_t>(0, fg.sample_counts[c] - 1)(rng);
  const int32_t* p = fg.positions.data_ptr<int32_t>() + 3 * row;
  for (int a = 0; a < 3; ++a) centre[a] = p[a];
  return centre;
}

// The patch around `centre`, kept inside the image when the image is large enough; else the padding centred.
Index patch_start(const Index& size, const Index& centre, const Index& patch) {
  Index start{};
  for (int a = 0; a < 3; ++a) {
    start[a] = size[a] >= patch[a] ? std::clamp<int64_t>(centre[a] - patch[a] / 2, 0, size[a] - patch[a]) : -(patch[a] - size[a]) / 2;
  }
  return start;
}

// repux's affine: with affine_probability, a rotation about the third axis and a scaling per axis.
Matrix draw_repux_affine(const SamplerOptions& o, std::mt19937_64& rng) {
  if (draw_uniform(0, 1, rng) >= o.affine_probability) return identity();
  const double angle = draw_uniform(-1, 1, rng) * o.rotation;
  std::array<double, 3> s{};
  for (double& v : s) v = 1 + draw_uniform(-1, 1, rng) * o.scaling;
  return product(rotation_about(2, angle), scaling(s));
}

// nnU-Net's: rotation (p 0.2) about every axis by up to 30 degrees (anisotropic: about the coarse axis
// by up to 180), then one scaling factor for every axis (p 0.2; anisotropic: the in-plane axes) from 0.7-1.4.
Matrix draw_nnunet_affine(const SamplerOptions& o, std::mt19937_64& rng) {
  Matrix m = identity();
  if (draw_uniform(0, 1, rng) < 0.2) {
    if (o.in_plane_about) {
      m = rotation_about(*o.in_plane_about, draw_uniform(-kPi, kPi, rng));
    } else {
      for (int64_t axis = 0; axis < 3; ++axis) m = product(m, rotation_about(axis, draw_uniform(-kPi / 6, kPi / 6, rng)));
    }
  }
  if (draw_uniform(0, 1, rng) < 0.2) {
    const double s = draw_uniform(0.7, 1.4, rng);
    std::array<double, 3> f{s, s, s};
    if (o.in_plane_about) f[static_cast<size_t>(*o.in_plane_about)] = 1;
    m = product(m, scaling(f));
  }
  return m;
}

// The patch at `start` as the affine `m` (patch offsets from its centre -> the case's) sees it: a crop
// large enough for every sample point, resampled on `device` (linear image, nearest label). The crop
// stays inside the case (and the patch's own padding, for a case smaller than the patch); beyond it
// the sampler reflects (MONAI's RandAffine default): zero padding would fade the linearly sampled
// image into the border while the nearest-sampled label does not, and they would disagree there.
Crop transformed_crop(const CropSource& source, size_t index, const Index& start, const Index& patch, const Matrix& m,
                      const torch::Device& device) {
  if (m == identity()) {
    Crop c = source.crop(index, start, patch);
    return {c.image.to(device), c.label.to(device)};
  }
  const Index size = source.shape(index);
  Index crop_start{}, crop_size{};
  std::array<double, 3> offset{};  // the patch's centre from the crop's, in voxels
  for (size_t a = 0; a < 3; ++a) {
    double reach = 0;  // how far from the centre a sample point may fall along axis a, in voxels
    for (size_t b = 0; b < 3; ++b) reach += std::abs(m[a][b]) * static_cast<double>(patch[b]) / 2;
    const int64_t margin = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(reach - static_cast<double>(patch[a]) / 2)) + 1);
    const int64_t lo = std::max(start[a] - margin, std::min<int64_t>(0, start[a]));
    const int64_t hi = std::min(start[a] + patch[a] + margin, std::max(size[a], start[a] + patch[a]));
    crop_start[a] = lo;
    crop_size[a] = hi - lo;
    offset[a] = (static_cast<double>(start[a]) + static_cast<double>(patch[a] - 1) / 2) - (static_cast<double>(lo) + static_cast<double>(crop_size[a] - 1) / 2);
  }
  Crop c = source.crop(index, crop_start, crop_size);
  // affine_grid's normalised coordinates: output offset u * patch / 2 -> input offset (plus the
  // centres' offset), over crop_size / 2; its rows and columns in (x, y, z) = (W, H, D) order.
  auto theta = torch::zeros({1, 3, 4}, torch::kFloat32);
  for (size_t a = 0; a < 3; ++a) {
    for (size_t b = 0; b < 3; ++b) theta[0][2 - a][2 - b] = m[a][b] * static_cast<double>(patch[b]) / static_cast<double>(crop_size[a]);
    theta[0][2 - a][3] = 2 * offset[a] / static_cast<double>(crop_size[a]);
  }
  const auto grid = torch::affine_grid_generator(theta.to(device), {1, 1, patch[0], patch[1], patch[2]}, /*align_corners=*/false);
  constexpr int64_t linear = 0, nearest = 1, reflection = 2;
  auto image = torch::grid_sampler(c.image.unsqueeze(0).to(device), grid, linear, reflection, false).squeeze(0);
  auto label = torch::grid_sampler(c.label.view({1, 1, crop_size[0], crop_size[1], crop_size[2]}).to(device, torch::kFloat32), grid, nearest,
                                   reflection, false);
  return {image, label.squeeze(0).squeeze(0).round().to(torch::kInt64)};
}

// Intensity augmentation and flips of one crop.
void augment_crop(Crop& crop, const SamplerOptions& o, std::mt19937_64& rng) {
  if (o.augmentations == Augmentations::NnUNet) {
    crop.image = augment_intensities_nnunet(crop.image, rng, o.in_plane_about);
  } else if (draw_uniform(0, 1, rng) < o.intensity_probability) {
    crop.image = crop.image + draw_uniform(-1, 1, rng) * o.intensity_shift;
  }
  for (int64_t a = 0; a < 3; ++a) {
    const bool listed = std::find(o.flip_axes.begin(), o.flip_axes.end(), a) != o.flip_axes.end();
    if (listed && draw_uniform(0, 1, rng) < 0.5) {
      crop.image = crop.image.flip({a + 1});
      crop.label = crop.label.flip({a});
    }
  }
}

}  // namespace

Batch sample_batch(const CropSource& source, uint64_t seed, const std::array<int64_t, 3>& patch, const SamplerOptions& o,
                   const torch::Device& device) {
  if (source.size() == 0) fail("no training cases");
  std::mt19937_64 rng(seed);
  const size_t index = std::uniform_int_distribution<size_t>(0, source.size() - 1)(rng);
  std::vector<torch::Tensor> images, labels;
  for (int64_t k = 0; k < o.crops_per_case; ++k) {
    const bool foreground = draw_uniform(0, 1, rng) < o.foreground_ratio;
    const Index start = patch_start(source.shape(index), draw_centre(source, index, foreground, o.foreground_sampling, rng), patch);
    const Matrix m = o.augmentations == Augmentations::NnUNet ? draw_nnunet_affine(o, rng) : draw_repux_affine(o, rng);
    Crop crop = transformed_crop(source, index, start, patch, m, device);
    augment_crop(crop, o, rng);
    images.push_back(std::move(crop.image));
    labels.push_back(std::move(crop.label));
  }
  return {torch::stack(images).contiguous(), torch::stack(labels).contiguous()};
}

}  // namespace repux
