"""The lab notebooks as built from labsrc/: short experiment cells, and partial notebooks that run."""

from __future__ import annotations

import inspect
import textwrap

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from labgrader.config import REPO_ROOT, load_course
from labgrader.labsource import source_path
from labgrader.submission import grade_id

COURSE = load_course(REPO_ROOT / "course.toml")
MAX_LINES = 15


@pytest.mark.parametrize("lab", COURSE.labs, ids=lambda lab: lab.id)
def test_no_code_cell_is_longer_than_fifteen_lines(lab):
    """Experiment procedures live in labkit/experiments (tested); a cell calls them in a few lines."""
    nb = jupytext.read(source_path(REPO_ROOT, lab), fmt="py:percent")
    long = {c.metadata["name"]: len(c.source.splitlines()) for c in nb.cells
            if c.cell_type == "code" and "name" in c.metadata and len(c.source.splitlines()) > MAX_LINES}
    assert not long, f"code cells longer than {MAX_LINES} lines: {long}; move the procedure to labkit/experiments"


@pytest.mark.slow
def test_a_notebook_with_only_the_first_two_exercises_runs_top_to_bottom(course, tmp_path, monkeypatch):
    """Lab 1's student notebook with exercises 1 and 2 done runs at the quick size: every section that
    needs another exercise says so in one line, the others run."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.setenv("COURSE_FIGURES", str(tmp_path))
    lab = course.lab("lab01")
    nb = nbformat.read(lab.lab_path(course.root), as_version=4)
    done = {ex.id: ex for ex in lab.exercises[:2]}
    for cell in nb.cells:
        if grade_id(cell) in done:
            cell.source = textwrap.dedent(inspect.getsource(done[grade_id(cell)].load_reference()))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, [(e.ename, e.evalue) for e in errors]
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for line in ("needs Exercise 6, kd_loss: not implemented yet", "needs Exercise 7, hard_label_kd_loss",
                 "needs Exercise 8, label_loyalty", "needs Exercise 10, majority_vote_accuracy"):
        assert line in text
    assert "needs Exercise 1," not in text and "needs Exercise 2," not in text
    assert "teacher's mean top-class probability" in text  # the section that needs only exercise 1 ran
    assert "paired gain" in text and "experiments ran in" in text  # sections that need no exercise ran
    assert (tmp_path / "lab01.json").exists()
