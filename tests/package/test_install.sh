#!/usr/bin/env bash
# repux as a library: install the build into a temporary prefix, build examples/consumer against that
# install tree alone (not the build tree), and check that its prediction equals `repux predict` on the
# same input, byte for byte. Also imports the installed PyTorch module when the extension was built.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for path in bin/repux include/repux/infer/predictor.h; do
  [ -e "$prefix/$path" ] || { echo "FAIL: $path not installed"; exit 1; }
done
config=$(find "$prefix" -name repuxConfig.cmake)
[ -n "$config" ] || { echo "FAIL: repuxConfig.cmake not installed"; exit 1; }

start=$(date +%s)
cmake -S "$source/examples/consumer" -B "$work/consumer" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/configure.log"
found=$(sed -n 's/^repux_DIR:PATH=//p' "$work/consumer/CMakeCache.txt")
case "$found" in
  "$prefix"/*) ;;
  *) echo "FAIL: the consumer found repux at '$found', not in the install tree $prefix"; exit 1 ;;
esac
# Nothing of the source or build tree may leak into the consumer's compile or link lines.
cmake --build "$work/consumer" -j"$(nproc)" -- VERBOSE=1 >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
if grep -E -- "-I$source|-I$build|$build/librepux" "$work/build.log"; then
  echo "FAIL: the consumer's build used the source or build tree"; exit 1
fi
echo "consumer configured and built against the install tree in $(( $(date +%s) - start )) s"

# A model fixture and a CT-like synthetic case (oblique, anisotropic) written by the installed program.
model=$source/tests/data/models/tiny_v1.repux
"$prefix/bin/repux" synth -n 1 --seed 5 -o "$work/data" >/dev/null
image=$(find "$work/data/imagesTr" -name '*.nii*' | head -1)
"$work/consumer/segment_one" "$model" "$image" "$work/consumer.nii"
"$prefix/bin/repux" predict -m "$model" -i "$image" -o "$work/cli.nii" >/dev/null 2>&1
cmp "$work/consumer.nii" "$work/cli.nii" || { echo "FAIL: the consumer's labels differ from repux predict's"; exit 1; }
labels=$("$prefix/bin/repux" info "$work/cli.nii" | sed -n 's/^intensity: *//p')
case "$labels" in "min 0, max 0"*) echo "FAIL: only background predicted: too weak a comparison"; exit 1 ;; esac
echo "consumer's labels equal repux predict's ($(stat -c %s "$work/cli.nii") bytes; labels $labels)"

if [ -d "$build/python/repux_torch" ]; then
  module_dir=$(dirname "$(find "$prefix" -path '*repux_torch/__init__.py')")
  PYTHONPATH=$(dirname "$module_dir") /usr/bin/python3 -c "
import torch, repux_torch
assert repux_torch.library_path().startswith('$prefix'), repux_torch.library_path()
x = torch.randn(1, 2, 5, 6, 7, dtype=torch.float64); w = torch.randn(2, 1, 3, 3, 3, dtype=torch.float64)
ref = torch.nn.functional.conv3d(x, w, padding=1, groups=2)
assert torch.allclose(repux_torch.lk_dwconv(x, w, None, 'fft'), ref, atol=1e-10)
print('installed repux_torch imports and computes')"
fi
echo "PASS"
