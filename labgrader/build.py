"""``course build``: every lab notebook from the lab's text source and reference_impl.

One source of truth. A lab is written as one text source, ``labsrc/<lab>.py`` (jupytext percent
format, read by ``labgrader/labsource.py``); ``solutions/``, ``labs/`` and the example submissions
``examples/<lab>/*.ipynb`` declared in ``examples/<lab>/expected.toml`` are generated from it, byte for
byte the same on every build. An exercise cell in ``solutions/<lab>.ipynb`` is the reference function's
source, verbatim, with nbgrader's solution markers around its body; the student notebook in
``labs/`` is the solution notebook passed through small ordered steps, like nbgrader's
preprocessors:

0. ``read_source``      — the lab's cells from its source, with nbgrader metadata and stable ids;
   ``add_header``       — a locked cell at the top from course.toml: due date and late policy, how to
                          submit, each exercise's points and public/hidden check counts, the written
                          answers' points; ``set_answer_points`` gives each answer cell its points
                          (nbgrader manual grading), and refuses a lab whose answers have none;
1. ``fill_exercises``   — exercise cells (grade_id = exercise id) get the reference source;
   A locked test cell (grade_id ``test_<exercise>``, nbgrader points) follows each exercise:
   the public self-check, and hidden full grading for ``nbgrader autograde``;
2. ``strip_solutions``  — hidden tests are removed; code between ``### BEGIN/END SOLUTION`` becomes
                          ``# YOUR CODE HERE`` / ``raise NotImplementedError()``; written-answer
                          cells become ``YOUR ANSWER HERE`` (nbgrader's own replacement text, so
                          ``nbgrader generate_assignment`` gives the same skeleton);
3. ``clear_outputs``    — no outputs, no execution counts.

An example submission with ``bugs`` in expected.toml is ``example_notebook``: the student notebook
with every exercise solved (the reference, markers gone) except the declared bugs, each an
``old`` → ``new`` replacement inside one exercise's function.

``build(check=True)`` writes nothing and returns what would change (drift).
"""

from __future__ import annotations

import ast
import copy
import inspect
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .config import Course, Lab
from .labsource import cell_id, read_source, source_path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SKELETON_BODY = ["# YOUR CODE HERE", "raise NotImplementedError()"]
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _function_node(source: str) -> ast.FunctionDef:
    tree = ast.parse(source)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(funcs) != 1:
        raise ValueError("expected exactly one function definition")
    return funcs[0]


def solution_source(fn) -> str:
    """The reference function's source with solution markers around the body after its docstring."""
    src = textwrap.dedent(inspect.getsource(fn)).rstrip("\n")
    node = _function_node(src)
    body = node.body
    if not (body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)):
        raise ValueError(f"reference function {fn.__name__} needs a docstring (it is the exercise's statement)")
    if len(body) < 2:
        raise ValueError(f"reference function {fn.__name__} has no body after its docstring")
    lines = src.split("\n")
    first_body_line = body[1].lineno - 1  # 0-based index of the first statement after the docstring
    # Keep comments/blank lines directly above the first statement inside the solution.
    while first_body_line > body[0].end_lineno and lines[first_body_line - 1].strip().startswith("#"):
        first_body_line -= 1
    indent = " " * body[1].col_offset
    out = lines[:first_body_line] + [indent + BEGIN] + lines[first_body_line:] + [indent + END]
    return "\n".join(out)


def strip_solution_source(source: str) -> str:
    """Replace every BEGIN/END SOLUTION region with the skeleton body at the marker's indent."""
    out, inside = [], False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError("nested ### BEGIN SOLUTION")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in SKELETON_BODY)
        elif stripped == END:
            if not inside:
                raise ValueError("### END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("### BEGIN SOLUTION without END")
    return "\n".join(out)


def without_solution_markers(nb):
    """A copy of a solution notebook as a student who solved it would hand it in: the markers' lines gone."""
    nb = nbformat.from_dict(copy.deepcopy(nb))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(line for line in cell.source.split("\n") if line.strip() not in (BEGIN, END))
    return nb


TEST_PREFIX = "test_"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def check_counts(lab: Lab, ex) -> tuple[int, int]:
    """(public, hidden) numbers of the checks that grade ``ex`` (course.toml's list, drop_checks applied)."""
    import importlib

    declared = importlib.import_module(f"labgrader.checks.{lab.checks}").CHECKS[ex.id]
    public = sum(1 for name in ex.checks if declared[name].public)
    return public, len(ex.checks) - public


HEADER_ID = "course_header"


def header_markdown(course: Course, lab: Lab) -> str:
    """The top of the notebook: due date, late policy, how to submit, and what each part is worth."""
    lp = lab.late_policy
    late = (f"{lp.grace_minutes:g} minutes' grace, then {lp.penalty_per_day:.0%} off per started day"
            + (f", not accepted after {lp.max_days_late} days" if lp.max_days_late else "")) \
        if lp.penalty_per_day or lp.grace_minutes else "no late policy set"
    rows = []
    for i, ex in enumerate(lab.exercises, 1):
        public, hidden = check_counts(lab, ex)
        rows.append(f"| {i}. `{ex.function_name}` | {ex.points:g} | {public} | {hidden} |")
    answers = lab.question_points()
    lines = [f"**{lab.title}** · due **{lab.due:%Y-%m-%d %H:%M} {lab.due.tzname() or 'UTC'}** (late: {late}).",
             "",
             f"**How to submit.** {course.submission}",
             "",
             "| exercise | points | public checks (run here, and by `course check`) | hidden checks (grading only) |",
             "|---|---|---|---|", *rows, ""]
    if answers:
        each = sorted(set(answers.values()))
        worth = f"{each[0]:g} points each" if len(each) == 1 else \
            ", ".join(f"{name}: {p:g}" for name, p in answers.items())
        lines.append(f"**Written answers** (a markdown cell under each question): {len(answers)} questions, {worth}, "
                     "graded by hand.")
        lines.append("")
    lines.append(f"**Total:** {lab.max_score:g} points from the checks"
                 + (f" + {lab.manual_max:g} for the written answers = {lab.max_score + lab.manual_max:g}."
                    if answers else "."))
    return "\n".join(lines)


def add_header(nb, course: Course, lab: Lab):
    """Insert (or replace) the locked header cell after the title cell."""
    nb.cells = [c for c in nb.cells if _nbgrader(c).get("grade_id") != HEADER_ID]
    cell = nbformat.v4.new_markdown_cell(header_markdown(course, lab))
    cell.id = cell_id(HEADER_ID)
    cell.metadata = {"nbgrader": {"grade": False, "locked": True, "schema_version": 3, "solution": False,
                                  "grade_id": HEADER_ID}}
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" and first.source.lstrip().startswith("#") else 0
    nb.cells.insert(at, cell)
    return nb


def answer_cells(nb) -> list[str]:
    """The grade_ids of the written-answer cells (markdown solution cells), in notebook order."""
    return [_nbgrader(c)["grade_id"] for c in nb.cells
            if c.cell_type == "markdown" and _nbgrader(c).get("solution") and _nbgrader(c).get("grade_id")]


def set_answer_points(nb, lab: Lab) -> None:
    """Each answer cell gets its points from course.toml (nbgrader: grade + solution = manual grading)."""
    names = answer_cells(nb)
    points = lab.question_points()
    if names and lab.questions is None:
        raise ValueError(f"course.toml: lab {lab.id} has written answers ({', '.join(names)}) but no points for them: "
                         f"add to its [[labs]] block, before its first [[labs.exercises]]: questions = {{ "
                         + ", ".join(f"{n} = 5" for n in names) + " }  (points each; 0 for an ungraded one)")
    missing = [n for n in names if n not in points]
    unknown = [n for n in points if n not in names]
    if missing or unknown:
        raise ValueError(f"course.toml: lab {lab.id} questions " + "; ".join(
            ([f"give no points to {', '.join(missing)}"] if missing else [])
            + ([f"name {', '.join(unknown)}, which is no answer cell of labsrc (answers: {', '.join(names)})"]
               if unknown else [])))
    for c in nb.cells:
        gid = _nbgrader(c).get("grade_id")
        if gid in points and c.cell_type == "markdown":
            c.metadata["nbgrader"]["points"] = points[gid]


def test_cell_source(lab: Lab, ex) -> str:
    """The exercise's test cell: public self-check for the student, hidden full grading for nbgrader.

    In the student notebook only the first part remains: it runs the public checks (no reference
    needed) and prints what fails. ``nbgrader autograde`` restores the hidden part, which runs every
    check with the grading profile and ends with the points as the cell's value: nbgrader's partial
    credit, equal to what ``course grade`` gives the same function.
    """
    fn = ex.function_name
    public, hidden = check_counts(lab, ex)
    runs = f"its {public} public checks run here" if public != 1 else "its 1 public check runs here"
    adds = {0: "grading adds no hidden check", 1: "grading adds 1 hidden one"}.get(hidden, f"grading adds {hidden} hidden ones")
    return (
        f"# Self-check of {fn}, {ex.points:g} points: {runs} (in seconds); {adds}.\n"
        f"from labgrader.selfcheck import check\n"
        f'check("{lab.id}", "{ex.id}", {fn})\n'
        f"{HIDDEN_BEGIN}\n"
        f"from labgrader.selfcheck import grade\n"
        f'grade("{lab.id}", "{ex.id}", {fn})\n'
        f"{HIDDEN_END}"
    )


def _test_cell(lab: Lab, ex):
    cell = nbformat.v4.new_code_cell(test_cell_source(lab, ex))
    cell.id = cell_id(f"{TEST_PREFIX}{ex.id}")
    return cell


def fill_exercises(nb, lab: Lab) -> list[str]:
    """Set each exercise cell's source from the reference, and the test cell after it; returns the
    exercise ids missing a cell."""
    by_id = {e.id: e for e in lab.exercises}
    seen = set()
    cells = []
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if isinstance(gid, str) and gid.startswith(TEST_PREFIX) and gid[len(TEST_PREFIX):] in by_id:
            continue  # regenerated right after its exercise cell
        cells.append(cell)
        if cell.cell_type == "code" and gid in by_id:
            if gid in seen:
                raise ValueError(f"{lab.notebook}: two cells have grade_id {gid!r}")
            seen.add(gid)
            ex = by_id[gid]
            cell.source = solution_source(ex.load_reference())
            test = _test_cell(lab, ex)
            test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": ex.points,
                                         "grade_id": f"{TEST_PREFIX}{ex.id}", "schema_version": 3}
            cells.append(test)
    nb.cells = cells
    return [e for e in by_id if e not in seen]


def strip_hidden_tests(source: str) -> str:
    """Remove BEGIN/END HIDDEN TESTS regions (nbgrader's ClearHiddenTests does the same)."""
    out, inside = [], False
    for line in source.split("\n"):
        if line.strip() == HIDDEN_BEGIN:
            inside = True
        elif line.strip() == HIDDEN_END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out).rstrip("\n")


def strip_solutions(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("grade") and cell.cell_type == "code":
            cell.source = strip_hidden_tests(cell.source)
        if not meta.get("solution"):
            continue
        if cell.cell_type == "code":
            cell.source = strip_solution_source(cell.source)
        else:
            cell.source = ANSWER_PLACEHOLDER
    return nb


def clear_outputs(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


def _serialise(nb) -> str:
    return nbformat.writes(nb) + "\n"


EXAMPLES = "examples"


def load_expectations(course: Course, lab_id: str) -> dict:
    """``examples/<lab>/expected.toml``: the example submissions, their bugs and the scores they must get."""
    path = course.root / EXAMPLES / lab_id / "expected.toml"
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def example_notebook(solution, lab: Lab, name: str, spec: dict):
    """The example submission ``name`` of expected.toml: a student's notebook with every exercise solved
    except ``spec["bugs"]`` (each ``{exercise, old, new}``: ``old`` occurs once in that exercise's
    reference source and becomes ``new``); written answers are the solution's, or ``spec["answers"]``."""
    where = f"examples/{lab.id}/expected.toml [{name}]"
    solved = {_nbgrader(c).get("grade_id"): c.source for c in without_solution_markers(solution).cells}
    nb = strip_solutions(solution)
    exercises = {e.id for e in lab.exercises}
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if _nbgrader(cell).get("solution"):
            cell.source = spec.get("answers", solved[gid]) if cell.cell_type == "markdown" else solved[gid]
    by_id = {_nbgrader(c).get("grade_id"): c for c in nb.cells}
    for i, bug in enumerate(spec["bugs"]):
        ex, old, new = bug.get("exercise"), bug.get("old"), bug.get("new")
        if ex not in exercises or not isinstance(old, str) or not isinstance(new, str):
            raise ValueError(f"{where}: bugs[{i}] needs exercise (one of {', '.join(sorted(exercises))}), "
                             f"old and new (strings), got {bug}")
        source = by_id[ex].source + "\n"  # whole lines, the last one too, end with a newline
        if source.count(old) != 1:
            raise ValueError(f"{where}: bugs[{i}].old occurs {source.count(old)} times in {ex}'s reference "
                             "source; it must occur exactly once (quote more of the line)")
        by_id[ex].source = source.replace(old, new).removesuffix("\n")
    nb.metadata["course"] = {**nb.metadata.get("course", {}), "example": f"{where}: generated by course build"}
    return clear_outputs(nb)


@dataclass
class BuildChange:
    path: Path
    reason: str


def lab_notebooks(course: Course, lab: Lab) -> dict[Path, str]:
    """Every notebook built from one lab's source: path -> its exact text."""
    nb = read_source(source_path(course.root, lab), lab, course.root)
    set_answer_points(nb, lab)
    add_header(nb, course, lab)
    missing = fill_exercises(nb, lab)
    if missing:
        raise ValueError(f"{lab.id}: no exercise cell for {', '.join(missing)}")
    out = {lab.solution_path(course.root): _serialise(clear_outputs(nb)),
           lab.lab_path(course.root): _serialise(clear_outputs(strip_solutions(nb)))}
    if (course.root / EXAMPLES / lab.id / "expected.toml").exists():
        for name, spec in load_expectations(course, lab.id).items():
            if "bugs" in spec:
                path = (course.root / EXAMPLES / lab.id / spec["file"]).resolve()
                out[path] = _serialise(example_notebook(nb, lab, name, spec))
    return out


def build_lab(course: Course, lab: Lab, *, check: bool = False) -> list[BuildChange]:
    """Rebuild one lab's notebooks (solution, student, generated examples) from its source."""
    changes = []
    for path, text in lab_notebooks(course, lab).items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            changes.append(BuildChange(path, "missing" if old is None else "out of date"))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return changes


def build(course: Course, *, check: bool = False, lab_ids: list[str] | None = None) -> list[BuildChange]:
    changes = []
    for lab in course.labs:
        if lab_ids and lab.id not in lab_ids:
            continue
        changes.extend(build_lab(course, lab, check=check))
    return changes
