"""Low-rank factorisation: the NumPy reference graded in Lab 4.

Eight functions here are Lab 4's exercises (course.toml lists them): ``truncated_svd``,
``low_rank_factors``, ``rank_for_energy``, ``factorised_params``, ``break_even_rank``,
``conv_lowrank_factors``, ``data_aware_low_rank`` and ``tucker2_hosvd``. Each one's source
(signature, docstring and body) is copied verbatim into the solution notebook by ``course build``,
and the student skeleton keeps the signature and docstring with the body removed. So each is
self-contained: it may call the other exercises by name (the student has written those too) and
``numpy`` as ``np``, nothing else. The remaining counts (``factorised_macs``, ``conv_lowrank_params``,
``conv_lowrank_macs``, ``tucker2_params``) are one-line formulas the notebook states in its prose;
they are kept here, tested against torch's own layer sizes, as the reference for them.

Conventions (where the literature differs, the one chosen is stated):

* A linear layer maps row vectors: ``y = x @ W`` with ``W`` of shape ``(m, n)`` (m inputs,
  n outputs), and a batch ``X`` of shape ``(N, m)`` gives ``X @ W`` of shape ``(N, n)``. The
  factorised layer is ``y = (x @ W1) @ W2`` with ``W1`` of shape ``(m, r)`` and ``W2`` of shape
  ``(r, n)``: two layers with a width-r bottleneck.
* The SVD is the thin one, ``W = U diag(S) Vt`` with ``S`` sorted descending. Singular vectors
  are unique only up to sign, so ``truncated_svd`` fixes one: the entry of largest absolute
  value in each column of ``U_r`` is positive (the matching row of ``Vt_r`` flips with it).
* Eckart & Young, "The approximation of one matrix by another of lower rank", Psychometrika
  (1936), and Mirsky (1960) for every unitarily invariant norm: the truncated SVD is a best
  rank-r approximation, with ``||W - W_r||_F = sqrt(sum_{i>r} sigma_i^2)`` and
  ``||W - W_r||_2 = sigma_{r+1}``.
* Parameter and MAC counts ignore biases. A MAC is one multiply-accumulate. Convolutions are
  stride 1 with "same" padding (for odd k, padding (k - 1) / 2), so every conv in a factorised
  stack produces an H x W output, and multiplications by padded zeros are counted, as the usual
  FLOP counters do.
* Conv kernels use PyTorch's layout ``(c_out, c_in, k, k)``.
"""

from __future__ import annotations

import numpy as np


def truncated_svd(W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rank-r truncated SVD of a matrix, with a fixed sign convention.

    W = U diag(S) Vt,   W_r = U_r diag(S_r) Vt_r = sum_{i<r} sigma_i u_i v_i^T

    By Eckart-Young(-Mirsky), W_r minimises ||W - B|| over all B of rank <= r, in both the
    Frobenius and the spectral norm:

        ||W - W_r||_F = sqrt(sigma_r^2 + ... + sigma_{p-1}^2),   ||W - W_r||_2 = sigma_r

    (0-based: sigma_r is the first singular value dropped, "sigma_{r+1}" on the slide; p = min(m, n)).

    Sign convention: (u_i, v_i) and (-u_i, -v_i) give the same W, so the result is made unique
    by flipping each pair so that the entry of largest absolute value of u_i is positive (on a
    tie in absolute value, the first such entry). For distinct singular values the output is
    then unique; for repeated ones only the span of their vectors is.

    Args:
        W: finite matrix of shape (m, n).
        rank: number r of singular triplets kept, an integer with 1 <= r <= min(m, n).

    Returns:
        (U_r, S_r, Vt_r): float64 arrays of shapes (m, r), (r,) and (r, n); U_r has orthonormal
        columns, Vt_r orthonormal rows, S_r is non-negative and sorted descending.

    Raises:
        ValueError: if W is not a finite, non-empty 2-D array or rank is out of range.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"W must be a non-empty 2-D matrix (m, n), got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("W must be finite (no NaN or inf)")
    m, n = W.shape
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= min(m, n):
        raise ValueError(f"rank must be an integer in [1, min(m, n)] = [1, {min(m, n)}], got {rank!r}")
    U, S, Vt = np.linalg.svd(W, full_matrices=False)  # (m, p), (p,), (p, n)
    U_r, S_r, Vt_r = U[:, :rank], S[:rank], Vt[:rank, :]  # (m, r), (r,), (r, n)
    biggest = np.argmax(np.abs(U_r), axis=0)  # (r,): row of each column's largest |entry|
    signs = np.where(U_r[biggest, np.arange(rank)] < 0, -1.0, 1.0)  # (r,)
    return U_r * signs, S_r.copy(), Vt_r * signs[:, None]


def low_rank_factors(W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Two factors whose product is the best rank-r approximation of W.

    W ~ W1 @ W2,   W1 = U_r diag(S_r)  (m, r),   W2 = Vt_r  (r, n)

    so that W1 @ W2 = W_r, the truncated SVD of ``truncated_svd``. How S is split between the
    factors does not change the product; this one puts all of it in W1 and leaves W2 with
    orthonormal rows, for two reasons: it is exactly what ``data_aware_low_rank`` returns when
    the calibration data is X = I (so the two methods can be compared factor by factor), and W1
    is then simply W projected on the top-r right singular vectors, W1 = W @ Vt_r^T. The
    "balanced" split U_r diag(sqrt(S_r)), diag(sqrt(S_r)) Vt_r, which gives both factors the same
    norm, is the usual alternative when the factors are fine-tuned afterwards.

    Args:
        W: finite matrix of shape (m, n).
        rank: an integer with 1 <= rank <= min(m, n).

    Returns:
        (W1, W2): float64 arrays of shapes (m, rank) and (rank, n).

    Raises:
        ValueError: as ``truncated_svd``.
    """
    U_r, S_r, Vt_r = truncated_svd(W, rank)  # (m, r), (r,), (r, n)
    W1 = U_r * S_r  # (m, r): column i scaled by sigma_i, i.e. U_r @ diag(S_r)
    return W1, Vt_r


def rank_for_energy(S: np.ndarray, energy: float) -> int:
    """The smallest rank that keeps a given share of the spectral energy.

    r* = min { r >= 1 : sum_{i<r} sigma_i^2 / sum_i sigma_i^2 >= energy }

    "Energy" is the squared Frobenius norm, ||W||_F^2 = sum_i sigma_i^2, so by Eckart-Young the
    rank-r* truncation has relative error ||W - W_r*||_F / ||W||_F <= sqrt(1 - energy).
    energy = 1 asks for every non-zero singular value (trailing zeros are not counted).

    Args:
        S: singular values, a finite, non-empty 1-D array, non-negative and sorted descending,
            not all zero.
        energy: the share to keep, in (0, 1].

    Returns:
        r* as a Python int in [1, len(S)].

    Raises:
        ValueError: if energy is outside (0, 1] or S is not a valid spectrum.
    """
    if not 0.0 < energy <= 1.0:
        raise ValueError(f"energy must lie in (0, 1], got {energy!r}")
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 1 or S.size == 0 or not np.all(np.isfinite(S)):
        raise ValueError(f"S must be a finite, non-empty 1-D array of singular values, got shape {S.shape}")
    if np.any(S < 0) or np.any(np.diff(S) > 0):
        raise ValueError("S must be non-negative and sorted in descending order, as numpy.linalg.svd returns it")
    cumulative = np.cumsum(S**2)  # (p,): energy of the first 1, 2, ..., p values
    total = cumulative[-1]
    if total == 0:
        raise ValueError("S is all zeros: the energy share is undefined")
    # Dividing by the last cumulative sum (not a separately computed total) makes the last share
    # exactly 1.0, so energy = 1 always finds an answer.
    share = cumulative / total  # (p,), non-decreasing, ends at 1.0
    return int(np.argmax(share >= energy)) + 1


def factorised_params(m: int, n: int, r: int) -> int:
    """Weights of a rank-r factorised (m, n) linear layer: W1 (m, r) plus W2 (r, n).

    params = m*r + r*n = r (m + n)      versus m*n for the dense layer.

    Args:
        m, n: the layer's input and output sizes, positive integers.
        r: the rank, an integer with 1 <= r <= min(m, n).

    Returns:
        the count as a Python int.

    Raises:
        ValueError: if a size is not a positive integer or r is out of range.
    """
    for name, value in (("m", m), ("n", n), ("r", r)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if r > min(m, n):
        raise ValueError(f"rank r must be at most min(m, n) = {min(m, n)}, got {r}")
    return int(r) * (int(m) + int(n))


def factorised_macs(m: int, n: int, r: int, batch: int = 1) -> int:
    """Multiply-accumulates of x @ W1 @ W2 for a batch of inputs, evaluated right to left as two layers.

    MACs = batch * (m*r + r*n) = batch * r (m + n)      versus batch * m*n for x @ W.

    (batch, m) @ (m, r) costs batch*m*r MACs and (batch, r) @ (r, n) costs batch*r*n. Forming
    W1 @ W2 first would cost m*r*n and give back a dense layer: the saving exists only while the
    bottleneck is kept.

    Args:
        m, n: the layer's input and output sizes, positive integers.
        r: the rank, an integer with 1 <= r <= min(m, n).
        batch: number of input rows, a positive integer.

    Returns:
        the count as a Python int.

    Raises:
        ValueError: as ``factorised_params``, or if batch is not a positive integer.
    """
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    return int(batch) * factorised_params(m, n, r)


def break_even_rank(m: int, n: int) -> int:
    """The largest rank at which factorising an (m, n) layer still saves parameters.

    r_max = max { r : r (m + n) < m n } = floor((m n - 1) / (m + n))

    (r (m + n) < m n  <=>  r (m + n) <= m n - 1 for integers.) At full rank r = min(m, n) the
    factorised layer has more weights (and MACs) than the dense one - for m = n, 2 n^2 against
    n^2 - so factorising pays only after truncating below r_max + 1, roughly half of min(m, n)
    for square layers. A result of 0 means no rank saves anything (e.g. m = 1).

    Args:
        m, n: positive integers.

    Returns:
        r_max as a Python int >= 0.

    Raises:
        ValueError: if m or n is not a positive integer.
    """
    for name, value in (("m", m), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    m, n = int(m), int(n)
    return (m * n - 1) // (m + n)


def conv_lowrank_factors(K: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Factorise a k x k convolution into a k x k conv with r outputs followed by a 1 x 1 conv.

    Unfold K (c_out, c_in, k, k) into the matrix M (c_out, c_in k^2) - each output channel is
    one row, a linear map on a flattened (c_in, k, k) input patch - and truncate it:

        M ~ A @ B,   A = U_r diag(S_r)  (c_out, r),   B = Vt_r  (r, c_in k^2)

    B reshaped to (r, c_in, k, k) is a k x k conv with r output channels; A reshaped to
    (c_out, r, 1, 1) is a 1 x 1 conv mixing them. Composing them applies A @ B to every patch,
    so the pair computes the conv with kernel (A @ B).reshape(K.shape), the best rank-r
    approximation of M (Eckart-Young), with Frobenius error sqrt(sum of dropped sigma^2 of M).
    This is the channel-decomposition scheme of Zhang et al., "Accelerating Very Deep
    Convolutional Networks for Classification and Detection", TPAMI (2016), without their
    data-aware step.

    Args:
        K: finite kernel of shape (c_out, c_in, k, k).
        rank: an integer with 1 <= rank <= min(c_out, c_in k^2).

    Returns:
        (K1, K2): float64 kernels of shapes (rank, c_in, k, k) and (c_out, rank, 1, 1).

    Raises:
        ValueError: if K is not a finite 4-D kernel with square spatial size, or rank is out of range.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 4 or K.size == 0 or K.shape[2] != K.shape[3]:
        raise ValueError(f"K must be a non-empty conv kernel of shape (c_out, c_in, k, k), got {K.shape}")
    c_out, c_in, k, _ = K.shape
    M = K.reshape(c_out, c_in * k * k)  # (c_out, c_in k^2)
    A, B = low_rank_factors(M, rank)  # (c_out, r), (r, c_in k^2)
    K1 = B.reshape(rank, c_in, k, k)  # (r, c_in, k, k)
    K2 = A.reshape(c_out, rank, 1, 1)  # (c_out, r, 1, 1)
    return K1, K2


def conv_lowrank_params(c_in: int, c_out: int, k: int, r: int) -> int:
    """Weights of a k x k conv factorised as a k x k conv with r outputs and a 1 x 1 conv.

    params = r c_in k^2 + c_out r      versus c_out c_in k^2 for the original conv.

    Args:
        c_in, c_out, k: input channels, output channels and kernel size, positive integers.
        r: the rank (bottleneck channels), an integer with 1 <= r <= min(c_out, c_in k^2).

    Returns:
        the count as a Python int.

    Raises:
        ValueError: if a size is not a positive integer or r is out of range.
    """
    for name, value in (("c_in", c_in), ("c_out", c_out), ("k", k), ("r", r)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if r > min(c_out, c_in * k * k):
        raise ValueError(f"rank r must be at most min(c_out, c_in k^2) = {min(c_out, c_in * k * k)}, got {r}")
    return int(r) * int(c_in) * int(k) ** 2 + int(c_out) * int(r)


def conv_lowrank_macs(c_in: int, c_out: int, k: int, r: int, H: int, W: int) -> int:
    """Multiply-accumulates of the factorised conv for one input image with an H x W output.

    MACs = H W (r c_in k^2 + c_out r) = H W * conv_lowrank_params(...)

    versus H W c_out c_in k^2 for the original conv. Assumes stride 1 and "same" padding, so the
    k x k conv and the 1 x 1 conv both produce H x W maps and every output pixel of a conv costs
    one MAC per weight (padded zeros included). Here W is the output width, not a weight matrix.

    Args:
        c_in, c_out, k, r: as ``conv_lowrank_params``.
        H, W: output height and width, positive integers.

    Returns:
        the count as a Python int.

    Raises:
        ValueError: as ``conv_lowrank_params``, or if H or W is not a positive integer.
    """
    for name, value in (("H", H), ("W", W)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(H) * int(W) * conv_lowrank_params(c_in, c_out, k, r)


def data_aware_low_rank(X: np.ndarray, W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The rank-r factorisation of W that best preserves the layer's outputs on calibration data X.

    minimise ||X W - X W1 W2||_F  over W1 (m, r), W2 (r, n)

    Solution: take the SVD X W = P diag(Sigma) Q^T and its top-r right singular vectors Q_r (n, r):

        W1 = W Q_r,   W2 = Q_r^T,   so  W1 W2 = W Q_r Q_r^T.

    Proof. X W1 W2 has rank <= r, so by Eckart-Young ||X W - X W1 W2||_F >= sqrt(sum_{i>=r}
    Sigma_i^2), the error of the best rank-r approximation of X W. This choice attains it:
    X W Q_r Q_r^T = P diag(Sigma) Q^T Q_r Q_r^T = sum_{i<r} Sigma_i p_i q_i^T, the truncated SVD of
    X W itself. This is reduced-rank regression (Izenman, "Reduced-rank regression for the
    multivariate linear model", J. Multivariate Anal. 1975) with the full-rank fit W given, and the
    linear case of Zhang et al., "Efficient and Accurate Approximations of Nonlinear Convolutional
    Networks" (CVPR 2015): project the weights on the principal directions of the responses.
    It needs no inverse of X (nor of X^T X), so it also works when X is rank-deficient, and it
    is never worse on X than the plain truncation of W (a rank-r candidate like any other). With
    X = I it returns exactly ``low_rank_factors(W, rank)``; with any X of orthonormal columns the
    product W1 W2 is the plain truncation W_r too (||X A||_F = ||A||_F; unique when
    sigma_r > sigma_{r+1} of W), though the factors' signs may differ.

    Args:
        X: finite calibration inputs of shape (N, m), one input row per sample, N >= rank.
        W: finite weight matrix of shape (m, n).
        rank: an integer with 1 <= rank <= min(m, n).

    Returns:
        (W1, W2): float64 arrays of shapes (m, rank) and (rank, n); W2 has orthonormal rows.

    Raises:
        ValueError: if X or W is not a finite 2-D array, their shapes do not chain
            (X.shape[1] != W.shape[0]), rank is out of range, or N < rank (X W then has fewer than
            rank singular directions and the data cannot pick the rest).
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"W must be a non-empty 2-D matrix (m, n), got shape {W.shape}")
    if X.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"X must be a 2-D batch (N, m) with m = W.shape[0] = {W.shape[0]}, got shape {X.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(W))):
        raise ValueError("X and W must be finite (no NaN or inf)")
    m, n = W.shape
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= min(m, n):
        raise ValueError(f"rank must be an integer in [1, min(m, n)] = [1, {min(m, n)}], got {rank!r}")
    if X.shape[0] < rank:
        raise ValueError(f"X needs at least rank = {rank} calibration rows, got N = {X.shape[0]}")
    Y = X @ W  # (N, n): the layer's outputs on the calibration data
    _, _, Qt_r = truncated_svd(Y, rank)  # (r, n): top-r right singular vectors of X W, as rows
    W1 = W @ Qt_r.T  # (m, r)
    return W1, Qt_r


def tucker2_hosvd(K: np.ndarray, r_out: int, r_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tucker-2 decomposition of a conv kernel along its two channel modes, by truncated HOSVD.

    K ~ core x_0 U_out x_1 U_in,   i.e.  K[o, i, a, b] ~ sum_{s,t} U_out[o, s] U_in[i, t] core[s, t, a, b]

    U_out (c_out, r_out) holds the top r_out left singular vectors of the mode-0 unfolding
    K_(0) = K.reshape(c_out, c_in k^2); U_in (c_in, r_in) those of the mode-1 unfolding
    K_(1) (c_in, c_out k^2); the spatial modes are left whole. The core is the projection

        core = K x_0 U_out^T x_1 U_in^T      (r_out, r_in, k, k).

    HOSVD (De Lathauwer, De Moor & Vandewalle, "A multilinear singular value decomposition",
    SIAM J. Matrix Anal. Appl. 2000, property 10) is not optimal but is within a known bound:

        ||K - K_hat||_F^2 <= sum of dropped sigma^2 of K_(0) + sum of dropped sigma^2 of K_(1),

    and it is exact when the ranks reach those of the unfoldings. As a network layer this is a
    1 x 1 conv c_in -> r_in (U_in^T), a k x k conv r_in -> r_out (core) and a 1 x 1 conv
    r_out -> c_out (U_out): Kim et al., "Compression of Deep Convolutional Neural Networks for
    Fast and Low Power Mobile Applications" (ICLR 2016). The singular vectors follow
    ``truncated_svd``'s sign convention.

    Args:
        K: finite kernel of shape (c_out, c_in, k, k).
        r_out: an integer with 1 <= r_out <= min(c_out, c_in k^2).
        r_in: an integer with 1 <= r_in <= min(c_in, c_out k^2).

    Returns:
        (core, U_out, U_in): float64 arrays of shapes (r_out, r_in, k, k), (c_out, r_out) and
        (c_in, r_in); U_out and U_in have orthonormal columns.

    Raises:
        ValueError: if K is not a finite 4-D kernel with square spatial size or a rank is out of range.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 4 or K.size == 0 or K.shape[2] != K.shape[3]:
        raise ValueError(f"K must be a non-empty conv kernel of shape (c_out, c_in, k, k), got {K.shape}")
    c_out, c_in, k, _ = K.shape
    for name, value, bound in (("r_out", r_out, min(c_out, c_in * k * k)), ("r_in", r_in, min(c_in, c_out * k * k))):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= bound:
            raise ValueError(f"{name} must be an integer in [1, {bound}] (the rank of its unfolding), got {value!r}")
    K0 = K.reshape(c_out, c_in * k * k)  # (c_out, c_in k^2): mode-0 unfolding
    K1 = K.transpose(1, 0, 2, 3).reshape(c_in, c_out * k * k)  # (c_in, c_out k^2): mode-1 unfolding
    U_out, _, _ = truncated_svd(K0, r_out)  # (c_out, r_out)
    U_in, _, _ = truncated_svd(K1, r_in)  # (c_in, r_in)
    core = np.einsum("oiab,os,it->stab", K, U_out, U_in)  # (r_out, r_in, k, k)
    return core, U_out, U_in


def tucker2_params(c_in: int, c_out: int, k: int, r_in: int, r_out: int) -> int:
    """Weights of a k x k conv replaced by its Tucker-2 form (1 x 1, k x k core, 1 x 1).

    params = c_in r_in + r_in r_out k^2 + r_out c_out      versus c_out c_in k^2.

    The three terms are U_in^T as a 1 x 1 conv c_in -> r_in, the core as a k x k conv
    r_in -> r_out, and U_out as a 1 x 1 conv r_out -> c_out. With the same stride-1, "same"
    padding assumptions as ``conv_lowrank_macs``, the MACs for an H x W output are H W times this.

    Args:
        c_in, c_out, k: input channels, output channels and kernel size, positive integers.
        r_in: an integer with 1 <= r_in <= c_in.
        r_out: an integer with 1 <= r_out <= c_out.

    Returns:
        the count as a Python int.

    Raises:
        ValueError: if a size is not a positive integer or a rank exceeds its channel count.
    """
    for name, value in (("c_in", c_in), ("c_out", c_out), ("k", k), ("r_in", r_in), ("r_out", r_out)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if r_in > c_in or r_out > c_out:
        raise ValueError(
            f"need r_in <= c_in and r_out <= c_out, got r_in={r_in}, c_in={c_in}, r_out={r_out}, c_out={c_out}"
        )
    c_in, c_out, k, r_in, r_out = int(c_in), int(c_out), int(k), int(r_in), int(r_out)
    return c_in * r_in + r_in * r_out * k * k + r_out * c_out
