"""Tests of the NumPy data-free / dataset-distillation reference (Lab 12) against oracles from elsewhere.

Oracles: torch autograd (the unrolled inner SGD loop written in torch with ``create_graph=True``,
the nasty-teacher loss written with ``torch.nn.functional``), central finite differences of the
losses, ``torch.nn.functional`` (cross_entropy, kl_div, l1_loss), ``torch.nn.BatchNorm`` in training
mode for the batch statistics, brute-force Python loops, and closed forms worked out in comments.
No expected value was produced by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.data_free import (bn_statistics_loss, dark_knowledge_stats, data_free_kd_losses, distill_grad,
                                      nasty_teacher_grad, nasty_teacher_loss, soft_label_entropy, softmax_ce_grad)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)


@st.composite
def problems(draw, max_m: int = 8):
    """A small dataset-distillation problem from a seed: synthetic and validation sets, W0, lr, k."""
    rng = np.random.default_rng(draw(st.integers(0, 10**6)))
    M, N, d, C = draw(st.integers(1, max_m)), draw(st.integers(1, 9)), draw(st.integers(1, 7)), draw(st.integers(2, 5))
    scale = draw(st.sampled_from([0.3, 1.0, 3.0]))
    return (scale * rng.normal(size=(M, d)), rng.integers(0, C, M), rng.normal(size=(N, d)), rng.integers(0, C, N),
            rng.normal(size=(d, C)), draw(st.sampled_from([0.05, 0.5, 2.0])), draw(st.integers(0, 5)))


def _torch_unrolled(X_syn, y_syn, X_val, y_val, W0, lr, steps):
    """The inner loop in torch, differentiated through by autograd (create_graph keeps the second order)."""
    X = torch.tensor(X_syn, requires_grad=True)
    W = torch.tensor(W0, requires_grad=True)
    ys = torch.tensor(y_syn)
    for _ in range(steps):
        (g,) = torch.autograd.grad(F.cross_entropy(X @ W, ys), W, create_graph=True)
        W = W - lr * g
    loss = F.cross_entropy(torch.tensor(X_val) @ W, torch.tensor(y_val))
    (gx,) = torch.autograd.grad(loss, X, allow_unused=True)
    return loss.item(), (np.zeros_like(X_syn) if gx is None else gx.numpy())


# --- softmax_ce_grad ------------------------------------------------------------------------------
@SETTINGS
@given(problems())
def test_softmax_ce_grad_matches_torch(case):
    X, y, _, _, W, _, _ = case
    loss, grad = softmax_ce_grad(X, W, y)
    Wt = torch.tensor(W, requires_grad=True)
    lt = F.cross_entropy(torch.tensor(X) @ Wt, torch.tensor(y))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, Wt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_softmax_ce_grad_finite_differences_and_large_logits():
    rng = np.random.default_rng(3)
    X, W, y = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), np.array([0, 1, 2, 2, 1, 0])
    _, grad = softmax_ce_grad(X, W, y)
    h = 1e-6
    fd = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        fd[idx] = (softmax_ce_grad(X, W + E, y)[0] - softmax_ce_grad(X, W - E, y)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    # logits [1e4, -1e4]: the loss of the wrong label is 2e4 (log-sum-exp = 1e4), finite
    loss, grad = softmax_ce_grad(np.array([[1.0]]), np.array([[1e4, -1e4]]), np.array([1]))
    assert loss == pytest.approx(2e4)
    np.testing.assert_allclose(grad, [[1.0, -1.0]])


@pytest.mark.parametrize("args", [
    (np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1])),  # d mismatch
    (np.ones((2, 3)), np.ones((3, 1)), np.array([0, 0])),  # C = 1
    (np.ones((0, 3)), np.ones((3, 2)), np.array([], dtype=int)),
    (np.ones((2, 3)), np.ones((3, 2)), np.array([0, 2])),
    (np.ones((2, 3)), np.ones((3, 2)), np.array([0.0, 1.0])),
    (np.full((2, 3), np.nan), np.ones((3, 2)), np.array([0, 1])),
])
def test_softmax_ce_grad_rejects(args):
    with pytest.raises(ValueError):
        softmax_ce_grad(*args)


# --- distill_grad ---------------------------------------------------------------------------------
@SETTINGS
@given(problems())
def test_distill_grad_matches_torch_autograd_through_the_unrolled_loop(case):
    loss, grad = distill_grad(*case)
    t_loss, t_grad = _torch_unrolled(*case)
    assert loss == pytest.approx(t_loss, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-8, atol=1e-10)


def test_distill_grad_finite_differences():
    rng = np.random.default_rng(7)
    X_syn, y_syn = rng.normal(size=(4, 3)), np.array([0, 1, 2, 1])
    X_val, y_val, W0 = rng.normal(size=(10, 3)), rng.integers(0, 3, 10), rng.normal(size=(3, 3))
    _, grad = distill_grad(X_syn, y_syn, X_val, y_val, W0, 0.7, 4)
    h = 1e-6
    for idx in np.ndindex(*X_syn.shape):
        E = np.zeros_like(X_syn)
        E[idx] = h
        fd = (distill_grad(X_syn + E, y_syn, X_val, y_val, W0, 0.7, 4)[0]
              - distill_grad(X_syn - E, y_syn, X_val, y_val, W0, 0.7, 4)[0]) / (2 * h)
        assert grad[idx] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_distill_grad_zero_steps_and_one_step_closed_form():
    rng = np.random.default_rng(1)
    X_syn, y_syn, X_val, y_val, W0 = rng.normal(size=(3, 2)), np.array([0, 1, 1]), rng.normal(size=(5, 2)), \
        rng.integers(0, 2, 5), np.zeros((2, 2))
    loss, grad = distill_grad(X_syn, y_syn, X_val, y_val, W0, 1.0, 0)
    assert loss == pytest.approx(math.log(2))  # W = 0: uniform predictions
    assert np.array_equal(grad, np.zeros((3, 2)))
    # one step from W0 = 0: P = 1/2 everywhere, W1 = -lr X^T (1/2 - Y) / M is linear in X_syn, so
    # L(X) = CE(X_val W1(X)) and dL/dX_syn = (1/2 - Y) (-lr / M) (dL/dW1)^T with dL/dW1 from torch
    lr = 0.8
    W1 = -lr * X_syn.T @ (0.5 - np.eye(2)[y_syn]) / 3
    Wt = torch.tensor(W1, requires_grad=True)
    F.cross_entropy(torch.tensor(X_val) @ Wt, torch.tensor(y_val)).backward()
    expected = -lr / 3 * (0.5 - np.eye(2)[y_syn]) @ Wt.grad.numpy().T
    _, grad = distill_grad(X_syn, y_syn, X_val, y_val, W0, lr, 1)
    # the S W_0^T term vanishes because W0 = 0
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("change", [dict(lr=0.0), dict(lr=np.inf), dict(steps=-1), dict(steps=1.5),
                                    dict(y_syn=np.array([0, 3])), dict(W0=np.ones((2, 3)))])
def test_distill_grad_rejects(change):
    args = dict(X_syn=np.ones((2, 3)), y_syn=np.array([0, 1]), X_val=np.ones((4, 3)), y_val=np.array([0, 1, 1, 0]),
                W0=np.zeros((3, 2)), lr=0.1, steps=2)
    with pytest.raises(ValueError):
        distill_grad(**{**args, **change})


# --- data_free_kd_losses --------------------------------------------------------------------------
@SETTINGS
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(2, 10), st.sampled_from([1.0, 2.0, 4.0]))
def test_data_free_kd_losses_match_torch(seed, N, C, T):
    rng = np.random.default_rng(seed)
    t, s = 3 * rng.normal(size=(N, C)), 3 * rng.normal(size=(N, C))
    kl = F.kl_div(F.log_softmax(torch.tensor(s) / T, 1), F.log_softmax(torch.tensor(t) / T, 1), log_target=True,
                  reduction="batchmean").item() * T**2
    student, generator = data_free_kd_losses(t, s, "kl", T)
    assert student == pytest.approx(kl, rel=1e-10, abs=1e-12) and generator == -student
    l1 = F.l1_loss(torch.tensor(t), torch.tensor(s)).item()
    assert data_free_kd_losses(t, s, "l1", T) == pytest.approx((l1, -l1), rel=1e-12)


def test_data_free_kd_losses_agreement_is_zero_and_extremes_finite():
    t = np.array([[1e4, -1e4, 0.0]])
    assert data_free_kd_losses(t, t.copy(), "kl") == (0.0, -0.0)
    student, _ = data_free_kd_losses(t, t[:, ::-1].copy(), "kl")
    assert student == pytest.approx(1e4)  # p = (1, 0, 0), q = softmax(0, -1e4, 1e4): log q_0 = -1e4


@pytest.mark.parametrize("args", [(np.ones((2, 3)), np.ones((2, 3)), "l2"), (np.ones((2, 3)), np.ones((2, 4)), "kl"),
                                  (np.ones((2, 3)), np.ones((2, 3)), "kl", 0.0),
                                  (np.ones((2, 1)), np.ones((2, 1)), "kl"),
                                  (np.full((2, 3), np.inf), np.ones((2, 3)), "l1")])
def test_data_free_kd_losses_rejects(args):
    with pytest.raises(ValueError):
        data_free_kd_losses(*args)


# --- bn_statistics_loss ---------------------------------------------------------------------------
@SETTINGS
@given(st.integers(0, 10**6), st.sampled_from([(5, 3), (2, 4, 3, 2), (1, 2), (7, 1, 1, 1)]))
def test_bn_statistics_loss_matches_torch_batchnorm(seed, shape):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=1.0, scale=2.0, size=shape)
    C = shape[1]
    mu_bn, var_bn = rng.normal(size=C), rng.uniform(0, 3, size=C)
    bn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(C, momentum=1.0).double()
    bn.train()
    if shape[0] * (int(np.prod(shape[2:])) if len(shape) > 2 else 1) > 1:
        bn(torch.tensor(x))  # momentum 1: the running stats become the batch's (torch stores the unbiased variance)
        n = x.size // C
        mu, var = bn.running_mean.numpy(), bn.running_var.numpy() * (n - 1) / n
    else:  # one value per channel: mean = that value, variance 0
        mu, var = x.reshape(C), np.zeros(C)
    expected = np.linalg.norm(mu - mu_bn) + np.linalg.norm(var - var_bn)
    assert bn_statistics_loss(x, mu_bn, var_bn) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_bn_statistics_loss_loop_and_zero():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 2, 2)
    # channel c holds 4c..4c+3 and 12+4c..12+4c+3: mean 4c + 7.5, biased variance (sum of squared deviations) / 8
    vals = [[float(x[n, c, i, j]) for n in range(2) for i in range(2) for j in range(2)] for c in range(3)]
    mu = [sum(v) / 8 for v in vals]
    var = [sum((a - m) ** 2 for a in v) / 8 for v, m in zip(vals, mu)]
    assert mu == [7.5, 11.5, 15.5]
    assert bn_statistics_loss(x, np.array(mu), np.array(var)) == pytest.approx(0.0, abs=1e-12)
    assert bn_statistics_loss(x, np.array(mu) + [3.0, 4.0, 0.0], np.array(var)) == pytest.approx(5.0)


@pytest.mark.parametrize("args", [(np.ones((2, 3, 4)), np.zeros(3), np.ones(3)), (np.ones((2, 3)), np.zeros(2), np.ones(3)),
                                  (np.ones((2, 3)), np.zeros(3), -np.ones(3)), (np.ones((0, 3)), np.zeros(3), np.ones(3)),
                                  (np.ones((2, 3)), np.full(3, np.nan), np.ones(3))])
def test_bn_statistics_loss_rejects(args):
    with pytest.raises(ValueError):
        bn_statistics_loss(*args)


# --- nasty teacher --------------------------------------------------------------------------------
def _torch_nasty(z, a, y, T, omega):
    zt = torch.tensor(z, requires_grad=True)
    at = torch.tensor(a)
    kl = F.kl_div(F.log_softmax(zt / T, 1), F.log_softmax(at / T, 1), log_target=True, reduction="batchmean")
    loss = F.cross_entropy(zt, torch.tensor(y)) - omega * T**2 * kl
    loss.backward()
    return loss.item(), zt.grad.numpy()


@SETTINGS
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(2, 10), st.sampled_from([1.0, 4.0, 20.0]),
       st.sampled_from([0.0, 0.04, 1.0]))
def test_nasty_teacher_loss_and_grad_match_torch_autograd(seed, N, C, T, omega):
    rng = np.random.default_rng(seed)
    z, a, y = 4 * rng.normal(size=(N, C)), 4 * rng.normal(size=(N, C)), rng.integers(0, C, N)
    loss, grad = _torch_nasty(z, a, y, T, omega)
    assert nasty_teacher_loss(z, a, y, T, omega) == pytest.approx(loss, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(nasty_teacher_grad(z, a, y, T, omega), grad, rtol=1e-9, atol=1e-12)


def test_nasty_teacher_grad_finite_differences():
    rng = np.random.default_rng(11)
    z, a, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), np.array([0, 3, 1])
    g = nasty_teacher_grad(z, a, y, 4.0, 0.5)
    h = 1e-6
    for idx in np.ndindex(*z.shape):
        E = np.zeros_like(z)
        E[idx] = h
        fd = (nasty_teacher_loss(z + E, a, y, 4.0, 0.5) - nasty_teacher_loss(z - E, a, y, 4.0, 0.5)) / (2 * h)
        assert g[idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_nasty_teacher_same_logits_is_plain_ce():
    z, y = np.array([[2.0, 0.0, -1.0]]), np.array([0])
    ce = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    assert nasty_teacher_loss(z, z.copy(), y, 4.0, 1.0) == pytest.approx(ce)


@pytest.mark.parametrize("fn", [nasty_teacher_loss, nasty_teacher_grad])
@pytest.mark.parametrize("args", [(np.ones((2, 3)), np.ones((2, 3)), np.array([0, 3])),
                                  (np.ones((2, 3)), np.ones((2, 2)), np.array([0, 1])),
                                  (np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1]), 0.0),
                                  (np.ones((2, 3)), np.ones((2, 3)), np.array([0, 1]), 4.0, -0.1),
                                  (np.full((2, 3), np.nan), np.ones((2, 3)), np.array([0, 1]))])
def test_nasty_teacher_rejects(fn, args):
    with pytest.raises(ValueError):
        fn(*args)


# --- soft_label_entropy and dark_knowledge_stats --------------------------------------------------
@SETTINGS
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(1, 10), st.sampled_from([0.5, 1.0, 4.0]))
def test_soft_label_entropy_matches_torch_distributions(seed, N, C, T):
    z = 5 * np.random.default_rng(seed).normal(size=(N, C))
    expected = torch.distributions.Categorical(logits=torch.tensor(z) / T).entropy().numpy()
    np.testing.assert_allclose(soft_label_entropy(z, T), expected, rtol=1e-10, atol=1e-12)


def test_soft_label_entropy_ends():
    np.testing.assert_allclose(soft_label_entropy(np.zeros((2, 5))), [math.log(5)] * 2)
    assert soft_label_entropy(np.array([[1e4, 0.0, -1e4]]))[0] == 0.0  # one-hot, not NaN


def _dark_loop(z, y, T):
    """Brute force, one row at a time with Python floats."""
    t_sum, rest_sum, h_sum = 0.0, 0.0, 0.0
    for row, label in zip(z, y):
        e = [math.exp(v / T - max(row) / T) for v in row]
        p = [v / sum(e) for v in e]
        rest = [p[c] for c in range(len(p)) if c != label]
        r = [v / sum(rest) for v in rest]
        t_sum += p[label]
        rest_sum += 1 - p[label]
        h_sum += -sum(v * math.log(v) for v in r if v > 0) / math.log(len(row) - 1)
    return [t_sum / len(y), rest_sum / len(y), h_sum / len(y)]


@SETTINGS
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(3, 10), st.sampled_from([1.0, 4.0]))
def test_dark_knowledge_stats_match_loop(seed, N, C, T):
    rng = np.random.default_rng(seed)
    z, y = 3 * rng.normal(size=(N, C)), rng.integers(0, C, N)
    np.testing.assert_allclose(dark_knowledge_stats(z, y, T), _dark_loop(z, y, T), rtol=1e-9, atol=1e-12)


def test_dark_knowledge_stats_ends():
    # the wrong classes share evenly: normalised entropy 1; one wrong class takes it all: 0
    np.testing.assert_allclose(dark_knowledge_stats(np.array([[3.0, 0.0, 0.0, 0.0]]), np.array([0]), 1.0)[2], 1.0)
    got = dark_knowledge_stats(np.array([[0.0, 0.0, -1e4]]), np.array([0]), 1.0)
    np.testing.assert_allclose(got, [0.5, 0.5, 0.0], atol=1e-12)


@pytest.mark.parametrize("args", [(np.ones((2, 2)), np.array([0, 1])), (np.ones((2, 3)), np.array([0, 3])),
                                  (np.ones((2, 3)), np.array([0])), (np.ones((2, 3)), np.array([0, 1]), -1.0),
                                  (np.full((2, 3), np.inf), np.array([0, 1]))])
def test_dark_knowledge_stats_rejects(args):
    with pytest.raises(ValueError):
        dark_knowledge_stats(*args)


@pytest.mark.parametrize("args", [(np.ones(3),), (np.ones((2, 0)),), (np.ones((2, 3)), 0.0), (np.full((1, 2), np.nan),)])
def test_soft_label_entropy_rejects(args):
    with pytest.raises(ValueError):
        soft_label_entropy(*args)
