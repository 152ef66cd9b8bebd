"""course build: solution cells are the reference source; skeletons keep signature and docstring."""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap

import nbformat
import pytest

from autograder.build import BEGIN, END, build, build_lab, solution_source, strip_solution_source
from autograder.config import REPO_ROOT, load_course
from autograder.submission import grade_id


EVERY_LAB = pytest.mark.parametrize("lab", load_course(REPO_ROOT / "course.toml").labs, ids=lambda lab: lab.id)


def _func(source: str) -> ast.FunctionDef:
    (node,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    return node


def test_committed_notebooks_have_no_drift(course):
    """`course build --check` is clean on the committed tree."""
    assert build(course, check=True) == []


@EVERY_LAB
def test_solution_cells_are_the_reference_source(course, lab):
    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    cells = {grade_id(c): c.source for c in nb.cells if c.cell_type == "code"}
    for ex in lab.exercises:
        fn = ex.load_reference()
        without_markers = "\n".join(l for l in cells[ex.id].split("\n") if l.strip() not in (BEGIN, END))
        assert without_markers == textwrap.dedent(inspect.getsource(fn)).rstrip("\n")


@EVERY_LAB
def test_skeletons_keep_exact_signature_and_docstring(course, lab):
    nb = nbformat.read(lab.lab_path(course.root), as_version=4)
    cells = {grade_id(c): c.source for c in nb.cells if c.cell_type == "code"}
    for ex in lab.exercises:
        ref = ex.load_reference()
        ref_node = _func(textwrap.dedent(inspect.getsource(ref)))
        sk_node = _func(cells[ex.id])
        assert sk_node.name == ref_node.name
        assert ast.dump(sk_node.args) == ast.dump(ref_node.args), ex.id
        assert ast.dump(sk_node.returns) == ast.dump(ref_node.returns), ex.id
        assert ast.get_docstring(sk_node, clean=False) == inspect.getdoc(ref) or \
            ast.get_docstring(sk_node, clean=False) == ref.__doc__, ex.id
        # The body is the docstring plus nbgrader's placeholder and nothing of the solution.
        assert [type(s).__name__ for s in sk_node.body] == ["Expr", "Raise"], ex.id
        assert "raise NotImplementedError()" in cells[ex.id]
        assert BEGIN not in cells[ex.id] and END not in cells[ex.id]


@EVERY_LAB
def test_student_notebook_has_no_solution_text_and_no_outputs(course, lab):
    lab_nb = nbformat.read(lab.lab_path(course.root), as_version=4)
    sol_nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    assert [c.get("id") for c in lab_nb.cells] == [c.get("id") for c in sol_nb.cells]
    for lc, sc in zip(lab_nb.cells, sol_nb.cells):
        if lc.cell_type == "code":
            assert lc.outputs == [] and lc.execution_count is None
            assert sc.outputs == [] and sc.execution_count is None
        meta = sc.metadata.get("nbgrader", {})
        if meta.get("solution") and lc.cell_type == "markdown":
            assert lc.source == "YOUR ANSWER HERE"
        elif meta.get("grade") and lc.cell_type == "code":  # a test cell: the hidden part is gone
            assert "HIDDEN TESTS" in sc.source and "HIDDEN TESTS" not in lc.source
            assert "selfcheck import grade" not in lc.source and "selfcheck import check" in lc.source
            assert lc.source == sc.source.split("### BEGIN HIDDEN TESTS")[0].rstrip("\n")
        elif not meta.get("solution"):
            assert lc.source == sc.source, "non-solution cells are copied verbatim"


def test_strip_round_trip_on_a_handwritten_function():
    def f(x: int, y: int = 2) -> int:
        """Add.

        Returns x + y.
        """
        # the sum
        z = x + y
        return z

    sol = solution_source(f)
    lines = sol.split("\n")
    assert lines[lines.index("    " + BEGIN) + 1] == "    # the sum"
    assert lines[-1] == "    " + END
    skeleton = strip_solution_source(sol)
    assert skeleton.endswith('    """\n    # YOUR CODE HERE\n    raise NotImplementedError()')
    ns: dict = {}
    exec(skeleton, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


def test_unbalanced_markers_are_errors():
    with pytest.raises(ValueError, match="without END"):
        strip_solution_source(f"def f():\n    {BEGIN}\n    return 1")
    with pytest.raises(ValueError, match="without BEGIN"):
        strip_solution_source(f"def f():\n    {END}\n")


def test_drift_is_detected_and_repaired(tmp_path, course):
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "labs").mkdir()
    shutil.copy(course.path, root / "course.toml")
    for each in course.labs:  # every lab course.toml names, so that build(check=True) sees a whole course
        shutil.copy(each.solution_path(course.root), root / "solutions" / each.notebook)
        shutil.copy(each.lab_path(course.root), root / "labs" / each.notebook)
    lab = course.lab("lab01")
    copy = load_course(root / "course.toml")
    assert build(copy, check=True) == []
    # Someone edits an exercise cell of the solution by hand: the check reports it, build repairs it.
    path = root / "solutions" / lab.notebook
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if grade_id(c) == "kd_loss")
    cell.source = cell.source.replace("T**2", "T")
    nbformat.write(nb, path)
    changes = build_lab(copy, copy.lab("lab01"), check=True)
    assert [c.path.name for c in changes] == [lab.notebook]
    assert "T**2" not in path.read_text()  # --check wrote nothing
    build_lab(copy, copy.lab("lab01"))
    assert build(copy, check=True) == []
    # A deleted student notebook is "missing".
    (root / "labs" / lab.notebook).unlink()
    assert [c.reason for c in build(copy, check=True)] == ["missing"]


@EVERY_LAB
def test_every_exercise_is_followed_by_its_test_cell_with_its_points(course, lab):
    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    ids = [grade_id(c) for c in nb.cells]
    for ex in lab.exercises:
        i = ids.index(ex.id)
        test = nb.cells[i + 1]
        meta = test.metadata["nbgrader"]
        assert meta["grade_id"] == f"test_{ex.id}" and meta["grade"] and meta["locked"]
        assert meta["points"] == ex.points
        assert f'check("{lab.id}", "{ex.id}", {ex.function_name})' in test.source
        assert f'grade("{lab.id}", "{ex.id}", {ex.function_name})' in test.source
