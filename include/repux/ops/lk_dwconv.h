#pragma once
// Large-kernel depthwise 3-D convolution ("same" padding, stride 1, groups = channels), the operator
// that dominates RepUX-Net's cost. Two implementations of one function:
//   direct: torch::conv3d; fast for small kernels, and on CUDA for small volumes.
//   fft:    real FFTs over the three spatial axes, a per-channel complex product, a crop. Its cost
//           hardly depends on the kernel size, so it wins by orders of magnitude at 21^3 on a CPU.
// `auto` picks one by shape, kernel and device from a cost model calibrated by bench/bench_lk_dwconv.
// All implementations are differentiable (input, weight, bias) through LibTorch's autograd.
#include "repux/enum_names.h"

#include <torch/torch.h>

#include <array>
#include <string>

namespace repux {

enum class LkImpl { Direct, Fft, Auto };
template <>
struct EnumNames<LkImpl> {
  static constexpr const char* what = "convolution implementation";
  static constexpr std::pair<LkImpl, const char*> table[] = {{LkImpl::Direct, "direct"}, {LkImpl::Fft, "fft"}, {LkImpl::Auto, "auto"}};
};

// x: [N, C, D, H, W]; weight: [C, 1, kd, kh, kw] with odd kernel sizes; bias: [C] or undefined.
// Half-precision inputs are computed in float32 inside and returned in their own dtype.
torch::Tensor lk_dwconv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                        LkImpl impl = LkImpl::Auto);

// What the FFT path keeps for its backward pass: the padded input and kernel spectra (no extra
// transforms) or only x and the weight (spectra recomputed: two extra transforms, 3-4x less memory
// per block). Auto: spectra on the CPU, where time is scarce; inputs on CUDA, where memory is.
enum class LkSaveMode { Auto, Spectra, Inputs };
template <>
struct EnumNames<LkSaveMode> {
  static constexpr const char* what = "save mode";
  static constexpr std::pair<LkSaveMode, const char*> table[] = {
      {LkSaveMode::Auto, "auto"}, {LkSaveMode::Spectra, "spectra"}, {LkSaveMode::Inputs, "inputs"}};
};
void lk_set_save_mode(LkSaveMode mode);  // process-wide; for benchmarks and tests
LkSaveMode lk_save_mode();

// What `auto` would run for these sizes on this device (x sizes, kernel sizes).
LkImpl lk_choose_impl(torch::IntArrayRef input_sizes, torch::IntArrayRef kernel_sizes, const torch::Device& device);

// Inference path: the kernel spectrum depends only on the weights and the window shape, which do
// not change between sliding windows, so it is computed once and reused. Not differentiable.
class LkSpectrumCache {
 public:
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);
  void clear() { spectrum_ = torch::Tensor(); }

 private:
  torch::Tensor spectrum_;
  std::array<int64_t, 3> input_shape_{};
  const void* weight_data_ = nullptr;
  int64_t weight_version_ = -1;
  torch::Device device_{torch::kCPU};
  torch::ScalarType dtype_ = torch::kFloat32;
};

}  // namespace repux
