"""assertions.as_int: the one reading of a student's count, shared by every lab's checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labgrader.assertions import CheckFailed, as_int


@given(st.integers(-(2**62), 2**62))
def test_integers_in_every_form_are_read_exactly(n):
    forms = [n, np.int64(n), np.array(n), np.array([n])]
    if abs(n) <= 2**53:  # a float holds these exactly
        forms += [float(n), np.float64(n), np.array(float(n))]
    for form in forms:
        got = as_int(form, "count")
        assert type(got) is int and got == n, repr(form)


def test_past_2_to_the_53_nothing_goes_through_float():
    assert as_int(2**53 + 1, "c") == 2**53 + 1
    assert as_int(np.int64(2**62 + 1), "c") == 2**62 + 1
    assert as_int(np.uint64(2**64 - 1), "c") == 2**64 - 1


@pytest.mark.parametrize("bad, says", [
    (True, "the boolean True"), (np.bool_(False), "the boolean False"), (2.5, "float: 2.5"),
    (float("nan"), "float"), (float("inf"), "float"), (np.float32(0.5), "float"), ("3", "str"),
    (np.array([1, 2]), "ndarray"), (None, "NoneType"), (np.array([[3]]), "ndarray"),
])
def test_anything_else_fails_and_says_what_it_got(bad, says):
    with pytest.raises(CheckFailed) as e:
        as_int(bad, "rank_for_energy(S, 0.9)")
    assert str(e.value).startswith("rank_for_energy(S, 0.9) should be an integer, got ") and says in str(e.value)
