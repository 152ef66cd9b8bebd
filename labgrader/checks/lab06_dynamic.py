"""Lab 6 checks: early exits (entropy and confidence rules, cost, joint loss), SkipNet gates, Switch routing.

Each check's docstring (first paragraph) is the property the student reads when it fails. Each
exercise has an agreement check against the hidden reference plus the invariants of the topic,
most of them public (they need no reference). Inputs are small: at most 3 exits, 4 samples,
4 classes, 8 tokens and 4 experts, so that a shrunk counterexample fits on a line or two; one
dimension (samples, classes, tokens or the first axis) is sometimes larger (``S.sizes``: up to 16,
40 tokens), and router logits are often tied, so bugs that only show on longer inputs or on ties
are drawn too.

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab06_dynamic.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import as_array, as_float, assert_close, assert_stable, fmt, raises_value_error, require, require_value_error, row_max_zero
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
EXERCISES = registry.exercises("reference_impl.dynamic", [
    "entropy", "exit_decisions", "confidence_exit_decisions", "expected_cost", "branchy_loss",
    "skip_gate_forward", "skip_block_output", "ste_gate_grad", "switch_route", "load_balancing_loss"
])

MAX_EXITS = 3
MAX_TOKENS = 8
MAX_EXPERTS = 4
LARGE = 1e4

# Capacity factors whose product with small token counts is exact in float64, so that
# ceil(cf * T / E) does not depend on the order of the multiplication and the division.
CAPACITY_FACTORS = st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 4.0])
ENTROPY_THRESHOLDS = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0]),
                               st.floats(0.0, 1.6, allow_subnormal=False))
CONFIDENCE_THRESHOLDS = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 1.0, 1.1]),
                                  st.floats(0.0, 1.0, allow_subnormal=False))


def _floats(bound: float):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


@st.composite
def prob_arrays(draw, *, max_dims: int = 3) -> np.ndarray:
    """Probabilities on the last axis of an array of rank 1..max_dims (exact zeros allowed); C sometimes up to 16."""
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims - 1, min_side=1, max_side=4))
    shape = lead + (draw(S.sizes(1, 4, large=16)),)
    w = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.just(0.0), st.floats(0.0, 10.0, allow_subnormal=False))))
    flat = w.reshape(-1, shape[-1])
    flat[flat.sum(axis=-1) <= 0, -1] = 1.0
    return (flat / flat.sum(axis=-1, keepdims=True)).reshape(shape)


@st.composite
def exit_probs(draw, *, min_exits: int = 1, one_hot: bool = False) -> np.ndarray:
    """(E, N, C) probabilities: E exits' predictions for N samples."""
    E = draw(st.integers(min_exits, MAX_EXITS))
    N = draw(S.sizes(1, S.MAX_BATCH, large=16))
    C = draw(st.integers(2, 4))
    if one_hot:
        idx = draw(hnp.arrays(np.int64, (E, N), elements=st.integers(0, C - 1)))
        return np.eye(C)[idx]
    return draw(S.prob_vectors(batch=E * N, classes=C)).reshape(E, N, C)


@st.composite
def exit_problems(draw, thresholds=ENTROPY_THRESHOLDS, *, full: bool | None = None, min_exits: int = 1):
    """(probs (E, N, C), thresholds (E-1,) or (E,))."""
    probs = draw(exit_probs(min_exits=min_exits))
    E = probs.shape[0]
    full = draw(st.booleans()) if full is None else full
    thr = np.array(draw(st.lists(thresholds, min_size=E if full else E - 1, max_size=E if full else E - 1)))
    return probs, thr.astype(np.float64)


@st.composite
def exit_costs(draw):
    """(exits (N,) int64, cost_per_exit (E,) non-negative)."""
    E = draw(st.integers(1, MAX_EXITS + 1))
    cost = draw(hnp.arrays(np.float64, (E,), elements=st.one_of(st.integers(0, 100).map(float),
                                                                 st.floats(0.0, 1e3, allow_subnormal=False))))
    exits = draw(hnp.arrays(np.int64, (draw(S.sizes(1, 6)),), elements=st.integers(0, E - 1)))
    return exits, cost


@st.composite
def exit_logits(draw, *, bound: float = S.LOGIT_BOUND):
    """(logits (E, N, C), labels (N,), weights (E,))."""
    E = draw(st.integers(1, MAX_EXITS))
    N = draw(S.sizes(1, S.MAX_BATCH, large=16))
    C = draw(st.integers(2, 4))
    z = draw(hnp.arrays(np.float64, (E, N, C), elements=_floats(bound)))
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    w = draw(hnp.arrays(np.float64, (E,), elements=st.one_of(st.sampled_from([0.0, 0.5, 1.0]),
                                                              st.floats(0.0, 2.0, allow_subnormal=False))))
    return z, y, w


def _shapes(max_dims: int, max_side: int):
    """Array shapes of rank 1..max_dims whose first axis is sometimes up to 16 long."""
    return st.tuples(S.sizes(1, max_side, large=16),
                     hnp.array_shapes(min_dims=0, max_dims=max_dims - 1, min_side=1, max_side=max_side)).map(
        lambda t: (t[0], *t[1]))


def _gate_logits():
    """Gate logits away from +-1e-6 (except an exact 0), where sigmoid(z) rounds to 1/2."""
    value = st.one_of(st.just(0.0), _floats(40.0).filter(lambda v: abs(v) > 1e-6))
    return hnp.arrays(np.float64, _shapes(2, 4), elements=value)


@st.composite
def gated_blocks(draw, *, hard: bool = False):
    """(x (N, ...), fx like x, m (N,)) with gates in {0, 1} when ``hard`` else in [0, 1]."""
    shape = draw(_shapes(3, 3))
    x = draw(hnp.arrays(np.float64, shape, elements=_floats(10.0)))
    fx = draw(hnp.arrays(np.float64, shape, elements=_floats(10.0)))
    gate = st.sampled_from([0.0, 1.0]) if hard else st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
    m = draw(hnp.arrays(np.float64, shape[:1], elements=gate))
    return x, fx, m


@st.composite
def gate_grads(draw, *, bound: float = 20.0):
    """(z, upstream) of one shape."""
    shape = draw(_shapes(2, 4))
    z = draw(hnp.arrays(np.float64, shape, elements=_floats(bound)))
    g = draw(hnp.arrays(np.float64, shape, elements=_floats(5.0)))
    return z, g


@st.composite
def router_logits(draw, *, tied: bool | None = None, distinct_max: bool = False):
    """(T, E) router logits, T sometimes up to 40; with ``tied`` small integers (argmax ties), with ``distinct_max`` a unique row max."""
    T = draw(S.sizes(1, MAX_TOKENS, large=40))
    E = draw(st.integers(1, MAX_EXPERTS))
    tied = draw(st.booleans()) if tied is None else tied
    elements = st.integers(-2, 2).map(float) if tied else _floats(10.0)
    z = draw(hnp.arrays(np.float64, (T, E), elements=elements))
    if distinct_max:
        for row in z:
            top = np.flatnonzero(row == row.max())
            row[top[1:]] -= 1.0
    return z


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy written independently of the reference (a loop over rows, math.log)."""
    flat = p.reshape(-1, p.shape[-1])
    return np.array([-math.fsum(v * math.log(v) for v in row if v > 0) for row in flat]).reshape(p.shape[:-1])


def _ce(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.logaddexp.reduce(z, axis=-1) - z[np.arange(len(y)), y]))


def _exits(got, n: int, what: str) -> np.ndarray:
    a = as_array(got, what, shape=(n,))
    require(bool(np.all(a == np.round(a))), f"{what} should hold integer exit indices, got {fmt(a)}")
    return a




# --- entropy ------------------------------------------------------------------------------------
@check("entropy", public=True, c=st.integers(1, 6), n=st.integers(1, 3))
def uniform_is_log_c(student, ref, c, n):
    """The entropy of the uniform distribution over C classes should be log C (natural log: nats, not bits)."""
    p = np.full((n, c), 1.0 / c)
    assert_close(student(p), np.full(n, math.log(c)), f"entropy of {n} uniform rows over C = {c} classes")


@check("entropy", public=True, labels=st.lists(st.integers(0, 4), min_size=1, max_size=4))
def one_hot_is_zero(student, ref, labels):
    """A one-hot distribution should have entropy exactly 0: its zero entries add 0 * log 0 = 0, not nan."""
    p = np.eye(5)[labels]
    h = as_array(student(p), "entropy(p)", shape=(len(labels),))
    require(bool(np.all(np.isfinite(h))), f"entropy of one-hot rows {fmt(p)} gave {fmt(h)}: 0 * log 0 should count as 0")
    assert_close(h, np.zeros(len(labels)), "entropy of one-hot rows", atol=1e-12)


@check("entropy", public=True, p=prob_arrays(max_dims=2))
def between_zero_and_log_c(student, ref, p):
    """entropy(p) should lie in [0, log C] for every row (and match a row-by-row computation)."""
    h = as_array(student(p), "entropy(p)", shape=p.shape[:-1])
    c = p.shape[-1]
    require(bool(np.all((h >= -1e-12) & (h <= math.log(c) + 1e-12))),
            f"entropy(p) = {fmt(h)} lies outside [0, log {c} = {math.log(c):.6f}]")
    assert_close(h, _entropy(p), "entropy(p)")


@check("entropy", public=True, p=prob_arrays(max_dims=2))
def rejects_negative_probabilities(student, ref, p):
    """entropy should raise ValueError when a probability is negative."""
    bad = p.copy()
    bad.reshape(-1)[0] = -0.5
    raises_value_error(student, f"entropy({fmt(bad)})", bad)


# --- exit_decisions ----------------------------------------------------------------------------
@check("exit_decisions", public=True, probs=st.one_of(exit_probs(), exit_probs(one_hot=True)))
def zero_thresholds_use_last_exit(student, ref, probs):
    """With every threshold 0 no sample leaves early — not even a one-hot prediction (its entropy 0 is not below 0)."""
    E, N, _ = probs.shape
    got = _exits(student(probs, np.zeros(E - 1)), N, "exit_decisions(probs, zeros)")
    assert_close(got, np.full(N, E - 1.0), f"exit_decisions with thresholds 0 for E = {E} exits")


@check("exit_decisions", public=True, probs=exit_probs(min_exits=2))
def open_first_exit_takes_everything(student, ref, probs):
    """A first threshold above log C lets every sample leave at exit 0 (entropy is at most log C)."""
    E, N, C = probs.shape
    thr = np.zeros(E - 1)
    thr[0] = math.log(C) + 0.01
    got = _exits(student(probs, thr), N, "exit_decisions(probs, thresholds)")
    assert_close(got, np.zeros(N), f"exit_decisions with thresholds {fmt(thr)} (log C = {math.log(C):.4f})")


@check("exit_decisions", public=True, problem=exit_problems(full=False), last=st.floats(0.0, 5.0))
def exit_decisions__last_threshold_is_ignored(student, ref, problem, last):
    """thresholds of length E should give the same exits as the first E-1 of them: the last exit takes everything left."""
    probs, thr = problem
    a = _exits(student(probs, thr), probs.shape[1], "exit_decisions(probs, thresholds[:E-1])")
    b = _exits(student(probs, np.append(thr, last)), probs.shape[1], "exit_decisions(probs, thresholds of length E)")
    assert_close(b, a, f"exits with an extra last threshold {last!r} compared with without it")


@check("exit_decisions", public=True, probs=exit_probs(min_exits=2))
def rejects_wrong_threshold_count(student, ref, probs):
    """exit_decisions should raise ValueError when thresholds has neither E-1 nor E entries."""
    E = probs.shape[0]
    raises_value_error(student, f"exit_decisions(probs with E = {E}, {E + 1} thresholds)", probs, np.zeros(E + 1))


# --- confidence_exit_decisions -----------------------------------------------------------------
@check("confidence_exit_decisions", public=True, probs=exit_probs(min_exits=2, one_hot=True))
def certain_prediction_meets_threshold_one(student, ref, probs):
    """A certain prediction (top probability 1) meets a threshold of exactly 1 (the rule is >=), so every one-hot sample leaves at exit 0."""
    E, N, _ = probs.shape
    got = _exits(student(probs, np.ones(E - 1)), N, "confidence_exit_decisions(one-hot probs, ones)")
    assert_close(got, np.zeros(N), "confidence_exit_decisions of one-hot predictions with thresholds 1")


@check("confidence_exit_decisions", public=True, probs=st.one_of(exit_probs(), exit_probs(one_hot=True)))
def thresholds_above_one_use_last_exit(student, ref, probs):
    """Thresholds above 1 close every early exit (no probability exceeds 1); thresholds 0 open exit 0 for everyone."""
    E, N, _ = probs.shape
    got = _exits(student(probs, np.full(E - 1, 1.01)), N, "confidence_exit_decisions(probs, 1.01)")
    assert_close(got, np.full(N, E - 1.0), f"confidence_exit_decisions with thresholds 1.01 for E = {E} exits")
    got0 = _exits(student(probs, np.zeros(E - 1)), N, "confidence_exit_decisions(probs, zeros)")
    assert_close(got0, np.zeros(N), "confidence_exit_decisions with thresholds 0")


@check("confidence_exit_decisions", public=True, problem=exit_problems(CONFIDENCE_THRESHOLDS, full=False),
       last=st.floats(0.0, 2.0))
def confidence_exit_decisions__last_threshold_is_ignored(student, ref, problem, last):
    """thresholds of length E should give the same exits as the first E-1 of them: the last exit takes everything left."""
    probs, thr = problem
    N = probs.shape[1]
    a = _exits(student(probs, thr), N, "confidence_exit_decisions(probs, thresholds[:E-1])")
    b = _exits(student(probs, np.append(thr, last)), N, "confidence_exit_decisions(probs, thresholds of length E)")
    assert_close(b, a, f"exits with an extra last threshold {last!r} compared with without it")


# --- expected_cost -----------------------------------------------------------------------------
@check("expected_cost", public=True, problem=exit_costs(), n=st.integers(1, 5))
def everyone_at_one_exit_pays_its_cost(student, ref, problem, n):
    """When all N samples leave at the same exit e, the average cost is cost_per_exit[e] (a mean, not a sum)."""
    _, cost = problem
    e = len(cost) - 1
    exits = np.full(n, e, dtype=np.int64)
    assert_close(student(exits, cost), float(cost[e]), f"expected_cost of {n} samples all at exit {e}")


@check("expected_cost", public=True, problem=exit_costs())
def mean_over_samples(student, ref, problem):
    """expected_cost should be the average of the single-sample costs (each sample pays its exit's cumulative cost)."""
    exits, cost = problem
    whole = as_float(student(exits, cost), "expected_cost(exits, cost_per_exit)")
    singles = [as_float(student(exits[i : i + 1], cost), f"expected_cost(exits[{i}:{i + 1}], cost_per_exit)")
               for i in range(len(exits))]
    assert_close(np.array(singles), cost[exits], "the single-sample costs compared with cost_per_exit[exit]")
    assert_close(whole, math.fsum(singles) / len(singles), "expected_cost compared with the mean of single-sample costs")


@check("expected_cost", public=True, problem=exit_costs())
def rejects_exit_out_of_range(student, ref, problem):
    """expected_cost should raise ValueError for an exit index outside [0, E)."""
    exits, cost = problem
    bad = exits.copy()
    bad[0] = len(cost)
    raises_value_error(student, f"expected_cost({fmt(bad)}, cost_per_exit with E = {len(cost)})", bad, cost)


# --- branchy_loss ------------------------------------------------------------------------------
@check("branchy_loss", public=True, problem=exit_logits())
def one_hot_weights_pick_an_exit(student, ref, problem):
    """With weight 1 on exit e and 0 elsewhere, branchy_loss should be that exit's mean cross-entropy."""
    z, y, _ = problem
    E = z.shape[0]
    for e in range(E):
        w = np.eye(E)[e]
        assert_close(student(z, y, w), _ce(z[e], y), f"branchy_loss with weights {fmt(w)} (only exit {e})")


@check("branchy_loss", public=True, problem=exit_logits(), scale=st.sampled_from([0.0, 0.5, 2.0, 3.0]))
def linear_in_weights(student, ref, problem, scale):
    """branchy_loss should be linear in the weights: scaling every w_e by s scales the loss by s."""
    z, y, w = problem
    a = as_float(student(z, y, w), "branchy_loss(logits, labels, w)")
    b = as_float(student(z, y, w * scale), f"branchy_loss(logits, labels, {scale} * w)")
    assert_close(b, scale * a, f"branchy_loss with weights scaled by {scale}", atol=1e-9)


@check("branchy_loss", public=True, problem=exit_logits(bound=1.0).map(lambda t: (np.round(t[0]) * LARGE, t[1], t[2])))
def branchy_loss__stable_at_large_logits(student, ref, problem):
    """branchy_loss should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (use log-sum-exp)."""
    z, y, w = problem
    got = as_float(student(z, y, w), "branchy_loss(logits, labels, weights)")
    assert_stable(got, student(row_max_zero(z), y, w), "branchy_loss(logits, labels, weights)", "exp overflow or log(0)")


# --- skip_gate_forward -------------------------------------------------------------------------
@check("skip_gate_forward", public=True, z=_gate_logits())
def hard_zero_one_mask(student, ref, z):
    """skip_gate_forward should return a hard mask of the input's shape: only 0s and 1s, never the soft sigmoid."""
    m = as_array(student(z), "skip_gate_forward(z)", shape=z.shape)
    require(bool(np.all((m == 0) | (m == 1))), f"skip_gate_forward({fmt(z)}) = {fmt(m)}: expected only 0.0 and 1.0")
    expected = np.array([1.0 if 1 / (1 + math.exp(-v)) >= 0.5 else 0.0 for v in z.reshape(-1)]).reshape(z.shape)
    assert_close(m, expected, f"skip_gate_forward({fmt(z)})")


@check("skip_gate_forward", public=True, n=st.integers(1, 4))
def zero_logit_executes(student, ref, n):
    """At z = 0, sigmoid(z) = 1/2 meets the threshold: the block runs (m = 1); just below it is skipped."""
    z = np.zeros(n)
    assert_close(student(z), np.ones(n), "skip_gate_forward(zeros): sigmoid(0) = 0.5 >= 0.5")
    assert_close(student(z - 0.01), np.zeros(n), "skip_gate_forward(-0.01): sigmoid(-0.01) < 0.5")


@check("skip_gate_forward", public=True, z=hnp.arrays(np.float64, st.integers(1, 4), elements=S.with_tiny(
    st.sampled_from([1e-17, -1e-17]))))
def decided_by_the_sign_at_tiny_logits(student, ref, z):
    """For gate logits as small as +-1e-20 the docstring fixes m = 1 exactly when z >= 0: sigmoid(-1e-20) rounds to 0.5 in float64, so compare z with 0, not sigmoid(z) with 1/2 (and -0.0 >= 0: the block runs)."""
    assert_close(student(z), (z >= 0).astype(np.float64), f"skip_gate_forward({fmt(z)})")


# --- skip_block_output -------------------------------------------------------------------------
@check("skip_block_output", public=True, block=gated_blocks(hard=True))
def hard_gates_select(student, ref, block):
    """With hard gates, sample n's output should be f(x)_n where m_n = 1 and x_n (identity shortcut) where m_n = 0."""
    x, fx, m = block
    expected = np.stack([fx[i] if m[i] == 1 else x[i] for i in range(len(m))])
    assert_close(student(x, fx, m), expected, f"skip_block_output(x, fx, m = {fmt(m)})")


@check("skip_block_output", public=True, block=gated_blocks(), m0=st.floats(0.0, 1.0))
def soft_gate_interpolates(student, ref, block, m0):
    """With the same soft gate m for every sample, the output should be the interpolation x + m (f(x) - x)."""
    x, fx, _ = block
    m = np.full(x.shape[0], m0)
    assert_close(student(x, fx, m), x + m0 * (fx - x), f"skip_block_output(x, fx, m = {m0!r} for every sample)", atol=1e-9)


@check("skip_block_output", public=True, block=gated_blocks(), bad=st.sampled_from([-0.5, 1.5, 2.0]))
def rejects_gate_outside_unit_interval(student, ref, block, bad):
    """skip_block_output should raise ValueError for a gate outside [0, 1]."""
    x, fx, m = block
    m = m.copy()
    m[0] = bad
    raises_value_error(student, f"skip_block_output(x, fx, m = {fmt(m)})", x, fx, m)


# --- ste_gate_grad -----------------------------------------------------------------------------
@check("ste_gate_grad", public=True, n=st.integers(1, 4), g=st.floats(-5, 5))
def quarter_at_zero(student, ref, n, g):
    """At z = 0 the sigmoid's slope is 1/4: ste_gate_grad(0, g) = g / 4 (the hard step's slope, 0, would give no signal)."""
    assert_close(student(np.zeros(n), np.full(n, g)), np.full(n, g / 4), f"ste_gate_grad(zeros, {g!r})", atol=1e-12)


@check("ste_gate_grad", public=True, zg=gate_grads(bound=8.0))
def matches_finite_differences(student, ref, zg):
    """ste_gate_grad should be the slope of sigmoid (central differences, h = 1e-5) times upstream, and symmetric in z."""
    z, g = zg
    h = 1e-5
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    slope = (sig(z + h) - sig(z - h)) / (2 * h)
    got = as_array(student(z, g), "ste_gate_grad(z, upstream)", shape=z.shape)
    assert_close(got, slope * g, "ste_gate_grad(z, upstream) against finite differences", rtol=1e-6, atol=1e-9)
    assert_close(student(-z, g), got, "ste_gate_grad(-z, upstream) compared with ste_gate_grad(z, upstream)", atol=1e-12)


@check("ste_gate_grad", public=True, signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=1, max_size=4))
def finite_at_large_logits(student, ref, signs):
    """ste_gate_grad should stay finite (and essentially 0) for gate logits as large as +-1000 (no exp overflow to nan)."""
    z = np.array(signs) * 1000.0
    got = as_array(student(z, np.ones_like(z)), f"ste_gate_grad({fmt(z)}, ones)", shape=z.shape)
    require(bool(np.all(np.isfinite(got))), f"ste_gate_grad({fmt(z)}, ones) = {fmt(got)}: exp(1000) overflowed")
    assert_close(got, np.zeros_like(z), f"ste_gate_grad({fmt(z)}, ones)", atol=1e-12)


# --- switch_route ------------------------------------------------------------------------------
def _assignment(got, T: int, what: str) -> np.ndarray:
    a = as_array(got, what, shape=(T,))
    require(bool(np.all(a == np.round(a))), f"{what} should hold integer expert indices (or -1), got {fmt(a)}")
    return a.astype(np.int64)


@check("switch_route", public=True, z=router_logits(), cf=CAPACITY_FACTORS)
def capacity_respected_and_filled_in_order(student, ref, z, cf):
    """No expert gets more than ceil(cf T / E) tokens; a token is dropped only when its expert is already full with earlier tokens."""
    T, E = z.shape
    cap = math.ceil(cf * T / E)
    a = _assignment(student(z, cf), T, f"switch_route(z, {cf})")
    for i in range(E):
        require(int((a == i).sum()) <= cap,
                f"expert {i} got {int((a == i).sum())} tokens, but its capacity is ceil({cf} * {T} / {E}) = {cap}: {fmt(a)}")
    first = z.argmax(axis=1)
    for t in np.flatnonzero(a == -1):
        earlier = int((a[:t] == first[t]).sum())
        require(earlier == cap, f"token {t} (wants expert {first[t]}) was dropped, but only {earlier} earlier tokens "
                f"hold that expert's {cap} places: {fmt(a)}")


@check("switch_route", public=True, z=router_logits(), cf=CAPACITY_FACTORS)
def kept_tokens_go_to_their_top_expert(student, ref, z, cf):
    """Every token that is not dropped should go to its top-1 expert (argmax of its router logits, ties to the lowest index)."""
    T = z.shape[0]
    a = _assignment(student(z, cf), T, f"switch_route(z, {cf})")
    first = z.argmax(axis=1)
    kept = a != -1
    require(bool(np.all((a == -1) | (a == first))),
            f"switch_route(z, {cf}) = {fmt(a)}, but the tokens' top experts are {fmt(first)}")
    require(bool(np.all(a[kept] >= 0)), f"assignments must be expert indices or -1, got {fmt(a)}")


@check("switch_route", public=True, z=router_logits(), extra=st.sampled_from([0.0, 1.0]))
def enough_capacity_drops_nothing(student, ref, z, extra):
    """With capacity_factor >= E every expert can take all T tokens: nothing is dropped."""
    T, E = z.shape
    cf = float(E) + extra
    a = _assignment(student(z, cf), T, f"switch_route(z, {cf})")
    assert_close(a, z.argmax(axis=1), f"switch_route(z, capacity_factor={cf}) with E = {E}")


@check("switch_route", public=True, z=router_logits(), cf=st.sampled_from([0.0, -1.0, math.nan, math.inf]))
def rejects_bad_capacity_factor(student, ref, z, cf):
    """switch_route should raise ValueError for a capacity factor that is not a finite number > 0."""
    raises_value_error(student, f"switch_route(z, capacity_factor={cf})", z, cf)


# --- load_balancing_loss -----------------------------------------------------------------------
@check("load_balancing_loss", public=True, e=st.integers(1, 4), reps=st.integers(1, 2), eps=st.floats(0.0, 1e-6))
def balanced_routing_gives_one(student, ref, e, reps, eps):
    """Perfectly balanced, uniform routing (f_i = P_i = 1/E) should give loss 1."""
    z = np.tile(np.eye(e), (reps, 1)) * eps  # each expert top for the same number of tokens, probabilities ~ 1/E
    z = z + np.tile(np.eye(e), (reps, 1)) * 1e-12
    assert_close(student(z), 1.0, f"load_balancing_loss of balanced uniform routing over E = {e} experts", rtol=1e-5)


@check("load_balancing_loss", public=True, t=st.integers(1, 6), e=st.integers(1, 4), expert=st.integers(0, 3))
def collapsed_routing_gives_e(student, ref, t, e, expert):
    """When every token goes to one expert with certainty (f = P = one-hot), the loss should be E, its maximum."""
    i = expert % e
    z = np.zeros((t, e))
    z[:, i] = 50.0
    assert_close(student(z), float(e), f"load_balancing_loss with all {t} tokens certain of expert {i} (E = {e})", rtol=1e-9)


def _clear_top(z: np.ndarray) -> bool:
    """Each row's maximum beats the runner-up by more than rounding: z + an integer shift keeps the same argmax."""
    top2 = np.sort(z, axis=1)[:, -2:]
    return z.shape[1] == 1 or bool(np.all(top2[:, 1] - top2[:, 0] > 1e-9))


@check("load_balancing_loss", public=True, z=router_logits(distinct_max=True).filter(_clear_top), data=st.data())
def invariant_to_token_and_expert_order(student, ref, z, data):
    """The loss should not depend on the order of the tokens or the numbering of the experts, nor on a shift of a token's logits."""
    T, E = z.shape
    rows = np.array(data.draw(st.permutations(range(T))))
    cols = np.array(data.draw(st.permutations(range(E))))
    shift = np.array(data.draw(st.lists(st.integers(-3, 3), min_size=T, max_size=T)), dtype=np.float64)
    a = as_float(student(z), "load_balancing_loss(z)")
    b = as_float(student(z[rows][:, cols] + shift[rows, None]), "load_balancing_loss(z permuted and shifted)")
    assert_close(b, a, f"load_balancing_loss with tokens reordered {fmt(rows)}, experts {fmt(cols)}, row shifts {fmt(shift[rows])}")
    require(-1e-12 <= a <= E + 1e-9, f"load_balancing_loss = {a!r} should lie in [0, E = {E}]")


@check("load_balancing_loss", public=True, z=router_logits(tied=True))
def ties_count_for_the_lowest_expert(student, ref, z):
    """With tied router logits, f should count each token once, for the lowest-index expert among its tied maxima (the argmax rule, before any capacity drop)."""
    T, E = z.shape
    f = np.zeros(E)
    for row in z.tolist():
        f[row.index(max(row))] += 1 / T  # list.index: the first maximum
    P = np.array([[math.exp(v - max(row)) for v in row] for row in z.tolist()])
    P = (P / P.sum(axis=1, keepdims=True)).mean(axis=0)
    assert_close(student(z), float(E * (f * P).sum()), f"load_balancing_loss({fmt(z)}) (f from the first maximum of each row)")


@check("load_balancing_loss", public=True, z=router_logits(tied=True).map(lambda z: z * LARGE))
def load_balancing_loss__stable_at_large_logits(student, ref, z):
    """load_balancing_loss should stay finite for router logits as large as +-2e4, equal to its value with each token's maximum shifted to 0 (subtract each token's maximum before exp)."""
    for row in z:  # a unique top expert per token, so f does not depend on how ties are broken
        top = np.flatnonzero(row == row.max())
        row[top[1:]] -= 1.0
    got = as_float(student(z), "load_balancing_loss(router_logits)")
    assert_stable(got, student(row_max_zero(z)), "load_balancing_loss(router_logits)", "exp overflowed")


# --- documented errors (each ValueError in a docstring's Raises: section has a rejects_* check) ------------------
_PROBS = np.full((2, 1, 2), 0.5)  # E = 2 exits, N = 1, C = 2


@check("confidence_exit_decisions", public=True, bad=st.sampled_from([
    (np.full((1, 2), 0.5), np.array([0.9])), (_PROBS, np.array([0.9, 0.8, 0.7])), (_PROBS, np.zeros((1, 1)))]))
def confidence_exit_decisions__rejects_bad_shapes(student, ref, bad):
    """confidence_exit_decisions should raise ValueError if probs is not 3-D or thresholds has neither E-1 nor E entries."""
    require_value_error(student, *bad)


@check("branchy_loss", public=True, bad=st.sampled_from([
    (np.zeros((2, 1, 3)), np.array([3]), np.ones(2)), (np.zeros((2, 1, 3)), np.array([-1]), np.ones(2)),
    (np.zeros((2, 1, 3)), np.array([0, 1]), np.ones(2)), (np.zeros((2, 1, 3)), np.array([0]), np.array([1.0, -0.5])),
    (np.zeros((2, 1, 3)), np.array([0]), np.ones(3)), (np.zeros((1, 3)), np.array([0]), np.ones(1))]))
def branchy_loss__rejects_bad_input(student, ref, bad):
    """branchy_loss should raise ValueError on a shape mismatch, a label outside [0, C) or a negative weight."""
    require_value_error(student, *bad)


@check("skip_gate_forward", public=True, gate_logits=st.sampled_from([
    np.array([np.nan]), np.array([0.0, np.inf]), np.array([[-np.inf, 1.0]])]))
def skip_gate_forward__rejects_non_finite_logits(student, ref, gate_logits):
    """skip_gate_forward should raise ValueError if a gate logit is nan or infinite."""
    require_value_error(student, gate_logits)


@check("ste_gate_grad", public=True, bad=st.sampled_from([(np.zeros(2), np.ones(3)), (np.zeros((2, 1)), np.ones(2))]))
def ste_gate_grad__rejects_mismatched_shapes(student, ref, bad):
    """ste_gate_grad should raise ValueError if gate_logits and upstream differ in shape."""
    require_value_error(student, *bad)


@check("load_balancing_loss", public=True, router_logits=st.sampled_from([
    np.zeros(3), np.zeros((0, 2)), np.zeros((2, 0)), np.zeros((1, 2, 2))]))
def load_balancing_loss__rejects_bad_shape(student, ref, router_logits):
    """load_balancing_loss should raise ValueError if router_logits is not a non-empty 2-D array (T, E)."""
    require_value_error(student, router_logits)
