"""Lab 6's experiment procedures at the quick size, against independent oracles (torch, brute force)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.dynamic import predict
from labkit.experiments import Figures
from labkit.experiments import lab06
from reference_impl import dynamic as ref

matplotlib.use("Agg")
CFG = lab06.Config.quick()


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return digits_splits(seed=0)


def test_softmax_matches_torch():
    z = np.random.default_rng(0).normal(size=(3, 5, 10)) * 30
    np.testing.assert_allclose(lab06.softmax(z), torch.softmax(torch.from_numpy(z), dim=-1).numpy(), atol=1e-12)


def test_exits_tradeoff_spans_the_static_costs(data):
    figures = Figures()
    probs, costs = lab06.train_exits(data, CFG, figures)
    assert set(probs) == {(m, s) for m in ("branchy", "self-distill") for s in CFG.seeds}
    assert all(p.shape == (3, len(data.y_test), 10) for p in probs.values())
    assert np.all(np.diff(costs) > 0)
    curves = lab06.tradeoff(ref.exit_decisions, ref.confidence_exit_decisions, ref.expected_cost, probs, costs,
                            data.y_test, CFG)
    for rows in curves.values():
        # the most permissive threshold sends everything out at exit 0, the strictest to the end
        assert rows[-1][3] == pytest.approx(costs[0]) and rows[0][3] == pytest.approx(costs[-1])
    last_exit = np.mean([(probs["branchy", s][2].argmax(1) == data.y_test).mean() for s in CFG.seeds])
    assert curves["branchy", "entropy"][0][1] == pytest.approx(last_exit)


def test_gates_in_numpy_agree_with_torch_and_ste_with_autograd(data):
    gated = lab06.train_gates(data, CFG)
    assert set(gated) == set(CFG.gate_lambdas)
    assert lab06.gates_against_torch(ref.skip_gate_forward, ref.skip_block_output, gated[0.2], data.X_test)
    _, gates = predict(gated[0.2], data.X_test)
    flipped = lambda z: 1.0 - ref.skip_gate_forward(z)  # noqa: E731 - a wrong gate must be caught
    if 0 < gates.mean() < 1:
        assert not lab06.gates_against_torch(flipped, ref.skip_block_output, gated[0.2], data.X_test)
    assert lab06.ste_against_autograd(ref.ste_gate_grad) < 1e-12
    assert lab06.ste_against_autograd(lambda z, g: g) > 0.1  # the identity STE is not the sigmoid one


def test_routing_drops_fewer_tokens_with_more_capacity(data):
    figures = Figures()
    lab06.routing(ref.switch_route, ref.load_balancing_loss, data, CFG, figures)
    for alpha in CFG.balance_alphas:
        small, large = (figures[f"switch_alpha{alpha:g}_cf{cf:g}_dropped"] for cf in CFG.capacity_factors)
        assert 0 <= large <= small <= 1
