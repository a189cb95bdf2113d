#!/usr/bin/env bash
# Writes repux.1.gz from the program's own help texts: help2man for the synopsis, options and version,
# and one section per subcommand with that subcommand's --help.
# Usage: make-man-page.sh PATH/TO/repux OUTPUT.1.gz
set -euo pipefail
program=$1
output=$2
include=$(mktemp)
page=$(mktemp)
trap 'rm -f "$include" "$page"' EXIT
subcommands=$("$program" --help | awk '/^Subcommands:/ {on = 1; next} on && NF {print $1}')
{
  echo "[SUBCOMMANDS]"
  for command in $subcommands; do
    echo ".SS $command"
    echo ".nf"
    "$program" "$command" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
    echo ".fi"
  done
  echo "[SEE ALSO]"
  echo "The README of the repux sources: training, prediction, data layout and benchmarks."
} >"$include"
help2man --no-info --no-discard-stderr --name "RepUX-Net 3D medical image segmentation" \
  --section 1 --include "$include" --output "$page" "$program"
gzip -9 -n -c "$page" >"$output.tmp"
mv "$output.tmp" "$output"
