#!/usr/bin/python3
"""Checks that repux's layers include only downward: the build runs it, and so does ctest.

Usage: check_layers.py --root SOURCE_DIR LAYER:BELOW[,BELOW...] ...
The layer table comes from cmake/layers.cmake (REPUX_LAYERS), in layer order, lowest first. A file of a
layer is include/repux/<layer>/*.h or src/<layer>/* (the core layer: include/repux/*.h and src/*.cpp).
It may include the public headers (repux/<other>/...) of its own layer and of every layer below it
(what it names, transitively), and private headers (src/<layer>/*.h) of its own layer only.
Each violation is one line, file:line and what it includes; the exit status is 1 if there is any.
"""
import argparse
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def parse_layers(entries):
    """"io:core" ... -> {layer: set of the layers it may use, itself included}, in order."""
    allowed = {}
    for entry in entries:
        layer, _, below = entry.partition(":")
        uses = {layer}
        for name in filter(None, below.split(",")):
            if name not in allowed:
                sys.exit(f"check_layers: layer '{layer}' uses '{name}', which is not a layer below it")
            uses |= allowed[name]
        allowed[layer] = uses
    return allowed


def layer_of(path, root, layers):
    """The layer a file of the tree belongs to, or None for files outside the layers."""
    rel = path.relative_to(root).parts
    if rel[0] == "include" and len(rel) >= 2 and rel[1] == "repux":
        inner = rel[2:]
    elif rel[0] == "src":
        inner = rel[1:]
    else:
        return None
    if len(inner) == 1:
        return "core"
    return inner[0] if inner[0] in layers else None


def included_layer(target, including_file, root, layers):
    """(layer, private) of an included file, or None when it is not part of the library."""
    if target.startswith("repux/"):
        parts = target.split("/")
        return ("core" if len(parts) == 2 else parts[1]), False
    resolved = (including_file.parent / target).resolve()
    try:
        rel = resolved.relative_to(root / "src").parts
    except ValueError:
        return None
    return ("core" if len(rel) == 1 else rel[0]), True


def violations(root, layers):
    files = sorted(root.glob("include/repux/**/*.h")) + sorted(root.glob("src/**/*.h")) + sorted(root.glob("src/**/*.cpp"))
    for path in files:
        layer = layer_of(path, root, layers)
        if layer is None:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            found = included_layer(match.group(1), path, root, layers)
            if found is None:
                continue
            other, private = found
            where = f"{path.relative_to(root)}:{number}"
            if other not in layers:
                yield f"{where}: includes \"{match.group(1)}\" of '{other}', which is not a layer"
            elif private and other != layer:
                yield f"{where}: includes \"{match.group(1)}\", a private header of layer '{other}' (layer '{layer}' may use only its public headers)"
            elif other not in layers[layer]:
                yield f"{where}: layer '{layer}' includes \"{match.group(1)}\" of the higher layer '{other}'"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=pathlib.Path)
    parser.add_argument("layers", nargs="+")
    args = parser.parse_args()
    layers = parse_layers(args.layers)
    found = list(violations(args.root.resolve(), layers))
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"check_layers: {len(found)} include(s) against the layer order {' < '.join(layers)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
