"""Knowledge distillation: the NumPy reference graded in Lab 1.

Every public function here is an exercise: its source (signature, docstring and body) is copied
verbatim into the solution notebook by ``course build``, and the student skeleton keeps the
signature and docstring with the body removed. So each function is self-contained: it may call
the other exercise functions of this module by name (the student has written those too), and
``numpy`` as ``np``, nothing else.

Conventions (where the literature differs, the one chosen is stated):

* Probabilities and logits live on the last axis: ``logits`` has shape ``(..., C)``.
* Logarithms are natural (nats), except ``probability_loyalty``, which uses bits so that it
  lies in [0, 1] as in Xu et al. (2021).
* The KD loss follows Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network"
  (2015): ``(1 - alpha) * CE + alpha * T**2 * KL(p_teacher,T || p_student,T)``, with the KL
  summed over classes and averaged over the batch (not ``nn.KLDivLoss``'s default mean over
  every element, which also divides by the number of classes).
"""

from __future__ import annotations

import numpy as np


def softmax_t(logits: np.ndarray, T: float = 1.0) -> np.ndarray:
    """Softmax with temperature along the last axis.

    p_i = exp(z_i / T) / sum_j exp(z_j / T)

    Numerically stable: subtracting the row maximum before exponentiating leaves the result
    unchanged (softmax is shift-invariant) and keeps exp() from overflowing, so logits of
    +-1e4 give finite probabilities. T > 1 flattens the distribution ("softer" targets),
    T -> 0 approaches the one-hot argmax.

    Args:
        logits: array of shape (..., C) with C >= 1 classes.
        T: temperature, a finite number > 0.

    Returns:
        float64 array of the same shape as ``logits``; each row sums to 1.

    Raises:
        ValueError: if T is not a finite number > 0 or logits has no class axis.
    """
    if not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    z = np.asarray(logits, dtype=np.float64) / T  # (..., C)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a class axis with C >= 1: shape (..., C), got {z.shape}")
    z = z - z.max(axis=-1, keepdims=True)  # (..., C), row max is 0
    e = np.exp(z)  # (..., C)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax_t(logits: np.ndarray, T: float = 1.0) -> np.ndarray:
    """Log of the temperature softmax along the last axis, computed stably.

    log p_i = z_i / T - logsumexp(z / T),   logsumexp(a) = m + log sum_j exp(a_j - m),  m = max_j a_j

    Taking log(softmax_t(...)) instead would give -inf wherever a probability underflows to 0
    (e.g. logits [0, -1e4]); the log-sum-exp form stays finite.

    Args:
        logits: array of shape (..., C).
        T: temperature, a finite number > 0.

    Returns:
        float64 array of the same shape; exp of each row sums to 1.

    Raises:
        ValueError: if T is not a finite number > 0 or logits has no class axis.
    """
    if not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    z = np.asarray(logits, dtype=np.float64) / T  # (..., C)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a class axis with C >= 1: shape (..., C), got {z.shape}")
    z = z - z.max(axis=-1, keepdims=True)  # (..., C)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Kullback-Leibler divergence KL(p || q) per row, in nats.

    KL(p || q) = sum_i p_i * log(p_i / q_i)

    with the convention 0 * log(0 / q) = 0 (the limit of x log x as x -> 0), so classes that p
    gives no mass contribute nothing; where p_i > 0 but q_i = 0 the divergence is +inf.
    KL >= 0, with equality exactly when p == q (Gibbs' inequality). It is not symmetric.

    Args:
        p, q: probability arrays of the same shape (..., C); rows are non-negative and sum to 1.

    Returns:
        float64 array of shape (...,): one divergence per row (a 0-d array for 1-D inputs).

    Raises:
        ValueError: if the shapes differ.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)  # (..., C)
    return terms.sum(axis=-1)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence per row, in nats.

    JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m),   m = (p + q) / 2

    Symmetric, always finite (m > 0 wherever p or q is), 0 exactly when p == q, and at most
    log 2 (reached when p and q have disjoint support). Lin, "Divergence measures based on the
    Shannon entropy", IEEE Trans. Inf. Theory (1991).

    Args:
        p, q: probability arrays of the same shape (..., C).

    Returns:
        float64 array of shape (...,).

    Raises:
        ValueError: if the shapes differ.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    m = (p + q) / 2  # (..., C)
    return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of integer labels under softmax(logits).

    CE = -1/N sum_n log softmax(z_n)[y_n]

    Computed through log_softmax_t (T = 1) so that confident wrong logits give a large finite
    loss instead of log(0) = -inf. Equals torch.nn.functional.cross_entropy with its default
    mean reduction.

    Args:
        logits: array of shape (N, C), N >= 1.
        labels: integer array of shape (N,), values in [0, C).

    Returns:
        the batch mean as a Python float.

    Raises:
        ValueError: on a shape mismatch or a label outside [0, C).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (N, C) and labels (N,), got {logits.shape} and {labels.shape}")
    if logits.shape[0] == 0:
        raise ValueError("cross_entropy of an empty batch is undefined (N = 0)")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(f"labels must be integers in [0, {logits.shape[1]}), got {labels!r}")
    logp = log_softmax_t(logits, 1.0)  # (N, C)
    return float(-logp[np.arange(logits.shape[0]), labels].mean())


def kd_loss(
    student_logits: np.ndarray,
    teacher_logits: np.ndarray,
    labels: np.ndarray,
    T: float = 4.0,
    alpha: float = 0.9,
) -> float:
    """Hinton's knowledge-distillation loss.

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * 1/N sum_n KL(softmax(z_t,n / T) || softmax(z_s,n / T))

    The soft term compares the teacher's and the student's temperature-T distributions; its
    gradient with respect to the student logits scales like 1/T^2, so it is multiplied by T^2
    to keep the two terms' relative weight roughly independent of T (Hinton et al., 2015, sec. 2).
    The hard term uses T = 1. The KL is summed over classes and averaged over the batch, and is
    computed from log-probabilities (log_softmax_t), so that very different logits give a large
    finite loss rather than log(0) = -inf.

    Args:
        student_logits, teacher_logits: arrays of shape (N, C).
        labels: integer array of shape (N,).
        T: temperature > 0.
        alpha: weight of the soft (distillation) term, in [0, 1].

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if alpha is outside [0, 1], T <= 0, or the shapes disagree.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    student_logits = np.asarray(student_logits, dtype=np.float64)
    teacher_logits = np.asarray(teacher_logits, dtype=np.float64)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape, got {student_logits.shape} and {teacher_logits.shape}"
        )
    hard = cross_entropy(student_logits, labels)
    log_p_t = log_softmax_t(teacher_logits, T)  # (N, C)
    log_p_s = log_softmax_t(student_logits, T)  # (N, C)
    # KL(p_t || p_s) = sum_c p_t,c (log p_t,c - log p_s,c), from log-probabilities: a student
    # probability that underflows to 0 would make kl_divergence(p_t, p_s) infinite.
    soft = float((np.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=-1).mean())
    return (1 - alpha) * hard + alpha * T**2 * soft


def hard_label_kd_loss(
    student_logits: np.ndarray,
    teacher_logits: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.5,
) -> float:
    """Hard-label distillation (DeiT).

    L = (1 - alpha) * CE(z_s, y) + alpha * CE(z_s, y_t),   y_t = argmax_c z_t,c

    The teacher's decision replaces its soft distribution; with alpha = 1/2 this is the loss of
    Touvron et al., "Training data-efficient image transformers & distillation through
    attention" (ICML 2021), eq. 3. Ties in the teacher's logits go to the lowest class index
    (np.argmax's rule).

    Args:
        student_logits, teacher_logits: arrays of shape (N, C).
        labels: integer array of shape (N,).
        alpha: weight of the teacher-label term, in [0, 1].

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if alpha is outside [0, 1] or the shapes disagree.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    teacher_logits = np.asarray(teacher_logits, dtype=np.float64)
    if np.shape(student_logits) != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape, got {np.shape(student_logits)} and {teacher_logits.shape}"
        )
    y_t = teacher_logits.argmax(axis=-1)  # (N,)
    return (1 - alpha) * cross_entropy(student_logits, labels) + alpha * cross_entropy(student_logits, y_t)


def label_loyalty(student_probs: np.ndarray, teacher_probs: np.ndarray) -> float:
    """Label loyalty: the share of samples on which student and teacher predict the same class.

    L_l = 1/N sum_n [argmax p_s,n == argmax p_t,n]

    Xu et al., "Beyond Preserved Accuracy: Evaluating Loyalty and Robustness of BERT
    Compression" (EMNLP 2021). Works on probabilities or logits alike (argmax is unchanged by
    softmax). Ties go to the lowest class index.

    Args:
        student_probs, teacher_probs: arrays of shape (N, C), N >= 1.

    Returns:
        a Python float in [0, 1].

    Raises:
        ValueError: if the shapes differ or the batch is empty.
    """
    s = np.asarray(student_probs)
    t = np.asarray(teacher_probs)
    if s.shape != t.shape or s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"expected two non-empty (N, C) arrays of one shape, got {s.shape} and {t.shape}")
    return float((s.argmax(axis=-1) == t.argmax(axis=-1)).mean())


def probability_loyalty(student_probs: np.ndarray, teacher_probs: np.ndarray) -> float:
    """Probability loyalty: how closely the student's distribution follows the teacher's.

    L_p = 1/N sum_n (1 - sqrt(JS_2(p_t,n, p_s,n))),   JS_2 = JS / log 2  (the divergence in bits)

    Xu et al. (EMNLP 2021). With JS in bits, sqrt(JS_2) is the Jensen-Shannon distance, a metric
    in [0, 1], so L_p lies in [0, 1]: 1 for identical predictions, 0 for disjoint support.

    Args:
        student_probs, teacher_probs: probability arrays of shape (N, C), N >= 1.

    Returns:
        a Python float in [0, 1].

    Raises:
        ValueError: if the shapes differ or the batch is empty.
    """
    s = np.asarray(student_probs, dtype=np.float64)
    t = np.asarray(teacher_probs, dtype=np.float64)
    if s.shape != t.shape or s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"expected two non-empty (N, C) arrays of one shape, got {s.shape} and {t.shape}")
    js_bits = js_divergence(t, s) / np.log(2)  # (N,)
    return float((1 - np.sqrt(np.clip(js_bits, 0.0, 1.0))).mean())


def majority_vote_accuracy(p: float, k: int) -> float:
    """Accuracy of a majority vote of k independent classifiers that are each right with probability p.

    P(majority right) = sum_{i > k/2} C(k, i) p^i (1 - p)^(k - i)   (+ 1/2 C(k, k/2) p^(k/2) (1-p)^(k/2) for even k)

    The ensemble argument for multi-teacher distillation: three independent teachers at 0.7
    vote to 3*0.7^2*0.3 + 0.7^3 = 0.784. For even k a tie is broken by a fair coin, which adds
    half the probability of a tie. Assumes binary right/wrong outcomes and independent errors —
    the assumption that real ensembles violate.

    Args:
        p: each classifier's accuracy, in [0, 1].
        k: number of classifiers, an integer in [1, 1000] (beyond that C(k, i) overflows a float).

    Returns:
        the ensemble's accuracy as a Python float.

    Raises:
        ValueError: if p is outside [0, 1] or k is not an integer in [1, 1000].
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1000:
        raise ValueError(f"k must be an integer in [1, 1000], got {k!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p!r}")
    from math import comb

    total = 0.0
    for i in range(k + 1):
        term = comb(k, i) * p**i * (1 - p) ** (k - i)
        if 2 * i > k:
            total += term
        elif 2 * i == k:
            total += 0.5 * term
    return float(total)


def majority_vote_bounds(p: float, k: int) -> tuple:
    """The lowest and highest accuracy a majority vote of k classifiers of accuracy p can have.

    ``majority_vote_accuracy`` assumes independent errors. Drop that assumption: each of the k
    voters is right with probability p, but their errors may be correlated in any way. Which
    vote accuracies are possible? (The KD lecture's brain teaser: three voters at 70% give
    "all of the above" — anything from 55% to 100% — not only the independent 78.4%.)

    Let X = the number of voters that are right on an input. The vote is right when X > k/2, and
    half the time when X = k/2 (even k, a fair coin), so its accuracy is E[g(X)] with
    g(x) = 1 for x > k/2, 1/2 for x = k/2, 0 otherwise. The marginals only fix
    E[X] = sum_i P(voter i right) = k p; conversely, any distribution of X on {0, ..., k} with
    mean k p comes from voters of accuracy p (make a uniformly random subset of X voters right).
    So the bounds are the linear programme  min / max E[g(X)]  s.t.  E[X] = k p, and the optimum
    sits on at most two values of X (the convex / concave envelope of g at k p):

    * best case: every input is either won by the smallest majority, m = floor(k/2) + 1 right
      votes, or lost with 0 right votes (no correct vote is wasted):
          hi = min(1, k p / m);
    * worst case: every input is either won unanimously (k right) or lost by the largest losing
      count L = ceil(k/2) - 1 (as many correct votes as possible wasted on losses):
          lo = max(0, (k p - L) / (k - L)).

    For k = 3, p = 0.7: m = 2, L = 1, hi = min(1, 2.1 / 2) = 1 and lo = (2.1 - 1) / 2 = 0.55.
    For k = 1 both are p; for k = 2 (ties split) both are p as well. The independent answer
    ``majority_vote_accuracy(p, k)`` always lies in [lo, hi]. Kuncheva et al., "Limits on the
    majority vote accuracy in classifier fusion" (Pattern Anal. Appl. 2003) derive the same
    "pattern of success" and "pattern of failure" for odd k.

    Args:
        p: each classifier's accuracy, in [0, 1].
        k: number of classifiers, an integer in [1, 1000].

    Returns:
        the tuple (lo, hi) of Python floats, 0 <= lo <= hi <= 1.

    Raises:
        ValueError: as ``majority_vote_accuracy``: if p is outside [0, 1] or k is not an integer
            in [1, 1000].
    """
    majority_vote_accuracy(p, k)  # the same argument checks (and the independent case, inside [lo, hi])
    k = int(k)
    m = k // 2 + 1  # the smallest winning number of right votes
    L = (k + 1) // 2 - 1  # the largest losing number of right votes (ceil(k/2) - 1)
    hi = min(1.0, k * p / m)
    lo = max(0.0, (k * p - L) / (k - L))
    return float(lo), float(hi)
