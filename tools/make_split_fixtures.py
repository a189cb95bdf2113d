#!/usr/bin/python3
"""Writes tests/data/splits/sklearn_kfold.json: nnU-Net's cross-validation folds for several lists of
case identifiers, made as nnU-Net makes them (nnunetv2/utilities/crossval_split.py): scikit-learn's
KFold(n_splits=5, shuffle=True, random_state=12345) over the sorted identifiers, each fold's "train"
and "val" in sorted order. Needs Debian's python3-sklearn. Usage: make_split_fixtures.py OUT.json
"""
import json
import sys

import numpy as np
from sklearn.model_selection import KFold


def identifiers(n):
    # Names whose sorted order differs from their numeric order, as real datasets' often do.
    return [f"case_{i}" if i % 3 else f"BraTS_{i:04d}" for i in range(n)]


def nnunet_splits(ids):
    ids = sorted(ids)
    folds = []
    for train, val in KFold(n_splits=5, shuffle=True, random_state=12345).split(ids):
        folds.append({"train": [ids[i] for i in train], "val": [ids[i] for i in val]})
    return folds


fixtures = [{"identifiers": identifiers(n), "splits": nnunet_splits(identifiers(n))} for n in (5, 8, 23, 100)]
with open(sys.argv[1], "w") as f:
    json.dump({"made_by": "tools/make_split_fixtures.py with scikit-learn " + __import__("sklearn").__version__,
               "cases": fixtures}, f, indent=1)
