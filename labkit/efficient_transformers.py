"""A tiny transformer over the 8x8 digits (each image row is a token of 8 pixels), for Lab 13.

``DigitTransformer`` exposes what the efficiency methods of the lab need: every layer's output
(TinyBERT's hidden-state loss), every head's attention scores before the softmax (TinyBERT's
attention loss), an optional class and distillation token (DeiT) and per-input head masks
(EBERT-style dynamic heads, from a small predictor trained through the straight-through
estimator). ``head_macs`` counts the multiply-accumulates of one head and of everything else, so
that expected FLOPs can be computed from a mask. The torch losses here are twins of the NumPy
exercises of ``reference_impl.efficient_transformers`` (the tests compare them); the KD loss is
Lab 1's ``labkit.distillation_torch.kd_loss_torch``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TOKENS = 8  # rows of an 8x8 digit
PIXELS = 8  # pixels per row: a token's features


class Block(nn.Module):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + FFN(LN(x)); returns the scores too."""

    def __init__(self, d: int, heads: int, d_ff: int) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} must be a multiple of heads {heads}")
        self.heads, self.dh = heads, d // heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))

    def forward(self, x: torch.Tensor, head_mask: torch.Tensor | None = None):
        B, L, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, L, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)  # (B, h, L, dh) each
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh)  # (B, h, L, L), before the softmax
        out = scores.softmax(dim=-1) @ v  # (B, h, L, dh)
        if head_mask is not None:
            out = out * head_mask[:, :, None, None]  # (B, h) 0/1 per input and head
        x = x + self.proj(out.transpose(1, 2).reshape(B, L, d))
        return x + self.ff(self.ln2(x)), scores


class DigitTransformer(nn.Module):
    """Rows of a digit as 8 tokens -> ``layers`` blocks -> a classifier.

    ``extra_tokens`` = 0: mean-pooled tokens feed the classifier; 1: a class token (ViT); 2: a class
    and a distillation token with a head each (DeiT). ``gated``: a linear predictor on the mean token
    embedding gives per-input gate logits for every (layer, head); a head runs where its logit is > 0
    (straight-through estimator: forward the hard mask, backward the sigmoid's gradient).
    """

    def __init__(self, d_model: int = 32, layers: int = 4, heads: int = 4, d_ff: int = 64, classes: int = 10,
                 extra_tokens: int = 0, gated: bool = False) -> None:
        super().__init__()
        if extra_tokens not in (0, 1, 2):
            raise ValueError(f"extra_tokens must be 0, 1 or 2, got {extra_tokens!r}")
        self.d, self.n_layers, self.heads, self.d_ff, self.extra = d_model, layers, heads, d_ff, extra_tokens
        self.embed = nn.Linear(PIXELS, d_model)
        self.pos = nn.Parameter(torch.randn(TOKENS, d_model) * 0.02)
        self.tokens = nn.Parameter(torch.randn(extra_tokens, d_model) * 0.02) if extra_tokens else None
        self.blocks = nn.ModuleList(Block(d_model, heads, d_ff) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)
        self.dist_head = nn.Linear(d_model, classes) if extra_tokens == 2 else None
        self.gate = nn.Linear(d_model, layers * heads) if gated else None
        if gated:
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, 3.0)  # start with every head on

    @property
    def seq_len(self) -> int:
        return TOKENS + self.extra

    def forward(self, x: torch.Tensor, head_mask: torch.Tensor | None = None) -> dict:
        """x (B, 64) -> {"logits", "dist_logits" (DeiT), "hidden" [(B, L, d)] * (1 + layers),
        "scores" [(B, h, L, L)] * layers, "gate_logits" (B, layers, h) when gated, "mask" as used}."""
        B = x.shape[0]
        h = self.embed(x.view(B, TOKENS, PIXELS)) + self.pos  # (B, 8, d)
        if self.tokens is not None:
            h = torch.cat([self.tokens.expand(B, -1, -1), h], dim=1)  # (B, L, d)
        out = {"hidden": [h], "scores": []}
        if self.gate is not None and head_mask is None:
            g = self.gate(h.mean(dim=1)).view(B, self.n_layers, self.heads)  # (B, layers, h)
            soft = torch.sigmoid(g)
            head_mask = (g > 0).float() + soft - soft.detach()  # straight-through
            out["gate_logits"] = g
        out["mask"] = head_mask
        for i, block in enumerate(self.blocks):
            h, s = block(h, None if head_mask is None else head_mask[:, i])
            out["hidden"].append(h)
            out["scores"].append(s)
        z = self.ln(h)
        out["logits"] = self.head(z[:, 0] if self.extra else z.mean(dim=1))
        if self.dist_head is not None:
            out["dist_logits"] = self.dist_head(z[:, 1])
        return out


def head_macs(model: DigitTransformer) -> tuple[float, float]:
    """(MACs of one attention head in one layer, MACs of everything else) for one image.

    A head of width dh over L tokens: its share of the Q, K, V and output projections (4 L d dh) and
    its scores and weighted sum (2 L^2 dh). The rest: the embedding, the FFNs and the classifier.
    """
    L, d, dh = model.seq_len, model.d, model.d // model.heads
    per_head = 4 * L * d * dh + 2 * L * L * dh
    rest = TOKENS * PIXELS * d + model.n_layers * 2 * L * d * model.d_ff + d * 10 * (1 + (model.extra == 2))
    if model.gate is not None:
        rest += d * model.n_layers * model.heads
    return float(per_head), float(rest)


def model_macs(model: DigitTransformer) -> float:
    """MACs of one image through the whole model, every head on."""
    per_head, rest = head_macs(model)
    return rest + per_head * model.n_layers * model.heads


# --- torch twins of the NumPy exercises -------------------------------------------------------------
def layer_map(n_student: int, n_teacher: int) -> list[int]:
    """TinyBERT's uniform g(m) = m N / M for m = 0..M (see ``tinybert_layer_map``)."""
    if n_teacher % n_student:
        raise ValueError(f"n_teacher ({n_teacher}) must be a multiple of n_student ({n_student})")
    return [m * n_teacher // n_student for m in range(n_student + 1)]


def tinybert_attention_loss_torch(student_scores: list, teacher_scores: list) -> torch.Tensor:
    """sum_m 1/h sum_i MSE(A^S_m,i, A^T_g(m),i), scores before the softmax (Jiao et al. 2020, eq. 7)."""
    g = layer_map(len(student_scores), len(teacher_scores))
    return sum(F.mse_loss(student_scores[m - 1], teacher_scores[g[m] - 1].detach())
               for m in range(1, len(student_scores) + 1))


def tinybert_hidden_loss_torch(student_hidden: list, teacher_hidden: list, W_h: torch.Tensor,
                               W_e: torch.Tensor) -> torch.Tensor:
    """MSE(E^S W_e, E^T) + sum_m MSE(H^S_m W_h, H^T_g(m)) (Jiao et al. 2020, eqs. 8-9)."""
    g = layer_map(len(student_hidden) - 1, len(teacher_hidden) - 1)
    loss = F.mse_loss(student_hidden[0] @ W_e, teacher_hidden[0].detach())
    for m in range(1, len(student_hidden)):
        loss = loss + F.mse_loss(student_hidden[m] @ W_h, teacher_hidden[g[m]].detach())
    return loss


def soft_cross_entropy_torch(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 1.0):
    """-1/B sum_b softmax(z^T/T) . log softmax(z^S/T) (Jiao et al. 2020, eq. 10)."""
    return F.cross_entropy(student_logits / T, F.softmax(teacher_logits.detach() / T, dim=-1))


def deit_loss_torch(cls_logits, dist_logits, teacher_logits, labels) -> torch.Tensor:
    """1/2 CE(Z_cls, y) + 1/2 CE(Z_dist, argmax Z_t) (Touvron et al. 2021, eq. 3)."""
    return 0.5 * F.cross_entropy(cls_logits, labels) + 0.5 * F.cross_entropy(dist_logits, teacher_logits.argmax(-1))


def head_flops_penalty_torch(gate_logits: torch.Tensor, per_head: float, rest: float, target: float) -> torch.Tensor:
    """max(0, mean E[F] / F_full - target)^2 with E[F] = rest + per_head sum sigmoid(g) (``head_flops_loss``)."""
    full = rest + per_head * gate_logits[0].numel()
    expected = rest + per_head * torch.sigmoid(gate_logits).flatten(1).sum(dim=1)  # (B,)
    return torch.clamp(expected.mean() / full - target, min=0) ** 2


# --- training and evaluation ------------------------------------------------------------------------
def train(model: nn.Module, X: np.ndarray, y: np.ndarray, loss_fn, *, epochs: int, lr: float, batch_size: int,
          seed: int, extra_params: list | None = None) -> nn.Module:
    """AdamW on ``loss_fn(out, xb, yb) -> loss`` (``out`` the model's output dict); returns the model."""
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    params = list(model.parameters()) + list(extra_params or [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = Xt[idx], yt[idx]
            loss = loss_fn(model(xb), xb, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


@torch.no_grad()
def outputs(model: nn.Module, X: np.ndarray) -> dict:
    """The model's outputs on X as NumPy (logits, dist_logits, gate logits / mask where there are)."""
    model.eval()
    out = model(torch.as_tensor(X, dtype=torch.float32))
    keep = {k: v.numpy().astype(np.float64) for k, v in out.items() if isinstance(v, torch.Tensor)}
    return keep
