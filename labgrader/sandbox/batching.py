"""Several calls of a student's function per sandbox round trip, with the outcome of one call at a time.

A round trip to the worker costs about 0.4 ms on a quiet machine (more on a busy one: each is two
context switches), and a full Lab 1 solution made ~5,600 of them: one per call of the graded
function, and one per "ask" (its calls of another exercise, answered by the grader; see
worker.py). Almost all of them are the replay of recorded cases (labgrader/cases.py), whose calls
are known in advance for a function that passes: they are the calls the check makes when the
exercise's reference plays the student. So, per check:

1. **Plan** (in the grader; nothing is sent): run the check's recorded cases with a
   :class:`Predictor` as the student. It answers each call with the reference's result (as the wire
   would deliver it) and notes the call, and the asks a function that computes like the reference
   would make on the way, with the grader's answers to them (the "memo").
2. **Send** the planned calls in one ``batch`` frame (:meth:`StudentSession.batch`). The worker
   runs them in order, one reply frame each, and stops after a call that raises NotImplementedError
   (an exercise not done yet: the check stops there too). A batch holds at most ``MAX_CALLS``. The
   worker is not told which calls the reference answers with an error: that would tell a student's
   function when to raise.
3. **Verify**: the cases run for real, as in ``runner.replay``; each call the check makes is taken
   from the batch's replies only if it is, byte for byte on the wire, the next planned call (the same
   function, arguments and keyword arguments); otherwise the rest of the batch is discarded and the
   call goes to the worker on its own. Every check therefore judges exactly the replies the worker
   gives to exactly the calls the check makes, in the order it makes them: the grade is that of
   one call at a time.

What differs from one call at a time: when a case fails, the worker has also run the planned calls
after it (up to the end of that batch, or a NotImplementedError) before the check goes back to
hypothesis. For a function whose results depend only on its arguments, nothing of that is visible. A function that keeps
state, prints or draws random numbers sees those calls too. A hang or crash in one of them is not
the student's failure of a call that was made: the worker is restarted for the next call and the
restart is not reported (the submission's time it used is spent).

The reference never enters the worker: the plan runs in the grader, and what crosses is the
arguments the check would send anyway and the memo's answers, which are the upstream exercises'
reference results the worker would get by asking (keyed by the sha256 of the ask's frame).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np

from . import wire
from .session import CallResult

MAX_CALLS = 256  # calls per batch frame (a frame also carries their arguments and memos)


def frame_key(message: dict) -> str | None:
    """sha256 of the frame that carries ``message``; None if the wire cannot carry it."""
    try:
        return hashlib.sha256(wire.encode(message)).hexdigest()
    except wire.WireError:
        return None


def call_key(fn: str, args, kwargs: dict) -> str | None:
    return frame_key({"fn": fn, "args": list(args), "kwargs": kwargs})


class PlannedCall:
    def __init__(self, fn: str, args: list, kwargs: dict, key: str, memo: dict, stops: bool):
        self.fn, self.args, self.kwargs, self.key, self.memo, self.stops = fn, args, kwargs, key, memo, stops


class PlanStop(Exception):
    """The plan cannot go on (an argument the wire refuses, or enough calls planned)."""


class Predictor:
    """Stands in for the student while a check's cases are planned: answers each call with the
    exercise's reference (in the grader), and records the call with the memo of its asks.

    ``answers``: the upstream exercises' functions the grader answers for (name -> reference), as
    in ``StudentSession.answering``.
    """

    def __init__(self, name: str, reference, answers: dict | None):
        self.name = name
        self.reference = reference
        g = getattr(reference, "__globals__", {})
        self.upstream = {n: f for n, f in (answers or {}).items() if n != name and g.get(n) is f}
        self.answers = dict(answers or {})
        self.planned: list[PlannedCall] = []

    def raw(self, *args, **kwargs) -> CallResult:
        if len(self.planned) >= 4 * MAX_CALLS:
            raise PlanStop()
        key = call_key(self.name, args, kwargs)
        if key is None:
            raise PlanStop()
        sent = wire.roundtrip({"args": list(args), "kwargs": kwargs})  # what the worker would receive
        memo: dict = {}
        try:
            value = wire.roundtrip(self._reference(sent["args"], sent["kwargs"], memo))
            result = CallResult(True, value=value)
        except Exception as e:  # noqa: BLE001 - the reference raises here: so would a correct function
            result = CallResult(False, error_type=type(e).__name__, error=str(e))
        snapshot = wire.roundtrip(sent)  # the check may change its arrays after the call
        stops = not result.ok and result.error_type == "NotImplementedError"  # the worker would stop there
        self.planned.append(PlannedCall(self.name, snapshot["args"], snapshot["kwargs"], key, memo, stops))
        return result

    def __call__(self, *args, **kwargs):
        from ..assertions import CheckFailed

        r = self.raw(*args, **kwargs)
        if r.ok:
            return r.value
        raise CheckFailed(f"your {self.name} raised {r.error_type}: {r.error}")

    def _reference(self, args: list, kwargs: dict, memo: dict):
        """The reference's result; its calls of upstream exercises go into ``memo`` with their answers."""
        if not self.upstream:
            return self.reference(*args, **kwargs)
        g = self.reference.__globals__
        asks: list[bytes] = []

        def recording(name, fn):
            def upstream(*a, **k):
                try:
                    asks.append(wire.encode({"event": "ask", "fn": name, "args": list(a), "kwargs": k}))
                except wire.WireError:
                    pass
                return fn(*a, **k)
            return upstream

        saved = {n: g[n] for n in self.upstream}
        g.update({n: recording(n, f) for n, f in self.upstream.items()})
        try:
            return self.reference(*args, **kwargs)
        finally:
            g.update(saved)
            for frame in asks:
                self._remember(frame, memo)

    def _remember(self, frame: bytes, memo: dict) -> None:
        """The grader's answer to this ask frame, exactly as StudentSession._answer computes it."""
        key = hashlib.sha256(frame).hexdigest()
        if key in memo:
            return
        msg = wire.decode(*wire.split_frame(frame))
        try:
            value = self.answers[msg["fn"]](*msg.get("args", ()), **msg.get("kwargs", {}))
            wire.encode({"op": "answer", "ok": True, "value": value})
        except Exception:  # noqa: BLE001 - an error answer is asked for, not memoised
            return
        memo[key] = value


def plan(predictor: Predictor, run_case, cases: list) -> list[PlannedCall]:
    """The calls ``run_case(predictor, case)`` makes over the cases, until a case does not pass with
    the reference's answers (the real run is likely to stop there) or the plan is long enough."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        for case in cases:
            try:
                run_case(predictor, case)
            except Exception:  # noqa: BLE001 - PlanStop, a failed property, a draw not recorded...
                break
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return predictor.planned


class PlannedCases(list):
    """Recorded cases (labgrader.cases) with the plan of their calls, made once when they are recorded."""

    def __init__(self, cases, plan: list[PlannedCall]):
        super().__init__(cases)
        self.plan = plan


class BatchedBackend:
    """The sandbox session as a check's backend during a replay: calls that match the plan are
    answered from batches (see the module's docstring); any other call goes to the session alone."""

    def __init__(self, session, planned: list[PlannedCall]):
        self.session = session
        self.planned = planned
        self.next_planned = 0
        self.batch = None
        self.off = not planned
        self.trips = 0

    def call(self, fn: str, *args, **kwargs) -> CallResult:
        if not self.off:
            p = self.planned[self.next_planned] if self.next_planned < len(self.planned) else None
            if p is not None and p.fn == fn and ((wire.identical(p.args, list(args)) and wire.identical(p.kwargs, kwargs))
                                                 or p.key == call_key(fn, args, kwargs)):
                if self.batch is None or not self.batch.alive:
                    self.batch = self.session.batch(self._chunk())
                    self.trips += 1
                self.next_planned += 1
                return self.batch.next()
            self.close()
            self.off = True
        self.trips += 1
        return self.session.call(fn, *args, **kwargs)

    def _chunk(self) -> list[tuple]:
        out = []
        for p in self.planned[self.next_planned:self.next_planned + MAX_CALLS]:
            out.append((p.fn, p.args, p.kwargs, p.memo))
            if p.stops:  # the worker stops after a NotImplementedError: so does the batch
                break
        return out

    def close(self) -> None:
        """Discard the replies of planned calls the check did not make."""
        if self.batch is not None:
            self.batch.discard()
            self.batch = None
