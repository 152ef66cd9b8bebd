"""Lab 5 (NAS) meets the contract every lab meets (tests/lab_contract.py), and its classic bugs fail
the checks named for them, with a property and a counterexample (in process, quick profile)."""

from __future__ import annotations

import inspect
import textwrap

import pytest

LAB_ID = "lab05"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests, collected in this module
from lab_contract import assert_bug_caught, grade_in_process  # noqa: E402

from labgrader.checks import load as load_checks  # noqa: E402
from reference_impl import nas as R  # noqa: E402

CHECKS = load_checks("lab05_nas").CHECKS

ALL_SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


_grade = grade_in_process


BUGS = {
    # name: (exercise, old, new, checks that must fail)
    "softmax without the max shift": (
        "mixed_op_weights", "a = a - a.max(axis=-1, keepdims=True)  # (..., K), row max is 0", "pass",
        {"stable_at_large_alpha"}),
    "mixed op weighted by raw alpha": (
        "mixed_op", "w = mixed_op_weights(a)  # (K,)", "w = a",
        {"agrees_with_reference", "one_hot_alpha_selects_op", "equal_alpha_averages", "matches_own_weights"}),
    "edges ranked by raw alpha": (
        "derive_genotype", "w = mixed_op_weights(a)[:, usable]  # (E, K') weights of the non-'none' ops",
        "w = a[:, usable]", {"agrees_with_reference", "invariant_to_shifting_an_edge_row", "none_dominance_is_ignored"}),
    "'none' allowed to win": (
        "derive_genotype", "usable = [i for i, name in enumerate(names) if name != \"none\"]",
        "usable = list(range(len(names)))", {"keeps_k_distinct_real_edges_per_node", "none_dominance_is_ignored"}),
    "edges kept weakest first": (
        "derive_genotype", "key=lambda i: -strength[i]", "key=lambda i: strength[i]",
        {"agrees_with_reference", "none_dominance_is_ignored"}),
    # issue 19: ties between edges are drawn in nodes of 4+ edges (before, nodes had at most 4 edges and
    # equally strong edges were exact ties only when all alphas were 0): an unstable sort got full marks.
    "edges ranked by an unstable sort (ties out of state order)": (
        "derive_genotype", "kept = sorted(range(n_edges), key=lambda i: -strength[i])[:k]",
        "kept = [int(i) for i in np.argsort(-strength, kind=\"heapsort\")[:k]]",
        {"equally_strong_edges_keep_the_lower_state"}),
    "fixed latency added per layer": (
        "expected_latency", "return float((mixed_op_weights(a) * lat).sum() + fixed)",
        "return float((mixed_op_weights(a) * lat + fixed / lat.shape[-1]).sum())",
        {"agrees_with_reference", "fixed_adds_once"}),
    "gradient without the factor p_j": (
        "expected_latency_grad", "return p * (lat - e_layer)", "return lat - e_layer",
        {"agrees_with_reference", "matches_finite_differences", "rows_sum_to_zero", "uniform_alpha_closed_form"}),
    "penalty not divided by ref": (
        "latency_loss_additive", "lam * (e_lat - ref_latency) / ref_latency", "lam * (e_lat - ref_latency)",
        {"agrees_with_reference", "penalty_is_relative_excess"}),
    "log of the ratio instead of the ratio of logs": (
        "latency_loss_multiplicative", "(np.log(e_lat) / np.log(ref_latency)) ** beta",
        "(1 + np.log(e_lat / ref_latency)) ** beta", {"agrees_with_reference", "factor_is_log_ratio_power"}),
    "duplicates dominate each other": (
        "pareto_front", "return ~np.any(no_worse & better, axis=0)",
        "return ~np.any(no_worse & ~np.eye(len(lat), dtype=bool), axis=0)",
        {"agrees_with_reference", "no_member_dominated_and_every_other_is", "duplicates_stay_together"}),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab, bug):
    ex_id, old, new, must_fail = BUGS[bug]
    assert_bug_caught(lab, ALL_SOURCE, ex_id, old, new, must_fail)
