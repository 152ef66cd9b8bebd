"""Neural architecture search: the NumPy reference graded in Lab 5.

Every public function here is an exercise: its source is copied verbatim into the solution
notebook by ``course build``, so each is self-contained (numpy as ``np``, ``math``, and the
other exercise functions of this module by name).

Conventions (where the literature differs, the one chosen is stated):

* Architecture parameters ``alpha`` hold one row of K logits per edge (DARTS) or per layer
  (ProxylessNAS): shape ``(E, K)``; the op weights are ``softmax(alpha)`` along the last axis.
* DARTS: Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search" (ICLR 2019).
  Intermediate node j of a cell takes an edge from each of the ``n_inputs`` cell inputs and
  from every earlier node; edges are numbered node by node, as in the DARTS code.
* ProxylessNAS: Cai, Zhu & Han, "ProxylessNAS: Direct Neural Architecture Search on Target
  Task and Hardware" (ICLR 2019): the expected latency is differentiable in alpha,
  E[lat] = sum_layers sum_i softmax(alpha)_i lat_i (+ the latency of the fixed layers).
  The two latency losses are those of its released code ("add#linear", "mul#log").
"""

from __future__ import annotations

import numpy as np


def mixed_op_weights(alpha: np.ndarray) -> np.ndarray:
    """DARTS op weights: the softmax of the architecture parameters along the last axis.

    w_i = exp(alpha_i) / sum_j exp(alpha_j)

    One row of K logits per edge, alpha of shape (..., K); each row of the result is a
    probability distribution over the K candidate ops (Liu et al., 2019, eq. 1). Numerically
    stable: the row maximum is subtracted before exp (softmax is shift-invariant), so alpha of
    +-1e4 gives finite weights.

    Args:
        alpha: array of shape (..., K), K >= 1.

    Returns:
        float64 array of the same shape; each row sums to 1.

    Raises:
        ValueError: if alpha has no op axis (a scalar, or K = 0).
    """
    a = np.asarray(alpha, dtype=np.float64)  # (..., K)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(f"alpha must have an op axis with K >= 1: shape (..., K), got {a.shape}")
    a = a - a.max(axis=-1, keepdims=True)  # (..., K), row max is 0
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def mixed_op(op_outputs: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The DARTS mixed operation on one edge: the softmax(alpha)-weighted sum of the op outputs.

    o_bar(x) = sum_i softmax(alpha)_i * o_i(x)

    (Liu et al., 2019, eq. 1). The K candidate ops have already been applied to the same input
    x and their outputs stacked on the first axis, so the mixed output has the shape of one op's
    output. The 'none' (zero) op contributes an output of zeros, which keeps its weight in the
    denominator of the softmax but adds nothing to the sum.

    Args:
        op_outputs: array of shape (K, ...): op_outputs[i] = o_i(x).
        alpha: array of shape (K,): the edge's architecture parameters.

    Returns:
        float64 array of shape op_outputs.shape[1:].

    Raises:
        ValueError: if alpha is not 1-D or its length differs from op_outputs.shape[0].
    """
    o = np.asarray(op_outputs, dtype=np.float64)  # (K, ...)
    a = np.asarray(alpha, dtype=np.float64)  # (K,)
    if a.ndim != 1 or o.ndim == 0 or o.shape[0] != a.shape[0]:
        raise ValueError(f"expected op_outputs (K, ...) and alpha (K,), got {o.shape} and {a.shape}")
    w = mixed_op_weights(a)  # (K,)
    return np.tensordot(w, o, axes=(0, 0))  # (...)


def derive_genotype(alpha: np.ndarray, op_names: list, k: int = 2, n_inputs: int = 2) -> list:
    """The discrete cell DARTS derives from the continuous one (Liu et al., 2019, sec. 2.4).

    Intermediate node j (j = 0, 1, ...) has n_inputs + j incoming edges, from states
    0 .. n_inputs + j - 1 (the cell inputs, then the earlier nodes); alpha has one row per edge,
    node by node, so row n_inputs*j + j*(j-1)/2 + i is the edge from state i into node j.
    With w = softmax(alpha) per row (mixed_op_weights):

    * an edge's strength is max_{op != 'none'} w[edge, op] — its strongest non-'none' weight;
    * each node keeps its min(k, n_inputs + j) strongest incoming edges, strongest first;
    * each kept edge becomes its strongest non-'none' op.

    'none' is excluded as in the DARTS code (genotype() in model_search.py): a zero op would
    otherwise win on many edges and the derived cell would be empty. Ties go to the lower
    index: among equally strong edges the one from the lower state, among equally weighted ops
    the one listed first (a stable sort / first argmax).

    Args:
        alpha: array (E, K) with E = sum_j (n_inputs + j) over the nodes; K = len(op_names).
        op_names: the K op names (strings), at least one of them not 'none'.
        k: edges kept per node, an integer >= 1 (DARTS: 2).
        n_inputs: inputs of the cell, an integer >= 1 (DARTS: 2, the two previous cells).

    Returns:
        list of (op_name, input_state) tuples, node by node, each node's edges strongest first.

    Raises:
        ValueError: if k or n_inputs is not a positive integer, op_names does not match K or is
            all 'none', or E is not a whole number of nodes.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)) or n_inputs < 1:
        raise ValueError(f"n_inputs must be an integer >= 1, got {n_inputs!r}")
    a = np.asarray(alpha, dtype=np.float64)  # (E, K)
    names = list(op_names)
    if a.ndim != 2 or a.shape[1] != len(names):
        raise ValueError(f"alpha must be (E, K) with K = len(op_names) = {len(names)}, got shape {a.shape}")
    usable = [i for i, name in enumerate(names) if name != "none"]
    if not usable:
        raise ValueError("op_names needs at least one op other than 'none'")
    w = mixed_op_weights(a)[:, usable]  # (E, K') weights of the non-'none' ops
    genotype, start, j = [], 0, 0
    while start < a.shape[0]:
        n_edges = n_inputs + j  # node j's incoming edges
        if start + n_edges > a.shape[0]:
            raise ValueError(f"alpha has {a.shape[0]} rows, not a whole number of nodes with n_inputs = {n_inputs}")
        rows = w[start : start + n_edges]  # (n_edges, K')
        strength = rows.max(axis=1)  # (n_edges,)
        kept = sorted(range(n_edges), key=lambda i: -strength[i])[:k]  # stable: ties keep the lower state
        for i in kept:
            genotype.append((names[usable[int(np.argmax(rows[i]))]], i))
        start += n_edges
        j += 1
    return genotype


def expected_latency(alpha: np.ndarray, op_latency: np.ndarray, fixed: float = 0.0) -> float:
    """ProxylessNAS's expected latency of a stochastic network.

    E[lat] = sum_l sum_i softmax(alpha_l)_i * lat_l,i + fixed

    Each searchable layer l (a row of alpha) picks op i with probability softmax(alpha_l)_i, so
    its expected latency is the weighted sum of the ops' measured latencies; latency adds up
    over the layers of a sequential network, and the layers that are not searched contribute a
    constant ``fixed`` (Cai et al., 2019, sec. 3.3, eq. 4 and Fig. 3). Unlike the latency itself
    this is a smooth function of alpha, so it can be added to the loss.

    Args:
        alpha: array (K,) for one layer, or (L, K) for L layers.
        op_latency: array of the same shape: lat_l,i, the measured latency of op i in layer l.
        fixed: the latency of the fixed (not searched) part of the network.

    Returns:
        the expected latency as a Python float.

    Raises:
        ValueError: if the shapes differ or a latency is negative.
    """
    a = np.asarray(alpha, dtype=np.float64)
    lat = np.asarray(op_latency, dtype=np.float64)
    if a.shape != lat.shape or a.ndim not in (1, 2):
        raise ValueError(f"alpha and op_latency must both be (K,) or (L, K), got {a.shape} and {lat.shape}")
    if np.any(lat < 0):
        raise ValueError("latencies cannot be negative")
    return float((mixed_op_weights(a) * lat).sum() + fixed)


def expected_latency_grad(alpha: np.ndarray, op_latency: np.ndarray) -> np.ndarray:
    """Gradient of the expected latency with respect to alpha, in closed form.

    dE/dalpha_l,j = p_l,j * (lat_l,j - E_l),   p_l = softmax(alpha_l),   E_l = sum_i p_l,i lat_l,i

    From the softmax Jacobian dp_i/dalpha_j = p_i (delta_ij - p_j): an op slower than its
    layer's current expected latency E_l has a positive gradient, so gradient descent lowers its
    alpha; a faster one is raised. The fixed latency is a constant and drops out. Each row sums
    to 0 (adding a constant to a row of alpha changes nothing).

    Args:
        alpha: array (K,) or (L, K).
        op_latency: array of the same shape.

    Returns:
        float64 array of alpha's shape.

    Raises:
        ValueError: if the shapes differ.
    """
    a = np.asarray(alpha, dtype=np.float64)
    lat = np.asarray(op_latency, dtype=np.float64)
    if a.shape != lat.shape or a.ndim not in (1, 2):
        raise ValueError(f"alpha and op_latency must both be (K,) or (L, K), got {a.shape} and {lat.shape}")
    p = mixed_op_weights(a)  # (..., K)
    e_layer = (p * lat).sum(axis=-1, keepdims=True)  # (..., 1)
    return p * (lat - e_layer)


def latency_loss_additive(ce: float, alpha: np.ndarray, op_latency: np.ndarray, ref_latency: float,
                          lam: float, fixed: float = 0.0) -> float:
    """Latency-aware loss, additive form: cross-entropy plus a relative latency penalty.

    L = CE + lam * (E[lat] - ref) / ref

    with E[lat] = expected_latency(alpha, op_latency, fixed). Dividing by the reference latency
    ref (the target, e.g. a baseline's latency) makes lam unit-free: lam = 0.1 charges 0.1 nats
    of cross-entropy for a network 100% slower than ref. Below ref the term is negative: it
    keeps rewarding speed. This is "add#linear" in the ProxylessNAS code (Cai et al., 2019);
    the paper's eq. 5 writes lambda_2 E[LAT].

    Args:
        ce: the cross-entropy (a number).
        alpha, op_latency, fixed: as for expected_latency.
        ref_latency: the reference latency, > 0.
        lam: the penalty's weight, >= 0.

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if ref_latency <= 0 or lam < 0.
    """
    if not ref_latency > 0:
        raise ValueError(f"ref_latency must be > 0, got {ref_latency!r}")
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    e_lat = expected_latency(alpha, op_latency, fixed)
    return float(ce + lam * (e_lat - ref_latency) / ref_latency)


def latency_loss_multiplicative(ce: float, alpha: np.ndarray, op_latency: np.ndarray, ref_latency: float,
                                beta: float, fixed: float = 0.0) -> float:
    """Latency-aware loss, multiplicative form: cross-entropy scaled by a log-latency ratio.

    L = CE * (log E[lat] / log ref) ^ beta

    with E[lat] = expected_latency(alpha, op_latency, fixed). At E[lat] = ref the factor is 1;
    a network slower than ref scales its loss up, a faster one down, and beta sets how hard
    (a relative, not absolute, trade-off: doubling every latency changes the factor little).
    This is "mul#log" in the ProxylessNAS code (Cai et al., 2019; their default also multiplies
    by a constant 0.2, left out here); FBNet (Wu et al., CVPR 2019) uses CE * a * log(LAT)^beta.
    The log ratio must be positive, so latencies are measured in a unit where they exceed 1
    (microseconds, say).

    Args:
        ce: the cross-entropy (a number >= 0).
        alpha, op_latency, fixed: as for expected_latency.
        ref_latency: the reference latency, > 1.
        beta: the exponent, >= 0.

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if ref_latency <= 1, beta < 0, or E[lat] <= 1.
    """
    if not ref_latency > 1:
        raise ValueError(f"ref_latency must be > 1 (log ref > 0), got {ref_latency!r}")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    e_lat = expected_latency(alpha, op_latency, fixed)
    if not e_lat > 1:
        raise ValueError(f"the expected latency must be > 1 (log E[lat] > 0), got {e_lat!r}")
    return float(ce * (np.log(e_lat) / np.log(ref_latency)) ** beta)


def pareto_front(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Which architectures are Pareto-optimal for (low latency, high accuracy).

    Architecture n is dominated when some other m is at least as good on both counts and
    strictly better on one: lat_m <= lat_n and acc_m >= acc_n, with lat_m < lat_n or
    acc_m > acc_n. The Pareto front is the set of architectures no other dominates: moving
    along it, every gain in accuracy costs latency. Exact duplicates do not dominate each
    other, so both stay on the front.

    Args:
        latency, accuracy: arrays of shape (N,), N >= 1.

    Returns:
        bool array of shape (N,): True where the architecture is on the front.

    Raises:
        ValueError: if the shapes differ or are not (N,) with N >= 1.
    """
    lat = np.asarray(latency, dtype=np.float64)  # (N,)
    acc = np.asarray(accuracy, dtype=np.float64)  # (N,)
    if lat.ndim != 1 or lat.shape != acc.shape or lat.shape[0] == 0:
        raise ValueError(f"latency and accuracy must both be (N,) with N >= 1, got {lat.shape} and {acc.shape}")
    no_worse = (lat[:, None] <= lat[None, :]) & (acc[:, None] >= acc[None, :])  # (m, n): m no worse than n
    better = (lat[:, None] < lat[None, :]) | (acc[:, None] > acc[None, :])  # (m, n): m better somewhere
    return ~np.any(no_worse & better, axis=0)
