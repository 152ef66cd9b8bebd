"""Torch helpers for Lab 11 (what compression costs beyond accuracy). Not graded.

The NumPy exercises (reference_impl/robustness.py) define the maths; the experiments pass the
student's versions in: attacks call the student's ``fgsm`` / ``pgd_step`` with input gradients computed
here, SAM training calls the student's ``sam_perturbation`` on the flattened gradient, a supermask
layer calls the student's ``edge_popup_mask`` in its forward pass. Imports point one way: labkit ->
datasets; nothing here imports ``reference_impl``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from labkit.training import set_seed


def input_gradients(model: nn.Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d CE(model(x_n), y_n) / d x_n for every sample (the summed loss: each row is its own sample's gradient)."""
    model.eval()
    x = torch.as_tensor(np.asarray(X), dtype=torch.float32).requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), torch.as_tensor(np.asarray(y), dtype=torch.long), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad.double().numpy()


def logits_of(model: nn.Module, X: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double().numpy()


def fgsm_attack(model: nn.Module, X: np.ndarray, y: np.ndarray, eps: float, fgsm: Callable) -> np.ndarray:
    """The FGSM inputs of the student's ``fgsm`` (pixels in [0, 1])."""
    return fgsm(np.asarray(X, dtype=np.float64), input_gradients(model, X, y), eps, 0.0, 1.0)


def pgd_attack(model: nn.Module, X: np.ndarray, y: np.ndarray, eps: float, pgd_step: Callable, steps: int = 10,
               alpha: float | None = None) -> np.ndarray:
    """``steps`` iterations of the student's ``pgd_step`` from the clean input, step alpha = 2.5 eps / steps (Madry et al.)."""
    alpha = 2.5 * eps / steps if alpha is None else alpha
    x0 = np.asarray(X, dtype=np.float64)
    x = x0.copy()
    for _ in range(steps):
        x = pgd_step(x, x0, input_gradients(model, x, y), alpha, eps, 0.0, 1.0)
    return x


# --- training with an optional SAM step -------------------------------------------------------------
def train(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int, seed: int,
          rho: float = 0.0, sam_perturbation: Callable | None = None, on_epoch: Callable | None = None) -> nn.Module:
    """Adam on cross-entropy; with ``rho > 0`` each step is SAM's (Foret et al. 2021, alg. 1): perturb the
    weights by the student's ``sam_perturbation(g, rho)`` of the flattened gradient, take the gradient there,
    undo the perturbation and step with that gradient. ``on_epoch(epoch, model)`` runs after every epoch."""
    if rho > 0 and sam_perturbation is None:
        raise ValueError("SAM (rho > 0) needs sam_perturbation")
    set_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            if rho > 0:
                g = torch.cat([p.grad.reshape(-1) for p in params]).double().numpy()
                eps = torch.as_tensor(np.asarray(sam_perturbation(g, rho)), dtype=torch.float32)
                offsets = list(torch.split(eps, [p.numel() for p in params]))
                with torch.no_grad():
                    for p, e in zip(params, offsets):
                        p.add_(e.reshape(p.shape))
                opt.zero_grad()
                nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
                with torch.no_grad():
                    for p, e in zip(params, offsets):
                        p.sub_(e.reshape(p.shape))
            opt.step()
        model.eval()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model


# --- second-order saliency ------------------------------------------------------------------------
def weight_params(model: nn.Module) -> list[torch.Tensor]:
    """The weight matrices / kernels (no biases) in forward order: what pruning removes."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def fisher_diagonal(model: nn.Module, X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The empirical Fisher's diagonal mean_n (d loss_n / d w)^2 per weight tensor, one sample at a time."""
    ws = weight_params(model)
    acc = [np.zeros(tuple(w.shape)) for w in ws]
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    model.eval()
    for n in range(len(Xt)):
        grads = torch.autograd.grad(nn.functional.cross_entropy(model(Xt[n:n + 1]), yt[n:n + 1]), ws)
        for a, g in zip(acc, grads):
            a += g.double().numpy() ** 2
    return [a / len(Xt) for a in acc]


def hessian_diagonal(model: nn.Module, X: np.ndarray, y: np.ndarray, probes: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Hutchinson's estimate E_v[v * (H v)] of the loss Hessian's diagonal, v with random +-1 entries.

    H v is a Hessian-vector product by double backpropagation (Pearlmutter 1994): the gradient of
    g(w) . v. Bekas, Kokiopoulou & Saad (2007) show E[v * Hv] = diag(H) for Rademacher v.
    """
    ws = weight_params(model)
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    model.eval()
    grads = torch.autograd.grad(nn.functional.cross_entropy(model(Xt), yt), ws, create_graph=True)
    acc = [np.zeros(tuple(w.shape)) for w in ws]
    for _ in range(probes):
        vs = [torch.randint(0, 2, tuple(w.shape), generator=gen).float() * 2 - 1 for w in ws]
        hvs = torch.autograd.grad(grads, ws, grad_outputs=vs, retain_graph=True)
        for a, v, hv in zip(acc, vs, hvs):
            a += (v * hv).double().numpy()
    return [a / probes for a in acc]


def global_prune(model: nn.Module, saliencies: list[np.ndarray], sparsity: float) -> nn.Module:
    """A copy of ``model`` with the fraction ``sparsity`` of its weights of smallest saliency (over all layers) set to 0."""
    import copy

    pruned = copy.deepcopy(model)
    flat = np.concatenate([s.ravel() for s in saliencies])
    drop = int(round(sparsity * flat.size))
    order = np.argsort(flat, kind="stable")
    keep = np.ones(flat.size, dtype=bool)
    keep[order[:drop]] = False
    start = 0
    with torch.no_grad():
        for w in weight_params(pruned):
            w.mul_(torch.from_numpy(keep[start:start + w.numel()].reshape(tuple(w.shape))).to(w.dtype))
            start += w.numel()
    return pruned


# --- supermasks -----------------------------------------------------------------------------------
class _TopK(torch.autograd.Function):
    """Forward: the student's edge-popup mask of the scores; backward: the identity (straight through)."""

    @staticmethod
    def forward(ctx, scores, k, mask_fn):
        return torch.as_tensor(np.asarray(mask_fn(scores.detach().double().numpy(), k)), dtype=scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


class SupermaskLinear(nn.Linear):
    """A Linear layer whose weights are frozen and whose output uses W * M(scores) (Ramanujan et al. 2020).

    Weights start as the signed constant +-sqrt(2 / fan_in) ("signed Kaiming constant", their best
    initialisation) unless given; scores start Kaiming-uniform. No bias (as in the paper).
    """

    def __init__(self, in_features: int, out_features: int, k: float, mask_fn: Callable, weight=None) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.k, self.mask_fn = k, mask_fn
        with torch.no_grad():
            if weight is None:
                self.weight.copy_(torch.sign(torch.randn_like(self.weight)) * math.sqrt(2.0 / in_features))
            else:
                self.weight.copy_(torch.as_tensor(weight, dtype=self.weight.dtype))
        self.weight.requires_grad_(False)
        self.scores = nn.Parameter(torch.empty_like(self.weight))
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))

    def mask(self) -> torch.Tensor:
        # the mask ranks |s|; applying it to |s| inside autograd (as the authors' code does) makes the straight-through
        # gradient that reaches s the score gradient times sign(s), so that descending it raises the useful |s|
        return _TopK.apply(self.scores.abs(), self.k, self.mask_fn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask())


class SupermaskMLP(nn.Module):
    def __init__(self, widths: tuple, k: float, mask_fn: Callable, weights: list | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SupermaskLinear(a, b, k, mask_fn, None if weights is None else weights[i])
                                    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


# --- CP and Tucker-2 of a convolution kernel --------------------------------------------------------
def cp_als(K: np.ndarray, rank: int, cp_als_update: Callable, cp_reconstruct: Callable, iters: int = 25,
           seed: int = 0) -> tuple[list[np.ndarray], list[float]]:
    """CP-ALS of a 4-D kernel by cycling the student's ``cp_als_update`` over the four modes.

    Mode m is updated by moving axis m to the front (np.moveaxis) and passing the other three factors
    in their order. Returns the factors [A, B, C, D] and the relative error after each sweep.
    """
    rng = np.random.default_rng(seed)
    factors = [rng.normal(size=(d, rank)) / math.sqrt(d) for d in K.shape]
    norm = np.linalg.norm(K)
    errors = []
    for _ in range(iters):
        for m in range(4):
            others = [factors[j] for j in range(4) if j != m]
            factors[m] = np.asarray(cp_als_update(np.moveaxis(K, m, 0), *others))
        errors.append(float(np.linalg.norm(K - cp_reconstruct(*factors)) / norm))
    return factors, errors


def tucker2(K: np.ndarray, r_out: int, r_in: int) -> np.ndarray:
    """The Tucker-2 (HOSVD) approximation of K (O, I, H, W) on its two channel modes (Kim et al. 2016)."""
    O, I = K.shape[:2]
    U_out = np.linalg.svd(K.reshape(O, -1), full_matrices=False)[0][:, :r_out]                    # (O, r_out)
    U_in = np.linalg.svd(np.moveaxis(K, 1, 0).reshape(I, -1), full_matrices=False)[0][:, :r_in]  # (I, r_in)
    core = np.einsum("oihw,or,is->rshw", K, U_out, U_in)
    return np.einsum("rshw,or,is->oihw", core, U_out, U_in)


def conv_costs(O: int, I: int, k: int, hw: int, cp_rank: int | None = None, tucker: tuple | None = None) -> tuple[int, int]:
    """(weights, MACs per image) of a k x k convolution with hw output positions: dense, CP (Lebedev et al. 2015) or Tucker-2."""
    if cp_rank is not None:
        w = cp_rank * (I + k + k + O)
    elif tucker is not None:
        r_out, r_in = tucker
        w = I * r_in + r_in * r_out * k * k + r_out * O
    else:
        w = O * I * k * k
    return w, w * hw
