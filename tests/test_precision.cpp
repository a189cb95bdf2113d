// bf16 autocast (mixed precision) against float32: the scope switches autocast on and restores it,
// the FFT large-kernel path computes in float32 inside it, and network outputs and gradients stay
// close to float32. Run on the CPU (bf16 kernels) and, where present, on CUDA.
#include "fixture_networks.h"
#include "cpu_features.h"
#include "test_util.h"
#include "repux/error.h"
#include "repux/nn/autocast.h"
#include "repux/ops/lk_dwconv.h"
#include "repux/train/loss.h"
#include "repux/train/training_step.h"

#include <gtest/gtest.h>

using namespace repux;

namespace {

std::vector<torch::Device> devices() {
  std::vector<torch::Device> d{torch::kCPU};
  if (torch::cuda::is_available()) d.emplace_back(torch::kCUDA);
  return d;
}

double relative_l2(const torch::Tensor& a, const torch::Tensor& reference) {
  const auto r = reference.to(torch::kFloat64);
  return (a.to(torch::kFloat64) - r).norm().item<double>() / r.norm().item<double>();
}

torch::Tensor flat_gradients(Segmenter& net) {
  std::vector<torch::Tensor> g;
  for (const auto& p : net->parameters()) g.push_back(p.grad().flatten().to(torch::kFloat64).cpu());
  return torch::cat(g);
}

}  // namespace

TEST(Precision, ScopeEnablesBf16AndRestoresTheState) {
  for (const auto& device : devices()) {
    auto a = torch::randn({8, 8}, torch::TensorOptions().device(device));
    {
      AutocastScope amp(device.type(), Precision::BFloat16);
      EXPECT_EQ(torch::matmul(a, a).scalar_type(), torch::kBFloat16) << device;
      {
        AutocastScope nested(device.type(), Precision::Float32);  // fp32 scope leaves autocast as it is
        EXPECT_EQ(torch::matmul(a, a).scalar_type(), torch::kBFloat16) << device;
      }
    }
    EXPECT_EQ(torch::matmul(a, a).scalar_type(), torch::kFloat32) << device;
  }
  EXPECT_EQ(enum_from_name<Precision>("bf16"), Precision::BFloat16);
  EXPECT_EQ(enum_from_name<Precision>("float32"), Precision::Float32);
  EXPECT_EQ(enum_name(Precision::Float32), "fp32");
  EXPECT_THROW(enum_from_name<Precision>("fp16"), Error);
}

TEST(Precision, FftLargeKernelPathComputesInFloat32UnderAutocast) {
  for (const auto& device : devices()) {
    torch::manual_seed(3);
    const auto opts = torch::TensorOptions().device(device);
    auto x = torch::randn({1, 4, 20, 18, 16}, opts).to(torch::kBFloat16);
    auto w = torch::randn({4, 1, 21, 21, 21}, opts) * 0.05;
    auto b = torch::randn({4}, opts);
    torch::Tensor y;
    {
      AutocastScope amp(device.type(), Precision::BFloat16);
      y = lk_dwconv(x, w, b, LkImpl::Fft);
    }
    // Reference: the same bf16 input in float64. Only the final rounding to bf16 (about 2e-3 rms)
    // may separate them; a transform computed in bf16 would be an order of magnitude further off.
    auto ref = lk_dwconv(x.to(torch::kFloat64), w.to(torch::kFloat64), b.to(torch::kFloat64), LkImpl::Direct);
    EXPECT_LT(relative_l2(y, ref), 4e-3) << device;
  }
}

TEST(Precision, Bf16ForwardAndGradientsTrackFloat32) {
  for (const auto& device : devices()) {
    if (device.is_cpu() && !repux::test::cpu_has_native_bf16_path()) {
      if (devices().size() == 1) GTEST_SKIP() << "no AVX-512 on this CPU: LibTorch's bf16 convolutions are emulated";
      continue;
    }
    torch::manual_seed(5);
    auto net = create_network(test::reduced_repuxnet(3));
    net->to(device);
    auto x = torch::randn({2, 1, 32, 32, 32}, torch::TensorOptions().device(device));
    auto y = torch::randint(0, 3, {2, 32, 32, 32}, torch::TensorOptions().device(device).dtype(torch::kInt64));

    auto step = [&](Precision precision) {
      net->zero_grad();
      torch::Tensor logits, loss;
      {
        AutocastScope amp(device.type(), precision);
        logits = net->forward(x).to(torch::kFloat32);
        loss = dice_ce_loss(logits, y);
      }
      loss.backward();
      return std::make_tuple(logits.detach(), loss.item<double>(), flat_gradients(net));
    };
    const auto [logits32, loss32, grad32] = step(Precision::Float32);
    const auto [logits16, loss16, grad16] = step(Precision::BFloat16);
    EXPECT_LT(relative_l2(logits16, logits32), 3e-2) << device;
    EXPECT_GT(relative_l2(logits16, logits32), 0.0) << device;  // bf16 really ran
    EXPECT_NEAR(loss16, loss32, 1e-2 * std::abs(loss32)) << device;
    // Whole-gradient direction. Single small gradients of a freshly initialised network are sums with
    // heavy cancellation (a conv bias before a norm has a true gradient of 0), so they are not compared.
    const double cosine = (grad16 * grad32).sum().item<double>() / (grad16.norm() * grad32.norm()).item<double>();
    EXPECT_GT(cosine, 0.95) << device;
  }
}

// What matters in the end: training in bf16 learns as well as in float32 (same start, same batches).
TEST(Precision, Bf16TrainingLearnsLikeFloat32) {
  for (const auto& device : devices()) {
    const auto opts = torch::TensorOptions().device(device);
    // A bright ball of random radius and position in noise; label 1 inside, 2 in a shell around it.
    auto make_batch = [&](int64_t seed) {
      torch::manual_seed(seed);
      auto grid = torch::stack(torch::meshgrid({torch::arange(32.0), torch::arange(32.0), torch::arange(32.0)}, "ij"));
      std::vector<torch::Tensor> images, labels;
      for (int b = 0; b < 2; ++b) {
        auto centre = (torch::rand({3, 1, 1, 1}) * 12 + 10);
        const double radius = 5 + 4 * torch::rand({1}).item<double>();
        auto dist = (grid - centre).pow(2).sum(0).sqrt();
        auto label = torch::where(dist < radius, 1, torch::where(dist < radius + 3, 2, 0)).to(torch::kInt64);
        images.push_back((label.to(torch::kFloat32) + torch::randn({32, 32, 32}) * 0.5).unsqueeze(0));
        labels.push_back(label);
      }
      return std::make_pair(torch::stack(images).to(device), torch::stack(labels).to(device));
    };
    auto train_losses = [&](Precision precision) {
      torch::manual_seed(11);
      auto net = create_network(test::reduced_repuxnet(3));
      net->to(device);
      torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(3e-3));
      TrainingStepOptions options;
      options.precision = precision;
      TrainingStep step(net, opt, options);  // the trainer's own step
      std::vector<double> losses;
      for (int it = 0; it < 30; ++it) {
        const auto [x, y] = make_batch(100 + it);
        losses.push_back(step.run(x, y));
      }
      return losses;
    };
    const auto fp32 = train_losses(Precision::Float32);
    const auto bf16 = train_losses(Precision::BFloat16);
    auto tail_mean = [](const std::vector<double>& l) { return (l[l.size() - 1] + l[l.size() - 2] + l[l.size() - 3]) / 3; };
    EXPECT_LT(tail_mean(fp32), 0.75 * fp32.front()) << device << ": float32 itself did not learn; the comparison is void";
    EXPECT_LT(tail_mean(bf16), 0.75 * bf16.front()) << device;
    // The two runs follow the same loss curve, step by step (measured: within 1%).
    for (size_t i = 0; i < fp32.size(); ++i) EXPECT_NEAR(bf16[i], fp32[i], 0.03 * fp32[i]) << device << " step " << i;
  }
}
