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
[ ${#harnesses[@]} -eq 0 ] && harnesses=(nifti torch_checkpoint model_file npy dataset)
build=${BUILD:-build}
out=build-fuzz
[ -f "$build/librepux.a" ] || { echo "fuzz: $build/librepux.a is missing; run 'make build' first" >&2; exit 2; }
cmake -S fuzz -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
      -DREPUX_LIBRARY="$PWD/$build/librepux.a" >/dev/null
cmake --build "$out" -j"$(nproc)"
failed=()
for h in "${harnesses[@]}"; do
  corpus="$out/corpus/$h"   # the committed seeds plus what this machine's runs found
  mkdir -p "$corpus" "$out/findings/$h"
  cp -n fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: $h for ${seconds} s"
  if ! ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
       "$out/fuzz_$h" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
       -timeout=10 -max_len=262144 -print_final_stats=1 -artifact_prefix="$out/findings/$h/" \
       >"$out/$h.log" 2>&1; then
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
