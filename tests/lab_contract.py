"""The contract every lab meets ("The bar every lab meets" in DESIGN.md), as tests.

A lab's test module opts in with two lines and owns only what is particular to its lab:

    LAB_ID = "lab02"
    from lab_contract import *  # noqa: F401,F403 - the contract's tests run for this lab

Pytest collects the imported test functions in that module, so each lab is one file and
``pytest -n 2 --dist loadfile`` spreads the labs (and their notebook runs) over the workers.
What it checks, for the lab named by ``LAB_ID``:

- at least six graded exercises; course.toml lists every check of the lab's checks module, in order;
- the reference passes every check (in process, quick profile: this tests the checks);
- at least two correct alternative implementations (tests/alternatives/<lab>/) get full marks through
  the real sandbox with the grading profile (no false failures);
- the example submissions (examples/<lab>/expected.toml) get their expected scores and failing checks,
  the skeleton says "not implemented", failing feedback shows the property and a counterexample (the
  full solution's 100% is left to the alternatives test and `course demo`);
- the solution notebook runs top to bottom at the quick size (``COURSE_QUICK=1``) and prints that its
  experiments ran (the full size and its run time are `make site` / bench/, not asserted here).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labgrader.checks import load as load_checks
from labgrader.demo import load_expectations, prepare
from labgrader.grade import grade_batch, grade_submission
from labgrader.inprocess import InProcessBackend
from labgrader.runner import grade_exercise
from labgrader.validate import lab_source

ALTERNATIVES = Path(__file__).resolve().parent / "alternatives"

__all__ = [
    "lab", "test_contract_exercises_and_checks_agree", "test_contract_reference_passes_every_check",
    "test_contract_alternatives_get_full_marks", "test_contract_examples_get_their_expected_scores",
    "test_contract_solution_notebook_runs_top_to_bottom",
]


def grade_in_process(lab, source: str, ex_id: str, examples: int = 30, only: set | None = None) -> dict:
    """check name -> outcome of one exercise's checks (or of those named in ``only``) on ``source``, in
    process (this tests the checks, not the sandbox). The labs' classic-bug tests use it:
    ``grade_in_process(lab, src.replace(a, b), ex)``."""
    backend = InProcessBackend.from_source(source)
    ex = lab.exercise(ex_id)
    checks = _checks_module(lab).CHECKS
    names = [n for n in ex.checks if only is None or n in only]
    out = grade_exercise(ex, [checks[ex_id][n] for n in names], backend,
                         defined=ex.function_name in backend.functions, max_examples=examples, seed_value=1)
    return {c.name: c for c in out.checks}


def assert_bug_caught(lab, reference_source: str, ex_id: str, old: str, new: str, must_fail: set,
                      examples: int = 30, only_named: bool = True) -> None:
    """The reference with ``old`` replaced by ``new`` fails at least the checks ``must_fail``, each with
    the property in words and a counterexample. Only those checks run (``only_named``): the exercise's
    other checks would each run all their examples and decide nothing this asserts."""
    assert reference_source.count(old) == 1, "the bug's anchor text must be unique in the reference"
    outcomes = grade_in_process(lab, reference_source.replace(old, new), ex_id, examples,
                                only=set(must_fail) if only_named else None)
    failed = {n for n, o in outcomes.items() if not o.passed}
    assert must_fail <= failed, (must_fail - failed)
    for n in failed:
        assert "Property:" in outcomes[n].output and "Counterexample" in outcomes[n].output, outcomes[n].output


@pytest.fixture(scope="module")
def lab(course, request):
    return course.lab(request.module.LAB_ID)


def _checks_module(lab):
    return load_checks(lab.checks)


def test_contract_exercises_and_checks_agree(lab):
    assert len(lab.exercises) >= 6, f"{lab.id}: the bar is at least 6 graded exercises, found {len(lab.exercises)}"
    checks = _checks_module(lab).CHECKS
    assert set(checks) == {ex.id for ex in lab.exercises}, "the checks module and course.toml name other exercises"
    for ex in lab.exercises:
        assert list(ex.checks) == list(checks[ex.id]), f"{ex.id}: course.toml must list every check, in order"
        assert ex.load_reference().__doc__, f"{ex.id}: the reference needs a docstring (the student reads it)"


def test_contract_reference_passes_every_check(lab):
    backend = InProcessBackend.from_source(lab_source(lab))
    checks = _checks_module(lab).CHECKS
    failed = {}
    for ex in lab.exercises:
        out = grade_exercise(ex, [checks[ex.id][n] for n in ex.checks], backend, defined=True,
                             max_examples=30, seed_value=1)
        failed.update({f"{ex.id}: {c.name}": c.output for c in out.checks if not c.passed})
    assert not failed, "\n\n".join(f"[{k}]\n{v}" for k, v in failed.items())


def unhurried(course):
    """The course with ten times its time limits. Seen: `import torch` in a sandbox cell took 7.7 s of the
    10 s cell limit on a loaded 2-core machine. A test must not fail for the machine's speed; how fast
    grading is, is a benchmark (bench/)."""
    g = course.grading
    return dataclasses.replace(course, grading=dataclasses.replace(g, limits=dataclasses.replace(
        g.limits, call_seconds=10 * g.limits.call_seconds, submission_seconds=10 * g.limits.submission_seconds)))


@pytest.mark.slow
def test_contract_alternatives_get_full_marks(course, lab):
    paths = sorted((ALTERNATIVES / lab.id).glob("*.ipynb"))
    assert len(paths) >= 2, f"the bar is at least two correct alternatives in {ALTERNATIVES / lab.id}"
    problems = []
    for path in paths:
        res = grade_submission(unhurried(course), lab, path)  # grading profile, real sandbox
        failed = [t for t in res["tests"] if t["status"] != "passed"]
        cells = res["extra_data"].get("cells", [])
        if cells or res["score"] != res["max_score"]:
            problems.append(f"{path.name}: {res['score']:g}/{res['max_score']:g}, cells raised: {cells}\n"
                            + "\n\n".join(f"[{t['name']}]\n{t['output']}" for t in failed))
    assert not problems, ("a correct implementation lost points: a check is too strict "
                          "(fix the check, not the alternative)\n\n" + "\n\n".join(problems))


@pytest.mark.slow
def test_contract_examples_get_their_expected_scores(course, lab, tmp_path):
    expected = load_expectations(course, lab.id)
    assert {"solution", "skeleton", "buggy"} <= set(expected), "examples need a solution, a skeleton and a buggy one"
    assert expected["solution"]["score"] == lab.max_score and expected["skeleton"]["score"] == 0
    prepare(course, lab.id, tmp_path / "subs")
    # The full solution is not graded again here: the alternatives test grades correct submissions through
    # the sandbox with the grading profile, and `course demo` grades this one (it costs ~15 s of CPU a lab).
    (tmp_path / "subs" / "solution.ipynb").unlink()
    expected.pop("solution")
    summary = grade_batch(unhurried(course), lab, [tmp_path / "subs"], tmp_path / "out", jobs=1)
    assert not summary.failed, summary.failed
    for name, spec in expected.items():
        r = summary.results[name]
        assert r["score"] == pytest.approx(spec["score"], abs=1e-3), (name, r["output"])
        failing = sorted(t["name"] for t in r["tests"] if t["status"] == "failed")
        if "failing" in spec:
            assert failing == sorted(spec["failing"]), name
    skeleton = summary.results["skeleton"]
    assert all(e["summary"] == "not implemented" for e in skeleton["extra_data"]["exercises"].values())
    buggy = [t for t in summary.results["buggy"]["tests"] if t["status"] == "failed"]
    assert buggy, "the buggy example must fail some check"
    for t in buggy:
        assert t["output"].startswith("Property:") and "Counterexample" in t["output"], t["output"]


@pytest.mark.slow
def test_contract_solution_notebook_runs_top_to_bottom(course, lab, tmp_path, monkeypatch):
    # At the quick size (labkit.experiments.quick_mode): the full size runs in `make site` and `make bench`.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.setenv("COURSE_FIGURES", str(tmp_path))
    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    # The experiments print their measured table: the notebook really ran them.
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "experiments ran in" in text
