# Sourced by the tests in tests/pacs/ and bench/pacs_latency.sh: a real Orthanc on 127.0.0.1 with its own
# configuration, storage and ports under $tmp, and bounded waits. The caller calls start_test (which
# sets `tmp` and `pids`) and defines die().
# start_test NAME: a new folder $tmp, and $pids, the processes killed (and the folder removed) however
# the caller ends.
start_test() {
  tmp=$(mktemp -d "/tmp/repux-$1-XXXXXX")
  pids=()
  trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
}
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s, dies after SECONDS.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "no $what within $seconds s"
    sleep 0.2
  done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rest() { curl -sf "http://127.0.0.1:$http$1" "${@:2}"; }
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
seg_count() { rest /tools/find -X POST -d '{"Level": "Series", "Query": {"Modality": "SEG"}}' | json 'len(d)'; }
at_least_segs() { [ "$(seg_count)" -ge "$1" ]; }
# start_orthanc NODE_PORT [TLS_DIR]: Orthanc (AE title ORTHANC) on free ports ($http, $dicom), knowing
# the node as modality "repux" (AE title REPUX on 127.0.0.1:NODE_PORT). With TLS_DIR (holding
# orthanc.crt, orthanc.key and ca.crt), its DICOM port and its associations to the node are DICOM TLS,
# and peers must present a certificate signed by the CA.
start_orthanc() {
  http=$(free_port)
  dicom=$(free_port)
  local modality="[\"REPUX\", \"127.0.0.1\", $1]" tls=""
  if [ -n "${2:-}" ]; then
    modality="{\"AET\": \"REPUX\", \"Host\": \"127.0.0.1\", \"Port\": $1, \"UseDicomTls\": true}"
    tls="\"DicomTlsEnabled\": true, \"DicomTlsCertificate\": \"$2/orthanc.crt\", \"DicomTlsPrivateKey\": \"$2/orthanc.key\",
  \"DicomTlsTrustedCertificates\": \"$2/ca.crt\", \"DicomTlsRemoteCertificateRequired\": true,"
  fi
  cat >"$tmp/orthanc.json" <<JSON
{ "Name": "repux-test", "StorageDirectory": "$tmp/orthanc-db", "IndexDirectory": "$tmp/orthanc-db",
  "HttpPort": $http, "DicomPort": $dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": false, $tls
  "AuthenticationEnabled": false, "DicomAlwaysAllowGet": true, "DicomAlwaysAllowStore": true,
  "DicomModalities": { "repux": $modality }, "Plugins": [] }
JSON
  Orthanc "$tmp/orthanc.json" >"$tmp/orthanc.log" 2>&1 &
  pids+=($!)
  wait_for 60 "Orthanc" rest /system
}
# upload FOLDER: every file of FOLDER into Orthanc through its REST API.
upload() { for f in "$1"/*; do rest /instances -X POST --data-binary @"$f" >/dev/null; done; }
