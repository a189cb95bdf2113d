// The large-kernel depthwise operator for PyTorch users: registers
//   torch.ops.repux.lk_dwconv(Tensor x, Tensor weight, Tensor? bias=None, str impl="auto") -> Tensor
// in a shared library that `torch.ops.load_library` loads into Debian's python3-torch (the same
// LibTorch build as libtorch-dev, so the ABI matches by construction). The kernel is repux::lk_dwconv
// itself: the same forward, and the same backward through its autograd::Function. It is registered as
// a catch-all (composite) kernel, so PyTorch's autograd records the graph that repux's own Function
// builds inside it. A repux::Error becomes Python's RuntimeError carrying its one-line message.
#include "repux/enum_names.h"
#include "repux/ops/lk_dwconv.h"

#include <torch/library.h>

#include <string>

namespace {

torch::Tensor lk_dwconv_op(const torch::Tensor& x, const torch::Tensor& weight, const c10::optional<torch::Tensor>& bias,
                           c10::string_view impl) {
  const auto implementation = repux::enum_from_name<repux::LkImpl>(std::string(impl));
  return repux::lk_dwconv(x, weight, bias.has_value() ? *bias : torch::Tensor(), implementation);
}

}  // namespace

TORCH_LIBRARY(repux, m) {
  m.def("lk_dwconv(Tensor x, Tensor weight, Tensor? bias=None, str impl='auto') -> Tensor", &lk_dwconv_op);
}
