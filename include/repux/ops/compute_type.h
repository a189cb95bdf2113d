#pragma once
// The hand-written kernels (FFT convolution, channels-first LayerNorm, SyncBatchNorm) compute half
// precision (bf16, fp16) inputs in float32 and return the input's dtype: sums over many voxels and FFTs
// lose too much in 8 or 11 bits of mantissa.
#include <torch/torch.h>

namespace repux {

inline bool is_half_precision(torch::ScalarType t) { return t == torch::kHalf || t == torch::kBFloat16; }
inline torch::ScalarType compute_type(torch::ScalarType t) { return is_half_precision(t) ? torch::kFloat32 : t; }
// x itself (no copy) unless it is half precision.
inline torch::Tensor in_compute_type(const torch::Tensor& x) { return x.to(compute_type(x.scalar_type())); }

}  // namespace repux
