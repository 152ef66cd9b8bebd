"""Lab 7 checks: fixed point in Z_2^64, additive shares, Beaver products, truncation, AutoReP.

Each check's docstring (first paragraph) is the property the student reads when it fails. Ring
values are compared exactly (uint64, bit for bit); the oracles for ring arithmetic are Python's
unbounded integers reduced mod 2^64, independent of NumPy's wrap-around. Most checks are public:
they state the protocol's invariants (shares reconstruct, opened values are the masked inputs,
a product of encodings decodes within the fixed-point error bound) and need no reference.

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab07_private_inference.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import CheckFailed, as_array, assert_close, fmt, raises_value_error, require
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
registry.exercises("reference_impl.secret_sharing", [
    "encode_fixed", "decode_fixed", "share", "reconstruct", "beaver_mul", "beaver_matmul", "truncate_shares"
])
EXERCISES = registry.exercises("reference_impl.autorep", [
    "dapa_gaussian_fit", "hysteresis_update", "ste_backward"
])

MOD = 2**64
FRAC_BITS = st.sampled_from([0, 1, 8, 16, 20])


# --- strategies ---------------------------------------------------------------------------------
def _shapes(min_dims: int = 1, max_dims: int = 2):
    """Small shapes whose first axis is sometimes up to 16 long (S.sizes)."""
    return st.tuples(S.sizes(1, 3, large=16),
                     hnp.array_shapes(min_dims=min_dims - 1, max_dims=max_dims - 1, min_side=1, max_side=3)).map(
        lambda t: (t[0], *t[1]))


_RING = st.one_of(st.integers(0, MOD - 1), st.sampled_from([0, 1, 2**63 - 1, 2**63, MOD - 1]))


def _ring(shape) -> st.SearchStrategy:
    return hnp.arrays(np.uint64, shape, elements=_RING)


@st.composite
def ring_arrays(draw, n: int = 1, shape=None):
    """n uint64 arrays of one (small) shape."""
    shape = shape if shape is not None else draw(_shapes())
    out = [draw(_ring(shape)) for _ in range(n)]
    return out[0] if n == 1 else tuple(out)


@st.composite
def reals_and_bits(draw, bound: float = 1000.0):
    """(x float64 array, frac_bits) with |x| * 2^f well inside the ring; some entries are exact rounding ties
    (k + 1/2) 2^-f, where the documented rule (half to even) decides."""
    f = draw(FRAC_BITS)
    x = draw(hnp.arrays(np.float64, _shapes(), elements=st.one_of(
        st.floats(-bound, bound, allow_subnormal=False, width=64), S.half_ties(2.0**-f))))
    return x, f


def _py(a: np.ndarray) -> list:
    return [int(v) for v in np.asarray(a).ravel()]


def _u64(values, shape) -> np.ndarray:
    return np.array([v % MOD for v in values], dtype=np.uint64).reshape(shape)


def _add(a, b):
    return _u64([x + y for x, y in zip(_py(a), _py(b))], np.shape(a))


def _sub(a, b):
    return _u64([x - y for x, y in zip(_py(a), _py(b))], np.shape(a))


def _mul(a, b):
    return _u64([x * y for x, y in zip(_py(a), _py(b))], np.shape(a))


def _matmul(A, B):
    m, k = A.shape
    n = B.shape[1]
    return np.array([[sum(int(A[i, j]) * int(B[j, l]) for j in range(k)) % MOD for l in range(n)] for i in range(m)],
                    dtype=np.uint64).reshape(m, n)


def _signed(a) -> list:
    return [v - MOD if v >= 2**63 else v for v in _py(a)]


def _split(v, r):
    """Shares (r, v - r) computed with Python integers."""
    return r, _sub(v, r)


SEEDS = st.integers(0, 2**32 - 1)


def _dealer(seed: int, shapes: list) -> list:
    """The dealer's uniform randomness for one check, from a seed (the counterexample names the seed)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, MOD, size=sh, dtype=np.uint64, endpoint=False) for sh in shapes]


def mul_setup(x: np.ndarray, y: np.ndarray, seed: int):
    """Shares of x and y and a consistent triple (c = a b) from the seed: (xs, ys, triple, a, b)."""
    a, b, rx, ry, ra, rb, rc = _dealer(seed, [x.shape] * 7)
    triple = (_split(a, ra), _split(b, rb), _split(_mul(a, b), rc))
    return _split(x, rx), _split(y, ry), triple, a, b


@st.composite
def matmul_operands(draw):
    """X (m, k) and Y (k, n) ring matrices, 1 <= m, n <= 3 and 1 <= k <= 3, sometimes up to 12 (longer sums)."""
    m, k, n = draw(st.integers(1, 3)), draw(S.sizes(1, 3, large=12)), draw(st.integers(1, 3))
    return draw(_ring((m, k))), draw(_ring((k, n)))


def matmul_setup(X: np.ndarray, Y: np.ndarray, seed: int):
    """Shares of X and Y and a consistent matrix triple (C = A @ B) from the seed: (Xs, Ys, triple, A, B)."""
    (m, k), n = X.shape, Y.shape[1]
    A, rX, rA, B, rY, rB, rC = _dealer(seed, [(m, k)] * 3 + [(k, n)] * 3 + [(m, n)])
    triple = (_split(A, rA), _split(B, rB), _split(_matmul(A, B), rC))
    return _split(X, rX), _split(Y, rY), triple, A, B


# --- helpers: what the student returned ---------------------------------------------------------
def as_ring(got, what: str, shape: tuple) -> np.ndarray:
    """The student's value as a uint64 array of the given shape, or CheckFailed."""
    if isinstance(got, np.ndarray) and got.dtype != np.uint64:
        raise CheckFailed(f"{what} should be a uint64 array (ring elements), got dtype {got.dtype}: {fmt(got)}")
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"{what} should be a uint64 NumPy array, got {type(got).__name__}: {fmt(got)}")
    if got.shape != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got shape {got.shape}")
    return got


def as_pair(got, what: str, shape: tuple) -> tuple:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(f"{what} should be a pair (tuple of two arrays), got {type(got).__name__}: {fmt(got)}")
    return as_ring(got[0], f"{what}[0]", shape), as_ring(got[1], f"{what}[1]", shape)


def ring_equal(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    if not np.array_equal(got, expected):
        raise CheckFailed(f"{what}\n  expected: {fmt(expected)}\n  got:      {fmt(got)}")


def _product_result(got, what: str, zshape: tuple, eshape: tuple, fshape: tuple):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(f"{what} should return ((z0, z1), (e, f)), got {type(got).__name__}: {fmt(got)}")
    z0, z1 = as_pair(got[0], f"{what}[0] (the shares of the product)", zshape)
    if not isinstance(got[1], (tuple, list)) or len(got[1]) != 2:
        raise CheckFailed(f"{what}[1] should be the opened pair (e, f), got {fmt(got[1])}")
    e = as_ring(got[1][0], f"{what}[1][0] (the opened e)", eshape)
    f = as_ring(got[1][1], f"{what}[1][1] (the opened f)", fshape)
    return z0, z1, e, f




# --- encode_fixed -------------------------------------------------------------------------------
@check("encode_fixed", public=True, k=st.lists(st.integers(-1000, 1000), min_size=1, max_size=4), f=FRAC_BITS)
def integers_encode_exactly(student, ref, k, f):
    """An integer k should encode to k * 2^f mod 2^64: a negative k to 2^64 - |k| * 2^f (two's complement)."""
    x = np.array(k, dtype=np.float64)
    got = as_ring(student(x, f), f"encode_fixed({fmt(x)}, {f})", x.shape)
    ring_equal(got, _u64([v * 2**f for v in k], x.shape), f"encode_fixed({fmt(x)}, {f})")


@check("encode_fixed", public=True, xf=reals_and_bits())
def round_trip_within_half_unit(student, ref, xf):
    """Read back as a signed integer over 2^f, encode_fixed(x, f) should be within 2^-(f+1) of x (rounding to nearest).

    At an exact tie both neighbours are within 2^-(f+1): which one is due is checked by ties_round_half_to_even."""
    x, f = xf
    got = as_ring(student(x, f), f"encode_fixed(x, {f})", x.shape)
    back = np.array([v / 2**f for v in _signed(got)]).reshape(x.shape)
    err = np.abs(back - x)
    require(bool(np.all(err <= 2.0 ** -(f + 1) * (1 + 1e-12))),
            f"encode_fixed(x, {f}) decodes to {fmt(back)}, more than 2^-{f + 1} away from x = {fmt(x)}")


@check("encode_fixed", public=True, k=st.lists(st.integers(-40, 40), min_size=1, max_size=4), f=FRAC_BITS)
def ties_round_half_to_even(student, ref, k, f):
    """A value exactly halfway between two fixed-point numbers, (k + 1/2) 2^-f, should round to the even one (np.rint's rule, as documented): 2.5 -> 2, 3.5 -> 4, -2.5 -> -2; not half up, not half away from zero."""
    x = np.array([(v + 0.5) * 2.0**-f for v in k])  # exact: a power-of-two scale
    got = as_ring(student(x, f), f"encode_fixed({fmt(x)}, {f})", x.shape)
    ring_equal(got, _u64([round(v + 0.5) for v in k], x.shape),  # Python's round: half to even, exact here
               f"encode_fixed({fmt(x)}, {f}) (each x * 2^{f} is a tie k + 1/2)")


@check("encode_fixed", public=True, xf=reals_and_bits())
def negation_is_ring_negation(student, ref, xf):
    """encode_fixed(-x, f) should be the ring negative of encode_fixed(x, f): the two add to 0 mod 2^64."""
    x, f = xf
    a = as_ring(student(x, f), f"encode_fixed(x, {f})", x.shape)
    b = as_ring(student(-x, f), f"encode_fixed(-x, {f})", x.shape)
    ring_equal(_add(a, b), np.zeros(x.shape, dtype=np.uint64), f"encode_fixed(x, {f}) + encode_fixed(-x, {f}) mod 2^64")


@check("encode_fixed", public=True, f=FRAC_BITS,
       bad=st.sampled_from(["nan", "inf", "too large", "negative too large", "frac_bits -1", "frac_bits 63"]))
def encode_fixed__rejects_bad_input(student, ref, f, bad):
    """encode_fixed should raise ValueError for NaN/inf, for |x| * 2^f >= 2^63, and for frac_bits outside [0, 62]."""
    x = np.array([1.0, 2.0])
    if bad == "nan":
        x[0] = math.nan
    elif bad == "inf":
        x[1] = math.inf
    elif bad == "too large":
        x[1] = 2.0 ** (63 - f)
    elif bad == "negative too large":
        x[0] = -(2.0 ** (63 - f))
    else:
        f = int(bad.split()[1])
    raises_value_error(student, f"encode_fixed({fmt(x)}, {f})", x, f)


# --- decode_fixed -------------------------------------------------------------------------------
@check("decode_fixed", public=True, u=ring_arrays(), f=FRAC_BITS)
def upper_half_is_negative(student, ref, u, f):
    """decode_fixed should map u < 2^63 to u / 2^f and u >= 2^63 to (u - 2^64) / 2^f (so 2^64 - 1 is -2^-f)."""
    expected = np.array([float(v) / 2**f for v in _signed(u)]).reshape(u.shape)
    assert_close(student(u, f), expected, f"decode_fixed({fmt(u)}, {f})", rtol=0, atol=0)


@check("decode_fixed", public=True, k=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=4), f=FRAC_BITS)
def inverts_the_encoding(student, ref, k, f):
    """decode_fixed(k mod 2^64, f) should be exactly k / 2^f: the inverse of fixed-point encoding."""
    u = _u64(k, (len(k),))
    assert_close(student(u, f), np.array([v / 2**f for v in k]), f"decode_fixed({fmt(u)}, {f})", rtol=0, atol=0)


@check("decode_fixed", public=True, f=FRAC_BITS, bad=st.sampled_from(["int64", "float64", "frac_bits -1", "frac_bits 63"]))
def decode_fixed__rejects_bad_input(student, ref, f, bad):
    """decode_fixed should raise ValueError when x_ring is not a uint64 array or frac_bits is outside [0, 62]."""
    u = np.array([1, 2**40], dtype=np.uint64)
    if bad in ("int64", "float64"):
        u = u.astype(bad)
    else:
        f = int(bad.split()[1])
    raises_value_error(student, f"decode_fixed({fmt(u)} of dtype {u.dtype}, {f})", u, f)


# --- share --------------------------------------------------------------------------------------
@check("share", public=True, xr=ring_arrays(2))
def shares_reconstruct(student, ref, xr):
    """The two shares of share(x, r) should add up to x modulo 2^64, for every mask r."""
    x, r = xr
    x0, x1 = as_pair(student(x, r), "share(x, r)", x.shape)
    ring_equal(_add(x0, x1), x, "share(x, r)[0] + share(x, r)[1] mod 2^64")


@check("share", public=True, xr=ring_arrays(2))
def first_share_is_the_mask(student, ref, xr):
    """Party 0's share should be the mask r itself, so it is uniform and says nothing about x."""
    x, r = xr
    x0, _ = as_pair(student(x, r), "share(x, r)", x.shape)
    ring_equal(x0, r, "share(x, r)[0]")


@check("share", public=True, secret=_RING)
def second_share_alone_is_uniform(student, ref, secret):
    """With uniform masks, party 1's share alone should be uniform whatever the secret: the top 3 bits of 4,096 shares of one secret pass a chi-square test."""
    r = np.random.default_rng(20261121).integers(0, MOD, size=4096, dtype=np.uint64)  # the dealer's masks
    x = np.full(4096, secret, dtype=np.uint64)
    _, x1 = as_pair(student(x, r), f"share(x = {secret} repeated, r)", x.shape)
    counts = np.bincount((x1 >> np.uint64(61)).astype(np.int64), minlength=8)
    chi2 = float(((counts - 512.0) ** 2 / 512.0).sum())
    require(chi2 < 30.0,  # 7 degrees of freedom: P(chi2 > 30) < 1e-4 for a uniform share
            f"party 1's shares of the secret {secret} are not uniform: the counts of their top 3 bits are "
            f"{counts.tolist()} (chi-square {chi2:.1f}, uniform gives about 7); the share leaks the secret")


@check("share", public=True, x=ring_arrays())
def share__rejects_bad_input(student, ref, x):
    """share should raise ValueError when r has another shape than x, or x or r is not uint64."""
    raises_value_error(student, f"share(x of shape {x.shape}, r of shape {x.shape + (2,)})", x, np.zeros(x.shape + (2,), np.uint64))
    raises_value_error(student, "share(x as int64, r)", x.view(np.int64), x.copy())


# --- reconstruct --------------------------------------------------------------------------------
@check("reconstruct", public=True, xs=ring_arrays(2))
def inverts_sharing(student, ref, xs):
    """reconstruct(r, x - r) should give back x for every secret x and mask r (addition wraps around mod 2^64)."""
    x, r = xs
    got = as_ring(student(r, _sub(x, r)), "reconstruct(r, x - r)", x.shape)
    ring_equal(got, x, "reconstruct(r, x - r)")


@check("reconstruct", public=True, pair=st.sampled_from([(MOD - 1, 1), (2**63, 2**63), (MOD - 1, MOD - 1), (5, MOD - 7)]))
def wraps_around(student, ref, pair):
    """reconstruct should wrap around: (2^64 - 1) + 1 = 0, 2^63 + 2^63 = 0 and (2^64 - 1) + (2^64 - 1) = 2^64 - 2 in the ring."""
    x0, x1 = (np.array([v], dtype=np.uint64) for v in pair)
    got = as_ring(student(x0, x1), f"reconstruct({fmt(x0)}, {fmt(x1)})", (1,))
    ring_equal(got, _u64([sum(pair)], (1,)), f"reconstruct({fmt(x0)}, {fmt(x1)})")


@check("reconstruct", public=True, x=ring_arrays())
def reconstruct__rejects_bad_input(student, ref, x):
    """reconstruct should raise ValueError when the shares have different shapes or are not uint64."""
    raises_value_error(student, "reconstruct(x0, x1 of another shape)", x, np.zeros(x.shape + (2,), np.uint64))
    raises_value_error(student, "reconstruct(x0 as float64, x1)", x.astype(np.float64), x)


# --- beaver_mul ---------------------------------------------------------------------------------
@check("beaver_mul", public=True, xy=ring_arrays(2), seed=SEEDS)
def beaver_mul__product_reconstructs(student, ref, xy, seed):
    """The shares returned by beaver_mul should reconstruct to x * y mod 2^64, for any consistent triple (c = a b)."""
    x, y = xy
    xs, ys, triple, _, _ = mul_setup(x, y, seed)
    z0, z1, _, _ = _product_result(student(xs, ys, triple), "beaver_mul(x_shares, y_shares, triple)",
                                   x.shape, x.shape, x.shape)
    ring_equal(_add(z0, z1), _mul(x, y), "z0 + z1 mod 2^64 (should be x * y)")


@check("beaver_mul", public=True, xy=ring_arrays(2), seed=SEEDS)
def beaver_mul__opened_values_are_masked(student, ref, xy, seed):
    """The values beaver_mul opens should be e = x - a and f = y - b: masked by the uniform triple, they reveal nothing about x and y."""
    x, y = xy
    xs, ys, triple, a, b = mul_setup(x, y, seed)
    _, _, e, f = _product_result(student(xs, ys, triple), "beaver_mul(x_shares, y_shares, triple)",
                                 x.shape, x.shape, x.shape)
    ring_equal(e, _sub(x, a), "the opened e (should be x - a)")
    ring_equal(f, _sub(y, b), "the opened f (should be y - b)")


@check("beaver_mul", public=True, vals=st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=1, max_size=4),
       seed=SEEDS)
def fixed_point_product_within_error_bound(student, ref, vals, seed):
    """On fixed-point encodings (f = 16), beaver_mul's product read with 2f = 32 fractional bits should be within (|x| + |y|) 2^-17 + 2^-34 of the real product x y."""
    F = 16
    x = np.array([v[0] for v in vals])
    y = np.array([v[1] for v in vals])
    ex = _u64([round(v * 2**F) for v in x], x.shape)
    ey = _u64([round(v * 2**F) for v in y], y.shape)
    xs, ys, triple, _, _ = mul_setup(ex, ey, seed)
    z0, z1, _, _ = _product_result(student(xs, ys, triple),
                                   "beaver_mul(shares of enc(x), shares of enc(y), triple)", x.shape, x.shape, x.shape)
    got = np.array([v / 2 ** (2 * F) for v in _signed(_add(z0, z1))])
    bound = (np.abs(x) + np.abs(y)) * 2.0 ** -(F + 1) + 2.0 ** -(2 * F + 2)
    require(bool(np.all(np.abs(got - x * y) <= bound * (1 + 1e-9) + 1e-12)),
            f"x = {fmt(x)}, y = {fmt(y)}: the product decodes to {fmt(got)}, expected {fmt(x * y)} within {fmt(bound)}")


@check("beaver_mul", public=True, seed=SEEDS)
def beaver_mul__rejects_bad_input(student, ref, seed):
    """beaver_mul should raise ValueError when the shares and triple parts do not all have one shape."""
    x = np.array([1, 2], dtype=np.uint64)
    xs, ys, triple, _, _ = mul_setup(x, x, seed)
    bad = (xs[0], np.zeros(x.shape + (2,), np.uint64))
    raises_value_error(student, "beaver_mul with x1 of another shape", bad, ys, triple)


# --- beaver_matmul ------------------------------------------------------------------------------
def _matmul_result(student, Xs, Ys, triple, X, Y):
    m, k = X.shape
    n = Y.shape[1]
    return _product_result(student(Xs, Ys, triple), "beaver_matmul(X_shares, Y_shares, triple)", (m, n), (m, k), (k, n))


@check("beaver_matmul", public=True, XY=matmul_operands(), seed=SEEDS)
def beaver_matmul__product_reconstructs(student, ref, XY, seed):
    """The shares returned by beaver_matmul should reconstruct to X @ Y mod 2^64 (every sum of products wraps around)."""
    X, Y = XY
    Xs, Ys, triple, _, _ = matmul_setup(X, Y, seed)
    Z0, Z1, _, _ = _matmul_result(student, Xs, Ys, triple, X, Y)
    ring_equal(_add(Z0, Z1), _matmul(X, Y), "Z0 + Z1 mod 2^64 (should be X @ Y)")


@check("beaver_matmul", public=True, XY=matmul_operands(), seed=SEEDS)
def beaver_matmul__opened_values_are_masked(student, ref, XY, seed):
    """The matrices beaver_matmul opens should be E = X - A and F = Y - B (uniform masks: they reveal nothing)."""
    X, Y = XY
    Xs, Ys, triple, A, B = matmul_setup(X, Y, seed)
    _, _, E, F = _matmul_result(student, Xs, Ys, triple, X, Y)
    ring_equal(E, _sub(X, A), "the opened E (should be X - A)")
    ring_equal(F, _sub(Y, B), "the opened F (should be Y - B)")


@check("beaver_matmul", public=True, m=st.integers(1, 3), k=S.sizes(1, 3, large=12), n=st.integers(1, 3), seed=SEEDS)
def fixed_point_matmul_within_error_bound(student, ref, m, k, n, seed):
    """On fixed-point encodings (f = 16) of values in [-10, 10], beaver_matmul's product read with 32 fractional bits should be within k (20 2^-17 + 2^-34) of X @ Y."""
    F = 16
    rng = np.random.default_rng(seed)
    X, Y = np.round(rng.uniform(-10, 10, (m, k)), 3), np.round(rng.uniform(-10, 10, (k, n)), 3)
    eX = _u64([round(v * 2**F) for v in X.ravel()], X.shape)
    eY = _u64([round(v * 2**F) for v in Y.ravel()], Y.shape)
    Xs, Ys, triple, _, _ = matmul_setup(eX, eY, seed)
    Z0, Z1, _, _ = _matmul_result(student, Xs, Ys, triple, X, Y)
    got = np.array([v / 2 ** (2 * F) for v in _signed(_add(Z0, Z1))]).reshape(m, n)
    bound = k * (20 * 2.0 ** -(F + 1) + 2.0 ** -(2 * F + 2))
    require(bool(np.all(np.abs(got - X @ Y) <= bound)),
            f"X = {fmt(X)}, Y = {fmt(Y)}: the product decodes to {fmt(got)}, expected {fmt(X @ Y)} within {bound:.3g}")


@check("beaver_matmul", public=True, XY=matmul_operands(), seed=SEEDS)
def beaver_matmul__rejects_bad_input(student, ref, XY, seed):
    """beaver_matmul should raise ValueError when the shapes do not chain (X and A (m, k), Y and B (k, n), C (m, n))."""
    X, Y = XY
    Xs, Ys, triple, _, _ = matmul_setup(X, Y, seed)
    bad = (Xs[0], np.zeros((X.shape[0], X.shape[1] + 1), np.uint64))
    raises_value_error(student, "beaver_matmul with X1 of another shape than X0", bad, Ys, triple)


# --- truncate_shares ----------------------------------------------------------------------------
@check("truncate_shares", public=True, x=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=4),
       r=st.lists(st.one_of(st.integers(2**41, 2**63 - 1), st.integers(2**63, MOD - 2**41)), min_size=4, max_size=4),
       f=FRAC_BITS)
def within_one_unit(student, ref, x, r, f):
    """For a small secret |x| < 2^40 whose share x0 is not within |x| of the wrap-around, the truncated shares should reconstruct to floor(x / 2^f) or floor(x / 2^f) + 1 (SecureML's one-unit error)."""
    n = len(x)
    xr, r0 = _u64(x, (n,)), _u64(r[:n], (n,))
    x0, x1 = _split(xr, r0)
    y0, y1 = as_pair(student(x0, x1, f), f"truncate_shares(x0, x1, {f})", (n,))
    got = _signed(_add(y0, y1))
    low = [v // 2**f for v in x]  # Python's // floors
    require(all(g - lo in (0, 1) for g, lo in zip(got, low)),
            f"x = {x} shared as x0 = {fmt(x0)}: the truncated shares reconstruct to {got}, "
            f"expected floor(x / 2^{f}) = {low} (or one more)")


@check("truncate_shares", public=True, xs=ring_arrays(3), f=FRAC_BITS)
def each_party_truncates_alone(student, ref, xs, f):
    """truncate_shares is local: party 0's new share should depend only on x0, and party 1's only on x1."""
    x0, x1, other = xs
    a0, a1 = as_pair(student(x0, x1, f), f"truncate_shares(x0, x1, {f})", x0.shape)
    b0, _ = as_pair(student(x0, other, f), f"truncate_shares(x0, x1', {f})", x0.shape)
    _, c1 = as_pair(student(other, x1, f), f"truncate_shares(x0', x1, {f})", x0.shape)
    ring_equal(b0, a0, "y0 after changing only x1 (party 0 never sees x1)")
    ring_equal(c1, a1, "y1 after changing only x0 (party 1 never sees x0)")


@check("truncate_shares", public=True, xs=ring_arrays(2))
def zero_bits_is_identity(student, ref, xs):
    """truncate_shares(x0, x1, 0) should return the shares unchanged (dividing by 2^0 = 1)."""
    x0, x1 = xs
    y0, y1 = as_pair(student(x0, x1, 0), "truncate_shares(x0, x1, 0)", x0.shape)
    ring_equal(y0, x0, "y0 of truncate_shares(x0, x1, 0)")
    ring_equal(y1, x1, "y1 of truncate_shares(x0, x1, 0)")


@check("truncate_shares", public=True, bad=st.sampled_from(["frac_bits -1", "frac_bits 63", "shapes", "float64"]))
def truncate_shares__rejects_bad_input(student, ref, bad):
    """truncate_shares should raise ValueError for frac_bits outside [0, 62], shares of different shapes, or non-uint64 shares."""
    x0, x1, f = np.array([1, 2], np.uint64), np.array([3, 4], np.uint64), 16
    if bad.startswith("frac_bits"):
        f = int(bad.split()[1])
    elif bad == "shapes":
        x1 = np.array([3], np.uint64)
    else:
        x0 = x0.astype(np.float64)
    raises_value_error(student, f"truncate_shares({fmt(x0)}, {fmt(x1)}, {f})", x0, x1, f)


# --- dapa_gaussian_fit --------------------------------------------------------------------------
MUS = st.one_of(st.sampled_from([0.0, 1.0, -1.0]), st.floats(-3, 3, allow_subnormal=False))
SIGMAS = st.one_of(st.sampled_from([1.0, 0.5, 2.0]), st.floats(0.2, 3, allow_subnormal=False))
DEGREES = st.integers(0, 4)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _coefs(got, what: str, degree: int) -> np.ndarray:
    return as_array(got, what, shape=(degree + 1,))


@check("dapa_gaussian_fit", public=True, sigma=st.just(1.0))
def standard_normal_quadratic(student, ref, sigma):
    """For N(0, 1) and degree 2 the fit should be (1/(2 sqrt(2 pi)), 1/2, 1/(2 sqrt(2 pi))) = (0.1995, 0.5, 0.1995)."""
    assert_close(student(0.0, sigma, 2), np.array([INV_SQRT_2PI / 2, 0.5, INV_SQRT_2PI / 2]), "dapa_gaussian_fit(0.0, 1.0, 2)",
                 rtol=1e-9, atol=1e-12)


@check("dapa_gaussian_fit", public=True, sigma=SIGMAS)
def centred_linear_fit(student, ref, sigma):
    """For N(0, sigma^2), the best line is sigma/sqrt(2 pi) + x/2 and the best constant is E[ReLU(x)] = sigma/sqrt(2 pi)."""
    assert_close(student(0.0, sigma, 1), np.array([sigma * INV_SQRT_2PI, 0.5]), f"dapa_gaussian_fit(0.0, {sigma!r}, 1)",
                 rtol=1e-9, atol=1e-12)
    assert_close(student(0.0, sigma, 0), np.array([sigma * INV_SQRT_2PI]), f"dapa_gaussian_fit(0.0, {sigma!r}, 0)",
                 rtol=1e-9, atol=1e-12)


@check("dapa_gaussian_fit", public=True, mu=MUS, sigma=SIGMAS, degree=DEGREES, s=st.sampled_from([0.5, 2.0, 3.0]))
def scale_equivariant(student, ref, mu, sigma, degree, s):
    """ReLU(s x) = s ReLU(x) for s > 0, so scaling mu and sigma by s should scale coefficient c_k by s^(1 - k)."""
    c = _coefs(student(mu, sigma, degree), f"dapa_gaussian_fit({mu!r}, {sigma!r}, {degree})", degree)
    cs = _coefs(student(s * mu, s * sigma, degree), f"dapa_gaussian_fit({s * mu!r}, {s * sigma!r}, {degree})", degree)
    assert_close(cs, c * s ** (1.0 - np.arange(degree + 1)),
                 f"dapa_gaussian_fit(s mu, s sigma, {degree}) compared with s^(1-k) c_k, s = {s}", rtol=1e-6, atol=1e-8)


@check("dapa_gaussian_fit", public=True, sign=st.sampled_from([1.0, -1.0]), sigma=SIGMAS, degree=st.integers(1, 2))
def one_sided_inputs(student, ref, sign, sigma, degree):
    """When the input is almost surely positive (mu = 10 sigma) the fit should be the identity x; when almost surely negative, 0."""
    mu = sign * 10 * sigma
    expected = np.zeros(degree + 1)
    if sign > 0:
        expected[1] = 1.0
    assert_close(student(mu, sigma, degree), expected, f"dapa_gaussian_fit({mu!r}, {sigma!r}, {degree})", rtol=0, atol=1e-6)


@check("dapa_gaussian_fit", public=True, bad=st.sampled_from(["sigma 0", "sigma -1", "degree -1", "degree 5", "mu nan"]))
def dapa_gaussian_fit__rejects_bad_input(student, ref, bad):
    """dapa_gaussian_fit should raise ValueError for sigma <= 0, a non-finite mu or sigma, or a degree outside [0, 4]."""
    mu, sigma, degree = 0.0, 1.0, 2
    what, value = bad.split()
    if what == "sigma":
        sigma = float(value)
    elif what == "degree":
        degree = int(value)
    else:
        mu = math.nan
    raises_value_error(student, f"dapa_gaussian_fit({mu!r}, {sigma!r}, {degree})", mu, sigma, degree)


# --- hysteresis_update --------------------------------------------------------------------------
TS = st.sampled_from([0.0, 0.1, 0.5, 1.0])


@st.composite
def mask_aux(draw, t: float):
    """(mask bool (n,), aux (n,)) with aux often on the band's edges -t, 0, t; n sometimes up to 40."""
    n = draw(S.sizes(1, 6))
    mask = draw(hnp.arrays(np.bool_, (n,)))
    edge = st.sampled_from([-t, t, 0.0, -2 * t - 0.3, 2 * t + 0.3])
    aux = draw(hnp.arrays(np.float64, (n,), elements=st.one_of(edge, st.floats(-3, 3, allow_subnormal=False))))
    return mask, aux


def _mask(got, what: str, shape) -> np.ndarray:
    a = as_array(got, what, shape=shape)
    require(bool(np.all((a == 0) | (a == 1))), f"{what} should hold only 0/1 (False/True), got {fmt(a)}")
    return a.astype(bool)


@check("hysteresis_update", public=True, data=st.data())
def zero_threshold_is_plain_step(student, ref, data):
    """With t = 0 the hysteresis disappears: the new indicator should be [aux > 0] whatever the old one."""
    mask, aux = data.draw(mask_aux(0.0))
    got = _mask(student(mask, aux, 0.0), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, 0.0)", aux.shape)
    exp = aux > 0
    require(bool(np.array_equal(got, exp)), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, 0.0)\n"
            f"  expected: {fmt(exp)}\n  got:      {fmt(got)}")


@check("hysteresis_update", public=True, t=st.sampled_from([0.1, 0.5, 1.0]), data=st.data())
def band_keeps_state(student, ref, t, data):
    """Inside the band -t < aux <= t the indicator should keep its old state (kept stays kept, dropped stays dropped)."""
    mask, _ = data.draw(mask_aux(t))
    aux = np.array(data.draw(st.lists(st.floats(-t, t, exclude_min=True), min_size=len(mask), max_size=len(mask))))
    got = _mask(student(mask, aux, t), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t})", aux.shape)
    require(bool(np.array_equal(got, mask)), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t}) = {fmt(got)}; inside "
            f"(-{t}, {t}] every indicator should keep its state {fmt(mask)}")


@check("hysteresis_update", public=True, t=st.sampled_from([0.1, 0.5, 1.0]))
def strict_thresholds(student, ref, t):
    """The thresholds are strict: a kept ReLU is dropped at aux = -t, a dropped one stays dropped at aux = t and returns just above t."""
    mask = np.array([True, True, False, False])
    aux = np.array([-t, -t + 1e-9, t, t + 1e-9])
    got = _mask(student(mask, aux, t), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t})", (4,))
    exp = np.array([False, True, False, True])
    require(bool(np.array_equal(got, exp)), f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t})\n"
            f"  expected: {fmt(exp)}\n  got:      {fmt(got)}")


@check("hysteresis_update", public=True, t=TS, data=st.data())
def accepts_float_masks(student, ref, t, data):
    """A 0/1 float mask should give the same indicator as the boolean mask."""
    mask, aux = data.draw(mask_aux(t))
    a = _mask(student(mask, aux, t), "hysteresis_update(bool mask, aux, t)", aux.shape)
    b = _mask(student(mask.astype(np.float64), aux, t), "hysteresis_update(0/1 float mask, aux, t)", aux.shape)
    require(bool(np.array_equal(a, b)), f"mask {fmt(mask)} as bool gives {fmt(a)}, as 0/1 floats {fmt(b)}")


@check("hysteresis_update", public=True, bad=st.sampled_from(["t -0.5", "t nan", "shapes", "mask 2"]))
def hysteresis_update__rejects_bad_input(student, ref, bad):
    """hysteresis_update should raise ValueError for t < 0 or NaN, mask and aux of different shapes, or a mask value other than 0/1."""
    mask, aux, t = np.array([True, False]), np.array([0.5, -0.5]), 0.1
    if bad.startswith("t"):
        t = float(bad.split()[1])
    elif bad == "shapes":
        aux = np.array([0.5])
    else:
        mask = np.array([2.0, 0.0])
    raises_value_error(student, f"hysteresis_update({fmt(mask)}, {fmt(aux)}, {t})", mask, aux, t)


# --- ste_backward -------------------------------------------------------------------------------
@st.composite
def grad_aux(draw, bound: float = 30.0):
    shape = draw(_shapes())
    el = st.floats(-bound, bound, allow_subnormal=False, width=64)
    return draw(hnp.arrays(np.float64, shape, elements=el)), draw(hnp.arrays(np.float64, shape, elements=el))


def _softplus(a: float) -> float:
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


@check("ste_backward", public=True, g=st.floats(-10, 10))
def log2_at_zero(student, ref, g):
    """At aux = 0 the surrogate gradient should be grad_out * log 2 (softplus(0) = log 2)."""
    assert_close(student(np.array([g]), np.array([0.0])), np.array([g * math.log(2)]), f"ste_backward([{g!r}], [0.0])")


@check("ste_backward", public=True, ga=grad_aux())
def matches_softplus_formula(student, ref, ga):
    """ste_backward should multiply grad_out by softplus(aux) = max(aux, 0) + log1p(exp(-|aux|)) elementwise."""
    g, a = ga
    expected = np.array([gi * _softplus(ai) for gi, ai in zip(g.ravel(), a.ravel())]).reshape(g.shape)
    assert_close(student(g, a), expected, "ste_backward(grad_out, aux)")


@check("ste_backward", public=True, a=st.sampled_from([710.0, 1000.0, 1e5]), g=st.sampled_from([1.0, -2.0]))
def stable_at_large_aux(student, ref, a, g):
    """For aux as large as 1e5 the gradient should stay finite: softplus(a) = a + log1p(e^-a), not log(1 + e^a) = inf."""
    got = as_array(student(np.array([g]), np.array([a])), f"ste_backward([{g}], [{a}])", shape=(1,))
    require(bool(np.all(np.isfinite(got))), f"ste_backward([{g}], [{a}]) = {fmt(got)}: exp({a}) overflowed")
    assert_close(got, np.array([g * _softplus(a)]), f"ste_backward([{g}], [{a}])")


@check("ste_backward", public=True, a=st.floats(-60, -38), g=st.sampled_from([1.0, -3.0]))
def precise_at_very_negative_aux(student, ref, a, g):
    """For aux below -37, softplus(aux) ~ e^aux is tiny but not 0: it should keep its relative precision (use log1p)."""
    got = as_array(student(np.array([g]), np.array([a])), f"ste_backward([{g}], [{a!r}])", shape=(1,))
    assert_close(got, np.array([g * _softplus(a)]), f"ste_backward([{g}], [{a!r}])", rtol=1e-7, atol=0)


@check("ste_backward", public=True, n=st.integers(1, 3))
def ste_backward__rejects_bad_input(student, ref, n):
    """ste_backward should raise ValueError when grad_out and aux have different shapes."""
    raises_value_error(student, f"ste_backward(grad_out of shape ({n},), aux of shape ({n + 1},))", np.ones(n), np.zeros(n + 1))
