"""Tests of the NumPy blockwise-distillation reference (Lab 10) against oracles from elsewhere.

Oracles: ``torch.nn.functional.conv2d`` (a grouped depthwise conv then a 1 x 1 conv, and the dense conv
with the kernel K[o, c] = K_pw[o, c] K_dw[c]), counting the weights of torch modules and the MACs of a
brute-force loop, ``torch.nn.functional.mse_loss`` and torch autograd, brute-force enumeration of every
schedule (the LPT bound of Graham 1969), ``np.interp`` for the interpolated time-to-target, Hinton et
al.'s high-temperature limit of the KD loss, and values worked out by hand in comments (the
dissertation's tables 4.6 / 4.12 arithmetic). No expected value was produced by the code under test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.blockwise import (block_loss, depthwise_separable_conv, kd_weight_schedule, makespan,
                                      mse_logit_loss, parallel_metrics, replacement_plan, separable_cost,
                                      time_to_target, wfd_schedule)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)
FLOATS = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32).map(float)


@st.composite
def conv_cases(draw):
    n, c, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k, p = draw(st.sampled_from([1, 3])), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, k - 2 * p), 6)), draw(st.integers(max(1, k - 2 * p), 6))
    x = draw(hnp.arrays(np.float64, (n, c, h, w), elements=FLOATS))
    K_dw = draw(hnp.arrays(np.float64, (c, k, k), elements=FLOATS))
    K_pw = draw(hnp.arrays(np.float64, (c_out, c), elements=FLOATS))
    return x, K_dw, K_pw, p


@SETTINGS
@given(conv_cases())
def test_separable_conv_is_torch_grouped_then_pointwise(case):
    x, K_dw, K_pw, p = case
    c = x.shape[1]
    h = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(K_dw)[:, None], padding=p, groups=c)
    y = torch.nn.functional.conv2d(h, torch.from_numpy(K_pw)[:, :, None, None]).numpy()
    np.testing.assert_allclose(depthwise_separable_conv(x, K_dw, K_pw, p), y, rtol=1e-10, atol=1e-9)
    # a single image (C, H, W) gives the batch's first row
    np.testing.assert_allclose(depthwise_separable_conv(x[0], K_dw, K_pw, p), y[0], rtol=1e-10, atol=1e-9)
    # it is the dense conv with the rank-structured kernel K[o, c] = K_pw[o, c] K_dw[c]
    K = K_pw[:, :, None, None] * K_dw[None]  # (C_out, C, k, k)
    dense = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(K), padding=p).numpy()
    np.testing.assert_allclose(depthwise_separable_conv(x, K_dw, K_pw, p), dense, rtol=1e-10, atol=1e-9)


def test_separable_conv_does_not_modify_its_inputs():
    rng = np.random.default_rng(0)
    x, K_dw, K_pw = rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(3, 3, 3)), rng.normal(size=(4, 3))
    copies = [a.copy() for a in (x, K_dw, K_pw)]
    out = depthwise_separable_conv(x, K_dw, K_pw, 1)
    assert out.shape == (2, 4, 5, 5)
    for a, b in zip((x, K_dw, K_pw), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("args,fix", [
    ((np.zeros((3, 4)), np.zeros((3, 1, 1)), np.zeros((2, 3))), "x must be"),
    ((np.zeros((3, 4, 4)), np.zeros((2, 1, 1)), np.zeros((2, 3))), "K_dw must be"),
    ((np.zeros((3, 4, 4)), np.zeros((3, 3, 1)), np.zeros((2, 3))), "K_dw must be"),
    ((np.zeros((3, 4, 4)), np.zeros((3, 1, 1)), np.zeros((2, 2))), "K_pw must be"),
    ((np.full((3, 4, 4), np.nan), np.zeros((3, 1, 1)), np.zeros((2, 3))), "finite"),
    ((np.zeros((3, 2, 2)), np.zeros((3, 5, 5)), np.zeros((2, 3))), "does not fit"),
])
def test_separable_conv_rejects_bad_input(args, fix):
    with pytest.raises(ValueError, match=fix):
        depthwise_separable_conv(*args)
    with pytest.raises(ValueError, match="padding"):
        depthwise_separable_conv(np.zeros((1, 3, 3)), np.zeros((1, 1, 1)), np.zeros((1, 1)), -1)


@pytest.mark.parametrize("c_in,c_out,k,H,W", [(1, 16, 3, 8, 8), (16, 32, 3, 8, 8), (3, 5, 5, 2, 7), (7, 1, 1, 1, 1)])
def test_separable_cost_counts_torch_weights_and_brute_force_macs(c_in, c_out, k, H, W):
    dense = torch.nn.Conv2d(c_in, c_out, k, bias=False)
    sep = torch.nn.Sequential(torch.nn.Conv2d(c_in, c_in, k, groups=c_in, bias=False),
                              torch.nn.Conv2d(c_in, c_out, 1, bias=False))
    n_dense = sum(p.numel() for p in dense.parameters())
    n_sep = sum(p.numel() for p in sep.parameters())
    # MACs by brute force: one multiply-accumulate per (output pixel, output channel, weight it reads)
    macs_dense = sum(1 for _ in itertools.product(range(H * W), range(c_out), range(c_in * k * k)))
    macs_sep = sum(1 for _ in itertools.product(range(H * W), range(c_in), range(k * k))) \
        + sum(1 for _ in itertools.product(range(H * W), range(c_out), range(c_in)))
    got = separable_cost(c_in, c_out, k, H, W)
    assert got == (n_dense, n_sep, macs_dense, macs_sep)
    assert all(type(v) is int for v in got)
    # Howard et al.'s ratio 1/c_out + 1/k^2
    assert got[3] / got[2] == pytest.approx(1 / c_out + 1 / k**2)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_separable_cost_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="c_out"):
        separable_cost(3, bad, 3, 8, 8)


def array_pairs(cols: int, max_rows: int):
    """Two float64 arrays of one shape (n, cols), n in [1, max_rows]."""
    return st.integers(1, max_rows).flatmap(lambda n: st.tuples(hnp.arrays(np.float64, (n, cols), elements=FLOATS),
                                                                hnp.arrays(np.float64, (n, cols), elements=FLOATS)))


@SETTINGS
@given(array_pairs(3, 5))
def test_block_loss_is_torch_mse_and_its_autograd_gradient(pair):
    s, t = pair
    st_ = torch.tensor(s, requires_grad=True)
    loss = torch.nn.functional.mse_loss(st_, torch.from_numpy(t))
    loss.backward()
    L, grad = block_loss(s, t)
    assert isinstance(L, float)
    assert L == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, st_.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_block_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        block_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        block_loss(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="finite"):
        block_loss(np.array([np.inf]), np.array([0.0]))


def _plan_brute_force(d, threshold, order):
    """The greedy rule written as a walk over prefixes: accept i iff the accepted sum stays within budget."""
    idx = list(range(len(d))) if order == "bottom_up" else list(range(len(d)))[::-1]
    acc, out = [], np.zeros(len(d), bool)
    for i in idx:
        if sum(d[j] for j in acc) + d[i] <= threshold:
            acc.append(i)
            out[i] = True
    return out


def test_replacement_plan_worked_examples():
    # drops 1, 2, 3 points, budget 3 points: bottom-up takes 0 and 1 (1 + 2 = 3), top-down takes 2 only
    d = np.array([0.01, 0.02, 0.03])
    np.testing.assert_array_equal(replacement_plan(d, 0.03 + 1e-12, "bottom_up"), [True, True, False])
    np.testing.assert_array_equal(replacement_plan(d, 0.03 + 1e-12, "top_down"), [False, False, True])
    # a negative drop gives budget back: 0.02 rejected alone, accepted after -0.01
    np.testing.assert_array_equal(replacement_plan(np.array([-0.01, 0.02]), 0.015), [True, True])
    np.testing.assert_array_equal(replacement_plan(np.array([0.02, -0.01]), 0.015), [False, True])
    # threshold 0: only drops <= 0
    np.testing.assert_array_equal(replacement_plan(np.array([0.0, 0.1, -0.1]), 0.0), [True, False, True])


@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=st.integers(-3, 6).map(lambda v: v / 100)),
       st.integers(0, 10).map(lambda v: v / 100), st.sampled_from(["bottom_up", "top_down"]))
def test_replacement_plan_matches_brute_force_and_budget(d, threshold, order):
    got = replacement_plan(d, threshold, order)
    assert got.dtype == bool and got.shape == d.shape
    np.testing.assert_array_equal(got, _plan_brute_force(d.tolist(), threshold, order))
    assert d[got].sum() <= threshold + 1e-12


def test_replacement_plan_rejects_bad_input():
    for args, fix in (((np.zeros((2, 2)), 0.1), "1-D"), ((np.array([]), 0.1), "non-empty"),
                      ((np.zeros(2), -0.1), "threshold"), ((np.zeros(2), np.inf), "threshold"),
                      ((np.zeros(2), 0.1, "random"), "order")):
        with pytest.raises(ValueError, match=fix):
            replacement_plan(*args)


def _optimal_makespan(t, W):
    return min(max(sum(t[i] for i in range(len(t)) if a[i] == w) for w in range(W))
               for a in itertools.product(range(W), repeat=len(t)))


@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 7), elements=st.integers(0, 20).map(float)), st.integers(1, 3))
def test_wfd_schedule_is_lpt_within_grahams_bound(t, W):
    a = wfd_schedule(t, W)
    assert a.dtype == np.int64 and a.shape == t.shape and a.min() >= 0 and a.max() < W
    loads = [t[a == w].sum() for w in range(W)]
    opt = _optimal_makespan(t.tolist(), W)
    assert max(loads) <= (4 / 3 - 1 / (3 * W)) * opt + 1e-9
    # LPT replayed by hand: longest first (stable), least-loaded worker (lowest index on ties)
    loads, expect = [0.0] * W, np.zeros(t.size, np.int64)
    for i in sorted(range(t.size), key=lambda i: (-t[i], i)):
        w = min(range(W), key=lambda w: (loads[w], w))
        expect[i], loads[w] = w, loads[w] + t[i]
    np.testing.assert_array_equal(a, expect)


def test_wfd_schedule_worked_example():
    # 7, 5, 4, 3, 1 on 2 workers: 7 -> w0, 5 -> w1, 4 -> w1 (5 < 7), 3 -> w0 (7 < 9), 1 -> w1 (9 < 10)
    np.testing.assert_array_equal(wfd_schedule(np.array([3.0, 7.0, 1.0, 5.0, 4.0]), 2), [0, 0, 1, 1, 1])
    # equal times go to workers in turn
    np.testing.assert_array_equal(wfd_schedule(np.ones(4), 3), [0, 1, 2, 0])
    with pytest.raises(ValueError, match="workers"):
        wfd_schedule(np.ones(2), 0)
    with pytest.raises(ValueError, match="times"):
        wfd_schedule(np.array([1.0, -1.0]), 2)


@SETTINGS
@given(st.integers(1, 4).flatmap(lambda W: st.tuples(
    st.just(W), st.lists(st.tuples(st.integers(0, 30).map(float), st.integers(0, W - 1)), min_size=1, max_size=8))))
def test_makespan_is_the_largest_worker_sum(case):
    W, rows = case
    t = np.array([r[0] for r in rows])
    a = np.array([r[1] for r in rows])
    loads = [sum(ti for ti, ai in rows if ai == w) for w in range(W)]
    assert makespan(t, a, W) == pytest.approx(max(loads))
    assert makespan(t, np.zeros_like(a), W) == pytest.approx(t.sum())  # one worker does everything


def test_makespan_rejects_bad_assignments():
    with pytest.raises(ValueError, match="assignment"):
        makespan(np.ones(3), np.array([0, 1, 2]), 2)
    with pytest.raises(ValueError, match="assignment"):
        makespan(np.ones(3), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="assignment"):
        makespan(np.ones(2), np.array([0.0, 1.0]), 2)


def test_parallel_metrics_catch_the_dissertations_arithmetic():
    # worked by hand: 100 s on 1 worker, 40 s on 2 -> speed-up 2.5 (super-linear), efficiency 1.25
    S, E, G = parallel_metrics(100.0, 40.0, 2, 57.0, 50.0)
    assert (S, E) == pytest.approx((2.5, 1.25))
    assert G == pytest.approx(1.14)  # 57 / 50: a reported "1.18" for these energies is an arithmetic slip
    # a speed-up of 3 on 4 workers is 75 % efficient, on 2 it would be 150 %: swapping the rows shows
    assert parallel_metrics(90.0, 30.0, 4, 1.0, 1.0)[1] == pytest.approx(0.75)
    assert parallel_metrics(90.0, 30.0, 2, 1.0, 1.0)[1] == pytest.approx(1.5)
    assert all(isinstance(v, float) for v in (S, E, G))
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="TW"):
            parallel_metrics(1.0, bad, 2, 1.0, 1.0)
    with pytest.raises(ValueError, match="workers"):
        parallel_metrics(1.0, 1.0, 0, 1.0, 1.0)


@SETTINGS
@given(array_pairs(5, 4))
def test_mse_logit_loss_against_torch(pair):
    zs, zt = pair
    zs_t = torch.tensor(zs, requires_grad=True)
    loss = ((zs_t - torch.from_numpy(zt)) ** 2).sum(dim=1).mean()
    loss.backward()
    L, grad = mse_logit_loss(zs, zt)
    assert L == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, zs_t.grad.numpy(), rtol=1e-12, atol=1e-15)
    # mse_loss's per-element mean times the class count
    assert L == pytest.approx(5 * torch.nn.functional.mse_loss(torch.from_numpy(zs), torch.from_numpy(zt)).item(),
                              rel=1e-12, abs=1e-12)


def test_mse_logit_loss_is_hintons_high_temperature_limit():
    rng = np.random.default_rng(1)
    zs, zt = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    zs -= zs.mean(axis=1, keepdims=True)
    zt -= zt.mean(axis=1, keepdims=True)
    T = 1e3
    log_ps = torch.log_softmax(torch.from_numpy(zs) / T, dim=1)
    p_t = torch.softmax(torch.from_numpy(zt) / T, dim=1)
    kl = T**2 * torch.nn.functional.kl_div(log_ps, p_t, reduction="batchmean").item()
    assert kl == pytest.approx(mse_logit_loss(zs, zt)[0] / (2 * 10), rel=1e-2)
    with pytest.raises(ValueError, match="2-D"):
        mse_logit_loss(zs, zt[:, :3])


@pytest.mark.parametrize("decay", ["step", "linear"])
def test_kd_weight_schedule_closed_forms(decay):
    steps = np.arange(10)
    w = kd_weight_schedule(steps, 10, 0.8, 0.5, decay)
    if decay == "step":  # on for t < 5
        np.testing.assert_allclose(w, [0.8] * 5 + [0.0] * 5)
    else:  # 0.8 (1 - t / 5) for t < 5
        np.testing.assert_allclose(w, [0.8, 0.64, 0.48, 0.32, 0.16, 0, 0, 0, 0, 0], atol=1e-15)
    np.testing.assert_array_equal(kd_weight_schedule(steps, 10, 0.8, 0.0, decay), np.zeros(10))
    full = kd_weight_schedule(steps, 10, 0.8, 1.0, decay)
    assert full[-1] > 0 and w.shape == steps.shape and w.dtype == np.float64
    # any shape of steps
    assert kd_weight_schedule(steps.reshape(2, 5), 10, 0.8, 0.5, decay).shape == (2, 5)


def test_kd_weight_schedule_rejects_bad_input():
    for args, fix in (((np.arange(3), 0, 0.5, 0.5), "total_steps"), ((np.array([3]), 3, 0.5, 0.5), "steps"),
                      ((np.array([0.5]), 3, 0.5, 0.5), "steps"), ((np.arange(3), 3, 1.5, 0.5), "alpha"),
                      ((np.arange(3), 3, 0.5, -0.1), "stop_fraction"), ((np.arange(3), 3, 0.5, 0.5, "cosine"), "decay")):
        with pytest.raises(ValueError, match=fix):
            kd_weight_schedule(*args)


@SETTINGS
@given(st.lists(st.integers(0, 100), min_size=1, max_size=8), st.integers(0, 100))
def test_time_to_target_is_np_interp_on_the_rising_part(acc_pct, target_pct):
    accs = np.array(acc_pct) / 100
    times = np.cumsum(np.arange(1.0, len(accs) + 1))  # 1, 3, 6, ...
    target = target_pct / 100
    got = time_to_target(times, accs, target)
    hits = np.flatnonzero(accs >= target)
    if hits.size == 0:
        assert got == np.inf
    elif hits[0] == 0:
        assert got == times[0]
    else:
        i = hits[0]
        # the segment (i-1, i) rises through target: np.interp on that segment is the oracle
        assert got == pytest.approx(np.interp(target, accs[i - 1:i + 1], times[i - 1:i + 1]))
        assert times[i - 1] < got <= times[i]


def test_time_to_target_rejects_bad_input():
    with pytest.raises(ValueError, match="strictly increase"):
        time_to_target(np.array([1.0, 1.0]), np.array([0.1, 0.2]), 0.15)
    with pytest.raises(ValueError, match="one length"):
        time_to_target(np.array([1.0, 2.0]), np.array([0.1]), 0.15)
    with pytest.raises(ValueError, match="target"):
        time_to_target(np.array([1.0]), np.array([0.1]), np.nan)
