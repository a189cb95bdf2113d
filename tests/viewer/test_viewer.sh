#!/usr/bin/env bash
# The viewer page in a real browser: `repux view` pages opened by headless Chromium (Debian's chromium,
# WebGL2 through SwiftShader) driven over the DevTools protocol (chromium_page.py: waits for the page's
# own "ready", at most 120 s), with no network (a new network namespace where one can be made; the
# page's Content-Security-Policy forbids the network in any case). For each page: the page reports
# "ready" and no JavaScript exception, console error or refused load; a screenshot is not blank; the legend's colours of the classes in
# the slices shown are on the canvas; for a prediction with its ground truth, both error colours are.
# Exits 77 (ctest: skipped) with a message where Chromium is missing or cannot start.
# Usage: test_viewer.sh REPUX_BINARY [SCREENSHOT_COPY.png]
set -euo pipefail
repux=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "SKIPPED: chromium is not installed (apt-get install chromium)"; exit 77; }
tmp=$(mktemp -d /tmp/repux-viewer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
die() { echo "FAIL: $*" >&2; exit 1; }

offline=()
if unshare -n true 2>/dev/null; then offline=(unshare -n); fi
open_page() {  # open_page NAME: the page in headless Chromium, no network; NAME.png, NAME.out (legend, errors)
  "${offline[@]}" timeout 300 /usr/bin/python3 "$here/chromium_page.py" "$browser" "$tmp/$1.html" "$tmp/$1.png" 120 >"$tmp/$1.out" 2>&1
}

"$repux" synth -n 1 --seed 5 -o "$tmp/data" >/dev/null
image=$(ls "$tmp"/data/imagesTr/*.nii.gz)
truth=$(ls "$tmp"/data/labelsTr/*.nii.gz)
read -r -a shown < <(/usr/bin/python3 "$here/make_cases.py" "$truth" "$tmp/prediction.nii.gz")
[ "${#shown[@]}" -ge 2 ] || die "the centre slices show fewer than two classes (${shown[*]}): the check would be void"
"$repux" view -i "$image" -s "$truth" -o "$tmp/labels.html" --opacity 1 --class-names background liver spleen kidney >/dev/null
"$repux" view -i "$image" -s "$tmp/prediction.nii.gz" -g "$truth" -o "$tmp/errors.html" --opacity 1 \
  --class-names background liver spleen kidney >/dev/null

for page in labels errors; do
  status=0
  open_page "$page" || status=$?
  if [ "$status" = 77 ]; then cat "$tmp/$page.out"; exit 77; fi
  [ "$status" = 0 ] || die "$page: $(cat "$tmp/$page.out")"
done
# The legend's colours as the page drew them (rows in label order: classes 1.., then the error entries).
mapfile -t legend < <(sed -n 's/^legend \([0-9,]*\) [0-9]* .*/\1/p' "$tmp/labels.out")
[ "${#legend[@]}" -ge 3 ] || die "the legend has ${#legend[@]} class rows, expected one per class"
colours=()
for c in "${shown[@]}"; do colours+=("${legend[$((c - 1))]}"); done
if [ $# -ge 2 ]; then cp "$tmp/errors.png" "$2"; fi
/usr/bin/python3 "$here/check_screenshot.py" "$tmp/labels.png" 40 "${colours[@]}" || die "labels page: see above"
# The error layer's colours, as the legend names them; the false positives (a 9-voxel block) must cover
# more of the canvas than the false negatives (a 3-voxel block): swapped colours fail.
legend_colour() { sed -n "s/^legend \([0-9,]*\) $1\$/\1/p" "$tmp/errors.out"; }
fp=$(legend_colour "false positive") fn=$(legend_colour "false negative")
[ -n "$fp" ] && [ -n "$fn" ] || die "the errors page's legend does not name false positives and false negatives"
/usr/bin/python3 "$here/check_screenshot.py" "$tmp/errors.png" 20 --more "$fp" "$fn" || die "errors page: see above"
echo "PASS: both pages ready without errors${offline:+ and without network}; legend colours (${shown[*]}) and both error colours on the canvas"
