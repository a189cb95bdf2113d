#!/usr/bin/env bash
# Data-parallel throughput on this machine: the demo's small RepUX-Net trained for N iterations by one
# process (all cores) and by `repux launch -n 2` (cores shared), on the same synthetic data.
# Prints iterations/s and crops/s (each rank draws its own batch, so 2 ranks process twice the crops).
# Usage: bash bench/bench_distributed.sh [build] [iterations]
set -euo pipefail
B=${1:-build}
N=${2:-40}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$B"/repux synth -n 6 -o "$T/data" > /dev/null
args=(train -d "$T/data" --arch repuxnet --classes 4 --dims 8 16 32 64 --depths 1 1 1 1 --hidden 64 --patch 48 --spacing 2
      --crops 2 --iterations "$N" --val-every 100000 --log-every "$N" --workers 1)
measure() {  # prints seconds of the training loop, from the trainer's own it/s line
  "$@" 2>&1 | sed -n 's/.*; \([0-9.]*\) it\/s, data wait.*/\1/p'
}
one=$(measure "$B"/repux "${args[@]}" -o "$T/one")
two=$(measure "$B"/repux launch -n 2 -- "${args[@]}" -o "$T/two")
echo "1 rank : ${one} it/s, $(echo "$one * 2" | bc -l | xargs printf '%.2f') crops/s"
echo "2 ranks: ${two} it/s, $(echo "$two * 4" | bc -l | xargs printf '%.2f') crops/s (global batch 4)"
echo "crops/s ratio 2 ranks / 1 rank: $(echo "$two * 2 / $one" | bc -l | xargs printf '%.2f')"
