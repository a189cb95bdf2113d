// Clinical-size synthetic CT (for the benchmarks of datasets at scale): the organs of
// make_synthetic_case scaled to an adult abdomen, on a 512 x 512 x 150-300 grid at 0.6-0.9 mm in-plane
// and 1.5-3 mm slices, built a slab of slices at a time in float32 so that a case needs little more
// memory than its int16 image.
#include "repux/data/synth.h"

#include "synth_parts.h"

#include <ATen/CPUGeneratorImpl.h>

#include <random>

namespace repux {
namespace {

// The organs of make_synthetic_case at an adult abdomen's size.
const AbdomenRanges kAdultAbdomen{{150, 170}, {110, 130},
                                  {{{{-70, -50}, {-20, 20}, {-20, 20}, {80, 95}, {65, 80}, {70, 90}, 60},     // liver
                                    {{55, 75}, {-45, -20}, {-25, 25}, {40, 50}, {35, 45}, {45, 55}, 45},      // spleen
                                    {{35, 60}, {35, 60}, {-30, 10}, {25, 32}, {25, 32}, {40, 50}, 150}}}};   // kidney

}  // namespace

SynthCase make_full_size_case(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  const double in_plane = uniform(0.6, 0.9), slice = uniform(1.5, 3.0);
  const std::array<int64_t, 3> shape{512, 512, static_cast<int64_t>(uniform(150, 300))};
  const std::array<double, 3> spacing{in_plane, in_plane, slice};

  const Abdomen abdomen = random_abdomen(kAdultAbdomen, rng);
  auto axis = [&](int a) { return (torch::arange(shape[a], torch::kFloat32) - (shape[a] - 1) / 2.0) * spacing[a]; };
  const auto xs = axis(0).view({-1, 1, 1}), ys = axis(1).view({1, -1, 1}), zs = axis(2);

  auto image = torch::empty({shape[0], shape[1], shape[2]}, torch::kInt16);
  auto label = torch::empty({shape[0], shape[1], shape[2]}, torch::kUInt8);
  constexpr int64_t slab = 16;
  for (int64_t z0 = 0; z0 < shape[2]; z0 += slab) {
    const int64_t n = std::min(slab, shape[2] - z0);
    auto [img, lab] = paint_abdomen(abdomen, xs, ys, zs.narrow(0, z0, n).view({1, 1, -1}), {27.0, 33.0, 0.03});
    img = img + torch::randn(img.sizes(), gen, torch::kFloat32) * 20.0;
    image.narrow(2, z0, n).copy_(img.round().clamp(-1024, 3071));
    label.narrow(2, z0, n).copy_(lab);
  }
  return assemble_case(image, label, spacing, {0, 0, 0}, {"repux synthetic CT (full size)", "repux synthetic labels"}, true, rng);
}

std::string write_full_size_dataset(const std::string& directory, int64_t count, uint64_t seed) {
  return write_generated_dataset(directory, count, seed, "repux-synthetic-ct-full-size", synth_class_names(), make_full_size_case);
}

}  // namespace repux
