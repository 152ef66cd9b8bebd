"""Knowledge distillation II in PyTorch: what Lab 2's experiments train with.

The torch twins of the graded NumPy functions of ``distillation_ii.py`` (same formulas and
conventions: batch means, smooth-L1 with delta = 1, distinct pairs and triples, peers' and
teachers' distributions as constants), plus a generic training loop for losses that need more
than logits — hidden features (FitNets, RKD) or several networks at once (mutual learning).
This module imports only ``torch`` and ``labkit.training``.

    set_seed(0)
    student = MLP(64, [16], 10)
    loss = lambda xb, yb: F.cross_entropy(student(xb), yb)
    train_with_loss([student], X, y, loss, epochs=30, lr=1e-2, batch_size=64, seed=0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .training import MLP, _as_features, _as_labels, _check_int, _check_positive_float

__all__ = [
    "dml_losses_torch", "fitnet_hint_stage", "hidden_features", "hint_loss_torch", "rkd_angle_loss_torch",
    "rkd_distance_loss_torch", "train_cohort", "train_with_loss",
]


def hidden_features(model: MLP, x: torch.Tensor) -> torch.Tensor:
    """The last hidden layer's activations of a labkit MLP (after its ReLU): (B, D) -> (B, hidden[-1])."""
    if not isinstance(model, MLP) or not model.hidden:
        raise ValueError("hidden_features needs a labkit MLP with at least one hidden layer")
    return model.net[:-1](x)  # every layer but the output Linear


def hint_loss_torch(teacher_features: torch.Tensor, regressed_student: torch.Tensor) -> torch.Tensor:
    """FitNets hint loss 1/N sum_n 1/2 ||u_n - r(v_n)||^2, given r(v) already computed; the teacher is detached."""
    return 0.5 * (teacher_features.detach() - regressed_student).pow(2).sum(dim=1).mean()


def _smooth_l1(x: torch.Tensor) -> torch.Tensor:
    return F.smooth_l1_loss(x, torch.zeros_like(x), reduction="mean", beta=1.0)


def rkd_distance_loss_torch(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Park et al.'s distance-wise RKD loss over the distinct pairs (torch.pdist's order); teacher detached."""
    d_s = F.pdist(student)  # (P,)
    with torch.no_grad():
        d_t = F.pdist(teacher)
        d_t = d_t / d_t.mean()
    return _smooth_l1(d_s / d_s.mean() - d_t)


def _vertex_cosines(e: torch.Tensor) -> torch.Tensor:
    diff = e.unsqueeze(1) - e.unsqueeze(0)  # (N, N, D): diff[i, j] = e_i - e_j
    unit = F.normalize(diff, p=2, dim=2)  # zero vectors stay zero
    return torch.einsum("ijd,kjd->ijk", unit, unit)  # (N, N, N): cosine at vertex j


def rkd_angle_loss_torch(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Park et al.'s angle-wise RKD loss over ordered triples of distinct indices; teacher detached."""
    N = student.shape[0]
    idx = torch.arange(N)
    distinct = (idx[:, None, None] != idx[None, :, None]) & (idx[None, :, None] != idx[None, None, :]) \
        & (idx[:, None, None] != idx[None, None, :])  # (N, N, N)
    with torch.no_grad():
        c_t = _vertex_cosines(teacher)
    return _smooth_l1((_vertex_cosines(student) - c_t)[distinct])


def dml_losses_torch(cohort_logits: Sequence[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """Deep mutual learning: L_k = CE(z_k, y) + 1/(K-1) sum_{j != k} KL(p_j || p_k), peers detached; shape (K,)."""
    K = len(cohort_logits)
    logp = [F.log_softmax(z, dim=-1) for z in cohort_logits]
    losses = []
    for k in range(K):
        loss = F.nll_loss(logp[k], labels)
        for j in range(K):
            if j != k:
                loss = loss + F.kl_div(logp[k], logp[j].detach(), reduction="batchmean", log_target=True) / (K - 1)
        losses.append(loss)
    return torch.stack(losses)


def train_with_loss(
    modules: Sequence[nn.Module],
    X: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    on_step: Callable[[], None] | None = None,
) -> list[float]:
    """Train the parameters of ``modules`` with Adam on ``loss_fn(x_batch, y_batch)``, deterministic for a seed.

    The batch order is drawn from ``seed`` as in ``labkit.training.train_classifier`` (the same seed
    gives the same batches there and here). ``on_step()``, if given, is called after every
    optimiser step (e.g. to update an EMA teacher). Modules are in train mode while training and
    left in eval mode. Returns the mean training loss of each epoch.
    """
    epochs = _check_int("epochs", epochs, 1)
    lr = _check_positive_float("lr", lr)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0)
    Xt = _as_features("X", X)  # (N, D)
    yt = _as_labels("y", y, Xt.shape[0])  # (N,)
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    N, history = Xt.shape[0], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            for m in modules:
                m.train()
            order, total = torch.randperm(N, generator=shuffle), 0.0
            for start in range(0, N, batch_size):
                idx = order[start : start + batch_size]  # (B,)
                loss = loss_fn(Xt[idx], yt[idx])
                if not torch.isfinite(loss):
                    raise ValueError(f"the loss became {loss.item()}; try a smaller lr (got {lr})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if on_step is not None:
                    on_step()
                total += float(loss.detach()) * len(idx)
            history.append(total / N)
    for m in modules:
        m.eval()
    return history


def fitnet_hint_stage(student: MLP, teacher: MLP, X: np.ndarray, *, epochs: int, lr: float, batch_size: int,
                      seed: int) -> list[float]:
    """FitNets stage 1 (Romero et al., 2015): train the student's hidden layers and a linear regressor so
    that the regressed last hidden layer of the student matches the teacher's last hidden layer (the hint).

    The student's output layer is not touched; the regressor is thrown away afterwards. Uses no labels.
    """
    with torch.no_grad():
        d_t = hidden_features(teacher, _as_features("X", X)[:1]).shape[1]
    regressor = nn.Linear(student.hidden[-1], d_t)
    body = student.net[:-1]
    teacher.eval()

    def loss_fn(xb, yb):
        with torch.no_grad():
            u = hidden_features(teacher, xb)
        return hint_loss_torch(u, regressor(body(xb)))

    y_dummy = np.zeros(len(X), dtype=np.int64)
    return train_with_loss([body, regressor], X, y_dummy, loss_fn, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)


def train_cohort(models: Sequence[nn.Module], X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                 batch_size: int, seed: int) -> list[float]:
    """Deep mutual learning: train K models together, each on CE + mean KL from its (detached) peers.

    The per-model losses are summed before one backward pass; since every peer term is detached,
    each model's gradient is that of its own loss L_k (Zhang et al., 2018, Algorithm 1 updates
    the students in turn; doing it simultaneously is the common implementation).
    """
    def loss_fn(xb, yb):
        return dml_losses_torch([m(xb) for m in models], yb).sum()

    return train_with_loss(list(models), X, y, loss_fn, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
