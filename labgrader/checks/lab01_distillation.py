"""Lab 1 checks: temperature softmax, divergences, Hinton KD, DeiT hard-label KD, loyalty, voting.

Each check's docstring (first paragraph) is the property the student reads when it fails. Each
exercise has an agreement check against the hidden reference plus the invariants of the topic,
most of them public (they need no reference: a student can run them on their own machine).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab01_distillation.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import CheckFailed, as_array, as_float, assert_close, fmt, require, require_value_error, assert_stable, row_max_zero
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
EXERCISES = registry.exercises("reference_impl.distillation", [
    "softmax_t", "log_softmax_t", "kl_divergence", "js_divergence", "cross_entropy", "kd_loss",
    "hard_label_kd_loss", "label_loyalty", "probability_loyalty", "majority_vote_accuracy", "majority_vote_bounds"
])

LARGE = 1e4  # "large logits": exp(1e4) overflows float64, so only a stable implementation survives


def _large_logits():
    """Logits of magnitude up to 1e4, from small integer patterns so counterexamples stay readable."""
    return S.logits(bound=1.0).map(lambda z: np.round(z) * LARGE)


def _ce(z: np.ndarray, y: np.ndarray) -> float:
    """Cross-entropy written independently of the reference (log-sum-exp by np.logaddexp)."""
    return float(np.mean(np.logaddexp.reduce(z, axis=-1) - z[np.arange(len(y)), y]))


def _distinct_max(z: np.ndarray) -> np.ndarray:
    z = z.copy()
    for row in z.reshape(-1, z.shape[-1]):
        top = np.flatnonzero(row == row.max())
        row[top[1:]] -= 1.0
    return z


def _first_max(row) -> int:
    """The lowest index of a row's maximum, by a loop with a strict > (the docstrings' tie rule)."""
    best = 0
    for j in range(1, len(row)):
        if row[j] > row[best]:
            best = j
    return best


# --- strategies: the sizes, ties and tiny values the docstrings talk about (issue 19) --------------
# Class counts and batch sizes are small (readable counterexamples) but sometimes up to S.LARGE_SIZE,
# ties in argmax inputs are exact (S.tied), and teacher logits include 1e-20, 1e-300 and -0.0, where
# np.exp rounds to 1 and only the logits themselves still order the classes.
CLASSES = S.sizes(2, S.MAX_CLASSES)  # C: 2..5, sometimes up to 40
VOTERS = S.sizes(1, 15)  # k: 1..15, sometimes up to 40 (an int64 factorial overflows from 21!)


def _elements(bound: float):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def class_arrays(draw, *, bound: float = S.LOGIT_BOUND) -> np.ndarray:
    """Logits (C,), (N, C) or (A, N, C): leading sides 1..3, the class axis 1..4 and sometimes up to 40."""
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    return draw(hnp.arrays(np.float64, lead + (draw(S.sizes(1, 4)),), elements=_elements(bound)))


@st.composite
def prob_pairs(draw, *, zeros: bool = True, same_support: bool = False, tiny: bool = False):
    """Two (N, C) probability arrays of one shape, C sometimes up to 40; with ``tiny``, some of their zeros
    become 1e-20 or 1e-300 (still probabilities: a row's sum does not move)."""
    n, c = draw(st.integers(1, S.MAX_BATCH)), draw(CLASSES)
    pq = [draw(S.prob_vectors(batch=n, classes=c, zeros=zeros and not same_support)) for _ in range(2)]
    if tiny:
        for a in pq:
            hit = (a == 0) & draw(hnp.arrays(np.bool_, a.shape))
            a[hit] = draw(st.sampled_from([1e-20, 1e-300]))
    return pq[0], pq[1]


@st.composite
def kd_batches(draw, *, bound: float = 10.0, teacher_ties: bool = False):
    """(student_logits (N, C), teacher_logits (N, C), labels (N,)), C sometimes up to 40. With
    ``teacher_ties`` the teacher's logits hold exact ties (S.tied) and tiny values (S.with_tiny)."""
    n, c = draw(st.integers(1, S.MAX_BATCH)), draw(CLASSES)
    zs = draw(S.logits(batch=n, classes=c, bound=bound))
    if teacher_ties:
        zt = S.tied(draw(hnp.arrays(np.float64, (n, c), elements=S.with_tiny(_elements(bound)))), draw)
    else:
        zt = draw(S.logits(batch=n, classes=c, bound=bound))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return zs, zt, y


@st.composite
def labelled_logits(draw, *, bound: float = S.LOGIT_BOUND):
    """(logits (N, C), labels (N,) int64 in [0, C)), C sometimes up to 40."""
    n, c = draw(st.integers(1, S.MAX_BATCH)), draw(CLASSES)
    z = draw(S.logits(batch=n, classes=c, bound=bound))
    return z, np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)


# --- softmax_t ----------------------------------------------------------------------------------
@check("softmax_t", public=True, logits=class_arrays(), T=S.TEMPERATURES)
def sums_to_one(student, ref, logits, T):
    """softmax_t should return probabilities in [0, 1] whose rows sum to 1 along the last axis."""
    p = as_array(student(logits, T), "softmax_t(logits, T)", shape=logits.shape)
    require(bool(np.all((p >= 0) & (p <= 1))), f"all probabilities should lie in [0, 1], got {fmt(p)}")
    assert_close(p.sum(axis=-1), np.ones(logits.shape[:-1]), "row sums of softmax_t(logits, T)", atol=1e-9)


@check("softmax_t", public=True, logits=S.logits(), T=S.TEMPERATURES, c=st.floats(-50, 50))
def softmax_t__shift_invariant(student, ref, logits, T, c):
    """softmax_t should be shift-invariant: adding the same constant c to every logit changes nothing."""
    a = as_array(student(logits, T), "softmax_t(logits, T)", shape=logits.shape)
    b = as_array(student(logits + c, T), "softmax_t(logits + c, T)", shape=logits.shape)
    assert_close(b, a, "softmax_t(logits + c, T) compared with softmax_t(logits, T)", atol=1e-9)


@check("softmax_t", public=True, logits=_large_logits(), T=st.sampled_from([1.0, 2.0]))
def softmax_t__stable_at_large_logits(student, ref, logits, T):
    """softmax_t should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (subtract the row maximum before exp)."""
    p = as_array(student(logits, T), "softmax_t(logits, T)", shape=logits.shape)
    assert_stable(p, student(row_max_zero(logits), T), "softmax_t(logits, T)", "exp overflowed")


@check("softmax_t", public=True, logits=S.logits(bound=10.0))
def high_temperature_flattens(student, ref, logits):
    """As T grows, softmax_t should approach the uniform distribution 1/C (at T = 1e6, within 1e-4)."""
    p = as_array(student(logits, 1e6), "softmax_t(logits, 1e6)", shape=logits.shape)
    assert_close(p, np.full(logits.shape, 1 / logits.shape[-1]), "softmax_t(logits, T=1e6)", atol=1e-4, rtol=0)


@check("softmax_t", public=True, logits=S.logits(), T=st.sampled_from([0.0, -1.0, math.nan, math.inf]))
def rejects_bad_temperature(student, ref, logits, T):
    """softmax_t should raise ValueError for a temperature that is not a finite number > 0."""
    r = student.raw(logits, T)
    require(not r.ok and r.error_type == "ValueError",
            f"softmax_t(logits, T={T}) should raise ValueError, but it "
            + ("returned a value" if r.ok else f"raised {r.error_type}: {r.error}"))


# --- log_softmax_t ------------------------------------------------------------------------------
@check("log_softmax_t", public=True, logits=class_arrays(), T=S.TEMPERATURES)
def exp_sums_to_one(student, ref, logits, T):
    """exp(log_softmax_t(logits, T)) should sum to 1 along the last axis, and every entry should be <= 0."""
    lp = as_array(student(logits, T), "log_softmax_t(logits, T)", shape=logits.shape)
    require(bool(np.all(lp <= 1e-12)), f"log-probabilities cannot be positive, got {fmt(lp)}")
    assert_close(np.exp(lp).sum(axis=-1), np.ones(logits.shape[:-1]), "row sums of exp(log_softmax_t(logits, T))",
                 atol=1e-9)


@check("log_softmax_t", public=True, logits=S.logits(), T=S.TEMPERATURES, c=st.floats(-50, 50))
def log_softmax_t__shift_invariant(student, ref, logits, T, c):
    """log_softmax_t should be shift-invariant: adding a constant c to every logit changes nothing."""
    a = as_array(student(logits, T), "log_softmax_t(logits, T)", shape=logits.shape)
    b = as_array(student(logits + c, T), "log_softmax_t(logits + c, T)", shape=logits.shape)
    assert_close(b, a, "log_softmax_t(logits + c, T) compared with log_softmax_t(logits, T)", atol=1e-8)


@check("log_softmax_t", public=True, logits=_large_logits(), T=st.sampled_from([1.0, 2.0]))
def finite_at_large_logits(student, ref, logits, T):
    """log_softmax_t should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (use log-sum-exp, not log(softmax))."""
    lp = as_array(student(logits, T), "log_softmax_t(logits, T)", shape=logits.shape)
    assert_stable(lp, student(row_max_zero(logits), T), "log_softmax_t(logits, T)", "log(0) or exp overflow")


# --- kl_divergence ------------------------------------------------------------------------------
@check("kl_divergence", public=True, p=S.prob_vectors())
def kl_divergence__zero_for_identical(student, ref, p):
    """kl_divergence(p, p) should be 0 for every row (including rows with zero probabilities)."""
    assert_close(student(p, p), np.zeros(p.shape[0]), "kl_divergence(p, p)", atol=1e-12)


@check("kl_divergence", public=True, pq=prob_pairs(same_support=True))
def pinsker_lower_bound(student, ref, pq):
    """kl_divergence should satisfy Pinsker's inequality KL(p||q) >= 1/2 ||p - q||_1^2 (so it is >= 0, and > 0 when p != q)."""
    p, q = pq
    kl = as_array(student(p, q), "kl_divergence(p, q)", shape=p.shape[:1])
    bound = 0.5 * np.abs(p - q).sum(axis=-1) ** 2
    require(bool(np.all(kl >= bound - 1e-12)),
            f"kl_divergence(p, q) = {fmt(kl)} is below Pinsker's bound 1/2 ||p - q||_1^2 = {fmt(bound)}")


@check("kl_divergence", public=True, p=S.prob_vectors(min_classes=3), q=S.prob_vectors(zeros=False, min_classes=3))
def handles_zero_probabilities(student, ref, p, q):
    """kl_divergence should treat 0 * log 0 as 0: classes where p_i = 0 add nothing (no nan)."""
    c = min(p.shape[1], q.shape[1])
    n = min(p.shape[0], q.shape[0])
    p = p[:n, :c].copy()
    q = q[:n, :c] / q[:n, :c].sum(axis=-1, keepdims=True)
    p[:, 0] = 0.0  # force a zero class in every row
    p[p.sum(axis=-1) == 0, 1] = 1.0
    p = p / p.sum(axis=-1, keepdims=True)
    kl = as_array(student(p, q), "kl_divergence(p, q)", shape=(n,))
    require(bool(np.all(np.isfinite(kl))), f"kl_divergence(p, q) = {fmt(kl)}: p has zeros, but 0 * log 0 should count as 0")
    expected = np.array([sum(pi * math.log(pi / qi) for pi, qi in zip(pr, qr) if pi > 0) for pr, qr in zip(p, q)])
    assert_close(kl, expected, "kl_divergence(p, q)")


@check("kl_divergence", public=True, p=S.prob_vectors(zeros=False), tiny=st.sampled_from([None, 1e-20, 1e-300]))
def infinite_where_q_is_zero(student, ref, p, tiny):
    """kl_divergence(p, q) should be +inf on every row where q_i = 0 < p_i, however small p_i is (1e-300 > 0 too: no epsilon, no threshold)."""
    p = p.copy()
    if tiny is not None:
        p[:, 0] = tiny  # a tiny mass on class 0
        p /= p.sum(axis=-1, keepdims=True)
    q = np.zeros_like(p)
    q[:, 1:] = 1.0 / (p.shape[1] - 1)  # q puts no mass on class 0, p some
    kl = as_array(student(p, q), "kl_divergence(p, q)", shape=p.shape[:1])
    assert_close(kl, np.full(p.shape[0], math.inf), f"kl_divergence(p, q) with p[:, 0] = {fmt(p[:, 0])} and q[:, 0] = 0")


# --- js_divergence ------------------------------------------------------------------------------
@check("js_divergence", public=True, pq=prob_pairs())
def symmetric(student, ref, pq):
    """js_divergence should be symmetric: JS(p, q) = JS(q, p)."""
    p, q = pq
    a = as_array(student(p, q), "js_divergence(p, q)", shape=p.shape[:1])
    b = as_array(student(q, p), "js_divergence(q, p)", shape=p.shape[:1])
    assert_close(b, a, "js_divergence(q, p) compared with js_divergence(p, q)", atol=1e-12)


@check("js_divergence", public=True, pq=prob_pairs())
def bounded_by_log2(student, ref, pq):
    """js_divergence should lie in [0, log 2] and equal log 2 exactly when p and q have disjoint support."""
    p, q = pq
    js = as_array(student(p, q), "js_divergence(p, q)", shape=p.shape[:1])
    require(bool(np.all((js >= -1e-12) & (js <= math.log(2) + 1e-12))),
            f"js_divergence(p, q) = {fmt(js)} is outside [0, log 2 = 0.693147]")
    c = p.shape[1]
    a, b = np.eye(c)[:1], np.eye(c)[1:2]  # disjoint one-hot rows
    assert_close(student(a, b), np.array([math.log(2)]), f"js_divergence({fmt(a)}, {fmt(b)})")


@check("js_divergence", public=True, p=S.prob_vectors())
def js_divergence__zero_for_identical(student, ref, p):
    """js_divergence(p, p) should be 0 for every row."""
    assert_close(student(p, p), np.zeros(p.shape[0]), "js_divergence(p, p)", atol=1e-12)


# --- cross_entropy ------------------------------------------------------------------------------
@check("cross_entropy", public=True, n=st.integers(1, 4), c=st.integers(2, 6), value=st.floats(-20, 20))
def uniform_logits_give_log_c(student, ref, n, c, value):
    """cross_entropy of equal logits should be log C, whatever the labels (the model is uniform over C classes)."""
    z = np.full((n, c), value)
    y = np.arange(n) % c
    assert_close(student(z, y), math.log(c), f"cross_entropy of equal logits with C = {c}")


@check("cross_entropy", public=True, zy=labelled_logits())
def batch_mean(student, ref, zy):
    """cross_entropy of a batch should be the mean of the per-sample cross-entropies (mean, not sum)."""
    z, y = zy
    whole = as_float(student(z, y), "cross_entropy(logits, labels)")
    rows = [as_float(student(z[i : i + 1], y[i : i + 1]), f"cross_entropy(logits[{i}:{i + 1}], labels[{i}:{i + 1}])")
            for i in range(len(y))]
    assert_close(whole, float(np.mean(rows)), "cross_entropy of the batch compared with the mean over its rows")


@check("cross_entropy", public=True, zy=S.labelled_logits(bound=1.0).map(lambda t: (np.round(t[0]) * LARGE, t[1])))
def cross_entropy__stable_at_large_logits(student, ref, zy):
    """cross_entropy should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (go through log-softmax)."""
    z, y = zy
    ce = as_float(student(z, y), "cross_entropy(logits, labels)")
    assert_stable(ce, student(row_max_zero(z), y), "cross_entropy(logits, labels)", "log(0) or exp overflow")


# --- kd_loss ------------------------------------------------------------------------------------
@check("kd_loss", public=True, batch=kd_batches(), T=S.TEMPERATURES)
def alpha_zero_is_cross_entropy(student, ref, batch, T):
    """With alpha = 0, kd_loss should be just the cross-entropy of the student with the true labels."""
    zs, zt, y = batch
    assert_close(student(zs, zt, y, T, 0.0), _ce(zs, y), "kd_loss(..., alpha=0)")


@check("kd_loss", public=True, batch=kd_batches(), T=S.TEMPERATURES, alpha=S.ALPHAS)
def identical_logits_leave_hard_term(student, ref, batch, T, alpha):
    """When the student's logits equal the teacher's, the soft term vanishes: kd_loss = (1 - alpha) CE."""
    zs, _, y = batch
    assert_close(student(zs, zs.copy(), y, T, alpha), (1 - alpha) * _ce(zs, y),
                 "kd_loss(z, z, labels, T, alpha)", atol=1e-9)


# --- hard_label_kd_loss -------------------------------------------------------------------------
@check("hard_label_kd_loss", public=True, batch=S.kd_batches(distinct_teacher_max=True),
       scale=st.sampled_from([0.5, 2.0, 10.0]), alpha=S.ALPHAS)
def ignores_teacher_confidence(student, ref, batch, scale, alpha):
    """hard_label_kd_loss should depend on the teacher only through its argmax: scaling the teacher's logits changes nothing."""
    zs, zt, y = batch
    a = as_float(student(zs, zt, y, alpha), "hard_label_kd_loss(zs, zt, y, alpha)")
    b = as_float(student(zs, zt * scale, y, alpha), f"hard_label_kd_loss(zs, {scale} * zt, y, alpha)")
    assert_close(b, a, f"hard_label_kd_loss with teacher logits scaled by {scale}")


@check("hard_label_kd_loss", public=True, batch=kd_batches(teacher_ties=True), alpha=S.ALPHAS)
def teacher_label_is_first_maximum(student, ref, batch, alpha):
    """hard_label_kd_loss should take y_t = argmax_c z_t,c from the teacher's logits themselves, a tie going to the lowest class index: (1 - alpha) CE(z_s, y) + alpha CE(z_s, y_t)."""
    zs, zt, y = batch
    y_t = np.array([_first_max(row) for row in zt], dtype=np.int64)
    expected = (1 - alpha) * _ce(zs, y) + alpha * _ce(zs, y_t)
    assert_close(student(zs, zt, y, alpha), expected,
                 f"hard_label_kd_loss(zs, zt, y, alpha) with the teacher's labels y_t = {fmt(y_t)} (first maximum of each row)")


# --- label_loyalty ------------------------------------------------------------------------------
@st.composite
def _loyalty_pair(draw):
    """(student, teacher) (N, C) probabilities, N sometimes up to 40; on some draws with exact ties (S.tied: the
    rows then need not sum to 1, which argmax does not care about)."""
    n, c = draw(S.sizes(1, S.MAX_BATCH)), draw(st.integers(2, S.MAX_CLASSES))
    return tuple(S.tied(draw(S.prob_vectors(batch=n, classes=c, zeros=False)), draw) for _ in range(2))


@check("label_loyalty", public=True, pq=_loyalty_pair())
def is_a_fraction(student, ref, pq):
    """label_loyalty should be k/N for an integer 0 <= k <= N (a share of the N samples)."""
    s, t = pq
    v = as_float(student(s, t), "label_loyalty(s, t)")
    n = s.shape[0]
    require(0 <= v <= 1 and abs(v * n - round(v * n)) < 1e-9, f"label_loyalty = {v!r} is not k/{n} for an integer k in [0, {n}]")


@check("label_loyalty", public=True, p=S.prob_vectors(zeros=False).map(_distinct_max))
def label_loyalty__self_loyalty_is_one(student, ref, p):
    """label_loyalty(p, p) should be 1: a model always agrees with itself."""
    assert_close(student(p, p.copy()), 1.0, "label_loyalty(p, p)")


@check("label_loyalty", public=True, z=S.logits().map(_distinct_max), n_shift=st.integers(1, 4))
def disagreement_counts(student, ref, z, n_shift):
    """label_loyalty should drop by 1/N for each sample whose predicted class differs (and work on logits as well as probabilities)."""
    t = z
    s = z.copy()
    c = z.shape[1]
    changed = min(n_shift, z.shape[0])
    for i in range(changed):  # move the student's argmax to another class on the first `changed` rows
        j = (int(z[i].argmax()) + 1) % c
        s[i, j] = z[i].max() + 1.0
    assert_close(student(s, t), 1 - changed / z.shape[0], f"label_loyalty with {changed} of {z.shape[0]} predictions changed")


@check("label_loyalty", public=True, pq=_loyalty_pair())
def ties_go_to_lowest_index(student, ref, pq):
    """label_loyalty should compare each row's first maximum (ties go to the lowest class index): the share of rows where the student's and the teacher's agree."""
    s, t = pq
    agree = [_first_max(a) == _first_max(b) for a, b in zip(s, t)]
    assert_close(student(s, t), float(np.mean(agree)),
                 f"label_loyalty(s, t): the first maxima agree on rows {[i for i, a in enumerate(agree) if a]} of {len(agree)}")


# --- probability_loyalty ------------------------------------------------------------------------
@check("probability_loyalty", public=True, p=S.prob_vectors())
def probability_loyalty__self_loyalty_is_one(student, ref, p):
    """probability_loyalty(p, p) should be 1."""
    assert_close(student(p, p.copy()), 1.0, "probability_loyalty(p, p)")


@check("probability_loyalty", public=True, c=st.integers(2, 5), n=st.integers(1, 4))
def disjoint_support_is_zero(student, ref, c, n):
    """probability_loyalty should be 0 when student and teacher put all their mass on different classes (JS in bits is then 1)."""
    s = np.tile(np.eye(c)[0], (n, 1))
    t = np.tile(np.eye(c)[1], (n, 1))
    assert_close(student(s, t), 0.0, "probability_loyalty of disjoint one-hot predictions", atol=1e-9)


@check("probability_loyalty", public=True, pq=prob_pairs())
def symmetric_and_in_unit_interval(student, ref, pq):
    """probability_loyalty should lie in [0, 1] and not depend on which argument is the teacher (JS is symmetric)."""
    s, t = pq
    a = as_float(student(s, t), "probability_loyalty(s, t)")
    b = as_float(student(t, s), "probability_loyalty(t, s)")
    require(-1e-12 <= a <= 1 + 1e-12, f"probability_loyalty = {a!r} is outside [0, 1]")
    assert_close(b, a, "probability_loyalty(t, s) compared with probability_loyalty(s, t)", atol=1e-12)


# --- majority_vote_accuracy ---------------------------------------------------------------------
@check("majority_vote_accuracy", public=True, p=S.PROBABILITIES)
def one_voter_is_itself(student, ref, p):
    """With k = 1 the vote is the single classifier: majority_vote_accuracy(p, 1) = p."""
    assert_close(student(p, 1), p, f"majority_vote_accuracy({p!r}, 1)")


@check("majority_vote_accuracy", public=True, p=S.PROBABILITIES, k=VOTERS)
def complement_symmetry(student, ref, p, k):
    """majority_vote_accuracy(p, k) + majority_vote_accuracy(1 - p, k) should be 1 (swap right and wrong), so p = 0.5 gives 0.5."""
    a = as_float(student(p, k), f"majority_vote_accuracy({p!r}, {k})")
    b = as_float(student(1 - p, k), f"majority_vote_accuracy({1 - p!r}, {k})")
    assert_close(a + b, 1.0, f"majority_vote_accuracy({p!r}, {k}) + majority_vote_accuracy({1 - p!r}, {k})")


@check("majority_vote_accuracy", public=True, k=st.sampled_from([3, 5, 7]))
def three_voters_at_seventy_percent(student, ref, k):
    """Three voters at 0.7 should give 3(0.7^2)(0.3) + 0.7^3 = 0.784 (the lecture's example), and more voters help."""
    assert_close(student(0.7, 3), 0.784, "majority_vote_accuracy(0.7, 3)")
    more = as_float(student(0.7, k + 2), f"majority_vote_accuracy(0.7, {k + 2})")
    fewer = as_float(student(0.7, k), f"majority_vote_accuracy(0.7, {k})")
    require(more > fewer, f"with p = 0.7 > 1/2, {k + 2} voters ({more!r}) should beat {k} voters ({fewer!r})")


# --- majority_vote_bounds -----------------------------------------------------------------------
def _bounds(student, p, k) -> tuple:
    what = f"majority_vote_bounds({p!r}, {k})"
    got = student(p, k)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(f"{what} should return a tuple (lo, hi) of two floats, got {type(got).__name__}: {fmt(got)}")
    return as_float(got[0], f"{what}[0] (lo)"), as_float(got[1], f"{what}[1] (hi)")


def _independent_vote(p: float, k: int) -> float:
    """The independent-voters accuracy, written here from the binomial law (ties split 50/50)."""
    win = sum(math.comb(k, i) * p**i * (1 - p) ** (k - i) for i in range(k + 1) if 2 * i > k)
    tie = 0.5 * math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2) if k % 2 == 0 else 0.0
    return win + tie


@check("majority_vote_bounds", public=True, k=st.just(3))
def three_voters_at_seventy_percent_span_55_to_100(student, ref, k):
    """Three voters at 0.7 with correlated errors should give anything from 0.55 to 1.0 (the lecture's brain teaser)."""
    lo, hi = _bounds(student, 0.7, k)
    assert_close(lo, 0.55, "majority_vote_bounds(0.7, 3)[0]: wins 3-0 on 55% of inputs, loses 1-2 on 45%")
    assert_close(hi, 1.0, "majority_vote_bounds(0.7, 3)[1]: 2-1 wins on 100% of inputs use 2.0 <= 2.1 right votes")


@check("majority_vote_bounds", public=True, p=S.PROBABILITIES, k=VOTERS)
def brackets_the_independent_vote(student, ref, p, k):
    """0 <= lo <= (the independent voters' accuracy) <= hi <= 1: independence is one of the joint distributions."""
    lo, hi = _bounds(student, p, k)
    ind = _independent_vote(p, k)
    eps = 1e-9
    require(-eps <= lo <= ind + eps and ind - eps <= hi <= 1 + eps,
            f"majority_vote_bounds({p!r}, {k}) = ({lo!r}, {hi!r}) should bracket the independent accuracy {ind!r} within [0, 1]")


@check("majority_vote_bounds", public=True, p=S.PROBABILITIES, k=VOTERS)
def majority_vote_bounds__complement_symmetry(student, ref, p, k):
    """lo(p, k) + hi(1 - p, k) should be 1: the worst case for right answers is the best case for wrong ones."""
    lo, _ = _bounds(student, p, k)
    _, hi = _bounds(student, 1 - p, k)
    assert_close(lo + hi, 1.0, f"majority_vote_bounds({p!r}, {k})[0] + majority_vote_bounds({1 - p!r}, {k})[1]")


@check("majority_vote_bounds", public=True, p=S.PROBABILITIES, k=st.sampled_from([1, 2]))
def one_or_two_voters_have_no_freedom(student, ref, p, k):
    """With one voter, or two with ties split 50/50, the vote's accuracy is p whatever the correlation: (p, p)."""
    lo, hi = _bounds(student, p, k)
    assert_close(lo, p, f"majority_vote_bounds({p!r}, {k})[0]")
    assert_close(hi, p, f"majority_vote_bounds({p!r}, {k})[1]")


@check("majority_vote_bounds", public=True, bad=st.sampled_from([(1.5, 3), (-0.1, 3), (0.7, 0), (0.7, 2.0), (0.7, True)]))
def rejects_bad_arguments(student, ref, bad):
    """majority_vote_bounds should raise ValueError for p outside [0, 1] or k that is not an integer >= 1."""
    r = student.raw(*bad)
    require(not r.ok and r.error_type == "ValueError",
            f"majority_vote_bounds{bad} should raise ValueError, but it "
            + ("returned a value" if r.ok else f"raised {r.error_type}: {r.error}"))


# --- documented errors (each ValueError in a docstring's Raises: section has a rejects_* check) ------------------
def _z(*shape):
    return np.zeros(shape)


_LABELS = np.array([0, 1])


@check("log_softmax_t", public=True, bad=st.sampled_from([(_z(2, 3), 0.0), (_z(2, 3), -1.0), (_z(2, 3), math.inf),
                                                          (_z(2, 3), math.nan), (np.float64(1.0), 1.0)]))
def log_softmax_t__rejects_bad_input(student, ref, bad):
    """log_softmax_t should raise ValueError for a temperature that is not a finite number > 0, or logits without a class axis (a scalar)."""
    require_value_error(student, *bad)


@check("kl_divergence", public=True, bad=st.sampled_from([(_z(2, 3) + 1 / 3, _z(2, 2) + 0.5), (_z(3) + 1 / 3, _z(1, 3) + 1 / 3)]))
def kl_divergence__rejects_mismatched_shapes(student, ref, bad):
    """kl_divergence should raise ValueError when p and q differ in shape (no silent broadcasting)."""
    require_value_error(student, *bad)


@check("js_divergence", public=True, bad=st.sampled_from([(_z(2, 3) + 1 / 3, _z(2, 2) + 0.5), (_z(3) + 1 / 3, _z(1, 3) + 1 / 3)]))
def js_divergence__rejects_mismatched_shapes(student, ref, bad):
    """js_divergence should raise ValueError when p and q differ in shape (no silent broadcasting)."""
    require_value_error(student, *bad)


@check("cross_entropy", public=True, bad=st.sampled_from([(_z(2, 3), np.array([0, 3])), (_z(2, 3), np.array([-1, 0])),
                                                          (_z(2, 3), np.array([0, 1, 2])), (_z(2, 3), np.array([0.0, 1.0]))]))
def cross_entropy__rejects_bad_labels(student, ref, bad):
    """cross_entropy should raise ValueError for labels outside [0, C), non-integer labels, or a count other than N."""
    require_value_error(student, *bad)


@check("kd_loss", public=True, bad=st.sampled_from([
    (_z(2, 3), _z(2, 3), _LABELS, 4.0, 1.5), (_z(2, 3), _z(2, 3), _LABELS, 4.0, -0.1),
    (_z(2, 3), _z(2, 3), _LABELS, 0.0, 0.5), (_z(2, 3), _z(2, 4), _LABELS, 4.0, 0.5)]))
def kd_loss__rejects_bad_input(student, ref, bad):
    """kd_loss should raise ValueError for alpha outside [0, 1], T <= 0, or student and teacher logits of other shapes."""
    require_value_error(student, *bad)


@check("hard_label_kd_loss", public=True, bad=st.sampled_from([
    (_z(2, 3), _z(2, 3), _LABELS, 1.5), (_z(2, 3), _z(2, 3), _LABELS, -0.1), (_z(2, 3), _z(2, 4), _LABELS, 0.5)]))
def hard_label_kd_loss__rejects_bad_input(student, ref, bad):
    """hard_label_kd_loss should raise ValueError for alpha outside [0, 1] or logits of other shapes."""
    require_value_error(student, *bad)


_P = _z(2, 3) + 1 / 3


@check("label_loyalty", public=True, bad=st.sampled_from([(_P, _z(2, 2) + 0.5), (_z(0, 3), _z(0, 3))]))
def label_loyalty__rejects_bad_input(student, ref, bad):
    """label_loyalty should raise ValueError when the shapes differ or the batch is empty."""
    require_value_error(student, *bad)


@check("probability_loyalty", public=True, bad=st.sampled_from([(_P, _z(2, 2) + 0.5), (_z(0, 3), _z(0, 3))]))
def probability_loyalty__rejects_bad_input(student, ref, bad):
    """probability_loyalty should raise ValueError when the shapes differ or the batch is empty."""
    require_value_error(student, *bad)


# k > 1000 (documented too) is not drawn: the course's correct alternatives predate that bound and accept it.
@check("majority_vote_accuracy", public=True, bad=st.sampled_from([(1.5, 3), (-0.1, 3), (0.7, 0), (0.7, 2.0),
                                                                    (0.7, True)]))
def majority_vote_accuracy__rejects_bad_arguments(student, ref, bad):
    """majority_vote_accuracy should raise ValueError for p outside [0, 1] or k that is not an integer >= 1."""
    require_value_error(student, *bad)
