#pragma once
// Mixed precision as torch.autocast(device, dtype=torch.bfloat16): inside an AutocastScope,
// convolutions and matrix products run in bfloat16 while reductions, softmax, norms and the FFT
// large-kernel path stay in float32. bf16 has float32's range, so no loss scaling is needed.
#include <torch/torch.h>

#include <string>

namespace repux {

enum class Precision { Float32, BFloat16 };

// "fp32" / "float32" or "bf16" / "bfloat16"; anything else is an error naming the value.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision precision);

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

// Runs a normalisation written with elementwise ops (the channels-first LayerNorm) in float32 when `x`
// is bf16 or half, and returns x's dtype: what autocast does for torch's own layer_norm. The native
// batch and instance norms need no help: their kernels accumulate in float32 (and upcasting them would
// keep float32 copies of the largest decoder activations for backward).
template <typename Normalization>
torch::Tensor normalize_in_float32(const torch::Tensor& x, Normalization&& normalization) {
  const auto dtype = x.scalar_type();
  if (dtype != torch::kBFloat16 && dtype != torch::kHalf) return normalization(x);
  return normalization(x.to(torch::kFloat32)).to(dtype);
}

}  // namespace repux
