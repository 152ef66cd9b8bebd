"""Every lab's solution notebook runs top to bottom (its run time is a benchmark, not asserted here)."""

from __future__ import annotations


import nbformat
import pytest
from nbclient import NotebookClient

from autograder.config import REPO_ROOT, load_course

COURSE = load_course(REPO_ROOT / "course.toml")


@pytest.mark.slow
@pytest.mark.parametrize("lab", COURSE.labs, ids=[lab.id for lab in COURSE.labs])
def test_solution_notebook_runs_top_to_bottom(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(lab.solution_path(REPO_ROOT), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # The experiments print their measured table: the notebook really ran them.
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "experiments ran in" in text


def test_student_notebook_setup_cell_is_the_trusted_one():
    """The grader runs the lab's own setup cell; it must import only what the sandbox has (NumPy)."""
    for lab in COURSE.labs:
        nb = nbformat.read(lab.lab_path(REPO_ROOT), as_version=4)
        setup = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
        assert len(setup) == 1 and setup[0].cell_type == "code"
        assert "torch" not in setup[0].source and "reference_impl" not in setup[0].source
