"""What Lab 5's experiments run on: DARTS supernets, first-order bilevel search, random search,
latency measurement (CPU, numpy in).

Not graded. The graded exercises (softmax op weights, the mixed op, the genotype, the expected
latency and the latency losses) are NumPy functions in the notebook; the PyTorch versions here
restate the same formulas so that search can backpropagate, and each is tested equal to the
NumPy reference in tests/labkit/test_nas.py.

Two search spaces:

* ``PlantedSupernet``: one mixed op over :data:`labdatasets.PLANTED_OPS` on 1-D signals, then ReLU
  and a learned linear readout: the shape of :func:`labdatasets.make_planted_op_task`, so the best
  op is known.
* ``CellNet``: a DARTS-style network for the 8x8 digits: a conv stem, one cell of ``n_nodes``
  intermediate nodes over :data:`DIGIT_OPS` (node j takes an edge from the stem and from every
  earlier node), the nodes concatenated, 2x2 average pooling and a linear classifier. With
  ``genotype=None`` every edge is a mixed op (the supernet); with a genotype (a list of
  ``(op_name, input_state)`` pairs, node by node, as ``derive_genotype`` returns) it is the
  discrete network.

Search is first-order DARTS (Liu et al., ICLR 2019, sec. 2.3 with xi = 0): alternate one Adam step
on the architecture parameters alpha using a validation batch, then one step on the weights using
a training batch. With ``lam > 0`` the alpha step adds ProxylessNAS's latency penalty
lam * (E[lat] - ref) / ref (Cai et al., ICLR 2019).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labdatasets import PLANTED_OPS

__all__ = [
    "DIGIT_OPS", "CellNet", "PlantedSupernet", "SearchHistory", "count_steps", "expected_latency_torch",
    "measure_latencies_us", "measure_latency_us", "op_latency_table", "planted_op_importance", "random_genotype", "search_darts", "search_planted",
    "train_network",
]

DIGIT_OPS = ("none", "skip", "avgpool3", "maxpool3", "conv1x1", "conv3x3")
"""Candidate ops on an edge of the digits cell, each mapping (B, C, H, W) to (B, C, H, W)."""


def expected_latency_torch(alpha: torch.Tensor, op_latency: torch.Tensor, fixed: float = 0.0) -> torch.Tensor:
    """E[lat] = sum_l sum_i softmax(alpha_l)_i lat_l,i + fixed, differentiable in alpha (ProxylessNAS)."""
    return (torch.softmax(alpha, dim=-1) * op_latency).sum() + fixed


# ---------------------------------------------------------------------------------------------
# the planted-op search space (1-D signals)


class _Zero(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def _planted_op(name: str) -> nn.Module:
    if name == "identity":
        return nn.Identity()
    if name == "conv3":
        return nn.Conv1d(1, 1, 3, padding=1, bias=False)
    if name == "conv5":
        return nn.Conv1d(1, 1, 5, padding=2, bias=False)
    if name == "maxpool3":
        return nn.MaxPool1d(3, stride=1, padding=1)
    if name == "avgpool3":
        return nn.AvgPool1d(3, stride=1, padding=1)
    raise ValueError(f"unknown planted op {name!r}; valid ops are {', '.join(PLANTED_OPS)}")


class PlantedSupernet(nn.Module):
    """y = readout(relu(sum_i softmax(alpha)_i op_i(x))): one mixed op over PLANTED_OPS on (B, L) signals."""

    def __init__(self, length: int, ops: Sequence[str] = PLANTED_OPS, normalise: bool = True):
        super().__init__()
        self.op_names = tuple(ops)
        # DARTS puts a BatchNorm without affine parameters after each op, so that no op wins by its
        # scale alone; a learned shift before the ReLU (``shift``) restores the threshold. (A learned
        # scale as well can turn negative and kill every ReLU at once: the search then stops dead.)
        norm = (lambda: nn.BatchNorm1d(1, affine=False)) if normalise else nn.Identity
        self.ops = nn.ModuleList(nn.Sequential(_planted_op(name), norm()) for name in self.op_names)
        self.shift = nn.Parameter(torch.zeros(1))
        self.alpha = nn.Parameter(torch.zeros(len(self.op_names)))  # (K,) uniform start, as DARTS (1e-3 noise aside)
        self.readout = nn.Linear(length, 1)

    def weights(self):
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, L)
        x = x[:, None, :]  # (B, 1, L)
        outs = torch.stack([op(x) for op in self.ops])  # (K, B, 1, L)
        z = torch.tensordot(torch.softmax(self.alpha, 0), outs, dims=1)  # (B, 1, L): the mixed op
        return self.readout(F.relu(z[:, 0, :] + self.shift))[:, 0]  # (B,)


def planted_op_importance(model: PlantedSupernet, X_val, y_val) -> np.ndarray:
    """Perturbation-based selection (Wang et al., "Rethinking Architecture Selection in Differentiable
    NAS", ICLR 2021): the rise in validation MSE when op i is removed from the trained supernet
    (its weight set to 0, the others renormalised), one number per op. The op whose removal hurts
    most is the one the supernet actually relies on, whatever its alpha."""
    Xv, yv = torch.as_tensor(X_val, dtype=torch.float32), torch.as_tensor(y_val, dtype=torch.float32)
    alpha = model.alpha.detach().clone()
    with torch.no_grad():
        base = float(F.mse_loss(model(Xv), yv))
        rise = []
        for i in range(len(alpha)):
            model.alpha[i] = -torch.inf
            rise.append(float(F.mse_loss(model(Xv), yv)) - base)
            model.alpha.copy_(alpha)
    return np.array(rise)


@dataclass
class SearchHistory:
    """alpha after each epoch (row 0 = before search) and the validation loss per epoch."""

    alpha: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    expected_latency: list = field(default_factory=list)
    steps: int = 0  # optimiser steps taken (weight steps + alpha steps)
    cpu_seconds: float = 0.0


def minibatches(n: int, batch_size: int, gen: torch.Generator):
    perm = torch.randperm(n, generator=gen)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def search_planted(X_train, y_train, X_val, y_val, *, epochs: int = 20, batch_size: int = 64,
                   lr_w: float = 1e-2, lr_alpha: float = 3e-2, warmup_epochs: int = 0,
                   seed: int = 0, **net_options) -> tuple[PlantedSupernet, SearchHistory]:
    """First-order DARTS on the planted-op regression task (MSE): alpha on validation, weights on train.

    ``net_options`` go to :class:`PlantedSupernet` (e.g. ``ops=("maxpool3",)`` fits one op alone,
    whose alpha then has nothing to choose).

    The first ``warmup_epochs`` train the weights only (alpha frozen at uniform), so that the
    comparison between ops starts once each op's weights fit the task (ProxylessNAS and FBNet
    warm up the same way)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(X_train, dtype=torch.float32), torch.as_tensor(y_train, dtype=torch.float32)
    Xv, yv = torch.as_tensor(X_val, dtype=torch.float32), torch.as_tensor(y_val, dtype=torch.float32)
    model = PlantedSupernet(Xt.shape[1], **net_options)
    opt_w = torch.optim.Adam(model.weights(), lr=lr_w)
    opt_a = torch.optim.Adam([model.alpha], lr=lr_alpha)
    hist = SearchHistory(alpha=[model.alpha.detach().numpy().copy()])
    t0 = time.process_time()
    for epoch in range(epochs):
        val_batches = minibatches(len(Xv), batch_size, gen)
        for i, idx in enumerate(minibatches(len(Xt), batch_size, gen)):
            if epoch >= warmup_epochs:
                vidx = val_batches[i % len(val_batches)]
                opt_a.zero_grad()
                F.mse_loss(model(Xv[vidx]), yv[vidx]).backward()  # alpha step on validation (first order)
                opt_a.step()
                hist.steps += 1
            opt_w.zero_grad()
            F.mse_loss(model(Xt[idx]), yt[idx]).backward()  # weight step on train
            opt_w.step()
            hist.steps += 1
        with torch.no_grad():
            hist.val_loss.append(float(F.mse_loss(model(Xv), yv)))
        hist.alpha.append(model.alpha.detach().numpy().copy())
    hist.cpu_seconds = time.process_time() - t0
    return model, hist


# ---------------------------------------------------------------------------------------------
# the digits cell search space (2-D, DARTS-style)


def make_op(name: str, C: int) -> nn.Module:
    """One candidate op on C channels; convs are ReLU-conv-BN (DARTS's order), BN without affine."""
    if name == "none":
        return _Zero()
    if name == "skip":
        return nn.Identity()
    if name == "avgpool3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "maxpool3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name in ("conv1x1", "conv3x3"):
        k = 1 if name == "conv1x1" else 3
        return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C, affine=False))
    raise ValueError(f"unknown op {name!r}; valid ops are {', '.join(DIGIT_OPS)}")


def n_edges(n_nodes: int, n_inputs: int = 1) -> int:
    return sum(n_inputs + j for j in range(n_nodes))


class CellNet(nn.Module):
    """Stem conv -> one DARTS cell (mixed, or discrete from a genotype) -> 2x2 avg pool -> linear."""

    def __init__(self, C: int = 8, n_nodes: int = 3, ops: Sequence[str] = DIGIT_OPS, genotype=None, k: int = 2,
                 n_classes: int = 10):
        super().__init__()
        self.C, self.n_nodes, self.op_names = C, n_nodes, tuple(ops)
        self.kept_per_node = [min(k, 1 + j) for j in range(n_nodes)]  # derive_genotype's rule with n_inputs = 1
        self.stem = nn.Sequential(nn.Conv2d(1, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.genotype = None if genotype is None else [(str(o), int(i)) for o, i in genotype]
        if self.genotype is None:  # supernet: every edge holds every op
            self.edges = nn.ModuleList(
                nn.ModuleList(make_op(o, C) for o in self.op_names) for _ in range(n_edges(n_nodes)))
            self.alpha = nn.Parameter(1e-3 * torch.randn(n_edges(n_nodes), len(self.op_names)))  # (E, K)
        else:
            if len(self.genotype) != sum(self.kept_per_node):
                raise ValueError(f"a genotype with k = {k} has {sum(self.kept_per_node)} edges, got {len(self.genotype)}")
            self.edges = nn.ModuleList(make_op(o, C) for o, _ in self.genotype)
            self.alpha = None
        self.pool = nn.AvgPool2d(2)
        self.classifier = nn.Linear(C * n_nodes * 16, n_classes)

    def weights(self):
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, 64)
        states = [self.stem(x.view(-1, 1, 8, 8))]  # [(B, C, 8, 8)]
        if self.genotype is None:
            w = torch.softmax(self.alpha, dim=-1)  # (E, K)
            e = 0
            for j in range(self.n_nodes):
                s = 0
                for i in range(len(states)):
                    s = s + sum(w[e, k] * op(states[i]) for k, op in enumerate(self.edges[e]) if self.op_names[k] != "none")
                    e += 1
                states.append(s)
        else:
            pos = 0
            for n_kept in self.kept_per_node:
                states.append(sum(self.edges[t](states[self.genotype[t][1]]) for t in range(pos, pos + n_kept)))
                pos += n_kept
        out = torch.cat(states[1:], dim=1)  # (B, n_nodes * C, 8, 8)
        return self.classifier(self.pool(out).flatten(1))  # (B, 10)


def random_genotype(rng: np.random.Generator, n_nodes: int = 3, k: int = 2, ops: Sequence[str] = DIGIT_OPS):
    """A uniformly random genotype of the digits cell: per node k distinct inputs and a non-'none' op each."""
    usable = [o for o in ops if o != "none"]
    g = []
    for j in range(n_nodes):
        inputs = rng.choice(1 + j, size=min(k, 1 + j), replace=False)
        g += [(usable[int(rng.integers(len(usable)))], int(i)) for i in inputs]
    return g


def eval_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        acc = float((model(X).argmax(1) == y).float().mean())
    model.train()
    return acc


def search_darts(data, *, epochs: int = 6, C: int = 8, n_nodes: int = 3, batch_size: int = 64, lr_w: float = 3e-3,
                 lr_alpha: float = 3e-2, seed: int = 0, op_latency=None, lam: float = 0.0, ref_latency: float = 1.0,
                 fixed_latency: float = 0.0) -> tuple[CellNet, SearchHistory]:
    """First-order DARTS on digits: per batch one alpha step (validation) then one weight step (train).

    ``op_latency`` (E, K) per-edge op latencies switch on the ProxylessNAS penalty
    lam * (E[lat] - ref_latency) / ref_latency in the alpha step.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    Xv, yv = torch.as_tensor(data.X_val), torch.as_tensor(data.y_val)
    model = CellNet(C, n_nodes)
    opt_w = torch.optim.Adam(model.weights(), lr=lr_w)
    opt_a = torch.optim.Adam([model.alpha], lr=lr_alpha, betas=(0.5, 0.999), weight_decay=1e-3)  # DARTS's alpha optimiser
    lat = None if op_latency is None else torch.as_tensor(np.asarray(op_latency), dtype=torch.float32)
    hist = SearchHistory(alpha=[model.alpha.detach().numpy().copy()])
    t0 = time.process_time()
    for _ in range(epochs):
        val_batches = minibatches(len(Xv), batch_size, gen)
        for i, idx in enumerate(minibatches(len(Xt), batch_size, gen)):
            vidx = val_batches[i % len(val_batches)]
            opt_a.zero_grad()
            loss_a = F.cross_entropy(model(Xv[vidx]), yv[vidx])
            if lat is not None and lam > 0:
                e_lat = expected_latency_torch(model.alpha, lat, fixed_latency)
                loss_a = loss_a + lam * (e_lat - ref_latency) / ref_latency
            loss_a.backward()
            opt_a.step()
            opt_w.zero_grad()
            F.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt_w.step()
            hist.steps += 2
        hist.alpha.append(model.alpha.detach().numpy().copy())
        model.eval()
        with torch.no_grad():
            hist.val_loss.append(float(F.cross_entropy(model(Xv), yv)))
        model.train()
        if lat is not None:
            hist.expected_latency.append(float(expected_latency_torch(model.alpha.detach(), lat, fixed_latency)))
    hist.cpu_seconds = time.process_time() - t0
    return model, hist


def train_network(model: nn.Module, data, *, steps: int, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                  eval_on: str = "test") -> float:
    """Train ``model``'s weights for ``steps`` Adam steps on the train split; return its accuracy on ``eval_on``."""
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    opt = torch.optim.Adam(model.weights() if hasattr(model, "weights") else model.parameters(), lr=lr)
    done = 0
    while done < steps:
        for idx in minibatches(len(Xt), batch_size, gen):
            opt.zero_grad()
            F.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
            done += 1
            if done == steps:
                break
    X, y = getattr(data, f"X_{eval_on}"), getattr(data, f"y_{eval_on}")
    return eval_accuracy(model, torch.as_tensor(X), torch.as_tensor(y))


def count_steps(hist: SearchHistory) -> int:
    return hist.steps


# ---------------------------------------------------------------------------------------------
# latency on this machine


def measure_latency_us(module: nn.Module, x: torch.Tensor, *, warmup: int = 10, reps: int = 50) -> float:
    """Median wall time of ``module(x)`` in microseconds, after ``warmup`` untimed calls (eval, no grad)."""
    module.eval()
    with torch.no_grad():
        for _ in range(warmup):
            module(x)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            module(x)
            times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1e3


def measure_latencies_us(modules: dict, x: torch.Tensor, *, warmup: int = 10, reps: int = 20,
                         rounds: int = 5) -> dict:
    """Median latency (us) of several modules on ``x``, measured in interleaved rounds.

    On a shared machine the load drifts: measuring module A now and module B a minute later
    compares two machines. Round-robin (A, B, C, A, B, C, ...) exposes every module to the same
    drift, and the median over all rounds ignores the calls another process interrupted.
    """
    times = {name: [] for name in modules}
    for m in modules.values():
        m.eval()
    with torch.no_grad():
        for m in modules.values():
            for _ in range(warmup):
                m(x)
        for _ in range(rounds):
            for name, m in modules.items():
                for _ in range(reps):
                    t0 = time.perf_counter_ns()
                    m(x)
                    times[name].append(time.perf_counter_ns() - t0)
    return {name: float(np.median(t)) / 1e3 for name, t in times.items()}


def op_latency_table(C: int = 8, batch: int = 64, ops: Sequence[str] = DIGIT_OPS, *, warmup: int = 10,
                     reps: int = 50, seed: int = 0) -> dict[str, float]:
    """Median latency (us) of each candidate op on a (batch, C, 8, 8) input; 'none' costs 0 (it is skipped)."""
    torch.manual_seed(seed)
    x = torch.randn(batch, C, 8, 8)
    table = measure_latencies_us({o: make_op(o, C) for o in ops if o != "none"}, x, warmup=warmup, reps=reps // 5,
                                 rounds=5)
    return {o: table.get(o, 0.0) for o in ops}
