"""Dynamic computation in PyTorch: the networks and training loops of Lab 6's experiments.

Not graded. Three small networks, each with the torch twin of a graded NumPy exercise inside:

* :class:`MultiExitMLP` -- an MLP with a classifier ("exit") after every hidden layer, trained with
  BranchyNet's weighted sum of per-exit cross-entropies (:func:`branchy_loss_torch`) or with
  self-distillation from the deepest exit (:func:`self_distillation_loss_torch`, Zhang et al. 2019).
  :meth:`MultiExitMLP.macs_per_exit` gives the cumulative multiply-accumulates of each exit.
* :class:`GatedResidualMLP` -- residual blocks behind SkipNet-style hard gates (Wang et al. 2018),
  trained with the straight-through estimator (:func:`straight_through_gate`) and a compute
  penalty on the share of executed blocks.
* :class:`SwitchMLP` -- a Switch-Transformer layer (Fedus et al. 2021): top-1 routing of each token
  (here: each image) to one of E expert MLPs with a capacity limit; dropped tokens skip the layer on
  the residual path; :func:`load_balancing_loss_torch` is the auxiliary loss N * sum_i f_i P_i.

All training is full-precision Adam on CPU, deterministic for a seed (as ``labkit.training``).
Imports point one way: labkit -> labdatasets; nothing here imports ``reference_impl``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .training import as_features, as_labels, check_int, check_positive_float

__all__ = [
    "GatedResidualMLP",
    "MultiExitMLP",
    "SwitchMLP",
    "branchy_loss_torch",
    "linear_macs",
    "load_balancing_loss_torch",
    "predict",
    "self_distillation_loss_torch",
    "straight_through_gate",
    "switch_assignment_torch",
    "train_gated",
    "train_multi_exit",
    "train_switch",
]


def linear_macs(layer: nn.Linear) -> int:
    """Multiply-accumulates of one Linear layer on one input: in_features * out_features (bias ignored)."""
    return layer.in_features * layer.out_features


def _fit(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int, seed: int,
         batch_loss) -> list[float]:
    """Adam over shuffled mini-batches (order drawn from ``seed``); ``batch_loss(model, X_b, y_b)`` -> 0-d tensor.

    Returns the per-epoch mean loss; the model is left in eval mode.
    """
    epochs, batch_size = check_int("epochs", epochs, 1), check_int("batch_size", batch_size, 1)
    Xt = as_features("X", X)  # (N, D)
    yt = as_labels("y", y, Xt.shape[0])  # (N,)
    opt = torch.optim.Adam(model.parameters(), lr=check_positive_float("lr", lr))
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=gen)
        total = 0.0
        for start in range(0, len(Xt), batch_size):
            idx = order[start : start + batch_size]
            loss = batch_loss(model, Xt[idx], yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(Xt))
    model.eval()
    return history


# ---------------------------------------------------------------------------------------------
# Early exits


class MultiExitMLP(nn.Module):
    """An MLP with an exit classifier after each hidden layer.

    ``MultiExitMLP(64, [32, 128, 128], 10)`` has stages 64 -> 32 -> 128 -> 128 (Linear + ReLU each)
    and three exits, Linear(32, 10), Linear(128, 10), Linear(128, 10); the last exit is the
    ordinary network's classifier. ``forward`` returns the stacked logits of every exit, (E, B, C).
    """

    def __init__(self, in_features: int, widths: Sequence[int], n_classes: int) -> None:
        super().__init__()
        widths = [check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
        if not widths:
            raise ValueError("a multi-exit network needs at least one hidden layer (widths)")
        dims = [check_int("in_features", in_features, 1)] + widths
        self.stages = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.exits = nn.ModuleList(nn.Linear(w, check_int("n_classes", n_classes, 1)) for w in widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        h = x  # (B, D)
        for stage, head in zip(self.stages, self.exits):
            h = F.relu(stage(h))  # (B, W_e)
            out.append(head(h))  # (B, C)
        return torch.stack(out)  # (E, B, C)

    def macs_per_exit(self) -> np.ndarray:
        """Cumulative MACs per sample up to and including exit e: stages 0..e and heads 0..e (every head on the way is run)."""
        stage = np.array([linear_macs(s) for s in self.stages])
        head = np.array([linear_macs(h) for h in self.exits])
        return np.cumsum(stage + head).astype(np.float64)


def branchy_loss_torch(logits: torch.Tensor, labels: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """BranchyNet's joint loss sum_e w_e CE(logits[e], y) for logits (E, B, C); twin of ``branchy_loss``."""
    w = torch.as_tensor(weights, dtype=logits.dtype)
    if w.shape != logits.shape[:1]:
        raise ValueError(f"need one weight per exit ({logits.shape[0]}), got {tuple(w.shape)}")
    ce = torch.stack([F.cross_entropy(z, labels) for z in logits])  # (E,)
    return (w * ce).sum()


def self_distillation_loss_torch(logits: torch.Tensor, labels: torch.Tensor, weights: Sequence[float],
                                 T: float = 3.0, alpha: float = 0.5) -> torch.Tensor:
    """Self-distillation (Zhang et al. 2019, without their feature hints): the deepest exit teaches the shallow ones.

    L = CE(z_{E-1}, y) + sum_{e < E-1} w_e [(1 - alpha) CE(z_e, y) + alpha T^2 KL(p_{E-1,T} || p_{e,T})]

    The deepest exit's distribution is detached: it is trained by its own cross-entropy only.
    """
    E = logits.shape[0]
    w = list(weights)
    if len(w) != E:
        raise ValueError(f"need one weight per exit ({E}), got {len(w)}")
    teacher = F.log_softmax(logits[-1].detach() / T, dim=-1)  # (B, C)
    loss = w[-1] * F.cross_entropy(logits[-1], labels)
    for e in range(E - 1):
        kd = F.kl_div(F.log_softmax(logits[e] / T, dim=-1), teacher, reduction="batchmean", log_target=True)
        loss = loss + w[e] * ((1 - alpha) * F.cross_entropy(logits[e], labels) + alpha * T**2 * kd)
    return loss


def train_multi_exit(model: MultiExitMLP, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int,
                     seed: int, weights: Sequence[float], distill: bool = False) -> list[float]:
    """Train every exit of ``model`` jointly with Adam; returns the per-epoch mean loss.

    The loss is :func:`branchy_loss_torch` with ``weights``, or :func:`self_distillation_loss_torch`
    when ``distill``. Batch order is drawn from ``seed``; the model is left in eval mode.
    """

    def batch_loss(net, Xb, yb):
        logits = net(Xb)  # (E, B, C)
        return self_distillation_loss_torch(logits, yb, weights) if distill else branchy_loss_torch(logits, yb, weights)

    return _fit(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, batch_loss=batch_loss)


# ---------------------------------------------------------------------------------------------
# SkipNet gates


def straight_through_gate(z: torch.Tensor) -> torch.Tensor:
    """Hard gate 1[z >= 0] in the forward pass, gradient sigmoid'(z) in the backward pass (Bengio et al. 2013).

    ``hard + (s - s.detach())`` has the value of ``hard`` (up to one rounding) and the gradient of
    ``s = sigmoid(z)``; it is the torch twin of ``skip_gate_forward`` (forward) and
    ``ste_gate_grad`` (backward).
    """
    s = torch.sigmoid(z)
    hard = (z >= 0).to(z.dtype)
    return hard + (s - s.detach())


class GatedResidualMLP(nn.Module):
    """A stem, ``n_blocks`` gated residual blocks and a classifier.

    Block b maps h to f_b(h) = h + W2 relu(W1 h) (a residual MLP block); its gate is a Linear(width, 1)
    on the block's input, m = 1[z >= 0] with the straight-through gradient, and the block's output
    is m f_b(h) + (1 - m) h (SkipNet, Wang et al. 2018). ``forward`` returns (logits (B, C),
    gates (n_blocks, B)) where gates are the hard 0/1 decisions (carrying the STE gradient).
    """

    def __init__(self, in_features: int, width: int, n_blocks: int, n_classes: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = width if hidden is None else hidden
        self.stem = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, width))
                                    for _ in range(check_int("n_blocks", n_blocks, 1)))
        self.gates = nn.ModuleList(nn.Linear(width, 1) for _ in range(n_blocks))
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.stem(x))  # (B, W)
        ms = []
        for block, gate in zip(self.blocks, self.gates):
            m = straight_through_gate(gate(h).squeeze(-1))  # (B,)
            fh = h + block(h)  # (B, W)
            h = m[:, None] * fh + (1 - m[:, None]) * h
            ms.append(m)
        return self.head(h), torch.stack(ms)  # (B, C), (n_blocks, B)

    def block_macs(self) -> int:
        """MACs of one executed block (its two Linear layers) per sample."""
        return sum(linear_macs(layer) for layer in self.blocks[0] if isinstance(layer, nn.Linear))

    def fixed_macs(self) -> int:
        """MACs every sample pays: stem, every gate, the classifier."""
        return linear_macs(self.stem) + sum(linear_macs(g) for g in self.gates) + linear_macs(self.head)


def train_gated(model: GatedResidualMLP, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int,
                seed: int, compute_weight: float) -> list[float]:
    """Train with CE + compute_weight * (mean share of executed blocks), Adam; returns per-epoch mean loss."""
    if not (math.isfinite(compute_weight) and compute_weight >= 0):
        raise ValueError(f"compute_weight must be a finite number >= 0, got {compute_weight!r}")

    def batch_loss(net, Xb, yb):
        logits, gates = net(Xb)  # (B, C), (n_blocks, B)
        return F.cross_entropy(logits, yb) + compute_weight * gates.mean()

    return _fit(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, batch_loss=batch_loss)


# ---------------------------------------------------------------------------------------------
# Switch routing


def switch_assignment_torch(router_logits: torch.Tensor, capacity_factor: float) -> torch.Tensor:
    """Top-1 expert per token with capacity ceil(cf T / E), first come first served; -1 = dropped.

    The torch twin of ``switch_route`` (an int64 tensor (T,)).
    """
    T, E = router_logits.shape
    capacity = math.ceil(capacity_factor * T / E)
    expert = router_logits.argmax(dim=1)  # (T,)
    onehot = F.one_hot(expert, E)  # (T, E)
    position = (onehot.cumsum(dim=0) * onehot).sum(dim=1) - 1  # (T,)
    return torch.where(position < capacity, expert, torch.full_like(expert, -1))


def load_balancing_loss_torch(router_logits: torch.Tensor) -> torch.Tensor:
    """E * sum_i f_i P_i (Fedus et al. 2021, eq. 4); differentiable through P only. Twin of ``load_balancing_loss``."""
    T, E = router_logits.shape
    probs = F.softmax(router_logits, dim=1)  # (T, E)
    f = F.one_hot(router_logits.argmax(dim=1), E).to(probs.dtype).mean(dim=0)  # (E,)
    return E * (f * probs.mean(dim=0)).sum()


class SwitchMLP(nn.Module):
    """Embedding -> one Switch layer (E expert MLPs, top-1 routing with capacity) -> classifier.

    Each sample is one token. The Switch layer's output for a token routed to expert i is
    h + p_i(h) * expert_i(h) (the router probability scales the expert's output, which is how the
    router gets a gradient, Fedus et al. 2021 sec. 2.1); a dropped token's output is h (residual).
    ``forward`` returns (logits (B, C), router_logits (B, E)). ``capacity_factor`` is an attribute,
    so it can be changed after training.
    """

    def __init__(self, in_features: int, width: int, n_experts: int, hidden: int, n_classes: int,
                 capacity_factor: float = 1.25) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, width)
        self.router = nn.Linear(width, check_int("n_experts", n_experts, 1))
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, width))
                                     for _ in range(n_experts))
        self.head = nn.Linear(width, n_classes)
        self.capacity_factor = check_positive_float("capacity_factor", capacity_factor)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.embed(x))  # (B, W)
        r = self.router(h)  # (B, E)
        p = F.softmax(r, dim=1)  # (B, E)
        assign = switch_assignment_torch(r, self.capacity_factor)  # (B,)
        out = h
        for i, expert in enumerate(self.experts):
            idx = torch.nonzero(assign == i).squeeze(1)
            if len(idx):
                out = out.index_add(0, idx, p[idx, i : i + 1] * expert(h[idx]))
        return self.head(out), r


def train_switch(model: SwitchMLP, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int,
                 seed: int, balance_weight: float) -> list[float]:
    """Train with CE + balance_weight * load_balancing_loss_torch on each batch; returns per-epoch mean loss."""
    if not (math.isfinite(balance_weight) and balance_weight >= 0):
        raise ValueError(f"balance_weight must be a finite number >= 0, got {balance_weight!r}")

    def batch_loss(net, Xb, yb):
        logits, r = net(Xb)  # (B, C), (B, E)
        return F.cross_entropy(logits, yb) + balance_weight * load_balancing_loss_torch(r)

    return _fit(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, batch_loss=batch_loss)

def predict(model: nn.Module, X: np.ndarray, batch_size: int | None = None):
    """The model's outputs on X (eval mode, no grad) as NumPy arrays, in batches of ``batch_size`` (default: all).

    Returns what ``forward`` returns, with tensors converted to float64/int64 NumPy arrays and the
    batch axis concatenated (the axis of size B in each output).
    """
    Xt = as_features("X", X)
    bs = len(Xt) if batch_size is None else check_int("batch_size", batch_size, 1)
    was = model.training
    model.eval()
    outs = []
    try:
        with torch.no_grad():
            for start in range(0, len(Xt), bs):
                o = model(Xt[start : start + bs])
                outs.append(o if isinstance(o, tuple) else (o,))
    finally:
        model.train(was)

    result = []
    for k in range(len(outs[0])):
        parts = [o[k] for o in outs]
        axis = 0
        if isinstance(model, MultiExitMLP) or (isinstance(model, GatedResidualMLP) and k == 1):
            axis = 1  # (E, B, C) logits of every exit; (n_blocks, B) gates
        result.append(np.concatenate([t.double().numpy() for t in parts], axis=axis))
    return result[0] if len(result) == 1 else tuple(result)
