#!/usr/bin/env bash
# Peak anonymous memory (RssAnon, sampled every 0.1 s) and time of `repux predict` on a 512x512x600 CT
# with 4, 20 and 104 classes: the slab path (default) against the whole-volume path of repux 0.1
# (--stitching whole), for a model planned at 1.5 mm (TotalSegmentator's spacing) and one at the CT's
# own spacing. The whole-volume path runs only where it fits this machine (4 classes).
# Usage: bench/predict_memory.sh [BUILD]   (writes its inputs to $BUILD/predict_memory/)
set -euo pipefail
build=${1:-build}
dir=$build/predict_memory
source "$(dirname "$0")/peak_rss.sh"
prediction_inputs "$build" memory ct.nii.gz
printf '%-8s %-8s %-8s %s\n' plan classes path "peak RssAnon, time"
for plan in 1.5mm native; do
  overlap=0.5
  [ $plan = native ] && overlap=0  # 157M voxels at the CT's spacing: fewer windows, the same accumulators
  for classes in 4 20 104; do
    for stitching in slabs whole; do
      [ $stitching = whole ] && [ $classes -gt 4 ] && continue
      printf '%-8s %-8s %-8s ' $plan $classes $stitching
      peak_rss_anon "$dir/predict.log" "$build/repux" predict -m "$dir/model_${classes}_$plan.repux" -i "$dir/ct.nii.gz" -o "$dir/seg.nii.gz" \
        --overlap $overlap --stitching $stitching
    done
  done
done
