"""The student notebooks' setup cells (each lab's notebook run is in tests/labs/, via tests/lab_contract.py)."""

from __future__ import annotations


import nbformat

from labgrader.config import REPO_ROOT, load_course

COURSE = load_course(REPO_ROOT / "course.toml")


def test_student_notebook_setup_cell_is_the_trusted_one():
    """The grader runs the lab's own setup cell; it must import only what the sandbox has (NumPy)."""
    for lab in COURSE.labs:
        nb = nbformat.read(lab.lab_path(REPO_ROOT), as_version=4)
        setup = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
        assert len(setup) == 1 and setup[0].cell_type == "code"
        assert "torch" not in setup[0].source and "reference_impl" not in setup[0].source
