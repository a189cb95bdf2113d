#!/usr/bin/env bash
# `repux pacs-segment --dicomweb` against a real Orthanc with its DICOMweb plugin (Debian's
# orthanc-dicomweb) on 127.0.0.1, HTTP basic authentication on: a CT series stored into Orthanc is
# found by QIDO-RS, retrieved by WADO-RS, segmented, and its SEG (then an RTSTRUCT) stored back by
# STOW-RS into the same study, referencing the series. Faults: a wrong password (one line, the
# password never printed), an archive answering 503 twice (retried), a multipart answer cut short
# (refused, nothing stored, nothing left on disk). Over HTTPS, a client certificate the server
# requires (and none, or an unknown server CA: refused). `serve --dicomweb-poll`: each series once,
# none repeated after a restart. Orthanc and the proxies are killed however the
# test ends. Usage: test_dicomweb.sh REPUX_BINARY
set -euo pipefail
repux=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/orthanc.sh"
start_test dicomweb
die() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }
rest() { curl -sf -u repux:s3cret "http://127.0.0.1:$http$1" "${@:2}"; }
count() { rest /tools/find -X POST -d "{\"Level\": \"Series\", \"Query\": {\"Modality\": \"$1\"}}" | json 'len(d)'; }

# Data: one CT series written by plastimatch from a synthetic case, and a tiny model.
"$repux" synth -n 2 --seed 5 -o "$tmp/synth" >/dev/null
plastimatch convert --input "$(ls "$tmp"/synth/imagesTr/*.nii.gz | head -1)" --output-dicom "$tmp/series" >/dev/null 2>&1
"$repux" train -d "$tmp/synth" -o "$tmp/run" --classes 4 --dims 4 8 16 32 --depths 1 1 1 1 --kernel-sizes 5 --hidden 16 \
  --patch 32 --spacing 4 --iterations 2 --val-every 2 --folds 2 --no-final-validation >/dev/null
model=$tmp/run/last.repux
series_uid=$(dcmdump -Un +P 0020,000e "$(ls -d "$tmp"/series/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
study_uid=$(dcmdump -Un +P 0020,000d "$(ls -d "$tmp"/series/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')

# Orthanc with the DICOMweb plugin and a registered user, on its own ports and storage.
http=$(free_port)
dicom=$(free_port)
cat >"$tmp/orthanc.json" <<JSON
{ "Name": "repux-dicomweb-test", "StorageDirectory": "$tmp/orthanc-db", "IndexDirectory": "$tmp/orthanc-db",
  "HttpPort": $http, "DicomPort": $dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": false,
  "AuthenticationEnabled": true, "RegisteredUsers": { "repux": "s3cret" },
  "Plugins": [ "/usr/share/orthanc/plugins/libOrthancDicomWeb.so" ], "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
JSON
Orthanc "$tmp/orthanc.json" >"$tmp/orthanc.log" 2>&1 &
pids+=($!)
wait_for 60 "Orthanc" rest /system
wait_for 30 "Orthanc's DICOMweb plugin" rest /dicom-web/studies
for f in "$tmp"/series/*; do rest /instances -X POST --data-binary @"$f" >/dev/null; done
url=http://127.0.0.1:$http/dicom-web
printf 'repux:s3cret\n' >"$tmp/auth"

# Found by QIDO (Modality=CT), retrieved by WADO-RS, the SEG stored by STOW-RS into the same study.
"$repux" pacs-segment -m "$model" --dicomweb "$url" --query Modality=CT --auth-file "$tmp/auth" >"$tmp/pull.log" 2>&1 ||
  die "pacs-segment --dicomweb failed"
grep -q '"event":"seg_sent"' "$tmp/pull.log" || die "no seg_sent line"
[ "$(count SEG)" = 1 ] || die "expected 1 SEG in Orthanc, found $(count SEG)"
seg=$(rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "SEG"}}' | json 'd[0]')
[ "$(rest "/series/$seg" | json 'd["ParentStudy"]')" = "$(rest /tools/find -X POST -d '{"Level": "Study", "Query": {}}' | json 'd[0]')" ] ||
  die "the SEG is not in the CT's study"
instance=$(rest "/series/$seg" | json 'd["Instances"][0]')
referenced=$(rest "/instances/$instance/tags?simplify" | json 'd["ReferencedSeriesSequence"][0]["SeriesInstanceUID"]')
[ "$referenced" = "$series_uid" ] || die "the SEG references $referenced, not $series_uid"
echo "QIDO + WADO-RS + STOW-RS: the SEG is in the study, referencing the series"

# The credentials from the environment, the series named: an RTSTRUCT stored back.
REPUX_DICOMWEB_AUTH=repux:s3cret "$repux" pacs-segment -m "$model" --dicomweb "$url" --study "$study_uid" --series "$series_uid" \
  --format rtstruct >"$tmp/rt.log" 2>&1 || die "pacs-segment with REPUX_DICOMWEB_AUTH failed"
[ "$(count RTSTRUCT)" = 1 ] || die "expected 1 RTSTRUCT in Orthanc"
echo "REPUX_DICOMWEB_AUTH, --study --series: the RTSTRUCT is in Orthanc"

# A wrong password: one line naming 401, the password nowhere, nothing stored.
printf 'repux:wrong-password\n' >"$tmp/bad"
if "$repux" pacs-segment -m "$model" --dicomweb "$url" --query Modality=CT --auth-file "$tmp/bad" >"$tmp/bad.log" 2>&1; then
  die "a wrong password was accepted"
fi
grep -q 'HTTP 401 Unauthorized' "$tmp/bad.log" || die "the error does not say 401: $(cat "$tmp/bad.log")"
! grep -q 'wrong-password' "$tmp/bad.log" || die "the password appears in the output"
[ "$(grep -c . "$tmp/bad.log")" = 1 ] || die "more than one line for a wrong password: $(cat "$tmp/bad.log")"
echo "wrong password: $(cat "$tmp/bad.log")"

# proxy MODE: a proxy in front of Orthanc's DICOMweb; sets proxy_url.
proxy() {
  rm -f "$tmp/proxy.port"
  python3 "$here/dicomweb_proxy.py" "$tmp/proxy.port" "http://127.0.0.1:$http" "$1" >"$tmp/proxy.log" 2>&1 &
  pids+=($!)
  proxy_pid=$!
  wait_for 30 "the proxy" test -s "$tmp/proxy.port"
  proxy_url=http://127.0.0.1:$(cat "$tmp/proxy.port")/dicom-web
}

# 503 twice, then answers: retried with back-off, the SEG stored.
proxy "fail 2"
"$repux" pacs-segment -m "$model" --dicomweb "$proxy_url" --study "$study_uid" --auth-file "$tmp/auth" --retry-wait 0.2 >"$tmp/retry.log" 2>&1 ||
  die "two 503 answers were not retried"
[ "$(count SEG)" = 2 ] || die "expected a second SEG after the retries"
kill -9 "$proxy_pid"
echo "503 twice then 200: retried, stored"

# A multipart answer cut short: refused in one line, nothing stored, nothing left in the work folder.
proxy truncate
if "$repux" pacs-segment -m "$model" --dicomweb "$proxy_url" --study "$study_uid" --auth-file "$tmp/auth" --work "$tmp/work" \
  >"$tmp/cut.log" 2>&1; then
  die "a truncated WADO-RS answer was accepted"
fi
grep -q 'truncated multipart body' "$tmp/cut.log" || die "the error does not name the truncation: $(cat "$tmp/cut.log")"
[ "$(count SEG)" = 2 ] || die "a SEG was stored from a truncated series"
[ -z "$(ls -A "$tmp/work" 2>/dev/null)" ] || die "files left in the work folder: $(ls -R "$tmp/work")"
echo "truncated answer: $(grep -o 'truncated multipart body[^"]*' "$tmp/cut.log" | head -1)"
# HTTPS with client certificates, through an HTTPS proxy that requires a certificate of a test CA
# (Python's ssl; Debian 12's Orthanc resets HTTPS connections).
mkdir -p "$tmp/tls"
(
  cd "$tmp/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=repux-test-ca 2>/dev/null
  for who in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=$who" 2>/dev/null
    openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$who.crt" -days 2 \
      -extfile <(printf 'subjectAltName=IP:127.0.0.1') 2>/dev/null
  done
)
rm -f "$tmp/proxy.port"
python3 "$here/dicomweb_proxy.py" "$tmp/proxy.port" "http://127.0.0.1:$http" pass "$tmp/tls/server.crt" "$tmp/tls/server.key" "$tmp/tls/ca.crt" \
  >"$tmp/proxy.log" 2>&1 &
pids+=($!)
wait_for 30 "the HTTPS proxy" test -s "$tmp/proxy.port"
https_url=https://127.0.0.1:$(cat "$tmp/proxy.port")/dicom-web
tls=(--tls-ca "$tmp/tls/ca.crt" --tls-cert "$tmp/tls/client.crt" --tls-key "$tmp/tls/client.key")
"$repux" pacs-segment -m "$model" --dicomweb "$https_url" --study "$study_uid" --auth-file "$tmp/auth" "${tls[@]}" >"$tmp/https.log" 2>&1 ||
  die "pacs-segment over HTTPS with a client certificate failed"
[ "$(count SEG)" = 3 ] || die "no SEG stored over HTTPS"
if "$repux" pacs-segment -m "$model" --dicomweb "$https_url" --study "$study_uid" --auth-file "$tmp/auth" --tls-ca "$tmp/tls/ca.crt" \
  --retries 0 >"$tmp/nocert.log" 2>&1; then
  die "the HTTPS server accepted a client without a certificate"
fi
if "$repux" pacs-segment -m "$model" --dicomweb "$https_url" --study "$study_uid" --auth-file "$tmp/auth" --retries 0 >"$tmp/noca.log" 2>&1; then
  die "a server certificate of an unknown CA was accepted"
fi
echo "HTTPS: stored with a client certificate; without one: $(cat "$tmp/nocert.log"); an unknown CA: $(cat "$tmp/noca.log")"
# serve --dicomweb-poll: both CT series (the first already there, a second stored while it polls) are
# segmented once each and stored back; stopped and restarted, it repeats neither.
plastimatch convert --input "$(ls "$tmp"/synth/imagesTr/*.nii.gz | tail -1)" --output-dicom "$tmp/series2" >/dev/null 2>&1
segs_before=$(count SEG)
poll() {
  "$repux" serve -m "$model" --dicomweb-poll "$url" --every 1 --query Modality=CT --spool "$tmp/poll-spool" --auth-file "$tmp/auth" \
    >>"$tmp/poll$1.log" 2>&1 &
  poll_pid=$!
  pids+=($poll_pid)
}
lines() { grep -c "\"event\":\"$2\"" "$tmp/poll$1.log" 2>/dev/null || true; }
at_least() { [ "$(lines "$1" "$2")" -ge "$3" ]; }
poll 1
wait_for 120 "the first series segmented by the poll" at_least 1 seg_sent 1
for f in "$tmp"/series2/*; do rest /instances -X POST --data-binary @"$f" >/dev/null; done
wait_for 120 "the second series segmented by the poll" at_least 1 seg_sent 2
[ "$(count SEG)" = $((segs_before + 2)) ] || die "expected $((segs_before + 2)) SEGs after the poll, found $(count SEG)"
kill -TERM "$poll_pid"
wait_for 60 "the poll to stop" at_least 1 stopped 1
poll 2
wait_for 60 "two polls after the restart" at_least 2 polled 2
[ "$(lines 2 seg_sent)" = 0 ] || die "the restarted poll segmented a series again"
[ "$(count SEG)" = $((segs_before + 2)) ] || die "a SEG was added after the restart"
kill -TERM "$poll_pid"
echo "serve --dicomweb-poll: 2 series segmented once each, none again after a restart"
echo "PASS"
