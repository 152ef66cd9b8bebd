"""Run one exercise's property checks against a student's function with hypothesis.

The student's function is reached only through a backend's ``call(name, *args, **kwargs)``
(the sandbox session, or an in-process backend for our own mutants), wrapped in
:class:`StudentFunction`. Each check becomes a hypothesis test at grading time, with the
grading settings: a fixed seed from course.toml, no example database, no deadline, health checks
off (a slow student function must not turn into a grader error), quiet output.

Failures are recorded as they happen; hypothesis replays the shrunk example last, so the last
recorded failure is the minimal counterexample the student sees.
"""

from __future__ import annotations

import copy
import dataclasses
import traceback

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Flaky, HypothesisException
from hypothesis.internal.entropy import deterministic_PRNG

from .assertions import CheckFailed, fmt
from .checks import Check
from .results import ONE_FAILING, CheckResult, ExerciseResult
from .sandbox import SubmissionTimeUp, WorkerLost


def _without_local_constants() -> None:
    """Make hypothesis draw only from the strategies, never from constants found in our own modules.

    Hypothesis (6.13x and later) reads the literal constants of every imported "local" module (here:
    reference_impl, labgrader, labkit, labdatasets...) and now and then draws one of them as an example.
    That makes a grade depend on which modules happen to be imported and on constants in unrelated
    files: adding Lab 7 changed which counterexamples Lab 6's checks found, for the same submission
    and seed. A grade must depend on the submission, the checks and course.toml's seed alone, so the
    pool of local constants is kept empty (hypothesis's own global constants remain).
    tests/labgrader/test_runner_determinism.py fails if a hypothesis upgrade undoes this.
    """
    from hypothesis.internal.conjecture import providers

    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()


_without_local_constants()

PROFILES = {
    # name -> examples per property (None: course.toml's grading.examples_per_property)
    "grading": None,
    "quick": 15,
}


class NotImplementedSignal(BaseException):
    """The student's function raised NotImplementedError: stop this check at once."""


def outcome(check: Check, status: str, examples: int = 0, **fields) -> CheckResult:
    """The CheckResult of ``check`` with this status (its exercise, name, property and publicity filled in)."""
    return CheckResult(check.exercise, check.name, check.description, status, check.public, examples=examples,
                       **fields)


class StudentFunction:
    """Call the student's function through a backend; errors become check failures."""

    def __init__(self, backend, name: str):
        self.backend = backend
        self.name = name
        self.calls = 0

    def raw(self, *args, **kwargs):
        """The CallResult of a call, for checks that expect the function to raise."""
        self.calls += 1
        r = self.backend.call(self.name, *args, **kwargs)
        if not r.ok and r.error_type == "NotImplementedError":
            raise NotImplementedSignal(f"{self.name} is not implemented yet (it raised NotImplementedError)")
        return r

    def __call__(self, *args, **kwargs):
        r = self.raw(*args, **kwargs)
        if r.ok:
            return r.value
        detail = f"\n{_indent(r.traceback.strip(), 4)}" if r.traceback.strip() else ""
        raise CheckFailed(f"your {self.name} raised {r.error_type}: {r.error}{detail}")


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in text.splitlines())


def count_numbers(value) -> int:
    """How many numbers a value holds: what a student has to read to follow a counterexample."""
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, (list, tuple)):
        return sum(count_numbers(v) for v in value)
    if isinstance(value, dict):
        return sum(count_numbers(v) for v in value.values())
    return 1


def counterexample_data(kwargs: dict) -> tuple[tuple[str, str], ...]:
    """The shrunk input as (argument, value as Python text) pairs."""
    return tuple((k, fmt(v)) for k, v in kwargs.items())


def format_counterexample(kwargs: dict) -> str:
    """An input as a student reads it: one "    name = value" line per argument (labgrader.selfcheck)."""
    return CheckResult("", "", "", "failed", counterexample=counterexample_data(kwargs)).counterexample_text(indent=4)


def hypothesis_test(check: Check, body, *, max_examples: int, seed_value: int):
    """``body(**kwargs)`` over the check's strategies, as a hypothesis test with the grading settings."""
    test = given(**check.strategies)(body)
    test = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    )(test)
    return seed(seed_value)(test)


class RecordedDraws:
    """What a check drew inside its body with ``st.data()`` during the recording: (strategy, value) pairs.

    ``aborted``: hypothesis stopped the body at the draw after the last one (the example ran out of
    data or failed a filter), so the replay stops there too, as a passed case.
    """

    def __init__(self, draws: list[tuple[str, object]], aborted: bool = False):
        self.draws = draws
        self.aborted = aborted


class _ReplayAbort(BaseException):  # BaseException, like hypothesis's own StopTest: checks do not catch it
    pass


class ReplayMismatch(Exception):
    """The check asked for a draw the recording does not hold: hypothesis must decide this one."""


class ReplayData:
    """Stands in for hypothesis's ``data`` object: hands out the recorded draws, in order, unchanged."""

    def __init__(self, recorded: RecordedDraws):
        self.recorded = recorded.draws
        self.aborted = recorded.aborted
        self.used = 0

    def draw(self, strategy, label=None):
        if self.used == len(self.recorded) and self.aborted:
            raise _ReplayAbort()
        if self.used >= len(self.recorded) or self.recorded[self.used][0] != repr(strategy):
            raise ReplayMismatch(f"draw {self.used} of {strategy!r} was not recorded")
        value = copy.deepcopy(self.recorded[self.used][1])
        self.used += 1
        return value


def _replay_one(check: Check, student, ref, case: dict) -> None:
    kwargs = {k: ReplayData(v) if isinstance(v, RecordedDraws) else copy.deepcopy(v) for k, v in case.items()}
    try:
        check.fn(student, ref, **kwargs)
    except _ReplayAbort:
        return  # where hypothesis abandoned this example when it was recorded
    if any(isinstance(v, ReplayData) and v.used != len(v.recorded) for v in kwargs.values()):
        raise ReplayMismatch("fewer draws than recorded")


def replay(check: Check, student: StudentFunction, ref, cases: list[dict]) -> CheckResult | None:
    """The check over recorded cases (see labgrader.cases): its outcome if every case passes, else None.

    Each case runs as hypothesis would run it: on its own copy of the inputs (and of what the check
    draws in its body), with the global random generators seeded as hypothesis seeds them. Anything
    but a pass (a failed property, an error, a function not implemented, a draw the record does not
    hold) returns None, and the caller runs hypothesis from the start.
    """
    for case in cases:
        try:
            with deterministic_PRNG():
                _replay_one(check, student, ref, case)
        except (WorkerLost, SubmissionTimeUp):
            raise
        except (Exception, NotImplementedSignal):
            return None
    return outcome(check, "passed", len(cases))


def run_check(check: Check, student: StudentFunction, ref, *, max_examples: int, seed_value: int,
              cases: list[dict] | None = None) -> CheckResult:
    """Run one property; WorkerLost and SubmissionTimeUp propagate to the caller.

    With ``cases`` (the inputs hypothesis draws when every example passes, recorded by
    labgrader.cases for these very settings) a passing function is judged on them without
    hypothesis's engine; at the first case that does not pass, hypothesis runs as usual, so the
    outcome is the same either way.
    """
    if cases is not None:
        replayed = replay(check, student, ref, cases)
        if replayed is not None:
            return replayed
    failure: dict = {}
    count = [0]

    def body(**kwargs):
        count[0] += 1
        try:
            check.fn(student, ref, **kwargs)
        except CheckFailed as e:
            failure.update(kwargs=kwargs, message=str(e), expected=e.expected, got=e.got)
            raise

    def failed(**fields) -> CheckResult:
        if failure:
            fields.update(counterexample=counterexample_data(failure["kwargs"]), expected=failure["expected"],
                          got=failure["got"], counterexample_size=count_numbers(failure["kwargs"]),
                          detail="\n".join(x for x in (failure["message"], fields.pop("detail", "")) if x))
        return outcome(check, "failed", count[0], **fields)

    test = hypothesis_test(check, body, max_examples=max_examples, seed_value=seed_value)
    try:
        test()
    except NotImplementedSignal as e:
        return outcome(check, "not_implemented", count[0], message=f"Not implemented: {e}")
    except CheckFailed:
        return failed()
    except (WorkerLost, SubmissionTimeUp):
        raise
    except Flaky as e:
        r = failed(message="Your function gave different results for the same input (is it random or stateful?).",
                   counterexample_label=ONE_FAILING, detail=f"({type(e).__name__})")
        return dataclasses.replace(r, counterexample_size=None)  # not a shrunk example: not measured
    except (Exception, HypothesisException) as e:  # a bug in a check: never crash the batch
        tb = "".join(traceback.format_exception_only(type(e), e)).strip()
        return outcome(check, "internal_error", count[0], message=f"Internal error in this check (not your fault): {tb}")
    return outcome(check, "passed", count[0])


def grade_exercise(exercise, checks: list[Check], backend, *, defined: bool, max_examples: int,
                   seed_value: int, not_defined_reason: str = "", cases: dict[str, list[dict]] | None = None,
                   answers: dict | None = None) -> ExerciseResult:
    """Run every check of one exercise; a lost worker costs the rest of this exercise only.

    ``cases`` maps a check's name to its recorded cases (labgrader.cases) for these settings.
    ``answers`` maps the names of other exercises' functions this one calls to their references: a
    backend that can (the sandbox session's ``answering``) answers those calls with the reference's
    result, so that a bug upstream costs only the upstream exercise.
    """
    answering = getattr(backend, "answering", None)
    if answers and answering is not None and defined:
        with answering(answers):
            return grade_exercise(exercise, checks, backend, defined=defined, max_examples=max_examples,
                                  seed_value=seed_value, not_defined_reason=not_defined_reason, cases=cases)
    if not defined:
        reason = not_defined_reason or (
            f"Your notebook does not define a function named {exercise.function_name}. "
            "Did you rename it, delete its cell, or does the cell raise an error before the definition?"
        )
        return ExerciseResult(exercise.id, exercise.points, tuple(outcome(c, "not_defined", message=reason)
                                                                  for c in checks))
    # Public checks never touch the reference, so a student's machine without it can run them.
    ref = exercise.load_reference() if any(not c.public for c in checks) else None
    student = StudentFunction(backend, exercise.function_name)
    lost: str | None = None
    results: list[CheckResult] = []
    for c in checks:
        if lost is not None:
            results.append(outcome(c, "lost", message=f"Not run: {lost}"))
            continue
        try:
            results.append(run_check(c, student, ref, max_examples=max_examples, seed_value=seed_value,
                                     cases=(cases or {}).get(c.name)))
        except SubmissionTimeUp:
            raise
        except WorkerLost as e:
            lost = e.reason
            results.append(outcome(c, "lost", message=f"The sandbox failed: {lost}"))
    return ExerciseResult(exercise.id, exercise.points, tuple(results))
