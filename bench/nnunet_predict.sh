#!/usr/bin/env bash
# An imported nnU-Net model, repux against nnU-Net's own predictor (PyTorch eager), in one run on this
# machine: a TotalSegmentator-sized PlainConvUNet (its 1.5 mm 3d_fullres layout: 6 stages, 32-320
# features, patch 128^3, no mirroring) on a CT of X x Y x Z voxels at 0.8 x 0.8 x 1.5 mm, resampled,
# windowed (tile step 0.5, Gaussian) and exported by both. Prints wall time and peak memory (RssAnon)
# of each, their ratios, and the share of voxels whose labels agree.
#
# Usage: bench/nnunet_predict.sh [--build build] [--size X Y Z] [--device cpu|cuda] [--precision float32|bfloat16]
#   default size 512 512 300 (TotalSegmentator's typical CT); --device/--precision apply to repux only.
# Needs Debian's python3-torch, -scipy, -skimage, -nibabel, -pandas, -threadpoolctl and checkouts of
# MIC-DKFZ/nnUNet, dynamic-network-architectures, acvl_utils and batchgenerators on PYTHONPATH
# (see tools/make_nnunet_prediction_fixtures.py); without them it says why and exits 0.
set -euo pipefail
build=build size=(512 512 300) device=cpu precision=float32
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --size) size=("$2" "$3" "$4"); shift 4 ;;
    --device) device=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "nnunet_predict.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
if ! "$python" -c "import nnunetv2, dynamic_network_architectures, acvl_utils, batchgenerators, skimage, nibabel" 2>/dev/null; then
  echo "nnunet_predict.sh: skipped: nnU-Net and its dependencies are not importable by $python (see --help)"
  exit 0
fi
source "$here/peak_rss.sh"
cmake --build "$build" --target repux >/dev/null
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$python" "$here/nnunet_predict.py" make "$T/model" "${size[@]}" >/dev/null
threads=$(nproc)
echo "== nnU-Net's predictor (PyTorch $("$python" -c 'import torch; print(torch.__version__)') eager, $threads threads), ${size[*]} voxels"
nnunet=$(peak_rss_anon "$T/nnunet.log" "$python" "$here/nnunet_predict.py" predict "$T/model" "$T/nnunet")
echo "$nnunet"
echo "== repux ($device, $precision)"
"$build/repux" import "$T/model/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres" -o "$T/model.repux" >/dev/null
ours=$(peak_rss_anon "$T/repux.log" "$build/repux" predict -m "$T/model.repux" -i "$T/model/ct_0000.nii.gz" -o "$T/repux.nii.gz" \
  --device "$device" --precision "$precision")
echo "$ours"
"$python" - "$nnunet" "$ours" "$T/nnunet/ct.nii.gz" "$T/repux.nii.gz" <<'PY'
import sys, nibabel, numpy as np
(ng, ns), (rg, rs) = ([float(v) for v in s.split() if v.replace('.', '').isdigit()] for s in sys.argv[1:3])
a, b = (np.asarray(nibabel.load(f).dataobj) for f in sys.argv[3:5])
print(f"repux / nnU-Net: time {rs / ns:.2f}x, peak memory {rg / ng:.2f}x; labels agree on {100 * (a == b).mean():.3f}% of voxels")
PY
