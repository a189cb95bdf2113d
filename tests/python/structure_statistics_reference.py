#!/usr/bin/python3
"""Per-structure statistics of a label map over its image, computed independently of repux with
nibabel and numpy (the reference for tests/test_clinical_outputs.cpp). Prints JSON keyed by label:
voxels, volume (mm^3), mean, median, std,
p5, p95 (numpy's defaults), centroid and bounding box of the voxel centres in RAS mm.

usage: structure_statistics_reference.py IMAGE.nii.gz LABELS.nii.gz
"""
import json
import sys

import nibabel as nib
import numpy as np


def main(image_path, labels_path):
    image = nib.load(image_path)
    labels = nib.load(labels_path)
    values = np.asarray(image.get_fdata(), dtype=np.float64)
    label_values = np.rint(np.asarray(labels.get_fdata())).astype(np.int64)
    # The voxel sizes of the affine (nibabel's voxel_sizes). TotalSegmentator multiplies the header's
    # zooms (pixdim), which a NIfTI stores as float32: the same to about 1e-7.
    voxel_volume = float(np.prod(nib.affines.voxel_sizes(labels.affine)))
    out = {}
    for k in range(1, int(label_values.max()) + 1):
        mask = label_values == k
        n = int(mask.sum())
        entry = {"voxels": n, "volume": n * voxel_volume}
        if n:
            inside = values[mask]
            ijk = np.argwhere(mask).astype(np.float64)
            world = nib.affines.apply_affine(labels.affine, ijk)
            entry.update(mean=float(inside.mean()), median=float(np.median(inside)), std=float(inside.std()),
                         p5=float(np.percentile(inside, 5)), p95=float(np.percentile(inside, 95)),
                         centroid_ras_mm=world.mean(axis=0).tolist(),
                         bbox_first_voxel=ijk.min(axis=0).astype(int).tolist(), bbox_last_voxel=ijk.max(axis=0).astype(int).tolist(),
                         bbox_min_ras_mm=world.min(axis=0).tolist(), bbox_max_ras_mm=world.max(axis=0).tolist())
        out[str(k)] = entry
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
