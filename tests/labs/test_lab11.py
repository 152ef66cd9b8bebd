"""Lab 11: the contract (tests/lab_contract.py) and the lab's classic bugs, each caught by its checks."""

import pytest

LAB_ID = "lab11"
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = [
    # FGSM without the box: the adversarial image leaves the valid pixel range
    ("fgsm", "return np.clip(x + eps * np.sign(grad), lo, hi)", "return x + eps * np.sign(grad)",
     {"agrees_with_reference", "sign_step_then_clip", "stays_in_ball_and_box"}),
    # PGD without the projection onto the eps-ball: iterates drift away from the clean input
    ("pgd_step", "z = np.clip(x + alpha * np.sign(grad), x0 - eps, x0 + eps)", "z = x + alpha * np.sign(grad)",
     {"agrees_with_reference", "step_project_clip", "stays_in_ball_and_box"}),
    # robust accuracy averaged over attacks instead of the worst case per sample
    ("robust_accuracy", "return float(np.mean(np.all(correct, axis=0)))", "return float(np.mean(correct))",
     {"agrees_with_reference", "correct_under_every_attack", "worst_case_over_attacks"}),
    # SAM normalised per entry (the sign of g) instead of by the gradient's global L2 norm
    ("sam_perturbation", "return rho * g / norm", "return rho * np.sign(g)",
     {"agrees_with_reference", "rho_times_unit_gradient", "norm_rho_and_scale_free"}),
    # edge-popup by signed score instead of |score|
    ("edge_popup_mask", "order = np.argsort(-np.abs(scores).ravel(), kind=\"stable\")",
     "order = np.argsort(-scores.ravel(), kind=\"stable\")", {"keeps_top_k_by_magnitude", "sign_free_and_nested"}),
    # issue 19, ties: descending order by reversing an ascending stable sort keeps the HIGHER index of tied
    # |scores| (full marks before the strategies drew exact ties)
    ("edge_popup_mask", "order = np.argsort(-np.abs(scores).ravel(), kind=\"stable\")",
     "order = np.argsort(np.abs(scores).ravel(), kind=\"stable\")[::-1]",
     {"agrees_with_reference", "keeps_top_k_by_magnitude"}),
    # issue 19, rounding: round half up instead of half to even (k n = 2.5 keeps 3); full marks before k n
    # was drawn exactly halfway
    ("edge_popup_mask", "n_keep = int(np.round(k * scores.size))", "n_keep = int(np.floor(k * scores.size + 0.5))",
     {"agrees_with_reference", "keeps_top_k_by_magnitude"}),
    # early bird compared with the previous mask only, not the whole queue
    ("early_bird_epoch", "for j in range(1, window + 1)", "for j in range(1, 2)",
     {"agrees_with_reference", "first_epoch_close_to_the_whole_queue", "frozen_masks_stop_at_the_window"}),
]


@pytest.mark.parametrize("ex_id,old,new,must_fail", BUGS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_classic_bug_is_caught(lab, ex_id, old, new, must_fail):
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)
