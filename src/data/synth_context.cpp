#include "repux/data/synth_context.h"

#include "synth_parts.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <random>

namespace repux {

std::vector<std::string> context_class_names() { return {"background", "organ_right", "organ_left", "landmark"}; }

SynthCase make_context_case(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  torch::Generator gen = at::detail::createCPUGenerator(seed);

  const std::array<double, 3> spacing{uniform(1.5, 2.0), uniform(1.5, 2.0), uniform(1.8, 2.5)};
  const std::array<double, 3> field_mm{240, 180, 100};
  std::array<int64_t, 3> shape{};
  for (int i = 0; i < 3; ++i) shape[i] = std::llround(field_mm[i] / spacing[i]);
  auto idx = [&](int a) { return (torch::arange(shape[a], torch::kFloat64) - (shape[a] - 1) / 2.0) * spacing[a]; };
  auto g = torch::meshgrid({idx(0), idx(1), idx(2)}, "ij");
  const torch::Tensor x = g[0], y = g[1], z = g[2];
  auto soft = [](const torch::Tensor& field, double width) { return torch::sigmoid(field / width); };

  // Body (an elliptic cylinder with a gentle texture), the landmark (a bone-bright rod along z at the
  // back, its x drawn per case), and the two organs on either side of it: same intensity, texture and
  // size distribution; only the side of the landmark differs.
  const double body_a = uniform(105, 112), body_b = uniform(75, 82);
  const torch::Tensor body = soft(1.0 - (x / body_a).pow(2) - (y / body_b).pow(2), 0.04);
  torch::Tensor image = -1000.0 * (1 - body) + (-80.0 + 40.0 * torch::sin(x / 9.0) * torch::cos(y / 11.0)) * body;
  torch::Tensor label = torch::zeros(x.sizes(), torch::kUInt8);
  const double landmark_x = uniform(-25, 25), landmark_y = uniform(-55, -45), landmark_r = uniform(8, 10);
  for (const int side : {-1, 1}) {
    const double cx = landmark_x + side * uniform(45, 60), cy = uniform(-10, 25), cz = uniform(-15, 15);
    const double rx = uniform(14, 18), ry = uniform(14, 18), rz = uniform(14, 18), hu = 55 + uniform(-3, 3);
    const torch::Tensor m = soft(1.0 - ((x - cx) / rx).pow(2) - ((y - cy) / ry).pow(2) - ((z - cz) / rz).pow(2), 0.08) * body;
    image = image * (1 - m) + hu * m;
    label.masked_fill_(m > 0.5, side < 0 ? 1 : 2);
  }
  const torch::Tensor rod = soft(1.0 - ((x - landmark_x).pow(2) + (y - landmark_y).pow(2)) / (landmark_r * landmark_r), 0.08) * body;
  image = image * (1 - rod) + 700.0 * rod;
  label.masked_fill_(rod > 0.5, 3);
  image = image + torch::randn(x.sizes(), gen, torch::kFloat64) * 20.0;

  const std::array<double, 3> shift{uniform(-20, 20), uniform(-20, 20), uniform(-20, 20)};
  return assemble_case(image.to(torch::kFloat32).round(), label.to(torch::kFloat32), spacing, shift,
                       {"repux synthetic CT, context task", "repux synthetic labels, context task"}, true, rng);
}

std::string write_context_dataset(const std::string& directory, int64_t count, uint64_t seed) {
  return write_generated_dataset(directory, count, seed, "repux-synthetic-context", context_class_names(), make_context_case);
}

}  // namespace repux
