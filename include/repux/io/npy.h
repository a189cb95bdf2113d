#pragma once
// NumPy .npy arrays (format 1.0/2.0, little-endian float32, float64, int64, int32, uint8), for
// parity checks of the raw network against other implementations.
#include <torch/torch.h>

#include <string>

namespace repux {

torch::Tensor read_npy(const std::string& path);
void write_npy(const torch::Tensor& tensor, const std::string& path);  // atomic

}  // namespace repux
