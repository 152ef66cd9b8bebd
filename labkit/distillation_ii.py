"""Knowledge distillation II in PyTorch: what Lab 2's experiments train with.

The torch twins of the graded NumPy functions of ``distillation_ii.py`` (same formulas and
conventions: batch means, smooth-L1 with delta = 1, distinct pairs and triples, peers' and
teachers' distributions as constants), plus a generic training loop for losses that need more
than logits — hidden features (FitNets, RKD) or several networks at once (mutual learning) —
and the three "who teaches / what is distilled" set-ups that need their own networks or loops:
born-again chains (Furlanello et al., ICML 2018), self-distillation of a multi-exit network
(Zhang et al., ICCV 2019) and attention transfer between small CNNs (Zagoruyko & Komodakis,
ICLR 2017). This module imports only ``torch`` and ``labkit``.

    set_seed(0)
    student = MLP(64, [16], 10)
    loss = lambda xb, yb: F.cross_entropy(student(xb), yb)
    train_with_loss([student], X, y, loss, epochs=30, lr=1e-2, batch_size=64, seed=0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .distillation_torch import kd_loss_torch
from .training import MLP, as_features, as_labels, check_int, check_model, check_positive_float, train_classifier

__all__ = [
    "MultiExitMLP", "SmallCNN", "attention_map_torch", "attention_transfer_loss_torch", "born_again_chain",
    "dml_losses_torch", "exit_accuracies", "fitnet_hint_stage", "hidden_features", "hint_loss_torch",
    "rkd_angle_loss_torch", "rkd_distance_loss_torch", "self_distillation_loss_torch", "train_attention_transfer",
    "train_cohort", "train_self_distillation", "train_with_loss",
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
    epochs = check_int("epochs", epochs, 1)
    lr = check_positive_float("lr", lr)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    Xt = as_features("X", X)  # (N, D)
    yt = as_labels("y", y, Xt.shape[0])  # (N,)
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
        d_t = hidden_features(teacher, as_features("X", X)[:1]).shape[1]
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


# ---------------------------------------------------------------------------------------------
# Born-again networks: the same architecture, generation after generation


def _architecture(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(p.shape)) for name, p in model.state_dict().items()]


def born_again_chain(
    make_model: Callable[[], nn.Module],
    X: np.ndarray,
    y: np.ndarray,
    *,
    generations: int,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    T: float = 1.0,
    alpha: float = 1.0,
) -> list[nn.Module]:
    """Born-again networks (Furlanello et al., "Born-Again Neural Networks", ICML 2018): a KD chain
    in which every student has its teacher's architecture.

    Generation 0 is trained on the labels (cross-entropy). Generation k = 1..G is a freshly
    initialised model of the *same* architecture, trained by Hinton's loss from generation k-1:

        L_k = (1 - alpha) CE(z_k, y) + alpha T^2 1/N sum_n KL(softmax(z_{k-1,n} / T) || softmax(z_{k,n} / T))

    (``kd_loss_torch``). The defaults T = 1, alpha = 1 are the paper's BAN: the student learns from
    the teacher's output distribution only, not from the labels. Furlanello et al. also average the
    generations' predictions (the "BAN ensemble"); do that with ``ensemble_soft_targets`` of their
    logits.

    Every generation sees the same (X, y) and gets the same number of epochs. Determinism:
    generation k's initial weights come from ``make_model()`` called under
    ``torch.manual_seed(1000 * k + seed)`` (so generation 0 starts where ``set_seed(seed);
    make_model()`` would), and its batch order from seed ``1000 * k + seed``; the caller's torch
    random state is restored afterwards.

    Args:
        make_model: builds an untrained network (B, D) -> (B, C); called G + 1 times, it must build
            the same architecture (parameter names and shapes) every time.
        X, y: training features (N, D) and integer labels (N,).
        generations: G >= 1, the number of born-again generations after generation 0.
        epochs, lr, batch_size: as in ``labkit.training.train_classifier``, for every generation.
        seed: >= 0, see above.
        T: temperature of the KD term, > 0; alpha: weight of the KD term, in [0, 1].

    Returns:
        the G + 1 trained models [generation 0, ..., generation G], in eval mode.

    Raises:
        ValueError: if generations < 1, make_model is not callable, returns something other than an
            nn.Module or builds different architectures, T or alpha is bad, or a training argument is
            (named as in ``train_classifier``).
    """
    generations = check_int("generations", generations, 1)
    seed = check_int("seed", seed, 0)
    if not callable(make_model) or isinstance(make_model, nn.Module):
        raise ValueError("make_model must be a function that builds a new untrained model, e.g. "
                         f"lambda: MLP(64, [16], 10); got {type(make_model).__name__}")
    kd = functools.partial(kd_loss_torch, T=T, alpha=alpha)
    kd(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))  # checks T and alpha up front
    models: list[nn.Module] = []
    for k in range(generations + 1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1000 * k + seed)
            model = check_model(f"make_model() (generation {k})", make_model())
        if models and _architecture(model) != _architecture(models[0]):
            raise ValueError(
                f"make_model must build the same architecture every generation (born-again networks); generation {k} "
                f"has parameters {_architecture(model)}, generation 0 {_architecture(models[0])}")
        if models and any(model is m for m in models):
            raise ValueError("make_model must build a new model on every call, got the same object twice")
        teacher = models[-1] if models else None
        train_classifier(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=1000 * k + seed,
                         loss_fn=kd if teacher is not None else None, teacher=teacher)
        models.append(model)
    return models


# ---------------------------------------------------------------------------------------------
# Self-distillation: the deepest exit teaches the shallow ones


class MultiExitMLP(nn.Module):
    """An MLP with a classifier ("exit") after every hidden block, for self-distillation
    (Zhang et al., "Be Your Own Teacher", ICCV 2019).

    ``MultiExitMLP(64, [32, 32, 32], 10)`` has blocks 64 -> 32 -> 32 -> 32 (Linear + ReLU each) and
    three exits. The deepest exit E reads the last block's activations F_E (width h_E) through a
    Linear head. A shallow exit i < E first passes its block's activations through a *bottleneck*
    (Linear h_i -> h_E + ReLU): its output F_i has the deepest features' width, so the feature hint
    ||F_i - F_E||^2 can compare them (the bottleneck plays FitNets' regressor; Zhang et al. use one
    per shallow classifier), and a Linear head reads F_i.

    ``forward(x)`` returns the deepest exit's logits (B, C), so ``accuracy`` and
    ``train_classifier`` treat the model as an ordinary classifier; ``exits(x)`` returns every
    exit's logits and features, shallow to deep.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, 1)
        out_features = check_int("out_features", out_features, 1)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or len(hidden) == 0:
            raise ValueError(f"hidden must be a non-empty sequence of layer widths (one exit per block), got {hidden!r}")
        widths = [check_int(f"hidden[{i}]", h, 1) for i, h in enumerate(hidden)]
        d, D = in_features, widths[-1]
        self.blocks, self.bottlenecks, self.heads = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, h in enumerate(widths):
            self.blocks.append(nn.Sequential(nn.Linear(d, h), nn.ReLU()))
            if i < len(widths) - 1:
                self.bottlenecks.append(nn.Sequential(nn.Linear(h, D), nn.ReLU()))
            self.heads.append(nn.Linear(D, out_features))
            d = h
        self.in_features, self.hidden, self.out_features = in_features, tuple(widths), out_features

    def exits(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """([logits_1, ..., logits_E], [F_1, ..., F_E]): each exit's logits (B, C) and features (B, h_E)."""
        logits, feats = [], []
        h = x  # (B, D_in)
        for i, block in enumerate(self.blocks):
            h = block(h)  # (B, h_i)
            f = self.bottlenecks[i](h) if i < len(self.bottlenecks) else h  # (B, h_E)
            feats.append(f)
            logits.append(self.heads[i](f))  # (B, C)
        return logits, feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return self.heads[-1](h)  # (B, C): the deepest exit

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {' -> '.join(map(str, self.hidden))}, an exit after each block -> {self.out_features}"


def _check_sd_hyper(T: float, alpha: float, lam: float) -> None:
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (T, alpha, lam))
    if not ok or not math.isfinite(T) or T <= 0 or not 0.0 <= alpha <= 1.0 or not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"need T > 0, alpha in [0, 1] and lam >= 0, got T={T!r}, alpha={alpha!r}, lam={lam!r}")


def self_distillation_loss_torch(
    exit_logits: Sequence[torch.Tensor] | torch.Tensor,
    exit_features: Sequence[torch.Tensor] | torch.Tensor,
    labels: torch.Tensor,
    T: float = 3.0,
    alpha: float = 0.3,
    lam: float = 0.03,
) -> torch.Tensor:
    """Self-distillation loss (Zhang et al., ICCV 2019); the torch twin of ``self_distillation_loss``.

    L = CE(z_E, y) + sum_{i < E} [ (1 - alpha) CE(z_i, y) + alpha T^2 1/N sum_n KL(p_E,n || p_i,n)
                                   + lam 1/N sum_n ||F_i,n - F_E,n||_2^2 ],   p = softmax(z / T)

    Exits are ordered shallow to deep. The deepest exit is the teacher: its logits and features are
    detached in the KL and hint terms, so it learns from the labels only (as the NumPy docstring
    says). With alpha = 0 and lam = 0 this is the sum of the exits' cross-entropies: every exit
    trained on the labels alone.

    Args:
        exit_logits: E tensors (N, C) or one tensor (E, N, C).
        exit_features: E tensors (N, D) or one tensor (E, N, D), same order.
        labels: integer tensor (N,), values in [0, C).
        T > 0, alpha in [0, 1], lam >= 0.

    Returns:
        the loss as a 0-d tensor.

    Raises:
        ValueError: on an empty or mismatched stack of exits, a label outside [0, C), or bad T, alpha, lam.
    """
    _check_sd_hyper(T, alpha, lam)
    z = torch.stack(list(exit_logits)) if not isinstance(exit_logits, torch.Tensor) else exit_logits  # (E, N, C)
    Fe = torch.stack(list(exit_features)) if not isinstance(exit_features, torch.Tensor) else exit_features  # (E, N, D)
    labels = torch.as_tensor(labels)
    if z.ndim != 3 or 0 in z.shape or Fe.ndim != 3 or Fe.shape[:2] != z.shape[:2] or labels.shape != (z.shape[1],):
        raise ValueError(f"expected logits (E, N, C), features (E, N, D) and labels (N,), got {tuple(z.shape)}, "
                         f"{tuple(Fe.shape)}, {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.min() < 0 or labels.max() >= z.shape[2]:
        raise ValueError(f"labels must be integers in [0, {z.shape[2]}), got {labels.tolist()!r}")
    labels = labels.long()
    loss = F.cross_entropy(z[-1], labels)
    if z.shape[0] == 1:
        return loss
    log_q_E = F.log_softmax(z[-1].detach() / T, dim=-1)  # (N, C): the teacher
    F_E = Fe[-1].detach()  # (N, D)
    for i in range(z.shape[0] - 1):
        ce = F.cross_entropy(z[i], labels)
        kl = F.kl_div(F.log_softmax(z[i] / T, dim=-1), log_q_E, reduction="batchmean", log_target=True)
        hint = (Fe[i] - F_E).pow(2).sum(dim=1).mean()
        loss = loss + (1 - alpha) * ce + alpha * T**2 * kl + lam * hint
    return loss


def train_self_distillation(model: MultiExitMLP, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
                            batch_size: int, seed: int, T: float = 3.0, alpha: float = 0.3,
                            lam: float = 0.03) -> list[float]:
    """Train every exit of a ``MultiExitMLP`` at once on ``self_distillation_loss_torch`` (Zhang et al., 2019).

    alpha = lam = 0 is the baseline of the same network and schedule with every exit trained on the
    labels alone (the sum of the exits' cross-entropies). Returns the mean loss of each epoch.
    """
    if not isinstance(model, MultiExitMLP):
        raise ValueError(f"model must be a labkit MultiExitMLP, got {type(model).__name__}")
    _check_sd_hyper(T, alpha, lam)

    def loss_fn(xb, yb):
        logits, feats = model.exits(xb)
        return self_distillation_loss_torch(logits, feats, yb, T=T, alpha=alpha, lam=lam)

    return train_with_loss([model], X, y, loss_fn, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)


def exit_accuracies(model: MultiExitMLP, X: np.ndarray, y: np.ndarray) -> list[float]:
    """Test accuracy of each exit of a ``MultiExitMLP``, shallow to deep (eval mode, no gradients)."""
    if not isinstance(model, MultiExitMLP):
        raise ValueError(f"model must be a labkit MultiExitMLP, got {type(model).__name__}")
    Xt = as_features("X", X)
    yt = as_labels("y", y, Xt.shape[0])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, _ = model.exits(Xt)
    finally:
        model.train(was_training)
    return [float((z.argmax(dim=1) == yt).numpy().mean()) for z in logits]  # as labkit.training.accuracy


# ---------------------------------------------------------------------------------------------
# Attention transfer between small CNNs


class SmallCNN(nn.Module):
    """A tiny CNN for the 8x8 digits, for attention transfer (Zagoruyko & Komodakis, ICLR 2017).

    Input rows are flattened 8x8 images (B, 64), as the MLPs take them, reshaped to (B, 1, 8, 8).
    Stage s has ``convs_per_stage`` 3x3 convolutions (padding 1) with ``channels[s]`` output
    channels, each followed by a ReLU; a 2x2 max-pool halves the map between stages; the last
    stage is average-pooled over space and read by a Linear layer. So with two stages the stage
    outputs are 8x8 and 4x4 whatever the widths and depths: a wide, deep teacher and a thin
    student have attention maps of the same sizes, stage for stage.

    ``feature_maps(x)`` returns every stage's output (after its last ReLU, before pooling).
    """

    def __init__(self, channels: Sequence[int], out_features: int = 10, convs_per_stage: int = 1,
                 image_size: int = 8) -> None:
        super().__init__()
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or len(channels) == 0:
            raise ValueError(f"channels must be a non-empty sequence of channel counts, one per stage, got {channels!r}")
        widths = [check_int(f"channels[{i}]", c, 1) for i, c in enumerate(channels)]
        convs_per_stage = check_int("convs_per_stage", convs_per_stage, 1)
        out_features = check_int("out_features", out_features, 1)
        image_size = check_int("image_size", image_size, 1)
        if image_size % 2 ** (len(widths) - 1):
            raise ValueError(f"{len(widths)} stages halve the image {len(widths) - 1} times: image_size must be "
                             f"divisible by {2 ** (len(widths) - 1)}, got {image_size}")
        self.stages = nn.ModuleList()
        c_in = 1
        for c in widths:
            layers: list[nn.Module] = []
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(c_in, c, kernel_size=3, padding=1), nn.ReLU()]
                c_in = c
            self.stages.append(nn.Sequential(*layers))
        self.head = nn.Linear(widths[-1], out_features)
        self.channels, self.convs_per_stage, self.image_size = tuple(widths), convs_per_stage, image_size
        self.out_features = out_features

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[(B, channels[s], image_size / 2^s, image_size / 2^s) for each stage s]."""
        h = x.reshape(x.shape[0], 1, self.image_size, self.image_size)  # (B, 1, 8, 8)
        maps = []
        for s, stage in enumerate(self.stages):
            if s > 0:
                h = F.max_pool2d(h, 2)
            h = stage(h)  # (B, C_s, H_s, W_s)
            maps.append(h)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_maps(x)[-1].mean(dim=(2, 3)))  # (B, C)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, convs_per_stage={self.convs_per_stage}, {self.image_size}x{self.image_size} input"


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p <= 0:
        raise ValueError(f"p must be a finite number > 0, got {p!r}")
    return float(p)


def attention_map_torch(features: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Zagoruyko & Komodakis's attention map; the torch twin of ``attention_map``.

    Q_n = mean_c |f_n,c|^p flattened to H*W,  a_n = Q_n / ||Q_n||_2  (an all-zero map stays zero:
    ``F.normalize`` divides by max(||Q||, 1e-12), and its gradient at a zero map is 0, not nan).
    (N, C, H, W) -> (N, H*W).
    """
    p = _check_p(p)
    if features.ndim != 4:
        raise ValueError(f"features must have shape (N, C, H, W), got {tuple(features.shape)}")
    Q = features.abs().pow(p).mean(dim=1).flatten(1)  # (N, H*W)
    return F.normalize(Q, p=2, dim=1)


def attention_transfer_loss_torch(student_features: torch.Tensor, teacher_features: torch.Tensor,
                                  p: float = 2.0) -> torch.Tensor:
    """Attention transfer loss 1/N sum_n ||a_s,n - a_t,n||_2^2; the torch twin of ``attention_transfer_loss``.

    The teacher's map is detached. N, H and W must agree; the channel counts may differ.
    """
    s, t = student_features, teacher_features
    if s.ndim != 4 or t.ndim != 4:
        raise ValueError(f"feature maps must have shape (N, C, H, W), got {tuple(s.shape)} and {tuple(t.shape)}")
    if s.shape[0] != t.shape[0] or s.shape[2:] != t.shape[2:]:
        raise ValueError(f"student and teacher maps must agree in N, H and W, got {tuple(s.shape)} and {tuple(t.shape)}")
    a_s = attention_map_torch(s, p)  # (N, H*W)
    with torch.no_grad():
        a_t = attention_map_torch(t, p)  # (N, H*W)
    return (a_s - a_t).pow(2).sum(dim=1).mean()


def train_attention_transfer(student: SmallCNN, teacher: SmallCNN, X: np.ndarray, y: np.ndarray, *, beta: float,
                             epochs: int, lr: float, batch_size: int, seed: int, p: float = 2.0, T: float = 4.0,
                             alpha: float = 0.9, stages: Sequence[int] | None = None) -> list[float]:
    """Train a CNN student on KD + attention transfer from every stage of a CNN teacher.

    L = kd_loss(z_s, z_t, y; T, alpha) + beta/2 sum_{s in stages} attention_transfer_loss(f_s, f_t; p)

    (Zagoruyko & Komodakis, ICLR 2017, eq. 2 with Hinton's loss in place of the cross-entropy, as
    in their AT + KD runs.) beta = 0 is plain KD; alpha = 0 drops the soft targets (CE + AT);
    both 0 is the student alone. ``stages`` picks the stages whose maps are matched (default:
    all). The teacher is frozen (eval mode, no gradient); its logits and attention maps on X are
    computed once. Before training, one image checks that the two networks have as many stages
    with the same spatial sizes. Returns the mean loss of each epoch.

    Raises:
        ValueError: if a network is not a SmallCNN, beta < 0, the stages do not match (the message
            names the stage and both shapes), ``stages`` names a stage that does not exist, or a
            training argument is bad.
    """
    for name, m in (("student", student), ("teacher", teacher)):
        if not isinstance(m, SmallCNN):
            raise ValueError(f"{name} must be a labkit SmallCNN (attention maps need its feature_maps), got {type(m).__name__}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    p = _check_p(p)
    kd = functools.partial(kd_loss_torch, T=T, alpha=alpha)
    kd(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))  # checks T and alpha up front
    Xt = as_features("X", X)  # (N, D)
    yt = as_labels("y", y, Xt.shape[0])  # (N,)
    teacher.eval()
    with torch.no_grad():
        fs, ft = student.feature_maps(Xt[:1]), teacher.feature_maps(Xt[:1])
    if len(fs) != len(ft):
        raise ValueError(f"student and teacher must have as many stages, got {len(fs)} and {len(ft)}")
    for k, (a, b) in enumerate(zip(fs, ft)):
        if a.shape[2:] != b.shape[2:]:
            raise ValueError(f"stage {k}: the student's maps are {tuple(a.shape[2:])} but the teacher's "
                             f"{tuple(b.shape[2:])}; attention transfer needs equal spatial sizes")
    chosen = list(range(len(fs))) if stages is None else list(stages)
    if not chosen or any(isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(fs) for k in chosen):
        raise ValueError(f"stages must be a non-empty list of stage indices in [0, {len(fs)}), got {stages!r}")
    # The teacher is frozen and deterministic: its logits and attention maps are computed once.
    with torch.no_grad():
        maps_t = teacher.feature_maps(Xt)
        z_t = teacher.head(maps_t[-1].mean(dim=(2, 3)))  # (N, C)
        a_t = {k: attention_map_torch(maps_t[k], p) for k in chosen}  # stage -> (N, H*W)
    del maps_t

    def loss_fn(xb, idx):  # the "labels" train_with_loss hands us are row indices into X
        maps_s = student.feature_maps(xb)
        z_s = student.head(maps_s[-1].mean(dim=(2, 3)))  # (B, C)
        loss = kd(z_s, z_t[idx], yt[idx])
        if beta > 0:  # attention_transfer_loss_torch with the teacher's maps precomputed
            loss = loss + beta / 2 * sum((attention_map_torch(maps_s[k], p) - a_t[k][idx]).pow(2).sum(dim=1).mean()
                                         for k in chosen)
        return loss

    rows = np.arange(Xt.shape[0])
    return train_with_loss([student], Xt.numpy(), rows, loss_fn, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
