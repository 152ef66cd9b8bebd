"""Pruning in PyTorch for Lab 3's experiments: masked training, smaller dense MLPs, activations, counts.

Not graded: the masks themselves come from the student's NumPy functions (``magnitude_mask``,
``global_magnitude_masks``, ``nm_mask``, ``prune_filters``); this module applies them to a
``labkit.training.MLP`` and trains the result.

* ``linear_layers(model)`` / ``get_weights(model)``: the Linear layers of an MLP in order, and
  their weights as float64 NumPy arrays in PyTorch's layout ``(out, in)``.
* ``train_masked(model, masks, X, y, ...)``: zero the pruned weights, then train with
  ``labkit.training.train_classifier`` while a gradient hook zeroes their gradients, so they stay
  exactly 0 (Adam's update of a weight whose gradient has always been 0 is 0). Distillation
  works as in ``train_classifier`` (``teacher=``, ``loss_fn=``).
* ``mlp_from_arrays(weights, biases)``: an MLP whose layers are the given (smaller) dense arrays:
  what structured pruning returns.
* ``hidden_activations(model, X)``: the post-ReLU activations of every hidden layer, and the logits.
* ``count_params(model, masks=None)``: weights and biases, dense and non-zero.
* ``random_masks(weights, sparsities, seed)``: the random-pruning baseline with given per-layer sparsities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .training import MLP, train_classifier

__all__ = ["count_params", "get_weights", "hidden_activations", "linear_layers", "mlp_from_arrays",
           "random_masks", "set_weights", "train_masked"]


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's nn.Linear layers in forward order (for an MLP: its layers, input to output)."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("model has no nn.Linear layers")
    return layers


def get_weights(model: nn.Module) -> list[np.ndarray]:
    """Copies of the Linear weights as float64 arrays (out, in), in forward order."""
    return [layer.weight.detach().double().numpy().copy() for layer in linear_layers(model)]


def set_weights(model: nn.Module, weights: Sequence[np.ndarray]) -> None:
    """Overwrite the Linear weights (not the biases) with the given arrays, in forward order."""
    layers = linear_layers(model)
    if len(weights) != len(layers):
        raise ValueError(f"model has {len(layers)} Linear layers, got {len(weights)} weight arrays")
    with torch.no_grad():
        for layer, w in zip(layers, weights):
            w = np.asarray(w)
            if w.shape != tuple(layer.weight.shape):
                raise ValueError(f"weight of shape {w.shape} for a layer of shape {tuple(layer.weight.shape)}")
            layer.weight.copy_(torch.from_numpy(w.astype(np.float32)))


def _mask_tensors(model: nn.Module, masks: Sequence[np.ndarray]) -> list[torch.Tensor]:
    layers = linear_layers(model)
    if len(masks) != len(layers):
        raise ValueError(f"model has {len(layers)} Linear layers, got {len(masks)} masks")
    out = []
    for layer, m in zip(layers, masks):
        m = np.asarray(m)
        if m.shape != tuple(layer.weight.shape):
            raise ValueError(f"mask of shape {m.shape} for a weight of shape {tuple(layer.weight.shape)}")
        if not np.all((m == 0) | (m == 1)):
            raise ValueError("masks must hold only 0/1 (or False/True)")
        out.append(torch.from_numpy(m.astype(np.float32)))
    return out


def train_masked(model: nn.Module, masks: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, **train_kwargs):
    """Train ``model`` in place with its pruned weights (mask 0) held at exactly 0.

    The weights are multiplied by the masks first; during training a hook multiplies each weight's
    gradient by its mask. ``train_kwargs`` go to ``labkit.training.train_classifier`` (epochs, lr,
    batch_size, seed, teacher, loss_fn, X_val, y_val). Returns its TrainHistory.
    """
    layers = linear_layers(model)
    tensors = _mask_tensors(model, masks)
    with torch.no_grad():
        for layer, m in zip(layers, tensors):
            layer.weight.mul_(m)
    hooks = [layer.weight.register_hook(lambda g, m=m: g * m) for layer, m in zip(layers, tensors)]
    try:
        history = train_classifier(model, X, y, **train_kwargs)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():  # a guard against optimiser numerics: pruned weights are exactly 0
        for layer, m in zip(layers, tensors):
            layer.weight.mul_(m)
    return history


def mlp_from_arrays(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> MLP:
    """An MLP (Linear -> ReLU -> ... -> Linear) with exactly these weights (out, in) and biases (out,).

    Consecutive shapes must chain: weights[i + 1].shape[1] == weights[i].shape[0].
    """
    if len(weights) != len(biases) or not weights:
        raise ValueError("give one bias per weight, at least one layer")
    for i in range(1, len(weights)):
        if weights[i].shape[1] != weights[i - 1].shape[0]:
            raise ValueError(f"layer {i} takes {weights[i].shape[1]} inputs but layer {i - 1} gives {weights[i - 1].shape[0]}")
    model = MLP(weights[0].shape[1], [w.shape[0] for w in weights[:-1]], weights[-1].shape[0])
    with torch.no_grad():
        for layer, w, b in zip(linear_layers(model), weights, biases):
            if np.shape(b) != (w.shape[0],):
                raise ValueError(f"bias of shape {np.shape(b)} for a weight of shape {w.shape}")
            layer.weight.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)))
            layer.bias.copy_(torch.from_numpy(np.asarray(b, dtype=np.float32)))
    return model


def hidden_activations(model: MLP, X: np.ndarray) -> list[np.ndarray]:
    """Activations of an MLP on X, one float64 array (N, width) per hidden layer (after ReLU), then the logits (N, C)."""
    if not isinstance(model, MLP):
        raise ValueError(f"hidden_activations needs a labkit MLP, got {type(model).__name__}")
    x = torch.from_numpy(np.asarray(X, dtype=np.float32))
    outs = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for module in model.net:
                x = module(x)
                if isinstance(module, nn.ReLU):
                    outs.append(x.double().numpy().copy())
    finally:
        model.train(was_training)
    outs.append(x.double().numpy().copy())
    return outs


def count_params(model: nn.Module, masks: Sequence[np.ndarray] | None = None) -> dict:
    """Parameter counts of the Linear layers: ``dense`` (weights + biases as stored), ``nonzero``
    (weights that survive the masks, or are non-zero when no masks are given, + biases) and
    ``weights_nonzero``. For a fully connected layer one weight is one MAC per input, so the
    non-zero weight count is also the MACs per sample that a sparse kernel would do.
    """
    layers = linear_layers(model)
    dense = sum(layer.weight.numel() + layer.bias.numel() for layer in layers)
    biases = sum(layer.bias.numel() for layer in layers)
    if masks is None:
        w_nz = sum(int(torch.count_nonzero(layer.weight)) for layer in layers)
    else:
        w_nz = int(sum(float(t.sum()) for t in _mask_tensors(model, masks)))
    return {"dense": int(dense), "nonzero": int(w_nz + biases), "weights_nonzero": int(w_nz)}


def random_masks(weights: Sequence[np.ndarray], sparsities: Sequence[float], seed: int) -> list[np.ndarray]:
    """Random pruning: in layer i, round(sparsities[i] * n_i) weights chosen uniformly at random are removed."""
    if len(weights) != len(sparsities):
        raise ValueError("give one sparsity per layer")
    rng = np.random.default_rng(seed)
    masks = []
    for w, s in zip(weights, sparsities):
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"sparsity must lie in [0, 1], got {s!r}")
        n = np.size(w)
        keep = np.ones(n, dtype=bool)
        keep[rng.permutation(n)[: int(np.round(s * n))]] = False
        masks.append(keep.reshape(np.shape(w)))
    return masks
