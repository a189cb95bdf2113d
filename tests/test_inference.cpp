// Sliding window against direct application, the preprocessing inverse against the input geometry,
// and metrics against hand-computed and brute-force values.
#include "repux/data/preprocess.h"
#include "repux/data/restore.h"
#include "repux/error.h"
#include "repux/eval/metrics.h"
#include "repux/infer/class_argmax.h"
#include "repux/infer/sliding_window.h"
#include "repux/train/loss.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace repux;
using repux::test::relative_error;

namespace {

// An oblique LPS affine, and over a grid of `shape` each voxel's squared distance (in mm, anisotropic
// spacing) from the grid's centre: ellipsoids in world space for the preprocessing round trips.
torch::Tensor oblique_lps_affine() {
  return torch::tensor({-0.8, 0.05, 0.0, 40.0, -0.04, -0.9, 0.1, 30.0, 0.0, 0.08, 2.5, -20.0, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64).reshape({4, 4});
}

torch::Tensor squared_distance_from_centre(const std::array<int64_t, 3>& shape) {
  auto g = torch::meshgrid({torch::arange(shape[0], torch::kFloat64), torch::arange(shape[1], torch::kFloat64),
                            torch::arange(shape[2], torch::kFloat64)}, "ij");
  return ((g[0] - shape[0] / 2) * 0.8).pow(2) + ((g[1] - shape[1] / 2) * 0.9).pow(2) + ((g[2] - shape[2] / 2) * 2.5).pow(2);
}

}  // namespace

TEST(SlidingWindow, StitchedOutputEqualsDirectOutputForAPointwiseNetwork) {
  torch::manual_seed(0);
  auto conv = torch::nn::Conv3d(torch::nn::Conv3dOptions(2, 3, 1));
  torch::NoGradGuard no_grad;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{1, 2, 40, 33, 20}, {1, 2, 9, 12, 7}}) {
    auto image = torch::randn(shape);
    auto direct = conv(image);
    for (double overlap : {0.0, 0.25, 0.5}) {
      for (bool gaussian : {false, true}) {
        InferenceSettings s;
        s.window = {16, 16, 16};
        s.overlap = overlap;
        s.blending = gaussian ? Blending::Gaussian : Blending::Constant;
        s.mirror_axes = overlap == 0.5 ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{};
        SlidingWindowOptions run;
        run.batch_size = 3;
        auto stitched = sliding_window_inference(image, 3, [&](const torch::Tensor& x) { return conv(x); }, s, run);
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

// Hand-counted: on an axis of 90 with overlap 0.5, windows of 32, 48 and 64 need 5, 3 and 2 windows,
// and the axes of 40 need 2 windows of 32 each, so the totals are 20 x 32^3, 12 x 48x32x32 and
// 8 x 64x32x32 voxels; 80x32x32 would also need 2 windows, more voxels for nothing.
TEST(SlidingWindow, WindowsGrowToSendTheFewestVoxelsThroughTheNetwork) {
  InferenceSettings o;
  o.window = {32, 32, 32};
  o.overlap = 0.5;
  EXPECT_EQ(fitted_window({90, 40, 40}, o), *o.window);  // no growth unless asked for
  o.window_growth = 3;
  EXPECT_EQ(fitted_window({90, 40, 40}, o), (std::array<int64_t, 3>{64, 32, 32}));
  o.window_growth = 1.5;  // 49152 voxels: 64x32x32 no longer fits
  EXPECT_EQ(fitted_window({90, 40, 40}, o), (std::array<int64_t, 3>{48, 32, 32}));
  o.window_growth = 8;
  EXPECT_EQ(fitted_window({64, 64, 48}, o), (std::array<int64_t, 3>{64, 64, 48}));  // the whole volume, one window
  EXPECT_EQ(fitted_window({20, 100, 70}, o)[0], 32);  // an axis shorter than the window keeps it (padded)
  EXPECT_EQ(fitted_window({57, 57, 57}, o), (std::array<int64_t, 3>{48, 48, 48}));  // never past the volume

  // The sliding window runs on the fitted windows, and its output is still the pointwise network's.
  torch::manual_seed(0);
  auto image = torch::randn({1, 1, 90, 40, 40});
  std::vector<std::vector<int64_t>> shapes;
  o.window_growth = 3;
  auto stitched = sliding_window_inference(image, 1, [&](const torch::Tensor& x) {
    shapes.push_back(x.sizes().vec());
    return x * 2;
  }, o);
  ASSERT_EQ(shapes.size(), 8u);
  for (const auto& s : shapes) EXPECT_EQ(s, (std::vector<int64_t>{1, 1, 64, 32, 32}));
  EXPECT_LT(relative_error(stitched, image * 2), 1e-6);
  o.window_growth = 0.5;
  EXPECT_THROW(check_window_options(o), Error);
  EXPECT_THROW(grown_window_voxels(*o.window, 0.5), Error);
  o.window.reset();
  EXPECT_THROW(check_window_options(o), Error);
}

TEST(Preprocess, ObliqueLpsVolumeRoundTripsToItsOwnGrid) {
  Volume image, label;
  const std::array<int64_t, 3> shape{80, 72, 36};
  image.affine = oblique_lps_affine();
  const auto r = squared_distance_from_centre(shape);
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

namespace {

// The predictor's output in float64, averaged over every subset of the mirror axes (each flip undone).
torch::Tensor mirrored_mean(const WindowPredictor& predictor, const torch::Tensor& x, const std::vector<int64_t>& axes) {
  auto sum = torch::zeros({}, torch::kFloat64);
  const int subsets = 1 << axes.size();
  for (int mask = 0; mask < subsets; ++mask) {
    std::vector<int64_t> dims;
    for (size_t i = 0; i < axes.size(); ++i) {
      if (mask & (1 << i)) dims.push_back(2 + axes[i]);
    }
    sum = sum + predictor(x.flip(dims)).flip(dims).to(torch::kFloat64);
  }
  return sum / subsets;
}

// The blended logits of sliding-window inference, summed in float64 over the whole padded volume: the
// reference the slab stitcher must reproduce.
torch::Tensor reference_blend(const torch::Tensor& image, int64_t classes, const WindowPredictor& predictor, const InferenceSettings& s) {
  const std::array<int64_t, 3> window = *s.window;
  std::array<int64_t, 3> size{}, padded{}, before{};
  std::vector<int64_t> pads(6, 0);
  for (int a = 0; a < 3; ++a) {
    size[a] = image.size(2 + a);
    padded[a] = std::max(size[a], window[a]);
    before[a] = (padded[a] - size[a]) / 2;
    pads[2 * (2 - a)] = before[a];
    pads[2 * (2 - a) + 1] = padded[a] - size[a] - before[a];
  }
  const auto input = torch::constant_pad_nd(image, pads, 0.0);
  const auto weight = gaussian_importance_map(window).to(torch::kFloat64);
  auto sum = torch::zeros({classes, padded[0], padded[1], padded[2]}, torch::kFloat64);
  auto norm = torch::zeros({padded[0], padded[1], padded[2]}, torch::kFloat64);
  for (auto s0 : window_starts(padded[0], window[0], s.overlap))
    for (auto s1 : window_starts(padded[1], window[1], s.overlap))
      for (auto s2 : window_starts(padded[2], window[2], s.overlap)) {
        auto region = [&](const torch::Tensor& t, int64_t off) {
          return t.slice(off, s0, s0 + window[0]).slice(off + 1, s1, s1 + window[1]).slice(off + 2, s2, s2 + window[2]);
        };
        region(sum, 1).add_(mirrored_mean(predictor, region(input, 2), s.mirror_axes)[0] * weight);
        region(norm, 0).add_(weight);
      }
  return (sum / norm).slice(1, before[0], before[0] + size[0]).slice(2, before[1], before[1] + size[1]).slice(3, before[2], before[2] + size[2]);
}

// Rows handed on by the slab stitcher, checked to arrive in order along the row axis, gathered into
// one tensor in the image's axis order.
torch::Tensor gather_slabs(const torch::Tensor& image, int64_t classes, const WindowPredictor& predictor, const InferenceSettings& s,
                           const SlidingWindowOptions& o, int64_t* slab_count) {
  auto out = torch::full({classes, image.size(2), image.size(3), image.size(4)}, std::nan(""));
  const auto framed = in_axis_order(out, row_frame(o.row_axis));
  int64_t next = 0;
  *slab_count = 0;
  sliding_window_slabs(image, classes, predictor, s, o, [&](int64_t row, const torch::Tensor& slab) {
    EXPECT_EQ(row, next);
    EXPECT_EQ(slab.sizes().slice(2), framed.sizes().slice(2));
    framed.slice(1, row, row + slab.size(1)).copy_(slab);
    next = row + slab.size(1);
    ++*slab_count;
  });
  EXPECT_EQ(next, image.size(2 + o.row_axis));
  return out;
}

}  // namespace

// Overlapping windows, a volume smaller than the window along one axis, one-row slabs, rows along each
// axis in turn, with mirroring (flips along the image's axes, whatever the frame): every value equals
// the float64 whole-volume blend.
TEST(SlidingWindow, SlabsEqualTheWholeVolumeBlendInFloat64AlongEachAxis) {
  torch::manual_seed(5);
  const auto image = torch::rand({1, 1, 37, 29, 18});
  const auto kernel = torch::randn({3, 1, 3, 3, 3});
  const WindowPredictor conv = [&](const torch::Tensor& x) { return torch::conv3d(x, kernel, {}, 1, 1) * 3.0; };
  InferenceSettings s;
  s.window = {16, 12, 24};
  s.overlap = 0.5;
  s.mirror_axes = {0, 2};
  const auto reference = reference_blend(image, 3, conv, s);
  for (int64_t axis = 0; axis < 3; ++axis) {
    SlidingWindowOptions o;
    o.batch_size = 3;
    o.slab_bytes = 1;
    o.row_axis = axis;
    int64_t slabs = 0;
    const auto got = gather_slabs(image, 3, conv, s, o, &slabs);
    EXPECT_EQ(slabs, image.size(2 + axis)) << "row axis " << axis;
    EXPECT_LT((got.to(torch::kFloat64) - reference).abs().max().item<double>(), 1e-5) << "row axis " << axis;
  }
}

// Float16 shifted-mean accumulators (half the memory) against the float64 blend, rows along axis 1:
// the probabilities (softmax) within float16's resolution, every label whose two leading classes differ
// by more than 1e-3 the same, though the logits are ~50 and spread over 40.
TEST(SlidingWindow, Float16ShiftedMeansKeepTheBlendsProbabilitiesAndLabels) {
  torch::manual_seed(9);
  const auto image = torch::rand({1, 1, 33, 41, 20});
  const auto kernel = torch::randn({6, 1, 3, 3, 3});
  const WindowPredictor conv = [&](const torch::Tensor& x) { return torch::conv3d(x, kernel, {}, 1, 1) * 8.0 + 50.0; };
  InferenceSettings s;
  s.window = {16, 16, 16};
  s.overlap = 0.5;
  SlidingWindowOptions o;
  o.row_axis = 1;
  o.accumulators = Accumulators::Float16ShiftedMean;
  int64_t slabs = 0;
  const auto got = gather_slabs(image, 6, conv, s, o, &slabs);
  const auto reference = reference_blend(image, 6, conv, s);
  EXPECT_LT((torch::softmax(got.to(torch::kFloat64), 0) - torch::softmax(reference, 0)).abs().max().item<double>(), 2e-3);
  const auto top = std::get<0>(reference.topk(2, 0));
  const auto clear = (top[0] - top[1]) > 1e-3;
  EXPECT_GT(clear.to(torch::kFloat64).mean().item<double>(), 0.99);
  EXPECT_TRUE((got.argmax(0) == reference.argmax(0)).masked_select(clear).all().item<bool>());
}

// Two classes whose logits are ~1000 and differ by ~1e-3: an accumulator in bf16 (resolution 4 at
// 1000) or plain float16 (0.5) would get most labels wrong; the slab stitcher gets every clear one
// right, with float32 accumulators and with float16 ones holding shifted means (near 0: fine steps).
TEST(SlidingWindow, NearTiesAtLargeLogitsKeepTheirLabels) {
  torch::manual_seed(6);
  const auto image = torch::rand({1, 1, 30, 20, 20});
  const WindowPredictor near_tie = [](const torch::Tensor& x) {
    return torch::cat({torch::full_like(x, 1000.0), 1000.0 + 4e-3 * (x - 0.5)}, 1);
  };
  InferenceSettings s;
  s.window = {12, 12, 12};
  s.overlap = 0.5;
  const auto reference = reference_blend(image, 2, near_tie, s);
  const auto difference = reference[1] - reference[0];
  const auto clear = difference.abs() > 2e-4;
  EXPECT_GT(clear.to(torch::kFloat64).mean().item<double>(), 0.5);  // the test is about these voxels
  for (const auto accumulators : {Accumulators::Float32, Accumulators::Float16ShiftedMean}) {
    SlidingWindowOptions o;
    o.slab_bytes = 4096;
    o.accumulators = accumulators;
    int64_t slabs = 0;
    const auto got = gather_slabs(image, 2, near_tie, s, o, &slabs);
    EXPECT_TRUE((got.argmax(0) == reference.argmax(0)).masked_select(clear).all().item<bool>()) << enum_name(accumulators);
  }
}

namespace {

// The float64 reference of restoring: background outside the crop, one whole-volume resampling, the
// reorientation undone.
torch::Tensor reference_restore(const torch::Tensor& probabilities, const PreprocessTrace& t) {
  const int64_t k = probabilities.size(0);
  auto full = torch::zeros({k, t.resampled.shape[0], t.resampled.shape[1], t.resampled.shape[2]}, torch::kFloat64);
  full[0].fill_(1.0);
  full.slice(1, t.crop_start[0], t.crop_start[0] + t.crop_size[0])
      .slice(2, t.crop_start[1], t.crop_start[1] + t.crop_size[1])
      .slice(3, t.crop_start[2], t.crop_start[2] + t.crop_size[2])
      .copy_(probabilities);
  return undo_reorientation(resample_to_grid(full, t.resampled.affine, t.ras.affine, t.ras.shape, Interpolation::Linear), t.orientation);
}

}  // namespace

// An oblique LPS volume, cropped, resampled both coarser and finer than its own spacing: probabilities
// restored in slabs of a few rows (given in uneven chunks) equal the float64 whole-volume restoration.
TEST(Restore, SlabsEqualTheWholeVolumeRestorationInFloat64) {
  Volume image;
  const std::array<int64_t, 3> shape{40, 36, 18};
  image.affine = oblique_lps_affine();
  const auto r = squared_distance_from_centre(shape);
  image.data = ((r < 180).to(torch::kFloat32) * 300 - 200);  // outside: below the CT window, so cropped
  for (const double spacing : {1.7, 0.6}) {
    PreprocessRecipe recipe = preprocess_preset("none");
    recipe.spacing = std::array<double, 3>{spacing, spacing, spacing};
    const PreparedCase prepared = preprocess(image, recipe);
    const auto& t = prepared.trace;
    ASSERT_LT(t.crop_size[0], t.resampled.shape[0]);  // a real crop
    torch::manual_seed(7);
    const auto probabilities = torch::softmax(torch::randn({3, t.crop_size[0], t.crop_size[1], t.crop_size[2]}) * 3, 0);
    auto ras = torch::full({3, t.ras.shape[0], t.ras.shape[1], t.ras.shape[2]}, std::nan(""));
    int64_t next = 0;
    ProbabilityRestorer restorer(t, 3, [&](int64_t row, const torch::Tensor& rows) {
      EXPECT_EQ(row, next);
      ras.slice(1, row, row + rows.size(1)).copy_(rows);
      next = row + rows.size(1);
    }, 3 * t.ras.shape[1] * t.ras.shape[2] * 4 * 2);  // two rows at a time
    for (int64_t row = 0, n = 1; row < t.crop_size[0]; row += n, n = n % 3 + 1) {
      restorer.add(probabilities.slice(1, row, std::min(row + n, t.crop_size[0])));
    }
    restorer.finish();
    EXPECT_EQ(next, t.ras.shape[0]) << spacing;
    const auto reference = reference_restore(probabilities.to(torch::kFloat64), t);
    EXPECT_LT((undo_reorientation(ras, t.orientation).to(torch::kFloat64) - reference).abs().max().item<double>(), 1e-5) << spacing;
    EXPECT_LT((restore_probabilities(probabilities, t).to(torch::kFloat64) - reference).abs().max().item<double>(), 1e-5) << spacing;
  }
}

// The blocked argmax against LibTorch's: the first of equal maxima (scores on a coarse grid, so that ties
// are common), voxel counts that are not multiples of the vector or block width, one class and 104.
TEST(ClassArgmax, EqualsLibTorchsArgmaxTiesIncluded) {
  torch::manual_seed(12);
  for (const auto& sizes : std::vector<std::vector<int64_t>>{{1, 5, 7}, {3, 2049}, {7, 3, 5, 11}, {104, 2, 37, 41}}) {
    const auto scores = torch::randint(0, 6, sizes).to(torch::kFloat32) / 4;
    EXPECT_TRUE(torch::equal(class_argmax(scores), scores.argmax(0))) << scores.sizes();
    const auto strided = scores.transpose(0, scores.dim() - 1).contiguous().transpose(0, scores.dim() - 1);  // not contiguous
    EXPECT_TRUE(torch::equal(class_argmax(strided), scores.argmax(0))) << scores.sizes();
  }
}
