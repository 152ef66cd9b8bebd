"""Two-party secret sharing over the ring Z_2^64: the NumPy reference graded in Lab 7.

Every public function here is an exercise: its source is copied verbatim into the solution
notebook by ``course build``, so each is self-contained apart from ``numpy`` as ``np`` and the
other exercise functions of the lab, which it calls by name.

Conventions (where the literature differs, the one chosen is stated):

* The ring is Z_2^64, held in ``np.uint64`` arrays whose arithmetic wraps around modulo 2^64.
  NumPy wraps uint64 *array* arithmetic silently, but warns on overflowing uint64 *scalars*; the
  functions therefore work on arrays (``np.asarray``) inside ``np.errstate(over="ignore")``.
* Reals are fixed point with ``frac_bits`` fractional bits (16 by default): x -> round(x * 2^16),
  and negative values are represented in two's complement, i.e. -v is 2^64 - v.
* Randomness is explicit: ``share`` takes the random mask ``r`` and ``beaver_mul`` takes the
  dealer's triple as arrays, so a function is a pure function of its inputs (and a test can hand
  it chosen masks). Generating masks and triples is the trusted dealer's job
  (``labkit.private_inference.Dealer``), not the protocol's.
* A pair of shares is a tuple ``(x0, x1)``: x0 is party 0's share, x1 party 1's, and
  x = x0 + x1 mod 2^64.

References: D. Beaver, "Efficient Multiparty Protocols Using Circuit Randomization", CRYPTO 1991
(multiplication triples); P. Mohassel and Y. Zhang, "SecureML: A System for Scalable
Privacy-Preserving Machine Learning", IEEE S&P 2017 (fixed point in Z_2^l and the local
two-party truncation, their Theorem 1).
"""

from __future__ import annotations

import numpy as np


def encode_fixed(x: np.ndarray, frac_bits: int = 16) -> np.ndarray:
    """Encode reals as fixed-point elements of the ring Z_2^64.

    enc(x) = round(x * 2^f) mod 2^64,   f = frac_bits

    A negative value -v is stored as its two's complement 2^64 - round(v * 2^f), so that ring
    addition of encodings is addition of the reals (as long as no result leaves
    [-2^63, 2^63) / 2^f). Rounding is to the nearest integer, ties to even (np.round / np.rint),
    so the encoding error is at most 2^-(f+1).

    Args:
        x: float array (any shape) of finite values with |x| * 2^f < 2^63.
        frac_bits: f, an int with 0 <= f <= 62.

    Returns:
        uint64 array of the shape of x.

    Raises:
        ValueError: if frac_bits is out of range, or x has a non-finite or too large value.
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, (int, np.integer)) or not 0 <= frac_bits <= 62:
        raise ValueError(f"frac_bits must be an int in [0, 62], got {frac_bits!r}")
    scaled = np.rint(np.asarray(x, dtype=np.float64) * 2.0**frac_bits)  # integers, as float64
    if not np.all(np.isfinite(scaled)) or np.any(np.abs(scaled) >= 2.0**63):
        raise ValueError(f"x must be finite with |x| * 2^{frac_bits} < 2^63")
    return scaled.astype(np.int64).view(np.uint64)  # two's complement: -v -> 2^64 - v


def decode_fixed(x_ring: np.ndarray, frac_bits: int = 16) -> np.ndarray:
    """Decode fixed-point ring elements back to reals.

    dec(u) = s(u) / 2^f,   s(u) = u if u < 2^63 else u - 2^64   (two's complement)

    The upper half of the ring holds the negative values: 2^64 - 1 decodes to -2^-f.

    Args:
        x_ring: uint64 array (any shape).
        frac_bits: f, an int with 0 <= f <= 62.

    Returns:
        float64 array of the shape of x_ring.

    Raises:
        ValueError: if frac_bits is out of range or x_ring is not a uint64 array.
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, (int, np.integer)) or not 0 <= frac_bits <= 62:
        raise ValueError(f"frac_bits must be an int in [0, 62], got {frac_bits!r}")
    x_ring = np.asarray(x_ring)
    if x_ring.dtype != np.uint64:
        raise ValueError(f"x_ring must be a uint64 array (ring elements), got dtype {x_ring.dtype}")
    return x_ring.view(np.int64).astype(np.float64) / 2.0**frac_bits


def share(x_ring: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a secret into two additive shares over Z_2^64, using the random mask r.

    x0 = r,   x1 = x - r mod 2^64

    so that x0 + x1 = x mod 2^64. With r uniform on Z_2^64, each share alone is uniform
    whatever x is: x0 trivially, and x1 because x - r is a bijection of r. One share reveals
    nothing; both together reveal x.

    Args:
        x_ring: uint64 array, the secret (fixed-point encoded).
        r: uint64 array of the same shape, the uniform random mask (from the dealer).

    Returns:
        (x0, x1): two uint64 arrays of the shape of x_ring.

    Raises:
        ValueError: if x_ring or r is not uint64, or their shapes differ.
    """
    x_ring, r = np.asarray(x_ring), np.asarray(r)
    if x_ring.dtype != np.uint64 or r.dtype != np.uint64:
        raise ValueError(f"x_ring and r must be uint64 arrays, got {x_ring.dtype} and {r.dtype}")
    if x_ring.shape != r.shape:
        raise ValueError(f"x_ring and r must have the same shape, got {x_ring.shape} and {r.shape}")
    with np.errstate(over="ignore"):
        return r.copy(), x_ring - r


def reconstruct(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Open a shared value: add the two shares in the ring.

    x = x0 + x1 mod 2^64

    Args:
        x0, x1: uint64 arrays of one shape, the two parties' shares.

    Returns:
        uint64 array: the secret.

    Raises:
        ValueError: if a share is not uint64 or the shapes differ.
    """
    x0, x1 = np.asarray(x0), np.asarray(x1)
    if x0.dtype != np.uint64 or x1.dtype != np.uint64:
        raise ValueError(f"shares must be uint64 arrays, got {x0.dtype} and {x1.dtype}")
    if x0.shape != x1.shape:
        raise ValueError(f"the shares must have the same shape, got {x0.shape} and {x1.shape}")
    with np.errstate(over="ignore"):
        return x0 + x1


def beaver_mul(x_shares: tuple, y_shares: tuple, triple: tuple) -> tuple:
    """Multiply two shared values elementwise with a Beaver triple (Beaver, CRYPTO 1991).

    The dealer gives shares of random a, b and c = a * b (mod 2^64). The parties open

        e = x - a,   f = y - b          (each party sends its share of e and f: one round)

    which are uniformly random, hence reveal nothing about x and y, and then compute locally

        z_i = c_i + e * b_i + a_i * f   (i = 0, 1)   and party 0 alone adds e * f,

    so that z0 + z1 = ab + (x - a) b + a (y - b) + (x - a)(y - b) = x y  (mod 2^64).
    All products are ring products: on fixed-point inputs the result has 2f fractional bits
    and needs ``truncate_shares`` afterwards. A triple must never be used twice: two openings
    x - a and x' - a would reveal x - x'.

    Args:
        x_shares: (x0, x1), uint64 arrays of one shape.
        y_shares: (y0, y1), uint64 arrays of the same shape.
        triple: ((a0, a1), (b0, b1), (c0, c1)), uint64 arrays of the same shape, c = a * b.

    Returns:
        ((z0, z1), (e, f)): the shares of x * y, and the two public values that were opened.

    Raises:
        ValueError: if an array is not uint64 or the shapes differ.
    """
    x0, x1, y0, y1, a0, a1, b0, b1, c0, c1 = arrays = [
        np.asarray(v) for v in (*x_shares, *y_shares, *triple[0], *triple[1], *triple[2])]
    if any(v.dtype != np.uint64 for v in arrays) or len({v.shape for v in arrays}) != 1:
        raise ValueError("beaver_mul needs uint64 shares and triple parts, all of the same shape")
    with np.errstate(over="ignore"):
        e = (x0 - a0) + (x1 - a1)  # opened: x - a
        f = (y0 - b0) + (y1 - b1)  # opened: y - b
        z0 = c0 + e * b0 + a0 * f + e * f  # party 0 adds the public e * f
        z1 = c1 + e * b1 + a1 * f
    return (z0, z1), (e, f)


def beaver_matmul(X_shares: tuple, Y_shares: tuple, triple: tuple) -> tuple:
    """Multiply two shared matrices with a matrix Beaver triple (SecureML, sec. 4.2).

    The dealer gives shares of random A (m, k), B (k, n) and C = A @ B (mod 2^64). The parties
    open E = X - A and F = Y - B (m k + k n ring elements from each party, one round) and compute

        Z_i = C_i + E @ B_i + A_i @ F   (i = 0, 1)   and party 0 alone adds E @ F,

    so Z0 + Z1 = X @ Y (mod 2^64). The cost is the size of the *inputs*, not of the m k n
    products: a secure linear layer costs little more than sending its operands once.

    Args:
        X_shares: (X0, X1), uint64 arrays of shape (m, k).
        Y_shares: (Y0, Y1), uint64 arrays of shape (k, n).
        triple: ((A0, A1), (B0, B1), (C0, C1)) of shapes (m, k), (k, n), (m, n); C = A @ B.

    Returns:
        ((Z0, Z1), (E, F)): the shares of X @ Y, shape (m, n), and the opened E and F.

    Raises:
        ValueError: if an array is not a 2-D uint64 array or the shapes do not chain.
    """
    X0, X1, Y0, Y1, A0, A1, B0, B1, C0, C1 = arrays = [
        np.asarray(v) for v in (*X_shares, *Y_shares, *triple[0], *triple[1], *triple[2])]
    if any(v.dtype != np.uint64 or v.ndim != 2 for v in arrays):
        raise ValueError("beaver_matmul needs 2-D uint64 shares and triple parts")
    m, k = X0.shape
    n = Y0.shape[1]
    if not (X1.shape == A0.shape == A1.shape == (m, k) and Y0.shape[0] == k
            and Y1.shape == B0.shape == B1.shape == (k, n) and C0.shape == C1.shape == (m, n)):
        raise ValueError("shapes do not chain: X and A must be (m, k), Y and B (k, n), C (m, n)")
    with np.errstate(over="ignore"):
        E = (X0 - A0) + (X1 - A1)  # (m, k), opened
        F = (Y0 - B0) + (Y1 - B1)  # (k, n), opened
        Z0 = C0 + E @ B0 + A0 @ F + E @ F  # (m, n); party 0 adds the public E @ F
        Z1 = C1 + E @ B1 + A1 @ F  # (m, n)
    return (Z0, Z1), (E, F)


def truncate_shares(x0: np.ndarray, x1: np.ndarray, frac_bits: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Divide a shared value by 2^f locally, without communication (SecureML, Theorem 1).

    After a product of two fixed-point values the result carries 2f fractional bits. Each
    party shifts its own share:

        party 0:  y0 = floor(x0 / 2^f)                      (logical shift of the uint64)
        party 1:  y1 = -floor(((-x1) mod 2^64) / 2^f) mod 2^64   (i.e. -((-x1) >> f) in the ring)

(SecureML writes party 1's rule as 2^64 - floor((2^64 - x1) / 2^f); reducing 2^64 - x1 mod 2^64
first, as here, also gives the right answer for the share x1 = 0.)

    If the secret x (read as a signed value) is small, |x| < 2^l_x, then except with
    probability about 2^(l_x + 1 - 64) over the random shares, y0 + y1 decodes to x / 2^f up to
    one unit in the last place (1 / 2^f after decoding). In the rare bad case — x0 falls within
    |x| of the wrap-around — the result is off by about 2^(64 - f): a huge error, which is why
    the ring must be much larger than the values it holds.

    Args:
        x0, x1: uint64 arrays of one shape, shares of x.
        frac_bits: f, an int with 0 <= f <= 62.

    Returns:
        (y0, y1): uint64 shares of (approximately) x / 2^f.

    Raises:
        ValueError: if frac_bits is out of range, a share is not uint64 or the shapes differ.
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, (int, np.integer)) or not 0 <= frac_bits <= 62:
        raise ValueError(f"frac_bits must be an int in [0, 62], got {frac_bits!r}")
    x0, x1 = np.asarray(x0), np.asarray(x1)
    if x0.dtype != np.uint64 or x1.dtype != np.uint64:
        raise ValueError(f"shares must be uint64 arrays, got {x0.dtype} and {x1.dtype}")
    if x0.shape != x1.shape:
        raise ValueError(f"the shares must have the same shape, got {x0.shape} and {x1.shape}")
    f = np.uint64(frac_bits)
    with np.errstate(over="ignore"):
        y0 = x0 >> f
        y1 = np.uint64(0) - ((np.uint64(0) - x1) >> f)
    return y0, y1
