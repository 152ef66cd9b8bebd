"""Lab 1 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab01_distillation.py (the public
checks) and not this file. ``labgrader.checks.load("lab01_distillation")`` registers them after the public ones.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from reference_impl import distillation as R

from ... import strategies as S
from ...assertions import CheckFailed, as_float, assert_close
from ..lab01_distillation import VOTERS, _bounds, _loyalty_pair, check, class_arrays, kd_batches, labelled_logits, prob_pairs


# --- softmax_t ------------------------------------------------------------------------------------
@check("softmax_t", logits=class_arrays(), T=S.TEMPERATURES)
def softmax_t__agrees_with_reference(student, ref, logits, T):
    """softmax_t(logits, T) should equal the temperature softmax along the last axis, for any shape (..., C)."""
    assert_close(student(logits, T), ref(logits, T), "softmax_t(logits, T)")


# --- log_softmax_t --------------------------------------------------------------------------------
@check("log_softmax_t", logits=class_arrays(), T=S.TEMPERATURES)
def log_softmax_t__agrees_with_reference(student, ref, logits, T):
    """log_softmax_t(logits, T) should equal log of the temperature softmax along the last axis."""
    assert_close(student(logits, T), ref(logits, T), "log_softmax_t(logits, T)")


# --- kl_divergence --------------------------------------------------------------------------------
@check("kl_divergence", pq=prob_pairs(tiny=True))
def kl_divergence__agrees_with_reference(student, ref, pq):
    """kl_divergence(p, q) should equal sum_i p_i log(p_i / q_i) per row (0 log 0 = 0; +inf where q_i = 0 < p_i)."""
    p, q = pq
    assert_close(student(p, q), ref(p, q), "kl_divergence(p, q)")


# --- js_divergence --------------------------------------------------------------------------------
@check("js_divergence", pq=prob_pairs(tiny=True))
def js_divergence__agrees_with_reference(student, ref, pq):
    """js_divergence(p, q) should equal 1/2 KL(p||m) + 1/2 KL(q||m) with m = (p + q)/2, per row."""
    p, q = pq
    assert_close(student(p, q), ref(p, q), "js_divergence(p, q)")


# --- cross_entropy --------------------------------------------------------------------------------
@check("cross_entropy", zy=labelled_logits())
def cross_entropy__agrees_with_reference(student, ref, zy):
    """cross_entropy(logits, labels) should equal -1/N sum_n log softmax(z_n)[y_n]."""
    z, y = zy
    assert_close(student(z, y), ref(z, y), "cross_entropy(logits, labels)")


# --- kd_loss --------------------------------------------------------------------------------------
@check("kd_loss", batch=kd_batches(), T=S.TEMPERATURES, alpha=S.ALPHAS)
def kd_loss__agrees_with_reference(student, ref, batch, T, alpha):
    """kd_loss should equal (1 - alpha) CE(z_s, y) + alpha T^2 mean_n KL(softmax(z_t/T) || softmax(z_s/T))."""
    zs, zt, y = batch
    assert_close(student(zs, zt, y, T, alpha), ref(zs, zt, y, T, alpha), "kd_loss(student_logits, teacher_logits, labels, T, alpha)")


@check("kd_loss", batch=kd_batches(), T=S.TEMPERATURES)
def t_squared_scaling(student, ref, batch, T):
    """With alpha = 1, kd_loss should be T^2 times the batch-mean KL(p_teacher,T || p_student,T) (the T^2 keeps the soft term's gradient scale independent of T)."""
    zs, zt, y = batch
    kl = float(R.kl_divergence(R.softmax_t(zt, T), R.softmax_t(zs, T)).mean())
    got = as_float(student(zs, zt, y, T, 1.0), "kd_loss(..., alpha=1)")
    try:
        assert_close(got, T**2 * kl, "kd_loss(..., alpha=1)")
    except CheckFailed as e:
        if T != 1 and kl > 1e-9 and math.isclose(got, kl, rel_tol=1e-6):
            raise CheckFailed(f"{e}\n  (that is the KL without the factor T^2 = {T**2:g})") from None
        raise


@check("kd_loss", batch=kd_batches(), T=st.sampled_from([1.0, 2.0, 4.0]))
def kl_direction_teacher_first(student, ref, batch, T):
    """The soft term should be KL(teacher || student) — the teacher's distribution is the target — not KL(student || teacher)."""
    zs, zt, y = batch
    expected = T**2 * float(R.kl_divergence(R.softmax_t(zt, T), R.softmax_t(zs, T)).mean())
    assert_close(student(zs, zt, y, T, 1.0), expected, "kd_loss(..., alpha=1)")


# --- hard_label_kd_loss ---------------------------------------------------------------------------
@check("hard_label_kd_loss", batch=kd_batches(teacher_ties=True), alpha=S.ALPHAS)
def hard_label_kd_loss__agrees_with_reference(student, ref, batch, alpha):
    """hard_label_kd_loss should equal (1 - alpha) CE(z_s, y) + alpha CE(z_s, argmax z_t), ties in z_t to the lowest class index."""
    zs, zt, y = batch
    assert_close(student(zs, zt, y, alpha), ref(zs, zt, y, alpha), "hard_label_kd_loss(student_logits, teacher_logits, labels, alpha)")


@check("hard_label_kd_loss", batch=S.kd_batches(distinct_teacher_max=True), alpha=S.ALPHAS)
def teacher_agreeing_with_labels_gives_ce(student, ref, batch, alpha):
    """When the teacher predicts the true labels, hard_label_kd_loss should equal CE(z_s, y) for every alpha."""
    zs, zt, _ = batch
    y = zt.argmax(axis=-1)
    assert_close(student(zs, zt, y, alpha), R.cross_entropy(zs, y), "hard_label_kd_loss with labels = argmax(teacher)")


@check("hard_label_kd_loss", batch=S.kd_batches(distinct_teacher_max=True))
def alpha_weights_teacher_term(student, ref, batch):
    """With alpha = 1 only the teacher's labels count (CE with argmax z_t); with alpha = 0 only the true labels."""
    zs, zt, y = batch
    assert_close(student(zs, zt, y, 1.0), R.cross_entropy(zs, zt.argmax(axis=-1)), "hard_label_kd_loss(..., alpha=1)")
    assert_close(student(zs, zt, y, 0.0), R.cross_entropy(zs, y), "hard_label_kd_loss(..., alpha=0)")


# --- label_loyalty --------------------------------------------------------------------------------
@check("label_loyalty", pq=_loyalty_pair())
def label_loyalty__agrees_with_reference(student, ref, pq):
    """label_loyalty should be the fraction of samples where the student's argmax equals the teacher's."""
    s, t = pq
    assert_close(student(s, t), ref(s, t), "label_loyalty(student_probs, teacher_probs)")


# --- probability_loyalty --------------------------------------------------------------------------
@check("probability_loyalty", pq=prob_pairs(tiny=True))
def probability_loyalty__agrees_with_reference(student, ref, pq):
    """probability_loyalty should be the batch mean of 1 - sqrt(JS(p_t, p_s) / log 2)."""
    s, t = pq
    assert_close(student(s, t), ref(s, t), "probability_loyalty(student_probs, teacher_probs)")


# --- majority_vote_accuracy -----------------------------------------------------------------------
@check("majority_vote_accuracy", p=S.PROBABILITIES, k=VOTERS)
def majority_vote_accuracy__agrees_with_reference(student, ref, p, k):
    """majority_vote_accuracy(p, k) should be P(more than k/2 of k independent voters are right), ties (even k) split 50/50."""
    assert_close(student(p, k), ref(p, k), f"majority_vote_accuracy({p!r}, {k})")


@check("majority_vote_accuracy", p=S.PROBABILITIES, k=st.sampled_from([2, 4, 6]))
def even_k_splits_ties(student, ref, p, k):
    """For even k a tie (k/2 right) should count half: add 1/2 C(k, k/2) p^(k/2) (1-p)^(k/2)."""
    expected = sum(math.comb(k, i) * p**i * (1 - p) ** (k - i) for i in range(k // 2 + 1, k + 1))
    expected += 0.5 * math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2)
    assert_close(student(p, k), expected, f"majority_vote_accuracy({p!r}, {k})")


# --- majority_vote_bounds -------------------------------------------------------------------------
@check("majority_vote_bounds", p=S.PROBABILITIES, k=VOTERS)
def majority_vote_bounds__agrees_with_reference(student, ref, p, k):
    """majority_vote_bounds(p, k) should be (max(0, (kp - L)/(k - L)), min(1, kp/m)), m = floor(k/2) + 1, L = ceil(k/2) - 1."""
    lo, hi = _bounds(student, p, k)
    e_lo, e_hi = ref(p, k)
    assert_close(lo, e_lo, f"majority_vote_bounds({p!r}, {k})[0] (the worst case)", atol=1e-12)
    assert_close(hi, e_hi, f"majority_vote_bounds({p!r}, {k})[1] (the best case)", atol=1e-12)
