// Every implementation of the large-kernel depthwise convolution, forward and backward, against a
// float64 reference (LibTorch's conv3d in double with the full kernel), plus finite differences.
#include "repux/error.h"
#include "repux/ops/lk_dwconv.h"
#include "test_util.h"

#include <gtest/gtest.h>

using namespace repux;
using repux::test::relative_error;

namespace {

struct Case {
  std::vector<int64_t> input;   // N, C, D, H, W
  std::vector<int64_t> kernel;  // kd, kh, kw
};

torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::conv3d(x.to(torch::kFloat64), w.to(torch::kFloat64), b.to(torch::kFloat64), {1, 1, 1},
                       {w.size(2) / 2, w.size(3) / 2, w.size(4) / 2}, {1, 1, 1}, x.size(1));
}

struct Grads {
  torch::Tensor y, dx, dw, db;
};

Grads run(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>& f,
          const torch::Tensor& x0, const torch::Tensor& w0, const torch::Tensor& b0, const torch::Tensor& upstream) {
  auto x = x0.detach().clone().requires_grad_(true);
  auto w = w0.detach().clone().requires_grad_(true);
  auto b = b0.detach().clone().requires_grad_(true);
  auto y = f(x, w, b);
  (y.to(torch::kFloat64) * upstream).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

void check_case(const Case& c, LkImpl impl, torch::ScalarType dtype, double tolerance) {
  SCOPED_TRACE(enum_name(impl) + " input " + c10::str(c.input) + " kernel " + c10::str(c.kernel));
  const int64_t channels = c.input[1];
  auto x = torch::randn(c.input, torch::kFloat64);
  auto w = torch::randn({channels, 1, c.kernel[0], c.kernel[1], c.kernel[2]}, torch::kFloat64) * 0.1;
  auto b = torch::randn({channels}, torch::kFloat64);
  auto upstream = torch::randn(c.input, torch::kFloat64);
  const Grads want = run(reference, x, w, b, upstream);
  const Grads got = run([&](const torch::Tensor& xi, const torch::Tensor& wi,
                            const torch::Tensor& bi) { return lk_dwconv(xi, wi, bi, impl); },
                        x.to(dtype), w.to(dtype), b.to(dtype), upstream);
  EXPECT_EQ(got.y.scalar_type(), dtype);
  EXPECT_LT(relative_error(got.y, want.y), tolerance);
  EXPECT_LT(relative_error(got.dx, want.dx), tolerance);
  EXPECT_LT(relative_error(got.dw, want.dw), tolerance);
  EXPECT_LT(relative_error(got.db, want.db), tolerance);
}

const std::vector<Case> kCases = {
    {{1, 1, 5, 5, 5}, {3, 3, 3}},      {{2, 3, 9, 7, 5}, {7, 7, 7}},      {{1, 2, 4, 3, 6}, {21, 21, 21}},
    {{2, 2, 1, 6, 5}, {5, 5, 5}},      {{1, 4, 6, 5, 4}, {31, 31, 31}},   {{1, 3, 8, 7, 6}, {13, 13, 13}},
    {{1, 2, 6, 6, 6}, {3, 5, 7}},      {{1, 384, 3, 3, 3}, {3, 3, 3}},    {{1, 48, 6, 6, 6}, {21, 21, 21}},
    {{3, 1, 11, 2, 9}, {9, 9, 9}},
};

}  // namespace

TEST(LkDwConv, ReferenceIsCrossCorrelationWithSamePadding) {
  // A hand loop pins down what the reference computes: y[o] = sum_t x[o + t - k/2] w[t].
  auto x = torch::randn({1, 1, 4, 3, 5}, torch::kFloat64);
  auto w = torch::randn({1, 1, 3, 3, 3}, torch::kFloat64);
  auto b = torch::tensor({0.5}, torch::kFloat64);
  auto y = reference(x, w, b);
  auto xa = x.accessor<double, 5>();
  auto wa = w.accessor<double, 5>();
  for (int64_t d = 0; d < 4; ++d)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t v = 0; v < 5; ++v) {
        double sum = 0.5;
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j)
            for (int64_t k = 0; k < 3; ++k) {
              const int64_t a = d + i - 1, bb = h + j - 1, c = v + k - 1;
              if (a >= 0 && a < 4 && bb >= 0 && bb < 3 && c >= 0 && c < 5) sum += xa[0][0][a][bb][c] * wa[0][0][i][j][k];
            }
        EXPECT_NEAR(y[0][0][d][h][v].item<double>(), sum, 1e-12);
      }
}

// Restores the process-wide save mode when a test ends, pass or fail.
struct SaveModeScope {
  explicit SaveModeScope(LkSaveMode mode) { lk_set_save_mode(mode); }
  ~SaveModeScope() { lk_set_save_mode(LkSaveMode::Auto); }
};

TEST(LkDwConv, EveryImplementationMatchesFloat64InFloat32) {
  torch::manual_seed(1);
  for (const auto& c : kCases) {
    for (LkImpl impl : {LkImpl::Direct, LkImpl::Fft, LkImpl::Auto}) check_case(c, impl, torch::kFloat32, 1e-5);
  }
}

TEST(LkDwConv, EveryImplementationMatchesFloat64InFloat64) {
  torch::manual_seed(2);
  for (const auto& c : kCases) {
    for (LkImpl impl : {LkImpl::Direct, LkImpl::Fft}) check_case(c, impl, torch::kFloat64, 1e-11);
  }
}

// The lean backward (spectra recomputed from the saved x and weight; CUDA's default) on every case.
TEST(LkDwConv, FftBackwardFromSavedInputsMatchesFloat64) {
  SaveModeScope lean(LkSaveMode::Inputs);
  torch::manual_seed(7);
  for (const auto& c : kCases) {
    check_case(c, LkImpl::Fft, torch::kFloat32, 1e-5);
    check_case(c, LkImpl::Fft, torch::kFloat64, 1e-11);
  }
}

TEST(LkDwConv, NonContiguousInput) {
  torch::manual_seed(3);
  auto base = torch::randn({2, 7, 6, 5, 3}, torch::kFloat32);
  auto x = base.permute({0, 4, 1, 2, 3});  // [2, 3, 7, 6, 5], not contiguous
  ASSERT_FALSE(x.is_contiguous());
  auto w = torch::randn({3, 1, 9, 9, 9}) * 0.1;
  auto b = torch::randn({3});
  auto want = reference(x, w, b);
  for (LkImpl impl : {LkImpl::Direct, LkImpl::Fft}) EXPECT_LT(relative_error(lk_dwconv(x, w, b, impl), want), 1e-5);
}

TEST(LkDwConv, HalfPrecisionInputsAreComputedInFloat32) {
  torch::manual_seed(4);
  auto x = torch::randn({1, 2, 6, 6, 6});
  auto w = torch::randn({2, 1, 7, 7, 7}) * 0.1;
  auto b = torch::randn({2});
  auto want = reference(x.to(torch::kBFloat16), w.to(torch::kBFloat16), b.to(torch::kBFloat16));
  auto got = lk_dwconv(x.to(torch::kBFloat16), w.to(torch::kBFloat16), b.to(torch::kBFloat16), LkImpl::Fft);
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_LT(relative_error(got, want), 1e-2);  // bf16 output rounding only
}

TEST(LkDwConv, FiniteDifferencesInFloat64) {
  torch::manual_seed(5);
  auto x = torch::randn({1, 2, 4, 3, 5}, torch::kFloat64);
  auto w = torch::randn({2, 1, 5, 5, 5}, torch::kFloat64);
  auto b = torch::randn({2}, torch::kFloat64);
  auto g = torch::randn({1, 2, 4, 3, 5}, torch::kFloat64);
  auto loss = [&](const torch::Tensor& xi, const torch::Tensor& wi) {
    return (lk_dwconv(xi, wi, b, LkImpl::Fft) * g).sum().item<double>();
  };
  const Grads analytic = run([](const torch::Tensor& xi, const torch::Tensor& wi,
                                const torch::Tensor& bi) { return lk_dwconv(xi, wi, bi, LkImpl::Fft); },
                             x, w, b, g);
  const double eps = 1e-6;
  for (int trial = 0; trial < 12; ++trial) {
    const bool on_input = trial % 2 == 0;
    auto& target = on_input ? x : w;
    const int64_t index = torch::randint(target.numel(), {1}).item<int64_t>();
    auto plus = target.clone(), minus = target.clone();
    plus.view(-1)[index] += eps;
    minus.view(-1)[index] -= eps;
    const double numeric = on_input ? (loss(plus, w) - loss(minus, w)) / (2 * eps) : (loss(x, plus) - loss(x, minus)) / (2 * eps);
    const double exact = (on_input ? analytic.dx : analytic.dw).view(-1)[index].item<double>();
    EXPECT_NEAR(numeric, exact, 1e-6 * std::max(1.0, std::abs(exact)));
  }
}

TEST(LkDwConv, SpectrumCacheMatchesAndFollowsWeightChanges) {
  torch::manual_seed(6);
  auto x = torch::randn({1, 4, 10, 9, 8});
  auto w = torch::randn({4, 1, 21, 21, 21}) * 0.05;
  auto b = torch::randn({4});
  LkSpectrumCache cache;
  EXPECT_LT(relative_error(cache.forward(x, w, b), reference(x, w, b)), 1e-5);
  auto x2 = torch::randn({1, 4, 10, 9, 8});
  EXPECT_LT(relative_error(cache.forward(x2, w, b), reference(x2, w, b)), 1e-5);
  {
    torch::NoGradGuard no_grad;
    w.mul_(-2.0);  // in place: the cache must notice through the tensor's version counter
  }
  EXPECT_LT(relative_error(cache.forward(x2, w, b), reference(x2, w, b)), 1e-5);
  auto x3 = torch::randn({2, 4, 5, 6, 7});  // another window shape
  EXPECT_LT(relative_error(cache.forward(x3, w, b), reference(x3, w, b)), 1e-5);
}

TEST(LkDwConv, AutoPrefersFftForLargeKernelsOnCpu) {
  EXPECT_EQ(lk_choose_impl({2, 48, 48, 48, 48}, {48, 1, 21, 21, 21}, torch::kCPU), LkImpl::Fft);
  EXPECT_EQ(lk_choose_impl({1, 8, 4, 4, 4}, {8, 1, 3, 3, 3}, torch::kCPU), LkImpl::Direct);
}

TEST(LkDwConv, WrongInputsRaiseClearErrors) {
  auto x = torch::randn({1, 2, 5, 5, 5});
  auto check = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  check([&] { lk_dwconv(x, torch::randn({2, 1, 4, 4, 4}), {}); }, "even");
  check([&] { lk_dwconv(x, torch::randn({3, 1, 3, 3, 3}), {}); }, "3 channels but the input has 2");
  check([&] { lk_dwconv(x[0], torch::randn({2, 1, 3, 3, 3}), {}); }, "5-D");
  check([&] { lk_dwconv(x, torch::randn({2, 1, 3, 3, 3}), torch::randn({5})); }, "bias");
  check([] { enum_from_name<LkImpl>("winograd"); }, "direct, fft, auto");
}

TEST(LkDwConv, CudaImplementationsMatchFloat64) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(7);
  for (const auto& c : kCases) {
    SCOPED_TRACE(c10::str(c.input));
    auto x = torch::randn(c.input, torch::kFloat64);
    auto w = torch::randn({c.input[1], 1, c.kernel[0], c.kernel[1], c.kernel[2]}, torch::kFloat64) * 0.1;
    auto b = torch::randn({c.input[1]}, torch::kFloat64);
    auto want = reference(x, w, b);
    for (LkImpl impl : {LkImpl::Direct, LkImpl::Fft, LkImpl::Auto}) {
      auto got = lk_dwconv(x.to(torch::kCUDA, torch::kFloat32), w.to(torch::kCUDA, torch::kFloat32), b.to(torch::kCUDA, torch::kFloat32), impl);
      // cuDNN may use TF32 for direct convolutions; FFT stays in float32.
      EXPECT_LT(relative_error(got.cpu(), want), impl == LkImpl::Fft ? 1e-5 : 1e-3) << enum_name(impl);
    }
  }
}
