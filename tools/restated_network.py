"""RepUX-Net re-stated in PyTorch (the classes of tools/make_network_fixtures.py, without writing
fixtures) and the Dice + CE loss repux trains with: shared by the PyTorch benchmarks."""
import os

import torch
import torch.nn.functional as F

_FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_network_fixtures.py")


def load_classes():
    """The fixture script's classes, as a dict of names (its make() and main part are left out)."""
    source = open(_FIXTURES).read().split("def make(")[0]
    namespace = {"__file__": _FIXTURES, "__name__": "restated_network"}
    exec(compile(source, _FIXTURES, "exec"), namespace)
    return namespace


def repuxnet(classes=14, kernel=21, dims=(48, 96, 192, 384), depths=(2, 2, 2, 2), hidden=768):
    """Full-size RepUX-Net (deploy form: one depthwise kernel per block) with random weights."""
    ns = load_classes()
    return ns["Net"]("repuxnet_3d", ns["RepBlock"], 1, classes, list(dims), list(depths), kernel, hidden)


def dice_ce(logits, target):
    """Cross-entropy plus soft Dice over every class (MONAI's DiceCELoss defaults; repux's dice_ce_loss)."""
    k = logits.shape[1]
    probs = torch.softmax(logits, 1)
    onehot = F.one_hot(target, k).permute(0, 4, 1, 2, 3).to(probs.dtype)
    inter = (probs * onehot).sum((2, 3, 4))
    denom = probs.sum((2, 3, 4)) + onehot.sum((2, 3, 4))
    return F.cross_entropy(logits, target) + (1 - (2 * inter + 1e-5) / (denom + 1e-5)).mean()
