"""Lab 5 checks: DARTS op weights, mixed op, genotype; ProxylessNAS expected latency, gradient, losses; Pareto front.

Each check's docstring (first paragraph) is the property the student reads when it fails. Each
exercise has an agreement check against the hidden reference plus the invariants of the topic,
most of them public (they need no reference).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab05_nas.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import CheckFailed, as_array, as_float, assert_close, assert_stable, fmt, raises_value_error, require, require_value_error, row_max_zero
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
EXERCISES = registry.exercises("reference_impl.nas", [
    "mixed_op_weights", "mixed_op", "derive_genotype", "expected_latency", "expected_latency_grad",
    "latency_loss_additive", "latency_loss_multiplicative", "pareto_front"
])

LARGE = 1e4  # exp(1e4) overflows float64: only a max-shifted softmax survives
OP_POOL = ("skip", "conv3", "conv5", "pool")


def _softmax(a: np.ndarray) -> np.ndarray:
    """Softmax written independently of the reference (log-sum-exp by np.logaddexp)."""
    return np.exp(a - np.logaddexp.reduce(a, axis=-1, keepdims=True))




# --- strategies ---------------------------------------------------------------------------------
def _alphas(min_rows: int = 1, max_rows: int = 4, min_ops: int = 1, max_ops: int = 5, bound: float = 20.0):
    return st.tuples(st.integers(min_rows, max_rows), S.sizes(min_ops, max_ops)).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=S._floats(bound)))


@st.composite
def _alpha_latency(draw, *, one_d: bool | None = None, low: float = 0.0):
    """(alpha, op_latency) of one shape, (K,) or (L, K); latencies in [low, 100]."""
    if one_d is None:
        one_d = draw(st.booleans())
    K = draw(st.integers(1, 4))
    shape = (K,) if one_d else (draw(S.sizes(1, 3, large=16)), K)  # up to 16 layers: latency adds over all of them
    a = draw(hnp.arrays(np.float64, shape, elements=S._floats(10.0)))
    lat = draw(hnp.arrays(np.float64, shape, elements=st.floats(low, 100.0, allow_subnormal=False)))
    return a, lat


@st.composite
def _op_outputs(draw):
    """(op_outputs (K, ...), alpha (K,)); K sometimes up to 16 ops."""
    K = draw(S.sizes(1, 4, large=16))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3))
    o = draw(hnp.arrays(np.float64, (K, *shape), elements=S._floats(10.0)))
    a = draw(hnp.arrays(np.float64, (K,), elements=S._floats(10.0)))
    return o, a


def _n_rows(n_nodes: int, n_inputs: int) -> int:
    return sum(n_inputs + j for j in range(n_nodes))


def _snap_near_ties(a: np.ndarray, names: list, n_inputs: int) -> np.ndarray:
    """alpha with every near tie made exact: within a node, an edge whose strength is within 1e-9 (relative)
    of an earlier edge's gets that edge's row. Two different rows of equal strength (a permutation of one
    row's values) tie only up to rounding, which correct implementations may break either way; identical
    rows tie exactly for any correct softmax, so the documented rule (the lower state first) decides."""
    a = a.copy()
    usable = [i for i, n in enumerate(names) if n != "none"]
    start, n = 0, n_inputs
    while start < len(a):
        for j in range(start + 1, start + n):
            s = _softmax(a[start : j + 1])[:, usable].max(axis=1)
            near = [i for i in range(j - start) if abs(s[i] - s[-1]) <= 1e-9 * max(s[i], s[-1])]
            if near:
                a[j] = a[start + near[0]]
        start, n = start + n, n + 1
    return a


@st.composite
def _genotype_inputs(draw, n_inputs: int | None = None):
    """(alpha (E, K) of small integers, op_names with one 'none', k, n_inputs); up to 6 nodes (27 edges).

    Equally strong edges are exact ties (identical rows: half the time some edges copy an earlier one, and
    near ties are snapped, see _snap_near_ties), as are equal ops in a row (integers), so the documented tie
    rule (the lower state first, a stable sort) is drawn, also in nodes of 4 or more edges, where an
    unstable sort (np.argsort's default) starts to reorder ties."""
    n_inputs = n_inputs if n_inputs is not None else draw(st.integers(1, 2))
    n_nodes = draw(S.sizes(1, 4, large=6))
    K = draw(st.integers(2, 4))
    names = list(OP_POOL[: K - 1])
    names.insert(draw(st.integers(0, K - 1)), "none")
    k = draw(st.integers(1, 3))
    a = draw(hnp.arrays(np.float64, (_n_rows(n_nodes, n_inputs), K), elements=st.integers(-2, 2).map(float)))
    if draw(st.booleans()):  # exact ties between edges: some edges copy an earlier edge of their node
        start, n = 0, n_inputs
        while start < len(a):
            for j in range(start + 1, start + n):
                if draw(st.booleans()):
                    a[j] = a[start + draw(st.integers(0, j - start - 1))]
            start, n = start + n, n + 1
    return _snap_near_ties(a, names, n_inputs), names, k, n_inputs


def _as_genotype(got, what: str) -> list:
    """The student's genotype as a list of (str, int) pairs, or CheckFailed."""
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(f"{what} should be a list of (op_name, input_state) pairs, got {type(got).__name__}: {fmt(got)}")
    out = []
    for pair in got:
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
        if ok:
            j = pair[1]
            if isinstance(j, np.ndarray) and j.ndim == 0 and j.dtype.kind in "iu":
                j = int(j)
            ok = isinstance(j, int) and not isinstance(j, bool)
        if not ok:
            raise CheckFailed(f"{what} should be a list of (op_name, input_state) pairs, found the item {fmt(pair)}")
        out.append((pair[0], j))
    return out


# --- mixed_op_weights ---------------------------------------------------------------------------
@check("mixed_op_weights", public=True, alpha=_alphas())
def rows_are_distributions(student, ref, alpha):
    """mixed_op_weights should return weights in [0, 1] whose rows (one per edge) sum to 1."""
    w = as_array(student(alpha), "mixed_op_weights(alpha)", shape=alpha.shape)
    require(bool(np.all((w >= 0) & (w <= 1))), f"all weights should lie in [0, 1], got {fmt(w)}")
    assert_close(w.sum(axis=-1), np.ones(alpha.shape[:-1]), "row sums of mixed_op_weights(alpha)", atol=1e-9)


@check("mixed_op_weights", public=True, alpha=_alphas(), c=st.floats(-50, 50))
def shift_invariant(student, ref, alpha, c):
    """mixed_op_weights should be shift-invariant: adding a constant c to a row of alpha changes nothing."""
    a = as_array(student(alpha), "mixed_op_weights(alpha)", shape=alpha.shape)
    b = as_array(student(alpha + c), "mixed_op_weights(alpha + c)", shape=alpha.shape)
    assert_close(b, a, "mixed_op_weights(alpha + c) compared with mixed_op_weights(alpha)", atol=1e-9)


@check("mixed_op_weights", public=True, alpha=_alphas(bound=1.0).map(lambda a: np.round(a) * LARGE))
def mixed_op_weights__stable_at_large_alpha(student, ref, alpha):
    """mixed_op_weights should stay finite for alpha as large as +-1e4, equal to its value with each row's maximum shifted to 0 (subtract the row maximum before exp)."""
    w = as_array(student(alpha), "mixed_op_weights(alpha)", shape=alpha.shape)
    assert_stable(w, student(row_max_zero(alpha)), "mixed_op_weights(alpha)", "exp overflowed")


@check("mixed_op_weights", public=True, K=st.integers(1, 5), value=st.floats(-20, 20))
def uniform_at_equal_alpha(student, ref, K, value):
    """Equal alphas (DARTS's start, alpha = 0) should give every op the weight 1/K."""
    alpha = np.full((2, K), value)
    assert_close(student(alpha), np.full((2, K), 1 / K), f"mixed_op_weights of equal alphas with K = {K}")


# --- mixed_op -----------------------------------------------------------------------------------
@check("mixed_op", public=True, oa=_op_outputs(), i=st.integers(0, 3))
def one_hot_alpha_selects_op(student, ref, oa, i):
    """When one alpha is much larger than the others (softmax weight 1), mixed_op should return that op's output."""
    o, _ = oa
    i = i % o.shape[0]
    a = np.zeros(o.shape[0])
    a[i] = 1e3
    assert_close(student(o, a), o[i], f"mixed_op(op_outputs, alpha) with alpha[{i}] = 1000, the rest 0", atol=1e-9)


@check("mixed_op", public=True, oa=_op_outputs(), c=st.floats(-5, 5))
def equal_alpha_averages(student, ref, oa, c):
    """With equal alphas (every op weighted 1/K), mixed_op should be the mean of the op outputs."""
    o, _ = oa
    a = np.full(o.shape[0], c)
    assert_close(student(o, a), o.mean(axis=0), "mixed_op(op_outputs, alpha) with equal alphas", atol=1e-9)


@check("mixed_op", public=True, oa=_op_outputs())
def matches_own_weights(student, ref, oa):
    """mixed_op should weight op i by the softmax of alpha (not alpha itself, nor a normalised alpha)."""
    o, a = oa
    expected = np.tensordot(_softmax(a), o, axes=(0, 0))
    assert_close(student(o, a), expected, "mixed_op(op_outputs, alpha)")


@check("mixed_op", public=True, oa=_op_outputs().map(lambda t: (t[0], np.round(t[1] / 10) * LARGE)))
def mixed_op__stable_at_large_alpha(student, ref, oa):
    """mixed_op should stay finite for alpha as large as +-1e4, equal to its value with alpha's maximum shifted to 0 (a stable softmax)."""
    o, a = oa
    got = as_array(student(o, a), "mixed_op(op_outputs, alpha)", shape=o.shape[1:])
    assert_stable(got, student(o, row_max_zero(a)), "mixed_op(op_outputs, alpha)", "exp overflowed")


@check("mixed_op", public=True, K=st.integers(1, 4))
def rejects_mismatched_alpha(student, ref, K):
    """mixed_op should raise ValueError when alpha does not have one entry per op (len(alpha) != op_outputs.shape[0])."""
    o, a = np.ones((K, 3)), np.zeros(K)
    raises_value_error(student, f"mixed_op(op_outputs of {o.shape[0]} ops, alpha of length {o.shape[0] + 1})",
                        o, np.append(a, 0.0))


# --- derive_genotype ----------------------------------------------------------------------------
@check("derive_genotype", public=True, inp=_genotype_inputs())
def keeps_k_distinct_real_edges_per_node(student, ref, inp):
    """derive_genotype should return, node by node, min(k, in-degree) pairs with distinct valid input states and no 'none' op."""
    a, names, k, n_inputs = inp
    g = _as_genotype(student(a, names, k=k, n_inputs=n_inputs), "derive_genotype(alpha, op_names, k, n_inputs)")
    counts = []
    start, n = 0, n_inputs
    while start < len(a):
        counts.append(min(k, n))
        start, n = start + n, n + 1
    require(len(g) == sum(counts), f"with k={k}, n_inputs={n_inputs} and {len(counts)} nodes the genotype should have "
                                   f"{sum(counts)} pairs {counts}, got {len(g)}: {g}")
    pos = 0
    for j, m in enumerate(counts):
        node = g[pos : pos + m]
        states = [i for _, i in node]
        require(len(set(states)) == m and all(0 <= i < n_inputs + j for i in states),
                f"node {j} should keep {m} distinct input states from 0..{n_inputs + j - 1}, got {node}")
        require(all(op in names and op != "none" for op, _ in node),
                f"node {j} should use ops from {names} other than 'none', got {node}")
        pos += m


@check("derive_genotype", public=True, inp=_genotype_inputs(),
       shifts=st.lists(st.integers(-3, 3), min_size=6, max_size=6))
def invariant_to_shifting_an_edge_row(student, ref, inp, shifts):
    """derive_genotype should rank edges by softmax weights, so adding a constant to one edge's row of alpha changes nothing."""
    a, names, k, n_inputs = inp
    rows = [tuple(r) for r in a]
    shift = np.array([5.0 * shifts[rows.index(r) % len(shifts)] for r in rows])  # equal rows get equal shifts
    shifted = a + shift[:, None]
    g1 = _as_genotype(student(a, names, k=k, n_inputs=n_inputs), "derive_genotype(alpha, ...)")
    g2 = _as_genotype(student(shifted, names, k=k, n_inputs=n_inputs), "derive_genotype(alpha + row shifts, ...)")
    require(g1 == g2, f"adding {fmt(shift)} to the rows of alpha changed the genotype (op_names={names}, k={k}, "
                      f"n_inputs={n_inputs})\n  alpha:   {fmt(a)}\n  before:  {g1}\n  after:   {g2}")


@check("derive_genotype", public=True, K=st.integers(2, 4), none_at=st.integers(0, 3), n_inputs=st.integers(1, 3))
def ties_go_to_lower_index(student, ref, K, none_at, n_inputs):
    """With all alphas equal every edge and op ties: each node should keep its lowest input states, with the first op listed that is not 'none'."""
    names = list(OP_POOL[: K - 1])
    names.insert(none_at % K, "none")
    first = next(n for n in names if n != "none")
    a = np.zeros((_n_rows(2, n_inputs), K))
    k = 2
    exp = [(first, i) for i in range(min(k, n_inputs))] + [(first, i) for i in range(min(k, n_inputs + 1))]
    got = _as_genotype(student(a, names, k=k, n_inputs=n_inputs), "derive_genotype(zeros, ...)")
    require(got == exp, f"derive_genotype(np.zeros({a.shape}), op_names={names}, k=2, n_inputs={n_inputs})\n"
                        f"  expected: {exp}\n  got:      {got}")


@st.composite
def _tied_edges(draw):
    """(v (n,) small integers, k): one node of n edges (n_inputs = n), n sometimes up to 12, with many exact ties."""
    n = draw(S.sizes(2, 6, large=12))
    return draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), draw(st.integers(1, 3))


@check("derive_genotype", public=True, vk=_tied_edges())
def equally_strong_edges_keep_the_lower_state(student, ref, vk):
    """Equally strong edges should be kept in the order of their input states (a stable sort: np.argsort's default kind is not stable and reorders ties once a node has 4 or more edges)."""
    v, k = vk
    n = len(v)
    a = np.array([[float(x), 0.0] for x in v])  # edge i: skip's weight sigmoid(v_i) >= 1/2 is its strength
    names = ["skip", "conv3"]
    exp = [("skip", i) for i in sorted(range(n), key=lambda i: -v[i])[:k]]  # Python's sort is stable
    got = _as_genotype(student(a, names, k=k, n_inputs=n), f"derive_genotype(alpha, {names}, k={k}, n_inputs={n})")
    require(got == exp, f"derive_genotype({fmt(a)}, {names}, k={k}, n_inputs={n}): one node whose edge strengths "
                        f"rank like {v}\n  expected: {exp}\n  got:      {got}")


@check("derive_genotype", public=True, big=st.floats(2.0, 6.0), n_inputs=st.integers(2, 3))
def none_dominance_is_ignored(student, ref, big, n_inputs):
    """An edge whose 'none' weight is large should still be ranked by its strongest real op: 'none' never decides."""
    names = ["none", "skip", "conv3"]
    a = np.zeros((n_inputs, 3))
    a[0] = [big, 0.0, 1.0]  # huge 'none', so conv3's softmax weight on edge 0 is small
    a[1] = [0.0, 0.5, 0.0]  # no 'none' preference: skip wins on edge 1 with a larger weight than conv3 on edge 0
    got = _as_genotype(student(a, names, k=1, n_inputs=n_inputs), "derive_genotype(alpha, ['none', 'skip', 'conv3'], k=1)")
    require(got == [("skip", 1)], f"derive_genotype({fmt(a)}, {names}, k=1, n_inputs={n_inputs})\n"
                                  f"  expected: [('skip', 1)] (edge 1's skip weight beats edge 0's conv3 weight)\n  got:      {got}")


@check("derive_genotype", public=True, n_inputs=st.integers(1, 3), big=st.floats(1.0, 5.0))
def nodes_only_see_their_own_edges(student, ref, n_inputs, big):
    """Each node should rank only its own incoming edges: a strong edge of the next node must not be picked by this one."""
    names = ["none", "skip", "conv3"]
    a = np.zeros((_n_rows(2, n_inputs), 3))
    a[n_inputs] = [0.0, 0.0, big]  # node 1's edge from state 0: the strongest edge of the whole cell
    exp = [("skip", 0), ("conv3", 0)]
    got = _as_genotype(student(a, names, k=1, n_inputs=n_inputs), "derive_genotype(alpha, op_names, k=1, n_inputs)")
    require(got == exp, f"derive_genotype({fmt(a)}, {names}, k=1, n_inputs={n_inputs})\n"
                        f"  expected: {exp}\n  got:      {got}")


@check("derive_genotype", public=True, inp=_genotype_inputs(n_inputs=2))
def default_is_darts_two_inputs_two_edges(student, ref, inp):
    """derive_genotype's defaults should be the DARTS cell: k = 2 edges per node and n_inputs = 2 cell inputs."""
    a, names, _, _ = inp
    got = _as_genotype(student(a, names), "derive_genotype(alpha, op_names)")
    exp = _as_genotype(student(a, names, k=2, n_inputs=2), "derive_genotype(alpha, op_names, k=2, n_inputs=2)")
    require(got == exp, f"derive_genotype(alpha, op_names) with the defaults should equal k=2, n_inputs=2\n"
                        f"  expected: {exp}\n  got:      {got}")


@check("derive_genotype", public=True, K=st.integers(2, 4))
def derive_genotype__rejects_bad_arguments(student, ref, K):
    """derive_genotype should raise ValueError for k < 1, for op_names of the wrong length, and for alpha that is not a whole number of nodes."""
    names = ["none"] + list(OP_POOL[: K - 1])
    a = np.zeros((2, K))
    raises_value_error(student, "derive_genotype(alpha, op_names, k=0)", a, names, k=0)
    raises_value_error(student, f"derive_genotype(alpha with {K} columns, {K + 1} op_names)", a, names + ["extra"])
    raises_value_error(student, "derive_genotype(alpha of 3 rows, n_inputs=2) (node 0 has 2 edges, node 1 needs 3)",
                        np.zeros((3, K)), names, n_inputs=2)


# --- expected_latency ---------------------------------------------------------------------------
@check("expected_latency", public=True, al=_alpha_latency())
def uniform_alpha_gives_mean_latency(student, ref, al):
    """With alpha = 0 every op is equally likely, so the expected latency is the sum over layers of the mean op latency (fixed defaults to 0)."""
    a, lat = al
    assert_close(student(np.zeros_like(a), lat), float(lat.mean(axis=-1).sum()),
                 "expected_latency(zeros, op_latency)")


@check("expected_latency", public=True, al=_alpha_latency(), fixed=st.floats(0, 50))
def between_fastest_and_slowest(student, ref, al, fixed):
    """The expected latency should lie between the all-fastest and the all-slowest network (an average of the op latencies, plus fixed)."""
    a, lat = al
    e = as_float(student(a, lat, fixed), "expected_latency(alpha, op_latency, fixed)")
    lo = float(lat.min(axis=-1).sum()) + fixed
    hi = float(lat.max(axis=-1).sum()) + fixed
    require(lo - 1e-9 * (1 + hi) <= e <= hi + 1e-9 * (1 + hi),
            f"expected_latency = {e!r} is outside [all fastest ops + fixed, all slowest ops + fixed] = [{lo!r}, {hi!r}]")


@check("expected_latency", public=True, al=_alpha_latency(), fixed=st.floats(0, 50))
def fixed_adds_once(student, ref, al, fixed):
    """The fixed layers' latency should be added once, not per layer: E(fixed) - E(0) = fixed."""
    a, lat = al
    e0 = as_float(student(a, lat, 0.0), "expected_latency(alpha, op_latency, 0.0)")
    e1 = as_float(student(a, lat, fixed), f"expected_latency(alpha, op_latency, {fixed!r})")
    assert_close(e1 - e0, fixed, "expected_latency(..., fixed) - expected_latency(..., 0)", atol=1e-9 * (1 + abs(e0)))


@check("expected_latency", public=True, al=_alpha_latency().map(lambda t: (np.round(t[0] / 10) * LARGE, t[1])))
def expected_latency__stable_at_large_alpha(student, ref, al):
    """expected_latency should stay finite for alpha as large as +-1e4, equal to its value with each row's maximum shifted to 0 (a stable softmax)."""
    a, lat = al
    e = as_float(student(a, lat), "expected_latency(alpha, op_latency)")
    assert_stable(e, student(row_max_zero(a), lat), "expected_latency(alpha, op_latency)", "exp overflowed")


@check("expected_latency", public=True, one_d=st.booleans(), K=st.integers(1, 3))
def rejects_bad_latencies(student, ref, one_d, K):
    """expected_latency should raise ValueError for a negative latency or op_latency of another shape than alpha."""
    shape = (K,) if one_d else (2, K)
    a, lat = np.zeros(shape), np.full(shape, 5.0)
    neg = lat.copy()
    neg.flat[0] = -1.0
    raises_value_error(student, "expected_latency(alpha, op_latency with a -1)", a, neg)
    raises_value_error(student, "expected_latency(alpha, op_latency with one op more)", a,
                        np.concatenate([lat, lat[..., :1]], axis=-1))


# --- expected_latency_grad ----------------------------------------------------------------------
@check("expected_latency_grad", public=True, al=_alpha_latency())
def matches_finite_differences(student, ref, al):
    """expected_latency_grad should match central finite differences of sum_i softmax(alpha)_i lat_i (step 1e-5)."""
    a, lat = al
    g = as_array(student(a, lat), "expected_latency_grad(alpha, op_latency)", shape=a.shape)
    h = 1e-5
    fd = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        up, dn = a.copy(), a.copy()
        up[idx] += h
        dn[idx] -= h
        fd[idx] = ((_softmax(up) * lat).sum() - (_softmax(dn) * lat).sum()) / (2 * h)
    assert_close(g, fd, "expected_latency_grad compared with finite differences", rtol=1e-5, atol=1e-6)


@check("expected_latency_grad", public=True, al=_alpha_latency())
def rows_sum_to_zero(student, ref, al):
    """Each layer's gradient should sum to 0: adding a constant to a row of alpha does not change the expected latency."""
    a, lat = al
    g = as_array(student(a, lat), "expected_latency_grad(alpha, op_latency)", shape=a.shape)
    assert_close(g.sum(axis=-1), np.zeros(a.shape[:-1]), "row sums of expected_latency_grad", atol=1e-9 * (1 + lat.max()))


@check("expected_latency_grad", public=True, K=st.integers(2, 5), one_d=st.booleans())
def uniform_alpha_closed_form(student, ref, K, one_d):
    """At alpha = 0 the gradient should be (lat_j - mean latency) / K: slower-than-average ops get a positive gradient."""
    lat = np.arange(1.0, K + 1) * 10.0
    shape = (K,) if one_d else (2, K)
    lat = np.broadcast_to(lat, shape).copy()
    exp = (lat - lat.mean(axis=-1, keepdims=True)) / K
    assert_close(student(np.zeros(shape), lat), exp, f"expected_latency_grad(np.zeros({shape}), op_latency)")


@check("expected_latency_grad", public=True, one_d=st.booleans(), K=st.integers(1, 3))
def expected_latency_grad__rejects_mismatched_shapes(student, ref, one_d, K):
    """expected_latency_grad should raise ValueError when op_latency's shape differs from alpha's."""
    shape = (K,) if one_d else (2, K)
    a, lat = np.zeros(shape), np.full(shape, 5.0)
    raises_value_error(student, "expected_latency_grad(alpha, op_latency with one op more)", a,
                        np.concatenate([lat, lat[..., :1]], axis=-1))


# --- latency_loss_additive ----------------------------------------------------------------------
CE = st.floats(0.0, 5.0, allow_subnormal=False)
REF = st.floats(1.5, 200.0)
LAM = st.one_of(st.sampled_from([0.0, 0.1, 1.0]), st.floats(0.0, 3.0, allow_subnormal=False))


@check("latency_loss_additive", public=True, ce=CE, al=_alpha_latency(low=1.0), lam=LAM)
def latency_loss_additive__equals_ce_at_reference_latency(student, ref, ce, al, lam):
    """When the expected latency equals the reference latency the penalty vanishes: the loss is CE."""
    a, lat = al
    e = float((_softmax(a) * lat).sum())
    assert_close(student(ce, a, lat, e, lam), ce, "latency_loss_additive(ce, ..., ref_latency = E[lat], lam)")


@check("latency_loss_additive", public=True, ce=CE, al=_alpha_latency(), ref_latency=REF)
def lam_zero_is_ce(student, ref, ce, al, ref_latency):
    """With lam = 0, latency_loss_additive should be just the cross-entropy."""
    a, lat = al
    assert_close(student(ce, a, lat, ref_latency, 0.0), ce, "latency_loss_additive(..., lam=0)")


@check("latency_loss_additive", public=True, ce=CE, al=_alpha_latency(), ref_latency=REF, lam=LAM)
def penalty_is_relative_excess(student, ref, ce, al, ref_latency, lam):
    """The penalty should be lam times the relative excess latency (E[lat] - ref) / ref, with fixed defaulting to 0."""
    a, lat = al
    e = float((_softmax(a) * lat).sum())
    assert_close(student(ce, a, lat, ref_latency, lam), ce + lam * (e - ref_latency) / ref_latency,
                 "latency_loss_additive(ce, alpha, op_latency, ref_latency, lam)", atol=1e-9)


@check("latency_loss_additive", public=True, ce=st.sampled_from([0.0, 1.0]), K=st.integers(1, 3))
def rejects_bad_reference_or_lambda(student, ref, ce, K):
    """latency_loss_additive should raise ValueError for ref_latency <= 0 or lam < 0."""
    a, lat = np.zeros(K), np.full(K, 5.0)
    raises_value_error(student, "latency_loss_additive(..., ref_latency=0.0, lam=1.0)", ce, a, lat, 0.0, 1.0)
    raises_value_error(student, "latency_loss_additive(..., ref_latency=10.0, lam=-1.0)", ce, a, lat, 10.0, -1.0)


# --- latency_loss_multiplicative ----------------------------------------------------------------
BETA = st.one_of(st.sampled_from([0.0, 0.3, 1.0]), st.floats(0.0, 2.0, allow_subnormal=False))


@check("latency_loss_multiplicative", public=True, ce=CE, al=_alpha_latency(low=2.0), beta=BETA)
def latency_loss_multiplicative__equals_ce_at_reference_latency(student, ref, ce, al, beta):
    """When the expected latency equals the reference latency the factor is 1: the loss is CE."""
    a, lat = al
    e = float((_softmax(a) * lat).sum())
    assert_close(student(ce, a, lat, e, beta), ce, "latency_loss_multiplicative(ce, ..., ref_latency = E[lat], beta)")


@check("latency_loss_multiplicative", public=True, ce=CE, al=_alpha_latency(low=2.0), ref_latency=REF)
def beta_zero_is_ce(student, ref, ce, al, ref_latency):
    """With beta = 0, latency_loss_multiplicative should be just the cross-entropy."""
    a, lat = al
    assert_close(student(ce, a, lat, ref_latency, 0.0), ce, "latency_loss_multiplicative(..., beta=0)")


@check("latency_loss_multiplicative", public=True, ce=st.floats(0.1, 5.0), al=_alpha_latency(low=2.0),
       ref_latency=REF, beta=st.floats(0.1, 2.0))
def factor_is_log_ratio_power(student, ref, ce, al, ref_latency, beta):
    """The factor should be (log E[lat] / log ref)^beta with natural logs of the latencies themselves, fixed defaulting to 0."""
    a, lat = al
    e = float((_softmax(a) * lat).sum())
    assert_close(student(ce, a, lat, ref_latency, beta), ce * (math.log(e) / math.log(ref_latency)) ** beta,
                 "latency_loss_multiplicative(ce, alpha, op_latency, ref_latency, beta)")


@check("latency_loss_multiplicative", public=True, ce=st.sampled_from([0.0, 1.0]), K=st.integers(1, 3))
def latency_loss_multiplicative__rejects_bad_arguments(student, ref, ce, K):
    """latency_loss_multiplicative should raise ValueError for ref_latency <= 1, beta < 0, or an expected latency <= 1 (log not positive)."""
    a, lat = np.zeros(K), np.full(K, 5.0)
    raises_value_error(student, "latency_loss_multiplicative(..., ref_latency=1.0, beta=1.0)", ce, a, lat, 1.0, 1.0)
    raises_value_error(student, "latency_loss_multiplicative(..., ref_latency=10.0, beta=-0.5)", ce, a, lat, 10.0, -0.5)
    raises_value_error(student, "latency_loss_multiplicative(ce, np.zeros(2), np.array([0.5, 0.5]), 10.0, 1.0) (E[lat] < 1)",
                        ce, np.zeros(2), np.array([0.5, 0.5]), 10.0, 1.0)


# --- pareto_front -------------------------------------------------------------------------------
@st.composite
def _points(draw):
    """(latency (N,), accuracy (N,)) on a small grid, so that equal latencies, equal accuracies and duplicates are
    common; N sometimes up to 40."""
    n = draw(S.sizes(1, 6))
    lat = draw(hnp.arrays(np.float64, n, elements=st.integers(0, 4).map(float)))
    acc = draw(hnp.arrays(np.float64, n, elements=st.integers(0, 4).map(lambda v: v / 4)))
    return lat, acc


def _front_loop(lat, acc) -> np.ndarray:
    n = len(lat)
    return np.array([not any(lat[m] <= lat[i] and acc[m] >= acc[i] and (lat[m] < lat[i] or acc[m] > acc[i])
                             for m in range(n)) for i in range(n)])


def _as_mask(got, n: int, what: str) -> np.ndarray:
    if not (isinstance(got, np.ndarray) and got.dtype == bool and got.shape == (n,)):
        raise CheckFailed(f"{what} should be a boolean NumPy array of shape ({n},), got {fmt(got)}"
                          + (f" of dtype {got.dtype}" if isinstance(got, np.ndarray) else ""))
    return got


def _front_is(student, lat, acc, expected) -> None:
    got = _as_mask(student(lat, acc), len(lat), "pareto_front(latency, accuracy)")
    require(np.array_equal(got, expected),
            f"pareto_front({fmt(lat)}, {fmt(acc)})\n  expected: {fmt(expected)}\n  got:      {fmt(got)}")


@check("pareto_front", public=True, pts=_points())
def no_member_dominated_and_every_other_is(student, ref, pts):
    """No point on the front should be dominated, and every point off it should be dominated by some point."""
    _front_is(student, *pts, _front_loop(*pts))


@check("pareto_front", public=True, pts=_points())
def duplicates_stay_together(student, ref, pts):
    """Two architectures with identical latency and accuracy do not dominate each other: both are on the front or neither is."""
    lat, acc = pts
    lat2, acc2 = np.append(lat, lat[0]), np.append(acc, acc[0])
    got = _as_mask(student(lat2, acc2), len(lat2), "pareto_front(latency, accuracy) with point 0 repeated at the end")
    require(bool(got[0] == got[-1]), f"pareto_front({fmt(lat2)}, {fmt(acc2)}) = {fmt(got)}: points 0 and {len(lat)} are identical")
    best = int(np.lexsort((lat2, -acc2))[0])  # most accurate, then fastest: never dominated
    require(bool(got[best]), f"pareto_front({fmt(lat2)}, {fmt(acc2)}) = {fmt(got)}: point {best} (the most accurate, "
                             "fastest among those) must be on the front")


@check("pareto_front", public=True, n=st.integers(1, 5))
def strict_tradeoff_is_all_front(student, ref, n):
    """When every gain in accuracy costs latency (both increasing), every architecture is on the front."""
    lat = np.arange(1.0, n + 1)
    acc = np.linspace(0.5, 0.9, n)
    got = _as_mask(student(lat, acc), n, "pareto_front(latency, accuracy)")
    require(bool(got.all()), f"pareto_front({fmt(lat)}, {fmt(acc)}) = {fmt(got)}: all should be True")
    got = _as_mask(student(lat, acc[::-1].copy()), n, "pareto_front(latency, accuracy)")
    require(got.tolist() == [True] + [False] * (n - 1),
            f"pareto_front({fmt(lat)}, {fmt(acc[::-1])}) = {fmt(got)}: only the fastest, most accurate point is on the front")


@check("pareto_front", public=True, n=st.integers(1, 4))
def pareto_front__rejects_mismatched_shapes(student, ref, n):
    """pareto_front should raise ValueError when latency and accuracy differ in length."""
    raises_value_error(student, f"pareto_front(latency of {n}, accuracy of {n + 1})", np.zeros(n), np.zeros(n + 1))


# --- documented errors (each ValueError in a docstring's Raises: section has a rejects_* check) ------------------
@check("mixed_op_weights", public=True, alpha=st.sampled_from([np.array(1.0), np.zeros(0), np.zeros((2, 0))]))
def mixed_op_weights__rejects_no_op_axis(student, ref, alpha):
    """mixed_op_weights should raise ValueError if alpha has no op axis (a scalar, or K = 0)."""
    require_value_error(student, alpha)
