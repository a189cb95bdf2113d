#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang and runs each for SECONDS (default 60) on its seed
# corpus, under a memory limit: an allocation above 1 GB or a process above 2 GB is a finding, as is
# any crash, sanitizer report or an input that takes over 10 s. Findings are written to
# build-fuzz/findings/<harness>/ and the script exits non-zero; add each as a regression test.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (needs the main build in $BUILD, default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(nifti torch_checkpoint model_file npy dataset dicom dicom_series repux_json multipart)
build=${BUILD:-build}
out=build-fuzz
[ -f "$build/librepux_core.a" ] || { echo "fuzz: $build/librepux_core.a is missing; run 'make build' first" >&2; exit 2; }
cmake -S fuzz -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
      -DREPUX_BUILD="$PWD/$build" >/dev/null
cmake --build "$out" -j"$(nproc)"
# One harness: its run, its stats; a finding leaves a marker file. Harnesses run side by side, one per core.
run_harness() {
  local h=$1 corpus="$out/corpus/$1"   # the committed seeds plus what this machine's runs found
  mkdir -p "$corpus" "$out/findings/$h"
  cp -n fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null || true
  rm -f "$out/$h.failed"
  if ! ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
       "$out/fuzz_$h" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
       -timeout=10 -max_len=262144 -print_final_stats=1 -artifact_prefix="$out/findings/$h/" \
       >"$out/$h.log" 2>&1; then
    touch "$out/$h.failed"
  fi
}
cores=$(nproc)
for h in "${harnesses[@]}"; do
  echo "fuzz: $h for ${seconds} s"
  run_harness "$h" &
  while [ "$(jobs -rp | wc -l)" -ge "$cores" ]; do wait -n || true; done
done
wait
failed=()
for h in "${harnesses[@]}"; do
  if [ -e "$out/$h.failed" ]; then
    failed+=("$h")
    tail -40 "$out/$h.log"
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$out/$h.log" | sed "s/^/fuzz: $h /" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (inputs under $out/findings/)" >&2
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses ran ${seconds} s each, no findings"
