"""Property checks, one module per lab, registered by exercise.

A check is a property of one exercise's function, stated in words (its docstring's first
paragraph, shown to the student when it fails) and tested by hypothesis over the named
strategies::

    registry = Registry()
    check = registry.check
    CHECKS = registry.checks
    EXERCISES = registry.exercises("reference_impl.distillation", ["softmax_t", ...])

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

    def exercises(self, module: str, names: list[str]) -> dict[str, str]:
        """Declare exercises, in order: each is the function of that name in the reference ``module``.

        Returns every exercise declared so far, id -> "module:function". Strings, not functions: the
        student's copy of this module (``course release``) keeps the declarations and has no reference.
        """
        if not isinstance(module, str) or not all(part.isidentifier() for part in module.split(".")):
            raise ValueError(f"exercises: the reference module must be a dotted module name, got {module!r}")
        for name in names:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"exercises: {name!r} is not a function name (in {module})")
            if name in self.references:
                raise ValueError(f"exercise {name} declared twice")
            self.references[name] = f"{module}:{name}"
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
