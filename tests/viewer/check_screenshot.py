"""Checks a screenshot of a viewer page taken by headless Chromium: the canvas is not blank, and each
expected colour (R,G,B) covers at least MIN pixels of the viewer's area (the page's left panel, the
legend, is left out: its swatches would satisfy the check by themselves); with --more, the first colour
covers more than twice the pixels of the second.
Usage: check_screenshot.py PNG MIN [--more] R,G,B [R,G,B ...]"""
import sys

import numpy as np
from PIL import Image

path, least = sys.argv[1], int(sys.argv[2])
more = "--more" in sys.argv
colours = [a for a in sys.argv[3:] if a != "--more"]
pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
view = pixels[:, 300:, :]  # the side panel is 280 px wide
lit = (view.sum(axis=2) > 30).mean()
if lit < 0.05 or view.std() < 10:
    sys.exit(f"{path}: the viewer is blank ({lit:.1%} of its pixels lit, std {view.std():.1f})")
failed = []
counts = []
for text in colours:
    rgb = np.array([int(v) for v in text.split(",")])
    count = int((np.abs(view - rgb).max(axis=2) <= 6).sum())
    counts.append(count)
    print(f"{path}: colour {text}: {count} pixels")
    if count < least:
        failed.append(f"colour {text} covers {count} pixels, expected at least {least}")
if more and not counts[0] > 2 * counts[1]:
    failed.append(f"colour {colours[0]} covers {counts[0]} pixels, not more than twice the {counts[1]} of {colours[1]}")
if failed:
    sys.exit(f"{path}: " + "; ".join(failed))
print(f"{path}: {lit:.0%} of the viewer lit; every expected colour present")
