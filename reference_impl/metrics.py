"""Compression analysis: the NumPy metrics graded in Lab 3 (per-class errors, CEV, SDE, SVCCA).

Every public function here is an exercise (see ``pruning.py`` for what that implies: each is
self-contained apart from ``numpy`` as ``np`` and the lab's other exercises).

Conventions (where the literature differs, the one chosen is stated):

* Per-class rates are one-vs-rest: for class c, a positive is a sample with label c.
  FPR_c = FP_c / (FP_c + TN_c), FNR_c = FN_c / (FN_c + TP_c); a rate whose denominator is 0 (no
  negatives, or no positives, of class c in the labels) is defined as 0 — there was nothing to
  get wrong.
* CEV and SDE follow Blakeney et al., "Simon Says: Evaluating and Mitigating Bias in Pruned Neural
  Networks with Knowledge Distillation" (arXiv:2106.07849, 2021) and "Measure Twice, Cut Once:
  Quantifying Bias and Fairness in Deep Neural Networks" (arXiv:2110.04397), chapter III of
  Blakeney's dissertation (eq. III.5-III.6 for SDE): both are computed from the *normalised*
  per-class changes dR_c = (R_c^compressed - R_c^base) / R_c^base of FPR and FNR.
* Units: every function here takes and returns *fractions* (a rate of 0.05, a change of +1 for
  +100%); the dissertation prints percentages. SDE is a distance, so it scales like its inputs
  (SDE in percent = 100 x SDE in fractions); CEV is a squared distance, so CEV computed on
  percentages = 10^4 x CEV on fractions. Compare numbers with a paper only in one unit.
  The papers leave dR undefined when a baseline rate is 0, which on a small test set is the
  common case (a good model makes no false negative on many classes). Here the denominator is
  max(R_base, floor): with floor = the smallest non-zero rate the test set can show (1 / number
  of negatives for FPR, 1 / number of positives for FNR), going from 0 to one mistake counts as a
  change of +1 (+100%), and 0 -> 0 is no change.
* SVCCA follows Raghu et al., "SVCCA: Singular Vector Canonical Correlation Analysis for Deep
  Learning Dynamics and Interpretability" (NeurIPS 2017): activations are (neurons, datapoints).
"""

from __future__ import annotations

import numpy as np


def per_class_fpr_fnr(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> tuple:
    """Per-class false positive and false negative rates of a multi-class classifier (one-vs-rest).

    For each class c:  FP_c = #{y != c, yhat = c},  TN_c = #{y != c, yhat != c},
                       FN_c = #{y = c, yhat != c},  TP_c = #{y = c, yhat = c},
        FPR_c = FP_c / (FP_c + TN_c),   FNR_c = FN_c / (FN_c + TP_c)   (= 1 - recall_c)

    A rate whose denominator is 0 (class c never / always the label) is defined as 0.

    Args:
        y_true, y_pred: integer arrays of the same shape (N,), N >= 1, values in [0, num_classes).
        num_classes: C >= 1.

    Returns:
        the tuple (fpr, fnr) of float64 arrays of shape (C,).

    Raises:
        ValueError: on a shape mismatch, an empty input, or a label outside [0, C).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty 1-D arrays of one shape, got {y_true.shape}, {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"{name} must hold integer labels in [0, {num_classes})")
    C = int(num_classes)
    cm = np.zeros((C, C), dtype=np.int64)  # cm[true, pred]
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm)  # (C,)
    fn = cm.sum(axis=1) - tp  # labelled c, predicted something else
    fp = cm.sum(axis=0) - tp  # predicted c, labelled something else
    tn = y_true.size - tp - fn - fp
    neg, pos = fp + tn, fn + tp  # (C,), (C,)
    fpr = np.where(neg > 0, fp / np.maximum(neg, 1), 0.0)
    fnr = np.where(pos > 0, fn / np.maximum(pos, 1), 0.0)
    return fpr.astype(np.float64), fnr.astype(np.float64)


def rate_change(base: np.ndarray, new: np.ndarray, floor) -> np.ndarray:
    """Normalised change of a per-class error rate: (new - base) / max(base, floor).

    dR_c = (R_c^new - R_c^base) / max(R_c^base, floor_c)

    Blakeney et al. divide by the baseline rate, so that a class whose errors double counts the
    same (+1, i.e. +100%) whether it went from 1% to 2% or from 10% to 20%. Their ratio is
    undefined when the baseline rate is 0; the floor (> 0, e.g. 1 / the number of test samples
    the rate is measured on, the smallest non-zero rate that set can show) makes it finite: going
    from 0 to one mistake counts +1, and 0 -> 0 counts 0.

    Args:
        base, new: arrays of rates in [0, 1], of one shape (C,).
        floor: a number > 0, or an array of numbers > 0 of shape (C,).

    Returns:
        float64 array of shape (C,).

    Raises:
        ValueError: on a shape mismatch, a rate outside [0, 1], or a floor that is not > 0.
    """
    base = np.asarray(base, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    floor = np.asarray(floor, dtype=np.float64)
    if base.shape != new.shape or floor.shape not in ((), base.shape):
        raise ValueError(f"base, new (and an array floor) must have one shape, got {base.shape}, {new.shape}, {floor.shape}")
    if not (np.all((base >= 0) & (base <= 1)) and np.all((new >= 0) & (new <= 1))):
        raise ValueError("rates must lie in [0, 1]")
    if not np.all(np.isfinite(floor) & (floor > 0)):
        raise ValueError(f"floor must be > 0, got {floor!r}")
    return (new - base) / np.maximum(base, floor)


def cev(d_fpr: np.ndarray, d_fnr: np.ndarray) -> float:
    """Combined Error Variance: the spread of the classes' (dFPR, dFNR) points around their mean.

    CEV = 1/C sum_c [ (dFPR_c - mean dFPR)^2 + (dFNR_c - mean dFNR)^2 ]
        = Var(dFPR) + Var(dFNR)   (population variances, ddof = 0)

    Each class is a point (dFPR_c, dFNR_c) of normalised rate changes (``rate_change``). If
    compression changed every class's errors by the same relative amount, all points coincide and
    CEV = 0, however large the change: CEV measures how *unevenly* the classes were affected, not
    how much. Blakeney et al. (2021), "Simon Says".

    Units: d_fpr and d_fnr are fractions (``rate_change``: +1 is +100%); CEV is in their square
    (x 10^4 to compare with a CEV computed on percentages).

    Args:
        d_fpr, d_fnr: float arrays of one shape (C,), C >= 1.

    Returns:
        CEV >= 0 as a Python float.

    Raises:
        ValueError: on a shape mismatch or an empty or non-1-D input.
    """
    d_fpr = np.asarray(d_fpr, dtype=np.float64)
    d_fnr = np.asarray(d_fnr, dtype=np.float64)
    if d_fpr.ndim != 1 or d_fpr.shape != d_fnr.shape or d_fpr.size == 0:
        raise ValueError(f"d_fpr and d_fnr must be non-empty 1-D arrays of one shape, got {d_fpr.shape}, {d_fnr.shape}")
    return float(np.mean((d_fpr - d_fpr.mean()) ** 2 + (d_fnr - d_fnr.mean()) ** 2))


def sde(d_fpr: np.ndarray, d_fnr: np.ndarray) -> float:
    """Symmetric Distance Error: the mean Euclidean distance of the classes from the line dFPR = dFNR.

    SDE = 1/C sum_c | dFNR_c - dFPR_c | / sqrt(2)

    Each class is a point (dFPR_c, dFNR_c); its distance to the diagonal y = x is
    |dFNR_c - dFPR_c| / sqrt(2) (the distance from (x, y) to its projection ((x+y)/2, (x+y)/2)).
    A class whose false negatives grow faster than its false positives (dFNR > dFPR) is being
    "forgotten" by the compressed model — it is predicted less — and one with dFPR > dFNR is being
    over-predicted. SDE is 0 when every class's two rates changed by the same relative amount
    (the points lie on the diagonal) and is unchanged by a common shift of both coordinates.
    Blakeney, dissertation ch. III, eq. III.5-III.6; Blakeney et al. (2021), "Simon Says".

    Units: d_fpr and d_fnr are fractions (``rate_change``: +1 is +100%) and SDE comes back in the
    same unit; multiply by 100 to compare with the dissertation's percentages (CEV, a squared
    distance, would be multiplied by 10^4).

    Args:
        d_fpr, d_fnr: float arrays of one shape (C,), C >= 1.

    Returns:
        SDE >= 0 as a Python float.

    Raises:
        ValueError: on a shape mismatch or an empty or non-1-D input.
    """
    d_fpr = np.asarray(d_fpr, dtype=np.float64)
    d_fnr = np.asarray(d_fnr, dtype=np.float64)
    if d_fpr.ndim != 1 or d_fpr.shape != d_fnr.shape or d_fpr.size == 0:
        raise ValueError(f"d_fpr and d_fnr must be non-empty 1-D arrays of one shape, got {d_fpr.shape}, {d_fnr.shape}")
    return float(np.mean(np.abs(d_fnr - d_fpr)) / np.sqrt(2.0))


def svcca(A: np.ndarray, B: np.ndarray, variance: float = 0.99, k: int | None = None) -> float:
    """SVCCA similarity of two layers' activations on the same datapoints (Raghu et al. 2017).

    A: (n_A neurons, N datapoints), B: (n_B, N); the same N inputs in the same order.

    1. Centre: subtract each neuron's mean over the datapoints.
    2. SV step: thin SVD A = U S V^T; keep the top k_A directions, the smallest k_A with
       sum_{i<=k_A} S_i^2 >= variance * sum_i S_i^2 (or k_A = k when k is given). The reduced
       activations are A' = U_k^T A = S_k V_k^T, (k_A, N): the subspace that carries the signal.
       Same for B.
    3. CCA: the canonical correlations rho_1 >= ... >= rho_r, r = min(k_A, k_B), of A' and B' are
       the cosines of the principal angles between their row spaces in R^N, i.e. the singular
       values of Q_A^T Q_B for orthonormal bases Q_A (N, k_A), Q_B (N, k_B) of those row spaces
       (here Q_A = V_{A,k}). Equivalently the rho^2 are the eigenvalues of
       S_AA^-1 S_AB S_BB^-1 S_BA for the covariances S of A' and B'.
    4. SVCCA = mean(rho_1 .. rho_r), in [0, 1].

    It is invariant to any invertible linear map of the kept subspace (A -> M A gives 1 against A
    when all directions are kept), which is why it can compare layers of different widths, or a
    pruned network's layer with the dense one's.

    Args:
        A, B: activation arrays (n_A, N) and (n_B, N), finite, each neuron matrix with non-zero
            variance after centring.
        variance: the fraction of variance the SV step keeps, in (0, 1]; ignored when k is given.
        k: the number of directions to keep in both (1 <= k <= the rank of each centred matrix),
            or None.

    Returns:
        the mean canonical correlation, a Python float in [0, 1].

    Raises:
        ValueError: on mismatched datapoints, non-2-D or non-finite input, an activation matrix
            with no variance, variance outside (0, 1], or k out of range.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1] or A.shape[1] < 2:
        raise ValueError(f"A and B must be (neurons, datapoints) with the same N >= 2 datapoints, got {A.shape}, {B.shape}")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ValueError("activations must be finite")
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance must lie in (0, 1], got {variance!r}")
    bases = []
    for X in (A, B):
        X = X - X.mean(axis=1, keepdims=True)  # (n, N) centred per neuron
        _, S, Vt = np.linalg.svd(X, full_matrices=False)  # S (r,), Vt (r, N)
        energy = S**2
        if energy.sum() <= 0:
            raise ValueError("an activation matrix has no variance after centring")
        if k is None:
            cum = np.cumsum(energy) / energy.sum()
            keep = int(np.searchsorted(cum, variance - 1e-12) + 1)  # smallest k with cum >= variance
            keep = min(keep, int(np.sum(S > S[0] * 1e-10)))
        else:
            keep = k
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= np.sum(S > S[0] * 1e-10):
                raise ValueError(f"k must be an integer between 1 and the rank of the centred activations, got {k!r}")
        bases.append(Vt[:keep].T)  # (N, keep) orthonormal basis of the kept subspace
    rho = np.linalg.svd(bases[0].T @ bases[1], compute_uv=False)  # (min(kA, kB),) canonical correlations
    return float(np.mean(np.clip(rho, 0.0, 1.0)))
