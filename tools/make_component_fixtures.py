#!/usr/bin/python3
"""Writes the connected-component fixtures of tests/data/components/ with scipy.ndimage.label.

A random mask (seeded) and its labelling under 6-, 18- and 26-connectivity, as .npy files that the
C++ tests read: an independent reference for repux's own labelling (numbering included).
Run from the repository root with Debian's python3-scipy: /usr/bin/python3 tools/make_component_fixtures.py
"""
import numpy as np
from scipy import ndimage

rng = np.random.default_rng(17)
mask = rng.random((14, 12, 10)) < 0.12
np.save("tests/data/components/mask.npy", mask.astype(np.uint8))
for connectivity, rank in ((6, 1), (18, 2), (26, 3)):
    structure = ndimage.generate_binary_structure(3, rank)
    labels, count = ndimage.label(mask, structure=structure)
    np.save(f"tests/data/components/labels{connectivity}.npy", labels.astype(np.int32))
    print(f"{connectivity}-connectivity: {count} components")
