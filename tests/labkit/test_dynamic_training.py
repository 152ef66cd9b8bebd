"""Tests of labkit.dynamic, the PyTorch networks and losses of the Lab 6 experiments.

The torch twins agree with the NumPy reference in float64; the straight-through gate has the hard
value and the sigmoid's gradient; the networks' MAC counts are checked by hand; the Switch layer
really leaves dropped tokens on the residual path; training is deterministic for a seed and lowers
the loss.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference_impl.dynamic as ref
from labkit.dynamic import (
    GatedResidualMLP,
    MultiExitMLP,
    SwitchMLP,
    branchy_loss_torch,
    load_balancing_loss_torch,
    predict,
    self_distillation_loss_torch,
    straight_through_gate,
    switch_assignment_torch,
    train_gated,
    train_multi_exit,
    train_switch,
)
from labkit.training import set_seed

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from oracle_strategies import SETTINGS, logit_values  # noqa: E402


@SETTINGS
@given(data=st.data())
def test_branchy_loss_torch_equals_numpy(data):
    E, N, C = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5)), data.draw(st.integers(2, 5))
    z = data.draw(hnp.arrays(np.float64, (E, N, C), elements=logit_values))
    y = data.draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    w = data.draw(hnp.arrays(np.float64, (E,), elements=st.floats(0, 2)))
    got = branchy_loss_torch(torch.from_numpy(z), torch.from_numpy(y), w.tolist()).item()
    assert got == pytest.approx(ref.branchy_loss(z, y, w), rel=1e-10, abs=1e-12)


def test_self_distillation_loss_is_branchy_at_alpha_zero_and_teacher_gets_only_ce():
    torch.manual_seed(0)
    z = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3])
    a = self_distillation_loss_torch(z, y, [1.0, 0.5, 1.0], alpha=0.0)
    assert a.item() == pytest.approx(branchy_loss_torch(z, y, [1.0, 0.5, 1.0]).item(), rel=1e-12)
    # with alpha = 1 the last exit's gradient is that of its own cross-entropy only (the teacher is detached)
    loss = self_distillation_loss_torch(z, y, [1.0, 1.0, 1.0], alpha=1.0)
    (g,) = torch.autograd.grad(loss, z)
    (g_ce,) = torch.autograd.grad(torch.nn.functional.cross_entropy(z[2], y), z)
    assert torch.allclose(g[2], g_ce[2])


@SETTINGS
@given(z=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-30, 30)))
def test_straight_through_gate_value_and_gradient(z):
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    m = straight_through_gate(zt)
    np.testing.assert_allclose(m.detach().numpy(), ref.skip_gate_forward(z), atol=1e-15)
    g = np.linspace(-1, 1, len(z))
    m.backward(torch.from_numpy(g))
    np.testing.assert_allclose(zt.grad.numpy(), ref.ste_gate_grad(z, g), rtol=1e-9, atol=1e-15)


@SETTINGS
@given(data=st.data(), cf=st.sampled_from([0.25, 0.5, 1.0, 1.25, 2.0]))
def test_switch_assignment_and_balance_loss_equal_numpy(data, cf):
    T, E = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 5))
    z = data.draw(hnp.arrays(np.float64, (T, E), elements=st.integers(-2, 2).map(float) | logit_values))
    got = switch_assignment_torch(torch.from_numpy(z), cf).numpy()
    np.testing.assert_array_equal(got, ref.switch_route(z, cf))
    assert load_balancing_loss_torch(torch.from_numpy(z)).item() == pytest.approx(ref.load_balancing_loss(z), rel=1e-10)


def test_multi_exit_macs_by_hand():
    net = MultiExitMLP(64, [32, 128, 128], 10)
    stage = [64 * 32, 32 * 128, 128 * 128]
    head = [32 * 10, 128 * 10, 128 * 10]
    expected = [sum(stage[: e + 1]) + sum(head[: e + 1]) for e in range(3)]
    assert net.macs_per_exit().tolist() == expected
    assert net(torch.zeros(5, 64)).shape == (3, 5, 10)
    with pytest.raises(ValueError):
        MultiExitMLP(64, [], 10)


def test_gated_mlp_macs_and_gate_shapes():
    g = GatedResidualMLP(64, 64, 4, 10)
    assert g.block_macs() == 2 * 64 * 64
    assert g.fixed_macs() == 64 * 64 + 4 * 64 + 64 * 10
    logits, gates = g(torch.zeros(3, 64))
    assert logits.shape == (3, 10) and gates.shape == (4, 3)
    assert set(gates.detach().unique().tolist()) <= {0.0, 1.0}


def test_switch_layer_dropped_tokens_stay_on_the_residual_path():
    set_seed(0)
    sw = SwitchMLP(8, 6, 2, 5, 3, capacity_factor=0.5)
    x = torch.randn(8, 8)
    with torch.no_grad():
        h = torch.relu(sw.embed(x))
        r = sw.router(h)
        assign = switch_assignment_torch(r, 0.5)
        logits, r2 = sw(x)
    assert torch.equal(r, r2)
    dropped = assign == -1
    assert dropped.any()  # capacity 2 per expert for 8 tokens: at least 4 are dropped
    assert torch.allclose(logits[dropped], sw.head(h[dropped]))
    p = torch.softmax(r, dim=1)
    kept = torch.nonzero(~dropped).squeeze(1)
    for t in kept.tolist():
        i = int(assign[t])
        expected = sw.head(h[t] + p[t, i] * sw.experts[i](h[t]))
        assert torch.allclose(logits[t], expected, atol=1e-6)


def _toy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return X, y


@pytest.mark.parametrize("kind", ["exit", "distill", "gated", "switch"])
def test_training_is_deterministic_and_lowers_the_loss(kind):
    X, y = _toy()

    def run():
        set_seed(1)
        if kind in ("exit", "distill"):
            net = MultiExitMLP(8, [8, 8], 2)
            hist = train_multi_exit(net, X, y, epochs=15, lr=1e-2, batch_size=32, seed=1, weights=[1, 1],
                                    distill=kind == "distill")
        elif kind == "gated":
            net = GatedResidualMLP(8, 8, 2, 2)
            hist = train_gated(net, X, y, epochs=15, lr=1e-2, batch_size=32, seed=1, compute_weight=0.1)
        else:
            net = SwitchMLP(8, 8, 2, 8, 2)
            hist = train_switch(net, X, y, epochs=15, lr=1e-2, batch_size=32, seed=1, balance_weight=0.01)
        return net, hist

    (a, ha), (b, hb) = run(), run()
    assert ha == hb
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert ha[-1] < ha[0]
    out = predict(a, X, batch_size=40)
    first = out if isinstance(out, np.ndarray) else out[0]
    assert first.shape[-1] == 2 and np.all(np.isfinite(first))


def test_predict_concatenates_exits_and_gates_on_the_batch_axis():
    X, _ = _toy()
    set_seed(0)
    net = MultiExitMLP(8, [4, 4, 4], 2)
    assert predict(net, X, batch_size=40).shape == (3, 96, 2)
    g = GatedResidualMLP(8, 4, 3, 2)
    logits, gates = predict(g, X, batch_size=40)
    assert logits.shape == (96, 2) and gates.shape == (3, 96)
    full_logits, full_gates = predict(g, X)
    np.testing.assert_allclose(logits, full_logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(gates, full_gates)


def test_bad_weights_rejected():
    with pytest.raises(ValueError):
        branchy_loss_torch(torch.zeros(2, 3, 4), torch.zeros(3, dtype=torch.int64), [1.0])
    with pytest.raises(ValueError):
        train_gated(GatedResidualMLP(8, 4, 1, 2), *_toy(), epochs=1, lr=1e-2, batch_size=8, seed=0,
                    compute_weight=math.nan)
