"""Tests of the NumPy NAS II reference (Lab 9) against oracles from elsewhere.

Oracles: torch autograd (the in-place KD gradient, the REINFORCE + entropy gradient, through
``torch.distributions.Categorical``), ``torch.nn.functional.kl_div``, ``torch.nn.Linear``'s parameter
count, the network function computed before and after sorting, ``numpy.linalg.lstsq`` on the
ridge problem written as an augmented least-squares system, a pairwise loop with Kendall's tau-b counts, and plain
Python loops. No expected value was produced by the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.ofa import (crossover_mutate, elastic_linear, inplace_kd_loss, kendall_tau, ps_sample,
                                reinforce_grad, ridge_fit, sort_channels, subnet_cost, tournament_select)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)
FLOATS = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32).map(float)


def mats(rows=st.integers(1, 8), cols=st.integers(1, 8)):
    return st.tuples(rows, cols).flatmap(lambda s: hnp.arrays(np.float64, s, elements=FLOATS))


# --- sort_channels / elastic_linear -------------------------------------------------------------------
@SETTINGS
@given(W1=mats(), data=st.data())
def test_sort_channels_keeps_the_function(W1, data):
    H, D = W1.shape
    b1 = data.draw(hnp.arrays(np.float64, H, elements=FLOATS))
    W2 = data.draw(hnp.arrays(np.float64, (3, H), elements=FLOATS))
    x = data.draw(hnp.arrays(np.float64, (4, D), elements=FLOATS))
    before = [W1.copy(), b1.copy(), W2.copy()]
    S1, c1, S2 = sort_channels(W1, b1, W2)
    f = lambda A, a, B: torch.relu(torch.tensor(x) @ torch.tensor(A).T + torch.tensor(a)) @ torch.tensor(B).T
    torch.testing.assert_close(f(S1, c1, S2), f(W1, b1, W2), rtol=1e-9, atol=1e-9)
    norms = [sum(abs(v) for v in row) for row in S1.tolist()]
    assert all(norms[i] >= norms[i + 1] for i in range(H - 1))
    for orig, now in zip(before, (W1, b1, W2)):
        np.testing.assert_array_equal(orig, now)  # inputs untouched


def test_sort_channels_ties_keep_order():
    W1 = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.5, -0.5]])
    b1 = np.array([10.0, 20.0, 30.0, 40.0])
    W2 = np.eye(4)
    S1, c1, S2 = sort_channels(W1, b1, W2)
    # norms 1, 2, 1, 1: channel 1 first, then 0, 2, 3 in their original order
    np.testing.assert_array_equal(c1, [20.0, 10.0, 30.0, 40.0])
    np.testing.assert_array_equal(S2, np.eye(4)[:, [1, 0, 2, 3]])


def test_elastic_linear_is_a_copy_of_the_corner():
    W = np.arange(12.0).reshape(3, 4)
    b = np.array([1.0, 2.0, 3.0])
    Ws, bs = elastic_linear(W, b, 2, 3)
    np.testing.assert_array_equal(Ws, [[0, 1, 2], [4, 5, 6]])
    np.testing.assert_array_equal(bs, [1, 2])
    Ws[0, 0] = 99.0
    assert W[0, 0] == 0.0  # the supernet's weight is not shared by reference
    for bad in [(0, 1), (4, 1), (1, 5), (1.0, 1), (True, 1)]:
        with pytest.raises(ValueError):
            elastic_linear(W, b, *bad)


def test_elastic_linear_agrees_with_torch_linear_on_the_truncated_input():
    torch.manual_seed(0)
    big = torch.nn.Linear(6, 5).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    x[:, 4:] = 0.0  # a narrower previous layer: its missing channels are zeros for the big layer
    Ws, bs = elastic_linear(big.weight.detach().numpy(), big.bias.detach().numpy(), 2, 4)
    torch.testing.assert_close(torch.tensor(x[:, :4].numpy() @ Ws.T + bs), big(x)[:, :2].detach())


# --- subnet_cost ----------------------------------------------------------------------------------------
@SETTINGS
@given(widths=st.lists(st.integers(1, 20), min_size=1, max_size=6), data=st.data(),
       d_in=st.integers(1, 64), d_out=st.integers(1, 10))
def test_subnet_cost_matches_torch_modules(widths, data, d_in, d_out):
    depth = data.draw(st.integers(0, len(widths)))
    sizes = [d_in] + widths[:depth] + [d_out]
    layers = [torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    params = sum(p.numel() for layer in layers for p in layer.parameters())
    macs = sum(layer.weight.numel() for layer in layers)  # one MAC per weight for one input
    assert subnet_cost(np.array(widths), depth, d_in, d_out) == (macs, params)


def test_subnet_cost_rejects():
    for args in [(np.array([2, 0]), 1, 4, 3), (np.array([2.0]), 1, 4, 3), (np.array([2]), 2, 4, 3),
                 (np.array([2]), -1, 4, 3), (np.array([2]), 1, 0, 3)]:
        with pytest.raises(ValueError):
            subnet_cost(*args)


# --- ps_sample ---------------------------------------------------------------------------------------
def test_ps_sample_stages_by_hand():
    u = np.array([0.0, 0.99, 0.4, 0.1])
    widths, depth = ps_sample(u, 0, [8, 32, 16], [1, 3, 2])
    assert depth == 3 and widths.tolist() == [32, 32, 32]
    widths, depth = ps_sample(u, 1, [8, 32, 16], [1, 3, 2])
    assert depth == 1 and widths.tolist() == [32, 32, 32]
    widths, depth = ps_sample(u, 2, [8, 32, 16], [1, 3, 2])
    assert depth == 1 and widths.tolist() == [32, 16, 8]  # floor(0.99*3)=2, floor(0.4*3)=1, floor(0.1*3)=0


def test_ps_sample_is_uniform_over_choices():
    # a fine grid of u covers each choice equally often
    grid = (np.arange(600) + 0.5) / 600
    counts = {}
    for g in grid:
        widths, depth = ps_sample(np.array([g, 1 - g]), 2, [4, 8, 12], [1])
        counts[int(widths[0])] = counts.get(int(widths[0]), 0) + 1
    assert counts == {4: 200, 8: 200, 12: 200}
    with pytest.raises(ValueError):
        ps_sample(np.array([0.5, 1.0]), 2, [4], [1])
    with pytest.raises(ValueError):
        ps_sample(np.array([0.5, 0.5]), 3, [4], [1])


# --- inplace_kd_loss ----------------------------------------------------------------------------------
@SETTINGS
@given(s=mats(cols=st.integers(2, 8)), data=st.data(), T=st.floats(0.5, 8))
def test_inplace_kd_loss_matches_torch(s, data, T):
    t = data.draw(hnp.arrays(np.float64, s.shape, elements=FLOATS))
    loss, grad = inplace_kd_loss(s, t, T)
    st_ = torch.tensor(s, requires_grad=True)
    log_q = torch.log_softmax(st_ / T, dim=1)
    p = torch.softmax(torch.tensor(t) / T, dim=1)
    ref = torch.nn.functional.kl_div(log_q, p, reduction="batchmean") * T * T
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(grad, st_.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_inplace_kd_loss_extremes():
    s = np.array([[1e4, -1e4, 0.0]])
    loss, grad = inplace_kd_loss(s, s.copy(), 1.0)
    assert loss == 0.0 and np.all(np.isfinite(grad))
    with pytest.raises(ValueError):
        inplace_kd_loss(s, s, 0.0)
    with pytest.raises(ValueError):
        inplace_kd_loss(s, s[:, :2], 1.0)


# --- reinforce_grad --------------------------------------------------------------------------------------
@SETTINGS
@given(z=mats(cols=st.integers(2, 6)), data=st.data(), R=FLOATS, b=FLOATS, beta=st.floats(0, 2))
def test_reinforce_grad_matches_autograd(z, data, R, b, beta):
    L, K = z.shape
    a = np.array(data.draw(st.lists(st.integers(0, K - 1), min_size=L, max_size=L)), dtype=np.int64)
    zt = torch.tensor(z, requires_grad=True)
    dist = torch.distributions.Categorical(logits=zt)
    J = (R - b) * dist.log_prob(torch.tensor(a)).sum() + beta * dist.entropy().sum()
    J.backward()
    np.testing.assert_allclose(reinforce_grad(z, a, R, b, beta), zt.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_reinforce_expected_gradient_is_unbiased_by_the_baseline():
    # E_a[(R(a) - b) grad log pi(a)] over the exact distribution does not depend on b
    z = np.array([[0.3, -1.0, 0.5]])
    pi = np.exp(z[0]) / np.exp(z[0]).sum()
    R = [1.0, 0.2, 0.7]
    for b in (0.0, 0.5, 3.0):
        g = sum(pi[k] * reinforce_grad(z, np.array([k]), R[k], b) for k in range(3))
        g0 = sum(pi[k] * reinforce_grad(z, np.array([k]), R[k], 0.0) for k in range(3))
        np.testing.assert_allclose(g, g0, atol=1e-12)


# --- tournament_select ---------------------------------------------------------------------------------
def _deb_winner(row, f, c, budget):
    def key(j):  # feasible first, then fitness, infeasible by low cost; earlier position wins ties
        return (0, -f[j]) if c[j] <= budget else (1, c[j])
    return min(row, key=lambda j: (key(j), list(row).index(j)))


@SETTINGS
@given(f=hnp.arrays(np.float64, st.integers(1, 8), elements=st.integers(0, 3).map(float)), data=st.data())
def test_tournament_select_brute_force(f, data):
    N = f.size
    c = data.draw(hnp.arrays(np.float64, N, elements=st.integers(0, 5).map(float)))
    budget = data.draw(st.integers(-1, 6)).__float__()
    draws = data.draw(hnp.arrays(np.int64, (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))),
                                 elements=st.integers(0, N - 1)))
    got = tournament_select(f, c, budget, draws)
    assert got.tolist() == [_deb_winner(row.tolist(), f, c, budget) for row in draws]


# --- crossover_mutate ------------------------------------------------------------------------------------
def test_crossover_mutate_by_hand():
    n = np.array([3, 4, 2, 5])
    a, b = np.array([0, 1, 1, 4]), np.array([2, 3, 0, 0])
    u_c = np.array([0.1, 0.6, 0.5, 0.49])
    u_m = np.array([0.9, 0.05, 0.9, 0.2])
    r_m = np.array([0.0, 0.3, 0.9, 0.99])
    # crossover: a, b, b, a -> [0, 3, 0, 4]; mutation where u_m < 0.25: genes 1 (floor(1.2)=1), 3 (floor(4.95)=4)
    assert crossover_mutate(a, b, n, u_c, u_m, r_m, 0.25).tolist() == [0, 1, 0, 4]
    assert crossover_mutate(a, b, n, u_c, u_m, r_m, 0.0).tolist() == [0, 3, 0, 4]
    assert crossover_mutate(a, b, n, u_c, u_m, r_m, 1.0).tolist() == [0, 1, 1, 4]
    with pytest.raises(ValueError):
        crossover_mutate(a, b, n, u_c, u_m, r_m, 1.5)
    with pytest.raises(ValueError):
        crossover_mutate(np.array([3, 0, 0, 0]), b, n, u_c, u_m, r_m, 0.5)


def test_mutation_rate_over_a_grid():
    # with u_mut on a uniform grid, exactly the fraction p_mut of the genes is redrawn
    G = 1000
    n = np.full(G, 7)
    a = np.zeros(G, dtype=np.int64)
    child = crossover_mutate(a, a, n, np.zeros(G), (np.arange(G) + 0.5) / G, np.full(G, 0.99), 0.3)
    assert (child == 6).sum() == 300


# --- ridge_fit --------------------------------------------------------------------------------------------
@SETTINGS
@given(X=mats(rows=st.integers(1, 10), cols=st.integers(1, 6)), data=st.data(), lam=st.floats(0.01, 10))
def test_ridge_fit_matches_augmented_lstsq(X, data, lam):
    N, F = X.shape
    y = data.draw(hnp.arrays(np.float64, N, elements=FLOATS))
    w, b = ridge_fit(X, y, lam)
    # min ||y - Xw - b||^2 + lam ||w||^2 = least squares on [X 1; sqrt(lam) I 0] [w; b] = [y; 0]
    A = np.block([[X, np.ones((N, 1))], [np.sqrt(lam) * np.eye(F), np.zeros((F, 1))]])
    sol = np.linalg.lstsq(A, np.concatenate([y, np.zeros(F)]), rcond=None)[0]
    np.testing.assert_allclose(w, sol[:F], rtol=1e-6, atol=1e-6)
    assert b == pytest.approx(sol[F], rel=1e-6, abs=1e-6)


def test_ridge_fit_rejects():
    with pytest.raises(ValueError):
        ridge_fit(np.ones((3, 2)), np.ones(3), 0.0)
    with pytest.raises(ValueError):
        ridge_fit(np.ones((3, 2)), np.ones(2), 1.0)


# --- kendall_tau ---------------------------------------------------------------------------------------
@SETTINGS
@given(a=hnp.arrays(np.float64, st.integers(2, 12), elements=st.integers(0, 4).map(float)), data=st.data())
def test_kendall_tau_matches_pair_counting(a, data):
    b = data.draw(hnp.arrays(np.float64, a.size, elements=st.integers(0, 4).map(float)))
    if len(set(a.tolist())) == 1 or len(set(b.tolist())) == 1:
        with pytest.raises(ValueError):
            kendall_tau(a, b)
        return
    C = D = ta = tb = n0 = 0
    for i, j in itertools.combinations(range(a.size), 2):
        n0 += 1
        ta += a[i] == a[j]
        tb += b[i] == b[j]
        C += (a[i] - a[j]) * (b[i] - b[j]) > 0
        D += (a[i] - a[j]) * (b[i] - b[j]) < 0
    assert kendall_tau(a, b) == pytest.approx((C - D) / math.sqrt((n0 - ta) * (n0 - tb)), abs=1e-12)


def test_kendall_tau_by_hand():
    # 4 items, one swap: C = 5, D = 1, tau = 4 / 6
    assert kendall_tau(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])) == pytest.approx(4 / 6)
    assert kendall_tau(np.array([1.0, 2, 3]), np.array([30.0, 20, 10])) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        kendall_tau(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0]))
