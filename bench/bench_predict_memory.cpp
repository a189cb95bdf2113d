// Writes the inputs of bench/predict_memory.sh: a 512x512x600 CT-like volume (0.8 x 0.8 x 1.0 mm,
// int16) and random-weight models with 4, 20 and 104 classes (a small RepUX-Net: memory, not accuracy,
// is measured), one set planned at TotalSegmentator's 1.5 mm and one at the CT's own spacing.
// Usage: bench_predict_memory OUTDIR
#include "repux/io/nifti.h"
#include "repux/model/model_file.h"

#include <fmt/format.h>

#include <filesystem>

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: {} OUTDIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  std::filesystem::create_directories(out);
  torch::manual_seed(0);
  repux::Volume ct;
  // A body-like ellipse of soft tissue with noise, air around it (so the foreground crop is realistic).
  auto g = torch::meshgrid({torch::linspace(-1, 1, 512), torch::linspace(-1, 1, 512), torch::linspace(-1, 1, 600)}, "ij");
  auto body = (g[0].pow(2) / 0.8 + g[1].pow(2) / 0.6) < 1.0;
  ct.data = torch::where(body, 40 + 30 * torch::randn({512, 512, 600}), torch::full({512, 512, 600}, -1000.0));
  ct.affine = torch::diag(torch::tensor({0.8, 0.8, 1.0, 1.0}, torch::kFloat64));
  ct.sample_type = repux::SampleType::Int16;
  repux::write_nifti(ct, out + "/ct.nii.gz");
  for (const int64_t classes : {4, 20, 104}) {
    for (const bool resample : {true, false}) {
      repux::ModelInfo info;
      auto& n = info.plan.network;
      n.out_channels = classes;
      n.dims = {8, 16, 32, 64};
      n.depths = {1, 1, 1, 1};
      n.hidden_size = 64;
      info.plan.preprocessing = repux::preprocess_preset("none");
      if (resample) info.plan.preprocessing.spacing = std::array<double, 3>{1.5, 1.5, 1.5};
      info.plan.patch = {96, 96, 96};
      auto net = repux::create_network(repux::resolved(info.plan).network);
      net->deploy();
      const std::string path = fmt::format("{}/model_{}_{}.repux", out, classes, resample ? "1.5mm" : "native");
      repux::save_model(net, info, path);
      fmt::print("{}\n", path);
    }
  }
  return 0;
}
