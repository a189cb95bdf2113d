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
# The subcommands: the help's lines "  NAME  description" under its headings (options start with '-').
subcommands=$("$program" --help | awk '/^[A-Z][A-Za-z ]*:$/ && !/^Options:$/ {on = 1; next} on && /^  [a-z]/ {print $1}')
{
  echo "[SUBCOMMANDS]"
  for command in $subcommands; do
    echo ".SS $command"
    echo ".nf"
    "$program" "$command" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./'
    echo ".fi"
  done
  echo "[SEE ALSO]"
  echo "The README and docs/ of the repux sources: user guide, clinical use, training, performance, reliability."
} >"$include"
# The version alone in the footer: the build description (commit, libraries) and the allocator line of
# `repux --version` made a footer that overlapped and a stray line.
version=$("$program" --version | head -1 | awk '{print $2}')
help2man --no-info --no-discard-stderr --name "RepUX-Net 3D medical image segmentation" --version-string "$version" \
  --section 1 --include "$include" --output "$page" "$program"
gzip -9 -n -c "$page" >"$output.tmp"
mv "$output.tmp" "$output"
