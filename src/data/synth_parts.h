#pragma once
// Private to the synthetic generators (synth.cpp, synth_full_size.cpp, synth_context.cpp): the
// abdomen they draw, how a case is put together, and writing n generated cases as a dataset.
#include "repux/data/synth.h"

#include <torch/torch.h>

#include <array>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace repux {

// imagesTr/labelsTr NIfTI files plus dataset.json (the last ~20% listed under "validation"); case i
// is make_case(seed * 1000003 + i). Returns the dataset.json path.
std::string write_generated_dataset(const std::string& directory, int64_t count, uint64_t seed, const std::string& name,
                                    const std::vector<std::string>& class_names, const std::function<SynthCase(uint64_t)>& make_case);

// A range [lo, hi) a value is drawn from uniformly.
struct Range {
  double lo, hi;
};

// The abdomen of the organs task, in mm around the origin: an elliptic cylinder (semi-axes a, b) of
// soft tissue, with three ellipsoid organs (liver, spleen, kidney; labels 1, 2, 3) inside it.
struct Organ {
  double cx, cy, cz, rx, ry, rz, hu;
};
struct Abdomen {
  double body_a, body_b;
  std::array<Organ, 3> organs;
};
// The ranges each value is drawn from (a CT of ~110 mm across, or an adult abdomen at full size).
struct OrganRanges {
  Range cx, cy, cz, rx, ry, rz;
  double hu;
};
struct AbdomenRanges {
  Range body_a, body_b;
  std::array<OrganRanges, 3> organs;
};
// Draws in a fixed order (body, then each organ's centre and radii), so a seed gives one abdomen.
Abdomen random_abdomen(const AbdomenRanges& ranges, std::mt19937_64& rng);

// How the abdomen is painted: the body's texture periods (mm) and the organs' edge width (in units of
// the ellipsoid field; the body's is 0.04).
struct AbdomenLook {
  double texture_x, texture_y, organ_edge;
};
// The image (HU, before noise) and labels of the abdomen at world coordinates x, y, z (mm; tensors
// that broadcast to the grid, of the precision to compute in). Partial-volume edges: a voxel's
// membership is a sigmoid of the ellipse field; it is labelled where above one half.
std::pair<torch::Tensor, torch::Tensor> paint_abdomen(const Abdomen& abdomen, const torch::Tensor& x, const torch::Tensor& y,
                                                      const torch::Tensor& z, const AbdomenLook& look);

// The case of `image` and `label` on a grid of `spacing` centred on the origin and moved by `shift`
// mm: stored flipped along random axes when `flip` (the affine adjusted so every voxel keeps its
// world position), an int16 image and uint8 labels sharing one affine.
SynthCase assemble_case(const torch::Tensor& image, const torch::Tensor& label, const std::array<double, 3>& spacing,
                        const std::array<double, 3>& shift, const std::pair<std::string, std::string>& descriptions, bool flip,
                        std::mt19937_64& rng);

}  // namespace repux
