"""Distillation without the data, and data without the model: the NumPy reference graded in Lab 12.

Eight functions here are Lab 12's exercises (labgrader/checks/lab12_data_free.py declares them):
``softmax_ce_grad``, ``distill_grad`` (dataset distillation by unrolled SGD), ``data_free_kd_losses``
and ``bn_statistics_loss`` (data-free KD), ``nasty_teacher_loss`` and ``nasty_teacher_grad`` (the
undistillable teacher), ``soft_label_entropy`` and ``dark_knowledge_stats`` (telling a nasty
teacher's soft labels apart). Each one's source is copied verbatim into the solution notebook, so
each is self-contained: it may call the other exercises by name and ``numpy`` as ``np``.

Conventions (where the literature differs, the one chosen is stated):

* Logits and probabilities live on the last axis, (N, C); losses are batch means; logs are natural.
* The classifier of dataset distillation is linear softmax regression, logits Z = X W with X of
  shape (N, d) and W of shape (d, C), no bias (append a column of ones to X for one). Wang et al.,
  "Dataset Distillation" (2018), train a network; the linear model keeps the unrolled gradient a
  page of NumPy and lets the tests compare it with finite differences.
* KL divergences are KL(p || q) = sum_i p_i (log p_i - log q_i), with 0 log 0 = 0, summed over
  classes and averaged over the batch, as in Lab 1's ``kd_loss``.
"""

from __future__ import annotations

import numpy as np


def softmax_ce_grad(X: np.ndarray, W: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of linear softmax regression and its gradient with respect to W.

        Z = X W,   P = softmax(Z) (row-wise),   L = -1/N sum_n log P[n, y_n]
        dL/dW = X^T (P - Y) / N,   Y the one-hot labels

    (Bishop, "Pattern Recognition and Machine Learning", 2006, eq. 4.109.) This is one step of the
    inner loop of dataset distillation. The softmax subtracts the row maximum and the loss is
    computed as logsumexp(Z_n) - Z[n, y_n], so logits of +-1e4 give finite values.

    Args:
        X: (N, d) finite inputs, N >= 1.
        W: (d, C) finite weights, C >= 2.
        y: (N,) integer labels in [0, C).

    Returns:
        (loss, grad_W): a Python float and a float64 (d, C) array.

    Raises:
        ValueError: if the shapes do not fit ((N, d), (d, C), (N,)), N = 0 or C < 2, an input is
            non-finite, or a label is not an integer in [0, C).
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[0] or y.shape != (X.shape[0],):
        raise ValueError(f"expected X (N, d), W (d, C) and y (N,), got {X.shape}, {W.shape} and {y.shape}")
    if X.shape[0] == 0 or W.shape[1] < 2:
        raise ValueError(f"need N >= 1 examples and C >= 2 classes, got N = {X.shape[0]}, C = {W.shape[1]}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(W))):
        raise ValueError("X and W must be finite (no NaN or inf)")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= W.shape[1]:
        raise ValueError(f"labels y must be integers in [0, {W.shape[1]}), got {y!r}")
    N = X.shape[0]
    Z = X @ W  # (N, C)
    Z = Z - Z.max(axis=1, keepdims=True)  # (N, C), row max 0
    lse = np.log(np.exp(Z).sum(axis=1))  # (N,)
    loss = float(np.mean(lse - Z[np.arange(N), y]))
    P = np.exp(Z - lse[:, None])  # (N, C)
    P[np.arange(N), y] -= 1.0  # P - Y
    return loss, X.T @ P / N


def distill_grad(X_syn: np.ndarray, y_syn: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                 W0: np.ndarray, lr: float, steps: int) -> tuple[float, np.ndarray]:
    """Dataset distillation: the validation loss after k SGD steps on synthetic data, and its gradient
    with respect to the synthetic inputs (Wang, Zhu, Torralba & Efros, "Dataset Distillation", 2018, eq. 3-4).

    Inner loop (full-batch gradient descent on the synthetic set, from W_0 = W0):

        W_{t+1} = W_t - lr * G(W_t, X_syn),   G(W, X) = X^T (softmax(X W) - Y_syn) / M,   t = 0 .. k-1

    Outer objective: L(X_syn) = CE(X_val W_k, y_val) (the mean cross-entropy of softmax_ce_grad).

    The gradient dL/dX_syn is computed by reverse-mode differentiation through the unrolled steps
    (backpropagation through time). With A_k = dL/dW_k = X_val^T (P_val - Y_val) / N_val, going
    back from t = k-1 to 0, for A = A_{t+1}, P = softmax(X_syn W_t), B = X_syn A / M (M, C):

        S = P * (B - sum_c P B)                         (the softmax vector-Jacobian product)
        dL/dX_syn += -lr * ((P - Y_syn) A^T / M + S W_t^T)
        A_t = A - lr * X_syn^T S

    With steps = 0 the weights never see X_syn and the gradient is 0.

    Args:
        X_syn: (M, d) synthetic inputs; y_syn: (M,) their labels in [0, C).
        X_val: (N, d) real validation inputs; y_val: (N,) their labels.
        W0: (d, C) initial weights, C >= 2.
        lr: inner learning rate, a finite number > 0.
        steps: k, an integer >= 0.

    Returns:
        (loss, grad_X_syn): the validation loss after k steps (a float) and a float64 (M, d) array.

    Raises:
        ValueError: if lr is not a finite number > 0, steps is not an integer >= 0, or an array
            is non-finite, mis-shaped or has a bad label (as in softmax_ce_grad).
    """
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) \
            or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    X_syn = np.asarray(X_syn, dtype=np.float64)
    y_syn = np.asarray(y_syn)
    W = np.asarray(W0, dtype=np.float64)
    softmax_ce_grad(X_syn, W, y_syn)  # validates the synthetic set and W0
    M = X_syn.shape[0]
    weights = [W]
    for _ in range(steps):  # forward: keep every W_t for the backward pass
        W = W - lr * softmax_ce_grad(X_syn, W, y_syn)[1]
        weights.append(W)
    loss, A = softmax_ce_grad(X_val, W, y_val)  # A = dL/dW_k, (d, C)
    grad_X = np.zeros_like(X_syn)  # (M, d)
    Y = np.eye(W.shape[1])[y_syn]  # (M, C)
    for t in range(steps - 1, -1, -1):
        W_t = weights[t]
        Z = X_syn @ W_t  # (M, C)
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        P = E / E.sum(axis=1, keepdims=True)  # (M, C)
        B = X_syn @ A / M  # (M, C)
        S = P * (B - (P * B).sum(axis=1, keepdims=True))  # (M, C)
        grad_X += -lr * ((P - Y) @ A.T / M + S @ W_t.T)
        A = A - lr * X_syn.T @ S
    return loss, grad_X


def data_free_kd_losses(teacher_logits: np.ndarray, student_logits: np.ndarray, kind: str = "kl",
                        T: float = 1.0) -> tuple[float, float]:
    """The adversarial data-free KD objectives on a batch of generated inputs: (student loss, generator loss).

    A generator G makes inputs x = G(z) from noise; the student S learns to match the teacher there
    and the generator learns to make inputs on which they disagree most, so the disagreement D is
    minimised by the student and maximised by the generator (generator loss = -D):

        kind "kl":  D = T^2 / N sum_n KL(softmax(t_n / T) || softmax(s_n / T))
                    (Micaelli & Storkey, "Zero-shot Knowledge Transfer via Adversarial Belief
                    Matching", NeurIPS 2019, eq. 1-2; T = 1 there)
        kind "l1":  D = 1 / (N C) sum_n sum_c |t_nc - s_nc|   (mean absolute error of the logits;
                    Fang et al., "Data-Free Adversarial Distillation", 2019, eq. 4: the L1 keeps the
                    generator's gradient from vanishing where the KL saturates)

    The KL is computed from log-softmaxes (row maximum subtracted), so it stays finite and >= 0.

    Args:
        teacher_logits, student_logits: (N, C) finite arrays, N >= 1, C >= 2.
        kind: "kl" or "l1".
        T: temperature of the "kl" kind, a finite number > 0 (ignored by "l1").

    Returns:
        (student_loss, generator_loss) = (D, -D) as Python floats.

    Raises:
        ValueError: if kind is not "kl" or "l1", T is not a finite number > 0, or the logits are
            not two finite (N, C) arrays of one shape with N >= 1, C >= 2.
    """
    if kind not in ("kl", "l1"):
        raise ValueError(f"kind must be 'kl' or 'l1', got {kind!r}")
    if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)) or not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    t = np.asarray(teacher_logits, dtype=np.float64)
    s = np.asarray(student_logits, dtype=np.float64)
    if t.shape != s.shape or t.ndim != 2 or t.shape[0] == 0 or t.shape[1] < 2:
        raise ValueError(f"teacher and student logits must both be (N, C) with N >= 1, C >= 2, got {t.shape} and {s.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(s))):
        raise ValueError("logits must be finite (no NaN or inf)")
    if kind == "l1":
        D = float(np.mean(np.abs(t - s)))
        return D, -D
    a, b = t / T, s / T  # (N, C)
    log_p = a - a.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))  # teacher log-probabilities
    log_q = b - b.max(axis=1, keepdims=True)
    log_q = log_q - np.log(np.exp(log_q).sum(axis=1, keepdims=True))  # student log-probabilities
    kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=1)  # (N,)
    D = float(T**2 * np.mean(np.maximum(kl, 0.0)))
    return D, -D


def bn_statistics_loss(features: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray) -> float:
    """DeepInversion's batch-norm statistics term for one layer: how far a batch's feature statistics
    are from the ones the teacher's BatchNorm layer stored during training.

        R = || mu(x) - mu_BN ||_2 + || sigma^2(x) - sigma^2_BN ||_2

    with mu(x) and sigma^2(x) the per-channel mean and *biased* variance (divided by the count, as
    BatchNorm normalises) over every axis but the channel axis 1: over N for features (N, C), over
    N, H, W for (N, C, H, W). (Yin et al., "Dreaming to Distill: Data-free Knowledge Transfer via
    DeepInversion", CVPR 2020, eq. 4.) Summed over the layers, it lets the teacher alone say what
    its training data looked like: synthesised inputs are optimised to bring R to 0.

    Args:
        features: (N, C) or (N, C, H, W) finite activations, with N >= 1 (and H, W >= 1).
        running_mean: (C,) finite.
        running_var: (C,) finite and >= 0.

    Returns:
        R as a Python float (>= 0).

    Raises:
        ValueError: if features is not 2-D or 4-D and non-empty, the running statistics are not
            of shape (C,), something is non-finite, or a running variance is negative.
    """
    x = np.asarray(features, dtype=np.float64)
    mu_bn = np.asarray(running_mean, dtype=np.float64)
    var_bn = np.asarray(running_var, dtype=np.float64)
    if x.ndim not in (2, 4) or x.size == 0:
        raise ValueError(f"features must be a non-empty (N, C) or (N, C, H, W) array, got shape {x.shape}")
    C = x.shape[1]
    if mu_bn.shape != (C,) or var_bn.shape != (C,):
        raise ValueError(f"running_mean and running_var need shape ({C},), got {mu_bn.shape} and {var_bn.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(mu_bn)) and np.all(np.isfinite(var_bn))):
        raise ValueError("features and running statistics must be finite (no NaN or inf)")
    if np.any(var_bn < 0):
        raise ValueError("running_var must be >= 0")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    mu = x.mean(axis=axes)  # (C,)
    var = ((x - mu.reshape((1, C) + (1,) * (x.ndim - 2))) ** 2).mean(axis=axes)  # (C,), biased
    return float(np.linalg.norm(mu - mu_bn) + np.linalg.norm(var - var_bn))


def nasty_teacher_loss(nasty_logits: np.ndarray, normal_logits: np.ndarray, labels: np.ndarray,
                       T: float = 4.0, omega: float = 0.04) -> float:
    """The nasty-teacher objective: stay accurate, but put the soft labels as far as possible from a
    normal network's (Ma et al., "Undistillable: Making A Nasty Teacher That CANNOT Teach Students",
    ICLR 2021, eq. 2):

        L = CE(z_nasty, y) - omega * T^2 * 1/N sum_n KL(softmax(z_normal,n / T) || softmax(z_nasty,n / T))

    The nasty teacher (logits z_nasty) is trained to minimise L; the normal ("adversarial") network
    z_normal is fixed, pre-trained on the same data. The CE (at T = 1) keeps its argmax right; the
    -KL at temperature T makes its softened distribution misleading, so a student distilled from it
    at that temperature learns worse than from the normal network. The T^2 is Hinton's scaling.

    Args:
        nasty_logits, normal_logits: (N, C) finite arrays, N >= 1, C >= 2.
        labels: (N,) integers in [0, C).
        T: temperature, a finite number > 0.
        omega: weight of the KL term, a finite number >= 0.

    Returns:
        L as a Python float.

    Raises:
        ValueError: if the shapes do not fit, a logit is non-finite, a label is out of range,
            T is not a finite number > 0, or omega is not a finite number >= 0.
    """
    if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)) or not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    if isinstance(omega, bool) or not isinstance(omega, (int, float, np.integer, np.floating)) \
            or not np.isfinite(omega) or omega < 0:
        raise ValueError(f"omega must be a finite number >= 0, got {omega!r}")
    z = np.asarray(nasty_logits, dtype=np.float64)
    a = np.asarray(normal_logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.shape != a.shape or z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2 or y.shape != (z.shape[0],):
        raise ValueError(f"expected nasty and normal logits (N, C), N >= 1, C >= 2, and labels (N,), "
                         f"got {z.shape}, {a.shape} and {y.shape}")
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(a))):
        raise ValueError("logits must be finite (no NaN or inf)")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be integers in [0, {z.shape[1]}), got {y!r}")
    N = z.shape[0]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))  # (N, C), nasty at T = 1
    ce = -np.mean(log_p[np.arange(N), y])
    log_pt = z / T - (z / T).max(axis=1, keepdims=True)
    log_pt = log_pt - np.log(np.exp(log_pt).sum(axis=1, keepdims=True))  # nasty at T
    log_qt = a / T - (a / T).max(axis=1, keepdims=True)
    log_qt = log_qt - np.log(np.exp(log_qt).sum(axis=1, keepdims=True))  # normal at T
    kl = np.sum(np.exp(log_qt) * (log_qt - log_pt), axis=1)  # (N,), KL(normal || nasty)
    return float(ce - omega * T**2 * np.mean(kl))


def nasty_teacher_grad(nasty_logits: np.ndarray, normal_logits: np.ndarray, labels: np.ndarray,
                       T: float = 4.0, omega: float = 0.04) -> np.ndarray:
    """The gradient of nasty_teacher_loss with respect to the nasty teacher's logits.

    With p = softmax(z_nasty), p_T = softmax(z_nasty / T), q_T = softmax(z_normal / T), Y one-hot:

        dL/dz_nasty = (p - Y) / N - omega * T * (p_T - q_T) / N

    (d CE / dz = (p - Y) / N; d KL(q_T || p_T) / dz = (p_T - q_T) / (T N), times omega T^2.) The
    teacher's training pushes p_T away from q_T: the opposite of a distilling student's gradient.
    Ma et al. 2021, eq. 2; Hinton et al. 2015, sec. 2.1 for the 1/T.

    Args:
        as nasty_teacher_loss: nasty_logits, normal_logits (N, C), labels (N,), T > 0, omega >= 0.

    Returns:
        float64 (N, C) array; each row sums to 0.

    Raises:
        ValueError: as nasty_teacher_loss (shapes, non-finite logits, labels, T, omega).
    """
    nasty_teacher_loss(nasty_logits, normal_logits, labels, T, omega)  # validates every argument
    z = np.asarray(nasty_logits, dtype=np.float64)
    a = np.asarray(normal_logits, dtype=np.float64)
    y = np.asarray(labels)
    N, C = z.shape

    def softmax(v):  # (N, C), stable: subtract the row maximum
        e = np.exp(v - v.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p, p_T, q_T = softmax(z), softmax(z / T), softmax(a / T)
    return (p - np.eye(C)[y]) / N - omega * T * (p_T - q_T) / N


def soft_label_entropy(logits: np.ndarray, T: float = 1.0) -> np.ndarray:
    """The entropy of each temperature-softened soft label, in nats:

        H_n = -sum_c p_nc log p_nc,   p_n = softmax(z_n / T),   0 log 0 = 0

    between 0 (one-hot) and log C (uniform). Computed as logsumexp(a) - sum_c p_c a_c with
    a = z / T, so that a probability that underflows to 0 contributes 0 instead of 0 * (-inf) = NaN.
    A normal teacher's soft labels at T = 4 carry "dark knowledge" (Hinton et al., 2015): their
    entropy sits between the two ends.

    Args:
        logits: (N, C) finite array, C >= 1.
        T: temperature, a finite number > 0.

    Returns:
        float64 (N,) array of entropies.

    Raises:
        ValueError: if logits is not a finite 2-D array with C >= 1, or T is not a finite number > 0.
    """
    if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)) or not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be a finite (N, C) array with C >= 1, got shape {z.shape}")
    a = z / T
    a = a - a.max(axis=1, keepdims=True)  # (N, C)
    e = np.exp(a)
    s = e.sum(axis=1)  # (N,), >= 1
    p = e / s[:, None]
    return np.maximum(np.log(s) - np.sum(p * a, axis=1), 0.0)


def dark_knowledge_stats(logits: np.ndarray, labels: np.ndarray, T: float = 4.0) -> np.ndarray:
    """Three statistics of a teacher's soft labels at temperature T, averaged over the batch:

        [ mean_n p_n[y_n],                      the probability of the true class
          mean_n (1 - p_n[y_n]),                the non-target mass ("dark knowledge")
          mean_n H(r_n) / log(C - 1) ]          the normalised entropy of the non-target distribution

    with p_n = softmax(z_n / T) and r_n = the non-target probabilities p_n[c], c != y_n, divided by
    their sum (in [0, 1]: 1 when the wrong classes share the mass evenly, near 0 when one wrong
    class takes it all). Hinton et al. 2015 read the dark knowledge off the non-target classes;
    a nasty teacher (Ma et al. 2021, fig. 2) keeps p[y] top but spreads a spiky non-target
    distribution: a large non-target mass on a few misleading classes. Computed from log-probabilities
    (r's log is log p_c - log(sum of the others)), with 0 log 0 = 0.

    Args:
        logits: (N, C) finite array, N >= 1, C >= 3 (with C = 2 the non-target distribution has one class).
        labels: (N,) integers in [0, C).
        T: temperature, a finite number > 0.

    Returns:
        float64 array of shape (3,).

    Raises:
        ValueError: if logits is not finite (N, C) with N >= 1, C >= 3, labels are not integers in
            [0, C) of shape (N,), or T is not a finite number > 0.
    """
    if isinstance(T, bool) or not isinstance(T, (int, float, np.integer, np.floating)) or not np.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 3 or not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be a finite (N, C) array with N >= 1, C >= 3, got shape {z.shape}")
    if y.shape != (z.shape[0],) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be {z.shape[0]} integers in [0, {z.shape[1]}), got {y!r}")
    N, C = z.shape
    a = z / T
    a = a - a.max(axis=1, keepdims=True)
    log_p = a - np.log(np.exp(a).sum(axis=1, keepdims=True))  # (N, C)
    p = np.exp(log_p)
    target = p[np.arange(N), y]  # (N,)
    others = np.ones((N, C), dtype=bool)
    others[np.arange(N), y] = False
    lo = np.where(others, log_p, -np.inf)  # (N, C), the non-target log-probabilities
    m = lo.max(axis=1, keepdims=True)
    log_rest = m[:, 0] + np.log(np.exp(lo - m).sum(axis=1))  # (N,), log of the non-target mass
    log_r = lo - log_rest[:, None]  # (N, C), -inf at the target
    r = np.exp(log_r)
    H = -np.sum(np.where(r > 0, r * np.where(others, log_r, 0.0), 0.0), axis=1)  # (N,)
    return np.array([target.mean(), np.exp(log_rest).mean(), np.mean(np.maximum(H, 0.0)) / np.log(C - 1)])
