#!/usr/bin/python3
"""Writes the NIfTI fixtures of tests/data/nifti with nibabel, plus nibabel's own reading of them
(affine, data, axis codes, closest canonical orientation) in expected.json. Run with Debian's
python3-nibabel: /usr/bin/python3 tools/make_nifti_fixtures.py"""
import json
import os
import struct

import nibabel as nib
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "nifti")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine_from(axes, spacing, origin, oblique=(0.0, 0.0, 0.0)):
    """axes: for voxel axis i, a signed world axis, e.g. "-y" means voxel axis runs towards P."""
    m = np.zeros((3, 3))
    for i, a in enumerate(axes):
        m["xyz".index(a[-1]), i] = -1.0 if a[0] == "-" else 1.0
    m = rotation(*oblique) @ m @ np.diag(spacing)
    aff = np.eye(4)
    aff[:3, :3] = m
    aff[:3, 3] = origin
    return aff


cases = []


def add(name, data, affine, dtype, qform=1, sform=1, slope=None, inter=None, nifti2=False):
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(data.astype(dtype), affine)
    img.set_qform(affine if qform else None, code=qform)
    img.set_sform(affine if sform else None, code=sform)
    img.header.set_data_dtype(dtype)
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    path = os.path.join(OUT, name)
    nib.save(img, path)
    back = nib.load(path)
    values = np.asarray(back.get_fdata(dtype=np.float64))
    canon = nib.as_closest_canonical(back)
    cases.append({
        "file": name,
        "shape": list(back.shape),
        "datatype": str(back.get_data_dtype()),
        "qform_code": int(back.header["qform_code"]),
        "sform_code": int(back.header["sform_code"]),
        "affine": back.affine.tolist(),
        "axcodes": "".join(nib.aff2axcodes(back.affine)),
        "data": values.ravel(order="C").tolist(),
        "canonical_shape": list(canon.shape),
        "canonical_affine": canon.affine.tolist(),
        "canonical_data": np.asarray(canon.get_fdata(dtype=np.float64)).ravel(order="C").tolist(),
    })


shape = (7, 5, 4)
ints = rng.integers(0, 200, size=shape)
add("oblique_lps_int16_scaled.nii.gz", ints, affine_from(["-x", "-y", "z"], (0.8, 1.2, 2.5), (10, -20, 5), (0.2, -0.1, 0.3)),
    np.int16, slope=2.0, inter=-5.0)
add("pir_float32_qform_only.nii", rng.normal(size=shape), affine_from(["-y", "-z", "x"], (1.0, 0.7, 3.0), (-4, 3, 2)),
    np.float32, qform=1, sform=0)
add("asl_uint8_sform_only.nii.gz", ints, affine_from(["y", "z", "-x"], (2.0, 2.0, 1.5), (1, 2, 3), (0.05, 0, 0)),
    np.uint8, qform=0, sform=2)
add("ras_uint16.nii.gz", rng.integers(0, 60000, size=shape), affine_from(["x", "y", "z"], (1.5, 1.5, 2.0), (0, 0, 0)), np.uint16)
add("las_int8.nii", rng.integers(-100, 100, size=shape), affine_from(["-x", "y", "z"], (1.0, 1.0, 1.0), (5, 5, 5)), np.int8)
add("int32_nifti2.nii.gz", rng.integers(-10**6, 10**6, size=shape), affine_from(["x", "-z", "y"], (0.5, 0.9, 1.1), (1, 1, 1)),
    np.int32, nifti2=True)
add("float64_nifti2.nii", rng.normal(size=shape), affine_from(["z", "x", "y"], (1.0, 2.0, 3.0), (0, 0, 0), (0.1, 0.2, 0.3)),
    np.float64, nifti2=True)
add("no_codes.nii", ints, affine_from(["x", "y", "z"], (1.0, 2.0, 3.0), (0, 0, 0)), np.int16, qform=0, sform=0)

# Bad inputs: several channels, NaN voxels, a zero dimension and a negative one patched into a header.
nib.save(nib.Nifti1Image(rng.normal(size=shape + (3,)).astype(np.float32), np.eye(4)), os.path.join(OUT, "bad_4d_channels.nii.gz"))
nan = rng.normal(size=shape).astype(np.float32)
nan[1, 2, 3] = np.nan
nib.save(nib.Nifti1Image(nan, np.eye(4)), os.path.join(OUT, "bad_nan.nii"))
for name, value in (("bad_zero_dim.nii", 0), ("bad_negative_dim.nii", -3)):
    good = os.path.join(OUT, name)
    nib.save(nib.Nifti1Image(ints.astype(np.int16), np.eye(4)), good)
    with open(good, "r+b") as f:
        f.seek(40 + 2 * 2)  # dim[2]
        f.write(struct.pack("<h", value))

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(f"wrote {len(cases)} fixtures to {OUT}")
