#pragma once
// Training batches: random patches centred on a foreground or background voxel at a given ratio
// (images smaller than the patch are padded), then one of two augmentation sets. repux's: random
// affine (rotation about the third axis, per-axis scaling), intensity shift, optional flips.
// nnU-Net's: rotation about every axis (in-plane only for anisotropic patches), scaling 0.7-1.4,
// its intensity set (repux/data/augmentations.h) and mirroring. The affine is applied to image and
// label together with grid_sample (so it runs on the GPU too), reading a crop large enough for it.
// Everything is drawn from a seed, so the batch of an iteration is the same however and whenever it
// is produced.
#include "repux/data/crop_source.h"
#include "repux/enum_names.h"

#include <nlohmann/json.hpp>

#include <random>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace repux {

// How a foreground crop's centre is chosen. ClassUniform (nnU-Net's): a class drawn uniformly among
// the classes present in the case, then one of its voxels, so that a small organ is targeted as often
// as a large one. Voxels (repux's rule until 0.9): every foreground voxel equally likely, i.e. a class
// in proportion to its volume.
enum class ForegroundSampling { ClassUniform, Voxels };
template <>
struct EnumNames<ForegroundSampling> {
  static constexpr const char* what = "foreground sampling";
  static constexpr std::pair<ForegroundSampling, const char*> table[] = {{ForegroundSampling::ClassUniform, "class_uniform"},
                                                                         {ForegroundSampling::Voxels, "voxels"}};
};

// Which augmentation set a crop gets.
enum class Augmentations { Repux, NnUNet };
template <>
struct EnumNames<Augmentations> {
  static constexpr const char* what = "augmentation set";
  static constexpr std::pair<Augmentations, const char*> table[] = {{Augmentations::Repux, "repux"}, {Augmentations::NnUNet, "nnunet"}};
};

// Augmentation and crop settings; the patch size comes from the model's Plan.
struct SamplerOptions {
  int64_t crops_per_case = 2;
  double foreground_ratio = 0.5;  // probability that a crop is centred on a foreground voxel
  ForegroundSampling foreground_sampling = ForegroundSampling::ClassUniform;
  Augmentations augmentations = Augmentations::Repux;
  // nnU-Net's set on an anisotropic patch (its rule: the largest patch side over the side along the
  // coarsest axis above 3): rotation about this axis only, by up to 180 degrees, scaling and
  // simulated low resolution in the other two. None: rotation about every axis by up to 30 degrees.
  std::optional<int64_t> in_plane_about;
  // repux's set (rotation, scaling, affine_probability, intensity_*):
  double intensity_shift = 0.1;
  double intensity_probability = 0.5;
  double rotation = 3.14159265358979323846 / 30.0;  // radians, about the third axis
  double scaling = 0.1;
  double affine_probability = 1.0;
  // Both sets: voxel axes of the RAS-reoriented data (0: left-right, 1: posterior-anterior, 2:
  // inferior-superior) each flipped with probability 1/2. Empty: no flips. {0} suits anatomy whose
  // classes are not mirror-symmetric in the other directions (brain lobes); {0, 1, 2} is nnU-Net's mirroring.
  std::vector<int64_t> flip_axes;
};

nlohmann::json to_json(const SamplerOptions& o);

// nnU-Net's rule for the in-plane axis: the coarsest axis of `spacing` when the largest patch side is
// more than 3 times the patch's side along it; none otherwise.
std::optional<int64_t> anisotropic_axis(const std::array<double, 3>& spacing, const std::array<int64_t, 3>& patch);

// The class of a foreground crop's centre (1..K-1) as `rule` draws it from the case's foreground
// sample; 0 when the case has no foreground.
int64_t draw_foreground_class(const ForegroundSample& sample, ForegroundSampling rule, std::mt19937_64& rng);

struct Batch {
  torch::Tensor image;  // [B, C, p, p, p]
  torch::Tensor label;  // [B, p, p, p] int64
};

// One case drawn from `source`, options.crops_per_case crops of it, augmented on `device` (crops are
// read on the CPU; the affine resampling, flips and intensity shift run where the batch is sent, which
// on a GPU is faster than CPU workers for full-size patches). Every random draw is made on the host, so
// the batch of a seed is the same on any device up to the rounding of grid_sample.
Batch sample_batch(const CropSource& source, uint64_t seed, const std::array<int64_t, 3>& patch, const SamplerOptions& options,
                   const torch::Device& device = torch::kCPU);

}  // namespace repux
