// Writes the inputs of the prediction benchmarks (random weights: time and memory, not accuracy, are
// measured):
//   memory DIR: for bench/predict_memory.sh, a 512x512x600 CT-like volume (0.8 x 0.8 x 1.0 mm, int16)
//     and small RepUX-Nets with 4, 20 and 104 classes, one set planned at TotalSegmentator's 1.5 mm
//     and one at the CT's own spacing;
//   speed DIR: for bench/predict_speed.sh, a 256x256x160 CT-like volume and the full-size RepUX-Net
//     (14 classes, patch 96^3) planned at its spacing without cropping, so the network sees all of it;
//   ensemble DIR: for bench/predict_ensemble.sh, the same volume and five small RepUX-Nets (the demo's
//     size, 14 classes, different random weights: the folds of a cross-validation).
// Usage: bench_predict_inputs memory|speed|ensemble DIR
#include "repux/io/nifti.h"
#include "repux/model/model_file.h"

#include <fmt/format.h>

#include <filesystem>

namespace {

// A body-like ellipse of soft tissue with noise and air around it (so a foreground crop is realistic).
void write_ct(const std::array<int64_t, 3>& shape, const std::array<double, 3>& spacing, const std::string& path) {
  auto g = torch::meshgrid({torch::linspace(-1, 1, shape[0]), torch::linspace(-1, 1, shape[1]), torch::linspace(-1, 1, shape[2])}, "ij");
  auto body = (g[0].pow(2) / 0.8 + g[1].pow(2) / 0.6) < 1.0;
  repux::Volume ct;
  ct.data = torch::where(body, 40 + 30 * torch::randn({shape[0], shape[1], shape[2]}), torch::full({shape[0], shape[1], shape[2]}, -1000.0));
  ct.affine = torch::diag(torch::tensor({spacing[0], spacing[1], spacing[2], 1.0}, torch::kFloat64));
  ct.sample_type = repux::SampleType::Int16;
  repux::write_nifti(ct, path);
  fmt::print("{}\n", path);
}

void write_model(const repux::ModelInfo& info, const std::string& path) {
  auto net = repux::create_network(repux::resolved(info.plan).network);
  net->deploy();
  repux::save_model(net, info, path);
  fmt::print("{}\n", path);
}

// The demo's small RepUX-Net with `classes` outputs, patch 96^3, no preprocessing but CT intensities.
repux::ModelInfo small_model(int64_t classes) {
  repux::ModelInfo info;
  auto& n = info.plan.network;
  n.out_channels = classes;
  n.dims = {8, 16, 32, 64};
  n.depths = {1, 1, 1, 1};
  n.hidden_size = 64;
  info.plan.preprocessing = repux::preprocess_preset("none");
  info.plan.patch = {96, 96, 96};
  return info;
}

void write_memory_inputs(const std::string& out) {
  write_ct({512, 512, 600}, {0.8, 0.8, 1.0}, out + "/ct.nii.gz");
  for (const int64_t classes : {4, 20, 104}) {
    for (const bool resample : {true, false}) {
      repux::ModelInfo info = small_model(classes);
      if (resample) info.plan.preprocessing.spacing = std::array<double, 3>{1.5, 1.5, 1.5};
      write_model(info, fmt::format("{}/model_{}_{}.repux", out, classes, resample ? "1.5mm" : "native"));
    }
  }
}

void write_speed_inputs(const std::string& out) {
  write_ct({256, 256, 160}, {1.5, 1.5, 2.0}, out + "/ct.nii.gz");
  repux::ModelInfo info;  // the full-size network: NetworkConfig's defaults
  info.plan.network.out_channels = 14;
  info.plan.preprocessing = repux::preprocess_preset("none");
  info.plan.preprocessing.crop_foreground = false;
  info.plan.patch = {96, 96, 96};
  write_model(info, out + "/model.repux");
}

void write_ensemble_inputs(const std::string& out) {
  write_ct({256, 256, 160}, {1.5, 1.5, 2.0}, out + "/ct.nii.gz");
  for (int fold = 0; fold < 5; ++fold) {
    torch::manual_seed(static_cast<uint64_t>(fold));
    write_model(small_model(14), fmt::format("{}/fold{}.repux", out, fold));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "memory" && mode != "speed" && mode != "ensemble") {
    fmt::print(stderr, "usage: {} memory|speed|ensemble OUTDIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[2];
  std::filesystem::create_directories(out);
  torch::manual_seed(0);
  if (mode == "memory") {
    write_memory_inputs(out);
  } else if (mode == "speed") {
    write_speed_inputs(out);
  } else {
    write_ensemble_inputs(out);
  }
  return 0;
}
