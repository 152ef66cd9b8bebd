"""Benchmark: grading one submission per lab with the grading profile, and running the solution notebook.

    python bench/grade_one.py [--runs 5] [--skip-notebooks] [--json bench/results/latest.json]

Prints, per lab, the median and spread of the wall time to grade the full solution (the slowest
case: every property runs all its examples) through the sandbox, the number of property examples
checked, and the solution notebook's run time, each against bench/budgets.toml.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.config import load_course  # noqa: E402
from autograder.grade import grade_submission  # noqa: E402


def time_grading(course, lab, runs: int) -> dict:
    sub = lab.solution_path(course.root)
    times, examples = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        r = grade_submission(course, lab, sub)
        times.append(time.perf_counter() - t)
        examples = r["extra_data"]["timing"]["examples_run"]
        assert r["score"] == r["max_score"], r["output"]
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": runs,
            "examples_checked": examples, "properties": len(r["tests"]),
            "examples_per_property": course.grading.examples_per_property}


def time_notebook(course, lab) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("MPLBACKEND", "Agg")
        t = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": d}}).execute()
        return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-notebooks", action="store_true")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = ap.parse_args()
    course = load_course(ROOT / "course.toml")
    budgets = tomllib.loads((ROOT / "bench" / "budgets.toml").read_text())
    report = {"machine": {"cpus": os.cpu_count()}, "labs": {}}
    print(f"{'figure':<38} {'measured':>10} {'budget':>8}  verdict")
    for lab in course.labs:
        g = time_grading(course, lab, args.runs)
        budget = budgets["grade_one_submission_s"].get(lab.id)
        verdict = "within budget" if budget is None or g["median_s"] <= budget else "OVER BUDGET"
        print(f"{lab.id + ': grade one submission (median)':<38} {g['median_s']:>9.2f}s {budget:>7g}s  {verdict}"
              f"   [{g['runs']} runs, {g['min_s']:.2f}-{g['max_s']:.2f}s, {g['examples_checked']} examples over "
              f"{g['properties']} properties]")
        entry = {"grade_one": g, "grade_one_budget_s": budget}
        if not args.skip_notebooks:
            nb_s = time_notebook(course, lab)
            nb_budget = budgets["solution_notebook_s"].get(lab.id)
            verdict = "within budget" if nb_budget is None or nb_s <= nb_budget else "OVER BUDGET"
            print(f"{lab.id + ': solution notebook top to bottom':<38} {nb_s:>9.1f}s {nb_budget:>7g}s  {verdict}")
            entry.update(notebook_s=nb_s, notebook_budget_s=nb_budget)
        report["labs"][lab.id] = entry
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
