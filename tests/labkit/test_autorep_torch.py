"""Tests of labkit.autorep (Lab 7): the torch twins equal the NumPy references; the training keeps its budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit.autorep import AutoRepMLP, PolyReLU, hysteresis_update_torch, relu_count, ste_mask, train_autorep
from labkit.training import MLP, set_seed
from reference_impl.autorep import dapa_gaussian_fit, hysteresis_update, ste_backward

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_hysteresis_torch_equals_reference():
    rng = np.random.default_rng(0)
    mask = rng.random(200) < 0.5
    aux = rng.choice([-0.1, 0.1, 0.0, -0.3, 0.3, 0.05], 200)
    out = hysteresis_update_torch(torch.from_numpy(mask), torch.from_numpy(aux), 0.1).numpy()
    assert np.array_equal(out, hysteresis_update(mask, aux, 0.1))


def test_ste_backward_equals_reference():
    aux = torch.tensor([-40.0, -1.0, 0.0, 2.0, 30.0], dtype=torch.float64, requires_grad=True)
    mask = aux.detach() > 0
    g = torch.tensor([1.0, -2.0, 3.0, 0.5, 1.0], dtype=torch.float64)
    m = ste_mask(aux, mask)
    assert torch.equal(m.detach(), mask.double())
    (m * g).sum().backward()
    np.testing.assert_allclose(aux.grad.numpy(), ste_backward(g.numpy(), aux.detach().numpy()), rtol=1e-12)


def test_polyrelu_switches_per_neuron():
    act = PolyReLU(2)
    with torch.no_grad():
        act.coef.copy_(torch.tensor([[0.0, 0.5, 0.0], [1.0, 2.0, 3.0]]))
        act.mask.copy_(torch.tensor([True, False]))
    x = torch.tensor([[-2.0, -2.0], [3.0, 0.5]])
    expected = torch.tensor([[0.0, 1 - 4 + 12], [3.0, 1 + 1 + 0.75]])
    assert torch.allclose(act(x), expected)


def _tiny():
    set_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return MLP(6, [8, 8], 2), X, y


def test_autorep_mlp_copies_the_relu_network():
    mlp, X, _ = _tiny()
    m = AutoRepMLP(mlp)
    with torch.no_grad():
        assert torch.allclose(m(torch.from_numpy(X)), mlp(torch.from_numpy(X)))
    m.init_polynomials(X, dapa_gaussian_fit)
    z = m.preactivations(X)[0]
    np.testing.assert_allclose(m.acts[0].coef[3].detach().numpy(),
                               dapa_gaussian_fit(float(z[:, 3].mean()), float(z[:, 3].std()), 2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("budget", [0, 5, 16])
def test_train_autorep_meets_budget_exactly(budget):
    mlp, X, y = _tiny()
    m = AutoRepMLP(mlp)
    m.init_polynomials(X, dapa_gaussian_fit)
    hist = train_autorep(m, X, y, budget=budget, search_epochs=2, finetune_epochs=1, batch_size=32)
    assert relu_count(m) == budget and len(hist["loss"]) == 3
    assert all(a.frozen for a in m.acts)


def test_train_autorep_random_mask():
    mlp, X, y = _tiny()
    m = AutoRepMLP(mlp)
    keep = np.zeros(16, bool)
    keep[[0, 9]] = True
    train_autorep(m, X, y, budget=2, finetune_epochs=1, mask_init=keep)
    assert relu_count(m) == 2 and bool(m.acts[0].mask[0]) and bool(m.acts[1].mask[1])
    with pytest.raises(ValueError):
        train_autorep(AutoRepMLP(mlp), X, y, budget=2, mask_init=np.ones(3, bool))
