"""Efficient transformers: the NumPy reference graded in Lab 13.

Eleven functions here are Lab 13's exercises (labgrader/checks/lab13_efficient_transformers.py
declares them): ``tiled_attention``, ``attention_hbm_accesses``, ``tinybert_layer_map``,
``tinybert_attention_loss``, ``tinybert_hidden_loss``, ``soft_cross_entropy``, ``deit_loss``,
``deit_predict``, ``head_flops_loss``, ``switch_distill_loss`` and ``cascade_cost_accuracy``.
Each one's source is copied verbatim into the solution notebook, so each is self-contained: it
may call the other exercises by name and ``numpy`` as ``np``.

Conventions (where the literature differs, the one chosen is stated):

* Attention is single-head scaled dot-product attention, O = softmax(Q K^T / sqrt(d)) V, rows of
  Q are queries (Vaswani et al., "Attention Is All You Need", 2017, eq. 1).
* Losses are batch means, and a softmax over logits is computed from the max-shifted logits
  (log-sum-exp), so that logits of +-1e4 give finite answers.
* Layers are counted from 1; index 0 of a stack of hidden states is the embedding layer's output
  (TinyBERT's m = 0).
"""

from __future__ import annotations

import numpy as np


def tiled_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, block_rows: int,
                    block_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact attention computed tile by tile with the online softmax (FlashAttention).

        O = softmax(S) V,   S = Q K^T / sqrt(d)   (softmax along each row of S)

    Never forms the whole N x M matrix S. Q is cut into row blocks of ``block_rows`` queries and
    K, V into column blocks of ``block_cols`` keys (the last block of each may be shorter). For a
    row block, the tiles S_ij = Q_i K_j^T / sqrt(d) are visited in order j = 1, 2, ... keeping per
    row a running max m, a running normaliser l and an unnormalised output acc:

        m_new = max(m, rowmax(S_ij))
        l     = exp(m - m_new) l + rowsum(exp(S_ij - m_new))
        acc   = exp(m - m_new) acc + exp(S_ij - m_new) V_j
        m     = m_new

    starting from m = -inf, l = 0, acc = 0; at the end O_i = acc / l (Dao et al., "FlashAttention:
    Fast and Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022, Algorithm 1 and
    sec. 3.1; Milakov & Gimelshein, "Online normalizer calculation for softmax", 2018). The result
    equals naive attention up to rounding, for every block size. FlashAttention also keeps the
    log-sum-exp of each row, L = m + log l, for the backward pass (it recomputes P = exp(S - L)
    instead of storing it); it is returned too.

    Args:
        Q: finite array (N, d) of queries, N >= 1, d >= 1.
        K: finite array (M, d) of keys, M >= 1.
        V: finite array (M, d_v) of values, d_v >= 1.
        block_rows: B_r >= 1, queries per tile (any size; B_r >= N is one row block).
        block_cols: B_c >= 1, keys per tile.

    Returns:
        (O, L): float64 arrays (N, d_v), the attention output, and (N,), log sum_j exp(S[i, j]).

    Raises:
        ValueError: if Q, K, V are not 2-D and non-empty with matching sizes (K's and Q's d, K's
            and V's M), are not finite, or a block size is not a positive integer.
    """
    for name, b in (("block_rows", block_rows), ("block_cols", block_cols)):
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"{name} must be a positive integer, got {b!r}")
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    if Q.ndim != 2 or K.ndim != 2 or V.ndim != 2 or 0 in Q.shape + K.shape + V.shape:
        raise ValueError(f"Q, K, V must be non-empty 2-D arrays (N, d), (M, d), (M, d_v); "
                         f"got {Q.shape}, {K.shape}, {V.shape}")
    if K.shape[1] != Q.shape[1] or V.shape[0] != K.shape[0]:
        raise ValueError(f"shapes do not match: Q {Q.shape} and K {K.shape} need the same d, "
                         f"K and V {V.shape} the same number of rows M")
    if not (np.all(np.isfinite(Q)) and np.all(np.isfinite(K)) and np.all(np.isfinite(V))):
        raise ValueError("Q, K and V must be finite (no NaN or inf)")
    N, d = Q.shape
    M = K.shape[0]
    O = np.zeros((N, V.shape[1]))  # (N, d_v)
    L = np.zeros(N)  # (N,)
    for r0 in range(0, N, block_rows):
        Qi = Q[r0:r0 + block_rows] / np.sqrt(d)  # (B_r, d)
        m = np.full(Qi.shape[0], -np.inf)  # (B_r,) running row max
        l = np.zeros(Qi.shape[0])  # (B_r,) running normaliser
        acc = np.zeros((Qi.shape[0], V.shape[1]))  # (B_r, d_v)
        for c0 in range(0, M, block_cols):
            S = Qi @ K[c0:c0 + block_cols].T  # (B_r, B_c)
            m_new = np.maximum(m, S.max(axis=1))
            P = np.exp(S - m_new[:, None])  # (B_r, B_c)
            rescale = np.exp(m - m_new)  # (B_r,) exp(-inf) = 0 on the first tile
            l = rescale * l + P.sum(axis=1)
            acc = rescale[:, None] * acc + P @ V[c0:c0 + block_cols]
            m = m_new
        O[r0:r0 + block_rows] = acc / l[:, None]
        L[r0:r0 + block_rows] = m + np.log(l)
    return O, L


def attention_hbm_accesses(N: int, d: int, sram_size: int) -> tuple[int, int]:
    """Slow-memory (HBM) reads plus writes, in elements, of naive attention and of FlashAttention.

    Self-attention of N tokens of head dimension d (Q, K, V, O all N x d). Dao et al. 2022 count
    the traffic between HBM and the on-chip SRAM, which holds ``sram_size`` = M elements:

    * naive (their Algorithm 0): read Q, K (2Nd), write S (N^2); read S, write P (2N^2); read P
      and V, write O (N^2 + 2Nd):  naive = 4 N d + 4 N^2.
    * FlashAttention (Algorithm 1): block sizes B_c = ceil(M / (4d)), B_r = min(B_c, d);
      T_c = ceil(N / B_c) column blocks. Initialise O, l, m in HBM (N d + 2N writes); for each
      column block j load K_j, V_j (2 N d over all j); inside it, for every row block i load Q_i,
      O_i, l_i, m_i and write O_i, l_i, m_i back (3 N d + 4 N per column block):

          flash = N d + 2 N + 2 N d + T_c (3 N d + 4 N).

    With T_c ~ 4 N d / M this is Theta(N^2 d^2 / M) (their Theorem 2): more SRAM, less traffic,
    and far less than naive's Theta(N^2) whenever d^2 << M. B_r does not enter (each row block is
    read and written once per column block, whatever its size).

    Args:
        N: sequence length >= 1.  d: head dimension >= 1.  sram_size: M >= 1, in elements.

    Returns:
        (naive, flash) as Python ints.

    Raises:
        ValueError: if N, d or sram_size is not a positive integer.
    """
    for name, n in (("N", N), ("d", d), ("sram_size", sram_size)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    N, d, M = int(N), int(d), int(sram_size)
    B_c = -(-M // (4 * d))  # ceil(M / 4d)
    T_c = -(-N // B_c)  # ceil(N / B_c)
    naive = 4 * N * d + 4 * N * N
    flash = N * d + 2 * N + 2 * N * d + T_c * (3 * N * d + 4 * N)
    return naive, flash


def tinybert_layer_map(n_student: int, n_teacher: int) -> np.ndarray:
    """TinyBERT's uniform layer mapping n = g(m): which teacher layer student layer m learns from.

        g(m) = m * N / M   for m = 0, ..., M,      g(M + 1) = N + 1

    for a student of M layers and a teacher of N layers (Jiao et al., "TinyBERT: Distilling BERT
    for Natural Language Understanding", Findings of EMNLP 2020, sec. 3.1, the "uniform"
    strategy). m = 0 is the embedding layer (g(0) = 0) and m = M + 1 the prediction layer; the
    student's layer m imitates every (N / M)-th teacher layer, the teacher's last layer included.

    Args:
        n_student: M >= 1.  n_teacher: N >= M, a multiple of M.

    Returns:
        an int64 array of length M + 2: g(0), g(1), ..., g(M + 1).

    Raises:
        ValueError: if M or N is not a positive integer, or N is not a multiple of M (the uniform
            mapping needs N / M whole; pick a teacher depth that M divides).
    """
    for name, n in (("n_student", n_student), ("n_teacher", n_teacher)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if n_teacher % n_student != 0:
        raise ValueError(f"n_teacher ({n_teacher}) must be a multiple of n_student ({n_student}) "
                         f"for the uniform mapping g(m) = m N / M")
    step = int(n_teacher) // int(n_student)
    g = np.arange(int(n_student) + 2, dtype=np.int64) * step
    g[-1] = int(n_teacher) + 1
    return g


def tinybert_attention_loss(student_attn: np.ndarray, teacher_attn: np.ndarray) -> float:
    """TinyBERT's attention-based distillation loss, summed over the mapped layers.

        L_attn = sum_{m=1..M} 1/h sum_{i=1..h} MSE(A^S_{m,i}, A^T_{g(m),i})

    A_{m,i} (l x l) is head i's attention-score matrix of layer m, taken *before* the softmax
    (Jiao et al. 2020, eq. 7: the unnormalised scores converged faster in their runs), and MSE is
    the mean over the l^2 entries; g is ``tinybert_layer_map``. Layers are 1-based in the formula:
    student_attn[m - 1] is layer m, teacher_attn[g(m) - 1] is teacher layer g(m).

    Args:
        student_attn: finite array (M, h, l, l), M >= 1.
        teacher_attn: finite array (N, h, l, l), N a multiple of M, same h and l.

    Returns:
        the loss as a Python float (>= 0).

    Raises:
        ValueError: if either is not a finite, non-empty 4-D array, the two differ in (h, l, l),
            an attention map is not square, or N is not a multiple of M.
    """
    S = np.asarray(student_attn, dtype=np.float64)
    T = np.asarray(teacher_attn, dtype=np.float64)
    if S.ndim != 4 or T.ndim != 4 or S.size == 0 or T.size == 0:
        raise ValueError(f"attention stacks must be non-empty 4-D (layers, h, l, l), got {S.shape} and {T.shape}")
    if S.shape[1:] != T.shape[1:] or S.shape[2] != S.shape[3]:
        raise ValueError(f"student and teacher maps must share (h, l, l) with square maps, got {S.shape} and {T.shape}")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(T))):
        raise ValueError("attention scores must be finite (no NaN or inf)")
    g = tinybert_layer_map(S.shape[0], T.shape[0])
    loss = 0.0
    for m in range(1, S.shape[0] + 1):
        loss += float(((S[m - 1] - T[g[m] - 1]) ** 2).mean())  # mean over (h, l, l) = 1/h sum_i MSE_i
    return loss


def tinybert_hidden_loss(student_hidden: np.ndarray, teacher_hidden: np.ndarray, W_h: np.ndarray,
                         W_e: np.ndarray) -> float:
    """TinyBERT's embedding and hidden-state losses, through learned projections, over the mapped layers.

        L = MSE(E^S W_e, E^T) + sum_{m=1..M} MSE(H^S_m W_h, H^T_{g(m)})

    A student of width d' imitates a teacher of width d through a learned d' x d matrix: W_e for
    the embedding layer's output (m = 0, eq. 9 of Jiao et al. 2020) and W_h for every
    transformer layer's output (eq. 8); g is ``tinybert_layer_map`` and MSE is the mean over batch,
    tokens and the d features. Index 0 of each stack is the embedding output, index m layer m.

    Args:
        student_hidden: finite array (M + 1, B, l, d'), M >= 1.
        teacher_hidden: finite array (N + 1, B, l, d), N a multiple of M, same B and l.
        W_h, W_e: finite arrays (d', d).

    Returns:
        the loss as a Python float (>= 0).

    Raises:
        ValueError: if a stack is not a finite, non-empty 4-D array with at least 2 entries
            (embedding + one layer), B or l differ, W_h / W_e are not finite (d', d), or the layer
            counts do not admit the uniform mapping.
    """
    HS = np.asarray(student_hidden, dtype=np.float64)
    HT = np.asarray(teacher_hidden, dtype=np.float64)
    W_h = np.asarray(W_h, dtype=np.float64)
    W_e = np.asarray(W_e, dtype=np.float64)
    if HS.ndim != 4 or HT.ndim != 4 or HS.shape[0] < 2 or HT.shape[0] < 2 or HS.size == 0 or HT.size == 0:
        raise ValueError(f"hidden stacks must be non-empty 4-D (1 + layers, B, l, d) with >= 1 layer, "
                         f"got {HS.shape} and {HT.shape}")
    if HS.shape[1:3] != HT.shape[1:3]:
        raise ValueError(f"student and teacher need the same batch and length (B, l), got {HS.shape} and {HT.shape}")
    expected = (HS.shape[3], HT.shape[3])
    if W_h.shape != expected or W_e.shape != expected:
        raise ValueError(f"W_h and W_e must have shape (d', d) = {expected}, got {W_h.shape} and {W_e.shape}")
    if not all(np.all(np.isfinite(a)) for a in (HS, HT, W_h, W_e)):
        raise ValueError("hidden states and projections must be finite (no NaN or inf)")
    g = tinybert_layer_map(HS.shape[0] - 1, HT.shape[0] - 1)
    loss = float(((HS[0] @ W_e - HT[0]) ** 2).mean())  # embedding layer, eq. 9
    for m in range(1, HS.shape[0]):
        loss += float(((HS[m] @ W_h - HT[g[m]]) ** 2).mean())  # (B, l, d), eq. 8
    return loss


def soft_cross_entropy(student_logits: np.ndarray, teacher_logits: np.ndarray, T: float = 1.0) -> float:
    """TinyBERT's prediction-layer loss: the cross-entropy of the student's softened output against the teacher's.

        L_pred = -1/B sum_b sum_c softmax(z^T_b / T)_c log softmax(z^S_b / T)_c

    (Jiao et al. 2020, eq. 10; TinyBERT uses T = 1 and no T^2 factor, unlike Hinton's KD loss.)
    It equals KL(p_T || p_S) plus the teacher's entropy, so it is smallest, not 0, where the
    student matches the teacher. Computed with max-shifted log-sum-exp so that logits of +-1e4 stay
    finite.

    Args:
        student_logits, teacher_logits: finite arrays (B, C), B >= 1, C >= 1.
        T: temperature > 0 (finite).

    Returns:
        the batch mean as a Python float.

    Raises:
        ValueError: if the logits are not finite 2-D non-empty arrays of one shape, or T is not a
            positive finite number.
    """
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive finite temperature, got {T!r}")
    zs = np.asarray(student_logits, dtype=np.float64) / T
    zt = np.asarray(teacher_logits, dtype=np.float64) / T
    if zs.ndim != 2 or zs.shape != zt.shape or zs.size == 0:
        raise ValueError(f"logits must be non-empty (B, C) arrays of one shape, got {zs.shape} and {zt.shape}")
    if not (np.all(np.isfinite(zs)) and np.all(np.isfinite(zt))):
        raise ValueError("logits must be finite (no NaN or inf)")
    log_ps = zs - zs.max(axis=1, keepdims=True)
    log_ps = log_ps - np.log(np.exp(log_ps).sum(axis=1, keepdims=True))  # (B, C) log softmax
    pt = np.exp(zt - zt.max(axis=1, keepdims=True))
    pt = pt / pt.sum(axis=1, keepdims=True)  # (B, C) softmax
    return float(-(pt * log_ps).sum(axis=1).mean())


def deit_loss(cls_logits: np.ndarray, dist_logits: np.ndarray, teacher_logits: np.ndarray,
              labels: np.ndarray) -> float:
    """DeiT's hard-label distillation through a distillation token.

        L = 1/2 CE(Z_cls, y) + 1/2 CE(Z_dist, y_t),   y_t = argmax_c Z_t,c

    The class token's head learns from the true labels, the distillation token's head from the
    teacher's decisions (Touvron et al., "Training data-efficient image transformers & distillation
    through attention", ICML 2021, eq. 3 with the distillation token of sec. 4). CE is the mean
    cross-entropy of integer labels under softmax; ties in the teacher's logits go to the lowest
    class index (np.argmax's rule).

    Args:
        cls_logits, dist_logits, teacher_logits: finite arrays (B, C), B >= 1, C >= 1.
        labels: integer array (B,) with values in [0, C).

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if the logits are not finite (B, C) arrays of one shape, or labels are not
            integers in [0, C) of shape (B,).
    """
    Zc, Zd, Zt = (np.asarray(a, dtype=np.float64) for a in (cls_logits, dist_logits, teacher_logits))
    labels = np.asarray(labels)
    if Zc.ndim != 2 or Zc.size == 0 or Zd.shape != Zc.shape or Zt.shape != Zc.shape:
        raise ValueError(f"logits must be non-empty (B, C) arrays of one shape, got {Zc.shape}, {Zd.shape}, {Zt.shape}")
    if not (np.all(np.isfinite(Zc)) and np.all(np.isfinite(Zd)) and np.all(np.isfinite(Zt))):
        raise ValueError("logits must be finite (no NaN or inf)")
    B, C = Zc.shape
    if labels.shape != (B,) or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= C:
        raise ValueError(f"labels must be integers in [0, {C}) of shape ({B},), got {labels!r}")
    y_t = Zt.argmax(axis=1)  # (B,) the teacher's hard decisions
    rows = np.arange(B)
    log_pc = Zc - Zc.max(axis=1, keepdims=True)
    log_pc = log_pc - np.log(np.exp(log_pc).sum(axis=1, keepdims=True))  # (B, C)
    log_pd = Zd - Zd.max(axis=1, keepdims=True)
    log_pd = log_pd - np.log(np.exp(log_pd).sum(axis=1, keepdims=True))  # (B, C)
    return float(-0.5 * log_pc[rows, labels].mean() - 0.5 * log_pd[rows, y_t].mean())


def deit_predict(cls_logits: np.ndarray, dist_logits: np.ndarray) -> tuple[np.ndarray, float]:
    """DeiT's prediction from its two heads, and how often the two tokens agree.

        pred_b = argmax_c ( softmax(Z_cls,b)_c + softmax(Z_dist,b)_c )
        agreement = 1/B sum_b [ argmax Z_cls,b == argmax Z_dist,b ]

    At test time DeiT fuses the class and the distillation heads by adding their softmax outputs
    (Touvron et al. 2021, sec. 4 "Classification with our approach: joint classifiers"); the
    fraction of images on which the two heads decide alike measures how different the two tokens
    have become (their Table 3 compares the heads). Ties go to the lowest class index (np.argmax).

    Args:
        cls_logits, dist_logits: finite arrays (B, C), B >= 1, C >= 1.

    Returns:
        (pred, agreement): an int64 array (B,) and a Python float in [0, 1].

    Raises:
        ValueError: if the logits are not finite non-empty (B, C) arrays of one shape.
    """
    Zc = np.asarray(cls_logits, dtype=np.float64)
    Zd = np.asarray(dist_logits, dtype=np.float64)
    if Zc.ndim != 2 or Zc.size == 0 or Zd.shape != Zc.shape:
        raise ValueError(f"logits must be non-empty (B, C) arrays of one shape, got {Zc.shape} and {Zd.shape}")
    if not (np.all(np.isfinite(Zc)) and np.all(np.isfinite(Zd))):
        raise ValueError("logits must be finite (no NaN or inf)")
    pc = np.exp(Zc - Zc.max(axis=1, keepdims=True))
    pd = np.exp(Zd - Zd.max(axis=1, keepdims=True))
    fused = pc / pc.sum(axis=1, keepdims=True) + pd / pd.sum(axis=1, keepdims=True)  # (B, C)
    pred = fused.argmax(axis=1).astype(np.int64)
    agreement = float((Zc.argmax(axis=1) == Zd.argmax(axis=1)).mean())
    return pred, agreement


def head_flops_loss(gate_logits: np.ndarray, head_flops: np.ndarray, fixed_flops: float,
                    target_ratio: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-input head masks from a predictor's logits, their expected FLOPs and a FLOPs penalty (EBERT).

        mask_{b,i}  = 1 if gate_logits[b, i] > 0 else 0           (the hard mask used in the forward pass)
        p_{b,i}     = sigmoid(gate_logits[b, i])                  (the keep probability the loss sees)
        E[F]_b      = fixed_flops + sum_i p_{b,i} head_flops_i
        penalty     = max(0, mean_b E[F]_b / F_full - target_ratio)^2,   F_full = fixed_flops + sum_i head_flops_i

    EBERT (Liu et al., "EBERT: Efficient BERT Inference with Dynamic Structured Pruning", Findings
    of ACL 2021) lets a small predictor choose, per input, which attention heads (and FFN channels)
    run, and trains it with a loss on the expected FLOPs. The hinge-squared form on the FLOPs ratio
    is this course's convention: no penalty at or below the target, a smooth one above it. The
    expected FLOPs use probabilities so that the penalty has a gradient; the hard mask decides
    the FLOPs actually spent. sigmoid is computed stably (no overflow at logits of +-1e4).

    Args:
        gate_logits: finite array (B, H), B >= 1, H >= 1.
        head_flops: finite non-negative array (H,), the FLOPs of each head.
        fixed_flops: finite number >= 0, the FLOPs that always run; F_full must be > 0.
        target_ratio: finite number in (0, 1], the FLOPs budget as a fraction of F_full.

    Returns:
        (mask, expected_flops, penalty): an int64 (B, H) array of 0/1, a float64 (B,) array and a
        Python float >= 0.

    Raises:
        ValueError: if gate_logits is not a finite non-empty 2-D array, head_flops is not a finite
            non-negative (H,) array, fixed_flops is negative or non-finite, F_full is 0, or
            target_ratio is not in (0, 1].
    """
    g = np.asarray(gate_logits, dtype=np.float64)
    f = np.asarray(head_flops, dtype=np.float64)
    if g.ndim != 2 or g.size == 0 or not np.all(np.isfinite(g)):
        raise ValueError(f"gate_logits must be a finite non-empty (B, H) array, got shape {g.shape}")
    if f.shape != (g.shape[1],) or not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"head_flops must be finite, non-negative, of shape ({g.shape[1]},), got {f!r}")
    if not (np.isfinite(fixed_flops) and fixed_flops >= 0):
        raise ValueError(f"fixed_flops must be a finite number >= 0, got {fixed_flops!r}")
    full = float(fixed_flops) + float(f.sum())
    if full <= 0:
        raise ValueError("the full model's FLOPs (fixed_flops + sum of head_flops) must be > 0")
    if not (np.isfinite(target_ratio) and 0 < target_ratio <= 1):
        raise ValueError(f"target_ratio must lie in (0, 1], got {target_ratio!r}")
    mask = (g > 0).astype(np.int64)  # (B, H)
    e = np.exp(-np.abs(g))
    p = np.where(g >= 0, 1 / (1 + e), e / (1 + e))  # (B, H) stable sigmoid
    expected = float(fixed_flops) + p @ f  # (B,)
    penalty = max(0.0, float(expected.mean()) / full - float(target_ratio)) ** 2
    return mask, expected, penalty


def switch_distill_loss(student_logits: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray,
                        teacher_weight: float = 0.25) -> float:
    """Sparse-to-dense distillation (Switch Transformer): cross-entropy against a teacher/label mix.

        L = -1/B sum_b sum_c q_{b,c} log softmax(z^S_b)_c,
        q_b = teacher_weight * softmax(z^T_b) + (1 - teacher_weight) * onehot(y_b)

    A dense student distilled from a sparse (mixture-of-experts) teacher keeps about 30% of the
    teacher's quality gain; Fedus et al. ("Switch Transformers", JMLR 2022, sec. 5 and Table 7) found
    mixing 0.25 of the teacher's probabilities with 0.75 of the ground-truth label best. Since the
    loss is linear in q, L = teacher_weight * soft_cross_entropy(z^S, z^T, 1)
    + (1 - teacher_weight) * CE(z^S, y).

    Args:
        student_logits, teacher_logits: finite arrays (B, C) of one shape, B >= 1.
        labels: integer array (B,) with values in [0, C).
        teacher_weight: the teacher's share of the target, in [0, 1].

    Returns:
        the loss as a Python float.

    Raises:
        ValueError: if teacher_weight is not in [0, 1], the logits are not finite (B, C) arrays of
            one shape, or labels are not integers in [0, C) of shape (B,).
    """
    if not (np.isfinite(teacher_weight) and 0 <= teacher_weight <= 1):
        raise ValueError(f"teacher_weight must lie in [0, 1], got {teacher_weight!r}")
    soft = soft_cross_entropy(student_logits, teacher_logits, 1.0)
    zs = np.asarray(student_logits, dtype=np.float64)
    labels = np.asarray(labels)
    B, C = zs.shape
    if labels.shape != (B,) or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= C:
        raise ValueError(f"labels must be integers in [0, {C}) of shape ({B},), got {labels!r}")
    log_ps = zs - zs.max(axis=1, keepdims=True)
    log_ps = log_ps - np.log(np.exp(log_ps).sum(axis=1, keepdims=True))  # (B, C)
    hard = float(-log_ps[np.arange(B), labels].mean())
    return teacher_weight * soft + (1 - teacher_weight) * hard


def cascade_cost_accuracy(confidences: np.ndarray, correct: np.ndarray, thresholds: np.ndarray,
                          stage_costs: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Expected cost and accuracy of a cascade of S models that answers at the first confident stage.

        exit_b = min { k < S-1 : confidences[b, k] >= thresholds[k] },  or S-1 if there is none
        cost   = 1/B sum_b sum_{k <= exit_b} stage_costs[k]
        acc    = 1/B sum_b correct[b, exit_b]

    Stages run one after another on an input (a boosted cascade, Viola & Jones, "Rapid object
    detection using a boosted cascade of simple features", CVPR 2001; lecture 7): stage k costs
    stage_costs[k] and a sample that reaches stage k has paid for every earlier stage too. The
    comparison is ">=": a threshold of 0 (for confidences in [0, 1]) stops everything at that
    stage, a threshold above 1 sends everything on. The last stage takes every sample that is left.

    Args:
        confidences: finite array (B, S), B >= 1, S >= 1, each stage's confidence (e.g. max softmax).
        correct: boolean (or 0/1) array (B, S), whether stage k's answer for sample b is right.
        thresholds: finite array (S - 1,), one per stage that can stop early.
        stage_costs: finite non-negative array (S,).

    Returns:
        (cost, accuracy, exit_fractions): Python floats and a float64 array (S,) of the share of
        samples answered by each stage (it sums to 1).

    Raises:
        ValueError: if the shapes disagree, confidences / thresholds / costs are not finite, a cost
            is negative, or correct holds values other than 0 and 1.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct)
    t = np.asarray(thresholds, dtype=np.float64)
    c = np.asarray(stage_costs, dtype=np.float64)
    if conf.ndim != 2 or conf.size == 0 or correct.shape != conf.shape:
        raise ValueError(f"confidences and correct must be non-empty (B, S) arrays of one shape, "
                         f"got {conf.shape} and {correct.shape}")
    B, S = conf.shape
    if t.shape != (S - 1,) or c.shape != (S,):
        raise ValueError(f"for S = {S} stages, thresholds need shape ({S - 1},) and stage_costs ({S},), "
                         f"got {t.shape} and {c.shape}")
    if not (np.all(np.isfinite(conf)) and np.all(np.isfinite(t)) and np.all(np.isfinite(c))):
        raise ValueError("confidences, thresholds and stage_costs must be finite")
    if np.any(c < 0):
        raise ValueError(f"stage_costs must be non-negative, got {c!r}")
    if correct.dtype.kind not in "biuf" or not np.all((correct == 0) | (correct == 1)):
        raise ValueError("correct must hold booleans (or 0 and 1)")
    stops = np.concatenate([conf[:, :S - 1] >= t, np.ones((B, 1), dtype=bool)], axis=1)  # (B, S)
    exits = stops.argmax(axis=1)  # (B,) first stage that stops
    cost = float(np.cumsum(c)[exits].mean())
    accuracy = float(correct[np.arange(B), exits].astype(np.float64).mean())
    fractions = np.bincount(exits, minlength=S) / B
    return cost, accuracy, fractions
