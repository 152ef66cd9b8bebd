"""Lab 12: the contract (tests/lab_contract.py) and the lab's classic bugs, each caught by its checks.

The buggy example (examples/lab12/expected.toml) covers two more: the unrolled gradient without the adjoint
carried back through the steps, and the nasty teacher's gradient with T^2 for T."""

import pytest

LAB_ID = "lab12"
from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests run for this lab
from lab_contract import assert_bug_caught  # noqa: E402

from labgrader.validate import lab_source  # noqa: E402

BUGS = [
    # the gradient of the sum instead of the mean: off by the factor N
    ("softmax_ce_grad", "return loss, X.T @ P / N", "return loss, X.T @ P",
     {"agrees_with_reference", "loss_and_gradient_closed_form", "gradient_matches_finite_differences"}),
    # truncated backpropagation: only the last inner step's direct dependence on X_syn (W_t treated as a constant)
    ("distill_grad", "grad_X += -lr * ((P - Y) @ A.T / M + S @ W_t.T)", "grad_X += -lr * ((P - Y) @ A.T / M)",
     {"agrees_with_reference", "gradient_matches_finite_differences"}),
    # KL the wrong way round (student first), as nn.KLDivLoss's argument order invites
    ("data_free_kd_losses", "kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=1)",
     "kl = np.sum(np.exp(log_q) * (log_q - log_p), axis=1)", {"agrees_with_reference", "kl_closed_form"}),
    # the unbiased variance, as torch.var's default
    ("bn_statistics_loss", ".mean(axis=axes)  # (C,), biased", ".sum(axis=axes) / max(x.size // C - 1, 1)  # (C,)",
     {"agrees_with_reference", "statistics_closed_form", "two_values_biased_variance"}),
    # the nasty teacher's KL without Hinton's T^2
    ("nasty_teacher_loss", "return float(ce - omega * T**2 * np.mean(kl))", "return float(ce - omega * np.mean(kl))",
     {"agrees_with_reference", "closed_form"}),
    # log of the probabilities: 0 * log 0 = NaN for a one-hot soft label
    ("soft_label_entropy", "return np.maximum(np.log(s) - np.sum(p * a, axis=1), 0.0)",
     "return -np.sum(p * np.log(p), axis=1)", {"uniform_and_one_hot_ends"}),
    # the non-target entropy divided by log C instead of log (C - 1)
    ("dark_knowledge_stats", "/ np.log(C - 1)])", "/ np.log(C)])",
     {"agrees_with_reference", "closed_form", "even_and_spiky_ends"}),
]


@pytest.mark.parametrize("ex_id,old,new,must_fail", BUGS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_classic_bug_is_caught(lab, ex_id, old, new, must_fail):
    assert_bug_caught(lab, lab_source(lab), ex_id, old, new, must_fail)
