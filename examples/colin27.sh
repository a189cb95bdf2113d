#!/usr/bin/env bash
# Real-data example: the Colin27 MRI (mricron-data) with the AAL atlas merged into 7 large regions.
# Train a small RepUX-Net on the left hemisphere, predict the right one, evaluate, render overlays.
# Every step is a plain `repux` command; run from the repository root after `make build`.
#   bash examples/colin27.sh [output-folder] [iterations]
set -euo pipefail
T=/usr/share/mricron/templates
REPUX=${REPUX:-build/repux}
OUT=${1:-colin27-out}
ITERATIONS=${2:-1000}
mkdir -p "$OUT"/imagesTr "$OUT"/labelsTr "$OUT"/test/images "$OUT"/test/labels "$OUT"/test/pred

# 1. AAL's 116 regions -> 7 classes, by the lobe digit of AAL's own region codes (column 3 of aal.nii.txt):
#    2xxx frontal, 6xxx parietal, 8xxx temporal, 5xxx occipital, 3xxx/4xxx insula+limbic, 7xxx deep grey,
#    9xxx cerebellum and vermis. White matter and everything else stay background.
awk 'NF >= 3 { g = int($3 / 1000);
       m = (g == 2) ? 1 : (g == 6) ? 2 : (g == 8) ? 3 : (g == 5) ? 4 : (g == 3 || g == 4) ? 5 : (g == 7) ? 6 : (g == 9) ? 7 : 0;
       print $1, m }' "$T/aal.nii.txt" > "$OUT/aal-to-regions.txt"
"$REPUX" relabel "$T/aal.nii.gz" --map "$OUT/aal-to-regions.txt" -o "$OUT/regions_1mm.nii.gz"

# 2. The 0.5 mm head MRI onto the atlas's 1 mm MNI grid (both are Colin27 in MNI space; AAL was drawn on it).
"$REPUX" resample "$T/ch2better.nii.gz" --like "$T/aal.nii.gz" -o "$OUT/colin27_1mm.nii.gz"

# 3. Left hemisphere (x < 0 mm: voxels 0..89) for training, right hemisphere (x > 0: 91..180) held out.
"$REPUX" crop "$OUT/colin27_1mm.nii.gz" --box 0:90,:,: -o "$OUT/imagesTr/left.nii.gz"
"$REPUX" crop "$OUT/regions_1mm.nii.gz" --box 0:90,:,: -o "$OUT/labelsTr/left.nii.gz"
"$REPUX" crop "$OUT/colin27_1mm.nii.gz" --box 91:181,:,: -o "$OUT/test/images/right.nii.gz"
"$REPUX" crop "$OUT/regions_1mm.nii.gz" --box 91:181,:,: -o "$OUT/test/labels/right.nii.gz"
# One training volume: validation watches the fit on it; the right hemisphere is never seen in training.
cat > "$OUT/dataset.json" <<JSON
{"training": [{"image": "imagesTr/left.nii.gz", "label": "labelsTr/left.nii.gz"}],
 "validation": [{"image": "imagesTr/left.nii.gz", "label": "labelsTr/left.nii.gz"}]}
JSON

# 4. Train (MRI z-score preset at 2 mm, 48^3 patches). Left-right flips (axis 0 in RAS) let the left
#    hemisphere teach the right one; flips along the other axes would swap frontal and occipital.
"$REPUX" train -d "$OUT/dataset.json" -o "$OUT/run" --arch repuxnet --classes 8 \
  --class-names background frontal parietal temporal occipital limbic deep_grey cerebellum \
  --preset mri --spacing 2 --patch 48 --flip-axes 0 --dims 16 32 64 128 --depths 1 1 1 1 --hidden 64 \
  --iterations "$ITERATIONS" --val-every 250 --lr 2e-3 --schedule cosine --warmup 20

# 5. Predict the held-out hemisphere with the last model (no choice made on held-out data), evaluate, render.
"$REPUX" predict -m "$OUT/run/last.repux" -i "$OUT/test/images/right.nii.gz" -o "$OUT/test/pred/right.nii.gz" --gaussian
"$REPUX" evaluate --pred "$OUT/test/pred" --gt "$OUT/test/labels" --classes 8 --class-names background frontal parietal temporal occipital limbic deep_grey cerebellum -o "$OUT/summary.json"
"$REPUX" report -i "$OUT/test/images/right.nii.gz" -p "$OUT/test/pred/right.nii.gz" -g "$OUT/test/labels/right.nii.gz" \
  -o "$OUT/right.png"
echo "summary: $OUT/summary.json  overlay: $OUT/right.png"
