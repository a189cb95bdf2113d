#!/usr/bin/env bash
# Time and peak anonymous memory (RssAnon) of `repux predict` with the full-size RepUX-Net (14
# classes, random weights) on a 256x256x160 CT-like volume that the network sees whole (no resampling,
# no crop), 96^3 windows: at overlap 0.5 (repux 0.1's default, nnU-Net's), the default (0.25) and
# --fast (0); with GROWTH=1 also windows grown to 8x their voxels; each with where its time went
# (predict --timings: read, preprocess, network, stitching and restoring, post-processing, write).
# Further arguments go to every run (e.g. --device cuda). ONLY=default runs the default mode alone.
# Usage: bench/predict_speed.sh [BUILD [predict options...]]   (inputs in $BUILD/predict_speed/)
set -euo pipefail
build=${1:-build}
shift || true
dir=$build/predict_speed
source "$(dirname "$0")/peak_rss.sh"
prediction_inputs "$build" speed model.repux
run() {
  local name=$1
  shift
  printf '%-10s ' "$name"
  peak_rss_anon "$dir/$name.log" "$build/repux" predict -m "$dir/model.repux" -i "$dir/ct.nii.gz" -o "$dir/seg_$name.nii.gz" --timings "$@"
  printf '%-10s %s\n' "" "$(grep -o '[0-9]* window(s) of [0-9x]*' "$dir/$name.log" || true)"
  printf '%-10s %s\n' "" "$(grep -o 'read .* write [0-9.]* s' "$dir/$name.log" || true)"
}
printf '%-10s %s\n' mode "peak RssAnon, time"
if [ "${ONLY:-}" = default ]; then run default "$@"; exit 0; fi
run half --overlap 0.5 "$@"
run default "$@"
run fast --fast "$@"
if [ "${GROWTH:-0}" = 1 ]; then run growth8 --window-growth 8 "$@"; fi
