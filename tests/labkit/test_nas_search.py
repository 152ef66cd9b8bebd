"""Tests of labkit.nas, the PyTorch search code of the Lab 5 experiments.

The torch expected latency must equal the NumPy reference; the supernets' mixed op must equal the
reference mixed op applied to the ops' outputs; a discrete CellNet must follow its genotype (its
output must not depend on an edge the genotype leaves out); random genotypes must be valid for
derive_genotype's rule; search must be deterministic for a seed and move alpha; latency
measurement must return a positive median.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labdatasets import PLANTED_OPS, digits_splits, make_planted_op_task
from labkit.nas import (DIGIT_OPS, CellNet, PlantedSupernet, expected_latency_torch, measure_latency_us,
                        op_latency_table, random_genotype, search_darts, search_planted)
from reference_impl.nas import derive_genotype, expected_latency, mixed_op

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from oracle_strategies import SETTINGS  # noqa: E402


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 6), st.data())
def test_expected_latency_torch_equals_reference(L, K, data):
    a = data.draw(hnp.arrays(np.float64, (L, K), elements=st.floats(-10, 10)))
    lat = data.draw(hnp.arrays(np.float64, (L, K), elements=st.floats(0, 1000)))
    got = expected_latency_torch(torch.from_numpy(a), torch.from_numpy(lat), 3.0)
    assert float(got) == pytest.approx(expected_latency(a, lat, 3.0), rel=1e-12, abs=1e-9)


def test_planted_supernet_mixed_op_equals_reference():
    torch.manual_seed(0)
    net = PlantedSupernet(16, normalise=False).double()
    with torch.no_grad():
        net.alpha.copy_(torch.tensor([0.3, -1.0, 2.0, 0.1, 0.0]))
    x = torch.randn(4, 1, 16, dtype=torch.float64)
    outs = np.stack([op(x).detach().numpy() for op in net.ops])  # (K, 4, 1, 16)
    expected = mixed_op(outs, net.alpha.detach().numpy())
    with torch.no_grad():
        z = torch.tensordot(torch.softmax(net.alpha, 0), torch.stack([op(x) for op in net.ops]), dims=1)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-12)
    assert net(x[:, 0, :]).shape == (4,)


def test_cell_net_follows_its_genotype():
    torch.manual_seed(0)
    g = [("conv3x3", 0), ("skip", 0), ("avgpool3", 1), ("maxpool3", 2), ("conv1x1", 0)]
    net = CellNet(genotype=g).eval()
    assert len(net.edges) == 5 and net.alpha is None
    x = torch.randn(3, 64)
    assert net(x).shape == (3, 10)
    # node 2 uses states 2 and 0: zeroing the conv1x1 edge's weight changes the output, node states stay finite
    with torch.no_grad():
        before = net(x).clone()
        net.edges[4][1].weight.zero_()
        assert not torch.allclose(before, net(x))
    with pytest.raises(ValueError):
        CellNet(genotype=g[:4])


def test_cell_supernet_skips_none_and_has_one_alpha_row_per_edge():
    torch.manual_seed(0)
    net = CellNet()
    assert tuple(net.alpha.shape) == (6, len(DIGIT_OPS))
    assert net(torch.randn(2, 64)).shape == (2, 10)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_random_genotype_is_a_valid_derived_cell(seed, k):
    g = random_genotype(np.random.default_rng(seed), n_nodes=3, k=k)
    counts = [min(k, 1 + j) for j in range(3)]
    assert len(g) == sum(counts)
    pos = 0
    for j, m in enumerate(counts):
        node = g[pos : pos + m]
        assert len({i for _, i in node}) == m and all(0 <= i <= j for _, i in node)
        assert all(op in DIGIT_OPS and op != "none" for op, _ in node)
        pos += m


def test_search_planted_is_deterministic_and_moves_alpha():
    X, y = make_planted_op_task(400, seed=0, op="maxpool3", noise=0.05)
    _, h1 = search_planted(X[:200], y[:200], X[200:], y[200:], epochs=2, seed=0)
    _, h2 = search_planted(X[:200], y[:200], X[200:], y[200:], epochs=2, seed=0)
    assert len(h1.alpha) == 3 and len(h1.val_loss) == 2
    np.testing.assert_array_equal(h1.alpha[-1], h2.alpha[-1])
    assert not np.allclose(h1.alpha[0], h1.alpha[-1])
    assert h1.alpha[-1].shape == (len(PLANTED_OPS),)


def test_search_darts_with_latency_penalty_lowers_expected_latency():
    data = digits_splits(seed=0)
    lat = np.tile([0.0, 1.0, 50.0, 50.0, 100.0, 400.0], (6, 1))
    _, plain = search_darts(data, epochs=1, seed=0, op_latency=lat, lam=0.0, ref_latency=100.0)
    _, heavy = search_darts(data, epochs=1, seed=0, op_latency=lat, lam=5.0, ref_latency=100.0)
    assert heavy.expected_latency[-1] < plain.expected_latency[-1]
    g = derive_genotype(heavy.alpha[-1], list(DIGIT_OPS), k=2, n_inputs=1)
    assert len(g) == 5


def test_latency_measurement_is_positive_and_none_is_free():
    table = op_latency_table(C=4, batch=8, warmup=2, reps=5)
    assert table["none"] == 0.0
    assert all(v > 0 for k, v in table.items() if k != "none")
    assert measure_latency_us(torch.nn.Identity(), torch.zeros(2), warmup=1, reps=3) >= 0
