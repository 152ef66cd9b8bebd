"""The shared strategies reach what issue 19 says the checks missed: long inputs, exact ties, tiny values."""

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from labgrader import strategies as S


def test_sizes_reach_beyond_the_readable_range_and_shrink_back_into_it():
    assert find(S.sizes(1, 4), lambda n: n > 30) > 30  # drawn at all
    assert find(S.sizes(1, 4), lambda n: n >= 1) == 1  # a counterexample shrinks to the smallest size
    assert find(S.sizes(2, 6, large=6), lambda n: True) == 2
    with pytest.raises(ValueError, match="lo=5 > hi=4"):
        S.sizes(5, 4)


@settings(max_examples=50, database=None)
@given(S.half_ties(2.0 ** -3))
def test_half_ties_are_exact_halfway_points_that_np_round_sends_to_even(x):
    q = x / 2.0 ** -3
    assert q - np.floor(q) == 0.5
    assert np.round(q) % 2 == 0 and abs(np.round(q) - q) == 0.5


def test_tied_draws_exact_ties_and_keeps_the_input():
    values = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    tied = find(st.data(), lambda d: len(np.unique(S.tied(values, d.draw))) < values.size)
    assert tied is not None
    np.testing.assert_array_equal(values, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])  # not modified


def test_with_tiny_draws_the_tiny_magnitudes():
    x = find(S.with_tiny(st.floats(1.0, 2.0)), lambda v: 0 < abs(v) < 1e-10)
    assert abs(x) in (1e-20, 1e-300)
