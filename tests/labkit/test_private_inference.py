"""Tests of labkit.private_inference (Lab 7): the dealer, the cost model and the secure ReLU.

Oracles: Python integers mod 2^64 for the dealer's correlations, np.maximum on the signed
values for the secure ReLU, and the cost written out by hand (ANDs of 64-bit words, openings).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from labkit.private_inference import (
    Comm, Dealer, beaver_matmul_cost, beaver_mul_cost, beaver_square_cost, relu_cost, secure_relu,
)

M = 2**64


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def py(a):
    return [int(v) for v in np.asarray(a).ravel()]


def opened(pair):
    return [(x + y) % M for x, y in zip(py(pair[0]), py(pair[1]))]


def test_triples_are_consistent():
    d = Dealer(0)
    a, b, c = d.triple((50,))
    assert opened(c) == [(x * y) % M for x, y in zip(opened(a), opened(b))]
    a, a2, c = d.square((20,))
    assert opened(a) == opened(a2) and opened(c) == [(x * x) % M for x in opened(a)]
    A, B, C = d.matmul_triple(3, 4, 2)
    Ai, Bi = np.array(opened(A), dtype=object).reshape(3, 4), np.array(opened(B), dtype=object).reshape(4, 2)
    assert opened(C) == [int(v) % M for v in (Ai @ Bi).ravel()]


def test_boolean_triples_and_dabits():
    d = Dealer(1)
    u, v, w = d.and_triple((30,))
    xo = lambda p: p[0] ^ p[1]  # noqa: E731
    assert np.array_equal(xo(w), xo(u) & xo(v))
    (rb0, rb1), ra = d.dabit((1000,))
    bits = rb0 ^ rb1
    assert set(np.unique(bits).tolist()) <= {0, 1} and 300 < bits.sum() < 700
    assert opened(ra) == py(bits)


def test_dealer_never_reuses_a_triple():
    """20,000 triple elements from one dealer: all values of a distinct (a repeat has probability ~1e-11)."""
    d = Dealer(2)
    a = np.concatenate([np.array(opened(d.triple((1000,))[0]), dtype=np.uint64) for _ in range(20)])
    assert len(np.unique(a)) == len(a)
    assert d.issued == 20 * 1000 * 5  # a, b, and one mask for each of the sharings of a, b and c


def test_dealer_is_deterministic_per_seed():
    assert np.array_equal(Dealer(3).mask((5,)), Dealer(3).mask((5,)))
    assert not np.array_equal(Dealer(3).mask((5,)), Dealer(4).mask((5,)))


def test_secure_relu_is_exact():
    rng = np.random.default_rng(0)
    x = rng.integers(0, M, size=5000, dtype=np.uint64)
    x[:7] = [0, 1, 2**63 - 1, 2**63, M - 1, 2**62, 2**63 + 1]
    r = rng.integers(0, M, size=x.size, dtype=np.uint64)
    x0 = r
    x1 = np.array([(a - b) % M for a, b in zip(py(x), py(r))], dtype=np.uint64)
    comm = Comm()
    y0, y1 = secure_relu(x0, x1, Dealer(5), comm)
    signed = [v - M if v >= 2**63 else v for v in py(x)]
    assert opened((y0, y1)) == [max(v, 0) % M for v in signed]
    # 1 + 2 * 6 ANDs of 64-bit words (each: both parties send 2 words of 8 bytes), a 1-bit opening per party,
    # one Beaver product (both parties send 2 ring elements): per element 13 * 32 + 2/8 + 32 bytes; 9 rounds.
    assert comm.bytes["relu"] == pytest.approx(x.size * (13 * 32 + 0.25 + 32))
    assert comm.rounds["relu"] == 9 == relu_cost(1)[1]


def test_secure_relu_2d_and_shape_check():
    d = Dealer(6)
    x0 = d.mask((3, 4))
    y0, y1 = secure_relu(x0, np.zeros((3, 4), np.uint64), d)
    assert y0.shape == (3, 4)
    with pytest.raises(ValueError):
        secure_relu(x0, np.zeros((3, 5), np.uint64), d)


def test_costs_written_out():
    assert beaver_mul_cost(10) == (10 * 2 * 2 * 8, 1)
    assert beaver_square_cost(10) == (10 * 2 * 8, 1)
    assert beaver_matmul_cost(5, 3, 2) == (2 * 8 * (5 * 3 + 3 * 2), 1)
    c = Comm()
    c.add("x", (10, 1))
    c.add("x", (5, 1))
    assert c.total_bytes == 15 and c.total_rounds == 2 and "total" in c.table()
