"""Batched calls (labgrader/sandbox/batching.py): fewer round trips, the outcome of one call at a time.

Each test grades a small hand-written exercise through a real sandbox worker twice: with the
recorded cases' calls sent in batches (as `course grade` does) and one call per round trip (the
runner without a predictor), and compares the results field by field. The oracle for "fewer round
trips" is a count of the frames the grader sends, never a time.
"""

from __future__ import annotations

import dataclasses
from textwrap import dedent
from types import SimpleNamespace

import pytest
from hypothesis import strategies as st

from labgrader import runner
from labgrader.assertions import CheckFailed
from labgrader.cases import plan_calls, record_check
from labgrader.checks import Check
from labgrader.sandbox import Limits, StudentSession, batching
from labgrader.sandbox.session import CallBatch

LIMITS = Limits(call_seconds=2, submission_seconds=60, memory_mb=1024, output_kb=64)
EXAMPLES, SEED = 40, 20261121
REFERENCE = dedent(
    """
    def up(x):
        return x + 1

    def twice_up(x):
        return 2 * up(x)
    """
)


def _references() -> dict:
    ns: dict = {}
    exec(REFERENCE, ns)
    return ns


def _agrees(student, ref, x):
    """f(x) should equal the reference."""
    got, want = student(x), ref(x)
    if got != want:
        raise CheckFailed(f"f({x}) should be {want}, got {got}", expected=repr(want), got=repr(got))


def _exercise(name: str, ns: dict):
    return SimpleNamespace(id=name, points=10, function_name=name, load_reference=lambda: ns[name])


def _grade(student_source: str, name: str, *, batched: bool, monkeypatch, answers=None, planned=False):
    """(the exercise's result, frames sent per op, asks answered by the grader, restarts reported,
    workers started);
    ``answers``: the upstream functions the grader answers (with their reference)."""
    ns = _references()
    answers = {k: ns[k] for k in (answers or ())}  # the grader answers these by their reference
    check = Check(name, "agrees", "f(x) should equal the reference.", {"x": st.integers(0, 1000)}, _agrees)
    cases = record_check(check, max_examples=EXAMPLES, seed_value=SEED)
    if planned:  # as labgrader.cases records them: the plan made once, with the cases
        cases = batching.PlannedCases(cases, plan_calls(check, cases, (name, ns[name]), answers))
    sent: dict[str, int] = {}
    asks = [0]
    send, answer = StudentSession._send, StudentSession._answer

    def counting_send(self, message, deadline, what):
        sent[message.get("op")] = sent.get(message.get("op"), 0) + 1
        return send(self, message, deadline, what)

    def counting_answer(self, msg):
        asks[0] += 1
        return answer(self, msg)

    monkeypatch.setattr(StudentSession, "_send", counting_send)
    monkeypatch.setattr(StudentSession, "_answer", counting_answer)
    if not batched:
        monkeypatch.setattr(runner, "_predictor", lambda exercise, backend: None)
    with StudentSession([(0, dedent(student_source))], LIMITS) as s:
        s.start()
        result = runner.grade_exercise(_exercise(name, ns), [check], s, defined=True, max_examples=EXAMPLES,
                                       seed_value=SEED, cases={"agrees": cases}, answers=answers)
        restarts, workers = s.restarts, s._spawns
    monkeypatch.undo()
    return result, sent, asks[0], restarts, workers


def _both(source: str, name: str, monkeypatch, **kw):
    one = _grade(source, name, batched=False, monkeypatch=monkeypatch, **kw)
    many = _grade(source, name, batched=True, monkeypatch=monkeypatch, **kw)
    return one, many


@pytest.mark.parametrize("planned", [False, True], ids=["planned-at-grading", "planned-with-the-record"])
def test_a_passing_function_is_replayed_in_one_round_trip_with_the_same_result(monkeypatch, planned):
    one, many = _both("def up(x):\n    return x + 1\n", "up", monkeypatch, planned=planned)
    assert one[0] == many[0] and many[0].checks[0].status == "passed"
    assert one[1] == {"load": 1, "call": EXAMPLES}
    assert many[1] == {"load": 1, "batch": 1}  # EXAMPLES calls, one frame


def test_a_function_wrong_on_some_inputs_gets_the_same_counterexample(monkeypatch):
    source = "def up(x):\n    return x + 1 if x < 300 else x\n"
    one, many = _both(source, "up", monkeypatch)
    assert one[0] == many[0]
    c = many[0].checks[0]
    assert c.status == "failed" and dict(c.counterexample) == {"x": "300"}  # shrunk to the boundary


def test_a_hang_in_a_call_that_one_call_at_a_time_would_not_make_is_not_charged(monkeypatch):
    """The recorded cases' 3rd input fails and their 30th hangs: grading one call at a time never
    makes the 30th call (hypothesis takes over at the 3rd), so the batch's hang must not show."""
    check = Check("up", "agrees", "", {"x": st.integers(0, 1000)}, _agrees)
    xs = [c["x"] for c in record_check(check, max_examples=EXAMPLES, seed_value=SEED)]
    bad, hang = xs[2], xs[29]
    assert hang > bad and hang not in xs[:3], "pick other indices for this seed"
    source = f"""
    def up(x):
        while x == {hang}:
            pass
        return x if x == {bad} else x + 1
    """
    one, many = _both(source, "up", monkeypatch)
    assert one[0] == many[0]
    assert many[0].checks[0].status == "failed" and dict(many[0].checks[0].counterexample) == {"x": str(bad)}
    assert one[4] == 1 and many[4] == 2  # the batch's hang cost a worker...
    assert one[3] == many[3] == 1  # ...whose restart is not reported


def test_a_hang_in_a_call_that_is_made_is_reported_as_that_call(monkeypatch):
    one, many = _both("def up(x):\n    while x > 500:\n        pass\n    return x + 1\n", "up", monkeypatch)
    assert one[0] == many[0]
    assert many[0].checks[0].status == "lost"
    assert "calling up() took longer than 2 s and was stopped" in many[0].checks[0].message


def test_upstream_calls_are_answered_from_the_memo_without_a_round_trip(monkeypatch):
    """twice_up calls up, which the grader answers (a wrong student up must not cost twice_up):
    one call at a time asks once per call; a batch carries the answers to the asks the reference makes."""
    source = """
    def up(x):
        return x + 100   # wrong: answered by the grader while twice_up is graded

    def twice_up(x):
        return 2 * up(x)
    """
    one, many = _both(source, "twice_up", monkeypatch, answers=("up",))
    assert one[0] == many[0] and many[0].checks[0].status == "passed"
    assert one[2] == EXAMPLES and many[2] == 0


def test_an_ask_the_reference_does_not_make_is_still_answered_by_the_grader(monkeypatch):
    source = """
    def up(x):
        return x + 100

    def twice_up(x):
        return up(x) + up(x - 1) + 1   # the same value, other asks: up(x - 1) is not in the memo
    """
    one, many = _both(source, "twice_up", monkeypatch, answers=("up",))
    assert one[0] == many[0] and many[0].checks[0].status == "passed"
    assert one[2] == 2 * EXAMPLES and many[2] == EXAMPLES  # half the asks were memoised


def test_the_worker_goes_on_after_an_error_and_stops_after_not_implemented():
    """Checks expect errors (``rejects_bad_input``), so an error does not end a batch; an exercise
    not done yet does (the check stops at its first call)."""
    source = """
    seen = []

    def f(x):
        seen.append(x)
        if x == 1:
            raise ValueError("one")
        if x == 2:
            raise NotImplementedError()
        return x

    def calls_seen():
        return list(seen)
    """
    with StudentSession([(0, dedent(source))], LIMITS) as s:
        s.start()
        batch = s.batch([("f", [x], {}, {}) for x in range(5)])
        assert isinstance(batch, CallBatch)
        got = [batch.next() for _ in range(3)]
        assert [r.ok for r in got] == [True, False, False]
        assert [r.error_type for r in got[1:]] == ["ValueError", "NotImplementedError"]
        assert not batch.alive
        batch.discard()  # nothing left to read
        assert s.call("calls_seen").value == [0, 1, 2]


def test_the_memo_answers_only_the_exact_ask():
    """A memo entry is keyed by the ask's frame: another argument (even an equal float of another
    type) is asked for; the worker hands out a fresh copy of the answer each time."""
    import hashlib

    import numpy as np

    from labgrader.sandbox import wire

    def key(x):
        return hashlib.sha256(wire.encode({"event": "ask", "fn": "up", "args": [x], "kwargs": {}})).hexdigest()

    source = """
    def f(x):
        a = up(x)
        a[0] = -1.0        # must not change the memo's next answer
        return [a, up(x), up(float(x[0]))]
    """
    asked = []
    with StudentSession([(0, dedent(source))], LIMITS) as s:
        s.start()
        with s.answering({"up": lambda x: asked.append(x) or x + 1}):
            x = np.array([1.0, 2.0])
            r = s.batch([("f", [x], {}, {key(x): np.array([7.0, 7.0])})]).next()
    assert r.ok
    a, b, c = r.value
    assert a.tolist() == [-1.0, 7.0] and b.tolist() == [7.0, 7.0]  # memo, fresh copies
    assert c == 2.0 and asked == [1.0]  # the float was asked for
    assert dataclasses.is_dataclass(r)
