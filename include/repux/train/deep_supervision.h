#pragma once
// Deep supervision as nnU-Net trains it: the loss on each decoder output (finest first) against the
// label downsampled to that output's size (nearest-exact, nnU-Net's DownsampleSegForDSTransform),
// weighted 1, 1/2, 1/4, ... with the coarsest output's weight 0, normalised to sum 1.
#include <torch/torch.h>

#include <vector>

namespace repux {

// The weights of `outputs` outputs (one output: {1}).
std::vector<double> deep_supervision_weights(size_t outputs);

// label [N, D, H, W] at each output's spatial size (outputs [N, K, d, h, w], finest first).
std::vector<torch::Tensor> deep_supervision_targets(const torch::Tensor& label, const std::vector<torch::Tensor>& outputs);

}  // namespace repux
