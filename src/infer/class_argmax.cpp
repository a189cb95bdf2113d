#include "repux/infer/class_argmax.h"

#include <ATen/Parallel.h>

#include <immintrin.h>

#include <algorithm>
#include <vector>

namespace repux {

namespace {

// Voxels per block: their running maxima and indices (16 kB) stay in the first-level cache.
constexpr int64_t kBlock = 2048;

// Where class k's scores exceed the running maxima: they and k become the running ones.
void take_greater_portable(const float* scores, float* best, int32_t* index, int32_t k, int64_t n) {
  for (int64_t v = 0; v < n; ++v) {
    if (scores[v] > best[v]) {
      best[v] = scores[v];
      index[v] = k;
    }
  }
}

__attribute__((target("avx2"))) void take_greater_avx2(const float* scores, float* best, int32_t* index, int32_t k, int64_t n) {
  const __m256 class_k = _mm256_castsi256_ps(_mm256_set1_epi32(k));
  int64_t v = 0;
  for (; v + 8 <= n; v += 8) {
    const __m256 s = _mm256_loadu_ps(scores + v), b = _mm256_loadu_ps(best + v);
    const __m256 greater = _mm256_cmp_ps(s, b, _CMP_GT_OQ);
    _mm256_storeu_ps(best + v, _mm256_blendv_ps(b, s, greater));
    auto* at = reinterpret_cast<__m256*>(index + v);
    _mm256_storeu_ps(reinterpret_cast<float*>(at), _mm256_blendv_ps(_mm256_loadu_ps(reinterpret_cast<const float*>(at)), class_k, greater));
  }
  take_greater_portable(scores + v, best + v, index + v, k, n - v);
}

void take_greater(const float* scores, float* best, int32_t* index, int32_t k, int64_t n) {
  static const bool vector = __builtin_cpu_supports("avx2");
  (vector ? take_greater_avx2 : take_greater_portable)(scores, best, index, k, n);
}

}  // namespace

torch::Tensor class_argmax(const torch::Tensor& scores) {
  if (scores.dim() < 1 || scores.size(0) < 1 || !scores.device().is_cpu() || scores.scalar_type() != torch::kFloat32) return scores.argmax(0);
  const auto x = scores.contiguous();
  const int64_t classes = x.size(0), voxels = x.numel() / classes;
  auto labels = torch::empty(x.sizes().slice(1), torch::kInt64);
  const float* data = x.data_ptr<float>();
  int64_t* out = labels.data_ptr<int64_t>();
  at::parallel_for(0, (voxels + kBlock - 1) / kBlock, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> best(kBlock);
    std::vector<int32_t> index(kBlock);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t first = block * kBlock, n = std::min(kBlock, voxels - first);
      std::copy(data + first, data + first + n, best.begin());
      std::fill(index.begin(), index.begin() + n, 0);
      for (int64_t k = 1; k < classes; ++k) take_greater(data + k * voxels + first, best.data(), index.data(), static_cast<int32_t>(k), n);
      std::copy(index.begin(), index.begin() + n, out + first);
    }
  });
  return labels;
}

}  // namespace repux
