"""labkit.quantization against torch's fake quantizers and the NumPy reference's gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from labkit.quantization import LSQQuantizer, QuantLinear, fake_quant_ste, ptq_weights, quantized_layers, to_qat
from labkit.training import MLP, accuracy, set_seed, train_classifier
from reference_impl.quantization import fake_quant_grad, lsq_grads


def test_fake_quant_ste_matches_torch_forward_and_backward():
    x = torch.linspace(-3.1, 4.3, 41, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    ours = fake_quant_ste(x, torch.tensor(0.25, dtype=torch.float64), 3, 0, 15)
    theirs = torch.fake_quantize_per_tensor_affine(x2, 0.25, 3, 0, 15)
    torch.testing.assert_close(ours, theirs)
    g = torch.cos(torch.arange(41.0, dtype=torch.float64))
    ours.backward(g)
    theirs.backward(g)
    torch.testing.assert_close(x.grad, x2.grad)
    np.testing.assert_array_equal(x.grad.numpy(), fake_quant_grad(x.detach().numpy(), g.numpy(), 0.25, 3, 4))


def test_lsq_quantizer_gradients_match_the_reference():
    v = torch.tensor([-3.0, -0.4, 0.6, 2.0, 0.3], dtype=torch.float64, requires_grad=True)
    q = LSQQuantizer(3).double()
    q(v.detach())  # initialise the step from the data
    with torch.no_grad():
        q.step.fill_(0.7)
    g = torch.tensor([1.0, -2.0, 0.5, 3.0, 1.5], dtype=torch.float64)
    q(v).backward(g)
    grad_v, grad_s = lsq_grads(v.detach().numpy(), g.numpy(), 0.7, 3)
    np.testing.assert_allclose(v.grad.numpy(), grad_v)
    assert float(q.step.grad) == pytest.approx(grad_s)


def test_lsq_initial_step_is_twice_the_mean_over_sqrt_qp():
    v = torch.tensor([1.0, -3.0])
    q = LSQQuantizer(4)
    q(v)
    assert float(q.step) == pytest.approx(2 * 2.0 / np.sqrt(7))


def test_quant_linear_weights_sit_on_a_per_channel_grid():
    set_seed(0)
    layer = nn.Linear(6, 3)
    ql = QuantLinear(layer, 4)
    W = ql.quantized_weight().detach()
    scale = layer.weight.detach().abs().amax(dim=1, keepdim=True) / 7
    codes = W / scale
    torch.testing.assert_close(codes, torch.round(codes))
    assert codes.abs().max() <= 7
    x = torch.randn(2, 6)
    torch.testing.assert_close(ql(x), x @ W.T + layer.bias.detach())


def test_to_qat_and_ptq_copy_and_keep_the_original():
    set_seed(0)
    model = MLP(64, [16], 10)
    before = [p.detach().clone() for p in model.parameters()]
    qat = to_qat(model, 4, "lsq")
    assert sum(isinstance(m, QuantLinear) for m in qat.modules()) == 2
    ptq = ptq_weights(model, lambda W: np.round(W * 4) / 4)
    for layer in quantized_layers(ptq):
        w = layer.weight.detach().numpy() * 4
        np.testing.assert_allclose(w, np.round(w), atol=1e-5)
    for p, b in zip(model.parameters(), before):
        torch.testing.assert_close(p.detach(), b)
    with pytest.raises(ValueError):
        ptq_weights(model, lambda W: W[:1])
    with pytest.raises(ValueError):
        to_qat(model, 1)


def test_qat_trains_with_the_course_loop():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    set_seed(0)
    model = to_qat(MLP(8, [8], 2), 2, "ste")
    train_classifier(model, X, y, epochs=20, lr=1e-2, batch_size=32, seed=0)
    assert accuracy(model, X, y) > 0.9  # a linearly separable task survives 2-bit (ternary) weights
