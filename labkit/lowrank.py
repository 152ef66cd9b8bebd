"""PyTorch side of Lab 4: factorised Linear and Conv2d layers, compressing a trained MLP, magnitude pruning.

Not graded. The lab's experiments train an MLP on the digits with ``labkit.training``, then
replace its layers by low-rank ones built from factors that the student's NumPy functions compute
(``low_rank_factors``, ``data_aware_low_rank``, ``conv_lowrank_factors``), and compare with magnitude
pruning at the same number of weights. The factor functions are passed in, so this module never
needs the reference (students do not have it).

Conventions match the NumPy reference: a weight matrix ``W`` of shape ``(m, n)`` maps row vectors,
``y = x @ W``, so it is ``nn.Linear.weight.T``; a factorised layer is ``y = (x @ W1) @ W2 + b``.
Parameter counts here count weights, not biases (the biases are the same before and after).

    low = compress_mlp(model, ranks=[16, 16, None], factorise=low_rank_factors)
    masked = prune_mlp(model, keep=[16 * (64 + 256), 16 * (256 + 256), None])
    train_classifier(low, X, y, epochs=5, lr=1e-3, batch_size=64, seed=0)   # fine-tuning
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "LowRankLinear", "LowRankConv2d", "Tucker2Conv2d", "SmallCNN", "linear_layers", "weight_matrices", "layer_inputs",
    "compress_mlp", "magnitude_mask", "prune_mlp", "weight_count",
]

Factorise = Callable[..., tuple[np.ndarray, np.ndarray]]


def _check_rank(rank: object, m: int, n: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 1 <= rank <= min(m, n):
        raise ValueError(f"rank must be an int in [1, min(m, n)] = [1, {min(m, n)}], got {rank!r}")
    return int(rank)


def _tensor(a: np.ndarray, like: torch.Tensor | None = None) -> torch.Tensor:
    dtype = like.dtype if like is not None else torch.float32
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)


class LowRankLinear(nn.Module):
    """y = (x @ W1) @ W2 + b: a Linear (m -> n) through a width-r bottleneck, as two nn.Linear layers.

    ``first`` is Linear(m, r, bias=False) with weight W1^T; ``second`` is Linear(r, n) with weight
    W2^T and the bias. r (m + n) weights instead of m n; the same number of MACs per input row.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        rank = _check_rank(rank, in_features, out_features)
        self.first = nn.Linear(in_features, rank, bias=False)
        self.second = nn.Linear(rank, out_features, bias=bias)
        self.in_features, self.out_features, self.rank = in_features, out_features, rank

    @classmethod
    def from_factors(cls, W1: np.ndarray, W2: np.ndarray, bias: np.ndarray | torch.Tensor | None = None) -> LowRankLinear:
        """The layer x -> x @ W1 @ W2 + bias, from W1 (m, r) and W2 (r, n) in the row-vector convention."""
        W1, W2 = np.asarray(W1), np.asarray(W2)
        if W1.ndim != 2 or W2.ndim != 2 or W1.shape[1] != W2.shape[0]:
            raise ValueError(f"need W1 (m, r) and W2 (r, n), got shapes {W1.shape} and {W2.shape}")
        layer = cls(W1.shape[0], W2.shape[1], W1.shape[1], bias=bias is not None)
        with torch.no_grad():
            layer.first.weight.copy_(_tensor(W1.T))  # (r, m)
            layer.second.weight.copy_(_tensor(W2.T))  # (n, r)
            if bias is not None:
                b = torch.as_tensor(bias, dtype=torch.float32).reshape(-1)
                if b.shape != (W2.shape[1],):
                    raise ValueError(f"bias must have {W2.shape[1]} entries, got shape {tuple(b.shape)}")
                layer.second.bias.copy_(b)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))  # (B, m) -> (B, r) -> (B, n)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.rank} -> {self.out_features}"


class LowRankConv2d(nn.Module):
    """A k x k conv c_in -> r (no bias) followed by a 1 x 1 conv r -> c_out (with the bias).

    With the kernels of ``conv_lowrank_factors`` it computes the conv whose kernel is the rank-r
    truncation of K's (c_out, c_in k^2) unfolding: r c_in k^2 + c_out r weights instead of
    c_out c_in k^2 (Zhang et al., TPAMI 2016, channel decomposition).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rank: int, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        rank = _check_rank(rank, out_channels, in_channels * kernel_size**2)
        self.first = nn.Conv2d(in_channels, rank, kernel_size, padding=padding, bias=False)
        self.second = nn.Conv2d(rank, out_channels, 1, bias=bias)
        self.rank = rank

    @classmethod
    def from_factors(cls, K1: np.ndarray, K2: np.ndarray, bias=None, padding: int = 0) -> LowRankConv2d:
        """The two convs from K1 (r, c_in, k, k) and K2 (c_out, r, 1, 1)."""
        K1, K2 = np.asarray(K1), np.asarray(K2)
        if K1.ndim != 4 or K2.ndim != 4 or K2.shape[1] != K1.shape[0] or K2.shape[2:] != (1, 1):
            raise ValueError(f"need K1 (r, c_in, k, k) and K2 (c_out, r, 1, 1), got {K1.shape} and {K2.shape}")
        r, c_in, k, _ = K1.shape
        layer = cls(c_in, K2.shape[0], k, r, padding=padding, bias=bias is not None)
        with torch.no_grad():
            layer.first.weight.copy_(_tensor(K1))
            layer.second.weight.copy_(_tensor(K2))
            if bias is not None:
                layer.second.bias.copy_(torch.as_tensor(bias, dtype=torch.float32).reshape(-1))
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))  # (B, c_in, H, W) -> (B, r, H, W) -> (B, c_out, H, W)


class Tucker2Conv2d(nn.Module):
    """A k x k conv in Tucker-2 form: 1 x 1 conv c_in -> r_in, k x k conv r_in -> r_out, 1 x 1 conv r_out -> c_out.

    With the factors of ``tucker2_hosvd`` (core (r_out, r_in, k, k), U_out (c_out, r_out), U_in (c_in, r_in))
    it computes the conv with kernel core x_0 U_out x_1 U_in; c_in r_in + r_in r_out k^2 + r_out c_out
    weights (Kim et al., ICLR 2016).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, r_in: int, r_out: int,
                 padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        r_in = _check_rank(r_in, in_channels, out_channels * kernel_size**2)
        r_out = _check_rank(r_out, out_channels, in_channels * kernel_size**2)
        self.reduce = nn.Conv2d(in_channels, r_in, 1, bias=False)
        self.core = nn.Conv2d(r_in, r_out, kernel_size, padding=padding, bias=False)
        self.expand = nn.Conv2d(r_out, out_channels, 1, bias=bias)

    @classmethod
    def from_factors(cls, core: np.ndarray, U_out: np.ndarray, U_in: np.ndarray, bias=None,
                     padding: int = 0) -> Tucker2Conv2d:
        """The three convs from core (r_out, r_in, k, k), U_out (c_out, r_out) and U_in (c_in, r_in)."""
        core, U_out, U_in = np.asarray(core), np.asarray(U_out), np.asarray(U_in)
        if core.ndim != 4 or U_out.ndim != 2 or U_in.ndim != 2 or core.shape[:2] != (U_out.shape[1], U_in.shape[1]):
            raise ValueError(f"need core (r_out, r_in, k, k), U_out (c_out, r_out), U_in (c_in, r_in), got "
                             f"{core.shape}, {U_out.shape}, {U_in.shape}")
        r_out, r_in, k, _ = core.shape
        layer = cls(U_in.shape[0], U_out.shape[0], k, r_in, r_out, padding=padding, bias=bias is not None)
        with torch.no_grad():
            layer.reduce.weight.copy_(_tensor(U_in.T[:, :, None, None]))  # (r_in, c_in, 1, 1)
            layer.core.weight.copy_(_tensor(core))  # (r_out, r_in, k, k)
            layer.expand.weight.copy_(_tensor(U_out[:, :, None, None]))  # (c_out, r_out, 1, 1)
            if bias is not None:
                layer.expand.bias.copy_(torch.as_tensor(bias, dtype=torch.float32).reshape(-1))
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.core(self.reduce(x)))  # (B, c_in, H, W) -> (B, r_in) -> (B, r_out) -> (B, c_out, H, W)


class SmallCNN(nn.Module):
    """A CNN for 8 x 8 digits that takes flat rows (B, 64), so ``labkit.training`` can train it.

    conv 3x3 1 -> c1, ReLU, conv 3x3 c1 -> c2, ReLU, 2x2 max-pool, Linear(c2 * 16 -> 10). Padding 1
    keeps 8 x 8 maps, so every conv sees an 8 x 8 output.
    """

    def __init__(self, c1: int = 16, c2: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2: nn.Module = nn.Conv2d(c1, c2, 3, padding=1)
        self.head = nn.Linear(c2 * 16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x.reshape(-1, 1, 8, 8)))  # (B, c1, 8, 8)
        h = torch.relu(self.conv2(h))  # (B, c2, 8, 8)
        h = nn.functional.max_pool2d(h, 2)  # (B, c2, 4, 4)
        return self.head(h.flatten(1))  # (B, classes)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's nn.Linear layers in forward order (the order ``model.modules()`` lists them)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weight_matrices(model: nn.Module) -> list[np.ndarray]:
    """Each Linear layer's weight as a float64 (m, n) matrix in the row-vector convention (weight.T)."""
    return [layer.weight.detach().double().numpy().T.copy() for layer in linear_layers(model)]


def layer_inputs(model: nn.Module, X: np.ndarray) -> list[np.ndarray]:
    """The input each Linear layer receives when the model runs on X: a list of float64 (N, m) arrays.

    These are the calibration data of the data-aware factorisation min ||X_l W - X_l W1 W2||_F.
    """
    layers = linear_layers(model)
    seen: list[np.ndarray | None] = [None] * len(layers)
    hooks = [layer.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, inp[0].detach().double().numpy()))
             for i, layer in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.as_tensor(np.asarray(X), dtype=torch.float32))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [s for s in seen]


def _per_layer(values: Sequence, count: int, what: str) -> list:
    values = list(values)
    if len(values) != count:
        raise ValueError(f"{what} needs one entry per Linear layer ({count}), got {len(values)}")
    return values


def compress_mlp(model: nn.Module, ranks: Sequence[int | None], factorise: Factorise,
                 calibration: Sequence[np.ndarray] | None = None) -> nn.Module:
    """A copy of ``model`` whose i-th Linear layer is replaced by a LowRankLinear of rank ``ranks[i]``.

    ``factorise(W, rank)`` (or ``factorise(X_i, W, rank)`` when ``calibration`` gives each layer's
    inputs X_i) returns W1 (m, r), W2 (r, n) for the layer's weight W (m, n) = weight.T; the bias is
    kept. ``ranks[i] = None`` keeps layer i dense. The original model is not modified.
    """
    compressed = copy.deepcopy(model)
    layers = linear_layers(compressed)
    ranks = _per_layer(ranks, len(layers), "ranks")
    if calibration is not None:
        calibration = _per_layer(calibration, len(layers), "calibration")
    replacements = {}
    for i, (layer, rank) in enumerate(zip(layers, ranks)):
        if rank is None:
            continue
        W = layer.weight.detach().double().numpy().T  # (m, n)
        _check_rank(rank, *W.shape)
        W1, W2 = factorise(W, rank) if calibration is None else factorise(calibration[i], W, rank)
        replacements[id(layer)] = LowRankLinear.from_factors(W1, W2, None if layer.bias is None else layer.bias.detach())
    for parent in compressed.modules():
        for name, child in list(parent.named_children()):
            if id(child) in replacements:
                setattr(parent, name, replacements[id(child)])
    return compressed


def magnitude_mask(W: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the ``keep`` entries of W with the largest |w| (ties go to the earlier entry, row-major).

    Layer-wise magnitude pruning (Han et al., "Learning both Weights and Connections for Efficient
    Neural Networks", NeurIPS 2015): exactly ``keep`` ones.
    """
    W = np.asarray(W)
    if isinstance(keep, bool) or not isinstance(keep, numbers.Integral) or not 0 <= keep <= W.size:
        raise ValueError(f"keep must be an int in [0, W.size] = [0, {W.size}], got {keep!r}")
    order = np.argsort(-np.abs(W).ravel(), kind="stable")  # largest magnitude first, stable on ties
    mask = np.zeros(W.size, dtype=bool)
    mask[order[:keep]] = True
    return mask.reshape(W.shape)


class _Masked(nn.Module):
    """A weight parametrisation W -> W * mask: pruned entries stay zero while the rest is fine-tuned."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, W: torch.Tensor) -> torch.Tensor:
        return W * self.mask


def prune_mlp(model: nn.Module, keep: Sequence[int | None]) -> nn.Module:
    """A copy of ``model`` whose i-th Linear layer keeps only its ``keep[i]`` largest-magnitude weights.

    The mask is a parametrisation (torch.nn.utils.parametrize), so ``labkit.training.train_classifier``
    can fine-tune the copy and the pruned weights stay exactly zero. ``keep[i] = None`` leaves layer i dense.
    """
    pruned = copy.deepcopy(model)
    layers = linear_layers(pruned)
    for layer, k in zip(layers, _per_layer(keep, len(layers), "keep")):
        if k is None:
            continue
        mask = torch.from_numpy(magnitude_mask(layer.weight.detach().numpy(), k))
        with torch.no_grad():
            layer.weight.mul_(mask)
        parametrize.register_parametrization(layer, "weight", _Masked(mask.to(layer.weight.dtype)))
    return pruned


def weight_count(model: nn.Module) -> int:
    """Non-zero weights of the model's Linear and Conv2d layers (biases not counted).

    For a pruned model this is what a sparse format would store; for a factorised one, r (m + n)
    per layer (a factor with an exact zero is counted as stored all the same: dense factors).
    """
    total = 0
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            w = mod.weight.detach()
            total += int(torch.count_nonzero(w)) if parametrize.is_parametrized(mod, "weight") else w.numel()
    return total
