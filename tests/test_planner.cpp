// Planning rules on hand-made fingerprints (expected values worked out by hand in the comments), and
// the fingerprint of real files against their known geometry and intensities.
#include "repux/data/fingerprint.h"
#include "repux/data/synth_context.h"
#include "repux/io/volume_file.h"
#include "repux/model/planner.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace repux;

namespace {

DatasetFingerprint fingerprint_of(int n, std::array<int64_t, 3> shape, std::array<double, 3> spacing, double image_min) {
  DatasetFingerprint f;
  for (int i = 0; i < n; ++i) f.cases.push_back({"case" + std::to_string(i), shape, spacing, "RAS", 1, image_min, 1000, {1000, 10, 10}});
  f.foreground = intensity_statistics({-100, 0, 40, 60, 80, 300});
  return f;
}

}  // namespace

TEST(Planner, IsotropicCtKeepsTheSpacingAndFitsThePatchToTheBudget) {
  // 128^3 at 1 mm: the median size rounds to 128^3 = 2.1 M voxels per crop, over the 96^3 = 885 k a
  // crop may have (2 x 96^3 per step, 2 crops). Shrinking the largest relative axis by 16 in turn:
  // 112x128x128, 112x112x128, 112x112x112, 96x112x112, 96x96x112, 96x96x96 = 885 k: fits.
  // Field of view 96 mm of 128 mm = 75% >= 50%: no coarsening.
  const auto p = plan_from_fingerprint(fingerprint_of(5, {128, 128, 128}, {1, 1, 1}, -1024), {});
  EXPECT_EQ(p.plan.patch, (std::array<int64_t, 3>{96, 96, 96}));
  EXPECT_EQ(*p.plan.preprocessing.spacing, (std::array<double, 3>{1, 1, 1}));
  EXPECT_EQ(p.crops_per_case, 2);
  EXPECT_EQ(p.plan.preprocessing.intensity, Intensity::Ct);
  // NumPy's percentile of {-100, 0, 40, 60, 80, 300}: position 0.005 * 5 = 0.025 -> -100 + 0.025 * 100 = -97.5;
  // position 4.975 -> 80 + 0.975 * 220 = 294.5.
  EXPECT_NEAR(p.plan.preprocessing.window_min, -97.5, 1e-9);
  EXPECT_NEAR(p.plan.preprocessing.window_max, 294.5, 1e-9);
  EXPECT_EQ(p.plan.network.out_channels, 3);
}

TEST(Planner, SmallImagesGetAWholeImagePatchAndALargerBatch) {
  // 40 x 50 x 30 at 2 mm: the patch is the image rounded up (48 x 64 x 32 = 98 k voxels); the budget
  // of 1.77 M voxels holds 18 such crops, capped at 8.
  const auto p = plan_from_fingerprint(fingerprint_of(3, {40, 50, 30}, {2, 2, 2}, -1024), {});
  EXPECT_EQ(p.plan.patch, (std::array<int64_t, 3>{48, 64, 32}));
  EXPECT_EQ(p.crops_per_case, 8);
}

TEST(Planner, AnisotropicAxisTakesTheTenthPercentileOfItsSpacings) {
  // In-plane 0.8 mm, slices 5 mm for 8 cases and 4 / 3 mm for two: median 5 mm is over 3 x 0.8 and
  // 40 slices are under 1/3 of 512: the slice axis takes the 10th percentile of {3, 4, 5 x 8}:
  // position 0.9 -> 3 + 0.9 * (4 - 3) = 3.9 mm.
  auto f = fingerprint_of(10, {512, 512, 40}, {0.8, 0.8, 5}, -1024);
  f.cases[0].spacing[2] = 3;
  f.cases[1].spacing[2] = 4;
  PlannerSettings s;
  s.min_context = 0;
  const auto p = plan_from_fingerprint(f, s);
  EXPECT_NEAR(p.full_resolution_spacing[2], 3.9, 1e-9);
  EXPECT_NEAR(p.full_resolution_spacing[0], 0.8, 1e-12);
  // A volume with thick slices but as many of them as in-plane voxels is not anisotropic by rule 1.
  auto thick = fingerprint_of(4, {100, 100, 100}, {1, 1, 5}, -1024);
  EXPECT_NEAR(plan_from_fingerprint(thick, s).full_resolution_spacing[2], 5.0, 1e-12);
}

TEST(Planner, TooLittleContextCoarsensTheSpacingUntilThePatchSpansHalfTheImage) {
  // 400 mm cubes at 1 mm: a 96^3 patch spans 24% of each axis. Coarsening by 1.05^k: the patch stays
  // 96 while the median size exceeds it, so the field of view is 96 * 1.05^k mm >= 200 mm first at
  // k = 16 (1.05^16 = 2.18; 1.05^15 = 2.08 gives 199.6 mm).
  const auto f = fingerprint_of(5, {400, 400, 400}, {1, 1, 1}, -1024);
  const auto p = plan_from_fingerprint(f, {});
  const auto& spacing = *p.plan.preprocessing.spacing;
  EXPECT_NEAR(spacing[0], std::pow(1.05, 16), 1e-9);
  for (int a = 0; a < 3; ++a) EXPECT_GE(p.plan.patch[a] * spacing[a], 200.0 - 1e-6);
  // Without the rule: full resolution, 96 mm.
  PlannerSettings off;
  off.min_context = 0;
  EXPECT_NEAR((*plan_from_fingerprint(f, off).plan.preprocessing.spacing)[0], 1.0, 1e-12);
  // With a cap on coarsening: stops at the cap and says so.
  PlannerSettings capped;
  capped.max_coarsening = 1.5;
  const auto c = plan_from_fingerprint(f, capped);
  EXPECT_LE((*c.plan.preprocessing.spacing)[0], 1.5);
  EXPECT_NE(c.reasons[2].find("still short"), std::string::npos) << c.reasons[2];
}

TEST(Planner, ImagesWithoutAirAreNormalisedPerImage) {
  const auto p = plan_from_fingerprint(fingerprint_of(4, {64, 64, 64}, {1, 1, 1}, 0), {});
  EXPECT_EQ(p.plan.preprocessing.intensity, Intensity::ZScore);
  PlannerSettings ct;
  ct.modality = Modality::Ct;
  EXPECT_EQ(plan_from_fingerprint(fingerprint_of(4, {64, 64, 64}, {1, 1, 1}, 0), ct).plan.preprocessing.intensity, Intensity::Ct);
}

TEST(Planner, FingerprintOfRealFilesAndAPlanWithContextForAPositionTask) {
  // The context task (organs that differ by position and shape, not intensity): its planned field of
  // view must span at least half of the body, which the demo's 48^3 patch at 2 mm did not.
  test::TempDir dir;
  const std::string json = write_context_dataset(dir.file("data"), 4, 5);
  const Dataset d = load_dataset(json);
  const DatasetFingerprint f = fingerprint_dataset(d, 2);
  ASSERT_EQ(f.cases.size(), d.training.size() + d.validation.size());
  for (size_t i = 0; i < f.cases.size(); ++i) {
    const Volume image = read_volume(f.cases[i].image);
    // Spacing as the file gives it: the context cases are flipped along axes, never permuted, so the
    // file's axes are already R, A, S.
    EXPECT_EQ(f.cases[i].spacing, image.spacing());
    EXPECT_EQ(f.cases[i].shape, image.spatial_shape());
    EXPECT_DOUBLE_EQ(f.cases[i].image_min, image.data.min().item<double>());
  }
  const auto p = plan_from_fingerprint(f, {}, d.class_names);
  const auto& spacing = *p.plan.preprocessing.spacing;
  for (int a = 0; a < 3; ++a) EXPECT_GE(p.plan.patch[a] * spacing[a], 0.5 * p.median_extent_mm[a] - 1e-6) << a;
  EXPECT_EQ(p.plan.class_names, d.class_names);
  // The plan file reads back as a Plan, with its training notes.
  const PlannedTraining read_back = planned_training_from_json(to_json(p));
  const Plan& back = read_back.plan;
  EXPECT_EQ(read_back.crops_per_case, p.crops_per_case);
  EXPECT_EQ(read_back.reasons, p.reasons);
  EXPECT_EQ(back.patch, p.plan.patch);
  EXPECT_EQ(to_json(back.preprocessing), to_json(p.plan.preprocessing));
}
