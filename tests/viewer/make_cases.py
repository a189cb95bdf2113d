"""Test inputs for the viewer: a synthetic case's truth, and a prediction made from it with known errors
(a block of class 1 in the background: false positives; a block of foreground erased: false negatives),
written with nibabel. Prints the classes present in the three slices through the labelled centre, which
is where the page opens (the mean position of the foreground voxels, as the page computes it).
Usage: make_cases.py TRUTH.nii.gz PREDICTION.nii.gz"""
import sys

import nibabel as nib
import numpy as np

truth_path, prediction_path = sys.argv[1:3]
truth = nib.load(truth_path)
t = np.asarray(truth.dataobj).astype(np.uint8)
p = t.copy()
centre = np.rint(np.argwhere(t > 0).mean(0)).astype(int)
i, j, k = centre
grid = np.indices(t.shape)
near_centre = lambda x, y, z, r: (abs(grid[0] - x) <= r) & (abs(grid[1] - y) <= r) & (abs(grid[2] - z) <= r)
# In the axial slice through the centre (where the page opens): the foreground voxel nearest the centre
# loses its label in a 3-voxel block (false negatives), and the background voxel nearest the centre
# gets class 1 in a 9-voxel block (false positives): many more false positives than negatives, so that
# swapped colours show.
for wanted, radius, value in ((t[:, :, k] > 0, 1, None), (t[:, :, k] == 0, 4, 1)):
    xy = np.argwhere(wanted)
    x, y = xy[np.argmin(((xy - [i, j]) ** 2).sum(1))]
    block = near_centre(x, y, k, radius)
    if value is None:
        p[block & (t > 0)] = 0
    else:
        p[block & (t == 0)] = value
nib.save(nib.Nifti1Image(p, truth.affine), prediction_path)
present = sorted(set(np.unique(t[i, :, :])) | set(np.unique(t[:, j, :])) | set(np.unique(t[:, :, k])) - {0})
print(" ".join(str(int(c)) for c in present if c))
