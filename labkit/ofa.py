"""What Lab 9's experiments run on: an elastic MLP supernet for the 8x8 digits (once-for-all),
its progressive-shrinking training, subnet extraction, and the three searches (evolution with an
accuracy predictor, random search, a REINFORCE controller) over the same discrete space.

Not graded. Every function that needs one of the lab's exercises takes it as an argument, so the
student's NumPy code runs: the in-place distillation gradient comes from ``inplace_kd_loss`` and is
back-propagated through the subnet (``logits.backward(grad)``), subnets are cut out with
``elastic_linear``, channels are sorted with ``sort_channels``. Lab 5's helpers are reused, not
copied: the digits split (``labdatasets.digits_splits``), its mini-batch order and its training loop
for networks trained from scratch (``labkit.nas.train_network``).

The search space. The supernet is the MLP 64 -> w_1 -> ... -> w_D -> 10 with every w_l = max width.
An architecture is a gene vector ``(depth index, width index of layer 1, ..., of layer D)``: a
subnet keeps the first ``depth`` hidden layers and the first ``w_l`` channels of each
(elastic depth and width, Cai et al., ICLR 2020), and the classifier reads the first ``w_depth``
channels of the last kept layer.

Channel sorting. In a plain MLP the classifier is shared by subnets of every depth, so sorting layer
l's channels (and the next layer's inputs alike) keeps every subnet's function only while the
network has one depth. The channels are therefore sorted once, right after stage 0 (the largest
network alone), where OFA sorts at the start of its width phase (there the sorted channels are the
inside of a residual block, which no other depth reads).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labkit.nas import eval_accuracy, minibatches, train_network
from labkit.training import MLP

__all__ = ["ElasticMLP", "all_architectures", "decode", "extract_subnet", "one_hot", "sort_supernet",
           "subnet_accuracy", "train_from_scratch", "train_supernet"]


class ElasticMLP(nn.Module):
    """The largest network 64 -> max_width (x max_depth) -> 10; ``forward(x, widths, depth)`` runs a subnet of it."""

    def __init__(self, d_in: int = 64, max_width: int = 64, max_depth: int = 3, d_out: int = 10):
        super().__init__()
        self.d_in, self.max_width, self.max_depth, self.d_out = d_in, max_width, max_depth, d_out
        self.hidden = nn.ModuleList([nn.Linear(d_in if l == 0 else max_width, max_width) for l in range(max_depth)])
        self.head = nn.Linear(max_width, d_out)

    def forward(self, x: torch.Tensor, widths: Sequence[int] | None = None, depth: int | None = None) -> torch.Tensor:
        depth = self.max_depth if depth is None else int(depth)
        widths = [self.max_width] * self.max_depth if widths is None else [int(w) for w in widths]
        h, n_in = x, self.d_in  # (B, d_in)
        for l in range(depth):
            layer = self.hidden[l]
            h = F.relu(F.linear(h, layer.weight[: widths[l], :n_in], layer.bias[: widths[l]]))  # (B, w_l)
            n_in = widths[l]
        return F.linear(h, self.head.weight[:, :n_in], self.head.bias)  # (B, d_out)


def decode(genes: Sequence[int], width_choices: Sequence[int], depth_choices: Sequence[int]) -> tuple[list, int]:
    """Gene vector (depth index, width indices...) -> (widths list, depth)."""
    ws, ds = sorted(set(width_choices)), sorted(set(depth_choices))
    return [ws[int(g)] for g in genes[1:]], ds[int(genes[0])]


def all_architectures(width_choices: Sequence[int], depth_choices: Sequence[int]) -> list[np.ndarray]:
    """Every distinct subnet once, as a gene vector (the widths below the depth set to index 0)."""
    ws, ds = sorted(set(width_choices)), sorted(set(depth_choices))
    out = []
    for di, d in enumerate(ds):
        for code in np.ndindex(*([len(ws)] * d)):
            out.append(np.array([di, *code] + [0] * (max(ds) - d), dtype=np.int64))
    return out


def canonical(genes: np.ndarray, depth_choices: Sequence[int]) -> tuple:
    """The subnet a gene vector stands for: the width genes below its depth do not matter."""
    d = sorted(set(depth_choices))[int(genes[0])]
    return (int(genes[0]), *[int(g) for g in genes[1 : 1 + d]])


def one_hot(genes: np.ndarray, n_choices: Sequence[int], depth_choices: Sequence[int]) -> np.ndarray:
    """The predictor's encoding: one one-hot block per gene, unused width genes all zero."""
    d = sorted(set(depth_choices))[int(genes[0])]
    blocks = []
    for i, (g, n) in enumerate(zip(genes, n_choices)):
        b = np.zeros(n)
        if i <= d:
            b[int(g)] = 1.0
        blocks.append(b)
    return np.concatenate(blocks)


def sort_supernet(model: ElasticMLP, sort_channels) -> None:
    """Sort every hidden layer's channels by importance with the student's ``sort_channels`` (in place)."""
    layers = list(model.hidden) + [model.head]
    with torch.no_grad():
        for l in range(model.max_depth):
            cur, nxt = layers[l], layers[l + 1]
            W1, b1, W2 = sort_channels(cur.weight.double().numpy(), cur.bias.double().numpy(),
                                       nxt.weight.double().numpy())
            cur.weight.copy_(torch.as_tensor(W1, dtype=torch.float32))
            cur.bias.copy_(torch.as_tensor(b1, dtype=torch.float32))
            nxt.weight.copy_(torch.as_tensor(W2, dtype=torch.float32))


def train_supernet(data, ps_sample, inplace_kd_loss, sort_channels, *, width_choices, depth_choices,
                   stage_steps: Sequence[int], lr: float = 3e-3, batch_size: int = 64, T: float = 1.0,
                   seed: int = 0, max_width: int | None = None) -> ElasticMLP:
    """Progressive shrinking: stage 0 trains the largest network; then its channels are sorted; stages 1 and 2
    add one subnet per step, sampled by ``ps_sample``, trained by in-place distillation from the largest
    network's logits (``inplace_kd_loss`` gives the gradient at the subnet's logits)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ElasticMLP(max_width=max_width or max(width_choices), max_depth=max(depth_choices))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    Xt, yt = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    for stage, steps in enumerate(stage_steps):
        if stage == 1:
            sort_supernet(model, sort_channels)
            opt = torch.optim.Adam(model.parameters(), lr=lr)  # moments belong to the old channel order
        done = 0
        while done < steps:
            for idx in minibatches(len(Xt), batch_size, gen):
                opt.zero_grad()
                big = model(Xt[idx])
                F.cross_entropy(big, yt[idx]).backward()
                if stage > 0:
                    widths, depth = ps_sample(rng.random(max(depth_choices) + 1), stage, list(width_choices),
                                              list(depth_choices))
                    sub = model(Xt[idx], widths, depth)
                    _, grad = inplace_kd_loss(sub.detach().double().numpy(), big.detach().double().numpy(), T)
                    sub.backward(torch.as_tensor(grad, dtype=sub.dtype))
                opt.step()
                done += 1
                if done == steps:
                    break
    model.eval()
    return model


def extract_subnet(model: ElasticMLP, widths: Sequence[int], depth: int, elastic_linear) -> MLP:
    """A standalone ``labkit.training.MLP`` holding the subnet's inherited weights (cut by ``elastic_linear``)."""
    net = MLP(model.d_in, [int(w) for w in widths[:depth]], model.d_out)
    linears = [m for m in net.net if isinstance(m, nn.Linear)]
    sources = list(model.hidden[:depth]) + [model.head]
    n_in = model.d_in
    with torch.no_grad():
        for dst, src in zip(linears, sources):
            W, b = elastic_linear(src.weight.detach().double().numpy(), src.bias.detach().double().numpy(),
                                  dst.out_features, n_in)
            dst.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
            dst.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
            n_in = dst.out_features
    return net.eval()


def subnet_accuracy(net: nn.Module, data, split: str = "val") -> float:
    X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
    return eval_accuracy(net, torch.as_tensor(X), torch.as_tensor(y))


def train_from_scratch(widths: Sequence[int], depth: int, data, *, steps: int, lr: float = 3e-3, seed: int = 0,
                       eval_on: str = "test") -> float:
    """The subnet as a fresh MLP, trained alone with Lab 5's loop (``labkit.nas.train_network``)."""
    torch.manual_seed(seed)
    net = MLP(64, [int(w) for w in widths[:depth]], 10)
    return train_network(net, data, steps=steps, lr=lr, seed=seed, eval_on=eval_on)
