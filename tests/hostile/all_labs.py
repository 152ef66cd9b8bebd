"""The hostile corpus for every lab of course.toml, generated from each lab's own exercise list.

tests/hostile/lab01 is Lab 1's hand-made corpus (50 cases, each its own notebook). This module makes the
same classes of attack against *every* lab, with nothing hard-coded about any lab: it reads course.toml's
exercises, finds each one's cell in the lab's solution notebook by the function it defines, and works out
from the solution's code which exercises no other exercise calls (the "leaves"). An attack planted in a
leaf costs exactly that exercise's points, whatever the grader's rule for exercises that call a broken
one, so every expected score is exact. Per lab:

``hangs``      the full solution plus an infinite loop and an endless sleep, each first in a leaf's body,
               and new top-level cells: an infinite loop, a memory bomb touching every page.
``crashes``    the full solution plus ``os._exit(7)`` and a segfault (``ctypes.string_at(0)``) in two
               leaves, and new top-level cells: a 5 MB print, ``sys.exit()``, one ``os.fork()``; in the
               bubblewrap sandbox also SIGKILL to its parent.
               Both: the lab's total minus the attacked leaves' points (a lab with one leaf: one attack each).
``reference``  the untouched skeleton, every exercise "solved" by importing it from the hidden reference
               (``from reference_impl.<module> import <fn>``) or the checks (``labgrader.checks``); in
               the bubblewrap sandbox also by exec'ing the reference's source from its absolute path.
               Score: 0.
``clean``      the full solution, in the same batch: full marks.

Each case is ``(notebook, expected score, [reasons])``; a reason that is a tuple means any one of its
strings (two documented endings with the same points, e.g. a memory bomb stopped by the time limit on a
machine whose page faults are slow).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent, indent

import nbformat

# Per submission: (code put first in a leaf's body, the grader's words for it) in turn, and (a new top-level
# cell, the grader's words for it; a tuple: any one of them). Hangs and crashes are two submissions so that
# the batch's two jobs share the waiting.
FUNCTION_ATTACKS = {
    "hangs": [("while True:\n    pass", "calling {fn}() took longer than {call:g} s and was stopped"),
              ("import time\ntime.sleep(10**9)", "calling {fn}() took longer than {call:g} s and was stopped")],
    "crashes": [("import os\nos._exit(7)", "calling {fn}(): the sandbox process exited with code 7"),
                ("import ctypes\nctypes.string_at(0)",
                 "calling {fn}(): the sandbox process crashed with a segmentation fault (SIGSEGV)")],
}
CELL_ATTACKS = {
    "hangs": [("while True:\n    pass", "took longer than {call:g} s and was stopped"),
              # In a function, so that the MemoryError frees what it held: a global hoard left at the memory
              # limit makes later exercises' BLAS calls fail (OpenBLAS exits when it cannot allocate), which
              # would cost points the corpus does not attribute to this cell.
              ("import numpy as np\ndef hoard():\n    hog = []\n    while True:\n"
               "        hog.append(np.ones(2**24))  # 128 MB at a time, every page touched\nhoard()",
               ("MemoryError: Unable to allocate 128. MiB", "took longer than {call:g} s and was stopped"))],
    "crashes": [('print("x" * 5_000_000)', "OSError: [Errno 27] File too large"),
                ('import sys\nsys.exit("hostile exit")', "SystemExit: hostile exit"),
                ("import os\nchild = os.fork()  # parent and child both carry on", None)],
}
KILL_PARENT = ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "PermissionError: [Errno 1] Operation not permitted")


@dataclass
class Case:
    lab: str
    name: str
    notebook: nbformat.NotebookNode
    score: float
    reasons: list = field(default_factory=list)  # str, or a tuple of alternatives


def defining_cell(nb, fn: str):
    """The code cell whose top level defines ``fn``."""
    for c in nb.cells:
        if c.cell_type == "code":
            try:
                tree = ast.parse(c.source)
            except SyntaxError:
                continue
            if any(isinstance(n, ast.FunctionDef) and n.name == fn for n in tree.body):
                return c
    raise LookupError(f"no cell of the notebook defines {fn}()")


def leaves(lab, nb) -> list:
    """The exercises no other exercise's cell mentions (calls) in the solution, in course.toml's order."""
    names = {e.function_name for e in lab.exercises}
    called: set[str] = set()
    for e in lab.exercises:
        tree = ast.parse(defining_cell(nb, e.function_name).source)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        called |= (used & names) - {e.function_name}
    return [e for e in lab.exercises if e.function_name not in called]


def inject(nb, fn: str, code: str) -> None:
    """Put ``code`` first in the body of ``fn`` (after its docstring)."""
    c = defining_cell(nb, fn)
    node = next(n for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef) and n.name == fn)
    body = node.body
    first = body[1] if (len(body) > 1 and isinstance(body[0], ast.Expr)
                        and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)) else body[0]
    lines = c.source.split("\n")
    at = first.lineno - 1
    pad = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at:at] = indent(dedent(code).strip("\n"), pad).split("\n")
    c.source = "\n".join(lines)


def add_cell(nb, source: str) -> None:
    """A new top-level code cell right after the setup cell (so every exercise cell comes after it)."""
    setup = next(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup")
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(dedent(source).strip("\n")))


def _read(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return nb


def hostile(course, lab, name: str, *, call_seconds: float, bwrap: bool) -> Case:
    """The ``name`` ("hangs" or "crashes") submission of ``lab``."""
    nb = _read(lab.solution_path(course.root))
    targets = leaves(lab, nb)
    assert targets, f"{lab.id}: every exercise is called by another one (a cycle?)"
    reasons: list = []
    lost = 0.0
    for (code, words), ex in zip(FUNCTION_ATTACKS[name], targets):
        inject(nb, ex.function_name, code)
        reasons.append(words.format(fn=ex.function_name, call=call_seconds))
        lost += ex.points
    cells = CELL_ATTACKS[name] + ([KILL_PARENT] if bwrap and name == "crashes" else [])
    for source, words in reversed(cells):
        add_cell(nb, source)
        if words is not None:
            reasons.append(tuple(w.format(call=call_seconds) for w in words) if isinstance(words, tuple)
                           else words.format(call=call_seconds))
    total = sum(e.points for e in lab.exercises)
    return Case(lab.id, name, nb, round(total - lost, 4), reasons)


def reference(course, lab, *, bwrap: bool, repo: Path) -> Case:
    nb = _read(lab.lab_path(course.root))
    cells: dict[int, list] = {}  # cell -> the exercises it defines
    for ex in lab.exercises:
        c = defining_cell(nb, ex.function_name)
        cells.setdefault(id(c), [c]).append(ex)
    for i, (c, *exercises) in enumerate(cells.values()):
        lines = []
        for ex in exercises:
            module, fn = ex.reference.split(":", 1)
            lines.append(f"from {module} import {fn}" if i % 2 == 0 else
                         f"import labgrader.checks.{lab.checks} as checks\n{fn} = checks.{fn}")
        c.source = "\n".join(lines)
    reasons = ["'reference_impl' is not available inside the grading sandbox"]
    if len(cells) > 1:
        reasons.append("'labgrader' is not available inside the grading sandbox")
    if bwrap:
        module = lab.exercises[0].reference.split(":")[0]
        path = repo / (module.replace(".", "/") + ".py")
        add_cell(nb, f"exec(open({str(path)!r}).read())  # the reference's source, by its absolute path")
        reasons.append("FileNotFoundError")
    return Case(lab.id, "reference", nb, 0.0, reasons)


def clean(course, lab) -> Case:
    return Case(lab.id, "clean", _read(lab.solution_path(course.root)), sum(e.points for e in lab.exercises), [])


def corpus(course, *, call_seconds: float, bwrap: bool, repo: Path) -> list[Case]:
    """Every lab's cases, in course.toml's order (``repo``: where the real reference lives)."""
    out = []
    for lab in course.labs:
        out += [*(hostile(course, lab, name, call_seconds=call_seconds, bwrap=bwrap) for name in FUNCTION_ATTACKS),
                reference(course, lab, bwrap=bwrap, repo=repo), clean(course, lab)]
    return [copy.deepcopy(c) for c in out]


def small_course(root: Path, repo: Path, grading: dict):
    """A copy of the course (course.toml, labs/, solutions/) whose [grading] keys are replaced by ``grading``."""
    import re
    import shutil

    from labgrader.config import load_course

    root.mkdir(parents=True)
    for folder in ("labs", "solutions"):
        shutil.copytree(repo / folder, root / folder)
    text = (repo / "course.toml").read_text(encoding="utf-8")
    for key, value in grading.items():
        text, n = re.subn(rf"(?m)^{key}\s*=\s*[^#\n]*", f"{key} = {value!r} ", text)
        assert n == 1, f"course.toml has no single line for grading.{key}"
    (root / "course.toml").write_text(text, encoding="utf-8")
    course = load_course(root / "course.toml")
    assert course.root == root.resolve()
    return course
