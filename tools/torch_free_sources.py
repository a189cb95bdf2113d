#!/usr/bin/python3
"""Prints the source files whose includes never reach LibTorch, for the build to compile them without
LibTorch's precompiled header.

Usage: torch_free_sources.py --root SOURCE_DIR FILE...
Every target of the build reuses one precompiled <torch/torch.h> (cmake/layers.cmake). Loading it costs
a translation unit 4-6 s on two cores even when the unit never names a tensor (an atomic file writer,
the JSON helpers, the DICOM node), and such units took 5-20 s with it. A unit is torch-free when no file it includes, followed
through repux's own headers ("repux/..." under include/, or a quoted path beside the including file),
is a LibTorch header (<torch/...>, <ATen/...>, <c10/...>). Such units build without the precompiled
header; they must then include every standard header they use, which their own build checks.
The output is one CMake list (files separated by ';'), in the order given.
"""
import argparse
import functools
import pathlib
import re
import sys

QUOTED = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
ANGLED = re.compile(r'^\s*#\s*include\s+<([^>]+)>')
TORCH_PREFIXES = ("torch/", "ATen/", "c10/")


def quoted_target(name, including_file, root):
    """The file a quoted include names, or None when it is outside the tree (then it is not followed)."""
    for candidate in (root / "include" / name, including_file.parent / name):
        if candidate.is_file():
            return candidate.resolve()
    return None


VISITING = set()  # the headers on the current include path (a cycle is not followed twice)


@functools.lru_cache(maxsize=None)
def reaches_torch(path, root):
    """True when `path` or anything it includes through the tree is a LibTorch header."""
    VISITING.add(path)
    try:
        return any(line_reaches_torch(line, path, root) for line in path.read_text(errors="replace").splitlines())
    finally:
        VISITING.discard(path)


def line_reaches_torch(line, path, root):
    """True when this line of `path` includes LibTorch, directly or through the tree."""
    angled = ANGLED.match(line)
    if angled:
        return angled.group(1).startswith(TORCH_PREFIXES)
    quoted = QUOTED.match(line)
    if not quoted:
        return False
    target = quoted_target(quoted.group(1), path, root)
    return target is not None and target not in VISITING and reaches_torch(target, root)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=pathlib.Path)
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    root = args.root.resolve()
    free = [str(f) for f in args.files if not reaches_torch(f.resolve(), root)]
    sys.stdout.write(";".join(free))
    return 0


if __name__ == "__main__":
    sys.exit(main())
