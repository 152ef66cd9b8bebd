"""Pruning: the NumPy reference graded in Lab 3 (masks, structured pruning, N:M, IMP schedule).

Every public function here is an exercise: its source (signature, docstring and body) is copied
verbatim into the solution notebook by ``course build``, and the student skeleton keeps the
signature and docstring with the body removed. So each function is self-contained: it may call
the other exercise functions of this lab by name (the student has written those too), and
``numpy`` as ``np``, nothing else.

Conventions (where the literature differs, the one chosen is stated):

* A mask has the shape of its weight; ``True`` (or 1) keeps a weight, ``False`` (0) prunes it.
  Sparsity is the fraction of weights *removed*; density = 1 - sparsity survives.
* Exactly ``k = round(sparsity * n)`` weights are removed, with NumPy's / Python's ``round``
  (half to even: 0.5 * 5 = 2.5 -> 2). A threshold ``|w| > t`` cannot promise this when weights
  tie, so the order is total: **smaller |w| is pruned first, and among equal |w| the lower flat
  (row-major) index is pruned first** — what a stable ascending sort of |w| gives.
* Weights use PyTorch's layout: a Linear weight is ``(out, in)``, a Conv2d weight
  ``(c_out, c_in, kh, kw)``; a layer's "filters" / output units are the rows along axis 0, and the
  next layer sees them as its input channels, axis 1 of its weight.
* Han et al., "Learning both Weights and Connections for Efficient Neural Networks" (NeurIPS 2015)
  for magnitude pruning; Li et al., "Pruning Filters for Efficient ConvNets" (ICLR 2017) for L1
  filter pruning; Mishra et al., "Accelerating Sparse Deep Neural Networks" (2021, NVIDIA 2:4) for
  N:M sparsity; Frankle & Carbin, "The Lottery Ticket Hypothesis" (ICLR 2019) and Frankle et al.,
  "Linear Mode Connectivity and the Lottery Ticket Hypothesis" (ICML 2020, rewinding to step k)
  for iterative magnitude pruning.
"""

from __future__ import annotations

import numpy as np


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Layer-wise magnitude pruning: the mask that removes the round(sparsity * n) smallest |w|.

    k = round(sparsity * n),   n = w.size   (round half to even, as np.round and Python's round)
    mask = 0 at the k positions that come first when the weights are ordered by (|w|, flat index),
    1 elsewhere: smaller magnitude is pruned first, and among equal magnitudes the lower
    row-major index is pruned first (a stable ascending sort of |w|). So exactly k weights go,
    even when many weights tie (e.g. all zeros), which a threshold |w| > t cannot promise.
    Han et al. (2015).

    Args:
        w: a weight array of any shape (a Linear (out, in), a Conv2d (c_out, c_in, kh, kw), ...).
        sparsity: the fraction of weights to remove, a number in [0, 1].

    Returns:
        a boolean array of w's shape: True = keep, False = pruned; exactly k entries are False.

    Raises:
        ValueError: if sparsity is not a number in [0, 1] or w has non-finite entries.
    """
    if not np.isfinite(sparsity) or not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1], got {sparsity!r}")
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("w must contain only finite numbers")
    k = int(np.round(sparsity * w.size))  # how many weights to remove
    order = np.argsort(np.abs(w).ravel(), kind="stable")  # (n,) ascending |w|, ties by index
    keep = np.ones(w.size, dtype=bool)  # (n,)
    keep[order[:k]] = False
    return keep.reshape(w.shape)


def global_magnitude_masks(weights: list, sparsity: float) -> list:
    """Global magnitude pruning: one threshold across all layers, round(sparsity * n_total) weights removed.

    All layers' |w| are ranked together, in the order of the concatenation
    [w_0.ravel(), w_1.ravel(), ...]; the k = round(sparsity * n_total) first in the order
    (|w|, position in the concatenation) are pruned: smaller |w| first, ties to the earlier layer,
    then the lower flat index. Layers with many small weights lose more than ``sparsity`` of
    them, layers with large weights less: the network decides where to be sparse (Han et al.
    2015; Frankle & Carbin 2019 prune globally for deep networks). With a single layer it is
    ``magnitude_mask``.

    Args:
        weights: a non-empty list of weight arrays (any shapes).
        sparsity: the fraction of all weights to remove, a number in [0, 1].

    Returns:
        a list of boolean masks, one per weight array, each of its array's shape (True = keep).

    Raises:
        ValueError: if weights is empty, sparsity is not in [0, 1] or a weight is non-finite.
    """
    if len(weights) == 0:
        raise ValueError("weights must be a non-empty list of arrays")
    arrays = [np.asarray(w, dtype=np.float64) for w in weights]
    flat = np.concatenate([a.ravel() for a in arrays])  # (n_total,)
    keep = magnitude_mask(flat, sparsity)  # (n_total,) the same rule on the concatenation
    masks, start = [], 0
    for a in arrays:
        masks.append(keep[start : start + a.size].reshape(a.shape))
        start += a.size
    return masks


def l1_filter_scores(W: np.ndarray) -> np.ndarray:
    """L1 norm of each filter (output unit) of a layer: the score of Li et al. (2017).

    s_i = sum_{j,...} |W[i, j, ...]|

    A filter whose weights are all small contributes little to the next layer's input, so the
    filters with the smallest s_i are removed first. For a Linear weight (out, in) a "filter" is a
    row (one output neuron); for a Conv2d weight (c_out, c_in, kh, kw) it is one output channel.

    Args:
        W: a weight array with at least 2 dimensions, filters along axis 0.

    Returns:
        float64 array of shape (W.shape[0],).

    Raises:
        ValueError: if W has fewer than 2 dimensions.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim < 2:
        raise ValueError(f"W must have at least 2 dimensions (filters along axis 0), got shape {W.shape}")
    return np.abs(W).reshape(W.shape[0], -1).sum(axis=1)  # (c_out,)


def prune_filters(W: np.ndarray, b: np.ndarray, W_next: np.ndarray, sparsity: float) -> tuple:
    """Structured pruning: remove whole filters, returning genuinely smaller dense tensors.

    k = round(sparsity * c_out) filters of W with the smallest L1 score (l1_filter_scores) are
    removed — ties: the lower index goes first —, together with their bias entries and with the
    input channels of the next layer that read them:

        W      (c_out, ...)          -> (c_out - k, ...)
        b      (c_out,)              -> (c_out - k,)
        W_next (c_next, c_out, ...)  -> (c_next, c_out - k, ...)

    The surviving filters keep their original order. Unlike a mask, this shrinks the matrices:
    the parameters and MACs of both layers really fall, and a dense kernel runs faster with no
    sparse support (Li et al., ICLR 2017). The network's function changes only through the
    removed units (their contribution to the next layer is dropped).

    Args:
        W: this layer's weight, filters along axis 0, at least 2-D.
        b: this layer's bias, shape (c_out,).
        W_next: the next layer's weight, its input channels along axis 1 (size c_out).
        sparsity: the fraction of filters to remove, a number in [0, 1].

    Returns:
        the tuple (W_pruned, b_pruned, W_next_pruned) of float64 arrays.

    Raises:
        ValueError: on inconsistent shapes or a sparsity outside [0, 1].
    """
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    W_next = np.asarray(W_next, dtype=np.float64)
    if not np.isfinite(sparsity) or not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1], got {sparsity!r}")
    if W.ndim < 2 or b.shape != (W.shape[0],) or W_next.ndim < 2 or W_next.shape[1] != W.shape[0]:
        raise ValueError(
            f"expected W (c_out, ...), b (c_out,), W_next (c_next, c_out, ...); got {W.shape}, {b.shape}, {W_next.shape}"
        )
    scores = l1_filter_scores(W)  # (c_out,)
    k = int(np.round(sparsity * W.shape[0]))
    removed = np.argsort(scores, kind="stable")[:k]
    keep = np.setdiff1d(np.arange(W.shape[0]), removed)  # sorted: original order
    return W[keep], b[keep], W_next[:, keep]


def nm_mask(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """N:M semi-structured sparsity: in every group of m consecutive input weights keep the n largest |w|.

    Groups run along the input dimension (axis 1 of a Linear weight (out, in)): row r is split
    into groups w[r, 0:m], w[r, m:2m], ... In each group the m - n entries that come first in the
    order (|w|, index) are pruned — smallest magnitude first, ties to the lower index, as in
    ``magnitude_mask``. 2:4 is what NVIDIA's sparse tensor cores run (Mishra et al. 2021): half
    the weights, a fixed pattern the hardware can index cheaply.

    When ``in`` is not a multiple of m, the row is padded at its end with entries that are always
    pruned first (padding is not a weight); so a last, partial group of r < m weights keeps
    min(n, r) of them — the n largest — and the padding is dropped from the returned mask.

    Args:
        w: a 2-D weight (out, in).
        n, m: integers with 1 <= n <= m.

    Returns:
        a boolean mask of w's shape (True = keep).

    Raises:
        ValueError: if w is not 2-D or n, m are not integers with 1 <= n <= m.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w must be a 2-D weight (out, in), got shape {w.shape}")
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if not 1 <= n <= m:
        raise ValueError(f"need 1 <= n <= m, got n = {n}, m = {m}")
    out, d = w.shape
    pad = (-d) % m
    a = np.concatenate([np.abs(w), np.full((out, pad), -1.0)], axis=1)  # (out, d + pad), padding below any |w|
    groups = a.reshape(out, -1, m)  # (out, G, m)
    order = np.argsort(groups, axis=-1, kind="stable")  # (out, G, m) ascending, ties by index
    keep = np.ones(groups.shape, dtype=bool)
    np.put_along_axis(keep, order[..., : m - n], False, axis=-1)
    return keep.reshape(out, -1)[:, :d]


def imp_rate_per_round(sparsity: float, rounds: int) -> float:
    """Iterative magnitude pruning: the fraction of surviving weights to prune in each round.

    After each round a fraction (1 - q) of the weights that survived the previous round is kept;
    n rounds keep (1 - q)^n of the original weights. To reach a target sparsity s in n rounds,

        (1 - q)^n = 1 - s   =>   q = 1 - (1 - s)^(1/n)

    i.e. the density p = 1 - s is reached by keeping p^(1/n) of the survivors per round — *not*
    s / n per round, which would remove a growing share of what remains. Frankle & Carbin (2019)
    prune 20% per round: 90% sparsity then takes log(0.1) / log(0.8) = 10.3 rounds.

    Args:
        sparsity: the target fraction removed after all rounds, in [0, 1].
        rounds: the number of pruning rounds, an integer >= 1.

    Returns:
        q, the per-round pruning rate (a Python float in [0, 1]).

    Raises:
        ValueError: if sparsity is outside [0, 1] or rounds is not an integer >= 1.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    if not np.isfinite(sparsity) or not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1], got {sparsity!r}")
    return float(1.0 - (1.0 - sparsity) ** (1.0 / rounds))
