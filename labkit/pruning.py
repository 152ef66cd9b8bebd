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

The protocols of the papers Lab 3 follows (each experiment has ``quick=True`` for a first run):

* ``agp_sparsity`` / ``unit_masks`` / ``agp_filter_prune``: gradual filter-wise pruning on Zhu &
  Gupta's cubic schedule, as in chapter III of Blakeney's dissertation;
* ``sparse_init_vs_reinit``: chapter II's control — a random sparse initialisation against the
  pruned network re-initialised, beside the lottery-ticket rewind, at 30-90% sparsity;
* ``modal_predictions`` / ``pruning_identified_exemplars`` / ``pie_experiment``: Hooker et al.'s
  PIEs across seeds;
* ``correlations`` / ``svcca_vs_cev``: whether a pruned model's SVCCA distance to its dense origin
  goes with its CEV.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .training import MLP, accuracy, predict_logits, train_classifier

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


# =============================================================================================
# Lab 3's protocols from the literature (issue 22): gradual filter-wise pruning (AGP), the
# dissertation's ch. II random-sparse-init control, pruning-identified exemplars, and the
# correlation of SVCCA distance with CEV. Each experiment takes the student's graded functions
# as arguments (labkit never imports the reference) and a ``quick`` flag that shrinks it to a
# few seconds for tests and a first run.
# =============================================================================================

__all__ += ["agp_sparsity", "agp_filter_prune", "correlations", "modal_predictions", "pie_experiment",
            "pruning_identified_exemplars", "sparse_init_vs_reinit", "svcca_vs_cev", "unit_masks"]


def agp_sparsity(t: int, s_i: float, s_f: float, t0: int, n: int, dt: int = 1) -> float:
    """Automated gradual pruning's target sparsity at training step t (Zhu & Gupta, "To prune, or
    not to prune", 2017, eq. 1):

        s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3   for t in {t0, t0 + dt, ..., t0 + n dt},

    pruning every dt steps, n times, from s_i to s_f: fast at first, when there are many redundant
    weights, then slower. Between pruning steps the sparsity stays at the last step's value; before
    t0 it is s_i and from t0 + n dt on it is s_f.
    """
    if not (0.0 <= s_i <= 1.0 and 0.0 <= s_f <= 1.0):
        raise ValueError(f"sparsities must lie in [0, 1], got s_i={s_i!r}, s_f={s_f!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 or dt < 1:
        raise ValueError(f"n and dt must be integers >= 1, got n={n!r}, dt={dt!r}")
    if t < t0:
        return float(s_i)
    k = min((t - t0) // dt, n)  # pruning steps done so far
    return float(s_f + (s_i - s_f) * (1 - k / n) ** 3)


def _l1_rows(W: np.ndarray) -> np.ndarray:
    return np.abs(W).reshape(W.shape[0], -1).sum(axis=1)  # (c_out,)


def unit_masks(weights: Sequence[np.ndarray], sparsity: float, score_fn=None, previous=None) -> list[np.ndarray]:
    """Filter-wise (unit-wise) masks for an MLP: in every hidden layer, the round(sparsity * width)
    units with the smallest score (default: L1 norm of the unit's incoming weights, i.e.
    ``l1_filter_scores``; ties: lower index) are removed — their row of W_l and their column of
    W_{l+1} are masked, so the unit no longer reaches the output. The output layer's units stay.
    ``previous`` (masks of an earlier step) keeps removed units removed (AGP never regrows).
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must lie in [0, 1], got {sparsity!r}")
    score_fn = score_fn or _l1_rows
    masks = [np.ones(np.shape(w), dtype=bool) for w in weights]
    for i in range(len(weights) - 1):
        scores = np.asarray(score_fn(np.asarray(weights[i], dtype=np.float64)), dtype=np.float64).copy()
        if previous is not None:
            scores[~previous[i].any(axis=1)] = -np.inf  # already removed: first in line again
        k = int(np.round(sparsity * len(scores)))
        gone = np.argsort(scores, kind="stable")[:k]
        masks[i][gone, :] = False
        masks[i + 1][:, gone] = False
    return masks


def agp_filter_prune(model: MLP, X: np.ndarray, y: np.ndarray, final_sparsity: float, *,
                     initial_sparsity: float = 0.0, steps: int = 5, epochs_per_step: int = 2,
                     finetune_epochs: int = 0, lr: float = 2e-3, batch_size: int = 128, seed: int = 0,
                     score_fn=None, quick: bool = False, **train_kwargs) -> dict:
    """Gradual filter-wise pruning (the protocol of Blakeney's dissertation, ch. III): prune units
    on the AGP schedule ``agp_sparsity(t, initial_sparsity, final_sparsity, 0, steps)`` for
    t = 0..steps, training ``epochs_per_step`` epochs with the mask fixed after each pruning step
    and ``finetune_epochs`` more at the final sparsity. ``model`` is changed in place.

    Returns {"masks": the final masks, "schedule": [s_0, ..., s_steps], "units_kept": per step, the
    kept units of each hidden layer}. ``quick``: 2 steps of 1 epoch, 1 fine-tuning epoch.
    """
    if quick:
        steps, epochs_per_step, finetune_epochs = 2, 1, 1
    schedule, kept, masks = [], [], None
    for t in range(steps + 1):
        s_t = agp_sparsity(t, initial_sparsity, final_sparsity, 0, steps)
        masks = unit_masks(get_weights(model), s_t, score_fn=score_fn, previous=masks)
        train_masked(model, masks, X, y, epochs=epochs_per_step, lr=lr, batch_size=batch_size, seed=seed + t,
                     **train_kwargs)
        schedule.append(s_t)
        kept.append([int(m.any(axis=1).sum()) for m in masks[:-1]])
    if finetune_epochs:
        train_masked(model, masks, X, y, epochs=finetune_epochs, lr=lr, batch_size=batch_size, seed=seed + steps + 1,
                     **train_kwargs)
    return {"masks": masks, "schedule": schedule, "units_kept": kept}


def _new_mlp(widths: Sequence[int], seed: int) -> MLP:
    from .training import set_seed

    set_seed(seed)
    return MLP(widths[0], list(widths[1:-1]), widths[-1])


def sparse_init_vs_reinit(data, mask_fn, *, sparsities=(0.3, 0.5, 0.7, 0.9), seeds=(0, 1, 2),
                          hidden=(64, 32), epochs: int = 20, lr: float = 5e-3, batch_size: int = 128,
                          quick: bool = False) -> dict:
    """The random-sparse-initialisation control of Blakeney's dissertation, ch. II, beside the
    lottery-ticket rewind, at each sparsity s:

    * "reinit": the trained dense network's magnitude mask (``mask_fn(weights, s)``, e.g. the
      student's ``global_magnitude_masks``) on a fresh random initialisation, trained from scratch;
    * "random sparse init": a random mask with the same per-layer sparsities on the same fresh
      initialisation, trained from scratch — no information from the trained network at all;
    * "rewind": the magnitude mask on the dense network's own initialisation (one-shot lottery ticket).

    Every arm trains ``epochs`` epochs with the mask fixed. ``data`` has X_train, y_train, X_test,
    y_test (``labdatasets.digits_splits()``). Returns {"sparsities", "seeds", "dense": (S,) test
    accuracies, and per arm a (len(sparsities), len(seeds)) array}. ``quick``: two sparsities,
    one seed, 3 epochs.
    """
    if quick:
        sparsities, seeds, epochs = tuple(sparsities)[::max(1, len(sparsities) - 1)][:2], tuple(seeds)[:1], 3
    widths = (data.X_train.shape[1], *hidden, int(data.y_train.max()) + 1)
    arms = ("reinit", "random sparse init", "rewind")
    out = {a: np.zeros((len(sparsities), len(seeds))) for a in arms}
    dense_acc = np.zeros(len(seeds))
    fit = dict(epochs=epochs, lr=lr, batch_size=batch_size)

    def trained(init, masks, seed):
        m = _new_mlp(widths, 0)
        m.load_state_dict(init.state_dict())
        train_masked(m, masks, data.X_train, data.y_train, seed=seed, **fit)
        return accuracy(m, data.X_test, data.y_test)

    for j, seed in enumerate(seeds):
        init = _new_mlp(widths, seed)
        dense = _new_mlp(widths, seed)
        train_classifier(dense, data.X_train, data.y_train, seed=seed, **fit)
        dense_acc[j] = accuracy(dense, data.X_test, data.y_test)
        fresh = _new_mlp(widths, 10_000 + seed)
        for i, s in enumerate(sparsities):
            masks = [np.asarray(m, dtype=bool) for m in mask_fn(get_weights(dense), s)]
            rand = random_masks(get_weights(dense), [1 - m.mean() for m in masks], seed=2000 + 10 * seed + i)
            out["reinit"][i, j] = trained(fresh, masks, seed)
            out["random sparse init"][i, j] = trained(fresh, rand, seed)
            out["rewind"][i, j] = trained(init, masks, seed)
    return {"sparsities": tuple(sparsities), "seeds": tuple(seeds), "dense": dense_acc, **out}


def modal_predictions(preds: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """The most common label per column of preds (models, N); ties go to the smallest label."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.size == 0 or preds.dtype.kind not in "iu":
        raise ValueError(f"preds must be a non-empty (models, N) integer array, got shape {preds.shape}")
    C = int(num_classes or preds.max() + 1)
    counts = np.zeros((C, preds.shape[1]), dtype=np.int64)
    np.add.at(counts, (preds, np.arange(preds.shape[1])[None, :].repeat(preds.shape[0], 0)), 1)
    return counts.argmax(axis=0)  # argmax: first (smallest) label among ties


def pruning_identified_exemplars(dense_preds: np.ndarray, pruned_preds: np.ndarray) -> np.ndarray:
    """Hooker et al., "What Do Compressed Deep Neural Networks Forget?" (2019): an example is a PIE
    when the modal label of a population of pruned models differs from the modal label of a
    population of dense models (independently trained, e.g. over seeds). Returns a bool mask (N,).
    """
    dense_preds, pruned_preds = np.asarray(dense_preds), np.asarray(pruned_preds)
    if dense_preds.ndim != 2 or pruned_preds.ndim != 2 or dense_preds.shape[1] != pruned_preds.shape[1]:
        raise ValueError(f"need (models, N) predictions over the same N examples, got {dense_preds.shape}, {pruned_preds.shape}")
    C = int(max(dense_preds.max(), pruned_preds.max()) + 1)
    return modal_predictions(dense_preds, C) != modal_predictions(pruned_preds, C)


def _fine_tuned(dense: MLP, masks, data, seed, epochs, lr, batch_size) -> MLP:
    import copy

    m = copy.deepcopy(dense)
    train_masked(m, masks, data.X_train, data.y_train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return m


def pie_experiment(data, mask_fn, *, sparsity: float = 0.9, seeds=(0, 1, 2, 3, 4), hidden=(64, 32),
                   epochs: int = 20, finetune_epochs: int = 10, lr: float = 5e-3, ft_lr: float = 2e-3,
                   batch_size: int = 128, quick: bool = False) -> dict:
    """PIEs across seeds: train one dense MLP per seed, prune each with ``mask_fn(weights, sparsity)``
    and fine-tune; the PIEs of the test set are where the two populations' modal labels differ.

    Returns {"pie": bool (N,), "dense_preds", "pruned_preds": (S, N), and the mean test accuracy
    of the dense and the pruned models on the PIEs and on the other examples}. ``quick``: 3 seeds,
    3 + 2 epochs.
    """
    if quick:
        seeds, epochs, finetune_epochs = tuple(seeds)[:3], 3, 2
    widths = (data.X_train.shape[1], *hidden, int(data.y_train.max()) + 1)
    dense_preds, pruned_preds = [], []
    for seed in seeds:
        dense = _new_mlp(widths, seed)
        train_classifier(dense, data.X_train, data.y_train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        masks = mask_fn(get_weights(dense), sparsity)
        pruned = _fine_tuned(dense, masks, data, seed, finetune_epochs, ft_lr, batch_size)
        dense_preds.append(predict_logits(dense, data.X_test).argmax(axis=1))
        pruned_preds.append(predict_logits(pruned, data.X_test).argmax(axis=1))
    dense_preds, pruned_preds = np.array(dense_preds), np.array(pruned_preds)
    pie = pruning_identified_exemplars(dense_preds, pruned_preds)
    right_d, right_p = dense_preds == data.y_test, pruned_preds == data.y_test

    def acc(right, where):
        return float(right[:, where].mean()) if where.any() else float("nan")

    return {"pie": pie, "dense_preds": dense_preds, "pruned_preds": pruned_preds,
            "dense_acc_pie": acc(right_d, pie), "dense_acc_rest": acc(right_d, ~pie),
            "pruned_acc_pie": acc(right_p, pie), "pruned_acc_rest": acc(right_p, ~pie)}


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def correlations(x, y) -> tuple[float, float]:
    """(Pearson r, Spearman rho) of two 1-D samples of one length n >= 3 (Spearman: Pearson of the
    average ranks). nan when a sample is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 3:
        raise ValueError(f"need two 1-D samples of one length >= 3, got {x.shape}, {y.shape}")

    def pearson(a, b):
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a @ a) * (b @ b))
        return float(a @ b / den) if den > 0 else float("nan")

    return pearson(x, y), pearson(_ranks(x), _ranks(y))


def svcca_vs_cev(data, mask_fn, svcca_fn, cev_fn, rates_fn, rate_change_fn, *,
                 sparsities=(0.3, 0.5, 0.7, 0.8, 0.9), seeds=(0, 1, 2), hidden=(64, 32), epochs: int = 20,
                 finetune_epochs: int = 10, lr: float = 5e-3, ft_lr: float = 2e-3, batch_size: int = 128,
                 layer: int = -2, quick: bool = False) -> dict:
    """Does the pruned model's representation drift (SVCCA distance to the dense model) go with its
    bias (CEV)? Blakeney's ch. III relates the two; here at the lab's scale. For every seed and
    sparsity: prune the dense MLP with ``mask_fn``, fine-tune, then

    * SVCCA distance = 1 - ``svcca_fn(A_dense, A_pruned)`` of hidden layer ``layer`` (default the
      last hidden layer) on the test set, activations transposed to (neurons, N);
    * CEV = ``cev_fn`` of the normalised per-class FPR/FNR changes (``rates_fn`` =
      per_class_fpr_fnr, ``rate_change_fn`` with floors 1/#negatives and 1/#positives).

    Returns {"sparsity", "seed", "svcca_distance", "cev", "accuracy": one entry per pruned model,
    "pearson", "spearman": their correlation over all models}. ``quick``: 3 sparsities, 1 seed, 3 + 2 epochs.
    """
    if quick:
        sparsities, seeds, epochs, finetune_epochs = (0.3, 0.6, 0.9), tuple(seeds)[:1], 3, 2
    widths = (data.X_train.shape[1], *hidden, int(data.y_train.max()) + 1)
    C = widths[-1]
    pos = np.bincount(data.y_test, minlength=C)
    neg = len(data.y_test) - pos
    rows = {"sparsity": [], "seed": [], "svcca_distance": [], "cev": [], "accuracy": []}
    for seed in seeds:
        dense = _new_mlp(widths, seed)
        train_classifier(dense, data.X_train, data.y_train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        A = hidden_activations(dense, data.X_test)[layer].T  # (neurons, N)
        fpr0, fnr0 = rates_fn(data.y_test, predict_logits(dense, data.X_test).argmax(axis=1), C)
        for s in sparsities:
            pruned = _fine_tuned(dense, mask_fn(get_weights(dense), s), data, seed, finetune_epochs, ft_lr, batch_size)
            B = hidden_activations(pruned, data.X_test)[layer].T
            B = B[B.std(axis=1) > 0]  # dead units (all-zero after pruning) carry no subspace
            fpr1, fnr1 = rates_fn(data.y_test, predict_logits(pruned, data.X_test).argmax(axis=1), C)
            d_fpr, d_fnr = rate_change_fn(fpr0, fpr1, 1 / neg), rate_change_fn(fnr0, fnr1, 1 / np.maximum(pos, 1))
            rows["sparsity"].append(s)
            rows["seed"].append(seed)
            rows["svcca_distance"].append(1.0 - svcca_fn(A[A.std(axis=1) > 0], B))
            rows["cev"].append(cev_fn(d_fpr, d_fnr))
            rows["accuracy"].append(accuracy(pruned, data.X_test, data.y_test))
    out = {k: np.array(v) for k, v in rows.items()}
    out["pearson"], out["spearman"] = correlations(out["svcca_distance"], out["cev"])
    return out
