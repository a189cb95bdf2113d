#!/usr/bin/env python3
"""The same RepUX-Net written in PyTorch eager (tools/make_network_fixtures.py's re-statement of
the architecture: torch.nn.Conv3d depthwise 21^3, BatchNorm, GELU, MONAI-style decoder), timed on one device:
forward of a [1,1,S^3] window and an AdamW training step (Dice + CE, as repux) on [B,1,S^3], median of repeats, with peak
GPU memory. The baseline for bench/bench_network. Usage: pytorch_eager_bench.py [cuda|cpu] [S] [B]"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restated_network import dice_ce, repuxnet  # noqa: E402

device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
size = int(sys.argv[2]) if len(sys.argv) > 2 else 96
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.manual_seed(0)
net = repuxnet().to(device)


def sync():
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median(f, repeats=5):
    f()
    ts = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        f()
        sync()
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


for dtype in (torch.float32, torch.bfloat16):
    name = "fp32" if dtype == torch.float32 else "bf16"
    if device == "cpu" and dtype == torch.bfloat16:
        continue
    x1 = torch.randn(1, 1, size, size, size, device=device)
    net.eval()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    def fwd():
        with torch.no_grad(), torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
            net(x1)

    t_f = median(fwd)
    mem_f = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
    x = torch.randn(batch, 1, size, size, size, device=device)
    y = torch.randint(0, 14, (batch, size, size, size), device=device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    def step():
        opt.zero_grad()
        with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
            out = net(x)
        loss = dice_ce(out.float(), y)
        loss.backward()
        opt.step()

    t_s = median(step, 3)
    mem_s = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0
    print(f"pytorch-eager {device} {name} forward 1x{size}^3: {t_f:.4f} s (peak {mem_f:.2f} GiB); "
          f"train step {batch}x{size}^3: {t_s:.4f} s (peak {mem_s:.2f} GiB)", flush=True)
