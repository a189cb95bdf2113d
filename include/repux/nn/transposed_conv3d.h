#pragma once
// The UNETR decoder's up-sampling, a transposed convolution with kernel 2 and stride 2, for CPU
// inference. Every input voxel becomes a 2x2x2 cube of output voxels,
//   out[k, 2z+a, 2y+b, 2x+c] = bias[k] + sum_i w[i, k, a, b, c] x[i, z, y, x],
// eight channel products that do not overlap. LibTorch's path (oneDNN) ran at about 40 GFLOP/s on the
// full-size network's 96 -> 48 channels at 48^3 (0.2-0.3 s of a 4 s window on a 2-core EPYC); here a
// row of input voxels at a time is multiplied by the weights of both x offsets of each (a, b) with the
// same cache-blocked kernel as the Winograd convolutions, and the two results of each output channel
// are interleaved into its output rows.
//
// Forward only, float32, CPU: training keeps LibTorch's transposed convolution (and its autograd).
#include <torch/torch.h>

namespace repux {

// True when stride2_transposed_conv3d computes this transposed convolution: CPU float32 [N,C,D,H,W]
// input, a float32 [C,K,2,2,2] weight (stride 2, no padding, one group), and no gradient wanted.
bool stride2_transposed_conv3d_applies(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

// True when it applies and is faster than LibTorch's path: from 24^3 input voxels up (measured on a
// 2-core EPYC, docs/performance.md: 1.8-3.0x at 48^3 and 1.4-1.5x at 24^3 for the full-size network's
// shapes; 0.9-1.0x at 12^3 and 0.6x at 6^3, where few voxels share each weight read).
bool stride2_transposed_conv3d_pays(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

// conv_transpose3d(input, weight, bias, stride 2); bias may be undefined.
torch::Tensor stride2_transposed_conv3d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

}  // namespace repux
