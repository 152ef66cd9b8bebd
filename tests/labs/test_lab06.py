"""Lab 6 meets the contract every lab meets (tests/lab_contract.py), and its checks catch the classic bugs.

The classic bugs run in process (InProcessBackend) with the quick profile: this tests the checks,
not the sandbox. Each bug is a one-line change a student could plausibly make; the named checks
must fail, with the property in words and a counterexample.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

LAB_ID = "lab06"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import grade_in_process  # noqa: E402

from labgrader.checks import load as load_checks  # noqa: E402
from reference_impl import dynamic as R  # noqa: E402

CHECKS = load_checks("lab06_dynamic").CHECKS

ALL_SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


_grade = grade_in_process


BUGS = {
    # name: (exercise, old, new, checks that must fail)
    "entropy without 0 log 0 = 0": (
        "entropy", "logp = np.log(np.where(p > 0, p, 1.0))", "logp = np.log(p)",
        {"agrees_with_reference", "one_hot_is_zero"}),
    "entropy in bits": (
        "entropy", "return -(p * logp).sum(axis=-1)", "return -(p * logp).sum(axis=-1) / np.log(2)",
        {"agrees_with_reference", "uniform_is_log_c", "between_zero_and_log_c"}),
    "entropy rule with <=": (
        "exit_decisions", "leaves = H[: E - 1] < thresholds[: E - 1, None]", "leaves = H[: E - 1] <= thresholds[: E - 1, None]",
        {"zero_thresholds_use_last_exit"}),
    "no row for the last exit: argmax of all-False picks exit 0": (
        "exit_decisions", "leaves = np.concatenate([leaves, np.ones((1, N), dtype=bool)])  # (E, N): the last exit takes the rest",
        "leaves = np.concatenate([leaves, np.zeros((1, N), dtype=bool)])",
        {"agrees_with_reference", "zero_thresholds_use_last_exit"}),
    "confidence rule with >": (
        "confidence_exit_decisions", "leaves = confidence[: E - 1] >= thresholds[: E - 1, None]",
        "leaves = confidence[: E - 1] > thresholds[: E - 1, None]", {"certain_prediction_meets_threshold_one"}),
    "confidence rule uses the last threshold too": (
        "confidence_exit_decisions", "leaves = np.concatenate([leaves, np.ones((1, N), dtype=bool)])  # (E, N)\n",
        "leaves = np.concatenate([leaves, confidence[E - 1 :] >= thresholds[-1]]) if len(thresholds) == E else "
        "np.concatenate([leaves, np.ones((1, N), dtype=bool)])\n",
        {"last_threshold_is_ignored"}),
    "expected cost summed, not averaged": (
        "expected_cost", "return float(cost_per_exit[exits].mean())", "return float(cost_per_exit[exits].sum())",
        {"agrees_with_reference", "everyone_at_one_exit_pays_its_cost", "mean_over_samples"}),
    "branchy loss sums over the batch": (
        "branchy_loss", "ce = -logp[:, np.arange(N), labels].mean(axis=1)", "ce = -logp[:, np.arange(N), labels].sum(axis=1)",
        {"agrees_with_reference", "one_hot_weights_pick_an_exit"}),
    "branchy loss without the max shift": (
        "branchy_loss", "z = logits - logits.max(axis=-1, keepdims=True)  # (E, N, C)", "z = logits",
        {"stable_at_large_logits"}),
    "gate returns the soft sigmoid": (
        "skip_gate_forward", "return (z >= 0).astype(np.float64)", "return 1 / (1 + np.exp(-z))",
        {"agrees_with_reference", "hard_zero_one_mask", "zero_logit_executes"}),
    "gate skips at z = 0": (
        "skip_gate_forward", "return (z >= 0).astype(np.float64)", "return (z > 0).astype(np.float64)",
        {"zero_logit_executes"}),
    "gated block with the roles of m swapped": (
        "skip_block_output", "return m * fx + (1 - m) * x", "return (1 - m) * fx + m * x",
        {"agrees_with_reference", "hard_gates_select"}),
    "straight-through gradient = sigmoid, not its slope": (
        "ste_gate_grad", "return e / (1 + e) ** 2 * g", "return np.where(z >= 0, 1 / (1 + e), e / (1 + e)) * g",
        {"agrees_with_reference", "quarter_at_zero", "matches_finite_differences"}),
    "straight-through gradient passes upstream unchanged (identity STE)": (
        "ste_gate_grad", "return e / (1 + e) ** 2 * g", "return g + 0 * e",
        {"agrees_with_reference", "quarter_at_zero", "finite_at_large_logits"}),
    "capacity rounded down": (
        "switch_route", "capacity = int(np.ceil(capacity_factor * T / E))", "capacity = int(capacity_factor * T / E)",
        {"agrees_with_reference", "capacity_respected_and_filled_in_order"}),
    "no capacity limit": (
        "switch_route", "return np.where(position < capacity, expert, -1).astype(np.int64)", "return expert.astype(np.int64)",
        {"agrees_with_reference", "capacity_respected_and_filled_in_order"}),
    "load-balancing loss without the factor E": (
        "load_balancing_loss", "return float(E * (f * P).sum())", "return float((f * P).sum())",
        {"agrees_with_reference", "balanced_routing_gives_one", "collapsed_routing_gives_e"}),
    # issue 19: router logits are now tied in the load-balancing checks too (before, every check drew a
    # unique row maximum), and -0.0 is drawn for the gate: these got full marks before.
    "load-balancing f counts every tied expert (multi-hot)": (
        "load_balancing_loss", "f = np.bincount(logits.argmax(axis=1), minlength=E) / T",
        "f = (logits == logits.max(axis=1, keepdims=True)).sum(axis=0) / T",
        {"agrees_with_reference", "ties_count_for_the_lowest_expert"}),
    "load-balancing f breaks ties to the last expert": (
        "load_balancing_loss", "f = np.bincount(logits.argmax(axis=1), minlength=E) / T",
        "f = np.bincount(E - 1 - logits[:, ::-1].argmax(axis=1), minlength=E) / T",
        {"agrees_with_reference", "ties_count_for_the_lowest_expert"}),
    "gate decided by the sign bit (-0.0 skipped)": (
        "skip_gate_forward", "return (z >= 0).astype(np.float64)", "return (~np.signbit(z)).astype(np.float64)",
        {"decided_by_the_sign_at_tiny_logits"}),
    "load-balancing loss with probabilities in place of the counts": (
        "load_balancing_loss", "return float(E * (f * P).sum())", "return float(E * (P * P).sum())",
        {"agrees_with_reference"}),  # balanced and collapsed routing give 1 and E either way
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the bugs overflow and divide by zero on purpose
@pytest.mark.parametrize("bug", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab, bug):
    ex_id, old, new, must_fail = BUGS[bug]
    assert ALL_SOURCE.count(old) == 1, "the bug's anchor text must be unique in the reference"
    outcomes = _grade(lab, ALL_SOURCE.replace(old, new), ex_id)
    failed = {n for n, o in outcomes.items() if not o.passed}
    assert must_fail <= failed, (must_fail - failed)
    for n in failed:
        assert "Property:" in outcomes[n].output and "Counterexample" in outcomes[n].output, outcomes[n].output
