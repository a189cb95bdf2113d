#!/usr/bin/env bash
# The layering check can fail: on a copy of the tree it passes, and after one deliberate upward include
# (the io layer including the trainer's header) it must refuse, naming the file, the line and the layer.
# Usage: test_layering.sh SOURCE_DIR CHECK_COMMAND... (the command as the build runs it, with --root)
set -euo pipefail
source=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$source/include" "$source/src" "$work/"
# The same command, on the copy.
args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--root" ]; then args+=(--root "$work"); shift 2; else args+=("$1"); shift; fi
done
"${args[@]}" || { echo "FAIL: the check refuses the unchanged tree"; exit 1; }

line=$(($(grep -n '^#include' "$work/src/io/nifti.cpp" | tail -1 | cut -d: -f1) + 1))
sed -i "${line}i #include \"repux/train/trainer.h\"" "$work/src/io/nifti.cpp"
if "${args[@]}" 2>"$work/out.txt"; then
  echo "FAIL: the check accepted an upward include"; exit 1
fi
cat "$work/out.txt"
grep -q "^src/io/nifti.cpp:$line: layer 'io' includes \"repux/train/trainer.h\" of the higher layer 'train'" "$work/out.txt" ||
  { echo "FAIL: the refusal does not name the file, line and layers"; exit 1; }
echo "PASS: the upward include was refused"
