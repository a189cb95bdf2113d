#!/usr/bin/python3
"""Fixtures for importing nnU-Net v2 models: small random-initialised networks of both classes nnU-Net
plans (PlainConvUNet and ResidualEncoderUNet), built by dynamic_network_architectures itself from
arch_kwargs as nnU-Net's get_network_from_plans passes them, saved as nnU-Net's trainer saves them
(nnUNetTrainer.save_checkpoint: network_weights, optimizer_state, logging with numpy scalars,
init_args with the plans and a torch.device, trainer_name, inference_allowed_mirroring_axes), next to
the plans.json and dataset.json of an nnU-Net results folder. Each case also gets a random input and
the network's logits (eval mode, no deep supervision, as nnU-Net's predictor runs it).

Covers: both classes, isotropic and anisotropic kernels and strides, instance and batch norm, 2 and 4
input channels, ReLU and LeakyReLU, dropout, nonlin_first, both plans formats (the current
"architecture" entry and the older UNet_class_name one, which nnU-Net converts with fixed defaults).

Run with Debian's python3-torch and a checkout of MIC-DKFZ/dynamic-network-architectures:
  PYTHONPATH=/path/to/dynamic-network-architectures /usr/bin/python3 tools/make_nnunet_fixtures.py tests/data/nnunet
"""
import json
import os
import sys

import numpy as np
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet

torch.manual_seed(20261204)
rng = np.random.default_rng(20261204)

NORMS = {"instance": "torch.nn.modules.instancenorm.InstanceNorm3d", "batch": "torch.nn.modules.batchnorm.BatchNorm3d"}
NONLINS = {"leaky": "torch.nn.LeakyReLU", "relu": "torch.nn.ReLU"}
CLASSES = {"PlainConvUNet": PlainConvUNet, "ResidualEncoderUNet": ResidualEncoderUNet}
TORCH_TYPES = {
    "torch.nn.modules.conv.Conv3d": torch.nn.Conv3d,
    "torch.nn.modules.instancenorm.InstanceNorm3d": torch.nn.InstanceNorm3d,
    "torch.nn.modules.batchnorm.BatchNorm3d": torch.nn.BatchNorm3d,
    "torch.nn.LeakyReLU": torch.nn.LeakyReLU,
    "torch.nn.ReLU": torch.nn.ReLU,
    "torch.nn.Dropout3d": torch.nn.Dropout3d,
}

# name, class, channels, classes, features, kernels, strides, encoder convs/blocks, decoder convs,
# norm, norm kwargs, nonlin, nonlin kwargs, dropout p, nonlin_first, plans format, checkpoint, input size
CASES = [
    dict(name="plain_iso_instance", cls="PlainConvUNet", channels=2, classes=3, features=[4, 8, 16],
         kernels=[[3, 3, 3]] * 3, strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2]], enc=[2, 2, 2], dec=[2, 2],
         norm="instance", norm_kwargs={"eps": 1e-5, "affine": True}, nonlin="leaky", nonlin_kwargs={"inplace": True},
         dropout=None, nonlin_first=False, conv_bias=True, format="current", checkpoint="checkpoint_final.pth",
         mirror=[0, 1, 2], input=[1, 16, 12, 20]),
    dict(name="plain_aniso_batch", cls="PlainConvUNet", channels=4, classes=2, features=[4, 8, 12, 16],
         kernels=[[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3]], strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2], [1, 2, 2]],
         enc=[1, 2, 2, 2], dec=[1, 1, 2], norm="batch", norm_kwargs={"eps": 1e-3, "momentum": 0.01, "affine": True},
         nonlin="relu", nonlin_kwargs={"inplace": True}, dropout=0.2, nonlin_first=True, conv_bias=False,
         format="current", checkpoint="checkpoint_final.pth", mirror=[1, 2], input=[2, 6, 16, 24],
         normalization="ZScoreNormalization"),
    dict(name="resenc_iso_instance_oldplans", cls="ResidualEncoderUNet", channels=2, classes=3, base=4, max_features=12,
         kernels=[[3, 3, 3]] * 3, strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2]], enc=[1, 2, 2], dec=[1, 1],
         format="old", checkpoint="checkpoint_best.pth", mirror=[0, 1, 2], input=[1, 12, 16, 8]),
    dict(name="resenc_aniso_batch", cls="ResidualEncoderUNet", channels=4, classes=4, features=[4, 8, 12, 12],
         kernels=[[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]], strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
         enc=[1, 2, 2, 2], dec=[1, 1, 1], norm="batch", norm_kwargs={"eps": 1e-5, "affine": True}, nonlin="leaky",
         nonlin_kwargs={"negative_slope": 0.02, "inplace": True}, dropout=None, nonlin_first=False, conv_bias=True,
         format="current", checkpoint="checkpoint_final.pth", mirror=[1, 2], input=[1, 8, 16, 16],
         normalization="ZScoreNormalization", use_mask=True, transpose=[0, 2, 1]),
]


def arch_kwargs(c):
    """arch_kwargs as a plans file holds them (class names as strings)."""
    if c["format"] == "old":  # nnU-Net's own conversion of the older format (plans_handler.py)
        n = len(c["enc"])
        c = dict(c, features=[min(c["base"] * 2 ** i, c["max_features"]) for i in range(n)], norm="instance",
                 norm_kwargs={"eps": 1e-05, "affine": True}, nonlin="leaky", nonlin_kwargs={"inplace": True},
                 dropout=None, nonlin_first=False, conv_bias=True)
    kw = {
        "n_stages": len(c["features"]), "features_per_stage": c["features"], "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": c["kernels"], "strides": c["strides"],
        ("n_conv_per_stage" if c["cls"] == "PlainConvUNet" else "n_blocks_per_stage"): c["enc"],
        "n_conv_per_stage_decoder": c["dec"], "conv_bias": c["conv_bias"], "norm_op": NORMS[c["norm"]],
        "norm_op_kwargs": c["norm_kwargs"], "dropout_op": "torch.nn.Dropout3d" if c["dropout"] else None,
        "dropout_op_kwargs": {"p": c["dropout"], "inplace": True} if c["dropout"] else None,
        "nonlin": NONLINS[c["nonlin"]], "nonlin_kwargs": c["nonlin_kwargs"],
    }
    if c["cls"] == "PlainConvUNet" and c["nonlin_first"]:
        kw["nonlin_first"] = True
    return kw


def build(c, kw):
    kwargs = dict(kw)
    for k in ("conv_op", "norm_op", "dropout_op", "nonlin"):
        if kwargs[k] is not None:
            kwargs[k] = TORCH_TYPES[kwargs[k]]
    net = CLASSES[c["cls"]](input_channels=c["channels"], num_classes=c["classes"], deep_supervision=False, **kwargs)
    net.apply(net.initialize)
    with torch.no_grad():  # trained-looking values everywhere, so that every parameter matters
        for name, p in net.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if name.endswith("norm.weight") else 0.0))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.2)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
    return net


def plans(c, kw):
    conf = {
        "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
        "patch_size": [s * 2 for s in c["input"][1:]], "median_image_size_in_voxels": [64, 64, 64],
        "spacing": [2.5, 0.8, 0.8] if "aniso" in c["name"] else [1.5, 1.5, 1.5],
        "normalization_schemes": [c.get("normalization", "CTNormalization")] * c["channels"],
        "use_mask_for_norm": [c.get("use_mask", False)] * c["channels"],
        "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "batch_dice": False,
    }
    if c["format"] == "old":
        conf.update({"UNet_class_name": c["cls"], "UNet_base_num_features": c["base"],
                     "unet_max_num_features": c["max_features"], "n_conv_per_stage_encoder": c["enc"],
                     "n_conv_per_stage_decoder": c["dec"], "num_pool_per_axis": [2, 2, 2],
                     "pool_op_kernel_sizes": c["strides"], "conv_kernel_sizes": c["kernels"]})
    else:
        module = "unet"
        conf["architecture"] = {"network_class_name": f"dynamic_network_architectures.architectures.{module}.{c['cls']}",
                                "arch_kwargs": kw, "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}
    intensity = {"max": 1500.0, "mean": 80.5, "median": 60.0, "min": -1024.0, "percentile_00_5": -980.0,
                 "percentile_99_5": 1200.0, "std": 150.25}
    return {
        "dataset_name": f"Dataset990_{c['name']}", "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": conf["spacing"], "original_median_shape_after_transp": [64, 64, 64],
        "image_reader_writer": "SimpleITKIO", "transpose_forward": c.get("transpose", [0, 1, 2]),
        "transpose_backward": [int(i) for i in np.argsort(c.get("transpose", [0, 1, 2]))],
        "configurations": {"3d_fullres": conf}, "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {str(i): intensity for i in range(c["channels"])},
    }


def dataset_json(c):
    return {"channel_names": {str(i): ("CT" if i == 0 else f"MR{i}") for i in range(c["channels"])},
            "labels": {"background": 0, **{f"organ{i}": i for i in range(1, c["classes"])}},
            "numTraining": 10, "file_ending": ".nii.gz"}


def checkpoint(net, plans_dict, dj, c):
    optimizer = torch.optim.SGD(net.parameters(), 0.01, weight_decay=3e-5, momentum=0.99, nesterov=True)
    x = torch.randn(1, c["channels"], *c["input"][1:])
    net.train()
    net(x).mean().backward()
    optimizer.step()  # momentum buffers in the state, as after training
    optimizer.zero_grad()
    return {
        "network_weights": net.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "grad_scaler_state": None,
        "logging": {"mean_fg_dice": [np.float64(0.5), np.float64(0.61)], "ema_fg_dice": [np.float64(0.5), np.float64(0.511)],
                    "dice_per_class_or_region": [[0.4, 0.6], [0.55, 0.67]], "train_losses": [np.float64(-0.2), np.float64(-0.4)],
                    "val_losses": [np.float64(-0.1), np.float64(-0.3)], "lrs": [0.01, 0.00999],
                    "epoch_start_timestamps": [1700000000.5, 1700000100.25], "epoch_end_timestamps": [1700000099.5, 1700000199.0]},
        "_best_ema": np.float64(0.511),
        "current_epoch": 2,
        "init_args": {"plans": plans_dict, "configuration": "3d_fullres", "fold": 0, "dataset_json": dj,
                      "device": torch.device("cuda", 0)},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": tuple(c["mirror"]),
    }


def main(OUT):
    made = []
    for c in CASES:
        kw = arch_kwargs(c)
        net = build(c, kw)
        p, dj = plans(c, kw), dataset_json(c)
        folder = os.path.join(OUT, c["name"], "nnUNetTrainer__nnUNetPlans__3d_fullres")
        os.makedirs(os.path.join(folder, "fold_0"), exist_ok=True)
        with open(os.path.join(folder, "plans.json"), "w") as f:
            json.dump(p, f, indent=1)
        with open(os.path.join(folder, "dataset.json"), "w") as f:
            json.dump(dj, f, indent=1)
        torch.save(checkpoint(net, p, dj, c), os.path.join(folder, "fold_0", c["checkpoint"]))
        # The logits of the saved weights (the optimizer step above changed them after `build`).
        net.eval()
        x = torch.from_numpy(rng.standard_normal((c["input"][0], c["channels"], *c["input"][1:])).astype(np.float32))
        with torch.no_grad():
            y = net(x)
        np.save(os.path.join(OUT, c["name"], "input.npy"), x.numpy())
        np.save(os.path.join(OUT, c["name"], "logits.npy"), y.numpy())
        made.append({"name": c["name"], "parameters": sum(t.numel() for t in net.parameters()), "logits": list(y.shape)})
    with open(os.path.join(OUT, "made_by.json"), "w") as f:
        json.dump({"made_by": "tools/make_nnunet_fixtures.py with torch " + torch.__version__ +
                   " and dynamic_network_architectures", "cases": made}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
