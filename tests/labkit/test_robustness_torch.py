"""labkit.robustness against oracles: torch.autograd.functional.hessian, finite differences, closed forms."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from labkit import robustness as rb
from reference_impl import robustness as ref


def _tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))


def test_hutchinson_diagonal_approaches_the_exact_hessian_diagonal():
    model = _tiny_model()
    X = torch.from_numpy(np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32))
    y = torch.arange(20) % 3

    def loss_of(theta):  # the loss as a function of both weight matrices, flattened (4*3 + 3*4 entries)
        W0, W2 = theta[:12].reshape(4, 3), theta[12:].reshape(3, 4)
        h = torch.tanh(nn.functional.linear(X, W0, model[0].bias))
        return nn.functional.cross_entropy(nn.functional.linear(h, W2, model[2].bias), y)

    theta = torch.cat([model[0].weight.detach().ravel(), model[2].weight.detach().ravel()])
    H = torch.autograd.functional.hessian(loss_of, theta).double().numpy()
    probes = 64
    est = np.concatenate([d.ravel() for d in rb.hessian_diagonal(model, X.numpy(), y.numpy(), probes=probes, seed=0)])
    # Hutchinson's estimate is unbiased with variance sum_{j != i} H_ij^2 / probes per entry (Rademacher v)
    sd = np.sqrt((np.sum(H**2, axis=1) - np.diag(H) ** 2) / probes)
    assert np.all(np.abs(est - np.diag(H)) <= 4 * sd + 1e-6), (est, np.diag(H), sd)


def test_fisher_diagonal_is_the_mean_squared_per_sample_gradient():
    model = _tiny_model()
    X = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    expected = np.zeros((3, 4))
    for n in range(5):
        model.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(X[n:n + 1])), torch.tensor([y[n]])).backward()
        expected += model[2].weight.grad.double().numpy() ** 2 / 5
    np.testing.assert_allclose(rb.fisher_diagonal(model, X, y)[1], expected, rtol=1e-5)


def test_global_prune_removes_the_smallest_saliencies():
    model = _tiny_model()
    sal = [np.arange(12.0).reshape(4, 3), 100 + np.arange(12.0).reshape(3, 4)]
    pruned = rb.global_prune(model, sal, 0.5)
    w0 = pruned[0].weight.detach().numpy()
    assert np.all(w0 == 0) and np.all(pruned[2].weight.detach().numpy() == model[2].weight.detach().numpy())


def test_sam_training_with_rho_zero_is_plain_training():
    X = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32)
    y = np.arange(30) % 3
    a, b = _tiny_model(), _tiny_model()
    rb.train(a, X, y, epochs=1, lr=1e-2, batch_size=8, seed=0)
    rb.train(b, X, y, epochs=1, lr=1e-2, batch_size=8, seed=0, rho=0.0, sam_perturbation=ref.sam_perturbation)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    c = _tiny_model()
    rb.train(c, X, y, epochs=1, lr=1e-2, batch_size=8, seed=0, rho=0.5, sam_perturbation=ref.sam_perturbation)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_pgd_attack_stays_in_the_ball_and_raises_the_loss():
    model = _tiny_model()
    X = np.random.default_rng(3).uniform(0, 1, size=(10, 3))
    y = np.arange(10) % 3
    adv = rb.pgd_attack(model, X, y, 0.1, ref.pgd_step, steps=5)
    assert np.all(np.abs(adv - X) <= 0.1 + 1e-12) and np.all((adv >= 0) & (adv <= 1))

    def loss(v):
        return float(nn.functional.cross_entropy(torch.from_numpy(rb.logits_of(model, v)), torch.from_numpy(y)))
    assert loss(adv) > loss(X)


def test_cp_als_decreases_the_error_and_recovers_a_rank_two_kernel():
    rng = np.random.default_rng(0)
    K = ref.cp_reconstruct(*(rng.normal(size=(d, 2)) for d in (4, 3, 3, 3)))
    _, errors = rb.cp_als(K, 2, ref.cp_als_update, ref.cp_reconstruct, iters=60, seed=1)
    assert all(b <= a + 1e-9 for a, b in zip(errors, errors[1:]))  # ALS never increases the error
    assert errors[-1] < 1e-3


def test_tucker2_is_exact_at_full_rank_and_costs_count_weights():
    K = np.random.default_rng(1).normal(size=(5, 4, 3, 3))
    np.testing.assert_allclose(rb.tucker2(K, 5, 4), K, atol=1e-10)
    assert rb.conv_costs(32, 16, 3, 64) == (32 * 16 * 9, 32 * 16 * 9 * 64)
    assert rb.conv_costs(32, 16, 3, 64, cp_rank=8)[0] == 8 * (32 + 16 + 3 + 3)
    assert rb.conv_costs(32, 16, 3, 64, tucker=(8, 4))[0] == 16 * 4 + 4 * 8 * 9 + 8 * 32
