"""Tests of the NumPy robustness reference (Lab 11) against oracles from elsewhere.

Oracles: the exact change of a quadratic loss when a weight is deleted (OBD's saliency is exact for a
diagonal quadratic at its minimum) and the Hessian diagonal by central finite differences of its
gradient; torch autograd (FGSM's and PGD's gradient sign on a torch model, the straight-through
gradient of a torch supermask layer); brute-force loops over samples / attacks / masks / the kernel's
entries; the maximiser of a linear function on an L2 ball by sampling; ``numpy.linalg.lstsq`` for the
ALS update. No expected value was produced by the code under test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.robustness import (cp_als_update, cp_reconstruct, early_bird_epoch, edge_popup_mask, fgsm,
                                       mask_distance, obd_saliency, pgd_step, robust_accuracy, sam_perturbation,
                                       supermask_score_grad)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
FLOATS = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=FLOATS)


# --- obd_saliency ----------------------------------------------------------------------------------
def test_obd_saliency_is_the_exact_loss_change_of_a_diagonal_quadratic():
    # L(w) = 1/2 sum_i h_i (w_i - w*_i)^2 at its minimum w = w*: deleting w_i costs exactly 1/2 h_i w_i^2
    rng = np.random.default_rng(0)
    w = rng.normal(size=7)
    h = rng.uniform(0.1, 3.0, size=7)

    def loss(v):
        return 0.5 * np.sum(h * (v - w) ** 2)

    # the Hessian diagonal from central differences of the gradient h (v - w)
    eps = 1e-4
    grad = lambda v: h * (v - w)  # noqa: E731
    h_fd = np.array([(grad(w + eps * e)[i] - grad(w - eps * e)[i]) / (2 * eps) for i, e in enumerate(np.eye(7))])
    np.testing.assert_allclose(h_fd, h, rtol=1e-8)
    deltas = np.array([loss(np.where(np.arange(7) == i, 0.0, w)) - loss(w) for i in range(7)])
    np.testing.assert_allclose(obd_saliency(w, h_fd), deltas, rtol=1e-6)


def test_obd_saliency_by_hand_and_leaves_inputs_alone():
    w, h = np.array([[2.0, -1.0]]), np.array([[3.0, -4.0]])
    np.testing.assert_array_equal(obd_saliency(w, h), [[6.0, -2.0]])
    np.testing.assert_array_equal(w, [[2.0, -1.0]])
    for bad in [(np.array([]), np.array([])), (np.ones(2), np.ones(3)), (np.array([np.nan]), np.ones(1))]:
        with pytest.raises(ValueError):
            obd_saliency(*bad)


# --- fgsm / pgd_step --------------------------------------------------------------------------------
def _torch_input_grad(x: np.ndarray, y: int) -> np.ndarray:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(x.size, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    xt = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(xt[None]), torch.tensor([y]))
    loss.backward()
    return xt.grad.numpy(), model


def test_fgsm_against_torch_and_increases_the_loss_to_first_order():
    x = np.random.default_rng(1).uniform(0, 1, size=6)
    g, model = _torch_input_grad(x, 2)
    eps = 0.01
    adv = fgsm(x, g, eps)
    expected = torch.clamp(torch.tensor(x) + eps * torch.tensor(g).sign(), 0, 1).numpy()
    np.testing.assert_allclose(adv, expected, rtol=0, atol=0)

    def loss(v):
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(torch.tensor(v)[None]), torch.tensor([2])))
    assert loss(adv) > loss(x)


@SETTINGS
@given(x=arrays(5), g=arrays(5), eps=st.floats(0, 3), lo=st.floats(-5, 0), width=st.floats(0, 5))
def test_fgsm_elementwise_loop(x, g, eps, lo, width):
    hi = lo + width
    got = fgsm(x, g, eps, lo, hi)
    for i in range(5):
        step = eps if g[i] > 0 else (-eps if g[i] < 0 else 0.0)
        assert got[i] == min(max(x[i] + step, lo), hi)


@SETTINGS
@given(x0=hnp.arrays(np.float64, 6, elements=st.floats(0, 1)), d=arrays(6), g=arrays(6),
       alpha=st.floats(0, 0.5), eps=st.floats(0, 0.3))
def test_pgd_step_lands_in_ball_and_box_and_is_the_nearest_such_point(x0, d, g, alpha, eps):
    x = np.clip(x0 + eps * np.tanh(d), 0, 1)  # an iterate inside the ball and the box
    got = pgd_step(x, x0, g, alpha, eps)
    z = x + alpha * np.sign(g)
    assert np.all(np.abs(got - x0) <= eps + 1e-12) and np.all((got >= 0) & (got <= 1))
    # the Euclidean projection of z onto {|v - x0| <= eps} n [0, 1]^n, by brute force per coordinate
    for i in range(6):
        lo_i, hi_i = max(x0[i] - eps, 0.0), min(x0[i] + eps, 1.0)
        grid = np.linspace(lo_i, hi_i, 2001)
        best = grid[np.argmin(np.abs(grid - z[i]))]
        assert abs(got[i] - best) <= (hi_i - lo_i) / 2000 + 1e-12


def test_pgd_iterations_against_torch_attack():
    x0 = np.random.default_rng(2).uniform(0, 1, size=6)
    _, model = _torch_input_grad(x0, 1)
    x = x0.copy()
    xt = torch.tensor(x0)
    for _ in range(5):
        v = torch.tensor(x, requires_grad=True)
        torch.nn.functional.cross_entropy(model(v[None]), torch.tensor([1])).backward()
        x = pgd_step(x, x0, v.grad.numpy(), 0.02, 0.05)
        w = xt.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(model(w[None]), torch.tensor([1])).backward()
        xt = torch.clamp(torch.min(torch.max(xt + 0.02 * w.grad.sign(), torch.tensor(x0) - 0.05),
                                   torch.tensor(x0) + 0.05), 0, 1).detach()
    np.testing.assert_allclose(x, xt.numpy(), atol=1e-12)


def test_attacks_reject_bad_arguments():
    for args in [(np.ones(2), np.ones(3), 0.1), (np.ones(2), np.ones(2), -0.1), (np.ones(2), np.ones(2), 0.1, 1.0, 0.0),
                 (np.array([]), np.array([]), 0.1), (np.array([np.inf]), np.ones(1), 0.1)]:
        with pytest.raises(ValueError):
            fgsm(*args)
    with pytest.raises(ValueError):
        pgd_step(np.ones(2), np.ones(3), np.ones(2), 0.1, 0.1)
    with pytest.raises(ValueError):
        pgd_step(np.ones(2), np.ones(2), np.ones(2), 0.1, -0.1)


# --- robust_accuracy --------------------------------------------------------------------------------
@SETTINGS
@given(logits=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(2, 4)),
                         elements=st.integers(-2, 2).map(float)), data=st.data())
def test_robust_accuracy_brute_force(logits, data):
    A, N, C = logits.shape
    labels = np.array(data.draw(st.lists(st.integers(0, C - 1), min_size=N, max_size=N)), dtype=np.int64)
    robust = 0
    for n in range(N):
        ok = True
        for a in range(A):
            others = [logits[a, n, c] for c in range(C) if c != labels[n]]
            ok = ok and all(logits[a, n, labels[n]] > o for o in others)
        robust += ok
    assert robust_accuracy(logits, labels) == pytest.approx(robust / N)


def test_robust_accuracy_one_attack_is_accuracy_and_rejects_bad_labels():
    logits = np.array([[[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]]])
    assert robust_accuracy(logits, np.array([0, 1, 0])) == pytest.approx(2 / 3)  # the tie is an error
    for labels in [np.array([0, 1]), np.array([0, 1, 2]), np.array([0.0, 1.0, 0.0])]:
        with pytest.raises(ValueError):
            robust_accuracy(logits, labels)


# --- sam_perturbation -------------------------------------------------------------------------------
def test_sam_perturbation_maximises_the_linearisation_on_the_ball():
    rng = np.random.default_rng(3)
    g = rng.normal(size=(2, 3))
    eps = sam_perturbation(g, 0.5)
    assert np.linalg.norm(eps) == pytest.approx(0.5)
    samples = rng.normal(size=(20000, 6))
    samples = 0.5 * samples / np.linalg.norm(samples, axis=1, keepdims=True)
    assert np.sum(g.ravel() * eps.ravel()) >= np.max(samples @ g.ravel()) - 1e-12
    np.testing.assert_array_equal(sam_perturbation(np.zeros(3), 1.0), np.zeros(3))


def test_sam_step_on_a_quadratic_against_torch():
    # one SAM step in torch (ascent, gradient there, descent) against the NumPy perturbation
    A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    (0.5 * w @ A @ w).backward()
    e = sam_perturbation(w.grad.numpy(), 0.1)
    w_adv = (w.detach() + torch.tensor(e)).requires_grad_(True)
    (0.5 * w_adv @ A @ w_adv).backward()
    expected_eps = 0.1 * w.grad / torch.linalg.vector_norm(w.grad)
    np.testing.assert_allclose(e, expected_eps.numpy(), rtol=1e-12)


# --- edge_popup_mask / supermask_score_grad -----------------------------------------------------------
@SETTINGS
@given(scores=hnp.arrays(np.float64, st.integers(1, 9), elements=st.integers(-3, 3).map(float)),
       k=st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]))
def test_edge_popup_mask_brute_force(scores, k):
    n = scores.size
    n_keep = int(round(k * n))  # Python's round is half to even, like np.round
    # the kept set: the lexicographically first set of n_keep indices with the largest sum of |s|
    best = max(itertools.combinations(range(n), n_keep),
               key=lambda c: (sum(abs(scores[i]) for i in c), [-i for i in c]))
    expected = np.zeros(n)
    expected[list(best)] = 1
    np.testing.assert_array_equal(edge_popup_mask(scores, k), expected)


def test_supermask_score_grad_against_torch_straight_through():
    torch.manual_seed(0)
    x, W = torch.randn(4, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    s = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.from_numpy(edge_popup_mask(s.detach().numpy(), 0.5))
    m_ste = mask + s - s.detach()  # forward: the mask; backward: the identity in s
    y = x @ (W * m_ste).T
    target = torch.randn(4, 2, dtype=torch.float64)
    loss = ((y - target) ** 2).sum()
    loss.backward()
    grad_y = 2 * (y.detach() - target)
    np.testing.assert_allclose(supermask_score_grad(x.numpy(), grad_y.numpy(), W.numpy()), s.grad.numpy(),
                               rtol=1e-12)
    with pytest.raises(ValueError):
        supermask_score_grad(x.numpy(), grad_y.numpy(), W.numpy().T)


# --- mask_distance / early_bird_epoch -----------------------------------------------------------------
def test_mask_distance_counts_and_rejects():
    assert mask_distance(np.array([1, 0, 1, 1]), np.array([1, 1, 0, 1])) == 0.5
    assert mask_distance(np.array([True, False]), np.array([1.0, 0.0])) == 0.0
    for bad in [(np.ones(2), np.ones(3)), (np.array([0.5]), np.array([1.0])), (np.array([]), np.array([]))]:
        with pytest.raises(ValueError):
            mask_distance(*bad)


@SETTINGS
@given(masks=hnp.arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 5)), elements=st.sampled_from([0.0, 1.0])),
       window=st.integers(1, 4), threshold=st.sampled_from([0.1, 0.3, 0.5, 1.0]))
def test_early_bird_brute_force(masks, window, threshold):
    T, n = masks.shape
    expected = -1
    for t in range(T):
        if t < window:
            continue
        worst = max(np.sum(masks[t] != masks[t - j]) / n for j in range(1, window + 1))
        if worst < threshold:
            expected = t
            break
    assert early_bird_epoch(masks, threshold, window) == expected


def test_early_bird_rejects():
    for args in [(np.ones(3), 0.1, 1), (np.ones((3, 2)), 0.0, 1), (np.ones((3, 2)), 0.1, 0), (np.full((3, 2), 2.0), 0.1, 1)]:
        with pytest.raises(ValueError):
            early_bird_epoch(*args)


# --- cp_reconstruct / cp_als_update -----------------------------------------------------------------
def test_cp_reconstruct_loops_and_torch_conv_chain():
    rng = np.random.default_rng(4)
    A, B, C, D = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))
    K = cp_reconstruct(A, B, C, D)
    for o, i, h, w in itertools.product(range(3), range(4), range(3), range(2)):
        assert K[o, i, h, w] == pytest.approx(sum(A[o, r] * B[i, r] * C[h, r] * D[w, r] for r in range(2)))
    # Lebedev et al.: the kernel equals 1x1 (B) -> Hx1 depthwise (C) -> 1xW depthwise (D) -> 1x1 (A)
    x = torch.from_numpy(rng.normal(size=(1, 4, 6, 5)))
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    y = torch.nn.functional.conv2d(x, t(B.T[:, :, None, None]))
    y = torch.nn.functional.conv2d(y, t(C.T[:, None, :, None]), groups=2)
    y = torch.nn.functional.conv2d(y, t(D.T[:, None, None, :]), groups=2)
    y = torch.nn.functional.conv2d(y, t(A[:, :, None, None]))
    np.testing.assert_allclose(y.numpy(), torch.nn.functional.conv2d(x, t(K)).numpy(), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 1000), R=st.integers(1, 3))
def test_cp_als_update_is_the_least_squares_solution(seed, R):
    rng = np.random.default_rng(seed)
    K = rng.normal(size=(3, 4, 3, 2))
    B, C, D = rng.normal(size=(4, R)), rng.normal(size=(3, R)), rng.normal(size=(2, R))
    A = cp_als_update(K, B, C, D)
    # oracle: lstsq over the explicit design matrix, built with loops
    Z = np.array([[B[i, r] * C[h, r] * D[w, r] for r in range(R)]
                  for i, h, w in itertools.product(range(4), range(3), range(2))])
    expected = np.linalg.lstsq(Z, K.reshape(3, -1).T, rcond=None)[0].T
    np.testing.assert_allclose(A, expected, rtol=1e-8, atol=1e-10)


def test_cp_als_recovers_an_exact_rank_one_kernel_and_rejects():
    rng = np.random.default_rng(5)
    A, B, C, D = (rng.normal(size=(s, 1)) for s in (3, 4, 3, 3))
    np.testing.assert_allclose(cp_als_update(cp_reconstruct(A, B, C, D), B, C, D), A, rtol=1e-10)
    for args in [(np.ones((2, 2, 2)), B, C, D), (np.ones((3, 4, 3, 3)), B, C, np.ones((3, 2))),
                 (np.ones((3, 5, 3, 3)), B, C, D)]:
        with pytest.raises(ValueError):
            cp_als_update(*args)
