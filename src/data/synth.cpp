#include "repux/data/synth.h"

#include "repux/data/dataset.h"
#include "repux/io/json_file.h"

#include "synth_parts.h"

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
std::vector<std::string> small_organ_class_names() { return {"background", "liver", "spleen", "kidney", "pancreas"}; }

namespace {

// Stores the case flipped along random axes, the affine adjusted so every voxel keeps its world position.
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

double draw(const Range& r, std::mt19937_64& rng) { return std::uniform_real_distribution<double>(r.lo, r.hi)(rng); }

// The organs task at the size of the tests and the demo: a field of view ~110 mm wide.
const AbdomenRanges kSmallAbdomen{{45, 52}, {36, 44},
                                  {{{{-18, -10}, {-6, 6}, {-6, 6}, {22, 28}, {18, 24}, {22, 30}, 60},     // liver
                                    {{16, 24}, {-14, -4}, {-8, 8}, {12, 16}, {10, 14}, {14, 18}, 45},     // spleen
                                    {{10, 20}, {12, 20}, {-10, 4}, {8, 11}, {8, 11}, {12, 16}, 150}}}};  // kidney

// The small organ of SynthOptions::small_organ: about 1.5% of the foreground's volume, behind the
// spleen's medial edge, as bright as the spleen (45 HU): told apart from it by position and size,
// as the pancreas is in a CT.
const OrganRanges kSmallOrgan{{2, 8}, {-24, -18}, {-6, 6}, {5, 7}, {4, 5.5}, {6, 9}, 45};

Organ random_organ(const OrganRanges& o, std::mt19937_64& rng) {
  Organ organ{};
  organ.cx = draw(o.cx, rng);
  organ.cy = draw(o.cy, rng);
  organ.cz = draw(o.cz, rng);
  organ.rx = draw(o.rx, rng);
  organ.ry = draw(o.ry, rng);
  organ.rz = draw(o.rz, rng);
  organ.hu = o.hu;
  return organ;
}

// Paints one organ (label `value`) over image and label where it lies inside the body.
void paint_organ(const Organ& o, uint8_t value, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& z, const torch::Tensor& body,
                 double edge, torch::Tensor& image, torch::Tensor& label) {
  const auto field = 1.0 - ((x - o.cx) / o.rx).pow(2) - ((y - o.cy) / o.ry).pow(2) - ((z - o.cz) / o.rz).pow(2);
  const auto m = torch::sigmoid(field / edge) * body;
  image = image * (1 - m) + o.hu * m;
  label.masked_fill_(m > 0.5, value);
}

torch::Tensor body_mask(const Abdomen& a, const torch::Tensor& x, const torch::Tensor& y) {
  return torch::sigmoid((1.0 - (x / a.body_a).pow(2) - (y / a.body_b).pow(2)) / 0.04);
}

}  // namespace

Abdomen random_abdomen(const AbdomenRanges& r, std::mt19937_64& rng) {
  Abdomen a{};
  a.body_a = draw(r.body_a, rng);
  a.body_b = draw(r.body_b, rng);
  for (size_t k = 0; k < 3; ++k) a.organs[k] = random_organ(r.organs[k], rng);
  return a;
}

std::pair<torch::Tensor, torch::Tensor> paint_abdomen(const Abdomen& a, const torch::Tensor& x, const torch::Tensor& y,
                                                      const torch::Tensor& z, const AbdomenLook& look) {
  const std::vector<int64_t> grid = torch::broadcast_tensors({x, y, z})[0].sizes().vec();
  const auto body = body_mask(a, x, y).expand(grid);
  auto image = -1000.0 * (1 - body) + (-80.0 + 40.0 * torch::sin(x / look.texture_x) * torch::cos(y / look.texture_y)) * body;
  auto label = torch::zeros(grid, torch::kUInt8);
  for (size_t k = 0; k < 3; ++k) paint_organ(a.organs[k], static_cast<uint8_t>(k + 1), x, y, z, body, look.organ_edge, image, label);
  return {image, label};
}

SynthCase assemble_case(const torch::Tensor& image, const torch::Tensor& label, const std::array<double, 3>& spacing,
                        const std::array<double, 3>& shift, const std::pair<std::string, std::string>& descriptions, bool flip,
                        std::mt19937_64& rng) {
  SynthCase c;
  c.image.data = image;
  c.label.data = label;
  c.image.affine = torch::eye(4, torch::kFloat64);
  for (int i = 0; i < 3; ++i) {
    c.image.affine[i][i] = spacing[i];
    c.image.affine[i][3] = -(image.size(i) - 1) / 2.0 * spacing[i] + shift[i];
  }
  c.image.description = descriptions.first;
  c.label.description = descriptions.second;
  if (flip) store_flipped_at_random(c, rng);
  c.label.affine = c.image.affine;
  c.image.sample_type = SampleType::Int16;
  c.label.sample_type = SampleType::UInt8;
  return c;
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
  const Abdomen abdomen = random_abdomen(kSmallAbdomen, rng);
  const AbdomenLook look{9.0, 11.0, 0.08};
  auto [image, label] = paint_abdomen(abdomen, g[0], g[1], g[2], look);
  // Geometry: RAS with the spacing, then optionally flipped/permuted into another orientation.
  const std::array<double, 3> shift{uniform(-20, 20), uniform(-20, 20), uniform(-20, 20)};
  if (o.small_organ) {  // drawn after everything else: the other organs are those of the same seed without it
    paint_organ(random_organ(kSmallOrgan, rng), 4, g[0], g[1], g[2], body_mask(abdomen, g[0], g[1]), look.organ_edge, image, label);
  }
  image = image + torch::randn(g[0].sizes(), gen, torch::kFloat64) * o.noise_hu;
  return assemble_case(image.to(torch::kFloat32).round(), label.to(torch::kFloat32), spacing, shift,
                       {"repux synthetic CT", "repux synthetic labels"}, o.random_orientation, rng);
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
    // nnU-Net's naming: imagesTr/CASE_0000.nii.gz (channel 0), labelsTr/CASE.nii.gz.
    const std::string id = fmt::format("synth_{:03d}", i), image = id + "_0000.nii.gz", label = id + ".nii.gz";
    write_volume(c.image, (fs::path(directory) / "imagesTr" / image).string());
    write_volume(c.label, (fs::path(directory) / "labelsTr" / label).string());
    nlohmann::json entry = {{"image", "./imagesTr/" + image}, {"label", "./labelsTr/" + label}};
    (i < count - n_val ? training : validation).push_back(entry);
  }
  nlohmann::json labels = nlohmann::json::object();
  for (size_t i = 0; i < class_names.size(); ++i) labels[std::to_string(i)] = class_names[i];
  nlohmann::json ds = {{"name", name},       {"modality", {{"0", "CT"}}}, {"channel_names", {{"0", "CT"}}}, {"file_ending", ".nii.gz"},
                       {"labels", labels},   {"numTraining", count},
                       {"training", training}, {"validation", validation},
                       {"test", nlohmann::json::array()}};
  const std::string path = (fs::path(directory) / "dataset.json").string();
  write_file_atomically(path, ds.dump(1) + "\n");
  return path;
}

std::string write_synthetic_dataset(const std::string& directory, int64_t count, uint64_t seed, const SynthOptions& options) {
  return write_generated_dataset(directory, count, seed, options.small_organ ? "repux-synthetic-ct-small-organ" : "repux-synthetic-ct",
                                 options.small_organ ? small_organ_class_names() : synth_class_names(),
                                 [&](uint64_t case_seed) { return make_synthetic_case(case_seed, options); });
}

std::string make_nnunet_v2(const std::string& directory) {
  namespace fs = std::filesystem;
  const fs::path dir(directory), json = dir / "dataset.json";
  const Dataset d = load_dataset(json.string());
  fs::create_directories(dir / "imagesTs");
  fs::create_directories(dir / "labelsTs");
  for (const auto& c : d.validation) {
    fs::rename(c.image, dir / "imagesTs" / fs::path(c.image).filename());
    fs::rename(c.label, dir / "labelsTs" / fs::path(c.label).filename());
  }
  nlohmann::json labels = nlohmann::json::object(), channels = nlohmann::json::object();
  for (size_t k = 0; k < d.class_names.size(); ++k) labels[d.class_names[k]] = k;
  for (size_t k = 0; k < d.channel_names.size(); ++k) channels[std::to_string(k)] = d.channel_names[k];
  const nlohmann::json v2 = {{"name", read_json_file(json.string()).value("name", "")}, {"channel_names", channels}, {"labels", labels},
                             {"numTraining", d.training.size()}, {"file_ending", ".nii.gz"}};
  write_file_atomically(json.string(), v2.dump(1) + "\n");
  return json.string();
}

}  // namespace repux
