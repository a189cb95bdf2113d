#!/usr/bin/env bash
# The DICOM node at clinical size: a 512x512x200 CT series (0.7 x 0.7 x 2.5 mm, int16; a synthetic case
# placed in a 358 x 358 x 500 mm field of air, as a CT's field of view holds a body) is uploaded to a
# real Orthanc, which C-STOREs it to `repux serve`; measured: the time from the last slice acknowledged
# (Orthanc's store request returns) to the SEG stored back in Orthanc, and the node's own timings
# (segmentation, sending). One run; the quiet period (--quiet) is part of the latency and is printed.
# Then throughput: the same series stored by one storescu, and 8 copies of it (each its own series) by
# 8 storescu at once; slices per second received and acknowledged (durable in the spool) in each case.
# Usage: bench/pacs_latency.sh [BUILD] [MODEL]   (MODEL: default, the demo's network trained for 2
# iterations: the time does not depend on the weights; demo-out/training/best.repux gives a real SEG)
set -euo pipefail
build=${1:-build}
repux=$(realpath "$build/repux")
quiet=2
source "$(dirname "$0")/../tests/pacs/orthanc.sh"
start_test pacs-bench
die() { echo "FAIL: $*" >&2; tail -5 "$tmp/serve.log" >&2 || true; exit 1; }
cmake --build "$build" --target repux_cli >/dev/null

"$repux" synth -n 6 --seed 5 -o "$tmp/synth" >/dev/null
model=${2:-}
if [ -z "$model" ]; then
  "$repux" train -d "$tmp/synth" -o "$tmp/run" --classes 4 --dims 8 16 32 64 --depths 1 1 1 1 --hidden 64 --spacing 2 \
    --patch 48 --iterations 2 --val-every 2 >/dev/null
  model=$tmp/run/last.repux
fi
# The synthetic body (about 13 cm across) centred in a clinical field of view; outside it, air.
plastimatch resample --input "$(ls "$tmp"/synth/imagesTr/*.nii.gz | head -1)" --output "$tmp/ct.nii.gz" \
  --dim "512 512 200" --spacing "0.7 0.7 2.5" --origin "-176.9 -178.9 -238.8" --default-value -1000 --output-type short >/dev/null
plastimatch convert --input "$tmp/ct.nii.gz" --output-dicom "$tmp/ct" >/dev/null

node=$(free_port)
start_orthanc "$node"
"$repux" serve -m "$model" --aet REPUX --port "$node" --allow ORTHANC@127.0.0.1 --forward-to "ORTHANC@127.0.0.1:$dicom" \
  --spool "$tmp/spool" --quiet "$quiet" >"$tmp/serve.log" 2>&1 &
pids+=($!)
wait_for 60 "DICOM node" echoscu -aet ORTHANC -aec REPUX 127.0.0.1 "$node"
upload "$tmp/ct"
ct=$(rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "CT"}}' | json 'd[0]')

t0=$(date +%s.%N)
rest "/modalities/repux/store" -X POST -d "$ct" >/dev/null  # returns when every slice is acknowledged
t1=$(date +%s.%N)
# While the node segments it, another sender stores a small series: answered at once, not after the
# segmentation (receiving and segmenting run on separate threads).
wait_for 60 "segmentation start" grep -q '"event":"series_received"' "$tmp/serve.log"
plastimatch convert --input "$(ls "$tmp"/synth/imagesTr/*.nii.gz | sed -n 2p)" --output-dicom "$tmp/small" >/dev/null
t3=$(date +%s.%N)
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/small/*
t4=$(date +%s.%N)
wait_for 900 "SEG in Orthanc" at_least_segs 1
t2=$(date +%s.%N)
field() { grep "\"event\":\"$1\"" "$tmp/serve.log" | grep -o "\"$2\":[0-9.]*" | cut -d: -f2; }
echo "series: $(ls "$tmp/ct" | wc -l) slices of 512x512, $(du -sm "$tmp/ct" | cut -f1) MB; model: $model"
printf 'Orthanc -> node, C-STORE of the series:   %6.1f s\n' "$(awk "BEGIN {print $t1 - $t0}")"
printf 'last slice -> SEG stored in Orthanc:      %6.1f s (of which the quiet period %s s)\n' "$(awk "BEGIN {print $t2 - $t1}")" "$quiet"
printf '  node: read + segment + write the SEG:   %6.1f s\n' "$(field segmented seconds | head -1)"
printf '  node: C-STORE of the SEG to Orthanc:    %6.1f s\n' "$(field seg_sent seconds | head -1)"
printf 'a %s-slice series stored meanwhile in:    %6.1f s\n' "$(ls "$tmp/small" | wc -l)" "$(awk "BEGIN {print $t4 - $t3}")"

# Throughput: one sender, then 8 at once (8 copies of the series, each with its own SeriesInstanceUID).
for k in $(seq 8); do
  cp -r "$tmp/ct" "$tmp/copy$k"
  dcmodify -nb -m "(0020,000e)=1.2.826.0.1.3680043.8.498.9$k.$$" -gin "$tmp/copy$k"/* >/dev/null 2>&1
done
slices=$(ls "$tmp/ct" | wc -l)
t5=$(date +%s.%N)
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/copy1/* || die "the single sender failed"
t6=$(date +%s.%N)
senders=()
for k in $(seq 8); do
  storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp/copy$k"/* &
  senders+=($!)
done
for p in "${senders[@]}"; do wait "$p" || die "a sender of the 8 failed"; done
t7=$(date +%s.%N)
printf 'one storescu, %s slices:                  %6.1f slices/s\n' "$slices" "$(awk "BEGIN {print $slices / ($t6 - $t5)}")"
printf '8 storescu at once, %s slices:           %6.1f slices/s\n' "$((8 * slices))" "$(awk "BEGIN {print 8 * $slices / ($t7 - $t6)}")"
