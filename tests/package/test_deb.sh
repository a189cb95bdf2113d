#!/usr/bin/env bash
# The Debian packages: cpack writes them; each must hold its files, name real Debian packages in
# Depends, and unpacked into a scratch root give a repux that runs and a man page.
# Usage: test_deb.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { tail -20 "$work/cpack.log"; exit 1; }

deb_of() { ls "$work"/out/"$1"_*.deb 2>/dev/null | head -1; }
expect_file() {  # package, path inside it
  # The listing goes to a file first: `grep -q` at the end of a pipe quits at its first match, and under
  # pipefail the writer's SIGPIPE then failed this check now and then.
  [ -f "$work/$1.list" ] || dpkg-deb -c "$(deb_of "$1")" | awk '{print $6}' >"$work/$1.list"
  grep -qx "./$2" "$work/$1.list" || { echo "FAIL: $1 lacks /$2"; exit 1; }
}
for package in repux librepux-dev; do
  [ -n "$(deb_of $package)" ] || { echo "FAIL: no $package .deb"; ls "$work/out"; exit 1; }
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
expect_file repux usr/bin/repux
expect_file repux usr/share/man/man1/repux.1.gz
expect_file repux usr/share/repux/niivue/niivue.umd.js
for layer in core io ops nn dist data eval model infer train experiment net; do
  expect_file librepux-dev "usr/lib/$multiarch/librepux_$layer.a"
done
expect_file librepux-dev usr/include/repux/infer/predictor.h
expect_file librepux-dev "usr/lib/$multiarch/cmake/repux/repuxConfig.cmake"
expect_file librepux-dev "usr/lib/$multiarch/cmake/repux/repuxTargets.cmake"
if [ -d "$build/python/repux_torch" ]; then
  expect_file python3-repux usr/lib/python3/dist-packages/repux_torch/__init__.py
  expect_file python3-repux usr/lib/python3/dist-packages/repux_torch/librepux_torch_ops.so
fi

# Every name in Depends is a real Debian package: installed here (this machine built repux against
# them) or known to apt.
for deb in "$work"/out/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "$name: Depends: $depends"
  [ -n "$depends" ] || { echo "FAIL: $name has no Depends"; exit 1; }
  for dep in $(echo "$depends" | tr ',|' '\n\n' | sed -e 's/(.*)//' -e 's/:any//' | awk 'NF {print $1}'); do
    case "$dep" in repux | librepux-dev | python3-repux) continue ;; esac
    dpkg-query -W "$dep" >/dev/null 2>&1 || apt-cache show "$dep" >/dev/null 2>&1 ||
      { echo "FAIL: $name depends on '$dep', which is no Debian package here"; exit 1; }
  done
done

root=$work/root
for deb in "$work"/out/*.deb; do dpkg-deb -x "$deb" "$root"; done
"$root/usr/bin/repux" --version | tee "$work/version.txt"
grep -q "^repux [0-9]" "$work/version.txt" || { echo "FAIL: repux --version"; exit 1; }
zcat "$root/usr/share/man/man1/repux.1.gz" >"$work/repux.1"
grep -q '^\.TH REPUX "1"' "$work/repux.1" || { echo "FAIL: the man page has no .TH REPUX 1 header"; exit 1; }
grep -q '^\.SS predict' "$work/repux.1" || { echo "FAIL: the man page lacks the predict subcommand"; exit 1; }
# The installed program finds the viewer's NiiVue bundle it was installed with (bin/../share/repux).
"$root/usr/bin/repux" synth -n 1 -o "$work/data" >/dev/null
env -u REPUX_NIIVUE "$root/usr/bin/repux" view -i "$(ls "$work"/data/imagesTr/*.nii.gz)" -o "$work/view.html" >/dev/null ||
  { echo "FAIL: the installed repux view"; exit 1; }
grep -q "niivue.Niivue" "$work/view.html" || { echo "FAIL: the installed repux's page lacks NiiVue"; exit 1; }
ls -l "$work"/out/*.deb | awk '{print $5, $9}' | sed "s|$work/out/||"
echo "PASS"
