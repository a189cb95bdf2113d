#!/usr/bin/env bash
# Builds repux against the CUDA LibTorch inside a pip PyTorch 2.x (as on the GPU machines, which have
# PyTorch but no package access). The other libraries travel as Debian .deb files in .devdeps/:
#   scripts/gpu-build.sh --fetch     (on a Debian 12 machine: downloads the .deb files)
#   scripts/gpu-build.sh [TARGET...] (on the GPU machine: unpacks them, configures, builds build-cuda/,
#                                     every target or just those named)
# Then `source scripts/gpu-env.sh` sets LD_LIBRARY_PATH for running the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
debs=(libnifti2-dev libniftiio-dev libnifti2-2 libznz-dev libznz3 libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9
      libgtest-dev googletest libpng-dev libpng16-16 zlib1g-dev libgloo-dev)
if [ "${1:-}" = "--fetch" ]; then
  mkdir -p .devdeps && cd .devdeps && apt-get download "${debs[@]}"
  exit 0
fi
deps=/tmp/repux-deps
mkdir -p "$deps"
for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
nccl_h=$(find "$(python3 -c 'import site; print(site.getsitepackages()[0])')" /usr/include -name nccl.h 2>/dev/null | head -1 || true)
cmake -S . -B build-cuda "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DREPUX_TCMALLOC=OFF -DREPUX_DICOM=OFF -DREPUX_FMT_HEADER_ONLY=ON -DREPUX_STATIC_LIBSTDCXX=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 \
  ${nccl_h:+-DNCCL_INCLUDE_DIR="$(dirname "$nccl_h")"}
targets=(--target all --target benchmarks); [ $# -gt 0 ] && targets=(); for t in "$@"; do targets+=(--target "$t"); done
cmake --build build-cuda -j"$(nproc)" "${targets[@]}"
