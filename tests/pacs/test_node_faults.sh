#!/usr/bin/env bash
# `repux serve` under the faults a hospital network brings, each against real DCMTK programs (storescu,
# storescp, echoscu) or Orthanc, all on 127.0.0.1 with bounded waits:
#   1. kill -9 while a 300-slice series arrives, a restart, the sender's resend: exactly one SEG, of the
#      whole series (the interrupted part waits for its resend instead of being segmented);
#   2. a destination down for 30 s, the node restarted meanwhile: the SEG is retried and arrives;
#   3. a second node on the same spool refuses to start, naming the first one's PID;
#   4. every acknowledged instance is fsynced (file and folder) before its C-STORE response (strace);
#   5. DICOM TLS: storescu +tls with a certificate of our CA is served, without one or without TLS it
#      is refused; Orthanc with its own DICOM TLS settings round-trips a series (Orthanc -> node -> SEG
#      back to Orthanc, both associations TLS).
# Usage: test_node_faults.sh REPUX_BINARY
set -euo pipefail
repux=$1
here=$(dirname "$0")
source "$here/orthanc.sh"
start_test node-faults
die() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -15 "$f"; done >&2; exit 1; }

# Data: a tiny model, a 300-slice CT series (32 x 32 slices) and a small one, written by plastimatch.
"$repux" synth -n 6 --seed 3 -o "$tmp/synth" >/dev/null
"$repux" train -d "$tmp/synth" -o "$tmp/run" --classes 4 --dims 4 8 16 32 --depths 1 1 1 1 --kernel-sizes 5 --hidden 16 \
  --patch 32 --iterations 2 --val-every 2 >/dev/null
model=$tmp/run/last.repux
first=$(ls "$tmp"/synth/imagesTr/*.nii.gz | head -1)
plastimatch resample --input "$first" --output "$tmp/long.nii.gz" --dim "32 32 300" --spacing "4 4 0.4" --output-type short >/dev/null
plastimatch convert --input "$tmp/long.nii.gz" --output-dicom "$tmp/long" >/dev/null
plastimatch convert --input "$(ls "$tmp"/synth/imagesTr/*.nii.gz | sed -n 2p)" --output-dicom "$tmp/small" >/dev/null
[ "$(ls "$tmp/long" | wc -l)" -eq 300 ] || die "plastimatch wrote $(ls "$tmp/long" | wc -l) slices, not 300"
series_uid() { dcmdump -Un +P 0020,000e "$(ls -d "$1"/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/'; }
count() { find "$1" -maxdepth 1 -type f -name "${2:-*}" 2>/dev/null | wc -l; }

node=$(free_port)
dest=$(free_port)
start_destination() {
  mkdir -p "$tmp/received"
  storescp --aetitle DEST --output-directory "$tmp/received" "$dest" >>"$tmp/storescp.log" 2>&1 &
  dest_pid=$!
  pids+=($dest_pid)
  wait_for 60 "storescp" echoscu -aet REPUX -aec DEST 127.0.0.1 "$dest"
}
# start_node [PREFIX...]: the node (spool $tmp/spool, SEGs to storescp), optionally under a wrapper.
start_node() {
  "$@" "$repux" serve -m "$model" --aet REPUX --port "$node" --allow SENDER@127.0.0.1 --forward-to "DEST@127.0.0.1:$dest" \
    --spool "$tmp/spool" --quiet 2 --retry-interval 1 --retry-max-interval 4 >>"$tmp/serve.log" 2>&1 &
  node_pid=$!
  pids+=($node_pid)
  wait_for 180 "DICOM node" echoscu -aet SENDER -aec REPUX 127.0.0.1 "$node"
}
stop_node() {  # the node, or under a wrapper (strace) the node it started
  kill -TERM "$(pgrep -P "$node_pid" || echo "$node_pid")"
  wait_for 120 "the node's exit after SIGTERM" bash -c "! kill -0 $node_pid"
}
spool_idle() { [ -z "$(find "$tmp/spool/outgoing" "$tmp/spool/series" "$tmp/spool/work" -mindepth 1)" ]; }

# 1. kill -9 mid-series, restart, resend: one SEG of all 300 slices.
start_destination
start_node
proxy=$(free_port)
python3 "$here/slow_proxy.py" "$proxy" "$node" 0.03 &
pids+=($!)
wait_for 30 "the slow relay" bash -c "exec 3<>/dev/tcp/127.0.0.1/$proxy"
storescu -aet SENDER -aec REPUX 127.0.0.1 "$proxy" "$tmp"/long/* >/dev/null 2>&1 &
sender=$!
pids+=($sender)
long=$tmp/spool/series/$(series_uid "$tmp/long")
wait_for 120 "the first 30 slices in the spool" bash -c "[ \$(find '$long' -name '*.dcm' | wc -l) -ge 30 ]"
kill -9 "$node_pid"
arrived=$(count "$long" "*.dcm")
[ "$arrived" -lt 300 ] || die "all 300 slices arrived before kill -9: the test did not interrupt the series"
kill -9 "$sender" 2>/dev/null || true
start_node
# The sender resends later (Orthanc's job retries after a while): for three quiet periods the
# interrupted part must stay unsegmented. (A window in which nothing may happen, not a wait for an event.)
received_before=$(grep -c '"event":"series_received"' "$tmp/serve.log" || true)
sleep 6
received_after=$(grep -c '"event":"series_received"' "$tmp/serve.log" || true)
[ "$received_after" -eq "$received_before" ] || die "the interrupted part ($arrived slices) was segmented before its resend"
storescu -aet SENDER -aec REPUX 127.0.0.1 "$node" "$tmp"/long/* >/dev/null 2>&1 || die "the resend failed"
wait_for 300 "the SEG at the destination" bash -c "[ \$(find '$tmp/received' -type f | wc -l) -ge 1 ]"
wait_for 120 "an idle spool" spool_idle
segs=$(count "$tmp/received")
[ "$segs" -eq 1 ] || die "$segs SEGs reached the destination for one series"
refs=$(dcmdump -Un +P 0008,1155 "$(ls -d "$tmp"/received/* | head -1)" | sort -u | wc -l)
[ "$refs" -eq 300 ] || die "the SEG references $refs slices, not 300"
grep -q '"event":"series_received".*"files":300' "$tmp/serve.log" || die "no series_received of 300 files"
echo "kill -9 after $arrived of 300 slices, restart, resend: one SEG, referencing all 300"

# 2. The destination down for 30 s, the node restarted meanwhile: the SEG is retried and arrives.
kill -9 "$dest_pid"
rm -rf "$tmp/received"
down=$(date +%s)
storescu -aet SENDER -aec REPUX 127.0.0.1 "$node" "$tmp"/small/* >/dev/null 2>&1 || die "storing the small series failed"
wait_for 180 "a failed delivery" grep -q '"event":"delivery_failed"' "$tmp/serve.log"
stop_node
start_node
grep -q '"event":"listening".*"waiting_segs":1' "$tmp/serve.log" || die "the restarted node does not know its waiting SEG"
wait_for 60 "30 s of the destination down" bash -c "[ \$((\$(date +%s) - $down)) -ge 30 ]"
start_destination
wait_for 120 "the delayed SEG at the destination" bash -c "[ \$(find '$tmp/received' -type f | wc -l) -ge 1 ]"
attempts=$(grep -c '"event":"delivery_failed"' "$tmp/serve.log")
echo "destination down $(($(date +%s) - down)) s, node restarted: SEG delivered after $attempts failed attempts"

# 3. A second node on the same spool refuses to start, naming the first one's PID.
if "$repux" serve -m "$model" --port "$(free_port)" --allow SENDER --forward-to "DEST@127.0.0.1:$dest" --spool "$tmp/spool" \
  >"$tmp/second.log" 2>&1; then die "a second node started on the same spool"; fi
grep -q "in use by another repux serve (PID $node_pid)" "$tmp/second.log" || die "the second node's error: $(cat "$tmp/second.log")"
echo "a second node on the spool refused: $(tail -1 "$tmp/second.log")"
stop_node

# 4. fsync before the C-STORE response: every stored file and its folder.
if strace -f -qq -e trace=none true 2>/dev/null; then
  start_node strace -f -qq -e trace=fsync,rename,renameat,renameat2,sendto,write -o "$tmp/strace.out"
  storescu -aet SENDER -aec REPUX 127.0.0.1 "$node" "$tmp"/small/* >/dev/null 2>&1 || die "storing under strace failed"
  stop_node
  slices=$(ls "$tmp/small" | wc -l)
  fsyncs=$(grep -c 'fsync(' "$tmp/strace.out" || true)
  [ "$fsyncs" -ge $((2 * slices)) ] || die "$fsyncs fsync calls for $slices stored slices (a file and its folder each)"
  # In the receiving thread, each rename into series/ is followed by an fsync before anything is written.
  python3 - "$tmp/strace.out" <<'PY' || die "a C-STORE response was written before its instance was made durable"
import re, sys
pending = {}
for line in open(sys.argv[1]):
    pid = line.split()[0]
    if re.search(r'rename(at2?)?\(.*/incoming/.*series/', line):
        pending[pid] = True
    elif 'fsync(' in line:
        pending.pop(pid, None)
    elif re.match(r'\d+\s+(write|sendto)\(', line) and pending.get(pid):
        sys.exit(1)
PY
  echo "fsync: $fsyncs fsync calls for $slices slices, each before its response"
else
  echo "fsync check skipped: strace cannot trace here"
fi

# 5. DICOM TLS. A CA, the node's and a sender's certificates, Orthanc's.
mkdir -p "$tmp/tls"
cd "$tmp/tls"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=repux-test-ca 2>/dev/null
for who in node sender orthanc; do
  openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=$who" 2>/dev/null
  openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$who.crt" -days 2 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1') 2>/dev/null
done
openssl req -x509 -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.crt -days 2 -subj /CN=stranger 2>/dev/null
cd - >/dev/null
tls_args=(--tls-cert "$tmp/tls/node.crt" --tls-key "$tmp/tls/node.key" --tls-ca "$tmp/tls/ca.crt" --tls-require-peer-cert)
"$repux" serve -m "$model" --aet REPUX --port "$node" --allow SENDER@127.0.0.1 --allow ORTHANC@127.0.0.1 \
  --forward-to "DEST@127.0.0.1:$dest" --spool "$tmp/spool-tls" --quiet 2 "${tls_args[@]}" >>"$tmp/serve-tls.log" 2>&1 &
node_pid=$!
pids+=($node_pid)
tls_echo() { echoscu -aet SENDER -aec REPUX +tls "$tmp/tls/$1.key" "$tmp/tls/$1.crt" +cf "$tmp/tls/ca.crt" 127.0.0.1 "$node"; }
wait_for 180 "the DICOM node over TLS" tls_echo sender
storescu -aet SENDER -aec REPUX +tls "$tmp/tls/sender.key" "$tmp/tls/sender.crt" +cf "$tmp/tls/ca.crt" 127.0.0.1 "$node" "$tmp"/small/* \
  >/dev/null 2>&1 || die "storescu +tls with a certificate of the CA was refused"
if tls_echo stranger >/dev/null 2>&1; then die "a certificate not signed by the CA was accepted"; fi
if echoscu -aet SENDER -aec REPUX +tla +cf "$tmp/tls/ca.crt" 127.0.0.1 "$node" >/dev/null 2>&1; then
  die "a TLS peer without a certificate was accepted under --tls-require-peer-cert"
fi
if echoscu -to 5 -ta 5 -td 5 -aet SENDER -aec REPUX 127.0.0.1 "$node" >/dev/null 2>&1; then die "a plain (non-TLS) association was accepted"; fi
echo "TLS: storescu +tls with the CA's certificate served; a stranger's certificate, none, and plain TCP refused"
kill -TERM "$node_pid"
wait_for 120 "the TLS node's exit" bash -c "! kill -0 $node_pid"

start_orthanc "$node" "$tmp/tls"
"$repux" serve -m "$model" --aet REPUX --port "$node" --allow ORTHANC@127.0.0.1 --allow SENDER@127.0.0.1 --forward-to "ORTHANC@127.0.0.1:$dicom" --forward-tls \
  --spool "$tmp/spool-orthanc" --quiet 2 "${tls_args[@]}" >>"$tmp/serve-orthanc.log" 2>&1 &
pids+=($!)
wait_for 180 "the DICOM node over TLS" tls_echo sender
upload "$tmp/small"
ct=$(rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "CT"}}' | json 'd[0]')
rest "/modalities/repux/store" -X POST -d "$ct" >/dev/null || die "Orthanc could not store to the node over TLS"
wait_for 300 "the SEG back in Orthanc over TLS" at_least_segs 1
echo "Orthanc round trip over DICOM TLS: series to the node, SEG back"
