"""A grade depends on the submission, the checks and the seed: not on which other modules are imported."""

from __future__ import annotations

import importlib
import sys

from hypothesis import strategies as st

from labgrader.checks import Check
from labgrader.assertions import CheckFailed
from labgrader.inprocess import InProcessBackend
from labgrader.runner import StudentFunction, run_check

MAGIC = 7919.0625  # exactly representable; no strategy would draw it by chance


def _check():
    def agrees(student, ref, x):
        """f(x) should equal x."""
        if student(x) != x:
            raise CheckFailed(f"f({x!r}) != {x!r}")

    return Check("f", "agrees", "f(x) should equal x.", {"x": st.floats(-1e4, 1e4, allow_nan=False)}, agrees)


def _grade():
    backend = InProcessBackend({"f": lambda x: x + 1.0 if x == MAGIC else x})
    return run_check(_check(), StudentFunction(backend, "f"), None, max_examples=300, seed_value=1)


def test_constants_of_an_imported_module_do_not_change_the_examples(tmp_path, monkeypatch):
    before = _grade()
    # A "local" module (outside site-packages and test folders) whose source holds the magic constant:
    # hypothesis would add it to its pool of constants and draw it, finding the planted bug.
    (tmp_path / "course_constants_module.py").write_text(f"VALUES = [{MAGIC!r}] * 3\nOTHER = {MAGIC!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("course_constants_module")
    try:
        after = _grade()
    finally:
        sys.modules.pop("course_constants_module", None)
    assert before.passed and after.passed, after.output
    assert before.examples == after.examples
