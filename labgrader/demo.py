"""``course demo``: build the course, grade the bundled example submissions, print the table.

The examples and what each should score live in ``examples/<lab>/expected.toml``: the full
solution (full marks), the untouched student skeleton (0, "not implemented"), a buggy submission
(partial, with named checks failing) and a corrupt file (0 with a reason). The demo prints the
measured score beside the expected one and exits 1 if any differs, so it is also a smoke test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .build import EXAMPLES, build, load_expectations
from .config import Course
from .grade import grade_batch

__all__ = ["EXAMPLES", "load_expectations", "prepare", "run_demo"]


def prepare(course: Course, lab_id: str, folder: Path) -> dict:
    """Copy the lab's example submissions into ``folder`` under their demo names."""
    expected = load_expectations(course, lab_id)
    folder.mkdir(parents=True, exist_ok=True)
    base = course.root / EXAMPLES / lab_id
    for name, spec in expected.items():
        shutil.copy(base / spec["file"], folder / f"{name}.ipynb")
    return expected


def run_demo(course: Course, *, jobs: int = 1, out: Path | None = None) -> int:
    out = out or course.root / "build" / "demo"
    changes = build(course)
    print(f"course build: {len(changes)} notebook(s) rewritten" if changes else "course build: notebooks up to date")
    ok = True
    for lab in course.labs:
        if not (course.root / EXAMPLES / lab.id / "expected.toml").exists():
            continue
        if out.exists():
            shutil.rmtree(out / lab.id, ignore_errors=True)
        subs = out / lab.id / "submissions"
        expected = prepare(course, lab.id, subs)
        results_dir = out / lab.id / "results"
        print(f"\n{lab.id} — {lab.title}: grading {len(expected)} example submissions (--jobs {jobs})")
        summary = grade_batch(course, lab, [subs], results_dir, jobs=jobs, force=True)
        print(f"\n  {'submission':<10} {'score':>13}  {'expected':>8}  {'time':>6}  what it shows")
        for name, spec in expected.items():
            r = summary.results.get(name)
            if r is None:
                print(f"  {name:<10} {'ERROR':>13}  {spec['score']:>8g}  grader error: {summary.failed.get(name, '?')}")
                ok = False
                continue
            match = abs(r["score"] - spec["score"]) < 1e-3
            ok &= match
            mark = "" if match else "   <-- differs from expected!"
            print(f"  {name:<10} {r['score']:>6.2f} / {r['max_score']:<5g} {spec['score']:>8g}  "
                  f"{r['execution_time']:>5.1f}s  {spec['why']}{mark}")
            failing = [t for t in r["tests"] if t["status"] == "failed"]
            if 0 < len(failing) <= 8:
                for t in failing:
                    print(f"  {'':<10}   x {t['name']}")
                    for line in t["output"].splitlines()[:9]:
                        print(f"  {'':<10}       {line}")
            if r["extra_data"].get("fatal"):
                print(f"  {'':<10}   reason: {r['extra_data']['fatal']}")
        print(f"\n  reports: {results_dir}/<submission>/results.json and report.html, gradebook: "
              f"{results_dir / 'gradebook.csv'}, class report: {results_dir / 'report.html'}")
    print("\ndemo: every example got its expected score" if ok else "\ndemo: SOME SCORES DIFFER FROM EXPECTED")
    return 0 if ok else 1
