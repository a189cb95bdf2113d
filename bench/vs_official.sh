#!/usr/bin/env bash
# repux against the authors' code, in one run on this machine: RepUX-Net forward 1 x SIZE^3 (deployed)
# and AdamW training step BATCH x SIZE^3, next to the official RepUX-Net and 3D UX-Net (7^3 kernels)
# run by Debian's python3-torch (bench/vs_official.py). The official code runs as its users run it
# (glibc malloc) and again with the tcmalloc that repux links preloaded, so the allocator's share is seen.
#
# Usage: bench/vs_official.sh --official DIR --monai DIR [--build build] [--size 64] [--batch 2] [--repeats 1]
#                            [--repux-repeats 5] [--forward-only]   (medians after one warm-up)
#   --official: a checkout of github.com/MASILab/RepUX-Net (networks/ is used)
#   --monai:    MONAI 0.9.1's source, the folder that holds monai/ (git archive 0.9.1 of Project-MONAI/MONAI)
# Without --official (or with no python3-torch) it says why and exits 0: it is not part of make test.
set -euo pipefail
official="" monai="" build=build size=64 batch=2 repeats=1 repux_repeats=5 forward_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --official) official=$2 ;;
    --monai) monai=$2 ;;
    --build) build=$2 ;;
    --size) size=$2 ;;
    --batch) batch=$2 ;;
    --repeats) repeats=$2 ;;
    --repux-repeats) repux_repeats=$2 ;;
    --forward-only) forward_only=1; shift; continue ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs_official.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
python=${PYTHON:-/usr/bin/python3}
skip() { echo "vs_official.sh: skipped: $1"; exit 0; }
[ -n "$official" ] || skip "no --official DIR (a checkout of MASILab/RepUX-Net)"
[ -n "$monai" ] && [ -f "$monai/monai/__init__.py" ] || skip "--monai must name MONAI 0.9.1's source (the folder holding monai/)"
"$python" -c "import torch, numpy, scipy" 2>/dev/null || skip "$python cannot import torch, numpy and scipy (apt-get install python3-torch python3-scipy)"
cmake --build "$build" --target bench_network >/dev/null
tcmalloc=$(ls /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 2>/dev/null || true)

shape=(--size "$size" --batch "$batch" --repeats "$repeats")
official_run() {  # official_run ARCH [PRELOAD]
  local only=()
  if [ "$forward_only" = 1 ]; then only=(--skip-train); fi
  env ${2:+LD_PRELOAD=$2} "$python" "$(dirname "$0")/vs_official.py" --official "$official" --monai "$monai" "${shape[@]}" --arch "$1" "${only[@]}"
}
declare -A seconds
record() {  # record KEY: runs the rest, echoes its lines and keeps the forward and step seconds
  local key=$1 out; shift
  out=$("$@")
  echo "$out"
  seconds[$key.forward]=$(echo "$out" | grep ' forward ' | sed -E 's/.*: ([0-9.]+) s .*/\1/' || true)
  seconds[$key.step]=$(echo "$out" | grep ' train step ' | sed -E 's/.*: ([0-9.]+) s .*/\1/' || true)
}
# repux runs before and after the official code (its repeats are cheap); the ratios use the slower
# of the two, so that a busy moment of a shared machine cannot flatter repux.
repux_shape=(--size "$size" --batch "$batch" --repeats "$repux_repeats")
if [ "$forward_only" = 1 ]; then repux_shape+=(--skip-train 1); fi
echo "== repux (tcmalloc linked), $(nproc) threads, before"
record repux.before "$build/bench/bench_network" "${repux_shape[@]}"
for arch in repuxnet uxnet; do
  echo "== official $arch, glibc malloc (as its users run it)"
  record "$arch.glibc" official_run "$arch"
  if [ -n "$tcmalloc" ]; then
    echo "== official $arch, tcmalloc preloaded"
    record "$arch.tcmalloc" official_run "$arch" "$tcmalloc"
  fi
done
echo "== repux (tcmalloc linked), after"
record repux.after "$build/bench/bench_network" "${repux_shape[@]}"
slower() { "$python" -c "print(max($1, $2))"; }
for what in forward step; do
  if [ -n "${seconds[repux.before.$what]:-}" ]; then
    seconds[repux.$what]=$(slower "${seconds[repux.before.$what]}" "${seconds[repux.after.$what]}")
  fi
done
ratio() { "$python" -c "print(f'{$1 / $2:.1f}x')"; }
echo "== repux is faster by (official seconds / the slower repux seconds)"
for what in forward step; do
  for key in repuxnet.glibc repuxnet.tcmalloc uxnet.glibc uxnet.tcmalloc; do
    [ -n "${seconds[$key.$what]:-}" ] || continue
    echo "$what vs official ${key/./ with }: ${seconds[$key.$what]} s / ${seconds[repux.$what]} s = $(ratio "${seconds[$key.$what]}" "${seconds[repux.$what]}")"
  done
done
