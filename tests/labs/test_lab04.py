"""Lab 4 (low-rank factorisation) meets the contract every lab meets, and its checks catch classic bugs.

The classic-bug tests run in process (InProcessBackend) with few examples: they test the checks, not
the sandbox. Each bug is one a student plausibly writes; the named checks must fail, with feedback
that states the property and shows a counterexample.
"""

LAB_ID = "lab04"

import inspect  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught, grade_in_process  # noqa: E402

from labgrader.checks import load as load_checks  # noqa: E402
from reference_impl import lowrank as R  # noqa: E402

CHECKS = load_checks("lab04_lowrank").CHECKS

ALL_SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


_grade = grade_in_process


BUGS = {
    # name: (exercise, old, new, checks that must fail)
    "flip U but not Vt": (
        "truncated_svd", "return U_r * signs, S_r.copy(), Vt_r * signs[:, None]", "return U_r * signs, S_r.copy(), Vt_r",
        {"agrees_with_reference", "eckart_young_errors", "sign_convention"}),
    "no sign convention": (
        "truncated_svd", "return U_r * signs, S_r.copy(), Vt_r * signs[:, None]", "return U_r, S_r.copy(), Vt_r",
        {"sign_convention"}),
    "full SVD kept (no truncation of U)": (
        "truncated_svd", "U_r, S_r, Vt_r = U[:, :rank], S[:rank], Vt[:rank, :]",
        "U_r, S_r, Vt_r = U, S[:rank], Vt[:rank, :]", {"agrees_with_reference", "eckart_young_errors"}),
    "sigma split evenly (sqrt into both factors)": (
        "low_rank_factors", "W1 = U_r * S_r  # (m, r): column i scaled by sigma_i, i.e. U_r @ diag(S_r)\n    return W1, Vt_r",
        "W1 = U_r * np.sqrt(S_r)\n    return W1, np.sqrt(S_r)[:, None] * Vt_r", {"agrees_with_reference", "sigma_goes_into_w1"}),
    "sigma instead of sigma squared": (
        "rank_for_energy", "cumulative = np.cumsum(S**2)", "cumulative = np.cumsum(S)",
        {"agrees_with_reference", "smallest_rank_reaching_the_share", "exact_share_counts"}),
    "strict share (> instead of >=)": (
        "rank_for_energy", "return int(np.argmax(share >= energy)) + 1", "return int(np.argmax(share > energy)) + 1",
        {"exact_share_counts", "energy_one_keeps_every_nonzero_value"}),
    "dense count m * n": (
        "factorised_params", "return int(r) * (int(m) + int(n))", "return int(m) * int(n)",
        {"agrees_with_reference", "counts_both_factors", "full_rank_doubles_a_square_layer"}),
    "break-even counted as saving (<= m n)": (
        "break_even_rank", "return (m * n - 1) // (m + n)", "return (m * n) // (m + n)",
        {"agrees_with_reference", "last_rank_that_saves", "square_layers_break_even_below_half"}),
    "conv factors swapped (1 x 1 gets sigma-free V)": (
        "conv_lowrank_factors", "A, B = low_rank_factors(M, rank)  # (c_out, r), (r, c_in k^2)",
        "A, B = low_rank_factors(M, rank)  # (c_out, r), (r, c_in k^2)\n    A = A / np.linalg.norm(A, axis=0)",
        {"composed_kernel_is_best_rank_r", "bottleneck_is_orthonormal"}),
    "data-aware from the SVD of X instead of X W": (
        "data_aware_low_rank", "_, _, Qt_r = truncated_svd(Y, rank)", "_, _, Qt_r = truncated_svd(W, rank)",
        {"agrees_with_reference", "optimal_on_the_data"}),
    "Tucker core not projected on U_in": (
        "tucker2_hosvd", 'core = np.einsum("oiab,os,it->stab", K, U_out, U_in)',
        'core = np.einsum("oiab,os->siab", K, U_out)[:, :r_in]',
        {"agrees_with_reference", "within_the_hosvd_bound", "core_is_the_projection", "full_ranks_are_exact"}),
}


# Issue 19: the sign convention (the first entry of largest magnitude of each u_i is positive) is
# checked exactly as documented, in every exercise whose docstring fixes it; before, the agreement
# checks compared singular vectors up to sign and the tie rule accepted any tied entry.
_BIGGEST = "biggest = np.argmax(np.abs(U_r), axis=0)  # (r,): row of each column's largest |entry|"
BUGS.update({
    # name: (exercise, old, new, checks that must fail); "before" = what the checks of main found
    "truncated_svd: the last entry of a tie made positive (before: full marks)": (
        "truncated_svd", _BIGGEST, "biggest = U_r.shape[0] - 1 - np.argmax(np.abs(U_r)[::-1], axis=0)",
        {"sign_convention"}),
    "low_rank_factors from numpy's SVD, no sign convention (before: full marks)": (
        "low_rank_factors", "U_r, S_r, Vt_r = truncated_svd(W, rank)  # (m, r), (r,), (r, n)",
        "truncated_svd(W, rank)  # validates\n    U, S, Vt = np.linalg.svd(W, full_matrices=False)\n"
        "    U_r, S_r, Vt_r = U[:, :rank], S[:rank], Vt[:rank]",
        {"sigma_goes_into_w1", "agrees_with_reference"}),
    "conv_lowrank_factors from numpy's SVD, no sign convention (before: full marks)": (
        "conv_lowrank_factors", "A, B = low_rank_factors(M, rank)  # (c_out, r), (r, c_in k^2)",
        "low_rank_factors(M, rank)  # validates\n    U, S, Vt = np.linalg.svd(M, full_matrices=False)\n"
        "    A, B = U[:, :rank] * S[:rank], Vt[:rank]",
        {"composed_kernel_is_best_rank_r", "agrees_with_reference"}),
    "tucker2_hosvd's U_out from numpy's SVD, no sign convention (before: full marks)": (
        "tucker2_hosvd", "U_out, _, _ = truncated_svd(K0, r_out)  # (c_out, r_out)",
        "U_out = np.linalg.svd(K0, full_matrices=False)[0][:, :r_out]",
        {"within_the_hosvd_bound", "agrees_with_reference"}),
})


@pytest.mark.parametrize("name", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab, name):
    ex_id, old, new, must_fail = BUGS[name]
    assert_bug_caught(lab, ALL_SOURCE, ex_id, old, new, must_fail)


def test_a_bug_in_truncated_svd_shows_in_the_exercises_built_on_it(lab):
    """The exercises call the student's own truncated_svd: its bug costs them too (the notebook says so)."""
    src = ALL_SOURCE.replace("return U_r * signs, S_r.copy(), Vt_r * signs[:, None]", "return U_r * signs, S_r.copy(), Vt_r")
    outcomes = _grade(lab, src, "low_rank_factors")
    assert not outcomes["product_is_best_rank_r"].passed

