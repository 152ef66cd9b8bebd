"""nbgrader: our grades in an nbgrader gradebook, and an autograde step that skips the experiments.

``export_to_gradebook(course, lab, results_dir, db_url)`` writes what ``course grade`` wrote to
``results_dir/<submission>/results.json`` into an nbgrader gradebook database (any SQLAlchemy URL
nbgrader takes, e.g. ``sqlite:///gradebook.db``), so that a course that runs nbgrader's formgrader
or ``nbgrader export`` sees the grades of the sandboxed grader:

* the assignment (id = the lab id), its notebook (the notebook's file stem) and its cells are
  created exactly as ``nbgrader generate_assignment`` creates them, by running nbgrader's own
  ``GenerateAssignment`` converter on the solution notebook (in a temporary course folder; the
  release it writes there is thrown away). A gradebook that already has the notebook (the
  instructor ran ``generate_assignment``) is left as it is, after checking that it has a grade cell
  ``test_<exercise>`` worth the exercise's points for every exercise;
* one student per submission folder (the folder name is the student id, as in nbgrader's
  ``submitted/<student>/<assignment>/``) and one submission per student; the submission's timestamp
  is the ``submitted_at`` the late policy recorded, when there is one;
* each grade cell ``test_<exercise>`` gets ``auto_score`` = the exercise's score in
  ``extra_data.exercises`` (after the late policy, if ``course grade`` applied it), and
  ``needs_manual_grade`` as nbgrader's own SaveAutoGrades sets it (True only when a grader has
  already given a manual score, which is kept). Written-answer cells are not touched: they are
  graded by hand in nbgrader.

Running it again updates the same rows; nothing is duplicated.

For courses that run ``nbgrader autograde`` themselves, ``SkipExperimentCells`` is nbgrader's
``Execute`` preprocessor minus the ``exp_*`` cells, the cells ``course grade`` never runs either.
Every experiment cell comes after the last test cell and none is graded, so skipping them cannot
change a grade; it saves about a minute of CPU per submission. The ``nbgrader_config.py`` with
which nbgrader's scores equal ``course grade``'s (tests/labgrader/test_nbgrader.py)::

    from labgrader.exports.nbgrader import autograde_preprocessors
    c.Autograde.autograde_preprocessors = autograde_preprocessors()
    # nbgrader's default (False) leaves a test cell the student deleted ungraded ("needs manual
    # grade"); True puts it back, hidden tests included, and grades it.
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = 900   # only if the experiments run: their slowest cell takes ~30 s
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Course, Lab
from ..submission import EXPERIMENT_PREFIX, TEST_PREFIX, grade_id

DEFAULT_COURSE_ID = "default_course"  # nbgrader.api.Gradebook's default


class ExportError(Exception):
    """The export cannot be done (bad lab, missing folder, a gradebook that does not fit the lab)."""


# -- the autograde step without the experiments ----------------------------------------------------
@functools.lru_cache(maxsize=None)
def _skip_experiment_cells_class():
    from nbgrader.preprocessors import Execute

    class SkipExperimentCells(Execute):
        """nbgrader's Execute, except for cells whose grade_id starts with ``exp_`` (left as they are)."""

        def preprocess_cell(self, cell, resources, index):
            if cell.get("cell_type") == "code" and grade_id(cell).startswith(EXPERIMENT_PREFIX):
                return cell, resources
            return super().preprocess_cell(cell, resources, index)

    SkipExperimentCells.__module__ = __name__
    SkipExperimentCells.__qualname__ = "SkipExperimentCells"
    return SkipExperimentCells


def __getattr__(name: str):
    # nbgrader is imported only when the class is asked for: the export itself imports it lazily too.
    if name == "SkipExperimentCells":
        return _skip_experiment_cells_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def autograde_preprocessors() -> list:
    """nbgrader's default ``Autograde.autograde_preprocessors`` with Execute replaced by SkipExperimentCells."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    skip = _skip_experiment_cells_class()
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    if Execute not in default:
        raise RuntimeError(f"this nbgrader's Autograde.autograde_preprocessors has no Execute: {default}")
    return [skip if pp is Execute else pp for pp in default]


# -- the export -----------------------------------------------------------------------------------
@dataclass
class ExportSummary:
    assignment: str
    notebook: str
    created_assignment: bool = False  # the notebook and its cells were created by this export
    exported: dict[str, float] = field(default_factory=dict)  # student id -> total written
    skipped: dict[str, str] = field(default_factory=dict)  # folder -> why


def notebook_name(lab: Lab) -> str:
    return Path(lab.notebook).stem


@contextlib.contextmanager
def _alembic_on_path():
    """nbgrader runs ``alembic`` (a console script) to stamp a new database; when the interpreter's
    environment is not activated its bin folder is not on PATH, so add it for the duration."""
    if shutil.which("alembic") is not None:
        yield
        return
    old = os.environ.get("PATH")
    os.environ["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), old) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old


def _generate_assignment(lab: Lab, source_notebook: Path, db_url: str, course_id: str) -> None:
    """Run nbgrader's GenerateAssignment on the solution notebook: the assignment, the notebook and
    its grade, solution and source cells go into the database exactly as the command puts them."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="nbgrader-export-") as tmp:
        src = Path(tmp) / "source" / lab.id
        src.mkdir(parents=True)
        shutil.copyfile(source_notebook, src / lab.notebook)
        cfg = Config()
        cfg.CourseDirectory.root = tmp
        cfg.CourseDirectory.db_url = db_url
        cfg.CourseDirectory.course_id = course_id
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = lab.id
        # our own logger: nbgrader's INFO lines are not for `course export`'s user; warnings still show
        converter = GenerateAssignment(coursedir=coursedir, config=cfg, log=logging.getLogger(__name__))
        try:
            converter.start()
        except NbGraderException as e:
            raise ExportError(f"nbgrader generate_assignment failed on {source_notebook}: {e}") from None


def _check_notebook(gb, lab: Lab, nb_name: str) -> None:
    from nbgrader.api import MissingEntry

    problems = []
    for ex in lab.exercises:
        try:
            cell = gb.find_grade_cell(f"{TEST_PREFIX}{ex.id}", nb_name, lab.id)
        except MissingEntry:
            problems.append(f"no grade cell {TEST_PREFIX}{ex.id}")
            continue
        if abs(float(cell.max_score) - float(ex.points)) > 1e-9:
            problems.append(f"grade cell {TEST_PREFIX}{ex.id} is worth {cell.max_score:g} points, "
                            f"course.toml says {ex.points:g}")
    if problems:
        raise ExportError(f"the gradebook's notebook {lab.id}/{nb_name} does not match course.toml: "
                          + "; ".join(problems) + " (was it generated from another version of the lab?)")


def _read_results(path: Path, lab: Lab) -> tuple[dict | None, str]:
    """(results, "") or (None, why it cannot be exported)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        extra = data["extra_data"]
        exercises = extra["exercises"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"unreadable results.json ({type(e).__name__}: {e})"
    if extra.get("lab") != lab.id:
        return None, f"results of lab {extra.get('lab')!r}, not {lab.id!r}"
    for ex in lab.exercises:
        e = exercises.get(ex.id)
        if not isinstance(e, dict) or not isinstance(e.get("score"), (int, float)):
            return None, f"no score for exercise {ex.id} (graded with another course.toml?)"
        if abs(float(e.get("max_score", ex.points)) - float(ex.points)) > 1e-9:
            return None, f"exercise {ex.id} was graded out of {e.get('max_score')}, course.toml says {ex.points:g}"
    return data, ""


def export_to_gradebook(course: Course, lab: Lab, results_dir: Path, db_url: str,
                        source_notebook_dir: Path | None = None, *,
                        course_id: str = DEFAULT_COURSE_ID) -> ExportSummary:
    """Write ``results_dir/<student>/results.json`` (from ``course grade``) into an nbgrader gradebook.

    ``source_notebook_dir`` holds ``<lab.notebook>`` with nbgrader metadata (default: solutions/); it
    is read only when the gradebook has no such notebook yet. ``course_id`` is the nbgrader course id
    a new assignment gets (nbgrader's ``CourseDirectory.course_id``).
    """
    from nbgrader.api import Gradebook, MissingEntry

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ExportError(f"no such folder: {results_dir}")
    source_dir = Path(source_notebook_dir) if source_notebook_dir else lab.solution_path(course.root).parent
    nb_name = notebook_name(lab)
    summary = ExportSummary(assignment=lab.id, notebook=nb_name)

    with _alembic_on_path():
        with Gradebook(db_url, course_id) as gb:
            try:
                gb.find_notebook(nb_name, lab.id)
                exists = True
            except MissingEntry:
                exists = False
        if not exists:
            source = source_dir / lab.notebook
            if not source.is_file():
                raise ExportError(f"the gradebook has no notebook {lab.id}/{nb_name} and there is no {source} "
                                  "to create it from")
            _generate_assignment(lab, source, db_url, course_id)
            summary.created_assignment = True

        with Gradebook(db_url, course_id) as gb:
            _check_notebook(gb, lab, nb_name)
            for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
                f = folder / "results.json"
                if not f.is_file():
                    continue
                data, why = _read_results(f, lab)
                if data is None:
                    summary.skipped[folder.name] = why
                    continue
                student = folder.name
                extra = data["extra_data"]
                gb.update_or_create_student(student)
                kwargs = {"timestamp": extra["submitted_at"]} if extra.get("submitted_at") else {}
                with warnings.catch_warnings():
                    # nbgrader's add_submission builds the rows before adding them to the session,
                    # which SQLAlchemy 2 warns about on every new submission; nbgrader's own
                    # autograde does the same. The rows are written (the tests read them back).
                    warnings.filterwarnings("ignore", message=".*not in session, add operation along")
                    gb.update_or_create_submission(lab.id, student, **kwargs)
                total = 0.0
                for ex in lab.exercises:
                    score = float(extra["exercises"][ex.id]["score"])
                    grade = gb.find_grade(f"{TEST_PREFIX}{ex.id}", nb_name, lab.id, student)
                    grade.auto_score = score
                    # nbgrader's SaveAutoGrades: review needed only if a grader already scored it by hand
                    grade.needs_manual_grade = grade.manual_score is not None
                    total += score
                gb.db.commit()
                summary.exported[student] = round(total, 4)
    return summary


def format_summary(summary: ExportSummary, db_url: str) -> str:
    lines = []
    if summary.created_assignment:
        lines.append(f"created assignment {summary.assignment} (notebook {summary.notebook}) in {db_url}")
    for student, total in summary.exported.items():
        lines.append(f"  {student:<28} {total:>8g}")
    for name, why in summary.skipped.items():
        lines.append(f"  {name:<28} skipped: {why}")
    lines.append(f"{len(summary.exported)} submission(s) of {summary.assignment} written to {db_url}"
                 + (f"; {len(summary.skipped)} skipped" if summary.skipped else ""))
    return "\n".join(lines)


def export_command(course: Course, lab_id: str, results_dir: str, db_url: str, *, course_id: str = DEFAULT_COURSE_ID,
                   source: str | None = None) -> int:
    """``course export nbgrader LAB RESULTS_DIR --db URL``: prints a summary; 0, or 1 if some were skipped.
    Raises ExportError (bad usage: exit 2) for an unknown lab, a missing folder or an unfit gradebook."""
    try:
        lab = course.lab(lab_id)
    except KeyError as e:
        raise ExportError(e.args[0]) from None
    summary = export_to_gradebook(course, lab, Path(results_dir), db_url,
                                  Path(source) if source else None, course_id=course_id)
    print(format_summary(summary, db_url))
    return 1 if summary.skipped else 0
