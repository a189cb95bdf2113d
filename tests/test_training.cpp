// Sampling, augmentation and the trainer's exact resume.
#include "repux/data/dataset.h"
#include "repux/data/sampler.h"
#include "repux/data/synth.h"
#include "repux/train/plot.h"
#include "repux/train/trainer.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace repux;

namespace {

PreparedCase blob_case(const std::array<int64_t, 3>& shape) {
  PreparedCase c;
  auto g = torch::meshgrid({torch::arange(shape[0], torch::kFloat32), torch::arange(shape[1], torch::kFloat32),
                            torch::arange(shape[2], torch::kFloat32)}, "ij");
  auto r = (g[0] - shape[0] * 0.7).pow(2) + (g[1] - shape[1] * 0.3).pow(2) + (g[2] - shape[2] * 0.5).pow(2);
  c.image = (1.0 - r / r.max()).unsqueeze(0);  // smooth, brightest at the blob centre
  c.label = (r < 25).to(torch::kInt64);        // a small blob far from the centre of the image
  return c;
}

}  // namespace

TEST(Sampler, ForegroundCropsAlwaysContainForeground) {
  const std::vector<PreparedCase> cases{blob_case({60, 50, 40})};
  SamplerOptions o;
  o.patch = {16, 16, 16};
  o.foreground_ratio = 1.0;
  o.affine_probability = 0.0;
  o.intensity_probability = 0.0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const Batch b = sample_batch(cases, seed, o);
    ASSERT_EQ(b.label.sizes(), (torch::IntArrayRef{2, 16, 16, 16}));
    for (int64_t i = 0; i < 2; ++i) EXPECT_GT(b.label[i].sum().item<int64_t>(), 0) << "seed " << seed;
  }
}

TEST(Sampler, ImagesSmallerThanThePatchArePadded) {
  const std::vector<PreparedCase> cases{blob_case({10, 12, 8})};
  SamplerOptions o;
  o.patch = {16, 16, 16};
  const Batch b = sample_batch(cases, 1, o);
  EXPECT_EQ(b.image.sizes(), (torch::IntArrayRef{2, 1, 16, 16, 16}));
  EXPECT_EQ(b.label.sizes(), (torch::IntArrayRef{2, 16, 16, 16}));
}

TEST(Sampler, AugmentationKeepsImageAndLabelAligned) {
  // The label is a threshold of the image; after the random affine it must still be (nearly) one.
  auto c = blob_case({48, 48, 48});
  c.label = (c.image[0] > 0.8).to(torch::kInt64);
  SamplerOptions o;
  o.patch = {32, 32, 32};
  o.rotation = 0.3;
  o.scaling = 0.2;
  o.intensity_probability = 0.0;
  o.flip_axes = {0, 1, 2};
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const Batch b = sample_batch({c}, seed, o);
    auto image = b.image.squeeze(1);
    // Linear (image) and nearest (label) interpolation may disagree within about a voxel of the
    // threshold surface (the image changes by < 0.03 per voxel there); everywhere else they must agree.
    auto away = (image - 0.8).abs() > 0.03;
    auto agree = [&](const torch::Tensor& label) {
      return ((image > 0.8).to(torch::kInt64) == label).masked_select(away).to(torch::kFloat64).mean().item<double>();
    };
    const double aligned = agree(b.label);
    EXPECT_GT(aligned, 0.999) << "seed " << seed;
    // Control: the same label two voxels off is caught by this measure.
    EXPECT_LT(agree(b.label.roll(2, 1)), aligned - 0.005) << "seed " << seed;
  }
}

TEST(Sampler, SameSeedSameBatch) {
  const std::vector<PreparedCase> cases{blob_case({40, 40, 40})};
  SamplerOptions o;
  o.patch = {16, 16, 16};
  EXPECT_TRUE(torch::equal(sample_batch(cases, 9, o).image, sample_batch(cases, 9, o).image));
}

TEST(Trainer, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  repux::test::TempDir dir;
  SynthOptions synth;
  synth.min_size = 24;
  synth.max_size = 40;
  write_synthetic_dataset(dir.file("data"), 5, 3, synth);
  TrainOptions o;
  o.dataset = dir.file("data");
  o.network.out_channels = 4;
  o.network.dims = {4, 8, 16, 32};
  o.network.depths = {1, 1, 1, 1};
  o.network.kernel_sizes = {7};
  o.network.hidden_size = 16;
  o.preprocessing = preprocess_preset("flare");
  o.preprocessing.spacing = std::array<double, 3>{4.0, 4.0, 4.0};
  o.sampler.patch = {32, 32, 32};
  o.sampler.crops_per_case = 1;
  o.iterations = 4;
  o.validate_every = 2;
  o.learning_rate = 1e-3;
  o.workers = 2;
  o.quiet = true;
  auto read_model = [](const std::string& path) {
    torch::serialize::InputArchive archive, model;
    archive.load_from(path);
    archive.read("model", model);
    std::map<std::string, torch::Tensor> out;
    for (const auto& key : model.keys()) {
      torch::Tensor t;
      model.read(key, t);
      out[key] = t;
    }
    return out;
  };
  o.output_dir = dir.file("straight");
  train(o);
  TrainOptions first = o;
  first.output_dir = dir.file("resumed");
  first.iterations = 2;
  train(first);
  const auto halfway = read_model(dir.file("resumed/checkpoint.pt"));
  // As if the run had gone one iteration past its last checkpoint before dying.
  std::ofstream(dir.file("resumed/metrics.csv"), std::ios::app) << "3,9.99,\n";
  TrainOptions second = first;
  second.iterations = 4;
  second.resume = true;
  train(second);

  const auto a = read_model(dir.file("straight/checkpoint.pt"));
  const auto b = read_model(dir.file("resumed/checkpoint.pt"));
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 50u);
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
  // The last two iterations did move the weights: the comparison is not between untouched networks.
  int64_t moved = 0;
  for (const auto& [k, v] : halfway) moved += !torch::equal(v, b.at(k));
  EXPECT_GT(moved, 10);
  // The log of the resumed run is the log of the straight run: one row per iteration, no repeats.
  auto log_iterations = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<int64_t> its;
    std::getline(in, line);
    while (std::getline(in, line)) its.push_back(std::stoll(line.substr(0, line.find(','))));
    return its;
  };
  EXPECT_EQ(log_iterations(dir.file("resumed/metrics.csv")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(log_iterations(dir.file("straight/metrics.csv")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(std::filesystem::exists(dir.file("straight/best.repux")));
  EXPECT_EQ(std::filesystem::exists(dir.file("straight/training.png")), plotting_available());
}

TEST(Trainer, LearnsSyntheticOrgansToHighDice) {
  // The demo's configuration, shortened: a small RepUX-Net (21^3 kernels, BFR) on held-out synthetic cases.
  repux::test::TempDir dir;
  write_synthetic_dataset(dir.file("data"), 10, 11);
  TrainOptions o;
  o.dataset = dir.file("data");
  o.output_dir = dir.file("run");
  o.network.out_channels = 4;
  o.network.dims = {8, 16, 32, 64};
  o.network.depths = {1, 1, 1, 1};
  o.network.hidden_size = 64;
  o.preprocessing = preprocess_preset("flare");
  o.preprocessing.spacing = std::array<double, 3>{2.0, 2.0, 2.0};
  o.sampler.patch = {48, 48, 48};
  o.iterations = 300;
  o.validate_every = 100;
  o.learning_rate = 2e-3;
  o.warmup = 20;
  o.workers = 1;
  o.quiet = true;
  const TrainResult r = train(o);
  EXPECT_GE(r.best_dice, 0.85);
  ASSERT_EQ(r.best_per_class.size(), 3u);
  for (double d : r.best_per_class) EXPECT_GT(d, 0.7);  // every organ, not just the large ones
}
