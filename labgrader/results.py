"""The typed results of a grading, and their renderings: Gradescope JSON, a CSV row, terminal text.

A grading produces one :class:`SubmissionResult`: per exercise an :class:`ExerciseResult`, per
check a :class:`CheckResult` with its fields kept apart (the property in words, the status, the
shrunk counterexample as (argument, value) pairs, expected and got, the check's message). Every
format is rendered from these fields and nothing is ever parsed back out of rendered text: the
HTML reports (labgrader.reports) read the same fields, which results.json stores in each test's
``extra_data`` (:meth:`SubmissionResult.from_gradescope` reads them back as data).

results.json follows Gradescope's autograder specification: top-level ``score``, ``max_score``,
``execution_time``, ``output``, ``visibility``, ``stdout_visibility``, ``tests`` (each with
``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``, ``visibility``) and
``extra_data`` (ours: the sandbox mode, the seed, the file's sha256, cell errors...). Everything in
it except ``execution_time`` and ``extra_data.timing`` is a deterministic function of the
submission and the grader.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

STATUS_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "not_implemented": "not implemented",
    "not_defined": "not defined",
    "lost": "sandbox failure",
    "internal_error": "grader error",
}
WITHHELD = {  # what a student reads instead of a hidden check's details, by their visibility
    "visible": "",
    "after_due_date": "Its counterexample and the expected value are shown after the due date.",
    "after_published": "Its counterexample and the expected value are shown when the grades are published.",
    "hidden": "This check's counterexample is not shown.",
}
SMALLEST = "Counterexample (the smallest hypothesis found):"
ONE_FAILING = "One failing input:"


def _round(x: float) -> float:
    return round(float(x), 4)


@dataclass(frozen=True)
class CheckResult:
    """One check of one exercise on one submission."""

    exercise: str
    name: str  # the check's function name
    property: str  # the property in words (the check's docstring)
    status: str  # passed | failed | not_implemented | not_defined | lost | internal_error
    public: bool = False
    message: str = ""  # said before the counterexample: why it did not run, what went wrong
    counterexample: tuple[tuple[str, str], ...] | None = None  # (argument, value as Python text); None: none
    counterexample_label: str = SMALLEST
    detail: str = ""  # what the check said about the counterexample (expected vs got, the exception...)
    expected: str | None = None
    got: str | None = None
    counterexample_size: int | None = None  # numbers in the counterexample: what a student reads
    examples: int = field(default=0, compare=False)  # how many examples ran (a timing: not in results.json)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def title(self) -> str:
        return f"{self.exercise}: {self.name.replace('_', ' ')}"

    @property
    def output(self) -> str:
        """The feedback as text: the property, then what went wrong, the counterexample and the detail."""
        if self.passed:
            return ""
        lines = [f"Property: {self.property}"]
        if self.message:
            lines.append(self.message)
        if self.counterexample is not None:
            lines.append(self.counterexample_label)
            lines.append(self.counterexample_text(indent=4))
        if self.detail:
            lines.append(self.detail)
        return "\n".join(lines)

    def counterexample_text(self, indent: int = 0) -> str:
        pad = " " * indent
        return "\n".join(f"{pad}{k} = {v}" for k, v in self.counterexample or ())

    @property
    def has_details(self) -> bool:
        """Whether it shows more than its property and status: a counterexample, expected/got, a detail."""
        return self.counterexample is not None or bool(self.detail) or self.expected is not None

    def redacted(self, level: str) -> "CheckResult":
        """Without the details, and a sentence saying when they are shown (``level``: Gradescope's value)."""
        return dataclasses.replace(self, counterexample=None, detail="", expected=None, got=None,
                                   message="\n".join(x for x in (self.message, WITHHELD[level]) if x))

    def data(self) -> dict:
        """The fields results.json keeps in the test's extra_data (all but the timing)."""
        return {"property": self.property, "message": self.message,
                "counterexample": None if self.counterexample is None else [list(p) for p in self.counterexample],
                "counterexample_label": self.counterexample_label, "detail": self.detail,
                "expected": self.expected, "got": self.got, "counterexample_size": self.counterexample_size}

    @classmethod
    def from_data(cls, exercise: str, name: str, status: str, public: bool, data: dict) -> "CheckResult":
        ce = data.get("counterexample")
        return cls(exercise, name, str(data.get("property", "")), status, bool(public),
                   message=str(data.get("message", "")),
                   counterexample=None if ce is None else tuple((str(k), str(v)) for k, v in ce),
                   counterexample_label=str(data.get("counterexample_label", SMALLEST)),
                   detail=str(data.get("detail", "")), expected=data.get("expected"), got=data.get("got"),
                   counterexample_size=data.get("counterexample_size"))


@dataclass(frozen=True)
class ExerciseResult:
    id: str
    points: float
    checks: tuple[CheckResult, ...]

    @property
    def score(self) -> float:
        return self.points * sum(c.passed for c in self.checks) / len(self.checks) if self.checks else 0.0

    @property
    def summary(self) -> str:
        statuses = [c.status for c in self.checks]
        if statuses and all(s == "not_implemented" for s in statuses):
            return "not implemented"
        if statuses and all(s == "not_defined" for s in statuses):
            return "not defined"
        if all(s == "passed" for s in statuses):
            return "all checks passed"
        return "failed: " + ", ".join(c.name.replace("_", " ") for c in self.checks if not c.passed)


@dataclass(frozen=True)
class CellError:
    cell: int
    error: str


@dataclass(frozen=True)
class SubmissionResult:
    """A graded (or ungradable) submission; render it with the ``to_*`` methods."""

    submission: str
    lab: str
    lab_title: str
    exercises: tuple[ExerciseResult, ...]
    sha256: str = ""
    profile: str = "grading"
    examples_per_property: int = 0
    seed: int = 0
    fingerprint: str = ""
    sandbox: str = ""
    cells: tuple[CellError, ...] = ()
    fatal: str = ""  # why the file could not be graded at all ("" when it was)
    restarts: int | None = None
    stdout_excerpt: str | None = None
    skipped_experiment_cells: int | None = None
    late: object | None = None  # labgrader.late.LateOutcome, once the late policy was applied
    notes: tuple[str, ...] = ()  # lines appended to the output (e.g. "Late policy not applied: ...")
    extra: tuple[tuple[str, object], ...] = ()  # more extra_data (timestamp hash, Gradescope's dates)
    seconds: float = field(default=0.0, compare=False)

    @property
    def max_score(self) -> float:
        return _round(sum(e.points for e in self.exercises))

    @property
    def score_before_late_policy(self) -> float:
        return _round(sum(_round(e.score) for e in self.exercises))

    @property
    def multiplier(self) -> float:
        return 1.0 if self.late is None else self.late.multiplier

    @property
    def score(self) -> float:
        return _round(self.score_before_late_policy * self.multiplier)

    def checks(self):
        for e in self.exercises:
            yield from e.checks

    def replace(self, **changes) -> "SubmissionResult":
        return dataclasses.replace(self, **changes)

    def with_note(self, note: str) -> "SubmissionResult":
        return self.replace(notes=(*self.notes, note))

    def with_extra(self, **items) -> "SubmissionResult":
        return self.replace(extra=(*((k, v) for k, v in self.extra if k not in items), *items.items()))

    # -- renderings -------------------------------------------------------------------------------
    def to_text(self, not_run: dict[str, int] | None = None) -> str:
        """The summary a terminal and Gradescope's top-level output show. ``not_run``: exercise ->
        the number of its hidden checks a self-check did not run, said on the exercise's line."""
        lines = [f"{self.lab_title}: {self.score_before_late_policy:g} / {self.max_score:g}"]
        if self.fatal:
            lines.append(self.fatal)
        for e in self.exercises:
            hidden = (not_run or {}).get(e.id, 0)
            lines.append(f"  {e.id:<24} {_round(e.score):>6g} / {_round(e.points):<4g} {e.summary}"
                         + (f" ({len(e.checks)} public; {hidden} hidden not run)" if hidden else ""))
        for c in self.cells:
            where = "setup cell" if c.cell == 0 else f"cell {c.cell}"
            lines.append(f"  note: {where} raised {c.error[:300]}")
        if self.sandbox:
            lines.append(f"Graded in the sandbox ({self.sandbox}), {self.examples_per_property} examples per "
                         f"property, seed {self.seed}.")
        lines.extend(self.notes)
        if self.late is not None:
            lines.append(self.late.line(self.score, self.max_score))
        return "\n".join(lines)

    def to_gradescope(self, visibility=None) -> dict:
        """results.json. Without ``visibility``: the grader's record (every test visible, all its details).

        With course.toml's ``visibility`` (labgrader.config.Visibility): the form a student's Gradescope
        shows. Each test gets the visibility of its check; a failing check whose details are less
        visible than the check (by default: a hidden check's counterexample, until the due date) shows
        its property and pass/fail, and a 0-point test right after it, "<check> (details)", shows the
        details at their own visibility.
        """
        m = self.multiplier
        tests = []
        for number, e in enumerate(self.exercises, start=1):
            per = e.points / len(e.checks) if e.checks else 0.0
            for k, c in enumerate(e.checks, start=1):
                level = "visible" if visibility is None else visibility.checks
                details = "visible" if visibility is None else visibility.of_counterexample(c.public)
                split = details != level and c.has_details and not self.fatal
                shown = c.redacted(details) if split else c
                score = _round(per if c.passed else 0.0)
                test = {
                    "name": c.title,
                    "number": f"{number}.{k}",
                    "score": _round(score * m) if self.late is not None else score,
                    "max_score": _round(per),
                    "status": "passed" if c.passed else "failed",
                    "output": self.fatal or (shown.output if not shown.passed else f"Property: {c.property}"),
                    "visibility": level,
                    "extra_data": {"exercise": e.id, "check": c.name, "result": c.status, "public": c.public,
                                   **shown.data()},
                }
                tests.append(test)
                if split:
                    tests.append({**test, "name": f"{c.title} (details)", "number": f"{number}.{k}.1", "score": 0.0,
                                  "max_score": 0.0, "output": c.output, "visibility": details,
                                  "extra_data": {**test["extra_data"], **c.data(), "details_of": test["number"]}})
        exercises = {}
        for e in self.exercises:
            s = _round(e.score)
            exercises[e.id] = {"score": _round(s * m) if self.late is not None else s,
                               "max_score": _round(e.points), "summary": e.summary}
        extra = {
            "submission": self.submission, "lab": self.lab, "lab_title": self.lab_title, "sha256": self.sha256,
            "profile": self.profile, "examples_per_property": self.examples_per_property, "seed": self.seed,
            "fingerprint": self.fingerprint, "sandbox": self.sandbox,
            "cells": [{"cell": c.cell, "error": c.error} for c in self.cells],
            "exercises": exercises, "fatal": self.fatal, "notes": list(self.notes),
            # How many examples hypothesis ran (shrinking included) varies with memory layout: a timing.
            "timing": {"seconds": round(self.seconds, 2), "examples_run": sum(c.examples for c in self.checks())},
        }
        for k in ("restarts", "stdout_excerpt", "skipped_experiment_cells"):
            if getattr(self, k) is not None:
                extra[k] = getattr(self, k)
        if self.late is not None:
            extra.update(self.late.data(self.score_before_late_policy))
        extra.update(dict(self.extra))
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.seconds, 2),
            "output": self.to_text(),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
            "extra_data": extra,
        }

    @classmethod
    def from_gradescope(cls, data: dict) -> "SubmissionResult":
        """Read a results.json this module wrote back into the typed model (its data fields, no text)."""
        from .late import LateOutcome

        extra = data["extra_data"]
        by_ex: dict[str, list[CheckResult]] = {}
        details = {t["extra_data"]["details_of"]: t["extra_data"] for t in data["tests"]
                   if "details_of" in (t.get("extra_data") or {})}
        for t in data["tests"]:
            x = t.get("extra_data") or {}
            if "details_of" in x:
                continue
            x = details.get(t.get("number"), x)
            ex = x.get("exercise") or t["name"].split(":", 1)[0]
            by_ex.setdefault(ex, []).append(CheckResult.from_data(ex, x.get("check", ""), x.get("result", t["status"]),
                                                                  x.get("public", False), x))
        exercises = tuple(ExerciseResult(ex, float(e.get("max_score", 0.0)), tuple(by_ex.get(ex, ())))
                          for ex, e in (extra.get("exercises") or {}).items())
        order = list(by_ex) + [e.id for e in exercises if e.id not in by_ex]
        exercises = tuple(sorted(exercises, key=lambda e: order.index(e.id)))
        known = {"submission", "lab", "lab_title", "sha256", "profile", "examples_per_property", "seed", "fingerprint",
                 "sandbox", "cells", "exercises", "fatal", "notes", "timing", "restarts", "stdout_excerpt",
                 "skipped_experiment_cells", *LateOutcome.KEYS}
        return cls(
            submission=extra.get("submission", ""), lab=extra.get("lab", ""), lab_title=extra.get("lab_title", ""),
            exercises=exercises, sha256=extra.get("sha256", ""), profile=extra.get("profile", ""),
            examples_per_property=extra.get("examples_per_property", 0), seed=extra.get("seed", 0),
            fingerprint=extra.get("fingerprint", ""), sandbox=extra.get("sandbox", ""),
            cells=tuple(CellError(c.get("cell", 0), c.get("error", "")) for c in extra.get("cells") or ()),
            fatal=extra.get("fatal", ""), restarts=extra.get("restarts"), stdout_excerpt=extra.get("stdout_excerpt"),
            skipped_experiment_cells=extra.get("skipped_experiment_cells"),
            late=LateOutcome.from_data(extra), notes=tuple(extra.get("notes") or ()),
            extra=tuple((k, v) for k, v in extra.items() if k not in known),
            seconds=float(data.get("execution_time", 0.0)),
        )

    CSV_TAIL = ("days_late", "late_multiplier", "status", "sandbox", "sha256")

    def csv_row(self, name: str) -> dict:
        row = {"submission": name, "score": self.score, "max_score": self.max_score,
               "percent": round(100 * self.score / self.max_score, 2) if self.max_score else 0.0}
        for e in self.exercises:
            row[e.id] = _round(_round(e.score) * self.multiplier) if self.late is not None else _round(e.score)
        row.update({"days_late": "" if self.late is None else self.late.days_late,
                    "late_multiplier": "" if self.late is None else self.multiplier,
                    "status": "unreadable" if self.fatal else "graded", "sandbox": self.sandbox,
                    "sha256": self.sha256})
        return row


def strip_timings(results: dict) -> dict:
    """A copy without the fields that may differ between two gradings of one submission."""
    out = json.loads(json.dumps(results))
    out.pop("execution_time", None)
    out.get("extra_data", {}).pop("timing", None)
    return out


def write_gradebook(out_dir: Path, lab, names: list[str] | None = None) -> Path:
    """DIR/gradebook.csv: one row per submission, one column per exercise, one per written question
    (the TA's score, blank until ``course scores`` merged one), manual_score, total and total_max.

    ``names`` are the submissions of this run (their DIR/<name>/results.json); without it, every
    results.json of the lab in DIR.
    """
    from .answers import manual_columns, read_manual_scores, write_csv

    fields = ["submission", "score", "max_score", "percent", *[e.id for e in lab.exercises],
              *lab.question_points(), "manual_score", "total", "total_max", *SubmissionResult.CSV_TAIL]
    manual = read_manual_scores(out_dir)
    rows = []
    files = (sorted(Path(out_dir) / n / "results.json" for n in names) if names is not None
             else sorted(Path(out_dir).glob("*/results.json")))
    for f in files:
        try:
            result = SubmissionResult.from_gradescope(json.loads(f.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if result.lab != lab.id:
            continue
        row = result.csv_row(f.parent.name)
        row.update(manual_columns(out_dir, lab, f.parent.name, result.score, manual))  # written answers (answers.py)
        rows.append({k: row.get(k, 0.0) for k in fields})
    path = Path(out_dir) / "gradebook.csv"
    write_csv(path, fields, rows)
    return path
