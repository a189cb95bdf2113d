// The Winograd F(2,3) convolution against LibTorch's convolution in float64, and the network with it
// against the network without it.
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

// Sizes below one block of 16 tiles, odd sizes (a half-filled last tile), exactly two blocks, and
// channel counts that do not fill the kernel's groups of 6 rows.
const Shape kShapes[] = {{1, 1, 1, 1, 1, 1}, {1, 3, 5, 3, 4, 5}, {2, 7, 13, 9, 8, 33}, {1, 16, 12, 6, 7, 64}, {1, 5, 7, 17, 5, 31}};

void expect_matches_float64(bool with_bias) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  for (const Shape& s : kShapes) {
    const auto x = torch::randn({s.batch, s.in, s.depth, s.height, s.width});
    const auto w = torch::randn({s.out, s.in, 3, 3, 3});
    const auto b = with_bias ? torch::randn({s.out}) : torch::Tensor();
    const auto expected = float64_reference(x, w, b);
    const auto got = repux::winograd_conv3d(x, w, b);
    ASSERT_EQ(got.sizes(), expected.sizes());
    // float32 direct convolution is within ~1e-7 relative here; the transforms add a few roundings.
    EXPECT_LT(relative_error(got, expected), 2e-6) << s.in << "->" << s.out << " " << s.depth << "x" << s.height << "x" << s.width;
  }
}

TEST(WinogradConv3d, MatchesFloat64ConvolutionWithAndWithoutBias) {
  expect_matches_float64(true);
  expect_matches_float64(false);
}

TEST(WinogradConv3d, PortableKernelMatchesFloat64) {
  repux::winograd_force_portable_kernel(true);
  expect_matches_float64(true);
  repux::winograd_force_portable_kernel(false);
}

TEST(WinogradConv3d, NonContiguousInput) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 9, 10, 11, 4}).permute({0, 4, 1, 2, 3});  // [1, 4, 9, 10, 11], strided
  const auto w = torch::randn({6, 4, 3, 3, 3});
  EXPECT_LT(relative_error(repux::winograd_conv3d(x, w), float64_reference(x, w, {})), 2e-6);
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
    EXPECT_LT(relative_error(conv(x), expected), 2e-6) << "after change " << change;
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
