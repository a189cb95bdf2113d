#include "repux/nn/winograd_conv3d.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
// The transforms are compiled twice, for AVX2 and for any x86-64, and the loader picks one.
#define REPUX_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define REPUX_CLONES
#endif

namespace repux {
namespace {

// F(2,3): an output tile of 2 from an input tile of 4, per axis. A transformed tile has 4^3 = 64
// positions p = 16 i + 4 j + k (i along z, j along y, k along x).
constexpr int64_t kPositions = 64;
// Tiles transformed and multiplied together: 16 consecutive tiles along x (two AVX2 vectors), so that a
// block's transformed input (64 x C x 16 floats) stays in the core's cache between the transform, the
// products and the output transform. That fused order is what makes Winograd pay on a CPU whose memory
// is slow: done layer-wide, the 8x larger transformed input went to memory and back, and lost to oneDNN.
constexpr int64_t kBlock = 16;
// Rows of the product computed at once by the kernel (6 x 16 accumulators: 12 AVX2 registers).
constexpr int64_t kRows = 6;

// B^T along one axis, in place: (d0 - d2, d1 + d2, d2 - d1, d1 - d3), for the block's tiles.
inline void input_transform_4(float* r0, float* r1, float* r2, float* r3) {
  for (int64_t m = 0; m < kBlock; ++m) {
    const float d0 = r0[m], d1 = r1[m], d2 = r2[m], d3 = r3[m];
    r0[m] = d0 - d2;
    r1[m] = d1 + d2;
    r2[m] = d2 - d1;
    r3[m] = d1 - d3;
  }
}

// A^T along one axis, in place into the first two: (m0 + m1 + m2, m1 - m2 - m3).
inline void output_transform_4(float* r0, float* r1, const float* r2, const float* r3) {
  for (int64_t m = 0; m < kBlock; ++m) {
    const float m0 = r0[m], m1 = r1[m], m2 = r2[m], m3 = r3[m];
    r0[m] = m0 + m1 + m2;
    r1[m] = m1 - m2 - m3;
  }
}

// A [C,D,H,W] volume cut into 2x2x2 output tiles, and rows of tiles along x into blocks of kBlock.
struct Tiling {
  int64_t depth, height, width;
  int64_t tz() const { return (depth + 1) / 2; }
  int64_t ty() const { return (height + 1) / 2; }
  int64_t tx() const { return (width + 1) / 2; }
  int64_t blocks_per_row() const { return (tx() + kBlock - 1) / kBlock; }
  int64_t blocks() const { return tz() * ty() * blocks_per_row(); }
  int64_t voxels() const { return depth * height * width; }
};

// A block: kBlock tiles from tile (tz, ty, tx0) along x; tiles past the row's end compute zeros.
struct Block {
  int64_t tz, ty, tx0;
  Block(const Tiling& t, int64_t index)
      : tz(index / (t.ty() * t.blocks_per_row())), ty((index / t.blocks_per_row()) % t.ty()), tx0(kBlock * (index % t.blocks_per_row())) {}
};

// segment[s] = row[first_x + s] for x in [lo, hi), zero elsewhere (kSamples = 2 kBlock + 2 samples).
// The usual cases (the block inside the row, or at one or both of its ends, which is every block when a
// row holds one or two) are fixed-size copies that compile to a few vector moves; a library memmove
// call per row of 34 samples cost more than the transform itself.
template <int64_t kSamples>
inline void copy_padded(const float* row, int64_t lo, int64_t hi, int64_t first_x, float* segment) {
  const int64_t offset = lo - first_x, count = hi - lo;  // offset is 0, or 1 at the row's start
  if (count == kSamples) {
    __builtin_memcpy(segment, row + lo, kSamples * sizeof(float));
  } else if (count == kSamples - 1 || (count == kSamples - 2 && offset == 1)) {
    segment[0] = segment[kSamples - 1] = 0.0f;
    if (count == kSamples - 1) __builtin_memcpy(segment + offset, row + lo, (kSamples - 1) * sizeof(float));
    else __builtin_memcpy(segment + 1, row + lo, (kSamples - 2) * sizeof(float));
  } else {
    for (int64_t s = 0; s < kSamples; ++s) segment[s] = 0.0f;
    for (int64_t x = lo; x < hi; ++x) segment[x - first_x] = row[x];
  }
}

// The block's 64 transformed positions for one channel, into v[p * stride .. + kBlock]. Tile m's input
// starts at x = 2 (tx0 + m) - 1: the x transform reads the even and odd samples of each padded row.
REPUX_CLONES void transform_input(const float* channel, const Tiling& t, const Block& b, float* v, int64_t stride) {
  alignas(32) float runs[kPositions][kBlock];
  // The samples the block reads along x, [first_x, first_x + kSamples), zero outside the volume: copied
  // into a padded segment so that the deinterleaving below has no bounds to check.
  constexpr int64_t kSamples = 2 * kBlock + 2;
  const int64_t first_x = 2 * b.tx0 - 1;
  const int64_t lo = std::max<int64_t>(first_x, 0), hi = std::min(first_x + kSamples, t.width);
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t z = 2 * b.tz - 1 + i, y = 2 * b.ty - 1 + j;
      float segment[kSamples];
      if (z >= 0 && z < t.depth && y >= 0 && y < t.height)
        copy_padded<kSamples>(channel + (z * t.height + y) * t.width, lo, hi, first_x, segment);
      else
        for (float& sample : segment) sample = 0.0f;
      float e[kBlock + 1], o[kBlock + 1];
      for (int64_t q = 0; q <= kBlock; ++q) e[q] = segment[2 * q], o[q] = segment[2 * q + 1];
      float* r0 = runs[i * 16 + j * 4];
      for (int64_t m = 0; m < kBlock; ++m) {
        r0[m] = e[m] - e[m + 1];
        r0[kBlock + m] = o[m] + e[m + 1];
        r0[2 * kBlock + m] = e[m + 1] - o[m];
        r0[3 * kBlock + m] = o[m] - o[m + 1];
      }
    }
  }
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t k = 0; k < 4; ++k) input_transform_4(runs[i * 16 + k], runs[i * 16 + 4 + k], runs[i * 16 + 8 + k], runs[i * 16 + 12 + k]);
  for (int64_t j = 0; j < 4; ++j)
    for (int64_t k = 0; k < 4; ++k) input_transform_4(runs[j * 4 + k], runs[16 + j * 4 + k], runs[32 + j * 4 + k], runs[48 + j * 4 + k]);
  for (int64_t p = 0; p < kPositions; ++p) std::copy_n(runs[p], kBlock, v + p * stride);
}

// One output channel of the block from its 64 positions (m[p * stride .. + kBlock]): z, y, then x into
// the even and odd voxels of each row (+ bias).
REPUX_CLONES void transform_output(const float* m, int64_t stride, const Tiling& t, const Block& b, float bias, float* channel) {
  alignas(32) float runs[kPositions][kBlock];
  for (int64_t p = 0; p < kPositions; ++p) std::copy_n(m + p * stride, kBlock, runs[p]);
  for (int64_t j = 0; j < 4; ++j)
    for (int64_t k = 0; k < 4; ++k) output_transform_4(runs[j * 4 + k], runs[16 + j * 4 + k], runs[32 + j * 4 + k], runs[48 + j * 4 + k]);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 4; ++k) output_transform_4(runs[i * 16 + k], runs[i * 16 + 4 + k], runs[i * 16 + 8 + k], runs[i * 16 + 12 + k]);
  const int64_t voxels = std::min(2 * kBlock, t.width - 2 * b.tx0);  // of each output row in this block
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 2; ++j) {
      const int64_t z = 2 * b.tz + i, y = 2 * b.ty + j;
      if (z >= t.depth || y >= t.height) continue;
      const float *r0 = runs[i * 16 + j * 4], *r1 = runs[i * 16 + j * 4 + 1], *r2 = runs[i * 16 + j * 4 + 2], *r3 = runs[i * 16 + j * 4 + 3];
      float row[2 * kBlock];
      for (int64_t m = 0; m < kBlock; ++m) {
        row[2 * m] = r0[m] + r1[m] + r2[m] + bias;
        row[2 * m + 1] = r1[m] - r2[m] - r3[m] + bias;
      }
      std::copy_n(row, voxels, channel + (z * t.height + y) * t.width + 2 * b.tx0);
    }
  }
}

// out[K x 16] = u[K x C] . v[C x 16] for one position (row-major, leading dimensions C and 16).
// AVX2/FMA kernel of kRows x 16 accumulators where the CPU has them, plain loops otherwise.
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void block_product_avx2(const float* u, const float* v, float* out, int64_t k_total, int64_t c_total) {
  int64_t k = 0;
  for (; k + kRows <= k_total; k += kRows) {
    __m256 acc[kRows][2];
    for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
    for (int64_t c = 0; c < c_total; ++c) {
      const __m256 v0 = _mm256_loadu_ps(v + c * kBlock), v1 = _mm256_loadu_ps(v + c * kBlock + 8);
      for (int64_t r = 0; r < kRows; ++r) {
        const __m256 w = _mm256_broadcast_ss(u + (k + r) * c_total + c);
        acc[r][0] = _mm256_fmadd_ps(w, v0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(w, v1, acc[r][1]);
      }
    }
    for (int64_t r = 0; r < kRows; ++r) {
      _mm256_storeu_ps(out + (k + r) * kBlock, acc[r][0]);
      _mm256_storeu_ps(out + (k + r) * kBlock + 8, acc[r][1]);
    }
  }
  for (; k < k_total; ++k) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t c = 0; c < c_total; ++c) {
      const __m256 w = _mm256_broadcast_ss(u + k * c_total + c);
      a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + c * kBlock), a0);
      a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + c * kBlock + 8), a1);
    }
    _mm256_storeu_ps(out + k * kBlock, a0);
    _mm256_storeu_ps(out + k * kBlock + 8, a1);
  }
}

#endif

void block_product_portable(const float* u, const float* v, float* out, int64_t k_total, int64_t c_total) {
  for (int64_t k = 0; k < k_total; ++k) {
    float acc[kBlock] = {};
    for (int64_t c = 0; c < c_total; ++c)
      for (int64_t m = 0; m < kBlock; ++m) acc[m] += u[k * c_total + c] * v[c * kBlock + m];
    std::copy_n(acc, kBlock, out + k * kBlock);
  }
}

using BlockProduct = void (*)(const float*, const float*, float*, int64_t, int64_t);

std::atomic<bool> g_enabled{true}, g_portable{false};

BlockProduct block_product() {
#if defined(__x86_64__)
  static const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (has_avx2 && !g_portable) return block_product_avx2;
#endif
  return block_product_portable;
}

// One item: every block transformed, multiplied position by position with u [64, K, C], and
// transformed back, with the block's buffers (v: [64][C][16], m: [64][K][16]) private to a thread.
void convolve_item(const float* input, const float* u, const float* bias, int64_t c_total, int64_t k_total, const Tiling& t,
                   float* output) {
  const BlockProduct product = block_product();
  at::parallel_for(0, t.blocks(), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> v(kPositions * c_total * kBlock), m(kPositions * k_total * kBlock);
    for (int64_t index = begin; index < end; ++index) {
      const Block b(t, index);
      for (int64_t c = 0; c < c_total; ++c) transform_input(input + c * t.voxels(), t, b, v.data() + c * kBlock, c_total * kBlock);
      for (int64_t p = 0; p < kPositions; ++p)
        product(u + p * k_total * c_total, v.data() + p * c_total * kBlock, m.data() + p * k_total * kBlock, k_total, c_total);
      for (int64_t k = 0; k < k_total; ++k)
        transform_output(m.data() + k * kBlock, k_total * kBlock, t, b, bias ? bias[k] : 0.0f, output + k * t.voxels());
    }
  });
}

// G g G^T in three dimensions for every (output, input) channel pair: [K,C,3,3,3] -> [64, K, C].
// G's rows: (g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2). Computed in float64, rounded once.
torch::Tensor transform_weight(const torch::Tensor& weight) {
  auto g = weight.to(torch::kFloat64);
  const auto G = torch::tensor({1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0}, torch::kFloat64).view({4, 3});
  // u[k,c,a,b,e] = sum G[a,i] G[b,j] G[e,l] g[k,c,i,j,l]
  auto u = torch::einsum("ai,bj,el,kcijl->abekc", {G, G, G, g});
  return u.reshape({kPositions, weight.size(0), weight.size(1)}).to(torch::kFloat32).contiguous();
}

}  // namespace

void winograd_set_enabled(bool enabled) { g_enabled = enabled; }
void winograd_force_portable_kernel(bool portable) { g_portable = portable; }
bool winograd_enabled() { return g_enabled; }

bool winograd_conv3d_applies(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool wants_grad = input.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad());
  const bool no_grad = !torch::GradMode::is_enabled() || !wants_grad;
  return no_grad && input.device().is_cpu() && input.scalar_type() == torch::kFloat32 && input.dim() == 5 && weight.dim() == 5 &&
         weight.scalar_type() == torch::kFloat32 && weight.size(1) == input.size(1) && weight.size(2) == 3 && weight.size(3) == 3 &&
         weight.size(4) == 3;
}

bool winograd_conv3d_pays(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  // Measured on a 2-core EPYC (bench_network --conv-table 1): 2.1x over oneDNN for 96 -> 48 channels at
  // 64^3 and 192 -> 96 at 32^3, but 0.7x for 384 -> 192 at 16^3: there the transformed weight (64 K C
  // floats, 19 MB) is read again for every block of 16 tiles, and few tiles share it.
  constexpr int64_t kMinVoxels = 32 * 32 * 32, kMaxChannelPairs = 192 * 96;
  return winograd_conv3d_applies(input, weight, bias) && input.size(2) * input.size(3) * input.size(4) >= kMinVoxels &&
         weight.size(0) * weight.size(1) <= kMaxChannelPairs;
}

WinogradWeight winograd_weight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 5 && weight.size(2) == 3 && weight.size(3) == 3 && weight.size(4) == 3,
              "winograd_weight: expected a [K,C,3,3,3] weight, got ", weight.sizes());
  torch::NoGradGuard no_grad;
  return {transform_weight(weight.detach()), weight.size(0), weight.size(1)};
}

torch::Tensor winograd_conv3d(const torch::Tensor& input, const WinogradWeight& weight, const torch::Tensor& bias) {
  TORCH_CHECK(input.device().is_cpu() && input.scalar_type() == torch::kFloat32 && input.dim() == 5 && input.size(1) == weight.in_channels,
              "winograd_conv3d: expected CPU float32 input [N,", weight.in_channels, ",D,H,W], got ", input.sizes());
  torch::NoGradGuard no_grad;
  const int64_t c_total = weight.in_channels, k_total = weight.out_channels;
  const Tiling t{input.size(2), input.size(3), input.size(4)};
  const auto b = bias.defined() ? bias.detach().to(torch::kFloat32).contiguous() : torch::Tensor();
  const auto x = input.contiguous();
  auto result = torch::empty({input.size(0), k_total, t.depth, t.height, t.width}, input.options());
  for (int64_t item = 0; item < input.size(0); ++item)
    convolve_item(x[item].data_ptr<float>(), weight.transformed.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr, c_total,
                  k_total, t, result[item].data_ptr<float>());
  return result;
}

torch::Tensor winograd_conv3d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  return winograd_conv3d(input, winograd_weight(weight), bias);
}

}  // namespace repux
