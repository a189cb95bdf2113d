#pragma once
// Mixed precision as torch.autocast(device, dtype=torch.bfloat16): inside an AutocastScope,
// convolutions and matrix products run in bfloat16 while reductions, softmax, norms and the FFT
// large-kernel path stay in float32. bf16 has float32's range, so no loss scaling is needed.
#include "repux/enum_names.h"

#include <torch/torch.h>

#include <string>

namespace repux {

enum class Precision { Float32, BFloat16 };
template <>
struct EnumNames<Precision> {
  static constexpr const char* what = "precision";
  static constexpr std::pair<Precision, const char*> table[] = {
      {Precision::Float32, "fp32"}, {Precision::BFloat16, "bf16"}, {Precision::Float32, "float32"}, {Precision::BFloat16, "bfloat16"}};
};

// Turns bf16 autocast on for one device type (CPU or CUDA) for its lifetime and restores the previous
// state after; Precision::Float32 does nothing. Scopes nest.
class AutocastScope {
 public:
  AutocastScope(torch::DeviceType device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType device_;
  bool active_ = false;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat32;
};

}  // namespace repux
