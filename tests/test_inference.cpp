// Sliding window against direct application, the preprocessing inverse against the input geometry,
// and metrics against hand-computed and brute-force values.
#include "repux/data/preprocess.h"
#include "repux/error.h"
#include "repux/eval/metrics.h"
#include "repux/infer/sliding_window.h"
#include "repux/train/loss.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace repux;
using repux::test::relative_error;

TEST(SlidingWindow, StitchedOutputEqualsDirectOutputForAPointwiseNetwork) {
  torch::manual_seed(0);
  auto conv = torch::nn::Conv3d(torch::nn::Conv3dOptions(2, 3, 1));
  torch::NoGradGuard no_grad;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{1, 2, 40, 33, 20}, {1, 2, 9, 12, 7}}) {
    auto image = torch::randn(shape);
    auto direct = conv(image);
    for (double overlap : {0.0, 0.25, 0.5}) {
      for (bool gaussian : {false, true}) {
        SlidingWindowOptions o;
        o.window = {16, 16, 16};
        o.overlap = overlap;
        o.blending = gaussian ? Blending::Gaussian : Blending::Constant;
        o.batch_size = 3;
        o.mirror_axes = overlap == 0.5 ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{};
        auto stitched = sliding_window_inference(image, 3, [&](const torch::Tensor& x) { return conv(x); }, o);
        ASSERT_EQ(stitched.sizes(), direct.sizes());
        EXPECT_LT(relative_error(stitched, direct), 1e-6) << "overlap " << overlap << " gaussian " << gaussian;
      }
    }
  }
}

TEST(SlidingWindow, WindowsCoverTheVolumeAndEndAtTheBorder) {
  const auto starts = window_starts(100, 32, 0.5);
  EXPECT_EQ(starts.front(), 0);
  EXPECT_EQ(starts.back(), 100 - 32);
  for (size_t i = 1; i < starts.size(); ++i) EXPECT_LE(starts[i] - starts[i - 1], 16);
  EXPECT_EQ(window_starts(20, 32, 0.5), std::vector<int64_t>{0});
  auto g = gaussian_importance_map({16, 16, 16});
  EXPECT_FLOAT_EQ(g.max().item<float>(), 1.0f);
  EXPECT_GT(g.min().item<float>(), 0.0f);
}

TEST(Preprocess, ObliqueLpsVolumeRoundTripsToItsOwnGrid) {
  Volume image, label;
  const std::array<int64_t, 3> shape{80, 72, 36};
  image.affine = torch::tensor({-0.8, 0.05, 0.0, 40.0, -0.04, -0.9, 0.1, 30.0, 0.0, 0.08, 2.5, -20.0, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64)
                     .reshape({4, 4});
  auto g = torch::meshgrid({torch::arange(shape[0], torch::kFloat64), torch::arange(shape[1], torch::kFloat64),
                            torch::arange(shape[2], torch::kFloat64)}, "ij");
  auto r = ((g[0] - 40) * 0.8).pow(2) + ((g[1] - 36) * 0.9).pow(2) + ((g[2] - 18) * 2.5).pow(2);
  label.data = ((r < 600).to(torch::kFloat32) + (r < 160).to(torch::kFloat32));
  label.affine = image.affine;
  image.data = (label.data * 100 - 50).to(torch::kFloat32);
  PreprocessRecipe recipe = preprocess_preset("flare");
  recipe.crop_foreground = true;
  const PreparedCase prepared = preprocess(image, recipe, &label);
  EXPECT_EQ(prepared.image.size(0), 1);
  // One-hot probabilities of the preprocessed label, mapped back.
  auto onehot = torch::one_hot(prepared.label, 3).permute({3, 0, 1, 2}).to(torch::kFloat32);
  auto restored = restore_probabilities(onehot, prepared.trace);
  ASSERT_EQ(restored.size(1), shape[0]);
  ASSERT_EQ(restored.size(2), shape[1]);
  ASSERT_EQ(restored.size(3), shape[2]);
  const double agree = (restored.argmax(0).to(torch::kFloat32) == label.data).to(torch::kFloat64).mean().item<double>();
  EXPECT_GE(agree, 0.995);
  EXPECT_TRUE(torch::equal(prepared.trace.original.affine, image.affine));
}

TEST(Metrics, DiceOfTwoCubesByHand) {
  auto a = torch::zeros({10, 10, 10}, torch::kBool), b = torch::zeros({10, 10, 10}, torch::kBool);
  a.slice(0, 0, 4).slice(1, 0, 4).slice(2, 0, 4).fill_(true);  // 64 voxels
  b.slice(0, 2, 6).slice(1, 0, 4).slice(2, 0, 4).fill_(true);  // 64 voxels, 32 shared
  EXPECT_DOUBLE_EQ(dice_score(a, b), 2.0 * 32 / 128);
  EXPECT_TRUE(std::isnan(dice_score(a, torch::zeros_like(b))));
  EXPECT_EQ(dice_score(torch::zeros_like(a), b), 0.0);
}

TEST(Metrics, DistanceTransformMatchesBruteForce) {
  torch::manual_seed(3);
  auto mask = torch::rand({9, 7, 11}) > 0.97;
  mask[4][3][5] = true;
  const std::array<double, 3> spacing{0.7, 1.3, 2.1};
  auto edt = squared_distance_transform(mask, spacing);
  auto targets = torch::nonzero(mask).to(torch::kFloat64) * torch::tensor({0.7, 1.3, 2.1}, torch::kFloat64);
  auto all = torch::nonzero(torch::ones({9, 7, 11}, torch::kBool)).to(torch::kFloat64) * torch::tensor({0.7, 1.3, 2.1}, torch::kFloat64);
  auto brute = torch::cdist(all, targets).pow(2).amin(1).reshape({9, 7, 11});
  EXPECT_LT((edt - brute).abs().max().item<double>(), 1e-9);
}

TEST(Metrics, Hd95AndSurfaceDiceOfShiftedSpheresMatchBruteForce) {
  auto g = torch::meshgrid({torch::arange(30, torch::kFloat64), torch::arange(30, torch::kFloat64), torch::arange(30, torch::kFloat64)}, "ij");
  auto sphere = [&](double cx) { return ((g[0] - cx).pow(2) + (g[1] - 15).pow(2) + (g[2] - 15).pow(2)) < 64; };
  auto a = sphere(13), b = sphere(16);
  const std::array<double, 3> spacing{1.5, 1.0, 1.0};
  auto sa = torch::nonzero(surface_voxels(a)).to(torch::kFloat64) * torch::tensor({1.5, 1.0, 1.0}, torch::kFloat64);
  auto sb = torch::nonzero(surface_voxels(b)).to(torch::kFloat64) * torch::tensor({1.5, 1.0, 1.0}, torch::kFloat64);
  auto d = torch::cdist(sa, sb);
  auto dab = std::get<0>(d.min(1)), dba = std::get<0>(d.min(0));
  auto q95 = [](const torch::Tensor& v) { return torch::quantile(v, 0.95).item<double>(); };  // linear, as numpy
  EXPECT_NEAR(hausdorff95(a, b, spacing), std::max(q95(dab), q95(dba)), 1e-9);
  const double tol = 2.0;
  const double nsd = ((dab <= tol).sum().item<double>() + (dba <= tol).sum().item<double>()) / (dab.numel() + dba.numel());
  EXPECT_NEAR(surface_dice(a, b, spacing, tol), nsd, 1e-12);
  EXPECT_TRUE(std::isinf(hausdorff95(torch::zeros_like(a), b, spacing)));
}

TEST(Loss, DiceCeAgainstAHandComputedCase) {
  // Two classes, two voxels; logits chosen so the softmax is (0.5, 0.5) everywhere.
  auto logits = torch::zeros({1, 2, 1, 1, 2});
  auto target = torch::tensor({0, 1}, torch::kInt64).view({1, 1, 1, 2});
  const double ce = std::log(2.0);
  // Each class: intersection 0.5, sum of probabilities 1, one voxel of truth -> Dice (1 + eps)/(2 + eps).
  const double dice = 1.0 - (2 * 0.5 + 1e-5) / (2.0 + 1e-5);
  EXPECT_NEAR(dice_ce_loss(logits, target).item<double>(), ce + dice, 1e-6);
  EXPECT_THROW(dice_ce_loss(logits, target + 1), Error);
}
