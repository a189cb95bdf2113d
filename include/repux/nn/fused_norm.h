#pragma once
// Instance normalisation followed by LeakyReLU, and the residual block's ending
// lrelu(instance_norm(h) + residual), in two passes over memory for CPU inference.
//
// Why: LibTorch's instance_norm runs as a batch norm over N*C channels (a pass for the statistics, one
// that writes a new tensor) and the LeakyReLU and the residual add are a pass each with a new tensor of
// their own: at a 96^3 window of the full-size RepUX-Net these took ~12% of a forward pass on a 2-core CPU.
// Here the statistics are one read and the normalisation, the add and the activation one read-write in
// place. Without affine parameters (MONAI's UNETR blocks), eps 1e-5, the biased variance as LibTorch.
#include <torch/torch.h>

namespace repux {

// True when the fused functions may replace LibTorch's ops on these tensors: CPU float32, contiguous,
// [N,C,...] with at least one voxel, and no gradient wanted (the fused functions have no backward).
bool fused_norm_applies(const torch::Tensor& x);

// lrelu(instance_norm(x), slope), written into x.
void instance_norm_lrelu_(torch::Tensor& x, double slope);

// lrelu(instance_norm(x) + (normalise_residual ? instance_norm(residual) : residual), slope), written into
// x; residual has x's shape.
void instance_norm_add_lrelu_(torch::Tensor& x, const torch::Tensor& residual, bool normalise_residual, double slope);

}  // namespace repux
