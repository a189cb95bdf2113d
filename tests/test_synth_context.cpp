// The context task's promise, checked on generated cases in world (RAS) coordinates: the two organs
// have the same intensity, lie on either side of the landmark 45-60 mm from it, and nothing but that
// side tells them apart; and the program writes it as a dataset.
#include "repux/data/synth_context.h"
#include "test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace repux;

namespace {

// World (RAS, mm) centroid of the voxels labelled `k`.
torch::Tensor world_centroid(const SynthCase& c, int64_t k) {
  const torch::Tensor voxels = torch::nonzero(c.label.data == k).to(torch::kFloat64);  // [n, 3]
  const torch::Tensor mean = voxels.mean(0);
  return torch::matmul(c.image.affine.slice(0, 0, 3).slice(1, 0, 3), mean) + c.image.affine.slice(0, 0, 3).select(1, 3);
}

double mean_hu(const SynthCase& c, int64_t k) { return c.image.data.masked_select(c.label.data == k).mean().item<double>(); }

}  // namespace

TEST(SynthContext, OrgansAreAlikeAndLieOnEitherSideOfTheLandmark) {
  std::vector<double> landmark_x;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const SynthCase c = make_context_case(seed);
    ASSERT_TRUE(torch::equal(c.image.affine, c.label.affine));
    const auto right = world_centroid(c, 1), left = world_centroid(c, 2), landmark = world_centroid(c, 3);
    const double lx = landmark[0].item<double>();
    landmark_x.push_back(lx);
    EXPECT_LT(right[0].item<double>(), lx) << "seed " << seed;
    EXPECT_GT(left[0].item<double>(), lx) << "seed " << seed;
    for (const auto& organ : {right, left}) {
      const double distance = std::abs(organ[0].item<double>() - lx);
      EXPECT_GT(distance, 40) << "seed " << seed;
      EXPECT_LT(distance, 65) << "seed " << seed;
    }
    // Alike in intensity (the same 55 +- 3 HU with the same noise), unlike the landmark.
    EXPECT_NEAR(mean_hu(c, 1), mean_hu(c, 2), 8) << "seed " << seed;
    EXPECT_GT(mean_hu(c, 3), 500);
  }
  // The landmark moves from case to case: absolute position does not give the class away.
  const auto [lo, hi] = std::minmax_element(landmark_x.begin(), landmark_x.end());
  EXPECT_GT(*hi - *lo, 15);
}

TEST(SynthContext, CommandWritesTheTaskAsADataset) {
  test::TempDir dir;
  const auto r = test::run_repux("synth --task context -n 2 -o " + dir.file("ctx"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ds = nlohmann::json::parse(std::ifstream(dir.file("ctx/dataset.json")));
  EXPECT_EQ(ds.at("labels").at("1"), "organ_right");
  EXPECT_EQ(ds.at("labels").at("3"), "landmark");
  EXPECT_EQ(ds.at("training").size(), 2u);
  const auto bad = test::run_repux("synth --task nothing -o " + dir.file("x"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("context"), std::string::npos) << bad.output;
}
