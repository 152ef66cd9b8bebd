"""Property checks, one module per lab, registered by exercise.

A check is a property of one exercise's function, stated in words (its docstring's first
paragraph, shown to the student when it fails) and tested by hypothesis over the named
strategies::

    registry = Registry()
    check = registry.check
    CHECKS = registry.checks
    EXERCISES = registry.exercises(softmax_t="reference_impl.distillation:softmax_t", ...)

    @check("softmax_t", logits=strategies.logits(), T=strategies.temperatures())
    def sums_to_one(student, ref, logits, T):
        \"\"\"softmax_t should return rows that sum to 1 along the last axis.\"\"\"
        ...

``student`` calls the submission's function in the sandbox (it raises CheckFailed when the call
raises); ``ref`` is the reference function from course.toml (trusted, in the grader's process).
A check that never calls ``ref`` is public: students may run it themselves (``public=True``).

Check names repeat across exercises (every exercise has an ``agrees_with_reference``); so that no
module-level function shadows another, such a function is named ``<exercise>__<check>`` (e.g.
``softmax_t__agrees_with_reference``) and registered under the part after ``__``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Check:
    exercise: str
    name: str
    description: str
    strategies: dict = field(hash=False)
    fn: Callable = field(hash=False)
    public: bool = False


class Registry:
    """Collects a lab's checks: ``checks[exercise][name] -> Check`` in definition order."""

    def __init__(self) -> None:
        self.checks: dict[str, dict[str, Check]] = {}
        self.references: dict[str, str] = {}

    def exercises(self, **references: str) -> dict[str, str]:
        """Declare the lab's exercises, in order: ``exercise_id="module:function"`` of its reference.

        A string, not the function: the student's copy of this module (``course release``) keeps
        the declarations and has no reference to import.
        """
        for ex, ref in references.items():
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise ValueError(f"exercise {ex}: the reference must be 'module:function', got {ref!r}")
        self.references.update(references)
        return self.references

    def check(self, exercise: str, *, public: bool = False, **strategies):
        def register(fn: Callable) -> Callable:
            doc = inspect.getdoc(fn)
            if not doc:
                raise ValueError(f"check {fn.__name__} for {exercise} needs a docstring stating the property")
            description = " ".join(doc.split("\n\n")[0].split())
            name = fn.__name__.removeprefix(f"{exercise}__")
            by_name = self.checks.setdefault(exercise, {})
            if name in by_name:
                raise ValueError(f"check {name} registered twice for {exercise}")
            by_name[name] = Check(exercise, name, description, strategies, fn, public)
            return fn

        return register
