"""Quantization: the NumPy reference graded in Lab 8.

Twelve functions here are Lab 8's exercises (labgrader/checks/lab08_quantization.py declares
them): ``quant_params``, ``quantize``, ``dequantize``, ``calibrate_range``, ``fp_encode``,
``fp_decode``, ``bfp_quantize``, ``quantize_multiplier``, ``int_linear``, ``fake_quant_grad``,
``lsq_grads`` and ``storage_bits``. Each one's source is copied verbatim into the solution notebook,
so each is self-contained: it may call the other exercises by name and ``numpy`` as ``np``.

Conventions (where the literature differs, the one chosen is stated):

* Uniform quantization maps a real x to an integer q and back (Jacob et al., "Quantization and
  Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018, eq. 1):
  ``x ~ scale * (q - zero_point)``. *Affine* (asymmetric) k-bit uses q in [0, 2^k - 1];
  *symmetric* uses the restricted signed range [-(2^(k-1) - 1), 2^(k-1) - 1] with zero_point 0
  (Nagel et al., "A White Paper on Neural Network Quantization", 2021, sec. 2.2).
* Rounding is round half to even (``np.round``, IEEE 754's default and PyTorch's
  ``torch.round``), applied to x / scale *before* the zero point is added, as PyTorch's
  ``fake_quantize_per_tensor_affine`` does: q = clamp(round(x / scale) + zero_point, q_min, q_max).
* Per-channel: ``axis`` names the channel axis of x, and scale and zero_point are 1-D with one
  entry per channel; ``axis=None`` is per-tensor (scalars).
* Low-precision floats follow the IEEE layout sign | exponent | mantissa with bias 2^(e-1) - 1
  (Micikevicius et al., "FP8 Formats for Deep Learning", 2022): E5M2 keeps IEEE's inf/NaN
  exponent; E4M3 is "finite only" (``finite_only=True``: only the all-ones code is NaN, so the
  top exponent holds normal numbers and the largest value is 448).
"""

from __future__ import annotations

import numpy as np


def quant_params(x_min, x_max, bits: int, symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point of k-bit uniform quantization for the range [x_min, x_max].

    The range is first widened to contain 0, lo = min(x_min, 0), hi = max(x_max, 0), so that the
    real 0 (zero padding, ReLU outputs) is represented exactly (Jacob et al. 2018, sec. 2.1).

        affine:     q in [0, 2^k - 1],   scale = (hi - lo) / (2^k - 1),
                    zero_point = round(-lo / scale)   (in [0, 2^k - 1], as lo <= 0 <= hi)
        symmetric:  q in [-(2^(k-1) - 1), 2^(k-1) - 1],
                    scale = max(-lo, hi) / (2^(k-1) - 1),   zero_point = 0

    (Nagel et al. 2021, eqs. 2-4; the symmetric grid is restricted so that it is symmetric about 0.)
    A range of width 0 (lo = hi = 0) gets scale 1: every scale represents all-zeros exactly.
    Rounding is half to even. x_min and x_max may be arrays of one shape (one range per channel).

    Args:
        x_min, x_max: finite numbers or arrays of equal shape with x_min <= x_max.
        bits: k, an integer in [2, 16].
        symmetric: the symmetric (signed, zero_point 0) scheme instead of the affine one.

    Returns:
        (scale, zero_point): a float64 array (> 0) and an int64 array, of x_min's shape (0-d for numbers).

    Raises:
        ValueError: if bits is not an integer in [2, 16], x_min / x_max are non-finite, of different
            shapes, or x_min > x_max somewhere.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    x_min = np.asarray(x_min, dtype=np.float64)
    x_max = np.asarray(x_max, dtype=np.float64)
    if x_min.shape != x_max.shape:
        raise ValueError(f"x_min and x_max must have the same shape, got {x_min.shape} and {x_max.shape}")
    if not (np.all(np.isfinite(x_min)) and np.all(np.isfinite(x_max))):
        raise ValueError("x_min and x_max must be finite (no NaN or inf)")
    if np.any(x_min > x_max):
        raise ValueError("x_min must be <= x_max (swap them?)")
    lo = np.minimum(x_min, 0.0)
    hi = np.maximum(x_max, 0.0)
    if symmetric:
        q_max = 2 ** (bits - 1) - 1
        scale = np.maximum(-lo, hi) / q_max
        zero_point = np.zeros(scale.shape, dtype=np.int64)
        scale = np.where(scale > 0, scale, 1.0)
        return scale, zero_point
    q_max = 2**bits - 1
    scale = (hi - lo) / q_max
    scale = np.where(scale > 0, scale, 1.0)
    zero_point = np.asarray(np.round(-lo / scale)).astype(np.int64)
    return scale, zero_point


def quantize(x: np.ndarray, scale, zero_point, bits: int, symmetric: bool = False,
             axis: int | None = None) -> np.ndarray:
    """Uniform k-bit quantization: q = clamp(round(x / scale) + zero_point, q_min, q_max).

    round is half to even (np.round), applied before adding the integer zero point (as in
    PyTorch's fake_quantize_per_tensor_affine); q_min, q_max are [0, 2^k - 1] for affine and
    [-(2^(k-1) - 1), 2^(k-1) - 1] for symmetric quantization (Jacob et al. 2018, eq. 1; Nagel et
    al. 2021, eq. 3). Inside the range, |x - scale (q - zero_point)| <= scale / 2.

    Per-tensor (axis=None): scale and zero_point are numbers. Per-channel (axis=c): they are 1-D
    of length x.shape[c], and channel j of x (x.take(j, axis=c)) uses scale[j], zero_point[j].

    Args:
        x: finite, non-empty real array.
        scale: positive finite number(s).
        zero_point: integer(s) in [q_min, q_max].
        bits: k, an integer in [2, 16].
        symmetric: the symmetric grid.
        axis: the channel axis for per-channel quantization, or None.

    Returns:
        q: an int64 array of x's shape with entries in [q_min, q_max].

    Raises:
        ValueError: if x is empty or non-finite, bits is out of range, scale is not positive and
            finite, zero_point is not an integer in range, axis is not an axis of x, or scale /
            zero_point do not have one entry per channel.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    q_min, q_max = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x must be a non-empty, finite array")
    scale = np.asarray(scale, dtype=np.float64)
    zero_point = np.asarray(zero_point)
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ValueError("scale must be positive and finite")
    if zero_point.dtype.kind not in "iuf" or np.any(zero_point != np.round(zero_point)) \
            or np.any(zero_point < q_min) or np.any(zero_point > q_max):
        raise ValueError(f"zero_point must be an integer in [{q_min}, {q_max}]")
    if axis is None:
        if scale.ndim != 0 or zero_point.ndim != 0:
            raise ValueError("per-tensor quantization (axis=None) takes a single scale and zero_point")
    else:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
            raise ValueError(f"axis must be an axis of x (ndim {x.ndim}), got {axis!r}")
        channels = x.shape[axis]
        if scale.shape != (channels,) or zero_point.shape != (channels,):
            raise ValueError(f"per-channel scale and zero_point need shape ({channels},), "
                             f"got {scale.shape} and {zero_point.shape}")
        shape = [1] * x.ndim
        shape[axis] = channels
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    q = np.round(x / scale) + zero_point.astype(np.float64)
    return np.clip(q, q_min, q_max).astype(np.int64)


def dequantize(q: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """The real value an integer code stands for: x_hat = scale (q - zero_point) (Jacob et al. 2018, eq. 1).

    Per-tensor (axis=None, numbers) or per-channel (axis=c, 1-D scale and zero_point of length
    q.shape[c]), as in ``quantize``.

    Args:
        q: non-empty array of integer values.
        scale: positive finite number(s).
        zero_point: integer(s).
        axis: the channel axis, or None.

    Returns:
        x_hat: a float64 array of q's shape.

    Raises:
        ValueError: if q is empty or not integer-valued, scale is not positive and finite,
            zero_point is not integer-valued, or the per-channel shapes do not match.
    """
    q = np.asarray(q)
    if q.size == 0 or q.dtype.kind not in "iuf" or not np.all(np.isfinite(q)) or np.any(q != np.round(q)):
        raise ValueError("q must be a non-empty array of integers")
    scale = np.asarray(scale, dtype=np.float64)
    zero_point = np.asarray(zero_point)
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ValueError("scale must be positive and finite")
    if zero_point.dtype.kind not in "iuf" or not np.all(np.isfinite(zero_point)) \
            or np.any(zero_point != np.round(zero_point)):
        raise ValueError("zero_point must be integer-valued")
    if axis is None:
        if scale.ndim != 0 or zero_point.ndim != 0:
            raise ValueError("per-tensor dequantization (axis=None) takes a single scale and zero_point")
    else:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -q.ndim <= axis < q.ndim:
            raise ValueError(f"axis must be an axis of q (ndim {q.ndim}), got {axis!r}")
        channels = q.shape[axis]
        if scale.shape != (channels,) or zero_point.shape != (channels,):
            raise ValueError(f"per-channel scale and zero_point need shape ({channels},), "
                             f"got {scale.shape} and {zero_point.shape}")
        shape = [1] * q.ndim
        shape[axis] = channels
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return scale * (q.astype(np.float64) - zero_point.astype(np.float64))


def calibrate_range(x: np.ndarray, bits: int, method: str = "minmax", symmetric: bool = False,
                    percentile: float = 99.9, grid: int = 100) -> tuple[float, float]:
    """The range [x_min, x_max] to quantize x with, by one of three calibrations (Nagel et al. 2021, sec. 3.1).

        "minmax":      (min x, max x): nothing is clipped, but one outlier stretches the grid.
        "percentile":  (P_{100-p}(x), P_p(x)), NumPy's np.percentile with linear interpolation.
        "mse":         grid search over shrunk ranges (a lo, a hi), a = i / grid for i = 1..grid,
                       lo = min(x, 0), hi = max(x, 0), keeping the one minimising the quantization
                       error mean((x - dequantize(quantize(x)))^2) with quant_params(lo', hi', bits,
                       symmetric); on a tie the smallest a wins.

    Clipping trades a larger error on the few clipped values for a finer grid for the rest.

    Args:
        x: finite, non-empty real array (any shape; calibrated as one tensor).
        bits: k in [2, 16].
        method: "minmax", "percentile" or "mse".
        symmetric: the grid the "mse" search quantizes with.
        percentile: p in (50, 100] for "percentile".
        grid: number of candidates for "mse", an integer >= 1.

    Returns:
        (x_min, x_max) as Python floats, x_min <= x_max.

    Raises:
        ValueError: on an empty or non-finite x, bits out of range, an unknown method, p outside
            (50, 100], or grid < 1.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x must be a non-empty, finite array")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    if method == "minmax":
        return float(x.min()), float(x.max())
    if method == "percentile":
        if not (isinstance(percentile, (int, float, np.number)) and 50 < percentile <= 100):
            raise ValueError(f"percentile must be in (50, 100], got {percentile!r}")
        return float(np.percentile(x, 100 - percentile)), float(np.percentile(x, percentile))
    if method != "mse":
        raise ValueError(f"method must be 'minmax', 'percentile' or 'mse', got {method!r}")
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
        raise ValueError(f"grid must be an integer >= 1, got {grid!r}")
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    best, best_err = (lo, hi), np.inf
    for i in range(1, grid + 1):
        a = i / grid
        scale, zero_point = quant_params(a * lo, a * hi, bits, symmetric)
        x_hat = dequantize(quantize(x, scale, zero_point, bits, symmetric), scale, zero_point)
        err = float(np.mean((x - x_hat) ** 2))
        if err < best_err:
            best, best_err = (a * lo, a * hi), err
    return best


def fp_encode(x: np.ndarray, exp_bits: int, man_bits: int, finite_only: bool = False) -> np.ndarray:
    """Encode reals as the bit codes of a (1, e, m) low-precision float: sign | exponent | mantissa.

    bias = 2^(e-1) - 1. A normal number is (-1)^s (1 + M / 2^m) 2^(E - bias) with exponent field
    E in [1, E_top]; E = 0 holds the subnormals (-1)^s (M / 2^m) 2^(1 - bias), which continue the
    smallest binade's spacing 2^(1 - bias - m) down to 0 (Micikevicius et al. 2022, sec. 3).
    IEEE-like formats (E5M2) reserve E = 2^e - 1 for inf/NaN, so the largest value is
    (2 - 2^-m) 2^(2^e - 2 - bias) (57344 for E5M2); ``finite_only`` formats (E4M3) keep that
    exponent for numbers and reserve only the all-ones code for NaN: largest value
    (2 - 2^(1-m)) 2^(2^e - 1 - bias) (448 for E4M3).

    Rounding is to the nearest representable value, ties to an even mantissa; a magnitude above
    the largest value saturates to it (the "satfinite" conversion). The sign bit is the sign of
    x, so -0.0 and negatives that round to 0 encode as the negative zero 1 << (e + m).

    Args:
        x: finite, non-empty real array.
        exp_bits: e in [2, 8].
        man_bits: m in [1, 10].
        finite_only: the E4M3-style encoding without infinities.

    Returns:
        int64 array of x's shape, codes in [0, 2^(1+e+m)).

    Raises:
        ValueError: if x is empty or not finite, or e / m are out of range.
    """
    if isinstance(exp_bits, bool) or not isinstance(exp_bits, (int, np.integer)) or not 2 <= exp_bits <= 8:
        raise ValueError(f"exp_bits must be an integer in [2, 8], got {exp_bits!r}")
    if isinstance(man_bits, bool) or not isinstance(man_bits, (int, np.integer)) or not 1 <= man_bits <= 10:
        raise ValueError(f"man_bits must be an integer in [1, 10], got {man_bits!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x must be a non-empty, finite array")
    bias = 2 ** (exp_bits - 1) - 1
    # the largest finite magnitude's code: IEEE-like E = 2^e - 2, M = 2^m - 1; finite-only E = 2^e - 1, M = 2^m - 2
    top_code = 2 ** (exp_bits + man_bits) - 2 if finite_only else (2**exp_bits - 1) * 2**man_bits - 1
    a = np.abs(x)
    _, k = np.frexp(a)  # a = f 2^k with f in [0.5, 1): the binade's exponent is k - 1
    # subnormals (and 0, whose frexp exponent is 0) share the smallest normal binade's spacing
    E = np.where(a > 0, np.maximum(k - 1, 1 - bias), 1 - bias)
    r = np.round(np.ldexp(a, man_bits - E))  # the value in units of the binade's spacing 2^(E - m), rounded
    # In binade E the magnitude's code is (E + bias - 1) 2^m + r (for the subnormals and the first binade,
    # E = 1 - bias, just r); a carry into the next binade, r = 2^(m+1), gives that binade's first code.
    # Codes grow with the magnitude, so saturation is a minimum over codes.
    code = np.minimum((E + bias - 1) * 2.0**man_bits + r, top_code).astype(np.int64)
    sign = np.signbit(x).astype(np.int64)
    return (sign << (exp_bits + man_bits)) | code


def fp_decode(codes: np.ndarray, exp_bits: int, man_bits: int, finite_only: bool = False) -> np.ndarray:
    """The real values of (1, e, m) float bit codes: the inverse of ``fp_encode``.

        E = 0:     (-1)^s (M / 2^m) 2^(1 - bias)        (zero and the subnormals)
        E > 0:     (-1)^s (1 + M / 2^m) 2^(E - bias)    (normal numbers)

    with bias = 2^(e-1) - 1, except the special codes: IEEE-like (finite_only=False):
    E = 2^e - 1 is +-inf for M = 0 and NaN otherwise; finite_only (E4M3): only E = 2^e - 1 with
    M = 2^m - 1 is NaN (Micikevicius et al. 2022, table 1).

    Args:
        codes: non-empty integer array, entries in [0, 2^(1+e+m)).
        exp_bits: e in [2, 8].
        man_bits: m in [1, 10].
        finite_only: the E4M3-style encoding.

    Returns:
        float64 array of codes' shape (inf and NaN for the special codes).

    Raises:
        ValueError: if codes is empty, not integer-valued or out of range, or e / m are out of range.
    """
    if isinstance(exp_bits, bool) or not isinstance(exp_bits, (int, np.integer)) or not 2 <= exp_bits <= 8:
        raise ValueError(f"exp_bits must be an integer in [2, 8], got {exp_bits!r}")
    if isinstance(man_bits, bool) or not isinstance(man_bits, (int, np.integer)) or not 1 <= man_bits <= 10:
        raise ValueError(f"man_bits must be an integer in [1, 10], got {man_bits!r}")
    codes = np.asarray(codes)
    if codes.size == 0 or codes.dtype.kind not in "iu":
        raise ValueError("codes must be a non-empty integer array")
    if np.any(codes < 0) or np.any(codes >= 2 ** (1 + exp_bits + man_bits)):
        raise ValueError(f"codes must lie in [0, 2^(1+e+m)) = [0, {2 ** (1 + exp_bits + man_bits)})")
    codes = codes.astype(np.int64)
    bias = 2 ** (exp_bits - 1) - 1
    sign = np.where((codes >> (exp_bits + man_bits)) & 1, -1.0, 1.0)
    E = (codes >> man_bits) & (2**exp_bits - 1)
    M = codes & (2**man_bits - 1)
    value = np.where(E == 0, np.ldexp(M.astype(np.float64), 1 - bias - man_bits),
                     np.ldexp(1.0 + M / 2.0**man_bits, E - bias))
    top = E == 2**exp_bits - 1
    if finite_only:
        value = np.where(top & (M == 2**man_bits - 1), np.nan, value)
    else:
        value = np.where(top, np.where(M == 0, np.inf, np.nan), value)
    return sign * value


def bfp_quantize(x: np.ndarray, block_size: int, man_bits: int) -> np.ndarray:
    """Block floating point: each block of ``block_size`` consecutive entries (last axis) shares one exponent.

    For a block b with largest magnitude A_b > 0, the shared exponent is E_b = floor(log2 A_b) and
    every entry is stored as a p-bit signed integer (p = man_bits, sign included):

        step_b = 2^(E_b - p + 2),   m_i = clamp(round(x_i / step_b), -(2^(p-1) - 1), 2^(p-1) - 1),
        x_hat_i = m_i step_b

    so A_b < 2^(E_b + 1) = 2^(p-1) step_b fits (clamped only when it rounds up to 2^(p-1)). An
    all-zero block stays zero. Rounding is half to even. Every entry's error is at most step_b / 2,
    except that the clamped one is off by at most step_b; small entries in a block with a large
    one lose their precision (Drumond et al., "Training DNNs with Hybrid Block Floating Point",
    NeurIPS 2018; Darvish Rouhani et al., "Pushing the Limits of Narrow Precision Inferencing at
    Cloud Scale with Microsoft Floating Point", NeurIPS 2020). The shared exponent's own range is
    not modelled.

    Args:
        x: finite, non-empty array (..., n) with n a multiple of block_size.
        block_size: an integer >= 1.
        man_bits: p, an integer in [2, 24].

    Returns:
        x_hat: float64 array of x's shape.

    Raises:
        ValueError: if x is empty, 0-d or non-finite, block_size < 1 or does not divide the last
            axis, or man_bits is out of range.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("x must be a non-empty, finite array with at least one axis")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    if x.shape[-1] % block_size:
        raise ValueError(f"the last axis ({x.shape[-1]}) must be a multiple of block_size ({block_size})")
    if isinstance(man_bits, bool) or not isinstance(man_bits, (int, np.integer)) or not 2 <= man_bits <= 24:
        raise ValueError(f"man_bits must be an integer in [2, 24], got {man_bits!r}")
    blocks = x.reshape(x.shape[:-1] + (x.shape[-1] // block_size, block_size))  # (..., n / B, B)
    A = np.max(np.abs(blocks), axis=-1, keepdims=True)  # (..., n / B, 1)
    _, k = np.frexp(A)  # A = f 2^k, f in [0.5, 1): E_b = k - 1
    step = np.ldexp(1.0, k - 1 - man_bits + 2)
    top = 2 ** (man_bits - 1) - 1
    m = np.clip(np.round(blocks / step), -top, top)
    return (m * step).reshape(x.shape)  # an all-zero block: A = 0, m = 0


def quantize_multiplier(M: float) -> tuple[int, int]:
    """A real multiplier 0 < M < 1 as a fixed-point int32 and a right shift: M ~ M0 2^-31 2^-n.

    Jacob et al. 2018, sec. 2.2, eq. 6: M = 2^-n M_0 with M_0 in [0.5, 1), n >= 0; M_0 is kept as
    the int32 M0 = round(M_0 2^31) (Q31 fixed point, round half to even). If the rounding reaches
    2^31 (M_0 within 2^-32 of 1), M0 saturates to 2^31 - 1, int32's largest value. Either way
    |M - M0 2^-(31 + n)| <= 2^-(31 + n).

    Args:
        M: a finite float with 0 < M < 1 (in a quantized layer M = scale_x scale_w / scale_y).

    Returns:
        (M0, n): Python ints with 2^30 <= M0 < 2^31 and n >= 0.

    Raises:
        ValueError: if M is not a finite number in (0, 1).
    """
    if isinstance(M, bool) or not isinstance(M, (int, float, np.floating, np.integer)) or not 0 < M < 1:
        raise ValueError(f"M must be a number in (0, 1), got {M!r}")
    f, k = np.frexp(float(M))  # M = f 2^k, f in [0.5, 1), k <= 0
    M0 = int(np.round(f * 2.0**31))
    n = -int(k)
    return min(M0, 2**31 - 1), n


def int_linear(x_q: np.ndarray, zp_x: int, W_q: np.ndarray, b_q: np.ndarray, M0: int, n: int, zp_y: int,
               bits: int = 8) -> np.ndarray:
    """An integer-only linear layer (Jacob et al. 2018, sec. 2.3-2.4): uint8 x, int8 W, int32 accumulate, requantize.

    With x = s_x (x_q - zp_x), W = s_w W_q (symmetric weights, zero point 0), the bias quantized
    with scale s_x s_w (b = s_x s_w b_q) and the output y = s_y (y_q - zp_y):

        acc[i, o] = sum_j (x_q[i, j] - zp_x) W_q[o, j] + b_q[o]                       (int32)
        y_q[i, o] = clamp(zp_y + rshift(acc[i, o] M0, 31 + n), 0, 2^k - 1)

    where M0, n come from quantize_multiplier(s_x s_w / s_y) and rshift(v, s) = v / 2^s rounded
    to the nearest integer, ties away from zero (gemmlowp's RoundingDivideByPOT), computed exactly
    in integers: sign(v) ((|v| + 2^(s-1)) >> s). No float is used.

    Args:
        x_q: integer array (N, d_in), entries in [0, 2^k - 1].
        zp_x: the input zero point, an integer in [0, 2^k - 1].
        W_q: integer array (d_out, d_in), entries in [-2^(k-1), 2^(k-1) - 1].
        b_q: integer array (d_out,), entries in the int32 range.
        M0: integer in [2^30, 2^31).
        n: integer shift in [0, 31].
        zp_y: the output zero point, an integer in [0, 2^k - 1].
        bits: k in [2, 8].

    Returns:
        y_q: int64 array (N, d_out), entries in [0, 2^k - 1].

    Raises:
        ValueError: on bad shapes, non-integer arrays, entries or parameters out of their ranges,
            or an accumulator that overflows int32.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an integer in [2, 8], got {bits!r}")
    x_q, W_q, b_q = np.asarray(x_q), np.asarray(W_q), np.asarray(b_q)
    if any(a.dtype.kind not in "iu" for a in (x_q, W_q, b_q)):
        raise ValueError("x_q, W_q and b_q must be integer arrays")
    if x_q.ndim != 2 or W_q.ndim != 2 or b_q.ndim != 1 or x_q.size == 0 or W_q.size == 0 \
            or x_q.shape[1] != W_q.shape[1] or b_q.shape[0] != W_q.shape[0]:
        raise ValueError(f"need x_q (N, d_in), W_q (d_out, d_in), b_q (d_out,), got {x_q.shape}, {W_q.shape}, "
                         f"{b_q.shape}")
    q_max = 2**bits - 1
    for name, v in (("zp_x", zp_x), ("zp_y", zp_y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= q_max:
            raise ValueError(f"{name} must be an integer in [0, {q_max}], got {v!r}")
    if isinstance(M0, bool) or not isinstance(M0, (int, np.integer)) or not 2**30 <= M0 < 2**31:
        raise ValueError(f"M0 must be an integer in [2^30, 2^31), got {M0!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= 31:
        raise ValueError(f"n must be an integer in [0, 31], got {n!r}")
    if np.any(x_q < 0) or np.any(x_q > q_max):
        raise ValueError(f"x_q entries must lie in [0, {q_max}]")
    if np.any(W_q < -(2 ** (bits - 1))) or np.any(W_q > 2 ** (bits - 1) - 1):
        raise ValueError(f"W_q entries must lie in [{-(2 ** (bits - 1))}, {2 ** (bits - 1) - 1}]")
    if np.any(b_q < -(2**31)) or np.any(b_q >= 2**31):
        raise ValueError("b_q entries must lie in the int32 range")
    acc = (x_q.astype(np.int64) - int(zp_x)) @ W_q.astype(np.int64).T + b_q.astype(np.int64)  # (N, d_out)
    if np.any(acc < -(2**31)) or np.any(acc >= 2**31):
        raise ValueError("the accumulator overflows int32: fewer inputs or smaller codes are needed")
    v = acc * np.int64(M0)  # |v| < 2^62
    s = 31 + int(n)
    r = np.sign(v) * ((np.abs(v) + (np.int64(1) << (s - 1))) >> s)
    return np.clip(int(zp_y) + r, 0, q_max).astype(np.int64)


def fake_quant_grad(x: np.ndarray, grad_out: np.ndarray, scale: float, zero_point: int, bits: int,
                    symmetric: bool = False) -> np.ndarray:
    """The straight-through estimator's gradient of fake quantization x -> dequantize(quantize(x)).

    Rounding has derivative 0 almost everywhere, so training through it needs a surrogate: the
    STE (Bengio, Leonard & Courville, "Estimating or Propagating Gradients Through Stochastic
    Neurons", 2013) treats round as the identity in the backward pass, and the clamp keeps its
    true derivative:

        dL/dx = dL/dx_hat * [q_min <= round(x / scale) + zero_point <= q_max]

    (the mask PyTorch's fake_quantize_per_tensor_affine uses; round is half to even).

    Args:
        x: finite, non-empty real array.
        grad_out: dL/dx_hat, a finite array of x's shape.
        scale, zero_point, bits, symmetric: as in ``quantize`` (per-tensor).

    Returns:
        dL/dx: float64 array of x's shape.

    Raises:
        ValueError: as ``quantize``, or if grad_out is non-finite or of another shape.
    """
    x = np.asarray(x, dtype=np.float64)
    grad_out = np.asarray(grad_out, dtype=np.float64)
    if grad_out.shape != x.shape or not np.all(np.isfinite(grad_out)):
        raise ValueError(f"grad_out must be finite with x's shape {x.shape}, got {grad_out.shape}")
    quantize(x, scale, zero_point, bits, symmetric)  # validates the arguments
    q_min, q_max = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    unclamped = np.round(x / float(scale)) + float(zero_point)
    return np.where((unclamped >= q_min) & (unclamped <= q_max), grad_out, 0.0)


def lsq_grads(v: np.ndarray, grad_out: np.ndarray, s: float, bits: int) -> tuple[np.ndarray, float]:
    """Gradients of LSQ's fake quantizer v_hat = round(clip(v / s, -Q_N, Q_P)) s w.r.t. v and the step s.

    Esser et al., "Learned Step Size Quantization", ICLR 2020, eqs. 1-5, signed data:
    Q_N = 2^(k-1), Q_P = 2^(k-1) - 1. With the STE for round,

        d v_hat / d v = 1 if -Q_N < v / s < Q_P, else 0
        d v_hat / d s = -v / s + round(v / s)   if -Q_N < v / s < Q_P
                        -Q_N                    if v / s <= -Q_N
                        Q_P                     if v / s >= Q_P

    and the step's gradient is scaled by g = 1 / sqrt(N Q_P) (N = v.size, sec. 2.2):

        grad_v = grad_out * d v_hat / d v,   grad_s = g sum_i grad_out_i d v_hat_i / d s

    round is half to even.

    Args:
        v: finite, non-empty real array.
        grad_out: dL/dv_hat, finite, of v's shape.
        s: the step size, positive and finite.
        bits: k in [2, 16].

    Returns:
        (grad_v, grad_s): a float64 array of v's shape and a Python float.

    Raises:
        ValueError: on an empty or non-finite v or grad_out, mismatched shapes, s <= 0 or
            non-finite, or bits out of range.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    v = np.asarray(v, dtype=np.float64)
    grad_out = np.asarray(grad_out, dtype=np.float64)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("v must be a non-empty, finite array")
    if grad_out.shape != v.shape or not np.all(np.isfinite(grad_out)):
        raise ValueError(f"grad_out must be finite with v's shape {v.shape}, got {grad_out.shape}")
    if isinstance(s, bool) or not isinstance(s, (int, float, np.number)) or not (np.isfinite(s) and s > 0):
        raise ValueError(f"s must be a positive finite number, got {s!r}")
    Q_N, Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    t = v / float(s)
    inside = (t > -Q_N) & (t < Q_P)
    dv_ds = np.where(inside, np.round(t) - t, np.where(t <= -Q_N, -float(Q_N), float(Q_P)))
    g = 1.0 / np.sqrt(v.size * Q_P)
    return np.where(inside, grad_out, 0.0), float(g * np.sum(grad_out * dv_ds))


def storage_bits(n_weights: int, bits: int, n_groups: int, scale_bits: int = 32, zero_point_bits: int = 0) -> int:
    """Bits to store n weights quantized to k bits, with one scale (and zero point) per group.

        total = n_weights k + n_groups (scale_bits + zero_point_bits)

    Per-tensor quantization is one group; per-channel one group per output channel; block
    formats one per block. The metadata is what makes very small groups or very low k less
    cheap than n k suggests (compare with Lab 3's sparse masks and Lab 4's factors at equal bytes).

    Args:
        n_weights: an integer >= 0.
        bits: k, an integer in [1, 32].
        n_groups: an integer with 1 <= n_groups <= max(n_weights, 1).
        scale_bits, zero_point_bits: integers >= 0.

    Returns:
        the number of bits, a Python int.

    Raises:
        ValueError: if any count is not an integer or out of its range.
    """
    for name, value, low in (("n_weights", n_weights, 0), ("bits", bits, 1), ("n_groups", n_groups, 1),
                             ("scale_bits", scale_bits, 0), ("zero_point_bits", zero_point_bits, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if bits > 32:
        raise ValueError(f"bits must be at most 32, got {bits}")
    if n_groups > max(n_weights, 1):
        raise ValueError(f"n_groups ({n_groups}) cannot exceed the number of weights ({n_weights})")
    return int(n_weights) * int(bits) + int(n_groups) * (int(scale_bits) + int(zero_point_bits))
