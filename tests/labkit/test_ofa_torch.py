"""labkit.ofa: the elastic supernet against plain torch modules (independent oracles), extraction, sorting."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from labkit.ofa import ElasticMLP, all_architectures, canonical, decode, extract_subnet, one_hot, sort_supernet
from reference_impl import ofa as ref


def _model(seed=0):
    torch.manual_seed(seed)
    return ElasticMLP(d_in=6, max_width=5, max_depth=3, d_out=4).eval()


def test_subnet_forward_is_the_sliced_mlp():
    m = _model()
    x = torch.randn(7, 6)
    widths, depth = [3, 2, 5], 2
    # oracle: build the subnet layer by layer with nn.Linear and copied corners of the weights
    h, n_in = x, 6
    for l in range(depth):
        lin = nn.Linear(n_in, widths[l])
        lin.weight.data, lin.bias.data = m.hidden[l].weight.data[: widths[l], :n_in], m.hidden[l].bias.data[: widths[l]]
        h, n_in = torch.relu(lin(h)), widths[l]
    head = nn.Linear(n_in, 4)
    head.weight.data, head.bias.data = m.head.weight.data[:, :n_in], m.head.bias.data
    with torch.no_grad():
        torch.testing.assert_close(m(x, widths, depth), head(h))
        torch.testing.assert_close(extract_subnet(m, widths, depth, ref.elastic_linear)(x), head(h))


def test_sorting_keeps_the_largest_network_and_orders_channels():
    m = _model(1)
    x = torch.randn(9, 6)
    with torch.no_grad():
        before = m(x).clone()
        sort_supernet(m, ref.sort_channels)
        torch.testing.assert_close(m(x), before, rtol=1e-5, atol=1e-5)
    for layer in m.hidden:
        norms = layer.weight.detach().abs().sum(1).numpy()
        assert np.all(np.diff(norms) <= 1e-6)


def test_architectures_are_distinct_subnets_and_encode_consistently():
    archs = all_architectures([4, 8, 16], [1, 2, 3])
    assert len(archs) == 3 + 9 + 27
    assert len({canonical(g, [1, 2, 3]) for g in archs}) == len(archs)
    n_choices = [3, 3, 3, 3]
    for g in archs:
        widths, depth = decode(g, [4, 8, 16], [1, 2, 3])
        enc = one_hot(g, n_choices, [1, 2, 3])
        assert enc.sum() == depth + 1 and enc.shape == (12,)
        assert len(widths) == 3 and depth in (1, 2, 3)
