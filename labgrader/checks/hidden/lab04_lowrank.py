"""Lab 4 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab04_lowrank.py (the public
checks) and not this file. ``labgrader.checks.load("lab04_lowrank")`` registers them after the public ones.
"""

from __future__ import annotations

from ...assertions import as_int, assert_close, require
from ..lab04_lowrank import SIZES, _composed, _conv_factors, _data_aware, _energy_case, _factors, _same_signed, _sign_decided, _svd_parts, _tucker, _tucker_reconstruct, _unique_case, _unique_kernel_case, _unique_on_data, _unique_tucker, calibration_problems, check, kernel_and_rank, kernel_and_ranks, layer_and_rank, matrix_and_rank


# --- truncated_svd --------------------------------------------------------------------------------
@check("truncated_svd", case=matrix_and_rank().filter(_unique_case))
def truncated_svd__agrees_with_reference(student, ref, case):
    """truncated_svd(W, rank) should return the r largest singular values and their singular vectors, with the signs the convention fixes."""
    W, rank = case
    U, S, Vt = _svd_parts(student, W, rank)
    U_ref, S_ref, Vt_ref = ref(W, rank)
    assert_close(S, S_ref, "S_r, the leading singular values")
    decided = [_sign_decided(u) for u in U_ref.T]
    _same_signed(U, U_ref, "U_r", axis=1, decided=decided)
    _same_signed(Vt, Vt_ref, "Vt_r", axis=0, decided=decided)
    assert_close((U * S) @ Vt, (U_ref * S_ref) @ Vt_ref, "U_r diag(S_r) Vt_r (u_i and v_i must flip together)",
                 atol=1e-8)


# --- low_rank_factors -----------------------------------------------------------------------------
@check("low_rank_factors", case=matrix_and_rank().filter(_unique_case))
def low_rank_factors__agrees_with_reference(student, ref, case):
    """low_rank_factors(W, rank) should return W1 = U_r diag(S_r) and W2 = Vt_r of truncated_svd, with its signs."""
    W, rank = case
    m, n = W.shape
    W1, W2 = _factors(student, (W, rank), ((m, rank), (rank, n)), "low_rank_factors(W, rank)")
    R1, R2 = ref(W, rank)
    decided = [_sign_decided(u) for u in R1.T]  # the columns of W1 are sigma_i u_i
    _same_signed(W2, R2, "W2", axis=0, decided=decided)
    _same_signed(W1, R1, "W1", axis=1, decided=decided)
    assert_close(W1 @ W2, R1 @ R2, "W1 @ W2")


# --- rank_for_energy ------------------------------------------------------------------------------
@check("rank_for_energy", case=_energy_case())
def rank_for_energy__agrees_with_reference(student, ref, case):
    """rank_for_energy(S, energy) should be the smallest r with sum_{i<=r} sigma_i^2 / sum_i sigma_i^2 >= energy."""
    S, energy = case
    got = as_int(student(S, energy), f"rank_for_energy(S, {energy!r})")
    require(got == ref(S, energy), f"rank_for_energy(S, {energy!r})\n  expected: {ref(S, energy)}\n  got:      {got}")


# --- factorised_params ----------------------------------------------------------------------------
@check("factorised_params", case=layer_and_rank())
def factorised_params__agrees_with_reference(student, ref, case):
    """factorised_params(m, n, r) should count the weights of W1 (m, r) and W2 (r, n): r (m + n)."""
    m, n, r = case
    got = as_int(student(m, n, r), f"factorised_params({m}, {n}, {r})")
    require(got == ref(m, n, r), f"factorised_params({m}, {n}, {r})\n  expected: {ref(m, n, r)}\n  got:      {got}")


# --- break_even_rank ------------------------------------------------------------------------------
@check("break_even_rank", m=SIZES, n=SIZES)
def break_even_rank__agrees_with_reference(student, ref, m, n):
    """break_even_rank(m, n) should be the largest r with r (m + n) < m n, i.e. floor((m n - 1) / (m + n))."""
    got = as_int(student(m, n), f"break_even_rank({m}, {n})")
    require(got == ref(m, n), f"break_even_rank({m}, {n})\n  expected: {ref(m, n)}\n  got:      {got}")


# --- conv_lowrank_factors -------------------------------------------------------------------------
@check("conv_lowrank_factors", case=kernel_and_rank().filter(_unique_kernel_case))
def conv_lowrank_factors__agrees_with_reference(student, ref, case):
    """conv_lowrank_factors(K, rank) should return K1 = Vt_r reshaped to (r, c_in, k, k) and K2 = U_r diag(S_r) reshaped to (c_out, r, 1, 1), with truncated_svd's signs."""
    K, rank = case
    K1, K2 = _conv_factors(student, K, rank)
    R1, R2 = ref(K, rank)
    decided = [_sign_decided(u) for u in R2[:, :, 0, 0].T]  # the columns of K2 are sigma_i u_i
    _same_signed(K1.reshape(rank, -1), R1.reshape(rank, -1), "K1 (flattened per output channel)", axis=0, decided=decided)
    _same_signed(K2[:, :, 0, 0], R2[:, :, 0, 0], "K2[:, :, 0, 0]", axis=1, decided=decided)
    assert_close(_composed(K1, K2), _composed(R1, R2), "the composed kernel sum_s K2[o, s] K1[s]", atol=1e-8)


# --- data_aware_low_rank --------------------------------------------------------------------------
@check("data_aware_low_rank", case=calibration_problems().filter(_unique_on_data))
def data_aware_low_rank__agrees_with_reference(student, ref, case):
    """data_aware_low_rank(X, W, rank) should return W1 = W Q_r and W2 = Q_r^T, Q_r the top-r right singular vectors of X W (each up to sign)."""
    X, W, rank = case
    W1, W2 = _data_aware(student, X, W, rank)
    R1, R2 = ref(X, W, rank)
    _same_signed(W2, R2, "W2", axis=0)  # up to sign: the docstring fixes no sign for W2 (only for X = I)
    assert_close(W1 @ W2, R1 @ R2, "W1 @ W2", atol=1e-8)


# --- tucker2_hosvd --------------------------------------------------------------------------------
@check("tucker2_hosvd", case=kernel_and_ranks().filter(_unique_tucker))
def tucker2_hosvd__agrees_with_reference(student, ref, case):
    """tucker2_hosvd(K, r_out, r_in) should return U_out, U_in = the top singular vectors of the mode-0 and mode-1 unfoldings (with truncated_svd's signs) and the core K x_0 U_out^T x_1 U_in^T."""
    K, r_out, r_in = case
    core, U_out, U_in = _tucker(student, K, r_out, r_in)
    c_ref, o_ref, i_ref = ref(K, r_out, r_in)
    _same_signed(U_out, o_ref, "U_out", axis=1, decided=[_sign_decided(u) for u in o_ref.T])
    _same_signed(U_in, i_ref, "U_in", axis=1, decided=[_sign_decided(u) for u in i_ref.T])
    assert_close(_tucker_reconstruct(core, U_out, U_in), _tucker_reconstruct(c_ref, o_ref, i_ref),
                 "core x_0 U_out x_1 U_in (the reconstructed kernel)", atol=1e-8)
