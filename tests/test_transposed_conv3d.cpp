// The stride-2 transposed convolution of the UNETR decoder against LibTorch's in float64.
#include "repux/nn/transposed_conv3d.h"
#include "repux/nn/unetr_blocks.h"
#include "repux/nn/winograd_conv3d.h"
#include "test_util.h"

#include <gtest/gtest.h>

namespace {

using repux::test::relative_error;

torch::Tensor float64_reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::conv_transpose3d(x.to(torch::kFloat64), w.to(torch::kFloat64), b.defined() ? b.to(torch::kFloat64) : b, 2);
}

// Rows shorter than a block, rows that take blocks of 8, 16 and 24 voxels and leave the last one partly
// empty, a batch of two, and output channel counts that do not fill the kernel's groups of rows.
TEST(TransposedConv3d, MatchesFloat64WithAndWithoutBias) {
  struct Shape {
    int64_t batch, in, out, depth, height, width;
  };
  const Shape shapes[] = {{1, 1, 1, 1, 1, 1}, {1, 3, 5, 2, 3, 7}, {2, 7, 13, 3, 4, 17}, {1, 16, 12, 2, 2, 48}, {1, 5, 7, 3, 2, 50}};
  torch::manual_seed(4);
  torch::NoGradGuard no_grad;
  for (const Shape& s : shapes) {
    const auto x = torch::randn({s.batch, s.in, s.depth, s.height, s.width});
    const auto w = torch::randn({s.in, s.out, 2, 2, 2});
    for (const bool with_bias : {false, true}) {
      const auto b = with_bias ? torch::randn({s.out}) : torch::Tensor();
      const auto expected = float64_reference(x, w, b);
      const auto got = repux::stride2_transposed_conv3d(x, w, b);
      ASSERT_EQ(got.sizes(), expected.sizes());
      EXPECT_LT(relative_error(got, expected), 2e-6) << s.in << " -> " << s.out << " " << s.depth << "x" << s.height << "x" << s.width;
    }
  }
}

TEST(TransposedConv3d, PortableKernelMatchesFloat64) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 9, 3, 4, 21});
  const auto w = torch::randn({9, 6, 2, 2, 2});
  repux::winograd_force_portable_kernel(true);
  const auto got = repux::stride2_transposed_conv3d(x, w);
  repux::winograd_force_portable_kernel(false);
  EXPECT_LT(relative_error(got, float64_reference(x, w, {})), 2e-6);
}

TEST(TransposedConv3d, AppliesOnlyWithoutGradientsToCpuFloat32TwoCubedKernels) {
  const auto x = torch::randn({1, 4, 24, 24, 24});
  const auto w = torch::randn({4, 3, 2, 2, 2}).requires_grad_();
  EXPECT_FALSE(repux::stride2_transposed_conv3d_applies(x, w));
  EXPECT_TRUE(repux::stride2_transposed_conv3d_pays(x, w.detach()));
  EXPECT_FALSE(repux::stride2_transposed_conv3d_pays(x.narrow(2, 0, 12), w.detach()));  // small volumes stay with LibTorch
  EXPECT_FALSE(repux::stride2_transposed_conv3d_applies(x, torch::randn({3, 4, 2, 2, 2})));  // channels do not match
  EXPECT_FALSE(repux::stride2_transposed_conv3d_applies(x, torch::randn({4, 3, 3, 3, 3})));
  EXPECT_FALSE(repux::stride2_transposed_conv3d_applies(x.to(torch::kFloat64), w.detach()));
  EXPECT_THROW(repux::stride2_transposed_conv3d(x, torch::randn({4, 3, 3, 3, 3})), c10::Error);
}

// The decoder's up-sampling module takes the path where it pays, and its output is LibTorch's.
TEST(TransposedConv3d, UpsamplingModuleEqualsLibTorch) {
  repux::ConvHolder up(8, 4, 2, /*bias=*/false, /*transposed=*/true);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 8, 24, 24, 32});
  ASSERT_TRUE(repux::stride2_transposed_conv3d_pays(x, up->transposed_conv->weight));
  const auto ours = up(x);
  repux::winograd_set_enabled(false);
  const auto libtorch = up(x);
  repux::winograd_set_enabled(true);
  EXPECT_LT(relative_error(ours, float64_reference(x, up->transposed_conv->weight, {})), 2e-6);
  EXPECT_LT(relative_error(ours, libtorch), 2e-6);
}

}  // namespace
