// Clinical-size synthetic CT (for the benchmarks of datasets at scale): the organs of
// make_synthetic_case scaled to an adult abdomen, on a 512 x 512 x 150-300 grid at 0.6-0.9 mm in-plane
// and 1.5-3 mm slices, built a slab of slices at a time in float32 so that a case needs little more
// memory than its int16 image.
#include "repux/data/synth.h"

#include "synth_dataset_writer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <random>

namespace repux {

SynthCase make_full_size_case(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  const double in_plane = uniform(0.6, 0.9), slice = uniform(1.5, 3.0);
  const std::array<int64_t, 3> shape{512, 512, static_cast<int64_t>(uniform(150, 300))};
  const std::array<double, 3> spacing{in_plane, in_plane, slice};

  const double body_a = uniform(150, 170), body_b = uniform(110, 130);
  struct Organ { double cx, cy, cz, rx, ry, rz, hu; };
  const Organ organs[3] = {
      {uniform(-70, -50), uniform(-20, 20), uniform(-20, 20), uniform(80, 95), uniform(65, 80), uniform(70, 90), 60},  // liver
      {uniform(55, 75), uniform(-45, -20), uniform(-25, 25), uniform(40, 50), uniform(35, 45), uniform(45, 55), 45},   // spleen
      {uniform(35, 60), uniform(35, 60), uniform(-30, 10), uniform(25, 32), uniform(25, 32), uniform(40, 50), 150},    // kidney
  };
  auto axis = [&](int a) { return (torch::arange(shape[a], torch::kFloat32) - (shape[a] - 1) / 2.0) * spacing[a]; };
  const auto xs = axis(0).view({-1, 1, 1}), ys = axis(1).view({1, -1, 1}), zs = axis(2);

  auto image = torch::empty({shape[0], shape[1], shape[2]}, torch::kInt16);
  auto label = torch::empty({shape[0], shape[1], shape[2]}, torch::kUInt8);
  constexpr int64_t slab = 16;
  for (int64_t z0 = 0; z0 < shape[2]; z0 += slab) {
    const int64_t n = std::min(slab, shape[2] - z0);
    const auto z = zs.narrow(0, z0, n).view({1, 1, -1});
    const auto body_m = torch::sigmoid((1.0 - (xs / body_a).pow(2) - (ys / body_b).pow(2)) / 0.04).expand({shape[0], shape[1], n});
    auto img = -1000.0 * (1 - body_m) + (-80.0 + 40.0 * torch::sin(xs / 27.0) * torch::cos(ys / 33.0)) * body_m;
    auto lab = torch::zeros({shape[0], shape[1], n}, torch::kUInt8);
    for (int k = 0; k < 3; ++k) {
      const auto& o = organs[k];
      const auto field = 1.0 - ((xs - o.cx) / o.rx).pow(2) - ((ys - o.cy) / o.ry).pow(2) - ((z - o.cz) / o.rz).pow(2);
      const auto m = torch::sigmoid(field / 0.03) * body_m;
      img = img * (1 - m) + o.hu * m;
      lab.masked_fill_(m > 0.5, k + 1);
    }
    img = img + torch::randn(img.sizes(), gen, torch::kFloat32) * 20.0;
    image.narrow(2, z0, n).copy_(img.round().clamp(-1024, 3071));
    label.narrow(2, z0, n).copy_(lab);
  }
  auto affine = torch::eye(4, torch::kFloat64);
  for (int i = 0; i < 3; ++i) {
    affine[i][i] = spacing[i];
    affine[i][3] = -(shape[i] - 1) / 2.0 * spacing[i];
  }
  SynthCase c;
  c.image.data = image;
  c.label.data = label;
  c.image.affine = affine;
  c.image.description = "repux synthetic CT (full size)";
  c.label.description = "repux synthetic labels";
  store_flipped_at_random(c, rng);
  finish_synthetic_case(c);
  return c;
}

std::string write_full_size_dataset(const std::string& directory, int64_t count, uint64_t seed) {
  return write_generated_dataset(directory, count, seed, "repux-synthetic-ct-full-size", synth_class_names(), make_full_size_case);
}

}  // namespace repux
