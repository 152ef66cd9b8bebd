"""A small, deterministic PyTorch training loop for the labs' experiments (CPU, numpy in).

Not graded: the labs call it to train teachers, students and baselines on the shipped data, so
that every experiment cell is a few lines. It is deliberately plain (Adam, fixed epochs, no
scheduler, no early stopping), so a student can read it in one go.

Determinism: for one ``seed`` on one machine (CPU, same ``torch`` thread count) two runs give
bit-identical weights. Weight initialisation happens when the model is built, so seed that with
``set_seed`` first; ``train_classifier`` seeds its own batch shuffling and any stochastic layers
(dropout) from its ``seed`` argument without touching the caller's global random state.

    set_seed(0)
    model = MLP(64, [32], 10)                                   # init drawn from seed 0
    hist = train_classifier(model, X, y, epochs=30, lr=1e-2, batch_size=64, seed=0)
    accuracy(model, X_test, y_test)

Distillation: pass ``teacher=`` and ``loss_fn=``, e.g. ``labkit.distillation_torch``'s
``kd_loss_torch``; it is called as ``loss_fn(student_logits, teacher_logits, labels)`` on each
batch, with the teacher in eval mode and no gradient through it.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["MLP", "TrainHistory", "accuracy", "predict_logits", "set_seed", "train_classifier"]

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# argument checks (ValueError that names the argument and what it got), shared by labkit's modules


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def as_features(name: str, X: object) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (N, D), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    X = X.astype(np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return torch.from_numpy(np.ascontiguousarray(X))  # (N, D) float32


def as_labels(name: str, y: object, n: int) -> torch.Tensor:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the features, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer class labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a label {int(y.min())}")
    return torch.from_numpy(np.ascontiguousarray(y.astype(np.int64)))  # (N,)


def check_model(name: str, model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _output_width(model: nn.Module, X: torch.Tensor, name: str) -> int:
    """Run one row through ``model`` (eval mode, no grad) to learn its class count; clear error if D is wrong."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(X[:1])
    except RuntimeError as exc:
        raise ValueError(f"{name} cannot take inputs of shape (N, {X.shape[1]}): {exc}") from exc
    finally:
        model.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"{name} must return logits of shape (N, C), got shape {tuple(out.shape)}")
    return int(out.shape[1])


# ---------------------------------------------------------------------------------------------
# public API


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch's CPU generator with ``seed``.

    The thread count (``torch.set_num_threads``) is left alone.

    Raises:
        ValueError: if ``seed`` is not an int in [0, 2**32).
    """
    seed = check_int("seed", seed, 0)
    if seed >= 2**32:
        raise ValueError(f"seed must be < 2**32 (NumPy's limit), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class MLP(nn.Module):
    """A multilayer perceptron: Linear → ReLU → … → Linear, returning logits.

    ``MLP(64, [256, 256], 10)`` is 64 → 256 → 256 → 10; ``MLP(64, [], 10)`` is a linear
    (softmax-regression) model. Weights use torch's default Linear initialisation, drawn
    from torch's global generator (seed it with ``set_seed``).
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, 1)
        out_features = check_int("out_features", out_features, 1)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must be a sequence of layer widths, e.g. [32], got {hidden!r}")
        widths = [check_int(f"hidden[{i}]", h, 1) for i, h in enumerate(hidden)]
        layers: list[nn.Module] = []
        d = in_features
        for h in widths:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, out_features))
        self.net = nn.Sequential(*layers)
        self.in_features, self.hidden, self.out_features = in_features, tuple(widths), out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, D) -> (B, C)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {' -> '.join(map(str, self.hidden + (self.out_features,)))}"


@dataclass
class TrainHistory:
    """Per-epoch record of a ``train_classifier`` run.

    ``train_loss[e]``: the mean training loss over epoch e (batches weighted by size).
    ``val_accuracy[e]``: accuracy on (X_val, y_val) after epoch e; empty when no validation set was given.
    """

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


def train_classifier(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    loss_fn: LossFn | None = None,
    teacher: nn.Module | None = None,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> TrainHistory:
    """Train ``model`` in place with Adam on (X, y) for a fixed number of epochs.

    Each epoch visits the training set once in a fresh random order (drawn from ``seed``), in
    mini-batches of ``batch_size`` (the last one may be smaller; ``batch_size >= N`` is full batch).

    Loss: cross-entropy on the labels; or, when ``teacher`` is given,
    ``loss_fn(student_logits, teacher_logits, labels)`` with ``teacher_logits`` computed in eval
    mode under ``torch.no_grad()`` (the teacher is never updated; its train/eval mode is restored
    afterwards). The model is left in eval mode.

    Args:
        model: the network to train (its parameters are updated in place).
        X: features (N, D), any real dtype (converted to float32).
        y: integer labels (N,) in [0, C).
        epochs: number of passes over the data, >= 1.
        lr: Adam learning rate, > 0.
        batch_size: mini-batch size, >= 1.
        seed: seeds the batch order and any stochastic layers (dropout); the caller's global
            random state is left untouched.
        loss_fn: ``(student_logits, teacher_logits, labels) -> scalar tensor``; required with
            ``teacher`` and only allowed with it.
        teacher: a trained network whose logits the loss distils from.
        X_val, y_val: optional validation set (both or neither); its accuracy is recorded per epoch.

    Returns:
        a TrainHistory with the per-epoch training loss and validation accuracy.

    Raises:
        ValueError: on a bad argument (named in the message): wrong shapes, non-integer labels,
            labels >= the model's output width, epochs/batch_size < 1, lr <= 0, a teacher without
            a loss_fn or a loss_fn without a teacher, X_val without y_val, a non-finite loss.
    """
    model = check_model("model", model)
    epochs = check_int("epochs", epochs, 1)
    lr = check_positive_float("lr", lr)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    if teacher is not None and loss_fn is None:
        raise ValueError("a teacher needs a loss_fn(student_logits, teacher_logits, labels), e.g. kd_loss_torch")
    if loss_fn is not None and teacher is None:
        raise ValueError("loss_fn is the distillation loss and needs teacher=; without a teacher the loss is cross-entropy")
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")

    Xt = as_features("X", X)  # (N, D)
    yt = as_labels("y", y, Xt.shape[0])  # (N,)
    C = _output_width(model, Xt, "model")
    if int(yt.max()) >= C:
        raise ValueError(f"y has label {int(yt.max())} but the model has only {C} outputs")
    if X_val is not None:
        Xv = as_features("X_val", X_val)
        yv = as_labels("y_val", y_val, Xv.shape[0])
        if Xv.shape[1] != Xt.shape[1]:
            raise ValueError(f"X_val has {Xv.shape[1]} features but X has {Xt.shape[1]}")

    teacher_logits = None
    if teacher is not None:
        teacher = check_model("teacher", teacher)
        # The teacher is fixed and (in eval mode) deterministic, so its logits are computed once.
        teacher_logits = predict_logits(teacher, Xt)  # (N, C)
        if teacher_logits.shape != (Xt.shape[0], C):
            raise ValueError(f"teacher returns {teacher_logits.shape[1]} classes but the model returns {C}")
        teacher_logits = torch.from_numpy(teacher_logits)

    history = TrainHistory()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    N = Xt.shape[0]
    with torch.random.fork_rng(devices=[]):  # dropout etc. draw from `seed`; caller's state restored
        torch.manual_seed(seed)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(N, generator=shuffle)  # (N,)
            total = 0.0
            for start in range(0, N, batch_size):
                idx = order[start : start + batch_size]  # (B,)
                logits = model(Xt[idx])  # (B, C)
                if teacher_logits is None:
                    loss = nn.functional.cross_entropy(logits, yt[idx])
                else:
                    loss = loss_fn(logits, teacher_logits[idx], yt[idx])
                if not torch.isfinite(loss):
                    raise ValueError(f"the loss became {loss.item()}; try a smaller lr (got {lr})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            history.train_loss.append(total / N)
            if X_val is not None:
                history.val_accuracy.append(accuracy(model, Xv, yv))
    model.eval()
    return history


def predict_logits(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """The model's logits on X as a float32 NumPy array (N, C), in eval mode without gradients.

    The model's train/eval mode is restored afterwards.
    """
    model = check_model("model", model)
    Xt = as_features("X", X)  # (N, D)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(Xt)  # (N, C)
    finally:
        model.train(was_training)
    return logits.numpy()


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Share of rows of X whose argmax logit equals the label: 1/N sum_n [argmax_c z_n,c == y_n].

    Ties go to the lowest class index (np.argmax). Returns a Python float in [0, 1].
    """
    logits = predict_logits(model, X)  # (N, C)
    labels = as_labels("y", y, logits.shape[0]).numpy()
    return float((logits.argmax(axis=1) == labels).mean())
