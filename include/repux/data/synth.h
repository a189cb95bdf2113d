#pragma once
// Synthetic CT-like cases: smooth organ-like shapes inside a body, CT intensities (HU), noise and
// partial-volume edges, with random sizes, positions, voxel spacings and orientations, so that the
// whole pipeline, geometry included, is exercised without downloading anything.
#include "repux/io/volume.h"

#include <cstdint>
#include <string>
#include <vector>

namespace repux {

struct SynthOptions {
  int64_t min_size = 56, max_size = 80;  // voxels per axis, before the random spacing
  bool random_orientation = true;
  double noise_hu = 20.0;
  // A fourth, small organ ("pancreas", about 1.5% of the foreground) as bright as the spleen beside
  // it: a structure that a sampler drawing crops in proportion to voxels rarely targets.
  bool small_organ = false;
};

// The classes: background, then three organ-like shapes.
std::vector<std::string> synth_class_names();
// With SynthOptions::small_organ: those and "pancreas".
std::vector<std::string> small_organ_class_names();

struct SynthCase {
  Volume image;  // int16 HU
  Volume label;  // uint8, same geometry
};

SynthCase make_synthetic_case(uint64_t seed, const SynthOptions& options = {});

// The same organs at clinical size: 512 x 512 x 150-300 voxels, 0.6-0.9 mm in-plane, 1.5-3 mm
// slices, int16 HU (about 80-160 MB per image), for the benchmarks of datasets at scale.
SynthCase make_full_size_case(uint64_t seed);
std::string write_full_size_dataset(const std::string& directory, int64_t count, uint64_t seed);

// Writes n cases as imagesTr/labelsTr NIfTI files plus an MSD-style dataset.json (with the last
// ~20% listed under "validation"). Returns the dataset.json path.
std::string write_synthetic_dataset(const std::string& directory, int64_t count, uint64_t seed, const SynthOptions& options = {});

// Turns such a dataset into nnU-Net v2's form: the held-out cases' images moved to imagesTs/ (their
// labels to labelsTs/, for scoring), and a v2 dataset.json without case lists (channel_names, labels
// by name, numTraining, file_ending). Returns the dataset.json path.
std::string make_nnunet_v2(const std::string& directory);

}  // namespace repux
