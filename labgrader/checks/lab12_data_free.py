"""Lab 12 checks: dataset distillation by unrolled SGD, data-free KD objectives, the nasty teacher and
the statistics of its soft labels.

Each check's docstring (first paragraph) is the property the student reads when it fails. The
public checks need no reference: the quantities have closed forms computed here with Python
loops (``math``), and the gradients are compared with central finite differences of a forward
pass written here (the unrolled inner loop, the nasty-teacher loss).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab12_data_free.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import as_array, as_float, as_tuple, assert_close, fmt, raises_value_error
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
EXERCISES = registry.exercises("reference_impl.data_free", [
    "softmax_ce_grad", "distill_grad", "data_free_kd_losses", "bn_statistics_loss", "nasty_teacher_loss",
    "nasty_teacher_grad", "soft_label_entropy", "dark_knowledge_stats",
])

H = 1e-5  # central finite-difference step: truncation error ~H^2, rounding ~1e-16 / H on these O(1) losses
FD_RTOL, FD_ATOL = 1e-4, 1e-6


# --- strategies ----------------------------------------------------------------------------------
def _elements(bound: float = 4.0):
    """Small integers and halves first (readable counterexamples), then any float in [-bound, bound]."""
    return st.one_of(st.integers(-4, 4).map(lambda k: k / 2.0),
                     st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False))


def _array(draw, shape, bound: float = 4.0) -> np.ndarray:
    return draw(hnp.arrays(np.float64, shape, elements=_elements(bound)))


def _labels(draw, n: int, C: int) -> np.ndarray:
    return draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, C - 1)))


# Batches (the N of every batch mean) are sometimes long, up to LONG_BATCH (S.sizes; issue 19: a bug that is
# exact on a few rows shows on more). Finite-difference checks keep their small sizes (their cost grows with it).
LONG_BATCH = 20


@st.composite
def ce_cases(draw, max_n: int = 8, large: int = LONG_BATCH):
    N, d, C = draw(S.sizes(1, max_n, large=large)), draw(st.integers(1, 5)), draw(st.integers(2, 7))
    return _array(draw, (N, d)), _array(draw, (d, C), 2.0), _labels(draw, N, C)


@st.composite
def distill_cases(draw, max_m: int = 7):
    """(X_syn, y_syn, X_val, y_val, W0, lr, steps): small enough for finite differences over every X_syn entry."""
    M, N, d, C = draw(st.integers(1, max_m)), draw(S.sizes(1, 8, large=LONG_BATCH)), draw(st.integers(1, 4)), draw(st.integers(2, 4))
    return (_array(draw, (M, d), 2.0), _labels(draw, M, C), _array(draw, (N, d), 2.0), _labels(draw, N, C),
            _array(draw, (d, C), 1.0), draw(st.sampled_from([0.1, 0.5, 1.0, 2.0])), draw(st.integers(0, 4)))


@st.composite
def logit_pairs(draw, max_n: int = 8, min_c: int = 2, large: int = LONG_BATCH):
    N, C = draw(S.sizes(1, max_n, large=large)), draw(st.integers(min_c, 9))
    return _array(draw, (N, C), 6.0), _array(draw, (N, C), 6.0)


TEMPERATURES = st.sampled_from([1.0, 2.0, 4.0, 0.5, 10.0])
OMEGAS = st.sampled_from([0.0, 0.04, 0.5, 1.0])


@st.composite
def nasty_cases(draw, large: int = LONG_BATCH):
    z, a = draw(logit_pairs(large=large))
    return z, a, _labels(draw, z.shape[0], z.shape[1]), draw(TEMPERATURES), draw(OMEGAS)


@st.composite
def bn_cases(draw):
    conv = draw(st.booleans())
    N, C = draw(st.integers(1, 7) if conv else S.sizes(1, 7, large=LONG_BATCH)), draw(st.integers(1, 5))
    shape = (N, C, draw(st.integers(1, 3)), draw(st.integers(1, 3))) if conv else (N, C)
    x = _array(draw, shape)
    mu = _array(draw, (C,))
    var = draw(hnp.arrays(np.float64, (C,), elements=st.one_of(st.sampled_from([0.0, 1.0, 4.0]), st.floats(0, 8))))
    return x, mu, var


# --- helpers (closed forms, independent of the reference) -----------------------------------------




def _log_softmax_row(row) -> list[float]:
    m = max(row)
    lse = m + math.log(math.fsum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def _ce(X, W, y) -> float:
    """Mean cross-entropy of softmax(X W), row by row with Python floats."""
    Z = X @ W
    return math.fsum(-_log_softmax_row(list(Z[n]))[int(y[n])] for n in range(len(y))) / len(y)


def _ce_grad(X, W, y) -> np.ndarray:
    Z = X @ W
    P = np.array([[math.exp(v) for v in _log_softmax_row(list(row))] for row in Z])
    P[np.arange(len(y)), y] -= 1.0
    return X.T @ P / len(y)


def _unrolled_loss(X_syn, y_syn, X_val, y_val, W0, lr, steps) -> float:
    W = W0.copy()
    for _ in range(steps):
        W = W - lr * _ce_grad(X_syn, W, y_syn)
    return _ce(X_val, W, y_val)


def _kl_rows(p_logits, q_logits, T: float) -> list[float]:
    """KL(softmax(p / T) || softmax(q / T)) per row."""
    out = []
    for a, b in zip(p_logits, q_logits):
        lp, lq = _log_softmax_row([v / T for v in a]), _log_softmax_row([v / T for v in b])
        out.append(math.fsum(math.exp(u) * (u - w) for u, w in zip(lp, lq)))
    return out


def _nasty_loss(z, a, y, T, omega) -> float:
    ce = math.fsum(-_log_softmax_row(list(z[n]))[int(y[n])] for n in range(len(y))) / len(y)
    return ce - omega * T**2 * math.fsum(_kl_rows(a, z, T)) / len(y)


def _entropy_rows(z, T: float) -> list[float]:
    out = []
    for row in z:
        lp = _log_softmax_row([v / T for v in row])
        out.append(-math.fsum(math.exp(u) * u for u in lp if u > -700))
    return out


def _dark(z, y, T: float) -> list[float]:
    t_sum, rest_sum, h_sum = [], [], []
    C = z.shape[1]
    for row, label in zip(z, y):
        lp = _log_softmax_row([v / T for v in row])
        rest = [u for c, u in enumerate(lp) if c != int(label)]
        lr = _log_softmax_row(rest)  # the non-target distribution, renormalised
        t_sum.append(math.exp(lp[int(label)]))
        rest_sum.append(math.fsum(math.exp(u) for u in rest))
        h_sum.append(-math.fsum(math.exp(u) * u for u in lr if u > -700) / math.log(C - 1))
    n = len(y)
    return [math.fsum(t_sum) / n, math.fsum(rest_sum) / n, math.fsum(h_sum) / n]


def _bn_stats(x) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance by a loop over the channel's values."""
    C = x.shape[1]
    mu, var = np.zeros(C), np.zeros(C)
    for c in range(C):
        vals = [float(v) for v in np.moveaxis(x, 1, 0)[c].ravel()]
        m = math.fsum(vals) / len(vals)
        mu[c], var[c] = m, math.fsum((v - m) ** 2 for v in vals) / len(vals)
    return mu, var


def _ce_result(student, X, W, y):
    got = as_tuple(student(X, W, y), 2, "softmax_ce_grad(X, W, y)")
    return as_float(got[0], "the loss"), as_array(got[1], "grad_W", shape=W.shape)


# --- softmax_ce_grad ------------------------------------------------------------------------------
@check("softmax_ce_grad", public=True, case=ce_cases())
def loss_and_gradient_closed_form(student, ref, case):
    """The loss should be -1/N sum_n log softmax(X W)[n, y_n] and grad_W = X^T (softmax(X W) - Y) / N, Y one-hot."""
    X, W, y = case
    loss, grad = _ce_result(student, X, W, y)
    what = f"softmax_ce_grad({fmt(X)}, {fmt(W)}, {fmt(y)})"
    assert_close(loss, _ce(X, W, y), what + "[0], the loss")
    assert_close(grad, _ce_grad(X, W, y), what + "[1], grad_W")


@check("softmax_ce_grad", public=True, case=ce_cases(max_n=4, large=4))
def softmax_ce_grad__gradient_matches_finite_differences(student, ref, case):
    """grad_W should match central finite differences (L(W + h e_ij) - L(W - h e_ij)) / 2h of the cross-entropy."""
    X, W, y = case
    _, grad = _ce_result(student, X, W, y)
    fd = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        E = np.zeros_like(W)
        E[idx] = H
        fd[idx] = (_ce(X, W + E, y) - _ce(X, W - E, y)) / (2 * H)
    assert_close(grad, fd, f"grad_W of softmax_ce_grad({fmt(X)}, {fmt(W)}, {fmt(y)}) vs finite differences",
                 rtol=FD_RTOL, atol=FD_ATOL)


@check("softmax_ce_grad", public=True, big=st.sampled_from([1e3, 1e4, 3e4]), label=st.integers(0, 1))
def large_logits_stay_finite(student, ref, big, label):
    """Rows of logits (big, big / 2) and (-big, -big / 2), big up to 3e4, should give the finite loss big / 4 and grad_W = [[1/2, -1/2]]: subtract each row's own maximum (a single maximum for the whole batch underflows the second row)."""
    X, W, y = np.array([[1.0], [-1.0]]), np.array([[big, big / 2]]), np.array([label, label])
    loss, grad = _ce_result(student, X, W, y)
    what = f"softmax_ce_grad([[1], [-1]], [[{big}, {big / 2}]], [{label}, {label}])"
    assert_close(loss, big / 4, "the loss of " + what)
    assert_close(grad, np.array([[0.5, -0.5]]), "grad_W of " + what, atol=1e-12)


@check("softmax_ce_grad", public=True, bad=st.sampled_from([
    ("X (2, 3) with W (2, 3)", np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1])),
    ("C = 1", np.ones((2, 3)), np.ones((3, 1)), np.array([0, 0])),
    ("N = 0", np.ones((0, 3)), np.ones((3, 2)), np.array([], dtype=np.int64)),
    ("a label 2 with C = 2", np.ones((2, 3)), np.ones((3, 2)), np.array([0, 2])),
    ("a label -1", np.ones((2, 3)), np.ones((3, 2)), np.array([0, -1])),
    ("float labels", np.ones((2, 3)), np.ones((3, 2)), np.array([0.0, 1.0])),
    ("3 labels for 2 rows", np.ones((2, 3)), np.ones((3, 2)), np.array([0, 1, 1])),
    ("a NaN in X", np.array([[np.nan, 1.0, 1.0], [1.0, 1.0, 1.0]]), np.ones((3, 2)), np.array([0, 1])),
    ("an inf in W", np.ones((2, 3)), np.array([[np.inf, 1.0], [1.0, 1.0], [1.0, 1.0]]), np.array([0, 1]))]))
def softmax_ce_grad__rejects_bad_input(student, ref, bad):
    """softmax_ce_grad should raise ValueError for shapes that do not fit, N = 0, C < 2, labels that are not integers in [0, C), or non-finite X or W."""
    what, *args = bad
    raises_value_error(student, f"softmax_ce_grad with {what}", *args)


# --- distill_grad ---------------------------------------------------------------------------------
def _distill(student, case):
    got = as_tuple(student(*case), 2, "distill_grad(X_syn, y_syn, X_val, y_val, W0, lr, steps)")
    return as_float(got[0], "the validation loss"), as_array(got[1], "grad_X_syn", shape=case[0].shape)


def _fd_distill(case) -> np.ndarray:
    """Central finite differences of the unrolled validation loss, entry by entry of X_syn."""
    X_syn, rest = case[0], case[1:]
    fd = np.zeros_like(X_syn)
    for idx in np.ndindex(*X_syn.shape):
        E = np.zeros_like(X_syn)
        E[idx] = H
        fd[idx] = (_unrolled_loss(X_syn + E, *rest) - _unrolled_loss(X_syn - E, *rest)) / (2 * H)
    return fd


def _distill_desc(case) -> str:
    X_syn, y_syn, X_val, y_val, W0, lr, steps = case
    return (f"distill_grad(X_syn={fmt(X_syn)}, y_syn={fmt(y_syn)}, X_val={fmt(X_val)}, y_val={fmt(y_val)}, "
            f"W0={fmt(W0)}, lr={lr}, steps={steps})")


@check("distill_grad", public=True, case=distill_cases())
def loss_after_unrolled_steps(student, ref, case):
    """The loss should be the validation cross-entropy after k steps W <- W - lr X_syn^T (softmax(X_syn W) - Y_syn) / M from W0."""
    loss, _ = _distill(student, case)
    assert_close(loss, _unrolled_loss(*case), "the validation loss of " + _distill_desc(case))


@check("distill_grad", public=True, case=distill_cases().filter(lambda c: c[0].size <= 12))
def distill_grad__gradient_matches_finite_differences(student, ref, case):
    """grad_X_syn should match central finite differences of the validation loss after the k unrolled steps, entry by entry of X_syn (backpropagate through every step, both through W_t and through X_syn's use in each step)."""
    _, grad = _distill(student, case)
    assert_close(grad, _fd_distill(case), "grad_X_syn vs finite differences, for " + _distill_desc(case), rtol=FD_RTOL,
                 atol=FD_ATOL)


@check("distill_grad", public=True, case=distill_cases())
def zero_steps_zero_gradient(student, ref, case):
    """With steps = 0 the weights never see X_syn: the loss is CE(X_val W0) and the gradient is exactly 0."""
    case = case[:-1] + (0,)
    loss, grad = _distill(student, case)
    assert_close(loss, _ce(case[2], case[4], case[3]), "the validation loss of " + _distill_desc(case))
    assert_close(grad, np.zeros_like(case[0]), "grad_X_syn of " + _distill_desc(case), atol=0.0)


@check("distill_grad", public=True, big=st.sampled_from([800.0, 1000.0, -900.0]), steps=st.integers(1, 3))
def large_inputs_stay_finite(student, ref, big, steps):
    """Synthetic inputs of +-1e3 give logits of +-1e3 in the inner steps: the loss and the gradient should stay finite and match finite differences (subtract the row maximum in every softmax, the backward pass's too)."""
    case = (np.array([[big], [1.0]]), np.array([1, 0]), np.array([[1.0], [-1.0]]), np.array([0, 1]),
            np.array([[1.0, -1.0]]), 1e-3, steps)
    loss, grad = _distill(student, case)
    assert_close(loss, _unrolled_loss(*case), "the validation loss of " + _distill_desc(case))
    assert_close(grad, _fd_distill(case), "grad_X_syn vs finite differences, for " + _distill_desc(case), rtol=FD_RTOL,
                 atol=FD_ATOL)


_DG = dict(X_syn=np.ones((2, 3)), y_syn=np.array([0, 1]), X_val=np.ones((4, 3)), y_val=np.array([0, 1, 1, 0]),
           W0=np.zeros((3, 2)), lr=0.1, steps=2)


@check("distill_grad", public=True, bad=st.sampled_from([
    ("lr = 0", dict(lr=0.0)), ("lr = -0.1", dict(lr=-0.1)), ("lr = inf", dict(lr=math.inf)), ("lr = NaN", dict(lr=math.nan)),
    ("steps = -1", dict(steps=-1)), ("steps = 1.5", dict(steps=1.5)), ("a label 3 in y_syn", dict(y_syn=np.array([0, 3]))),
    ("W0 of shape (2, 3)", dict(W0=np.ones((2, 3)))), ("a NaN in X_syn", dict(X_syn=np.full((2, 3), np.nan))),
    ("a label 2 in y_val", dict(y_val=np.array([0, 2, 1, 0]))), ("X_val with 2 features", dict(X_val=np.ones((4, 2)))),
    ("a label 3 in y_syn and steps = 0", dict(y_syn=np.array([0, 3]), steps=0)),
    ("a NaN in X_syn and steps = 0", dict(X_syn=np.full((2, 3), np.nan), steps=0))]))
def distill_grad__rejects_bad_input(student, ref, bad):
    """distill_grad should raise ValueError for lr not a finite number > 0, steps not an integer >= 0, or a bad array (shape, label, non-finite), even with steps = 0."""
    what, change = bad
    raises_value_error(student, f"distill_grad with {what}", **{**_DG, **change})


# --- data_free_kd_losses --------------------------------------------------------------------------
def _dfkd(student, t, s, kind, T):
    got = as_tuple(student(t, s, kind, T), 2, f"data_free_kd_losses(t, s, {kind!r}, {T})")
    return as_float(got[0], "the student loss"), as_float(got[1], "the generator loss")


@check("data_free_kd_losses", public=True, pair=logit_pairs(), T=TEMPERATURES)
def kl_closed_form(student, ref, pair, T):
    """kind "kl": the student loss should be D = T^2 / N sum_n KL(softmax(t_n / T) || softmax(s_n / T)) (the teacher first) and the generator loss -D."""
    t, s = pair
    D = T**2 * math.fsum(_kl_rows(t, s, T)) / len(t)
    got = _dfkd(student, t, s, "kl", T)
    assert_close(np.array(got), np.array([D, -D]), f"data_free_kd_losses({fmt(t)}, {fmt(s)}, 'kl', {T})")


@check("data_free_kd_losses", public=True, pair=logit_pairs(), T=TEMPERATURES)
def l1_closed_form(student, ref, pair, T):
    """kind "l1": the student loss should be the mean absolute logit difference 1/(N C) sum |t - s| (T plays no part) and the generator loss its negative."""
    t, s = pair
    D = math.fsum(abs(float(v)) for v in (t - s).ravel()) / t.size
    got = _dfkd(student, t, s, "l1", T)
    assert_close(np.array(got), np.array([D, -D]), f"data_free_kd_losses({fmt(t)}, {fmt(s)}, 'l1', {T})")


@check("data_free_kd_losses", public=True, pair=logit_pairs(), shift=st.sampled_from([-3.0, 5.0, 1e3]),
       kind=st.sampled_from(["kl", "l1"]))
def zero_at_agreement(student, ref, pair, shift, kind):
    """Identical logits give 0 for both kinds; for "kl", so do student logits shifted by a constant per row (softmax ignores it), and logits of +-1e4 stay finite beside a row at -3e4 (each row its own maximum)."""
    t, _ = pair
    got = _dfkd(student, t, t.copy(), kind, 1.0)
    assert_close(np.array(got), np.zeros(2), f"data_free_kd_losses(t, t, {kind!r}) with t = {fmt(t)}", atol=1e-12)
    got = _dfkd(student, t, t + shift, "kl", 2.0)
    assert_close(np.array(got), np.zeros(2), f"data_free_kd_losses(t, t + {shift}, 'kl', 2.0) with t = {fmt(t)}",
                 atol=1e-9)
    t, s = np.array([[1e4, -1e4, 0.0], [-3e4, -3e4, -3e4]]), np.array([[0.0, -1e4, 1e4], [-3e4, -3e4 - 1, -3e4]])
    D = math.fsum(_kl_rows(t, s, 1.0)) / 2  # rows with very different maxima, both rows with a KL > 0
    assert_close(np.array(_dfkd(student, t, s, "kl", 1.0)), np.array([D, -D]), f"data_free_kd_losses({fmt(t)}, {fmt(s)}, 'kl', 1.0)")


@check("data_free_kd_losses", public=True, bad=st.sampled_from([
    ("kind 'l2'", np.ones((2, 3)), np.ones((2, 3)), "l2", 1.0), ("shapes (2, 3) and (2, 4)", np.ones((2, 3)), np.ones((2, 4)), "kl", 1.0),
    ("T = 0", np.ones((2, 3)), np.ones((2, 3)), "kl", 0.0), ("T = -1", np.ones((2, 3)), np.ones((2, 3)), "kl", -1.0),
    ("C = 1", np.ones((2, 1)), np.ones((2, 1)), "kl", 1.0), ("1-D logits", np.ones(3), np.ones(3), "l1", 1.0),
    ("an inf logit", np.full((2, 3), np.inf), np.ones((2, 3)), "l1", 1.0), ("N = 0", np.ones((0, 3)), np.ones((0, 3)), "kl", 1.0)]))
def data_free_kd_losses__rejects_bad_input(student, ref, bad):
    """data_free_kd_losses should raise ValueError for a kind other than "kl" / "l1", T not a finite number > 0, or logits that are not two finite (N, C) arrays of one shape with N >= 1, C >= 2."""
    what, *args = bad
    raises_value_error(student, f"data_free_kd_losses with {what}", *args)


# --- bn_statistics_loss ---------------------------------------------------------------------------
@check("bn_statistics_loss", public=True, case=bn_cases())
def statistics_closed_form(student, ref, case):
    """R should be ||mu(x) - running_mean||_2 + ||sigma^2(x) - running_var||_2 with the per-channel mean and biased variance over every axis but 1 (N for (N, C); N, H, W for (N, C, H, W))."""
    x, mu, var = case
    m, v = _bn_stats(x)
    expected = math.sqrt(math.fsum((m - mu) ** 2)) + math.sqrt(math.fsum((v - var) ** 2))
    assert_close(as_float(student(x, mu, var), "R"), expected, f"bn_statistics_loss({fmt(x)}, {fmt(mu)}, {fmt(var)})")


@check("bn_statistics_loss", public=True, a=st.integers(-3, 3), b=st.integers(1, 4), dm=st.sampled_from([(3.0, 4.0), (0.0, 2.0)]))
def two_values_biased_variance(student, ref, a, b, dm):
    """Two values a - b and a + b per channel have mean a and biased variance b^2 (not the unbiased 2 b^2); a mean off by (3, 4) costs exactly 5 (Euclidean norms, not squared)."""
    x = np.array([[a - b, a - b], [a + b, a + b]], dtype=np.float64)
    got = as_float(student(x, np.array([a, a], dtype=np.float64), np.array([b * b, b * b], dtype=np.float64)), "R")
    assert_close(got, 0.0, f"bn_statistics_loss({fmt(x)}, [{a}, {a}], [{b * b}, {b * b}])", atol=1e-12)
    mu = np.array([a + dm[0], a + dm[1]])
    got = as_float(student(x, mu, np.array([b * b, b * b], dtype=np.float64)), "R")
    assert_close(got, math.hypot(*dm), f"bn_statistics_loss({fmt(x)}, {fmt(mu)}, [{b * b}, {b * b}])")
    x4 = np.tile(np.array([a - b, a + b], dtype=np.float64).reshape(1, 1, 1, 2), (1, 2, 1, 1))  # (N, C, H, W) = (1, 2, 1, 2)
    got = as_float(student(x4, np.array([a, a], dtype=np.float64), np.array([b * b + 3.0, b * b + 4.0])), "R")
    assert_close(got, 5.0, f"bn_statistics_loss({fmt(x4)}, [{a}, {a}], [{b * b + 3}, {b * b + 4}]) (N, C, H, W)")


@check("bn_statistics_loss", public=True, bad=st.sampled_from([
    ("3-D features", np.ones((2, 3, 4)), np.zeros(3), np.ones(3)), ("running_mean of 2 for 3 channels", np.ones((2, 3)), np.zeros(2), np.ones(3)),
    ("running_var of 4 for 3 channels", np.ones((2, 3)), np.zeros(3), np.ones(4)),
    ("a negative running variance", np.ones((2, 3)), np.zeros(3), np.array([1.0, -1.0, 1.0])),
    ("N = 0", np.ones((0, 3)), np.zeros(3), np.ones(3)), ("a NaN running mean", np.ones((2, 3)), np.full(3, np.nan), np.ones(3)),
    ("an inf feature", np.full((2, 3), np.inf), np.zeros(3), np.ones(3))]))
def bn_statistics_loss__rejects_bad_input(student, ref, bad):
    """bn_statistics_loss should raise ValueError for features that are not non-empty 2-D / 4-D, running statistics not of shape (C,), non-finite values or a negative running variance."""
    what, *args = bad
    raises_value_error(student, f"bn_statistics_loss with {what}", *args)


# --- nasty_teacher_loss ---------------------------------------------------------------------------
def _nasty_desc(name, z, a, y, T, omega) -> str:
    return f"{name}({fmt(z)}, {fmt(a)}, {fmt(y)}, T={T}, omega={omega})"


@check("nasty_teacher_loss", public=True, case=nasty_cases())
def nasty_teacher_loss__closed_form(student, ref, case):
    """L should be CE(z_nasty, y) - omega T^2 / N sum_n KL(softmax(z_normal / T) || softmax(z_nasty / T)): the normal network's distribution first, the CE at T = 1."""
    assert_close(as_float(student(*case), "L"), _nasty_loss(*case), _nasty_desc("nasty_teacher_loss", *case))


@check("nasty_teacher_loss", public=True, case=nasty_cases(), shift=st.sampled_from([-2.0, 3.0]))
def copying_the_normal_network_is_plain_ce(student, ref, case, shift):
    """With nasty logits equal to the normal ones (or shifted by a constant) the KL is 0, and with omega = 0 it does not count: L is the plain cross-entropy at T = 1."""
    z, a, y, T, omega = case
    ce = _nasty_loss(z, z, y, T, 0.0)
    assert_close(as_float(student(z, z + shift, y, T, omega), "L"), ce,
                 _nasty_desc("nasty_teacher_loss", z, z + shift, y, T, omega), atol=1e-9)
    assert_close(as_float(student(z, a, y, T, 0.0), "L"), ce, _nasty_desc("nasty_teacher_loss", z, a, y, T, 0.0))


def _big_nasty(big, label, T):
    z = np.array([[big, -big, 0.0], [-big, -big, -2 * big]])  # rows with very different maxima
    a = np.array([[-big, 0.0, big], [-3 * big, -2 * big, -3 * big]])
    return z, a, np.array([label, 1]), T, 0.5


@check("nasty_teacher_loss", public=True, big=st.sampled_from([1e3, 1e4]), label=st.integers(0, 2))
def nasty_teacher_loss__large_logits_stay_finite(student, ref, big, label):
    """Logits of +-1e4 beside a row at -2e4 (divided by T = 4 in the KL) should give the finite closed-form value: subtract each row's own maximum in every softmax."""
    case = _big_nasty(big, label, 4.0)
    assert_close(as_float(student(*case), "L"), _nasty_loss(*case), _nasty_desc("nasty_teacher_loss", *case))


_NASTY_BAD = st.sampled_from([
    ("a label 3 with C = 3", np.ones((2, 3)), np.ones((2, 3)), np.array([0, 3])),
    ("shapes (2, 3) and (2, 2)", np.ones((2, 3)), np.ones((2, 2)), np.array([0, 1])),
    ("float labels", np.ones((2, 3)), np.ones((2, 3)), np.array([0.0, 1.0])),
    ("T = 0", np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1]), 0.0),
    ("T = NaN", np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1]), math.nan),
    ("omega = -0.1", np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1]), 4.0, -0.1),
    ("omega = inf", np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1]), 4.0, math.inf),
    ("a NaN logit", np.full((2, 3), np.nan), np.ones((2, 3)), np.array([0, 1])),
    ("C = 1", np.ones((2, 1)), np.ones((2, 1)), np.array([0, 0]))])


@check("nasty_teacher_loss", public=True, bad=_NASTY_BAD)
def nasty_teacher_loss__rejects_bad_input(student, ref, bad):
    """nasty_teacher_loss should raise ValueError for logits of different or wrong shapes, non-finite logits, labels outside [0, C), T not a finite number > 0, or omega not a finite number >= 0."""
    what, *args = bad
    raises_value_error(student, f"nasty_teacher_loss with {what}", *args)


# --- nasty_teacher_grad ---------------------------------------------------------------------------
@check("nasty_teacher_grad", public=True, case=nasty_cases())
def nasty_teacher_grad__closed_form(student, ref, case):
    """The gradient should be (softmax(z) - Y) / N - omega T (softmax(z / T) - softmax(z_normal / T)) / N."""
    z, a, y, T, omega = case
    N, C = z.shape

    def sm(v):
        return np.array([[math.exp(u) for u in _log_softmax_row(list(row))] for row in v])

    expected = (sm(z) - np.eye(C)[y]) / N - omega * T * (sm(z / T) - sm(a / T)) / N
    got = as_array(student(*case), "the gradient", shape=z.shape)
    assert_close(got, expected, _nasty_desc("nasty_teacher_grad", *case), atol=1e-12)


@check("nasty_teacher_grad", public=True, big=st.sampled_from([1e3, 1e4]), label=st.integers(0, 2))
def nasty_teacher_grad__large_logits_stay_finite(student, ref, big, label):
    """Logits of +-1e4 beside a row at -2e4 should give the finite closed-form gradient (softmaxes with each row's own maximum subtracted)."""
    z, a, y, T, omega = _big_nasty(big, label, 1.0)

    def sm(v):
        return np.array([[math.exp(u) for u in _log_softmax_row(list(row))] for row in v])

    expected = (sm(z) - np.eye(3)[y]) / 2 - omega * T * (sm(z / T) - sm(a / T)) / 2
    got = as_array(student(z, a, y, T, omega), "the gradient", shape=z.shape)
    assert_close(got, expected, _nasty_desc("nasty_teacher_grad", z, a, y, T, omega), atol=1e-12)


@check("nasty_teacher_grad", public=True, case=nasty_cases(large=8).filter(lambda c: c[0].size <= 24))
def nasty_teacher_grad__matches_finite_differences(student, ref, case):
    """The gradient should match central finite differences of L = CE - omega T^2 KL(normal || nasty) entry by entry, and each row should sum to 0."""
    z, a, y, T, omega = case
    got = as_array(student(*case), "the gradient", shape=z.shape)
    fd = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        E = np.zeros_like(z)
        E[idx] = H
        fd[idx] = (_nasty_loss(z + E, a, y, T, omega) - _nasty_loss(z - E, a, y, T, omega)) / (2 * H)
    assert_close(got, fd, _nasty_desc("nasty_teacher_grad", *case) + " vs finite differences", rtol=FD_RTOL, atol=FD_ATOL)
    assert_close(got.sum(axis=1), np.zeros(z.shape[0]), "the row sums of the gradient", atol=1e-12)


@check("nasty_teacher_grad", public=True, bad=_NASTY_BAD)
def nasty_teacher_grad__rejects_bad_input(student, ref, bad):
    """nasty_teacher_grad should raise ValueError for the inputs nasty_teacher_loss rejects (shapes, non-finite logits, labels, T, omega)."""
    what, *args = bad
    raises_value_error(student, f"nasty_teacher_grad with {what}", *args)


# --- soft_label_entropy ---------------------------------------------------------------------------
@check("soft_label_entropy", public=True, pair=logit_pairs(min_c=1), T=TEMPERATURES)
def entropy_closed_form(student, ref, pair, T):
    """H_n should be -sum_c p_nc log p_nc in nats with p_n = softmax(z_n / T)."""
    z = pair[0]
    got = as_array(student(z, T), "the entropies", shape=(z.shape[0],))
    assert_close(got, np.array(_entropy_rows(z, T)), f"soft_label_entropy({fmt(z)}, {T})", atol=1e-12)


@check("soft_label_entropy", public=True, N=st.integers(1, 4), C=st.integers(1, 9), big=st.sampled_from([1e3, 1e4]))
def uniform_and_one_hot_ends(student, ref, N, C, big):
    """Equal logits give the maximum log C; logits (big, 0, -big) give a one-hot label with entropy 0, not NaN (0 log 0 = 0), also beside a row of equal logits -3 big (log 3)."""
    got = as_array(student(np.zeros((N, C)), 1.0), "the entropies", shape=(N,))
    assert_close(got, np.full(N, math.log(C)), f"soft_label_entropy(np.zeros(({N}, {C})), 1.0)", atol=1e-12)
    z = np.array([[big, 0.0, -big], [-3 * big, -3 * big, -3 * big]])
    got = as_array(student(z, 1.0), "the entropies", shape=(2,))
    assert_close(got, np.array([0.0, math.log(3)]), f"soft_label_entropy({fmt(z)}, 1.0) (each row its own maximum)",
                 atol=1e-12)


@check("soft_label_entropy", public=True, bad=st.sampled_from([
    ("1-D logits", np.ones(3), 1.0), ("C = 0", np.ones((2, 0)), 1.0), ("T = 0", np.ones((2, 3)), 0.0), ("T = -2", np.ones((2, 3)), -2.0),
    ("T = inf", np.ones((2, 3)), math.inf), ("a NaN logit", np.array([[np.nan, 1.0]]), 1.0)]))
def soft_label_entropy__rejects_bad_input(student, ref, bad):
    """soft_label_entropy should raise ValueError for logits that are not a finite (N, C) array with C >= 1, or T not a finite number > 0."""
    what, *args = bad
    raises_value_error(student, f"soft_label_entropy with {what}", *args)


# --- dark_knowledge_stats -------------------------------------------------------------------------
@st.composite
def dark_cases(draw):
    z, _ = draw(logit_pairs(min_c=3))
    return z, _labels(draw, z.shape[0], z.shape[1]), draw(TEMPERATURES)


@check("dark_knowledge_stats", public=True, case=dark_cases())
def dark_knowledge_stats__closed_form(student, ref, case):
    """The statistics should be [mean p[y], mean (1 - p[y]), mean H(r) / log(C - 1)] with p = softmax(z / T) and r the non-target probabilities renormalised to sum to 1."""
    z, y, T = case
    got = as_array(student(z, y, T), "the statistics", shape=(3,))
    assert_close(got, np.array(_dark(z, y, T)), f"dark_knowledge_stats({fmt(z)}, {fmt(y)}, {T})", atol=1e-12)


@check("dark_knowledge_stats", public=True, C=st.integers(3, 10), top=st.sampled_from([0.0, 2.0, 5.0]),
       label=st.integers(0, 2), big=st.sampled_from([1e3, 1e4]))
def even_and_spiky_ends(student, ref, C, top, label, big):
    """Wrong classes that share the mass evenly give normalised entropy 1; one wrong class taking all of it (it and the target at +big, the others at 0) gives 0, not NaN or inf; a row whose target takes all the mass (wrong classes at -big in log space) still has a uniform non-target part (1)."""
    z = np.zeros((1, C))
    z[0, label] = top
    got = as_array(student(z, np.array([label]), 1.0), "the statistics", shape=(3,))
    p_y = math.exp(top) / (math.exp(top) + C - 1)
    assert_close(got, np.array([p_y, 1 - p_y, 1.0]), f"dark_knowledge_stats({fmt(z)}, [{label}], 1.0)", atol=1e-12)
    z = np.zeros((1, C))  # two classes at +big, the rest at 0: exp(+big) overflows unless the row maximum goes first
    z[0, label], z[0, (label + 1) % C] = big, big
    got = as_array(student(z, np.array([label]), 1.0), "the statistics", shape=(3,))
    assert_close(got, np.array([0.5, 0.5, 0.0]), f"dark_knowledge_stats({fmt(z)}, [{label}], 1.0)", atol=1e-12)
    z = np.zeros((2, C))  # a target that takes (nearly) all the mass beside a row of equal logits
    z[0, label] = big
    got = as_array(student(z, np.array([label, label]), 1.0), "the statistics", shape=(3,))
    assert_close(got, np.array([(1 + 1 / C) / 2, (C - 1) / C / 2, 1.0]),
                 f"dark_knowledge_stats({fmt(z)}, [{label}, {label}], 1.0) (each row its own maximum)", atol=1e-12)


@check("dark_knowledge_stats", public=True, bad=st.sampled_from([
    ("C = 2", np.ones((2, 2)), np.array([0, 1]), 4.0), ("a label 3 with C = 3", np.ones((2, 3)), np.array([0, 3]), 4.0),
    ("1 label for 2 rows", np.ones((2, 3)), np.array([0]), 4.0), ("T = -1", np.ones((2, 3)), np.array([0, 1]), -1.0),
    ("an inf logit", np.full((2, 3), np.inf), np.array([0, 1]), 4.0), ("float labels", np.ones((2, 3)), np.array([0.0, 1.0]), 4.0),
    ("N = 0", np.ones((0, 3)), np.array([], dtype=np.int64), 4.0)]))
def dark_knowledge_stats__rejects_bad_input(student, ref, bad):
    """dark_knowledge_stats should raise ValueError for logits that are not finite (N, C) with N >= 1, C >= 3, labels not N integers in [0, C), or T not a finite number > 0."""
    what, *args = bad
    raises_value_error(student, f"dark_knowledge_stats with {what}", *args)
