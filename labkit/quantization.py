"""PyTorch quantization for Lab 8's experiments: fake quantization with the STE, LSQ, QAT, PTQ.

Not graded. The NumPy exercises (reference_impl/quantization.py) define the maths; this module
is the torch side the experiments train with, so every function here is short and tested against
the NumPy reference or torch's own fake quantizers (tests/labkit/test_quantization.py).

- ``fake_quant_ste``: x -> scale (clamp(round(x / scale) + zp) - zp) with the straight-through
  estimator (Bengio et al. 2013): the gradient passes where the clamp is inactive.
- ``LSQQuantizer``: a learnable step size (Esser et al., ICLR 2020), with LSQ's gradient scale.
- ``QuantLinear``: a Linear whose weight is fake-quantized on every forward (symmetric, per output
  channel by default), by the STE with scale from the current weights, or by LSQ.
- ``to_qat(model, bits, method)``: a copy of an MLP with every Linear replaced by a QuantLinear,
  trained with ``labkit.training.train_classifier`` like any model (with ``teacher=`` for KD).
- ``ptq_weights(model, fake_quant)``: post-training quantization: a copy whose weights are replaced by
  ``fake_quant(W, axis_of_output_channels)`` — the student's NumPy quantizer — for every Linear and Conv2d.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["LSQQuantizer", "QuantLinear", "fake_quant_ste", "ptq_weights", "quantized_layers", "to_qat"]


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    return bits


def fake_quant_ste(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor | int, q_min: int,
                   q_max: int) -> torch.Tensor:
    """scale (clamp(round(x / scale) + zp, q_min, q_max) - zp) forward; STE backward.

    The gradient w.r.t. x is the incoming gradient where q_min <= round(x / scale) + zp <= q_max and
    0 elsewhere (as torch.fake_quantize_per_tensor_affine); no gradient flows to scale (it is
    recomputed from the data, not learned — for a learned step see LSQQuantizer). scale and zero_point
    broadcast against x (per-channel: shape (C, 1) for a (C, d) weight).
    """
    scale = scale.detach()
    q = torch.round(x / scale) + zero_point
    inside = (q >= q_min) & (q <= q_max)
    x_hat = (torch.clamp(q, q_min, q_max) - zero_point) * scale
    return x_hat.detach() + (x - x.detach()) * inside


class LSQQuantizer(nn.Module):
    """LSQ: v_hat = round(clip(v / s, -Q_N, Q_P)) s with a learned step s (Esser et al. 2020, signed data).

    The step is initialised to 2 mean|v| / sqrt(Q_P) (their sec. 2.1) from the first tensor it sees,
    and its gradient is scaled by g = 1 / sqrt(N Q_P) (sec. 2.2): the gradients are those of
    ``reference_impl.quantization.lsq_grads``.
    """

    def __init__(self, bits: int) -> None:
        super().__init__()
        bits = _check_bits(bits)
        self.Q_N, self.Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
        self.step = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialised):
            with torch.no_grad():
                self.step.fill_(max(2 * v.abs().mean().item() / math.sqrt(self.Q_P), 1e-8))
                self.initialised.fill_(True)
        g = 1.0 / math.sqrt(v.numel() * self.Q_P)
        s = self.step * g + (self.step - self.step * g).detach()  # value s, gradient scaled by g
        t = torch.clamp(v / s, -self.Q_N, self.Q_P)
        t = t + (torch.round(t) - t).detach()  # round with the STE
        return t * s


class QuantLinear(nn.Module):
    """A Linear layer whose weight is fake-quantized (symmetric, k bits) on every forward.

    ``method="ste"``: scale = max|W_o| / (2^(k-1) - 1) per output channel o (or per tensor), from the
    current weights, and the STE; ``method="lsq"``: one learned step (LSQ). The bias stays float.
    """

    def __init__(self, layer: nn.Linear, bits: int, method: str = "ste", per_channel: bool = True) -> None:
        super().__init__()
        if method not in ("ste", "lsq"):
            raise ValueError(f"method must be 'ste' or 'lsq', got {method!r}")
        self.bits, self.method, self.per_channel = _check_bits(bits), method, per_channel
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone())
        self.lsq = LSQQuantizer(bits) if method == "lsq" else None

    def quantized_weight(self) -> torch.Tensor:
        if self.lsq is not None:
            return self.lsq(self.weight)
        q_max = 2 ** (self.bits - 1) - 1
        W = self.weight  # (out, in)
        m = W.detach().abs().amax(dim=1, keepdim=True) if self.per_channel else W.detach().abs().max()
        scale = torch.where(m > 0, m / q_max, torch.ones_like(m))
        return fake_quant_ste(W, scale, 0, -q_max, q_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.quantized_weight(), self.bias)  # (B, in) -> (B, out)


def _replace_linears(model: nn.Module, make: Callable[[nn.Linear], nn.Module]) -> nn.Module:
    out = copy.deepcopy(model)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, make(child))
    return out


def to_qat(model: nn.Module, bits: int, method: str = "ste", per_channel: bool = True) -> nn.Module:
    """A copy of ``model`` with every nn.Linear replaced by a QuantLinear (the original is untouched)."""
    return _replace_linears(model, lambda layer: QuantLinear(layer, bits, method, per_channel))


def quantized_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose weights PTQ quantizes: every nn.Linear and nn.Conv2d, in order."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def ptq_weights(model: nn.Module, fake_quant: Callable[[np.ndarray], np.ndarray]) -> nn.Module:
    """Post-training, weight-only quantization: a copy whose every Linear / Conv2d weight W becomes fake_quant(W).

    ``fake_quant`` takes the weight as a float64 NumPy array in torch's layout (output channels on
    axis 0) and returns the dequantized weight of the same shape; biases and activations stay float.
    For a QuantLinear model, use to_qat's weights directly instead.
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        for layer in quantized_layers(out):
            W = layer.weight.detach().double().numpy()
            W_hat = np.asarray(fake_quant(W), dtype=np.float64)
            if W_hat.shape != W.shape:
                raise ValueError(f"fake_quant returned shape {W_hat.shape} for a weight of shape {W.shape}")
            layer.weight.copy_(torch.from_numpy(W_hat).to(layer.weight.dtype))
    return out
