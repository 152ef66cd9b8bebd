"""Knowledge distillation II: hints, attention, relations, cohorts, ensembles, momentum teachers.

The NumPy reference graded in Lab 2. Every public function here is an exercise: ``course build``
copies its source verbatim into the solution notebook, and the student skeleton keeps signature
and docstring with the body removed. Each function is self-contained — it uses ``numpy`` as
``np`` and, at most, another exercise of this lab (``attention_transfer_loss`` calls
``attention_map``) — because the grading sandbox holds only this lab's cells, not Lab 1's.

Conventions (where the literature differs, the one chosen is stated):

* Logits and probabilities live on the last axis: ``(..., C)``; logarithms are natural (nats).
* Stacks of models come first: a cohort's or an ensemble's logits have shape ``(K, N, C)``.
* Feature maps are ``(N, C, H, W)`` (PyTorch's layout); feature vectors are ``(N, D)``.
* Every loss is averaged over the batch (a mean over samples, a sum over features or classes).
* Where a temperature softens a distillation KL, the KL is multiplied by ``T**2`` (Hinton et al.,
  2015), as in Lab 1's ``kd_loss``.

References: Romero et al., "FitNets: Hints for Thin Deep Nets" (ICLR 2015); Zagoruyko &
Komodakis, "Paying More Attention to Attention" (ICLR 2017); Park, Kim, Lu & Cho, "Relational
Knowledge Distillation" (CVPR 2019); Zhang, Xiang, Hospedales & Lu, "Deep Mutual Learning"
(CVPR 2018); Mirzadeh et al., "Improved Knowledge Distillation via Teacher Assistant" (AAAI
2020); Furlanello et al., "Born-Again Neural Networks" (ICML 2018); Zhang et al., "Be Your Own
Teacher: Improve the Performance of CNNs via Self Distillation" (ICCV 2019); Tarvainen &
Valpola, "Mean teachers are better role models" (NeurIPS 2017).
"""

from __future__ import annotations

import numpy as np


def hint_loss(
    teacher_features: np.ndarray,
    student_features: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
) -> float:
    """FitNets hint loss with a linear regressor (Romero et al., ICLR 2015, eq. 3).

    L = 1/N sum_n 1/2 || u_n - r(v_n) ||^2,   r(v) = v W + b

    u_n is the teacher's hint (a hidden layer's output, D_t numbers) and v_n the student's guided
    layer (D_s numbers, usually D_s < D_t for a thin student); the regressor r maps the student's
    features into the teacher's space, so that they can be compared at all. The squared norm is
    summed over the D_t features and averaged over the batch. (FitNets use a convolutional
    regressor for feature maps; a linear one is the same idea for vectors.)

    Args:
        teacher_features: u, shape (N, D_t), N >= 1.
        student_features: v, shape (N, D_s).
        W: regressor weights, shape (D_s, D_t).
        b: regressor bias, shape (D_t,), or None for no bias.

    Returns:
        the loss as a Python float (>= 0).

    Raises:
        ValueError: if the shapes do not fit together or the batch is empty.
    """
    u = np.asarray(teacher_features, dtype=np.float64)  # (N, D_t)
    v = np.asarray(student_features, dtype=np.float64)  # (N, D_s)
    W = np.asarray(W, dtype=np.float64)  # (D_s, D_t)
    if u.ndim != 2 or v.ndim != 2 or u.shape[0] != v.shape[0] or u.shape[0] == 0:
        raise ValueError(f"expected teacher (N, D_t) and student (N, D_s) features with N >= 1, got {u.shape} and {v.shape}")
    if W.shape != (v.shape[1], u.shape[1]):
        raise ValueError(f"W must have shape (D_s, D_t) = {(v.shape[1], u.shape[1])}, got {W.shape}")
    r = v @ W  # (N, D_t)
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        if b.shape != (u.shape[1],):
            raise ValueError(f"b must have shape (D_t,) = ({u.shape[1]},), got {b.shape}")
        r = r + b
    return float(0.5 * ((u - r) ** 2).sum(axis=1).mean())


def attention_map(features: np.ndarray, p: float = 2.0) -> np.ndarray:
    """Spatial attention map of a feature map (Zagoruyko & Komodakis, ICLR 2017, sec. 3).

    Q_n = mean_c |f_n,c|^p  (an H x W map, flattened to H*W),   a_n = Q_n / ||Q_n||_2

    Where a network "looks": positions whose activations are large in absolute value across
    channels. Averaging over channels (rather than summing) makes no difference after the
    normalisation, and the normalisation makes the map comparable between a teacher and a
    student whose layers have different channel counts and activation scales. p > 1 puts more
    weight on the most active positions (the paper uses p = 2). A map that is zero everywhere
    has no direction: its attention map is returned as zeros.

    Args:
        features: activations of shape (N, C, H, W).
        p: exponent, a finite number > 0.

    Returns:
        float64 array of shape (N, H*W); each row has unit L2 norm (or is all zeros).

    Raises:
        ValueError: if features is not 4-D or p is not a finite number > 0.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 4:
        raise ValueError(f"features must have shape (N, C, H, W), got {f.shape}")
    if not np.isfinite(p) or p <= 0:
        raise ValueError(f"p must be a finite number > 0, got {p!r}")
    Q = (np.abs(f) ** p).mean(axis=1).reshape(f.shape[0], -1)  # (N, H*W)
    norm = np.linalg.norm(Q, axis=1, keepdims=True)  # (N, 1)
    return Q / np.where(norm > 0, norm, 1.0)


def attention_transfer_loss(student_features: np.ndarray, teacher_features: np.ndarray, p: float = 2.0) -> float:
    """Attention transfer loss (Zagoruyko & Komodakis, ICLR 2017, eq. 2).

    L = 1/N sum_n || a_s,n - a_t,n ||_2^2,   a = attention_map(features, p)

    The student is trained to put its attention where the teacher does. The two feature maps
    must agree in batch size and spatial size (N, H, W); their channel counts may differ, since
    the attention map averages the channels away. Convention: the squared L2 distance between
    the normalised maps, summed over the H*W positions and averaged over the batch (the paper
    writes the unsquared p-norm; its reference code squares, as here, and also averages over
    positions). Each term lies in [0, 4], and in [0, 2] for the non-negative maps used here.

    Args:
        student_features: shape (N, C_s, H, W).
        teacher_features: shape (N, C_t, H, W).
        p: exponent of attention_map.

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if N, H or W differ (or the inputs are not 4-D, or p is bad).
    """
    a_s = attention_map(student_features, p)  # (N, H*W)
    a_t = attention_map(teacher_features, p)  # (N, H*W)
    fs, ft = np.shape(student_features), np.shape(teacher_features)
    if fs[0] != ft[0] or fs[2:] != ft[2:]:
        raise ValueError(f"student and teacher maps must agree in N, H and W, got {fs} and {ft}")
    return float(((a_s - a_t) ** 2).sum(axis=1).mean())


def rkd_distance_loss(student_embeddings: np.ndarray, teacher_embeddings: np.ndarray) -> float:
    """Relational KD, distance-wise loss (Park, Kim, Lu & Cho, CVPR 2019, eqs. 3-5).

    psi_D(t_i, t_j) = ||t_i - t_j||_2 / mu,   mu = mean over pairs i < j of ||t_i - t_j||_2
    L = mean over pairs i < j of smooth_l1(psi_D(s_i, s_j) - psi_D(t_i, t_j))
    smooth_l1(x) = x^2 / 2 if |x| < 1, else |x| - 1/2   (Huber loss with delta = 1)

    Instead of matching outputs one by one, the student matches the *structure* of the batch:
    which samples are close and which are far apart in the teacher's embedding. Each side is
    normalised by its own mean distance, so the loss ignores the embeddings' scale, and the two
    embeddings may have different dimensions (D_s != D_t). Convention: the mean is over the
    N(N-1)/2 distinct pairs (the paper's reference code also averages the zero diagonal in).

    Args:
        student_embeddings: shape (N, D_s), N >= 2.
        teacher_embeddings: shape (N, D_t).

    Returns:
        the loss as a Python float (>= 0).

    Raises:
        ValueError: if N < 2, the batch sizes differ, or all embeddings of one side coincide
            (mean distance 0: nothing to normalise by).
    """
    s = np.asarray(student_embeddings, dtype=np.float64)
    t = np.asarray(teacher_embeddings, dtype=np.float64)
    if s.ndim != 2 or t.ndim != 2 or s.shape[0] != t.shape[0] or s.shape[0] < 2:
        raise ValueError(f"expected (N, D_s) and (N, D_t) embeddings with N >= 2, got {s.shape} and {t.shape}")
    i, j = np.triu_indices(s.shape[0], k=1)  # the N(N-1)/2 pairs i < j
    d_s = np.linalg.norm(s[i] - s[j], axis=1)  # (P,)
    d_t = np.linalg.norm(t[i] - t[j], axis=1)  # (P,)
    if d_s.mean() == 0 or d_t.mean() == 0:
        raise ValueError("all embeddings of one side coincide: their mean distance is 0")
    x = np.abs(d_s / d_s.mean() - d_t / d_t.mean())  # (P,)
    return float(np.where(x < 1, 0.5 * x**2, x - 0.5).mean())


def rkd_angle_loss(student_embeddings: np.ndarray, teacher_embeddings: np.ndarray) -> float:
    """Relational KD, angle-wise loss (Park, Kim, Lu & Cho, CVPR 2019, eqs. 6-7).

    psi_A(t_i, t_j, t_k) = cos angle(t_i - t_j, t_k - t_j) = <e_ij, e_kj>,   e_ij = (t_i - t_j) / ||t_i - t_j||_2
    L = mean over ordered triples of distinct (i, j, k) of smooth_l1(psi_A(s_i, s_j, s_k) - psi_A(t_i, t_j, t_k))

    with smooth_l1 as in rkd_distance_loss. Angles are a higher-order relation than distances:
    they are unchanged by scaling, translating or rotating an embedding, and they compare
    shapes of triangles of samples. A zero difference vector (two samples with equal
    embeddings) has no direction; it is given cosine 0 with everything, as torch's
    F.normalize does. Convention: the mean is over the N(N-1)(N-2) ordered triples of distinct
    indices (the paper's reference code averages over all N^3 index triples).

    Args:
        student_embeddings: shape (N, D_s), N >= 3.
        teacher_embeddings: shape (N, D_t).

    Returns:
        the loss as a Python float (>= 0).

    Raises:
        ValueError: if N < 3 or the batch sizes differ.
    """
    s = np.asarray(student_embeddings, dtype=np.float64)
    t = np.asarray(teacher_embeddings, dtype=np.float64)
    if s.ndim != 2 or t.ndim != 2 or s.shape[0] != t.shape[0] or s.shape[0] < 3:
        raise ValueError(f"expected (N, D_s) and (N, D_t) embeddings with N >= 3, got {s.shape} and {t.shape}")
    N = s.shape[0]
    cos = []
    for e in (s, t):
        diff = e[:, None, :] - e[None, :, :]  # (N, N, D): diff[i, j] = e_i - e_j
        norm = np.linalg.norm(diff, axis=2, keepdims=True)  # (N, N, 1)
        unit = diff / np.where(norm > 0, norm, 1.0)  # zero vectors stay zero
        cos.append(np.einsum("ijd,kjd->ijk", unit, unit))  # (N, N, N): cos at vertex j
    i, j, k = np.meshgrid(np.arange(N), np.arange(N), np.arange(N), indexing="ij")
    distinct = (i != j) & (j != k) & (i != k)  # (N, N, N)
    x = np.abs(cos[0] - cos[1])[distinct]  # (N(N-1)(N-2),)
    return float(np.where(x < 1, 0.5 * x**2, x - 0.5).mean())


def dml_losses(cohort_logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Deep mutual learning: each student's loss in a cohort of K (Zhang et al., CVPR 2018, eq. 10).

    L_k = CE(z_k, y) + 1/(K-1) sum_{j != k} 1/N sum_n KL(p_j,n || p_k,n),   p = softmax(z)

    There is no pre-trained teacher: K students train together, and each one learns from the
    labels and from the average of its peers' predictions (the peers' distributions are the
    targets, so they come first in the KL; in training they are treated as constants). With
    K = 1 there are no peers and the loss is the cross-entropy. Computed from log-softmaxes
    (subtract the row maximum), so confident logits give large finite losses, never inf.

    Args:
        cohort_logits: shape (K, N, C): K students' logits on the same batch, K >= 1, N >= 1.
        labels: integer array of shape (N,), values in [0, C).

    Returns:
        float64 array of shape (K,): L_k for each student.

    Raises:
        ValueError: on a shape mismatch or a label outside [0, C).
    """
    z = np.asarray(cohort_logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 3 or 0 in z.shape or y.shape != (z.shape[1],):
        raise ValueError(f"expected cohort logits (K, N, C) and labels (N,), got {z.shape} and {y.shape}")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= z.shape[2]:
        raise ValueError(f"labels must be integers in [0, {z.shape[2]}), got {y!r}")
    K, N, _ = z.shape
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # (K, N, C)
    ce = -logp[:, np.arange(N), y].mean(axis=1)  # (K,)
    if K == 1:
        return ce
    p = np.exp(logp)  # (K, N, C)
    # kl[j, k] = 1/N sum_n KL(p_j,n || p_k,n) = 1/N sum_n sum_c p_j (log p_j - log p_k)
    kl = (p[:, None] * (logp[:, None] - logp[None, :])).sum(axis=-1).mean(axis=-1)  # (K, K)
    return ce + kl.sum(axis=0) / (K - 1)  # the diagonal KL(p_k || p_k) is 0


def ensemble_soft_targets(teacher_logits: np.ndarray, T: float = 1.0, weights: np.ndarray | None = None) -> np.ndarray:
    """Soft targets of an ensemble of teachers: the weighted average of their temperature softmaxes.

    p_n = sum_m w_m softmax(z_m,n / T),   w_m >= 0, sum_m w_m = 1   (uniform w_m = 1/M by default)

    Multi-teacher distillation averages the teachers' *probabilities* (not their logits), as
    Hinton et al. (2015) do for an ensemble; the result is a distribution a student can be
    distilled on with the KD loss. Given weights are normalised to sum to 1. Each softmax
    subtracts its row maximum first, so large logits are safe.

    Args:
        teacher_logits: shape (M, N, C): M teachers' logits on the same batch, M >= 1.
        T: temperature, a finite number > 0.
        weights: shape (M,), non-negative with a positive sum, or None for uniform weights.

    Returns:
        float64 array of shape (N, C) whose rows sum to 1.

    Raises:
        ValueError: if teacher_logits is not 3-D, T is bad, or the weights have the wrong shape,
            a negative entry or a zero sum.
    """
    z = np.asarray(teacher_logits, dtype=np.float64)
    if z.ndim != 3 or 0 in z.shape:
        raise ValueError(f"teacher_logits must have shape (M, N, C) with no empty axis, got {z.shape}")
    if not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    M = z.shape[0]
    w = np.full(M, 1.0 / M) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (M,) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"weights must be {M} non-negative numbers with a positive sum, got {weights!r}")
    z = z / T
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # (M, N, C)
    p = e / e.sum(axis=-1, keepdims=True)  # (M, N, C)
    return np.tensordot(w / w.sum(), p, axes=1)  # (N, C)


def ema_update(teacher_params: np.ndarray, student_params: np.ndarray, momentum: float = 0.99) -> np.ndarray:
    """One step of an exponential-moving-average ("momentum", "mean") teacher.

    theta_teacher <- m * theta_teacher + (1 - m) * theta_student

    The teacher is not trained: after every optimiser step of the student, its weights move a
    fraction 1 - m towards the student's (Tarvainen & Valpola, NeurIPS 2017; the momentum
    encoder of MoCo and the teacher of DINO). After k steps towards a fixed student, the gap
    shrinks by m^k. m = 1 freezes the teacher; m = 0 copies the student. The inputs are not
    modified; a new array is returned.

    Args:
        teacher_params, student_params: arrays of one shape (any shape, e.g. a weight matrix).
        momentum: m, in [0, 1].

    Returns:
        float64 array of the same shape: the teacher's new parameters.

    Raises:
        ValueError: if the shapes differ or momentum is outside [0, 1].
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum!r}")
    t = np.asarray(teacher_params, dtype=np.float64)
    s = np.asarray(student_params, dtype=np.float64)
    if t.shape != s.shape:
        raise ValueError(f"teacher and student parameters must have the same shape, got {t.shape} and {s.shape}")
    return momentum * t + (1 - momentum) * s


def self_distillation_loss(
    exit_logits: np.ndarray,
    exit_features: np.ndarray,
    labels: np.ndarray,
    T: float = 3.0,
    alpha: float = 0.3,
    lam: float = 0.03,
) -> float:
    """Self-distillation: shallow exits learn from the deepest one (Zhang et al., ICCV 2019, sec. 3.2).

    L = CE(z_E, y) + sum_{i < E} [ (1 - alpha) CE(z_i, y) + alpha T^2 1/N sum_n KL(p_E,n || p_i,n)
                                   + lam 1/N sum_n ||F_i,n - F_E,n||_2^2 ],   p = softmax(z / T)

    One network with E classifiers ("exits") along its depth; exit E (the last, deepest) is the
    teacher of the shallower exits 1..E-1, which learn from the labels, from its softened
    predictions (the KL, with Hinton's T^2 as in kd_loss) and from its features (a hint, here
    with the features already brought to one size D). The deepest exit learns from the labels
    only. With E = 1 the loss is the cross-entropy.

    Args:
        exit_logits: shape (E, N, C), exits ordered shallow to deep, E >= 1, N >= 1.
        exit_features: shape (E, N, D): each exit's features, same order.
        labels: integer array of shape (N,), values in [0, C).
        T: temperature > 0; alpha in [0, 1]; lam >= 0.

    Returns:
        the total loss as a Python float.

    Raises:
        ValueError: on mismatched shapes, a label outside [0, C), or a bad T, alpha or lam.
    """
    z = np.asarray(exit_logits, dtype=np.float64)
    F = np.asarray(exit_features, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 3 or 0 in z.shape or y.shape != (z.shape[1],) or F.ndim != 3 or F.shape[:2] != z.shape[:2]:
        raise ValueError(f"expected logits (E, N, C), features (E, N, D) and labels (N,), got {z.shape}, {F.shape}, {y.shape}")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= z.shape[2]:
        raise ValueError(f"labels must be integers in [0, {z.shape[2]}), got {y!r}")
    if not np.isfinite(T) or T <= 0 or not 0.0 <= alpha <= 1.0 or not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"need T > 0, alpha in [0, 1] and lam >= 0, got T={T!r}, alpha={alpha!r}, lam={lam!r}")
    N = z.shape[1]

    def log_softmax(a):  # (E, N, C), stable: subtract the row maximum
        a = a - a.max(axis=-1, keepdims=True)
        return a - np.log(np.exp(a).sum(axis=-1, keepdims=True))

    ce = -log_softmax(z)[:, np.arange(N), y].mean(axis=1)  # (E,)
    logq = log_softmax(z / T)  # (E, N, C)
    kl = (np.exp(logq[-1]) * (logq[-1] - logq[:-1])).sum(axis=-1).mean(axis=-1)  # (E-1,)
    hint = ((F[:-1] - F[-1]) ** 2).sum(axis=-1).mean(axis=-1)  # (E-1,)
    shallow = (1 - alpha) * ce[:-1] + alpha * T**2 * kl + lam * hint  # (E-1,)
    return float(ce[-1] + shallow.sum())
