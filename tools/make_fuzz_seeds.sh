#!/usr/bin/env bash
# Seeds for the fuzz harnesses dicom_series and repux_json (fuzz/corpus/), made by other tools and by
# repux itself: a 3-slice CT series written by plastimatch and a 2-slice one with compressed pixels
# (DCMTK's dcmcjpls), each joined into one input with the marker fuzz_dicom_series.cpp splits on; a
# plan written by `repux plan` and a case store's index.json written by `repux preprocess`.
# Usage: tools/make_fuzz_seeds.sh BUILD_DIR   (run from the repository's root)
set -euo pipefail
repux=$1/repux
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
marker='--REPUX-NEXT-SLICE--'

join_slices() {  # OUTPUT FILE... : the files joined by the marker
  local out=$1 first=1
  shift
  : >"$out"
  for f in "$@"; do
    [ $first -eq 1 ] || printf '%s' "$marker" >>"$out"
    cat "$f" >>"$out"
    first=0
  done
}

/usr/bin/python3 - "$work/ct.nii" <<'PY'
import struct, sys
import numpy as np
rng = np.random.default_rng(7)
a = rng.integers(-1000, 2000, size=(6, 5, 3)).astype(np.int16)
h = bytearray(352)
struct.pack_into('<i', h, 0, 348)
struct.pack_into('<8h', h, 40, 3, 6, 5, 3, 1, 1, 1, 1)
struct.pack_into('<hh', h, 70, 4, 16)
struct.pack_into('<8f', h, 76, 1, 0.8, 0.9, 2.5, 0, 0, 0, 0)
struct.pack_into('<f', h, 108, 352)
struct.pack_into('<f', h, 112, 1)
struct.pack_into('<hh', h, 252, 0, 1)
for row, values in zip((280, 296, 312), ((0.8, 0, 0, -10), (0, 0.9, 0, 12), (0, 0, 2.5, 5))):
    struct.pack_into('<4f', h, row, *values)
h[344:348] = b'n+1\0'
open(sys.argv[1], 'wb').write(bytes(h) + a.tobytes(order='F'))
PY
plastimatch convert --input "$work/ct.nii" --output-dicom "$work/series" >/dev/null
mapfile -t slices < <(ls "$work"/series/*.dcm | sort)
mkdir -p fuzz/corpus/dicom_series fuzz/corpus/repux_json
join_slices fuzz/corpus/dicom_series/ct_3_slices "${slices[@]}"
for f in "${slices[@]:0:2}"; do dcmcjpls "$f" "$f.jpls"; done
join_slices fuzz/corpus/dicom_series/ct_2_slices_jpegls "${slices[0]}.jpls" "${slices[1]}.jpls"

"$repux" synth -n 3 -o "$work/data" >/dev/null
"$repux" plan "$work/data" -o fuzz/corpus/repux_json/plan.json --jobs 1 >/dev/null
"$repux" preprocess "$work/data" -o "$work/store" --classes 4 --spacing 4 --jobs 1 >/dev/null
cp "$work/store/index.json" fuzz/corpus/repux_json/store_index.json
echo "seeds written under fuzz/corpus/dicom_series and fuzz/corpus/repux_json"
