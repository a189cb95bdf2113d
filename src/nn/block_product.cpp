#include "block_product.h"

#include <algorithm>
#include <atomic>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace repux {
namespace {

#if defined(__x86_64__)
template <int NV>
__attribute__((target("avx2,fma"))) void block_product_avx2(const float* u, const float* v, float* out, int64_t k_total, int64_t c_total) {
  constexpr int W = 8 * NV, R = 12 / NV;
  int64_t k = 0;
  for (; k + R <= k_total; k += R) {
    __m256 acc[R][NV];
    for (auto& row : acc)
      for (auto& a : row) a = _mm256_setzero_ps();
    const float* u0 = u + k * c_total;
    for (int64_t c = 0; c < c_total; ++c) {
      __m256 x[NV];
      for (int n = 0; n < NV; ++n) x[n] = _mm256_loadu_ps(v + c * W + 8 * n);
      for (int r = 0; r < R; ++r) {
        const __m256 w = _mm256_broadcast_ss(u0 + r * c_total + c);
        for (int n = 0; n < NV; ++n) acc[r][n] = _mm256_fmadd_ps(w, x[n], acc[r][n]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NV; ++n) _mm256_storeu_ps(out + (k + r) * W + 8 * n, acc[r][n]);
  }
  for (; k < k_total; ++k) {
    __m256 acc[NV];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int64_t c = 0; c < c_total; ++c) {
      const __m256 w = _mm256_broadcast_ss(u + k * c_total + c);
      for (int n = 0; n < NV; ++n) acc[n] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + c * W + 8 * n), acc[n]);
    }
    for (int n = 0; n < NV; ++n) _mm256_storeu_ps(out + k * W + 8 * n, acc[n]);
  }
}
#endif

template <int W>
void block_product_portable(const float* u, const float* v, float* out, int64_t k_total, int64_t c_total) {
  for (int64_t k = 0; k < k_total; ++k) {
    float acc[W] = {};
    for (int64_t c = 0; c < c_total; ++c)
      for (int m = 0; m < W; ++m) acc[m] += u[k * c_total + c] * v[c * W + m];
    std::copy_n(acc, W, out + k * W);
  }
}

std::atomic<bool> g_portable{false};

template <int W>
BlockProduct kernel() {
#if defined(__x86_64__)
  static const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (has_avx2 && !g_portable) return block_product_avx2<W / 8>;
#endif
  return block_product_portable<W>;
}

}  // namespace

BlockProduct block_product(int width) {
  if (width == 8) return kernel<8>();
  if (width == 16) return kernel<16>();
  return kernel<24>();
}

int64_t block_width(int64_t row) {
  int64_t best = 24;
  for (int64_t w : {16, 8})
    if ((row + w - 1) / w * w < (row + best - 1) / best * best) best = w;
  return best;
}

void block_product_force_portable(bool portable) { g_portable = portable; }

}  // namespace repux
