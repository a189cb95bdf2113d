#pragma once
// Training batches: random patches centred on a foreground or background voxel at a
// given ratio (images smaller than the patch are padded), random intensity shift, random affine
// (rotation about the third axis, per-axis scaling) applied to image and label together with
// grid_sample (so it runs on the GPU too), optional flips. Everything is drawn from a seed, so the
// batch of an iteration is the same however and whenever it is produced.
#include "repux/data/crop_source.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace repux {

// Augmentation and crop settings; the patch size comes from the model's Plan.
struct SamplerOptions {
  int64_t crops_per_case = 2;
  double foreground_ratio = 0.5;  // probability that a crop is centred on a foreground voxel
  double intensity_shift = 0.1;
  double intensity_probability = 0.5;
  double rotation = 3.14159265358979323846 / 30.0;  // radians, about the third axis
  double scaling = 0.1;
  double affine_probability = 1.0;
  // Voxel axes of the RAS-reoriented data (0: left-right, 1: posterior-anterior, 2: inferior-superior)
  // each flipped with probability 1/2. Empty: no flips. {0} suits anatomy whose classes are not
  // mirror-symmetric in the other directions (brain lobes); {0, 1, 2} is nnU-Net's mirroring.
  std::vector<int64_t> flip_axes;
};

nlohmann::json to_json(const SamplerOptions& o);

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
