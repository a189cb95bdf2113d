#!/usr/bin/env python3
"""repux's operator for PyTorch users, on RepUX-Net written in PyTorch (tools/restated_network.py):
forward of [B,1,S^3] and one AdamW training step (Dice + CE) with the network's depthwise 21^3
convolutions computed three ways, in one run, from the same weights:
  conv3d      torch.nn.Conv3d, as RepUX-Net's own code runs them
  torch-fft   a plain-PyTorch FFT convolution (rfftn, product, irfftn, crop; autograd by torch.fft)
  repux-op    repux_torch.LargeKernelConv3d (torch.ops.repux.lk_dwconv)
conv3d runs once (minutes per call on a CPU); the FFT variants after one warm-up call, median of 3,
in interleaved rounds.
Usage: PYTHONPATH=build/python OPENBLAS_NUM_THREADS=1 bench/torch_op.py [S=64] [B=2] [--skip-conv3d] [--cuda]
(--cuda: on the GPU, where conv3d is cuDNN's and runs as often as the others; scripts/gpu-torch-op.sh)
(OpenBLAS on one thread: its pthread pool spins against PyTorch's OpenMP threads, as in repux.)"""
import copy
import os
import sys
import time

import torch

DEVICE = torch.device("cuda" if "--cuda" in sys.argv else "cpu")


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import repux_torch  # noqa: E402
from restated_network import dice_ce, repuxnet  # noqa: E402


class TorchFftConv3d(torch.nn.Conv3d):
    """Depthwise 'same' Conv3d by a full linear convolution in the frequency domain, in plain PyTorch."""

    def forward(self, x):
        n, k = x.shape[2:], self.kernel_size
        full = [a + b - 1 for a, b in zip(n, k)]
        spectrum = torch.fft.rfftn(x, s=full, dim=(2, 3, 4)) * torch.fft.rfftn(self.weight[:, 0].flip(1, 2, 3), s=full, dim=(1, 2, 3))
        y = torch.fft.irfftn(spectrum, s=full, dim=(2, 3, 4))
        y = y[:, :, k[0] // 2:k[0] // 2 + n[0], k[1] // 2:k[1] // 2 + n[1], k[2] // 2:k[2] // 2 + n[2]]
        return y + self.bias.view(1, -1, 1, 1, 1) if self.bias is not None else y


def swap_convs(net, make):
    """net with its depthwise 'same' k>=7 convolutions replaced by make(conv)."""
    repux_torch.replace_depthwise_convs(net, make=make)
    return net


def as_torch_fft(conv):
    layer = TorchFftConv3d(conv.in_channels, conv.in_channels, conv.kernel_size, padding=conv.padding, groups=conv.groups,
                           device=conv.weight.device)
    layer.load_state_dict(conv.state_dict())
    return layer


def interleaved(calls, repeats):
    """Median time per call of each of `calls` {name: (f, repeats)}, measured in rounds that run every
    variant once (after one warm-up call of each that repeats), so that no variant gets a quieter
    stretch of the machine than another. Returns {name: (median seconds, last result)}."""
    for name, (f, r) in calls.items():
        if r > 1:
            f()
    times = {name: [] for name in calls}
    results = {}
    for round_index in range(repeats):
        for name, (f, r) in calls.items():
            if round_index >= r:
                continue
            sync()
            t0 = time.perf_counter()
            results[name] = f()
            sync()
            times[name].append(time.perf_counter() - t0)
    return {name: (sorted(t)[len(t) // 2], results[name]) for name, t in times.items()}


def training_step(net, x, y):
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)

    def step():
        opt.zero_grad()
        dice_ce(net(x), y).backward()
        opt.step()

    return step


def per_layer(batch, repeats):
    """One depthwise 21^3 layer at each stage's size for a 64^3 input: forward, and forward + backward."""
    print("one depthwise 21^3 layer per stage (forward | forward + backward, ms):", flush=True)
    for n, c in ((32, 48), (16, 96), (8, 192), (4, 384)):
        x = torch.randn(batch, c, n, n, n, device=DEVICE, requires_grad=True)
        plain = TorchFftConv3d(c, c, 21, padding=10, groups=c).to(DEVICE)
        layers = {"repux-op": repux_torch.LargeKernelConv3d.from_conv3d(plain), "torch-fft": plain}
        with torch.no_grad():
            forward = interleaved({name: ((lambda m=m: m(x)), repeats) for name, m in layers.items()}, repeats)
        both = interleaved({name: ((lambda m=m: m(x).sum().backward()), repeats) for name, m in layers.items()}, repeats)
        print(f"  {batch}x{c}x{n}^3: " + "   ".join(f"{name} {forward[name][0] * 1e3:6.0f} | {both[name][0] * 1e3:6.0f}" for name in layers), flush=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    size = int(args[0]) if args else 64
    batch = int(args[1]) if len(args) > 1 else 2
    repeats = 3
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    base = repuxnet().to(DEVICE)
    x = torch.randn(batch, 1, size, size, size, device=DEVICE)
    y = torch.randint(0, 14, (batch, size, size, size), device=DEVICE)
    nets = {"repux-op": (swap_convs(copy.deepcopy(base), repux_torch.LargeKernelConv3d.from_conv3d), repeats),
            "torch-fft": (swap_convs(copy.deepcopy(base), as_torch_fft), repeats)}
    if "--skip-conv3d" not in sys.argv:
        nets["conv3d"] = (copy.deepcopy(base), repeats if DEVICE.type == "cuda" else 1)  # CPU: minutes per call, once
    print(f"RepUX-Net (PyTorch restatement, 21^3 depthwise), forward and AdamW step on {batch}x1x{size}^3, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, {DEVICE}", flush=True)
    for net, _ in nets.values():
        net.eval()
    with torch.no_grad():
        forward = interleaved({name: ((lambda n=net: n(x)), r) for name, (net, r) in nets.items()}, repeats)
    for net, _ in nets.values():
        net.train()
    step = interleaved({name: (training_step(net, x, y), r) for name, (net, r) in nets.items()}, repeats)
    per_layer(batch, repeats)
    for name in nets:
        print(f"{name:10s} forward {forward[name][0]:8.2f} s   train step {step[name][0]:8.2f} s", flush=True)
    ours = forward["repux-op"]
    for name in nets:
        if name != "repux-op":
            print(f"repux-op vs {name}: forward {forward[name][0] / ours[0]:.1f}x faster, train step "
                  f"{step[name][0] / step['repux-op'][0]:.1f}x faster, max |logit difference| {(forward[name][1] - ours[1]).abs().max():.2e}")


if __name__ == "__main__":
    main()
