#!/usr/bin/env bash
# Every GPU figure of the README in one run on one GPU (after scripts/gpu-build.sh):
# the large-kernel operator, the full-size network (ours fp32/bf16 vs PyTorch eager fp32/bf16, peak
# memory each) and an end-to-end 256x256x160 prediction. Usage: bash scripts/gpu-bench.sh [build-cuda]
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-cuda}
source scripts/gpu-env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== whole network, 2 x 96^3 AdamW step and 1 x 96^3 forward (median of 3) =="
for p in fp32 bf16; do "$B"/bench/bench_network --device cuda --size 96 --batch 2 --precision "$p"; done
"$B"/bench/bench_network --device cuda --size 96 --batch 2 --impl direct --repeats 1
python3 tools/pytorch_eager_bench.py cuda 96 2
echo "== predict 256x256x160 end to end =="
"$B"/bench/bench_predict cuda --end-to-end
echo "== large-kernel operator =="
"$B"/bench/bench_lk_dwconv --device cuda
