"""Grading results in the formats courses use: Gradescope's results.json and a CSV gradebook.

results.json follows Gradescope's autograder specification: top-level ``score``, ``max_score``,
``execution_time``, ``output``, ``visibility``, ``stdout_visibility``, ``tests`` (each with
``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``, ``visibility``) and
``extra_data`` (ours: the sandbox mode, the seed, the file's sha256, cell errors...). Everything in
it except ``execution_time`` is a deterministic function of the submission and the grader.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .config import Lab

STATUS_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "not_implemented": "not implemented",
    "not_defined": "not defined",
    "lost": "sandbox failure",
    "internal_error": "grader error",
}


def _round(x: float) -> float:
    return round(float(x), 4)


def build_results(lab: Lab, outcomes, checks, meta: dict, seconds: float, fatal: str | None = None) -> dict:
    tests = []
    exercises = {}
    for number, (ex, outcome) in enumerate(zip(lab.exercises, outcomes), start=1):
        ex_checks = checks[ex.id]
        per = ex.points / len(ex_checks)
        statuses = []
        for k, c in enumerate(ex_checks, start=1):
            co = next((o for o in outcome.checks if o.check.name == c.name), None)
            if fatal is not None or co is None:
                status, passed, output = "failed", False, fatal or "Not run."
            else:
                status, passed, output = co.status, co.passed, co.output
            statuses.append(status)
            tests.append({
                "name": f"{ex.id}: {c.name.replace('_', ' ')}",
                "number": f"{number}.{k}",
                "score": _round(per if passed else 0.0),
                "max_score": _round(per),
                "status": "passed" if passed else "failed",
                "output": output if output else f"Property: {c.description}",
                "visibility": "visible",
                "extra_data": {"exercise": ex.id, "check": c.name, "result": status, "public": c.public},
            })
        score = ex.points * sum(s == "passed" for s in statuses) / len(ex_checks)
        if all(s == "not_implemented" for s in statuses):
            summary = "not implemented"
        elif all(s == "not_defined" for s in statuses):
            summary = "not defined"
        elif all(s == "passed" for s in statuses):
            summary = "all checks passed"
        else:
            failed = [c.name.replace("_", " ") for c, s in zip(ex_checks, statuses) if s != "passed"]
            summary = "failed: " + ", ".join(failed)
        exercises[ex.id] = {"score": _round(score), "max_score": _round(ex.points), "summary": summary}

    # How many examples hypothesis ran (shrinking included) varies with memory layout: a timing.
    examples_run = sum(co.examples for o in outcomes for co in o.checks)
    total = _round(sum(e["score"] for e in exercises.values()))
    max_score = _round(lab.max_score)
    lines = [f"{lab.title}: {total:g} / {max_score:g}"]
    if fatal:
        lines.append(fatal)
    for ex_id, e in exercises.items():
        lines.append(f"  {ex_id:<24} {e['score']:>6g} / {e['max_score']:<4g} {e['summary']}")
    for c in meta.get("cells", []):
        where = "setup cell" if c["cell"] == 0 else f"cell {c['cell']}"
        lines.append(f"  note: {where} raised {c['error'][:300]}")
    if meta.get("sandbox"):
        lines.append(f"Graded in the sandbox ({meta['sandbox']}), {meta['examples_per_property']} examples per property, seed {meta['seed']}.")
    return {
        "score": total,
        "max_score": max_score,
        "execution_time": round(seconds, 2),
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {**meta, "exercises": exercises, "fatal": fatal or "",
                       "timing": {"seconds": round(seconds, 2), "examples_run": examples_run}},
    }


def strip_timings(results: dict) -> dict:
    """A copy without the fields that may differ between two gradings of one submission."""
    out = json.loads(json.dumps(results))
    out.pop("execution_time", None)
    out.get("extra_data", {}).pop("timing", None)
    return out


def write_gradebook(out_dir: Path, lab: Lab) -> Path:
    """DIR/gradebook.csv from every DIR/*/results.json: one row per submission, one column per exercise."""
    rows = []
    for f in sorted(Path(out_dir).glob("*/results.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            extra = data["extra_data"]
        except (OSError, ValueError, KeyError):
            continue
        if extra.get("lab") != lab.id:
            continue
        row = {
            "submission": f.parent.name,
            "score": data["score"],
            "max_score": data["max_score"],
            "percent": round(100 * data["score"] / data["max_score"], 2) if data["max_score"] else 0.0,
        }
        for ex in lab.exercises:
            row[ex.id] = extra.get("exercises", {}).get(ex.id, {}).get("score", 0.0)
        row["days_late"] = extra.get("days_late", "")
        row["late_multiplier"] = extra.get("multiplier", "")
        row["status"] = "unreadable" if extra.get("fatal") else "graded"
        row["sandbox"] = extra.get("sandbox", "")
        row["sha256"] = extra.get("sha256", "")
        rows.append(row)
    path = Path(out_dir) / "gradebook.csv"
    tmp = path.with_name(f".gradebook.{os.getpid()}.tmp")
    fields = ["submission", "score", "max_score", "percent", *[e.id for e in lab.exercises], "days_late",
              "late_multiplier", "status", "sandbox", "sha256"]
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
    return path
