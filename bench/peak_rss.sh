# Sourced by the prediction benchmarks.
# prediction_inputs BUILD MODE MARKER: builds repux and bench_predict_inputs, and writes MODE's inputs to
# BUILD/predict_MODE/ unless MARKER is already there.
prediction_inputs() {
  cmake --build "$1" --target repux bench_predict_inputs >/dev/null
  [ -f "$1/predict_$2/$3" ] || "$1/bench/bench_predict_inputs" "$2" "$1/predict_$2" >/dev/null
}
# peak_rss_anon LOG COMMAND...: runs COMMAND (its output to LOG),
# sampling its anonymous memory (RssAnon) every 0.1 s, and prints the peak in GiB and the wall time.
peak_rss_anon() {
  local log=$1 start=$SECONDS peak=0 kb
  shift
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 $pid 2>/dev/null; do
    kb=$(awk '/RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    [ "${kb:-0}" -gt "$peak" ] && peak=$kb
    sleep 0.1
  done
  if ! wait $pid; then echo "failed: $(tail -1 "$log")"; return; fi
  awk -v kb="$peak" -v s=$((SECONDS - start)) 'BEGIN {printf "%6.2f GiB %5d s\n", kb / 1048576, s}'
}
