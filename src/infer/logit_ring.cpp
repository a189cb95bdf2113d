#include "logit_ring.h"

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <immintrin.h>

#include <algorithm>
#include <vector>

namespace repux {

namespace {

// Shifted logits below this are stored as it: float16's range ends at 65504, and a class this far
// below the leading one has probability exp(-30000), 0 in float32.
constexpr float kLowestShifted = -30000.0f;

// One run of a row: mean[i] += f[i] * (max(logit[i] - shift[i], lowest) - mean[i]), mean in float16.
void running_mean_run_portable(c10::Half* mean, const float* logit, const float* shift, const float* f, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float m = static_cast<float>(mean[i]);
    mean[i] = static_cast<c10::Half>(m + f[i] * (std::max(logit[i] - shift[i], kLowestShifted) - m));
  }
}

__attribute__((target("avx2,fma,f16c"))) void running_mean_run_avx2(c10::Half* mean, const float* logit, const float* shift, const float* f,
                                                                   int64_t n) {
  const __m256 lowest = _mm256_set1_ps(kLowestShifted);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    auto* at = reinterpret_cast<__m128i*>(mean + i);
    const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128(at));
    const __m256 v = _mm256_max_ps(_mm256_sub_ps(_mm256_loadu_ps(logit + i), _mm256_loadu_ps(shift + i)), lowest);
    const __m256 updated = _mm256_fmadd_ps(_mm256_loadu_ps(f + i), _mm256_sub_ps(v, m), m);
    _mm_storeu_si128(at, _mm256_cvtps_ph(updated, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  running_mean_run_portable(mean + i, logit + i, shift + i, f + i, n - i);
}

void running_mean_run(c10::Half* mean, const float* logit, const float* shift, const float* f, int64_t n) {
  static const bool vector = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  (vector ? running_mean_run_avx2 : running_mean_run_portable)(mean, logit, shift, f, n);
}

// Classes at a time for the float16 ring: a non-contiguous window (a permuted frame) is copied this many
// classes at once, not whole (104 classes of a 96^3 window are 368 MB).
constexpr int64_t kClassChunk = 8;

// The largest logit at each voxel of [K, n, h, w] logits, [n, h, w] contiguous: reduced in the tensor's
// memory order (a window's logits seen from another row axis are a permuted view, over which LibTorch's
// reduction took 0.8 s for 104 classes of a 96^3 window, against 0.03 s in memory order).
torch::Tensor leading_logit(const torch::Tensor& logits) {
  std::vector<int64_t> order{1, 2, 3};
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits.stride(a) > logits.stride(b); });
  std::vector<int64_t> back(3);
  for (int64_t i = 0; i < 3; ++i) back[static_cast<size_t>(order[static_cast<size_t>(i)] - 1)] = i;
  return logits.permute({0, order[0], order[1], order[2]}).amax(0).permute(back).contiguous();
}

}  // namespace

LogitRing::LogitRing(int64_t channels, int64_t depth, int64_t height, int64_t width, Accumulators storage, torch::Device device)
    : storage_(storage), depth_(depth) {
  if (storage_ == Accumulators::Float16ShiftedMean && !device.is_cpu()) {
    fail("float16 shifted-mean accumulators are CPU-only; stitch on the CPU or use float32 accumulators");
  }
  const auto dtype = storage_ == Accumulators::Float32 ? torch::kFloat32 : torch::kHalf;
  sums_ = torch::zeros({channels, depth, height, width}, torch::TensorOptions().dtype(dtype).device(device));
  weights_ = torch::zeros({depth, height, width}, torch::TensorOptions().device(device));
}

void LogitRing::add(int64_t row, int64_t y, int64_t x, const torch::Tensor& logits, const torch::Tensor& weight) {
  const int64_t h = logits.size(2), w = logits.size(3);
  for_each_segment(row, logits.size(1), [&](int64_t at, int64_t offset, int64_t n) {
    const auto rows = logits.slice(1, offset, offset + n);
    const auto rows_weight = weight.slice(0, offset, offset + n);
    auto weights = weights_.slice(0, at, at + n).slice(1, y, y + h).slice(2, x, x + w);
    if (storage_ == Accumulators::Float32) {
      sums_.slice(1, at, at + n).slice(2, y, y + h).slice(3, x, x + w).addcmul_(rows, rows_weight.unsqueeze(0));
    } else {
      add_running_mean(at, y, x, rows, rows_weight, weights);
    }
    weights.add_(rows_weight);
  });
}

// Rows [at, at + n) of the ring (n = logits.size(1)); `before`: their weights' sums so far.
void LogitRing::add_running_mean(int64_t at, int64_t y, int64_t x, const torch::Tensor& logits, const torch::Tensor& weight,
                                 const torch::Tensor& before) {
  const int64_t classes = logits.size(0), n = logits.size(1), h = logits.size(2), w = logits.size(3);
  const int64_t height = sums_.size(2), width = sums_.size(3);
  const auto fraction = (weight / (before + weight)).contiguous();  // this window's share of the mean
  const auto shift = leading_logit(logits);
  const float* f = fraction.data_ptr<float>();
  const float* s = shift.data_ptr<float>();
  auto* mean = sums_.data_ptr<c10::Half>();
  for (int64_t k0 = 0; k0 < classes; k0 += kClassChunk) {
    const int64_t k1 = std::min(classes, k0 + kClassChunk);
    const auto chunk = logits.slice(0, k0, k1).contiguous();
    const float* v = chunk.data_ptr<float>();
    at::parallel_for(0, (k1 - k0) * n * h, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {  // r: (class in chunk, row, column) of the window
        const int64_t k = r / (n * h), i = (r / h) % n, j = r % h;
        c10::Half* out = mean + (((k0 + k) * depth_ + at + i) * height + y + j) * width + x;
        const int64_t voxel = (i * h + j) * w;
        running_mean_run(out, v + r * w, s + voxel, f + voxel, w);
      }
    });
  }
}

torch::Tensor LogitRing::take(int64_t n) {
  auto rows = torch::empty({sums_.size(0), n, sums_.size(2), sums_.size(3)}, sums_.options().dtype(torch::kFloat32));
  for_each_segment(first_, n, [&](int64_t at, int64_t offset, int64_t count) {
    auto taken = rows.slice(1, offset, offset + count).copy_(sums_.slice(1, at, at + count));
    if (storage_ == Accumulators::Float32) taken.div_(weights_.slice(0, at, at + count));  // running means need no division
    sums_.slice(1, at, at + count).zero_();
    weights_.slice(0, at, at + count).zero_();
  });
  first_ += n;
  return rows;
}

}  // namespace repux
