"""The 8x8 handwritten digits (1,797 images, 10 classes), vendored -- no download.

Source: UCI "Optical Recognition of Handwritten Digits" (E. Alpaydin and
C. Kaynak, 1998; CC BY 4.0; https://doi.org/10.24432/C50P49), the copy of its
*test* set that scikit-learn ships as ``sklearn/datasets/data/digits.csv.gz``
(scikit-learn 1.9.1, BSD-3-Clause). The file in ``datasets/data`` is a
byte-identical copy; see ``datasets/data/ATTRIBUTION.md``.

Each image is the count of "on" pixels in 4x4 blocks of a 32x32 bitmap, so
pixels are integers 0..16; :func:`load_digits` returns them divided by 16.

Class sizes (digits 0..9): 178, 182, 177, 183, 181, 182, 181, 179, 174, 180.

The course split (:func:`digits_splits` with the default ``seed=0``) is a
stratified 60/20/20 train/val/test split. Per class of size ``c`` it takes
``round(0.6 c)`` train and ``round(0.2 c)`` val images (halves rounded up) and
the rest as test, which gives exactly

    train 1078, val 359, test 360   (total 1797)

for every seed; only *which* images land where depends on the seed.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._validate import check_seed
from .checksums import DATA_DIR, verify_file

DIGITS_FILE: Path = DATA_DIR / "digits.csv.gz"

N_SAMPLES = 1797
N_FEATURES = 64
N_CLASSES = 10
CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
SPLIT_SIZES = {"train": 1078, "val": 359, "test": 360}


class Split(NamedTuple):
    """A train/val/test split; X arrays float32, y arrays int64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _load_raw() -> np.ndarray:
    """Verify ``DIGITS_FILE`` against SHA256SUMS and parse it to int64 (1797, 65)."""
    path = Path(DIGITS_FILE)  # module global looked up at call time (tests patch it)
    verify_file(path)
    with gzip.open(path, "rt", encoding="ascii") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if raw.shape != (N_SAMPLES, N_FEATURES + 1):
        raise ValueError(f"{path}: expected shape {(N_SAMPLES, N_FEATURES + 1)}, got {raw.shape}")
    return raw


def load_digits(flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load the 1,797 8x8 UCI handwritten digits (scikit-learn's ``digits.csv.gz``).

    Returns ``(X, y)``: ``X`` float32 in [0, 1] (pixel count / 16), shape
    ``(1797, 64)`` -- row-major 8x8 -- or ``(1797, 8, 8)`` if ``flatten=False``;
    ``y`` int64 labels 0..9, shape ``(1797,)``. Rows are in file order.

    The file's SHA-256 is checked against ``datasets/data/SHA256SUMS`` on every
    call; a mismatch raises :class:`labdatasets.checksums.ChecksumError`.
    Fresh arrays are returned each call.
    """
    if not isinstance(flatten, (bool, np.bool_)):
        raise ValueError(f"flatten must be a bool, got {flatten!r}")
    raw = _load_raw()
    X = (raw[:, :N_FEATURES].astype(np.float32) / np.float32(16.0)).astype(np.float32)
    y = raw[:, N_FEATURES].astype(np.int64)
    if not flatten:
        X = X.reshape(N_SAMPLES, 8, 8)
    return X, y


def _stratified_indices(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = idx.size
        n_train = (6 * n + 5) // 10  # round(0.6 n), half up, exact integer arithmetic
        n_val = (2 * n + 5) // 10  # round(0.2 n)
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train : n_train + n_val])
        parts[2].append(idx[n_train + n_val :])
    # Shuffle each split so classes are interleaved (a prefix is a mixed batch).
    return tuple(rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts)  # type: ignore[return-value]


def digits_split_indices(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices into :func:`load_digits` for the split :func:`digits_splits` returns.

    Returns ``(idx_train, idx_val, idx_test)`` int64 arrays of sizes 1078, 359,
    360: disjoint, together covering 0..1796, each in shuffled order.
    """
    seed = check_seed(seed)
    _, y = load_digits()
    return _stratified_indices(y, seed)


def digits_splits(seed: int = 0) -> Split:
    """Stratified 60/20/20 train/val/test split of :func:`load_digits` (flattened).

    Sizes are always train 1078, val 359, test 360; per class, each part is
    within one image of 60/20/20 of that class. The split is a deterministic
    function of ``seed`` (NumPy ``default_rng``); ``seed=0`` is the course split.
    Data: UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998),
    as shipped by scikit-learn.
    """
    seed = check_seed(seed)
    X, y = load_digits(flatten=True)
    tr, va, te = _stratified_indices(y, seed)
    return Split(X[tr], y[tr], X[va], y[va], X[te], y[te])
