"""course.toml: load with tomllib, validate, and name the key and the line of any mistake.

The file has these parts::

    [course]            name, term, timezone
    [grading]           examples_per_property, seed, time and memory limits, output limit
    [visibility]        what students see of each check and when (Gradescope's visibility values)
    [[labs]]            id, title, notebook, checks (a module of labgrader/checks), due, late_policy
    [[labs.exercises]]  id, points, drop_checks (optional)

A lab's exercises (``EXERCISES``: each one's reference, in order) and their checks (``@check``, in
order) are declared once, in the lab's module of labgrader/checks; course.toml decides the points
and may drop checks (``drop_checks``).

Unknown keys are errors too (a misspelt ``pionts`` would otherwise silently default).
Errors read ``course.toml line 12: labs[0].exercises[2].points must be a number >= 0, got 'two'``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox.session import Limits
from .checks import load as load_checks

REPO_ROOT = Path(__file__).resolve().parent.parent
# In the course checkout, course.toml beside the packages; in an installed student bundle (course
# release), the copy inside the labgrader package.
DEFAULT_COURSE = next((p for p in (REPO_ROOT / "course.toml", Path(__file__).resolve().parent / "course.toml")
                       if p.exists()), REPO_ROOT / "course.toml")


class CourseConfigError(Exception):
    """course.toml is malformed; the message names the file, line and key."""


@dataclass(frozen=True)
class LatePolicy:
    grace_minutes: float = 0.0
    penalty_per_day: float = 0.0  # fraction of the score lost per started day late
    max_days_late: int = 0  # after this, the score is 0

    def multiplier(self, due: dt.datetime, submitted: dt.datetime) -> float:
        """The factor a score is multiplied by for a submission at ``submitted``."""
        late = (submitted - due).total_seconds() - 60 * self.grace_minutes
        if late <= 0:
            return 1.0
        days = -(-late // 86400)  # started days
        if days > self.max_days_late:
            return 0.0
        return max(0.0, 1.0 - self.penalty_per_day * days)


@dataclass(frozen=True)
class Exercise:
    id: str
    reference: str  # "module:function"
    points: float
    checks: tuple[str, ...]

    @property
    def function_name(self) -> str:
        return self.reference.split(":", 1)[1]

    def load_reference(self):
        module, name = self.reference.split(":", 1)
        return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    notebook: str
    checks: str
    due: dt.datetime
    late_policy: LatePolicy
    exercises: tuple[Exercise, ...]
    # The written answers' points (graded by hand): ((answer cell name, points), ...) in course.toml's
    # order; None when the lab's block has no `questions` line (course build then refuses a lab with
    # answer cells, naming the line to add).
    questions: tuple[tuple[str, float], ...] | None = None

    @property
    def max_score(self) -> float:
        """The autograded points (the exercises); the written answers' are ``manual_max``."""
        return sum(e.points for e in self.exercises)

    @property
    def manual_max(self) -> float:
        return sum(p for _, p in self.questions or ())

    def question_points(self) -> dict[str, float]:
        return dict(self.questions or ())

    def solution_path(self, root: Path) -> Path:
        return root / "solutions" / self.notebook

    def lab_path(self, root: Path) -> Path:
        return root / "labs" / self.notebook

    def exercise(self, ex_id: str) -> Exercise:
        for e in self.exercises:
            if e.id == ex_id:
                return e
        raise KeyError(ex_id)


# course.toml's [grading] key -> the field of the one limits type (labgrader.sandbox.Limits)
LIMIT_KEYS = {"time_limit_per_call_s": "call_seconds", "time_limit_per_submission_s": "submission_seconds",
              "memory_limit_mb": "memory_mb", "output_limit_kb": "output_kb"}


@dataclass(frozen=True)
class Grading:
    examples_per_property: int = 100
    seed: int = 0
    limits: Limits = field(default_factory=Limits)


# Gradescope's visibility values, from the most to the least shown.
VISIBILITY_LEVELS = ("visible", "after_due_date", "after_published", "hidden")


@dataclass(frozen=True)
class Visibility:
    """What a student sees of each check, and when ([visibility] in course.toml).

    ``checks``: a check's property, pass/fail and points. ``public_counterexamples`` and
    ``hidden_counterexamples``: what a failing public / hidden check shows (the counterexample,
    expected and got, the message). A student can run the public checks themselves; a hidden
    check's counterexample shown at once would make the hidden checks an answer oracle.
    """

    checks: str = "visible"
    public_counterexamples: str = "visible"
    hidden_counterexamples: str = "after_due_date"

    def of_counterexample(self, public: bool) -> str:
        """The level of a check's details: never more visible than the check itself."""
        level = self.public_counterexamples if public else self.hidden_counterexamples
        return max(level, self.checks, key=VISIBILITY_LEVELS.index)

    def shows(self, level: str, *, after_due: bool, published: bool = False) -> bool:
        """Whether a student sees something of this level now."""
        return level == "visible" or (level == "after_due_date" and after_due) or (
            level == "after_published" and published)


@dataclass(frozen=True)
class Course:
    name: str
    term: str
    timezone: str
    grading: Grading
    labs: tuple[Lab, ...]
    path: Path
    root: Path = field(default=REPO_ROOT)
    visibility: Visibility = field(default_factory=Visibility)
    submission: str = ("Hand in this notebook (the .ipynb file, with your code and answers) as your course "
                       "tells you: Gradescope, nbgrader's Submit, or the course page.")
    # False when loaded with ``only=``: ``labs`` then holds that one lab (the others' blocks were
    # validated as TOML, their checks not imported); ``complete()`` loads the rest.
    is_complete: bool = True

    def lab(self, lab_id: str) -> Lab:
        """Find a lab by id, or by a unique prefix of it or of its notebook name."""
        return _find_lab(self.labs, lab_id, self.path.name,
                         lambda lab: lab.id, lambda lab: lab.notebook)

    def complete(self) -> Course:
        """This course with every lab (itself if it has them all)."""
        return self if self.is_complete else load_course(self.path)


def _find_lab(labs, lab_id: str, where: str, id_of, notebook_of):
    """The lab named ``lab_id`` (its id, or a unique prefix of its id or notebook name); KeyError if none."""
    for lab in labs:
        if id_of(lab) == lab_id:
            return lab
    matches = [lab for lab in labs if lab_id and (id_of(lab).startswith(lab_id) or notebook_of(lab).startswith(lab_id))]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(id_of(lab) for lab in labs)
    raise KeyError(f"no lab {lab_id!r} in {where} (labs: {known})")


# -- line numbers ------------------------------------------------------------------------------
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def _key_lines(text: str) -> dict[str, int]:
    """Map dotted key paths ('labs[0].exercises[1].points', 'grading') to their line numbers.

    A small scanner for the subset of TOML a course file uses (tables, arrays of tables,
    key = value lines); inline tables and multi-line values map to the line their key is on.
    """
    lines: dict[str, int] = {}
    counters: dict[str, int] = {}
    prefix = ""
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m:
            brackets, name = m.group(1), m.group(2)
            if brackets == "[[":
                parent = name.rsplit(".", 1)
                if len(parent) == 2:
                    base = _current_array_path(counters, parent[0])
                    key = f"{base}.{parent[1]}"
                else:
                    key = name
                counters[key] = counters.get(key, -1) + 1
                # Reset nested arrays of a parent that moved on.
                for k in list(counters):
                    if k.startswith(key + "[") :
                        del counters[k]
                prefix = f"{key}[{counters[key]}]"
            else:
                prefix = name
            lines.setdefault(prefix, n)
            continue
        m = _KEY.match(line)
        if m:
            path = f"{prefix}.{m.group(1)}" if prefix else m.group(1)
            lines.setdefault(path, n)
    return lines


def _current_array_path(counters: dict[str, int], dotted: str) -> str:
    parts = dotted.split(".")
    path = ""
    for part in parts:
        path = f"{path}.{part}" if path else part
        if path in counters:
            path = f"{path}[{counters[path]}]"
    return path


_ROOT = "course.toml"  # how the whole file is named in error messages


class _Validator:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = _key_lines(text)

    def fail(self, key: str, message: str) -> CourseConfigError:
        # The longest prefix of the key that has a line of its own. Top-level keys are reported as
        # 'course.toml.<key>' but sit in the line map under '<key>' (and 'course.toml' itself must
        # not be mistaken for the [course] table's 'course' + '.toml').
        probe = "" if key == _ROOT else key.removeprefix(_ROOT + ".")
        while probe and probe not in self.lines:
            m = re.match(r"^(.*)(\.[^.\[\]]+|\[\d+\])$", probe)
            probe = m.group(1) if m else ""
        where = f" line {self.lines[probe]}" if probe in self.lines else ""
        return CourseConfigError(f"{self.path.name}{where}: {key} {message}")

    def table(self, data: dict, key: str, allowed: dict[str, tuple], required: set[str]) -> dict:
        if not isinstance(data, dict):
            raise self.fail(key, f"must be a table, got {type(data).__name__}")
        for k in data:
            if k not in allowed:
                raise self.fail(f"{key}.{k}", f"is not a known key (known: {', '.join(sorted(allowed))})")
        for k in sorted(required):
            if k not in data:
                raise self.fail(key, f"is missing the required key '{k}'")
        for k, v in data.items():
            types = allowed[k]
            if float in types and isinstance(v, int) and not isinstance(v, bool):
                continue
            if isinstance(v, bool) and bool not in types:
                raise self.fail(f"{key}.{k}", f"must be {_type_words(types)}, got {v!r}")
            if not isinstance(v, types):
                raise self.fail(f"{key}.{k}", f"must be {_type_words(types)}, got {v!r}")
        return data

    def number(self, value, key: str, minimum: float, strict: bool = False) -> None:
        if not math.isfinite(value) or ((value <= minimum) if strict else (value < minimum)):
            op = ">" if strict else ">="
            raise self.fail(key, f"must be a number {op} {minimum:g}, got {value!r}")


def _type_words(types: tuple) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table", dt.datetime: "a date-time like 2026-12-04T23:59:00Z"}
    return " or ".join(names.get(t, t.__name__) for t in types)


_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXERCISE_KEYS = {"id": (str,), "reference": (str,), "points": (float,), "drop_checks": (list,)}


def _limits(grading: dict) -> Limits:
    return Limits(**{LIMIT_KEYS[k]: (float(x) if k.endswith("_s") else x) for k, x in grading.items() if k in LIMIT_KEYS})


def grading_limits(path: Path | str = DEFAULT_COURSE) -> Limits | None:
    """The sandbox limits in a course file's [grading], read without validating anything else (to
    start a worker while the course loads); None unless every limit there is a positive number.
    ``load_course`` validates the file and says what is wrong with it."""
    try:
        g = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("grading", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(g, dict):
        return None
    given = [g[k] for k in LIMIT_KEYS if k in g]
    if not all(type(x) in (int, float) and 0 < x < math.inf for x in given):
        return None
    return _limits(g)


def grades_serially(jobs: int, submissions: int) -> bool:
    """Local grading's rule: one process grades in turn with one job or one submission; else a pool of
    ``jobs`` forked processes (labgrader.grade.dispatch_local). The CLI asks it before grade.py is
    imported, to start the first sandbox worker early when one process will grade."""
    return jobs <= 1 or submissions <= 1


def prestart_worker(path: Path | str = DEFAULT_COURSE) -> None:
    """Start the first sandbox worker now, with the course's limits, for the grading that follows
    (labgrader.sandbox.session.prestart); nothing if the limits cannot be read."""
    from .sandbox.session import prestart

    limits = grading_limits(path)
    if limits is not None:
        prestart(limits)


def load_course(path: Path | str = DEFAULT_COURSE, *, resolve_references: bool = True,
                only: str | None = None) -> Course:
    """Read and validate a course file; raise CourseConfigError naming the key and line.

    ``only``: a lab id (or unique prefix, as ``Course.lab`` takes it). Every lab's block is still
    validated as TOML, but only that lab's checks and references are imported and checked against
    its block, and ``labs`` holds only that lab: grading one lab need not import thirteen labs'
    checks (about a fifth of a one-notebook ``course grade``). KeyError if no lab matches."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseConfigError(f"{path}: no such file (run from the course's folder or pass --course)") from None
    except UnicodeDecodeError as e:
        raise CourseConfigError(f"{path.name}: not UTF-8 text ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CourseConfigError(f"{path.name}: not valid TOML: {e}") from None
    v = _Validator(path, text)
    v.table(data, _ROOT, {"course": (dict,), "grading": (dict,), "visibility": (dict,), "labs": (list,)},
            {"course", "labs"})
    vis = v.table(data.get("visibility", {}), "visibility", {k: (str,) for k in Visibility.__dataclass_fields__},
                  set())
    for k, level in vis.items():
        if level not in VISIBILITY_LEVELS:
            raise v.fail(f"visibility.{k}", f"must be one of {', '.join(VISIBILITY_LEVELS)} (Gradescope's values), "
                                            f"got {level!r}")

    c = v.table(data["course"], "course", {"name": (str,), "term": (str,), "timezone": (str,), "submission": (str,)},
                {"name"})

    g = v.table(
        data.get("grading", {}),
        "grading",
        {
            "examples_per_property": (int,),
            "seed": (int,),
            "time_limit_per_call_s": (float,),
            "time_limit_per_submission_s": (float,),
            "memory_limit_mb": (int,),
            "output_limit_kb": (int,),
        },
        set(),
    )
    for k in ("examples_per_property", "memory_limit_mb", "output_limit_kb"):
        if k in g:
            v.number(g[k], f"grading.{k}", 1)
    for k in ("time_limit_per_call_s", "time_limit_per_submission_s"):
        if k in g:
            v.number(g[k], f"grading.{k}", 0, strict=True)
    if "seed" in g:
        v.number(g["seed"], "grading.seed", 0)
    grading = Grading(g.get("examples_per_property", 100), g.get("seed", 0), _limits(g))

    if not data["labs"]:
        raise v.fail("labs", "must list at least one lab")
    labs, lab_ids = [], set()
    wanted, not_found = None, None
    if only is not None:  # a lab that is not there is said after the TOML's own errors
        try:
            wanted = _find_lab([x for x in data["labs"] if isinstance(x, dict)], only, path.name,
                               lambda x: str(x.get("id", "")), lambda x: str(x.get("notebook", "")))
        except KeyError as e:
            wanted, not_found = object(), e
    for li, lab in enumerate(data["labs"]):
        key = f"labs[{li}]"
        v.table(
            lab,
            key,
            {"id": (str,), "title": (str,), "notebook": (str,), "checks": (str,), "due": (dt.datetime,),
             "late_policy": (dict,), "exercises": (list,), "questions": (dict,)},
            {"id", "title", "notebook", "checks", "due", "exercises"},
        )
        if not _ID.match(lab["id"]):
            raise v.fail(f"{key}.id", f"must be an identifier like 'lab01', got {lab['id']!r}")
        if lab["id"] in lab_ids:
            raise v.fail(f"{key}.id", f"duplicates the lab id {lab['id']!r}")
        lab_ids.add(lab["id"])
        if not lab["notebook"].endswith(".ipynb") or "/" in lab["notebook"]:
            raise v.fail(f"{key}.notebook", f"must be a file name ending in .ipynb, got {lab['notebook']!r}")
        due = lab["due"]
        if due.tzinfo is None:
            raise v.fail(f"{key}.due", f"must carry a time zone (e.g. 2026-12-04T23:59:00Z), got {due.isoformat()}")
        lp = v.table(
            lab.get("late_policy", {}),
            f"{key}.late_policy",
            {"grace_minutes": (float,), "penalty_per_day": (float,), "max_days_late": (int,)},
            set(),
        )
        for k in lp:
            v.number(lp[k], f"{key}.late_policy.{k}", 0)
        if lp.get("penalty_per_day", 0) > 1:
            raise v.fail(f"{key}.late_policy.penalty_per_day", f"is a fraction of the score in [0, 1], got {lp['penalty_per_day']!r}")
        if wanted is not None and lab is not wanted:
            for ei, ex in enumerate(lab["exercises"]):  # the block as TOML; its checks are not imported
                v.table(ex, f"{key}.exercises[{ei}]", _EXERCISE_KEYS, {"id", "points"})
                v.number(ex["points"], f"{key}.exercises[{ei}].points", 0)
            continue
        try:  # the checks are declared there, in order; course.toml only drops some
            checks_module = load_checks(lab["checks"])
        except ImportError as e:
            raise v.fail(f"{key}.checks", f"names no module in labgrader/checks ({e})") from None
        declared = getattr(checks_module, "CHECKS", {})
        declared_exercises = getattr(checks_module, "EXERCISES", {})
        if not lab["exercises"]:
            raise v.fail(f"{key}.exercises", "must list at least one exercise")
        exercises, ex_ids = [], set()
        for ei, ex in enumerate(lab["exercises"]):
            ekey = f"{key}.exercises[{ei}]"
            v.table(ex, ekey, _EXERCISE_KEYS, {"id", "points"})
            if not _ID.match(ex["id"]):
                raise v.fail(f"{ekey}.id", f"must be a Python identifier, got {ex['id']!r}")
            if ex["id"] in ex_ids:
                raise v.fail(f"{ekey}.id", f"duplicates the exercise id {ex['id']!r} in lab {lab['id']!r}")
            ex_ids.add(ex["id"])
            v.number(ex["points"], f"{ekey}.points", 0)
            where = f"labgrader/checks/{lab['checks']}.py"
            if "reference" in ex:
                raise v.fail(f"{ekey}.reference", f"is declared in code: {where}'s EXERCISES gives each exercise's "
                                                  "reference; remove this line")
            if ex["id"] not in declared_exercises:
                raise v.fail(f"{ekey}.id", f"names no exercise declared in {where} "
                                           f"(EXERCISES: {', '.join(declared_exercises) or 'none'})")
            ex["reference"] = declared_exercises[ex["id"]]
            known = list(declared.get(ex["id"], {}))
            if not known:
                raise v.fail(f"{ekey}.id", f"names an exercise with no checks in labgrader/checks/{lab['checks']}.py "
                                           f"(exercises there: {', '.join(declared) or 'none'})")
            drop = ex.get("drop_checks", [])
            for name in drop:
                if name not in known:
                    raise v.fail(f"{ekey}.drop_checks", f"names an unknown check {name!r} for {ex['id']} in "
                                                        f"labgrader/checks/{lab['checks']}.py (known: {', '.join(known)})")
            if len(set(drop)) >= len(known):
                raise v.fail(f"{ekey}.drop_checks", f"drops every check of {ex['id']}: keep at least one")
            ex["checks"] = [name for name in known if name not in drop]
            exercise = Exercise(ex["id"], ex["reference"], float(ex["points"]), tuple(ex["checks"]))
            if resolve_references:
                try:
                    fn = exercise.load_reference()
                except (ImportError, AttributeError) as e:
                    raise v.fail(f"{ekey}.id", f"has a reference that names no function: {ex['reference']!r} ({e}) "
                                               f"(EXERCISES in {where})") from None
                if not inspect.isfunction(fn):
                    raise v.fail(f"{ekey}.id", f"has a reference that is not a function: {ex['reference']!r} "
                                               f"(EXERCISES in {where})")
            exercises.append(exercise)
        missing = [x for x in declared_exercises if x not in ex_ids]
        if missing:
            raise v.fail(f"{key}.exercises", f"gives no points to {', '.join(missing)}, declared in "
                                             f"labgrader/checks/{lab['checks']}.py: add a [[labs.exercises]] for each")
        order = list(declared_exercises)  # the order declared in code
        exercises.sort(key=lambda e: order.index(e.id))
        questions = None
        if "questions" in lab:  # questions = { answer_1 = 5, ... }: the written answers' points, by cell name
            questions = []
            for name, pts in lab["questions"].items():
                if not _ID.match(name):
                    raise v.fail(f"{key}.questions", f"names the answer cell {name!r}: use the cell's name from "
                                                     "labsrc (answer=\"...\"), an identifier")
                if isinstance(pts, bool) or not isinstance(pts, (int, float)):
                    raise v.fail(f"{key}.questions", f"{name} must be a number >= 0 (its points), got {pts!r}")
                v.number(pts, f"{key}.questions", 0)
                questions.append((name, float(pts)))
            questions = tuple(questions)
        labs.append(
            Lab(lab["id"], lab["title"], lab["notebook"], lab["checks"], due, LatePolicy(**lp), tuple(exercises),
                questions)
        )
    if not_found is not None:
        raise not_found
    return Course(
        name=c["name"], term=c.get("term", ""), timezone=c.get("timezone", "UTC"), grading=grading,
        labs=tuple(labs), path=path, root=path.resolve().parent, visibility=Visibility(**vis),
        **({"submission": c["submission"]} if "submission" in c else {}), is_complete=wanted is None,
    )
