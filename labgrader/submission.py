"""Read a submitted notebook defensively and decide which of its cells the sandbox runs.

What runs (the grader never executes experiments, which can take minutes and need data):

1. the lab's *trusted* setup cell (grade_id ``setup``), taken from the course's own generated
   notebook in labs/, not from the submission (a student who edits or deletes it changes nothing);
2. every other code cell of the submission, in order, except cells whose grade_id marks them as
   the setup (``setup``), an experiment (``exp_*``) or a test cell (``test_*``: the notebook's
   self-check, which imports the autograder and is no business of the sandbox). The student's exercise cells and any helper
   cells they added run; the experiments and plots do not.

A cell that raises is reported and the rest still run; a cell that hangs or kills the worker is
skipped on a restart (see sandbox.session), so it costs only what it defines.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
SETUP_ID = "setup"
EXPERIMENT_PREFIX = "exp_"
TEST_PREFIX = "test_"  # the notebook's own test cells (self-check / nbgrader): the grader has its own


def _nbformat():
    """nbformat, imported only for notebooks older than format 4 (importing it and jsonschema took
    ~0.2 s of CPU of every one-notebook ``course grade``, measured under load, for the format-4
    notebooks every Jupyter since 2015 writes). jsonschema imports its optional IRI format checker if installed (rfc3987_syntax, pulled
    in by nbgrader's dependencies), which builds a Lark grammar at import (2.9 s); the notebook schema
    has no IRI field, so the checker is blocked."""
    sys.modules.setdefault("rfc3987_syntax", None)  # jsonschema catches the ImportError and goes without
    import nbformat

    return nbformat


class Node(dict):
    """A notebook's JSON object with attribute access (``nb.cells``, ``cell.source``), as nbformat's
    NotebookNode gives it."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def _node(value):
    if isinstance(value, dict):
        return Node((k, _node(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_node(v) for v in value]
    return value


def parse_notebook(data: dict):
    """A parsed notebook's JSON as a format-4 notebook: format 4 directly (each cell's ``source``
    joined into one string, as nbformat does), older formats converted by nbformat. Like nbformat's
    ``reads``, it does not refuse what the schema would: grading needs only the code cells."""
    if data.get("nbformat") == 4:
        nb = _node(data)
        for cell in nb.get("cells") if isinstance(nb.get("cells"), list) else ():
            if isinstance(cell, dict) and isinstance(cell.get("source"), list):
                cell["source"] = "".join(str(line) for line in cell["source"])
        return nb
    nbformat = _nbformat()
    return nbformat.reads(json.dumps(data), as_version=4)


class SubmissionError(Exception):
    """The file cannot be graded; the message is the reason the student sees (0 points)."""


def grade_id(cell) -> str:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    gid = nbg.get("grade_id", "") if isinstance(nbg, dict) else ""
    return gid if isinstance(gid, str) else ""


def read_notebook(path: Path):
    """Parse a submission into an nbformat v4 notebook, or raise SubmissionError saying why not."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SubmissionError(f"the file cannot be read: {e.strerror}") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(
            f"the notebook is {size / 2**20:.1f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MB limit: "
            "clear the outputs (Kernel > Restart & Clear Output) and submit again"
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise SubmissionError("the file is empty: download the notebook again with File > Download (.ipynb)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubmissionError(f"the file is not UTF-8 text (bad byte at offset {e.start}): is it really an .ipynb file?") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SubmissionError(
            f"the file is not a Jupyter notebook: invalid JSON at line {e.lineno}, column {e.colno} ({e.msg}). "
            "It may have been truncated or edited by hand; re-download it from Jupyter"
        ) from None
    except (ValueError, RecursionError) as e:  # a number of over 4300 digits; arrays nested thousands deep
        raise SubmissionError(f"the file is not a Jupyter notebook: its JSON cannot be read ({type(e).__name__})") from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise SubmissionError("the file is JSON but not a Jupyter notebook (it has no 'cells')")
    try:
        nb = parse_notebook(data)
    except Exception as e:  # nbformat raises a variety of errors for malformed notebooks
        raise SubmissionError(f"the notebook is malformed: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise SubmissionError("the notebook has no list of cells")
    for i, cell in enumerate(nb.cells, start=1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            what = f"a {type(cell).__name__}" if not isinstance(cell, dict) else "an object without a cell_type"
            raise SubmissionError(f"the notebook is malformed: its cell {i} is {what}, not a cell. "
                                  "It may have been edited by hand; re-download it from Jupyter")
    return nb


@dataclass(frozen=True)
class CellPlan:
    """The cells to run: (index, source) pairs, where 0 is the trusted setup and i >= 1 is the
    submission's i-th cell (1-based, as Jupyter users count)."""

    cells: list[tuple[int, str]]
    skipped_experiments: int


def trusted_setup(lab_notebook: Path) -> str:
    nb = parse_notebook(json.loads(Path(lab_notebook).read_text(encoding="utf-8")))
    for cell in nb.cells:
        if cell.cell_type == "code" and grade_id(cell) == SETUP_ID:
            return cell.source
    raise ValueError(f"{lab_notebook} has no code cell with grade_id '{SETUP_ID}'")


def plan_cells(nb, setup_source: str) -> CellPlan:
    cells: list[tuple[int, str]] = [(0, setup_source)]
    skipped = 0
    for i, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        gid = grade_id(cell)
        if gid == SETUP_ID:
            continue
        if gid.startswith((EXPERIMENT_PREFIX, TEST_PREFIX)):
            skipped += 1
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            continue
        cells.append((i, source))
    return CellPlan(cells, skipped)


# -- which files are the submissions -------------------------------------------------------------
def collect_submissions(paths: list[Path]) -> list[Path]:
    """Files as given, folders searched for *.ipynb (checkpoints ignored); sorted, no duplicates."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(q for q in sorted(p.rglob("*.ipynb")) if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    unique = list(dict.fromkeys(q.resolve() for q in found))
    return unique


def submission_names(paths: list[Path]) -> dict[Path, str]:
    """A folder name per submission: the file stem, made unique with its parent folders if needed."""
    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "submission"

    names: dict[Path, str] = {}
    depth = 0
    while True:
        names = {p: clean("__".join([*p.parent.parts[len(p.parent.parts) - depth:], p.stem] if depth else [p.stem]))
                 for p in paths}
        if len(set(names.values())) == len(names) or depth > 10:
            break
        depth += 1
    if len(set(names.values())) != len(names):  # identical paths up to 10 levels: number them
        names = {p: f"{n}_{i}" for i, (p, n) in enumerate(sorted(names.items()))}
    return names
