"""The parts of two-party private inference the Lab 7 experiments need besides the exercises.

Not graded, shipped to students. The graded exercises (fixed point, shares, Beaver products,
truncation) are pure functions that take their randomness as arguments; this module supplies
that randomness and the one protocol the lab does not ask the student to write:

* ``Dealer``: the trusted third party of the "dealer model" (offline phase). It hands out
  random masks, arithmetic Beaver triples (elementwise and matrix), Beaver squares, Boolean
  (AND) triples and "daBits" (a random bit shared both as XOR and as ring shares), each freshly
  drawn: a triple is never handed out twice.
* ``Comm``: communication accounting of the online phase — bytes sent by both parties together
  and rounds, per kind of operation.
* ``secure_relu``: ReLU on ring shares by extracting the sign bit. The two shares x0 and x1 are
  the inputs of a 64-bit adder whose most significant output bit is the sign of x; the adder's
  carries are computed on XOR shares with a Kogge–Stone parallel prefix (the AND gates use
  Boolean Beaver triples, 64 bits packed in one uint64 word per AND), the sign bit is converted
  to a ring share with a daBit, and ReLU(x) = x - x * msb with one arithmetic Beaver product.
  This is the structure of the A2B-based comparisons of ABY (Demmler et al., NDSS 2015) and
  CrypTen (Knott et al., NeurIPS 2021), simulated here with both parties in one process.

All ring arithmetic is on ``np.uint64`` arrays modulo 2^64, with overflow warnings silenced
explicitly. Imports point one way: labkit -> numpy only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Comm", "Dealer", "RING_BYTES", "beaver_mul_cost", "beaver_matmul_cost", "beaver_square_cost",
           "relu_cost", "secure_relu"]

RING_BYTES = 8  # one element of Z_2^64
WORD_BITS = 64
KOGGE_STONE_SHIFTS = (1, 2, 4, 8, 16, 32)  # log2(64) prefix levels


def _u64(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint64:
        raise ValueError(f"expected a uint64 array, got dtype {a.dtype}")
    return a


# ---------------------------------------------------------------------------------------------
# Costs of the online phase, in bytes sent by both parties together, and rounds


def beaver_mul_cost(n: int) -> tuple[int, int]:
    """Elementwise Beaver product of n elements: each party sends its shares of e and f."""
    return 2 * 2 * n * RING_BYTES, 1


def beaver_square_cost(n: int) -> tuple[int, int]:
    """Square from a Beaver pair (a, a^2) of n elements: only e = x - a is opened."""
    return 2 * n * RING_BYTES, 1


def beaver_matmul_cost(m: int, k: int, n: int) -> tuple[int, int]:
    """Matrix Beaver product (m, k) @ (k, n): each party sends its shares of E (m k) and F (k n)."""
    return 2 * (m * k + k * n) * RING_BYTES, 1


def relu_cost(n: int) -> tuple[float, int]:
    """``secure_relu`` on n elements: 1 + 2 * 6 word-ANDs of the adder, a daBit opening, one Beaver product."""
    and_words = 1 + 2 * len(KOGGE_STONE_SHIFTS)
    bytes_ = and_words * 2 * 2 * n * (WORD_BITS // 8) + 2 * n / 8 + beaver_mul_cost(n)[0]
    return bytes_, 1 + len(KOGGE_STONE_SHIFTS) + 1 + 1


@dataclass
class Comm:
    """Online communication, per kind of operation: bytes (both parties together) and rounds."""

    bytes: dict = field(default_factory=lambda: defaultdict(float))
    rounds: dict = field(default_factory=lambda: defaultdict(int))

    def add(self, op: str, cost: tuple) -> None:
        self.bytes[op] += cost[0]
        self.rounds[op] += cost[1]

    @property
    def total_bytes(self) -> float:
        return float(sum(self.bytes.values()))

    @property
    def total_rounds(self) -> int:
        return int(sum(self.rounds.values()))

    def table(self) -> str:
        lines = [f"{'operation':<16}{'bytes':>14}{'rounds':>8}"]
        for op in self.bytes:
            lines.append(f"{op:<16}{self.bytes[op]:>14,.0f}{self.rounds[op]:>8}")
        lines.append(f"{'total':<16}{self.total_bytes:>14,.0f}{self.total_rounds:>8}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The trusted dealer (offline phase)


class Dealer:
    """Fresh correlated randomness from one seeded generator; nothing is ever handed out twice.

    Every call draws new values from the same ``np.random.Generator``, so two triples are
    independent; ``issued`` counts the random ring elements drawn (a measure of the offline work).
    """

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.issued = 0

    def _ring(self, shape) -> np.ndarray:
        out = self.rng.integers(0, 2**64, size=shape, dtype=np.uint64, endpoint=False)
        self.issued += out.size
        return out

    def _split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self._ring(v.shape)
        with np.errstate(over="ignore"):
            return r, v - r

    def mask(self, shape) -> np.ndarray:
        """A uniform random mask r for ``share(x, r)``."""
        return self._ring(shape)

    def triple(self, shape) -> tuple:
        """((a0, a1), (b0, b1), (c0, c1)) with c = a * b mod 2^64, elementwise."""
        a, b = self._ring(shape), self._ring(shape)
        with np.errstate(over="ignore"):
            c = a * b
        return self._split(a), self._split(b), self._split(c)

    def square(self, shape) -> tuple:
        """A Beaver pair as a triple ((a0, a1), (a0, a1), (c0, c1)) with c = a^2: x^2 opens only e."""
        a = self._ring(shape)
        with np.errstate(over="ignore"):
            c = a * a
        sa = self._split(a)
        return sa, sa, self._split(c)

    def matmul_triple(self, m: int, k: int, n: int) -> tuple:
        """((A0, A1), (B0, B1), (C0, C1)) with C = A @ B mod 2^64, shapes (m, k), (k, n), (m, n)."""
        A, B = self._ring((m, k)), self._ring((k, n))
        with np.errstate(over="ignore"):
            C = A @ B
        return self._split(A), self._split(B), self._split(C)

    def and_triple(self, shape) -> tuple:
        """Boolean Beaver triple on 64-bit words: XOR shares of u, v and w = u & v."""
        u, v = self._ring(shape), self._ring(shape)
        w = u & v
        return tuple((s, t ^ s) for t, s in ((u, self._ring(shape)), (v, self._ring(shape)), (w, self._ring(shape))))

    def dabit(self, shape) -> tuple:
        """A random bit rho, shared as XOR bits (rb0, rb1) and as ring shares (ra0, ra1)."""
        rho = self.rng.integers(0, 2, size=shape, dtype=np.uint64)
        rb0 = self.rng.integers(0, 2, size=shape, dtype=np.uint64)
        self.issued += 2 * rho.size
        return (rb0, rb0 ^ rho), self._split(rho)


# ---------------------------------------------------------------------------------------------
# Secure ReLU by sign-bit extraction


def _and(x: tuple, y: tuple, dealer: Dealer) -> tuple:
    """AND of XOR-shared words with a Boolean Beaver triple: open d = x ^ u, e = y ^ v."""
    (u0, u1), (v0, v1), (w0, w1) = dealer.and_triple(x[0].shape)
    d = (x[0] ^ u0) ^ (x[1] ^ u1)
    e = (y[0] ^ v0) ^ (y[1] ^ v1)
    z0 = w0 ^ (d & v0) ^ (e & u0) ^ (d & e)  # party 0 adds the public d & e
    z1 = w1 ^ (d & v1) ^ (e & u1)
    return z0, z1


def _msb_shares(x0: np.ndarray, x1: np.ndarray, dealer: Dealer) -> tuple:
    """XOR shares of the top bit of x0 + x1 mod 2^64 (a Kogge-Stone adder on shares)."""
    zero = np.zeros_like(x0)
    a, b = (x0, zero), (zero, x1)  # party 0's bits and party 1's bits, XOR-shared trivially
    G = _and(a, b, dealer)  # generate: a_i & b_i
    P = (x0, x1)  # propagate: a_i ^ b_i, already XOR-shared
    P_bits = P
    for k in KOGGE_STONE_SHIFTS:  # both ANDs of a level go in one round
        sk = np.uint64(k)
        PG = _and(P, (G[0] << sk, G[1] << sk), dealer)
        P = _and(P, (P[0] << sk, P[1] << sk), dealer)
        G = (G[0] ^ PG[0], G[1] ^ PG[1])  # G or (P and G') = G xor (P and G'): they never both hold
    top = np.uint64(WORD_BITS - 1)
    one = np.uint64(1)
    # sum bit 63 = a_63 ^ b_63 ^ carry into 63 = P_63 ^ G_62
    s0 = ((P_bits[0] >> top) ^ (G[0] >> np.uint64(WORD_BITS - 2))) & one
    s1 = ((P_bits[1] >> top) ^ (G[1] >> np.uint64(WORD_BITS - 2))) & one
    return s0, s1


def secure_relu(x0: np.ndarray, x1: np.ndarray, dealer: Dealer, comm: Comm | None = None) -> tuple:
    """Shares of ReLU(x) from shares of x (any shape): x - x * msb(x), msb via a Boolean adder.

    Exact: ReLU of the ring element read as a signed value, whatever the shares. The cost is
    added to ``comm`` under "relu" (see ``relu_cost``).
    """
    x0, x1 = _u64(x0), _u64(x1)
    if x0.shape != x1.shape:
        raise ValueError(f"the shares must have the same shape, got {x0.shape} and {x1.shape}")
    with np.errstate(over="ignore"):
        s0, s1 = _msb_shares(x0, x1, dealer)
        (rb0, rb1), (ra0, ra1) = dealer.dabit(x0.shape)
        d = (s0 ^ rb0) ^ (s1 ^ rb1)  # opened: msb ^ rho, a uniformly random bit
        two = np.uint64(2)
        m0 = d + ra0 - two * d * ra0  # msb = d + rho - 2 d rho, party 0 adds the public d
        m1 = ra1 - two * d * ra1
        (a0, a1), (b0, b1), (c0, c1) = dealer.triple(x0.shape)
        e = (x0 - a0) + (x1 - a1)
        f = (m0 - b0) + (m1 - b1)
        p0 = c0 + e * b0 + a0 * f + e * f
        p1 = c1 + e * b1 + a1 * f
        y0, y1 = x0 - p0, x1 - p1
    if comm is not None:
        comm.add("relu", relu_cost(x0.size))
    return y0, y1
