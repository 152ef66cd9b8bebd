"""Lab 13: the contract (tests/lab_contract.py) and the lab's classic bugs, each caught by its checks."""

import pytest

LAB_ID = "lab13"
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = [
    # the online softmax without rescaling the running normaliser when the row max grows
    ("tiled_attention", "l = rescale * l + P.sum(axis=1)", "l = l + P.sum(axis=1)",
     {"agrees_with_reference", "equals_naive_attention", "block_sizes_do_not_matter"}),
    # scores without the 1 / sqrt(d) scaling
    ("tiled_attention", "Qi = Q[r0:r0 + block_rows] / np.sqrt(d)", "Qi = Q[r0:r0 + block_rows]",
     {"equals_naive_attention"}),
    # the number of column blocks rounded down: the last, partial block is not counted
    ("attention_hbm_accesses", "T_c = -(-N // B_c)", "T_c = N // B_c", {"flash_walks_algorithm_1"}),
    # student layer m compared with teacher layer m instead of g(m)
    ("tinybert_attention_loss", "S[m - 1] - T[g[m] - 1]", "S[m - 1] - T[m - 1]", {"mse_over_mapped_layers"}),
    # Hinton's T^2 factor carried over into TinyBERT's prediction loss
    ("soft_cross_entropy", "return float(-(pt * log_ps).sum(axis=1).mean())",
     "return float(-(pt * log_ps).sum(axis=1).mean() * T**2)", {"soft_cross_entropy_closed_form"}),
    # the distillation head trained on the true labels: no distillation at all
    ("deit_loss", "0.5 * log_pd[rows, y_t].mean()", "0.5 * log_pd[rows, labels].mean()",
     {"half_label_half_teacher_decision"}),
    # the mask from sigmoid(g) >= 1/2: a gate logit of exactly 0 keeps its head
    ("head_flops_loss", "mask = (g > 0).astype(np.int64)", "mask = (g >= 0).astype(np.int64)",
     {"sigmoid_expected_flops_and_hinge"}),
    # the mix the wrong way round: 0.75 teacher, 0.25 label
    ("switch_distill_loss", "return teacher_weight * soft + (1 - teacher_weight) * hard",
     "return (1 - teacher_weight) * soft + teacher_weight * hard", {"cross_entropy_against_the_mix"}),
    # a cascade that charges only the answering stage, as if earlier stages were free
    ("cascade_cost_accuracy", "cost = float(np.cumsum(c)[exits].mean())", "cost = float(c[exits].mean())",
     {"first_confident_stage_pays_all_before", "open_and_closed_stages"}),
    # a strict threshold: a confidence equal to the threshold is sent on
    ("cascade_cost_accuracy", "conf[:, :S - 1] >= t", "conf[:, :S - 1] > t", {"first_confident_stage_pays_all_before"}),
    # issue 19, ties: the fused prediction with ties to the HIGHEST class (a loop with ">="); before the strategy
    # drew exact ties in both heads only the hidden check caught it (the self-check said "all passed")
    ("deit_predict", "pred = fused.argmax(axis=1).astype(np.int64)",
     "pred = (fused.shape[1] - 1 - fused[:, ::-1].argmax(axis=1)).astype(np.int64)",
     {"agrees_with_reference", "sum_of_softmaxes_and_agreement"}),
]


@pytest.mark.parametrize("ex_id,old,new,must_fail", BUGS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_classic_bug_is_caught(lab, ex_id, old, new, must_fail):
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)
