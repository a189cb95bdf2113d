#include "repux/nn/large_kernel_conv.h"

#include "repux/error.h"
#include "repux/shape_string.h"

#include <cmath>

namespace repux {

torch::Tensor bfr_prior(int64_t k, double alpha, torch::ScalarType dtype) {
  if (!(alpha > 0)) fail("BFR alpha must be positive, got {}", alpha);
  const double c = static_cast<double>(k / 2);
  auto idx = torch::arange(k, torch::kFloat64) - c;
  auto grids = torch::meshgrid({idx, idx, idx}, "ij");
  auto distance = torch::sqrt(grids[0].pow(2) + grids[1].pow(2) + grids[2].pow(2));
  return (alpha / (distance + alpha)).to(dtype);
}

LargeKernelConvImpl::LargeKernelConvImpl(const LargeKernelConvOptions& opts) : options(opts) {
  const int64_t k = opts.kernel_size;
  if (k < 1 || k % 2 == 0) fail("kernel size {} must be odd and positive", k);
  // PyTorch's Conv3d default initialisation (kaiming_uniform with a = sqrt(5)): bound 1/sqrt(fan_in).
  const double bound = 1.0 / std::sqrt(static_cast<double>(k * k * k));
  weight = register_parameter("weight", torch::empty({opts.channels, 1, k, k, k}).uniform_(-bound, bound));
  bias = register_parameter("bias", torch::empty({opts.channels}).uniform_(-bound, bound));
  if (opts.reparam == Reparam::Bfr) prior_ = bfr_prior(k, opts.alpha, torch::kFloat64).view({1, 1, k, k, k});
  if (opts.reparam == Reparam::Structural) {
    const int64_t s = opts.small_kernel_size;
    if (s < 1 || s % 2 == 0 || s > k) fail("small kernel size {} must be odd and at most {}", s, k);
    const double small_bound = 1.0 / std::sqrt(static_cast<double>(s * s * s));
    small_weight = register_parameter("small_weight", torch::empty({opts.channels, 1, s, s, s}).uniform_(-small_bound, small_bound));
    small_bias = register_parameter("small_bias", torch::empty({opts.channels}).uniform_(-small_bound, small_bound));
  }
}

torch::Tensor LargeKernelConvImpl::effective_weight() const {
  if (deployed_) return weight;
  switch (options.reparam) {
    case Reparam::Bfr: return weight * prior_.to(weight.device(), weight.scalar_type());
    case Reparam::Structural: {
      const int64_t p = (options.kernel_size - options.small_kernel_size) / 2;
      return weight + torch::constant_pad_nd(small_weight, {p, p, p, p, p, p}, 0.0);
    }
    case Reparam::None: break;
  }
  return weight;
}

torch::Tensor LargeKernelConvImpl::forward(const torch::Tensor& x) {
  if (deployed_ && !torch::GradMode::is_enabled()) {
    // Inference: reuse the kernel spectra across windows, but only where FFT is the implementation
    // asked for (or the one auto picks): on tiny volumes a direct convolution is faster.
    const LkImpl impl = options.impl == LkImpl::Auto ? lk_choose_impl(x.sizes(), weight.sizes(), x.device()) : options.impl;
    if (impl == LkImpl::Fft) return cache_.forward(x, weight, bias);
    return lk_dwconv(x, weight, bias, impl);
  }
  auto b = (!deployed_ && options.reparam == Reparam::Structural) ? bias + small_bias : bias;
  return lk_dwconv(x, effective_weight(), b, options.impl);
}

void LargeKernelConvImpl::deploy() {
  if (deployed_) return;
  torch::NoGradGuard no_grad;
  auto folded = effective_weight().detach().clone();
  weight.copy_(folded);
  if (options.reparam == Reparam::Structural) {
    bias.add_(small_bias);
    small_weight.zero_();
    small_bias.zero_();
  }
  deployed_ = true;
  cache_.clear();
}

void LargeKernelConvImpl::load_effective_weight(const torch::Tensor& effective) {
  if (effective.sizes() != weight.sizes()) {
    fail("kernel of shape {} does not fit a convolution of shape {}", shape_string(effective.sizes()),
         shape_string(weight.sizes()));
  }
  torch::NoGradGuard no_grad;
  auto w = effective.to(weight.device(), weight.scalar_type());
  if (!deployed_ && options.reparam == Reparam::Bfr) w = w / prior_.to(w.device(), w.scalar_type());
  if (!deployed_ && options.reparam == Reparam::Structural) {
    small_weight.zero_();
    small_bias.zero_();
  }
  weight.copy_(w);
  cache_.clear();
}

}  // namespace repux
