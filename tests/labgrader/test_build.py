"""course build: notebooks from the lab sources; solution cells are the reference source; skeletons keep
signature and docstring; the buggy examples are the solution plus their declared bugs."""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap

import nbformat
import pytest

from labgrader.build import BEGIN, END, build, build_lab, load_expectations, solution_source, strip_solution_source
from labgrader.config import REPO_ROOT, load_course
from labgrader.labsource import SOURCES, SourceError, source_path
from labgrader.submission import grade_id


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


def _course_copy(course, root):
    """A copy of what `course build` reads (course.toml, labsrc/, examples' expected.toml) and writes."""
    shutil.copy(course.path, root / "course.toml")
    shutil.copytree(course.root / SOURCES, root / SOURCES)
    for each in course.labs:
        for name in ("solutions", "labs"):
            (root / name).mkdir(exist_ok=True)
            shutil.copy(course.root / name / each.notebook, root / name / each.notebook)
        examples = course.root / "examples" / each.id
        if examples.exists():
            shutil.copytree(examples, root / "examples" / each.id)
    return load_course(root / "course.toml")


def _generated(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for pattern in ("solutions/*.ipynb", "labs/*.ipynb", "examples/*/buggy.ipynb") for p in sorted(root.glob(pattern))}


def test_deleted_notebooks_are_rebuilt_byte_identical(tmp_path, course):
    """solutions/, labs/ and every examples/*/buggy.ipynb come back byte for byte from the sources; a second
    build changes nothing."""
    copy = _course_copy(course, tmp_path)
    committed = _generated(tmp_path)
    assert len(committed) == 3 * len(course.labs)
    shutil.rmtree(tmp_path / "solutions")
    shutil.rmtree(tmp_path / "labs")
    for p in tmp_path.glob("examples/*/buggy.ipynb"):
        p.unlink()
    assert {c.reason for c in build(copy, check=True)} == {"missing"}
    assert not (tmp_path / "solutions").exists()  # --check wrote nothing
    assert len(build(copy)) == len(committed)
    assert _generated(tmp_path) == committed
    assert build(copy) == [] and _generated(tmp_path) == committed


def test_drift_is_detected_and_repaired(tmp_path, course):
    copy = _course_copy(course, tmp_path)
    lab = copy.lab("lab01")
    assert build(copy, check=True) == []
    # Someone edits an exercise cell of the solution by hand: the check reports it, build repairs it.
    path = tmp_path / "solutions" / lab.notebook
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if grade_id(c) == "kd_loss")
    cell.source = cell.source.replace("T**2", "T")
    nbformat.write(nb, path)
    changes = build_lab(copy, lab, check=True)
    assert [c.path.name for c in changes] == [lab.notebook]
    assert "T**2" not in path.read_text()  # --check wrote nothing
    build_lab(copy, lab)
    assert build(copy, check=True, lab_ids=["lab01"]) == []
    # A deleted student notebook is "missing".
    (tmp_path / "labs" / lab.notebook).unlink()
    assert [c.reason for c in build(copy, check=True, lab_ids=["lab01"])] == ["missing"]
    # An edit of the source's prose reaches the solution and the student notebook (and the buggy example).
    src = source_path(tmp_path, lab)
    src.write_text(src.read_text().replace("# # Lab 1 — Knowledge distillation I", "# # Lab 1 — Distillation"))
    assert {c.path.name for c in build(copy, check=True, lab_ids=["lab01"])} == {lab.notebook, "buggy.ipynb"}


@EVERY_LAB
def test_notebooks_say_they_are_generated_and_ids_are_stable(course, lab):
    for path in (lab.solution_path(course.root), lab.lab_path(course.root)):
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["course"]["generated_from"] == f"{SOURCES}/{path.stem}.py"
        assert [c.id for c in nb.cells] == [grade_id(c).replace("_", "-") for c in nb.cells]


@EVERY_LAB
def test_buggy_example_differs_from_the_solution_only_by_its_declared_bugs(course, lab):
    """The buggy example is the student notebook with every exercise solved, except each declared bug."""
    spec = load_expectations(course, lab.id)["buggy"]
    nb = nbformat.read(course.root / "examples" / lab.id / spec["file"], as_version=4)
    cells = {grade_id(c): c.source for c in nb.cells}
    bugged = {bug["exercise"] for bug in spec["bugs"]}
    for ex in lab.exercises:
        ref = textwrap.dedent(inspect.getsource(ex.load_reference())).rstrip("\n")
        if ex.id in bugged:
            expected = ref + "\n"
            for bug in spec["bugs"]:
                if bug["exercise"] == ex.id:
                    expected = expected.replace(bug["old"], bug["new"])
            assert cells[ex.id] == expected.removesuffix("\n") != ref, ex.id
        else:
            assert cells[ex.id] == ref, ex.id
    sections = [grade_id(c) for c in nbformat.read(lab.lab_path(course.root), as_version=4).cells]
    assert list(cells) == sections, "the example has every section of the lab"
    assert not any("ANSWER_" in s or "### BEGIN" in s for s in cells.values())


def _one_cell_lab(tmp_path, course, header: str, body: str = "# x"):
    copy = _course_copy(course, tmp_path)
    lab = copy.lab("lab01")
    src = source_path(tmp_path, lab)
    src.write_text(src.read_text() + f"\n# %% {header}\n{body}\n")
    return copy, lab


@pytest.mark.parametrize("header, message", [
    ("", "needs exactly one of name="),
    ('name="x" answer="y"', "needs exactly one of name="),
    ('name="setup"', "'setup' is used twice"),
    ('exercise="no_such"', "'no_such' is not one of lab01's exercises"),
    ('answer="answer_9"', "an answer is a markdown cell"),
])
def test_bad_sources_get_errors_that_name_the_cell_and_the_fix(tmp_path, course, header, message):
    n_cells = source_path(course.root, course.lab("lab01")).read_text().count("\n# %%") + 1  # the source's own cells
    copy, lab = _one_cell_lab(tmp_path, course, header)
    with pytest.raises(SourceError, match=message) as err:
        build_lab(copy, lab, check=True)
    n_lines = len(source_path(tmp_path, lab).read_text().split("\n"))
    # the appended cell is the last line but two, and its 1-based number is one past the source's cells
    assert f"lab01_distillation.py, line {n_lines - 2}, cell {n_cells + 1}:" in str(err.value)


def test_a_bug_whose_anchor_is_not_unique_is_an_error(tmp_path, course):
    copy = _course_copy(course, tmp_path)
    path = tmp_path / "examples" / "lab01" / "expected.toml"
    path.write_text(path.read_text().replace("old = 'alpha * T**2 * soft'", "old = 'alpha'"))
    with pytest.raises(ValueError, match=r"bugs\[1\]\.old occurs \d+ times in kd_loss"):
        build_lab(copy, copy.lab("lab01"), check=True)


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
