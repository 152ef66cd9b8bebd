"""Tests for labdatasets.synthetic with independent oracles.

Easy/hard: a least-squares linear classifier fit here must do better on easy
samples than on hard ones. Planted op: the target is recomputed here with
``np.convolve`` / explicit Python loops from the returned parameters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labdatasets import PLANTED_OPS, make_easy_hard, make_planted_op_task

# --------------------------------------------------------------------- make_easy_hard


def _lstsq_classifier(X, y):
    A = np.c_[X.astype(np.float64), np.ones(len(X))]
    w, *_ = np.linalg.lstsq(A, 2.0 * y - 1.0, rcond=None)
    score = A @ w
    return (score > 0).astype(np.int64), np.abs(score) / np.linalg.norm(w[:-1])


@pytest.mark.parametrize("n_features", [1, 2, 8])
def test_easy_hard_shapes_and_dtypes(n_features):
    X, y, is_hard = make_easy_hard(101, seed=3, n_features=n_features, hard_fraction=0.3)
    assert X.shape == (101, n_features) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    assert is_hard.shape == (101,) and is_hard.dtype == np.bool_
    assert set(np.unique(y)) == {0, 1}
    assert abs(int(y.sum()) - (101 - int(y.sum()))) <= 1  # balanced
    assert int(is_hard.sum()) == 30  # round(0.3 * 101) = 30
    assert np.isfinite(X).all()


def test_easy_hard_deterministic_and_seed_dependent():
    a = make_easy_hard(500, seed=7)
    b = make_easy_hard(500, seed=7)
    c = make_easy_hard(500, seed=np.int32(7))
    for p, q, r in zip(a, b, c):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(p, r)
    d = make_easy_hard(500, seed=8)
    assert not np.array_equal(a[0], d[0])
    assert make_easy_hard(10)[0].tolist() == make_easy_hard(10, seed=0)[0].tolist()


@pytest.mark.parametrize("n_features", [2, 5])
def test_easy_samples_are_easier(n_features):
    X, y, is_hard = make_easy_hard(4000, seed=1, n_features=n_features, hard_fraction=0.5)
    pred, dist = _lstsq_classifier(X, y)
    correct = pred == y
    acc_easy, acc_hard = correct[~is_hard].mean(), correct[is_hard].mean()
    assert acc_easy >= 0.99
    assert 0.5 <= acc_hard <= 0.8  # ~1/3 of hard samples sit on the wrong side
    assert acc_easy - acc_hard >= 0.2
    # easy samples are far from the fitted boundary, hard ones near it
    assert np.median(dist[~is_hard]) > 1.0 > 0.6 > np.median(dist[is_hard])


def test_easy_hard_true_boundary_geometry():
    # The fitted normal direction separates easy samples by a margin; the direction
    # orthogonal to it carries no class information.
    X, y, is_hard = make_easy_hard(3000, seed=5, n_features=2, hard_fraction=0.2)
    A = np.c_[X.astype(np.float64), np.ones(len(X))]
    w = np.linalg.lstsq(A, 2.0 * y - 1.0, rcond=None)[0][:2]
    u = w / np.linalg.norm(w)
    t = X @ u
    s = 2 * y - 1
    assert np.min((s * t)[~is_hard]) > 1.2
    v = np.array([-u[1], u[0]])
    ortho = X @ v
    assert abs(ortho[y == 0].mean() - ortho[y == 1].mean()) < 0.15


@pytest.mark.parametrize("frac, n_hard", [(0.0, 0), (1.0, 50), (0.5, 25), (0.01, 1), (0.009, 0)])
def test_easy_hard_fraction_edges(frac, n_hard):
    _, _, is_hard = make_easy_hard(50, hard_fraction=frac)
    assert int(is_hard.sum()) == n_hard


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), frac=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_easy_hard_hard_count_property(n, frac, seed):
    X, y, is_hard = make_easy_hard(n, seed=seed, hard_fraction=frac)
    assert int(is_hard.sum()) == math.floor(frac * n + 0.5)
    assert len(X) == len(y) == n


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n": 0}, "n"),
        ({"n": -5}, "n"),
        ({"n": 2.0}, "n"),
        ({"n": True}, "n"),
        ({"n": 10, "hard_fraction": -0.1}, "hard_fraction"),
        ({"n": 10, "hard_fraction": 1.5}, "hard_fraction"),
        ({"n": 10, "hard_fraction": float("nan")}, "hard_fraction"),
        ({"n": 10, "hard_fraction": "0.5"}, "hard_fraction"),
        ({"n": 10, "seed": -1}, "seed"),
        ({"n": 10, "seed": 1.5}, "seed"),
        ({"n": 10, "seed": "0"}, "seed"),
        ({"n": 10, "seed": None}, "seed"),
        ({"n": 10, "n_features": 0}, "n_features"),
    ],
)
def test_easy_hard_bad_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_easy_hard(**kwargs)


# --------------------------------------------------------------------- planted op


def _oracle_op(x: np.ndarray, op: str, kernel) -> np.ndarray:
    """One signal, independently: np.convolve for linear ops, a loop for max pooling."""
    L = len(x)
    if op == "identity":
        return x.copy()
    if op in ("conv3", "conv5"):
        # cross-correlation == convolution with the flipped kernel
        return np.convolve(x, kernel[::-1], mode="same")
    if op == "avgpool3":
        return np.convolve(x, np.ones(3), mode="same") / 3.0
    if op == "maxpool3":
        return np.array([max(x[max(0, i - 1) : i + 2]) for i in range(L)])
    raise AssertionError(op)


def _oracle_features(X: np.ndarray, op: str, kernel) -> np.ndarray:
    X = X.astype(np.float64)
    return np.maximum(np.stack([_oracle_op(row, op, kernel) for row in X]), 0.0)


def test_planted_ops_constant():
    assert PLANTED_OPS == ("identity", "conv3", "conv5", "maxpool3", "avgpool3")


@pytest.mark.parametrize("op", PLANTED_OPS)
def test_planted_regression_target_recomputed(op):
    X, y, params = make_planted_op_task(300, seed=11, op=op, return_params=True)
    assert X.shape == (300, 16) and X.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.float32
    assert params["op"] == op
    if op in ("conv3", "conv5"):
        assert params["kernel"].shape == (int(op[-1]),)
        assert np.all(np.abs(params["kernel"]) >= 0.5)
    else:
        assert params["kernel"] is None
    expected = _oracle_features(X, op, params["kernel"]) @ params["readout"] + params["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert y.std() > 0.1
    assert abs(y.mean()) < 0.25 * y.std()  # bias centres the target


@pytest.mark.parametrize("op", PLANTED_OPS)
def test_planted_classification_target_recomputed(op):
    X, y, params = make_planted_op_task(
        400, seed=2, op=op, task="classification", n_classes=4, length=12, return_params=True
    )
    assert X.shape == (400, 12) and y.dtype == np.int64
    assert params["readout"].shape == (12, 4) and params["bias"].shape == (4,)
    scores = _oracle_features(X, op, params["kernel"]) @ params["readout"] + params["bias"]
    np.testing.assert_array_equal(y, scores.argmax(axis=1))
    assert set(np.unique(y)) == {0, 1, 2, 3}


def test_planted_op_is_identifiable():
    """Only the planted op's features (with its true kernel) explain the target linearly."""
    seed = 4
    kernels = {
        op: make_planted_op_task(1, seed=seed, op=op, return_params=True)[2]["kernel"]
        for op in ("conv3", "conv5")
    }
    for planted in PLANTED_OPS:
        X, y = make_planted_op_task(600, seed=seed, op=planted)
        rel_residual = {}
        for cand in PLANTED_OPS:
            A = np.c_[_oracle_features(X, cand, kernels.get(cand)), np.ones(len(X))]
            coef = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
            rel_residual[cand] = np.linalg.norm(A @ coef - y) / np.linalg.norm(y - y.mean())
        assert rel_residual[planted] < 1e-4, (planted, rel_residual)
        assert min(v for k, v in rel_residual.items() if k != planted) > 0.05, (planted, rel_residual)


def test_planted_deterministic_shared_across_ops_and_prefix_stable():
    X1, y1 = make_planted_op_task(200, seed=9, op="conv5")
    X2, y2 = make_planted_op_task(200, seed=9, op="conv5")
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = make_planted_op_task(50, seed=9, op="conv5")
    np.testing.assert_array_equal(X3, X1[:50])
    np.testing.assert_allclose(y3, y1[:50], rtol=1e-6, atol=1e-6)
    # same X for every op, different targets
    ys = {}
    for op in PLANTED_OPS:
        X, ys[op] = make_planted_op_task(200, seed=9, op=op)
        np.testing.assert_array_equal(X, X1)
    for a in PLANTED_OPS:
        for b in PLANTED_OPS:
            if a < b:
                assert not np.allclose(ys[a], ys[b])
    Xo, _ = make_planted_op_task(200, seed=10, op="conv5")
    assert not np.array_equal(Xo, X1)
    # default op is conv3
    np.testing.assert_array_equal(make_planted_op_task(20)[1], make_planted_op_task(20, 0, "conv3")[1])


def test_planted_noise():
    X0, y0 = make_planted_op_task(5000, seed=1, op="maxpool3")
    X1, y1 = make_planted_op_task(5000, seed=1, op="maxpool3", noise=0.5)
    np.testing.assert_array_equal(X0, X1)
    diff = (y1 - y0).astype(np.float64)
    assert abs(diff.std() - 0.5) < 0.03 and abs(diff.mean()) < 0.03


def test_unknown_op_names_valid_ops():
    with pytest.raises(ValueError) as info:
        make_planted_op_task(10, op="conv7")
    msg = str(info.value)
    assert "conv7" in msg
    for op in PLANTED_OPS:
        assert op in msg


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n": 0}, "n"),
        ({"n": 3.0}, "n"),
        ({"n": 10, "op": None}, "op"),
        ({"n": 10, "seed": -2}, "seed"),
        ({"n": 10, "seed": 0.5}, "seed"),
        ({"n": 10, "length": 4}, "length"),
        ({"n": 10, "noise": -1.0}, "noise"),
        ({"n": 10, "noise": float("inf")}, "noise"),
        ({"n": 10, "task": "ranking"}, "task"),
        ({"n": 10, "task": "classification", "n_classes": 1}, "n_classes"),
    ],
)
def test_planted_bad_args(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_planted_op_task(**kwargs)
