"""The cost of privacy (Lab 7): a Beaver matrix product against a float one, and bytes per inference.

* Time: ``reference_impl.secret_sharing.beaver_matmul`` on 256×256 shares (the online phase of both
  parties, simulated in one process: five uint64 matrix products, which NumPy computes without BLAS)
  against ``X @ Y`` in float64 (BLAS), median of repeated runs; the dealer's offline work
  (``labkit.private_inference.Dealer.matmul_triple``: one more uint64 product) is reported apart.
* Communication: bytes both parties send and rounds, for one secure inference of Lab 7's MLP
  (64→32→32→32→10 with 96 ReLUs, the notebook's model), from the cost formulas of
  ``labkit.private_inference`` that the notebook's ``Comm`` counter also uses: per image alone
  (batch 1), and per image when the 360 test images go as one batch (the shared weights are opened
  once per batch, so their cost is shared).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

MLP = (64, 32, 32, 32, 10)  # solutions/lab07_private_inference.ipynb: three hidden layers of 32 ReLUs
TEST_IMAGES = 360
SIZE = 256


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def communication(batch: int) -> tuple[float, int]:
    """(bytes per image, rounds) of one secure forward pass of the MLP over a batch."""
    from labkit.private_inference import beaver_matmul_cost, relu_cost

    total, rounds = 0.0, 0
    for i, (k, n) in enumerate(zip(MLP[:-1], MLP[1:])):
        b, r = beaver_matmul_cost(batch, k, n)
        total, rounds = total + b, rounds + r
        if i < len(MLP) - 2:  # a ReLU after every hidden layer
            b, r = relu_cost(batch * n)
            total, rounds = total + b, rounds + r
    return total / batch, rounds


def measure(course=None, repeats: int = 7) -> dict:
    from labkit.private_inference import Dealer
    from reference_impl.secret_sharing import beaver_matmul, encode_fixed, share

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(SIZE, SIZE)), rng.normal(size=(SIZE, SIZE))
    dealer = Dealer(seed=0)
    xs = share(encode_fixed(X), dealer.mask(X.shape))
    ys = share(encode_fixed(Y), dealer.mask(Y.shape))
    triple = dealer.matmul_triple(SIZE, SIZE, SIZE)
    plain_s = _median_time(lambda: X @ Y, repeats * 5)
    beaver_s = _median_time(lambda: beaver_matmul(xs, ys, triple), repeats)
    dealer_s = _median_time(lambda: dealer.matmul_triple(SIZE, SIZE, SIZE), max(3, repeats // 2))
    one, rounds = communication(1)
    batched, _ = communication(TEST_IMAGES)
    rows = [
        (f"private: {SIZE}x{SIZE} float64 matmul (median)", plain_s * 1e3, "ms", None),
        (f"private: {SIZE}x{SIZE} Beaver matmul, online, both parties", beaver_s * 1e3, "ms", None),
        ("private: Beaver matmul / float matmul", beaver_s / plain_s, "x", ("private", "beaver_matmul_over_plain_max")),
        (f"private: dealer's {SIZE}x{SIZE} matrix triple (offline)", dealer_s * 1e3, "ms", None),
        ("private: MLP secure inference, one image alone", one / 1024, "KiB", None),
        (f"private: MLP, per image in a batch of {TEST_IMAGES}", batched / 1024, "KiB", None),
        ("private: MLP secure inference, rounds", float(rounds), "", None),
    ]
    return {"plain_matmul_s": plain_s, "beaver_matmul_s": beaver_s, "dealer_triple_s": dealer_s,
            "comm_bytes_one_image": one, "comm_bytes_per_image_batched": batched, "rounds": rounds,
            "mlp": list(MLP), "rows": rows}
