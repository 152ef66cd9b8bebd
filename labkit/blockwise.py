"""Torch code for Lab 10 (distillation for efficiency): a block-structured CNN for 8 x 8 digits,
depthwise-separable replacement blocks, blockwise training on cached teacher activations (in this
process or in worker processes), L1 filter pruning of the CNN, and a training loop that records
wall-clock time and accuracy per epoch with a per-step distillation weight.

Not graded. The lab's experiments (``labkit.experiments.lab10``) pass the student's NumPy functions
in; this module only trains. CPU only, one torch thread per process.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from labkit.distillation_torch import kd_loss_torch
from labkit.training import accuracy, set_seed

__all__ = ["BlockCNN", "SeparableConv2d", "block_activations", "train_block", "train_blocks_job", "with_blocks",
           "prune_filters_l1", "conv_macs", "mse_logit_loss_torch", "train_with_schedule"]


class SeparableConv2d(nn.Module):
    """Depthwise k x k conv (groups = c_in) then a 1 x 1 conv: the craft replacement of a dense k x k conv."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, k, padding=padding, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))  # (B, c_in, H, W) -> (B, c_out, H, W)


class BlockCNN(nn.Module):
    """conv 3x3 + ReLU blocks on 8 x 8 digits (padding 1), 2x2 max-pool, Linear head; takes flat rows (B, 64).

    ``BlockCNN((16, 32, 32, 32))`` has four blocks 1 -> 16 -> 32 -> 32 -> 32. Each block is
    ``blocks[i]`` = Sequential(conv, ReLU), so a block can be replaced by any module with the same
    input and output shape.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 32, 32), classes: int = 10) -> None:
        super().__init__()
        chans = (1, *widths)
        self.widths = tuple(int(w) for w in widths)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.ReLU())
                                    for a, b in zip(chans[:-1], chans[1:]))
        self.head = nn.Linear(chans[-1] * 16, classes)

    def features(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """The input of block ``upto`` (all blocks when None), as (B, C, 8, 8)."""
        h = x.reshape(-1, 1, 8, 8)
        for block in self.blocks[:upto]:
            h = block(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.max_pool2d(self.features(x), 2)  # (B, C, 4, 4)
        return self.head(h.flatten(1))  # (B, classes)


def separable_block(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(SeparableConv2d(c_in, c_out), nn.ReLU())


def block_activations(model: BlockCNN, X: np.ndarray) -> list[np.ndarray]:
    """The teacher's activations at every block boundary on X: [input of block 0, ..., output of the last block].

    These are cached once; every replacement block then trains on its own (input, output) pair.
    """
    model.eval()
    out = []
    with torch.no_grad():
        h = torch.as_tensor(np.asarray(X), dtype=torch.float32).reshape(-1, 1, 8, 8)
        out.append(h.numpy().copy())
        for block in model.blocks:
            h = block(h)
            out.append(h.numpy().copy())
    return out


def train_block(block: nn.Module, X_in: np.ndarray, Y_out: np.ndarray, *, epochs: int, lr: float, batch_size: int,
                seed: int) -> list[float]:
    """Train one replacement block alone on cached (input, teacher output) pairs with the MSE (the local loss).

    Returns the mean loss of each epoch. The block is left in eval mode.
    """
    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X_in)), torch.from_numpy(np.ascontiguousarray(Y_out))
    opt = torch.optim.Adam(block.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    block.train()
    for _ in range(epochs):
        order = torch.randperm(Xt.shape[0], generator=gen)
        total = 0.0
        for start in range(0, Xt.shape[0], batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.mse_loss(block(Xt[idx]), Yt[idx])  # mean over (B, C, H, W)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / Xt.shape[0])
    block.eval()
    return losses


def train_blocks_job(job: dict) -> dict:
    """One worker's share of parallel blockwise distillation (a top-level function, so a process pool can run it).

    ``job``: {"blocks": [(index, c_in, c_out, X_in, Y_out), ...], "epochs", "lr", "batch_size", "seed"}.
    The worker trains its blocks one after another and returns each block's state dict and training time,
    its total wall time and the CPU seconds this process used.
    """
    torch.set_num_threads(1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    states, times = {}, {}
    for index, c_in, c_out, X_in, Y_out in job["blocks"]:
        torch.manual_seed(job["seed"] + index)
        block = separable_block(c_in, c_out)
        t0 = time.perf_counter()
        train_block(block, X_in, Y_out, epochs=job["epochs"], lr=job["lr"], batch_size=job["batch_size"],
                    seed=job["seed"] + index)
        times[index] = time.perf_counter() - t0
        states[index] = {k: v.clone() for k, v in block.state_dict().items()}
    return {"states": states, "times": times, "wall": time.perf_counter() - wall0,
            "cpu": time.process_time() - cpu0, "pid": os.getpid()}


def worker_ready(_: int) -> int:
    """A pool warm-up task: torch is imported and the process is ready."""
    torch.set_num_threads(1)
    time.sleep(0.2)
    return os.getpid()


def with_blocks(teacher: BlockCNN, replacements: dict[int, nn.Module]) -> BlockCNN:
    """A copy of the teacher whose blocks ``i`` are replaced by ``replacements[i]`` (copied)."""
    model = copy.deepcopy(teacher)
    for i, block in replacements.items():
        model.blocks[i] = copy.deepcopy(block)
    return model.eval()


def conv_macs(model: BlockCNN, H: int = 8, W: int = 8) -> int:
    """Multiply-accumulates of the model's convolutions (every output pixel reads every weight) on one image."""
    return sum(m.weight.numel() * H * W for m in model.blocks.modules() if isinstance(m, nn.Conv2d))


def prune_filters_l1(model: BlockCNN, keep: Sequence[int]) -> BlockCNN:
    """Structured L1 filter pruning (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017).

    Block i keeps the ``keep[i]`` output filters of largest L1 norm; the next block (or the head) loses the
    matching input channels. Returns a new, narrower BlockCNN with the surviving weights copied.
    """
    if len(keep) != len(model.blocks):
        raise ValueError(f"keep needs one count per block ({len(model.blocks)}), got {len(keep)}")
    kept_in = torch.arange(1)
    pruned = BlockCNN(tuple(int(k) for k in keep), model.head.out_features)
    with torch.no_grad():
        for i, (old, new) in enumerate(zip(model.blocks, pruned.blocks)):
            W = old[0].weight[:, kept_in]  # (c_out, c_in kept, 3, 3)
            scores = old[0].weight.abs().sum(dim=(1, 2, 3))  # L1 norm of every filter
            kept = torch.sort(torch.argsort(scores, descending=True)[:int(keep[i])]).values
            new[0].weight.copy_(W[kept])
            new[0].bias.copy_(old[0].bias[kept])
            kept_in = kept
        head = model.head.weight.reshape(model.head.out_features, -1, 16)[:, kept_in]  # (classes, kept, 4 x 4)
        pruned.head.weight.copy_(head.reshape(model.head.out_features, -1))
        pruned.head.bias.copy_(model.head.bias)
    return pruned.eval()


def mse_logit_loss_torch(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """(1/N) sum_n ||z_s - z_t||^2: the torch twin of the Lab 10 exercise mse_logit_loss."""
    return ((student_logits - teacher_logits) ** 2).sum(dim=1).mean()


def train_with_schedule(model: nn.Module, data, *, epochs: int, lr: float, batch_size: int, seed: int,
                        teacher: nn.Module | None = None, kd: str = "kl", weights: np.ndarray | None = None,
                        T: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Train with Adam, recording after every epoch the training wall-clock time so far and the validation accuracy.

    Without a teacher the loss is cross-entropy. With one, step t's loss is
    ``(1 - a_t) CE + a_t KD`` with ``a_t = weights[t]`` (one weight per step, e.g. from kd_weight_schedule) and
    KD either Hinton's ``T^2 KL`` ("kl", via ``kd_loss_torch`` with alpha = 1) or the MSE on logits ("mse").
    The teacher's logits are computed once, and that time counts as training time.

    Returns:
        (times, val_accs): float arrays (epochs,) -- seconds since the start, accuracy on data.X_val.
    """
    Xt = torch.as_tensor(data.X_train, dtype=torch.float32)
    yt = torch.as_tensor(data.y_train, dtype=torch.int64)
    N = Xt.shape[0]
    steps_per_epoch = -(-N // batch_size)
    if teacher is not None and (weights is None or len(weights) != epochs * steps_per_epoch):
        raise ValueError(f"a teacher needs one weight per step: {epochs * steps_per_epoch}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    times, accs, elapsed, step = [], [], 0.0, 0
    t0 = time.perf_counter()
    if teacher is not None:
        teacher.eval()
        with torch.no_grad():
            z_t_all = teacher(Xt)  # (N, C)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(N, generator=gen)
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            z = model(Xt[idx])
            ce = nn.functional.cross_entropy(z, yt[idx])
            loss = ce
            if teacher is not None and weights[step] > 0:
                a = float(weights[step])
                soft = kd_loss_torch(z, z_t_all[idx], yt[idx], T, 1.0) if kd == "kl" \
                    else mse_logit_loss_torch(z, z_t_all[idx])
                loss = (1 - a) * ce + a * soft
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        elapsed += time.perf_counter() - t0
        accs.append(accuracy(model, data.X_val, data.y_val))  # evaluation is not training time
        times.append(elapsed)
        t0 = time.perf_counter()
    model.eval()
    return np.array(times), np.array(accs)


def seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``factory()`` with its initialisation drawn from ``seed``."""
    set_seed(seed)
    return factory()
