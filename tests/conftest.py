"""Shared test helpers: the course, and submissions made from the generated student notebook."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, settings

from labgrader.config import REPO_ROOT, load_course
from labgrader.submission import grade_id

# Hypothesis profiles for the test suite (the grading profile lives in labgrader.runner).
settings.register_profile("quick", max_examples=30, deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(scope="session")
def course():
    return load_course(REPO_ROOT / "course.toml")


@pytest.fixture(scope="session")
def lab01(course):
    return course.lab("lab01")


@pytest.fixture(scope="session")
def submission_maker():
    """make_submission(path, lab, course, overrides=None, extra_cells=None, from_solution=False)."""
    return make_submission


def make_submission(path: Path, lab, course, overrides: dict[str, str] | None = None,
                    extra_cells: list[str] | None = None, from_solution: bool = False) -> Path:
    """Write a submission: the student notebook (or the solution) with exercise cells replaced."""
    src = lab.solution_path(course.root) if from_solution else lab.lab_path(course.root)
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        gid = grade_id(cell)
        if overrides and gid in overrides:
            cell.source = overrides[gid]
    for source in extra_cells or []:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run torch single-threaded in a module: on tiny tensors waking a thread pool costs milliseconds per
    call (the softmax kernels parallelise even at (4, 5)). The previous setting is restored afterwards."""
    import torch  # here, not at the top: most tests never need torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
