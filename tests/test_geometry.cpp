// Reorientation against nibabel's as_closest_canonical, resampling and crop/pad against world coordinates.
#include "repux/io/geometry.h"
#include "repux/io/nifti.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace repux;
using repux::test::data_path;

namespace {

// World coordinates [D,H,W,3] of every voxel centre of a grid.
torch::Tensor world_coordinates(const torch::Tensor& affine, const std::array<int64_t, 3>& shape) {
  auto grids = torch::meshgrid({torch::arange(shape[0], torch::kFloat64), torch::arange(shape[1], torch::kFloat64),
                                torch::arange(shape[2], torch::kFloat64)},
                               "ij");
  auto index = torch::stack({grids[0], grids[1], grids[2]}, -1);
  return torch::matmul(index, affine.slice(0, 0, 3).slice(1, 0, 3).t()) + affine.slice(0, 0, 3).select(1, 3);
}

// A linear function of world position: linear interpolation must reproduce it exactly.
torch::Tensor ramp(const torch::Tensor& world) {
  return 0.3 * world.select(-1, 0) - 0.7 * world.select(-1, 1) + 0.11 * world.select(-1, 2) + 5.0;
}

Volume oblique_volume(const std::array<int64_t, 3>& shape) {
  Volume v;
  v.affine = torch::tensor({-0.9, 0.1, 0.0, 30.0, -0.05, -1.3, 0.2, 12.0, 0.0, 0.15, 2.4, -7.0, 0.0, 0.0, 0.0, 1.0},
                           torch::kFloat64)
                 .reshape({4, 4});
  v.data = ramp(world_coordinates(v.affine, shape)).to(torch::kFloat32);
  return v;
}

}  // namespace

TEST(Geometry, ClosestCanonicalMatchesNibabel) {
  const auto cases = repux::test::read_json(data_path("nifti/expected.json"));
  for (const auto& c : cases) {
    SCOPED_TRACE(c["file"].get<std::string>());
    const Volume v = read_nifti(data_path("nifti/" + c["file"].get<std::string>()));
    Orientation applied;
    const Volume ras = reorient_to_ras(v, &applied);
    const auto shape = ras.spatial_shape();
    EXPECT_EQ(std::vector<int64_t>(shape.begin(), shape.end()), c["canonical_shape"].get<std::vector<int64_t>>());
    EXPECT_TRUE(torch::allclose(ras.affine, repux::test::affine_from_json(c["canonical_affine"]), 1e-6, 1e-5)) << ras.affine;
    auto want = repux::test::tensor_from_json(c["canonical_data"]);
    EXPECT_LE((ras.data.to(torch::kFloat64).flatten() - want).abs().max().item<double>(),
              1e-5 * std::max(1.0, want.abs().max().item<double>()));
    EXPECT_EQ(orientation_code(ras.affine), "RAS");
    // Undoing the reorientation gives the original voxels back exactly.
    EXPECT_TRUE(torch::equal(undo_reorientation(ras.data, applied), v.data));
  }
}

TEST(Geometry, OrientationCodes) {
  auto lps = torch::diag(torch::tensor({-1.0, -1.0, 2.0, 1.0}, torch::kFloat64));
  EXPECT_EQ(orientation_code(lps), "LPS");
  auto pir = torch::zeros({4, 4}, torch::kFloat64);
  pir[1][0] = -1.0;  // i towards P
  pir[2][1] = -1.0;  // j towards I
  pir[0][2] = 1.0;   // k towards R
  pir[3][3] = 1.0;
  EXPECT_EQ(orientation_code(pir), "PIR");
}

TEST(Geometry, ResamplingKeepsWorldCoordinatesOfVoxelCentres) {
  const std::array<int64_t, 3> shape{20, 14, 9};
  const Volume v = oblique_volume(shape);
  const Volume fine = resample_to_spacing(v, {0.6, 0.8, 1.1}, Interpolation::Linear);
  const auto fine_shape = fine.spatial_shape();
  EXPECT_EQ(fine_shape[0], std::llround(20 * 0.9055 / 0.6));
  const auto spacing = fine.spacing();
  EXPECT_NEAR(spacing[0], 0.6, 1e-12);
  EXPECT_NEAR(spacing[2], 1.1, 1e-12);
  // Inside the original extent, each new voxel holds the ramp at its own world position.
  auto world = world_coordinates(fine.affine, fine_shape);
  auto inside = torch::matmul(world - v.affine.slice(0, 0, 3).select(1, 3),
                              torch::inverse(v.affine.slice(0, 0, 3).slice(1, 0, 3)).t());
  auto mask = ((inside >= 0) & (inside <= torch::tensor({19.0, 13.0, 8.0}, torch::kFloat64))).all(-1);
  ASSERT_GT(mask.sum().item<int64_t>(), 1000);
  auto err = (fine.data.to(torch::kFloat64) - ramp(world)).abs().masked_select(mask).max().item<double>();
  EXPECT_LT(err, 1e-3);
  // And back onto the original grid.
  auto back = resample_to_grid(fine.data, fine.affine, v.affine, shape, Interpolation::Linear);
  auto interior = v.data.slice(0, 1, 18).slice(1, 1, 12).slice(2, 1, 7);
  EXPECT_LT((back.slice(0, 1, 18).slice(1, 1, 12).slice(2, 1, 7) - interior).abs().max().item<double>(), 1e-3);
}

TEST(Geometry, LabelRoundTripKeepsNearlyAllVoxels) {
  const std::array<int64_t, 3> shape{48, 40, 30};
  Volume labels = oblique_volume(shape);
  auto world = world_coordinates(labels.affine, shape);
  auto centre = world.mean({0, 1, 2});
  auto r = (world - centre).norm(2, -1);
  labels.data = (r < 10).to(torch::kFloat32) + (r < 5).to(torch::kFloat32) +
                2 * ((world.select(-1, 2) - centre[2]).abs() < 3 & (r >= 10) & (r < 16)).to(torch::kFloat32);
  const Volume coarse = resample_to_spacing(labels, {1.2, 1.7, 2.9}, Interpolation::Nearest);
  auto back = resample_to_grid(coarse.data, coarse.affine, labels.affine, shape, Interpolation::Nearest);
  const double agree = (back == labels.data).to(torch::kFloat64).mean().item<double>();
  EXPECT_GE(agree, 0.99);
  // Nearest keeps the label set: no blended values.
  EXPECT_TRUE(torch::equal(std::get<0>(torch::_unique(coarse.data, /*sorted=*/true)), torch::tensor({0.f, 1.f, 2.f})))
      << std::get<0>(torch::_unique(coarse.data, true));
}

TEST(Geometry, CropAndPadUpdateTheAffine) {
  const std::array<int64_t, 3> shape{10, 8, 6};
  const Volume v = oblique_volume(shape);
  const Volume box = crop_or_pad(v, {-2, 3, 1}, {6, 9, 3}, -1.0);
  EXPECT_EQ(box.spatial_shape(), (std::array<int64_t, 3>{6, 9, 3}));
  // Voxel (2, 0, 0) of the box is voxel (0, 3, 1) of the original, at the same world position.
  EXPECT_FLOAT_EQ(box.data[2][0][0].item<float>(), v.data[0][3][1].item<float>());
  auto world_box = world_coordinates(box.affine, box.spatial_shape());
  auto world_orig = world_coordinates(v.affine, shape);
  EXPECT_TRUE(torch::allclose(world_box[2][0][0], world_orig[0][3][1]));
  EXPECT_EQ(box.data[0][0][0].item<float>(), -1.0f);   // padded
  EXPECT_EQ(box.data[5][8][2].item<float>(), -1.0f);   // beyond j = 7
  std::array<int64_t, 3> start{}, size{};
  bounding_box(v.data > v.data.max() - 1.0, start, size);
  EXPECT_GE(size[0], 1);
}

namespace {

// Trilinear interpolation written out: each target voxel's source position, clamped to the volume,
// and the eight neighbours' weights, in float64.
torch::Tensor trilinear_by_hand(const torch::Tensor& data, const torch::Tensor& source_affine, const torch::Tensor& target_affine,
                                const std::array<int64_t, 3>& shape) {
  const auto map = torch::matmul(torch::inverse(source_affine), target_affine);
  const auto m = map.accessor<double, 2>();
  const auto d = data.accessor<double, 4>();
  auto out = torch::zeros({data.size(0), shape[0], shape[1], shape[2]}, torch::kFloat64);
  auto o = out.accessor<double, 4>();
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j)
      for (int64_t k = 0; k < shape[2]; ++k) {
        std::array<double, 3> p{};
        std::array<int64_t, 3> lo{}, hi{};
        for (int a = 0; a < 3; ++a) {
          const double n = static_cast<double>(data.size(a + 1) - 1);
          p[a] = std::clamp(m[a][0] * i + m[a][1] * j + m[a][2] * k + m[a][3], 0.0, n);
          lo[a] = std::min<int64_t>(static_cast<int64_t>(std::floor(p[a])), data.size(a + 1) - 1);
          hi[a] = std::min<int64_t>(lo[a] + 1, data.size(a + 1) - 1);
          p[a] -= static_cast<double>(lo[a]);
        }
        for (int64_t c = 0; c < data.size(0); ++c)
          for (int corner = 0; corner < 8; ++corner) {
            double w = 1.0;
            std::array<int64_t, 3> at{};
            for (int a = 0; a < 3; ++a) {
              const bool upper = corner & (1 << a);
              at[a] = upper ? hi[a] : lo[a];
              w *= upper ? p[a] : 1.0 - p[a];
            }
            o[c][i][j][k] += w * d[c][at[0]][at[1]][at[2]];
          }
      }
  return out;
}

}  // namespace

// Both ways resample_to_grid interpolates linearly: along each axis in turn when the grids' axes are
// parallel (resampling to a spacing), through grid_sample otherwise (a rotated target); targets reach
// past the source's border on every side.
TEST(Geometry, LinearResamplingEqualsTrilinearByHand) {
  torch::manual_seed(8);
  const auto data = torch::randn({2, 7, 6, 5}, torch::kFloat64);
  const auto source = torch::tensor({1.5, 0.0, 0.0, 3.0, 0.0, 0.9, 0.0, -2.0, 0.0, 0.0, 2.5, 1.0, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64).reshape({4, 4});
  auto parallel = torch::tensor({0.7, 0.0, 0.0, 1.2, 0.0, 1.3, 0.0, -3.1, 0.0, 0.0, 1.1, -0.4, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64).reshape({4, 4});
  const double c = std::cos(0.3), s = std::sin(0.3);
  auto rotated = parallel.clone();
  rotated.slice(0, 0, 3).slice(1, 0, 3).copy_(torch::matmul(
      torch::tensor({c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64).reshape({3, 3}), parallel.slice(0, 0, 3).slice(1, 0, 3)));
  const std::array<int64_t, 3> shape{17, 6, 14};
  for (const auto& target : {parallel, rotated}) {
    const auto expected = trilinear_by_hand(data, source, target, shape);
    const auto got = resample_to_grid(data, source, target, shape, Interpolation::Linear);
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-9);
    const auto got32 = resample_to_grid(data.to(torch::kFloat32), source, target, shape, Interpolation::Linear);
    EXPECT_LT((got32.to(torch::kFloat64) - expected).abs().max().item<double>(), 1e-5);
  }
}
