// The networks against an independent Python re-statement of the architecture (tools/make_network_fixtures.py):
// key names and shapes, parameter counts, logits; and BFR's training semantics.
#include "repux/error.h"
#include "repux/io/npy.h"
#include "repux/model/model_file.h"
#include "repux/nn/layernorm.h"
#include "repux/nn/segmenter.h"
#include "repux/nn/state_dict.h"
#include "fixture_networks.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

using namespace repux;
using repux::test::data_path;
using repux::test::reduced_repuxnet;
using repux::test::reduced_uxnet;
using repux::test::relative_error;

namespace {

NetworkConfig full(const std::string& arch, int64_t classes) {
  NetworkConfig c;
  c.arch = arch;
  c.out_channels = classes;
  return c;
}

std::map<std::string, std::string> python_keys(const std::string& file) {
  std::map<std::string, std::string> keys;
  std::ifstream in(data_path("networks/" + file));
  std::string key, shape;
  while (in >> key >> shape) keys[key] = shape;
  return keys;
}

std::string shape_text(const torch::Tensor& t) {
  std::string s;
  for (auto d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

}  // namespace

TEST(Networks, FullSizeParameterCountsMatchThePaper) {
  EXPECT_EQ(parameter_count(*create_network(full("repuxnet", 14))), 65828270);
  EXPECT_EQ(parameter_count(*create_network(full("uxnet", 14))), 53006510);
  EXPECT_EQ(parameter_count(*create_network(full("repuxnet", 5))), 65827829);
  EXPECT_EQ(parameter_count(*create_network(full("uxnet", 5))), 53006069);
}

TEST(Networks, StateDictKeysAndShapesEqualTheOfficialOnes) {
  for (const auto& [arch, file] : {std::pair{"repuxnet", "repuxnet_3d_full_keys.txt"}, std::pair{"uxnet", "uxnet_3d_full_keys.txt"}}) {
    SCOPED_TRACE(arch);
    auto net = create_network(full(arch, 14));
    const auto want = python_keys(file);
    std::map<std::string, std::string> got;
    for (const auto& [k, v] : state_dict(net, KernelForm::Raw)) got[k] = shape_text(v);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got.size(), std::string(arch) == "repuxnet" ? 115u : 131u);
  }
}

TEST(Networks, UnknownArchitectureListsTheKnownOnes) {
  try {
    create_network(full("swinunetr", 14));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("repuxnet, uxnet"), std::string::npos) << e.what();
  }
}

TEST(Networks, RepUxNetLogitsMatchPythonInDeployAndBfrModes) {
  const auto x = read_npy(data_path("networks/repuxnet_input.npy"));
  const auto want = read_npy(data_path("networks/repuxnet_logits.npy"));
  for (bool bfr_mode : {false, true}) {
    SCOPED_TRACE(bfr_mode ? "BFR training mode, W = W_official / F" : "deploy mode");
    auto m = import_official_checkpoint(data_path("networks/repuxnet_state.pth"), reduced_repuxnet(), bfr_mode);
    EXPECT_EQ(large_kernel_convs(m.net).front().second->deployed(), !bfr_mode);
    torch::NoGradGuard no_grad;
    EXPECT_LT(relative_error(m.net->forward(x), want), 1e-5);
  }
}

TEST(Networks, UxNetLogitsMatchPythonFromAWrappedCheckpoint) {
  auto m = import_official_checkpoint(data_path("networks/uxnet_state.pth"), reduced_uxnet());
  torch::NoGradGuard no_grad;
  EXPECT_LT(relative_error(m.net->forward(read_npy(data_path("networks/uxnet_input.npy"))),
                           read_npy(data_path("networks/uxnet_logits.npy"))),
            1e-5);
}

TEST(Bfr, PriorMapValues) {
  auto f = bfr_prior(21, 1.0, torch::kFloat64);
  EXPECT_DOUBLE_EQ(f[10][10][10].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(f[9][10][10].item<double>(), 0.5);
  EXPECT_NEAR(f[0][0][0].item<double>(), 1.0 / (std::sqrt(300.0) + 1.0), 1e-15);  // about 0.055
  EXPECT_NEAR(bfr_prior(5, 2.0, torch::kFloat64)[2][2][0].item<double>(), 2.0 / 4.0, 1e-15);
}

TEST(Bfr, GradientOfWIsPriorTimesGradientOfEffectiveWeight) {
  torch::manual_seed(0);
  LargeKernelConvOptions o;
  o.channels = 3;
  o.kernel_size = 9;
  o.alpha = 1.5;
  LargeKernelConv conv(o);
  auto x = torch::randn({2, 3, 6, 7, 5}, torch::kFloat64);
  conv->to(torch::kFloat64);
  auto g = torch::randn({2, 3, 6, 7, 5}, torch::kFloat64);
  (conv(x) * g).sum().backward();
  // Explicitly: dL/dW_eff from a plain convolution with W_eff = W * F, then times F.
  auto w_eff = (conv->weight.detach() * bfr_prior(9, 1.5, torch::kFloat64)).requires_grad_(true);
  (lk_dwconv(x, w_eff, conv->bias.detach(), LkImpl::Direct) * g).sum().backward();
  auto expected = w_eff.grad() * bfr_prior(9, 1.5, torch::kFloat64);
  EXPECT_LT(relative_error(conv->weight.grad(), expected), 1e-10);
}

TEST(Bfr, DeployedNetworkComputesTheSameFunction) {
  torch::manual_seed(1);
  for (const std::string reparam : {"bfr", "structural"}) {
    SCOPED_TRACE(reparam);
    auto c = reduced_repuxnet();
    c.reparam = enum_from_name<Reparam>(reparam);
    c.kernel_sizes = {9, 9, 9, 9};
    auto net = create_network(c);
    net->to(torch::kFloat64);
    net->train();
    auto x = torch::randn({2, 1, 32, 32, 32}, torch::kFloat64);
    net->forward(x);  // moves the BatchNorm running statistics away from their initial values
    net->eval();
    torch::NoGradGuard no_grad;
    auto before = net->forward(x);
    net->deploy();
    EXPECT_LT(relative_error(net->forward(x), before), 1e-6);
  }
}

TEST(Bfr, OneAdamWStepMovesEveryElementOfTheKernel) {
  torch::manual_seed(2);
  auto c = reduced_repuxnet();
  c.kernel_sizes = {7, 7, 7, 7};
  auto net = create_network(c);
  auto convs = large_kernel_convs(net);
  const auto before = convs.front().second->weight.detach().clone();
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  auto x = torch::randn({1, 1, 32, 32, 32});
  auto target = torch::randint(0, 3, {1, 32, 32, 32});
  torch::nn::functional::cross_entropy(net->forward(x), target).backward();
  opt.step();
  const auto after = convs.front().second->weight.detach();
  EXPECT_EQ((after == before).sum().item<int64_t>(), 0) << "some kernel elements did not move";
}

// The channels-first LayerNorm's hand-written backward against autograd through the textbook formula
// in float64: output and the gradients of input, weight and bias.
TEST(ChannelsFirstLayerNorm, MatchesTheFormulaInFloat64WithGradients) {
  torch::manual_seed(21);
  repux::ChannelsFirstLayerNorm norm(5, 1e-6);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(torch::randn({5}));
    norm->bias.copy_(torch::randn({5}));
  }
  const auto x64 = torch::randn({2, 5, 4, 3, 6}, torch::kFloat64) * 3 + 1;
  const auto upstream = torch::randn({2, 5, 4, 3, 6}, torch::kFloat64);
  // Reference: the formula, autograd in float64.
  auto xr = x64.clone().requires_grad_(true);
  auto wr = norm->weight.detach().to(torch::kFloat64).requires_grad_(true);
  auto br = norm->bias.detach().to(torch::kFloat64).requires_grad_(true);
  auto mean = xr.mean(1, true);
  auto var = (xr - mean).pow(2).mean(1, true);
  auto yr = (xr - mean) / torch::sqrt(var + 1e-6) * wr.view({1, -1, 1, 1, 1}) + br.view({1, -1, 1, 1, 1});
  (yr * upstream).sum().backward();

  auto x = x64.to(torch::kFloat32).requires_grad_(true);
  auto y = norm(x);
  (y.to(torch::kFloat64) * upstream).sum().backward();
  auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a.to(torch::kFloat64) - b).norm() / b.norm()).item<double>();
  };
  EXPECT_LT(rel(y.detach(), yr.detach()), 1e-5);
  EXPECT_LT(rel(x.grad(), xr.grad()), 1e-5);
  EXPECT_LT(rel(norm->weight.grad(), wr.grad()), 1e-5);
  EXPECT_LT(rel(norm->bias.grad(), br.grad()), 1e-5);

  // bf16 input: statistics in float32, output in bf16, within bf16 rounding of the reference.
  auto yb = norm(x64.to(torch::kBFloat16));
  EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
  EXPECT_LT(rel(yb.detach(), yr.detach()), 1e-2);
}
