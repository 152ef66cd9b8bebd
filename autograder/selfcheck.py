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
Both go through the same wire round trip as the sandbox (autograder.inprocess), so their verdicts
equal ``course grade``'s for the same function — but in the student's process, as nbgrader does:
``course grade`` is the path that keeps hostile code away from the checks.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings

from .config import load_course
from .cases import lab_cases
from .grade import fingerprint, lab_checks
from .inprocess import InProcessBackend
from .runner import PROFILES, grade_exercise

SELF_CHECK_EXAMPLES = 30


def _exercise(lab_id: str, exercise_id: str):
    course = load_course(resolve_references=False)
    lab = course.lab(lab_id)
    return course, lab, lab.exercise(exercise_id)


def _run(lab_id: str, exercise_id: str, fn, *, public_only: bool, examples: int | None):
    course, lab, ex = _exercise(lab_id, exercise_id)
    checks = lab_checks(lab, public_only=public_only)[ex.id]
    backend = InProcessBackend({ex.function_name: fn})
    n = examples or PROFILES["grading"] or course.grading.examples_per_property
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        cases = lab_cases(lab, {ex.id: checks}, fingerprint=fingerprint(course, lab, "grading"), max_examples=n,
                          seed_value=course.grading.seed)[ex.id]
        return ex, grade_exercise(ex, checks, backend, defined=callable(fn), max_examples=n,
                                  seed_value=course.grading.seed, cases=cases)


def check(lab_id: str, exercise_id: str, fn, *, examples: int = SELF_CHECK_EXAMPLES) -> None:
    """Print the public checks' verdicts for the student's ``fn``."""
    ex, outcome = _run(lab_id, exercise_id, fn, public_only=True, examples=examples)
    passed = sum(c.passed for c in outcome.checks)
    print(f"{ex.id}: {passed}/{len(outcome.checks)} public checks pass "
          f"(the grader also runs hidden checks against the reference)")
    for c in outcome.checks:
        print(f"  {'ok  ' if c.passed else 'FAIL'} {c.property}")
        if not c.passed:
            for line in c.output.splitlines()[1:]:
                print(f"         {line}")
    sys.stdout.flush()


def grade(lab_id: str, exercise_id: str, fn) -> float:
    """Every check, grading profile; returns the points (nbgrader's partial credit)."""
    course, _, _ = _exercise(lab_id, exercise_id)
    _, outcome = _run(lab_id, exercise_id, fn, public_only=False, examples=course.grading.examples_per_property)
    return round(outcome.score, 4)
