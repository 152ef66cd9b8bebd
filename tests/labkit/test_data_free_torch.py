"""labkit.data_free: the torch twins against the NumPy reference (an independent formulation), the generator's
shape and range, the stored statistics against a BatchNorm layer, and nasty-teacher training driven by a NumPy
gradient against the same training with the torch loss and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit import data_free as dfk
from labkit.training import MLP, set_seed
from reference_impl import data_free as ref

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("kind", ["l1", "kl"])
@pytest.mark.parametrize("T", [1.0, 4.0])
def test_disagreement_matches_numpy(kind, T):
    rng = np.random.default_rng(0)
    t, s = 3 * rng.normal(size=(7, 10)), 3 * rng.normal(size=(7, 10))
    got = dfk.disagreement_torch(torch.tensor(t), torch.tensor(s), kind, T).item()
    assert got == pytest.approx(ref.data_free_kd_losses(t, s, kind, T)[0], rel=1e-10)
    with pytest.raises(ValueError):
        dfk.disagreement_torch(torch.tensor(t), torch.tensor(s), "l2")


def test_bn_statistics_loss_torch_matches_numpy_and_batchnorm():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(9, 5))
    mu, var = rng.normal(size=5), rng.uniform(0, 2, 5)
    got = dfk.bn_statistics_loss_torch(torch.tensor(f), torch.tensor(mu), torch.tensor(var)).item()
    assert got == pytest.approx(ref.bn_statistics_loss(f, mu, var), rel=1e-10)
    # the stored statistics are what a BatchNorm1d (momentum 1, one full batch) keeps, with the biased variance
    set_seed(0)
    model = MLP(64, [8], 10)
    X = rng.uniform(size=(30, 64)).astype(np.float32)
    mean, var_b = dfk.stored_statistics(model, X)
    bn = torch.nn.BatchNorm1d(8, momentum=1.0)
    bn.train()
    with torch.no_grad():
        bn(model.net[0](torch.tensor(X)))
    torch.testing.assert_close(mean, bn.running_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(var_b, bn.running_var * 29 / 30, rtol=1e-5, atol=1e-6)


def test_generator_outputs_pixels():
    set_seed(0)
    g = dfk.Generator(z_dim=4, hidden=8)
    x = g(torch.randn(5, 4))
    assert x.shape == (5, 64) and bool(((x >= 0) & (x <= 1)).all())


def test_train_data_free_moves_the_student_and_leaves_the_teacher():
    set_seed(0)
    teacher, student = MLP(64, [16], 10), MLP(64, [8], 10)
    before_t = [p.detach().clone() for p in teacher.parameters()]
    before_s = [p.detach().clone() for p in student.parameters()]
    stats = dfk.stored_statistics(teacher, np.random.default_rng(0).uniform(size=(20, 64)))
    dfk.train_data_free(teacher, student, iters=2, batch=8, bn_weight=1.0, stats=stats, student_steps=2)
    assert all(torch.equal(a, b) for a, b in zip(before_t, teacher.parameters()))
    assert all(p.requires_grad for p in teacher.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before_s, student.parameters()))


def test_nasty_training_with_numpy_gradient_equals_autograd_of_the_torch_loss():
    """One epoch driven by reference_impl's NumPy gradient reaches the same weights as autograd on the torch loss."""
    rng = np.random.default_rng(2)
    X, y = rng.uniform(size=(20, 64)).astype(np.float32), rng.integers(0, 10, 20)
    set_seed(0)
    normal = MLP(64, [8], 10)
    set_seed(1)
    a = MLP(64, [8], 10).double()
    set_seed(1)
    b = MLP(64, [8], 10).double()
    dfk.train_nasty_teacher(ref.nasty_teacher_grad, a, normal, X, y, epochs=1, lr=1e-2, batch=20, T=4.0, omega=0.5,
                            seed=0)
    opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    Xt = torch.tensor(X, dtype=torch.float64)
    with torch.no_grad():
        normal_logits = normal(torch.tensor(X)).double()
    loss = dfk.nasty_teacher_loss_torch(b(Xt), normal_logits, torch.tensor(y), 4.0, 0.5)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)


def test_train_linear_and_distill_dataset_lower_the_loss():
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(60, 6))
    y = np.argmax(X[:, :3], axis=1)
    W = dfk.train_linear(ref.softmax_ce_grad, X, y, np.zeros((6, 3)), 1.0, 50)
    assert ref.softmax_ce_grad(X, W, y)[0] < ref.softmax_ce_grad(X, np.zeros((6, 3)), y)[0]
    assert dfk.linear_accuracy(W, X, y) > 0.6
    X_syn, y_syn, losses = dfk.distill_dataset(ref.distill_grad, X, y, 1, steps=3, lr=1.0, iters=40, outer_lr=0.05,
                                               batch=60, init_std=0.0, seed=0)
    assert X_syn.shape == (3, 6) and list(y_syn) == [0, 1, 2] and X_syn.min() >= 0 and X_syn.max() <= 1
    assert losses[-1] < losses[0]  # init_std 0: every outer step sees the same W0, so the loss is deterministic
