#!/usr/bin/python3
"""Helper of bench/nnunet_predict.sh. Two commands:
  make FOLDER X Y Z   an nnU-Net results folder with a TotalSegmentator-sized PlainConvUNet (its 1.5 mm
                      3d_fullres layout: 6 stages of 32-320 features, 3x3x3 kernels, patch 128^3,
                      instance norm, no mirroring; random weights, 4 classes) and a CT-like image of
                      X x Y x Z voxels at 0.8 x 0.8 x 1.5 mm (FOLDER/ct_0000.nii.gz)
  predict FOLDER OUT  nnU-Net's own predictor (nnUNetPredictor.predict_from_files_sequential, PyTorch
                      eager on the CPU, tile step 0.5, Gaussian) on that image, writing OUT/ct.nii.gz
Needs what tools/make_nnunet_prediction_fixtures.py needs (its stand-ins for modules nnU-Net imports
but does not call are used here too).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import make_nnunet_prediction_fixtures as fx  # noqa: E402  (installs the stand-ins, imports nnU-Net)
import nibabel  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

CASE = dict(name="totalseg_sized", cls="PlainConvUNet", channels=1, classes=4, features=[32, 64, 128, 256, 320, 320],
            kernels=[[3, 3, 3]] * 6, strides=[[1, 1, 1]] + [[2, 2, 2]] * 5, enc=[2] * 6, dec=[2] * 5, norm="instance",
            norm_kwargs={"eps": 1e-5, "affine": True}, nonlin="leaky", nonlin_kwargs={"inplace": True}, dropout=None,
            nonlin_first=False, conv_bias=True, format="current", checkpoint="checkpoint_final.pth", mirror=None,
            input=[1, 64, 64, 64], patch=[128, 128, 128], spacing=[1.5, 1.5, 1.5], normalization="CTNormalization")
TRAINER = "nnUNetTrainerNoMirroring"


def make(folder, shape):
    fx.results_folder(CASE, folder, trainer=TRAINER)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    ct = np.full(shape, -1000, np.int16)
    body = (i / 0.8) ** 2 + (j / 0.6) ** 2 < 1
    ct[body] = 40
    ct[body & ((i - 0.3) ** 2 + (j + 0.1) ** 2 + k ** 2 < 0.1)] = 90
    ct[body & ((i + 0.35) ** 2 + (j - 0.3) ** 2 < 0.01)] = 700
    affine = np.diag([-0.8, -0.8, 1.5, 1.0])
    nibabel.save(nibabel.Nifti1Image(ct, affine), os.path.join(folder, "ct_0000.nii.gz"))


def predict(folder, out):
    import json
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    results = os.path.join(folder, f"{TRAINER}__nnUNetPlans__3d_fullres")
    plans, dj = (json.load(open(os.path.join(results, f))) for f in ("plans.json", "dataset.json"))
    pm = PlansManager(plans)
    cm = pm.get_configuration("3d_fullres")
    net = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs, cm.network_arch_init_kwargs_req_import,
                                 1, CASE["classes"], deep_supervision=False)
    weights = torch.load(os.path.join(results, "fold_0", CASE["checkpoint"]), map_location="cpu")["network_weights"]
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False, perform_everything_on_device=False,
                                device=torch.device("cpu"), verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.manual_initialization(net, pm, cm, [weights], dj, TRAINER, None)
    os.makedirs(out, exist_ok=True)
    predictor.predict_from_files_sequential([[os.path.join(folder, "ct_0000.nii.gz")]], [os.path.join(out, "ct")])


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], tuple(int(v) for v in sys.argv[3:6]))
    else:
        predict(sys.argv[2], sys.argv[3])
