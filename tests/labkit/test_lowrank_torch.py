"""Tests of labkit.lowrank (Lab 4's PyTorch side) against NumPy products, torch conv2d and by-hand counts.

The factor functions are numpy.linalg.svd truncations written here, not the reference: labkit must
work with whatever the student's functions return.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.lowrank import (
    LowRankConv2d,
    LowRankLinear,
    SmallCNN,
    Tucker2Conv2d,
    compress_mlp,
    layer_inputs,
    linear_layers,
    magnitude_mask,
    prune_mlp,
    weight_count,
    weight_matrices,
)
from labkit.training import MLP, predict_logits, set_seed, train_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def svd_factors(W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :rank] * S[:rank], Vt[:rank]


def data_aware_factors(X: np.ndarray, W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    _, _, Qt = np.linalg.svd(X @ W, full_matrices=False)
    return W @ Qt[:rank].T, Qt[:rank]


@pytest.fixture()
def mlp():
    set_seed(0)
    return MLP(6, [5, 4], 3)


def test_low_rank_linear_computes_x_w1_w2_plus_b():
    """LowRankLinear.from_factors(W1, W2, b)(x) should be x @ W1 @ W2 + b, with r (m + n) weights."""
    rng = np.random.default_rng(0)
    W1, W2, b = rng.standard_normal((5, 2)), rng.standard_normal((2, 3)), rng.standard_normal(3)
    x = rng.standard_normal((4, 5))
    layer = LowRankLinear.from_factors(W1, W2, b)
    out = layer(torch.from_numpy(x).float()).detach().numpy()
    np.testing.assert_allclose(out, x @ W1 @ W2 + b, rtol=1e-5, atol=1e-5)
    assert weight_count(layer) == 2 * (5 + 3)
    assert layer.extra_repr() == "5 -> 2 -> 3"


def test_low_rank_conv_equals_the_composed_conv():
    """LowRankConv2d.from_factors(K1, K2) should equal F.conv2d with the kernel sum_s K2[o, s] K1[s]."""
    rng = np.random.default_rng(1)
    K1, K2 = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((4, 2, 1, 1))
    b = rng.standard_normal(4)
    layer = LowRankConv2d.from_factors(K1, K2, bias=b, padding=1)
    x = torch.from_numpy(rng.standard_normal((2, 3, 5, 6))).float()
    composed = np.einsum("os,sihw->oihw", K2[:, :, 0, 0], K1)
    expected = F.conv2d(x, torch.from_numpy(composed).float(), torch.from_numpy(b).float(), padding=1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)
    assert weight_count(layer) == 2 * 3 * 9 + 4 * 2


def test_tucker2_conv_equals_the_reconstructed_conv():
    """Tucker2Conv2d.from_factors should equal F.conv2d with the kernel core x_0 U_out x_1 U_in."""
    rng = np.random.default_rng(7)
    core, U_out, U_in = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((5, 3)), rng.standard_normal((4, 2))
    b = rng.standard_normal(5)
    layer = Tucker2Conv2d.from_factors(core, U_out, U_in, bias=b, padding=1)
    kernel = np.einsum("stab,os,it->oiab", core, U_out, U_in)  # (5, 4, 3, 3)
    x = torch.from_numpy(rng.standard_normal((2, 4, 6, 5))).float()
    expected = F.conv2d(x, torch.from_numpy(kernel).float(), torch.from_numpy(b).float(), padding=1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)
    assert weight_count(layer) == 4 * 2 + 2 * 3 * 9 + 3 * 5


def test_full_rank_compression_keeps_the_logits(mlp):
    """Factorising every layer at full rank should not change the model's outputs; the original is untouched."""
    X = np.random.default_rng(2).standard_normal((7, 6))
    before = predict_logits(mlp, X)
    full = compress_mlp(mlp, [5, 4, 3], svd_factors)
    np.testing.assert_allclose(predict_logits(full, X), before, rtol=1e-4, atol=1e-5)
    assert all(isinstance(m, torch.nn.Linear) for m in mlp.net if not isinstance(m, torch.nn.ReLU))
    np.testing.assert_array_equal(predict_logits(mlp, X), before)


def test_compression_counts_and_none_keeps_a_layer_dense(mlp):
    """Rank r on a (m, n) layer stores r (m + n) weights; None keeps the layer's m n."""
    low = compress_mlp(mlp, [2, None, 1], svd_factors)
    assert weight_count(low) == 2 * (6 + 5) + 5 * 4 + 1 * (4 + 3)
    assert weight_count(mlp) == 6 * 5 + 5 * 4 + 4 * 3


def test_layer_inputs_are_what_each_linear_layer_sees(mlp):
    """layer_inputs should give X, relu(X W0 + b0), relu(h1 W1 + b1) for a 2-hidden-layer MLP."""
    X = np.random.default_rng(3).standard_normal((5, 6))
    Ws = weight_matrices(mlp)
    bs = [layer.bias.detach().double().numpy() for layer in linear_layers(mlp)]
    h1 = np.maximum(X @ Ws[0] + bs[0], 0)
    h2 = np.maximum(h1 @ Ws[1] + bs[1], 0)
    got = layer_inputs(mlp, X)
    assert [g.shape for g in got] == [(5, 6), (5, 5), (5, 4)]
    for g, e in zip(got, [X, h1, h2]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_data_aware_compression_uses_the_calibration_inputs(mlp):
    """With calibration data, factorise is called as factorise(X_i, W, rank): on X_i the layer's output
    error is then the smallest a rank-r layer can reach (numpy.linalg.svd of X_i W)."""
    X = np.random.default_rng(4).standard_normal((20, 6))
    calib = layer_inputs(mlp, X)
    low = compress_mlp(mlp, [2, None, None], data_aware_factors, calibration=calib)
    W = weight_matrices(mlp)[0]
    first = low.net[0]
    W_low = (first.first.weight.T @ first.second.weight.T).detach().double().numpy()
    Y = calib[0] @ W
    best = np.sqrt(np.sum(np.linalg.svd(Y, compute_uv=False)[2:] ** 2))
    np.testing.assert_allclose(np.linalg.norm(Y - calib[0] @ W_low), best, rtol=1e-4)


def test_magnitude_mask_keeps_the_largest():
    """magnitude_mask should keep exactly `keep` entries, none smaller in magnitude than a dropped one; ties go to
    the earlier entry."""
    W = np.array([[0.5, -3.0, 1.0], [2.0, -1.0, 0.1]])
    np.testing.assert_array_equal(magnitude_mask(W, 3), [[False, True, True], [True, False, False]])
    np.testing.assert_array_equal(magnitude_mask(W, 0), np.zeros((2, 3), bool))
    assert magnitude_mask(W, 6).all()
    rng = np.random.default_rng(5)
    for keep in range(0, 21, 4):
        A = rng.standard_normal((4, 5))
        mask = magnitude_mask(A, keep)
        assert mask.sum() == keep
        if 0 < keep < A.size:
            assert np.abs(A[mask]).min() >= np.abs(A[~mask]).max()


def test_pruned_weights_stay_zero_through_fine_tuning(mlp):
    """prune_mlp should keep keep[i] weights per layer, and fine-tuning with train_classifier must not revive the
    others."""
    X = np.random.default_rng(6).standard_normal((32, 6))
    y = np.arange(32) % 3
    pruned = prune_mlp(mlp, [7, None, 5])
    assert weight_count(pruned) == 7 + 5 * 4 + 5
    train_classifier(pruned, X, y, epochs=3, lr=1e-2, batch_size=8, seed=0)
    assert weight_count(pruned) == 7 + 5 * 4 + 5
    first = linear_layers(pruned)[0]
    assert int(torch.count_nonzero(first.weight)) == 7


def test_small_cnn_takes_flat_digits():
    """SmallCNN should map (B, 64) rows to (B, 10) logits and have conv weights 1*16*9 + 16*32*9 and a 512 x 10 head."""
    set_seed(0)
    model = SmallCNN()
    assert model(torch.zeros(3, 64)).shape == (3, 10)
    assert weight_count(model) == 16 * 9 + 32 * 16 * 9 + 512 * 10


@pytest.mark.parametrize("call", [
    lambda m: compress_mlp(m, [1, 1], svd_factors),
    lambda m: compress_mlp(m, [7, None, None], svd_factors),
    lambda m: compress_mlp(m, [0, None, None], svd_factors),
    lambda m: prune_mlp(m, [31, None, None]),
    lambda m: LowRankLinear(4, 3, 4),
    lambda m: LowRankLinear.from_factors(np.ones((3, 2)), np.ones((3, 2))),
    lambda m: magnitude_mask(np.ones((2, 2)), -1),
    lambda m: Tucker2Conv2d.from_factors(np.ones((2, 2, 3, 3)), np.ones((4, 3)), np.ones((3, 2))),
])
def test_bad_arguments_raise_value_error(mlp, call):
    """Wrong rank counts, ranks out of range, too many kept weights and mismatched factors raise ValueError."""
    with pytest.raises(ValueError):
        call(mlp)
