#pragma once
// "[2, 48, 32, 32, 32]": tensor sizes for error messages.
#include <torch/torch.h>

#include <string>

namespace repux {

inline std::string shape_string(torch::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

}  // namespace repux
