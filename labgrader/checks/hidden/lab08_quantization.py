"""Lab 8 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab08_quantization.py (the public
checks) and not this file. ``labgrader.checks.load("lab08_quantization")`` registers them after the public ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...assertions import as_int, assert_close, fmt, require
from ..lab08_quantization import BITS, FORMATS, MULTIPLIERS, SYMMETRIC, _bfp_ok, _call_desc, _clear_zero_point, _lsq, _lsq_clear, _multiplier, _qcall, _range, _same_floats_with_nan, _same_ints, _student_params, bfp_cases, check, codes_cases, fp_cases, int_linear_cases, lsq_cases, quant_cases, ranges, storage_cases, vectors


# --- quant_params ---------------------------------------------------------------------------------
@check("quant_params", case=st.tuples(ranges(), BITS, SYMMETRIC).filter(_clear_zero_point))
def quant_params__agrees_with_reference(student, ref, case):
    """quant_params(x_min, x_max, bits, symmetric) should return the reference's scale and zero point."""
    (lo, hi), bits, symmetric = case
    scale, zp = _student_params(student, lo, hi, bits, symmetric)
    r_scale, r_zp = ref(lo, hi, bits, symmetric)
    assert_close(scale, r_scale, _call_desc("quant_params", lo, hi, bits, symmetric) + "[0], the scale")
    _same_ints(zp, r_zp, _call_desc("quant_params", lo, hi, bits, symmetric) + "[1], the zero point")


# --- quantize -------------------------------------------------------------------------------------
@check("quantize", case=st.one_of(quant_cases(), quant_cases(per_channel=True)).filter(lambda c: c[-1]))
def quantize__agrees_with_reference(student, ref, case):
    """quantize(x, scale, zero_point, bits, symmetric, axis) should return the reference's integer codes."""
    x, scale, zp, bits, symmetric, axis, _ = case
    _same_ints(_qcall(student, case), ref(x, scale, zp, bits, symmetric, axis),
               f"quantize(x, scale={fmt(scale)}, zero_point={fmt(zp)}, bits={bits}, symmetric={symmetric}, axis={axis})")


# --- dequantize -----------------------------------------------------------------------------------
@check("dequantize", case=codes_cases())
def dequantize__agrees_with_reference(student, ref, case):
    """dequantize(q, scale, zero_point, axis) should return the reference's reals."""
    q, scale, zp, axis = case
    assert_close(student(q, scale, zp, axis), ref(q, scale, zp, axis),
                 f"dequantize({fmt(q)}, {fmt(scale)}, {fmt(zp)}, axis={axis})")


# --- calibrate_range ------------------------------------------------------------------------------
@check("calibrate_range", x=vectors(max_size=12), bits=BITS,
       method=st.sampled_from(["minmax", "percentile"]), p=st.sampled_from([99.0, 90.0, 75.0, 100.0]))
def calibrate_range__agrees_with_reference(student, ref, x, bits, method, p):
    """calibrate_range(x, bits, method) should return the reference's range for "minmax" and "percentile"."""
    got = _range(student, x, bits, method, False, p, 100)
    expected = ref(x, bits, method, False, p, 100)
    assert_close(np.array(got), np.array(expected), f"calibrate_range(x, {bits}, {method!r}, percentile={p})",
                 atol=1e-9)


# --- fp_encode ------------------------------------------------------------------------------------
@check("fp_encode", case=fp_cases())
def fp_encode__agrees_with_reference(student, ref, case):
    """fp_encode(x, exp_bits, man_bits, finite_only) should return the reference's bit codes."""
    x, e, m, fo = case
    _same_ints(student(x, e, m, fo), ref(x, e, m, fo), f"fp_encode({fmt(x)}, {e}, {m}, finite_only={fo})")


# --- fp_decode ------------------------------------------------------------------------------------
@check("fp_decode", fmt_=st.sampled_from(FORMATS), seed=st.integers(0, 50))
def fp_decode__agrees_with_reference(student, ref, fmt_, seed):
    """fp_decode(codes, exp_bits, man_bits, finite_only) should return the reference's values (inf and NaN included)."""
    e, m, fo = fmt_
    codes = np.random.default_rng(seed).integers(0, 2 ** (1 + e + m), 8)
    _same_floats_with_nan(student(codes, e, m, fo), ref(codes, e, m, fo),
                          f"fp_decode({fmt(codes)}, {e}, {m}, finite_only={fo})")


# --- bfp_quantize ---------------------------------------------------------------------------------
@check("bfp_quantize", case=bfp_cases().filter(_bfp_ok))
def bfp_quantize__agrees_with_reference(student, ref, case):
    """bfp_quantize(x, block_size, man_bits) should return the reference's values."""
    x, block, p = case
    assert_close(student(x, block, p), ref(x, block, p), f"bfp_quantize({fmt(x)}, {block}, {p})", atol=0.0)


# --- quantize_multiplier --------------------------------------------------------------------------
@check("quantize_multiplier", M=MULTIPLIERS)
def quantize_multiplier__agrees_with_reference(student, ref, M):
    """quantize_multiplier(M) should return the reference's (M0, n)."""
    got = _multiplier(student, M)
    expected = tuple(int(v) for v in ref(M))
    require(got == expected, f"quantize_multiplier({M!r})\n  expected: {expected}\n  got:      {got}")


# --- int_linear -----------------------------------------------------------------------------------
@check("int_linear", case=int_linear_cases())
def int_linear__agrees_with_reference(student, ref, case):
    """int_linear(x_q, zp_x, W_q, b_q, M0, n, zp_y, bits) should return the reference's output codes."""
    _same_ints(student(*case), ref(*case), "int_linear(x_q, zp_x, W_q, b_q, M0, n, zp_y, bits) with "
               + ", ".join(fmt(a) for a in case))


# --- fake_quant_grad ------------------------------------------------------------------------------
@check("fake_quant_grad", case=quant_cases().filter(lambda c: c[-1]))
def fake_quant_grad__agrees_with_reference(student, ref, case):
    """fake_quant_grad(x, grad_out, scale, zero_point, bits, symmetric) should return the reference's gradient."""
    x, scale, zp, bits, symmetric, _, _ = case
    g = np.linspace(-2.0, 3.0, x.size)
    assert_close(student(x, g, scale, zp, bits, symmetric), ref(x, g, scale, zp, bits, symmetric),
                 f"fake_quant_grad({fmt(x)}, {fmt(g)}, {scale!r}, {zp}, {bits}, {symmetric})", atol=0.0)


# --- lsq_grads ------------------------------------------------------------------------------------
@check("lsq_grads", case=lsq_cases().filter(_lsq_clear))
def lsq_grads__agrees_with_reference(student, ref, case):
    """lsq_grads(v, grad_out, s, bits) should return the reference's (grad_v, grad_s)."""
    v, g, s, bits = case
    grad_v, grad_s = _lsq(student, v, g, s, bits)
    r_v, r_s = ref(v, g, s, bits)
    assert_close(grad_v, r_v, "grad_v", atol=0.0)
    assert_close(grad_s, r_s, f"grad_s of lsq_grads({fmt(v)}, {fmt(g)}, {s!r}, {bits})", atol=1e-12)


# --- storage_bits ---------------------------------------------------------------------------------
@check("storage_bits", case=storage_cases())
def storage_bits__agrees_with_reference(student, ref, case):
    """storage_bits(n_weights, bits, n_groups, scale_bits, zero_point_bits) should return the reference's count."""
    got = as_int(student(*case), f"storage_bits{case}")
    require(got == ref(*case), f"storage_bits{case}\n  expected: {ref(*case)}\n  got:      {got}")
