#!/usr/bin/env bash
# Installs the Debian 12 packages repux needs. Idempotent: does nothing when all are present.
set -euo pipefail
packages=(
  build-essential cmake git pkg-config
  libtorch-dev libgloo-dev libnifti2-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libbenchmark-dev libpng-dev libplplot-dev
  libopenblas0-pthread mricron-data libgoogle-perftools-dev clang
  help2man python3-torch dpkg-dev
  libdcmtk-dev dcmtk plastimatch dcm2niix dicom3tools python3-nibabel python3-pydicom
  orthanc orthanc-dicomweb curl libcurl4-openssl-dev strace openssl libssl-dev
  slurmctld slurmd slurm-client munge chromium python3-pil
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi
