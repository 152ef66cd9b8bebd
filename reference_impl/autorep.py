"""AutoReP: learning which ReLUs to replace by polynomials — the NumPy reference graded in Lab 7.

In private inference a ReLU costs a Boolean circuit (hundreds of bytes and several rounds per
element), a degree-2 polynomial one Beaver square. AutoReP (H. Peng, S. Huang, T. Zhou, Y. Luo
et al., "AutoReP: Automatic ReLU Replacement for Fast Private Network Inference", ICCV 2023)
trains, per neuron, an indicator m in {0, 1}: m = 1 keeps the ReLU, m = 0 uses a polynomial
fitted to the neuron's input distribution (distribution-aware polynomial approximation, DaPa).
The indicator is the thresholded value of a real auxiliary parameter, updated with a hysteresis
loop so that it does not flip back and forth, and trained through a straight-through estimator.

Every public function is an exercise: self-contained apart from ``numpy`` as ``np``, ``math``
and the lab's other exercise functions.
"""

from __future__ import annotations

import numpy as np


def dapa_gaussian_fit(mu: float, sigma: float, degree: int = 2) -> np.ndarray:
    """Least-squares polynomial approximation of ReLU for inputs distributed as N(mu, sigma^2).

    Find c = (c_0, ..., c_d) minimising E[(ReLU(x) - sum_j c_j x^j)^2] with x ~ N(mu, sigma^2)
    (AutoReP's distribution-aware fit, DaPa, in closed form for a Gaussian). Setting the
    gradient to zero gives the normal equations

        sum_k E[x^(j+k)] c_k = E[x^j ReLU(x)] = E[x^(j+1) 1{x > 0}],   j = 0..d.

    With x = mu + sigma z, z ~ N(0, 1) and a = -mu / sigma (so x > 0 <=> z > a):

        E[x^m 1{x > 0}] = sum_i binom(m, i) mu^(m-i) sigma^i I_i,   I_i = E[z^i 1{z > a}],
        I_0 = 1 - Phi(a),  I_1 = phi(a),  I_i = a^(i-1) phi(a) + (i - 1) I_(i-2),

    and E[x^m] is the same sum with the full moments E[z^i] = (i - 1)!! for even i, 0 for odd i.
    phi and Phi are the standard normal density and distribution function
    (Phi(a) = (1 + erf(a / sqrt 2)) / 2). For N(0, 1) and d = 2 the answer is
    c = (1/sqrt(2 pi) / 2, 1/2, 1/sqrt(2 pi) / 2) = (0.1995, 0.5, 0.1995).

    Args:
        mu: mean of the input distribution, a finite float.
        sigma: its standard deviation, a finite float > 0.
        degree: d, an int with 0 <= d <= 4.

    Returns:
        float64 array (d + 1,): the coefficients c_0, ..., c_d, lowest degree first.

    Raises:
        ValueError: if sigma <= 0, mu or sigma is not finite, or degree is out of range.
    """
    import math

    if not (math.isfinite(mu) and math.isfinite(sigma)) or sigma <= 0:
        raise ValueError(f"mu must be finite and sigma a finite number > 0, got mu={mu!r}, sigma={sigma!r}")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 0 <= degree <= 4:
        raise ValueError(f"degree must be an int in [0, 4], got {degree!r}")
    d = int(degree)
    a = -mu / sigma
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    partial = [0.5 * math.erfc(a / math.sqrt(2)), phi]  # I_0 = 1 - Phi(a), I_1 = phi(a)
    full = [1.0, 0.0]  # E[z^0], E[z^1]
    for i in range(2, 2 * d + 2):
        partial.append(a ** (i - 1) * phi + (i - 1) * partial[i - 2])
        full.append((i - 1) * full[i - 2])

    def moment(m: int, z_moments: list) -> float:  # E[(mu + sigma z)^m] against the given z-moments
        return sum(math.comb(m, i) * mu ** (m - i) * sigma**i * z_moments[i] for i in range(m + 1))

    M = np.array([[moment(j + k, full) for k in range(d + 1)] for j in range(d + 1)])  # (d+1, d+1)
    v = np.array([moment(j + 1, partial) for j in range(d + 1)])  # (d+1,)
    return np.linalg.solve(M, v)


def hysteresis_update(mask: np.ndarray, aux: np.ndarray, t: float) -> np.ndarray:
    """AutoReP's hysteresis update of the ReLU indicator from its auxiliary parameter.

    new = old * [aux > -t] + (1 - old) * [aux > t]

    A kept ReLU (old = 1) is dropped only when aux falls to -t or below; a dropped one (old = 0)
    comes back only when aux rises above t. Inside the band (-t, t] the indicator keeps its
    state, so small oscillations of aux around 0 do not flip it back and forth. With t = 0 it is
    the plain threshold [aux > 0]. The inequalities are strict.

    Args:
        mask: boolean (or 0/1) array, the current indicator (1 = keep the ReLU).
        aux: float array of the same shape, the auxiliary parameter.
        t: the hysteresis threshold, a finite float >= 0.

    Returns:
        boolean array of the shape of aux: the new indicator.

    Raises:
        ValueError: if t is negative or not finite, mask holds a value other than 0/1, or the
            shapes differ.
    """
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"t must be a finite number >= 0, got {t!r}")
    mask, aux = np.asarray(mask), np.asarray(aux, dtype=np.float64)
    if mask.shape != aux.shape:
        raise ValueError(f"mask and aux must have the same shape, got {mask.shape} and {aux.shape}")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold only 0/1 (or False/True)")
    old = mask.astype(bool)
    return (old & (aux > -t)) | (~old & (aux > t))


def ste_backward(grad_out: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """Backward pass of AutoReP's straight-through estimator of the indicator m = [aux > 0].

    The step function has zero gradient almost everywhere, so AutoReP replaces dm/d aux in the
    backward pass by a surrogate, and that surrogate is softplus itself:

        d loss / d aux = d loss / d m * softplus(aux),   softplus(a) = log(1 + e^a),

    as in the authors' released code (github.com/harveyp123/AutoReP, models_util/model_spReLU.py,
    ``STEFunction.backward`` returns ``torch.mul(F.softplus(input), grad_output)``; Peng et al.,
    ICCV 2023). It is *not* the derivative of a smooth stand-in for m: were m approximated by
    softplus(aux), the factor would be its derivative sigmoid(aux). Here softplus is the stand-in
    for dm/d aux directly: > 0 everywhere (a dropped ReLU still gets a gradient and can come
    back), about e^aux -> 0 far below 0, and growing like aux above it.

    Computed stably as softplus(a) = max(a, 0) + log1p(exp(-|a|)): the naive log(1 + exp(a))
    overflows to inf for a > 709, and loses everything below a < -37 (1 + e^a rounds to 1).

    Args:
        grad_out: float array, the gradient of the loss with respect to m.
        aux: float array of the same shape.

    Returns:
        float64 array of the shape of aux: the gradient with respect to aux.

    Raises:
        ValueError: if the shapes differ.
    """
    grad_out = np.asarray(grad_out, dtype=np.float64)
    aux = np.asarray(aux, dtype=np.float64)
    if grad_out.shape != aux.shape:
        raise ValueError(f"grad_out and aux must have the same shape, got {grad_out.shape} and {aux.shape}")
    softplus = np.maximum(aux, 0.0) + np.log1p(np.exp(-np.abs(aux)))
    return grad_out * softplus
