"""Lab 8 checks: uniform quantization (parameters, quantize, dequantize), calibration, low-precision
floats, block floating point, the fixed-point multiplier, the integer-only linear layer, the STE,
LSQ's step gradient and storage accounting.

Each check's docstring (first paragraph) is the property the student reads when it fails. The
invariants are public: they need no reference, because the quantities have closed forms computed
here (with Python's exact integers and ``fractions.Fraction`` where rounding matters, and Python's
``round``, which is half to even like ``np.round``). Agreement with the hidden reference avoids
inputs within rounding of a tie (there a correct implementation that computes x / scale in
another order may round the other way); the exact ties have their own checks, built so that the
division is exact (power-of-two scales).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab08_quantization.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import CheckFailed, as_array, as_float, as_int, as_tuple, assert_close, fmt, raises_value_error, require, text
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
EXERCISES = registry.exercises("reference_impl.quantization", [
    "quant_params", "quantize", "dequantize", "calibrate_range", "fp_encode", "fp_decode",
    "bfp_quantize", "quantize_multiplier", "int_linear", "fake_quant_grad", "lsq_grads", "storage_bits"
])

TIE = 1e-6  # x / scale within this of k + 1/2 counts as a tie (the order of float operations decides it)
FORMATS = [(4, 3, True), (5, 2, False), (3, 2, False), (2, 1, False), (4, 3, False), (5, 10, False), (3, 4, True)]


# --- strategies ----------------------------------------------------------------------------------
def _elements(bound: float = 10.0):
    """Small integers and halves first (readable counterexamples), then any float in [-bound, bound]."""
    return st.one_of(st.integers(-6, 6).map(lambda k: k / 2.0),
                     st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False))


BITS = st.integers(2, 8)
SYMMETRIC = st.booleans()


@st.composite
def vectors(draw, max_size: int = 6):
    """1..max_size values, sometimes up to S.LARGE_SIZE (bugs that only show on longer inputs)."""
    return draw(hnp.arrays(np.float64, draw(S.sizes(1, max_size)), elements=_elements()))


@st.composite
def matrices(draw, max_side: int = 4):
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    return draw(hnp.arrays(np.float64, shape, elements=_elements()))


@st.composite
def ranges(draw):
    a, b = draw(_elements()), draw(_elements())
    return min(a, b), max(a, b)


def _q_range(bits: int, symmetric: bool) -> tuple[int, int]:
    return (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


def _params(lo: float, hi: float, bits: int, symmetric: bool) -> tuple[float, int]:
    """The closed form of quant_params (Jacob et al. 2018; Nagel et al. 2021), independent of the reference."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    q_min, q_max = _q_range(bits, symmetric)
    if symmetric:
        scale = max(-lo, hi) / q_max
        return (scale if scale > 0 else 1.0), 0
    scale = (hi - lo) / (q_max - q_min)
    scale = scale if scale > 0 else 1.0
    return scale, int(min(max(round(-lo / scale), q_min), q_max))


def _no_tie(t) -> bool:
    t = np.asarray(t, dtype=np.float64)
    return bool(np.all(np.abs(np.abs(t - np.floor(t)) - 0.5) > TIE))


def _quantize(x, scale, zp, bits, symmetric):
    q_min, q_max = _q_range(bits, symmetric)
    return np.clip(np.round(x / scale) + zp, q_min, q_max)


@st.composite
def quant_cases(draw, per_channel: bool = False):
    """(x, scale, zero_point, bits, symmetric, axis): parameters from a range near x's (some clipping)."""
    bits, symmetric = draw(BITS), draw(SYMMETRIC)
    x = draw(matrices()) if per_channel else draw(vectors())
    shrink = draw(st.sampled_from([1.0, 0.5, 0.8]))
    if per_channel:
        axis = draw(st.sampled_from([0, 1]))
        other = 1 - axis
        pairs = [_params(shrink * x.min(axis=other)[j], shrink * x.max(axis=other)[j], bits, symmetric)
                 for j in range(x.shape[axis])]
        scale = np.array([p[0] for p in pairs])
        zp = np.array([p[1] for p in pairs], dtype=np.int64)
        shape = [1, 1]
        shape[axis] = -1
        t = x / scale.reshape(shape)
    else:
        axis = None
        scale, zp = _params(shrink * float(x.min()), shrink * float(x.max()), bits, symmetric)
        t = x / scale
    return x, scale, zp, bits, symmetric, axis, _no_tie(t)


# --- helpers --------------------------------------------------------------------------------------


def _int_array(got, what, shape) -> np.ndarray:
    """The student's integer codes (an integer array, or a float array of whole numbers)."""
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"{text(what)} should be a NumPy array, got {type(got).__name__}: {fmt(got)}")
    if got.shape != tuple(shape):
        raise CheckFailed(f"{text(what)} should have shape {tuple(shape)}, got shape {got.shape}")
    if got.dtype.kind == "f" and not (np.all(np.isfinite(got)) and np.all(got == np.round(got))):
        raise CheckFailed(f"{text(what)} should hold integers, got {fmt(got)}")
    if got.dtype.kind not in "iuf":
        raise CheckFailed(f"{text(what)} should be an integer array, got dtype {got.dtype}")
    return got.astype(np.int64)


def _same_ints(got, expected, what) -> None:
    """``what``: the call in words, or a function returning them (formatted only on failure)."""
    expected = np.asarray(expected, dtype=np.int64)
    g = _int_array(got, what, expected.shape)
    if not np.array_equal(g, expected):
        what = text(what)
        raise CheckFailed(f"{what}\n  expected: {fmt(expected)}\n  got:      {fmt(g)}", expected=fmt(expected),
                          got=fmt(g))


def _call_desc(name: str, *args, **kwargs) -> str:
    return f"{name}(" + ", ".join([fmt(a) for a in args] + [f"{k}={fmt(v)}" for k, v in kwargs.items()]) + ")"


# --- quant_params ---------------------------------------------------------------------------------
def _student_params(student, lo, hi, bits, symmetric, shape=()):
    got = as_tuple(student(lo, hi, bits, symmetric), 2, "quant_params(x_min, x_max, bits, symmetric)")
    return as_array(got[0], "scale", shape=shape), _int_array(np.asarray(got[1]), "zero_point", shape)


def _clear_zero_point(case) -> bool:
    (lo, hi), bits, symmetric = case
    scale, _ = _params(lo, hi, bits, symmetric)
    return symmetric or _no_tie(-min(lo, 0.0) / scale)


@check("quant_params", public=True, case=st.tuples(ranges(), BITS, SYMMETRIC).filter(_clear_zero_point))
def widened_range_closed_form(student, ref, case):
    """With lo = min(x_min, 0), hi = max(x_max, 0): affine scale = (hi - lo) / (2^k - 1) and zero_point = round(-lo / scale); symmetric scale = max(-lo, hi) / (2^(k-1) - 1) and zero_point 0."""
    (lo, hi), bits, symmetric = case
    scale, zp = _student_params(student, lo, hi, bits, symmetric)
    e_scale, e_zp = _params(lo, hi, bits, symmetric)
    what = _call_desc("quant_params", lo, hi, bits, symmetric)
    assert_close(scale, e_scale, what + "[0], the scale")
    _same_ints(zp, e_zp, what + "[1], the zero point")


@check("quant_params", public=True, case=st.tuples(ranges(), BITS, SYMMETRIC))
def zero_is_exact_and_range_fits(student, ref, case):
    """The real 0 should be a code (0 = scale (q - zero_point) for the integer q = zero_point in range), and both ends of the range should quantize within half a step."""
    (lo, hi), bits, symmetric = case
    scale, zp = _student_params(student, lo, hi, bits, symmetric)
    s, z = float(scale), int(zp)
    q_min, q_max = _q_range(bits, symmetric)
    require(s > 0, f"the scale must be positive, got {s!r}")
    require(q_min <= z <= q_max, f"zero_point {z} is not a code in [{q_min}, {q_max}]")
    for end in (min(lo, 0.0), max(hi, 0.0)):
        q = min(max(round(end / s) + z, q_min), q_max)
        err = abs(end - s * (q - z))
        require(err <= s / 2 * (1 + 1e-9) + 1e-12,
                f"with scale {s!r}, zero_point {z}: the end {end!r} of the range is off by {err!r} > scale / 2")


@check("quant_params", public=True, lo=hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(-5, 0)),
       width=st.floats(0, 5), bits=BITS, symmetric=SYMMETRIC)
def per_channel_entrywise(student, ref, lo, width, bits, symmetric):
    """Arrays of ranges (one per channel) should give arrays: entry j equals quant_params(x_min[j], x_max[j], ...)."""
    hi = lo + width * np.arange(1, lo.size + 1)
    scale, zp = _student_params(student, lo, hi, bits, symmetric, shape=lo.shape)
    for j in range(lo.size):
        s_j, z_j = _student_params(student, float(lo[j]), float(hi[j]), bits, symmetric)
        assert_close(scale[j], float(s_j), f"scale[{j}] compared with the scalar call for channel {j}")
        require(int(zp[j]) == int(z_j), f"zero_point[{j}] = {int(zp[j])} but the scalar call gives {int(z_j)}")


@check("quant_params", public=True, k=st.integers(0, 254), j=st.integers(-3, 3), bits=BITS)
def zero_point_ties_round_half_to_even(student, ref, k, j, bits):
    """When -lo / scale is exactly k + 1/2 the affine zero point should round half to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2), like np.round, not half up."""
    q_max = 2**bits - 1
    k %= q_max  # k in [0, q_max - 1]: lo = -(k + 1/2) scale <= 0 <= hi
    scale = 2.0**j  # hi - lo = q_max scale exactly, so the scale is exactly 2^j and -lo / scale exactly k + 1/2
    lo, hi = -(k + 0.5) * scale, (q_max - k - 0.5) * scale
    got_scale, zp = _student_params(student, lo, hi, bits, False)
    what = _call_desc("quant_params", lo, hi, bits, False)
    assert_close(got_scale, scale, what + "[0], the scale")
    _same_ints(zp, round(k + 0.5), what + f"[1], the zero point (-lo / scale = {k + 0.5} rounds half to even)")


@check("quant_params", public=True, bits=BITS, symmetric=SYMMETRIC)
def empty_range_gets_scale_one(student, ref, bits, symmetric):
    """The range [0, 0] should get scale 1 and zero point 0 (any scale represents all-zeros; 0 would divide by zero)."""
    scale, zp = _student_params(student, 0.0, 0.0, bits, symmetric)
    assert_close(scale, 1.0, f"quant_params(0.0, 0.0, {bits}, {symmetric})[0]")
    require(int(zp) == 0, f"quant_params(0.0, 0.0, {bits}, {symmetric})[1] should be 0, got {int(zp)}")


@check("quant_params", public=True, bad=st.sampled_from([(0.0, 1.0, 1), (0.0, 1.0, 17), (2.0, 1.0, 8),
                                                          (0.0, math.inf, 8), (math.nan, 1.0, 8), (0.0, 1.0, 8.0)]))
def rejects_bad_input(student, ref, bad):
    """quant_params should raise ValueError for bits outside [2, 16] or not an integer, a non-finite bound, or x_min > x_max."""
    raises_value_error(student, _call_desc("quant_params", *bad), *bad)


# --- quantize -------------------------------------------------------------------------------------
def _qcall(student, case):
    x, scale, zp, bits, symmetric, axis, _ = case
    return student(x, scale, zp, bits, symmetric, axis)


@check("quantize", public=True, j=st.integers(-3, 3), k=st.integers(-20, 20), zp=st.integers(0, 3),
       bits=st.integers(4, 8), symmetric=SYMMETRIC)
def ties_round_half_to_even(student, ref, j, k, zp, bits, symmetric):
    """An exact tie x / scale = k + 1/2 should round half to even, before adding the zero point: q = round(x / scale) + zero_point (e.g. 2.5 -> 2, 3.5 -> 4, -0.5 -> 0, -2.5 -> -2 on the symmetric grid)."""
    scale = 2.0**j
    zp = 0 if symmetric else zp
    x = np.array([(k + 0.5) * scale, (k + 1.5) * scale])
    q_min, q_max = _q_range(bits, symmetric)
    expected = [min(max(round(k + 0.5) + zp, q_min), q_max), min(max(round(k + 1.5) + zp, q_min), q_max)]
    _same_ints(student(x, scale, zp, bits, symmetric, None), expected,
               f"quantize({fmt(x)}, scale={scale}, zero_point={zp}, bits={bits}, symmetric={symmetric})")


@check("quantize", public=True, case=quant_cases().filter(lambda c: c[-1]))
def clamped_round_closed_form(student, ref, case):
    """q should be clamp(round(x / scale) + zero_point, q_min, q_max) with [q_min, q_max] = [0, 2^k - 1] (affine) or [-(2^(k-1) - 1), 2^(k-1) - 1] (symmetric)."""
    x, scale, zp, bits, symmetric, _, _ = case
    _same_ints(student(x, scale, zp, bits, symmetric, None), _quantize(x, scale, zp, bits, symmetric),
               f"quantize({fmt(x)}, scale={scale!r}, zero_point={zp}, bits={bits}, symmetric={symmetric})")


@check("quantize", public=True, case=st.tuples(vectors(), BITS, SYMMETRIC))
def error_at_most_half_a_step(student, ref, case):
    """Inside the calibrated range every x should come back within scale / 2: |x - scale (q - zero_point)| <= scale / 2."""
    x, bits, symmetric = case
    scale, zp = _params(float(x.min()), float(x.max()), bits, symmetric)
    q = _int_array(student(x, scale, zp, bits, symmetric, None), "q", x.shape)
    err = np.abs(x - scale * (q - zp))
    worst = int(np.argmax(err))
    require(err[worst] <= scale / 2 * (1 + 1e-9),
            f"x[{worst}] = {x[worst]!r} -> q = {q[worst]} comes back as {scale * (q[worst] - zp)!r}: error "
            f"{err[worst]!r} > scale / 2 = {scale / 2!r} (scale {scale!r}, zero_point {zp})")


@check("quantize", public=True, bits=BITS, symmetric=SYMMETRIC, seed=st.integers(0, 3))
def long_inputs_and_saturation(student, ref, bits, symmetric, seed):
    """On 10,000 values, half of them far outside the range, q should equal the closed form and saturate at q_min / q_max."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(10_000) * np.where(rng.random(10_000) < 0.5, 1.0, 1e6)
    scale, zp = _params(-2.0, 3.0, bits, symmetric)
    got = _int_array(student(x, scale, zp, bits, symmetric, None), "q", x.shape)
    _same_ints(got, _quantize(x, scale, zp, bits, symmetric), f"quantize(10,000 values, bits={bits}, symmetric={symmetric})")


@check("quantize", public=True, case=quant_cases(per_channel=True).filter(lambda c: c[-1]))
def per_channel_is_per_tensor_per_slice(student, ref, case):
    """Per-channel quantization (axis=c) should quantize each slice x.take(j, axis=c) with scale[j], zero_point[j]."""
    x, scale, zp, bits, symmetric, axis, _ = case
    q = _int_array(student(x, scale, zp, bits, symmetric, axis), "q", x.shape)
    for j in range(x.shape[axis]):
        _same_ints(np.take(q, j, axis=axis), _quantize(np.take(x, j, axis=axis), scale[j], zp[j], bits, symmetric),
                   f"channel {j} of quantize(x, scale={fmt(scale)}, zero_point={fmt(zp)}, bits={bits}, axis={axis})")


@check("quantize", public=True, bad=st.sampled_from([
    ("empty x", np.array([]), 1.0, 0, 8, False, None), ("NaN in x", np.array([np.nan]), 1.0, 0, 8, False, None),
    ("scale 0", np.ones(2), 0.0, 0, 8, False, None), ("zero_point 256 at 8 bits", np.ones(2), 1.0, 256, 8, False, None),
    ("zero_point 0.5", np.ones(2), 1.0, 0.5, 8, False, None), ("bits 1", np.ones(2), 1.0, 0, 1, False, None),
    ("axis 2 of a matrix", np.ones((2, 3)), np.ones(2), np.zeros(2, np.int64), 8, False, 2),
    ("2 scales for 3 channels", np.ones((2, 3)), np.ones(2), np.zeros(2, np.int64), 8, False, 1)]))
def quantize__rejects_bad_input(student, ref, bad):
    """quantize should raise ValueError for an empty or non-finite x, bits out of range, a scale <= 0, a zero point that is not an integer code, or per-channel parameters that do not match the axis."""
    what, *args = bad
    raises_value_error(student, f"quantize with {what}", *args)


# --- dequantize -----------------------------------------------------------------------------------
@st.composite
def codes_cases(draw):
    per_channel = draw(st.booleans())
    if per_channel:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        axis = draw(st.sampled_from([0, 1, -1]))
        c = shape[axis]
        scale = draw(hnp.arrays(np.float64, c, elements=st.floats(1e-3, 10.0)))
        zp = draw(hnp.arrays(np.int64, c, elements=st.integers(-8, 255)))
    else:
        shape, axis = (draw(st.integers(1, 5)),), None
        scale, zp = draw(st.floats(1e-3, 10.0)), draw(st.integers(-8, 255))
    q = draw(hnp.arrays(np.int64, shape, elements=st.integers(-128, 255)))
    return q, scale, zp, axis


@check("dequantize", public=True, case=codes_cases())
def scale_times_offset(student, ref, case):
    """dequantize should return scale (q - zero_point), with the per-channel scale and zero point broadcast along the axis."""
    q, scale, zp, axis = case
    s, z = np.asarray(scale, dtype=np.float64), np.asarray(zp, dtype=np.float64)
    if axis is not None:
        shape = [1] * q.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    assert_close(student(q, scale, zp, axis), s * (q - z), f"dequantize({fmt(q)}, {fmt(scale)}, {fmt(zp)}, axis={axis})")


@check("dequantize", public=True, bits=BITS, zp=st.integers(0, 3), j=st.integers(-4, 4))
def zero_point_decodes_to_zero(student, ref, bits, zp, j):
    """The code q = zero_point should decode to exactly 0.0, and q = zero_point + 1 to exactly the scale."""
    scale = 1.5 * 2.0**j
    got = as_array(student(np.array([zp, zp + 1], dtype=np.int64), scale, zp, None), "x_hat", shape=(2,))
    require(got[0] == 0.0 and got[1] == scale,
            f"dequantize([{zp}, {zp + 1}], {scale}, {zp}) should be [0.0, {scale}], got {fmt(got)}")


@check("dequantize", public=True, bad=st.sampled_from([
    ("non-integer codes", np.array([0.5]), 1.0, 0, None), ("empty codes", np.array([], dtype=np.int64), 1.0, 0, None),
    ("scale -1", np.array([1]), -1.0, 0, None), ("zero_point 0.5", np.array([1]), 1.0, 0.5, None),
    ("2 scales for 3 channels", np.ones((2, 3), dtype=np.int64), np.ones(2), np.zeros(2, np.int64), 1)]))
def dequantize__rejects_bad_input(student, ref, bad):
    """dequantize should raise ValueError for empty or non-integer codes, a scale <= 0, a non-integer zero point, or per-channel parameters that do not match the axis."""
    what, *args = bad
    raises_value_error(student, f"dequantize with {what}", *args)


# --- calibrate_range ------------------------------------------------------------------------------
def _mse(x, lo, hi, bits, symmetric) -> float:
    scale, zp = _params(lo, hi, bits, symmetric)
    return float(np.mean((x - scale * (_quantize(x, scale, zp, bits, symmetric) - zp)) ** 2))


def _range(student, *args):
    got = as_tuple(student(*args), 2, "calibrate_range(...)")
    return as_float(got[0], "x_min"), as_float(got[1], "x_max")


@check("calibrate_range", public=True, x=vectors(max_size=12), bits=BITS, symmetric=SYMMETRIC,
       grid=st.integers(1, 12))
def mse_range_is_grid_optimal(student, ref, x, bits, symmetric, grid):
    """The "mse" range should be one of the candidates (a lo, a hi), a = i / grid, lo = min(x, 0), hi = max(x, 0), with the smallest quantization MSE among them."""
    lo0, hi0 = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    got = _range(student, x, bits, "mse", symmetric, 99.9, grid)
    candidates = [(i / grid * lo0, i / grid * hi0) for i in range(1, grid + 1)]
    near = [c for c in candidates if abs(c[0] - got[0]) <= 1e-9 * (1 + abs(c[0]))
            and abs(c[1] - got[1]) <= 1e-9 * (1 + abs(c[1]))]
    require(near, f"calibrate_range(x, {bits}, 'mse', {symmetric}, grid={grid}) = {fmt(got)} is not a candidate "
                  f"(a * {lo0!r}, a * {hi0!r}) with a = i / {grid}")
    best = min(_mse(x, a, b, bits, symmetric) for a, b in candidates)
    mine = _mse(x, *near[0], bits, symmetric)
    require(mine <= best * (1 + 1e-9) + 1e-15,
            f"the range {fmt(got)} has MSE {mine!r}, but another candidate reaches {best!r}")


@check("calibrate_range", public=True, x=vectors(max_size=12), bits=BITS)
def minmax_and_full_percentile(student, ref, x, bits):
    """"minmax" should return (min x, max x), and "percentile" with p = 100 the same."""
    expected = (float(x.min()), float(x.max()))
    for method in ("minmax", "percentile"):
        got = _range(student, x, bits, method, False, 100.0, 10)
        assert_close(np.array(got), np.array(expected), f"calibrate_range(x, {bits}, {method!r}, percentile=100)")


@check("calibrate_range", public=True, p=st.sampled_from([99.0, 90.0, 99.9]))
def percentile_interpolates(student, ref, p):
    """"percentile" should use linear interpolation between order statistics: on -500, ..., 500 (1,001 values) P_p = 10 p - 500."""
    x = np.arange(1001, dtype=np.float64) - 500.0
    got = _range(student, x, 8, "percentile", False, p, 10)
    assert_close(np.array(got), np.array([500.0 - 10 * p, 10 * p - 500.0]),
                 f"calibrate_range(np.arange(1001.0) - 500, 8, 'percentile', percentile={p})", atol=1e-9)


@check("calibrate_range", public=True, bits=st.integers(2, 4))
def mse_clips_an_outlier(student, ref, bits):
    """With one outlier at 100 among 999 values in [-1, 1], the "mse" range should clip it (x_max < 100)."""
    x = np.concatenate([np.linspace(-1, 1, 999), [100.0]])
    _, hi = _range(student, x, bits, "mse", False, 99.9, 100)
    require(hi < 100.0, f"calibrate_range(x with an outlier at 100, {bits}, 'mse') kept x_max = {hi!r}")


@check("calibrate_range", public=True, case=st.sampled_from([
    ([-0.5, 1.0], 2, True, 2, (-0.25, 0.5)), ([-1.0, -1.5], 2, True, 3, (-1.0, 0.0)),
    ("999 values in [-1, 1] and 2.0", 2, True, 2, (-0.5, 1.0)), ([1.0, 2.0, 3.5], 8, False, 1, (0.0, 3.5)),
    ([1.0, 2.0, 3.0], 2, False, 4, (0.0, 3.0))]))
def mse_ties_and_corners(student, ref, case):
    """The "mse" search should take a = i / grid for i = 1..grid only, widen the range to contain 0, and on a tie keep the smallest a: for [-0.5, 1.0] at 2 bits (symmetric, grid 2) both candidates have MSE 1/8, and (-0.25, 0.5) wins."""
    x, bits, symmetric, grid, expected = case
    what = x if isinstance(x, str) else fmt(np.array(x))
    x = np.concatenate([np.linspace(-1, 1, 999), [2.0]]) if isinstance(x, str) else np.array(x)
    got = _range(student, x, bits, "mse", symmetric, 99.9, grid)
    assert_close(np.array(got), np.array(expected),
                 f"calibrate_range({what}, {bits}, 'mse', symmetric={symmetric}, grid={grid})", atol=1e-12)


@check("calibrate_range", public=True, bad=st.sampled_from([
    ("method 'max'", np.ones(3), 8, "max"), ("percentile 50", np.ones(3), 8, "percentile", False, 50.0),
    ("grid 0", np.ones(3), 8, "mse", False, 99.9, 0), ("bits 1", np.ones(3), 1, "minmax"),
    ("an empty x", np.array([]), 8, "minmax"), ("an inf in x", np.array([1.0, np.inf]), 8, "minmax")]))
def calibrate_range__rejects_bad_input(student, ref, bad):
    """calibrate_range should raise ValueError for an empty or non-finite x, bits out of range, an unknown method, a percentile outside (50, 100], or grid < 1."""
    what, *args = bad
    raises_value_error(student, f"calibrate_range with {what}", *args)


# --- fp_encode / fp_decode ------------------------------------------------------------------------
def _fp_value(code: int, e: int, m: int, finite_only: bool) -> float:
    """The value of one code, from the definition (an independent decoder)."""
    bias = 2 ** (e - 1) - 1
    s, E, M = code >> (e + m), (code >> m) & (2**e - 1), code & (2**m - 1)
    sign = -1.0 if s else 1.0
    if E == 2**e - 1 and not finite_only:
        return sign * math.inf if M == 0 else math.nan
    if E == 2**e - 1 and M == 2**m - 1:
        return math.nan
    if E == 0:
        return sign * math.ldexp(M, 1 - bias - m)
    return sign * math.ldexp(2**m + M, E - bias - m)


@functools.lru_cache(maxsize=None)
def _fp_table_cached(e: int, m: int, finite_only: bool) -> np.ndarray:
    # _fp_value for every code at once (tests/labs/test_lab08.py holds the two equal for every format)
    code = np.arange(2 ** (1 + e + m))
    bias = 2 ** (e - 1) - 1
    E, M = (code >> m) & (2**e - 1), code & (2**m - 1)
    sign = np.where(code >> (e + m) == 1, -1.0, 1.0)
    table = sign * np.where(E == 0, np.ldexp(M.astype(np.float64), 1 - bias - m),
                            np.ldexp((2**m + M).astype(np.float64), E - bias - m))
    top = E == 2**e - 1
    if finite_only:
        table[top & (M == 2**m - 1)] = np.nan
    else:
        table[top] = np.where(M[top] == 0, sign[top] * np.inf, np.nan)
    table.flags.writeable = False
    return table


def _fp_table(e: int, m: int, finite_only: bool) -> np.ndarray:
    """Every code's value (made once per format: a 16-bit format has 65,536 codes); a copy each time."""
    return _fp_table_cached(e, m, finite_only).copy()


@st.composite
def fp_cases(draw):
    e, m, fo = draw(st.sampled_from(FORMATS))
    bias = 2 ** (e - 1) - 1
    mag = st.builds(lambda f, k: f * 2.0**k, st.floats(-1.99, 1.99), st.integers(-bias - m - 2, bias + 2))
    x = draw(hnp.arrays(np.float64, draw(S.sizes(1, 6)), elements=S.with_tiny(st.one_of(_elements(), mag))))
    return x, e, m, fo


@check("fp_encode", public=True, fmt_=st.sampled_from(FORMATS))
def every_value_encodes_to_its_code(student, ref, fmt_):
    """Every finite value of the format should encode to its own code (0.0 to 0, -0.0 to the negative zero 1 << (e + m))."""
    e, m, fo = fmt_
    table = _fp_table(e, m, fo)
    codes = np.flatnonzero(np.isfinite(table))
    _same_ints(student(table[codes], e, m, fo), codes, f"fp_encode(every finite value of the (1, {e}, {m}) format)")


@check("fp_encode", public=True, fmt_=st.sampled_from(FORMATS), u=st.floats(0.0, 1.0))
def rounds_to_nearest_ties_to_even(student, ref, fmt_, u):
    """A value between two neighbours should round to the nearer one; an exact midpoint to the one with an even mantissa (code)."""
    e, m, fo = fmt_
    table = _fp_table(e, m, fo)
    pos = np.unique(table[np.isfinite(table) & (table >= 0)])
    i = int(u * (len(pos) - 2))
    a, b = pos[i], pos[i + 1]
    x = np.array([(a + b) / 2, a + (b - a) * 0.25, a + (b - a) * 0.75, -(a + b) / 2])
    codes = _int_array(student(x, e, m, fo), f"fp_encode({fmt(x)}, {e}, {m}, finite_only={fo})", x.shape)
    got = np.array([_fp_value(int(c), e, m, fo) for c in codes])
    even = a if int(np.flatnonzero(table == a)[0]) % 2 == 0 else b
    expected = np.array([even, a, b, -even])
    assert_close(got, expected, f"the values of fp_encode({fmt(x)}, {e}, {m}, finite_only={fo}) "
                 f"(between neighbours {a!r} and {b!r})")


@check("fp_encode", public=True, fmt_=st.sampled_from(FORMATS))
def tiny_values_keep_their_sign(student, ref, fmt_):
    """Magnitudes below half the smallest subnormal (1e-20, 1e-300, a quarter of 2^(1 - bias - m), 0) should encode to zero, and negative ones (and -0.0) to the negative zero 1 << (e + m): the sign bit is the sign of x."""
    e, m, fo = fmt_
    quarter = math.ldexp(1.0, 1 - (2 ** (e - 1) - 1) - m - 2)
    x = np.array([v for t in (1e-20, 1e-300, 0.0, quarter) for v in (t, -t)])
    expected = [0, 1 << (e + m)] * 4
    _same_ints(student(x, e, m, fo), expected, f"fp_encode({fmt(x)}, {e}, {m}, finite_only={fo})")


@check("fp_encode", public=True, fmt_=st.sampled_from(FORMATS), big=st.floats(1.0, 1e30))
def saturates_at_the_largest_value(student, ref, fmt_, big):
    """A magnitude beyond the largest finite value should saturate to +-largest (448 for E4M3, 57344 for E5M2), never inf or NaN."""
    e, m, fo = fmt_
    table = _fp_table(e, m, fo)
    largest = float(np.nanmax(table[np.isfinite(table)]))
    x = np.array([largest * (1 + big), -largest * (1 + big)])
    codes = _int_array(student(x, e, m, fo), f"fp_encode({fmt(x)}, {e}, {m}, finite_only={fo})", x.shape)
    got = [_fp_value(int(c), e, m, fo) for c in codes]
    require(got == [largest, -largest], f"fp_encode({fmt(x)}, {e}, {m}, finite_only={fo}) decodes to {got}, "
                                        f"expected [{largest}, {-largest}]")


@check("fp_encode", public=True, bad=st.sampled_from([
    ("inf", np.array([np.inf]), 4, 3), ("NaN", np.array([np.nan]), 4, 3), ("an empty x", np.array([]), 4, 3),
    ("exp_bits 1", np.ones(1), 1, 3), ("man_bits 0", np.ones(1), 4, 0), ("exp_bits 9", np.ones(1), 9, 3)]))
def fp_encode__rejects_bad_input(student, ref, bad):
    """fp_encode should raise ValueError for an empty or non-finite x, or exp_bits / man_bits out of range."""
    what, *args = bad
    raises_value_error(student, f"fp_encode with {what}", *args)


def _same_floats_with_nan(got, expected, what):
    g = as_array(got, what, shape=expected.shape)
    require(np.array_equal(np.isnan(g), np.isnan(expected)),
            f"{what}: NaN where the format has NaN codes\n  expected: {fmt(expected)}\n  got:      {fmt(g)}")
    ok = ~np.isnan(expected)
    assert_close(g[ok], expected[ok], what + " (codes that are not NaN)", atol=0.0, rtol=0.0)


@check("fp_decode", public=True, fmt_=st.sampled_from(FORMATS))
def every_code_by_definition(student, ref, fmt_):
    """Every code should decode by the definition: subnormal (M / 2^m) 2^(1 - bias) for E = 0, normal (1 + M / 2^m) 2^(E - bias), and the format's inf / NaN codes."""
    e, m, fo = fmt_
    codes = np.arange(2 ** (1 + e + m))
    _same_floats_with_nan(student(codes, e, m, fo), _fp_table(e, m, fo),
                          f"fp_decode(every code of the (1, {e}, {m}) format, finite_only={fo})")


@check("fp_decode", public=True, case=st.sampled_from([
    (4, 3, True, [0x7E, 0x7F, 0x08, 0x01, 0x38, 0xB8], [448.0, math.nan, 2.0**-6, 2.0**-9, 1.0, -1.0]),
    (5, 2, False, [0x7B, 0x7C, 0x7D, 0x04, 0x01, 0xFC], [57344.0, math.inf, math.nan, 2.0**-14, 2.0**-16, -math.inf])]))
def fp8_landmarks(student, ref, case):
    """Given as uint8 bytes, the FP8 landmarks of Micikevicius et al. (2022): E4M3 max 448 (0x7E), NaN 0x7F, smallest normal 2^-6, smallest subnormal 2^-9; E5M2 max 57344, inf 0x7C, smallest normal 2^-14, smallest subnormal 2^-16."""
    e, m, fo, codes, values = case
    # as uint8, the dtype FP8 bytes come in (torch's .view(torch.uint8)): field arithmetic must not wrap
    _same_floats_with_nan(student(np.array(codes, dtype=np.uint8), e, m, fo), np.array(values),
                          f"fp_decode(np.array({[hex(c) for c in codes]}, dtype=np.uint8), {e}, {m}, finite_only={fo})")


@check("fp_decode", public=True, bad=st.sampled_from([
    ("code 256 for 8 bits", np.array([256]), 4, 3), ("a negative code", np.array([-1]), 4, 3),
    ("float codes", np.array([1.0]), 4, 3), ("man_bits 11", np.array([1]), 4, 11), ("empty codes", np.array([], dtype=np.int64), 4, 3)]))
def fp_decode__rejects_bad_input(student, ref, bad):
    """fp_decode should raise ValueError for empty, non-integer or out-of-range codes, or exp_bits / man_bits out of range."""
    what, *args = bad
    raises_value_error(student, f"fp_decode with {what}", *args)


# --- bfp_quantize ---------------------------------------------------------------------------------
@st.composite
def bfp_cases(draw):
    block = draw(st.sampled_from([1, 2, 3, 4]))
    rows, nblocks = draw(st.integers(1, 2)), draw(S.sizes(1, 3, large=10))
    x = draw(hnp.arrays(np.float64, (rows, block * nblocks), elements=_elements(100.0)))
    return x, block, draw(st.integers(2, 8))


def _bfp_ok(case) -> bool:
    x, block, p = case
    blocks = x.reshape(x.shape[0], -1, block)
    A = np.abs(blocks).max(axis=-1, keepdims=True)
    step = np.where(A > 0, 2.0 ** (np.floor(np.log2(np.where(A > 0, A, 1.0))) - p + 2), 1.0)
    return _no_tie(blocks / step)


@check("bfp_quantize", public=True, case=bfp_cases())
def shared_exponent_grid_and_error(student, ref, case):
    """Each block's values should be integer multiples m step of step = 2^(floor(log2 max|x_b|) - p + 2) with |m| <= 2^(p-1) - 1, within step of x (step / 2 unless clamped), and an all-zero block should stay 0."""
    x, block, p = case
    got = as_array(student(x, block, p), f"bfp_quantize(x, {block}, {p})", shape=x.shape)
    for r in range(x.shape[0]):
        for b in range(0, x.shape[1], block):
            xb, gb = x[r, b:b + block], got[r, b:b + block]
            A = float(np.abs(xb).max())
            def where(xb=xb, gb=gb, r=r, b=b):
                return f"block {fmt(xb)} (row {r}, from column {b}) -> {fmt(gb)}"
            if A == 0:
                require(np.all(gb == 0), lambda: f"{where()}: an all-zero block should stay 0")
                continue
            step = 2.0 ** (math.frexp(A)[1] - 1 - p + 2)
            m = gb / step
            require(np.all(m == np.round(m)) and np.all(np.abs(m) <= 2 ** (p - 1) - 1),
                    lambda: f"{where()}: values should be integers times the step {step!r} in [-(2^(p-1) - 1), "
                            "2^(p-1) - 1]")
            require(np.all(np.abs(xb - gb) <= step), lambda: f"{where()}: error above the step {step!r}")
            top = 2 ** (p - 1) - 1
            unclamped = np.abs(np.round(xb / step)) <= top
            require(np.all(np.abs(xb - gb)[unclamped] <= step / 2),
                    lambda: f"{where()}: an unclamped entry is more than step / 2 = {step / 2!r} off "
                            "(round to nearest)")


@check("bfp_quantize", public=True, j=st.integers(-5, 5), p=st.integers(3, 6), k=st.integers(-3, 3))
def ties_and_independent_blocks(student, ref, j, p, k):
    """Ties should round half to even, and one block's values should not change another block's result."""
    step = 2.0 ** (j - p + 2)
    k = k % 2 ** (p - 1) - 2 ** (p - 2)  # |k + 1/2| < 2^(p-2) = 2^j / step: the tie stays below the block's max
    # block 1: max 2^j sets the step; (k + 1/2) step is an exact tie
    x = np.array([[2.0**j, (k + 0.5) * step, 1e6, 3.0]])
    got = as_array(student(x, 2, p), f"bfp_quantize({fmt(x)}, 2, {p})", shape=x.shape)
    require(got[0, 0] == 2.0**j and got[0, 1] == round(k + 0.5) * step,
            f"bfp_quantize({fmt(x)}, 2, {p}) first block gives {fmt(got[0, :2])}, expected "
            f"[{2.0**j!r}, {round(k + 0.5) * step!r}] (the tie {k + 0.5} rounds to even)")
    alone = as_array(student(x[:, :2], 2, p), f"bfp_quantize({fmt(x[:, :2])}, 2, {p})", shape=(1, 2))
    require(np.array_equal(alone, got[:, :2]), f"the first block's result changed with the second block: "
                                               f"{fmt(alone)} alone against {fmt(got[:, :2])}")


@check("bfp_quantize", public=True, bad=st.sampled_from([
    ("3 values in blocks of 2", np.ones(3), 2, 4), ("block_size 0", np.ones(4), 0, 4), ("man_bits 1", np.ones(4), 2, 1),
    ("a NaN", np.array([np.nan, 1.0]), 2, 4), ("a 0-d x", np.array(1.0), 1, 4)]))
def bfp_quantize__rejects_bad_input(student, ref, bad):
    """bfp_quantize should raise ValueError for a non-finite, empty or 0-d x, a block size that does not divide the last axis, or man_bits out of range."""
    what, *args = bad
    raises_value_error(student, f"bfp_quantize with {what}", *args)


# --- quantize_multiplier --------------------------------------------------------------------------
# M_0 within 2^-32 of 1 rounds up to 2^31, which the docstring saturates to 2^31 - 1: 1 - 2^-32 is an exact tie
NEAR_ONE = (1 - 2.0**-32, 1 - 2.0**-33, 1 - 2.0**-53)
MULTIPLIERS = st.one_of(st.sampled_from([0.5, 0.25, 0.75, 0.1, 1e-3, *NEAR_ONE, NEAR_ONE[0] / 8]),
                        st.floats(1e-9, 1.0, exclude_max=True))


def _multiplier(student, M):
    got = as_tuple(student(M), 2, f"quantize_multiplier({M!r})")
    return as_int(got[0], "M0"), as_int(got[1], "n")


@check("quantize_multiplier", public=True, M=MULTIPLIERS)
def normalised_and_accurate(student, ref, M):
    """M0 should be an int32 in [2^30, 2^31) with n >= 0, and |M - M0 2^-(31 + n)| <= 2^-(32 + n) (round to nearest)."""
    M0, n = _multiplier(student, M)
    require(2**30 <= M0 < 2**31 and n >= 0, f"quantize_multiplier({M!r}) = ({M0}, {n}): need 2^30 <= M0 < 2^31, n >= 0")
    err = abs(Fraction(M) - Fraction(M0, 2 ** (31 + n)))
    bound = Fraction(1, 2 ** (32 + n)) if M0 < 2**31 - 1 else Fraction(1, 2 ** (31 + n))
    require(err <= bound, f"quantize_multiplier({M!r}) = ({M0}, {n}) represents {float(Fraction(M0, 2 ** (31 + n)))!r}, "
                          f"off by {float(err)!r} > {float(bound)!r}")


@check("quantize_multiplier", public=True, j=st.integers(1, 40))
def powers_of_two(student, ref, j):
    """M = 2^-j is exact: M0 = 2^30 (M_0 = 1/2) and n = j - 1."""
    got = _multiplier(student, 2.0**-j)
    require(got == (2**30, j - 1), f"quantize_multiplier(2**-{j}) should be ({2**30}, {j - 1}), got {got}")


@check("quantize_multiplier", public=True, N=st.integers(2**30, 2**31 - 2), n=st.integers(0, 20))
def q31_ties_round_half_to_even(student, ref, N, n):
    """M = (N + 1/2) 2^-(31 + n) is exactly halfway between two Q31 codes: M0 should round half to even (N if N is even, N + 1 if odd), and n stays n."""
    M = math.ldexp(N + 0.5, -31 - n)  # exact: N + 1/2 needs 32 bits of a double's 53
    expected = (N + N % 2, n)
    got = _multiplier(student, M)
    require(got == expected, f"quantize_multiplier({M!r}) with M 2^(31 + {n}) = {N} + 1/2 exactly\n"
                             f"  expected: {expected} (half to even)\n  got:      {got}")


@check("quantize_multiplier", public=True, f=st.sampled_from(NEAR_ONE), j=st.integers(0, 20))
def saturates_just_below_a_power_of_two(student, ref, f, j):
    """M = f 2^-j with f within 2^-32 of 1 rounds M_0 2^31 up to 2^31, which does not fit an int32: M0 should saturate to 2^31 - 1 with n = j (not renormalise to 2^30 with n - 1)."""
    M = math.ldexp(f, -j)
    got = _multiplier(student, M)
    require(got == (2**31 - 1, j), f"quantize_multiplier({M!r}) = {got}, expected ({2**31 - 1}, {j}): M_0 = {f!r} "
                                   f"rounds to 2^31 and saturates")


@check("quantize_multiplier", public=True, M=st.sampled_from([0.0, 1.0, -0.5, 2.0, math.nan, math.inf]))
def quantize_multiplier__rejects_bad_input(student, ref, M):
    """quantize_multiplier should raise ValueError unless 0 < M < 1."""
    raises_value_error(student, f"quantize_multiplier({M!r})", M)


# --- int_linear -----------------------------------------------------------------------------------
@st.composite
def int_linear_cases(draw, max_in: int = 5):
    N, d_in, d_out = draw(st.integers(1, 3)), draw(st.integers(1, max_in)), draw(st.integers(1, 3))
    bits = draw(st.sampled_from([8, 8, 4, 2]))
    q_max = 2**bits - 1
    x_q = draw(hnp.arrays(np.int64, (N, d_in), elements=st.integers(0, q_max)))
    W_q = draw(hnp.arrays(np.int64, (d_out, d_in), elements=st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)))
    b_q = draw(hnp.arrays(np.int64, (d_out,), elements=st.integers(-3000, 3000)))
    M0 = draw(st.integers(2**30, 2**31 - 1))
    n = draw(st.integers(0, 12))
    return x_q, draw(st.integers(0, q_max)), W_q, b_q, M0, n, draw(st.integers(0, q_max)), bits


def _exact_int_linear(x_q, zp_x, W_q, b_q, M0, n, zp_y, bits) -> np.ndarray:
    """Python integers and ties away from zero: independent of any NumPy integer type."""
    s = 31 + n
    x = np.asarray(x_q).astype(object) - int(zp_x)  # object arrays of Python integers: exact, any size
    w = np.asarray(W_q).astype(object)
    acc = x.dot(w.T) + np.asarray(b_q).astype(object)
    v = acc * int(M0)
    r = (abs(v) + 2 ** (s - 1)) >> s
    y = np.where(v >= 0, r, -r) + int(zp_y)
    return np.array([[min(max(int(t), 0), 2**bits - 1) for t in row] for row in y], dtype=np.int64).reshape(acc.shape)


@check("int_linear", public=True, case=int_linear_cases())
def exact_integer_requantization(student, ref, case):
    """y_q should be clamp(zp_y + round(acc M0 / 2^(31 + n)), 0, 2^k - 1) with acc = sum_j (x_q - zp_x) W_q + b_q, computed exactly, ties away from zero."""
    _same_ints(student(*case), _exact_int_linear(*case), lambda: "int_linear(x_q, zp_x, W_q, b_q, M0, n, zp_y, bits) "
               "with " + ", ".join(fmt(a) for a in case))


@check("int_linear", public=True, a=st.integers(-60, 60), zp_y=st.integers(64, 190))
def rounding_shift_ties_away_from_zero(student, ref, a, zp_y):
    """M0 = 2^30, n = 0 halves the accumulator: an odd accumulator a gives a tie a / 2, which rounds away from zero (3 / 2 -> 2, -3 / 2 -> -2)."""
    x_q = np.array([[64 + a]], dtype=np.int64)
    got = student(x_q, 64, np.array([[1]], dtype=np.int64), np.zeros(1, dtype=np.int64), 2**30, 0, zp_y, 8)
    half = (abs(a) + 1) // 2
    _same_ints(got, [[zp_y + (half if a >= 0 else -half)]], f"int_linear([[{64 + a}]], 64, [[1]], [0], 2^30, 0, {zp_y})")


@check("int_linear", public=True, seed=st.integers(0, 5), n=st.integers(8, 20))
def long_inputs_stay_exact(student, ref, seed, n):
    """With 4,096 inputs of extreme codes (255 and -128, accumulators near 2^27) the output should still be exact: no float32 accumulation."""
    rng = np.random.default_rng(seed)
    x_q = rng.choice([0, 255], size=(2, 4096)).astype(np.int64)
    W_q = rng.choice([-128, 127], size=(2, 4096)).astype(np.int64)
    b_q = np.array([12345, -54321], dtype=np.int64)
    M0 = int(rng.integers(2**30, 2**31))
    case = (x_q, 0, W_q, b_q, M0, n, 128, 8)
    _same_ints(student(*case), _exact_int_linear(*case), f"int_linear(4,096 extreme inputs, M0={M0}, n={n})")


_GOOD = dict(x_q=np.zeros((1, 2), np.int64), zp_x=0, W_q=np.zeros((3, 2), np.int64), b_q=np.zeros(3, np.int64),
             M0=2**30, n=0, zp_y=0, bits=8)


@check("int_linear", public=True, bad=st.sampled_from([
    ("x_q with 3 inputs, W_q with 2", dict(x_q=np.zeros((1, 3), np.int64))),
    ("x_q = 256 at 8 bits", dict(x_q=np.full((1, 2), 256, np.int64))),
    ("W_q = 200", dict(W_q=np.full((3, 2), 200, np.int64))), ("b_q of 2 entries", dict(b_q=np.zeros(2, np.int64))),
    ("M0 = 2^31", dict(M0=2**31)), ("n = -1", dict(n=-1)), ("zp_y = 300", dict(zp_y=300)),
    ("float x_q", dict(x_q=np.zeros((1, 2)))),
    ("an int32 overflow", dict(b_q=np.full(3, 2**31 - 1, np.int64), x_q=np.full((1, 2), 255, np.int64),
                               W_q=np.full((3, 2), 127, np.int64)))]))
def int_linear__rejects_bad_input(student, ref, bad):
    """int_linear should raise ValueError for mismatched shapes, non-integer arrays, codes or parameters out of range, or an accumulator that overflows int32."""
    what, change = bad
    raises_value_error(student, f"int_linear with {what}", **{**_GOOD, **change})


# --- fake_quant_grad ------------------------------------------------------------------------------
@check("fake_quant_grad", public=True, case=quant_cases().filter(lambda c: c[-1]))
def passes_inside_blocks_outside(student, ref, case):
    """The STE should pass grad_out unchanged where q_min <= round(x / scale) + zero_point <= q_max and give exactly 0 where the clamp is active."""
    x, scale, zp, bits, symmetric, _, _ = case
    g = np.linspace(-2.0, 3.0, x.size) + 0.25
    q_min, q_max = _q_range(bits, symmetric)
    t = np.round(x / scale) + zp
    expected = np.where((t >= q_min) & (t <= q_max), g, 0.0)
    assert_close(student(x, g, scale, zp, bits, symmetric), expected,
                 f"fake_quant_grad({fmt(x)}, {fmt(g)}, scale={scale!r}, zero_point={zp}, bits={bits}, "
                 f"symmetric={symmetric})", atol=0.0)


@check("fake_quant_grad", public=True, bits=BITS, j=st.integers(-3, 3), zp=st.integers(0, 3))
def edge_codes_pass(student, ref, bits, j, zp):
    """x whose code lands exactly on q_min or q_max (or a quarter step inside) should pass the gradient; one code beyond (q_min - 1, q_max + 1) should not, on the symmetric and on the affine grid."""
    scale = 2.0**j
    q_max = 2 ** (bits - 1) - 1
    x = scale * np.array([q_max, -q_max, q_max + 0.25, q_max + 1.0, -q_max - 1.0])
    got = as_array(student(x, np.ones(5), scale, 0, bits, True), "grad_x", shape=(5,))
    require(np.array_equal(got, [1.0, 1.0, 1.0, 0.0, 0.0]),
            f"fake_quant_grad({fmt(x)}, ones, {scale}, 0, {bits}, symmetric=True) = {fmt(got)}, expected [1, 1, 1, 0, 0]")
    q_max = 2**bits - 1  # affine codes 0 .. 2^k - 1, x = scale (code - zp)
    x = scale * (np.array([0, q_max, q_max + 1, -1]) - zp)
    got = as_array(student(x, np.ones(4), scale, zp, bits, False), "grad_x", shape=(4,))
    require(np.array_equal(got, [1.0, 1.0, 0.0, 0.0]),
            f"fake_quant_grad({fmt(x)}, ones, {scale}, {zp}, {bits}) = {fmt(got)}, expected [1, 1, 0, 0] "
            f"(codes 0, {q_max}, {q_max + 1}, -1)")


@check("fake_quant_grad", public=True, bits=BITS, j=st.integers(-3, 3), zp=st.integers(0, 5), symmetric=SYMMETRIC)
def clamp_edge_ties_round_half_to_even(student, ref, bits, j, zp, symmetric):
    """Half a step beyond or inside each end of the grid, x / scale = q - zero_point +- 1/2 is a tie: the mask should use round half to even, so round(x / scale) + zero_point may land on q_min - 1 or q_max + 1 (gradient 0) or on the end itself (gradient passes)."""
    scale = 2.0**j
    q_min, q_max = _q_range(bits, symmetric)
    zp = 0 if symmetric else min(zp, q_max)
    t = np.array([q_min - zp - 0.5, q_min - zp + 0.5, q_max - zp - 0.5, q_max - zp + 0.5])
    x = t * scale  # exact: small halves times a power of two
    expected = np.array([1.0 if q_min <= round(v) + zp <= q_max else 0.0 for v in t.tolist()])
    g = np.array([1.0, 2.0, 3.0, 4.0])
    got = as_array(student(x, g, scale, zp, bits, symmetric), "grad_x", shape=(4,))
    require(np.array_equal(got, expected * g),
            f"fake_quant_grad({fmt(x)}, {fmt(g)}, scale={scale}, zero_point={zp}, bits={bits}, symmetric={symmetric}) "
            f"= {fmt(got)}, expected {fmt(expected * g)} (x / scale = {fmt(t)}: ties round half to even)")


@check("fake_quant_grad", public=True, bad=st.sampled_from([
    ("grad_out of another shape", np.ones(2), np.ones(3), 1.0, 0, 8), ("scale 0", np.ones(2), np.ones(2), 0.0, 0, 8),
    ("bits 17", np.ones(2), np.ones(2), 1.0, 0, 17), ("a NaN gradient", np.ones(2), np.array([np.nan, 1.0]), 1.0, 0, 8)]))
def fake_quant_grad__rejects_bad_input(student, ref, bad):
    """fake_quant_grad should raise ValueError for bad quantization parameters or a grad_out that is non-finite or of another shape."""
    what, *args = bad
    raises_value_error(student, f"fake_quant_grad with {what}", *args)


# --- lsq_grads ------------------------------------------------------------------------------------
def _lsq(student, v, g, s, bits):
    got = as_tuple(student(v, g, s, bits), 2, "lsq_grads(v, grad_out, s, bits)")
    return as_array(got[0], "grad_v", shape=v.shape), as_float(got[1], "grad_s")


@st.composite
def lsq_cases(draw):
    bits = draw(st.integers(2, 6))
    s = draw(st.one_of(st.sampled_from([0.25, 0.5, 1.0]), st.floats(0.05, 4.0)))
    v = draw(vectors())
    g = draw(hnp.arrays(np.float64, v.shape, elements=_elements()))
    return v, g, s, bits


def _lsq_clear(case) -> bool:
    v, _, s, bits = case
    t = v / s
    Q_N, Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    return _no_tie(t) and bool(np.all((np.abs(t + Q_N) > TIE) & (np.abs(t - Q_P) > TIE)))


@check("lsq_grads", public=True, case=lsq_cases().filter(_lsq_clear))
def step_gradient_closed_form(student, ref, case):
    """grad_s should be g sum_i grad_out_i d v_hat_i / d s with d v_hat / d s = round(v/s) - v/s inside (-Q_N, Q_P), -Q_N below, Q_P above, and g = 1 / sqrt(N Q_P); grad_v = grad_out inside, 0 outside."""
    v, g, s, bits = case
    grad_v, grad_s = _lsq(student, v, g, s, bits)
    Q_N, Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    t = v / s
    inside = (t > -Q_N) & (t < Q_P)
    d = np.where(inside, np.round(t) - t, np.where(t <= -Q_N, -Q_N, Q_P))
    assert_close(grad_v, np.where(inside, g, 0.0), f"grad_v of lsq_grads({fmt(v)}, {fmt(g)}, {s!r}, {bits})", atol=0.0)
    assert_close(grad_s, float(np.sum(g * d)) / math.sqrt(v.size * Q_P),
                 f"grad_s of lsq_grads({fmt(v)}, {fmt(g)}, {s!r}, {bits})", atol=1e-12)


@check("lsq_grads", public=True, bits=st.integers(2, 6), j=st.integers(-3, 3), n=st.integers(1, 5))
def on_grid_and_boundaries(student, ref, bits, j, n):
    """Values on the grid strictly inside give d v_hat / d s = 0; v / s = -Q_N exactly counts as clipped (-Q_N) and v / s = Q_P as clipped (Q_P), each with grad_v = 0."""
    s = 2.0**j
    Q_N, Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    inner = s * np.arange(-Q_N + 1, Q_P, dtype=np.float64)[:n] if Q_P - (-Q_N + 1) > 0 else np.array([0.0])
    v = np.concatenate([inner, [-Q_N * s, Q_P * s]])
    grad_v, grad_s = _lsq(student, v, np.ones(v.size), s, bits)
    expected_v = np.concatenate([np.ones(inner.size), [0.0, 0.0]])
    require(np.array_equal(grad_v, expected_v), f"grad_v of lsq_grads({fmt(v)}, ones, {s}, {bits}) = {fmt(grad_v)}, "
                                                f"expected {fmt(expected_v)}")
    assert_close(grad_s, (Q_P - Q_N) / math.sqrt(v.size * Q_P), f"grad_s of lsq_grads({fmt(v)}, ones, {s}, {bits})",
                 atol=1e-12)


@check("lsq_grads", public=True, bits=st.integers(2, 6), j=st.integers(-3, 3),
       ks=st.lists(st.integers(0, 62), min_size=1, max_size=6))
def step_gradient_ties_round_half_to_even(student, ref, bits, j, ks):
    """For v / s = k + 1/2 exactly, strictly inside (-Q_N, Q_P), d v_hat / d s = round(v / s) - v / s should use round half to even: +1/2 when k is odd, -1/2 when k is even."""
    s = 2.0**j
    Q_N, Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    t = np.array([-Q_N + k % (Q_N + Q_P - 1) + 0.5 for k in ks])  # the ties in (-Q_N, Q_P)
    v = t * s
    grad_v, grad_s = _lsq(student, v, np.ones(v.size), s, bits)
    d = np.array([round(x) - x for x in t.tolist()])
    what = f"lsq_grads({fmt(v)}, ones, {s}, {bits}) (v / s = {fmt(t)})"
    require(np.array_equal(grad_v, np.ones(v.size)), f"grad_v of {what} = {fmt(grad_v)}, expected all ones (inside)")
    assert_close(grad_s, float(d.sum()) / math.sqrt(v.size * Q_P), f"grad_s of {what}: the ties round half to even",
                 atol=1e-12)


@check("lsq_grads", public=True, bad=st.sampled_from([
    ("s = 0", np.ones(2), np.ones(2), 0.0, 4), ("s = -1", np.ones(2), np.ones(2), -1.0, 4),
    ("bits 1", np.ones(2), np.ones(2), 1.0, 1), ("grad_out of another shape", np.ones(2), np.ones(3), 1.0, 4),
    ("an empty v", np.array([]), np.array([]), 1.0, 4), ("an inf in v", np.array([np.inf]), np.ones(1), 1.0, 4)]))
def lsq_grads__rejects_bad_input(student, ref, bad):
    """lsq_grads should raise ValueError for an empty or non-finite v, a grad_out of another shape, s <= 0, or bits out of range."""
    what, *args = bad
    raises_value_error(student, f"lsq_grads with {what}", *args)


# --- storage_bits ---------------------------------------------------------------------------------
@st.composite
def storage_cases(draw):
    n = draw(st.integers(1, 10**7))
    return n, draw(st.integers(1, 32)), draw(st.integers(1, min(n, 4096))), draw(st.sampled_from([16, 32])), \
        draw(st.sampled_from([0, 8, 32]))


@check("storage_bits", public=True, case=storage_cases())
def weights_plus_metadata(student, ref, case):
    """storage_bits should be n_weights bits + n_groups (scale_bits + zero_point_bits), exactly (an int, even past 2^31; n_weights = 0 and scale_bits = 0 are allowed)."""
    n, k, groups, sb, zb = case
    got = as_int(student(*case), f"storage_bits{case}")
    require(got == n * k + groups * (sb + zb), f"storage_bits{case}\n  expected: {n * k + groups * (sb + zb)}\n"
                                               f"  got:      {got}")
    for args, expected in (((10**9, 32, 1, 32, 0), 32 * 10**9 + 32), ((0, 8, 1, 32, 0), 32), ((n, k, groups, 0, 0), n * k)):
        got = as_int(student(*args), f"storage_bits{args}")
        require(got == expected, f"storage_bits{args} should be {expected}, got {got}")


@check("storage_bits", public=True, bad=st.sampled_from([(10, 0, 1), (10, 8, 0), (10, 8, 11), (-1, 8, 1), (10, 33, 1),
                                                          (10.0, 8, 1), (10, 8, 1, -1), (10, 8, 1, 32, -1)]))
def storage_bits__rejects_bad_input(student, ref, bad):
    """storage_bits should raise ValueError for a count that is not an integer or out of range (bits in [1, 32], 1 <= n_groups <= n_weights)."""
    raises_value_error(student, f"storage_bits{bad}", *bad)
