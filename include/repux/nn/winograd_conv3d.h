#pragma once
// Dense 3x3x3 convolution (stride 1, zero padding 1, no groups) by Winograd's minimal filtering F(2,3) or
// F(4,3) in three dimensions, for CPU inference.
//
// Why: with the large kernels in the frequency domain, the decoder's dense 3x3x3 convolutions are
// about 80% of a RepUX-Net forward pass on a CPU (oneDNN's direct convolution). F(MxMxM, 3x3x3) computes
// each M^3 output tile from a (M+2)^3 input tile with (M+2)^3 multiplications per (input, output) channel
// pair instead of 27 M^3: 64 instead of 216 for M = 2, 216 instead of 1728 for M = 4. The channel mixing
// becomes (M+2)^3 independent matrix products, one per position of the transformed tile, and the
// transforms are additions and multiplications by small constants. F(2,3)'s matrices hold only 0, +-1
// and +-1/2 (float32's accuracy); F(4,3)'s hold up to 5 and 1/24 and round more, so it is chosen only
// where its error stays under 1e-5 relative (winograd_conv3d_tile; the figures are in the source).
//
// Forward only, float32, CPU: training keeps LibTorch's convolution (and its autograd).
#include <torch/torch.h>

namespace repux {

// True when winograd_conv3d can compute this convolution: CPU float32 [N,C,D,H,W] input, a float32
// [K,C,3,3,3] weight, and no gradient wanted (autograd is off or none of input, weight and bias
// requires grad: its result has no backward).
bool winograd_conv3d_applies(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

// True when it applies and is faster than LibTorch's convolution on this shape: large volumes with
// moderate channel counts (the rule and its measurements are in the source).
bool winograd_conv3d_pays(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

// The weight in the transformed domain, [(tile+2)^3, K, C]: computed once per weight (in float64, rounded
// once) and reusable for every call while the weight is unchanged.
struct WinogradWeight {
  torch::Tensor transformed;
  int64_t out_channels = 0, in_channels = 0;
  int tile = 4;  // the output tile's edge: F(2,3) or F(4,3)
};
WinogradWeight winograd_weight(const torch::Tensor& weight, int tile = 4);

// The output tile that pays on this shape (2 or 4), 0 where LibTorch's convolution is faster or
// winograd_conv3d does not apply.
int winograd_conv3d_tile(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

// How the channel products are scheduled. Blocked: a block of tiles at a time, its transformed input and
// products in the core's caches, the whole transformed weight read again for each block (large volumes,
// moderate channels). LayerWide: every tile transformed first, then one matrix product per position of
// the tile, which reads the transformed weight once (small volumes, many channels). Auto: the one
// measured faster for the shape (winograd_conv3d_schedule).
enum class WinogradSchedule { Auto, Blocked, LayerWide };
WinogradSchedule winograd_conv3d_schedule(const torch::Tensor& input, const WinogradWeight& weight);

// conv3d(input, weight, bias, stride 1, padding 1); bias may be undefined. The input must be CPU float32.
torch::Tensor winograd_conv3d(const torch::Tensor& input, const WinogradWeight& weight, const torch::Tensor& bias = {},
                              WinogradSchedule schedule = WinogradSchedule::Auto);
torch::Tensor winograd_conv3d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {}, int tile = 4,
                              WinogradSchedule schedule = WinogradSchedule::Auto);

// Whether the network's 3x3x3 convolutions use this path, and its stride-2 transposed convolutions
// repux's own (nn/transposed_conv3d.h), where they pay (default true). Off, they all run LibTorch's:
// for paired benchmarks and for tests of the network against it.
void winograd_set_enabled(bool enabled);
bool winograd_enabled();
// The products run an AVX2/FMA kernel where the CPU has one; true forces the portable loops (tests).
void winograd_force_portable_kernel(bool portable);

}  // namespace repux
