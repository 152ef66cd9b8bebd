"""Checks that run inside a student's notebook: the public self-check, and nbgrader's hidden grading.

``check(lab, exercise, fn)`` runs the exercise's *public* checks (the ones that never call the
reference) on the student's function, in the notebook's own process, and prints what holds and
what does not, with the shrunk counterexample. It needs no reference implementation, so it works
from the student release bundle. It never raises: a test cell that errors would cost the whole
cell in nbgrader.

``grade(lab, exercise, fn)`` runs *every* check with the grading profile (course.toml's examples
and seed) and returns the points, which a notebook cell shows as its value: nbgrader reads that
as partial credit. It is the hidden part of each test cell, for courses that run
``nbgrader autograde``; it needs the reference, so it exists only where the instructor runs it.
Both go through the same wire round trip as the sandbox (labgrader.inprocess), so their verdicts
equal ``course grade``'s for the same function — but in the student's process, as nbgrader does:
``course grade`` is the path that keeps hostile code away from the checks.

Both keep course.toml's time limits, as ``course check`` does: a call of the student's function that
runs longer than ``time_limit_per_call_s`` is stopped (an infinite loop costs the rest of that
exercise's checks, and the report names the input it was running on), and all calls of one ``check``
together get ``time_limit_per_submission_s``. The limit is a timer in this process (SIGALRM where the
platform has it, else an interrupt of the main thread, as Ctrl-C would): it starts no process, so an
interrupted or restarted kernel leaves nothing running. A call in C code (one long NumPy operation)
stops when it returns to Python.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import signal
import sys
import threading
import time
import warnings

from .checks import hidden_checks, not_run_note
from .config import load_course
from .cases import lab_cases
from .grade import fingerprint, lab_checks
from .inprocess import InProcessBackend
from .runner import PROFILES, format_counterexample, grade_exercise
from .sandbox import WorkerLost

SELF_CHECK_EXAMPLES = None  # None: course.toml's examples_per_property, as grading draws (the same seed, the same inputs)


class _CallTimedOut(BaseException):
    """Raised into the student's function by the timer (a BaseException: hypothesis must not shrink it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise _CallTimedOut in this (main) thread after ``seconds``; yields whether a limit could be set."""
    if threading.current_thread() is not threading.main_thread():
        yield False  # signals reach only the main thread: no limit here (a notebook runs in the main thread)
        return
    if hasattr(signal, "setitimer"):
        def expire(signum, frame):
            raise _CallTimedOut()

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
        try:
            yield True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    import _thread  # Windows: no SIGALRM; interrupt the main thread as Ctrl-C would, and tell the two apart

    fired = threading.Event()

    def interrupt():
        fired.set()
        _thread.interrupt_main()

    timer = threading.Timer(seconds, interrupt)
    timer.start()
    try:
        yield True
    except KeyboardInterrupt:
        if fired.is_set():
            raise _CallTimedOut() from None
        raise
    finally:
        timer.cancel()


class TimedBackend(InProcessBackend):
    """The in-process backend with ``course check``'s limits: per call, and for all calls together."""

    def __init__(self, namespace: dict, *, call_seconds: float, total_seconds: float):
        super().__init__(namespace)
        self.call_seconds = call_seconds
        self.total_seconds = total_seconds
        self.deadline = time.monotonic() + total_seconds

    def call(self, fn: str, *args, **kwargs):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise WorkerLost(f"the self-check's time limit of {self.total_seconds:g} s ran out")
        seconds = min(self.call_seconds, left)
        try:
            with _time_limit(seconds):
                return super().call(fn, *args, **kwargs)
        except _CallTimedOut:
            pass
        what = (f"took longer than {self.call_seconds:g} s and was stopped" if seconds == self.call_seconds
                else f"was stopped: the self-check's time limit of {self.total_seconds:g} s ran out")
        raise WorkerLost(f"calling {fn}() {what}, on the input\n"
                         f"{format_counterexample(_named_arguments(self.namespace.get(fn), args, kwargs))}")


def _named_arguments(fn, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by parameter name where the signature tells them, else arg0, arg1, ..."""
    try:
        return dict(inspect.signature(fn).bind(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs}


def _exercise(lab_id: str, exercise_id: str):
    course = load_course(resolve_references=False, only=lab_id)
    lab = course.labs[0]
    return course, lab, lab.exercise(exercise_id)


def _run(lab_id: str, exercise_id: str, fn, *, public_only: bool, examples: int | None,
         call_seconds: float | None = None):
    course, lab, ex = _exercise(lab_id, exercise_id)
    checks = lab_checks(lab, public_only=public_only)[ex.id]
    g = course.grading
    backend = TimedBackend({ex.function_name: fn}, call_seconds=call_seconds or g.limits.call_seconds,
                           total_seconds=g.limits.submission_seconds)
    n = examples or PROFILES["grading"] or course.grading.examples_per_property
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        cases = lab_cases(lab, {ex.id: checks}, fingerprint=fingerprint(course, lab, "grading"), max_examples=n,
                          seed_value=course.grading.seed)[ex.id]
        return ex, grade_exercise(ex, checks, backend, defined=callable(fn), max_examples=n,
                                  seed_value=course.grading.seed, cases=cases)


def check(lab_id: str, exercise_id: str, fn, *, examples: int | None = SELF_CHECK_EXAMPLES,
          call_seconds: float | None = None) -> None:
    """Print the public checks' verdicts for the student's ``fn`` (each call limited to ``call_seconds``,
    by default course.toml's ``time_limit_per_call_s``)."""
    ex, outcome = _run(lab_id, exercise_id, fn, public_only=True, examples=examples, call_seconds=call_seconds)
    passed = sum(c.passed for c in outcome.checks)
    hidden = len(hidden_checks(_exercise(lab_id, exercise_id)[1])[ex.id])
    print(f"{ex.id}: {passed}/{len(outcome.checks)} public checks pass; {not_run_note(hidden)}")
    for c in outcome.checks:
        print(f"  {'ok  ' if c.passed else 'FAIL'} {c.property}")
        if not c.passed:
            for line in c.output.replace("The sandbox failed: ", "Stopped: ").splitlines()[1:]:
                print(f"         {line}")
    sys.stdout.flush()


def grade(lab_id: str, exercise_id: str, fn) -> float:
    """Every check, grading profile; returns the points (nbgrader's partial credit)."""
    course, _, _ = _exercise(lab_id, exercise_id)
    _, outcome = _run(lab_id, exercise_id, fn, public_only=False, examples=course.grading.examples_per_property)
    return round(outcome.score, 4)
