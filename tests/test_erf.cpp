// Effective receptive fields: a single depthwise convolution's ERF is its kernel's footprint (by hand:
// the sum over channels of |kernel| placed about the centre), the summary's radii and area ratios on a
// map whose answer is known, the ERF of random-init networks grows with their kernel size, and the
// `repux erf` command writes its picture and summary.
#include "repux/eval/erf.h"
#include "repux/nn/segmenter.h"
#include "repux/ops/lk_dwconv.h"
#include "test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace repux;

TEST(Erf, OfOneDepthwiseConvolutionIsItsKernelsFootprint) {
  torch::manual_seed(3);
  const int64_t channels = 3, k = 5, n = 11;
  // Positive kernels and inputs: positive outputs, which the ERF's ReLU lets through.
  const torch::Tensor weight = torch::rand({channels, 1, k, k, k}, torch::kFloat64) + 0.1;
  std::vector<torch::Tensor> inputs = {torch::rand({1, channels, n, n, n}, torch::kFloat64), torch::rand({1, channels, n, n, n}, torch::kFloat64)};
  for (const LkImpl impl : {LkImpl::Direct, LkImpl::Fft}) {
    const torch::Tensor map = effective_receptive_field([&](const torch::Tensor& x) { return lk_dwconv(x, weight, {}, impl); }, inputs);
    // By hand: out[c, centre] = sum_o w[c, o] x[c, centre + o - 2] > 0, so d out / d x is w about the centre.
    torch::Tensor expected = torch::zeros({n, n, n}, torch::kFloat64);
    expected.slice(0, 3, 8).slice(1, 3, 8).slice(2, 3, 8).copy_(weight.abs().sum(std::vector<int64_t>{0, 1}));
    EXPECT_TRUE(torch::allclose(map, expected, 1e-10, 1e-12)) << enum_name(impl) << ": " << (map - expected).abs().max().item<double>();
  }
}

TEST(Erf, SummaryOfAMapWithAKnownAnswer) {
  // Equal mass at the centre and 3 voxels away along one axis, in an 11^3 map.
  torch::Tensor map = torch::zeros({11, 11, 11}, torch::kFloat64);
  map[5][5][5] = 1;
  map[5][5][8] = 1;
  const ErfSummary s = summarize_erf(map, {5, 5, 5});
  EXPECT_EQ(s.radius, (std::array<int64_t, 3>{0, 0, 3}));  // 20% and 50% at the centre alone, 90% needs both
  // After log10(1 + x) and scaling both are 1: 20, 30, 50% hold in the centre voxel, 99% needs the 7^3 cube.
  EXPECT_DOUBLE_EQ(s.area_ratio[0], 1.0 / 1331);
  EXPECT_DOUBLE_EQ(s.area_ratio[2], 1.0 / 1331);
  EXPECT_DOUBLE_EQ(s.area_ratio[3], 343.0 / 1331);
  // Cubes are clipped at the map's edge: centred at a corner, the 7^3 cube keeps 4^3 voxels.
  torch::Tensor corner = torch::zeros({11, 11, 11}, torch::kFloat64);
  corner[0][0][0] = 1;
  corner[3][3][3] = 1;
  EXPECT_DOUBLE_EQ(summarize_erf(corner, {0, 0, 0}).area_ratio[3], 64.0 / 1331);
  EXPECT_EQ(erf_centre(96, 6), 55);  // stride 16: the output's centre voxel 3 covers inputs 48..63
  EXPECT_EQ(erf_centre(11, 11), 5);
  EXPECT_NE(test::error_of([] { summarize_erf(torch::zeros({4, 4, 4}, torch::kFloat64), {2, 2, 2}); }).find("zero everywhere"), std::string::npos);
  // A feature whose centre is negative in every channel has no ERF (the ReLU), and says so.
  const torch::Tensor dead = effective_receptive_field([](const torch::Tensor& x) { return -x.abs() - 1; }, {torch::randn({1, 1, 4, 4, 4})});
  EXPECT_EQ(dead.abs().sum().item<double>(), 0.0);
}

TEST(Erf, GrowsWithKernelSizeAtRandomInitialisation) {
  std::vector<int64_t> radius50;
  std::vector<double> area50;
  for (const int64_t kernel : {3, 7, 13}) {
    NetworkConfig config;
    config.arch = "repuxnet";
    config.dims = {4, 8, 16, 32};
    config.depths = {1, 1, 1, 1};
    config.kernel_sizes = {kernel};
    config.reparam = Reparam::None;
    config.hidden_size = 16;
    config.out_channels = 2;
    torch::manual_seed(1);
    Segmenter net = create_network(config.resolved());
    net->eval();
    torch::manual_seed(2);
    const std::vector<torch::Tensor> inputs = {torch::randn({1, 1, 64, 64, 64}), torch::randn({1, 1, 64, 64, 64})};
    const torch::Tensor map = effective_receptive_field([&](const torch::Tensor& x) { return net->encoder_stages(x)[1]; }, inputs);
    const int64_t c = erf_centre(64, 16);
    const ErfSummary s = summarize_erf(map, {c, c, c});
    radius50.push_back(s.radius[1]);
    area50.push_back(s.area_ratio[2]);
  }
  EXPECT_LT(radius50[0], radius50[1]) << radius50[0] << " " << radius50[1] << " " << radius50[2];
  EXPECT_LT(radius50[1], radius50[2]) << radius50[0] << " " << radius50[1] << " " << radius50[2];
  EXPECT_LT(area50[0], area50[2]);
}

TEST(Erf, CommandWritesPictureAndSummary) {
  test::TempDir dir;
  const auto r = test::run_repux("erf --arch repuxnet --dims 4 8 16 32 --depths 1 1 1 1 --kernel-sizes 7 --hidden 16 --classes 2 --size 32 "
                                 "--samples 1 --stage 3 -o " + dir.file("erf.png"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(std::filesystem::file_size(dir.file("erf.png")), 100u);
  const auto j = nlohmann::json::parse(std::ifstream(dir.file("erf.json")));
  EXPECT_EQ(j.at("stage"), 3);
  EXPECT_GE(j.at("radius_voxels").at("90%").get<int64_t>(), j.at("radius_voxels").at("50%").get<int64_t>());
  const auto bad = test::run_repux("erf --size 40 -o " + dir.file("x.png"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--size 40"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.png")));
}
