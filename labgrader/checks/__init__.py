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

Public and hidden checks live in separate files, so that ``course release`` copies the public ones
as they are: ``labgrader/checks/<lab>.py`` holds the exercises, the strategies and the public
checks; ``labgrader/checks/hidden/<lab>.py`` imports what it needs from it and registers the checks
that compare with the reference into the same registry. The registry refuses a hidden check in the
public file and a public one in the hidden file. ``load(<lab>)`` imports both (the hidden one where
it exists: a student's bundle has no ``hidden/``); the hidden checks come after an exercise's public ones.

Check names repeat across exercises (every exercise has an ``agrees_with_reference``); so that no
module-level function shadows another, such a function is named ``<exercise>__<check>`` (e.g.
``softmax_t__agrees_with_reference``) and registered under the part after ``__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from types import ModuleType
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
        self.withheld: dict[str, list[str]] = {}  # exercise -> hidden checks removed by `course release`

    def withhold(self, names: dict[str, list[str]]) -> None:
        """Record the hidden checks a student's bundle lacks (``course release`` writes this call as the bundle's
        ``hidden/<lab>.py``), so that the self-check can say how many checks it did not run."""
        for exercise, checks in names.items():
            self.withheld.setdefault(exercise, []).extend(checks)

    def hidden(self, exercise: str, graded: tuple[str, ...] | list[str] | None = None) -> list[str]:
        """The names of the exercise's hidden checks (those that compare with the reference): the ones this
        module defines (only those in ``graded``, course.toml's list, when given) and the ones withheld from it."""
        own = [n for n, c in self.checks.get(exercise, {}).items() if not c.public and (graded is None or n in graded)]
        return own + [n for n in self.withheld.get(exercise, []) if n not in own]

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
            hidden_file = fn.__module__.startswith(f"{__name__}.hidden.")
            if fn.__module__.startswith(f"{__name__}.") and public == hidden_file:
                where = fn.__module__.replace(".", "/") + ".py"
                raise ValueError(
                    f"check {fn.__name__} for {exercise} in {where}: "
                    + ("a public check belongs in the public file (labgrader/checks/<lab>.py), "
                       "which students receive" if public else
                       "a hidden check (no public=True) belongs in labgrader/checks/hidden/<lab>.py: "
                       "this file is released to students as it is"))
            name = fn.__name__.removeprefix(f"{exercise}__")
            by_name = self.checks.setdefault(exercise, {})
            if name in by_name:
                raise ValueError(f"check {name} registered twice for {exercise}")
            by_name[name] = Check(exercise, name, description, strategies, fn, public)
            return fn

        return register


def load(module: str) -> ModuleType:
    """A lab's checks module (``labgrader/checks/<module>.py``) with all its checks registered.

    Its hidden checks (``labgrader/checks/hidden/<module>.py``) are imported too where they exist,
    which is on the course's grader and not in a student's bundle.
    """
    public = importlib.import_module(f"{__name__}.{module}")
    if importlib.util.find_spec(f"{__name__}.hidden") and importlib.util.find_spec(f"{__name__}.hidden.{module}"):
        importlib.import_module(f"{__name__}.hidden.{module}")
    return public


def hidden_checks(lab) -> dict[str, list[str]]:
    """Exercise id -> the names of its hidden checks that grading runs and a self-check does not (also in a
    student's bundle, whose ``hidden/<lab>.py`` holds only their names: ``registry.withhold``)."""
    registry = getattr(load(lab.checks), "registry", None)
    return {ex.id: registry.hidden(ex.id, ex.checks) if registry is not None else [] for ex in lab.exercises}


def not_run_note(hidden: int) -> str:
    """What a self-check says about the checks it did not run."""
    if hidden == 0:
        return "grading runs no other checks"
    return (f"{hidden} hidden check{'s' if hidden != 1 else ''} (comparing with the reference) "
            f"{'were' if hidden != 1 else 'was'} NOT run: grading runs {'them' if hidden != 1 else 'it'} too, "
            "so passing the public checks does not guarantee full marks")
