"""Grade submissions: one notebook in a sandbox, or a batch in parallel with resume.

``grade_submission`` returns a Gradescope ``results.json`` dictionary. ``grade_batch`` grades
many, ``--jobs`` at a time, writes each ``DIR/<name>/results.json`` as soon as it is done
(atomically: a half-written file never exists), writes ``DIR/gradebook.csv`` at the end, and on a
second run skips every submission whose results are already there for the same file contents
and the same grader (a fingerprint of course.toml, the checks and the reference).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .cases import lab_cases
from .checks import Check
from .config import Course, Lab, REPO_ROOT
from .results import build_results, write_gradebook
from .runner import PROFILES, ExerciseOutcome, grade_exercise
from .sandbox import Limits, StudentSession, SubmissionTimeUp, WorkerLost
from .sandbox.session import die_with_parent  # pool workers die with the grader, even by SIGKILL
from .submission import SubmissionError, plan_cells, read_notebook, trusted_setup

GRADER_VERSION = "1"


def file_sha256(path: Path) -> str:
    """The file's sha256, read in chunks (a multi-gigabyte upload must not be read into memory), or ""."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (OSError, ValueError):
        return ""


def examples_for(course: Course, profile: str) -> int:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    return PROFILES[profile] or course.grading.examples_per_property


def lab_checks(lab: Lab, *, public_only: bool = False) -> dict[str, list[Check]]:
    """The checks course.toml lists for each exercise (only the public ones, on request)."""
    import importlib

    module = importlib.import_module(f"autograder.checks.{lab.checks}")
    return {e.id: [module.CHECKS[e.id][name] for name in e.checks
                   if name in module.CHECKS.get(e.id, {}) and (module.CHECKS[e.id][name].public or not public_only)]
            for e in lab.exercises}


# What decides a grade: editing anything else (reports, CLI, exports) must not force a regrade.
GRADE_DECIDING = ("autograder/grade.py", "autograder/runner.py", "autograder/assertions.py",
                  "autograder/strategies.py", "autograder/submission.py", "autograder/results.py",
                  "autograder/inprocess.py", "autograder/checks", "autograder/sandbox", "reference_impl")


def fingerprint(course: Course, lab: Lab, profile: str) -> str:
    """Changes whenever anything that decides a grade changes: course.toml, checks, reference, grader."""
    h = hashlib.sha256(f"{GRADER_VERSION}|{profile}|{lab.id}".encode())
    h.update(course.path.read_bytes())
    for entry in GRADE_DECIDING:
        path = REPO_ROOT / entry
        files = sorted(path.rglob("*.py")) + sorted(path.rglob("*.toml")) if path.is_dir() else [path]
        for p in files:
            if p.exists():
                h.update(p.relative_to(REPO_ROOT).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def limits_for(course: Course) -> Limits:
    g = course.grading
    return Limits(
        call_seconds=g.time_limit_per_call_s,
        submission_seconds=g.time_limit_per_submission_s,
        memory_mb=g.memory_limit_mb,
        output_kb=g.output_limit_kb,
    )


def grade_submission(course: Course, lab: Lab, path: Path, *, profile: str = "grading", name: str | None = None,
                     public_only: bool = False, fp: str | None = None) -> dict:
    """Grade one notebook; never raises for anything the submission does.

    ``public_only`` runs only the checks that need no reference (``course check``, a student's
    self-check); exercises are then scored out of their public checks.
    """
    path = Path(path)
    start = time.monotonic()
    name = name or path.stem
    checks = lab_checks(lab, public_only=public_only)
    if public_only:  # score only what the public checks can see
        lab = dataclasses.replace(lab, exercises=tuple(e for e in lab.exercises if checks[e.id]))
    n_examples = examples_for(course, profile)
    digest = file_sha256(path)
    fp = fp or fingerprint(course, lab, profile)
    meta = {
        "submission": name,
        "lab": lab.id,
        "sha256": digest,
        "profile": profile,
        "examples_per_property": n_examples,
        "seed": course.grading.seed,
        "fingerprint": fp,
        "sandbox": "",
        "cells": [],
    }
    try:
        nb = read_notebook(path)
    except SubmissionError as e:
        outcomes = [
            ExerciseOutcome(ex.id, ex.points, []) for ex in lab.exercises
        ]
        return build_results(lab, outcomes, checks, meta, time.monotonic() - start, fatal=f"This submission could not be graded: {e}.")

    plan = plan_cells(nb, trusted_setup(lab.lab_path(course.root)))
    cases = lab_cases(lab, checks, fingerprint=fp, max_examples=n_examples, seed_value=course.grading.seed)
    outcomes: list[ExerciseOutcome] = []
    with StudentSession(plan.cells, limits_for(course)) as session:
        meta["sandbox"] = session.mode
        try:
            report = session.start()
            load_error = ""
        except WorkerLost as e:
            report, load_error = None, e.reason
        if report is not None:
            meta["cells"] = [
                {"cell": c.index, "error": c.error} for c in report.cells if not c.ok
            ]
        time_up: str | None = load_error or None
        for ex in lab.exercises:
            if time_up is not None:
                outcomes.append(grade_exercise(ex, checks[ex.id], session, defined=False, max_examples=0,
                                               seed_value=0, not_defined_reason=f"Not graded: {time_up}"))
                continue
            defined = ex.function_name in (session.load_report.functions if session.load_report else set())
            try:
                outcomes.append(grade_exercise(ex, checks[ex.id], session, defined=defined,
                                               max_examples=n_examples, seed_value=course.grading.seed,
                                               cases=cases[ex.id]))
            except SubmissionTimeUp as e:
                time_up = e.reason
                outcomes.append(grade_exercise(ex, checks[ex.id], session, defined=False, max_examples=0,
                                               seed_value=0, not_defined_reason=f"Not graded: {time_up}"))
        meta["restarts"] = max(0, session.restarts - 1)
        meta["stdout_excerpt"] = session.output_excerpt(1000)
    meta["skipped_experiment_cells"] = plan.skipped_experiments
    return build_results(lab, outcomes, checks, meta, time.monotonic() - start)


# -- batches ------------------------------------------------------------------------------------
def collect_submissions(paths: list[Path]) -> list[Path]:
    """Files as given, folders searched for *.ipynb (checkpoints ignored); sorted, no duplicates."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(q for q in sorted(p.rglob("*.ipynb")) if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    unique = list(dict.fromkeys(q.resolve() for q in found))
    return unique


def submission_names(paths: list[Path]) -> dict[Path, str]:
    """A folder name per submission: the file stem, made unique with its parent folders if needed."""
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "submission"

    names: dict[Path, str] = {}
    depth = 0
    while True:
        names = {p: clean("__".join([*p.parent.parts[len(p.parent.parts) - depth:], p.stem] if depth else [p.stem]))
                 for p in paths}
        if len(set(names.values())) == len(names) or depth > 10:
            break
        depth += 1
    if len(set(names.values())) != len(names):  # identical paths up to 10 levels: number them
        names = {p: f"{n}_{i}" for i, (p, n) in enumerate(sorted(names.items()))}
    return names


@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # grader errors (not the student's fault)
    results: dict[str, dict] = field(default_factory=dict)


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _is_done(out_dir: Path, name: str, path: Path, fp: str, late_policy: bool = False) -> dict | None:
    f = out_dir / name / "results.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
        extra = data["extra_data"]
        stamp = _timestamp_file(path)
        stamp_hash = file_sha256(stamp)
        if late_policy and extra.get("timestamp_sha256") != stamp_hash:
            return None  # graded without the policy, or the timestamp changed
        if not late_policy and "timestamp_sha256" in extra:
            return None
        if extra["fingerprint"] == fp and extra["sha256"] == file_sha256(path):
            return data
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _timestamp_file(path: Path) -> Path:
    return path.parent / "timestamp.txt"  # nbgrader's submitted/<student>/<assignment>/timestamp.txt


def _with_late_policy(lab: Lab, path: Path, result: dict) -> dict:
    from .late import TimestampError, apply_late_policy, submitted_at_from_nbgrader

    stamp = _timestamp_file(path)
    if not stamp.is_file():
        result["output"] += "\nLate policy not applied: no timestamp.txt beside the notebook."
        return result
    try:
        return apply_late_policy(result, lab, submitted_at_from_nbgrader(stamp))
    except TimestampError as e:
        result["output"] += f"\nLate policy not applied: {e}"
        return result


def _grade_one(course: Course, lab: Lab, path: Path, name: str, out_dir: Path, profile: str,
               late_policy: bool = False, fp: str | None = None) -> dict:
    result = grade_submission(course, lab, path, profile=profile, name=name, fp=fp)
    if late_policy:
        result = _with_late_policy(lab, path, result)
        stamp = _timestamp_file(path)
        result["extra_data"]["timestamp_sha256"] = (
            file_sha256(stamp))
    _write_json_atomic(out_dir / name / "results.json", result)
    return result


def grade_batch(course: Course, lab: Lab, paths: list[Path], out_dir: Path, *, jobs: int = 1, force: bool = False,
                profile: str = "grading", progress=None, late_policy: bool = False) -> BatchSummary:
    """Grade many submissions; resumable; ``progress(name, result_or_None, note)`` is told as each finishes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subs = collect_submissions(paths)
    names = submission_names(subs)
    fp = fingerprint(course, lab, profile)
    # Record the cases once, before the workers fork: each inherits them (autograder.cases).
    lab_cases(lab, lab_checks(lab), fingerprint=fp, max_examples=examples_for(course, profile),
              seed_value=course.grading.seed)
    summary = BatchSummary()
    todo: list[Path] = []
    for p in subs:
        done = None if force else _is_done(out_dir, names[p], p, fp, late_policy)
        if done is not None:
            summary.skipped.append(names[p])
            summary.results[names[p]] = done
            if progress:
                progress(names[p], done, "already graded")
        else:
            todo.append(p)

    def record(p: Path, fut_result=None, error: str | None = None):
        n = names[p]
        if error is not None:
            summary.failed[n] = error
            if progress:
                progress(n, None, error)
        else:
            summary.graded.append(n)
            summary.results[n] = fut_result
            if progress:
                progress(n, fut_result, "graded")

    if jobs <= 1 or len(todo) <= 1:
        for p in todo:
            try:
                record(p, _grade_one(course, lab, p, names[p], out_dir, profile, late_policy, fp))
            except Exception:  # a grader bug: report, keep going with the others
                record(p, error=f"grader error: {traceback.format_exc(limit=3)}")
    else:
        ctx = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=die_with_parent) as pool:
            futures = {pool.submit(_grade_one, course, lab, p, names[p], out_dir, profile, late_policy, fp): p
                       for p in todo}
            for fut in cf.as_completed(futures):
                p = futures[fut]
                try:
                    record(p, fut.result())
                except Exception as e:  # includes BrokenProcessPool
                    record(p, error=f"grader error: {type(e).__name__}: {e}")
    write_gradebook(out_dir, lab)
    from .reports import write_reports

    write_reports(out_dir, lab)
    return summary
