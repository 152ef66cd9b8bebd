"""Dynamic computation: the NumPy reference graded in Lab 6 (early exits, skipping, experts).

Every public function here is an exercise: its source is copied verbatim into the solution
notebook by ``course build``, and the student skeleton keeps signature and docstring. So each
function is self-contained: it may call the other exercise functions of this module by name
(the student has written those too), and ``numpy`` as ``np``, nothing else.

Conventions (where the literature differs, the one chosen is stated):

* Probabilities and logits live on the last axis. Early-exit networks give one prediction per
  exit, stacked on a leading axis: ``probs`` has shape ``(E, N, C)`` for E exits, N samples and
  C classes; exit 0 is the shallowest, exit E-1 the final classifier.
* Logarithms are natural (entropies in nats) and 0 * log 0 = 0.
* The entropy rule exits when the entropy is strictly *below* the threshold (BranchyNet's
  ``e < T``); the confidence rule exits when the top probability is *at least* the threshold.
* A hard gate executes its block when sigmoid(z) >= 1/2, i.e. when z >= 0.
* Switch routing keeps tokens in their order in the batch: the first tokens to choose an expert
  get its places, later ones overflow (Fedus et al. 2021's "token dropping").

Papers: Teerapittayanon, McDanel & Kung, "BranchyNet: Fast Inference via Early Exiting from Deep
Neural Networks" (ICPR 2016); Wang, Yu, Dou, Darrell & Gonzalez, "SkipNet: Learning Dynamic
Routing in Convolutional Networks" (ECCV 2018); Zhang et al., "Be Your Own Teacher: Improve the
Performance of Convolutional Neural Networks via Self Distillation" (ICCV 2019); Fedus, Zoph &
Shazeer, "Switch Transformers: Scaling to Trillion Parameter Models with Simple and Efficient
Sparsity" (2021, JMLR 2022); Bengio, Léonard & Courville, "Estimating or Propagating Gradients
Through Stochastic Neurons" (2013) for the straight-through estimator.
"""

from __future__ import annotations

import numpy as np


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy of each distribution along the last axis, in nats.

    H(p) = -sum_i p_i log p_i,   with 0 * log 0 = 0

    The convention is the limit of x log x as x -> 0: a class with probability 0 adds nothing
    (np.log(0) = -inf, and 0 * -inf would be nan). H = 0 for a one-hot distribution (the
    classifier is certain) and H = log C for the uniform one over C classes (as unsure as it can
    be); BranchyNet uses it as the exit criterion (Teerapittayanon et al. 2016).

    Args:
        p: probability array of shape (..., C), C >= 1; rows are non-negative and sum to 1.

    Returns:
        float64 array of shape (...,): one entropy per row (a 0-d array for a 1-D input).

    Raises:
        ValueError: if p has no class axis (a scalar or C = 0) or a negative entry.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"p must have a class axis with C >= 1: shape (..., C), got {p.shape}")
    if np.any(p < 0):
        raise ValueError("probabilities must be non-negative")
    logp = np.log(np.where(p > 0, p, 1.0))  # (..., C); log 1 = 0 where p == 0, so 0 * log 0 -> 0
    return -(p * logp).sum(axis=-1)


def exit_decisions(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """BranchyNet's entropy rule: the exit at which each sample leaves the network.

    exit_n = min { e < E-1 : H(probs[e, n]) < thresholds[e] },  or E-1 if there is none

    A sample leaves at the first exit whose prediction is confident enough (entropy strictly
    below that exit's threshold); the final exit takes every sample that is left. So a threshold
    of 0 closes an exit (no entropy is below 0) and a threshold above log C opens it for every
    sample. ``thresholds`` may have E-1 entries (one per early exit) or E (the last one is then
    ignored: the final classifier cannot pass a sample on). Teerapittayanon et al. 2016,
    fast inference with early exits.

    Args:
        probs: array (E, N, C) of each exit's predicted probabilities, E >= 1, N >= 1.
        thresholds: array of shape (E-1,) or (E,).

    Returns:
        int64 array (N,) of exit indices in [0, E).

    Raises:
        ValueError: if probs is not 3-D or thresholds has neither E-1 nor E entries.
    """
    probs = np.asarray(probs, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"probs must have shape (E, N, C) with E, N >= 1, got {probs.shape}")
    E, N = probs.shape[:2]
    if thresholds.ndim != 1 or thresholds.shape[0] not in (E - 1, E):
        raise ValueError(f"thresholds must have shape ({E - 1},) or ({E},) for E = {E} exits, got {thresholds.shape}")
    H = entropy(probs)  # (E, N)
    leaves = H[: E - 1] < thresholds[: E - 1, None]  # (E-1, N): may sample n leave at early exit e?
    leaves = np.concatenate([leaves, np.ones((1, N), dtype=bool)])  # (E, N): the last exit takes the rest
    return leaves.argmax(axis=0).astype(np.int64)  # first True along the exits


def confidence_exit_decisions(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The max-softmax ("confidence") exit rule of self-distillation.

    exit_n = min { e < E-1 : max_c probs[e, n, c] >= thresholds[e] },  or E-1 if there is none

    Zhang et al. 2019 let a shallow classifier answer when its top softmax
    probability reaches a threshold, and pass the sample deeper otherwise. The comparison is
    ">=": a threshold of 1 accepts only a prediction that is certain, a threshold of 0 accepts
    everything, and a threshold above 1 closes the exit. As in ``exit_decisions``,
    ``thresholds`` has E-1 entries or E (the last is ignored) and exit E-1 takes the rest.

    Args:
        probs: array (E, N, C) of each exit's predicted probabilities, E >= 1, N >= 1.
        thresholds: array of shape (E-1,) or (E,).

    Returns:
        int64 array (N,) of exit indices in [0, E).

    Raises:
        ValueError: if probs is not 3-D or thresholds has neither E-1 nor E entries.
    """
    probs = np.asarray(probs, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[0] == 0 or probs.shape[1] == 0 or probs.shape[2] == 0:
        raise ValueError(f"probs must have shape (E, N, C) with E, N, C >= 1, got {probs.shape}")
    E, N = probs.shape[:2]
    if thresholds.ndim != 1 or thresholds.shape[0] not in (E - 1, E):
        raise ValueError(f"thresholds must have shape ({E - 1},) or ({E},) for E = {E} exits, got {thresholds.shape}")
    confidence = probs.max(axis=-1)  # (E, N)
    leaves = confidence[: E - 1] >= thresholds[: E - 1, None]  # (E-1, N)
    leaves = np.concatenate([leaves, np.ones((1, N), dtype=bool)])  # (E, N)
    return leaves.argmax(axis=0).astype(np.int64)


def expected_cost(exits: np.ndarray, cost_per_exit: np.ndarray) -> float:
    """Average inference cost of an early-exit network, given where each sample left.

    cost = 1/N sum_n cost_per_exit[exit_n]

    ``cost_per_exit[e]`` is the *cumulative* cost (e.g. MACs) of producing exit e's answer:
    every layer up to that exit plus the branch classifiers evaluated on the way (a sample that
    passed exits 0..e-1 paid for their classifiers too). Teerapittayanon et al. 2016 compare
    such average runtimes against the single-exit network.

    Args:
        exits: integer array (N,), N >= 1, of exit indices in [0, E).
        cost_per_exit: array (E,) of non-negative cumulative costs.

    Returns:
        the mean cost as a Python float.

    Raises:
        ValueError: if exits is empty, not integer, or has an index outside [0, E), or a cost
            is negative.
    """
    exits = np.asarray(exits)
    cost_per_exit = np.asarray(cost_per_exit, dtype=np.float64)
    if cost_per_exit.ndim != 1 or cost_per_exit.shape[0] == 0:
        raise ValueError(f"cost_per_exit must have shape (E,) with E >= 1, got {cost_per_exit.shape}")
    if np.any(cost_per_exit < 0):
        raise ValueError("costs must be non-negative")
    if exits.ndim != 1 or exits.shape[0] == 0 or exits.dtype.kind not in "iu":
        raise ValueError(f"exits must be a non-empty integer array (N,), got {exits.dtype} {exits.shape}")
    E = cost_per_exit.shape[0]
    if exits.min() < 0 or exits.max() >= E:
        raise ValueError(f"exit indices must lie in [0, {E}), got {exits!r}")
    return float(cost_per_exit[exits].mean())


def branchy_loss(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """BranchyNet's joint training loss: the weighted sum of every exit's cross-entropy.

    L = sum_e w_e * CE(logits[e], y),   CE(z, y) = -1/N sum_n log softmax(z_n)[y_n]

    Teerapittayanon et al. 2016: all exits are trained together, each with the same
    labels, and the weights w_e trade the early exits' accuracy against the final one's.
    Zhang et al. 2019 train their shallow classifiers with this sum as well (plus distillation
    terms). The log-softmax is computed with the row maximum subtracted (log-sum-exp), so large
    logits give a large finite loss.

    Args:
        logits: array (E, N, C) of each exit's logits, E, N >= 1, C >= 1.
        labels: integer array (N,), values in [0, C).
        weights: array (E,) of non-negative exit weights.

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: on a shape mismatch, a label outside [0, C) or a negative weight.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=np.float64)
    if logits.ndim != 3 or 0 in logits.shape:
        raise ValueError(f"logits must have shape (E, N, C) with E, N, C >= 1, got {logits.shape}")
    E, N, C = logits.shape
    if labels.shape != (N,) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer array of shape ({N},), got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= C:
        raise ValueError(f"labels must lie in [0, {C}), got {labels!r}")
    if weights.shape != (E,) or np.any(weights < 0):
        raise ValueError(f"weights must be {E} non-negative numbers, got {weights!r}")
    z = logits - logits.max(axis=-1, keepdims=True)  # (E, N, C)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # (E, N, C)
    ce = -logp[:, np.arange(N), labels].mean(axis=1)  # (E,): one cross-entropy per exit
    return float((weights * ce).sum())


def skip_gate_forward(gate_logits: np.ndarray) -> np.ndarray:
    """SkipNet's hard gate in the forward pass: execute the block (1) or skip it (0).

    m = 1 if sigmoid(z) >= 1/2 else 0      (equivalently: m = 1 exactly when z >= 0)

    Wang et al. 2018 compute a gate logit z from the block's input and threshold its
    sigmoid at 0.5 during inference (and in the forward pass of hybrid training), so each block
    is either run completely or not at all and the skipped computation is really saved.

    Args:
        gate_logits: array of any shape of finite gate logits z.

    Returns:
        float64 array of the same shape, every entry 0.0 or 1.0.

    Raises:
        ValueError: if a gate logit is nan or infinite.
    """
    z = np.asarray(gate_logits, dtype=np.float64)
    if not np.all(np.isfinite(z)):
        raise ValueError("gate logits must be finite")
    # sigmoid(z) >= 1/2  <=>  z >= 0; comparing z avoids rounding sigmoid(-1e-20) up to 0.5.
    return (z >= 0).astype(np.float64)


def skip_block_output(x: np.ndarray, fx: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Output of a gated residual block: the block's result where it ran, the input where it was skipped.

    y_n = m_n * f(x)_n + (1 - m_n) * x_n

    SkipNet (Wang et al. 2018): with m_n = 1 sample n goes through the block, with
    m_n = 0 it bypasses it on the identity shortcut, so the input and output shapes of a
    skippable block must agree. A soft gate m_n in (0, 1) (the relaxation used while training)
    mixes the two. The gate is one number per sample, broadcast over that sample's features.

    Args:
        x: block input, array (N, ...) with N >= 1.
        fx: the block's output f(x), same shape as x.
        m: gates, array (N,) with entries in [0, 1].

    Returns:
        float64 array with the shape of x.

    Raises:
        ValueError: if the shapes disagree or a gate lies outside [0, 1].
    """
    x = np.asarray(x, dtype=np.float64)
    fx = np.asarray(fx, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    if x.ndim == 0 or x.shape != fx.shape or m.shape != x.shape[:1]:
        raise ValueError(f"expected x and fx of one shape (N, ...) and m of shape (N,), got {x.shape}, {fx.shape}, {m.shape}")
    if np.any((m < 0) | (m > 1)) or not np.all(np.isfinite(m)):
        raise ValueError("gates m must lie in [0, 1]")
    m = m.reshape(m.shape + (1,) * (x.ndim - 1))  # (N, 1, ...): one gate per sample
    return m * fx + (1 - m) * x


def ste_gate_grad(gate_logits: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """Straight-through gradient of the hard gate: the sigmoid's derivative stands in for the step's.

    forward:  m = 1[z >= 0]                 (derivative 0 almost everywhere: nothing to learn from)
    backward: dL/dz = sigmoid'(z) * dL/dm,   sigmoid'(z) = sigmoid(z) * (1 - sigmoid(z))

    The straight-through estimator (Bengio et al. 2013) backpropagates through the hard gate as
    if it were its soft sigmoid, which is how SkipNet trains its discrete gates in the supervised stage of its hybrid
    training (Wang et al. 2018). sigmoid'(z) is symmetric in z, at most 1/4 (at z = 0) and is
    computed as e / (1 + e)^2 with e = exp(-|z|), which never overflows.

    Args:
        gate_logits: array of finite gate logits z, any shape.
        upstream: dL/dm, the gradient arriving at the gate's output, same shape as z.

    Returns:
        float64 array dL/dz of the same shape.

    Raises:
        ValueError: if the shapes differ.
    """
    z = np.asarray(gate_logits, dtype=np.float64)
    g = np.asarray(upstream, dtype=np.float64)
    if z.shape != g.shape:
        raise ValueError(f"gate_logits and upstream must have the same shape, got {z.shape} and {g.shape}")
    e = np.exp(-np.abs(z))  # in (0, 1]: no overflow for any z
    return e / (1 + e) ** 2 * g


def switch_route(router_logits: np.ndarray, capacity_factor: float) -> np.ndarray:
    """Switch-Transformer top-1 routing with a fixed expert capacity and token dropping.

    expert_t   = argmax_i router_logits[t, i]                  (ties: the lowest index)
    capacity   = ceil(capacity_factor * T / E)                 (T tokens, E experts)
    assignment = expert_t for the first `capacity` tokens (in token order) choosing each expert,
                 -1 for every later one (dropped: it skips the expert layer on the residual path)

    Fedus et al. 2021, sec. 2.2: each expert processes at most `capacity` tokens, so that the
    computation has a static shape; a factor above 1 leaves slack for imbalance, at the price of
    padding. Tokens that overflow an expert are not processed by any expert.

    Args:
        router_logits: array (T, E) of the router's logits, T >= 1 tokens, E >= 1 experts.
        capacity_factor: a finite number > 0.

    Returns:
        int64 array (T,): each token's expert, or -1 if it was dropped.

    Raises:
        ValueError: if router_logits is not a non-empty 2-D array or the factor is not > 0.
    """
    logits = np.asarray(router_logits, dtype=np.float64)
    if logits.ndim != 2 or 0 in logits.shape:
        raise ValueError(f"router_logits must have shape (T, E) with T, E >= 1, got {logits.shape}")
    if not (np.isfinite(capacity_factor) and capacity_factor > 0):
        raise ValueError(f"capacity_factor must be a finite number > 0, got {capacity_factor!r}")
    T, E = logits.shape
    capacity = int(np.ceil(capacity_factor * T / E))
    expert = logits.argmax(axis=1)  # (T,)
    onehot = np.eye(E, dtype=np.int64)[expert]  # (T, E)
    position = (np.cumsum(onehot, axis=0) * onehot).sum(axis=1) - 1  # (T,): place in its expert's queue
    return np.where(position < capacity, expert, -1).astype(np.int64)


def load_balancing_loss(router_logits: np.ndarray) -> float:
    """Switch Transformer's auxiliary load-balancing loss (without its coefficient alpha).

    loss = E * sum_i f_i * P_i
    f_i  = 1/T sum_t 1[argmax router_logits[t] == i]     share of tokens routed to expert i
    P_i  = 1/T sum_t softmax(router_logits[t])_i          mean router probability of expert i

    Fedus et al. 2021, eq. (4)-(6): f is not differentiable, P is; the product pushes probability
    away from overloaded experts. The loss is E * <f, P>: it equals 1 when the routing is uniform
    (f_i = P_i = 1/E), and it reaches E when every token goes to one expert with certainty. The
    paper multiplies it by alpha = 1e-2 in the training loss. f counts the router's choice before
    any capacity drop; ties go to the lowest index.

    Args:
        router_logits: array (T, E), T >= 1 tokens, E >= 1 experts.

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if router_logits is not a non-empty 2-D array.
    """
    logits = np.asarray(router_logits, dtype=np.float64)
    if logits.ndim != 2 or 0 in logits.shape:
        raise ValueError(f"router_logits must have shape (T, E) with T, E >= 1, got {logits.shape}")
    T, E = logits.shape
    z = logits - logits.max(axis=1, keepdims=True)  # (T, E)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # (T, E)
    f = np.bincount(logits.argmax(axis=1), minlength=E) / T  # (E,)
    P = probs.mean(axis=0)  # (E,)
    return float(E * (f * P).sum())
