#pragma once
// The sliding window's accumulators for `depth` consecutive rows (axis 0) of the padded grid, held as
// a ring: finished rows are taken from the front and their storage reused for the rows that follow,
// without moving the others. Two ways to store them (SlidingWindowOptions::accumulators):
// - float32: each class's weighted sum and the weights' sum; a row taken is their quotient, the blend.
// - float16 running means of shifted logits, half the memory: each window's logits less their largest
//   class at each voxel (softmax and argmax ignore a per-voxel constant, so the blend's probabilities
//   and labels are kept), clamped at -30000, folded into a running weighted mean (the weights' sum kept in
//   float32), so that what is stored stays near the values themselves: a near tie between the leading
//   classes sits near 0, where float16 resolves 1e-3 down to 1e-7.
#include "repux/infer/sliding_window.h"

#include <torch/torch.h>

namespace repux {

class LogitRing {
 public:
  LogitRing(int64_t channels, int64_t depth, int64_t height, int64_t width, Accumulators storage, torch::Device device);

  // Adds one window's float32 logits [K, n, h, w] with their weights [n, h, w] at rows [row, row + n),
  // columns from (y, x); the rows must lie in [first(), first() + depth).
  void add(int64_t row, int64_t y, int64_t x, const torch::Tensor& logits, const torch::Tensor& weight);

  // The next n finished rows, blended, [K, n, H, W] float32; their storage is cleared for reuse.
  torch::Tensor take(int64_t n);

  int64_t first() const { return first_; }

 private:
  // Rows [row, row + n) as at most two runs of the ring: f(ring position, offset in the run, length).
  template <class F>
  void for_each_segment(int64_t row, int64_t n, F f) const {
    const int64_t at = row % depth_, head = std::min(n, depth_ - at);
    f(at, 0, head);
    if (head < n) f(0, head, n - head);
  }
  void add_running_mean(int64_t at, int64_t y, int64_t x, const torch::Tensor& logits, const torch::Tensor& weight, const torch::Tensor& before);

  Accumulators storage_;
  torch::Tensor sums_;     // [K, depth, H, W]: float32 sums, or float16 running means
  torch::Tensor weights_;  // [depth, H, W] float32: the weights' sums
  int64_t depth_;
  int64_t first_ = 0;
};

}  // namespace repux
