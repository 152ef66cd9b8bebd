"""Recorded cases (labgrader.cases) change how fast a grade is found, never the grade.

The oracle is hypothesis itself: the examples it feeds a real passing function, and the outcome
it gives a failing one, with no record in the way.
"""

from __future__ import annotations

import inspect
import textwrap

import numpy as np
import pytest
from hypothesis import strategies as st

from labgrader import cases as C
from labgrader.assertions import CheckFailed
from labgrader.checks import Check
from labgrader.checks.lab01_distillation import CHECKS
from labgrader.inprocess import InProcessBackend
from labgrader.runner import StudentFunction, grade_exercise, hypothesis_test, run_check
from reference_impl import distillation as R

SEED = 20261121
SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


def _same(a, b) -> bool:
    """Exact equality of recorded inputs: arrays by dtype, shape and bits."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _fed_to(check: Check, backend, *, max_examples: int) -> list[dict]:
    """The inputs hypothesis gives ``check`` while it really runs against ``backend``'s function."""
    seen: list[dict] = []
    student = StudentFunction(backend, check.exercise)
    ref = getattr(R, check.exercise)

    def body(**kwargs):
        seen.append(C.copy.deepcopy(kwargs))
        check.fn(student, ref, **kwargs)

    hypothesis_test(check, body, max_examples=max_examples, seed_value=SEED)()
    return seen


@pytest.mark.parametrize("ex_id", list(CHECKS))
def test_a_passing_function_is_fed_exactly_the_recorded_cases(ex_id):
    # The first check of every Lab 1 exercise at the grading profile's 50 examples: the reference
    # runs (and takes its time) in the body, the recording runs nothing.
    check = next(iter(CHECKS[ex_id].values()))
    recorded = C.record_check(check, max_examples=50, seed_value=SEED)
    fed = _fed_to(check, InProcessBackend.from_source(SOURCE), max_examples=50)
    assert len(recorded) == len(fed) > 0
    assert all(_same(a, b) for a, b in zip(recorded, fed))


def _outcomes(source: str, ex_id: str, lab, cases):
    ex = lab.exercise(ex_id)
    out = grade_exercise(ex, [CHECKS[ex_id][n] for n in ex.checks], InProcessBackend.from_source(source),
                         defined=True, max_examples=50, seed_value=SEED, cases=cases)
    return [(c.name, c.passed, c.status, c.examples, c.output, c.counterexample_size) for c in out.checks]


BUGS = {
    # wrong only for a batch of 4 rows: passes many cases before the first failure
    "softmax_t": ("def softmax_t(logits, T):\n"
                  "    z = np.asarray(logits, dtype=np.float64) / T\n"
                  "    z = z - z.max(axis=-1, keepdims=True)\n"
                  "    e = np.exp(z)\n"
                  "    p = e / e.sum(axis=-1, keepdims=True)\n"
                  "    return p[::-1] if p.ndim == 2 and p.shape[0] == 4 else p\n"),
    "kd_loss": "def kd_loss(*args, **kwargs):\n    raise NotImplementedError\n",
}


@pytest.mark.parametrize("ex_id", list(BUGS))
def test_a_failing_function_gets_the_outcome_it_gets_without_cases(lab01, ex_id, tmp_path):
    recorded = C.lab_cases("lab01", {ex_id: [CHECKS[ex_id][n] for n in lab01.exercise(ex_id).checks]},
                           fingerprint="test", max_examples=50, seed_value=SEED, root=tmp_path)[ex_id]
    source = SOURCE + "\n\n" + BUGS[ex_id]
    with_cases = _outcomes(source, ex_id, lab01, recorded)
    without = _outcomes(source, ex_id, lab01, None)
    assert with_cases == without
    assert any(not passed for _, passed, *_ in with_cases)  # the bug is found


def _lab07_drawing_checks():
    from labgrader.checks.lab07_private_inference import CHECKS as LAB07_CHECKS

    return [c for c in LAB07_CHECKS["hysteresis_update"].values() if C.draws_in_body(c)]


def test_checks_that_draw_in_their_body_are_recorded_with_the_reference_and_replayed_exactly(course):
    lab = course.lab("lab07")
    checks = _lab07_drawing_checks()
    assert len(checks) >= 3
    ex = lab.exercise("hysteresis_update")
    reference = (ex.function_name, ex.load_reference())
    assert C.record_check(checks[0], max_examples=5, seed_value=SEED) is None  # no reference: not recordable
    ref_source = textwrap.dedent(inspect.getsource(reference[1]))
    bug = ref_source.replace("aux > t", "aux >= t")  # wrong exactly on the band's upper edge
    assert bug != ref_source
    for check in checks:
        recorded = C.record_check(check, max_examples=50, seed_value=SEED, reference=reference)
        assert recorded and all(isinstance(case["data"], C.RecordedDraws) for case in recorded)
        assert sum(not case["data"].aborted for case in recorded) == 50  # and the abandoned ones besides
        for source in (ref_source, bug):
            def outcome(cases):
                backend = InProcessBackend.from_source(source)
                o = run_check(check, StudentFunction(backend, ex.function_name), reference[1],
                              max_examples=50, seed_value=SEED, cases=cases)
                return o.passed, o.status, o.examples, o.output

            assert outcome(recorded) == outcome(None)


def test_a_replay_that_asks_for_an_unrecorded_draw_falls_back_to_hypothesis():
    from labgrader.runner import RecordedDraws, replay

    def body(student, ref, data):
        """draws twice."""
        data.draw(st.integers(0, 3))
        data.draw(st.integers(0, 3))

    check = Check("f", "twice", "draws twice.", {"data": st.data()}, body)
    one_draw = [{"data": RecordedDraws([(repr(st.integers(0, 3)), 1)])}]
    wrong_strategy = [{"data": RecordedDraws([(repr(st.integers(0, 9)), 1), (repr(st.integers(0, 9)), 2)])}]
    extra = [{"data": RecordedDraws([(repr(st.integers(0, 3)), 1)] * 3)}]
    exact = [{"data": RecordedDraws([(repr(st.integers(0, 3)), 1)] * 2)}]
    student = StudentFunction(InProcessBackend({}), "f")
    assert replay(check, student, None, one_draw) is None
    assert replay(check, student, None, wrong_strategy) is None
    assert replay(check, student, None, extra) is None
    assert replay(check, student, None, exact).passed


def _toy_check() -> Check:
    def agrees(student, ref, x):
        """f(x) should equal x."""
        if student(x) != x:
            raise CheckFailed("no")

    return Check("f", "agrees", "f(x) should equal x.", {"x": st.integers(-100, 100)}, agrees)


def test_a_corrupt_record_is_recorded_again_and_an_unwritable_one_costs_only_time(tmp_path, capsys, monkeypatch):
    check = _toy_check()
    monkeypatch.setattr(C, "_memory", {})
    first = C.lab_cases("toy", {"f": [check]}, fingerprint="fp", max_examples=20, seed_value=1, root=tmp_path)
    files = list(tmp_path.glob("toy-*.pickle"))
    assert len(files) == 1 and len(first["f"]["agrees"]) == 20
    files[0].write_bytes(b"not a pickle")
    monkeypatch.setattr(C, "_memory", {})
    again = C.lab_cases("toy", {"f": [check]}, fingerprint="fp", max_examples=20, seed_value=1, root=tmp_path)
    assert again == first
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    monkeypatch.setattr(C, "_memory", {})
    third = C.lab_cases("toy", {"f": [check]}, fingerprint="fp", max_examples=20, seed_value=1, root=blocked)
    assert third == first
    assert "could not be saved" in capsys.readouterr().err


def test_the_record_is_keyed_by_everything_that_changes_it():
    base = C.cache_key("fp", 50, 1)
    assert base == C.cache_key("fp", 50, 1)
    assert len({base, C.cache_key("fp2", 50, 1), C.cache_key("fp", 51, 1), C.cache_key("fp", 50, 2)}) == 4


def test_a_stateful_function_that_passes_the_record_is_graded_as_hypothesis_would():
    # Passing on the recorded cases and then on hypothesis's are the same event; a function that
    # changes between calls is caught by the property or reported as flaky, never passed by the record.
    check = _toy_check()
    calls = {"n": 0}

    def drifting(x):
        calls["n"] += 1
        return x if calls["n"] <= 20 else x + 1

    recorded = C.record_check(check, max_examples=20, seed_value=1)
    out = run_check(check, StudentFunction(InProcessBackend({"f": drifting}), "f"), None,
                    max_examples=40, seed_value=1, cases=C.record_check(check, max_examples=40, seed_value=1))
    assert len(recorded) == 20 and not out.passed


def test_a_check_whose_strategies_change_is_recorded_again(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "_memory", {})
    narrow = _toy_check()
    wide = Check("f", "agrees", narrow.description, {"x": st.integers(1000, 2000)}, narrow.fn)
    a = C.lab_cases("toy", {"f": [narrow]}, fingerprint="fp", max_examples=10, seed_value=1, root=tmp_path)
    b = C.lab_cases("toy", {"f": [wide]}, fingerprint="fp", max_examples=10, seed_value=1, root=tmp_path)
    assert all(-100 <= kw["x"] <= 100 for kw in a["f"]["agrees"])
    assert all(1000 <= kw["x"] <= 2000 for kw in b["f"]["agrees"])
