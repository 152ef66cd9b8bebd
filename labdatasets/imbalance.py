"""A class-imbalanced version of a labelled set: some classes down-sampled, deterministically.

Used by Lab 3 to ask whether pruning hurts under-represented classes more (Hooker et al., "What
Do Compressed Deep Neural Networks Forget?", 2019; Blakeney et al. 2021 down-sample classes of
CIFAR-10 in the same way). Only NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validate import check_fraction, check_seed

__all__ = ["downsample_classes"]


def downsample_classes(y: np.ndarray, classes: Sequence[int], keep_fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a subset of ``y`` in which each listed class keeps round(keep_fraction * n_c) samples.

    The kept samples of a listed class are drawn without replacement by
    ``np.random.default_rng(seed)``, class by class in the order given (so one seed gives one
    subset, on every machine); every sample of the other classes is kept. At least one sample of
    each listed class present in ``y`` is kept.

    Args:
        y: integer labels (N,).
        classes: the labels to down-sample (distinct).
        keep_fraction: in (0, 1].
        seed: a non-negative int.

    Returns:
        sorted int64 indices into y.

    Raises:
        ValueError: on non-integer labels, repeated classes, or a fraction outside (0, 1].
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be 1-D integer labels, got shape {y.shape}, dtype {y.dtype}")
    keep_fraction = check_fraction("keep_fraction", keep_fraction)
    if keep_fraction <= 0:
        raise ValueError("keep_fraction must be > 0")
    seed = check_seed(seed)
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes}")
    rng = np.random.default_rng(seed)
    keep = np.ones(y.shape[0], dtype=bool)
    for c in classes:
        idx = np.flatnonzero(y == c)
        if idx.size == 0:
            continue
        n_keep = max(1, int(np.round(keep_fraction * idx.size)))
        keep[idx] = False
        keep[rng.choice(idx, size=n_keep, replace=False)] = True
    return np.flatnonzero(keep).astype(np.int64)
