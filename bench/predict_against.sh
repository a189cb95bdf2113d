#!/usr/bin/env bash
# Today's prediction against an earlier build's, in one run on one machine: `repux predict` with the
# full-size RepUX-Net (14 classes, random weights) on the 256x256x160 CT-like volume of
# bench/predict_speed.sh, default settings, first with BASELINE (a repux binary built from an earlier
# commit), then with BUILD's; time, peak RssAnon, where the time went, and the share of voxels whose
# labels agree.
# Usage: bench/predict_against.sh BASELINE_REPUX [BUILD]
#   e.g. git worktree add /tmp/old v0.9 && cmake -S /tmp/old -B /tmp/old/build -DCMAKE_BUILD_TYPE=Release \
#        && cmake --build /tmp/old/build --target repux_cli && bench/predict_against.sh /tmp/old/build/repux
set -euo pipefail
baseline=${1:?usage: bench/predict_against.sh BASELINE_REPUX [BUILD]}
build=${2:-build}
dir=$build/predict_speed
source "$(dirname "$0")/peak_rss.sh"
prediction_inputs "$build" speed model.repux
for side in baseline current; do
  binary=$baseline
  [ $side = current ] && binary=$build/repux
  printf '%-9s ' $side
  peak_rss_anon "$dir/against_$side.log" "$binary" predict -m "$dir/model.repux" -i "$dir/ct.nii.gz" -o "$dir/against_$side.nii.gz" --timings
  printf '%-9s %s\n' "" "$(grep -o 'read .* write [0-9.]* s' "$dir/against_$side.log" || true)"
done
"${PYTHON:-/usr/bin/python3}" - "$dir/against_baseline.nii.gz" "$dir/against_current.nii.gz" <<'PY'
import sys
import nibabel as nib
import numpy as np
a, b = (np.asanyarray(nib.load(p).dataobj) for p in sys.argv[1:3])
same = np.count_nonzero(a == b)
print(f"labels equal on {same} of {a.size} voxels ({100.0 * same / a.size:.4f}%)")
PY
