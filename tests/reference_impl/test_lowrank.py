"""Tests of the NumPy low-rank reference (Lab 4) against oracles from elsewhere.

Oracles: ``numpy.linalg.svd`` and ``numpy.linalg.norm`` (ord='fro' and ord=2) for the
Eckart-Young facts, ``numpy.linalg.qr`` for orthogonal calibration data, brute-force loops
(energy ranks, break-even ranks), counts worked out by hand in comments, parameter counts of
``torch.nn.Conv2d`` layers, and ``torch.nn.functional.conv2d`` for the factorised convolutions.
No expected value here was produced by running the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.lowrank import (
    break_even_rank,
    conv_lowrank_factors,
    conv_lowrank_macs,
    conv_lowrank_params,
    data_aware_low_rank,
    factorised_macs,
    factorised_params,
    low_rank_factors,
    rank_for_energy,
    truncated_svd,
    tucker2_hosvd,
    tucker2_params,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny convolutions


# Derandomised and without an example database, so a run is reproducible and leaves no files.
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)

RTOL = 1e-9  # float64 SVDs computed by different LAPACK paths agree to ~1e-13 relative; this leaves room
ATOL = 1e-9  # entries are bounded by ELEMENT_BOUND = 10, so errors of a few ulps of ~100 are below this

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

ELEMENT_BOUND = 10.0
MAX_SIDE = 6
elements = st.floats(-ELEMENT_BOUND, ELEMENT_BOUND, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def matrices(draw, *, max_side: int = MAX_SIDE) -> np.ndarray:
    m = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_side))
    return draw(hnp.arrays(np.float64, (m, n), elements=elements))


@st.composite
def matrix_and_rank(draw, *, max_side: int = MAX_SIDE):
    W = draw(matrices(max_side=max_side))
    rank = draw(st.integers(1, min(W.shape)))
    return W, rank


@st.composite
def calibration_problems(draw):
    """(X, W, rank) with X (N, m), W (m, n), N >= rank."""
    m = draw(st.integers(1, MAX_SIDE))
    n = draw(st.integers(1, MAX_SIDE))
    rank = draw(st.integers(1, min(m, n)))
    N = draw(st.integers(rank, MAX_SIDE + 2))
    X = draw(hnp.arrays(np.float64, (N, m), elements=elements))
    W = draw(hnp.arrays(np.float64, (m, n), elements=elements))
    return X, W, rank


@st.composite
def kernels(draw):
    c_out = draw(st.integers(1, 4))
    c_in = draw(st.integers(1, 4))
    k = draw(st.sampled_from([1, 3]))
    return draw(hnp.arrays(np.float64, (c_out, c_in, k, k), elements=elements))


def oracle_truncation(W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The best rank-r approximation and the full spectrum, straight from numpy.linalg.svd."""
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return (U[:, :rank] * S[:rank]) @ Vt[:rank], S


# ---------------------------------------------------------------------------------------------
# truncated_svd and low_rank_factors
# ---------------------------------------------------------------------------------------------


def test_lecture_worked_example():
    """A = [[3,2],[2,3],[1,0]] has singular values 5.0508 and 1.2205 (the slide's 5.24 / 1.31 is wrong).

    By hand: A^T A = [[14, 12], [12, 13]], trace 27, det 38, eigenvalues (27 +- sqrt(577)) / 2,
    so sigma = sqrt(25.5104) = 5.0508 and sqrt(1.4896) = 1.2205.
    """
    A = np.array([[3.0, 2.0], [2.0, 3.0], [1.0, 0.0]])
    U, S, Vt = truncated_svd(A, 2)
    assert U.shape == (3, 2) and S.shape == (2,) and Vt.shape == (2, 2)
    exact = [math.sqrt((27 + math.sqrt(577)) / 2), math.sqrt((27 - math.sqrt(577)) / 2)]
    np.testing.assert_allclose(S, exact, rtol=1e-12)
    np.testing.assert_allclose(np.round(S, 4), [5.0508, 1.2205], atol=0)
    # rank 1 keeps sigma_1; its spectral error is sigma_2 = 1.2205.
    U1, S1, Vt1 = truncated_svd(A, 1)
    np.testing.assert_allclose(np.linalg.norm(A - (U1 * S1) @ Vt1, ord=2), 1.2205, atol=5e-5)


@given(matrix_and_rank())
@SETTINGS
def test_truncated_svd_obeys_eckart_young(case):
    """truncated_svd(W, r) should give the leading singular values of numpy.linalg.svd, orthonormal
    factors, Frobenius error sqrt(sum of dropped sigma^2) and spectral error sigma_{r+1}."""
    W, rank = case
    m, n = W.shape
    U_r, S_r, Vt_r = truncated_svd(W, rank)
    assert U_r.shape == (m, rank) and S_r.shape == (rank,) and Vt_r.shape == (rank, n)
    S = np.linalg.svd(W, compute_uv=False)
    np.testing.assert_allclose(S_r, S[:rank], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(U_r.T @ U_r, np.eye(rank), atol=1e-10)
    np.testing.assert_allclose(Vt_r @ Vt_r.T, np.eye(rank), atol=1e-10)
    residual = W - (U_r * S_r) @ Vt_r
    dropped = math.sqrt(float(np.sum(S[rank:] ** 2)))
    np.testing.assert_allclose(np.linalg.norm(residual, ord="fro"), dropped, rtol=1e-7, atol=1e-7)
    spectral = S[rank] if rank < len(S) else 0.0
    np.testing.assert_allclose(np.linalg.norm(residual, ord=2), spectral, rtol=1e-7, atol=1e-7)


@given(matrix_and_rank())
@SETTINGS
def test_truncated_svd_sign_convention(case):
    """Each column of U_r should have its largest-magnitude entry positive, and flipping signs must not
    change the product U_r diag(S_r) Vt_r, which equals numpy's own truncation."""
    W, rank = case
    U_r, S_r, Vt_r = truncated_svd(W, rank)
    for j in range(rank):
        assert U_r[np.argmax(np.abs(U_r[:, j])), j] > 0, f"column {j} of U_r has a negative largest entry"
    expected, _ = oracle_truncation(W, rank)
    np.testing.assert_allclose((U_r * S_r) @ Vt_r, expected, rtol=RTOL, atol=ATOL)


def test_truncated_svd_sign_convention_on_a_known_matrix():
    """diag(2, 1) negated should come back with U = I (positive largest entries) and Vt = -I."""
    W = np.array([[-2.0, 0.0], [0.0, -1.0]])
    U, S, Vt = truncated_svd(W, 2)
    np.testing.assert_allclose(U, np.eye(2), atol=1e-15)
    np.testing.assert_allclose(S, [2.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(Vt, -np.eye(2), atol=1e-15)


@given(matrix_and_rank())
@SETTINGS
def test_low_rank_factors_multiply_to_the_best_rank_r_approximation(case):
    """W1 @ W2 should equal numpy's rank-r truncation, with W2 = Vt_r (orthonormal rows) and W1 = W @ W2^T."""
    W, rank = case
    W1, W2 = low_rank_factors(W, rank)
    assert W1.shape == (W.shape[0], rank) and W2.shape == (rank, W.shape[1])
    expected, _ = oracle_truncation(W, rank)
    np.testing.assert_allclose(W1 @ W2, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(W2 @ W2.T, np.eye(rank), atol=1e-10)
    np.testing.assert_allclose(W1, W @ W2.T, rtol=RTOL, atol=ATOL)


@given(matrices())
@SETTINGS
def test_full_rank_factors_reconstruct_w(W):
    """At rank min(m, n) the factorisation should be exact: W1 @ W2 == W."""
    W1, W2 = low_rank_factors(W, min(W.shape))
    np.testing.assert_allclose(W1 @ W2, W, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# rank_for_energy
# ---------------------------------------------------------------------------------------------


def brute_force_energy_rank(S: np.ndarray, energy: float) -> tuple[int, list[float]]:
    total = math.fsum(float(s) ** 2 for s in S)
    shares = [math.fsum(float(s) ** 2 for s in S[:r]) / total for r in range(1, len(S) + 1)]
    for r, share in enumerate(shares, start=1):
        if share >= energy:
            return r, shares
    raise AssertionError("unreachable: the last share is 1")


@given(
    hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(0.0, 10.0, allow_subnormal=False)),
    st.floats(0.0, 1.0, exclude_min=True, allow_subnormal=False),
)
@SETTINGS
def test_rank_for_energy_matches_a_loop(S, energy):
    """rank_for_energy should return the smallest r whose leading sigma^2 share reaches the energy asked for."""
    S = np.sort(S)[::-1]
    assume(S[0] > 1e-3)
    expected, shares = brute_force_energy_rank(S, energy)
    # A share within rounding of the energy could go either way depending on summation order.
    assume(all(abs(share - energy) > 1e-9 for share in shares))
    assert rank_for_energy(S, energy) == expected


@pytest.mark.parametrize(
    "S, energy, expected",
    [
        # S = [4, 3]: sigma^2 = 16, 9, total 25; shares 0.64 and 1.
        ([4.0, 3.0], 0.5, 1),
        ([4.0, 3.0], 0.64, 1),
        ([4.0, 3.0], 0.65, 2),
        ([4.0, 3.0], 1.0, 2),
        # trailing zeros carry no energy: [2, 0, 0] reaches 1 at r = 1.
        ([2.0, 0.0, 0.0], 1.0, 1),
        # S = [1, 1, 1, 1]: shares 0.25, 0.5, 0.75, 1.
        ([1.0, 1.0, 1.0, 1.0], 0.5, 2),
        ([1.0, 1.0, 1.0, 1.0], 0.76, 4),
    ],
)
def test_rank_for_energy_hand_examples(S, energy, expected):
    """rank_for_energy should give the ranks counted by hand in the comments."""
    assert rank_for_energy(np.array(S), energy) == expected


# ---------------------------------------------------------------------------------------------
# Parameter and MAC counts
# ---------------------------------------------------------------------------------------------


def test_factorised_counts_by_hand():
    """The factorised layer has r (m + n) weights and batch r (m + n) MACs."""
    assert factorised_params(4, 4, 1) == 8  # 1 * (4 + 4)
    assert factorised_params(4, 4, 2) == 16  # 2 * 8 = 16 = 4 * 4: no saving
    assert factorised_params(4, 4, 4) == 32  # full rank: twice the dense 16
    assert factorised_params(784, 256, 64) == 66560  # 64 * 1040
    assert factorised_macs(4, 4, 1) == 8
    assert factorised_macs(4, 4, 1, batch=3) == 24  # 3 * 8
    assert factorised_macs(784, 256, 64, batch=32) == 2129920  # 32 * 66560


@pytest.mark.parametrize(
    "m, n, expected",
    [
        (4, 4, 1),  # r = 1: 8 < 16; r = 2: 16 is not < 16
        (3, 5, 1),  # r = 1: 8 < 15; r = 2: 16 > 15
        (10, 10, 4),  # r = 4: 80 < 100; r = 5: 100 is not < 100
        (784, 256, 192),  # 192 * 1040 = 199680 < 200704; 193 * 1040 = 200720 > 200704
        (1, 5, 0),  # r = 1: 6 > 5, so no rank saves anything
        (1, 1, 0),  # r = 1: 2 > 1
        (2, 2, 0),  # r = 1: 4 is not < 4
    ],
)
def test_break_even_rank_by_hand(m, n, expected):
    """break_even_rank should be the largest r with r (m + n) < m n, counted by hand."""
    assert break_even_rank(m, n) == expected


def test_break_even_rank_matches_a_loop():
    """For every m, n <= 30, break_even_rank should match a loop over r, and one rank more must not save."""
    for m in range(1, 31):
        for n in range(1, 31):
            expected = 0
            r = 1
            while r * (m + n) < m * n:
                expected = r
                r += 1
            got = break_even_rank(m, n)
            assert got == expected, f"break_even_rank({m}, {n}) = {got}, loop says {expected}"
            if 1 <= got + 1 <= min(m, n):
                assert factorised_params(m, n, got + 1) >= m * n


@pytest.mark.parametrize("n", [2, 3, 8, 100])
def test_untruncated_factorisation_costs_more(n):
    """At full rank a square layer's factorisation should have 2 n^2 weights, more than the dense n^2."""
    assert factorised_params(n, n, n) == 2 * n * n > n * n
    assert factorised_macs(n, n, n) > n * n


def test_conv_counts_by_hand():
    """conv_lowrank_params = r c_in k^2 + c_out r; MACs are H W times that (stride 1, same padding)."""
    assert conv_lowrank_params(2, 3, 3, 1) == 21  # 1*2*9 + 3*1
    assert conv_lowrank_params(64, 128, 3, 32) == 22528  # 32*64*9 + 128*32 = 18432 + 4096 (dense: 73728)
    assert conv_lowrank_macs(64, 128, 3, 32, 8, 8) == 1441792  # 64 * 22528
    assert conv_lowrank_macs(2, 3, 3, 1, 5, 7) == 735  # 35 * 21
    assert tucker2_params(64, 128, 3, 16, 32) == 9728  # 64*16 + 16*32*9 + 32*128 = 1024 + 4608 + 4096
    assert tucker2_params(2, 3, 3, 1, 1) == 14  # 2 + 9 + 3


@pytest.mark.parametrize("c_in, c_out, k, r", [(2, 3, 3, 1), (3, 5, 3, 2), (4, 4, 1, 4), (8, 16, 5, 6)])
def test_conv_params_match_torch_layers(c_in, c_out, k, r):
    """conv_lowrank_params should count the weights of Conv2d(c_in, r, k) followed by Conv2d(r, c_out, 1)."""
    layers = [torch.nn.Conv2d(c_in, r, k, bias=False), torch.nn.Conv2d(r, c_out, 1, bias=False)]
    assert conv_lowrank_params(c_in, c_out, k, r) == sum(p.numel() for layer in layers for p in layer.parameters())


@pytest.mark.parametrize("c_in, c_out, k, r_in, r_out", [(2, 3, 3, 1, 1), (4, 6, 3, 2, 5), (8, 16, 5, 3, 7)])
def test_tucker2_params_match_torch_layers(c_in, c_out, k, r_in, r_out):
    """tucker2_params should count the weights of a 1x1 conv c_in->r_in, a kxk conv r_in->r_out and a
    1x1 conv r_out->c_out."""
    layers = [
        torch.nn.Conv2d(c_in, r_in, 1, bias=False),
        torch.nn.Conv2d(r_in, r_out, k, bias=False),
        torch.nn.Conv2d(r_out, c_out, 1, bias=False),
    ]
    expected = sum(p.numel() for layer in layers for p in layer.parameters())
    assert tucker2_params(c_in, c_out, k, r_in, r_out) == expected


# ---------------------------------------------------------------------------------------------
# Factorised convolutions
# ---------------------------------------------------------------------------------------------


def compose_conv_kernels(K1: np.ndarray, K2: np.ndarray) -> np.ndarray:
    """The single k x k kernel of a k x k conv K1 (r, c_in, k, k) followed by a 1 x 1 conv K2 (c_out, r, 1, 1).

    out[o] = sum_s K2[o, s] * (sum_i K1[s, i] * x_i)  =  sum_i (sum_s K2[o, s] K1[s, i]) * x_i
    """
    r, c_in, k, _ = K1.shape
    c_out = K2.shape[0]
    composed = np.zeros((c_out, c_in, k, k))
    for o in range(c_out):
        for s in range(r):
            composed[o] += K2[o, s, 0, 0] * K1[s]
    return composed


@given(kernels(), st.data())
@SETTINGS
def test_two_step_conv_equals_the_composed_conv(K, data):
    """A k x k conv with r outputs followed by a 1 x 1 conv (torch conv2d) should equal one conv with the
    composed kernel, and that kernel should be the best rank-r approximation of K's (c_out, c_in k^2) unfolding."""
    c_out, c_in, k, _ = K.shape
    rank = data.draw(st.integers(1, min(c_out, c_in * k * k)), label="rank")
    K1, K2 = conv_lowrank_factors(K, rank)
    assert K1.shape == (rank, c_in, k, k) and K2.shape == (c_out, rank, 1, 1)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, c_in, 6, 5)))
    pad = k // 2  # "same" output size for odd k
    two_step = F.conv2d(F.conv2d(x, torch.from_numpy(K1), padding=pad), torch.from_numpy(K2))
    composed = compose_conv_kernels(K1, K2)
    one_step = F.conv2d(x, torch.from_numpy(composed), padding=pad)
    assert two_step.shape == (2, c_out, 6, 5)
    torch.testing.assert_close(two_step, one_step, rtol=1e-9, atol=1e-9)
    expected, _ = oracle_truncation(K.reshape(c_out, -1), rank)
    np.testing.assert_allclose(composed.reshape(c_out, -1), expected, rtol=RTOL, atol=ATOL)


@given(kernels())
@SETTINGS
def test_full_rank_conv_factors_reconstruct_the_kernel(K):
    """At rank min(c_out, c_in k^2) the composed kernel should equal K."""
    c_out, c_in, k, _ = K.shape
    K1, K2 = conv_lowrank_factors(K, min(c_out, c_in * k * k))
    np.testing.assert_allclose(compose_conv_kernels(K1, K2), K, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# data_aware_low_rank
# ---------------------------------------------------------------------------------------------


@given(calibration_problems())
@SETTINGS
def test_data_aware_is_optimal_on_the_data(case):
    """data_aware_low_rank's output error ||XW - X W1 W2||_F should equal sqrt(sum of dropped sigma^2 of XW)
    (numpy.linalg.svd) and never exceed the error of plain SVD truncation of W."""
    X, W, rank = case
    W1, W2 = data_aware_low_rank(X, W, rank)
    assert W1.shape == (W.shape[0], rank) and W2.shape == (rank, W.shape[1])
    np.testing.assert_allclose(W2 @ W2.T, np.eye(rank), atol=1e-10)
    Y = X @ W
    sigma = np.linalg.svd(Y, compute_uv=False)
    err_data_aware = np.linalg.norm(Y - X @ W1 @ W2, ord="fro")
    scale = 1e-7 * max(1.0, float(np.linalg.norm(Y)))  # float64 error of products of ~1e3-sized entries
    np.testing.assert_allclose(err_data_aware, math.sqrt(float(np.sum(sigma[rank:] ** 2))), atol=scale)
    plain, _ = oracle_truncation(W, rank)
    err_plain = np.linalg.norm(Y - X @ plain, ord="fro")
    assert err_data_aware <= err_plain + scale, f"data-aware {err_data_aware} worse than plain {err_plain}"


@given(matrix_and_rank(), st.integers(0, 3))
@SETTINGS
def test_data_aware_with_orthonormal_x_equals_plain_truncation(case, extra_rows):
    """With X having orthonormal columns (X = Q from numpy.linalg.qr), data_aware_low_rank's W1 @ W2 should
    equal the plain rank-r truncation of W, since ||Q A||_F = ||A||_F."""
    W, rank = case
    m = W.shape[0]
    S = np.linalg.svd(W, compute_uv=False)
    # the best rank-r approximation is unique only when sigma_r > sigma_{r+1}
    assume(rank == len(S) or S[rank - 1] - S[rank] > 1e-6 * max(1.0, S[0]))
    Q, _ = np.linalg.qr(np.random.default_rng(m + extra_rows).standard_normal((m + extra_rows, m)))
    W1, W2 = data_aware_low_rank(Q, W, rank)
    expected, _ = oracle_truncation(W, rank)
    np.testing.assert_allclose(W1 @ W2, expected, rtol=1e-7, atol=1e-7)


@given(matrix_and_rank())
@SETTINGS
def test_data_aware_with_identity_returns_low_rank_factors(case):
    """With X = I, data_aware_low_rank should return the same factors as low_rank_factors, signs included."""
    W, rank = case
    W1, W2 = data_aware_low_rank(np.eye(W.shape[0]), W, rank)
    V1, V2 = low_rank_factors(W, rank)
    np.testing.assert_allclose(W1, V1, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(W2, V2, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# tucker2_hosvd
# ---------------------------------------------------------------------------------------------


def tucker_reconstruct(core: np.ndarray, U_out: np.ndarray, U_in: np.ndarray) -> np.ndarray:
    """core x_0 U_out x_1 U_in, written as explicit loops over the small ranks."""
    r_out, r_in, k, _ = core.shape
    K = np.zeros((U_out.shape[0], U_in.shape[0], k, k))
    for s in range(r_out):
        for t in range(r_in):
            K += np.multiply.outer(np.outer(U_out[:, s], U_in[:, t]), core[s, t])
    return K


@given(kernels())
@SETTINGS
def test_tucker2_with_full_ranks_is_exact(K):
    """With the ranks of the two unfoldings, core x_0 U_out x_1 U_in should reconstruct K."""
    c_out, c_in, k, _ = K.shape
    r_out, r_in = min(c_out, c_in * k * k), min(c_in, c_out * k * k)
    core, U_out, U_in = tucker2_hosvd(K, r_out, r_in)
    assert core.shape == (r_out, r_in, k, k) and U_out.shape == (c_out, r_out) and U_in.shape == (c_in, r_in)
    np.testing.assert_allclose(tucker_reconstruct(core, U_out, U_in), K, rtol=RTOL, atol=ATOL)


@given(kernels(), st.data())
@SETTINGS
def test_tucker2_error_is_within_the_hosvd_bound(K, data):
    """||K - K_hat||_F^2 should be at most the dropped squared singular values of the mode-0 and mode-1
    unfoldings (numpy.linalg.svd), and the factors should have orthonormal columns."""
    c_out, c_in, k, _ = K.shape
    r_out = data.draw(st.integers(1, min(c_out, c_in * k * k)), label="r_out")
    r_in = data.draw(st.integers(1, min(c_in, c_out * k * k)), label="r_in")
    core, U_out, U_in = tucker2_hosvd(K, r_out, r_in)
    np.testing.assert_allclose(U_out.T @ U_out, np.eye(r_out), atol=1e-10)
    np.testing.assert_allclose(U_in.T @ U_in, np.eye(r_in), atol=1e-10)
    S0 = np.linalg.svd(K.reshape(c_out, -1), compute_uv=False)
    S1 = np.linalg.svd(np.moveaxis(K, 1, 0).reshape(c_in, -1), compute_uv=False)
    bound = float(np.sum(S0[r_out:] ** 2) + np.sum(S1[r_in:] ** 2))
    err2 = float(np.linalg.norm((K - tucker_reconstruct(core, U_out, U_in)).ravel()) ** 2)
    assert err2 <= bound + 1e-8 * max(1.0, float(np.sum(K**2))), f"error^2 {err2} above HOSVD bound {bound}"


@given(kernels(), st.data())
@SETTINGS
def test_tucker2_as_three_convs_equals_one_conv(K, data):
    """The 1x1 (U_in^T), kxk (core), 1x1 (U_out) conv stack in torch should equal one conv with the
    reconstructed kernel."""
    c_out, c_in, k, _ = K.shape
    r_out = data.draw(st.integers(1, min(c_out, c_in * k * k)), label="r_out")
    r_in = data.draw(st.integers(1, min(c_in, c_out * k * k)), label="r_in")
    core, U_out, U_in = tucker2_hosvd(K, r_out, r_in)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((1, c_in, 5, 5)))
    pad = k // 2
    h = F.conv2d(x, torch.from_numpy(np.ascontiguousarray(U_in.T)[:, :, None, None]))
    h = F.conv2d(h, torch.from_numpy(core), padding=pad)
    three_step = F.conv2d(h, torch.from_numpy(np.ascontiguousarray(U_out)[:, :, None, None]))
    one_step = F.conv2d(x, torch.from_numpy(tucker_reconstruct(core, U_out, U_in)), padding=pad)
    torch.testing.assert_close(three_step, one_step, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

W34 = np.arange(12.0).reshape(3, 4)
K2233 = np.ones((2, 2, 3, 3))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: truncated_svd(W34, 0), id="svd-rank-0"),
        pytest.param(lambda: truncated_svd(W34, 4), id="svd-rank-above-min"),
        pytest.param(lambda: truncated_svd(W34, 1.0), id="svd-rank-float"),
        pytest.param(lambda: truncated_svd(W34, True), id="svd-rank-bool"),
        pytest.param(lambda: truncated_svd(np.arange(4.0), 1), id="svd-1d"),
        pytest.param(lambda: truncated_svd(np.ones((2, 2, 2)), 1), id="svd-3d"),
        pytest.param(lambda: truncated_svd(np.zeros((0, 3)), 1), id="svd-empty"),
        pytest.param(lambda: truncated_svd(np.array([[1.0, np.nan]]), 1), id="svd-nan"),
        pytest.param(lambda: low_rank_factors(W34, 0), id="factors-rank-0"),
        pytest.param(lambda: low_rank_factors(W34, 5), id="factors-rank-above-min"),
        pytest.param(lambda: rank_for_energy(np.array([2.0, 1.0]), 0.0), id="energy-0"),
        pytest.param(lambda: rank_for_energy(np.array([2.0, 1.0]), 1.5), id="energy-1.5"),
        pytest.param(lambda: rank_for_energy(np.array([2.0, 1.0]), -0.1), id="energy-negative"),
        pytest.param(lambda: rank_for_energy(np.array([1.0, 2.0]), 0.5), id="energy-unsorted"),
        pytest.param(lambda: rank_for_energy(np.array([1.0, -0.5]), 0.5), id="energy-negative-sigma"),
        pytest.param(lambda: rank_for_energy(np.zeros(3), 0.5), id="energy-all-zero"),
        pytest.param(lambda: rank_for_energy(np.array([]), 0.5), id="energy-empty"),
        pytest.param(lambda: rank_for_energy(np.ones((2, 2)), 0.5), id="energy-2d"),
        pytest.param(lambda: factorised_params(-4, 4, 1), id="params-negative-m"),
        pytest.param(lambda: factorised_params(4, 0, 1), id="params-zero-n"),
        pytest.param(lambda: factorised_params(4, 4, 0), id="params-rank-0"),
        pytest.param(lambda: factorised_params(4, 3, 4), id="params-rank-above-min"),
        pytest.param(lambda: factorised_macs(4, 4, 1, batch=0), id="macs-batch-0"),
        pytest.param(lambda: break_even_rank(-1, 4), id="break-even-negative"),
        pytest.param(lambda: break_even_rank(4, 2.5), id="break-even-float"),
        pytest.param(lambda: conv_lowrank_params(-2, 3, 3, 1), id="conv-params-negative-c_in"),
        pytest.param(lambda: conv_lowrank_params(2, 3, 0, 1), id="conv-params-k-0"),
        pytest.param(lambda: conv_lowrank_params(2, 3, 3, 4), id="conv-params-rank-above-c_out"),
        pytest.param(lambda: conv_lowrank_macs(2, 3, 3, 1, 0, 4), id="conv-macs-H-0"),
        pytest.param(lambda: conv_lowrank_factors(K2233, 0), id="conv-factors-rank-0"),
        pytest.param(lambda: conv_lowrank_factors(K2233, 3), id="conv-factors-rank-above"),
        pytest.param(lambda: conv_lowrank_factors(np.ones((2, 2, 3)), 1), id="conv-factors-3d"),
        pytest.param(lambda: conv_lowrank_factors(np.ones((2, 2, 3, 2)), 1), id="conv-factors-not-square"),
        pytest.param(lambda: data_aware_low_rank(np.ones((5, 4)), W34, 1), id="data-aware-mismatched"),
        pytest.param(lambda: data_aware_low_rank(np.ones((5, 3)), np.arange(4.0), 1), id="data-aware-1d-W"),
        pytest.param(lambda: data_aware_low_rank(np.ones(3), W34, 1), id="data-aware-1d-X"),
        pytest.param(lambda: data_aware_low_rank(np.ones((5, 3)), W34, 0), id="data-aware-rank-0"),
        pytest.param(lambda: data_aware_low_rank(np.ones((5, 3)), W34, 4), id="data-aware-rank-above-min"),
        pytest.param(lambda: data_aware_low_rank(np.ones((1, 3)), W34, 2), id="data-aware-too-few-rows"),
        pytest.param(lambda: tucker2_hosvd(K2233, 0, 1), id="tucker-r_out-0"),
        pytest.param(lambda: tucker2_hosvd(K2233, 1, 3), id="tucker-r_in-above"),
        pytest.param(lambda: tucker2_hosvd(np.ones((2, 2)), 1, 1), id="tucker-2d"),
        pytest.param(lambda: tucker2_params(2, 3, 3, 3, 1), id="tucker-params-r_in-above"),
        pytest.param(lambda: tucker2_params(2, 3, -3, 1, 1), id="tucker-params-negative-k"),
    ],
)
def test_bad_input_raises_value_error(call):
    """Invalid ranks, energies, sizes and shapes should raise ValueError, not return a wrong answer."""
    with pytest.raises(ValueError):
        call()
