"""A lab's text source: one jupytext percent script per lab in ``labsrc/``, read into a notebook.

The source holds everything a person writes — prose, experiment calls, questions, answers — as a
plain-text, diffable ``.py`` file in jupytext's percent format (https://jupytext.readthedocs.io):
every cell starts with a ``# %%`` line that says what the cell is, with exactly one of three keys:

    # %% [markdown] name="md_title"      prose, or an experiment's code (``# %% name="exp_teacher"``):
                                          locked, not graded; ``name`` becomes the nbgrader grade_id
    # %% exercise="softmax_t"            a placeholder: ``course build`` puts the reference function's
                                          source here (course.toml's exercise id) and a test cell after it
    # %% [markdown] answer="answer_1"    a written answer: the solution's text, "YOUR ANSWER HERE" for students

The notebooks in ``solutions/``, ``labs/`` and ``examples/`` are built from it (``labgrader/build.py``)
and say so in their metadata. A cell's id is its name with ``_`` turned into ``-``, so two builds of
the same source are byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

SOURCES = "labsrc"
FORMAT = "py:percent"
KINDS = ("name", "exercise", "answer")
PLACEHOLDER = "# `course build` fills this cell from reference_impl: the exercise {}"
NBGRADER_LOCKED = {"grade": False, "locked": True, "schema_version": 3, "solution": False}
NBGRADER_EXERCISE = {"grade": False, "locked": False, "schema_version": 3, "solution": True}
NBGRADER_ANSWER = {"grade": True, "locked": False, "points": 0, "schema_version": 3, "solution": True}
KERNEL = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
          "language_info": {"name": "python"}}


class SourceError(ValueError):
    """A lab source that cannot be built; the message names the file, the cell and the fix."""


def source_path(root: Path, lab) -> Path:
    """``labsrc/<notebook stem>.py``: the lab's source, named like its notebooks."""
    return Path(root) / SOURCES / (Path(lab.notebook).stem + ".py")


def cell_id(grade_id: str) -> str:
    """The notebook cell id of a cell: its grade_id with ``_`` as ``-`` (stable across builds)."""
    return grade_id.replace("_", "-")


def generated_metadata(source_rel: str) -> dict:
    return {**KERNEL, "course": {"generated_from": source_rel,
                                 "generated_by": "course build: edit the source, not this notebook"}}


def _kind(meta: dict, where: str) -> tuple[str, str]:
    keys = [k for k in KINDS if k in meta]
    if len(keys) != 1 or not isinstance(meta[keys[0]], str) or not meta[keys[0]]:
        raise SourceError(f"{where}: the '# %%' line needs exactly one of name=\"...\", exercise=\"...\" "
                          f"or answer=\"...\" (got {meta or 'none'})")
    return keys[0], meta[keys[0]]


def read_source(path: Path, lab, root: Path) -> nbformat.NotebookNode:
    """The solution notebook of ``lab`` from its source, exercise cells still placeholders."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: every lab in course.toml needs its source in {SOURCES}/")
    text = path.read_text(encoding="utf-8")
    parsed = jupytext.reads(text, fmt=FORMAT)
    headers = [n for n, line in enumerate(text.split("\n"), 1) if line.startswith("# %%")]
    exercises = {e.id for e in lab.exercises}
    cells, seen = [], set()
    for i, cell in enumerate(parsed.cells):
        line = f"line {headers[i]}, " if len(headers) == len(parsed.cells) else ""
        where = f"{path.name}, {line}cell {i + 1}"
        kind, gid = _kind(dict(cell.metadata), where)
        if gid in seen:
            raise SourceError(f"{where}: the name {gid!r} is used twice; every cell needs its own")
        seen.add(gid)
        if kind == "exercise":
            if gid not in exercises:
                raise SourceError(f"{where}: exercise {gid!r} is not one of {lab.id}'s exercises in course.toml "
                                  f"({', '.join(sorted(exercises))})")
            new, meta = nbformat.v4.new_code_cell(PLACEHOLDER.format(gid)), NBGRADER_EXERCISE
        elif kind == "answer":
            if cell.cell_type != "markdown":
                raise SourceError(f"{where}: an answer is a markdown cell: write '# %% [markdown] answer=...'")
            new, meta = nbformat.v4.new_markdown_cell(cell.source), NBGRADER_ANSWER
        else:
            make = nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell
            new, meta = make(cell.source), NBGRADER_LOCKED
        new.id = cell_id(gid)
        new.metadata = {"nbgrader": {**meta, "grade_id": gid}}
        cells.append(new)
    missing = exercises - seen
    if missing:
        raise SourceError(f"{path.name}: no cell '# %% exercise=\"...\"' for {', '.join(sorted(missing))}")
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = generated_metadata(path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name)
    return nb
