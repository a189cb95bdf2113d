#!/usr/bin/env bash
# Time and peak anonymous memory (RssAnon) of `repux predict` with one small RepUX-Net (the demo's
# size, 14 classes) and with an ensemble of five (-m five times, the folds of a cross-validation) on a
# 256x256x160 CT-like volume, default settings. Further arguments go to both runs.
# Usage: bench/predict_ensemble.sh [BUILD [predict options...]]   (inputs in $BUILD/predict_ensemble/)
set -euo pipefail
build=${1:-build}
shift || true
dir=$build/predict_ensemble
source "$(dirname "$0")/peak_rss.sh"
prediction_inputs "$build" ensemble fold4.repux
printf '%-10s %s\n' models "peak RssAnon, time"
printf '%-10s ' 1
peak_rss_anon "$dir/one.log" "$build/repux" predict -m "$dir/fold0.repux" -i "$dir/ct.nii.gz" -o "$dir/seg_one.nii.gz" "$@"
printf '%-10s ' 5
peak_rss_anon "$dir/five.log" "$build/repux" predict -m "$dir/fold0.repux" -m "$dir/fold1.repux" -m "$dir/fold2.repux" \
  -m "$dir/fold3.repux" -m "$dir/fold4.repux" -i "$dir/ct.nii.gz" -o "$dir/seg_five.nii.gz" "$@"
