"""Tests of the secret-sharing reference (Lab 7) against oracles from elsewhere.

Oracles: Python's unbounded integers reduced mod 2^64 (ring arithmetic written out by hand),
Python's round() (ties to even) for the encoding, a brute-force count of the truncation's bad
masks, chi-square statistics for "a share alone is uniform" with fixed seeds, and SecureML's
stated bound. No expected value here was produced by running the code under test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oracle_strategies import SETTINGS
from reference_impl.secret_sharing import (
    beaver_matmul,
    beaver_mul,
    decode_fixed,
    encode_fixed,
    reconstruct,
    share,
    truncate_shares,
)

M = 2**64
ring_el = st.integers(0, M - 1)


def ring(shape):
    return hnp.arrays(np.uint64, shape, elements=ring_el)


def py(a) -> list[int]:
    return [int(v) for v in np.asarray(a).ravel()]


def u64(vals, shape) -> np.ndarray:
    return np.array([v % M for v in vals], dtype=np.uint64).reshape(shape)


def signed(v: int) -> int:
    return v - M if v >= 2**63 else v


shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@pytest.fixture(autouse=True)
def no_warnings():
    """Ring arithmetic must wrap around silently: any RuntimeWarning (overflow) is an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------------------------------------
# encode / decode
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(x=hnp.arrays(np.float64, shapes, elements=st.floats(-1e6, 1e6)), f=st.sampled_from([0, 1, 8, 16, 30]))
def test_encode_matches_python_round_mod_2_64(x, f):
    """enc(x) = round(x 2^f) mod 2^64 with Python's round (ties to even), element by element."""
    out = encode_fixed(x, f)
    assert out.dtype == np.uint64 and out.shape == x.shape
    assert py(out) == [round(v * 2**f) % M for v in x.ravel().tolist()]


def test_encode_known_values():
    """-1 at f = 16 is 2^64 - 2^16; 0.5 at f = 0 rounds to 0 (ties to even), 1.5 to 2."""
    assert py(encode_fixed(np.array([-1.0, 2.5]), 16)) == [M - 2**16, 5 * 2**15]
    assert py(encode_fixed(np.array([0.5, 1.5, -0.5]), 0)) == [0, 2, 0]


@SETTINGS
@given(u=ring((5,)), f=st.sampled_from([0, 16, 40]))
def test_decode_is_signed_over_2_f(u, f):
    """dec(u) = (u - 2^64 [u >= 2^63]) / 2^f, computed with Python ints."""
    assert decode_fixed(u, f).tolist() == [signed(v) / 2**f for v in py(u)]


@SETTINGS
@given(x=hnp.arrays(np.float64, shapes, elements=st.floats(-1e4, 1e4)))
def test_decode_encode_within_half_unit(x):
    np.testing.assert_array_less(np.abs(decode_fixed(encode_fixed(x)) - x), 2.0**-17 + 1e-15)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 2.0**47, -(2.0**47)])
def test_encode_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        encode_fixed(np.array([1.0, bad]), 16)


@pytest.mark.parametrize("f", [-1, 63, 1.5, True])
def test_frac_bits_validated(f):
    for fn, arg in ((encode_fixed, np.ones(2)), (decode_fixed, np.ones(2, np.uint64))):
        with pytest.raises(ValueError):
            fn(arg, f)
    with pytest.raises(ValueError):
        truncate_shares(np.ones(2, np.uint64), np.ones(2, np.uint64), f)


def test_decode_rejects_non_ring_arrays():
    with pytest.raises(ValueError):
        decode_fixed(np.array([1, 2], dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# share / reconstruct
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), shape=shapes)
def test_share_reconstruct_round_trip(data, shape):
    x, r = data.draw(ring(shape)), data.draw(ring(shape))
    x0, x1 = share(x, r)
    assert py(x0) == py(r)
    assert [(a + b) % M for a, b in zip(py(x0), py(x1))] == py(x)
    assert np.array_equal(reconstruct(x0, x1), x)


def test_reconstruct_wraps_around():
    assert py(reconstruct(np.array([M - 1, 2**63], np.uint64), np.array([1, 2**63], np.uint64))) == [0, 0]


@pytest.mark.parametrize("secret", [0, 1, 2**63, M - 1, 123456789 * 2**16])
def test_second_share_alone_is_uniform(secret):
    """Chi-square of party 1's share over 16 bins of its top bits, 40,000 fresh masks: uniform for every secret."""
    rng = np.random.default_rng(7)
    n = 40_000
    _, x1 = share(np.full(n, secret, np.uint64), rng.integers(0, M, size=n, dtype=np.uint64))
    counts = np.bincount((x1 >> np.uint64(60)).astype(np.int64), minlength=16)
    chi2 = ((counts - n / 16) ** 2 / (n / 16)).sum()
    assert chi2 < 40  # 15 dof: P(chi2 > 40) ~ 5e-4


def test_shares_of_two_secrets_are_identically_distributed():
    """Two-sample comparison: the share distributions for secrets 0 and 2^63 + 5 do not differ (KS-like on top bits)."""
    rng = np.random.default_rng(11)
    n = 40_000
    a = share(np.zeros(n, np.uint64), rng.integers(0, M, size=n, dtype=np.uint64))[1] >> np.uint64(56)
    b = share(np.full(n, 2**63 + 5, np.uint64), rng.integers(0, M, size=n, dtype=np.uint64))[1] >> np.uint64(56)
    ca = np.cumsum(np.bincount(a.astype(np.int64), minlength=256)) / n
    cb = np.cumsum(np.bincount(b.astype(np.int64), minlength=256)) / n
    assert np.abs(ca - cb).max() < 1.63 * np.sqrt(2 / n)  # Kolmogorov-Smirnov at the 1% level


def test_share_validation():
    with pytest.raises(ValueError):
        share(np.ones(2, np.uint64), np.ones(3, np.uint64))
    with pytest.raises(ValueError):
        share(np.ones(2, np.int64), np.ones(2, np.uint64))
    with pytest.raises(ValueError):
        reconstruct(np.ones(2, np.uint64), np.ones(3, np.uint64))


# ---------------------------------------------------------------------------------------------
# Beaver products
# ---------------------------------------------------------------------------------------------


def split(v, r):
    return r, u64([a - b for a, b in zip(py(v), py(r))], v.shape)


@SETTINGS
@given(data=st.data(), shape=shapes)
def test_beaver_mul_written_out(data, shape):
    """z0 + z1 = x y mod 2^64, e = x - a, f = y - b, each z_i by the formula with Python ints."""
    x, y, a, b, *rs = (data.draw(ring(shape)) for _ in range(9))
    c = u64([p * q for p, q in zip(py(a), py(b))], shape)
    triple = (split(a, rs[0]), split(b, rs[1]), split(c, rs[2]))
    (z0, z1), (e, f) = beaver_mul(split(x, rs[3]), split(y, rs[4]), triple)
    assert py(e) == [(p - q) % M for p, q in zip(py(x), py(a))]
    assert py(f) == [(p - q) % M for p, q in zip(py(y), py(b))]
    assert [(p + q) % M for p, q in zip(py(z0), py(z1))] == [(p * q) % M for p, q in zip(py(x), py(y))]
    c1, b1, a1 = py(triple[2][1]), py(triple[1][1]), py(triple[0][1])
    assert py(z1) == [(ci + ei * bi + ai * fi) % M for ci, ei, bi, ai, fi in zip(c1, py(e), b1, a1, py(f))]


@SETTINGS
@given(data=st.data(), m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4))
def test_beaver_matmul_written_out(data, m, k, n):
    X, A, rX, rA = (data.draw(ring((m, k))) for _ in range(4))
    Y, B, rY, rB = (data.draw(ring((k, n))) for _ in range(4))
    rC = data.draw(ring((m, n)))

    def mm(P, Q):
        return np.array([[sum(int(P[i, t]) * int(Q[t, j]) for t in range(k)) % M for j in range(n)] for i in range(m)],
                        dtype=np.uint64).reshape(m, n)

    (Z0, Z1), (E, F) = beaver_matmul(split(X, rX), split(Y, rY), (split(A, rA), split(B, rB), split(mm(A, B), rC)))
    assert np.array_equal(reconstruct(Z0, Z1), mm(X, Y))
    assert py(E) == [(p - q) % M for p, q in zip(py(X), py(A))]
    assert py(F) == [(p - q) % M for p, q in zip(py(Y), py(B))]


def test_beaver_fixed_point_product_within_bound():
    """Reals through encode -> share -> beaver_mul -> truncate -> decode: within SecureML's error bound of x y."""
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-50, 50, 1000), rng.uniform(-50, 50, 1000)
    ex, ey = encode_fixed(x), encode_fixed(y)
    a, b = rng.integers(0, M, 1000, dtype=np.uint64), rng.integers(0, M, 1000, dtype=np.uint64)
    c = u64([p * q for p, q in zip(py(a), py(b))], (1000,))
    masks = [rng.integers(0, M, 1000, dtype=np.uint64) for _ in range(5)]
    (z0, z1), _ = beaver_mul(split(ex, masks[0]), split(ey, masks[1]),
                             (split(a, masks[2]), split(b, masks[3]), split(c, masks[4])))
    got = decode_fixed(reconstruct(*truncate_shares(z0, z1)))
    bound = (np.abs(x) + np.abs(y)) * 2.0**-17 + 2.0**-34 + 2.0**-16  # encoding + one unit of truncation
    assert np.all(np.abs(got - x * y) <= bound)


def test_beaver_validation():
    u = np.ones(2, np.uint64)
    with pytest.raises(ValueError):
        beaver_mul((u, u), (u, np.ones(3, np.uint64)), ((u, u), (u, u), (u, u)))
    U = np.ones((2, 2), np.uint64)
    with pytest.raises(ValueError):
        beaver_matmul((U, U), (U, U), ((U, U), (U, U), (U, np.ones((2, 3), np.uint64))))


# ---------------------------------------------------------------------------------------------
# truncation
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(x=st.integers(-(2**45), 2**45), r=ring_el, f=st.sampled_from([0, 1, 13, 16]))
def test_truncation_correct_exactly_when_no_wrap(x, r, f):
    """SecureML Thm 1 made exact: with x0 = r, the result is floor(x / 2^f) + {0, 1} iff r - x (as integers) lies in [0, 2^64)."""
    x0, x1 = split(np.array([x % M], np.uint64), np.array([r], np.uint64))
    y = signed(py(reconstruct(*truncate_shares(x0, x1, f)))[0])
    ok = 0 <= r - x < M
    if ok or f == 0:  # with f = 0 the error would be 2^64, which is 0 in the ring
        assert y - x // 2**f in (0, 1)
    else:
        assert abs(y - x // 2**f) > 2 ** (63 - f)  # the rare error is huge, about 2^(64 - f)


def test_truncation_failure_rate_matches_x_over_2_64():
    """Over 200,000 uniform masks, the large-error rate for |x| = 2^54 is |x| / 2^64 ~ 9.8e-4 (binomial 4-sigma band)."""
    rng = np.random.default_rng(5)
    n, v = 200_000, 2**54
    x = np.full(n, v, np.uint64)
    y = reconstruct(*truncate_shares(*share(x, rng.integers(0, M, n, dtype=np.uint64)))).view(np.int64)
    rate = np.mean(np.abs(y - (v >> 16)) > 1)
    p = v / M
    assert abs(rate - p) < 4 * np.sqrt(p / n)


def test_truncation_share_zero():
    """x1 = 0 (so x = x0): party 1's new share is 0 and the result is floor(x0 / 2^f)."""
    y0, y1 = truncate_shares(np.array([2**20 + 7], np.uint64), np.array([0], np.uint64), 4)
    assert py(y1) == [0] and py(y0) == [(2**20 + 7) // 16]
