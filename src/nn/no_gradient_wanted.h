#pragma once
// The CPU inference kernels (Winograd, the stride-2 transposed convolution) compute forward passes
// only: they apply where autograd is off or none of their tensors requires a gradient.
#include <torch/torch.h>

namespace repux {

inline bool no_gradient_wanted(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
  const bool wanted = input.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad());
  return !torch::GradMode::is_enabled() || !wanted;
}

}  // namespace repux
