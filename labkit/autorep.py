"""AutoReP training in PyTorch for the Lab 7 experiments (not graded; shipped to students).

AutoReP (Peng et al., "AutoReP: Automatic ReLU Replacement for Fast Private Network Inference",
ICCV 2023) gives every hidden neuron an indicator m in {0, 1}: m = 1 keeps its ReLU, m = 0
replaces it by a per-neuron polynomial c0 + c1 x + c2 x^2 (initialised by the DaPa fit of
the student's ``dapa_gaussian_fit``, passed in as ``fit``). The indicator is driven by a real
auxiliary parameter ``aux``:

* forward: m is updated before each step by the hysteresis rule
  new = old * [aux > -t] + (1 - old) * [aux > t]  (exercise ``hysteresis_update``);
* backward: the step has no useful gradient, so d loss / d aux = d loss / d m * softplus(aux)
  (the straight-through estimator of exercise ``ste_backward``, as in the authors' code,
  ``STEFunction.backward`` in github.com/harveyp123/AutoReP models_util/model_spReLU.py: softplus is
  the surrogate of dm/d aux itself, not of m, so the factor is softplus and not its derivative
  sigmoid);
* a ReLU-count penalty lam * max(sum m - budget, 0) / n_neurons pushes the count down to the
  budget (this lab's form of the budget constraint).

After the search phase the budget is enforced exactly (the ``budget`` neurons with the
largest aux keep their ReLU), and the network is fine-tuned with the indicators frozen.
Each torch function here restates a formula that the exercises' docstrings give in full.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["AutoRepMLP", "PolyReLU", "hysteresis_update_torch", "relu_count", "ste_mask", "train_autorep"]


def hysteresis_update_torch(mask: torch.Tensor, aux: torch.Tensor, t: float) -> torch.Tensor:
    """new = old * [aux > -t] + (1 - old) * [aux > t], on boolean tensors."""
    return (mask & (aux > -t)) | (~mask & (aux > t))


class _STE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, aux, mask):
        ctx.save_for_backward(aux)
        return mask.to(aux.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (aux,) = ctx.saved_tensors
        return grad_out * nn.functional.softplus(aux), None


def ste_mask(aux: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The indicator as a float tensor (forward: ``mask``); its gradient reaches aux times softplus(aux)."""
    return _STE.apply(aux, mask)


class PolyReLU(nn.Module):
    """Per-neuron choice between ReLU (mask True) and c0 + c1 x + c2 x^2 (mask False)."""

    def __init__(self, width: int, aux_init: float = 1.0) -> None:
        super().__init__()
        self.aux = nn.Parameter(torch.full((width,), float(aux_init)))
        self.coef = nn.Parameter(torch.tensor([[0.0, 0.5, 0.0]]).repeat(width, 1))  # (width, 3)
        self.register_buffer("mask", torch.ones(width, dtype=torch.bool))
        self.frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, width)
        m = self.mask.to(x.dtype) if self.frozen else ste_mask(self.aux, self.mask)  # (width,)
        c = self.coef
        poly = c[:, 0] + c[:, 1] * x + c[:, 2] * x * x  # (B, width)
        return m * torch.relu(x) + (1 - m) * poly

    def soft_count(self) -> torch.Tensor:
        return ste_mask(self.aux, self.mask).sum()


class AutoRepMLP(nn.Module):
    """Linear -> PolyReLU -> ... -> Linear, with the Linear layers copied from a trained ``labkit.training.MLP``."""

    def __init__(self, mlp: nn.Module, aux_init: float = 1.0) -> None:
        super().__init__()
        linears = [m for m in mlp.net if isinstance(m, nn.Linear)]
        layers: list[nn.Module] = []
        for lin in linears[:-1]:
            new = nn.Linear(lin.in_features, lin.out_features)
            new.load_state_dict(lin.state_dict())
            layers += [new, PolyReLU(lin.out_features, aux_init)]
        last = nn.Linear(linears[-1].in_features, linears[-1].out_features)
        last.load_state_dict(linears[-1].state_dict())
        layers.append(last)
        self.net = nn.Sequential(*layers)

    @property
    def acts(self) -> list[PolyReLU]:
        return [m for m in self.net if isinstance(m, PolyReLU)]

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def preactivations(self, X: np.ndarray) -> list[np.ndarray]:
        """The input of every PolyReLU on X (N, width), in eval mode without gradients."""
        out, h = [], torch.as_tensor(np.asarray(X, dtype=np.float32))
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, PolyReLU):
                    out.append(h.numpy().copy())
                h = layer(h)
        return out

    def init_polynomials(self, X: np.ndarray, fit: Callable[[float, float], np.ndarray]) -> None:
        """Set each neuron's coefficients to ``fit(mean, std)`` of its pre-activation on X (DaPa)."""
        for act, z in zip(self.acts, self.preactivations(X)):
            coefs = [np.asarray(fit(float(mu), float(max(sd, 1e-3))), dtype=np.float64)
                     for mu, sd in zip(z.mean(axis=0), z.std(axis=0))]
            with torch.no_grad():
                act.coef.copy_(torch.as_tensor(np.stack(coefs), dtype=torch.float32))


def relu_count(model: AutoRepMLP) -> int:
    """Number of neurons that keep their ReLU."""
    return int(sum(int(a.mask.sum()) for a in model.acts))


def _enforce_budget(model: AutoRepMLP, budget: int) -> None:
    """Keep the ReLU of the ``budget`` neurons with the largest aux, and freeze every indicator."""
    aux = torch.cat([a.aux.detach() for a in model.acts])
    keep = torch.zeros_like(aux, dtype=torch.bool)
    if budget > 0:
        keep[torch.topk(aux, min(budget, aux.numel())).indices] = True
    start = 0
    for a in model.acts:
        n = a.mask.numel()
        a.mask.copy_(keep[start : start + n])
        a.frozen = True
        start += n


def train_autorep(
    model: AutoRepMLP,
    X: np.ndarray,
    y: np.ndarray,
    *,
    budget: int,
    search_epochs: int = 20,
    finetune_epochs: int = 10,
    lr: float = 1e-3,
    aux_lr: float = 5e-2,
    lam: float = 2.0,
    t: float = 0.1,
    batch_size: int = 64,
    seed: int = 0,
    mask_init: np.ndarray | None = None,
) -> dict:
    """AutoReP search (hysteresis + STE + ReLU-count penalty), exact budget, then fine-tuning.

    With ``mask_init`` (a boolean array over all hidden neurons) the search is skipped: the
    indicators are set to it and frozen (the random-placement baseline). Returns a dict with the
    ReLU count after the search (``searched_count``) and the per-epoch training loss.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    n_neurons = sum(a.mask.numel() for a in model.acts)
    aux_params = [a.aux for a in model.acts]
    other = [p for n, p in model.named_parameters() if not n.endswith(".aux")]
    shuffle = torch.Generator().manual_seed(seed)
    history = {"loss": [], "count": []}

    def run(epochs: int, search: bool) -> None:
        opt = torch.optim.Adam(other, lr=lr)
        aux_opt = torch.optim.SGD(aux_params, lr=aux_lr) if search else None
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(Xt), generator=shuffle)
            total = 0.0
            for s in range(0, len(Xt), batch_size):
                idx = order[s : s + batch_size]
                if search:
                    with torch.no_grad():
                        for a in model.acts:
                            a.mask.copy_(hysteresis_update_torch(a.mask, a.aux, t))
                loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                if search:
                    count = sum(a.soft_count() for a in model.acts)
                    loss = loss + lam * torch.relu(count - budget) / n_neurons
                opt.zero_grad(set_to_none=True)
                if aux_opt is not None:
                    aux_opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(other, 5.0)
                opt.step()
                if aux_opt is not None:
                    aux_opt.step()
                total += float(loss.detach()) * len(idx)
            history["loss"].append(total / len(Xt))
            history["count"].append(relu_count(model))

    if mask_init is None:
        run(search_epochs, search=True)
        history["searched_count"] = relu_count(model)
        _enforce_budget(model, budget)
    else:
        mask_init = np.asarray(mask_init, dtype=bool)
        if mask_init.shape != (n_neurons,):
            raise ValueError(f"mask_init must have shape ({n_neurons},), got {mask_init.shape}")
        start = 0
        for a in model.acts:
            n = a.mask.numel()
            a.mask.copy_(torch.as_tensor(mask_init[start : start + n]))
            a.frozen = True
            start += n
        history["searched_count"] = int(mask_init.sum())
    run(finetune_epochs, search=False)
    model.eval()
    return history
