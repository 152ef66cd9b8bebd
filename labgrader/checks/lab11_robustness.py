"""Lab 11 checks: OBD saliency, FGSM and PGD, robust accuracy, SAM's perturbation, edge-popup supermasks
and their straight-through gradient, mask distance and early-bird tickets, CP reconstruction and the ALS
update.

Each check's docstring (first paragraph) is the property the student reads when it fails. The
invariants are public: they need no reference, because every quantity has a closed form or a brute
force computed here with plain Python loops (elementwise clipping, the kept set of a top-k mask by
sorting (|score|, index) pairs, the Khatri-Rao design matrix and ``numpy.linalg.lstsq``). Strategies
draw small integers and halves first, so that ties (equal logits, equal scores, distances equal to the
threshold, k n ending in .5) come up, and reach sizes past 6.

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab11_robustness.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import as_array, as_float, as_int, assert_close, fmt, raises_value_error, require
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
EXERCISES = registry.exercises("reference_impl.robustness", [
    "obd_saliency", "fgsm", "pgd_step", "robust_accuracy", "sam_perturbation", "edge_popup_mask",
    "supermask_score_grad", "mask_distance", "early_bird_epoch", "cp_reconstruct", "cp_als_update",
])


# --- strategies ----------------------------------------------------------------------------------
def _elements(bound: float = 4.0):
    """Small integers and halves first (readable counterexamples, ties), then any float in [-bound, bound]."""
    return st.one_of(st.integers(-6, 6).map(lambda k: k / 2.0),
                     st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False))


# 1-D lengths reach S.LARGE_SIZE (40) some of the time (issue 19: bugs that hide on short inputs).
SHAPES = st.one_of(S.sizes(1, 12).map(lambda n: (n,)), st.tuples(st.integers(1, 4), st.integers(1, 4)))


@st.composite
def arrays(draw, shape=None, bound: float = 4.0):
    return draw(hnp.arrays(np.float64, shape if shape is not None else draw(SHAPES), elements=_elements(bound)))


@st.composite
def pairs(draw):
    """Two arrays of one shape."""
    shape = draw(SHAPES)
    return draw(arrays(shape)), draw(arrays(shape))


@st.composite
def pixels(draw, shape):
    """Inputs in [0, 1] with the box's edges and exact quarters first."""
    return draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]),
                                                                 st.floats(0, 1, allow_subnormal=False))))


RADII = st.one_of(st.sampled_from([0.0, 0.1, 0.25, 0.5]), st.floats(0, 1, allow_subnormal=False))


@st.composite
def attack_cases(draw):
    """(x, grad, eps, lo, hi): the box [0, 1] or another one, some inputs on or outside its edges."""
    shape = draw(SHAPES)
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.25, 0.5), (0.5, 0.5)]))
    x = lo + (hi - lo) * draw(pixels(shape))
    if draw(st.booleans()):
        x = x + draw(arrays(shape, bound=0.5))  # some inputs outside the box
    grad = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.sampled_from([0.0, -1.0, 2.0]), _elements())))
    return x, grad, draw(RADII), lo, hi


@st.composite
def pgd_cases(draw):
    """(x, x0, grad, alpha, eps, lo, hi) with x in the ball around x0 and the box, x0 in the box."""
    shape = draw(SHAPES)
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0)]))
    x0 = lo + (hi - lo) * draw(pixels(shape))
    eps = draw(RADII)
    offset = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0])))
    x = np.clip(x0 + eps * offset, lo, hi)
    grad = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.sampled_from([0.0, -1.0, 2.0]), _elements())))
    return x, x0, grad, draw(st.one_of(RADII, st.just(2.0))), eps, lo, hi


def _rejects(student, name: str, bad: tuple) -> None:
    """bad = (what is wrong, *arguments): the call should raise ValueError."""
    raises_value_error(student, f"{name} with {bad[0]}", *bad[1:])


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _sign(v: float) -> float:
    return 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)


# --- obd_saliency ---------------------------------------------------------------------------------
@check("obd_saliency", public=True, case=pairs())
def half_curvature_times_weight_squared(student, ref, case):
    """Each saliency should be 1/2 h_ii w_i^2 (LeCun et al. 1989, eq. 5): the second-order loss change of deleting weight i."""
    w, h = case
    got = as_array(student(w, h), "obd_saliency(w, h_diag)", w.shape)
    expected = np.array([0.5 * hi * wi * wi for wi, hi in zip(w.ravel(), h.ravel())]).reshape(w.shape)
    assert_close(got, expected, f"obd_saliency({fmt(w)}, {fmt(h)})")


@check("obd_saliency", public=True, w=arrays(), c=st.sampled_from([1.0, 2.0, 0.5]))
def equal_curvature_is_magnitude(student, ref, w, c):
    """With the same curvature c for every weight, the saliency should be c w^2 / 2: doubling w quadruples it, and its order is the order of |w|."""
    s1 = as_array(student(w, np.full(w.shape, c)), "obd_saliency(w, c)", w.shape)
    s2 = as_array(student(2 * w, np.full(w.shape, c)), "obd_saliency(2 w, c)", w.shape)
    assert_close(s2, 4 * s1, f"obd_saliency(2 w, c) against 4 obd_saliency(w, c) for w = {fmt(w)}")
    assert_close(s1, c * w**2 / 2, f"obd_saliency({fmt(w)}, {c})")


@check("obd_saliency", public=True, bad=st.sampled_from([
    ("an empty w", np.array([]), np.array([])), ("shapes (2,) and (3,)", np.ones(2), np.ones(3)),
    ("NaN in w", np.array([np.nan, 1.0]), np.ones(2)), ("inf in h_diag", np.ones(2), np.array([1.0, np.inf]))]))
def obd_saliency__rejects_bad_input(student, ref, bad):
    """obd_saliency should raise ValueError for an empty w, shapes that differ, or non-finite input."""
    _rejects(student, "obd_saliency", bad)


# --- fgsm -----------------------------------------------------------------------------------------
@check("fgsm", public=True, case=attack_cases())
def sign_step_then_clip(student, ref, case):
    """Every entry should be clip(x_i + eps sign(grad_i), lo, hi), with sign(0) = 0 (Goodfellow et al. 2015, eq. 3)."""
    x, g, eps, lo, hi = case
    got = as_array(student(x, g, eps, lo, hi), "fgsm(...)", x.shape)
    expected = np.array([_clip(xi + eps * _sign(gi), lo, hi) for xi, gi in zip(x.ravel(), g.ravel())]).reshape(x.shape)
    assert_close(got, expected, f"fgsm({fmt(x)}, {fmt(g)}, eps={eps}, lo={lo}, hi={hi})")


@check("fgsm", public=True, x=pixels((9,)), g=arrays((9,)), eps=RADII)
def fgsm__stays_in_ball_and_box(student, ref, x, g, eps):
    """For x in [0, 1], the adversarial input should stay within eps of x (L-infinity) and inside [0, 1], and eps = 0 should return x."""
    got = as_array(student(x, g, eps), "fgsm(x, grad, eps)", x.shape)
    require(np.all(np.abs(got - x) <= eps + 1e-12) and np.all((got >= 0) & (got <= 1)),
            f"fgsm({fmt(x)}, {fmt(g)}, eps={eps}) = {fmt(got)} leaves the eps-ball or the box [0, 1]")
    assert_close(as_array(student(x, g, 0.0), "fgsm(x, grad, 0)", x.shape), x, f"fgsm({fmt(x)}, {fmt(g)}, eps=0)")


@check("fgsm", public=True, bad=st.sampled_from([
    ("an empty x", np.array([]), np.array([]), 0.1), ("grad of another shape", np.ones(2), np.ones(3), 0.1),
    ("NaN in grad", np.ones(2), np.array([np.nan, 1.0]), 0.1), ("eps -0.1", np.ones(2), np.ones(2), -0.1),
    ("eps inf", np.ones(2), np.ones(2), math.inf), ("lo 1 > hi 0", np.ones(2), np.ones(2), 0.1, 1.0, 0.0)]))
def fgsm__rejects_bad_input(student, ref, bad):
    """fgsm should raise ValueError for an empty or non-finite x or grad, shapes that differ, a negative or infinite eps, or lo > hi."""
    _rejects(student, "fgsm", bad)


# --- pgd_step -------------------------------------------------------------------------------------
@check("pgd_step", public=True, case=pgd_cases())
def step_project_clip(student, ref, case):
    """Every entry should be clip(clip(x_i + alpha sign(grad_i), x0_i - eps, x0_i + eps), lo, hi) (Madry et al. 2018, eq. 2)."""
    x, x0, g, alpha, eps, lo, hi = case
    got = as_array(student(*case), "pgd_step(...)", x.shape)
    expected = np.array([_clip(_clip(xi + alpha * _sign(gi), ai - eps, ai + eps), lo, hi)
                         for xi, ai, gi in zip(x.ravel(), x0.ravel(), g.ravel())]).reshape(x.shape)
    assert_close(got, expected, "pgd_step(" + ", ".join(fmt(a) for a in case) + ")")


@check("pgd_step", public=True, case=pgd_cases())
def pgd_step__stays_in_ball_and_box(student, ref, case):
    """The next iterate should stay within eps of x0 and inside [lo, hi]; with alpha >= 2 eps every coordinate with grad != 0 lands on the ball's face in grad's direction (clipped to the box)."""
    x, x0, g, alpha, eps, lo, hi = case
    got = as_array(student(*case), "pgd_step(...)", x.shape)
    what = "pgd_step(" + ", ".join(fmt(a) for a in case) + f") = {fmt(got)}"
    require(np.all(np.abs(got - x0) <= eps + 1e-12) and np.all((got >= lo) & (got <= hi)),
            f"{what} leaves the eps-ball around x0 or the box")
    far = as_array(student(x, x0, g, 2 * eps + 1.0, eps, lo, hi), "pgd_step(...)", x.shape)
    face = np.clip(x0 + eps * np.sign(g), lo, hi)
    moved = g != 0
    assert_close(far[moved], face[moved], f"pgd_step with alpha = 2 eps + 1 on the coordinates with grad != 0, for {what}")


@check("pgd_step", public=True, bad=st.sampled_from([
    ("an empty x", np.array([]), np.array([]), np.array([]), 0.1, 0.1),
    ("x0 of another shape", np.ones(2), np.ones(3), np.ones(2), 0.1, 0.1),
    ("grad of another shape", np.ones(2), np.ones(2), np.ones(3), 0.1, 0.1),
    ("NaN in x0", np.ones(2), np.array([np.nan, 1.0]), np.ones(2), 0.1, 0.1),
    ("alpha -0.1", np.ones(2), np.ones(2), np.ones(2), -0.1, 0.1),
    ("eps -0.1", np.ones(2), np.ones(2), np.ones(2), 0.1, -0.1),
    ("lo 1 > hi 0", np.ones(2), np.ones(2), np.ones(2), 0.1, 0.1, 1.0, 0.0)]))
def pgd_step__rejects_bad_input(student, ref, bad):
    """pgd_step should raise ValueError for empty or non-finite arrays, shapes that differ, a negative alpha or eps, or lo > hi."""
    _rejects(student, "pgd_step", bad)


# --- robust_accuracy ------------------------------------------------------------------------------
@st.composite
def attacked_logits(draw):
    """(logits (A, N, C), labels): integer-valued logits first, so ties come up."""
    A, N, C = draw(st.integers(1, 3)), draw(S.sizes(1, 9, large=24)), draw(st.integers(2, 4))
    logits = draw(hnp.arrays(np.float64, (A, N, C), elements=st.one_of(st.integers(-2, 2).map(float), _elements())))
    labels = np.array(draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)), dtype=np.int64)
    return logits, labels


def _robust_count(logits, labels) -> int:
    A, N, C = logits.shape
    return sum(all(all(logits[a, n, labels[n]] > logits[a, n, c] for c in range(C) if c != labels[n]) for a in range(A))
               for n in range(N))


@check("robust_accuracy", public=True, case=attacked_logits())
def correct_under_every_attack(student, ref, case):
    """robust_accuracy should be the fraction of samples whose label's logit is strictly the largest under every attack (a tie is an error)."""
    logits, labels = case
    expected = _robust_count(logits, labels) / labels.size
    assert_close(as_float(student(logits, labels), "robust_accuracy"), expected,
                 f"robust_accuracy({fmt(logits)}, {fmt(labels)})")
    if np.all(logits == np.round(logits)):  # integer logits (an int64 array) are logits too
        as_int = logits.astype(np.int64)
        assert_close(as_float(student(as_int, labels), "robust_accuracy"), expected,
                     f"robust_accuracy({fmt(as_int)}, {fmt(labels)}) with int64 logits")


@check("robust_accuracy", public=True, case=attacked_logits())
def worst_case_over_attacks(student, ref, case):
    """Adding an attack can only lower robust accuracy; with one attack it is the accuracy under that attack, and it is at most the minimum of those."""
    logits, labels = case
    total = as_float(student(logits, labels), "robust_accuracy(logits, labels)")
    singles = [as_float(student(logits[a:a + 1], labels), f"robust_accuracy(logits[{a}:{a + 1}], labels)")
               for a in range(logits.shape[0])]
    for a, s in enumerate(singles):
        assert_close(s, _robust_count(logits[a:a + 1], labels) / labels.size,
                     f"robust_accuracy with the single attack {a}: {fmt(logits[a:a + 1])}, labels {fmt(labels)}")
    require(total <= min(singles) + 1e-12,
            f"robust accuracy {total} over all attacks exceeds the smallest single-attack accuracy {min(singles)}")


@check("robust_accuracy", public=True, bad=st.sampled_from([
    ("2-D logits", np.zeros((3, 2)), np.zeros(3, np.int64)), ("one class", np.zeros((1, 3, 1)), np.zeros(3, np.int64)),
    ("no samples", np.zeros((1, 0, 2)), np.zeros(0, np.int64)),
    ("NaN logits", np.full((1, 2, 2), np.nan), np.zeros(2, np.int64)),
    ("a label 2 with 2 classes", np.zeros((1, 2, 2)), np.array([0, 2])),
    ("a label -1", np.zeros((1, 2, 2)), np.array([0, -1])), ("2 labels for 3 samples", np.zeros((1, 3, 2)), np.array([0, 1])),
    ("float labels", np.zeros((1, 2, 2)), np.array([0.0, 1.0]))]))
def robust_accuracy__rejects_bad_input(student, ref, bad):
    """robust_accuracy should raise ValueError for logits that are not (A, N, C) with N >= 1, C >= 2 and finite, or labels that are not integers in [0, C), one per sample."""
    _rejects(student, "robust_accuracy", bad)


# --- sam_perturbation -----------------------------------------------------------------------------
@st.composite
def gradients(draw):
    """Arrays whose entries are 0 or at least 1e-100 in magnitude: below that g_i^2 underflows, and ||g||_2 of
    such a g (0 for [2e-218]) is no longer what the docstring's formula gives, in any float64 implementation."""
    g = draw(arrays())
    return np.where(np.abs(g) < 1e-100, 0.0, g)


@check("sam_perturbation", public=True, g=gradients(), rho=RADII)
def rho_times_unit_gradient(student, ref, g, rho):
    """The perturbation should be rho g / ||g||_2 with the norm over all entries (Foret et al. 2021, eq. 2), and 0 when g = 0."""
    got = as_array(student(g, rho), "sam_perturbation(g, rho)", g.shape)
    norm = math.sqrt(sum(float(v) ** 2 for v in g.ravel()))
    expected = np.zeros(g.shape) if norm == 0 else rho * g / norm
    assert_close(got, expected, f"sam_perturbation({fmt(g)}, {rho})", atol=1e-12)


@check("sam_perturbation", public=True, g=gradients().filter(lambda a: np.any(a != 0)), rho=st.sampled_from([0.05, 1.0, 3.0]),
       c=st.sampled_from([0.5, 2.0, 10.0]))
def norm_rho_and_scale_free(student, ref, g, rho, c):
    """The perturbation should have L2 norm rho, point along g, and not change when g is scaled by c > 0."""
    got = as_array(student(g, rho), "sam_perturbation(g, rho)", g.shape)
    assert_close(float(np.sqrt(np.sum(got**2))), rho, f"||sam_perturbation({fmt(g)}, {rho})||_2")
    require(float(np.sum(got * g)) > 0, f"sam_perturbation({fmt(g)}, {rho}) = {fmt(got)} does not point along g")
    assert_close(as_array(student(c * g, rho), "sam_perturbation(c g, rho)", g.shape), got,
                 f"sam_perturbation({c} g, {rho}) against sam_perturbation(g, {rho}) for g = {fmt(g)}")


@check("sam_perturbation", public=True, bad=st.sampled_from([
    ("an empty g", np.array([]), 0.1), ("NaN in g", np.array([np.nan, 1.0]), 0.1), ("rho -0.1", np.ones(2), -0.1),
    ("rho inf", np.ones(2), math.inf)]))
def sam_perturbation__rejects_bad_input(student, ref, bad):
    """sam_perturbation should raise ValueError for an empty or non-finite g, or rho negative or infinite."""
    _rejects(student, "sam_perturbation", bad)


# --- edge_popup_mask ------------------------------------------------------------------------------
FRACTIONS = st.one_of(st.sampled_from([0.0, 0.5, 0.25, 1.0, 0.75]), st.floats(0, 1, allow_subnormal=False))


@st.composite
def top_k_cases(draw, min_size: int = 1):
    """(scores, k) that reach both rules the docstring fixes: on some draws k n is exactly halfway between
    two counts (round half to even), and on some the scores are snapped to exact ties in |score| (S.tied,
    then some signs flipped), so that which of the tied entries is kept (the lower flat index) decides."""
    scores = S.tied(draw(arrays().filter(lambda a: a.size >= min_size)), draw)
    flips = draw(hnp.arrays(np.bool_, scores.shape))
    scores = np.where(flips, -scores, scores) + 0.0  # |score| ties across signs; + 0.0 turns -0.0 into 0.0
    n = scores.size
    if draw(st.booleans()):
        j = draw(st.integers(0, n - 1))
        k = (j + 0.5) / n
        if k * n == j + 0.5:  # an exact tie in floating point too (n a power of two times an odd number)
            return scores, k
    return scores, draw(FRACTIONS)


def _top_k(scores: np.ndarray, k: float) -> np.ndarray:
    n = scores.size
    n_keep = round(k * n)  # Python's round is half to even, like np.round
    keep = sorted(range(n), key=lambda i: (-abs(float(scores.flat[i])), i))[:n_keep]
    mask = np.zeros(n)
    mask[keep] = 1.0
    return mask.reshape(scores.shape)


def _mask_of(got, shape, what: str) -> np.ndarray:
    m = as_array(got, what, shape)
    require(bool(np.all((m == 0) | (m == 1))), f"{what} should hold only 0 and 1, got {fmt(m)}")
    return m


@check("edge_popup_mask", public=True, case=top_k_cases())
def keeps_top_k_by_magnitude(student, ref, case):
    """The mask should keep exactly round(k n) entries (half to even: k n = 2.5 keeps 2), those of largest |score|, ties to the lower flat index (a stable sort)."""
    scores, k = case
    got = _mask_of(student(scores, k), scores.shape, "edge_popup_mask(scores, k)")
    expected = _top_k(scores, k)
    require(int(got.sum()) == int(expected.sum()),
            f"edge_popup_mask({fmt(scores)}, k={k}) keeps {int(got.sum())} entries, should keep round({k} * {scores.size}) = "
            f"{int(expected.sum())}")
    assert_close(got, expected, f"edge_popup_mask({fmt(scores)}, k={k})")


@check("edge_popup_mask", public=True, case=top_k_cases(min_size=2))
def sign_free_and_nested(student, ref, case):
    """The mask should not depend on the scores' signs, and a larger k should keep a superset."""
    scores, k = case
    m = _mask_of(student(scores, k), scores.shape, "edge_popup_mask(scores, k)")
    assert_close(_mask_of(student(-scores, k), scores.shape, "edge_popup_mask(-scores, k)"), m,
                 f"edge_popup_mask(-scores, {k}) against edge_popup_mask(scores, {k}) for scores = {fmt(scores)}")
    bigger = _mask_of(student(scores, min(1.0, k + 0.3)), scores.shape, "edge_popup_mask(scores, k + 0.3)")
    require(bool(np.all(bigger >= m)), f"edge_popup_mask({fmt(scores)}, {min(1.0, k + 0.3)}) = {fmt(bigger)} drops an entry "
                                       f"that k = {k} kept ({fmt(m)})")


@check("edge_popup_mask", public=True, bad=st.sampled_from([
    ("empty scores", np.array([]), 0.5), ("NaN scores", np.array([np.nan, 1.0]), 0.5), ("k 1.5", np.ones(3), 1.5),
    ("k -0.1", np.ones(3), -0.1), ("k NaN", np.ones(3), math.nan)]))
def edge_popup_mask__rejects_bad_input(student, ref, bad):
    """edge_popup_mask should raise ValueError for empty or non-finite scores, or k outside [0, 1]."""
    _rejects(student, "edge_popup_mask", bad)


# --- supermask_score_grad -------------------------------------------------------------------------
@st.composite
def layer_cases(draw):
    B, I, O = draw(S.sizes(1, 4, large=16)), draw(st.integers(1, 7)), draw(st.integers(1, 4))
    return draw(arrays((B, I))), draw(arrays((B, O))), draw(arrays((O, I)))


@check("supermask_score_grad", public=True, case=layer_cases())
def straight_through_closed_form(student, ref, case):
    """dL/ds[o, i] should be W[o, i] * sum_b grad_y[b, o] x[b, i]: the weight gradient of W * M times W, the mask passed straight through."""
    x, gy, W = case
    got = as_array(student(x, gy, W), "supermask_score_grad(x, grad_y, W)", W.shape)
    O, I = W.shape
    expected = np.array([[W[o, i] * sum(gy[b, o] * x[b, i] for b in range(x.shape[0])) for i in range(I)]
                         for o in range(O)])
    assert_close(got, expected, f"supermask_score_grad({fmt(x)}, {fmt(gy)}, {fmt(W)})", atol=1e-9)


@check("supermask_score_grad", public=True, bad=st.sampled_from([
    ("1-D x", np.ones(3), np.ones((1, 2)), np.ones((2, 3))), ("W transposed", np.ones((1, 3)), np.ones((1, 2)), np.ones((3, 2))),
    ("batch sizes 1 and 2", np.ones((1, 3)), np.ones((2, 2)), np.ones((2, 3))),
    ("NaN in W", np.ones((1, 3)), np.ones((1, 2)), np.full((2, 3), np.nan)),
    ("an empty x", np.ones((0, 3)), np.ones((0, 2)), np.ones((2, 3)))]))
def supermask_score_grad__rejects_bad_input(student, ref, bad):
    """supermask_score_grad should raise ValueError for arrays that are not 2-D, empty, non-finite, or of shapes other than (B, I), (B, O), (O, I)."""
    _rejects(student, "supermask_score_grad", bad)


# --- mask_distance --------------------------------------------------------------------------------
@st.composite
def mask_pairs(draw):
    shape = draw(SHAPES)
    m1 = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    m2 = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    return m1, m2


@check("mask_distance", public=True, case=mask_pairs())
def fraction_of_entries_that_differ(student, ref, case):
    """mask_distance should be the number of entries where the masks differ divided by their size; 0 for a mask with itself, 1 against its complement."""
    m1, m2 = case
    what = f"mask_distance({fmt(m1)}, {fmt(m2)})"
    differ = sum(a != b for a, b in zip(m1.ravel(), m2.ravel()))
    assert_close(as_float(student(m1, m2), what), differ / m1.size, what)
    assert_close(as_float(student(m1, m1), "mask_distance(m, m)"), 0.0, f"mask_distance({fmt(m1)}, itself)", atol=0)
    assert_close(as_float(student(m1, 1 - m1), "mask_distance(m, 1 - m)"), 1.0, f"mask_distance({fmt(m1)}, its complement)")
    assert_close(as_float(student(m1.astype(bool), m2.astype(np.int64)), what + " with bool and int masks"), differ / m1.size,
                 what + " with a bool and an int mask")


@check("mask_distance", public=True, bad=st.sampled_from([
    ("empty masks", np.array([]), np.array([])), ("shapes (2,) and (3,)", np.ones(2), np.ones(3)),
    ("an entry 0.5", np.array([0.5, 1.0]), np.ones(2)), ("an entry 2", np.ones(2), np.array([2.0, 1.0]))]))
def mask_distance__rejects_bad_input(student, ref, bad):
    """mask_distance should raise ValueError for empty masks, masks of different shapes, or entries other than 0 and 1."""
    _rejects(student, "mask_distance", bad)


# --- early_bird_epoch -----------------------------------------------------------------------------
@st.composite
def mask_histories(draw):
    """(masks (T, n), threshold, window): masks that settle (copies of earlier rows) with a few flips."""
    T, n = draw(S.sizes(1, 11, large=24)), draw(st.integers(1, 6))
    rows = [draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))]
    for _ in range(T - 1):
        row = rows[-1].copy()
        for i in draw(st.lists(st.integers(0, n - 1), max_size=2)):
            row[i] = 1.0 - row[i]
        rows.append(row)
    threshold = draw(st.one_of(st.sampled_from([0.1, 0.25, 0.5, 1.0, 1.0 / 3]), st.floats(0.01, 1.0)))
    return np.array(rows), threshold, draw(st.integers(1, 4))


def _early_bird(masks, threshold, window) -> int:
    T, n = masks.shape
    for t in range(window, T):
        if all(sum(masks[t, i] != masks[t - j, i] for i in range(n)) / n < threshold for j in range(1, window + 1)):
            return t
    return -1


def _same_epoch(student, case, expected: int) -> None:
    masks, threshold, window = case
    got = as_int(student(masks, threshold, window), "early_bird_epoch")
    require(got == expected, f"early_bird_epoch({fmt(masks)}, threshold={threshold}, window={window})\n"
                             f"  expected: {expected}\n  got:      {got}")


@check("early_bird_epoch", public=True, case=mask_histories())
def first_epoch_close_to_the_whole_queue(student, ref, case):
    """The result should be the first t >= window whose mask is at distance < threshold from each of the window masks before it, or -1 if there is none."""
    _same_epoch(student, case, _early_bird(*case))


@check("early_bird_epoch", public=True, T=st.integers(2, 9), n=st.integers(2, 6), window=st.integers(1, 4))
def frozen_masks_stop_at_the_window(student, ref, T, n, window):
    """Masks that never change should stop at epoch window (or -1 if T <= window); the default threshold is 0.1 and window 5."""
    masks = np.tile((np.arange(n) % 2).astype(np.float64), (T, 1))
    got = as_int(student(masks, 0.1, window), "early_bird_epoch")
    expected = window if window < T else -1
    require(got == expected, f"early_bird_epoch(a constant mask repeated {T} times, 0.1, window={window}) should be "
                             f"{expected}, got {got}")
    long = np.tile(masks[:1], (8, 1))
    long[:2, 0] = 1.0 - long[:2, 0]  # epochs 0 and 1 differ from the rest in 1 of n entries
    got = as_int(student(long), "early_bird_epoch(masks) with the defaults")
    require(got == 7, f"early_bird_epoch(masks) with the defaults (threshold 0.1, window 5) on {fmt(long)} should be 7, got {got}")


@check("early_bird_epoch", public=True, n=st.integers(2, 8), window=st.integers(1, 3), flip=st.integers(0, 7))
def distance_equal_to_threshold_is_not_close(student, ref, n, window, flip):
    """The rule is strict: a mask at distance exactly threshold from its queue does not stop the search (and distance 1 never stops at threshold 1)."""
    masks = np.zeros((window + 1, n))
    masks[window, flip % n] = 1.0  # the last mask differs from every earlier one in exactly 1 of n entries
    got = as_int(student(masks, 1.0 / n, window), "early_bird_epoch")
    require(got == -1, f"early_bird_epoch({fmt(masks)}, threshold=1/{n}, window={window}) should be -1 "
                       f"(distance 1/{n} is not < 1/{n}), got {got}")
    flips = np.tile(np.arange(2, dtype=np.float64)[:, None], (1, n))[[i % 2 for i in range(window + 1)]]
    got = as_int(student(flips, 1.0, window), "early_bird_epoch")
    require(got == -1, f"early_bird_epoch of alternating complementary masks {fmt(flips)} with threshold 1 should be -1, "
                       f"got {got}")


@check("early_bird_epoch", public=True, bad=st.sampled_from([
    ("1-D masks", np.ones(3), 0.1, 1), ("empty masks", np.ones((0, 2)), 0.1, 1), ("an entry 2", np.full((3, 2), 2.0), 0.1, 1),
    ("threshold 0", np.ones((3, 2)), 0.0, 1), ("threshold 1.5", np.ones((3, 2)), 1.5, 1),
    ("window 0", np.ones((3, 2)), 0.1, 0), ("window 1.5", np.ones((3, 2)), 0.1, 1.5)]))
def early_bird_epoch__rejects_bad_input(student, ref, bad):
    """early_bird_epoch should raise ValueError for masks that are not a non-empty 2-D array of 0s and 1s, a threshold outside (0, 1], or a window that is not an integer >= 1."""
    _rejects(student, "early_bird_epoch", bad)


# --- cp_reconstruct -------------------------------------------------------------------------------
def _moderate(shape):
    """Halves first, then floats in [-2, 2] rounded to 3 decimals (no values so tiny that a product underflows)."""
    return hnp.arrays(np.float64, shape, elements=st.one_of(st.integers(-4, 4).map(lambda k: k / 2.0),
                                                            st.floats(-2, 2).map(lambda v: round(v, 3))))


@st.composite
def cp_factors(draw):
    R = draw(st.integers(1, 3))
    dims = [draw(st.integers(1, 4)) for _ in range(4)]
    return tuple(draw(_moderate((d, R))) for d in dims)


@check("cp_reconstruct", public=True, factors=cp_factors())
def sum_of_rank_one_terms(student, ref, factors):
    """K[o, i, h, w] should be sum_r A[o, r] B[i, r] C[h, r] D[w, r] (Kolda & Bader 2009, eq. 3.1), of shape (O, I, H, W)."""
    A, B, C, D = factors
    shape = (A.shape[0], B.shape[0], C.shape[0], D.shape[0])
    got = as_array(student(*factors), "cp_reconstruct(A, B, C, D)", shape)
    expected = np.zeros(shape)
    for o, i, h, w in itertools.product(*(range(s) for s in shape)):
        expected[o, i, h, w] = sum(A[o, r] * B[i, r] * C[h, r] * D[w, r] for r in range(A.shape[1]))
    assert_close(got, expected, "cp_reconstruct(" + ", ".join(fmt(F) for F in factors) + ")", atol=1e-9)


@check("cp_reconstruct", public=True, bad=st.sampled_from([
    ("a 1-D factor", np.ones(2), np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1))),
    ("ranks 1 and 2", np.ones((2, 1)), np.ones((2, 2)), np.ones((2, 1)), np.ones((2, 1))),
    ("rank 0", np.ones((2, 0)), np.ones((2, 0)), np.ones((2, 0)), np.ones((2, 0))),
    ("NaN in D", np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1)), np.full((2, 1), np.nan))]))
def cp_reconstruct__rejects_bad_input(student, ref, bad):
    """cp_reconstruct should raise ValueError for factors that are not non-empty 2-D arrays, have different ranks, or are non-finite."""
    _rejects(student, "cp_reconstruct", bad)


# --- cp_als_update --------------------------------------------------------------------------------
def _khatri_rao(B, C, D) -> np.ndarray:
    R = B.shape[1]
    return np.array([[B[i, r] * C[h, r] * D[w, r] for r in range(R)]
                     for i, h, w in itertools.product(range(B.shape[0]), range(C.shape[0]), range(D.shape[0]))])


def _well_posed(case) -> bool:
    """Z of full column rank R, not tiny, with condition number < 1e4 (then the least-squares A is unique)."""
    K, B, C, D = case
    Z = _khatri_rao(B, C, D)
    if Z.shape[0] < Z.shape[1]:
        return False
    s = np.linalg.svd(Z, compute_uv=False)
    return bool(s[0] > 1e-3 and s[-1] > 1e-4 * s[0])


@st.composite
def als_cases(draw):
    R = draw(st.integers(1, 3))
    O, I, H, W = (draw(st.integers(1, 3)) for _ in range(4))
    K = draw(_moderate((O, I, H, W)))
    return K, draw(_moderate((I, R))), draw(_moderate((H, R))), draw(_moderate((W, R)))


@check("cp_als_update", public=True, case=als_cases().filter(_well_posed))
def least_squares_solution(student, ref, case):
    """A should solve min_A ||K_(1) - A Z^T||_F, Z the Khatri-Rao product of D, C, B (Kolda & Bader 2009, eq. 3.6): the numpy.linalg.lstsq solution."""
    K, B, C, D = case
    Z = _khatri_rao(B, C, D)
    expected = np.linalg.lstsq(Z, K.reshape(K.shape[0], -1).T, rcond=None)[0].T
    got = as_array(student(*case), "cp_als_update(K, B, C, D)", expected.shape)
    # rtol 1e-6: the normal equations and lstsq's QR round differently on factors with cond(Z) up to 1e4
    assert_close(got, expected, "cp_als_update(" + ", ".join(fmt(F) for F in case) + ")", rtol=1e-6, atol=1e-8)


@check("cp_als_update", public=True, factors=cp_factors().filter(lambda f: _well_posed((None,) + f[1:])))
def recovers_an_exact_kernel(student, ref, factors):
    """For a kernel that is exactly [[A, B, C, D]] (and B, C, D of full column rank in Z), the update should return A itself."""
    A, B, C, D = factors
    K = np.einsum("or,ir,hr,wr->oihw", A, B, C, D)
    got = as_array(student(K, B, C, D), "cp_als_update(K, B, C, D)", A.shape)
    assert_close(got, A, f"cp_als_update([[A, B, C, D]], B, C, D) with A = {fmt(A)}", rtol=1e-6, atol=1e-8)


@check("cp_als_update", public=True, bad=st.sampled_from([
    ("a 3-D K", np.ones((2, 2, 2)), np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1))),
    ("B with 3 rows for I = 2", np.ones((2, 2, 2, 2)), np.ones((3, 1)), np.ones((2, 1)), np.ones((2, 1))),
    ("ranks 1 and 2", np.ones((2, 2, 2, 2)), np.ones((2, 1)), np.ones((2, 2)), np.ones((2, 1))),
    ("a 1-D D", np.ones((2, 2, 2, 2)), np.ones((2, 1)), np.ones((2, 1)), np.ones(2)),
    ("NaN in K", np.full((2, 2, 2, 2), np.nan), np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1)))]))
def cp_als_update__rejects_bad_input(student, ref, bad):
    """cp_als_update should raise ValueError for a K that is not a non-empty 4-D array, factors that do not fit K's axes or have different ranks, or non-finite input."""
    _rejects(student, "cp_als_update", bad)
