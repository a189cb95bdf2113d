#include "repux/data/synth.h"

#include "synth_dataset_writer.h"

#include "repux/error.h"
#include "repux/io/atomic_file.h"
#include "repux/io/volume_file.h"

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

namespace repux {

std::vector<std::string> synth_class_names() { return {"background", "liver", "spleen", "kidney"}; }

void store_flipped_at_random(SynthCase& c, std::mt19937_64& rng) {
  // Store the data flipped along random axes (e.g. LPS like most CT), with the affine adjusted so
  // that every voxel keeps its world position.
  std::vector<int64_t> flips;
  auto flip_affine = torch::eye(4, torch::kFloat64);
  for (int i = 0; i < 3; ++i) {
    if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.5) {
      flips.push_back(i);
      flip_affine[i][i] = -1.0;
      flip_affine[i][3] = static_cast<double>(c.image.data.size(i) - 1);
    }
  }
  if (flips.empty()) return;
  c.image.data = c.image.data.flip(flips).contiguous();
  c.label.data = c.label.data.flip(flips).contiguous();
  c.image.affine = torch::matmul(c.image.affine, flip_affine);
}

void finish_synthetic_case(SynthCase& c) {
  c.label.affine = c.image.affine;
  c.image.sample_type = SampleType::Int16;
  c.label.sample_type = SampleType::UInt8;
}

SynthCase make_synthetic_case(uint64_t seed, const SynthOptions& o) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  torch::Generator gen = at::detail::createCPUGenerator(seed);

  // A physical field of view ~ 110 mm wide; anisotropic spacing decides the voxel grid.
  const std::array<double, 3> spacing{uniform(1.2, 1.8), uniform(1.2, 1.8), uniform(1.6, 2.6)};
  std::array<int64_t, 3> shape{};
  for (int i = 0; i < 3; ++i) {
    shape[i] = std::clamp<int64_t>(std::llround(uniform(100.0, 130.0) / spacing[i]), o.min_size / 2, o.max_size);
  }
  // World coordinates (mm) of every voxel centre in an LPS- or RAS-like frame around the origin.
  auto idx = [&](int a) { return (torch::arange(shape[a], torch::kFloat64) - (shape[a] - 1) / 2.0) * spacing[a]; };
  auto g = torch::meshgrid({idx(0), idx(1), idx(2)}, "ij");
  auto x = g[0], y = g[1], z = g[2];

  // Body: an elliptic cylinder; organs: ellipsoids with random centres and radii inside it.
  const double body_a = uniform(45, 52), body_b = uniform(36, 44);
  auto body = 1.0 - (x / body_a).pow(2) - (y / body_b).pow(2);
  struct Organ { double cx, cy, cz, rx, ry, rz, hu; };
  const Organ organs[3] = {
      {uniform(-18, -10), uniform(-6, 6), uniform(-6, 6), uniform(22, 28), uniform(18, 24), uniform(22, 30), 60},  // liver
      {uniform(16, 24), uniform(-14, -4), uniform(-8, 8), uniform(12, 16), uniform(10, 14), uniform(14, 18), 45},   // spleen
      {uniform(10, 20), uniform(12, 20), uniform(-10, 4), uniform(8, 11), uniform(8, 11), uniform(12, 16), 150},   // kidney
  };
  auto image = torch::full(x.sizes(), -1000.0, torch::kFloat64);
  // Partial-volume edges: a soft membership (sigmoid of a distance-like field over ~1 voxel).
  auto soft = [&](const torch::Tensor& field, double width) { return torch::sigmoid(field / width); };
  auto body_m = soft(body, 0.04);
  image = image * (1 - body_m) + (-80.0 + 40.0 * torch::sin(x / 9.0) * torch::cos(y / 11.0)) * body_m;
  auto label = torch::zeros(x.sizes(), torch::kUInt8);
  for (int k = 0; k < 3; ++k) {
    const auto& og = organs[k];
    auto field = 1.0 - ((x - og.cx) / og.rx).pow(2) - ((y - og.cy) / og.ry).pow(2) - ((z - og.cz) / og.rz).pow(2);
    auto m = soft(field, 0.08) * body_m;
    image = image * (1 - m) + og.hu * m;
    label.masked_fill_(m > 0.5, static_cast<int64_t>(k + 1));
  }
  image = image + torch::randn(x.sizes(), gen, torch::kFloat64) * o.noise_hu;

  // Geometry: RAS with the spacing, then optionally flipped/permuted into another orientation.
  auto affine = torch::eye(4, torch::kFloat64);
  for (int i = 0; i < 3; ++i) {
    affine[i][i] = spacing[i];
    affine[i][3] = -(shape[i] - 1) / 2.0 * spacing[i] + uniform(-20, 20);
  }
  SynthCase c;
  c.image.data = image.to(torch::kFloat32).round();
  c.label.data = label.to(torch::kFloat32);
  c.image.affine = affine;
  c.image.description = "repux synthetic CT";
  c.label.description = "repux synthetic labels";
  if (o.random_orientation) store_flipped_at_random(c, rng);
  finish_synthetic_case(c);
  return c;
}

std::string write_generated_dataset(const std::string& directory, int64_t count, uint64_t seed, const std::string& name,
                                    const std::vector<std::string>& class_names, const std::function<SynthCase(uint64_t)>& make_case) {
  if (count < 1) fail("number of synthetic cases must be positive, got {}", count);
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(directory) / "imagesTr");
  fs::create_directories(fs::path(directory) / "labelsTr");
  nlohmann::json training = nlohmann::json::array(), validation = nlohmann::json::array();
  const int64_t n_val = count >= 5 ? std::max<int64_t>(1, count / 5) : 0;
  for (int64_t i = 0; i < count; ++i) {
    const auto c = make_case(seed * 1000003ULL + static_cast<uint64_t>(i));
    const std::string file = fmt::format("synth_{:04d}.nii.gz", i);
    write_volume(c.image, (fs::path(directory) / "imagesTr" / file).string());
    write_volume(c.label, (fs::path(directory) / "labelsTr" / file).string());
    nlohmann::json entry = {{"image", "./imagesTr/" + file}, {"label", "./labelsTr/" + file}};
    (i < count - n_val ? training : validation).push_back(entry);
  }
  nlohmann::json labels = nlohmann::json::object();
  for (size_t i = 0; i < class_names.size(); ++i) labels[std::to_string(i)] = class_names[i];
  nlohmann::json ds = {{"name", name},       {"modality", {{"0", "CT"}}},
                       {"labels", labels},   {"numTraining", count},
                       {"training", training}, {"validation", validation},
                       {"test", nlohmann::json::array()}};
  const std::string path = (fs::path(directory) / "dataset.json").string();
  write_file_atomically(path, ds.dump(1) + "\n");
  return path;
}

std::string write_synthetic_dataset(const std::string& directory, int64_t count, uint64_t seed, const SynthOptions& options) {
  return write_generated_dataset(directory, count, seed, "repux-synthetic-ct", synth_class_names(),
                                 [&](uint64_t case_seed) { return make_synthetic_case(case_seed, options); });
}

}  // namespace repux
