"""Lab 3 checks: magnitude / global / N:M masks, L1 filter pruning, the IMP schedule, per-class
error rates, CEV, SDE and SVCCA.

Each check's docstring (first paragraph) is the property the student reads when it fails. Each
exercise has an agreement check against the hidden reference plus the invariants of the topic,
most of them public (they need no reference). Weights are small integers as floats, so that ties
— the case the tie-breaking rule is about — are common and counterexamples readable.

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab03_pruning.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import CheckFailed, as_array, as_float, as_tuple, assert_close, fmt, require, require_value_error
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
registry.exercises("reference_impl.pruning", [
    "magnitude_mask", "global_magnitude_masks", "l1_filter_scores", "prune_filters", "nm_mask",
    "imp_rate_per_round"
])
EXERCISES = registry.exercises("reference_impl.metrics", [
    "per_class_fpr_fnr", "rate_change", "cev", "sde", "svcca"
])

SPARSITIES = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9, 1.0]),
                       st.floats(0.0, 1.0, allow_subnormal=False))
BAD_SPARSITIES = st.sampled_from([-0.1, 1.5, math.nan, math.inf])
TIED = st.integers(-3, 3).map(float)  # small integers: many equal magnitudes


# Sorting-based bugs need length: np.argsort's default (introsort) is stable on fewer than 17
# entries, so an argsort without kind="stable" breaks the tie rule only on longer inputs.
LONG = 40


@st.composite
def _weights(draw, min_dims: int = 1, max_dims: int = 3, max_side: int = 4, min_side: int = 1, large: int = LONG):
    """A weight array of small integers (many ties); its first axis sometimes up to ``large`` (the others stay small)."""
    ndim = draw(st.integers(min_dims, max_dims))
    first = draw(S.sizes(min_side, max_side, large=large if ndim <= 2 else max_side))
    rest = tuple(draw(st.integers(min_side, max_side)) for _ in range(ndim - 1))
    return draw(hnp.arrays(np.float64, (first,) + rest, elements=TIED))


@st.composite
def _weights_and_sparsity(draw, **weights):
    """(w, s): s from SPARSITIES or, on some draws, one for which s * w.size is exactly k + 1/2 in floating point
    (round half to even then decides k: round(2.5) = 2, where round-half-up gives 3)."""
    w = draw(_weights(**weights))
    n = w.size
    if draw(st.booleans()):
        j = draw(st.integers(0, n - 1))
        s = (j + 0.5) / n
        if s * n == j + 0.5:  # exact for most n; otherwise keep the ordinary draw below
            return w, s
    return w, draw(SPARSITIES)


def _mask(got, what: str, shape) -> np.ndarray:
    """The student's mask as a 0/1 float array of ``shape``."""
    m = as_array(got, what, shape=shape)
    require(bool(np.all((m == 0) | (m == 1))), f"{what} should contain only True/False (or 1/0), got {fmt(m)}")
    return m


def _k(sparsity: float, n: int) -> int:
    return int(np.round(sparsity * n))


def _rejects(student, args, what: str) -> None:
    r = student.raw(*args)
    require(not r.ok and r.error_type == "ValueError",
            f"{what} should raise ValueError, but it " + ("returned a value" if r.ok else f"raised {r.error_type}: {r.error}"))




# --- magnitude_mask -----------------------------------------------------------------------------
@check("magnitude_mask", public=True, case=_weights_and_sparsity())
def prunes_exactly_round_s_n(student, ref, case):
    """magnitude_mask(w, s) should prune exactly round(s * n) weights (n = w.size, round half to even), even with ties."""
    w, s = case
    m = _mask(student(w, s), "magnitude_mask(w, s)", w.shape)
    k = _k(s, w.size)
    require(int((m == 0).sum()) == k, f"with n = {w.size} and s = {s!r}, round(s * n) = {k} weights should be pruned, "
            f"got {int((m == 0).sum())}: mask {fmt(m)}")


@check("magnitude_mask", public=True, w=_weights(), s=SPARSITIES)
def keeps_the_largest(student, ref, w, s):
    """Every weight magnitude magnitude_mask keeps should be >= every magnitude it prunes."""
    m = _mask(student(w, s), "magnitude_mask(w, s)", w.shape)
    kept, pruned = np.abs(w)[m == 1], np.abs(w)[m == 0]
    if kept.size and pruned.size:
        require(kept.min() >= pruned.max(), f"mask {fmt(m)} keeps |w| = {kept.min()!r} but prunes |w| = {pruned.max()!r}")


@st.composite
def _two_levels(draw, max_small: int = 8):
    """A vector of magnitudes low and low + 1 with random signs: ties within each level, sometimes LONG long."""
    n = draw(S.sizes(1, max_small, large=LONG))
    low = draw(st.sampled_from([0.0, 1.0, 2.0]))
    # lists, not hnp.arrays: those often fill every entry with one value, and an all-equal vector is
    # the one input an unstable sort keeps in order
    levels = draw(st.lists(st.sampled_from([low, low + 1.0]), min_size=n, max_size=n))
    signs = draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n, max_size=n))
    return np.array(levels) * np.array(signs)


def _first_by_magnitude_then_index(scores: np.ndarray, k: int) -> np.ndarray:
    """The k indices that come first in the order (score, index), by Python's sort (the oracle)."""
    return np.array(sorted(range(len(scores)), key=lambda i: (float(scores[i]), i))[:k], dtype=np.int64)


@check("magnitude_mask", public=True, w=_two_levels(), s=SPARSITIES)
def ties_go_to_the_lower_index(student, ref, w, s):
    """Among equal magnitudes the lower flat index should be pruned first: the round(s * n) weights first in the order (|w|, index) go."""
    n = w.size
    expected = np.ones(n)
    expected[_first_by_magnitude_then_index(np.abs(w), _k(s, n))] = 0.0
    assert_close(_mask(student(w, s), f"magnitude_mask({fmt(w)}, {s!r})", w.shape), expected,
                 f"magnitude_mask({fmt(w)}, {s!r})")


@check("magnitude_mask", public=True, w=_weights(), s=BAD_SPARSITIES)
def rejects_bad_sparsity(student, ref, w, s):
    """magnitude_mask should raise ValueError for a sparsity that is not a number in [0, 1]."""
    _rejects(student, (w, s), f"magnitude_mask(w, sparsity={s})")


# --- global_magnitude_masks ---------------------------------------------------------------------
_LAYERS = st.lists(_weights(max_dims=2, large=4), min_size=1, max_size=3)  # up to 3 x 16 weights: 48 ranked together


def _masks(got, ws, what):
    if not isinstance(got, (list, tuple)) or len(got) != len(ws):
        raise CheckFailed(f"{what} should return a list of {len(ws)} masks, got {type(got).__name__}: {fmt(got)}")
    return [_mask(g, f"{what}[{i}]", w.shape) for i, (g, w) in enumerate(zip(got, ws))]


@check("global_magnitude_masks", public=True, ws=_LAYERS, s=SPARSITIES)
def prunes_exactly_round_s_n_total(student, ref, ws, s):
    """global_magnitude_masks should prune exactly round(s * n_total) weights over all layers together."""
    got = _masks(student(ws, s), ws, "global_magnitude_masks(ws, s)")
    n = sum(w.size for w in ws)
    pruned = sum(int((g == 0).sum()) for g in got)
    require(pruned == _k(s, n), f"n_total = {n}, s = {s!r}: {_k(s, n)} weights should be pruned, got {pruned}")


@check("global_magnitude_masks", public=True, ws=_LAYERS, s=SPARSITIES)
def one_threshold_for_all_layers(student, ref, ws, s):
    """Every magnitude kept in any layer should be >= every magnitude pruned in any layer (one global ranking)."""
    ws = [w * (i + 1) for i, w in enumerate(ws)]  # layers of different scales, as in a real network
    got = _masks(student(ws, s), ws, "global_magnitude_masks(ws, s)")
    kept = np.concatenate([np.abs(w)[g == 1] for w, g in zip(ws, got)])
    pruned = np.concatenate([np.abs(w)[g == 0] for w, g in zip(ws, got)])
    if kept.size and pruned.size:
        require(kept.min() >= pruned.max(), f"a kept |w| = {kept.min()!r} is smaller than a pruned |w| = {pruned.max()!r}")


@check("global_magnitude_masks", public=True, n=st.integers(1, 4), s=st.sampled_from([0.25, 0.5]))
def not_layer_wise(student, ref, n, s):
    """With a layer of small and a layer of large weights, the small layer should lose its weights first (not s of each)."""
    ws = [np.full(2 * n, 3.0), np.full(2 * n, 0.5)]
    got = _masks(student(ws, s), ws, "global_magnitude_masks([3s, 0.5s], s)")
    k = _k(s, 4 * n)
    expected_small = (np.arange(2 * n) >= k).astype(float)
    assert_close(got[1], expected_small, f"the mask of the layer of 0.5s (of {fmt(ws[0])} and {fmt(ws[1])}, s = {s})")
    assert_close(got[0], np.ones(2 * n), "the mask of the layer of 3s")


# --- l1_filter_scores ---------------------------------------------------------------------------
@check("l1_filter_scores", public=True, W=_weights(min_dims=2, max_dims=4, max_side=3), c=st.sampled_from([-2.0, 0.5, 3.0]))
def sign_blind_and_homogeneous(student, ref, W, c):
    """l1_filter_scores(c * W) should equal |c| * l1_filter_scores(W): signs do not matter, scale does."""
    a = as_array(student(W), "l1_filter_scores(W)", shape=(W.shape[0],))
    assert_close(student(c * W), abs(c) * a, f"l1_filter_scores({c} * W)")


@check("l1_filter_scores", public=True, c_out=st.integers(1, 4), rest=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
def counts_every_weight_of_a_filter(student, ref, c_out, rest):
    """A filter of all-ones weights should score its number of weights (c_in * kh * kw); filter i = i + 1 scores (i + 1) times that."""
    W = np.stack([np.full(rest, float(i + 1)) for i in range(c_out)])
    size = int(np.prod(rest))
    assert_close(student(W), size * np.arange(1.0, c_out + 1), f"l1_filter_scores of filters filled with 1, 2, ... (shape {W.shape})")


@check("l1_filter_scores", public=True, w=_weights(min_dims=1, max_dims=1))
def rejects_one_dimensional(student, ref, w):
    """l1_filter_scores should raise ValueError for a 1-D array (it has no filters along axis 0)."""
    _rejects(student, (w,), f"l1_filter_scores({fmt(w)})")


# --- prune_filters ------------------------------------------------------------------------------
@st.composite
def _layer_pair(draw):
    """(W (c_out, c_in[, k, k]), b (c_out,), W_next (c_next, c_out[, k, k]))."""
    c_out, c_in, c_next = draw(S.sizes(1, 5, large=24)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    tail = draw(st.sampled_from([(), (2, 2)])) if c_out <= 5 else ()  # many filters: 1 x 1 (at most 72 numbers each)
    W = draw(hnp.arrays(np.float64, (c_out, c_in) + tail, elements=TIED))
    b = draw(hnp.arrays(np.float64, (c_out,), elements=TIED))
    W_next = draw(hnp.arrays(np.float64, (c_next, c_out) + tail, elements=TIED))
    return W, b, W_next


def _pruned(student, W, b, W_next, s):
    what = "prune_filters(W, b, W_next, s)"
    Wp, bp, Wn = as_tuple(student(W, b, W_next, s), 3, what)
    k = _k(s, W.shape[0])
    c = W.shape[0] - k
    return (as_array(Wp, f"{what}[0] (W pruned)", shape=(c,) + W.shape[1:]),
            as_array(bp, f"{what}[1] (b pruned)", shape=(c,)),
            as_array(Wn, f"{what}[2] (W_next pruned)", shape=(W_next.shape[0], c) + W_next.shape[2:]))


@check("prune_filters", public=True, layers=_layer_pair(), s=SPARSITIES)
def removes_the_weakest_filters(student, ref, layers, s):
    """prune_filters should return smaller dense tensors (c_out - round(s * c_out) filters) whose L1 norms are the largest."""
    W, b, W_next = layers
    Wp, _, _ = _pruned(student, W, b, W_next, s)
    scores = np.abs(W).reshape(W.shape[0], -1).sum(axis=1)
    kept = np.sort(np.abs(Wp).reshape(Wp.shape[0], int(np.prod(Wp.shape[1:]))).sum(axis=1))
    assert_close(kept, np.sort(scores)[len(scores) - len(kept):], "the sorted L1 norms of the kept filters")


@check("prune_filters", public=True, layers=_layer_pair(), s=SPARSITIES)
def keeps_layers_consistent_and_ordered(student, ref, layers, s):
    """The kept filters, their biases and the next layer's input channels should be the same units, in their original order."""
    W, _, W_next = layers
    c_out = W.shape[0]
    b = np.arange(c_out, dtype=np.float64)  # the bias names each unit
    W_next = W_next + 10.0 * np.arange(c_out).reshape((1, c_out) + (1,) * (W_next.ndim - 2))
    Wp, bp, Wn = _pruned(student, W, b, W_next, s)
    require(bool(np.all(np.diff(bp) > 0)), f"the kept units (biases = their indices) should stay in order, got b = {fmt(bp)}")
    idx = bp.astype(int)
    assert_close(Wp, W[idx], f"the pruned W for kept units {fmt(idx)}")
    assert_close(Wn, W_next[:, idx], f"the pruned W_next for kept units {fmt(idx)}: input channels must match the kept filters")


@check("prune_filters", public=True, levels=_two_levels(), c_in=st.integers(1, 3), s=SPARSITIES)
def prune_filters__ties_go_to_the_lower_index(student, ref, levels, c_in, s):
    """Among filters with equal L1 norms the lower index should be removed first: the round(s * c_out) filters first in the order (L1 norm, index) go."""
    c_out = levels.size
    W = np.outer(levels, np.ones(c_in))  # filter i: c_in entries of magnitude |levels[i]|, ties in L1 norm
    b = np.arange(c_out, dtype=np.float64)  # the bias names each unit
    W_next = np.ones((2, c_out))
    _, bp, _ = _pruned(student, W, b, W_next, s)
    removed = _first_by_magnitude_then_index(np.abs(levels), _k(s, c_out))
    assert_close(bp, np.setdiff1d(b, removed.astype(np.float64)),
                 f"the biases (= unit indices) prune_filters keeps for W = {fmt(W)}, s = {s!r}")


@check("prune_filters", public=True, layers=_layer_pair())
def rejects_mismatched_next_layer(student, ref, layers):
    """prune_filters should raise ValueError when W_next's input channels (axis 1) do not match W's filters."""
    W, b, W_next = layers
    bad = np.concatenate([W_next, W_next[:, :1]], axis=1)
    _rejects(student, (W, b, bad, 0.5), "prune_filters(W, b, W_next with c_out + 1 input channels, 0.5)")


# --- nm_mask ------------------------------------------------------------------------------------
_NM = S.sizes(1, 4, large=20).flatmap(lambda m: st.tuples(st.integers(1, m), st.just(m)))  # 2:4 ... 4:20
_W2 = st.tuples(st.integers(1, 4), S.sizes(1, 6, large=LONG)).flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=TIED))  # (out, in): rows sometimes up to LONG inputs long


@check("nm_mask", public=True, w=_W2, nm=_NM)
def n_kept_per_group(student, ref, w, nm):
    """Each group of m inputs should keep exactly n weights; a last, partial group of r < m keeps min(n, r)."""
    n, m = nm
    mk = _mask(student(w, n, m), f"nm_mask(w, {n}, {m})", w.shape)
    d = w.shape[1]
    for start in range(0, d, m):
        r = min(m, d - start)
        counts = mk[:, start : start + r].sum(axis=1)
        require(bool(np.all(counts == min(n, r))), f"columns {start}..{start + r - 1} (a group of {r}) should keep "
                f"{min(n, r)} per row, kept {fmt(counts.astype(int))}: mask {fmt(mk)}")


@check("nm_mask", public=True, w=_W2, nm=_NM)
def nm_mask__ties_go_to_the_lower_index(student, ref, w, nm):
    """In each group the m - n weights first in the order (|w|, index) should be pruned: the n largest |w| kept, ties to the lower index pruned (a last, partial group of r loses r - n, if positive)."""
    n, m = nm
    expected = np.ones(w.shape)
    for start in range(0, w.shape[1], m):
        group = np.abs(w[:, start : start + m])
        for row in range(w.shape[0]):
            pruned = _first_by_magnitude_then_index(group[row], max(group.shape[1] - n, 0))
            expected[row, start + pruned] = 0.0
    assert_close(_mask(student(w, n, m), f"nm_mask(w, {n}, {m})", w.shape), expected, f"nm_mask({fmt(w)}, {n}, {m})")


@check("nm_mask", public=True, w=_W2, bad=st.sampled_from([(0, 4), (5, 4), (3, 2), (-1, 2)]))
def rejects_bad_n_m(student, ref, w, bad):
    """nm_mask should raise ValueError unless 1 <= n <= m."""
    _rejects(student, (w, *bad), f"nm_mask(w, n={bad[0]}, m={bad[1]})")


# --- imp_rate_per_round -------------------------------------------------------------------------
_TARGETS = st.one_of(st.sampled_from([0.0, 0.5, 0.8, 0.9, 0.99, 1.0]), st.floats(0.0, 0.999, allow_subnormal=False))


@check("imp_rate_per_round", public=True, s=_TARGETS, rounds=st.integers(1, 20))
def n_rounds_reach_the_target(student, ref, s, rounds):
    """Pruning a fraction q of the survivors in each of n rounds should leave exactly 1 - s of the weights: (1 - q)^n = 1 - s."""
    q = as_float(student(s, rounds), f"imp_rate_per_round({s!r}, {rounds})")
    require(0 <= q <= 1, f"imp_rate_per_round({s!r}, {rounds}) = {q!r} is not a fraction in [0, 1]")
    assert_close((1 - q) ** rounds, 1 - s, f"(1 - q)^{rounds} with q = imp_rate_per_round({s!r}, {rounds})")


@check("imp_rate_per_round", public=True, s=_TARGETS)
def one_round_is_one_shot(student, ref, s):
    """With one round, imp_rate_per_round(s, 1) should be s itself (one-shot pruning)."""
    assert_close(student(s, 1), s, f"imp_rate_per_round({s!r}, 1)")


@check("imp_rate_per_round", public=True, bad=st.sampled_from([(0.5, 0), (0.5, -1), (1.5, 2), (-0.1, 2), (0.5, 2.0)]))
def rejects_bad_arguments(student, ref, bad):
    """imp_rate_per_round should raise ValueError for a sparsity outside [0, 1] or rounds that is not an integer >= 1."""
    _rejects(student, bad, f"imp_rate_per_round{bad}")


# --- per_class_fpr_fnr --------------------------------------------------------------------------
@st.composite
def _labels(draw, max_n: int = 8):
    C = draw(st.integers(1, 4))
    N = draw(S.sizes(1, max_n))  # sometimes up to S.LARGE_SIZE samples
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    p = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    return y, p, C


def _rates(student, y, p, C):
    what = f"per_class_fpr_fnr({fmt(y)}, {fmt(p)}, {C})"
    fpr, fnr = as_tuple(student(y, p, C), 2, what)
    return as_array(fpr, f"{what}[0] (FPR)", shape=(C,)), as_array(fnr, f"{what}[1] (FNR)", shape=(C,))


@check("per_class_fpr_fnr", public=True, ypc=_labels())
def perfect_predictions_have_no_errors(student, ref, ypc):
    """When y_pred equals y_true, every FPR and FNR should be 0."""
    y, _, C = ypc
    fpr, fnr = _rates(student, y, y.copy(), C)
    assert_close(fpr, np.zeros(C), "FPR of perfect predictions", atol=1e-12)
    assert_close(fnr, np.zeros(C), "FNR of perfect predictions", atol=1e-12)


@check("per_class_fpr_fnr", public=True, ypc=_labels())
def errors_add_up(student, ref, ypc):
    """Both sum_c FNR_c * #(y = c) and sum_c FPR_c * #(y != c) should equal the number of wrong predictions."""
    y, p, C = ypc
    fpr, fnr = _rates(student, y, p, C)
    pos = np.bincount(y, minlength=C)
    wrong = float((y != p).sum())
    assert_close(float(fnr @ pos), wrong, "sum_c FNR_c * #(y = c) (the false negatives)")
    assert_close(float(fpr @ (len(y) - pos)), wrong, "sum_c FPR_c * #(y != c) (the false positives)")


@check("per_class_fpr_fnr", public=True, n=st.integers(1, 5))
def absent_class_rates_are_zero(student, ref, n):
    """A class that never occurs as a label should have FNR 0 (not nan), and a class that is every label FPR 0."""
    y = np.zeros(n, dtype=np.int64)
    p = np.arange(n, dtype=np.int64) % 3
    fpr, fnr = _rates(student, y, p, 3)
    expected_fnr = np.array([np.mean(p != 0), 0.0, 0.0])
    assert_close(fnr, expected_fnr, f"FNR for labels {fmt(y)} and predictions {fmt(p)}", atol=1e-12)
    assert_close(fpr[0], 0.0, "FPR of class 0, which is every label (no negatives)", atol=1e-12)


# --- rate_change --------------------------------------------------------------------------------
_RATES = st.one_of(st.just(0.0), st.floats(0.0, 1.0, allow_subnormal=False))
_FLOORS = st.one_of(st.sampled_from([0.01, 0.1, 0.25]), st.floats(1e-3, 1.0))


@st.composite
def _rate_pairs(draw):
    C = draw(S.sizes(1, 5))
    return (draw(hnp.arrays(np.float64, (C,), elements=_RATES)), draw(hnp.arrays(np.float64, (C,), elements=_RATES)))


@check("rate_change", public=True, rates=_rate_pairs())
def doubling_is_plus_one(student, ref, rates):
    """A rate that doubles (base > floor) should change by +1 (+100%), one that halves by -0.5, an unchanged one by 0."""
    base = np.maximum(rates[0], 0.1) / 2  # in [0.05, 0.5], above the floor
    assert_close(student(base, 2 * base, 0.01), np.ones_like(base), "rate_change(base, 2 * base, 0.01)")
    assert_close(student(base, base / 2, 0.01), np.full_like(base, -0.5), "rate_change(base, base / 2, 0.01)")
    assert_close(student(base, base.copy(), 0.01), np.zeros_like(base), "rate_change(base, base, 0.01)", atol=1e-12)


@check("rate_change", public=True, C=st.integers(1, 4), n=st.integers(1, 40))
def zero_baseline_uses_the_floor(student, ref, C, n):
    """From a baseline rate of 0, one mistake in n (rate 1/n) with floor 1/n should count +1; 0 -> 0 should count 0."""
    base = np.zeros(C)
    new = np.where(np.arange(C) % 2 == 0, 1.0 / n, 0.0)
    got = as_array(student(base, new, 1.0 / n), f"rate_change(zeros, {fmt(new)}, 1/{n})", shape=(C,))
    require(bool(np.all(np.isfinite(got))), f"rate_change from a zero baseline should be finite, got {fmt(got)}")
    assert_close(got, (np.arange(C) % 2 == 0).astype(float), f"rate_change(zeros, {fmt(new)}, floor=1/{n})")


@check("rate_change", public=True, rates=_rate_pairs(), floor=st.sampled_from([0.0, -0.1, math.nan]))
def rejects_a_floor_that_is_not_positive(student, ref, rates, floor):
    """rate_change should raise ValueError when the floor is not > 0 (it would divide by zero)."""
    _rejects(student, (*rates, floor), f"rate_change(base, new, floor={floor})")


# --- cev, sde -----------------------------------------------------------------------------------
_DELTA = st.floats(-5.0, 5.0, allow_subnormal=False)


@st.composite
def _deltas(draw):
    C = draw(S.sizes(1, 5))
    return draw(hnp.arrays(np.float64, (C,), elements=_DELTA)), draw(hnp.arrays(np.float64, (C,), elements=_DELTA))


@check("cev", public=True, d=_deltas(), shift=st.tuples(_DELTA, _DELTA))
def blind_to_a_common_change(student, ref, d, shift):
    """Shifting every class's (dFPR, dFNR) by the same amount should not change CEV (it measures unevenness, not size)."""
    a = as_float(student(*d), "cev(d_fpr, d_fnr)")
    b = as_float(student(d[0] + shift[0], d[1] + shift[1]), f"cev(d_fpr + {shift[0]!r}, d_fnr + {shift[1]!r})")
    assert_close(b, a, "cev after a common shift compared with before", atol=1e-9)


@check("cev", public=True, C=st.integers(1, 5), x=_DELTA, y=_DELTA)
def zero_when_all_classes_change_alike(student, ref, C, x, y):
    """If every class has the same (dFPR, dFNR), CEV should be 0."""
    assert_close(student(np.full(C, x), np.full(C, y)), 0.0, f"cev of {C} identical points ({x!r}, {y!r})", atol=1e-12)


@check("cev", public=True, a=st.floats(0.1, 5.0), b=st.floats(0.1, 5.0))
def two_classes_by_hand(student, ref, a, b):
    """Two classes at (a, b) and (-a, -b) lie at distance sqrt(a^2 + b^2) from their mean: CEV = a^2 + b^2 (population variance, not sample)."""
    got = as_float(student(np.array([a, -a]), np.array([b, -b])), f"cev([{a!r}, {-a!r}], [{b!r}, {-b!r}])")
    assert_close(got, a * a + b * b, f"cev([{a!r}, {-a!r}], [{b!r}, {-b!r}])")


@check("sde", public=True, d=_deltas())
def zero_on_the_diagonal(student, ref, d):
    """When every class's FPR and FNR changed alike (dFPR = dFNR), SDE should be 0."""
    assert_close(student(d[0], d[0].copy()), 0.0, "sde(d, d)", atol=1e-12)


@check("sde", public=True, d=_deltas(), t=_DELTA)
def symmetric_and_diagonal_shift_invariant(student, ref, d, t):
    """SDE should not change when dFPR and dFNR swap roles, or when both are shifted by the same t."""
    a = as_float(student(*d), "sde(d_fpr, d_fnr)")
    assert_close(student(d[1], d[0]), a, "sde(d_fnr, d_fpr) compared with sde(d_fpr, d_fnr)", atol=1e-12)
    assert_close(student(d[0] + t, d[1] + t), a, f"sde(d_fpr + {t!r}, d_fnr + {t!r})", atol=1e-9)


@check("sde", public=True, C=st.integers(1, 4), x=st.floats(0.1, 5.0))
def mean_absolute_distance_by_hand(student, ref, C, x):
    """Classes alternating (x, 0) and (0, x) each lie x / sqrt(2) from the diagonal: SDE = x / sqrt(2) (Blakeney eq. III.6)."""
    f = np.where(np.arange(2 * C) % 2 == 0, x, 0.0)
    assert_close(student(f, x - f), x / math.sqrt(2), f"sde({fmt(f)}, {fmt(x - f)})")


# --- svcca --------------------------------------------------------------------------------------
def _spectrum(X: np.ndarray) -> np.ndarray:
    return np.linalg.svd(X - X.mean(axis=1, keepdims=True), compute_uv=False)


def _well_posed(X: np.ndarray, ks=(), variance: float | None = None) -> bool:
    """Full rank, not near-singular, and no singular-value tie at a cut (the kept subspace is then unique)."""
    S = _spectrum(X)
    if S.size < X.shape[0] or S[0] < 1e-9 or S[-1] < 0.05 * S[0]:
        return False
    if variance is not None:
        cum = np.cumsum(S**2) / np.sum(S**2)
        if np.min(np.abs(cum - variance)) < 1e-6:
            return False
        ks = (int(np.searchsorted(cum, variance) + 1),)
    return all(k >= len(S) or S[k - 1] > S[k] * (1 + 1e-3) for k in ks)


@st.composite
def _activations(draw, *, max_neurons: int = 3, variance: float | None = None, k: int | None = None):
    """(A (nA, N), B (nB, N)): small-integer activations of two layers on N datapoints, well posed."""
    N = draw(st.integers(max_neurons + 3, max_neurons + 5))
    lo = k or 1
    A = draw(hnp.arrays(np.float64, (draw(st.integers(lo, max_neurons)), N), elements=TIED))
    B = draw(hnp.arrays(np.float64, (draw(st.integers(lo, max_neurons)), N), elements=TIED))
    ks = (k,) if k else ()
    if not (_well_posed(A, ks, variance) and _well_posed(B, ks, variance)):
        reject()
    return A, B


@check("svcca", public=True, AB=_activations(), M=hnp.arrays(np.float64, (3, 3), elements=st.integers(-1, 1).map(float)))
def invariant_to_invertible_maps(student, ref, AB, M):
    """With all directions kept (k = width), svcca(A, M A) should be 1 for an invertible M, and svcca(A, A + offsets) 1 (centring)."""
    A = AB[0]
    n = A.shape[0]
    M = M[:n, :n] + 4 * np.eye(n)  # strictly diagonally dominant (|m_ij| <= 1, n <= 3): invertible
    assert_close(student(A, M @ A, k=n), 1.0, f"svcca(A, M @ A, k={n}) with M = {fmt(M)}", atol=1e-6)
    offsets = np.arange(n, dtype=float).reshape(n, 1) * 7 + 3
    assert_close(student(A, A + offsets), 1.0, "svcca(A, A + per-neuron offsets)", atol=1e-6)


@check("svcca", public=True, AB=_activations())
def symmetric_and_in_unit_interval(student, ref, AB):
    """svcca(A, B) should lie in [0, 1] and equal svcca(B, A)."""
    a = as_float(student(*AB), "svcca(A, B)")
    require(-1e-9 <= a <= 1 + 1e-9, f"svcca(A, B) = {a!r} is not in [0, 1]")
    assert_close(student(AB[1], AB[0]), a, "svcca(B, A) compared with svcca(A, B)", atol=1e-6)


@check("svcca", public=True, N=st.integers(8, 12), angle=st.floats(0.0, 1.5))
def one_neuron_each_gives_the_cosine(student, ref, N, angle):
    """For one neuron each, x and x cos(t) + y sin(t) with x, y orthogonal and centred, SVCCA should be |cos t|."""
    t = np.arange(N)
    x, y = np.cos(2 * np.pi * t / N), np.sin(2 * np.pi * t / N)
    B = (x * math.cos(angle) + y * math.sin(angle))[None]
    assert_close(student(x[None], B, k=1), abs(math.cos(angle)), f"svcca(x, x cos({angle!r}) + y sin({angle!r}), k=1)", atol=1e-6)


@check("svcca", public=True, AB=_activations())
def rejects_mismatched_datapoints(student, ref, AB):
    """svcca should raise ValueError when A and B do not have the same number of datapoints (columns)."""
    A, B = AB
    _rejects(student, (A, B[:, :-1]), f"svcca(A of shape {A.shape}, B of shape {B[:, :-1].shape})")


# --- sde (appended) -----------------------------------------------------------------------------
@check("sde", public=True, a=_DELTA, b=_DELTA)
def one_class_is_its_euclidean_distance_to_the_diagonal(student, ref, a, b):
    """For one class at (dFPR, dFNR) = (a, b), SDE should be the Euclidean distance from (a, b) to the line y = x."""
    m = (a + b) / 2  # the foot of the perpendicular is (m, m)
    expected = math.hypot(a - m, b - m)
    assert_close(student(np.array([a]), np.array([b])), expected, f"sde([{a!r}], [{b!r}])", atol=1e-12)


# --- documented errors (each ValueError in a docstring's Raises: section has a rejects_* check) ------------------
_W = np.array([[1.0, -2.0], [3.0, 0.5]])


@check("global_magnitude_masks", public=True, bad=st.sampled_from([
    ([], 0.5), ([_W], 1.5), ([_W], -0.1), ([_W, np.array([np.nan, 1.0])], 0.5), ([np.array([np.inf])], 0.5)]))
def global_magnitude_masks__rejects_bad_input(student, ref, bad):
    """global_magnitude_masks should raise ValueError for no layers, a sparsity outside [0, 1], or a non-finite weight."""
    require_value_error(student, *bad)


@check("per_class_fpr_fnr", public=True, bad=st.sampled_from([
    (np.array([0, 1]), np.array([0, 1, 1]), 2), (np.array([], dtype=np.int64), np.array([], dtype=np.int64), 2),
    (np.array([0, 2]), np.array([0, 1]), 2), (np.array([0, 1]), np.array([-1, 1]), 2)]))
def per_class_fpr_fnr__rejects_bad_input(student, ref, bad):
    """per_class_fpr_fnr should raise ValueError on a shape mismatch, an empty input, or a label outside [0, C)."""
    require_value_error(student, *bad)


_BAD_RATE_CHANGES = st.sampled_from([(np.array([0.1, 0.2]), np.array([0.1, 0.2, 0.3])), (np.array([]), np.array([])),
                                     (np.zeros((2, 2)), np.zeros((2, 2)))])


@check("cev", public=True, bad=_BAD_RATE_CHANGES)
def cev__rejects_bad_input(student, ref, bad):
    """cev should raise ValueError on a shape mismatch or an empty or non-1-D input."""
    require_value_error(student, *bad)


@check("sde", public=True, bad=_BAD_RATE_CHANGES)
def sde__rejects_bad_input(student, ref, bad):
    """sde should raise ValueError on a shape mismatch or an empty or non-1-D input."""
    require_value_error(student, *bad)
