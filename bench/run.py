"""The benchmarks, one command (``make bench``): a table against bench/budgets.toml, and a JSON file.

    python bench/run.py [--runs 5] [--only grading,nbgrader,batch,notebooks,private,cluster] [--labs lab01,lab02]
                        [--json bench/results/latest.json]

Sections:

grading    ``course grade <lab> <solution>`` per lab, median of ``--runs`` runs, as a subprocess (interpreter
           start, sandbox, every property with the grading profile, reports); the number of property
           examples it checks. The full solution is the slowest case: every property runs all its
           examples. Before them, one "cold" run with no recorded cases (labgrader/cases.py): what the
           first grade after a change of the checks or the reference costs, reported on its own row.
nbgrader   the same submission through the real ``nbgrader autograde`` (bench/nbgrader_baseline.py), with
           nbgrader's defaults (every cell, experiments included) and with the experiments skipped;
           the ratio ours / nbgrader for each, and the cases each checks.
batch      40 mixed Lab 1 submissions with --jobs 1 and --jobs 2 (bench/batch.py): wall time,
           submissions per minute, speed-up and parallel efficiency.
notebooks  each lab's solution notebook top to bottom, against its 5-minute budget.
private    Lab 7's cost of privacy (bench/private_inference.py), when Lab 7 exists.
cluster    the batch on a local Dask scheduler with 1 and 2 workers (bench/dask_cluster.py): throughput,
           and the projection for N workers with the model's measured inputs.

It measures and reports; it never fails the test suite (these machines are shared and noisy). The
exit status is 0 even when a figure is over budget; the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from labgrader.config import load_course  # noqa: E402

SECTIONS = ("grading", "nbgrader", "batch", "notebooks", "private", "cluster")


class Table:
    def __init__(self, budgets: dict):
        self.budgets = budgets
        self.rows: list[dict] = []
        print(f"{'figure':<58} {'measured':>12} {'budget':>10}  verdict")

    def row(self, figure: str, value: float, unit: str, budget_key: tuple[str, str] | None = None,
            higher_is_better: bool = False, note: str = "") -> None:
        budget = self.budgets.get(budget_key[0], {}).get(budget_key[1]) if budget_key else None
        if budget is None:
            verdict = ""
        elif higher_is_better:
            verdict = "within budget" if value >= budget else "BELOW TARGET"
        else:
            verdict = "within budget" if value <= budget else "OVER BUDGET"
        b = "" if budget is None else (f"≥{budget:g}{unit}" if higher_is_better else f"≤{budget:g}{unit}")
        print(f"{figure:<58} {value:>11.2f}{unit:<1} {b:>10}  {verdict}" + (f"   [{note}]" if note else ""),
              flush=True)
        self.rows.append({"figure": figure, "value": value, "unit": unit, "budget": budget, "verdict": verdict,
                          "note": note})


def time_course_grade(course, lab, runs: int, workdir: Path) -> dict:
    from labgrader.cases import CASES_DIR

    sub = workdir / "ours" / lab.id / f"{lab.id}_solution.ipynb"
    sub.parent.mkdir(parents=True, exist_ok=True)
    sub.write_bytes(lab.solution_path(course.root).read_bytes())
    out = workdir / "ours" / lab.id / "results"
    for old in CASES_DIR.glob(f"{lab.id}-*.pickle"):  # the cold run records them again
        old.unlink()
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "labgrader.cli", "grade", lab.id, str(sub), "--out", str(out),
                               "--force"], capture_output=True, text=True, cwd=course.root, timeout=1800)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"course grade {lab.id} failed:\n{proc.stderr[-3000:]}")
    cold, times = times[0], times[1:]
    res = json.loads((out / sub.stem / "results.json").read_text())
    if abs(res["score"] - res["max_score"]) > 1e-6:
        raise RuntimeError(f"{lab.id}: the solution got {res['score']}/{res['max_score']}")
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": runs, "cold_s": cold,
            "examples_checked": res["extra_data"]["timing"]["examples_run"], "properties": len(res["tests"]),
            "sandbox": res["extra_data"].get("sandbox")}


def time_notebook(course, lab) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("MPLBACKEND", "Agg")
        t = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": d}}).execute()
        return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of `course grade` per lab (median reported)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--labs", default="", help="comma-separated lab ids (default: every lab in course.toml)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    course = load_course(ROOT / "course.toml")
    labs = [course.lab(x.strip()) for x in args.labs.split(",") if x.strip()] or list(course.labs)
    budgets = tomllib.loads((ROOT / "bench" / "budgets.toml").read_text(encoding="utf-8"))
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "platform": platform.platform()},
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "labs": {}}
    table = Table(budgets)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        for lab in labs:
            entry = report["labs"].setdefault(lab.id, {})
            if "grading" in sections or "nbgrader" in sections:
                g = time_course_grade(course, lab, args.runs, work)
                entry["grade_one"] = g
                table.row(f"{lab.id}: course grade, one submission (median)", g["median_s"], "s",
                          ("grade_one_submission_s", lab.id),
                          note=f"{g['runs']} runs {g['min_s']:.1f}-{g['max_s']:.1f}s; {g['examples_checked']} "
                               f"examples, {g['properties']} properties; {g['sandbox']}")
                table.row(f"{lab.id}: course grade, first after a change (records cases)", g["cold_s"], "s",
                          ("grade_first_after_change_s", lab.id),
                          note="once per version of the checks, reference and course.toml")
            if "nbgrader" in sections:
                from nbgrader_baseline import time_nbgrader

                nbg = time_nbgrader(course, lab, work, runs_skip=max(1, min(5, args.runs)), runs_full=1)
                entry["nbgrader"] = nbg
                ours = entry["grade_one"]
                cases_ratio = ours["examples_checked"] / nbg["cases_checked"]
                for name, label in (("all_cells", "nbgrader autograde, defaults (all cells)"),
                                    ("skip_experiments", "nbgrader autograde, experiments skipped")):
                    t = nbg[name]["median_s"]
                    ratio = ours["median_s"] / t
                    entry[f"ratio_{name}"] = ratio
                    table.row(f"{lab.id}: {label}", t, "s",
                              note=f"{nbg[name]['runs']} run(s); {nbg['cases_checked']} cases")
                    table.row(f"{lab.id}: ratio ours / {label.split(', ')[1]}", ratio, "x",
                              ("ratio_ours_over_nbgrader", name))
                entry["cases_ratio"] = cases_ratio
                table.row(f"{lab.id}: cases checked, ours / nbgrader", cases_ratio, "x",
                          ("cases_ratio", "min"), higher_is_better=True)
            if "notebooks" in sections:
                s = time_notebook(course, lab)
                entry["notebook_s"] = s
                table.row(f"{lab.id}: solution notebook top to bottom", s, "s", ("solution_notebook_s", lab.id))
        if "batch" in sections:
            from batch import time_batch

            b = time_batch(course, work)
            report["batch"] = b
            for jobs in (1, 2):
                table.row(f"batch of {b['submissions']} (lab01): --jobs {jobs} wall", b[f"jobs{jobs}"]["wall_s"], "s",
                          note=f"{b[f'jobs{jobs}']['per_minute']:.1f} submissions/min; {b['kinds']}")
            table.row("batch: throughput --jobs 2 / --jobs 1", b["speedup"], "x", ("batch", "speedup_min"),
                      higher_is_better=True, note=f"parallel efficiency {100 * b['parallel_efficiency']:.0f}%")
        if "private" in sections:
            try:
                from private_inference import measure
            except ImportError as e:
                print(f"private inference: skipped ({e})")
            else:
                p = measure(course)
                report["private"] = p
                for figure, value, unit, key in p["rows"]:
                    table.row(figure, value, unit, key)
        if "cluster" in sections:
            from dask_cluster import time_cluster

            d = time_cluster(course, work)
            report["cluster"] = d
            for k in (1, 2):
                w = d[f"workers{k}"]
                table.row(f"cluster, {k} worker(s): batch of {d['submissions']} (lab01)", w["per_minute"], "/min",
                          note=f"wall {w['wall_s']:.1f}s; submissions per minute")
            m = d["model"]
            table.row("cluster: service time per submission s = t + o", m["s"], "s",
                      note=f"t {m['t']:.2f}s grading, o {m['o']:.2f}s dispatch on the critical path")
            table.row("cluster: client+scheduler cost per task c (ceiling 1/c)", 1000 * m["c"], "ms")
            for n_workers, per_min in m["projection_per_minute"].items():
                table.row(f"cluster: model, {n_workers} workers", per_min, "/min",
                          note=f"10,000 submissions in {m['hours_for_10000'][n_workers]:.2f} h")
    report["rows"] = table.rows
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
