"""Tests of labkit.pruning: masked training, smaller dense MLPs, activations and counts.

Oracles: a NumPy forward pass written here (ReLU MLP), parameter counts by hand, and the
defining property of masked training (pruned weights stay exactly 0, the others move).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit.pruning import (count_params, get_weights, hidden_activations, linear_layers, mlp_from_arrays,
                            random_masks, set_weights, train_masked)
from labkit.training import MLP, predict_logits, set_seed

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0).astype(np.int64)
    return X, y


def _numpy_forward(weights, biases, X):
    h, hidden = np.asarray(X, dtype=np.float64), []
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.T + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
            hidden.append(h)
    return hidden, h


def test_train_masked_keeps_pruned_weights_at_zero_and_trains_the_rest():
    X, y = _data()
    set_seed(0)
    model = MLP(6, [8], 3)
    before = get_weights(model)
    rng = np.random.default_rng(1)
    masks = [rng.random(w.shape) < 0.5 for w in before]
    train_masked(model, masks, X, y, epochs=3, lr=1e-2, batch_size=16, seed=0)
    after = get_weights(model)
    for w0, w1, m in zip(before, after, masks):
        assert np.all(w1[~m] == 0.0), "pruned weights must be exactly 0 after training"
        assert np.mean(np.abs(w1[m] - w0[m]) > 1e-6) > 0.9, "surviving weights should have been trained"


def test_train_masked_with_a_teacher_and_bad_masks():
    from labkit.distillation_torch import kd_loss_torch

    X, y = _data()
    set_seed(0)
    teacher, student = MLP(6, [8], 3), MLP(6, [4], 3)
    masks = [np.ones(w.shape, dtype=bool) for w in get_weights(student)]
    masks[0][0] = False
    train_masked(student, masks, X, y, epochs=1, lr=1e-2, batch_size=16, seed=0, teacher=teacher,
                 loss_fn=lambda s, t, yy: kd_loss_torch(s, t, yy, T=2.0, alpha=0.5))
    assert np.all(get_weights(student)[0][0] == 0.0)
    with pytest.raises(ValueError):
        train_masked(student, masks[:1], X, y, epochs=1, lr=1e-2, batch_size=16, seed=0)
    with pytest.raises(ValueError):
        train_masked(student, [m.astype(float) * 2 for m in masks], X, y, epochs=1, lr=1e-2, batch_size=16, seed=0)


def test_mlp_from_arrays_and_hidden_activations_match_a_numpy_forward_pass():
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=(5, 6)), rng.normal(size=(3, 5)), rng.normal(size=(4, 3))]
    biases = [rng.normal(size=5), rng.normal(size=3), rng.normal(size=4)]
    X, _ = _data(10)
    model = mlp_from_arrays(weights, biases)
    hidden, logits = _numpy_forward([w.astype(np.float32) for w in weights], [b.astype(np.float32) for b in biases], X)
    acts = hidden_activations(model, X)
    assert [a.shape for a in acts] == [(10, 5), (10, 3), (10, 4)]
    for got, exp in zip(acts, hidden + [logits]):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(acts[-1], predict_logits(model, X), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        mlp_from_arrays([weights[0], weights[2]], [biases[0], biases[2]])  # 5 outputs feed a layer taking 3


def test_count_params_by_hand():
    set_seed(0)
    model = MLP(4, [3], 2)
    assert count_params(model) == {"dense": 4 * 3 + 3 + 3 * 2 + 2, "nonzero": 23, "weights_nonzero": 18}
    masks = [np.zeros((3, 4), dtype=bool), np.ones((2, 3), dtype=bool)]
    assert count_params(model, masks) == {"dense": 23, "nonzero": 6 + 5, "weights_nonzero": 6}
    set_weights(model, [np.zeros((3, 4)), np.ones((2, 3))])
    assert count_params(model)["weights_nonzero"] == 6
    assert len(linear_layers(model)) == 2


def test_random_masks_exact_counts_and_determinism():
    ws = [np.zeros((4, 5)), np.zeros(7)]
    a = random_masks(ws, [0.5, 0.3], seed=3)
    b = random_masks(ws, [0.5, 0.3], seed=3)
    assert [int((~m).sum()) for m in a] == [10, 2]  # round(0.5 * 20), round(0.3 * 7) = round(2.1)
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x, z)
    with pytest.raises(ValueError):
        random_masks(ws, [0.5], seed=0)


def test_set_weights_checks_shapes():
    set_seed(0)
    model = MLP(4, [3], 2)
    with pytest.raises(ValueError):
        set_weights(model, [np.zeros((4, 3)), np.zeros((2, 3))])
    w = [np.full((3, 4), 0.5), np.full((2, 3), -1.0)]
    set_weights(model, w)
    for got, exp in zip(get_weights(model), w):
        np.testing.assert_array_equal(got, exp)
    assert isinstance(linear_layers(model)[0], torch.nn.Linear)
