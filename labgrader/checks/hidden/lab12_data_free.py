"""Lab 12 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab12_data_free.py (the public
checks) and not this file. ``labgrader.checks.load("lab12_data_free")`` registers them after the public ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...assertions import as_array, as_float, assert_close, fmt
from ..lab12_data_free import TEMPERATURES, _ce_result, _dfkd, _distill, _distill_desc, _nasty_desc, bn_cases, ce_cases, check, dark_cases, distill_cases, logit_pairs, nasty_cases


# --- softmax_ce_grad ------------------------------------------------------------------------------
@check("softmax_ce_grad", case=ce_cases())
def softmax_ce_grad__agrees_with_reference(student, ref, case):
    """softmax_ce_grad(X, W, y) should return the reference's (loss, grad_W)."""
    X, W, y = case
    loss, grad = _ce_result(student, X, W, y)
    r_loss, r_grad = ref(X, W, y)
    assert_close(loss, r_loss, f"the loss of softmax_ce_grad({fmt(X)}, {fmt(W)}, {fmt(y)})")
    assert_close(grad, r_grad, "grad_W")


# --- distill_grad ---------------------------------------------------------------------------------
@check("distill_grad", case=distill_cases())
def distill_grad__agrees_with_reference(student, ref, case):
    """distill_grad(X_syn, y_syn, X_val, y_val, W0, lr, steps) should return the reference's (loss, grad_X_syn)."""
    loss, grad = _distill(student, case)
    r_loss, r_grad = ref(*case)
    assert_close(loss, r_loss, "the validation loss of " + _distill_desc(case))
    assert_close(grad, r_grad, "grad_X_syn of " + _distill_desc(case))


# --- data_free_kd_losses --------------------------------------------------------------------------
@check("data_free_kd_losses", pair=logit_pairs(), kind=st.sampled_from(["kl", "l1"]), T=TEMPERATURES)
def data_free_kd_losses__agrees_with_reference(student, ref, pair, kind, T):
    """data_free_kd_losses(teacher_logits, student_logits, kind, T) should return the reference's (student loss, generator loss)."""
    t, s = pair
    got, expected = _dfkd(student, t, s, kind, T), ref(t, s, kind, T)
    assert_close(np.array(got), np.array(expected), f"data_free_kd_losses({fmt(t)}, {fmt(s)}, {kind!r}, {T})")


# --- bn_statistics_loss ---------------------------------------------------------------------------
@check("bn_statistics_loss", case=bn_cases())
def bn_statistics_loss__agrees_with_reference(student, ref, case):
    """bn_statistics_loss(features, running_mean, running_var) should return the reference's value."""
    x, mu, var = case
    assert_close(as_float(student(x, mu, var), "R"), ref(x, mu, var),
                 f"bn_statistics_loss({fmt(x)}, {fmt(mu)}, {fmt(var)})")


# --- nasty_teacher_loss ---------------------------------------------------------------------------
@check("nasty_teacher_loss", case=nasty_cases())
def nasty_teacher_loss__agrees_with_reference(student, ref, case):
    """nasty_teacher_loss(nasty_logits, normal_logits, labels, T, omega) should return the reference's value."""
    assert_close(as_float(student(*case), "L"), ref(*case), _nasty_desc("nasty_teacher_loss", *case))


# --- nasty_teacher_grad ---------------------------------------------------------------------------
@check("nasty_teacher_grad", case=nasty_cases())
def nasty_teacher_grad__agrees_with_reference(student, ref, case):
    """nasty_teacher_grad(nasty_logits, normal_logits, labels, T, omega) should return the reference's gradient."""
    got = as_array(student(*case), "the gradient", shape=case[0].shape)
    assert_close(got, ref(*case), _nasty_desc("nasty_teacher_grad", *case))


# --- soft_label_entropy ---------------------------------------------------------------------------
@check("soft_label_entropy", pair=logit_pairs(min_c=1), T=TEMPERATURES)
def soft_label_entropy__agrees_with_reference(student, ref, pair, T):
    """soft_label_entropy(logits, T) should return the reference's entropies."""
    z = pair[0]
    got = as_array(student(z, T), "the entropies", shape=(z.shape[0],))
    assert_close(got, ref(z, T), f"soft_label_entropy({fmt(z)}, {T})", atol=1e-12)


# --- dark_knowledge_stats -------------------------------------------------------------------------
@check("dark_knowledge_stats", case=dark_cases())
def dark_knowledge_stats__agrees_with_reference(student, ref, case):
    """dark_knowledge_stats(logits, labels, T) should return the reference's three statistics."""
    z, y, T = case
    got = as_array(student(z, y, T), "the statistics", shape=(3,))
    assert_close(got, ref(z, y, T), f"dark_knowledge_stats({fmt(z)}, {fmt(y)}, {T})", atol=1e-12)
