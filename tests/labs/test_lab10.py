"""Lab 10: the contract (tests/lab_contract.py) and the lab's classic bugs, each caught by its checks."""

import pytest

LAB_ID = "lab10"
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = [
    # the pointwise weights transposed: right only when C_out = C and K_pw is symmetric
    ("depthwise_separable_conv", 'np.einsum("oc,nchw->nohw", K_pw, h)', 'np.einsum("co,nchw->nohw", K_pw, h)',
     {"agrees_with_reference", "equals_dense_conv_with_product_kernel"}),
    # MSE with the sum instead of the mean: the loss grows with the block's size
    ("block_loss", "return float(np.mean(diff**2)), 2.0 * diff / diff.size", "return float(np.sum(diff**2)), 2.0 * diff",
     {"agrees_with_reference", "mean_squared_error_and_gradient"}),
    # the greedy rule without the budget spent so far: every block within the threshold alone is accepted
    ("replacement_plan", "if spent + d[i] <= threshold:", "if d[i] <= threshold:",
     {"agrees_with_reference", "greedy_in_order_within_budget", "order_matters_and_budget_holds"}),
    # first-fit in input order instead of longest first
    ("wfd_schedule", 'order = np.argsort(-t, kind="stable")', "order = np.arange(t.size)",
     {"agrees_with_reference", "longest_first_to_least_loaded"}),
    # efficiency as W / speed-up
    ("parallel_metrics", "speedup / int(workers)", "int(workers) / speedup",
     {"agrees_with_reference", "closed_form"}),
    # the MSE on logits averaged over classes too (torch's mse_loss default), not summed
    ("mse_logit_loss", "return float(np.sum(diff**2) / N), 2.0 * diff / N",
     "return float(np.mean(diff**2)), 2.0 * diff / diff.size",
     {"agrees_with_reference", "summed_over_classes_mean_over_batch", "sees_a_shift_of_the_logits"}),
    # the first record at or above the target, without interpolation
    ("time_to_target", "return float(t[i - 1] + frac * (t[i] - t[i - 1]))", "return float(t[i])",
     {"agrees_with_reference", "first_crossing_interpolated"}),
]


@pytest.mark.parametrize("ex_id,old,new,must_fail", BUGS, ids=[b[0] for b in BUGS])
def test_classic_bug_is_caught(lab, ex_id, old, new, must_fail):
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)
