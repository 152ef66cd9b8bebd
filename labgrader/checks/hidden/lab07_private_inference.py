"""Lab 7 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab07_private_inference.py (the public
checks) and not this file. ``labgrader.checks.load("lab07_private_inference")`` registers them after the public ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...assertions import assert_close, fmt, require
from ..lab07_private_inference import DEGREES, FRAC_BITS, MUS, SEEDS, SIGMAS, TS, _mask, _matmul_result, _product_result, as_pair, as_ring, check, grad_aux, mask_aux, matmul_operands, matmul_setup, mul_setup, reals_and_bits, ring_arrays, ring_equal


# --- encode_fixed ---------------------------------------------------------------------------------
@check("encode_fixed", xf=reals_and_bits())
def encode_fixed__agrees_with_reference(student, ref, xf):
    """encode_fixed(x, f) should equal round(x * 2^f) mod 2^64 (two's complement for negatives, ties to even), as uint64."""
    x, f = xf
    ring_equal(as_ring(student(x, f), f"encode_fixed(x, {f})", x.shape), ref(x, f), f"encode_fixed(x, {f})")


# --- decode_fixed ---------------------------------------------------------------------------------
@check("decode_fixed", u=ring_arrays(), f=FRAC_BITS)
def decode_fixed__agrees_with_reference(student, ref, u, f):
    """decode_fixed(u, f) should read u as a signed (two's complement) integer and divide by 2^f."""
    assert_close(student(u, f), ref(u, f), f"decode_fixed(u, {f})", rtol=0, atol=0)


# --- share ----------------------------------------------------------------------------------------
@check("share", xr=ring_arrays(2))
def share__agrees_with_reference(student, ref, xr):
    """share(x, r) should return (x0, x1) = (r, x - r mod 2^64)."""
    x, r = xr
    got = as_pair(student(x, r), "share(x, r)", x.shape)
    exp = ref(x, r)
    ring_equal(got[0], exp[0], "share(x, r)[0] (party 0's share)")
    ring_equal(got[1], exp[1], "share(x, r)[1] (party 1's share)")


# --- reconstruct ----------------------------------------------------------------------------------
@check("reconstruct", xs=ring_arrays(2))
def reconstruct__agrees_with_reference(student, ref, xs):
    """reconstruct(x0, x1) should equal x0 + x1 mod 2^64."""
    x0, x1 = xs
    ring_equal(as_ring(student(x0, x1), "reconstruct(x0, x1)", x0.shape), ref(x0, x1), "reconstruct(x0, x1)")


# --- beaver_mul -----------------------------------------------------------------------------------
@check("beaver_mul", xy=ring_arrays(2), seed=SEEDS)
def beaver_mul__agrees_with_reference(student, ref, xy, seed):
    """beaver_mul should open e = x - a, f = y - b and return z_i = c_i + e b_i + a_i f, with e f added to party 0's share only."""
    x, y = xy
    xs, ys, triple, _, _ = mul_setup(x, y, seed)
    z0, z1, e, f = _product_result(student(xs, ys, triple), "beaver_mul(x_shares, y_shares, triple)",
                                   x.shape, x.shape, x.shape)
    (r0, r1), (re, rf) = ref(xs, ys, triple)
    ring_equal(e, re, "the opened e")
    ring_equal(f, rf, "the opened f")
    ring_equal(z0, r0, "party 0's share z0")
    ring_equal(z1, r1, "party 1's share z1")


# --- beaver_matmul --------------------------------------------------------------------------------
@check("beaver_matmul", XY=matmul_operands(), seed=SEEDS)
def beaver_matmul__agrees_with_reference(student, ref, XY, seed):
    """beaver_matmul should open E = X - A, F = Y - B and return Z_i = C_i + E @ B_i + A_i @ F, with E @ F added to party 0's share only."""
    X, Y = XY
    Xs, Ys, triple, _, _ = matmul_setup(X, Y, seed)
    Z0, Z1, E, F = _matmul_result(student, Xs, Ys, triple, X, Y)
    (r0, r1), (rE, rF) = ref(Xs, Ys, triple)
    ring_equal(E, rE, "the opened E")
    ring_equal(F, rF, "the opened F")
    ring_equal(Z0, r0, "party 0's share Z0")
    ring_equal(Z1, r1, "party 1's share Z1")


# --- truncate_shares ------------------------------------------------------------------------------
@check("truncate_shares", xs=ring_arrays(2), f=FRAC_BITS)
def truncate_shares__agrees_with_reference(student, ref, xs, f):
    """truncate_shares should return y0 = floor(x0 / 2^f) and y1 = -floor(((-x1) mod 2^64) / 2^f) mod 2^64, exactly."""
    x0, x1 = xs
    got = as_pair(student(x0, x1, f), f"truncate_shares(x0, x1, {f})", x0.shape)
    exp = ref(x0, x1, f)
    ring_equal(got[0], exp[0], f"party 0's share y0 of truncate_shares(x0, x1, {f})")
    ring_equal(got[1], exp[1], f"party 1's share y1 of truncate_shares(x0, x1, {f})")


# --- dapa_gaussian_fit ----------------------------------------------------------------------------
@check("dapa_gaussian_fit", mu=MUS, sigma=SIGMAS, degree=DEGREES)
def dapa_gaussian_fit__agrees_with_reference(student, ref, mu, sigma, degree):
    """dapa_gaussian_fit(mu, sigma, d) should be the least-squares coefficients of ReLU under N(mu, sigma^2), lowest degree first."""
    assert_close(student(mu, sigma, degree), ref(mu, sigma, degree), f"dapa_gaussian_fit({mu!r}, {sigma!r}, {degree})",
                 rtol=1e-6, atol=1e-9)  # solving the normal equations: any correct order of operations agrees to ~1e-10


# --- hysteresis_update ----------------------------------------------------------------------------
@check("hysteresis_update", t=TS, data=st.data())
def hysteresis_update__agrees_with_reference(student, ref, t, data):
    """hysteresis_update(mask, aux, t) should be old [aux > -t] + (1 - old) [aux > t], elementwise."""
    mask, aux = data.draw(mask_aux(t))
    got = _mask(student(mask, aux, t), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t})", aux.shape)
    exp = ref(mask, aux, t)
    require(bool(np.array_equal(got, exp)), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t})\n"
            f"  expected: {fmt(exp)}\n  got:      {fmt(got)}")


# --- ste_backward ---------------------------------------------------------------------------------
@check("ste_backward", ga=grad_aux())
def ste_backward__agrees_with_reference(student, ref, ga):
    """ste_backward(grad_out, aux) should equal grad_out * softplus(aux), softplus(a) = log(1 + e^a)."""
    g, a = ga
    assert_close(student(g, a), ref(g, a), "ste_backward(grad_out, aux)")
