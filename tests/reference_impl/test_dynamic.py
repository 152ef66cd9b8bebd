"""Tests of the NumPy dynamic-computation reference (Lab 6) against oracles from elsewhere.

Oracles: ``torch`` (``torch.special.entr``, ``F.cross_entropy``, ``F.softmax``, autograd through
a straight-through gate written the usual torch way), brute-force Python loops (exit rules, costs,
capacity-limited routing with per-expert counters), and closed forms (entropy of uniform and
one-hot rows, the load-balancing loss at uniform and collapsed routing, sigmoid'(0) = 1/4).
No expected value here was produced by running the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.dynamic import (
    branchy_loss,
    confidence_exit_decisions,
    entropy,
    exit_decisions,
    expected_cost,
    load_balancing_loss,
    skip_block_output,
    skip_gate_forward,
    ste_gate_grad,
    switch_route,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from oracle_strategies import ATOL, RTOL, SETTINGS, logit_values  # noqa: E402


@st.composite
def prob_arrays(draw, shape=None, zeros: bool = True):
    """Probabilities along the last axis of a random shape (..., C); exact zeros when ``zeros``."""
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    low = 0.0 if zeros else 1e-3
    w = draw(hnp.arrays(np.float64, shape, elements=st.floats(low, 10.0, allow_subnormal=False)))
    w = w.reshape(-1, shape[-1])
    w[w.sum(axis=-1) == 0, 0] = 1.0
    return (w / w.sum(axis=-1, keepdims=True)).reshape(shape)


@st.composite
def exit_problems(draw, full_thresholds: bool | None = None):
    """(probs (E, N, C), thresholds (E-1,) or (E,))."""
    E = draw(st.integers(1, 4))
    N = draw(st.integers(1, 6))
    C = draw(st.integers(1, 5))
    probs = draw(prob_arrays(shape=(E, N, C)))
    full = draw(st.booleans()) if full_thresholds is None else full_thresholds
    k = E if full else E - 1
    thr = draw(hnp.arrays(np.float64, (k,), elements=st.floats(0.0, 1.8)))
    return probs, thr


# --- entropy ----------------------------------------------------------------------------------
@SETTINGS
@given(p=prob_arrays())
def test_entropy_matches_torch_entr(p):
    expected = torch.special.entr(torch.from_numpy(p)).sum(dim=-1).numpy()
    np.testing.assert_allclose(entropy(p), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("C", [1, 2, 3, 10])
def test_entropy_closed_forms(C):
    assert entropy(np.full(C, 1.0 / C)) == pytest.approx(math.log(C), rel=1e-12, abs=1e-15)
    assert entropy(np.eye(C)).tolist() == [0.0] * C  # one-hot rows: exactly 0, no nan from 0 log 0


def test_entropy_shapes_and_errors():
    assert entropy(np.full((2, 3, 4), 0.25)).shape == (2, 3)
    assert entropy(np.array([0.5, 0.5])).shape == ()
    with pytest.raises(ValueError):
        entropy(np.float64(1.0))
    with pytest.raises(ValueError):
        entropy(np.zeros((2, 0)))
    with pytest.raises(ValueError):
        entropy(np.array([1.5, -0.5]))


# --- exit rules -------------------------------------------------------------------------------
def _brute_exits(probs, thr, confident):
    E, N, _ = probs.shape
    out = []
    for n in range(N):
        chosen = E - 1
        for e in range(E - 1):
            row = [float(v) for v in probs[e, n]]
            if confident:
                ok = max(row) >= thr[e]
            else:
                ok = -sum(v * math.log(v) for v in row if v > 0) < thr[e]
            if ok:
                chosen = e
                break
        out.append(chosen)
    return np.array(out)


@SETTINGS
@given(problem=exit_problems())
def test_exit_decisions_matches_brute_force(problem):
    probs, thr = problem
    got = exit_decisions(probs, thr)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _brute_exits(probs, thr, confident=False))


@SETTINGS
@given(problem=exit_problems())
def test_confidence_exit_decisions_matches_brute_force(problem):
    probs, thr = problem
    got = confidence_exit_decisions(probs, thr)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _brute_exits(probs, thr, confident=True))


def test_exit_rules_at_their_boundaries():
    onehot = np.tile(np.eye(3)[:1], (3, 2, 1))  # (E=3, N=2, C=3): certain everywhere
    # entropy 0 is not *below* a threshold of 0: every sample goes to the end
    assert exit_decisions(onehot, np.zeros(2)).tolist() == [2, 2]
    # confidence 1 reaches a threshold of 1 (">="): every sample leaves at exit 0
    assert confidence_exit_decisions(onehot, np.ones(2)).tolist() == [0, 0]
    assert confidence_exit_decisions(onehot, np.array([1.01, 1.0])).tolist() == [1, 1]
    uniform = np.full((2, 1, 4), 0.25)
    assert exit_decisions(uniform, np.array([math.log(4) + 1e-9])).tolist() == [0]
    # the last threshold of an (E,) vector is ignored
    assert exit_decisions(uniform, np.array([0.0, 0.0])).tolist() == [1]
    # one exit: everything leaves there
    assert exit_decisions(uniform[:1], np.zeros(0)).tolist() == [0]


def test_exit_rules_reject_bad_thresholds():
    probs = np.full((3, 2, 2), 0.5)
    for f in (exit_decisions, confidence_exit_decisions):
        with pytest.raises(ValueError):
            f(probs, np.zeros(1))
        with pytest.raises(ValueError):
            f(probs, np.zeros(4))
        with pytest.raises(ValueError):
            f(probs[0], np.zeros(1))


# --- expected_cost ----------------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_expected_cost_matches_loop(data):
    E = data.draw(st.integers(1, 5))
    cost = data.draw(hnp.arrays(np.float64, (E,), elements=st.floats(0, 1e6)))
    exits = data.draw(hnp.arrays(np.int64, (data.draw(st.integers(1, 8)),), elements=st.integers(0, E - 1)))
    total = math.fsum(float(cost[e]) for e in exits)
    assert expected_cost(exits, cost) == pytest.approx(total / len(exits), rel=1e-12, abs=1e-12)


def test_expected_cost_errors():
    with pytest.raises(ValueError):
        expected_cost(np.array([0, 3]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError):
        expected_cost(np.array([-1]), np.array([1.0]))
    with pytest.raises(ValueError):
        expected_cost(np.array([], dtype=np.int64), np.array([1.0]))
    with pytest.raises(ValueError):
        expected_cost(np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        expected_cost(np.array([0]), np.array([-1.0]))


# --- branchy_loss -----------------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_branchy_loss_matches_weighted_torch_cross_entropy(data):
    E, N, C = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)))
    z = data.draw(hnp.arrays(np.float64, (E, N, C), elements=logit_values))
    y = data.draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    w = data.draw(hnp.arrays(np.float64, (E,), elements=st.floats(0, 3)))
    expected = sum(float(w[e]) * F.cross_entropy(torch.from_numpy(z[e]), torch.from_numpy(y)).item() for e in range(E))
    assert branchy_loss(z, y, w) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_branchy_loss_large_logits_and_errors():
    z = np.array([[[1e4, -1e4]], [[-1e4, 1e4]]])  # exit 0 right, exit 1 wrong by 2e4
    assert branchy_loss(z, np.array([0]), np.array([1.0, 0.5])) == pytest.approx(0.5 * 2e4)
    with pytest.raises(ValueError):
        branchy_loss(z, np.array([2]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError):
        branchy_loss(z, np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError):
        branchy_loss(z, np.array([0]), np.array([1.0, -1.0]))


# --- gates ------------------------------------------------------------------------------------
@SETTINGS
@given(z=hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6),
                    elements=st.one_of(st.just(0.0), st.floats(-40, 40).filter(lambda v: abs(v) > 1e-6))))
def test_skip_gate_forward_matches_torch_sigmoid_threshold(z):
    expected = (torch.sigmoid(torch.from_numpy(z)) >= 0.5).double().numpy()
    got = skip_gate_forward(z)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


def test_skip_gate_forward_rejects_nan():
    with pytest.raises(ValueError):
        skip_gate_forward(np.array([0.0, np.nan]))


@SETTINGS
@given(data=st.data())
def test_skip_block_output_matches_torch(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    x = data.draw(hnp.arrays(np.float64, shape, elements=logit_values))
    fx = data.draw(hnp.arrays(np.float64, shape, elements=logit_values))
    m = data.draw(hnp.arrays(np.float64, shape[:1], elements=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))))
    mt = torch.from_numpy(m).view(-1, *([1] * (len(shape) - 1)))
    expected = torch.lerp(torch.from_numpy(x), torch.from_numpy(fx), mt.expand(shape)).numpy()
    np.testing.assert_allclose(skip_block_output(x, fx, m), expected, rtol=1e-12, atol=1e-12)


def test_skip_block_output_hard_gates_select_exactly():
    x = np.arange(6.0).reshape(3, 2)
    fx = -x - 1
    np.testing.assert_array_equal(skip_block_output(x, fx, np.array([1.0, 0.0, 1.0])), [fx[0], x[1], fx[2]])
    with pytest.raises(ValueError):
        skip_block_output(x, fx, np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        skip_block_output(x, fx[:2], np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        skip_block_output(x, fx, np.array([1.0, 0.0, 1.5]))


@SETTINGS
@given(data=st.data())
def test_ste_gate_grad_matches_torch_autograd(data):
    shape = data.draw(hnp.array_shapes(max_dims=2, max_side=5))
    z = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-60, 60)))
    g = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-5, 5)))
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    soft = torch.sigmoid(zt)
    hard = (zt >= 0).double()
    m = hard + soft - soft.detach()  # the straight-through trick: forward is hard, backward is soft
    m.backward(torch.from_numpy(g))
    np.testing.assert_allclose(m.detach().numpy(), hard.numpy(), atol=1e-15)  # forward: the hard gate
    # torch's backward forms s * (1 - s), which cancels for large |z|: compare absolutely there.
    np.testing.assert_allclose(ste_gate_grad(z, g), zt.grad.numpy(), rtol=1e-9, atol=1e-15)


def test_ste_gate_grad_closed_forms():
    assert ste_gate_grad(np.array([0.0]), np.array([2.0])).tolist() == [0.5]  # sigmoid'(0) = 1/4
    big = ste_gate_grad(np.array([-800.0, 800.0]), np.ones(2))
    assert np.all(np.isfinite(big)) and np.all(big >= 0) and np.all(big < 1e-300)
    with pytest.raises(ValueError):
        ste_gate_grad(np.zeros(2), np.zeros(3))


# --- routing ----------------------------------------------------------------------------------
def _brute_route(logits, cf):
    T, E = logits.shape
    cap = math.ceil(cf * T / E)
    used = [0] * E
    out = []
    for t in range(T):
        row = list(logits[t])
        i = row.index(max(row))  # the first maximum
        if used[i] < cap:
            used[i] += 1
            out.append(i)
        else:
            out.append(-1)
    return np.array(out)


CAPACITY_FACTORS = st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 4.0])


@SETTINGS
@given(data=st.data(), cf=CAPACITY_FACTORS)
def test_switch_route_matches_brute_force(data, cf):
    T, E = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 5))
    tied = data.draw(st.booleans())
    elements = st.integers(-1, 1).map(float) if tied else logit_values
    z = data.draw(hnp.arrays(np.float64, (T, E), elements=elements))
    got = switch_route(z, cf)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _brute_route(z, cf))


def test_switch_route_worked_example():
    # 6 tokens, 2 experts, factor 1: capacity 3. Tokens 0, 1, 2, 4 want expert 0 -> token 4 overflows.
    z = np.array([[1.0, 0], [2, 0], [3, 0], [0, 1], [5, 0], [0, 2]])
    assert switch_route(z, 1.0).tolist() == [0, 0, 0, 1, -1, 1]
    assert switch_route(z, 2.0).tolist() == [0, 0, 0, 1, 0, 1]  # capacity 6: nothing dropped
    assert switch_route(z, 0.1).tolist() == [0, -1, -1, 1, -1, -1]  # ceil(0.3) = 1 place each
    for cf in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            switch_route(z, cf)
    with pytest.raises(ValueError):
        switch_route(z[0], 1.0)


@SETTINGS
@given(data=st.data())
def test_load_balancing_loss_matches_torch(data):
    T, E = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 6))
    z = data.draw(hnp.arrays(np.float64, (T, E), elements=logit_values))
    zt = torch.from_numpy(z)
    f = F.one_hot(zt.argmax(dim=1), E).double().mean(dim=0)
    P = F.softmax(zt, dim=1).mean(dim=0)
    expected = E * torch.dot(f, P).item()
    assert load_balancing_loss(z) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("E", [1, 2, 4, 8])
def test_load_balancing_loss_closed_forms(E):
    # perfectly balanced and uniform: f_i = P_i = 1/E -> E * E * 1/E^2 = 1
    z = np.eye(E) * 0.0
    z_bal = np.eye(E) * 1e-9  # token t prefers expert t, probabilities essentially uniform
    assert load_balancing_loss(z_bal) == pytest.approx(1.0, rel=1e-6)
    # collapsed: every token certain of expert 0 -> E * 1 * 1 = E
    z_col = np.zeros((5, E))
    z_col[:, 0] = 1e3
    assert load_balancing_loss(z_col) == pytest.approx(float(E), rel=1e-12)
    assert load_balancing_loss(z) == pytest.approx(1.0)  # all ties -> expert 0 gets f = 1, P = 1/E
