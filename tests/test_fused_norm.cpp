// The fused instance norm + LeakyReLU (+ residual) against LibTorch's own ops, and the UNETR residual block
// with it (inference) against the same block with autograd on (LibTorch's ops).
#include "repux/nn/fused_norm.h"
#include "repux/nn/unetr_blocks.h"
#include "test_util.h"

#include <gtest/gtest.h>

namespace {

using repux::test::relative_error;

torch::Tensor reference_norm(const torch::Tensor& x) {
  return torch::instance_norm(x.to(torch::kFloat64), {}, {}, {}, {}, true, 0.1, 1e-5, false);
}

// Channels with a large mean against their spread (the shifted sums keep the variance's digits), a
// constant channel (variance 0: eps alone), odd voxel counts (the lanes' remainder), several items.
torch::Tensor awkward_input(std::vector<int64_t> sizes) {
  auto x = torch::randn(sizes);
  x.select(1, 0).mul_(0.01).add_(300.0);
  x.select(1, 1).fill_(2.5);
  return x;
}

TEST(FusedNorm, InstanceNormLeakyReluMatchesLibTorchInFloat64) {
  torch::manual_seed(2);
  torch::NoGradGuard no_grad;
  for (const std::vector<int64_t>& sizes : {std::vector<int64_t>{1, 3, 5, 7, 9}, {2, 4, 17, 16, 33}}) {
    auto x = awkward_input(sizes);
    const auto expected = torch::leaky_relu(reference_norm(x), 0.01);
    repux::instance_norm_lrelu_(x, 0.01);
    EXPECT_LT(relative_error(x, expected), 2e-6);
  }
  // One voxel a channel normalises to exactly 0 (LibTorch's float32 gives -2.3e-3 for the value 300).
  auto single = awkward_input({1, 2, 1, 1, 1});
  repux::instance_norm_lrelu_(single, 0.01);
  EXPECT_EQ(single.abs().max().item<float>(), 0.0f);
}

TEST(FusedNorm, ResidualAddedNormalisedOrAsIs) {
  torch::manual_seed(4);
  torch::NoGradGuard no_grad;
  const std::vector<int64_t> sizes{2, 3, 9, 10, 11};
  for (bool normalise_residual : {true, false}) {
    auto x = awkward_input(sizes);
    const auto residual = torch::randn(sizes) * 3 + 1;
    const auto r = residual.to(torch::kFloat64);
    const auto expected = torch::leaky_relu(reference_norm(x) + (normalise_residual ? reference_norm(r) : r), 0.01);
    repux::instance_norm_add_lrelu_(x, residual, normalise_residual, 0.01);
    EXPECT_LT(relative_error(x, expected), 2e-6) << normalise_residual;
  }
}

TEST(FusedNorm, RefusedWhereItCannotStandIn) {
  const auto x = torch::randn({1, 2, 4, 4, 4});
  EXPECT_TRUE(repux::fused_norm_applies(x));
  EXPECT_FALSE(repux::fused_norm_applies(x.to(torch::kFloat64)));
  EXPECT_FALSE(repux::fused_norm_applies(x.transpose(2, 4)));
  EXPECT_FALSE(repux::fused_norm_applies(x.clone().requires_grad_()));
  auto strided = x.transpose(2, 4);
  EXPECT_THROW(repux::instance_norm_lrelu_(strided, 0.01), c10::Error);
}

// The block at inference (fused) against the block with autograd on (LibTorch's instance_norm, add and
// leaky_relu): with and without the 1x1 residual convolution.
TEST(FusedNorm, ResidualBlockEqualsLibTorchPath) {
  torch::manual_seed(6);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{3, 5}, {4, 4}}) {
    repux::UnetResBlock block(in, out);
    const auto x = torch::randn({1, in, 10, 9, 8});
    const auto libtorch = block(x).detach();  // parameters require grad: LibTorch's ops
    torch::NoGradGuard no_grad;
    EXPECT_LT(relative_error(block(x), libtorch), 1e-5) << in << " -> " << out;
  }
}

}  // namespace
