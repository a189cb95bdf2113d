#!/usr/bin/python3
"""Fixtures for predicting as nnU-Net does: small nnU-Net results folders (networks built and saved as
tools/make_nnunet_fixtures.py does), input images as NIfTI files, and what nnU-Net's own predictor
(nnunetv2's nnUNetPredictor.predict_from_files_sequential: its preprocessing, sliding window with
Gaussian blending and mirroring, and export) writes for them: the label map and the probabilities.

Cases (and totalseg/: two TotalSegmentator-shaped parts predicted on ct_aniso's image and combined as
TotalSegmentator combines them):
  ct_aniso: one CT channel, CTNormalization, spacing 0.9 x 0.9 x 3 mm resampled to 1.2 x 1.2 x 2 mm
            (anisotropic: order 3 in plane, nearest along z), a zero border outside the field of view
            (so nnU-Net crops), PlainConvUNet with instance norm, mirroring over all axes; and a
            postprocessing.pkl (one function in it is not nnU-Net's) with nnU-Net's own postprocessing.
  mr_masked: two MR channels, ZScoreNormalization with use_mask_for_norm (a zero background and a
            zero cavity inside, which the mask's hole filling normalises), spacing 1.1 x 1.3 x 1.6 mm
            resampled to 1.5 mm (order 3 in 3D), transpose_forward [2, 0, 1], ResidualEncoderUNet
            with batch norm, mirroring over two axes.

Run with Debian's python3-torch, python3-scipy, python3-skimage, python3-nibabel, python3-pandas and
python3-threadpoolctl, and checkouts of MIC-DKFZ/nnUNet, dynamic-network-architectures, acvl_utils
and batchgenerators on PYTHONPATH:
  NNUNET_COMMIT=$(git -C nnUNet rev-parse HEAD) PYTHONPATH=nnUNet:dynamic-network-architectures:acvl_utils:batchgenerators \
    /usr/bin/python3 tools/make_nnunet_prediction_fixtures.py tests/data/nnunet_predict
nnU-Net's predictor imports modules its prediction with NibabelIO never calls (SimpleITK, blosc2 and
cc3d, not packaged in Debian (its postprocessing labels components with skimage, not cc3d), and torch._dynamo, newer than Debian's torch); empty stand-ins are installed
for them below. Nothing of theirs runs.
"""
import json
import os
import sys
import types

import numpy as np

sys.modules["SimpleITK"] = types.ModuleType("SimpleITK")
sys.modules["cc3d"] = types.ModuleType("cc3d")
blosc2 = types.ModuleType("blosc2")
blosc2.ndarray = types.SimpleNamespace(NDArray=object)
blosc2.NDArray = object
blosc2.Codec = types.SimpleNamespace(LZ4HC=0, ZSTD=1, LZ4=2)
blosc2.Filter = types.SimpleNamespace(SHUFFLE=0, BITSHUFFLE=1)
sys.modules["blosc2"] = blosc2
import torch  # noqa: E402

dynamo = types.ModuleType("torch._dynamo")
dynamo.OptimizedModule = type("OptimizedModule", (), {})
sys.modules["torch._dynamo"] = dynamo
torch._dynamo = dynamo

import nibabel  # noqa: E402
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor  # noqa: E402
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_nnunet_fixtures as base  # noqa: E402

rng = np.random.default_rng(20261205)
torch.manual_seed(20261205)

CASES = [
    dict(name="ct_aniso", cls="PlainConvUNet", channels=1, classes=3, features=[4, 8, 16],
         kernels=[[1, 3, 3], [3, 3, 3], [3, 3, 3]], strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]], enc=[2, 2, 2], dec=[2, 2],
         norm="instance", norm_kwargs={"eps": 1e-5, "affine": True}, nonlin="leaky", nonlin_kwargs={"inplace": True},
         dropout=None, nonlin_first=False, conv_bias=True, format="current", checkpoint="checkpoint_final.pth",
         mirror=[0, 1, 2], input=[1, 8, 24, 24], patch=[8, 24, 24], spacing=[2.0, 1.2, 1.2],
         normalization="CTNormalization", shape=(44, 40, 12), voxel=(0.9, 0.9, 3.0)),
    dict(name="mr_masked", cls="ResidualEncoderUNet", channels=2, classes=4, features=[4, 8, 12],
         kernels=[[3, 3, 3]] * 3, strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2]], enc=[1, 2, 2], dec=[1, 1],
         norm="batch", norm_kwargs={"eps": 1e-5, "affine": True}, nonlin="leaky", nonlin_kwargs={"inplace": True},
         dropout=None, nonlin_first=False, conv_bias=True, format="current", checkpoint="checkpoint_final.pth",
         mirror=[0, 2], input=[1, 16, 16, 16], patch=[16, 16, 16], spacing=[1.5, 1.5, 1.5],
         normalization="ZScoreNormalization", use_mask=True, transpose=[2, 0, 1], shape=(30, 26, 20),
         voxel=(1.1, 1.3, 1.6)),
]


def smooth_noise(shape, scale):
    """Noise smoothed over a few voxels, so that the phantoms have texture at several scales."""
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(rng.standard_normal(shape), 1.5) * scale


def ct_phantom(shape):
    """A CT-like slab stack: air, an elliptical body, an organ, a bone; zero outside the field of view."""
    i, j, k = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    ci, cj = (shape[0] - 1) / 2 + 2, (shape[1] - 1) / 2 - 1
    body = ((i - ci) / 17) ** 2 + ((j - cj) / 14) ** 2 < 1
    organ = ((i - ci - 5) / 6) ** 2 + ((j - cj + 3) / 5) ** 2 + ((k - 6) / 4) ** 2 < 1
    bone = ((i - ci + 6) / 3) ** 2 + ((j - cj - 6) / 3) ** 2 < 1
    ct = np.full(shape, -1000.0) + smooth_noise(shape, 10)
    ct[body] = 40 + smooth_noise(shape, 25)[body]
    ct[organ] = 90 + smooth_noise(shape, 15)[organ]
    ct[bone] = 700 + smooth_noise(shape, 80)[bone]
    ct[:4] = 0  # outside the reconstructed field of view
    ct[:, 37:] = 0
    return np.round(ct).astype(np.int16)


def mr_phantom(shape):
    """Two MR-like channels: a head-like ellipsoid on a zero background, with a zero cavity inside (both
    channels) and a zero patch in the second channel only."""
    i, j, k = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    c = [(n - 1) / 2 for n in shape]
    head = ((i - c[0]) / 12) ** 2 + ((j - c[1]) / 10) ** 2 + ((k - c[2]) / 8) ** 2 < 1
    cavity = ((i - c[0] - 2) / 3) ** 2 + ((j - c[1]) / 3) ** 2 + ((k - c[2]) / 2.5) ** 2 < 1
    a = np.where(head, 400 + smooth_noise(shape, 60), 0.0)
    b = np.where(head, 900 + smooth_noise(shape, 120) + 30 * i, 0.0)
    a[cavity] = b[cavity] = 0
    b[head & (i < c[0] - 6) & (j < c[1])] = 0
    return [a.astype(np.float32), b.astype(np.float32)]


def affine_of(c):
    a = np.diag([*c["voxel"], 1.0])
    a[0, 0] = -a[0, 0]  # an LPS-like first axis, as DICOM-converted images have
    a[:3, 3] = [20.5, -31.25, 12.0]
    return a


def write_inputs(c, folder):
    os.makedirs(folder, exist_ok=True)
    images = [ct_phantom(c["shape"])] if c["normalization"] == "CTNormalization" else mr_phantom(c["shape"])
    files = []
    for ch, data in enumerate(images):
        f = os.path.join(folder, f"case_{ch:04d}.nii.gz")
        nibabel.save(nibabel.Nifti1Image(data, affine_of(c)), f)
        files.append(f)
    return files


def results_folder(c, root, trainer="nnUNetTrainer"):
    kw = base.arch_kwargs(c)
    net = base.build(c, kw)
    plans = base.plans(c, kw)
    conf = plans["configurations"]["3d_fullres"]
    conf["patch_size"], conf["spacing"] = c["patch"], c["spacing"]
    plans["image_reader_writer"] = "NibabelIO"
    dj = base.dataset_json(c)
    if "labels" in c:
        dj["labels"] = {"background": 0, **{name: i + 1 for i, name in enumerate(c["labels"])}}
    folder = os.path.join(root, f"{trainer}__nnUNetPlans__3d_fullres")
    os.makedirs(os.path.join(folder, "fold_0"), exist_ok=True)
    for name, content in (("plans.json", plans), ("dataset.json", dj)):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(content, f, indent=1)
    checkpoint = base.checkpoint(net, plans, dj, dict(c, mirror=c["mirror"] or []))
    checkpoint["trainer_name"] = trainer
    if c["mirror"] is None:  # nnUNetTrainerNoMirroring, as TotalSegmentator's models
        checkpoint["inference_allowed_mirroring_axes"] = None
    torch.save(checkpoint, os.path.join(folder, "fold_0", c["checkpoint"]))
    net.eval()  # the saved weights (the checkpoint's optimizer step changed them)
    return net, plans, dj


def totalsegmentator_parts(out):
    """A TotalSegmentator-shaped folder of two tasks (its layout: Dataset<ID>_<name>/<Trainer>__<Plans>__<conf>/),
    each predicted by nnU-Net's predictor on the CT case, and the two label maps combined as TotalSegmentator
    combines its parts (nnunet.py: part after part, each part's label j written as the combined class
    of its name, the classes numbered part after part)."""
    ct = next(c for c in CASES if c["name"] == "ct_aniso")
    files = [os.path.join(out, "..", "ct_aniso", "input", "case_0000.nii.gz")]
    parts = [dict(ct, name="part1", labels=["spleen", "kidney_right", "liver"], classes=4, mirror=None, features=[4, 8, 12]),
             dict(ct, name="part2", labels=["vertebrae_L1", "vertebrae_L2"], classes=3, mirror=None, features=[4, 6, 10])]
    combined, offset, names = None, 0, ["background"]
    for i, part in enumerate(parts):
        root = os.path.join(out, f"Dataset29{i + 1}_TotalSegmentator_{part['name']}")
        net, plans, dj = results_folder(part, root, trainer="nnUNetTrainerNoMirroring")
        predicted = os.path.join(out, "nnunet", part["name"])
        predict_as_nnunet(part, net, plans, dj, files, predicted)
        seg = nibabel.load(os.path.join(predicted, "case.nii.gz"))
        labels = np.asarray(seg.dataobj)
        if combined is None:
            combined = np.zeros_like(labels)
        for j in range(1, len(part["labels"]) + 1):
            combined[labels == j] = offset + j
        offset += len(part["labels"])
        names += part["labels"]
        os.remove(os.path.join(predicted, "probabilities.npy"))
    nibabel.save(nibabel.Nifti1Image(combined.astype(np.uint8), seg.affine), os.path.join(out, "nnunet", "combined.nii.gz"))
    with open(os.path.join(out, "nnunet", "combined_classes.json"), "w") as f:
        json.dump(names, f)


def postprocessing(root):
    """A postprocessing.pkl as nnU-Net's determine_postprocessing saves it (save_pickle of the functions and
    their kwargs, in the crossval_results_folds_* folder), with a function repux does not have among them,
    and nnU-Net's own apply_postprocessing of it on its prediction."""
    from batchgenerators.utilities.file_and_folder_operations import save_pickle
    from nnunetv2.postprocessing.remove_connected_components import (apply_postprocessing,
                                                                    remove_all_but_largest_component_from_segmentation)
    folder = os.path.join(root, "nnUNetTrainer__nnUNetPlans__3d_fullres", "crossval_results_folds_0")
    os.makedirs(folder, exist_ok=True)
    fns = [remove_all_but_largest_component_from_segmentation, np.copy, remove_all_but_largest_component_from_segmentation]
    kwargs = [{"labels_or_regions": [1, 2]}, {}, {"labels_or_regions": 2}]
    save_pickle((fns, kwargs), os.path.join(folder, "postprocessing.pkl"))
    seg = nibabel.load(os.path.join(root, "nnunet", "case.nii.gz"))
    labels = np.asarray(seg.dataobj)
    known = [(f, k) for f, k in zip(fns, kwargs) if f is not np.copy]
    processed = apply_postprocessing(labels, [f for f, _ in known], [k for _, k in known])
    nibabel.save(nibabel.Nifti1Image(processed.astype(np.uint8), seg.affine), os.path.join(root, "nnunet", "case_postprocessed.nii.gz"))
    return int((processed != labels).sum())


def predict_as_nnunet(c, net, plans, dj, files, out):
    pm = PlansManager(plans)
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True, perform_everything_on_device=False,
                                device=torch.device("cpu"), verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.manual_initialization(net, pm, pm.get_configuration("3d_fullres"), [net.state_dict()], dj, "nnUNetTrainer",
                                    None if c["mirror"] is None else tuple(c["mirror"]))
    os.makedirs(out, exist_ok=True)
    predictor.predict_from_files_sequential([files], [os.path.join(out, "case")], save_probabilities=True)
    # The probabilities as nnU-Net exports them, (c, k, j, i) for NibabelIO, in the image's (i, j, k) order.
    probabilities = np.load(os.path.join(out, "case.npz"))["probabilities"].transpose(0, 3, 2, 1)
    np.save(os.path.join(out, "probabilities.npy"), probabilities.astype(np.float32))
    for leftover in ("case.npz", "case.pkl", "plans.json", "dataset.json", "predict_from_raw_data_args.json"):
        if os.path.exists(os.path.join(out, leftover)):
            os.remove(os.path.join(out, leftover))
    labels = np.asarray(nibabel.load(os.path.join(out, "case.nii.gz")).dataobj)
    return {"name": c["name"], "shape": list(c["shape"]), "voxels_per_class": np.bincount(labels.ravel()).tolist()}


def pieces(out):
    """nnU-Net's building blocks on their own, each against its repux counterpart: resampling (3D order 3,
    separate z with nearest along z, order 1 for logits), the non-zero mask's hole filling, the Gaussian
    and the sliding window's steps."""
    from scipy.ndimage import binary_fill_holes
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window
    from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape, resample_data_or_seg_to_shape
    os.makedirs(out, exist_ok=True)
    x = (smooth_noise((2, 9, 14, 11), 3) + rng.standard_normal((2, 9, 14, 11))).astype(np.float32)
    np.save(os.path.join(out, "resample_input.npy"), x)
    resamplings = [
        dict(name="order3_3d", current=[1.0, 1.3, 0.7], new=[1.5, 1.0, 1.0], order=3, order_z=0),
        dict(name="order3_separate_z", current=[3.2, 0.8, 0.8], new=[2.0, 1.1, 1.1], order=3, order_z=0),
        dict(name="order1_separate_z_lowres_last", current=[0.9, 0.9, 3.5], new=[0.6, 1.2, 2.5], order=1, order_z=0),
        dict(name="order1_3d", current=[1.0, 1.0, 1.0], new=[0.7, 1.6, 1.25], order=1, order_z=0),
    ]
    for r in resamplings:
        shape = compute_new_shape(x.shape[1:], r["current"], r["new"])
        y = resample_data_or_seg_to_shape(x, shape, r["current"], r["new"], is_seg=False, order=r["order"], order_z=r["order_z"],
                                          force_separate_z=None)
        np.save(os.path.join(out, f"resample_{r['name']}.npy"), y.astype(np.float32))
        r["shape"] = [int(v) for v in shape]
    mask = rng.random((12, 13, 10)) < 0.55
    mask[4:8, 4:9, 3:7] = True
    mask[5:7, 6:7, 4:6] = False  # a cavity
    np.save(os.path.join(out, "mask.npy"), mask.astype(np.uint8))
    np.save(os.path.join(out, "mask_filled.npy"), binary_fill_holes(mask).astype(np.uint8))
    patch = [8, 24, 20]
    g = compute_gaussian(tuple(patch), sigma_scale=1. / 8, value_scaling_factor=10, device=torch.device("cpu"))
    np.save(os.path.join(out, "gaussian_8_24_20.npy"), g.float().numpy())
    steps = [dict(size=s, tile=t, step=0.5, starts=compute_steps_for_sliding_window((s,), (t,), 0.5)[0])
             for s, t in [(100, 32, ), (90, 32), (57, 24), (18, 8), (24, 24), (71, 20), (129, 64), (45, 10)]]
    with open(os.path.join(out, "pieces.json"), "w") as f:
        json.dump({"resamplings": resamplings, "steps": steps}, f, indent=1)


def main(out):
    made = []
    pieces(os.path.join(out, "pieces"))
    for c in CASES:
        root = os.path.join(out, c["name"])
        files = write_inputs(c, os.path.join(root, "input"))
        net, plans, dj = results_folder(c, root)
        made.append(predict_as_nnunet(c, net, plans, dj, files, os.path.join(root, "nnunet")))
    made[0]["voxels_changed_by_postprocessing"] = postprocessing(os.path.join(out, "ct_aniso"))
    totalsegmentator_parts(os.path.join(out, "totalseg"))
    with open(os.path.join(out, "made_by.json"), "w") as f:
        json.dump({"made_by": "tools/make_nnunet_prediction_fixtures.py with torch " + torch.__version__ +
                   ", nnunetv2's nnUNetPredictor.predict_from_files_sequential (NibabelIO, CPU, tile step 0.5, "
                   "Gaussian, mirroring)", "nnunetv2_commit": os.environ.get("NNUNET_COMMIT", "unknown"), "cases": made}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
