"""Deterministic synthetic tasks (NumPy only; same arguments -> same arrays).

* :func:`make_easy_hard` -- binary classification where "easy" samples lie far
  from a linear decision boundary and "hard" ones near (or just across) it; for
  the early-exit labs.
* :func:`make_planted_op_task` -- 1-D signals whose target is produced by one
  known op from :data:`PLANTED_OPS`, then ReLU and a fixed random linear
  readout; for the NAS lab, where the search should recover the planted op.

Both are original generators written for this course (no external source);
randomness is NumPy's ``default_rng`` / ``SeedSequence`` (PCG64), so outputs are
reproducible across platforms for a given NumPy major version.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_fraction, check_int, check_nonneg_float, check_seed

__all__ = [
    "EASY_MARGIN",
    "HARD_MARGIN",
    "PLANTED_OPS",
    "PLANTED_TASKS",
    "make_easy_hard",
    "make_planted_op_task",
]

# Signed distance to the true boundary, towards the sample's own class.
EASY_MARGIN = (1.5, 3.0)  # always on the correct side, far away
HARD_MARGIN = (-0.25, 0.5)  # near the boundary; about 1/3 lie on the wrong side


def make_easy_hard(
    n: int, seed: int = 0, n_features: int = 2, hard_fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary task with labelled easy (far from the boundary) and hard (near it) samples.

    A unit normal ``w`` is drawn from ``seed``; the true boundary is the
    hyperplane ``x . w = 0`` through the origin. Labels are balanced
    (``n // 2`` or ``n // 2 + 1`` of each class). Sample ``i`` with class sign
    ``s = 2 y - 1`` is ``x = s * m * w + z`` where ``z`` is standard normal
    noise orthogonal to ``w`` and the margin ``m`` is uniform on
    :data:`EASY_MARGIN` (1.5, 3.0) for easy samples and on :data:`HARD_MARGIN`
    (-0.25, 0.5) for hard ones -- so every easy sample is correctly classified by
    the true boundary with margin >= 1.5, while a hard one is within 0.5 of it
    and one in three is on the wrong side (Bayes accuracy on hard samples ~2/3).

    Exactly ``round(hard_fraction * n)`` samples (halves up) are hard, at random
    positions. Returns ``(X, y, is_hard)``: float32 ``(n, n_features)``, int64
    ``(n,)`` in {0, 1}, bool ``(n,)``.
    """
    n = check_int("n", n, 1)
    seed = check_seed(seed)
    n_features = check_int("n_features", n_features, 1)
    hard_fraction = check_fraction("hard_fraction", hard_fraction)

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n_features)
    w /= np.linalg.norm(w)
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    n_hard = int(np.floor(hard_fraction * n + 0.5))
    is_hard = np.zeros(n, dtype=bool)
    is_hard[rng.permutation(n)[:n_hard]] = True
    margin = np.where(
        is_hard,
        rng.uniform(*HARD_MARGIN, size=n),
        rng.uniform(*EASY_MARGIN, size=n),
    )
    z = rng.standard_normal((n, n_features))
    z -= np.outer(z @ w, w)  # keep only the part orthogonal to w
    X = (2 * y - 1)[:, None] * margin[:, None] * w[None, :] + z
    return X.astype(np.float32), y, is_hard


PLANTED_OPS = ("identity", "conv3", "conv5", "maxpool3", "avgpool3")
"""Candidate ops of :func:`make_planted_op_task`, each mapping a length-L signal to length L:

* ``identity``: ``z = x``
* ``conv3`` / ``conv5``: cross-correlation with a fixed random kernel of size 3 / 5,
  zero padding 1 / 2 (as ``torch.nn.Conv1d(1, 1, k, padding=k // 2, bias=False)``);
  kernel taps are ``+-U(0.5, 1.5)`` so no tap is near zero
* ``maxpool3``: max over a window of 3, stride 1, padding 1 with -inf
  (as ``torch.nn.MaxPool1d(3, stride=1, padding=1)``)
* ``avgpool3``: mean over a window of 3, stride 1, zero padding 1, always divided by 3
  (as ``torch.nn.AvgPool1d(3, stride=1, padding=1)``, ``count_include_pad=True``)

As linear maps identity and avgpool3 are special cases of conv3, which is a special
case of conv5: a search over learnable ops should prefer the cheapest op that fits.
"""

PLANTED_TASKS = ("regression", "classification")

_N_REFERENCE = 4096  # reference signals used to centre the readout (independent of n)


def _apply_op(X: np.ndarray, op: str, k3: np.ndarray, k5: np.ndarray) -> np.ndarray:
    """Apply ``op`` along the last axis of float64 ``X`` (n, L)."""
    L = X.shape[1]
    if op == "identity":
        return X.copy()
    if op in ("conv3", "conv5"):
        k = k3 if op == "conv3" else k5
        p = k.size // 2
        Xp = np.pad(X, ((0, 0), (p, p)))
        return sum(k[j] * Xp[:, j : j + L] for j in range(k.size))
    if op == "maxpool3":
        Xp = np.pad(X, ((0, 0), (1, 1)), constant_values=-np.inf)
        return np.maximum(np.maximum(Xp[:, :L], Xp[:, 1 : L + 1]), Xp[:, 2 : L + 2])
    if op == "avgpool3":
        Xp = np.pad(X, ((0, 0), (1, 1)))
        return (Xp[:, :L] + Xp[:, 1 : L + 1] + Xp[:, 2 : L + 2]) / 3.0
    raise AssertionError(op)  # unreachable: op validated by the caller


def make_planted_op_task(
    n: int,
    seed: int = 0,
    op: str = "conv3",
    *,
    length: int = 16,
    noise: float = 0.0,
    task: str = "regression",
    n_classes: int = 2,
    return_params: bool = False,
):
    """Task whose target is generated by one known op from :data:`PLANTED_OPS`.

    ``X`` is ``(n, length)`` float32 i.i.d. standard normal signals. The target is

        h = relu(op(X))                    # (n, length), op as in PLANTED_OPS
        regression:      y = h @ w + b + noise * N(0, 1)      float32 (n,)
        classification:  y = argmax(h @ W + b + noise * N(0, 1), axis=1)
                                                               int64 (n,) in 0..n_classes-1

    with ``w ~ N(0, 1/length)`` of shape ``(length,)`` (regression) or
    ``W ~ N(0, 1/length)`` of shape ``(length, n_classes)`` (classification). The
    bias ``b = -mean(h_ref) @ w`` centres the scores, where ``h_ref`` are the
    features of 4096 reference signals drawn from ``seed`` (independent of ``n``).
    The ReLU makes the ops distinguishable even when the readout is learned
    (a linear readout of ``x`` alone could absorb any linear op).

    For a fixed ``seed`` and ``length`` the conv kernels, the readout and ``X``
    itself are the same for every ``op``, so tasks differ only in the planted op;
    the first rows of ``X`` do not depend on ``n`` (draw train+test at once and
    slice to get a held-out set of the same task).

    With ``return_params=True`` returns ``(X, y, params)`` where ``params`` is a
    dict with ``op``, ``kernel`` (float64 kernel of the planted conv, else None),
    ``readout`` (``w`` or ``W``, float64) and ``bias`` (float64 scalar or
    ``(n_classes,)``). Raises ValueError for an op not in :data:`PLANTED_OPS`.
    """
    n = check_int("n", n, 1)
    seed = check_seed(seed)
    if not isinstance(op, str) or op not in PLANTED_OPS:
        raise ValueError(f"unknown op {op!r}; valid ops are {', '.join(PLANTED_OPS)}")
    length = check_int("length", length, 5)
    noise = check_nonneg_float("noise", noise)
    if not isinstance(task, str) or task not in PLANTED_TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks are {', '.join(PLANTED_TASKS)}")
    n_classes = check_int("n_classes", n_classes, 2)

    params_ss, ref_ss, x_ss, noise_ss = np.random.SeedSequence(seed).spawn(4)
    prng = np.random.default_rng(params_ss)
    # Always draw in the same order so kernels/readout do not depend on op.
    k3 = prng.choice([-1.0, 1.0], size=3) * prng.uniform(0.5, 1.5, size=3)
    k5 = prng.choice([-1.0, 1.0], size=5) * prng.uniform(0.5, 1.5, size=5)
    out_shape = (length,) if task == "regression" else (length, n_classes)
    readout = prng.standard_normal(out_shape) / np.sqrt(length)

    def features(X: np.ndarray) -> np.ndarray:
        return np.maximum(_apply_op(X, op, k3, k5), 0.0)

    ref = np.random.default_rng(ref_ss).standard_normal((_N_REFERENCE, length))
    ref = ref.astype(np.float32).astype(np.float64)
    bias = -(features(ref).mean(axis=0) @ readout)

    X = np.random.default_rng(x_ss).standard_normal((n, length)).astype(np.float32)
    scores = features(X.astype(np.float64)) @ readout + bias
    if noise > 0:
        scores = scores + noise * np.random.default_rng(noise_ss).standard_normal(scores.shape)
    if task == "regression":
        y = scores.astype(np.float32)
    else:
        y = np.argmax(scores, axis=1).astype(np.int64)

    if not return_params:
        return X, y
    kernel = {"conv3": k3, "conv5": k5}.get(op)
    params = {
        "op": op,
        "kernel": None if kernel is None else kernel.copy(),
        "readout": readout,
        "bias": bias,
    }
    return X, y, params
