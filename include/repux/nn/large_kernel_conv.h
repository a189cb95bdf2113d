#pragma once
// The depthwise large-kernel convolution of a block, with its training-time re-parameterization:
//   none:       y = conv(x, W)
//   bfr:        y = conv(x, W * F), F(i,j,l) = alpha / (d + alpha), d = distance to the kernel centre.
//               F is applied inside the autograd graph, so dL/dW = F * dL/dW_eff and every optimiser
//               step moves W (the public code re-assigns W * F to a new parameter each forward pass,
//               which detaches it from the optimiser; we do not copy that).
//   structural: y = conv(x, W + pad(W_small)), a parallel small kernel merged by zero-padded sum.
// deploy() folds the re-parameterization into W once; afterwards the module is a plain depthwise
// conv whose weight is the effective kernel (the form official checkpoints store), and FFT inference
// without gradients reuses the kernel spectrum across sliding windows.
#include "repux/enum_names.h"
#include "repux/ops/lk_dwconv.h"

#include <torch/torch.h>

#include <string>

namespace repux {

enum class Reparam { None, Bfr, Structural };
template <>
struct EnumNames<Reparam> {
  static constexpr const char* what = "re-parameterization";
  static constexpr std::pair<Reparam, const char*> table[] = {
      {Reparam::None, "none"}, {Reparam::Bfr, "bfr"}, {Reparam::Structural, "structural"}};
};

// The BFR prior map F for a cubic kernel of size k, shape [k, k, k].
torch::Tensor bfr_prior(int64_t kernel_size, double alpha, torch::ScalarType dtype = torch::kFloat32);

struct LargeKernelConvOptions {
  int64_t channels = 48;
  int64_t kernel_size = 21;
  Reparam reparam = Reparam::Bfr;
  double alpha = 1.0;
  int64_t small_kernel_size = 5;  // structural re-parameterization only
  LkImpl impl = LkImpl::Auto;
};

struct LargeKernelConvImpl : torch::nn::Module {
  explicit LargeKernelConvImpl(const LargeKernelConvOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  // The kernel the convolution applies (W * F, W + pad(W_small), or W), differentiable.
  torch::Tensor effective_weight() const;
  // Folds the re-parameterization into `weight` once; idempotent.
  void deploy();
  // Loads an effective kernel (e.g. from an official checkpoint) so that the function is unchanged:
  // in BFR mode W = W_eff / F; in structural mode the small branch is zeroed.
  void load_effective_weight(const torch::Tensor& effective);
  bool deployed() const { return deployed_; }

  torch::Tensor weight, bias, small_weight, small_bias;
  LargeKernelConvOptions options;

 private:
  torch::Tensor prior_;  // F, a buffer-like constant not saved in state dicts
  bool deployed_ = false;
  LkSpectrumCache cache_;
};
TORCH_MODULE(LargeKernelConv);

}  // namespace repux
