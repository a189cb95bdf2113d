"""repux's FFT large-kernel depthwise 3-D convolution for PyTorch.

    import repux_torch
    y = repux_torch.lk_dwconv(x, weight, bias)            # torch.ops.repux.lk_dwconv
    conv = repux_torch.LargeKernelConv3d(48, 21)           # drop-in for a depthwise nn.Conv3d
    repux_torch.replace_depthwise_convs(model)             # swap a model's own convs, weights kept

The operator is the one the repux program trains with: "same" padding, stride 1, one kernel per channel,
any odd kernel size, float32/float64 (and bf16/fp16, computed in float32), CPU and CUDA, with autograd
for input, weight and bias. impl is "auto" (chosen by shape and device), "fft" or "direct".
The shared library is found next to this file, or at $REPUX_TORCH_OPS_LIBRARY.
"""
import os

import torch

__all__ = ["lk_dwconv", "LargeKernelConv3d", "replace_depthwise_convs", "library_path"]


def library_path():
    """Where the operator's shared library is loaded from."""
    return os.environ.get("REPUX_TORCH_OPS_LIBRARY") or os.path.join(os.path.dirname(__file__), "librepux_torch_ops.so")


torch.ops.load_library(library_path())


def lk_dwconv(x, weight, bias=None, impl="auto"):
    """Depthwise 3-D convolution of x [N, C, D, H, W] with weight [C, 1, kd, kh, kw] (odd sizes),
    'same' padding, plus bias [C] if given."""
    return torch.ops.repux.lk_dwconv(x, weight, bias, impl)


def _is_same_depthwise(conv):
    k = conv.kernel_size
    return (conv.groups == conv.in_channels == conv.out_channels and all(s % 2 == 1 for s in k)
            and tuple(conv.padding) == tuple(s // 2 for s in k) and tuple(conv.stride) == (1, 1, 1)
            and tuple(conv.dilation) == (1, 1, 1) and conv.padding_mode == "zeros")


class LargeKernelConv3d(torch.nn.Conv3d):
    """nn.Conv3d(C, C, k, padding=k // 2, groups=C) computed by repux's operator. It is an nn.Conv3d
    (same parameters, same state_dict keys 'weight' and 'bias'), so a model's saved weights load
    unchanged and isinstance checks still hold."""

    def __init__(self, channels, kernel_size, bias=True, impl="auto", device=None, dtype=None):
        ks = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(channels, channels, ks, padding=tuple(s // 2 for s in ks), groups=channels, bias=bias,
                         device=device, dtype=dtype)
        self.impl = impl

    def forward(self, x):
        return lk_dwconv(x, self.weight, self.bias, self.impl)

    @classmethod
    def from_conv3d(cls, conv, impl="auto"):
        """The same layer, sharing conv's parameters (no copy)."""
        if not _is_same_depthwise(conv):
            raise ValueError(f"repux_torch: {conv} is not a depthwise, stride-1, 'same'-padded Conv3d with odd kernel sizes")
        layer = cls(conv.in_channels, conv.kernel_size, bias=conv.bias is not None, impl=impl,
                    device=conv.weight.device, dtype=conv.weight.dtype)
        layer.weight = conv.weight
        if conv.bias is not None:
            layer.bias = conv.bias
        return layer


def replace_depthwise_convs(module, min_kernel=7, impl="auto", make=None):
    """Replaces, in place, every depthwise 'same' nn.Conv3d of module whose kernel is at least
    min_kernel on every axis by make(conv) (default: a LargeKernelConv3d sharing its parameters).
    Returns how many."""
    make = make or (lambda conv: LargeKernelConv3d.from_conv3d(conv, impl))
    count = 0
    for name, child in module.named_children():
        if (type(child) is torch.nn.Conv3d and _is_same_depthwise(child)
                and min(child.kernel_size) >= min_kernel):
            setattr(module, name, make(child))
            count += 1
        else:
            count += replace_depthwise_convs(child, min_kernel, impl, make)
    return count
