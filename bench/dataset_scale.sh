#!/bin/bash
# Datasets at scale (one run; figures in the README): clinical-size synthetic CTs, preprocessed once
# into a case store, trained from by crop.
#   bench/dataset_scale.sh BUILD_DIR WORK_DIR [CASES [SPACING_MM...]]   (default: 40 cases, FLARE's 1.0 1.0 1.2)
# 1. `repux synth --full-size` writes CASES (default 40) cases of 512 x 512 x 150-300 voxels.
# 2. Preprocessing throughput with 1 and 2 threads (8 cases each), then the whole set; store size vs raw.
# 3. `repux train` (small network, 20 iterations, 2 workers, one validation case) from a 5-case and a
#    CASES-case store: peak anonymous memory (RssAnon from /proc, file-backed pages excluded) and the
#    time from launch to the first iteration. The previous trainer held every case in memory as
#    float32 image + int64 label (12 bytes a voxel); its figure is extrapolated from the store's voxels.
# 4. bench_data_pipeline: 96^3 crops with full augmentation per second, 1 and 2 workers.
set -euo pipefail
build=$(realpath "$1"); work=$2; cases=${3:-40}
shift $(( $# < 3 ? $# : 3 ))
spacing=("$@"); [ ${#spacing[@]} -gt 0 ] || spacing=(1.0 1.0 1.2)
tag=$(IFS=_; echo "${spacing[*]}")
repux=$build/repux
mkdir -p "$work"; work=$(realpath "$work")
cmake --build "$build" --target repux_cli bench_data_pipeline >/dev/null

[ -f "$work/raw/dataset.json" ] || "$repux" synth --full-size -n "$cases" -o "$work/raw" --seed 5 >/dev/null
# Dataset lists: the first 4 (+ 1 validation) cases, and all of them (the last one validation).
python3 - "$work" "$cases" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
items = [{"image": f"raw/imagesTr/synth_{i:03d}_0000.nii.gz", "label": f"raw/labelsTr/synth_{i:03d}.nii.gz"} for i in range(n)]
labels = {"0": "background", "1": "liver", "2": "spleen", "3": "kidney"}
for name, k in (("five", 5), ("eight", 8), ("all", n)):
    json.dump({"training": items[:k - 1], "validation": [items[n - 1]], "labels": labels}, open(f"{work}/{name}.json", "w"))
PY
raw_bytes=$(du -sb "$work/raw/imagesTr" "$work/raw/labelsTr" | awk '{s += $1} END {print s}')
recipe=(--preset flare --spacing "${spacing[@]}")
echo "== preprocessing (recipe: flare window, ${spacing[*]} mm)"
for t in 1 2; do
  rm -rf "$work/store8"
  start=$(date +%s.%N)
  "$repux" preprocess "$work/eight.json" -o "$work/store8" "${recipe[@]}" --jobs $t >/dev/null 2>&1
  awk -v s="$start" -v e="$(date +%s.%N)" -v t=$t 'BEGIN {printf "  %d thread(s): %.2f cases/minute (8 cases in %.1f s)\n", t, 8 * 60 / (e - s), e - s}'
done
rm -rf "$work/store8"
"$repux" preprocess "$work/five.json" -o "$work/store5_$tag" "${recipe[@]}" >/dev/null 2>&1
start=$(date +%s.%N)
"$repux" preprocess "$work/all.json" -o "$work/store_all_$tag" "${recipe[@]}" --jobs 2 >/dev/null 2>&1
awk -v s="$start" -v e="$(date +%s.%N)" -v n="$cases" 'BEGIN {printf "  all %d cases, 2 threads: %.1f s\n", n, e - s}'
store_bytes=$(du -sb "$work/store_all_$tag" | awk '{print $1}')
voxels=$(python3 -c "import json; print(sum(c['shape'][0]*c['shape'][1]*c['shape'][2] for c in json.load(open('$work/store_all_$tag/index.json'))['cases']))")
awk -v r="$raw_bytes" -v s="$store_bytes" -v v="$voxels" 'BEGIN {printf "  raw %.2f GiB (NIfTI .gz), store %.2f GiB (%.0f M voxels); previous trainer in memory: %.2f GiB (12 B/voxel, extrapolated)\n", r / 2^30, s / 2^30, v / 1e6, v * 12 / 2^30}'

echo "== training from the store (small RepUX-Net, 20 iterations, 2 workers, patch 96)"
train=(train --dims 8 16 32 64 --depths 1 1 1 1 --hidden 64 --classes 4 --patch 96 --iterations 20 --val-every 20 --workers 2 --log-every 1 --overwrite)
# Runs repux train, sampling its RssAnon every 0.1 s and timing its first iteration line.
measure() {
  python3 - "$@" <<'PY'
import subprocess, sys, threading, time
log, cmd = sys.argv[1], sys.argv[2:]
start = time.time()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
peak, first = 0, None
def sample():
    global peak
    while p.poll() is None:
        try:
            for line in open(f"/proc/{p.pid}/status"):
                if line.startswith("RssAnon"): peak = max(peak, int(line.split()[1]))
        except OSError: pass
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
with open(log, "w") as out:
    for line in p.stdout:
        out.write(line)
        if first is None and line.startswith("it "): first = time.time() - start
p.wait()
if p.returncode: sys.exit(f"failed: see {log}")
print(f"peak RssAnon {peak / 2**20:.2f} GiB, launch to first iteration {first:.1f} s, total {time.time() - start:.0f} s")
PY
}
for name in five:store5_$tag all:store_all_$tag; do
  label=${name%%:*}; store=${name#*:}
  echo "  $label ($store): $(measure "$work/train_$label.log" "$repux" "${train[@]}" -d "$work/$store" -o "$work/train_$label")"
done
echo "== data pipeline alone (bench_data_pipeline, 20 batches of 2 x 96^3)"
"$build/bench/bench_data_pipeline" "$work/store_all_$tag" 20 2
