"""The baseline a course would otherwise use: nbgrader with example-based test cells.

A typical nbgrader assignment tests each exercise with a few hand-picked input/expected pairs in a
locked test cell (``assert np.allclose(f(x), expected)``), and ``nbgrader autograde`` executes the
whole submitted notebook in one Jupyter kernel — student code and tests in the same process. This
module builds exactly that from one of our labs, so the same submission can be graded both ways:

* the nbgrader course's source notebook is our solution notebook whose ``test_<exercise>`` cells are
  replaced by ``CASES_PER_EXERCISE`` example asserts each. The cases are recorded, not invented: the
  exercise's first hidden check (its agreement with the reference) is run in process with that many
  hypothesis examples, on the course's seed, and every call of the function is recorded with the
  reference's answer. Arrays are written exactly (their bytes in hex), so the expected values are the
  reference's to the last bit;
* ``nbgrader generate_assignment`` then ``nbgrader autograde`` run for real (nbgrader 0.9.6, offline),
  in two configurations: nbgrader's defaults (every cell runs, the experiments included: what a course
  gets unless it configures otherwise) and with the experiment cells skipped
  (``labgrader.exports.nbgrader.autograde_preprocessors``: the best case for nbgrader).

Only the autograde command is timed (generate_assignment is a once-per-assignment cost), as a
subprocess from interpreter start to exit — as ``course grade`` is timed in bench/run.py.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from labgrader.build import without_solution_markers
from labgrader.grade import lab_checks
from labgrader.inprocess import InProcessBackend
from labgrader.runner import grade_exercise
from labgrader.submission import TEST_PREFIX, grade_id

CASES_PER_EXERCISE = 3
STUDENT = "student01"

CLOSE = '''def _close(got, want):
    """Equal within 1e-7 relative / 1e-9 absolute, recursively; arrays must match in shape."""
    if isinstance(want, np.ndarray):
        got = np.asarray(got)
        return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-7, atol=1e-9, equal_nan=True))
    if isinstance(want, (tuple, list)):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return set(got) == set(want) and all(_close(got[k], want[k]) for k in want)
    if isinstance(want, float):
        return math.isclose(float(got), want, rel_tol=1e-7, abs_tol=1e-9) or (math.isnan(want) and math.isnan(float(got)))
    return got == want'''


def literal(value) -> str:
    """Python source that rebuilds ``value`` exactly (arrays from their bytes)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return (f"np.frombuffer(bytes.fromhex({value.tobytes().hex()!r}), dtype={value.dtype.str!r})"
                f".reshape({tuple(value.shape)!r}).copy()")
    if isinstance(value, np.generic):
        return literal(value.item())
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"float({str(value)!r})"
        return repr(value)
    if isinstance(value, (bool, int, str)) or value is None:
        return repr(value)
    if isinstance(value, tuple):
        return "(" + "".join(literal(v) + ", " for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write a literal for {type(value).__name__}")


def record_cases(course, lab, ex, n: int = CASES_PER_EXERCISE) -> list[tuple]:
    """(args, kwargs, expected) for ``n`` distinct calls the exercise's first hidden check makes, spread over
    its first 10 n examples (hypothesis's first examples are the simplest: T = 1, alpha = 0, ...; a course's
    hand-written example tests would not all be that simple)."""
    import copy

    ref = ex.load_reference()
    calls: list[tuple] = []

    def recorder(*args, **kwargs):
        out = ref(*args, **kwargs)
        calls.append((copy.deepcopy(args), copy.deepcopy(kwargs), copy.deepcopy(out)))
        return out

    checks = lab_checks(lab)[ex.id]
    first = next((c for c in checks if not c.public), checks[0])  # the agreement with the reference
    grade_exercise(ex, [first], InProcessBackend({ex.function_name: recorder}), defined=True,
                   max_examples=10 * n, seed_value=course.grading.seed)
    seen, cases = set(), []
    for args, kwargs, out in calls:
        key = literal(args) + literal(kwargs)
        if key not in seen:
            seen.add(key)
            cases.append((args, kwargs, out))
    if not cases:
        raise RuntimeError(f"{lab.id}/{ex.id}: its first check made no call to record")
    if len(cases) <= n:
        return cases
    return [cases[round(i * (len(cases) - 1) / (n - 1))] for i in range(n)] if n > 1 else cases[:1]


def example_test_cell(course, lab, ex) -> tuple[str, int]:
    cases = record_cases(course, lab, ex)
    lines = [f"# Example-based tests of {ex.function_name} (an nbgrader-style test cell: {len(cases)} cases)",
             "import math", "import numpy as np", "", CLOSE, ""]
    for args, kwargs, out in cases:
        lines.append(f"assert _close({ex.function_name}(*{literal(tuple(args))}, **{literal(dict(kwargs))}), "
                     f"{literal(out)})")
    return "\n".join(lines) + "\n", len(cases)


def nbgrader_source_notebook(course, lab):
    """Our solution notebook with each test cell's source replaced by example asserts; and the case count."""
    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    total = 0
    by_id = {ex.id: ex for ex in lab.exercises}
    for cell in nb.cells:
        gid = grade_id(cell)
        if cell.cell_type == "code" and gid.startswith(TEST_PREFIX) and gid[len(TEST_PREFIX):] in by_id:
            cell.source, n = example_test_cell(course, lab, by_id[gid[len(TEST_PREFIX):]])
            total += n
    return nb, total


def _env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(JUPYTER_CONFIG_DIR=str(root / ".jupyter"), IPYTHONDIR=str(root / ".ipython"), MPLBACKEND="Agg")
    return env


def _run(root: Path, *args: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0 or "Exception while loading config file" in proc.stderr:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return elapsed


def _config(root: Path, skip_experiments: bool) -> None:
    lines = ["c = get_config()", f"c.CourseDirectory.root = {str(root)!r}",
             "c.CourseDirectory.course_id = 'bench'",
             f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}",
             "c.Execute.timeout = 900", "c.ExecutePreprocessor.timeout = 900"]
    if skip_experiments:
        lines += ["from labgrader.exports.nbgrader import autograde_preprocessors",
                  "c.Autograde.autograde_preprocessors = autograde_preprocessors()"]
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def autograded_score(root: Path, lab) -> tuple[float, float]:
    """(score, max score) of the code cells nbgrader's autograde graded for the student (the written
    answers are manual-grade cells, worth points only once a TA grades them)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="bench") as gb:
        sub = gb.find_submission(lab.id, STUDENT)
        return sub.code_score, sub.max_code_score


def prepare_assignment(course, lab, workdir: Path) -> tuple[Path, int]:
    """Generate the nbgrader assignment once and submit the solution: (the nbgrader course root, cases)."""
    root = workdir / f"nbgrader_{lab.id}"
    shutil.rmtree(root, ignore_errors=True)
    source = root / "source" / lab.id / lab.notebook
    source.parent.mkdir(parents=True)
    nb, cases = nbgrader_source_notebook(course, lab)
    nbformat.write(nb, source)
    _config(root, skip_experiments=True)
    _run(root, "generate_assignment", lab.id, "--force")
    sub = root / "submitted" / STUDENT / lab.id / lab.notebook
    sub.parent.mkdir(parents=True)
    nbformat.write(without_solution_markers(nb), sub)
    return root, cases


def autograde_once(root: Path, lab, *, skip_experiments: bool = True) -> float:
    """Seconds of one ``nbgrader autograde`` of the submitted solution (checked to get full marks)."""
    _config(root, skip_experiments=skip_experiments)
    seconds = _run(root, "autograde", lab.id, "--student", STUDENT, "--force")
    score, max_score = autograded_score(root, lab)
    if not math.isclose(score, max_score):
        raise RuntimeError(f"{lab.id}: nbgrader gave the solution {score}/{max_score}")
    return seconds


def time_nbgrader(course, lab, workdir: Path, *, runs_skip: int = 3, runs_full: int = 1) -> dict:
    """Generate once, then time ``nbgrader autograde`` of the solution in both configurations."""
    root, cases = prepare_assignment(course, lab, workdir)
    out = {"cases_checked": cases, "cases_per_exercise": CASES_PER_EXERCISE}
    for name, skip, runs in (("skip_experiments", True, runs_skip), ("all_cells", False, runs_full)):
        if runs < 1:
            continue
        times = [autograde_once(root, lab, skip_experiments=skip) for _ in range(runs)]
        out[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": runs}
    return out
