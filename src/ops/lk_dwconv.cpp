#include "repux/ops/lk_dwconv.h"

#include "repux/error.h"
#include "repux/ops/compute_type.h"
#include "repux/shape_string.h"

#include <atomic>
#include <cmath>

namespace repux {
namespace {

// Smallest n >= target whose prime factors are 2, 3 and 5 (fast for pocketfft and cuFFT alike);
// the last axis is kept even, which real FFTs prefer.
int64_t fast_fft_size(int64_t target, bool even) {
  for (int64_t n = std::max<int64_t>(target, 1);; ++n) {
    if (even && n % 2 != 0) continue;
    int64_t m = n;
    for (int64_t p : {2, 3, 5}) {
      while (m % p == 0) m /= p;
    }
    if (m == 1) return n;
  }
}

struct FftPlan {
  std::array<int64_t, 3> input{};   // spatial size of x
  std::array<int64_t, 3> kernel{};  // kernel size after cropping to what can touch the input
  std::array<int64_t, 3> padded{};  // FFT size per axis
};

void check_inputs(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (x.dim() != 5) fail("lk_dwconv: input must be 5-D [N, C, D, H, W], got {}-D {}", x.dim(), shape_string(x.sizes()));
  if (weight.dim() != 5 || weight.size(1) != 1) {
    fail("lk_dwconv: weight must be [C, 1, kd, kh, kw], got {}", shape_string(weight.sizes()));
  }
  if (weight.size(0) != x.size(1)) {
    fail("lk_dwconv: weight has {} channels but the input has {}", weight.size(0), x.size(1));
  }
  for (int a = 2; a < 5; ++a) {
    if (weight.size(a) % 2 == 0) fail("lk_dwconv: kernel size {} is even, expected an odd size", weight.size(a));
    if (x.size(a) < 1) fail("lk_dwconv: input spatial size {} is empty", x.size(a));
  }
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != x.size(1))) {
    fail("lk_dwconv: bias must be [{}], got {}", x.size(1), shape_string(bias.sizes()));
  }
  if (x.device() != weight.device()) fail("lk_dwconv: input on {} but weight on {}", x.device().str(), weight.device().str());
}

// Kernel taps further than size-1 from the centre never touch the input: crop them away.
std::array<int64_t, 3> effective_kernel(torch::IntArrayRef input_sizes, torch::IntArrayRef kernel_sizes) {
  std::array<int64_t, 3> k{};
  for (int a = 0; a < 3; ++a) {
    k[a] = std::min<int64_t>(kernel_sizes[kernel_sizes.size() - 3 + a], 2 * input_sizes[input_sizes.size() - 3 + a] - 1);
  }
  return k;
}

torch::Tensor crop_kernel(const torch::Tensor& weight, const std::array<int64_t, 3>& k) {
  torch::Tensor w = weight;
  for (int a = 0; a < 3; ++a) {
    const int64_t extra = weight.size(2 + a) - k[a];
    if (extra > 0) w = w.narrow(2 + a, extra / 2, k[a]);
  }
  return w;
}

FftPlan make_plan(const torch::Tensor& x, const torch::Tensor& weight) {
  FftPlan plan;
  plan.kernel = effective_kernel(x.sizes(), weight.sizes());
  for (int a = 0; a < 3; ++a) {
    plan.input[a] = x.size(2 + a);
    // n + k/2 is enough: the circular wrap of the correlation then only reads zero padding.
    plan.padded[a] = fast_fft_size(plan.input[a] + plan.kernel[a] / 2, a == 2);
  }
  return plan;
}

// Spectrum of the kernel laid out so that the circular correlation lands on "same" output indices:
// tap t is stored at (t - k/2) mod L.
torch::Tensor kernel_spectrum(const torch::Tensor& weight, const FftPlan& plan) {
  auto w = crop_kernel(weight, plan.kernel).squeeze(1);  // [C, kd, kh, kw]
  std::vector<int64_t> pads;
  for (int a = 2; a >= 0; --a) {
    pads.push_back(0);
    pads.push_back(plan.padded[a] - plan.kernel[a]);
  }
  w = torch::constant_pad_nd(w, pads, 0.0);
  w = torch::roll(w, {-(plan.kernel[0] / 2), -(plan.kernel[1] / 2), -(plan.kernel[2] / 2)}, {1, 2, 3});
  return torch::fft::rfftn(w, torch::IntArrayRef(plan.padded.data(), 3), torch::IntArrayRef{1, 2, 3});
}

constexpr std::array<int64_t, 3> kSpatialDims{2, 3, 4};  // of [N, C, D, H, W]
torch::IntArrayRef spatial_dims() { return torch::IntArrayRef(kSpatialDims.data(), 3); }
torch::IntArrayRef padded_sizes(const FftPlan& plan) { return torch::IntArrayRef(plan.padded.data(), 3); }

torch::Tensor input_spectrum(const torch::Tensor& x, const FftPlan& plan) {
  return torch::fft::rfftn(x, padded_sizes(plan), spatial_dims());
}

// Back from the padded FFT grid to the input's spatial size ([N, C, ...] layout).
torch::Tensor inverse_and_crop(const torch::Tensor& spectrum, const FftPlan& plan) {
  return torch::fft::irfftn(spectrum, padded_sizes(plan), spatial_dims())
      .narrow(2, 0, plan.input[0]).narrow(3, 0, plan.input[1]).narrow(4, 0, plan.input[2]);
}

// "Same" cross-correlation of the input (given by its spectrum) with the kernel (given by its spectrum).
torch::Tensor correlate(const torch::Tensor& input_spectrum, const torch::Tensor& kernel_spectrum, const FftPlan& plan) {
  return inverse_and_crop(input_spectrum * kernel_spectrum.conj().unsqueeze(0), plan);
}

torch::Tensor add_bias(const torch::Tensor& y, const torch::Tensor& bias) {
  return bias.defined() ? y + bias.to(y.scalar_type()).view({1, -1, 1, 1, 1}) : y;
}


std::vector<int64_t> plan_to_list(const FftPlan& p) {
  return {p.input[0], p.input[1], p.input[2], p.kernel[0], p.kernel[1], p.kernel[2], p.padded[0], p.padded[1], p.padded[2]};
}

FftPlan plan_from_list(const std::vector<int64_t>& v) {
  FftPlan p;
  for (int a = 0; a < 3; ++a) {
    p.input[a] = v[a];
    p.kernel[a] = v[3 + a];
    p.padded[a] = v[6 + a];
  }
  return p;
}

std::atomic<LkSaveMode> g_save_mode{LkSaveMode::Auto};

// The FFT convolution with a hand-written backward, so that autograd does not keep the padded complex
// spectra of every block's input (3-4x the input's size) until the backward pass. What is kept is a
// policy by device: on CUDA, where memory is the scarce resource and transforms are cheap, only x and
// the weight (both spectra recomputed in backward: two extra transforms); on the CPU, where time is
// scarce and memory is not, the spectra themselves (no extra transforms). Gradients, with G = F(dL/dy):
//   dL/dx = F^-1(G K)               (convolution with the kernel: the adjoint of the correlation)
//   dL/dw = taps of F^-1(sum_n X conj(G))   (correlation of x with dL/dy, summed over the batch)
// Both read only zero padding when they wrap around, since every padded size is >= n + k/2.
class FftDepthwiseConv : public torch::autograd::Function<FftDepthwiseConv> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight) {
    const auto xc = in_compute_type(x);
    const auto wc = weight.to(xc.scalar_type());
    const FftPlan plan = make_plan(xc, wc);
    const auto spectrum = kernel_spectrum(wc, plan);
    const auto xf = input_spectrum(xc, plan);
    const auto y = correlate(xf, spectrum, plan);
    const LkSaveMode mode = lk_save_mode();
    const bool keep_spectra = mode == LkSaveMode::Spectra || (mode == LkSaveMode::Auto && !x.is_cuda());
    ctx->save_for_backward({x, weight, keep_spectra ? xf : torch::Tensor(), keep_spectra ? spectrum : torch::Tensor()});
    ctx->saved_data["plan"] = plan_to_list(plan);
    return y.to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const FftPlan plan = plan_from_list(ctx->saved_data["plan"].toIntVector());
    const auto type = compute_type(x.scalar_type());
    const auto gf = input_spectrum(grads[0].to(type), plan);
    torch::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0)) {
      const auto spectrum = saved[3].defined() ? saved[3] : kernel_spectrum(weight.to(type), plan);
      grad_x = inverse_and_crop(gf * spectrum.unsqueeze(0), plan).to(x.scalar_type());
    }
    if (ctx->needs_input_grad(1)) {
      const auto xf = saved[2].defined() ? saved[2] : input_spectrum(x.to(type), plan);
      // Summed over the batch: [C, L, L, L/2+1], back to [C, L, L, L].
      auto c = torch::fft::irfftn((xf * gf.conj()).sum(0), padded_sizes(plan), torch::IntArrayRef{1, 2, 3});
      // Tap t of the kernel is the correlation at offset t - k/2 (mod L).
      c = torch::roll(c, {plan.kernel[0] / 2, plan.kernel[1] / 2, plan.kernel[2] / 2}, {1, 2, 3});
      c = c.narrow(1, 0, plan.kernel[0]).narrow(2, 0, plan.kernel[1]).narrow(3, 0, plan.kernel[2]).unsqueeze(1);
      // Taps cropped away never touched the input: their gradient is exactly zero.
      std::vector<int64_t> pads;
      for (int a = 2; a >= 0; --a) {
        const int64_t extra = weight.size(2 + a) - plan.kernel[a];
        pads.push_back(extra / 2);
        pads.push_back(extra - extra / 2);
      }
      grad_w = torch::constant_pad_nd(c, pads, 0.0).to(weight.scalar_type());
    }
    return {grad_x, grad_w};
  }
};

torch::Tensor fft_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  return add_bias(FftDepthwiseConv::apply(x, weight), bias);
}

torch::Tensor direct_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  // CPU convolutions have no half-precision kernels: compute those in float32.
  const bool upcast = is_half_precision(x.scalar_type()) && !x.is_cuda();
  auto xc = upcast ? x.to(torch::kFloat32) : x;
  const auto k = effective_kernel(x.sizes(), weight.sizes());
  auto w = crop_kernel(weight, k).to(xc.scalar_type());
  auto b = bias.defined() ? bias.to(xc.scalar_type()) : bias;
  auto y = torch::conv3d(xc, w, b, /*stride=*/{1, 1, 1}, /*padding=*/{k[0] / 2, k[1] / 2, k[2] / 2},
                         /*dilation=*/{1, 1, 1}, /*groups=*/x.size(1));
  return y.to(x.scalar_type());
}

}  // namespace

void lk_set_save_mode(LkSaveMode mode) { g_save_mode = mode; }
LkSaveMode lk_save_mode() { return g_save_mode; }

LkImpl lk_choose_impl(torch::IntArrayRef input_sizes, torch::IntArrayRef kernel_sizes, const torch::Device& device) {
  // Cost model: direct does n * k^3 multiply-adds per channel; fft does about 3 transforms of the
  // padded size L (each ~ L log2 L butterflies) plus a complex product. The per-device constant is
  // the measured ratio of a direct multiply-add's cost to one FFT unit (bench/bench_lk_dwconv).
  const auto k = effective_kernel(input_sizes, kernel_sizes);
  double n = 1, taps = 1, padded = 1;
  for (int a = 0; a < 3; ++a) {
    const int64_t size = input_sizes[input_sizes.size() - 3 + a];
    n *= static_cast<double>(size);
    taps *= static_cast<double>(k[a]);
    padded *= static_cast<double>(fast_fft_size(size + k[a] / 2, a == 2));
  }
  const double direct_cost = n * taps;
  const double fft_cost = padded * (3.0 * std::log2(std::max(2.0, padded)) + 8.0);
  const double fft_unit_in_macs = device.is_cuda() ? 4.0 : 2.0;
  return direct_cost < fft_cost * fft_unit_in_macs ? LkImpl::Direct : LkImpl::Fft;
}

torch::Tensor lk_dwconv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, LkImpl impl) {
  check_inputs(x, weight, bias);
  if (impl == LkImpl::Auto) impl = lk_choose_impl(x.sizes(), weight.sizes(), x.device());
  return impl == LkImpl::Direct ? direct_forward(x, weight, bias) : fft_forward(x, weight, bias);
}

torch::Tensor LkSpectrumCache::forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  check_inputs(x, weight, bias);
  torch::NoGradGuard no_grad;
  auto xc = in_compute_type(x);
  const FftPlan plan = make_plan(xc, weight);
  const std::array<int64_t, 3> shape{x.size(2), x.size(3), x.size(4)};
  const bool stale = !spectrum_.defined() || shape != input_shape_ || weight.data_ptr() != weight_data_ ||
                     weight._version() != weight_version_ || xc.device() != device_ || xc.scalar_type() != dtype_;
  if (stale) {
    spectrum_ = kernel_spectrum(weight.to(xc.scalar_type()), plan);
    input_shape_ = shape;
    weight_data_ = weight.data_ptr();
    weight_version_ = weight._version();
    device_ = xc.device();
    dtype_ = xc.scalar_type();
  }
  return add_bias(correlate(input_spectrum(xc, plan), spectrum_, plan), bias).to(x.scalar_type());
}

}  // namespace repux
