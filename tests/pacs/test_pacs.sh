#!/usr/bin/env bash
# `repux serve` and `repux pacs-segment` against a real Orthanc on 127.0.0.1 (its own temporary
# configuration, storage and ports): push (Orthanc C-STOREs a series to the node, the SEG and the
# RTSTRUCT come back), pull (C-GET of a study, SEGs and an RTSTRUCT stored back), and faults (an
# unknown AE title, two series at once, a corrupt series, kill -9 mid-way). Every wait is bounded; the
# servers are killed and the folder removed however the test ends. Usage: test_pacs.sh REPUX_BINARY
set -euo pipefail
repux=$1
source "$(dirname "$0")/orthanc.sh"
start_test pacs
die() { echo "FAIL: $*" >&2; for f in "$tmp"/serve*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

# Data: CT series written by plastimatch from synthetic cases, and a small model.
"$repux" synth -n 6 --seed 11 -o "$tmp/synth" >/dev/null
i=0
for image in "$tmp"/synth/imagesTr/*.nii.gz; do
  plastimatch convert --input "$image" --output-dicom "$tmp/series$i" >/dev/null 2>&1
  i=$((i + 1))
done
"$repux" train -d "$tmp/synth" -o "$tmp/run" --classes 4 --dims 4 8 16 32 --depths 1 1 1 1 --kernel-sizes 5 --hidden 16 \
  --patch 32 --iterations 2 --val-every 2 >/dev/null
model=$tmp/run/last.repux
series_uid() { dcmdump -Un +P 0020,000e "$(ls -d "$1"/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/'; }
study_uid() { dcmdump -Un +P 0020,000d "$(ls -d "$1"/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/'; }

node=$(free_port)
start_orthanc "$node"

start_node() {
  "$repux" serve -m "$model" --aet REPUX --port "$node" --allow ORTHANC@127.0.0.1 --forward-to "ORTHANC@127.0.0.1:$dicom" \
    --spool "$tmp/spool" --quiet 2 --format both >>"$tmp/serve.log" 2>&1 &
  node_pid=$!
  pids+=($node_pid)
  wait_for 180 "DICOM node" echoscu -aet ORTHANC -aec REPUX 127.0.0.1 "$node"
}
start_node

# Push: Orthanc sends series 0 to the node; its SEG and its RTSTRUCT (--format both) come back into the
# same study, referencing it.
rtstructs() { rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "RTSTRUCT"}}' | json 'len(d)'; }
at_least_rtstructs() { [ "$(rtstructs)" -ge "$1" ]; }
upload "$tmp/series0"
ct=$(rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "CT"}}' | json 'd[0]')
rest "/modalities/repux/store" -X POST -d "$ct" >/dev/null
wait_for 300 "SEG of the pushed series in Orthanc" at_least_segs 1
seg=$(rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "SEG"}}' | json 'd[0]')
[ "$(rest "/series/$seg" | json 'd["ParentStudy"]')" = "$(rest "/series/$ct" | json 'd["ParentStudy"]')" ] || die "the SEG is not in the CT's study"
instance=$(rest "/series/$seg" | json 'd["Instances"][0]')
referenced=$(rest "/instances/$instance/tags?simplify" | json 'd["ReferencedSeriesSequence"][0]["SeriesInstanceUID"]')
[ "$referenced" = "$(series_uid "$tmp/series0")" ] || die "the SEG references $referenced"
wait_for 120 "RTSTRUCT of the pushed series in Orthanc" at_least_rtstructs 1
rt=$(rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "RTSTRUCT"}}' | json 'd[0]')
[ "$(rest "/series/$rt" | json 'd["ParentStudy"]')" = "$(rest "/series/$ct" | json 'd["ParentStudy"]')" ] || die "the RTSTRUCT is not in the CT's study"
echo "push: SEG and RTSTRUCT back in Orthanc, the SEG referencing the series (segmented in $(grep '"event":"segmented"' "$tmp/serve.log" | grep -o '"seconds":[0-9.]*' | tail -1 | cut -d: -f2) s)"

# An AE title the node does not know is refused at association time.
if echoscu -aet STRANGER -aec REPUX 127.0.0.1 "$node" >/dev/null 2>&1; then die "an unknown AE title was accepted"; fi
echo "unknown AE title refused"

# Two series at once: both come back, each referencing its own series.
# (wait names the two senders: a bare wait would also wait for Orthanc and the node.)
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/series1/* &
first=$!
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/series2/* &
second=$!
wait "$first" "$second" || die "a sender failed"
wait_for 420 "SEGs of the two simultaneous series" at_least_segs 3
refs=$(rest /tools/find -X POST -d '{"Level": "Instance", "Query": {"Modality": "SEG"}, "Expand": true}' | json '" ".join(sorted(i["ID"] for i in d))')
found=""
for id in $refs; do found="$found $(rest "/instances/$id/tags?simplify" | json 'd["ReferencedSeriesSequence"][0]["SeriesInstanceUID"]')"; done
for k in 1 2; do [[ $found == *"$(series_uid "$tmp/series$k")"* ]] || die "no SEG references series $k"; done
echo "two series at once: both segmented, unmixed"

# A corrupt series (a slice missing) is logged and set aside; the next series still succeeds.
rm "$(ls -d "$tmp"/series3/* | sed -n 5p)"
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/series3/*
wait_for 180 "failure line for the corrupt series" grep -q "\"event\":\"failed\".*$(series_uid "$tmp/series3")" "$tmp/serve.log"
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/series4/*
wait_for 300 "SEG of the series after the corrupt one" at_least_segs 4
echo "corrupt series logged ($(grep -o 'missing between[^"]*' "$tmp/serve.log" | head -1 | cut -c1-60)...), the next one segmented"

# kill -9 while a received series waits for its quiet period; after a restart it is still segmented.
storescu -aet ORTHANC -aec REPUX 127.0.0.1 "$node" "$tmp"/series5/*
kill -9 "$node_pid"
[ -d "$tmp/spool/series/$(series_uid "$tmp/series5")" ] || die "the received series is not in the spool"
start_node
wait_for 300 "SEG of the series received before kill -9" at_least_segs 5
echo "kill -9 and restart: the spooled series was segmented"

# Pull: the node's program retrieves study 0 with C-GET and stores a SEG back.
"$repux" pacs-segment -m "$model" --pacs "ORTHANC@127.0.0.1:$dicom" --aet REPUX --study "$(study_uid "$tmp/series0")" >"$tmp/pull.log" 2>&1 ||
  { cat "$tmp/pull.log"; die "pacs-segment failed"; }
wait_for 90 "SEG of the pulled study" at_least_segs 6
echo "pull: study retrieved with C-GET, SEG stored back"
# Pull again with --format both: the study (now holding a SEG too) is retrieved, and an RTSTRUCT and a
# SEG referencing the series are stored back.
before=$(rtstructs)
"$repux" pacs-segment -m "$model" --format both --pacs "ORTHANC@127.0.0.1:$dicom" --aet REPUX --study "$(study_uid "$tmp/series0")" \
  >"$tmp/pull2.log" 2>&1 || { cat "$tmp/pull2.log"; die "pacs-segment --format both failed"; }
wait_for 90 "RTSTRUCT of the pulled study" at_least_rtstructs $((before + 1))
wait_for 90 "SEG of the second pull" at_least_segs 7
echo "pull --format both: an RTSTRUCT and a SEG stored back"
kill -TERM "$node_pid"
wait_for 90 "clean stop on SIGTERM" grep -q '"event":"stopped"' "$tmp/serve.log"
wait_for 90 "the node's exit after SIGTERM" bash -c "! kill -0 $node_pid"
wait "$node_pid" || die "the node exited with status $? after SIGTERM"
echo "SIGTERM: stopped cleanly, exit status 0"
