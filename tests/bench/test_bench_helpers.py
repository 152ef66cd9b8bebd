"""The benchmark's own machinery: the nbgrader baseline's example tests are exact and can fail."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import nbgrader_baseline as B  # noqa: E402

from labgrader.mutation import function_source  # noqa: E402


@given(hnp.arrays(st.sampled_from([np.float64, np.int64, np.uint64, np.bool_]), hnp.array_shapes(min_dims=0, max_dims=3,
                                                                                              min_side=0)))
def test_literal_rebuilds_arrays_bit_for_bit(a):
    b = eval(B.literal(a), {"np": np})
    assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()


def test_literal_of_nested_values():
    v = (1, 2.5, float("nan"), [True, None, "x"], {"k": np.float64(3.0)})
    w = eval(B.literal(v), {"np": np})
    assert w[:2] == (1, 2.5) and np.isnan(w[2]) and w[3] == [True, None, "x"] and w[4] == {"k": 3.0}


def _run_cell(source: str, fn_source: str) -> None:
    ns: dict = {"np": np}
    exec(fn_source, ns)
    exec(source, ns)


def test_example_cells_pass_the_reference_and_fail_a_bug(course):
    lab = course.lab("lab01")
    ex = lab.exercise("kd_loss")
    cell, n = B.example_test_cell(course, lab, ex)
    assert n == B.CASES_PER_EXERCISE and cell.count("assert _close(kd_loss(") == n
    src = "\n\n".join(function_source(e.load_reference()) for e in lab.exercises)
    _run_cell(cell, src)  # the reference passes its own recorded cases
    buggy = src.replace("alpha * T**2 * soft", "alpha * soft")
    assert buggy != src
    try:
        _run_cell(cell, buggy)
    except AssertionError:
        pass
    else:
        raise AssertionError("the example tests did not notice kd_loss without T^2")


def test_every_test_cell_is_replaced(course):
    lab = course.lab("lab01")
    nb, total = B.nbgrader_source_notebook(course, lab)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    assert len(tests) == len(lab.exercises) and total == B.CASES_PER_EXERCISE * len(lab.exercises)
    assert all("selfcheck" not in c.source and "assert _close(" in c.source for c in tests)
