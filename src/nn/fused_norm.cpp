#include "repux/nn/fused_norm.h"

#include "cpu_clones.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>


namespace repux {
namespace {

constexpr double kEps = 1e-5;

// mean and 1/sqrt(var + eps) of one channel. The sums run in float over 16 independent lanes (which the
// compiler vectorises) for chunks of 4096 values, and are carried in double between chunks; the values
// are shifted by the first so that a large mean does not cancel the variance's digits.
struct Moments {
  float shift, mean, inv_std;  // the mean is of the values less the shift: x - mean = (x - shift) - mean
};

REPUX_CLONES Moments moments(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  constexpr int64_t kChunk = 4096;
  const float shift = x[0];
  double sum = 0, squares = 0;
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t end = std::min(n, start + kChunk);
    float s[kLanes] = {}, q[kLanes] = {};
    int64_t i = start;
    for (; i + kLanes <= end; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float d = x[i + l] - shift;
        s[l] += d;
        q[l] += d * d;
      }
    for (; i < end; ++i) {
      const float d = x[i] - shift;
      s[0] += d;
      q[0] += d * d;
    }
    for (int l = 0; l < kLanes; ++l) sum += s[l], squares += q[l];
  }
  const double mean = sum / n, variance = std::max(0.0, squares / n - mean * mean);
  return {shift, static_cast<float>(mean), static_cast<float>(1.0 / std::sqrt(variance + kEps))};
}

// x = lrelu((x - m.mean) * m.inv_std + residual term): the residual r as it is, or (r - rm.mean) * rm.inv_std.
// The differences come first, the shift (a sample) before the small mean: x * inv_std - mean * inv_std, or
// a mean rounded to float32, would lose digits where the mean is large against the spread.
REPUX_CLONES void normalise(float* x, int64_t n, Moments m, const float* r, Moments rm, float slope) {
  if (r == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      const float t = ((x[i] - m.shift) - m.mean) * m.inv_std;
      x[i] = std::max(t, slope * t);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float t = ((x[i] - m.shift) - m.mean) * m.inv_std + ((r[i] - rm.shift) - rm.mean) * rm.inv_std;
      x[i] = std::max(t, slope * t);
    }
  }
}

// Every channel of x: statistics, then the normalisation with the residual's channel (if any).
void for_each_channel(torch::Tensor& x, const torch::Tensor* residual, bool normalise_residual, double slope) {
  TORCH_CHECK(fused_norm_applies(x), "instance norm: expected a contiguous CPU float32 [N,C,...] tensor, got ", x.sizes());
  if (residual) TORCH_CHECK(residual->sizes() == x.sizes() && fused_norm_applies(*residual), "instance norm: residual ", residual->sizes(),
                            " does not match ", x.sizes());
  const int64_t channels = x.size(0) * x.size(1), voxels = x.numel() / channels;
  float* data = x.data_ptr<float>();
  const float* r = residual ? residual->data_ptr<float>() : nullptr;
  at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      float* channel = data + c * voxels;
      const float* r_channel = r ? r + c * voxels : nullptr;
      const Moments as_is{0.0f, 0.0f, 1.0f}, rm = r_channel && normalise_residual ? moments(r_channel, voxels) : as_is;
      normalise(channel, voxels, moments(channel, voxels), r_channel, rm, static_cast<float>(slope));
    }
  });
}

}  // namespace

bool fused_norm_applies(const torch::Tensor& x) {
  const bool no_grad = !torch::GradMode::is_enabled() || !x.requires_grad();
  return no_grad && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() && x.dim() >= 3 && x.numel() > 0;
}

void instance_norm_lrelu_(torch::Tensor& x, double slope) { for_each_channel(x, nullptr, false, slope); }

void instance_norm_add_lrelu_(torch::Tensor& x, const torch::Tensor& residual, bool normalise_residual, double slope) {
  for_each_channel(x, &residual, normalise_residual, slope);
}

}  // namespace repux
