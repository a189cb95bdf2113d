#!/usr/bin/env bash
# The PyTorch operator on a GPU machine (pip CUDA PyTorch, no Debian packages): compiles the extension
# against that torch with g++ (the operator needs no nvcc: its GPU path is ATen's cuFFT and cuDNN calls),
# then runs bench/torch_op.py --cuda: RepUX-Net in PyTorch with cuDNN's depthwise conv3d vs the repux op.
# Usage: bash scripts/gpu-torch-op.sh [S=64] [B=2]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${TMPDIR:-/tmp}/repux-torch-ext
mkdir -p "$out"
read -r includes libdir abi < <(python3 -c 'import torch, torch.utils.cpp_extension as e
print(",".join(e.include_paths()), e.library_paths()[0], int(torch._C._GLIBCXX_USE_CXX11_ABI))')
g++ -shared -fPIC -O3 -std=c++17 -DFMT_HEADER_ONLY -D_GLIBCXX_USE_CXX11_ABI="$abi" -Iinclude $(tr ',' '\n' <<<"$includes" | sed 's/^/-isystem /') \
  python/torch_ops.cpp src/ops/lk_dwconv.cpp -L"$libdir" -Wl,-rpath,"$libdir" -ltorch -ltorch_cpu -lc10 -o "$out/librepux_torch_ops.so"
REPUX_TORCH_OPS_LIBRARY="$out/librepux_torch_ops.so" PYTHONPATH=python python3 bench/torch_op.py "${1:-64}" "${2:-2}" --cuda
