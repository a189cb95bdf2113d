#pragma once
// Per-structure statistics of a label map over its image (`repux stats`, `repux predict --statistics`):
// per class the voxel count, the volume, the image's values inside it (mean, median, standard
// deviation, 5th and 95th percentile; Hounsfield units for a CT), the bounding box and the centroid.
//
// Conventions, so that other tools' numbers can be compared:
// - volume: voxels x the voxel volume (the product of the spacings, the affine's column norms), in
//   mm^3 under "volume" (TotalSegmentator's key and unit; it multiplies the NIfTI header's float32
//   pixdim, the same to about 1e-7) and in mL under "volume_ml";
// - "intensity": the mean (TotalSegmentator's key; it rounds to 2 decimals, repux does not);
// - percentiles as numpy's default (linear between the two nearest ranks), the standard deviation of
//   the population (numpy's ddof=0);
// - positions in mm, both in RAS (NIfTI's world: x increasing toward the patient's right, y anterior,
//   z superior) and LPS (DICOM's patient coordinates: x and y negated), named so in every key. The
//   centroid is the mean of the voxel centres; the bounding box is given as voxel indices (first and
//   last, inclusive) and as the extremes of the voxel centres along each world axis;
// - a class without voxels has voxels 0, volume 0 and null for everything else (JSON), empty (CSV).
#include "repux/io/volume.h"

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

namespace repux {

struct StructureStatistics {
  std::string name;
  int64_t label = 0;
  int64_t voxels = 0;
  double volume_mm3 = 0;
  double mean = 0, median = 0, std = 0, p5 = 0, p95 = 0;  // NaN without voxels
  std::array<int64_t, 3> bbox_first{}, bbox_last{};       // voxel indices, inclusive
  std::array<double, 3> bbox_min_ras{}, bbox_max_ras{};   // the voxel centres' extremes along each world axis
  std::array<double, 3> centroid_ras{};
};

// Classes 1..K-1 of `labels` (K: its label names, or the largest label + 1), in label order, over
// the first channel of `image`; both on one grid (else an error naming the two).
std::vector<StructureStatistics> structure_statistics(const Volume& image, const Volume& labels);

// {"liver": {"voxels": ..., "volume": ..., "volume_ml": ..., "intensity": ..., ...}, ...} in label order.
nlohmann::ordered_json statistics_json(const std::vector<StructureStatistics>& statistics);
// One row per class, a header first.
std::string statistics_csv(const std::vector<StructureStatistics>& statistics);
// Writes JSON (.json) or CSV (.csv) by the extension, atomically; another extension is an error.
void write_statistics(const std::vector<StructureStatistics>& statistics, const std::string& path);

}  // namespace repux
