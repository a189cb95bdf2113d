// The Winograd F(2,3) and F(4,3) convolutions against LibTorch's convolution in float64, and the network
// with them against the network without them.
#include "repux/nn/unetr_blocks.h"
#include "repux/nn/winograd_conv3d.h"
#include "fixture_networks.h"
#include "test_util.h"

#include <gtest/gtest.h>

namespace {

using repux::test::relative_error;

torch::Tensor float64_reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::conv3d(x.to(torch::kFloat64), w.to(torch::kFloat64), b.defined() ? b.to(torch::kFloat64) : b, 1, 1);
}

struct Shape {
  int64_t batch, in, out, depth, height, width;
};

// Sizes below one tile and one block, odd sizes (partly filled last tiles), rows of tiles that take
// blocks of 8, 16 and 24 tiles (and leave the last block partly empty), rows of 3, 6 and 12 tiles (the
// layer-wide schedule's whole-row blocks), and channel counts that do not fill the kernels' groups of rows.
const Shape kShapes[] = {{1, 1, 1, 1, 1, 1},   {1, 3, 5, 3, 4, 5},    {2, 7, 13, 9, 8, 33},   {1, 16, 12, 6, 7, 64},
                         {1, 5, 7, 17, 5, 31}, {1, 4, 9, 5, 6, 96},   {1, 6, 5, 7, 3, 190},   {1, 5, 6, 4, 5, 24},
                         {2, 3, 4, 6, 6, 12}};

using Schedule = repux::WinogradSchedule;
const Schedule kSchedules[] = {Schedule::Blocked, Schedule::LayerWide};

struct ConvChoice {
  int tile;
  Schedule schedule;
  bool operator==(const ConvChoice& o) const { return tile == o.tile && schedule == o.schedule; }
};
std::ostream& operator<<(std::ostream& os, const ConvChoice& c) {
  return os << "F(" << c.tile << ",3) " << (c.schedule == Schedule::LayerWide ? "layer-wide" : "blocked");
}

// The relative error (L2) against float64 allowed per tile: F(2,3)'s matrices hold only 0, +-1 and +-1/2;
// F(4,3)'s hold up to 5 and 1/24 and round more (measured: 2.4e-6 to 3.0e-6 on these shapes, against
// 1.5e-6 for F(2,3)).
double allowed_error(int tile) { return tile == 4 ? 5e-6 : 2e-6; }

void expect_matches_float64(bool with_bias, int tile) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  for (const Shape& s : kShapes) {
    const auto x = torch::randn({s.batch, s.in, s.depth, s.height, s.width});
    const auto w = torch::randn({s.out, s.in, 3, 3, 3});
    const auto b = with_bias ? torch::randn({s.out}) : torch::Tensor();
    const auto expected = float64_reference(x, w, b);
    for (Schedule schedule : kSchedules) {
      const auto got = repux::winograd_conv3d(x, w, b, tile, schedule);
      ASSERT_EQ(got.sizes(), expected.sizes());
      EXPECT_LT(relative_error(got, expected), allowed_error(tile))
          << "F(" << tile << ",3) " << (schedule == Schedule::LayerWide ? "layer-wide " : "blocked ") << s.in << "->" << s.out << " "
          << s.depth << "x" << s.height << "x" << s.width;
    }
  }
}

TEST(WinogradConv3d, MatchesFloat64ConvolutionWithAndWithoutBias) {
  for (int tile : {2, 4}) {
    expect_matches_float64(true, tile);
    expect_matches_float64(false, tile);
  }
}

TEST(WinogradConv3d, PortableKernelMatchesFloat64) {
  repux::winograd_force_portable_kernel(true);
  for (int tile : {2, 4}) expect_matches_float64(true, tile);
  repux::winograd_force_portable_kernel(false);
}

// Every 3x3x3 shape of the full-size network (channels as there, a small volume: the error grows with the
// channels summed, not with the volume), inputs and weights scaled as in a trained network (unit-variance
// activations, Kaiming-uniform weights): F(4,3)'s error against float64 stays within a few times that of
// LibTorch's own float32 convolution; F(2,3)'s within 2e-6 everywhere, F(4,3)'s under 1e-5 up to the 96 input
// channels where it is chosen (it rounds more as more channels are summed: measured 1e-5 to 2e-5 above).
TEST(WinogradConv3d, EveryNetworkShapeWithinFloat32RoundingOfFloat64) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  const std::pair<int64_t, int64_t> shapes[] = {{1, 48},    {48, 48},   {96, 48},   {48, 96},   {96, 96},
                                                {192, 96},  {96, 192},  {192, 192}, {384, 192}, {192, 384},
                                                {384, 384}, {768, 384}, {384, 768}, {768, 768}};
  for (const auto& [in, out] : shapes) {
    const auto x = torch::randn({1, in, 8, 8, 8});
    const auto w = (torch::rand({out, in, 3, 3, 3}) * 2 - 1) / std::sqrt(27.0 * in);
    const auto expected = float64_reference(x, w, {});
    const double libtorch = relative_error(torch::conv3d(x, w, {}, 1, 1), expected);
    const double f2 = relative_error(repux::winograd_conv3d(x, w, {}, 2, Schedule::Blocked), expected);
    const double f2_layer_wide = relative_error(repux::winograd_conv3d(x, w, {}, 2, Schedule::LayerWide), expected);
    const double f4 = std::max(relative_error(repux::winograd_conv3d(x, w, {}, 4, Schedule::Blocked), expected),
                               relative_error(repux::winograd_conv3d(x, w, {}, 4, Schedule::LayerWide), expected));
    std::printf("%lld -> %lld: F(2,3) %.2e (layer-wide %.2e), F(4,3) %.2e (the larger of its schedules), LibTorch float32 %.2e\n", (long long)in, (long long)out, f2,
                f2_layer_wide, f4, libtorch);
    EXPECT_LT(f2, 2e-6) << in << " -> " << out;
    EXPECT_LT(f2_layer_wide, 2e-6) << in << " -> " << out;
    const bool f4_chosen = repux::winograd_conv3d_tile(torch::empty({1, in, 96, 96, 96}), w) == 4;
    EXPECT_EQ(f4_chosen, in <= 96) << in << " -> " << out;
    if (f4_chosen) EXPECT_LT(f4, 1e-5) << in << " -> " << out;
  }
}

TEST(WinogradConv3d, NonContiguousInput) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 9, 10, 11, 4}).permute({0, 4, 1, 2, 3});  // [1, 4, 9, 10, 11], strided
  const auto w = torch::randn({6, 4, 3, 3, 3});
  EXPECT_LT(relative_error(repux::winograd_conv3d(x, w), float64_reference(x, w, {})), allowed_error(4));
}

TEST(WinogradConv3d, AppliesOnlyWithoutGradientsToCpuFloat32ThreeCubedKernels) {
  const auto x = torch::randn({1, 4, 32, 32, 32});
  const auto w = torch::randn({4, 4, 3, 3, 3}).requires_grad_();
  EXPECT_FALSE(repux::winograd_conv3d_applies(x, w));  // autograd wants the weight's gradient
  const auto bias = torch::zeros({4}).requires_grad_();
  EXPECT_FALSE(repux::winograd_conv3d_applies(x, w.detach(), bias));  // or the bias's
  EXPECT_TRUE(repux::winograd_conv3d_applies(x, w.detach(), bias.detach()));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(repux::winograd_conv3d_applies(x, w));
  EXPECT_TRUE(repux::winograd_conv3d_pays(x, w));
  EXPECT_FALSE(repux::winograd_conv3d_applies(x.to(torch::kFloat64), w));
  EXPECT_FALSE(repux::winograd_conv3d_applies(x, torch::randn({4, 4, 1, 1, 1})));
  EXPECT_FALSE(repux::winograd_conv3d_pays(x.narrow(2, 0, 8), w));  // small volumes stay with LibTorch
  EXPECT_EQ(repux::winograd_conv3d_tile(x, w), 2);
  EXPECT_EQ(repux::winograd_conv3d_tile(torch::empty({1, 4, 48, 48, 48}), w), 4);
}

// The schedule follows the shape: blocked where a block's transformed input shares the transformed
// weight among many tiles, layer-wide where few voxels meet many channels (the weight read once), and
// LibTorch below 6^3; a tile the rule did not choose runs blocked.
TEST(WinogradConv3d, LayerWideOnSmallVolumesWithManyChannels) {
  const auto conv_at = [](int64_t in, int64_t out, int64_t size) {
    const auto x = torch::empty({1, in, size, size, size});
    const auto w = torch::empty({out, in, 3, 3, 3});
    const int tile = repux::winograd_conv3d_tile(x, w);
    const ConvChoice f{tile, tile == 0 ? Schedule::Blocked : repux::winograd_conv3d_schedule(x, {{}, out, in, tile})};
    return f;
  };
  torch::NoGradGuard no_grad;
  EXPECT_EQ(conv_at(48, 48, 96), (ConvChoice{4, Schedule::Blocked}));
  EXPECT_EQ(conv_at(192, 192, 24), (ConvChoice{2, Schedule::Blocked}));
  EXPECT_EQ(conv_at(384, 192, 24), (ConvChoice{2, Schedule::LayerWide}));
  EXPECT_EQ(conv_at(768, 384, 12), (ConvChoice{2, Schedule::LayerWide}));
  EXPECT_EQ(conv_at(96, 192, 24), (ConvChoice{4, Schedule::LayerWide}));
  EXPECT_EQ(conv_at(768, 768, 6), (ConvChoice{2, Schedule::LayerWide}));
  EXPECT_EQ(conv_at(768, 768, 4), (ConvChoice{0, Schedule::Blocked}));
  EXPECT_EQ(repux::winograd_conv3d_schedule(torch::empty({1, 384, 24, 24, 24}), {{}, 192, 384, 4}), Schedule::Blocked);
}

// The transformed weight is cached by the conv module: it must follow in-place changes of the weight
// (an optimizer step, a loaded checkpoint) and not serve a stale one.
TEST(WinogradConv3d, ConvModuleFollowsWeightChanges) {
  repux::ConvHolder conv(6, 5, 3, /*bias=*/true);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 6, 32, 32, 32});
  ASSERT_TRUE(repux::winograd_conv3d_pays(x, conv->conv->weight));
  for (int change = 0; change < 2; ++change) {
    const auto expected = float64_reference(x, conv->conv->weight, conv->conv->bias);
    EXPECT_LT(relative_error(conv(x), expected), allowed_error(repux::winograd_conv3d_tile(x, conv->conv->weight))) << "after change " << change;
    conv->conv->weight.mul_(-0.5);
  }
}

// A whole RepUX-Net whose finest level (dims[0] channels at full resolution) takes the Winograd path,
// against the same network with every convolution in LibTorch.
TEST(WinogradConv3d, NetworkOutputEqualsLibTorchConvolutions) {
  torch::manual_seed(5);
  auto net = repux::create_network(repux::test::reduced_repuxnet());
  net->eval();
  net->deploy();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 1, 64, 64, 32});
  const int64_t finest = repux::test::reduced_repuxnet().dims[0];
  ASSERT_TRUE(repux::winograd_conv3d_pays(torch::empty({1, 2 * finest, 64, 64, 32}), torch::empty({finest, 2 * finest, 3, 3, 3})));
  const auto with_winograd = net->forward(x);
  repux::winograd_set_enabled(false);
  const auto libtorch = net->forward(x);
  repux::winograd_set_enabled(true);
  EXPECT_LT(relative_error(with_winograd, libtorch), 1e-5);
}

}  // namespace
