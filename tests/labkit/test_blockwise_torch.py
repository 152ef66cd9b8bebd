"""labkit.blockwise against oracles: the dense conv with the product kernel, masking instead of pruning,
weight counting, and the plain cross-entropy loop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.blockwise import (BlockCNN, SeparableConv2d, block_activations, conv_macs, prune_filters_l1,
                              train_blocks_job, train_with_schedule, with_blocks)
from labkit.training import set_seed

torch.set_num_threads(1)


def test_separable_conv_is_the_dense_conv_with_the_product_kernel():
    torch.manual_seed(0)
    layer = SeparableConv2d(3, 5).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    K = layer.pointwise.weight[:, :, 0, 0, None, None] * layer.depthwise.weight[:, 0][None]  # (5, 3, 3, 3)
    dense = torch.nn.functional.conv2d(x, K, layer.pointwise.bias, padding=1)
    torch.testing.assert_close(layer(x), dense)


def test_block_activations_chain_to_the_logits():
    set_seed(0)
    model = BlockCNN((4, 6)).eval()
    X = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    acts = block_activations(model, X)
    assert [a.shape for a in acts] == [(5, 1, 8, 8), (5, 4, 8, 8), (5, 6, 8, 8)]
    with torch.no_grad():
        logits = model.head(torch.nn.functional.max_pool2d(torch.from_numpy(acts[-1]), 2).flatten(1))
        torch.testing.assert_close(logits, model(torch.from_numpy(X)))
    # replacing a block by a copy of itself changes nothing
    same = with_blocks(model, {1: model.blocks[1]})
    with torch.no_grad():
        torch.testing.assert_close(same(torch.from_numpy(X)), model(torch.from_numpy(X)))


def test_conv_macs_counts_weights_times_pixels():
    model = BlockCNN((4, 6))
    assert conv_macs(model) == 64 * (4 * 1 * 9 + 6 * 4 * 9)


def test_pruning_equals_masking_the_smallest_filters():
    set_seed(1)
    model = BlockCNN((6, 8)).eval()
    keep = [3, 5]
    pruned = prune_filters_l1(model, keep)
    assert pruned.widths == (3, 5)
    masked = copy.deepcopy(model)
    with torch.no_grad():  # oracle: zero the pruned filters (weights and bias) in the full network
        for block, k in zip(masked.blocks, keep):
            conv = block[0]
            l1 = conv.weight.abs().sum(dim=(1, 2, 3))
            drop = torch.argsort(l1)[: conv.out_channels - k]
            conv.weight[drop] = 0
            conv.bias[drop] = 0
    X = torch.from_numpy(np.random.default_rng(2).random((7, 64)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(pruned(X), masked(X), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="one count per block"):
        prune_filters_l1(model, [3])


def test_block_training_is_deterministic_and_lowers_the_loss():
    rng = np.random.default_rng(0)
    X_in = rng.random((40, 2, 8, 8)).astype(np.float32)
    Y = np.maximum(X_in.sum(axis=1, keepdims=True).repeat(3, axis=1) - 1, 0).astype(np.float32)
    job = {"blocks": [(0, 2, 3, X_in, Y)], "epochs": 3, "lr": 1e-2, "batch_size": 16, "seed": 0}
    a, b = train_blocks_job(job), train_blocks_job(job)
    for k in a["states"][0]:
        assert torch.equal(a["states"][0][k], b["states"][0][k])
    assert a["cpu"] > 0 and a["times"][0] > 0


def test_zero_distillation_weights_train_exactly_like_cross_entropy():
    data = digits_splits(seed=0)
    runs = []
    for teacher in (None, BlockCNN((2,))):
        set_seed(0)
        model = BlockCNN((2,))
        steps = -(-len(data.y_train) // 256)
        kw = dict(teacher=teacher, weights=np.zeros(steps)) if teacher is not None else {}
        runs.append(train_with_schedule(model, data, epochs=1, lr=1e-2, batch_size=256, seed=0, **kw)[1])
    np.testing.assert_array_equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="one weight per step"):
        train_with_schedule(BlockCNN((2,)), data, epochs=1, lr=1e-2, batch_size=256, seed=0, teacher=BlockCNN((2,)),
                            weights=np.zeros(1))
