// The training recipes: nnU-Net's class-uniform foreground sampling, its augmentation set (each
// transform's output statistics against its parameters), deep supervision's weights and targets,
// and the recipe as the Plan records it.
#include "repux/data/augmentations.h"
#include "repux/data/sampler.h"
#include "repux/data/synth.h"
#include "repux/model/plan.h"
#include "repux/train/deep_supervision.h"
#include "repux/train/recipe.h"
#include "repux/train/training_step.h"
#include "fixture_networks.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

using namespace repux;

namespace {

// A 40^3 case with three classes: 1 about 50% of the foreground, 2 about 1%, 3 the rest.
torch::Tensor three_class_label() {
  auto label = torch::zeros({40, 40, 40}, torch::kInt64);
  label.slice(0, 4, 20).fill_(1);    // 16 slices
  label.slice(0, 20, 35).fill_(3);   // 15 slices
  label.slice(0, 36, 37).slice(1, 0, 13).fill_(2);  // 13 x 40 voxels: ~1% of the foreground
  return label;
}

// Five small synthetic cases (24-32 voxels a side), with the small organ or without, for the command-line tests.
std::string small_dataset(const test::TempDir& dir, const std::string& name, uint64_t seed, bool small_organ) {
  SynthOptions o;
  o.min_size = 24;
  o.max_size = 32;
  o.small_organ = small_organ;
  write_synthetic_dataset(dir.file(name), 5, seed, o);
  return dir.file(name);
}

// A network and patch that train in a second.
const std::string kTinyRun = " --dims 4 8 16 32 --depths 1 1 1 1 --hidden 16 --kernel-sizes 3 --patch 32 --spacing 4 --crops 1 --workers 1";

}  // namespace

TEST(ForegroundSampling, ClassUniformPicksAOnePercentClassAsOftenAsAFiftyPercentClass) {
  const auto label = three_class_label();
  const ForegroundSample sample = sample_foreground(label, 4);
  const double share2 = static_cast<double>(sample.class_voxels[2]) / (sample.class_voxels[1] + sample.class_voxels[2] + sample.class_voxels[3]);
  ASSERT_LT(share2, 0.012);
  ASSERT_GT(static_cast<double>(sample.class_voxels[1]) / (sample.class_voxels[1] + sample.class_voxels[2] + sample.class_voxels[3]), 0.49);
  const int draws = 30000;
  for (ForegroundSampling rule : {ForegroundSampling::ClassUniform, ForegroundSampling::Voxels}) {
    std::mt19937_64 rng(5);
    std::map<int64_t, int> counts;
    for (int i = 0; i < draws; ++i) ++counts[draw_foreground_class(sample, rule, rng)];
    const double rare = static_cast<double>(counts[2]) / draws, common = static_cast<double>(counts[1]) / draws;
    if (rule == ForegroundSampling::ClassUniform) {
      // Each class 1/3; the binomial's standard deviation is 0.0027 here, so 0.015 is over 5 of them.
      EXPECT_NEAR(rare, 1.0 / 3, 0.015);
      EXPECT_NEAR(common, 1.0 / 3, 0.015);
      EXPECT_EQ(counts[0], 0);
    } else {  // the control: in proportion to the voxels
      EXPECT_NEAR(rare, share2, 0.004);
      EXPECT_GT(common, 0.45);
    }
  }
}

TEST(ForegroundSampling, BatchesCentreTheirCropsOnTheDrawnClass) {
  // Through sample_batch: with every crop on foreground and no augmentation, the voxel at the
  // centre of a crop is of the class drawn, so the rare class is at the centre about a third of the time.
  auto memory = [] {
    PreparedCase c;
    c.label = three_class_label();
    c.image = c.label.to(torch::kFloat32).unsqueeze(0);
    return memory_crop_source({c}, 4);
  }();
  SamplerOptions o;
  o.foreground_ratio = 1.0;
  o.affine_probability = 0.0;
  o.intensity_probability = 0.0;
  o.crops_per_case = 8;
  std::map<int64_t, int> counts;
  for (uint64_t seed = 0; seed < 150; ++seed) {
    const Batch b = sample_batch(*memory, seed, {8, 8, 8}, o);
    for (int64_t i = 0; i < b.label.size(0); ++i) ++counts[b.label[i][4][4][4].item<int64_t>()];
  }
  EXPECT_NEAR(counts[2] / 1200.0, 1.0 / 3, 0.06);
  EXPECT_NEAR(counts[1] / 1200.0, 1.0 / 3, 0.06);
}

TEST(Augmentations, GaussianNoiseHasTheDrawnDeviation) {
  const auto zero = torch::zeros({1, 40, 40, 40});
  const auto noisy = add_gaussian_noise(zero, 0.07, 3);
  EXPECT_NEAR(noisy.std().item<double>(), 0.07, 0.07 * 0.02);
  EXPECT_NEAR(noisy.mean().item<double>(), 0.0, 0.002);
  EXPECT_TRUE(torch::equal(noisy, add_gaussian_noise(zero, 0.07, 3)));  // seeded
}

TEST(Augmentations, GammaOfARampIsThePowerLawWithTheRampsMeanAndDeviation) {
  const auto x = torch::linspace(0, 1, 4096).view({16, 16, 16});
  for (double gamma : {0.7, 1.5}) {
    for (bool invert : {false, true}) {
      const auto y = apply_gamma(x, gamma, invert);
      EXPECT_NEAR(y.mean().item<double>(), x.mean().item<double>(), 1e-5);
      EXPECT_NEAR(y.std().item<double>(), x.std().item<double>(), 1e-5);
      // An increasing affine map of x^gamma (inverted: of (1 - x)^gamma, decreasing): correlation +1 or -1.
      const auto power = (invert ? 1 - x : x).pow(gamma).flatten().to(torch::kFloat64);
      const auto yc = y.flatten().to(torch::kFloat64) - y.mean().item<double>(), pc = power - power.mean();
      const double correlation = ((yc * pc).sum() / (yc.norm() * pc.norm())).item<double>();
      EXPECT_NEAR(correlation, invert ? -1.0 : 1.0, 1e-6) << "gamma " << gamma;
      // And not the identity: the power law bends the ramp.
      EXPECT_GT((y - x).abs().max().item<double>(), 0.03);
    }
  }
}

TEST(Augmentations, ContrastScalesTheDeviationAndKeepsTheRange) {
  torch::manual_seed(1);
  const auto x = torch::rand({20, 20, 20});
  const auto lower = scale_contrast(x, 0.8);
  EXPECT_NEAR(lower.std().item<double>(), 0.8 * x.std().item<double>(), 1e-5);
  EXPECT_NEAR(lower.mean().item<double>(), x.mean().item<double>(), 1e-5);
  const auto higher = scale_contrast(x, 1.25);
  EXPECT_FLOAT_EQ(higher.max().item<float>(), x.max().item<float>());  // clamped to the original range
  EXPECT_FLOAT_EQ(higher.min().item<float>(), x.min().item<float>());
  EXPECT_GT(higher.std().item<double>(), 1.1 * x.std().item<double>());
}

TEST(Augmentations, BlurIsAGaussianOfEachAxisOwnSigma) {
  auto impulse = torch::zeros({21, 21, 21});
  impulse[10][10][10] = 1;
  const std::array<double, 3> sigma{0.5, 0.8, 1.0};
  const auto y = gaussian_blur(impulse, sigma);
  EXPECT_NEAR(y.sum().item<double>(), 1.0, 1e-5);
  for (int64_t a = 0; a < 3; ++a) {
    // The second moment along axis a of the blurred impulse is that of the sampled, normalised Gaussian.
    double num = 0, den = 0;
    for (int k = -10; k <= 10; ++k) {
      if (std::abs(k) > std::ceil(3 * sigma[a])) continue;
      const double w = std::exp(-0.5 * k * k / (sigma[a] * sigma[a]));
      num += w * k * k;
      den += w;
    }
    std::vector<int64_t> others;
    for (int64_t b = 0; b < 3; ++b) if (b != a) others.push_back(b);
    const auto profile = y.sum(others).to(torch::kFloat64);
    const auto k = torch::arange(-10, 11, torch::kFloat64);
    EXPECT_NEAR((profile * k * k).sum().item<double>(), num / den, 1e-5) << "axis " << a;
  }
}

TEST(Augmentations, LowResolutionLosesDetailButNotAlongTheKeptAxis) {
  // A checkerboard loses most of its variation at half resolution; a pattern along the kept axis alone none.
  const auto i = torch::arange(16);
  const auto grid = torch::meshgrid({i, i, i}, "ij");
  const auto checker = ((grid[0] + grid[1] + grid[2]) % 2).to(torch::kFloat32);
  const auto low = simulate_low_resolution(checker, 0.5);
  EXPECT_GT((low - checker).abs().mean().item<double>(), 0.3);
  const auto stripes = (grid[0] % 2).to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(simulate_low_resolution(stripes, 0.5, 0), stripes));
  EXPECT_FALSE(torch::allclose(simulate_low_resolution(stripes, 0.5, 1), stripes));
}

TEST(Augmentations, FactorsAroundOneAreBelowOrAboveOneWithEqualChance) {
  std::mt19937_64 rng(2);
  int below = 0;
  for (int k = 0; k < 10000; ++k) {
    const double f = draw_around_one(0.75, 1.25, rng);
    ASSERT_GE(f, 0.75);
    ASSERT_LE(f, 1.25);
    below += f < 1;
  }
  EXPECT_NEAR(below / 10000.0, 0.5, 0.03);
}

TEST(Augmentations, NnUNetBatchesAreReproducibleFromTheirSeedAndAligned) {
  PreparedCase c;
  auto g = torch::meshgrid({torch::arange(48, torch::kFloat32), torch::arange(48, torch::kFloat32), torch::arange(48, torch::kFloat32)}, "ij");
  c.image = (1.0 - ((g[0] - 24).pow(2) + (g[1] - 20).pow(2) + (g[2] - 28).pow(2)) / 1200.0).unsqueeze(0);
  c.label = (c.image[0] > 0.8).to(torch::kInt64);
  const auto cases = memory_crop_source({c}, 2);
  SamplerOptions o;
  o.augmentations = Augmentations::NnUNet;
  o.flip_axes = {0, 1, 2};
  o.crops_per_case = 4;
  int differing = 0, transformed = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const Batch a = sample_batch(*cases, seed, {32, 32, 32}, o), b = sample_batch(*cases, seed, {32, 32, 32}, o);
    EXPECT_TRUE(torch::equal(a.image, b.image) && torch::equal(a.label, b.label)) << "seed " << seed;
    differing += !torch::equal(a.image, sample_batch(*cases, seed + 100, {32, 32, 32}, o).image);
    // Rotation and scaling move image and label together: the foreground is still where the image is brightest.
    for (int64_t i = 0; i < a.image.size(0); ++i) {
      const auto fg = a.label[i] == 1;
      if (fg.sum().item<int64_t>() < 50 || fg.all().item<bool>()) continue;
      ++transformed;
      EXPECT_GT(a.image[i][0].masked_select(fg).mean().item<double>(), a.image[i][0].masked_select(~fg).mean().item<double>()) << "seed " << seed;
    }
  }
  EXPECT_EQ(differing, 12);
  EXPECT_GT(transformed, 10);
}

TEST(Augmentations, NnUNetsAnisotropyRuleNamesTheCoarseAxis) {
  EXPECT_EQ(anisotropic_axis({0.8, 0.8, 5.0}, {192, 160, 48}), std::optional<int64_t>(2));
  EXPECT_EQ(anisotropic_axis({0.8, 0.8, 2.5}, {128, 128, 64}), std::nullopt);  // 128 / 64 = 2: isotropic enough
  EXPECT_EQ(anisotropic_axis({1, 1, 1}, {96, 96, 96}), std::nullopt);
}

TEST(DeepSupervision, WeightsAreNnUNets) {
  // nnU-Net: 1 / 2^i, the lowest resolution's 0, normalised: 5 outputs -> (1, 1/2, 1/4, 1/8, 0) / 1.875.
  const auto w = deep_supervision_weights(5);
  const std::vector<double> expected{0.533333333, 0.266666667, 0.133333333, 0.066666667, 0.0};
  ASSERT_EQ(w.size(), expected.size());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(w[i], expected[i], 1e-8);
  EXPECT_EQ(deep_supervision_weights(1), std::vector<double>{1.0});
}

TEST(DeepSupervision, TargetsAreTheLabelSampledNearestExact) {
  // nearest-exact picks source index floor((i + 0.5) * in / out): 2i + 1 at half size, 4i + 2 at a quarter.
  torch::manual_seed(4);
  const auto label = torch::randint(0, 5, {2, 16, 16, 8});
  const std::vector<torch::Tensor> outputs{torch::zeros({2, 3, 16, 16, 8}), torch::zeros({2, 3, 8, 8, 4}), torch::zeros({2, 3, 4, 4, 2})};
  const auto targets = deep_supervision_targets(label, outputs);
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_TRUE(torch::equal(targets[0], label));
  for (int64_t f : {2, 4}) {
    const auto& t = targets[f == 2 ? 1 : 2];
    auto picked = label;
    for (int64_t a = 1; a <= 3; ++a) picked = picked.index_select(a, torch::arange(t.size(a)) * f + f / 2);
    EXPECT_TRUE(torch::equal(t, picked)) << "factor " << f;
    EXPECT_EQ(t.scalar_type(), torch::kInt64);
  }
}

TEST(DeepSupervision, TheCoarserHeadsLearnOnlyWithIt) {
  UNetArchitecture a;
  a.features = {4, 8, 8, 16};
  a.kernel_sizes = {{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  a.strides = {{1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}};
  a.encoder_convs = {1, 1, 1, 1};
  a.decoder_convs = {1, 1, 1};
  a.conv_bias = true;
  NetworkConfig config;
  config.arch = "nnunet";
  config.out_channels = 3;
  config.unet = a;
  torch::manual_seed(0);
  const auto image = torch::randn({2, 1, 16, 16, 16});
  const auto label = torch::randint(0, 3, {2, 16, 16, 16});
  for (bool deep : {false, true}) {
    torch::manual_seed(1);
    Segmenter net = create_network(config);
    ASSERT_TRUE(net->has_deep_outputs());
    const auto outputs = net->forward_deep(image);
    ASSERT_EQ(outputs.size(), 3u);
    EXPECT_EQ(outputs[1].sizes(), (torch::IntArrayRef{2, 3, 8, 8, 8}));
    EXPECT_EQ(outputs[2].sizes(), (torch::IntArrayRef{2, 3, 4, 4, 4}));
    EXPECT_TRUE(torch::equal(outputs[0], net->forward(image)));
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.0));
    TrainingStepOptions so;
    so.deep_supervision = deep;
    TrainingStep(net, sgd, so).run(image, label);
    // Three outputs, weights (1, 1/2, 0) / 1.5: the half-resolution head (seg_layers.1; the decoder
    // lists its stages coarsest first) learns with deep supervision only, the coarsest never, the finest always.
    auto gradient = [&](const std::string& name) {
      const auto g = net->named_parameters()[name].grad();
      return g.defined() ? g.abs().sum().item<double>() : 0.0;
    };
    EXPECT_EQ(gradient("decoder.seg_layers.0.weight"), 0.0);
    EXPECT_EQ(gradient("decoder.seg_layers.1.weight") > 0, deep);
    EXPECT_GT(gradient("decoder.seg_layers.2.weight"), 0);
  }
}

TEST(TrainingRecipe, ThePlanRecordsItAndRefusesUnknownNames) {
  Plan plan;
  plan.network.arch = "repuxnet";
  plan.network.out_channels = 3;
  plan.network.dims = {8, 16, 32, 64};
  plan.network.depths = {1, 1, 1, 1};
  plan.network.hidden_size = 32;
  plan.patch = {32, 32, 32};
  plan.training.recipe = Recipe::NnUNet;
  plan.training.foreground_sampling = ForegroundSampling::Voxels;
  auto j = to_json(plan);
  EXPECT_EQ(j["training"]["recipe"], "nnunet");
  EXPECT_EQ(j["training"]["foreground_sampling"], "voxels");
  EXPECT_TRUE(plan_from_json(j).training == plan.training);
  j.erase("training");  // plans written before the field: the defaults
  EXPECT_TRUE(plan_from_json(j).training == TrainingRecipe());
  j["training"] = {{"recipe", "fancy"}};
  try {
    plan_from_json(j);
    FAIL() << "an unknown recipe was accepted";
  } catch (const PlanFieldError& e) {
    EXPECT_EQ(e.field, "training");
    EXPECT_NE(std::string(e.what()).find("fancy"), std::string::npos) << e.what();
  }
}

TEST(TrainingRecipe, NnUNetsOptimiserAndSampler) {
  auto p = torch::zeros({3}, torch::requires_grad());
  const auto sgd = make_optimizer(Recipe::NnUNet, {p}, 1e-2, 3e-5);
  auto* as_sgd = dynamic_cast<torch::optim::SGD*>(sgd.get());
  ASSERT_NE(as_sgd, nullptr);
  const auto& options = static_cast<const torch::optim::SGDOptions&>(as_sgd->param_groups()[0].options());
  EXPECT_DOUBLE_EQ(options.momentum(), 0.99);
  EXPECT_TRUE(options.nesterov());
  EXPECT_DOUBLE_EQ(options.weight_decay(), 3e-5);
  EXPECT_NE(dynamic_cast<torch::optim::AdamW*>(make_optimizer(Recipe::Repux, {p}, 1e-4, 0.01).get()), nullptr);
  const RecipeDefaults d = recipe_defaults(Recipe::NnUNet);
  EXPECT_EQ(d.schedule, Schedule::Poly);
  EXPECT_EQ(d.validate_every, 250);  // nnU-Net's epoch
  EXPECT_DOUBLE_EQ(d.learning_rate, 1e-2);
  EXPECT_NEAR(d.foreground_ratio, 1.0 / 3, 1e-12);
  Plan plan;
  plan.training.recipe = Recipe::NnUNet;
  plan.preprocessing.spacing = std::array<double, 3>{0.8, 0.8, 5.0};
  plan.patch = {192, 160, 48};
  const SamplerOptions s = recipe_sampler(plan, SamplerOptions());
  EXPECT_EQ(s.augmentations, Augmentations::NnUNet);
  EXPECT_EQ(s.in_plane_about, std::optional<int64_t>(2));
}

TEST(DeepSupervision, ResEncAndTheUnetrFamiliesGainHeadsOnTheirCoarserStages) {
  NetworkConfig resenc;
  resenc.arch = "resenc";
  resenc.out_channels = 3;
  resenc.dims = {4, 4, 8, 8, 8};
  resenc.depths = {1, 1, 1, 1, 1};
  NetworkConfig unetr = test::reduced_repuxnet(3);
  for (NetworkConfig config : {resenc, unetr}) {
    const auto x = torch::randn({1, 1, 32, 32, 32});
    torch::manual_seed(2);
    Segmenter plain = create_network(config);
    EXPECT_FALSE(plain->has_deep_outputs());
    EXPECT_EQ(plain->forward_deep(x).size(), 1u);
    EXPECT_FALSE(to_json(config).contains("deep_heads"));  // model files without heads stay as they were
    config.deep_heads = true;
    torch::manual_seed(2);
    Segmenter deep = create_network(config);
    ASSERT_TRUE(deep->has_deep_outputs()) << config.arch;
    const auto outputs = deep->forward_deep(x);
    ASSERT_EQ(outputs.size(), 4u) << config.arch;  // full resolution, then 1/2, 1/4, 1/8
    for (size_t i = 0; i < outputs.size(); ++i) {
      EXPECT_EQ(outputs[i].sizes(), (torch::IntArrayRef{1, 3, 32 >> i, 32 >> i, 32 >> i})) << config.arch << " output " << i;
    }
    // The heads add parameters and nothing else: the same seed gives the same final output.
    EXPECT_TRUE(torch::allclose(outputs[0], plain->forward(x))) << config.arch;
    EXPECT_GT(parameter_count(*deep), parameter_count(*plain));
    EXPECT_TRUE(network_config_from_json(to_json(config)).deep_heads);
    deep->replace_head(5);  // fine-tuning to other classes replaces every head
    for (const auto& o : deep->forward_deep(x)) EXPECT_EQ(o.size(1), 5) << config.arch;
  }
}

// `repux train --recipe nnunet` end to end: the run's plan.json records the recipe (and deep supervision
// where asked, with the heads in the model), the optimiser settings are nnU-Net's unless given, and
// metrics.csv has a column per class.
TEST(TrainingRecipe, TrainCommandRecordsTheRecipeAndLogsEveryClass) {
  test::TempDir dir;
  auto r = test::run_repux("train -d " + small_dataset(dir, "data", 2, true) + " -o " + dir.file("run") + kTinyRun +
                           " --iterations 2 --val-every 2 --recipe nnunet --deep-supervision --no-final-validation");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = test::read_json(dir.file("run/plan.json"));
  EXPECT_EQ(plan["training"]["recipe"], "nnunet");
  EXPECT_EQ(plan["training"]["foreground_sampling"], "class_uniform");
  EXPECT_EQ(plan["training"]["deep_supervision"], true);
  EXPECT_EQ(plan["network"]["deep_heads"], true);
  std::ifstream metrics(dir.file("run/metrics.csv"));
  std::string header;
  std::getline(metrics, header);
  EXPECT_EQ(header, "iteration,loss,val_mean_dice,val_dice_liver,val_dice_spleen,val_dice_kidney,val_dice_pancreas");
  // The model file, heads included, loads.
  r = test::run_repux("info " + dir.file("run/last.repux"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A recipe name that does not exist is refused before any data is read.
  r = test::run_repux("train -d " + dir.file("nowhere") + " -o " + dir.file("run2") + " --recipe fancy");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown training recipe 'fancy', expected one of: repux, nnunet"), std::string::npos) << r.output;
}

// Fine-tuning (--init) into a run with deep supervision: the init model has no deep heads, so they start
// fresh (the rest is the init's); into other classes, every head starts fresh.
TEST(TrainingRecipe, FineTuningAddsDeepHeadsAndReplacesHeadsForOtherClasses) {
  test::TempDir dir;
  small_dataset(dir, "small", 2, true);
  small_dataset(dir, "organs", 3, false);
  const std::string tiny = kTinyRun + " --iterations 2 --val-every 2 --no-final-validation";
  auto r = test::run_repux("train -d " + dir.file("small") + " -o " + dir.file("a") + tiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_repux("train -d " + dir.file("small") + " -o " + dir.file("b") + tiny + " --deep-supervision --init " + dir.file("a/last.repux"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::read_json(dir.file("b/plan.json"))["network"]["deep_heads"], true);
  r = test::run_repux("train -d " + dir.file("organs") + " -o " + dir.file("c") + tiny + " --deep-supervision --init " + dir.file("b/last.repux"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::read_json(dir.file("c/plan.json"))["network"]["out_channels"], 4);
  // A network of another shape is still refused, naming a tensor.
  r = test::run_repux("train -d " + dir.file("small") + " -o " + dir.file("d") + tiny + " --dims 4 8 16 64 --init " + dir.file("a/last.repux"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
}
