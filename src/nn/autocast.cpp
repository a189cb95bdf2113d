#include "repux/nn/autocast.h"

#include "repux/error.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace repux {
namespace {

// LibTorch 2.4 replaced the per-device functions (set_enabled, set_cpu_enabled, ...) by ones that
// take the device type; Debian ships 1.13, the GPU machine 2.11.
#if TORCH_VERSION_MAJOR >= 3 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool enabled(torch::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
void set_enabled(torch::DeviceType d, bool on) { at::autocast::set_autocast_enabled(d, on); }
torch::ScalarType dtype(torch::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
void set_dtype(torch::DeviceType d, torch::ScalarType t) { at::autocast::set_autocast_dtype(d, t); }
#else
bool enabled(torch::DeviceType d) { return d == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_enabled(torch::DeviceType d, bool on) {
  if (d == torch::kCUDA) at::autocast::set_enabled(on);
  else at::autocast::set_cpu_enabled(on);
}
torch::ScalarType dtype(torch::DeviceType d) {
  return d == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(torch::DeviceType d, torch::ScalarType t) {
  if (d == torch::kCUDA) at::autocast::set_autocast_gpu_dtype(t);
  else at::autocast::set_autocast_cpu_dtype(t);
}
#endif

}  // namespace

AutocastScope::AutocastScope(torch::DeviceType device, Precision precision) : device_(device) {
  if (precision == Precision::Float32) return;
  if (device != torch::kCPU && device != torch::kCUDA) fail("bf16 autocast is supported on cpu and cuda only");
  active_ = true;
  previous_enabled_ = enabled(device);
  previous_dtype_ = dtype(device);
  set_enabled(device, true);
  set_dtype(device, torch::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cast weights are cached while any scope is open; drop them when the outermost one closes,
  // as torch.autocast does, so the next step sees the updated weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(device_, previous_enabled_);
  set_dtype(device_, previous_dtype_);
}

}  // namespace repux
