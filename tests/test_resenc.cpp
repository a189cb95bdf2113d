// nnU-Net's ResEnc as repux's third architecture: its parameters against a hand count of the layout
// (nn/resenc_unet.h), its output and stage shapes, its model files, and the configuration errors a
// user can make. Also the structural re-parameterisation the ablation compares it with: the merged
// kernel computes what the two parallel branches compute (float64).
#include "repux/model/model_file.h"
#include "repux/nn/segmenter.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace repux;
using repux::test::TempDir;

namespace {

// Parameters of a layer, counted by hand: a k^3 convolution with bias, an affine instance norm.
int64_t conv(int64_t in, int64_t out, int64_t k) { return in * out * k * k * k + out; }
int64_t norm(int64_t c) { return 2 * c; }
int64_t residual_block(int64_t in, int64_t out) {
  const int64_t projection = in != out ? conv(in, out, 1) + norm(out) : 0;
  return conv(in, out, 3) + norm(out) + conv(out, out, 3) + norm(out) + projection;
}

int64_t hand_count(int64_t in, int64_t classes, const std::vector<int64_t>& f, const std::vector<int64_t>& blocks) {
  int64_t n = conv(in, f[0], 3) + norm(f[0]);  // stem
  for (size_t s = 0; s < f.size(); ++s) {
    n += residual_block(s == 0 ? f[0] : f[s - 1], f[s]);
    n += (blocks[s] - 1) * residual_block(f[s], f[s]);
  }
  for (size_t s = f.size() - 1; s > 0; --s) {
    n += f[s] * f[s - 1] * 8 + f[s - 1];              // 2x2x2 transposed conv with bias
    n += conv(2 * f[s - 1], f[s - 1], 3) + norm(f[s - 1]);  // one conv-norm-act after the concatenation
  }
  return n + conv(f[0], classes, 1);
}

NetworkConfig small_resenc() {
  NetworkConfig c;
  c.arch = "resenc";
  c.in_channels = 2;
  c.out_channels = 3;
  c.dims = {4, 8, 16, 16, 24};
  c.depths = {1, 2, 1, 2, 1};
  return c;
}

}  // namespace

TEST(ResEnc, DefaultsAreResEncMAndItsParametersMatchAHandCount) {
  NetworkConfig c;
  c.arch = "resenc";
  c.out_channels = 14;
  const NetworkConfig r = c.resolved();
  EXPECT_EQ(r.dims, (std::vector<int64_t>{32, 64, 128, 256, 320}));
  EXPECT_EQ(r.depths, (std::vector<int64_t>{1, 3, 4, 6, 6}));
  EXPECT_EQ(*r.reparam, Reparam::None);
  auto net = create_network(c);
  EXPECT_EQ(parameter_count(*net), hand_count(1, 14, r.dims, r.depths));
  EXPECT_EQ(parameter_count(*create_network(small_resenc())), hand_count(2, 3, {4, 8, 16, 16, 24}, {1, 2, 1, 2, 1}));
}

TEST(ResEnc, OutputAndStageShapes) {
  torch::manual_seed(0);
  auto net = create_network(small_resenc());
  const auto x = torch::randn({2, 2, 32, 48, 16});
  EXPECT_EQ(net->forward(x).sizes(), torch::IntArrayRef({2, 3, 32, 48, 16}));
  const auto stages = net->encoder_stages(x);
  ASSERT_EQ(stages.size(), 5u);
  const std::vector<int64_t> widths{4, 8, 16, 16, 24};
  for (size_t s = 0; s < 5; ++s) {
    EXPECT_EQ(stages[s].sizes(), torch::IntArrayRef({2, widths[s], 32 >> s, 48 >> s, 16 >> s})) << "stage " << s;
  }
}

TEST(ResEnc, ModelFileRoundTripsAndItsDescriptionIsChecked) {
  TempDir dir;
  torch::manual_seed(1);
  auto net = create_network(small_resenc());
  net->eval();
  ModelInfo info;
  info.plan.network = small_resenc();
  info.plan.patch = {32, 32, 32};
  save_model(net, info, dir.file("resenc.repux"));
  LoadedModel loaded = load_model(dir.file("resenc.repux"));
  EXPECT_EQ(loaded.info.plan.network.arch, "resenc");
  const auto x = torch::randn({1, 2, 32, 32, 32});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(loaded.net->forward(x), net->forward(x), 1e-5, 1e-5));

  info.plan.network.depths = {1, 2, 1, 1, 1};  // the weights hold two blocks in stage 3
  net->config = info.plan.network;
  save_model(net, info, dir.file("lies.repux"));
  const std::string error = test::error_of([&] { load_model(dir.file("lies.repux")); });
  EXPECT_NE(error.find("resenc.stages.3"), std::string::npos) << error;
}

TEST(ResEnc, LargeKernelSettingsAndWrongStageCountsAreRefused) {
  NetworkConfig c = small_resenc();
  c.kernel_sizes = {21};
  EXPECT_NE(test::error_of([&] { c.resolved(); }).find("kernel_sizes do not apply to resenc"), std::string::npos);
  c = small_resenc();
  c.reparam = Reparam::Bfr;
  EXPECT_NE(test::error_of([&] { c.resolved(); }).find("reparam bfr does not apply"), std::string::npos);
  c = small_resenc();
  c.dims = {4, 8, 16, 32};
  EXPECT_NE(test::error_of([&] { c.resolved(); }).find("dims needs 5 values for resenc"), std::string::npos);
}

TEST(StructuralReparam, MergedKernelComputesTheTwoBranchesInFloat64) {
  torch::manual_seed(2);
  LargeKernelConvOptions o;
  o.channels = 3;
  o.kernel_size = 9;
  o.reparam = Reparam::Structural;
  o.small_kernel_size = 3;
  LargeKernelConv conv(o);
  conv->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (auto& p : conv->parameters()) p.normal_();  // the small branch starts at zero; make it count
  const auto x = torch::randn({2, 3, 12, 10, 11}, torch::kFloat64);
  // The two branches as the paper draws them: a 9^3 and a 3^3 depthwise convolution, summed.
  const auto big = torch::conv3d(x, conv->weight, conv->bias, 1, 4, 1, 3);
  const auto small = torch::conv3d(x, conv->small_weight, conv->small_bias, 1, 1, 1, 3);
  const auto two_branches = big + small;
  EXPECT_LT((conv(x) - two_branches).abs().max().item<double>(), 1e-10);
  conv->deploy();  // merged into one 9^3 kernel
  EXPECT_LT((conv(x) - two_branches).abs().max().item<double>(), 1e-10);
}
