#!/usr/bin/env bash
# The allocator comparison in one run on this machine: the same RepUX-Net benchmark (forward 1 x 64^3,
# AdamW step 2 x 64^3) built with glibc's malloc and with tcmalloc (what every repux program links),
# then optionally glibc + jemalloc preloaded when Debian's libjemalloc2 is installed.
# Usage: bench/allocator.sh [BUILD_DIR]   (prints wall, system time and minor faults, and the ratios)
set -euo pipefail
build=${1:-build}
cmake --build "$build" --target bench_network bench_network_glibc >/dev/null
args=(--size 64 --batch 2 --repeats 3)
run() { local out; out=$("$@" "${args[@]}"); echo "$out" >&2; echo "$out"; }
echo "== glibc malloc"
glibc=$(run "$build/bench/bench_network_glibc")
echo "== tcmalloc (linked)"
tc=$(run "$build/bench/bench_network")
jemalloc=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null || true)
if [ -n "$jemalloc" ]; then
  echo "== jemalloc (preloaded into the glibc build)"
  LD_PRELOAD=$jemalloc run "$build/bench/bench_network_glibc" >/dev/null
fi
seconds() { echo "$1" | grep "$2" | sed -E 's/.*: ([0-9.]+) s .*/\1/'; }
for what in forward "train step"; do
  g=$(seconds "$glibc" "$what"); t=$(seconds "$tc" "$what")
  echo "$what: glibc $g s, tcmalloc $t s: tcmalloc $(python3 -c "print(f'{$g/$t:.2f}')")x faster"
done
