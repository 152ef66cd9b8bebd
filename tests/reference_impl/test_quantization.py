"""Tests of the NumPy quantization reference (Lab 8) against oracles from elsewhere.

Oracles: ``torch.fake_quantize_per_tensor_affine`` / ``per_channel_affine`` (quantize then
dequantize), torch's ``float8_e4m3fn`` / ``float8_e5m2`` casts (bit codes through ``view(uint8)``),
torch autograd through the fake quantizers (the STE mask) and
``torch._fake_quantize_learnable_per_tensor_affine`` (LSQ's step gradient), Python's exact
``fractions.Fraction`` arithmetic (fixed-point requantization), brute-force enumeration of all
float codes, closed forms worked out by hand in comments, and the error bound
|x - deq(q(x))| <= scale / 2 inside the range. No expected value was produced by the code under test.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.quantization import (bfp_quantize, calibrate_range, dequantize, fake_quant_grad, fp_decode,
                                         fp_encode, int_linear, lsq_grads, quant_params, quantize,
                                         quantize_multiplier, storage_bits)

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)
FLOATS = st.floats(-100, 100, allow_nan=False, allow_subnormal=False, width=32).map(float)
BITS = st.integers(2, 8)


def vectors(min_size=1, max_size=30):
    return hnp.arrays(np.float64, st.integers(min_size, max_size), elements=FLOATS)


def _torch_qrange(bits, symmetric):
    return (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


# --- quant_params ------------------------------------------------------------------------------------
def test_quant_params_by_hand():
    # [-1, 3] at 8 bits: scale 4 / 255, zero point round(1 / (4/255)) = round(63.75) = 64
    scale, zp = quant_params(-1.0, 3.0, 8)
    assert scale == pytest.approx(4 / 255) and int(zp) == 64
    # symmetric: max(|-1|, 3) / 127
    scale, zp = quant_params(-1.0, 3.0, 8, symmetric=True)
    assert scale == pytest.approx(3 / 127) and int(zp) == 0
    # a positive range is widened to contain 0: [2, 5] -> [0, 5], zero point 0
    scale, zp = quant_params(2.0, 5.0, 4)
    assert scale == pytest.approx(5 / 15) and int(zp) == 0
    # width 0: scale 1
    scale, zp = quant_params(0.0, 0.0, 8)
    assert scale == 1.0 and int(zp) == 0


@SETTINGS
@given(a=FLOATS, b=FLOATS, bits=BITS, symmetric=st.booleans())
def test_zero_is_exact_and_ends_in_range(a, b, bits, symmetric):
    lo, hi = min(a, b), max(a, b)
    scale, zp = quant_params(lo, hi, bits, symmetric)
    q = quantize(np.array([0.0, lo, hi]), scale, zp, bits, symmetric)
    assert dequantize(q[:1], scale, zp)[0] == 0.0
    # the range's ends land within half a step of their codes (no clipping of the calibrated range)
    x_hat = dequantize(q, scale, zp)
    assert np.all(np.abs(x_hat - np.array([0.0, lo, hi])) <= scale / 2 * (1 + 1e-9) + 1e-12)


def test_quant_params_per_channel_matches_per_scalar():
    lo, hi = np.array([-1.0, 0.0, -3.0]), np.array([1.0, 2.0, 0.5])
    scale, zp = quant_params(lo, hi, 8)
    for j in range(3):
        s, z = quant_params(lo[j], hi[j], 8)
        assert scale[j] == s and zp[j] == z


@pytest.mark.parametrize("args", [(0.0, 1.0, 1), (0.0, 1.0, 17), (0.0, 1.0, 8.0), (1.0, 0.0, 8), (0.0, np.inf, 8),
                                  (np.zeros(2), np.ones(3), 8), (np.nan, 1.0, 8)])
def test_quant_params_rejects(args):
    with pytest.raises(ValueError):
        quant_params(*args)


# --- quantize / dequantize against torch -------------------------------------------------------------
@SETTINGS
@given(x=vectors(), bits=BITS, symmetric=st.booleans())
def test_fake_quant_matches_torch(x, bits, symmetric):
    scale, zp = quant_params(x.min(), x.max(), bits, symmetric)
    s32 = float(np.float32(scale))  # torch holds the scale in float32: use the same scale on both sides
    t = x / s32
    assume(np.all(np.abs(t - np.floor(t) - 0.5) > 1e-3))  # torch multiplies by 1/scale: ties may differ
    ours = dequantize(quantize(x, s32, zp, bits, symmetric), s32, zp)
    q_min, q_max = _torch_qrange(bits, symmetric)
    theirs = torch.fake_quantize_per_tensor_affine(torch.tensor(x), s32, int(zp), q_min, q_max).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * s32)


@SETTINGS
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=FLOATS), bits=BITS,
       axis=st.sampled_from([0, 1, -1]))
def test_per_channel_matches_torch(x, bits, axis):
    other = tuple(a for a in range(2) if a != axis % 2)
    scale, zp = quant_params(x.min(axis=other), x.max(axis=other), bits)
    s32 = scale.astype(np.float32).astype(np.float64)
    shape = [1, 1]
    shape[axis] = -1
    t = x / s32.reshape(shape)
    assume(np.all(np.abs(t - np.floor(t) - 0.5) > 1e-3))
    ours = dequantize(quantize(x, s32, zp, bits, axis=axis), s32, zp, axis=axis)
    theirs = torch.fake_quantize_per_channel_affine(torch.tensor(x), torch.tensor(s32, dtype=torch.float32),
                                                    torch.tensor(zp, dtype=torch.int32), axis % 2, 0, 2**bits - 1)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-6 * s32.max())


def test_rounding_is_half_to_even_before_the_zero_point():
    # x / scale = 0.5, 1.5, 2.5, -0.5 -> 0, 2, 2, 0 (even), then + zero point 1
    q = quantize(np.array([0.5, 1.5, 2.5, -0.5]), 1.0, 1, 8)
    assert q.tolist() == [1, 3, 3, 1]


@SETTINGS
@given(x=vectors(max_size=200), bits=BITS, symmetric=st.booleans())
def test_error_bound_inside_range(x, bits, symmetric):
    scale, zp = quant_params(x.min(), x.max(), bits, symmetric)
    err = np.abs(x - dequantize(quantize(x, scale, zp, bits, symmetric), scale, zp))
    assert np.all(err <= scale / 2 * (1 + 1e-9))


def test_inputs_are_not_modified():
    x = np.array([0.3, -1.2, 2.0])
    keep = x.copy()
    quantize(x, 0.1, 3, 8)
    calibrate_range(x, 4, "mse")
    fp_encode(x, 4, 3, True)
    bfp_quantize(x.reshape(1, 3), 3, 4)
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("kwargs", [dict(x=np.array([]), scale=1.0, zero_point=0, bits=8),
                                    dict(x=np.array([np.nan]), scale=1.0, zero_point=0, bits=8),
                                    dict(x=np.ones(2), scale=0.0, zero_point=0, bits=8),
                                    dict(x=np.ones(2), scale=1.0, zero_point=256, bits=8),
                                    dict(x=np.ones(2), scale=1.0, zero_point=0.5, bits=8),
                                    dict(x=np.ones(2), scale=1.0, zero_point=0, bits=1),
                                    dict(x=np.ones((2, 3)), scale=np.ones(2), zero_point=np.zeros(2, int), bits=8, axis=1),
                                    dict(x=np.ones((2, 3)), scale=np.ones(2), zero_point=np.zeros(2, int), bits=8, axis=2)])
def test_quantize_rejects(kwargs):
    with pytest.raises(ValueError):
        quantize(**kwargs)


def test_dequantize_rejects():
    for args in ((np.array([0.5]), 1.0, 0), (np.array([], dtype=int), 1.0, 0), (np.array([1]), -1.0, 0)):
        with pytest.raises(ValueError):
            dequantize(*args)


# --- calibration -------------------------------------------------------------------------------------
def test_calibration_by_hand():
    x = np.arange(1001, dtype=np.float64) - 500.0  # -500 .. 500
    assert calibrate_range(x, 8) == (-500.0, 500.0)
    assert calibrate_range(x, 8, "percentile", percentile=99.0) == pytest.approx((-490.0, 490.0))


@SETTINGS
@given(x=vectors(max_size=40), bits=st.integers(2, 4), symmetric=st.booleans())
def test_mse_calibration_is_the_brute_force_minimum(x, bits, symmetric):
    grid = 20
    lo, hi = calibrate_range(x, bits, "mse", symmetric, grid=grid)

    def err(a, b):
        s, z = quant_params(a, b, bits, symmetric)
        # an independent fake quantizer: torch's
        q_min, q_max = _torch_qrange(bits, symmetric)
        t = torch.fake_quantize_per_tensor_affine(torch.tensor(x), float(s), int(z), q_min, q_max).numpy()
        return float(np.mean((x - t) ** 2))

    a0, b0 = min(x.min(), 0.0), max(x.max(), 0.0)
    errs = [err(a0 * i / grid, b0 * i / grid) for i in range(1, grid + 1)]
    # torch's float32 scale and 1/scale differ from ours by float32 rounding: compare with slack
    assert err(lo, hi) <= min(errs) * (1 + 1e-4) + 1e-9 * (b0 - a0) ** 2
    assert err(lo, hi) <= err(a0, b0) * (1 + 1e-4) + 1e-9


def test_mse_clips_an_outlier():
    x = np.concatenate([np.linspace(-1, 1, 999), [100.0]])
    lo, hi = calibrate_range(x, 4, "mse")
    assert hi < 100.0


@pytest.mark.parametrize("kwargs", [dict(method="max"), dict(method="percentile", percentile=50),
                                    dict(method="mse", grid=0), dict(bits=1)])
def test_calibration_rejects(kwargs):
    with pytest.raises(ValueError):
        calibrate_range(np.ones(3), **{"bits": 8, **kwargs})


# --- low-precision floats against torch --------------------------------------------------------------
FORMATS = [(torch.float8_e4m3fn, 4, 3, True, 448.0), (torch.float8_e5m2, 5, 2, False, 57344.0)]


@pytest.mark.parametrize("dtype,e,m,finite_only,largest", FORMATS)
def test_fp_decode_every_code_matches_torch(dtype, e, m, finite_only, largest):
    codes = np.arange(256)
    theirs = torch.from_numpy(codes.astype(np.uint8)).view(dtype).double().numpy()
    np.testing.assert_array_equal(fp_decode(codes, e, m, finite_only), theirs)
    assert np.nanmax(fp_decode(codes, e, m, finite_only)[np.isfinite(theirs)]) == largest


@pytest.mark.parametrize("dtype,e,m,finite_only,largest", FORMATS)
def test_fp_encode_matches_torch_casts(dtype, e, m, finite_only, largest):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(5000) * 10.0 ** rng.integers(-8, 5, 5000), [0.0, -0.0]])
    x = np.clip(x, -largest, largest).astype(np.float32)  # torch's cast does not saturate: stay in range
    theirs = torch.from_numpy(x).to(dtype).view(torch.uint8).numpy().astype(np.int64)
    np.testing.assert_array_equal(fp_encode(x.astype(np.float64), e, m, finite_only), theirs)


@pytest.mark.parametrize("dtype,e,m,finite_only,largest", FORMATS)
def test_fp_encode_saturates(dtype, e, m, finite_only, largest):
    codes = fp_encode(np.array([1e9, -1e9]), e, m, finite_only)
    np.testing.assert_array_equal(fp_decode(codes, e, m, finite_only), [largest, -largest])


def test_fp_round_trip_brute_force_nearest():
    # every finite code of a small (1, 3, 2) format, and points between neighbours: nearest, ties to even mantissa
    e, m = 3, 2
    values = fp_decode(np.arange(2 ** (1 + e + m)), e, m)
    finite = np.unique(values[np.isfinite(values)])
    mids = (finite[:-1] + finite[1:]) / 2
    x = np.concatenate([finite, mids, mids + 1e-9, mids - 1e-9])
    got = fp_decode(fp_encode(x, e, m), e, m)
    for xi, gi in zip(x, got):
        d = np.abs(finite - xi)
        nearest = finite[d == d.min()]
        assert gi in nearest
        if len(nearest) == 2:  # a tie: the even mantissa wins
            assert int(fp_encode(np.array([gi]), e, m)[0]) % 2 == 0


def test_fp_rejects():
    for call in (lambda: fp_encode(np.array([np.inf]), 4, 3), lambda: fp_encode(np.array([]), 4, 3),
                 lambda: fp_encode(np.ones(1), 1, 3), lambda: fp_decode(np.array([256]), 4, 3),
                 lambda: fp_decode(np.array([1.0]), 4, 3), lambda: fp_decode(np.array([1]), 4, 11)):
        with pytest.raises(ValueError):
            call()


# --- block floating point ----------------------------------------------------------------------------
def test_bfp_by_hand():
    # block [3, 0.3, -0.1, 0]: A = 3, E = 1, p = 4 -> step 2^(1 - 4 + 2) = 0.5; 3/0.5 = 6, 0.3/0.5 = 0.6 -> 1,
    # -0.1/0.5 = -0.2 -> 0; second block [0.25, ...]: A = 0.25, E = -2, step 2^(-2 - 4 + 2) = 1/16:
    # 0.1 * 16 = 1.6 -> 2, -0.2 * 16 = -3.2 -> -3
    x = np.array([3.0, 0.3, -0.1, 0.0, 0.25, 0.1, 0.0, -0.2])
    got = bfp_quantize(x, 4, 4)
    np.testing.assert_allclose(got, [3.0, 0.5, 0.0, 0.0, 0.25, 0.125, 0.0, -3 / 16])


@SETTINGS
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.sampled_from([4, 8])), elements=FLOATS),
       block=st.sampled_from([1, 2, 4]), p=st.integers(2, 8))
def test_bfp_error_bound_and_grid(x, block, p):
    got = bfp_quantize(x, block, p)
    for row, g in zip(x, got):
        for b in range(0, len(row), block):
            xb, gb = row[b:b + block], g[b:b + block]
            A = np.abs(xb).max()
            if A == 0:
                assert np.all(gb == 0)
                continue
            step = 2.0 ** (math.floor(math.log2(A)) - p + 2)
            assert np.all(np.abs(xb - gb) <= step * (1 + 1e-12))
            codes = gb / step
            np.testing.assert_array_equal(codes, np.round(codes))
            assert np.all(np.abs(codes) <= 2 ** (p - 1) - 1)


def test_bfp_rejects():
    for args in ((np.ones(3), 2, 4), (np.ones(4), 0, 4), (np.ones(4), 2, 1), (np.array([np.nan, 1]), 2, 4),
                 (np.array(1.0), 1, 4)):
        with pytest.raises(ValueError):
            bfp_quantize(*args)


# --- fixed-point multiplier and the integer-only layer ----------------------------------------------
@SETTINGS
@given(M=st.floats(1e-9, 1.0, exclude_max=True))
def test_quantize_multiplier_closed_form(M):
    M0, n = quantize_multiplier(M)
    assert 2**30 <= M0 < 2**31 and n >= 0
    assert abs(Fraction(M) - Fraction(M0, 2 ** (31 + n))) <= Fraction(1, 2 ** (31 + n))


def test_quantize_multiplier_by_hand():
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(0.25) == (2**30, 1)
    assert quantize_multiplier(0.75) == (3 * 2**29, 0)
    for bad in (0.0, 1.0, -0.5, math.nan, True):
        with pytest.raises(ValueError):
            quantize_multiplier(bad)


def _rshift_exact(v: int, s: int) -> int:
    """round(v / 2^s), ties away from zero, in exact rationals."""
    f = Fraction(abs(v), 2**s)
    r = math.floor(f + Fraction(1, 2))
    return r if v >= 0 else -r


@SETTINGS
@given(N=st.integers(1, 3), d_in=st.integers(1, 6), d_out=st.integers(1, 4), seed=st.integers(0, 1000),
       M=st.floats(1e-6, 0.9))
def test_int_linear_against_exact_integers(N, d_in, d_out, seed, M):
    rng = np.random.default_rng(seed)
    x_q = rng.integers(0, 256, (N, d_in))
    W_q = rng.integers(-128, 128, (d_out, d_in))
    b_q = rng.integers(-5000, 5000, d_out)
    zp_x, zp_y = int(rng.integers(0, 256)), int(rng.integers(0, 256))
    M0, n = quantize_multiplier(M)
    assume(n <= 31)
    got = int_linear(x_q, zp_x, W_q, b_q, M0, n, zp_y)
    for i in range(N):
        for o in range(d_out):
            acc = sum((int(x_q[i, j]) - zp_x) * int(W_q[o, j]) for j in range(d_in)) + int(b_q[o])
            expected = min(255, max(0, zp_y + _rshift_exact(acc * M0, 31 + n)))
            assert got[i, o] == expected


def test_int_linear_tracks_the_float_layer():
    rng = np.random.default_rng(1)
    x, W, b = rng.uniform(0, 4, (20, 16)), rng.standard_normal((5, 16)) * 0.3, rng.standard_normal(5) * 0.1
    y = x @ W.T + b
    s_x, zp_x = quant_params(0.0, 4.0, 8)
    s_w, _ = quant_params(-np.abs(W).max(), np.abs(W).max(), 8, symmetric=True)
    s_y, zp_y = quant_params(y.min(), y.max(), 8)
    x_q = quantize(x, s_x, zp_x, 8)
    W_q = quantize(W, s_w, 0, 8, symmetric=True)
    b_q = np.round(b / (s_x * s_w)).astype(np.int64)
    M0, n = quantize_multiplier(float(s_x * s_w / s_y))
    y_hat = dequantize(int_linear(x_q, int(zp_x), W_q, b_q, M0, n, int(zp_y)), s_y, zp_y)
    assert np.max(np.abs(y_hat - y)) < 4 * float(s_y)


def test_int_linear_rejects():
    ok = dict(x_q=np.zeros((1, 2), int), zp_x=0, W_q=np.zeros((3, 2), int), b_q=np.zeros(3, int), M0=2**30, n=0,
              zp_y=0)
    for bad in (dict(x_q=np.zeros((1, 3), int)), dict(x_q=np.full((1, 2), 256)), dict(W_q=np.full((3, 2), 200)),
                dict(b_q=np.zeros(2, int)), dict(M0=2**31), dict(n=-1), dict(zp_y=300), dict(x_q=np.zeros((1, 2))),
                dict(b_q=np.full(3, 2**31 - 1), x_q=np.full((1, 2), 255), W_q=np.full((3, 2), 127))):
        with pytest.raises(ValueError):
            int_linear(**{**ok, **bad})


# --- STE and LSQ against torch autograd ---------------------------------------------------------------
@SETTINGS
@given(x=vectors(), bits=BITS, symmetric=st.booleans(), shrink=st.floats(0.2, 1.0))
def test_ste_mask_matches_torch(x, bits, symmetric, shrink):
    scale, zp = quant_params(shrink * x.min(), shrink * x.max(), bits, symmetric)
    s32 = float(np.float32(scale))
    t = x / s32
    assume(np.all(np.abs(t - np.floor(t) - 0.5) > 1e-3))
    g = np.linspace(-1, 1, x.size)
    xt = torch.tensor(x, requires_grad=True)
    q_min, q_max = _torch_qrange(bits, symmetric)
    torch.fake_quantize_per_tensor_affine(xt, s32, int(zp), q_min, q_max).backward(torch.tensor(g))
    np.testing.assert_array_equal(fake_quant_grad(x, g, s32, zp, bits, symmetric), xt.grad.numpy())


@SETTINGS
@given(v=vectors(), bits=st.integers(2, 8), s=st.floats(0.125, 16.0, width=32).map(float))
def test_lsq_matches_torch_learnable_fake_quant(v, bits, s):
    Q_N, Q_P = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    t = v / s
    # torch decides "inside" from the rounded value, LSQ from v / s: compare away from the band between them
    assume(np.all((t < -Q_N - 0.5) | ((t > -Q_N + 1e-3) & (t < Q_P - 1e-3)) | (t > Q_P + 0.5)))
    assume(np.all(np.abs(t - np.floor(t) - 0.5) > 1e-3))
    g = np.cos(np.arange(v.size))
    vt = torch.tensor(v, dtype=torch.float32, requires_grad=True)
    st_ = torch.tensor([s], dtype=torch.float32, requires_grad=True)
    factor = 1.0 / math.sqrt(v.size * Q_P)
    out = torch._fake_quantize_learnable_per_tensor_affine(vt, st_, torch.tensor([0.0]), -Q_N, Q_P, factor)
    out.backward(torch.tensor(g, dtype=torch.float32))
    grad_v, grad_s = lsq_grads(v, g, s, bits)
    np.testing.assert_allclose(grad_v, vt.grad.numpy(), atol=1e-6)
    assert grad_s == pytest.approx(float(st_.grad), rel=1e-4, abs=1e-4)


def test_lsq_by_hand():
    # bits 2: Q_N = 2, Q_P = 1, g = 1 / sqrt(4 * 1); v / s = [-3, -0.4, 0.6, 2]
    grad_v, grad_s = lsq_grads(np.array([-3.0, -0.4, 0.6, 2.0]), np.ones(4), 1.0, 2)
    np.testing.assert_array_equal(grad_v, [0, 1, 1, 0])
    # d/ds: -2, (0 + 0.4), (1 - 0.6), 1 -> sum -0.2, times 1/2
    assert grad_s == pytest.approx(-0.1)


def test_grads_reject():
    with pytest.raises(ValueError):
        fake_quant_grad(np.ones(2), np.ones(3), 1.0, 0, 8)
    with pytest.raises(ValueError):
        lsq_grads(np.ones(2), np.ones(2), 0.0, 8)
    with pytest.raises(ValueError):
        lsq_grads(np.ones(2), np.ones(2), 1.0, 1)


# --- storage ------------------------------------------------------------------------------------------
def test_storage_bits_closed_form():
    # a 64 x 256 layer at 4 bits, per output channel (256 float32 scales): 16384 * 4 + 256 * 32
    assert storage_bits(64 * 256, 4, 256) == 65536 + 8192
    assert storage_bits(10, 8, 1, 32, 8) == 80 + 40
    for bad in ((10, 0, 1), (10, 8, 0), (10, 8, 11), (-1, 8, 1), (10, 33, 1), (10.0, 8, 1)):
        with pytest.raises(ValueError):
            storage_bits(*bad)
