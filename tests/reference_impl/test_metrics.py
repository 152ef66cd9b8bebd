"""Tests of the NumPy compression-analysis metrics (Lab 3) against oracles from elsewhere.

Oracles: confusion counts by a plain Python loop; CEV as the mean squared Euclidean distance of
the classes' points from their centroid (the formulation of Blakeney et al.'s published code) and
as np.var; SDE by a loop; canonical correlations by the classical covariance formulation
(eigenvalues of S_AA^-1 S_AB S_BB^-1 S_BA, numpy.linalg.eig) on the SV-reduced activations, and
closed forms (identical or linearly transformed activations give 1, activations in orthogonal
subspaces give 0, a known single correlation). No expected value was produced by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracle_strategies import SETTINGS
from reference_impl.metrics import cev, per_class_fpr_fnr, rate_change, sde, svcca


@st.composite
def predictions(draw):
    C = draw(st.integers(1, 6))
    N = draw(st.integers(1, 30))
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    p = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    return y, p, C


@SETTINGS
@given(ypc=predictions())
def test_fpr_fnr_match_counting_loop(ypc):
    """FPR_c = FP / (FP + TN) and FNR_c = FN / (FN + TP) by counting in a loop; 0 where a denominator is 0."""
    y, p, C = ypc
    fpr, fnr = per_class_fpr_fnr(y, p, C)
    for c in range(C):
        fp = sum(1 for a, b in zip(y, p) if a != c and b == c)
        tn = sum(1 for a, b in zip(y, p) if a != c and b != c)
        fn = sum(1 for a, b in zip(y, p) if a == c and b != c)
        tp = sum(1 for a, b in zip(y, p) if a == c and b == c)
        assert fpr[c] == pytest.approx(fp / (fp + tn) if fp + tn else 0.0, abs=1e-15)
        assert fnr[c] == pytest.approx(fn / (fn + tp) if fn + tp else 0.0, abs=1e-15)


def test_fpr_fnr_by_hand():
    y = np.array([0, 0, 1, 2])
    p = np.array([0, 1, 1, 1])
    fpr, fnr = per_class_fpr_fnr(y, p, 4)
    np.testing.assert_allclose(fpr, [0.0, 2 / 3, 0.0, 0.0])  # class 1 predicted for 2 of the 3 non-1s
    np.testing.assert_allclose(fnr, [0.5, 0.0, 1.0, 0.0])  # class 3 never occurs: defined 0
    for args in [(y, p[:3], 4), (y, p, 2), (y.astype(float), p, 4), (y[:0], p[:0], 4)]:
        with pytest.raises(ValueError):
            per_class_fpr_fnr(*args)


rates = st.floats(0.0, 1.0, allow_subnormal=False)


@SETTINGS
@given(data=st.data(), C=st.integers(1, 6))
def test_rate_change_matches_loop(data, C):
    """rate_change should be (new - base) / max(base, floor) per class."""
    base = data.draw(hnp.arrays(np.float64, (C,), elements=rates))
    new = data.draw(hnp.arrays(np.float64, (C,), elements=rates))
    floor = data.draw(st.floats(1e-3, 1.0))
    expected = [(n - b) / max(b, floor) for b, n in zip(base, new)]
    np.testing.assert_allclose(rate_change(base, new, floor), expected, rtol=1e-13)


def test_rate_change_zero_baseline():
    """0 -> one mistake in 36 with floor 1/36 counts +1 (+100%); 0 -> 0 is no change; the floor must be > 0."""
    np.testing.assert_allclose(rate_change(np.array([0.0, 0.0, 0.1]), np.array([1 / 36, 0.0, 0.2]), 1 / 36),
                               [1.0, 0.0, 1.0])
    np.testing.assert_allclose(rate_change(np.zeros(2), np.full(2, 0.5), np.array([0.5, 0.25])), [1.0, 2.0])
    with pytest.raises(ValueError):
        rate_change(np.zeros(2), np.zeros(2), 0.0)
    with pytest.raises(ValueError):
        rate_change(np.zeros(2), np.full(2, 1.5), 0.1)


deltas = st.integers(1, 8).flatmap(lambda C: st.tuples(
    hnp.arrays(np.float64, (C,), elements=st.floats(-5, 5)), hnp.arrays(np.float64, (C,), elements=st.floats(-5, 5))))


@SETTINGS
@given(d=deltas)
def test_cev_is_mean_squared_distance_to_centroid(d):
    """CEV = mean_c ||(dFPR_c, dFNR_c) - centroid||^2 (Blakeney et al.'s code) = var(dFPR) + var(dFNR)."""
    dfpr, dfnr = d
    cx, cy = sum(dfpr) / len(dfpr), sum(dfnr) / len(dfnr)
    loop = sum(math.hypot(a - cx, b - cy) ** 2 for a, b in zip(dfpr, dfnr)) / len(dfpr)
    assert cev(dfpr, dfnr) == pytest.approx(loop, rel=1e-9, abs=1e-12)
    assert cev(dfpr, dfnr) == pytest.approx(np.var(dfpr) + np.var(dfnr), rel=1e-9, abs=1e-12)


@SETTINGS
@given(d=deltas)
def test_sde_is_mean_distance_to_the_diagonal(d):
    """SDE (Blakeney eq. III.5-III.6) = mean_c of the Euclidean distance from (dFPR_c, dFNR_c) to the line y = x.

    Oracle: the point-to-line distance |a x0 + b y0 + c| / sqrt(a^2 + b^2) for the line x - y = 0, and
    the distance to the orthogonal projection onto the unit direction (1, 1) / sqrt(2) by numpy.linalg.norm.
    """
    dfpr, dfnr = d
    line = sum(abs(1.0 * x - 1.0 * y + 0.0) / math.hypot(1.0, -1.0) for x, y in zip(dfpr, dfnr)) / len(dfpr)
    u = np.array([1.0, 1.0]) / np.linalg.norm([1.0, 1.0])
    P = np.stack([dfpr, dfnr], axis=1)  # (C, 2)
    proj = np.linalg.norm(P - np.outer(P @ u, u), axis=1).mean()
    assert sde(dfpr, dfnr) == pytest.approx(line, rel=1e-12, abs=1e-14)
    assert sde(dfpr, dfnr) == pytest.approx(proj, rel=1e-9, abs=1e-12)


def test_cev_sde_by_hand():
    """Uniform change: CEV 0; points on the diagonal: SDE 0; two classes (1, 0) and (-1, 0): CEV 1, SDE 1/sqrt 2."""
    assert cev(np.full(4, 0.3), np.full(4, -0.2)) == 0.0
    assert sde(np.array([0.1, 2.0]), np.array([0.1, 2.0])) == 0.0
    assert cev(np.array([1.0, -1.0]), np.zeros(2)) == pytest.approx(1.0)
    assert sde(np.array([1.0, -1.0]), np.zeros(2)) == pytest.approx(math.sqrt(0.5))
    # a class at (+10%, +30%) in fractions is 0.2 / sqrt 2 = 0.1414 off the diagonal; in percent 14.14
    assert sde(np.array([0.1]), np.array([0.3])) == pytest.approx(0.2 / math.sqrt(2))
    assert sde(np.array([10.0]), np.array([30.0])) == pytest.approx(100 * sde(np.array([0.1]), np.array([0.3])))
    for f in (cev, sde):
        with pytest.raises(ValueError):
            f(np.zeros(2), np.zeros(3))


# ---------------------------------------------------------------------------------------------
# svcca
# ---------------------------------------------------------------------------------------------


def reduce_by_variance(X: np.ndarray, variance: float | None, k: int | None) -> np.ndarray:
    """Centre, then project onto the top directions by numpy.linalg.eigh of the neuron covariance (not the SVD)."""
    Xc = X - X.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(Xc @ Xc.T)  # ascending
    evals, evecs = evals[::-1], evecs[:, ::-1]
    if k is None:
        cum = np.cumsum(evals) / evals.sum()
        k = next(i + 1 for i, c in enumerate(cum) if c >= variance - 1e-12)
    return evecs[:, :k].T @ Xc  # (k, N)


def cca_classical(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Canonical correlations as sqrt of the eigenvalues of S_AA^-1 S_AB S_BB^-1 S_BA (Hotelling 1936)."""
    Saa, Sbb, Sab = A @ A.T, B @ B.T, A @ B.T
    M = np.linalg.solve(Saa, Sab) @ np.linalg.solve(Sbb, Sab.T)
    ev = np.sort(np.linalg.eigvals(M).real)[::-1][: min(A.shape[0], B.shape[0])]
    return np.sqrt(np.clip(ev, 0, 1))


@st.composite
def well_conditioned(draw, max_neurons: int = 5):
    """(A, B): (nA, N), (nB, N) Gaussian activations with N well above the widths (full rank, no near-ties)."""
    seed = draw(st.integers(0, 2**20))
    rng = np.random.default_rng(seed)
    nA, nB = draw(st.integers(1, max_neurons)), draw(st.integers(1, max_neurons))
    N = draw(st.integers(3 * max_neurons, 40))
    shared = rng.normal(size=(2, N))
    A = rng.normal(size=(nA, 2)) @ shared + 0.7 * rng.normal(size=(nA, N))
    B = rng.normal(size=(nB, 2)) @ shared + 0.7 * rng.normal(size=(nB, N))
    return A, B


@SETTINGS
@given(AB=well_conditioned())
def test_svcca_matches_classical_cca_with_all_directions(AB):
    """With every direction kept (k = width), SVCCA is the mean canonical correlation of the raw centred activations."""
    A, B = AB
    expected = cca_classical(A - A.mean(1, keepdims=True), B - B.mean(1, keepdims=True)).mean()
    assert svcca(A, B, variance=1.0) == pytest.approx(expected, rel=1e-7, abs=1e-9)


@SETTINGS
@given(AB=well_conditioned(), variance=st.sampled_from([0.5, 0.8, 0.9, 0.99]))
def test_svcca_matches_eigh_reduction_and_classical_cca(AB, variance):
    """SV step by eigh of the covariance + classical CCA should give svcca(A, B, variance)."""
    A, B = AB
    for X in (A, B):  # skip draws whose cumulative variance sits on the threshold (k is then ill-defined)
        ev = np.linalg.svd(X - X.mean(1, keepdims=True), compute_uv=False) ** 2
        assume(np.min(np.abs(np.cumsum(ev) / ev.sum() - variance)) > 1e-6)
    expected = cca_classical(reduce_by_variance(A, variance, None), reduce_by_variance(B, variance, None)).mean()
    assert svcca(A, B, variance=variance) == pytest.approx(expected, rel=1e-7, abs=1e-9)


@SETTINGS
@given(AB=well_conditioned(), seed=st.integers(0, 2**16))
def test_svcca_invariant_to_invertible_linear_maps(AB, seed):
    """svcca(A, M A) = 1 for an invertible M when all directions are kept, and svcca(A, A) = 1 at any variance."""
    A, _ = AB
    M = np.random.default_rng(seed).normal(size=(A.shape[0], A.shape[0])) + 3 * np.eye(A.shape[0])
    assert svcca(A, M @ A, k=A.shape[0]) == pytest.approx(1.0, abs=1e-9)
    assert svcca(A, A) == pytest.approx(1.0, abs=1e-9)
    assert svcca(A, A + 5.0) == pytest.approx(1.0, abs=1e-9)  # centring removes per-neuron offsets


def test_svcca_closed_forms():
    """Orthogonal signals: 0. One neuron each, x and x*cos + y*sin with orthonormal centred x, y: rho = |cos|."""
    N = 16
    t = np.arange(N)
    x = np.cos(2 * np.pi * t / N)  # centred, orthogonal to y
    y = np.sin(2 * np.pi * t / N)
    z = np.cos(4 * np.pi * t / N)
    assert svcca(x[None], y[None], k=1) == pytest.approx(0.0, abs=1e-12)
    assert svcca(np.stack([x, y]), z[None]) == pytest.approx(0.0, abs=1e-12)
    angle = 0.3
    assert svcca(x[None], (x * math.cos(angle) + y * math.sin(angle))[None], k=1) == pytest.approx(math.cos(angle))
    for bad in [dict(variance=0.0), dict(variance=1.5), dict(k=3), dict(k=0)]:
        with pytest.raises(ValueError):
            svcca(np.stack([x, y]), np.stack([x, y]), **bad)
    with pytest.raises(ValueError):
        svcca(np.ones((2, N)), x[None])
    with pytest.raises(ValueError):
        svcca(x[None], x[None, :8])
