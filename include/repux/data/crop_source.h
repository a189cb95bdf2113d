#pragma once
// Where the sampler's crops come from: preprocessed cases held in memory, or a case store on disk
// (repux/data/case_store.h) whose arrays are memory-mapped so that a crop reads only its own pages.
// Both give the same crops for the same case and start, and both carry the same foreground sample,
// so a batch drawn from a seed is the same whichever source it came from.
#include "repux/data/preprocess.h"

#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace repux {

// A sample of each class's voxel positions, so that a foreground-centred crop never scans a label
// volume: every position of a class with at most `per_class` voxels, else `per_class` positions
// evenly spaced through the class's voxels in raster order (deterministic: preprocessing the same
// case twice gives the same sample).
struct ForegroundSample {
  torch::Tensor positions;             // int32 [N, 3] (D, H, W), grouped by class 1, 2, ...
  std::vector<int64_t> class_voxels;   // per class 0..K-1: all voxels of the class (class 0 counted as 0)
  std::vector<int64_t> sample_counts;  // per class 0..K-1: rows of `positions` (class 0: 0)
};

ForegroundSample sample_foreground(const torch::Tensor& label, int64_t classes, int64_t per_class = 2000);

struct Crop {
  torch::Tensor image;  // [C, p0, p1, p2] float32, zero outside the case
  torch::Tensor label;  // [p0, p1, p2] int64, zero outside the case
};

class CropSource {
 public:
  virtual ~CropSource() = default;
  virtual size_t size() const = 0;
  virtual std::array<int64_t, 3> shape(size_t index) const = 0;
  virtual const ForegroundSample& foreground(size_t index) const = 0;
  // The box at `start` (may reach outside the case) of `size` voxels.
  virtual Crop crop(size_t index, const std::array<int64_t, 3>& start, const std::array<int64_t, 3>& size) const = 0;
};

// Cases in memory (each must have a label with values below `classes`).
std::shared_ptr<const CropSource> memory_crop_source(std::vector<PreparedCase> cases, int64_t classes);

}  // namespace repux
