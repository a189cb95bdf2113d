#!/usr/bin/env bash
# The README's "Your own data in five commands", extracted from README.md and run as written in a
# temporary folder, so that the commands a newcomer copies cannot go stale. The one change: `train`
# gets a tiny network and 2 iterations (the README's GPU-sized run would take hours on a CPU).
# Usage: test_readme_commands.sh REPUX_BINARY README.md
set -euo pipefail
repux=$1
readme=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The indented block after the heading, up to the first line that is not indented.
commands=$(awk '/^## Your own data in five commands/ {on = 1; next} on && /^    repux / {print; seen = 1; next} on && seen && !/^    / {exit}' "$readme")
count=$(printf '%s\n' "$commands" | grep -c '^    repux ' || true)
[ "$count" -ge 6 ] || { echo "found $count commands under the heading, expected the README's five and more"; exit 1; }
tiny=(--dims 4 8 16 32 --depths 1 1 1 1 --kernel-sizes 5 --hidden 16 --patch 32 --spacing 4 --iterations 2 --val-every 2)
cd "$work"
while IFS= read -r line; do
  line=${line#    }
  line=${line%%#*}  # the comment
  read -r -a words <<<"$line"
  [ "${words[1]}" = train ] && words+=("${tiny[@]}")
  echo "+ ${words[*]}"
  "$repux" "${words[@]:1}" >"$work/out.log" 2>&1 || { cat "$work/out.log"; echo "README command failed: $line"; exit 1; }
done <<<"$commands"
for f in plan.json runs/fold_0/last.repux preds/synth_010.nii.gz test.json case.png case.html; do
  [ -e "$f" ] || { echo "the README's commands did not write $f"; exit 1; }
done
echo "the README's $count commands ran"
