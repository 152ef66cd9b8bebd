"""Tests of labdatasets.imbalance.downsample_classes (counts by hand, determinism, errors)."""

from __future__ import annotations

import numpy as np
import pytest

from labdatasets.imbalance import downsample_classes


def test_counts_and_untouched_classes():
    y = np.repeat(np.arange(4), [10, 20, 5, 8])
    idx = downsample_classes(y, [1, 2], 0.2, seed=0)
    counts = np.bincount(y[idx], minlength=4)
    assert counts.tolist() == [10, 4, 1, 8]  # round(0.2 * 20) = 4, round(0.2 * 5) = 1
    assert np.all(np.diff(idx) > 0) and idx.dtype == np.int64
    assert set(np.flatnonzero(y == 0)) <= set(idx) and set(np.flatnonzero(y == 3)) <= set(idx)


def test_deterministic_and_seed_dependent():
    y = np.repeat(np.arange(3), 50)
    a = downsample_classes(y, [0, 2], 0.3, seed=1)
    np.testing.assert_array_equal(a, downsample_classes(y, [0, 2], 0.3, seed=1))
    assert not np.array_equal(a, downsample_classes(y, [0, 2], 0.3, seed=2))


def test_keeps_at_least_one_and_rejects_bad_input():
    y = np.array([0, 0, 1])
    assert np.bincount(y[downsample_classes(y, [1], 0.01)], minlength=2).tolist() == [2, 1]
    for args in [(y, [1, 1], 0.5), (y, [1], 0.0), (y, [1], 1.5), (y.astype(float), [1], 0.5)]:
        with pytest.raises(ValueError):
            downsample_classes(*args)
