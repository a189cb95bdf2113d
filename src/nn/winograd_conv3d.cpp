#include "repux/nn/winograd_conv3d.h"

#include "block_product.h"
#include "cpu_clones.h"
#include "no_gradient_wanted.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace repux {
namespace {

// Winograd's minimal filtering F(M,3) along one axis: an output run of M from an input run of T = M + 2
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). bt: B^T d (T -> T),
// at: A^T m (T -> M), g: G (T x 3), the weight transform, applied in float64.
template <int M>
struct Minimal;

template <>
struct Minimal<2> {
  static constexpr int T = 4;
  static void bt(const float* d, float* o) {
    o[0] = d[0] - d[2];
    o[1] = d[1] + d[2];
    o[2] = d[2] - d[1];
    o[3] = d[1] - d[3];
  }
  static void at(const float* m, float* o) {
    o[0] = m[0] + m[1] + m[2];
    o[1] = m[1] - m[2] - m[3];
  }
  static std::vector<double> g() { return {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1}; }
};

// Points 0, +-1, +-2 and infinity.
template <>
struct Minimal<4> {
  static constexpr int T = 6;
  static void bt(const float* d, float* o) {
    const float a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1], c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = a + b;
    o[2] = a - b;
    o[3] = c + e;
    o[4] = c - e;
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
  }
  static void at(const float* m, float* o) {
    const float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    o[0] = m[0] + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + m[5];
  }
  static std::vector<double> g() {
    return {1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
            1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1};
  }
};

// A [C,D,H,W] volume cut into M^3 output tiles, and each row of tiles along x into blocks of W tiles
// (the last block of a row may be partly empty: its tiles compute zeros that are not stored).
template <int M>
struct Tiling {
  int64_t depth, height, width, block;
  int64_t tz() const { return (depth + M - 1) / M; }
  int64_t ty() const { return (height + M - 1) / M; }
  int64_t tx() const { return (width + M - 1) / M; }
  int64_t blocks_per_row() const { return (tx() + block - 1) / block; }
  int64_t blocks() const { return tz() * ty() * blocks_per_row(); }
  int64_t voxels() const { return depth * height * width; }
};

// A block: W tiles from tile (tz, ty, tx0) along x.
struct Block {
  int64_t tz, ty, tx0;
  template <int M>
  Block(const Tiling<M>& t, int64_t index)
      : tz(index / (t.ty() * t.blocks_per_row())), ty((index / t.blocks_per_row()) % t.ty()), tx0(t.block * (index % t.blocks_per_row())) {}
};

// One axis of the transforms over the block's W tiles, in place in `runs` ([positions][W] floats): rows
// q * S of `r` are the input and rows a * S the output. One base pointer and constant offsets let the
// compiler vectorise across the tiles.
template <int M, int W, int S>
inline void bt_axis(float* r) {
  constexpr int T = Minimal<M>::T;
  for (int m = 0; m < W; ++m) {
    float d[T], o[T];
    for (int q = 0; q < T; ++q) d[q] = r[q * S * W + m];
    Minimal<M>::bt(d, o);
    for (int a = 0; a < T; ++a) r[a * S * W + m] = o[a];
  }
}

template <int M, int W, int S>
inline void at_axis(float* r) {
  constexpr int T = Minimal<M>::T;
  for (int m = 0; m < W; ++m) {
    float d[T], o[M];
    for (int q = 0; q < T; ++q) d[q] = r[q * S * W + m];
    Minimal<M>::at(d, o);
    for (int a = 0; a < M; ++a) r[a * S * W + m] = o[a];
  }
}

// segment[s] = row[first_x + s] for x in [lo, hi), zero elsewhere.
template <int64_t kSamples>
inline void copy_padded(const float* row, int64_t lo, int64_t hi, int64_t first_x, float* segment) {
  const int64_t offset = lo - first_x, count = hi - lo;
  if (count == kSamples) {
    __builtin_memcpy(segment, row + lo, kSamples * sizeof(float));
    return;
  }
  for (int64_t s = 0; s < kSamples; ++s) segment[s] = 0.0f;
  if (count > 0) __builtin_memcpy(segment + offset, row + lo, count * sizeof(float));
}

// The block's T^3 transformed positions for one channel, into v[p * stride .. + W] (p = (i T + j) T + k,
// i along z, j along y, k along x). Tile m of the block reads x from M (tx0 + m) - 1: a padded segment
// of the row is split into its M phases (phase r holds samples M q + r), so that the x transform of
// every tile reads contiguous runs.
template <int M, int W>
REPUX_CLONES void transform_input(const float* channel, const Tiling<M>& t, const Block& b, float* v, int64_t stride) {
  constexpr int T = Minimal<M>::T, P = T * T * T;
  constexpr int64_t kSamples = M * (W + 1);
  alignas(32) float runs[P * W];
  const int64_t first_x = M * b.tx0 - 1;
  const int64_t lo = std::max<int64_t>(first_x, 0), hi = std::min(first_x + kSamples, t.width);
  for (int i = 0; i < T; ++i) {
    for (int j = 0; j < T; ++j) {
      const int64_t z = M * b.tz - 1 + i, y = M * b.ty - 1 + j;
      alignas(32) float segment[kSamples];
      if (z >= 0 && z < t.depth && y >= 0 && y < t.height)
        copy_padded<kSamples>(channel + (z * t.height + y) * t.width, lo, hi, first_x, segment);
      else
        for (float& sample : segment) sample = 0.0f;
      alignas(32) float phase[M][W + 1];
      for (int q = 0; q <= W; ++q)
        for (int r = 0; r < M; ++r) phase[r][q] = segment[M * q + r];
      float* out = runs + (i * T + j) * T * W;
      for (int m = 0; m < W; ++m) {
        float d[T], o[T];
        for (int r = 0; r < M; ++r) d[r] = phase[r][m];
        d[M] = phase[0][m + 1];
        d[M + 1] = phase[1][m + 1];
        Minimal<M>::bt(d, o);
        for (int a = 0; a < T; ++a) out[a * W + m] = o[a];
      }
    }
  }
  for (int i = 0; i < T; ++i)
    for (int k = 0; k < T; ++k) bt_axis<M, W, T>(runs + (i * T * T + k) * W);
  for (int jk = 0; jk < T * T; ++jk) bt_axis<M, W, T * T>(runs + jk * W);
  for (int p = 0; p < P; ++p) std::copy_n(runs + p * W, W, v + p * stride);
}

// One output channel of the block from its T^3 positions (m[p * stride .. + W]): z, y, then x into the
// M voxels of each tile's row (+ bias).
template <int M, int W>
REPUX_CLONES void transform_output(const float* m, int64_t stride, const Tiling<M>& t, const Block& b, float bias, float* channel) {
  constexpr int T = Minimal<M>::T, P = T * T * T;
  alignas(32) float runs[P * W];
  for (int p = 0; p < P; ++p) std::copy_n(m + p * stride, W, runs + p * W);
  for (int jk = 0; jk < T * T; ++jk) at_axis<M, W, T * T>(runs + jk * W);
  for (int i = 0; i < M; ++i)
    for (int k = 0; k < T; ++k) at_axis<M, W, T>(runs + (i * T * T + k) * W);
  const int64_t voxels = std::min<int64_t>(M * W, t.width - M * b.tx0);  // of each output row in this block
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) {
      const int64_t z = M * b.tz + i, y = M * b.ty + j;
      if (z >= t.depth || y >= t.height) continue;
      const float* in = runs + (i * T + j) * T * W;
      float row[M * W];
      for (int q = 0; q < W; ++q) {
        float d[T], o[M];
        for (int a = 0; a < T; ++a) d[a] = in[a * W + q];
        Minimal<M>::at(d, o);
        for (int r = 0; r < M; ++r) row[M * q + r] = o[r] + bias;
      }
      std::copy_n(row, voxels, channel + (z * t.height + y) * t.width + M * b.tx0);
    }
  }
}

// One item: every block transformed, multiplied position by position with u [P, K, C], and transformed
// back, with the block's buffers (v: [P][C][W], m: [P][K][W]) private to a thread: done block by block,
// a block's transformed input and products stay in the core's caches, which is what makes Winograd pay
// on a CPU whose memory is slow (done layer-wide, the transformed input, several times the input, went
// to memory and back, and lost to oneDNN).
template <int M, int W>
void convolve_item(const float* input, const float* u, const float* bias, int64_t c_total, int64_t k_total, const Tiling<M>& t,
                   float* output) {
  constexpr int T = Minimal<M>::T, P = T * T * T;
  const BlockProduct product = block_product(W);
  at::parallel_for(0, t.blocks(), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> v(P * c_total * W), m(P * k_total * W);
    for (int64_t index = begin; index < end; ++index) {
      const Block b(t, index);
      for (int64_t c = 0; c < c_total; ++c) transform_input<M, W>(input + c * t.voxels(), t, b, v.data() + c * W, c_total * W);
      for (int p = 0; p < P; ++p) product(u + p * k_total * c_total, v.data() + p * c_total * W, m.data() + p * k_total * W, k_total, c_total);
      for (int64_t k = 0; k < k_total; ++k)
        transform_output<M, W>(m.data() + k * W, k_total * W, t, b, bias ? bias[k] : 0.0f, output + k * t.voxels());
    }
  });
}

// Layer-wide: every tile of the layer transformed first (V: [P][C][tiles], each row of tiles one block
// of W), one matrix product per position (U_p [K x C] times V_p [C x tiles]: LibTorch's mm, i.e. BLAS,
// the positions shared out between the cores), then every tile transformed back. On small volumes with
// many channels (24^3 and below in the full-size network) the blocked way reads the whole transformed
// weight (P K C floats, 19-150 MB there) again for each block of tiles, from memory; this reads it once
// and sends the transformed input (P / M^3 times the input) through memory instead.
template <int M, int W>
void convolve_item_layer_wide(const float* input, const torch::Tensor& u, const float* bias, const Tiling<M>& t, float* output) {
  constexpr int T = Minimal<M>::T, P = T * T * T;
  const int64_t k_total = u.size(1), c_total = u.size(2), blocks = t.blocks(), tiles = blocks * W;
  auto v = torch::empty({P, c_total, tiles});
  auto m = torch::empty({P, k_total, tiles});
  float* const vd = v.data_ptr<float>();
  const float* const md = m.data_ptr<float>();
  at::parallel_for(0, blocks * c_total, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t block = i / c_total, c = i % c_total;
      transform_input<M, W>(input + c * t.voxels(), t, Block(t, block), vd + c * tiles + block * W, c_total * tiles);
    }
  });
  at::parallel_for(0, P, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      auto product = m[p];
      at::mm_out(product, u[p], v[p]);
    }
  });
  at::parallel_for(0, blocks * k_total, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t block = i / k_total, k = i % k_total;
      transform_output<M, W>(md + k * tiles + block * W, k_total * tiles, t, Block(t, block), bias ? bias[k] : 0.0f, output + k * t.voxels());
    }
  });
}

template <int M>
void convolve(const float* input, const torch::Tensor& transformed, const float* bias, WinogradSchedule schedule, int64_t d, int64_t h,
              int64_t w, float* output) {
  const int64_t row_tiles = (w + M - 1) / M;
  if (schedule == WinogradSchedule::LayerWide) {
    const auto layer_wide = [&](auto width) {
      constexpr int W = decltype(width)::value;
      convolve_item_layer_wide<M, W>(input, transformed, bias, Tiling<M>{d, h, w, W}, output);
    };
    // A row of 3, 6 or 12 tiles is one block whose transforms are compiled for its width (no tile wasted).
    if (row_tiles == 3) return layer_wide(std::integral_constant<int, 3>{});
    if (row_tiles == 6) return layer_wide(std::integral_constant<int, 6>{});
    if (row_tiles == 12) return layer_wide(std::integral_constant<int, 12>{});
    return with_block_width(block_width(row_tiles), layer_wide);
  }
  with_block_width(block_width(row_tiles), [&](auto width) {
    constexpr int W = decltype(width)::value;
    convolve_item<M, W>(input, transformed.data_ptr<float>(), bias, transformed.size(2), transformed.size(1), Tiling<M>{d, h, w, W}, output);
  });
}

// G g G^T in three dimensions for every (output, input) channel pair: [K,C,3,3,3] -> [T^3, K, C].
// Computed in float64, rounded once.
torch::Tensor transform_weight(const torch::Tensor& weight, int tile) {
  const auto g = weight.to(torch::kFloat64);
  const std::vector<double> values = tile == 4 ? Minimal<4>::g() : Minimal<2>::g();
  const int64_t t = tile + 2;
  const auto G = torch::tensor(values, torch::kFloat64).view({t, 3});
  // u[a,b,e,k,c] = sum G[a,i] G[b,j] G[e,l] g[k,c,i,j,l]
  auto u = torch::einsum("ai,bj,el,kcijl->abekc", {G, G, G, g});
  return u.reshape({t * t * t, weight.size(0), weight.size(1)}).to(torch::kFloat32).contiguous();
}

std::atomic<bool> g_enabled{true};

}  // namespace

void winograd_set_enabled(bool enabled) { g_enabled = enabled; }
void winograd_force_portable_kernel(bool portable) { block_product_force_portable(portable); }
bool winograd_enabled() { return g_enabled; }

bool winograd_conv3d_applies(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  return no_gradient_wanted(input, weight, bias) && input.device().is_cpu() && input.scalar_type() == torch::kFloat32 && input.dim() == 5 && weight.dim() == 5 &&
         weight.scalar_type() == torch::kFloat32 && weight.size(1) == input.size(1) && weight.size(2) == 3 && weight.size(3) == 3 &&
         weight.size(4) == 3;
}

namespace {

struct Choice {
  int tile = 0;  // 0: LibTorch's convolution
  WinogradSchedule schedule = WinogradSchedule::Blocked;
};

// Measured on a 2-core EPYC (bench_network --conv-table 1, docs/performance.md, every shape of the
// full-size network at a 96^3 window): F(4,3) blocked is 1.7-3.9x faster than oneDNN from 48^3 voxels up
// (F(2,3) 1.0-2.2x there), F(2,3) blocked 1.7-2.1x at 24^3 and 48^3 up to 192 x 192 channels. With more
// channels on fewer voxels the blocked way reads the transformed weight (P K C floats, 16 MB and up from
// 256 x 256 channel pairs) again for every block and loses or ties; layer-wide reads it once: F(2,3)
// layer-wide is 1.6-2.8x faster than oneDNN from 6^3 to 24^3 there, and F(4,3) layer-wide 1.7-2.9x on
// 96 -> 192 channels at 24^3 (F(2,3) blocked 1.6-1.8x).
// F(4,3) rounds more (tests/test_winograd_conv3d.cpp: relative error against float64 3e-6 to 7.5e-6
// up to 96 input channels, 1e-5 to 2e-5 above, against 3e-7 to 2e-6 for oneDNN's float32 and F(2,3)), so
// it is used only up to 96 input channels, where it stays under 1e-5.
Choice choose(int64_t voxels, int64_t in, int64_t out) {
  constexpr int64_t kF4MinVoxels = 48 * 48 * 48, kF4MaxInputChannels = 96;
  constexpr int64_t kF4LayerWideMinVoxels = 24 * 24 * 24, kF4LayerWideMinChannelPairs = 96 * 192;
  constexpr int64_t kLayerWideMinVoxels = 6 * 6 * 6, kLayerWideMaxVoxels = 24 * 24 * 24, kLayerWideMinChannelPairs = 256 * 256;
  constexpr int64_t kF2MinVoxels = 24 * 24 * 24, kF2MaxChannelPairs = 192 * 192;
  if (in <= kF4MaxInputChannels) {
    if (voxels >= kF4MinVoxels) return {4, WinogradSchedule::Blocked};
    if (voxels >= kF4LayerWideMinVoxels && in * out >= kF4LayerWideMinChannelPairs) return {4, WinogradSchedule::LayerWide};
  }
  if (voxels >= kLayerWideMinVoxels && voxels <= kLayerWideMaxVoxels && in * out >= kLayerWideMinChannelPairs)
    return {2, WinogradSchedule::LayerWide};
  if (voxels >= kF2MinVoxels && in * out <= kF2MaxChannelPairs) return {2, WinogradSchedule::Blocked};
  return {};
}

int64_t spatial_voxels(const torch::Tensor& input) { return input.size(2) * input.size(3) * input.size(4); }

}  // namespace

int winograd_conv3d_tile(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!winograd_conv3d_applies(input, weight, bias)) return 0;
  return choose(spatial_voxels(input), weight.size(1), weight.size(0)).tile;
}

WinogradSchedule winograd_conv3d_schedule(const torch::Tensor& input, const WinogradWeight& weight) {
  const Choice choice = choose(spatial_voxels(input), weight.in_channels, weight.out_channels);
  return choice.tile == weight.tile ? choice.schedule : WinogradSchedule::Blocked;
}

bool winograd_conv3d_pays(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  return winograd_conv3d_tile(input, weight, bias) != 0;
}

WinogradWeight winograd_weight(const torch::Tensor& weight, int tile) {
  TORCH_CHECK(weight.dim() == 5 && weight.size(2) == 3 && weight.size(3) == 3 && weight.size(4) == 3,
              "winograd_weight: expected a [K,C,3,3,3] weight, got ", weight.sizes());
  TORCH_CHECK(tile == 2 || tile == 4, "winograd_weight: expected an output tile of 2 or 4, got ", tile);
  torch::NoGradGuard no_grad;
  return {transform_weight(weight.detach(), tile), weight.size(0), weight.size(1), tile};
}

torch::Tensor winograd_conv3d(const torch::Tensor& input, const WinogradWeight& weight, const torch::Tensor& bias, WinogradSchedule schedule) {
  TORCH_CHECK(input.device().is_cpu() && input.scalar_type() == torch::kFloat32 && input.dim() == 5 && input.size(1) == weight.in_channels,
              "winograd_conv3d: expected CPU float32 input [N,", weight.in_channels, ",D,H,W], got ", input.sizes());
  torch::NoGradGuard no_grad;
  RECORD_FUNCTION(weight.tile == 4 ? "repux::winograd_conv3d_f4" : "repux::winograd_conv3d_f2", std::vector<c10::IValue>());
  const int64_t d = input.size(2), h = input.size(3), w = input.size(4);
  const auto b = bias.defined() ? bias.detach().to(torch::kFloat32).contiguous() : torch::Tensor();
  const auto x = input.contiguous();
  auto result = torch::empty({input.size(0), weight.out_channels, d, h, w}, input.options());
  if (schedule == WinogradSchedule::Auto) schedule = winograd_conv3d_schedule(input, weight);
  const float* bias_data = b.defined() ? b.data_ptr<float>() : nullptr;
  for (int64_t item = 0; item < input.size(0); ++item) {
    const float* in = x[item].data_ptr<float>();
    float* out = result[item].data_ptr<float>();
    if (weight.tile == 4) convolve<4>(in, weight.transformed, bias_data, schedule, d, h, w, out);
    else convolve<2>(in, weight.transformed, bias_data, schedule, d, h, w, out);
  }
  return result;
}

torch::Tensor winograd_conv3d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias, int tile,
                              WinogradSchedule schedule) {
  return winograd_conv3d(input, winograd_weight(weight, tile), bias, schedule);
}

}  // namespace repux
