"""Tests of labkit.training: the labs' small deterministic training loop."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one intra-op thread is faster, and avoids oversubscription under pytest -n 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _blobs(n_per_class: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs in 2-D: linearly separable with a wide margin."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])
    X = np.concatenate([c + 0.5 * rng.standard_normal((n_per_class, 2)) for c in centres])
    y = np.repeat(np.arange(3), n_per_class)
    return X.astype(np.float32), y.astype(np.int64)


def _trained(seed: int, **kwargs) -> MLP:
    X, y = _blobs()
    set_seed(seed)
    model = MLP(2, [8], 3)
    train_classifier(model, X, y, epochs=5, lr=1e-2, batch_size=16, seed=seed, **kwargs)
    return model


def _ce_plus_mse(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A stand-in distillation loss (any (s, t, y) -> scalar works)."""
    return torch.nn.functional.cross_entropy(student, labels) + ((student - teacher) ** 2).mean()


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_weights():
    """Two runs with the same seed should end with bit-identical weights."""
    a, b = _trained(3), _trained(3)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_different_seeds_give_different_weights():
    """Different seeds should give different weights (the seed is actually used)."""
    a, b = _trained(1), _trained(2)
    assert any(not torch.equal(pa, pb) for pa, pb in zip(a.state_dict().values(), b.state_dict().values()))


def test_seed_controls_batch_order_not_just_init():
    """With the same initial weights, the training seed alone should change the result (batch order)."""
    X, y = _blobs()
    set_seed(0)
    init = MLP(2, [8], 3).state_dict()
    results = []
    for seed in (0, 0, 1):
        model = MLP(2, [8], 3)
        model.load_state_dict(init)
        train_classifier(model, X, y, epochs=2, lr=1e-2, batch_size=8, seed=seed)
        results.append(model.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in init)
    assert any(not torch.equal(results[0][k], results[2][k]) for k in init)


def test_distillation_run_is_deterministic():
    """Training against a teacher with the same seed should also be bit-identical."""
    teacher = _trained(7)
    a = _trained(3, teacher=teacher, loss_fn=_ce_plus_mse)
    b = _trained(3, teacher=teacher, loss_fn=_ce_plus_mse)
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_leaves_global_random_state_alone():
    """train_classifier should not advance the caller's python, numpy or torch random streams."""
    X, y = _blobs()
    set_seed(0)
    model = MLP(2, [8], 3)
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    train_classifier(model, X, y, epochs=1, lr=1e-2, batch_size=16, seed=5)
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


def test_set_seed_seeds_all_three_generators():
    """set_seed should make python random, numpy and torch draws repeat."""
    set_seed(11)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(11)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


# --- learning ------------------------------------------------------------------------------------


def test_learns_a_linearly_separable_set_to_100_percent():
    """On well-separated blobs the loop should reach 100% training accuracy and lower the loss."""
    X, y = _blobs()
    set_seed(0)
    model = MLP(2, [16], 3)
    hist = train_classifier(model, X, y, epochs=30, lr=1e-2, batch_size=16, seed=0)
    assert accuracy(model, X, y) == 1.0
    assert len(hist.train_loss) == 30
    assert hist.train_loss[-1] < hist.train_loss[0]


def test_linear_model_learns_it_too():
    """MLP with no hidden layer is softmax regression, which separates the blobs as well."""
    X, y = _blobs()
    set_seed(0)
    model = MLP(2, [], 3)
    train_classifier(model, X, y, epochs=60, lr=5e-2, batch_size=len(X), seed=0)
    assert accuracy(model, X, y) == 1.0


def test_validation_accuracy_is_recorded_per_epoch():
    """With X_val/y_val, val_accuracy has one entry per epoch and its last entry matches accuracy()."""
    X, y = _blobs()
    Xv, yv = _blobs(seed=1)
    set_seed(0)
    model = MLP(2, [8], 3)
    hist = train_classifier(model, X, y, epochs=4, lr=1e-2, batch_size=32, seed=0, X_val=Xv, y_val=yv)
    assert len(hist.val_accuracy) == 4
    assert hist.val_accuracy[-1] == accuracy(model, Xv, yv)


def test_teacher_is_not_updated_and_receives_no_gradient():
    """Distillation must leave the teacher's weights, gradients and train/eval mode untouched."""
    teacher = _trained(7)
    teacher.train()
    teacher.zero_grad(set_to_none=True)  # its own training left gradients behind
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    seen: list[torch.Tensor] = []

    def loss_fn(s, t, y):
        seen.append(t)
        return _ce_plus_mse(s, t, y)

    _trained(3, teacher=teacher, loss_fn=loss_fn)
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())
    assert teacher.training
    assert seen and all(not t.requires_grad for t in seen)
    assert seen[0].shape[1] == 3


def test_teacher_logits_given_to_loss_fn_match_the_batch():
    """loss_fn receives the teacher's eval-mode logits of exactly the rows in the student's batch."""
    X, y = _blobs()
    teacher = _trained(7)
    expected = torch.from_numpy(predict_logits(teacher, X))
    idx_of = {tuple(row.tolist()): i for i, row in enumerate(expected)}
    set_seed(0)
    student = MLP(2, [4], 3)
    checked = []

    def loss_fn(s, t, labels):
        rows = [idx_of[tuple(r.tolist())] for r in t]
        assert torch.equal(labels, torch.from_numpy(y[rows]))
        checked.append(len(rows))
        return torch.nn.functional.cross_entropy(s, labels)

    train_classifier(student, X, y, epochs=1, lr=1e-2, batch_size=50, seed=0, teacher=teacher, loss_fn=loss_fn)
    assert checked == [50, 50, 20]


# --- predict_logits / accuracy -------------------------------------------------------------------


def test_accuracy_equals_a_manual_argmax_count():
    """accuracy() should equal the share of rows whose argmax logit equals the label."""
    X, y = _blobs()
    set_seed(0)
    model = MLP(2, [8], 3)  # untrained: some rows right, some wrong
    logits = model(torch.from_numpy(X)).detach().numpy()
    y_noisy = y.copy()
    y_noisy[::3] = (y_noisy[::3] + 1) % 3
    manual = sum(int(np.argmax(logits[i]) == y_noisy[i]) for i in range(len(y))) / len(y)
    assert accuracy(model, X, y_noisy) == pytest.approx(manual, abs=0)
    assert 0.0 < manual < 1.0


def test_predict_logits_matches_forward_and_restores_mode():
    """predict_logits returns model(X) as float32 numpy (N, C) and leaves train mode as it was."""
    X, _ = _blobs()
    set_seed(0)
    model = MLP(2, [8], 3)
    model.train()
    out = predict_logits(model, X.astype(np.float64))
    assert out.dtype == np.float32 and out.shape == (len(X), 3)
    np.testing.assert_array_equal(out, model(torch.from_numpy(X)).detach().numpy())
    assert model.training


def test_mlp_shapes():
    """MLP(64, [32, 16], 10) maps (B, 64) to (B, 10) through Linear layers of those widths."""
    model = MLP(64, [32, 16], 10)
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 10)]


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"seed": "0"}, "seed"),
        ({"X_val": np.zeros((3, 2), np.float32)}, "X_val"),
        ({"loss_fn": _ce_plus_mse}, "teacher"),
    ],
)
def test_bad_training_arguments_raise_value_error(kwargs, match):
    """A bad argument should raise ValueError naming it."""
    X, y = _blobs()
    args = {"epochs": 1, "lr": 1e-2, "batch_size": 16, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        train_classifier(MLP(2, [4], 3), X, y, **args)


def test_teacher_without_loss_fn_raises():
    """A teacher without a loss_fn is ambiguous and should raise ValueError."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="loss_fn"):
        train_classifier(MLP(2, [4], 3), X, y, epochs=1, lr=1e-2, batch_size=16, seed=0, teacher=MLP(2, [4], 3))


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.zeros((10, 2), np.float32), np.zeros(9, np.int64), "y must have shape"),
        (np.zeros(10, np.float32), np.zeros(10, np.int64), "2-D"),
        (np.zeros((0, 2), np.float32), np.zeros(0, np.int64), "non-empty"),
        (np.zeros((10, 2), np.float32), np.zeros(10, np.float32), "integer"),
        (np.zeros((10, 2), np.float32), np.full(10, 3), "only 3 outputs"),
        (np.zeros((10, 2), np.float32), np.full(10, -1), ">= 0"),
        (np.zeros((10, 5), np.float32), np.zeros(10, np.int64), "cannot take inputs"),
        (np.full((10, 2), np.nan, np.float32), np.zeros(10, np.int64), "NaN"),
    ],
)
def test_bad_data_raises_value_error(X, y, match):
    """Mismatched, empty, non-integer, out-of-range or non-finite data should raise a clear ValueError."""
    with pytest.raises(ValueError, match=match):
        train_classifier(MLP(2, [4], 3), X, y, epochs=1, lr=1e-2, batch_size=4, seed=0)


def test_teacher_with_wrong_class_count_raises():
    """A teacher whose output width differs from the student's should raise ValueError."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="teacher"):
        train_classifier(
            MLP(2, [4], 3), X, y, epochs=1, lr=1e-2, batch_size=16, seed=0, teacher=MLP(2, [4], 5), loss_fn=_ce_plus_mse
        )


@pytest.mark.parametrize(
    "args, match",
    [((0, [4], 3), "in_features"), ((2, [0], 3), "hidden"), ((2, 4, 3), "hidden"), ((2, [4], 0), "out_features")],
)
def test_bad_mlp_arguments_raise_value_error(args, match):
    """MLP should reject non-positive widths and a non-sequence hidden spec."""
    with pytest.raises(ValueError, match=match):
        MLP(*args)


def test_bad_seed_raises_value_error():
    """set_seed should reject negative, too-large, float and bool seeds."""
    for bad in (-1, 2**32, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            set_seed(bad)


def test_accuracy_rejects_mismatched_labels():
    """accuracy() with labels of the wrong length should raise ValueError."""
    with pytest.raises(ValueError, match="y must have shape"):
        accuracy(MLP(2, [4], 3), np.zeros((4, 2), np.float32), np.zeros(3, np.int64))
