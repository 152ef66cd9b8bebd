"""Lab 12's training code: dataset distillation (NumPy, driven by the student's ``distill_grad``), data-free
KD with a generator, the statistics a BatchNorm layer would store, and the nasty teacher (trained with the
student's ``nasty_teacher_grad``).

The torch functions here are the twins of the graded NumPy exercises in ``reference_impl.data_free``
(the tests compare them); the experiments (``labkit.experiments.lab12``) train with them. The teacher
and the students are Lab 1's MLPs (``labkit.training.MLP``) and the KD loss is Lab 1's ``kd_loss_torch``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labkit.distillation_torch import kd_loss_torch
from labkit.training import set_seed


# --- dataset distillation (NumPy) -------------------------------------------------------------------------
def train_linear(softmax_ce_grad, X: np.ndarray, y: np.ndarray, W0: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Full-batch gradient descent W <- W - lr dCE/dW from W0 for ``steps`` steps (the inner loop of
    ``distill_grad``), with the student's ``softmax_ce_grad``."""
    W = np.array(W0, dtype=np.float64)
    for _ in range(steps):
        W = W - lr * softmax_ce_grad(X, W, y)[1]
    return W


def linear_accuracy(W: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(X @ W, axis=1) == y))


def init_weights(rng: np.random.Generator, d: int, C: int, std: float) -> np.ndarray:
    return std * rng.standard_normal((d, C))


def distill_dataset(distill_grad, X: np.ndarray, y: np.ndarray, per_class: int, *, steps: int, lr: float,
                    iters: int, outer_lr: float, batch: int, init_std: float, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Learn ``per_class`` synthetic images per class (Wang et al. 2018, algorithm 1, random initialisation).

    Each outer iteration draws a fresh W0 ~ N(0, init_std^2) and a batch of real images, and moves the
    synthetic images along -dL/dX_syn (Adam, pixels clipped to [0, 1]) from the student's ``distill_grad``.
    Starts from random real images of each class. Returns (X_syn, y_syn, the validation losses).
    """
    rng = np.random.default_rng(seed)
    C, d = int(y.max()) + 1, X.shape[1]
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(C)])
    X_syn, y_syn = X[idx].astype(np.float64), y[idx].astype(np.int64)
    m, v, losses = np.zeros_like(X_syn), np.zeros_like(X_syn), []
    for t in range(1, iters + 1):
        b = rng.choice(len(y), size=min(batch, len(y)), replace=False)
        loss, g = distill_grad(X_syn, y_syn, X[b].astype(np.float64), y[b].astype(np.int64),
                               init_weights(rng, d, C, init_std), lr, steps)
        losses.append(loss)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        X_syn = np.clip(X_syn - outer_lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8), 0.0, 1.0)
    return X_syn, y_syn, losses


def random_real(X: np.ndarray, y: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(int(y.max()) + 1)])
    return X[idx].astype(np.float64), y[idx].astype(np.int64)


# --- data-free KD (torch) ---------------------------------------------------------------------------------
class Generator(nn.Module):
    """z (B, z_dim) -> images (B, 64) in [0, 1]: Linear -> BatchNorm -> ReLU -> Linear -> sigmoid."""

    def __init__(self, z_dim: int = 32, hidden: int = 128, out: int = 64) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z))  # (B, 64)


def disagreement_torch(teacher_logits: torch.Tensor, student_logits: torch.Tensor, kind: str = "l1",
                       T: float = 1.0) -> torch.Tensor:
    """D of ``data_free_kd_losses``, differentiable in both arguments: T^2 KL(p_t || p_s) (batch mean) or the mean |t - s|."""
    if kind == "l1":
        return (teacher_logits - student_logits).abs().mean()
    if kind == "kl":
        return T**2 * F.kl_div(F.log_softmax(student_logits / T, 1), F.log_softmax(teacher_logits / T, 1),
                               log_target=True, reduction="batchmean")
    raise ValueError(f"kind must be 'kl' or 'l1', got {kind!r}")


def bn_statistics_loss_torch(features: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor) -> torch.Tensor:
    """R of ``bn_statistics_loss`` for (N, C) features: ||mu - mu_BN||_2 + ||sigma^2 - sigma^2_BN||_2, biased variance."""
    mu = features.mean(0)
    var = features.var(0, unbiased=False)
    return torch.linalg.vector_norm(mu - running_mean) + torch.linalg.vector_norm(var - running_var)


def first_layer(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pre-activations of an MLP's first Linear layer: where a BatchNorm layer would sit."""
    return model.net[0](x)


def stored_statistics(model: nn.Module, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-unit mean and biased variance of the first layer's pre-activations on X: what a BatchNorm
    layer there would have stored in its running averages while the teacher trained."""
    with torch.no_grad():
        h = first_layer(model, torch.as_tensor(X, dtype=torch.float32))
    return h.mean(0), h.var(0, unbiased=False)


def train_data_free(teacher: nn.Module, student: nn.Module, *, iters: int, batch: int, kind: str = "l1",
                    bn_weight: float = 0.0, stats=None, student_steps: int = 5, lr_s: float = 1e-2,
                    lr_g: float = 1e-3, z_dim: int = 32, seed: int = 0, generator: bool = True) -> nn.Module:
    """Adversarial data-free distillation (Fang et al. 2019; Micaelli & Storkey 2019), no real image seen.

    Each iteration: one generator step on -D(teacher, student) (+ bn_weight R_BN(first layer) with the
    stored ``stats``), then ``student_steps`` student steps on D over fresh generated batches. With
    ``generator=False`` the inputs are uniform noise in [0, 1] instead (the baseline: no generator).
    The teacher is frozen. Returns the trained student (in eval mode).
    """
    set_seed(seed)
    gen = Generator(z_dim)
    opt_s = torch.optim.Adam(student.parameters(), lr=lr_s)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def inputs() -> torch.Tensor:
        if not generator:
            return torch.rand(batch, 64)
        return gen(torch.randn(batch, z_dim))

    try:
        for _ in range(iters):
            if generator:
                student.eval()
                x = inputs()
                loss_g = -disagreement_torch(teacher(x), student(x), kind)
                if bn_weight > 0:
                    loss_g = loss_g + bn_weight * bn_statistics_loss_torch(first_layer(teacher, x), *stats)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
            student.train()
            for _ in range(student_steps):
                with torch.no_grad():
                    x = inputs()
                    t = teacher(x)
                loss_s = disagreement_torch(t, student(x), kind)
                opt_s.zero_grad(set_to_none=True)
                loss_s.backward()
                opt_s.step()
    finally:
        for p in teacher.parameters():
            p.requires_grad_(True)
    student.eval()
    return student


# --- nasty teacher (torch, the gradient from NumPy) -------------------------------------------------------
def nasty_teacher_loss_torch(nasty_logits: torch.Tensor, normal_logits: torch.Tensor, labels: torch.Tensor,
                             T: float = 4.0, omega: float = 0.04) -> torch.Tensor:
    """CE(z, y) - omega T^2 KL(softmax(z_normal / T) || softmax(z / T)), batch mean: ``nasty_teacher_loss``."""
    kl = F.kl_div(F.log_softmax(nasty_logits / T, 1), F.log_softmax(normal_logits.detach() / T, 1), log_target=True,
                  reduction="batchmean")
    return F.cross_entropy(nasty_logits, labels) - omega * T**2 * kl


def train_nasty_teacher(nasty_teacher_grad, model: nn.Module, normal: nn.Module, X: np.ndarray, y: np.ndarray, *,
                        epochs: int, lr: float, batch: int, T: float, omega: float, seed: int) -> nn.Module:
    """Train ``model`` (in place) to be a nasty teacher against the fixed ``normal`` network (Ma et al. 2021).

    The loss's gradient with respect to the logits comes from the student's NumPy ``nasty_teacher_grad``
    and is backpropagated into the network with ``logits.backward(gradient)``: the chain rule from the
    logits on is autograd's, the part that makes the teacher nasty is the student's.
    """
    Xt = torch.as_tensor(X, dtype=next(model.parameters()).dtype)
    yt = torch.as_tensor(y, dtype=torch.long)
    with torch.no_grad():
        normal_logits = normal(torch.as_tensor(X, dtype=torch.float32)).double().numpy()  # (N, C), fixed
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(yt), generator=g).split(batch):
            logits = model(Xt[idx])  # (B, C)
            grad = nasty_teacher_grad(logits.detach().double().numpy(), normal_logits[idx.numpy()], y[idx.numpy()],
                                      T, omega)
            opt.zero_grad(set_to_none=True)
            logits.backward(torch.as_tensor(np.asarray(grad), dtype=logits.dtype))
            opt.step()
    model.eval()
    return model


def kd_loss_fn(T: float, alpha: float):
    """Lab 1's Hinton loss at (T, alpha) as a ``train_classifier`` loss_fn."""
    def loss(student_logits, teacher_logits, labels):
        return kd_loss_torch(student_logits, teacher_logits, labels, T=T, alpha=alpha)
    return loss
