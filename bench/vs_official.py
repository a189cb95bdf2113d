#!/usr/bin/env python3
"""Times the authors' RepUX-Net / 3D UX-Net (github.com/MASILab/RepUX-Net) on the CPU, the way
bench_network times repux: forward 1 x size^3 (deploy mode, no gradients) and one AdamW step on
batch x size^3 with MONAI's DiceCE loss, median of the repeats after one warm-up, with the system
time and minor page faults per run. Prints lines in bench_network's format.

Nothing of the official code is kept in this repository: the caller points --official at a checkout
of it and --monai at MONAI 0.9.1's source (the networks use its UNETR blocks). The two network files
are copied into a temporary folder and made to run on the CPU there:
  - the Bayesian frequency matrix is built as a CPU tensor (the code asks for torch.cuda.FloatTensor),
    once per block instead of once per loop iteration (the same value; only construction time);
  - imports the networks do not use at run time (a logger, a module helper, timm's layer helpers)
    are served by small stand-ins written here.
Each change is reported on standard error. The training step is left as the authors wrote it: in
training mode each block multiplies its weight by the matrix and re-wraps it as a new Parameter.
"""
import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import time

STAND_INS = {
    "lib/__init__.py": "",
    "lib/utils/__init__.py": "",
    "lib/utils/tools/__init__.py": "",
    "lib/utils/tools/logger.py": "class Logger:\n    @staticmethod\n    def info(*args, **kwargs):\n        pass\n",
    "lib/models/__init__.py": "",
    "lib/models/tools/__init__.py": "",
    "lib/models/tools/module_helper.py": "class ModuleHelper:\n    pass\n",
    "timm/__init__.py": "",
    "timm/models/__init__.py": "",
    # Only used with drop_path_rate 0 (identity) and by weight initialisers the networks leave commented out.
    "timm/models/layers.py": (
        "import torch.nn as nn\n"
        "from torch.nn.init import trunc_normal_\n"
        "class DropPath(nn.Identity):\n"
        "    def __init__(self, drop_prob=0.0):\n"
        "        super().__init__()\n"
        "        if drop_prob:\n"
        "            raise ValueError('this stand-in only supports drop_prob 0')\n"
    ),
}


def note(text):
    print(f"vs_official: {text}", file=sys.stderr)


def patch_bfm(source):
    """Builds the frequency matrix on the CPU, once, after the loops (same value)."""
    if "torch.cuda.FloatTensor" in source:
        source = source.replace("torch.cuda.FloatTensor", "torch.FloatTensor")
        note("BFM built as a CPU tensor (the code asks for torch.cuda.FloatTensor)")
    lines = source.split("\n")
    loop = next((i for i, l in enumerate(lines) if re.match(r"\s*for i in range\(self\.ks\):", l)), None)
    bfm = next((i for i, l in enumerate(lines) if "self.BFM = torch.from_numpy(BFM)" in l), None)
    if loop is not None and bfm is not None and bfm > loop:
        indent = re.match(r"\s*", lines[loop]).group(0)
        line = indent + lines.pop(bfm).strip()
        end = loop + 1  # one past the loop body's last line
        for i in range(loop + 1, len(lines)):
            if lines[i].strip() and len(re.match(r"\s*", lines[i]).group(0)) <= len(indent):
                break
            if lines[i].strip():
                end = i + 1
        lines.insert(end, line)
        note("BFM converted to a tensor once after its loops (the code converts it in the innermost loop)")
    return "\n".join(lines)


def prepare(official, folder):
    for sub in ("RepUXNet_3D", "UXNet_3D"):
        src = os.path.join(official, "networks", sub)
        if not os.path.isfile(os.path.join(src, "network_backbone.py")):
            sys.exit(f"vs_official: {src}/network_backbone.py not found: --official must be a checkout of MASILab/RepUX-Net")
        dst = os.path.join(folder, "networks", sub)
        os.makedirs(dst)
        for name in os.listdir(src):
            if name.endswith(".py"):
                shutil.copy(os.path.join(src, name), dst)
    open(os.path.join(folder, "networks", "__init__.py"), "w").close()
    encoder = os.path.join(folder, "networks", "RepUXNet_3D", "repuxnet_encoder.py")
    with open(encoder) as f:
        source = f.read()
    with open(encoder, "w") as f:
        f.write(patch_bfm(source))
    for path, text in STAND_INS.items():
        os.makedirs(os.path.join(folder, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(folder, path), "w") as f:
            f.write(text)


def usage_now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime, r.ru_minflt


def measure(work, repeats):
    work()
    system0, faults0 = usage_now()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    system1, faults1 = usage_now()
    n = len(times)
    wall = sorted(times)[n // 2]  # as bench_timing.h: the median, the upper one of an even count
    system = (system1 - system0) / n
    return (f"{wall:.4f} s (system {system:.2f} s = {100 * system / max(wall, 1e-9):.0f}% of wall, "
            f"{(faults1 - faults0) / n:.0f} minor faults)")


def build(arch, deploy):
    if arch == "repuxnet":
        from networks.RepUXNet_3D.network_backbone import REPUXNET
        return REPUXNET(in_chans=1, out_chans=14, ks=21, a=1, deploy=deploy)
    from networks.UXNet_3D.network_backbone import UXNET
    return UXNET(in_chans=1, out_chans=14)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, help="checkout of MASILab/RepUX-Net")
    parser.add_argument("--monai", required=True, help="MONAI 0.9.1 source folder (the one holding monai/)")
    parser.add_argument("--arch", choices=["repuxnet", "uxnet"], default="repuxnet")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-forward", action="store_true")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(os.cpu_count())
    folder = tempfile.mkdtemp(prefix="repux-vs-official-")
    try:
        prepare(args.official, folder)
        sys.path[:0] = [folder, args.monai]
        from monai.losses import DiceCELoss
        torch.manual_seed(0)
        label = "official " + args.arch
        if not args.skip_forward:
            net = build(args.arch, deploy=True).eval()
            x1 = torch.randn(1, 1, args.size, args.size, args.size)

            def forward():
                with torch.no_grad():
                    net(x1)
            print(f"cpu {label} forward 1x{args.size}^3: {measure(forward, args.repeats)}", flush=True)
            del net
        if not args.skip_train:
            net = build(args.arch, deploy=False).train()
            loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
            opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
            x = torch.randn(args.batch, 1, args.size, args.size, args.size)
            y = torch.randint(0, 14, (args.batch, 1, args.size, args.size, args.size))

            def step():
                opt.zero_grad()
                loss = loss_fn(net(x), y)
                loss.backward()
                opt.step()
            print(f"cpu {label} train step {args.batch}x{args.size}^3: {measure(step, args.repeats)}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
