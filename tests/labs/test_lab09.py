"""Lab 9: the contract (tests/lab_contract.py) and the lab's classic bugs, each caught by its checks."""

import pytest

LAB_ID = "lab09"
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = [
    # the unstable sort: equal norms come out in reverse order
    ("sort_channels", 'order = np.argsort(-importance, kind="stable")', "order = np.argsort(importance)[::-1]",
     {"agrees_with_reference", "stable_order_by_l1_norm"}),
    # the last layer's input width forgotten: the subnet's columns stop at the largest input
    ("subnet_cost", "return macs, macs + sum(n[1:])", "return macs, macs + sum(n)",
     {"agrees_with_reference", "layer_by_layer_count"}),
    # the KD gradient scaled like the loss, T^2 / B, forgetting the chain rule d(z / T) / dz = 1 / T
    ("inplace_kd_loss", "T * (q - p) / B", "T * T * (q - p) / B",
     {"agrees_with_reference", "kl_closed_form_and_gradient", "gradient_matches_finite_differences"}),
    # the entropy bonus pushing the wrong way: descending entropy
    ("reinforce_grad", "- beta * pi * (log_pi + H)", "+ beta * pi * (log_pi + H)",
     {"agrees_with_reference", "policy_gradient_closed_form", "ascends_the_objective"}),
    # a penalised intercept: ridge on the raw (uncentred) data
    ("ridge_fit", "x_bar, y_bar = X.mean(axis=0), y.mean()", "x_bar, y_bar = 0.0 * X.mean(axis=0), 0.0",
     {"agrees_with_reference", "normal_equations_hold", "constant_target_gives_zero_weights"}),
    # tau-a instead of tau-b: ties not corrected for
    ("kendall_tau", "return float(s / np.sqrt((n0 - n_a) * (n0 - n_b)))", "return float(s / n0)",
     {"agrees_with_reference", "pair_counting"}),
    # Issue 19, a tie rule: >= lets the last-drawn of two feasible candidates of equal fitness win, not the first
    # (with populations of up to 20 this survived `course validate` until fitness ties were drawn on purpose)
    ("tournament_select", "f[j] > f[best]", "f[j] >= f[best]", {"deb_feasibility_rules"}),
]


@pytest.mark.parametrize("ex_id,old,new,must_fail", BUGS, ids=[b[0] for b in BUGS])
def test_classic_bug_is_caught(lab, ex_id, old, new, must_fail):
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)
