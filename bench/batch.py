"""A class's worth of submissions graded with ``course grade --jobs 1`` and ``--jobs 2``.

The batch is 40 Lab 1 notebooks, made deterministically from files in the repository:

* 14 correct: the solution and the three alternative implementations (tests/alternatives/lab01/),
  cycled under different names;
* 14 buggy: the committed buggy example, and the solution with one exercise replaced by a mutant of its
  reference (labgrader/mutation.py: the first mutant of each exercise that is not listed as
  equivalent, then the second...), so every buggy file loses some points;
* 12 hostile: from tests/hostile/lab01/ (rigged ``__eq__``, monkeypatched harness, reading the
  reference, the network, exits, a memory bomb...), chosen so that none waits for a time limit — a
  sleeping submission would make the second worker look twice as good as it is.

Each command is timed as a subprocess, from interpreter start to exit, with ``--force`` so every
submission is graded.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from labgrader.mutation import mutants
from labgrader.submission import grade_id
from labgrader.validate import load_equivalents

HOSTILE = ("rigged_eq", "rigged_array", "rigged_float", "monkeypatch_builtins", "monkeypatch_hypothesis",
           "monkeypatch_numpy", "import_reference", "read_reference_absolute", "network", "nan_inf",
           "os_exit", "memory_bomb")
N_CORRECT, N_BUGGY = 14, 14


def make_batch(course, folder: Path) -> dict[str, int]:
    """Write the 40 submissions into ``folder``; return how many of each kind."""
    lab = course.lab("lab01")
    root = course.root
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    correct = [lab.solution_path(root), *sorted((root / "tests" / "alternatives" / "lab01").glob("*.ipynb"))]
    for i, src in zip(range(N_CORRECT), itertools.cycle(correct)):
        shutil.copy(src, folder / f"correct_{i:02d}.ipynb")

    shutil.copy(root / "examples" / "lab01" / "buggy.ipynb", folder / "buggy_00.ipynb")
    equivalent = load_equivalents(lab.id)
    per_exercise = [[m for m in mutants(ex.id, ex.load_reference()) if m.id not in equivalent.get(ex.id, {})]
                    for ex in lab.exercises]
    chosen = [m for rank in itertools.zip_longest(*per_exercise) for m in rank if m is not None][: N_BUGGY - 1]
    solution = nbformat.read(lab.solution_path(root), as_version=4)
    for i, m in enumerate(chosen, start=1):
        nb = nbformat.from_dict(solution)
        for cell in nb.cells:
            if grade_id(cell) == m.exercise:
                cell.source = m.source
        nbformat.write(nb, folder / f"buggy_{i:02d}.ipynb")

    for name in HOSTILE:
        shutil.copy(root / "tests" / "hostile" / "lab01" / f"{name}.ipynb", folder / f"hostile_{name}.ipynb")
    return {"correct": N_CORRECT, "buggy": len(chosen) + 1, "hostile": len(HOSTILE)}


def time_batch(course, workdir: Path, jobs_list=(1, 2)) -> dict:
    subs = workdir / "batch_submissions"
    kinds = make_batch(course, subs)
    n = sum(kinds.values())
    out: dict = {"submissions": n, "kinds": kinds}
    for jobs in jobs_list:
        results = workdir / f"batch_results_jobs{jobs}"
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "labgrader.cli", "grade", "lab01", str(subs), "--out",
                               str(results), "--jobs", str(jobs), "--force"], capture_output=True, text=True,
                              cwd=course.root, timeout=3600)
        wall = time.perf_counter() - t
        graded = len(list(results.glob("*/results.json")))
        if graded != n:
            raise RuntimeError(f"--jobs {jobs}: {graded}/{n} graded\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        out[f"jobs{jobs}"] = {"wall_s": wall, "per_minute": 60 * n / wall}
    if "jobs1" in out and "jobs2" in out:
        speedup = out["jobs2"]["per_minute"] / out["jobs1"]["per_minute"]
        out["speedup"] = speedup
        out["parallel_efficiency"] = speedup / 2
    return out
