#!/usr/bin/env python3
"""torch.ops.repux.lk_dwconv through Python, against torch.nn.functional.conv3d in float64: forward,
the gradients of input, weight and bias, gradcheck, the nn.Module drop-in and the error path.
Exits 77 (skipped) when this Python has no torch. Run with PYTHONPATH=BUILD/python."""
import sys
import unittest

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch is not importable by this Python: skipped")
    sys.exit(77)

import repux_torch


def reference(x, w, b):
    k = w.shape[2:]
    return F.conv3d(x, w, b, padding=tuple(s // 2 for s in k), groups=x.shape[1])


class LkDwconvOp(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def check_against_conv3d(self, x_shape, k, impl):
        x = torch.randn(*x_shape, dtype=torch.float64, requires_grad=True)
        w = torch.randn(x_shape[1], 1, *k, dtype=torch.float64, requires_grad=True)
        b = torch.randn(x_shape[1], dtype=torch.float64, requires_grad=True)
        y = torch.ops.repux.lk_dwconv(x, w, b, impl)
        y_ref = reference(x, w, b)
        self.assertEqual(y.shape, y_ref.shape)
        self.assertTrue(torch.allclose(y, y_ref, atol=1e-10), f"forward differs by {(y - y_ref).abs().max()}")
        g = torch.randn_like(y_ref)
        grads = torch.autograd.grad(y, (x, w, b), g)
        grads_ref = torch.autograd.grad(y_ref, (x, w, b), g)
        for name, got, want in zip(("input", "weight", "bias"), grads, grads_ref):
            self.assertTrue(torch.allclose(got, want, atol=1e-9), f"{impl} gradient of {name} differs by {(got - want).abs().max()}")

    def test_fft_and_direct_equal_conv3d_in_float64(self):
        for impl in ("fft", "direct", "auto"):
            self.check_against_conv3d((2, 3, 9, 8, 10), (5, 7, 3), impl)

    def test_kernel_larger_than_the_input(self):
        self.check_against_conv3d((1, 2, 4, 6, 5), (21, 21, 21), "fft")

    def test_gradcheck(self):
        x = torch.randn(1, 2, 5, 4, 6, dtype=torch.float64, requires_grad=True)
        w = torch.randn(2, 1, 3, 5, 3, dtype=torch.float64, requires_grad=True)
        b = torch.randn(2, dtype=torch.float64, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda x, w, b: torch.ops.repux.lk_dwconv(x, w, b, "fft"), (x, w, b)))

    def test_float32_and_no_bias(self):
        x = torch.randn(1, 4, 12, 12, 12)
        w = torch.randn(4, 1, 7, 7, 7)
        y = repux_torch.lk_dwconv(x, w)
        self.assertEqual(y.dtype, torch.float32)
        self.assertTrue(torch.allclose(y, reference(x, w, None), atol=1e-3))

    def test_wrong_shape_raises_our_one_line_message(self):
        x = torch.randn(1, 4, 8, 8, 8)
        with self.assertRaises(RuntimeError) as caught:
            repux_torch.lk_dwconv(x, torch.randn(3, 1, 5, 5, 5))
        self.assertIn("lk_dwconv: weight has 3 channels but the input has 4", str(caught.exception))
        with self.assertRaises(RuntimeError) as caught:
            repux_torch.lk_dwconv(x, torch.randn(4, 1, 4, 5, 5))
        self.assertIn("kernel size 4 is even", str(caught.exception))
        with self.assertRaises(RuntimeError) as caught:
            repux_torch.lk_dwconv(x, torch.randn(4, 1, 5, 5, 5), None, "winograd")
        self.assertIn("unknown convolution implementation 'winograd'", str(caught.exception))


class DropInModule(unittest.TestCase):
    def test_same_state_dict_and_output_as_conv3d(self):
        torch.manual_seed(1)
        conv = torch.nn.Conv3d(6, 6, 9, padding=4, groups=6)
        layer = repux_torch.LargeKernelConv3d(6, 9)
        self.assertEqual(list(layer.state_dict().keys()), list(conv.state_dict().keys()))
        layer.load_state_dict(conv.state_dict())
        x = torch.randn(2, 6, 10, 11, 12)
        self.assertTrue(torch.allclose(layer(x), conv(x), atol=1e-4))

    def test_replace_depthwise_convs_keeps_the_function(self):
        torch.manual_seed(2)
        model = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1),
                                    torch.nn.Conv3d(4, 4, 11, padding=5, groups=4),
                                    torch.nn.GELU(),
                                    torch.nn.Sequential(torch.nn.Conv3d(4, 4, 7, padding=3, groups=4)))
        x = torch.randn(1, 1, 9, 9, 9)
        before = model(x)
        self.assertEqual(repux_torch.replace_depthwise_convs(model), 2)
        self.assertIsInstance(model[1], repux_torch.LargeKernelConv3d)
        self.assertNotIsInstance(model[0], repux_torch.LargeKernelConv3d)  # dense, not depthwise
        self.assertTrue(torch.allclose(model(x), before, atol=1e-4))
        model(x).sum().backward()
        self.assertIsNotNone(model[1].weight.grad)


if __name__ == "__main__":
    unittest.main()
