#!/usr/bin/env bash
# The viewer page in a real browser: `repux view` pages opened by headless Chromium (Debian's chromium,
# WebGL2 through SwiftShader), with no network (a new network namespace where one can be made; the
# page's Content-Security-Policy forbids the network in any case). For each page: the page reports
# "ready" and no JavaScript error; a screenshot is not blank; the legend's colours of the classes in
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
chrome() {  # chrome PAGE ARGS...: one headless run, no network, its own profile
  local page=$1
  shift
  timeout 120 "${offline[@]}" "$browser" --headless=new --no-sandbox --disable-gpu-sandbox --use-angle=swiftshader \
    --enable-unsafe-swiftshader --user-data-dir="$tmp/profile" --no-first-run --disable-extensions --hide-scrollbars \
    --window-size=1400,900 --virtual-time-budget=30000 --enable-logging=stderr --v=0 "$@" "file://$page"
}

"$repux" synth -n 1 --seed 5 -o "$tmp/data" >/dev/null
image=$(ls "$tmp"/data/imagesTr/*.nii.gz)
truth=$(ls "$tmp"/data/labelsTr/*.nii.gz)
read -r -a shown < <(/usr/bin/python3 "$here/make_cases.py" "$truth" "$tmp/prediction.nii.gz")
[ "${#shown[@]}" -ge 2 ] || die "the centre slices show fewer than two classes (${shown[*]}): the check would be void"
"$repux" view -i "$image" -s "$truth" -o "$tmp/labels.html" --opacity 1 --class-names background liver spleen kidney >/dev/null
"$repux" view -i "$image" -s "$tmp/prediction.nii.gz" -g "$truth" -o "$tmp/errors.html" --opacity 1 \
  --class-names background liver spleen kidney >/dev/null

if ! chrome "$tmp/labels.html" --dump-dom >"$tmp/probe.html" 2>"$tmp/probe.log"; then
  grep -q "data-state" "$tmp/probe.html" 2>/dev/null || { echo "SKIPPED: chromium does not start headless: $(tail -2 "$tmp/probe.log")"; exit 77; }
fi
for page in labels errors; do
  chrome "$tmp/$page.html" --dump-dom >"$tmp/$page.dom" 2>"$tmp/$page.log" || die "$page: chromium failed: $(tail -3 "$tmp/$page.log")"
  grep -q 'data-state="ready"' "$tmp/$page.dom" || die "$page: the page did not get ready: $(grep -o 'id="status">[^<]*' "$tmp/$page.dom")"
  if grep -E "Uncaught|CONSOLE.*[Ee]rror|Refused to" "$tmp/$page.log"; then die "$page: JavaScript errors (above)"; fi
  chrome "$tmp/$page.html" --screenshot="$tmp/$page.png" >/dev/null 2>"$tmp/$page.shot.log" || die "$page: no screenshot"
done
# The legend's colours as the page drew them (rows in label order: classes 1.., then the error entries).
mapfile -t legend < <(grep -o 'data-rgb="[0-9,]*"' "$tmp/labels.dom" | sed 's/data-rgb="\(.*\)"/\1/')
[ "${#legend[@]}" -ge 3 ] || die "the legend has ${#legend[@]} rows, expected a row per class"
colours=()
for c in "${shown[@]}"; do colours+=("${legend[$((c - 1))]}"); done
if [ $# -ge 2 ]; then cp "$tmp/errors.png" "$2"; fi
/usr/bin/python3 "$here/check_screenshot.py" "$tmp/labels.png" 40 "${colours[@]}" || die "labels page: see above"
# The error layer's colours, as the legend names them; the false positives (a 9-voxel block) must cover
# more of the canvas than the false negatives (a 3-voxel block): swapped colours fail.
legend_colour() { grep -o "data-rgb=\"[0-9,]*\"[^<]*<span[^>]*></span> *$1" "$tmp/errors.dom" | sed 's/data-rgb="\([0-9,]*\)".*/\1/'; }
fp=$(legend_colour "false positive") fn=$(legend_colour "false negative")
[ -n "$fp" ] && [ -n "$fn" ] || die "the errors page's legend does not name false positives and false negatives"
/usr/bin/python3 "$here/check_screenshot.py" "$tmp/errors.png" 20 --more "$fp" "$fn" || die "errors page: see above"
echo "PASS: both pages ready without errors${offline:+ and without network}; legend colours (${shown[*]}) and both error colours on the canvas"
