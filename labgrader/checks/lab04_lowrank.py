"""Lab 4 checks: truncated SVD, low-rank factors, energy rank, parameter counts, break-even rank,
factorised convolutions, data-aware factorisation and Tucker-2.

Each check's docstring (first paragraph) is the property the student reads when it fails. The
topic's invariants are public (they need no reference: the Eckart-Young errors are computed here
from ``numpy.linalg.svd``); the agreement checks compare with the hidden reference.

Singular vectors are unique only up to sign (and only for distinct singular values), and the
reference fixes the sign: the entry of largest magnitude of each u_i is positive, the first one on a
tie. That convention is checked exactly as documented, on the student's own U_r (and on the
columns of W1, K2 and U_out / U_in, which follow it): the first entry of largest magnitude must be
positive. The only latitude is a floating-point near-tie: entries whose magnitudes differ by
rounding alone (within TIE, not bitwise equal) are equal in exact arithmetic, and which one an
implementation sees as larger depends on how it rounded, so any of them may be the positive one.
Agreement with the reference compares the singular vectors with their signs wherever the
reference's largest entry is clear of the others (by more than SIGN_MARGIN), and up to sign only
where it is not (there the sign is decided by rounding) or where a singular value is repeated.

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab04_lowrank.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies  # the shared helpers (S is a spectrum here)
from ..assertions import as_array, as_int, as_tuple, assert_close, fmt, raises_value_error, require, require_value_error
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
EXERCISES = registry.exercises("reference_impl.lowrank", [
    "truncated_svd", "low_rank_factors", "rank_for_energy", "factorised_params", "break_even_rank",
    "conv_lowrank_factors", "data_aware_low_rank", "tucker2_hosvd"
])

MAX_SIDE = 4  # a 4 x 4 matrix is 16 numbers: a counterexample a student can follow
GAP = 1e-6  # relative gap between singular values for a factor to be unique enough to compare
TIE = 1e-9  # entries within this of a column's largest magnitude (not bitwise equal) are a floating-point near-tie
SIGN_MARGIN = 1e-6  # a reference vector's largest |entry| this far above the next fixes the sign another implementation picks


# --- strategies ----------------------------------------------------------------------------------
def _elements(bound: float = 10.0):
    """Small integers first (readable counterexamples), then any float in [-bound, bound]."""
    return st.one_of(
        st.integers(-5, 5).map(float),
        st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64),
    )


@st.composite
def matrices(draw, *, max_side: int = MAX_SIDE, min_side: int = 1) -> np.ndarray:
    """An (m, n) matrix; on some draws its entries snap to a few values (+-), so that singular vectors have
    entries tied in magnitude — the case the sign convention's tie rule (the first such entry) is about."""
    m = draw(strategies.sizes(min_side, max_side, large=2 * max_side))  # sometimes tall: up to 8 x 4
    n = draw(st.integers(min_side, max_side))
    W = draw(hnp.arrays(np.float64, (m, n), elements=_elements()))
    if draw(st.booleans()):
        W = strategies.tied(np.abs(W), draw) * np.where(draw(hnp.arrays(np.bool_, (m, n))), -1.0, 1.0)
    return W


@st.composite
def matrix_and_rank(draw, *, max_side: int = MAX_SIDE):
    W = draw(matrices(max_side=max_side))
    return W, draw(st.integers(1, min(W.shape)))


def _spectrum(A: np.ndarray) -> np.ndarray:
    return np.linalg.svd(A, compute_uv=False)


def _separated(S: np.ndarray, rank: int) -> bool:
    """sigma_1 > ... > sigma_r > sigma_{r+1} with relative gaps: the leading r triplets are unique up to sign."""
    top = S[: rank + 1]
    return bool(np.all(-np.diff(top) > GAP * max(1.0, float(S[0]))))


def _unique_case(case) -> bool:
    W, rank = case
    return _separated(_spectrum(W), rank)


@st.composite
def energies(draw):
    """An energy share in (0, 1]: round shares the hand examples hit exactly, and any float."""
    return draw(st.one_of(st.sampled_from([0.5, 0.9, 0.99, 1.0]),
                          st.floats(0.0, 1.0, exclude_min=True, allow_subnormal=False)))


@st.composite
def spectra(draw, *, zeros: bool = True) -> np.ndarray:
    """A valid spectrum: 1-D, non-negative, sorted descending, not all zero (trailing zeros allowed)."""
    p = draw(strategies.sizes(1, 6))  # sometimes up to S.LARGE_SIZE singular values
    low = 1e-3 if zeros else 0.1
    # no value so small that its square underflows (it would count as non-zero but carry no energy)
    S = draw(hnp.arrays(np.float64, (p,), elements=st.one_of(
        st.integers(0 if zeros else 1, 5).map(float), st.floats(low, 10.0))))
    S = np.sort(S)[::-1].copy()
    if S[0] == 0:
        S[0] = 1.0
    return S


def _shares(S: np.ndarray) -> list[float]:
    total = math.fsum(float(s) ** 2 for s in S)
    return [math.fsum(float(s) ** 2 for s in S[:r]) / total for r in range(1, len(S) + 1)]


def _clear_of_ties(S: np.ndarray, energy: float) -> bool:
    """No share lies within rounding of the energy (there the summation order decides), except exact 1."""
    return all(abs(share - energy) > 1e-9 or share == energy == 1.0 for share in _shares(S))


def _energy_rank(S: np.ndarray, energy: float) -> int:
    """The smallest r whose share reaches the energy, by exact sums (math.fsum)."""
    for r, share in enumerate(_shares(S), start=1):
        if share >= energy:
            return r
    return len(S)


SIZES = st.integers(1, 40)


@st.composite
def layer_and_rank(draw):
    m, n = draw(SIZES), draw(SIZES)
    return m, n, draw(st.integers(1, min(m, n)))


@st.composite
def kernels(draw, *, max_channels: int = 3) -> np.ndarray:
    """A conv kernel (c_out, c_in, k, k) with k in {1, 2, 3}: small enough to read."""
    c_out = draw(st.integers(1, max_channels))
    c_in = draw(st.integers(1, max_channels))
    k = draw(st.sampled_from([1, 2, 3]))
    return draw(hnp.arrays(np.float64, (c_out, c_in, k, k), elements=_elements()))


@st.composite
def kernel_and_rank(draw):
    K = draw(kernels())
    c_out, c_in, k, _ = K.shape
    return K, draw(st.integers(1, min(c_out, c_in * k * k)))


@st.composite
def kernel_and_ranks(draw):
    K = draw(kernels())
    c_out, c_in, k, _ = K.shape
    return K, draw(st.integers(1, min(c_out, c_in * k * k))), draw(st.integers(1, min(c_in, c_out * k * k)))


@st.composite
def calibration_problems(draw):
    """(X, W, rank): X (N, m) with N >= rank, W (m, n)."""
    m = draw(st.integers(1, 3))
    n = draw(st.integers(1, 3))
    rank = draw(st.integers(1, min(m, n)))
    N = draw(strategies.sizes(rank, 4, large=16))  # sometimes many calibration rows
    X = draw(hnp.arrays(np.float64, (N, m), elements=_elements()))
    W = draw(hnp.arrays(np.float64, (m, n), elements=_elements()))
    return X, W, rank


# --- helpers --------------------------------------------------------------------------------------


def _svd_parts(student, W, rank):
    U, S, Vt = as_tuple(student(W, rank), 3, "truncated_svd(W, rank)")
    m, n = W.shape
    U = as_array(U, "U_r", shape=(m, rank))
    S = as_array(S, "S_r", shape=(rank,))
    Vt = as_array(Vt, "Vt_r", shape=(rank, n))
    return U, S, Vt


def _factors(student, args, shapes, what):
    A, B = as_tuple(student(*args), 2, what)
    return as_array(A, f"the first factor of {what}", shape=shapes[0]), as_array(B, f"the second factor of {what}",
                                                                                    shape=shapes[1])


def _best_error(S: np.ndarray, rank: int) -> float:
    """sqrt(sum of the squared singular values dropped by a rank-r truncation)."""
    return math.sqrt(math.fsum(float(s) ** 2 for s in S[rank:]))


def _truncation(W: np.ndarray, rank: int) -> np.ndarray:
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return (U[:, :rank] * S[:rank]) @ Vt[:rank]


def _sign_decided(u: np.ndarray) -> bool:
    """True when the largest |entry| of u is clear of the others by SIGN_MARGIN: then every correct
    implementation's u (equal to this one to rounding) has the same largest entry, and its sign is fixed."""
    a = np.sort(np.abs(np.asarray(u, dtype=np.float64)))[::-1]
    return a.size == 1 or bool(a[0] - a[1] > SIGN_MARGIN * max(1.0, float(a[0])))


def _same_signed(got: np.ndarray, expected: np.ndarray, what: str, axis: int, decided=None) -> None:
    """Columns (axis=1) or rows (axis=0) of got equal those of expected: with their signs where ``decided[i]``
    (the sign convention fixes vector i), else up to a sign (a near-tie decides it, or none is documented)."""
    got_v = np.moveaxis(got, axis, 0)
    exp_v = np.moveaxis(expected, axis, 0)
    for i, (g, e) in enumerate(zip(got_v, exp_v)):
        if decided is not None and decided[i]:
            assert_close(g, e, f"{what} (vector {i}, with the sign the convention fixes: the largest-magnitude "
                               f"entry of u_{i} positive)", atol=1e-8)
        else:
            sign = 1.0 if float(np.dot(g, e)) >= 0 else -1.0
            assert_close(sign * g, e, f"{what} (vector {i}, compared up to its sign)", atol=1e-8)


def _convention_violation(col: np.ndarray) -> str | None:
    """Why the column breaks the sign convention (its first entry of largest magnitude is positive), or None.

    Exact: among entries of bitwise-equal largest magnitude the first must be positive. A near-tie
    (another entry within TIE of the largest but not equal to it) differs by rounding only, so any of
    the near-tied entries may be the positive one. A zero column has no sign to fix."""
    if not np.all(np.isfinite(col)):
        return "it has NaN or infinite entries"
    a = np.abs(col)
    top = float(a.max())
    if top == 0.0:
        return None
    near = np.flatnonzero(a >= top - TIE * max(1.0, top))
    exact = np.flatnonzero(a == top)
    if near.size == exact.size:
        i = int(exact[0])
        if col[i] > 0:
            return None
        if exact.size > 1:
            return f"entries {fmt(exact)} tie for the largest magnitude {top!r}; the first of them, entry {i}, should be positive"
        return f"its largest-magnitude entry, entry {i}, should be positive"
    if np.any(col[near] > 0):
        return None
    return f"entries {fmt(near)} (equal to rounding) have the largest magnitude; one of them should be positive"


def _require_convention(U: np.ndarray, what: str, negligible: float = 0.0) -> None:
    """Every column of U follows the sign convention; columns no larger than ``negligible`` are skipped (sigma_i u_i
    for a sigma_i that is 0 to rounding: W @ v_i is then rounding noise whose sign no convention can fix)."""
    for j in range(U.shape[1]):
        if float(np.abs(U[:, j]).max()) <= negligible:  # NaN compares False: a NaN column is not skipped
            continue
        why = _convention_violation(U[:, j])
        require(why is None, f"column {j} of {what} is {fmt(U[:, j])}: {why}")


def _conv_same(x: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Cross-correlation as torch.nn.Conv2d computes it, stride 1, zero padding (k - 1) // 2 on the top/left
    and k // 2 on the bottom/right (\"same\" size for any k), written as loops: x (c_in, H, W) -> (c_out, H, W)."""
    c_out, c_in, k, _ = K.shape
    _, H, Wd = x.shape
    lo, hi = (k - 1) // 2, k // 2
    xp = np.zeros((c_in, H + lo + hi, Wd + lo + hi))
    xp[:, lo:lo + H, lo:lo + Wd] = x
    out = np.zeros((c_out, H, Wd))
    for a in range(k):
        for b in range(k):
            out += np.einsum("oi,ihw->ohw", K[:, :, a, b], xp[:, a:a + H, b:b + Wd])
    return out


# --- truncated_svd ---------------------------------------------------------------------------------
@check("truncated_svd", public=True, case=matrix_and_rank())
def eckart_young_errors(student, ref, case):
    """U_r diag(S_r) Vt_r should be a best rank-r approximation: Frobenius error sqrt(sum of the dropped sigma_i^2), spectral error sigma_{r+1} (Eckart-Young)."""
    W, rank = case
    U, S, Vt = _svd_parts(student, W, rank)
    sigma = _spectrum(W)
    assert_close(S, sigma[:rank], "S_r compared with numpy.linalg.svd's leading singular values")
    residual = W - (U * S) @ Vt
    scale = 1e-9 * max(1.0, float(sigma[0]))
    assert_close(np.linalg.norm(residual, "fro"), _best_error(sigma, rank),
                 "||W - U_r diag(S_r) Vt_r||_F (should be sqrt of the dropped sigma^2)", atol=scale)
    spectral = float(sigma[rank]) if rank < len(sigma) else 0.0
    assert_close(np.linalg.norm(residual, 2), spectral, "||W - U_r diag(S_r) Vt_r||_2 (should be sigma_{r+1})",
                 atol=scale)


@check("truncated_svd", public=True, case=matrix_and_rank())
def orthonormal_and_sorted(student, ref, case):
    """U_r should have orthonormal columns, Vt_r orthonormal rows, and S_r should be non-negative and sorted descending."""
    W, rank = case
    U, S, Vt = _svd_parts(student, W, rank)
    assert_close(U.T @ U, np.eye(rank), "U_r^T U_r (should be the identity)", atol=1e-9)
    assert_close(Vt @ Vt.T, np.eye(rank), "Vt_r Vt_r^T (should be the identity)", atol=1e-9)
    require(bool(np.all(S >= 0) and np.all(np.diff(S) <= 0)), f"S_r = {fmt(S)} should be >= 0 and sorted descending")


# Matrices whose singular vectors have entries of bitwise-equal magnitude and opposite signs (as
# numpy.linalg.svd computes them): where the tie rule "the first such entry is positive" decides. A random
# matrix almost never has one (3 in 300 draws of matrix_and_rank).
_EXACT_TIES = [
    ([[3.0, 1.0], [-3.0, 1.0]], 2), ([[1.0], [-1.0], [1.0]], 1), ([[0.0, 1.0], [0.0, -1.0]], 1),
    ([[-1.0, 1.0], [1.0, -1.0], [1.0, -1.0]], 1), ([[1.0, -1.0], [1.0, 1.0], [-1.0, 0.0]], 2),
    ([[0.0, -1.0, -1.0], [0.0, 1.0, 1.0]], 1), ([[3.0, -1.0, 1.0], [1.0, -1.0, 3.0]], 2),
]
SIGN_CASES = st.one_of(st.sampled_from(_EXACT_TIES).map(lambda t: (np.array(t[0]), t[1])), matrix_and_rank())


@check("truncated_svd", public=True, case=SIGN_CASES)
def sign_convention(student, ref, case):
    """The entry of largest magnitude in each column of U_r should be positive, the first one on a tie (flip u_i and v_i together), and the product must not change."""
    W, rank = case
    U, S, Vt = _svd_parts(student, W, rank)
    _require_convention(U, "U_r")
    sigma = _spectrum(W)
    if _separated(sigma, rank):  # the truncation is unique: the signs must not have changed it
        assert_close((U * S) @ Vt, _truncation(W, rank), "U_r diag(S_r) Vt_r (the rank-r truncation)", atol=1e-8)


@check("truncated_svd", public=True, rank=st.sampled_from([1, 2]))
def lecture_example(student, ref, rank):
    """For the lecture's A = [[3, 2], [2, 3], [1, 0]] the singular values are sqrt((27 +- sqrt(577)) / 2) = 5.0508, 1.2205 (not the slide's 5.24, 1.31)."""
    A = np.array([[3.0, 2.0], [2.0, 3.0], [1.0, 0.0]])
    _, S, _ = _svd_parts(student, A, rank)
    exact = np.array([math.sqrt((27 + math.sqrt(577)) / 2), math.sqrt((27 - math.sqrt(577)) / 2)])
    assert_close(S, exact[:rank], f"truncated_svd(A, {rank})[1]")


@check("truncated_svd", public=True, W=matrices(), bad=st.sampled_from(["zero", "too big", "float", "bool"]))
def rejects_bad_rank(student, ref, W, bad):
    """truncated_svd should raise ValueError for a rank that is not an integer in [1, min(m, n)] (0, min(m, n) + 1, 1.0, True)."""
    rank = {"zero": 0, "too big": min(W.shape) + 1, "float": 1.0, "bool": True}[bad]
    raises_value_error(student, f"truncated_svd(W, rank={rank!r})", W, rank)


# --- low_rank_factors ------------------------------------------------------------------------------
@check("low_rank_factors", public=True, case=matrix_and_rank())
def product_is_best_rank_r(student, ref, case):
    """W1 @ W2 should be a best rank-r approximation of W: ||W - W1 W2||_F = sqrt(sum of the dropped sigma_i^2)."""
    W, rank = case
    m, n = W.shape
    W1, W2 = _factors(student, (W, rank), ((m, rank), (rank, n)), "low_rank_factors(W, rank)")
    sigma = _spectrum(W)
    assert_close(np.linalg.norm(W - W1 @ W2, "fro"), _best_error(sigma, rank),
                 "||W - W1 @ W2||_F (should be sqrt of the dropped sigma^2)", atol=1e-9 * max(1.0, float(sigma[0])))


@check("low_rank_factors", public=True, case=SIGN_CASES)
def sigma_goes_into_w1(student, ref, case):
    """W2 should have orthonormal rows (it is Vt_r) and W1 = W @ W2^T, so the column norms of W1 are the singular values; W1's columns sigma_i u_i follow truncated_svd's sign convention (the first entry of largest magnitude positive)."""
    W, rank = case
    m, n = W.shape
    W1, W2 = _factors(student, (W, rank), ((m, rank), (rank, n)), "low_rank_factors(W, rank)")
    assert_close(W2 @ W2.T, np.eye(rank), "W2 @ W2^T (should be the identity)", atol=1e-9)
    assert_close(W1, W @ W2.T, "W1 compared with W @ W2^T", atol=1e-8)
    sigma = _spectrum(W)
    assert_close(np.linalg.norm(W1, axis=0), sigma[:rank], "the column norms of W1 (should be sigma_1..sigma_r)",
                 atol=1e-8)
    _require_convention(W1, "W1", negligible=1e-9 * max(1.0, float(sigma[0])))


@check("low_rank_factors", public=True, W=matrices())
def full_rank_is_exact(student, ref, W):
    """At rank min(m, n) nothing is dropped: W1 @ W2 should equal W."""
    m, n = W.shape
    p = min(m, n)
    W1, W2 = _factors(student, (W, p), ((m, p), (p, n)), "low_rank_factors(W, min(m, n))")
    assert_close(W1 @ W2, W, "W1 @ W2 at full rank", atol=1e-8)


# --- rank_for_energy -------------------------------------------------------------------------------
def _energy_case():
    return st.tuples(spectra(), energies()).filter(lambda t: _clear_of_ties(*t))


@check("rank_for_energy", public=True, case=_energy_case())
def smallest_rank_reaching_the_share(student, ref, case):
    """The rank r returned should keep at least the energy asked for, and r - 1 should not (squares of sigma, not sigma)."""
    S, energy = case
    got = as_int(student(S, energy), f"rank_for_energy(S, {energy!r})")
    expected = _energy_rank(S, energy)
    shares = ", ".join(f"{s:.6g}" for s in _shares(S))
    require(got == expected, f"rank_for_energy(S, {energy!r})\n  expected: {expected}\n  got:      {got}\n"
                             f"  (the energy shares of ranks 1, 2, ... are {shares})")


@check("rank_for_energy", public=True, S=spectra(zeros=True))
def energy_one_keeps_every_nonzero_value(student, ref, S):
    """energy = 1 should give the number of non-zero singular values (trailing zeros carry no energy): the last share must count as exactly 1."""
    got = as_int(student(S, 1.0), "rank_for_energy(S, 1.0)")
    expected = int(np.count_nonzero(S))
    require(got == expected, f"rank_for_energy(S, 1.0)\n  expected: {expected}\n  got:      {got}")


@check("rank_for_energy", public=True, case=st.sampled_from([
    ([4.0, 3.0], 0.64, 1), ([4.0, 3.0], 0.65, 2), ([1.0, 1.0, 1.0, 1.0], 0.5, 2), ([1.0, 1.0, 1.0, 1.0], 0.75, 3),
    ([3.0, 2.0, 1.0, 1.0], 0.6, 1), ([2.0, 1.0, 1.0], 0.5, 1)]))
def exact_share_counts(student, ref, case):
    """A rank whose share equals the energy exactly reaches it (>=, not >): S = [4, 3] keeps 16/25 = 0.64 at rank 1."""
    S, energy, expected = case
    got = as_int(student(np.array(S), energy), f"rank_for_energy(np.array({S}), {energy})")
    require(got == expected, f"rank_for_energy(np.array({S}), {energy})\n  expected: {expected}\n  got:      {got}")


@check("rank_for_energy", public=True, S=spectra(zeros=False), energy=st.sampled_from([0.0, -0.5, 1.5, math.nan]))
def rejects_bad_energy(student, ref, S, energy):
    """rank_for_energy should raise ValueError for an energy outside (0, 1]."""
    raises_value_error(student, f"rank_for_energy(S, {energy!r})", S, energy)


# --- factorised_params -----------------------------------------------------------------------------
@check("factorised_params", public=True, case=layer_and_rank())
def counts_both_factors(student, ref, case):
    """factorised_params(m, n, r) should equal W1.size + W2.size for W1 of shape (m, r) and W2 of shape (r, n)."""
    m, n, r = case
    got = as_int(student(m, n, r), f"factorised_params({m}, {n}, {r})")
    expected = np.zeros((m, r)).size + np.zeros((r, n)).size
    require(got == expected, f"factorised_params({m}, {n}, {r})\n  expected: {expected} (= {m}*{r} + {r}*{n})\n"
                             f"  got:      {got}")


@check("factorised_params", public=True, n=SIZES)
def full_rank_doubles_a_square_layer(student, ref, n):
    """Without truncation a square layer gets twice as many weights: factorised_params(n, n, n) = 2 n^2 > n^2."""
    got = as_int(student(n, n, n), f"factorised_params({n}, {n}, {n})")
    require(got == 2 * n * n, f"factorised_params({n}, {n}, {n})\n  expected: {2 * n * n}\n  got:      {got}")


@check("factorised_params", public=True, m=SIZES, n=SIZES)
def rejects_rank_above_min(student, ref, m, n):
    """factorised_params should raise ValueError for r > min(m, n) or r < 1 (such a rank does not exist)."""
    raises_value_error(student, f"factorised_params({m}, {n}, {min(m, n) + 1})", m, n, min(m, n) + 1)
    raises_value_error(student, f"factorised_params({m}, {n}, 0)", m, n, 0)


# --- break_even_rank -------------------------------------------------------------------------------
@check("break_even_rank", public=True, m=SIZES, n=SIZES)
def last_rank_that_saves(student, ref, m, n):
    """r = break_even_rank(m, n) should still save weights, r (m + n) < m n, and r + 1 should not (strictly less: equal saves nothing)."""
    r = as_int(student(m, n), f"break_even_rank({m}, {n})")
    require(r >= 0, f"break_even_rank({m}, {n}) = {r} is negative")
    require(r == 0 or r * (m + n) < m * n, f"break_even_rank({m}, {n}) = {r}, but {r} * ({m} + {n}) = {r * (m + n)} "
                                            f"is not below {m} * {n} = {m * n}: that rank saves nothing")
    require((r + 1) * (m + n) >= m * n, f"break_even_rank({m}, {n}) = {r}, but rank {r + 1} still saves weights: "
                                        f"{r + 1} * ({m} + {n}) = {(r + 1) * (m + n)} < {m * n}")


@check("break_even_rank", public=True, n=st.integers(2, 60))
def square_layers_break_even_below_half(student, ref, n):
    """For a square n x n layer factorising saves only below r = n / 2: break_even_rank(n, n) = ceil(n / 2) - 1."""
    got = as_int(student(n, n), f"break_even_rank({n}, {n})")
    expected = (n + 1) // 2 - 1
    require(got == expected, f"break_even_rank({n}, {n})\n  expected: {expected}\n  got:      {got}")


# --- conv_lowrank_factors --------------------------------------------------------------------------
def _conv_factors(student, K, rank):
    c_out, c_in, k, _ = K.shape
    return _factors(student, (K, rank), ((rank, c_in, k, k), (c_out, rank, 1, 1)), "conv_lowrank_factors(K, rank)")


def _composed(K1: np.ndarray, K2: np.ndarray) -> np.ndarray:
    """The one k x k kernel of conv K1 followed by the 1 x 1 conv K2: sum_s K2[o, s] K1[s, i]."""
    return np.einsum("os,sihw->oihw", K2[:, :, 0, 0], K1)


def _unique_kernel_case(case) -> bool:
    K, rank = case
    return _separated(_spectrum(K.reshape(K.shape[0], -1)), rank)


@check("conv_lowrank_factors", public=True, case=kernel_and_rank())
def composed_kernel_is_best_rank_r(student, ref, case):
    """The composed kernel sum_s K2[o, s] K1[s] should be the best rank-r approximation of K's (c_out, c_in k^2) unfolding (Frobenius error sqrt of the dropped sigma^2), and K2's columns sigma_i u_i follow truncated_svd's sign convention (the first entry of largest magnitude positive)."""
    K, rank = case
    K1, K2 = _conv_factors(student, K, rank)
    M = K.reshape(K.shape[0], -1)
    sigma = _spectrum(M)
    err = np.linalg.norm((K - _composed(K1, K2)).ravel())
    assert_close(err, _best_error(sigma, rank), "||K - composed kernel||_F (should be sqrt of the dropped sigma^2 of "
                 "K.reshape(c_out, -1))", atol=1e-9 * max(1.0, float(sigma[0])))
    _require_convention(K2[:, :, 0, 0], "K2[:, :, 0, 0]", negligible=1e-9 * max(1.0, float(sigma[0])))


@check("conv_lowrank_factors", public=True, K=kernels(max_channels=2))
def two_convs_equal_one(student, ref, K):
    """Running the k x k conv K1 and then the 1 x 1 conv K2 on an image should give the same output as one conv with the composed kernel; at full rank, the same as K."""
    c_out, c_in, k, _ = K.shape
    p = min(c_out, c_in * k * k)
    K1, K2 = _conv_factors(student, K, p)
    x = np.random.default_rng(0).standard_normal((c_in, 4, 3))
    two_step = _conv_same(_conv_same(x, K1), K2)
    assert_close(two_step, _conv_same(x, K), "conv(conv(x, K1), K2) at full rank compared with conv(x, K)", atol=1e-8)


@check("conv_lowrank_factors", public=True, K=kernels())
def bottleneck_is_orthonormal(student, ref, K):
    """With rank 1 the single bottleneck filter K1[0] should have unit norm (it is a row of Vt) and K2 carries sigma_1."""
    K1, K2 = _conv_factors(student, K, 1)
    assert_close(np.linalg.norm(K1.ravel()), 1.0, "||K1[0]||_F")
    sigma1 = float(_spectrum(K.reshape(K.shape[0], -1))[0])
    assert_close(np.linalg.norm(K2.ravel()), sigma1, "||K2||_F (should be sigma_1 of K.reshape(c_out, -1))", atol=1e-9)


# --- data_aware_low_rank ---------------------------------------------------------------------------
def _data_aware(student, X, W, rank):
    m, n = W.shape
    return _factors(student, (X, W, rank), ((m, rank), (rank, n)), "data_aware_low_rank(X, W, rank)")


def _unique_on_data(case) -> bool:
    X, W, rank = case
    return _separated(_spectrum(X @ W), rank)


@check("data_aware_low_rank", public=True, case=calibration_problems())
def optimal_on_the_data(student, ref, case):
    """||X W - X W1 W2||_F should be the smallest any rank-r product can reach: sqrt(sum of the dropped sigma_i^2 of X W)."""
    X, W, rank = case
    W1, W2 = _data_aware(student, X, W, rank)
    Y = X @ W
    sigma = _spectrum(Y)
    assert_close(np.linalg.norm(Y - X @ W1 @ W2, "fro"), _best_error(sigma, rank),
                 "||X W - X W1 W2||_F (should be sqrt of the dropped sigma^2 of X W)",
                 atol=1e-8 * max(1.0, float(np.linalg.norm(X)) * float(np.linalg.norm(W))))


@check("data_aware_low_rank", public=True, case=calibration_problems())
def never_worse_than_plain_svd(student, ref, case):
    """On the calibration data the data-aware factors should never do worse than plain SVD truncation of W at the same rank, and W2 should have orthonormal rows with W1 = W W2^T."""
    X, W, rank = case
    W1, W2 = _data_aware(student, X, W, rank)
    assert_close(W2 @ W2.T, np.eye(rank), "W2 @ W2^T (should be the identity)", atol=1e-9)
    assert_close(W1, W @ W2.T, "W1 compared with W @ W2^T", atol=1e-8)
    Y = X @ W
    ours = float(np.linalg.norm(Y - X @ W1 @ W2, "fro"))
    plain = float(np.linalg.norm(Y - X @ _truncation(W, rank), "fro"))
    slack = 1e-8 * max(1.0, float(np.linalg.norm(X)) * float(np.linalg.norm(W)))
    require(ours <= plain + slack, f"on X the data-aware error {ours!r} is worse than plain truncation's {plain!r}")


@check("data_aware_low_rank", public=True, case=matrix_and_rank(max_side=3).filter(_unique_case))
def identity_data_is_plain_truncation(student, ref, case):
    """With X = I (every input direction equally important) the product W1 @ W2 should be the plain rank-r truncation of W."""
    W, rank = case
    W1, W2 = _data_aware(student, np.eye(W.shape[0]), W, rank)
    assert_close(W1 @ W2, _truncation(W, rank), "W1 @ W2 for X = I (should be W's rank-r truncation)", atol=1e-8)


@check("data_aware_low_rank", public=True, W=matrices(min_side=2, max_side=3))
def rejects_too_few_rows(student, ref, W):
    """data_aware_low_rank should raise ValueError when X has fewer rows than the rank (N < rank) or X and W do not chain."""
    m, n = W.shape
    rank = min(m, n)
    raises_value_error(student, f"data_aware_low_rank(X of shape ({rank - 1}, {m}), W, rank={rank})",
                        np.ones((rank - 1, m)), W, rank)
    raises_value_error(student, f"data_aware_low_rank(X of shape (4, {m + 1}), W of shape {W.shape}, 1)",
                        np.ones((4, m + 1)), W, 1)


# --- tucker2_hosvd ---------------------------------------------------------------------------------
def _tucker(student, K, r_out, r_in):
    c_out, c_in, k, _ = K.shape
    got = as_tuple(student(K, r_out, r_in), 3, "tucker2_hosvd(K, r_out, r_in)")
    core = as_array(got[0], "core", shape=(r_out, r_in, k, k))
    U_out = as_array(got[1], "U_out", shape=(c_out, r_out))
    U_in = as_array(got[2], "U_in", shape=(c_in, r_in))
    return core, U_out, U_in


def _tucker_reconstruct(core, U_out, U_in):
    return np.einsum("stab,os,it->oiab", core, U_out, U_in)


def _unfoldings(K):
    c_out, c_in = K.shape[:2]
    return K.reshape(c_out, -1), np.moveaxis(K, 1, 0).reshape(c_in, -1)


def _unique_tucker(case) -> bool:
    K, r_out, r_in = case
    K0, K1 = _unfoldings(K)
    return _separated(_spectrum(K0), r_out) and _separated(_spectrum(K1), r_in)


@check("tucker2_hosvd", public=True, case=kernel_and_ranks())
def within_the_hosvd_bound(student, ref, case):
    """||K - core x_0 U_out x_1 U_in||_F^2 should be at most the dropped sigma^2 of the mode-0 plus the mode-1 unfolding (HOSVD), with orthonormal U_out, U_in that follow truncated_svd's sign convention (the first entry of largest magnitude of each column positive)."""
    K, r_out, r_in = case
    core, U_out, U_in = _tucker(student, K, r_out, r_in)
    assert_close(U_out.T @ U_out, np.eye(r_out), "U_out^T U_out (should be the identity)", atol=1e-9)
    assert_close(U_in.T @ U_in, np.eye(r_in), "U_in^T U_in (should be the identity)", atol=1e-9)
    _require_convention(U_out, "U_out")
    _require_convention(U_in, "U_in")
    K0, K1 = _unfoldings(K)
    bound = _best_error(_spectrum(K0), r_out) ** 2 + _best_error(_spectrum(K1), r_in) ** 2
    err2 = float(np.sum((K - _tucker_reconstruct(core, U_out, U_in)) ** 2))
    require(err2 <= bound + 1e-8 * max(1.0, float(np.sum(K**2))),
            f"||K - K_hat||_F^2 = {err2!r} exceeds the HOSVD bound {bound!r}")


@check("tucker2_hosvd", public=True, case=kernel_and_ranks())
def core_is_the_projection(student, ref, case):
    """The core should be K projected on the factors: core[s, t] = sum_{o, i} U_out[o, s] U_in[i, t] K[o, i]."""
    K, r_out, r_in = case
    core, U_out, U_in = _tucker(student, K, r_out, r_in)
    expected = np.einsum("oiab,os,it->stab", K, U_out, U_in)
    assert_close(core, expected, "core compared with K x_0 U_out^T x_1 U_in^T (using your U_out, U_in)", atol=1e-8)


@check("tucker2_hosvd", public=True, K=kernels())
def full_ranks_are_exact(student, ref, K):
    """With the full ranks of the two unfoldings, core x_0 U_out x_1 U_in should reconstruct K exactly."""
    c_out, c_in, k, _ = K.shape
    r_out, r_in = min(c_out, c_in * k * k), min(c_in, c_out * k * k)
    core, U_out, U_in = _tucker(student, K, r_out, r_in)
    assert_close(_tucker_reconstruct(core, U_out, U_in), K, "the reconstruction at full ranks", atol=1e-8)


# --- documented errors (each ValueError in a docstring's Raises: section has a rejects_* check) ------------------
_A = np.array([[3.0, 2.0], [2.0, 3.0], [1.0, 0.0]])
_K = np.ones((2, 1, 3, 3))


@check("low_rank_factors", public=True, bad=st.sampled_from([
    (_A, 0), (_A, 3), (_A, 1.0), (_A, True), (np.ones(3), 1), (np.array([[1.0, np.nan]]), 1)]))
def low_rank_factors__rejects_bad_input(student, ref, bad):
    """low_rank_factors should raise ValueError, as truncated_svd does, for W not a finite 2-D array or a rank outside [1, min(m, n)]."""
    require_value_error(student, *bad)


@check("break_even_rank", public=True, bad=st.sampled_from([(0, 4), (4, -1), (2.0, 4), (True, 4)]))
def break_even_rank__rejects_bad_sizes(student, ref, bad):
    """break_even_rank should raise ValueError if m or n is not a positive integer."""
    require_value_error(student, *bad)


@check("conv_lowrank_factors", public=True, bad=st.sampled_from([
    (np.ones((2, 1, 3, 2)), 1), (np.ones((2, 9)), 1), (_K, 0), (_K, 3), (np.full((2, 1, 1, 1), np.inf), 1)]))
def conv_lowrank_factors__rejects_bad_input(student, ref, bad):
    """conv_lowrank_factors should raise ValueError for a kernel that is not finite, 4-D and square, or a rank out of range."""
    require_value_error(student, *bad)


@check("tucker2_hosvd", public=True, bad=st.sampled_from([
    (np.ones((2, 1, 3, 2)), 1, 1), (np.ones((2, 9)), 1, 1), (_K, 0, 1), (_K, 3, 1), (_K, 1, 2), (_K, 1.0, 1)]))
def tucker2_hosvd__rejects_bad_input(student, ref, bad):
    """tucker2_hosvd should raise ValueError for a kernel that is not 4-D and square, or a rank outside [1, its unfolding's rank]."""
    require_value_error(student, *bad)
