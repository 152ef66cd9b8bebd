"""Tests of the NumPy NAS reference (Lab 5) against oracles from elsewhere.

Oracles: ``torch.softmax`` and torch autograd (the expected-latency gradient, the losses' value),
brute force (every edge subset for the genotype, all pairs for the Pareto front, a plain-loop
mixed op), closed forms (uniform alpha gives the mean latency; one-hot limits) and the DARTS
genotype rule transcribed from the DARTS code's loop structure. No expected value here was
produced by running the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.nas import (
    derive_genotype,
    expected_latency,
    expected_latency_grad,
    latency_loss_additive,
    latency_loss_multiplicative,
    mixed_op,
    mixed_op_weights,
    pareto_front,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from oracle_strategies import ATOL, RTOL, SETTINGS, logits  # noqa: E402

values = st.floats(-20, 20, allow_nan=False, allow_infinity=False)
latencies = st.floats(0.0, 500.0, allow_nan=False, allow_infinity=False)


@st.composite
def alpha_and_latency(draw, low_latency: float = 0.0):
    shape = draw(st.sampled_from([(draw(st.integers(1, 6)),), (draw(st.integers(1, 4)), draw(st.integers(1, 6)))]))
    a = draw(hnp.arrays(np.float64, shape, elements=values))
    lat = draw(hnp.arrays(np.float64, shape, elements=st.floats(low_latency, 500.0)))
    return a, lat


def torch_expected_latency(a, lat, fixed=0.0):
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    e = (torch.softmax(at, dim=-1) * torch.tensor(lat, dtype=torch.float64)).sum() + fixed
    e.backward()
    return float(e.detach()), at.grad.numpy()


# ---------------------------------------------------------------------------------------------
# mixed_op_weights, mixed_op


@SETTINGS
@given(logits())
def test_mixed_op_weights_is_torch_softmax(a):
    np.testing.assert_allclose(mixed_op_weights(a), torch.softmax(torch.from_numpy(a), dim=-1).numpy(),
                               rtol=RTOL, atol=ATOL)


def test_mixed_op_weights_is_stable_and_uniform_at_zero():
    np.testing.assert_allclose(mixed_op_weights(np.array([1e4, 0.0, 1e4])), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(mixed_op_weights(np.zeros((2, 4))), np.full((2, 4), 0.25))
    with pytest.raises(ValueError):
        mixed_op_weights(np.zeros((3, 0)))
    with pytest.raises(ValueError):
        mixed_op_weights(np.float64(1.0))


@SETTINGS
@given(st.integers(1, 5), hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_mixed_op_is_weighted_sum_by_loop(K, shape, data):
    outs = data.draw(hnp.arrays(np.float64, (K, *shape), elements=values))
    a = data.draw(hnp.arrays(np.float64, (K,), elements=values))
    w = torch.softmax(torch.from_numpy(a), 0).numpy()
    expected = np.zeros(shape)
    for i in range(K):  # plain loop over ops
        expected = expected + w[i] * outs[i]
    np.testing.assert_allclose(mixed_op(outs, a), expected, rtol=RTOL, atol=1e-10)


def test_mixed_op_one_hot_limit_and_errors():
    outs = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(mixed_op(outs, np.array([0.0, 1e3, 0.0])), outs[1])
    np.testing.assert_allclose(mixed_op(outs, np.zeros(3)), outs.mean(axis=0))
    with pytest.raises(ValueError):
        mixed_op(outs, np.zeros(2))
    with pytest.raises(ValueError):
        mixed_op(outs, np.zeros((3, 1)))


# ---------------------------------------------------------------------------------------------
# derive_genotype


def darts_genotype_loop(alpha, names, k, n_inputs):
    """The DARTS code's genotype() loop (model_search.py), generalised to n_inputs and k, written with
    math.exp and plain loops: sort edges by their best non-'none' weight (stable), keep k, best op each."""
    rows = []
    for r in alpha:
        m = max(r)
        e = [math.exp(x - m) for x in r]
        s = sum(e)
        rows.append([x / s for x in e])
    gene, start, n = [], 0, n_inputs
    while start < len(rows):
        W = rows[start : start + n]
        edges = sorted(range(n), key=lambda x: -max(W[x][j] for j in range(len(W[x])) if names[j] != "none"))[:k]
        for x in edges:
            best = None
            for j in range(len(W[x])):
                if names[j] != "none" and (best is None or W[x][j] > W[x][best]):
                    best = j
            gene.append((names[best], x))
        start += n
        n += 1
    return gene


@st.composite
def genotype_inputs(draw):
    n_inputs = draw(st.integers(1, 3))
    n_nodes = draw(st.integers(1, 3))
    K = draw(st.integers(2, 5))
    names = ["none", "skip", "conv3", "conv5", "pool"][:K]
    if draw(st.booleans()):
        names = names[1:] + names[:1]  # 'none' last
    E = sum(n_inputs + j for j in range(n_nodes))
    a = draw(hnp.arrays(np.float64, (E, K), elements=st.integers(-3, 3).map(float)))  # integer: ties happen
    k = draw(st.integers(1, 3))
    return a, names, k, n_inputs


@SETTINGS
@given(genotype_inputs())
def test_derive_genotype_matches_darts_loop(inp):
    a, names, k, n_inputs = inp
    assert derive_genotype(a, names, k=k, n_inputs=n_inputs) == darts_genotype_loop(a, names, k, n_inputs)


@SETTINGS
@given(genotype_inputs())
def test_derive_genotype_keeps_the_best_edge_subset_by_brute_force(inp):
    a, names, k, n_inputs = inp
    w = torch.softmax(torch.from_numpy(a), -1).numpy()
    usable = [j for j, n in enumerate(names) if n != "none"]
    g = derive_genotype(a, names, k=k, n_inputs=n_inputs)
    start, pos, n = 0, 0, n_inputs
    while start < len(a):
        strength = [w[start + i, usable].max() for i in range(n)]
        m = min(k, n)
        best = max(sum(strength[i] for i in c) for c in itertools.combinations(range(n), m))
        kept = g[pos : pos + m]
        assert len({i for _, i in kept}) == m
        assert sum(strength[i] for _, i in kept) == pytest.approx(best, rel=1e-12)
        for op, i in kept:
            assert op != "none" and w[start + i, names.index(op)] == w[start + i, usable].max()
        start, pos, n = start + n, pos + m, n + 1
    assert pos == len(g)


def test_derive_genotype_darts_example_and_ties():
    names = ["none", "skip", "conv"]
    # one node, two inputs, k = 1: 'none' dominates edge 0 but its best real op (skip, 0.2) loses to edge 1's conv
    a = np.log(np.array([[0.7, 0.2, 0.1], [0.4, 0.25, 0.35]]))
    assert derive_genotype(a, names, k=1) == [("conv", 1)]
    # equal rows: the lower input state wins, and equal ops: the op listed first
    assert derive_genotype(np.zeros((2, 3)), names, k=1) == [("skip", 0)]
    # k larger than the node's in-degree keeps every edge; node 1 has 3 inputs
    g = derive_genotype(np.zeros((5, 3)), names, k=5, n_inputs=2)
    assert g == [("skip", 0), ("skip", 1), ("skip", 0), ("skip", 1), ("skip", 2)]
    for bad in (dict(k=0), dict(n_inputs=0), dict(k=1.5)):
        with pytest.raises(ValueError):
            derive_genotype(np.zeros((2, 3)), names, **bad)
    with pytest.raises(ValueError):
        derive_genotype(np.zeros((3, 3)), names)  # 3 rows: node 0 has 2, node 1 would need 3
    with pytest.raises(ValueError):
        derive_genotype(np.zeros((2, 1)), ["none"])
    with pytest.raises(ValueError):
        derive_genotype(np.zeros((2, 3)), names[:2])


# ---------------------------------------------------------------------------------------------
# expected latency, its gradient, the losses


@SETTINGS
@given(alpha_and_latency(), st.floats(0, 100))
def test_expected_latency_and_grad_match_torch_autograd(al, fixed):
    a, lat = al
    e, grad = torch_expected_latency(a, lat, fixed)
    assert expected_latency(a, lat, fixed) == pytest.approx(e, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(expected_latency_grad(a, lat), grad, rtol=1e-9, atol=1e-9)


def test_expected_latency_closed_forms():
    lat = np.array([[1.0, 2.0, 6.0], [10.0, 0.0, 5.0]])
    assert expected_latency(np.zeros((2, 3)), lat, 4.0) == pytest.approx(3.0 + 5.0 + 4.0)  # uniform: the means
    assert expected_latency(np.array([[0.0, 0.0, 800.0], [0.0, 800.0, 0.0]]), lat) == pytest.approx(6.0)
    np.testing.assert_allclose(expected_latency_grad(np.zeros(3), np.array([1.0, 2.0, 6.0])),
                               np.array([1 - 3, 2 - 3, 6 - 3]) / 3)
    with pytest.raises(ValueError):
        expected_latency(np.zeros(3), np.array([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError):
        expected_latency(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError):
        expected_latency_grad(np.zeros((2, 3)), np.zeros(3))


@SETTINGS
@given(alpha_and_latency(low_latency=2.0), st.floats(0, 5), st.floats(2.0, 400.0), st.floats(0, 3), st.floats(0, 2))
def test_latency_losses_match_torch(al, ce, ref, lam, beta):
    a, lat = al
    e = torch.tensor(torch_expected_latency(a, lat)[0], dtype=torch.float64)
    add = ce + lam * (e - ref) / ref  # written from the ProxylessNAS code's "add#linear"
    mul = ce * (torch.log(e) / math.log(ref)) ** beta  # and "mul#log" (without its constant 0.2)
    assert latency_loss_additive(ce, a, lat, ref, lam) == pytest.approx(float(add), rel=1e-12, abs=1e-12)
    assert latency_loss_multiplicative(ce, a, lat, ref, beta) == pytest.approx(float(mul), rel=1e-10, abs=1e-12)


def test_latency_losses_reference_points_and_errors():
    lat = np.array([10.0, 30.0])
    assert latency_loss_additive(1.5, np.zeros(2), lat, 20.0, 7.0) == pytest.approx(1.5)  # E = ref
    assert latency_loss_additive(1.5, np.zeros(2), lat, 10.0, 0.5) == pytest.approx(2.0)  # 100% slower
    assert latency_loss_multiplicative(1.5, np.zeros(2), lat, 20.0, 3.0) == pytest.approx(1.5)
    assert latency_loss_multiplicative(1.5, np.zeros(2), lat, 400.0, 1.0) == pytest.approx(0.75)  # log 20 / log 400
    with pytest.raises(ValueError):
        latency_loss_additive(1.0, np.zeros(2), lat, 0.0, 1.0)
    with pytest.raises(ValueError):
        latency_loss_additive(1.0, np.zeros(2), lat, 10.0, -1.0)
    with pytest.raises(ValueError):
        latency_loss_multiplicative(1.0, np.zeros(2), lat, 1.0, 1.0)
    with pytest.raises(ValueError):
        latency_loss_multiplicative(1.0, np.zeros(2), lat, 10.0, -0.5)
    with pytest.raises(ValueError):
        latency_loss_multiplicative(1.0, np.zeros(2), np.array([0.5, 1.0]), 10.0, 1.0)  # E[lat] <= 1


# ---------------------------------------------------------------------------------------------
# pareto_front


@SETTINGS
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.integers(0, 4).map(float)),
    hnp.arrays(np.float64, n, elements=st.integers(0, 4).map(float)))))
def test_pareto_front_by_brute_force(la):
    lat, acc = la
    n = len(lat)
    expected = [not any(lat[m] <= lat[i] and acc[m] >= acc[i] and (lat[m] < lat[i] or acc[m] > acc[i])
                        for m in range(n)) for i in range(n)]
    got = pareto_front(lat, acc)
    assert got.dtype == bool and got.tolist() == expected
    # the best accuracy at the lowest latency among the best is always on the front
    best = max(range(n), key=lambda i: (acc[i], -lat[i]))
    assert got[best]


def test_pareto_front_examples_and_errors():
    lat = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    acc = np.array([0.5, 0.7, 0.6, 0.7, 0.4])
    assert pareto_front(lat, acc).tolist() == [True, True, False, True, False]
    with pytest.raises(ValueError):
        pareto_front(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError):
        pareto_front(np.zeros(0), np.zeros(0))
