#!/usr/bin/env bash
# Writes fuzz/corpus/multipart/: Orthanc's own WADO-RS answers (its DICOMweb plugin, Debian's
# orthanc-dicomweb), each as the fuzz harness reads them: the Content-Type line, then the body. A
# 3-slice CT series (plastimatch from a 12x10x3 NIfTI written by nibabel) and one of its instances.
# Usage: fuzz/make_multipart_seeds.sh   (run from anywhere; overwrites the seeds)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/multipart
source "$here/../tests/pacs/orthanc.sh"
start_test multipart-seeds
die() { echo "make_multipart_seeds: $*" >&2; exit 1; }
/usr/bin/python3 -c "
import nibabel, numpy
v = (numpy.arange(12 * 10 * 3).reshape(12, 10, 3) * 7 - 500).astype(numpy.int16)
nibabel.save(nibabel.Nifti1Image(v, numpy.diag([2.0, 2.0, 3.0, 1.0])), '$tmp/ct.nii.gz')"
plastimatch convert --input "$tmp/ct.nii.gz" --output-dicom "$tmp/series" >/dev/null 2>&1
http=$(free_port)
cat >"$tmp/orthanc.json" <<JSON
{ "Name": "seeds", "StorageDirectory": "$tmp/db", "IndexDirectory": "$tmp/db", "HttpPort": $http, "DicomPort": $(free_port),
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "Plugins": [ "/usr/share/orthanc/plugins/libOrthancDicomWeb.so" ] }
JSON
Orthanc "$tmp/orthanc.json" >"$tmp/orthanc.log" 2>&1 &
pids+=($!)
wait_for 60 "Orthanc" rest /dicom-web/studies
for f in "$tmp"/series/*; do rest /instances -X POST --data-binary @"$f" >/dev/null; done
study=$(rest /dicom-web/studies | json 'd[0]["0020000D"]["Value"][0]')
series=$(rest "/dicom-web/studies/$study/series" | json 'd[0]["0020000E"]["Value"][0]')
instance=$(rest "/dicom-web/studies/$study/series/$series/instances" | json 'd[0]["00080018"]["Value"][0]')
mkdir -p "$out"
# seed NAME PATH: the answer to GET PATH, as "Content-Type line\nbody".
seed() {
  curl -sf -D "$tmp/headers" -o "$tmp/body" -H 'Accept: multipart/related; type="application/dicom"' "http://127.0.0.1:$http$2"
  { grep -i '^content-type:' "$tmp/headers" | sed 's/^[^:]*: *//' | tr -d '\r'; cat "$tmp/body"; } >"$out/$1"
  echo "$out/$1: $(stat -c %s "$out/$1") bytes"
}
seed orthanc_series "/dicom-web/studies/$study/series/$series"
seed orthanc_instance "/dicom-web/studies/$study/series/$series/instances/$instance"
