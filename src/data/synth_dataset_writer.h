#pragma once
// Private to the synthetic generators: writing n generated cases as an MSD-style dataset.
#include "repux/data/synth.h"

#include <functional>
#include <random>
#include <string>
#include <vector>

namespace repux {

// imagesTr/labelsTr NIfTI files plus dataset.json (the last ~20% listed under "validation"); case i
// is make_case(seed * 1000003 + i). Returns the dataset.json path.
std::string write_generated_dataset(const std::string& directory, int64_t count, uint64_t seed, const std::string& name,
                                    const std::vector<std::string>& class_names, const std::function<SynthCase(uint64_t)>& make_case);

// Stores the case flipped along random axes, the affine adjusted so every voxel keeps its world position.
void store_flipped_at_random(SynthCase& c, std::mt19937_64& rng);
// The label's affine from the image's; int16 image, uint8 labels.
void finish_synthetic_case(SynthCase& c);

}  // namespace repux
