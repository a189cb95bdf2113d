#pragma once
// The channel-mixing kernel shared by the CPU inference convolutions (Winograd's positions, the
// stride-2 transposed convolution's offsets): out[K x W] = u[K x C] . v[C x W] for W of 8, 16 or 24
// columns (row-major, leading dimensions C and W). An AVX2/FMA kernel of 12 accumulator registers
// (12 x 8, 6 x 16 or 4 x 24) where the CPU has one, plain loops otherwise.
#include <cstdint>
#include <type_traits>

namespace repux {

using BlockProduct = void (*)(const float* u, const float* v, float* out, int64_t k_total, int64_t c_total);

// The kernel for blocks of `width` columns (8, 16 or 24).
BlockProduct block_product(int width);

// The block width of 8, 16 or 24 that wastes the fewest columns on a row of `row` (ties to the wider,
// whose kernel reads its weights fewer times).
int64_t block_width(int64_t row);

// f(std::integral_constant<int, W>{}) for W = width (8, 16 or 24): for the callers whose loops are
// compiled per block width.
template <typename F>
void with_block_width(int64_t width, F&& f) {
  if (width == 8) f(std::integral_constant<int, 8>{});
  else if (width == 16) f(std::integral_constant<int, 16>{});
  else f(std::integral_constant<int, 24>{});
}

// True forces the portable loops (tests of the kernels' callers).
void block_product_force_portable(bool portable);

}  // namespace repux
