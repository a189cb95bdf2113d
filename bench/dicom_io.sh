#!/usr/bin/env bash
# DICOM input and SEG output at clinical size: a 512x512x200 CT series (0.7 x 0.7 x 2.5 mm, int16)
# written by plastimatch, read by repux (uncompressed and JPEG-LS) and by dcm2niix for comparison,
# and a SEG of a label map (a sphere of 60 mm radius) written, validated and read back. Time and peak anonymous
# memory (RssAnon) of each step, in one run. Then the same sphere as an RTSTRUCT (validated), its
# statistics and its preview.
# Usage: bench/dicom_io.sh [BUILD]   (writes its inputs to $BUILD/dicom_io/)
set -euo pipefail
build=${1:-build}
dir=$build/dicom_io
source "$(dirname "$0")/peak_rss.sh"
cmake --build "$build" --target repux_cli >/dev/null
mkdir -p "$dir"
geometry=(--dim "512 512 200" --spacing "0.7 0.7 2.5" --origin "-179 -179 -250")
if [ ! -d "$dir/ct" ]; then
  plastimatch synth --pattern gauss --output "$dir/ct.nii.gz" "${geometry[@]}" --output-type short --noise-std 100 >/dev/null
  plastimatch synth --pattern sphere --output "$dir/labels.nii.gz" "${geometry[@]}" --output-type uchar --radius 60 \
    --foreground 1 --background 0 >/dev/null
  plastimatch convert --input "$dir/ct.nii.gz" --output-dicom "$dir/ct" >/dev/null
  mkdir -p "$dir/ct_jpegls"
  for f in "$dir"/ct/*.dcm; do dcmcjpls "$f" "$dir/ct_jpegls/$(basename "$f")"; done
fi
printf '%-44s %s\n' step "peak RssAnon, time"
printf '%-44s ' "repux info (read the series, uncompressed)"; peak_rss_anon "$dir/log" "$build/repux" info "$dir/ct"
printf '%-44s ' "repux info (read the series, JPEG-LS)"; peak_rss_anon "$dir/log" "$build/repux" info "$dir/ct_jpegls"
rm -rf "$dir/dcm2niix" && mkdir -p "$dir/dcm2niix"
printf '%-44s ' "dcm2niix -z n (series to NIfTI)"; peak_rss_anon "$dir/log" dcm2niix -z n -b n -o "$dir/dcm2niix" "$dir/ct"
printf '%-44s ' "repux convert (series to NIfTI)"; peak_rss_anon "$dir/log" "$build/repux" convert "$dir/ct" -o "$dir/ct_repux.nii"
printf '%-44s ' "repux convert (labels to SEG)"; peak_rss_anon "$dir/log" "$build/repux" convert "$dir/labels.nii.gz" --reference "$dir/ct" -o "$dir/seg.dcm"
printf '%-44s ' "repux info (read the SEG)"; peak_rss_anon "$dir/log" "$build/repux" info "$dir/seg.dcm"
printf '%-44s ' "dciodvfy (validate the SEG)"; peak_rss_anon "$dir/dciodvfy.log" dciodvfy "$dir/seg.dcm"
echo "SEG: $(du -k "$dir/seg.dcm" | cut -f1) KiB, dciodvfy errors: $(grep -c '^Error' "$dir/dciodvfy.log" || true); series: $(du -sk "$dir/ct" | cut -f1) KiB"
# The same sphere as an RTSTRUCT (contours of every slice), validated, and as statistics and a preview.
printf '%-44s ' "repux convert (labels to RTSTRUCT)"; peak_rss_anon "$dir/log" "$build/repux" convert "$dir/labels.nii.gz" --reference "$dir/ct" -o "$dir/rtss.dcm" --format rtstruct
printf '%-44s ' "dciodvfy (validate the RTSTRUCT)"; peak_rss_anon "$dir/dciodvfy_rt.log" dciodvfy "$dir/rtss.dcm"
printf '%-44s ' "repux stats (statistics of the sphere)"; peak_rss_anon "$dir/log" "$build/repux" stats -i "$dir/ct.nii.gz" -s "$dir/labels.nii.gz" -o "$dir/stats.json"
printf '%-44s ' "repux report (preview)"; peak_rss_anon "$dir/log" "$build/repux" report -i "$dir/ct.nii.gz" -p "$dir/labels.nii.gz" -o "$dir/preview.png"
echo "RTSTRUCT: $(du -k "$dir/rtss.dcm" | cut -f1) KiB, dciodvfy errors: $(grep -c '^Error' "$dir/dciodvfy_rt.log" || true)"
