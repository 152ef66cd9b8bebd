"""nbgrader round trip: the real ``nbgrader generate_assignment`` and ``nbgrader autograde`` agree with
``course grade``, and ``course export nbgrader`` writes our grades into a gradebook.

A throwaway nbgrader course (nbgrader_config.py, source/lab01/<the solution notebook>) gets

1. ``nbgrader generate_assignment lab01``: its release notebook must be our labs/ notebook (same
   cells, ids and sources; nbgrader only adds its checksums and the lock flags);
2. four submissions in submitted/<student>/lab01/: the full solution (solution markers removed),
   the untouched release, ``buggy`` (the release with the exercise cells of
   examples/lab01/buggy.ipynb, what a student working in the release hands in) and
   ``buggy_as_committed`` (examples/lab01/buggy.ipynb with its test cells deleted, as a student
   might hand it in);
3. ``nbgrader autograde lab01``, while ``course grade``'s batch grades the same four files in the
   sandbox. Each test_<exercise> cell's auto_score must equal our exercise score (to 1e-3), and the
   totals must agree.

The course's nbgrader configuration (write_config) has two settings besides paths and timeouts:

* ``OverwriteCells.add_missing_cells = True``. nbgrader's default is False: it restores the source
  (with the hidden tests) of the test cells a submission has and never re-inserts a missing one, so
  an exercise whose test cell is missing gets no auto score (None, "needs manual grade") although
  the function is there and ``course grade`` grades it. test_nbgrader_default_leaves_missing_test_cells_ungraded
  pins that, on buggy_as_committed.
* ``Autograde.autograde_preprocessors = autograde_preprocessors()``: nbgrader's own list with its
  Execute swapped for SkipExperimentCells, which skips the ``exp_*`` cells as ``course grade`` does.
  They take ~60 s of CPU per notebook (90 small MLPs trained), come after every test cell and are
  never graded, so they cannot change a grade. ``NBGRADER_ROUNDTRIP_EXPERIMENTS=1`` keeps nbgrader's
  Execute (everything runs: ~4 more minutes of CPU; the grades are the same).
"""

from __future__ import annotations

import copy

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labgrader.build import BEGIN, TEST_PREFIX, without_solution_markers
from labgrader.demo import load_expectations
from labgrader.exports.nbgrader import ExportError, export_to_gradebook, notebook_name
from labgrader.grade import grade_batch
from labgrader.submission import EXPERIMENT_PREFIX, grade_id

pytestmark = pytest.mark.slow

RUN_EXPERIMENTS = os.environ.get("NBGRADER_ROUNDTRIP_EXPERIMENTS", "") not in ("", "0")
COURSE_ID = "efficient-ml-labs"
STUDENTS = ("solution", "skeleton", "buggy", "buggy_as_committed")
TIMEOUT = 1800  # for a whole nbgrader command; a loaded CI machine is slow, a hung kernel is not
NBGRADER_METADATA_ADDED = {"checksum", "cell_type"}  # ComputeChecksums; LockCells adds deletable/editable


def nbgrader_env(root: Path) -> dict:
    """The venv's bin first (nbgrader runs `alembic` by name), and no user configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["JUPYTER_CONFIG_DIR"] = str(root / ".jupyter")
    env["IPYTHONDIR"] = str(root / ".ipython")
    env["MPLBACKEND"] = "Agg"
    return env


def nbgrader_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", *args]


def run_nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(nbgrader_cmd(*args), cwd=root, env=nbgrader_env(root), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert_config_loaded(proc.stderr)
    return proc


def assert_config_loaded(log: str) -> None:
    # traitlets logs an error in nbgrader_config.py and carries on with the defaults (a 30 s cell
    # timeout, every cell executed...): that must fail the test, not quietly change it.
    assert "Exception while loading config file" not in log, log[-6000:]


def write_config(root: Path) -> None:
    lines = [
        "c = get_config()",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}",
        "# seconds per cell: the slowest experiment cell takes ~30 s on an idle core",
        "c.Execute.timeout = 900",
        "c.ExecutePreprocessor.timeout = 900",
        "# a submission without its test cells (deleted, or an old copy) gets them back, hidden tests included",
        "c.OverwriteCells.add_missing_cells = True",
    ]
    if not RUN_EXPERIMENTS:
        lines += [
            "# Skip the exp_* cells (never graded, all after the last test cell), as `course grade` does.",
            "from labgrader.exports.nbgrader import autograde_preprocessors",
            "c.Autograde.autograde_preprocessors = autograde_preprocessors()",
        ]
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def with_exercise_cells_of(nb, donor, lab):
    """``nb`` with each exercise cell's source taken from ``donor`` (matched by grade_id)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    donor_src = {grade_id(c): c.source for c in donor.cells if c.cell_type == "code"}
    exercises = {e.id for e in lab.exercises}
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and grade_id(cell) in exercises and grade_id(cell) in donor_src:
            cell.source = donor_src[grade_id(cell)]
            replaced += 1
    assert replaced == len(exercises)
    return nb


def without_test_cells(nb):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not grade_id(c).startswith(TEST_PREFIX)]
    return nb


def grade_cells_in(nb) -> set[str]:
    return {grade_id(c) for c in nb.cells if grade_id(c).startswith(TEST_PREFIX)}


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory, course, lab01):
    """Generate, submit, autograde with nbgrader and grade with `course grade`, concurrently."""
    root = tmp_path_factory.mktemp("nbgrader_course")
    write_config(root)
    source = root / "source" / lab01.id / lab01.notebook
    source.parent.mkdir(parents=True)
    shutil.copyfile(lab01.solution_path(course.root), source)

    generate = run_nbgrader(root, "generate_assignment", lab01.id)
    release = root / "release" / lab01.id / lab01.notebook
    assert release.is_file(), generate.stderr[-3000:]
    shutil.copyfile(root / "gradebook.db", root / "gradebook_as_generated.db")

    solution_nb = nbformat.read(source, as_version=4)
    release_nb = nbformat.read(release, as_version=4)
    committed_buggy = course.root / "examples" / lab01.id / "buggy.ipynb"
    buggy_nb = nbformat.read(committed_buggy, as_version=4)
    submissions = {
        "solution": without_solution_markers(solution_nb),
        "skeleton": release_nb,
        "buggy": with_exercise_cells_of(release_nb, buggy_nb, lab01),
        "buggy_as_committed": without_test_cells(buggy_nb),
    }
    files = {}
    ours_in = root / "for_course_grade"
    ours_in.mkdir()
    for student, nb in submissions.items():
        path = root / "submitted" / student / lab01.id / lab01.notebook
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        files[student] = ours_in / f"{student}.ipynb"  # `course grade` names results by file stem
        shutil.copyfile(path, files[student])

    # nbgrader autograde (one kernel at a time) and `course grade` (sandbox workers) side by side
    log = root / "autograde.log"
    with open(log, "w", encoding="utf-8") as fh:
        autograde = subprocess.Popen(nbgrader_cmd("autograde", lab01.id), cwd=root, env=nbgrader_env(root),
                                     stdout=fh, stderr=subprocess.STDOUT)
        try:
            results_dir = root / "course_grade"
            summary = grade_batch(course, lab01, list(files.values()), results_dir, jobs=2)
            autograde.wait(timeout=TIMEOUT)
        finally:
            if autograde.poll() is None:
                autograde.kill()
                autograde.wait()
    err = log.read_text(encoding="utf-8")
    assert autograde.returncode == 0, f"nbgrader autograde failed:\n{err[-6000:]}"
    assert_config_loaded(err)
    assert not summary.failed, summary.failed
    return {
        "root": root, "db_url": f"sqlite:///{root / 'gradebook.db'}", "release": release,
        "solution_nb": solution_nb, "submissions": submissions, "results": summary.results,
        "results_dir": results_dir, "autograde_log": err,
    }


def nbgrader_grades(db_url: str, lab, students=STUDENTS) -> dict:
    """student -> {"cells": {grade cell: (auto_score, needs_manual_grade)}, "score", "max_score"}."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url, COURSE_ID) as gb:
        for student in students:
            sub = gb.find_submission(lab.id, student)
            (nb,) = sub.notebooks
            out[student] = {
                "cells": {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades},
                "score": sub.score,
                "max_score": sub.max_score,
            }
    return out


# -- generate_assignment --------------------------------------------------------------------------
def test_release_is_our_student_notebook(roundtrip, course, lab01):
    ours = nbformat.read(lab01.lab_path(course.root), as_version=4)
    theirs = nbformat.read(roundtrip["release"], as_version=4)
    assert len(theirs.cells) == len(ours.cells)
    for a, b in zip(theirs.cells, ours.cells):
        where = f"cell {b.get('id')}"
        assert (a.cell_type, a.get("id"), a.source) == (b.cell_type, b.get("id"), b.source), where
        if a.cell_type == "code":
            assert a.outputs == [] and a.execution_count is None, where
        meta_a = {k: v for k, v in a.metadata.get("nbgrader", {}).items() if k not in NBGRADER_METADATA_ADDED}
        assert meta_a == b.metadata.get("nbgrader", {}), where
        assert set(a.metadata) - set(b.metadata) <= {"deletable", "editable"}, where
    # the hidden tests are gone, and the skeletons are nbgrader's
    assert "### BEGIN HIDDEN TESTS" not in json.dumps(theirs.cells) and BEGIN not in json.dumps(theirs.cells)


def test_gradebook_cells_are_the_exercises(roundtrip, lab01):
    from nbgrader.api import Gradebook

    with Gradebook(roundtrip["db_url"], COURSE_ID) as gb:
        nb = gb.find_notebook(notebook_name(lab01), lab01.id)
        cells = {c.name: c.max_score for c in nb.grade_cells}
        # the hidden tests are in the gradebook's copy of each test cell: autograde restores them
        for ex in lab01.exercises:
            src = gb.find_source_cell(f"{TEST_PREFIX}{ex.id}", notebook_name(lab01), lab01.id).source
            assert f'grade("{lab01.id}", "{ex.id}"' in src
    assert {k: v for k, v in cells.items() if k.startswith(TEST_PREFIX)} == {
        f"{TEST_PREFIX}{ex.id}": float(ex.points) for ex in lab01.exercises}
    # the written answers are nbgrader's manually graded cells, with course.toml's points
    assert {k: v for k, v in cells.items() if not k.startswith(TEST_PREFIX)} == lab01.question_points()
    assert sum(cells.values()) == pytest.approx(lab01.max_score + lab01.manual_max)


def test_experiments_come_after_every_test_cell(roundtrip):
    """Why skipping the exp_* cells in autograde cannot change a grade."""
    ids = [grade_id(c) for c in roundtrip["solution_nb"].cells]
    last_test = max(i for i, g in enumerate(ids) if g.startswith(TEST_PREFIX))
    assert all(i > last_test for i, g in enumerate(ids) if g.startswith(EXPERIMENT_PREFIX))


def test_experiment_cells_ran_only_if_asked(roundtrip, lab01):
    for student in STUDENTS:
        nb = nbformat.read(roundtrip["root"] / "autograded" / student / lab01.id / lab01.notebook, as_version=4)
        exp = [c for c in nb.cells if c.cell_type == "code" and grade_id(c).startswith(EXPERIMENT_PREFIX)]
        assert exp and all((c.execution_count is not None) == RUN_EXPERIMENTS for c in exp), student
        tests = [c for c in nb.cells if c.cell_type == "code" and grade_id(c).startswith(TEST_PREFIX)]
        assert all(c.execution_count is not None for c in tests), student


# -- autograde against course grade ---------------------------------------------------------------
@pytest.mark.parametrize("student", STUDENTS)
def test_nbgrader_autograde_agrees_with_course_grade(roundtrip, lab01, student):
    ours = roundtrip["results"][student]
    theirs = nbgrader_grades(roundtrip["db_url"], lab01, [student])[student]
    for ex in lab01.exercises:
        auto, needs_manual = theirs["cells"][f"{TEST_PREFIX}{ex.id}"]
        assert auto is not None and not needs_manual, (ex.id, auto, needs_manual)
        assert auto == pytest.approx(ours["extra_data"]["exercises"][ex.id]["score"], abs=1e-3), ex.id
    assert theirs["score"] == pytest.approx(ours["score"], abs=1e-3)
    # nbgrader counts the written answers too: manual grading, not yet done (ours: the autograded part)
    assert theirs["max_score"] == pytest.approx(ours["max_score"] + lab01.manual_max)
    if student in ("solution", "skeleton"):  # a written answer waits for a TA; an untouched one gets 0 at once
        for name in lab01.question_points():
            assert theirs["cells"][name][1] == (student == "solution"), (name, theirs["cells"][name])


def test_the_three_scores_are_the_expected_ones(roundtrip, course, lab01):
    """Agreement is not vacuous: full marks, nothing, and the buggy example's partial credit."""
    expected = load_expectations(course, lab01.id)
    got = {s: roundtrip["results"][s]["score"] for s in ("solution", "skeleton", "buggy")}
    assert got == {"solution": pytest.approx(lab01.max_score), "skeleton": 0,
                   "buggy": pytest.approx(expected["buggy"]["score"], abs=1e-3)}
    exercises = roundtrip["results"]["buggy"]["extra_data"]["exercises"]
    assert 0 < exercises["softmax_t"]["score"] < 10 and 0 < exercises["kd_loss"]["score"] < 10  # partial credit


def test_buggy_as_committed_is_graded_like_buggy(roundtrip, lab01):
    """`course grade` grades the functions whatever happened to the test cells; nbgrader, with
    add_missing_cells, re-inserts them (test_nbgrader_autograde_agrees_with_course_grade)."""
    assert not grade_cells_in(roundtrip["submissions"]["buggy_as_committed"])
    ours = {s: roundtrip["results"][s]["extra_data"]["exercises"] for s in ("buggy", "buggy_as_committed")}
    assert ours["buggy_as_committed"] == ours["buggy"]


def test_nbgrader_default_leaves_missing_test_cells_ungraded(roundtrip, lab01, tmp_path):
    """Why the course sets OverwriteCells.add_missing_cells: without it nbgrader restores only the
    test cells a submission has, and the missing ones get no auto score (needs manual grading)."""
    student = "buggy_as_committed"
    db = tmp_path / "gradebook.db"
    shutil.copyfile(roundtrip["root"] / "gradebook_as_generated.db", db)
    db_url = f"sqlite:///{db}"
    run_nbgrader(roundtrip["root"], "autograde", lab01.id, f"--student={student}",
                 "--OverwriteCells.add_missing_cells=False", f"--CourseDirectory.db_url={db_url}",
                 f"--CourseDirectory.autograded_directory={tmp_path / 'autograded'}")
    theirs = nbgrader_grades(db_url, lab01, [student])[student]
    for ex in lab01.exercises:
        assert theirs["cells"][f"{TEST_PREFIX}{ex.id}"] == (None, True), ex.id
    assert theirs["score"] == 0 and roundtrip["results"][student]["score"] > 90


def test_grade_cells_wrote_nothing_to_stderr(roundtrip, lab01):
    """determine_grade gives 0 to a grade cell with any stderr output: there must be none."""
    for student in STUDENTS:
        nb = nbformat.read(roundtrip["root"] / "autograded" / student / lab01.id / lab01.notebook, as_version=4)
        for cell in nb.cells:
            if grade_id(cell).startswith(TEST_PREFIX) and cell.cell_type == "code":
                bad = [o for o in cell.outputs if o.output_type == "error"
                       or (o.output_type == "stream" and o.name == "stderr")]
                assert not bad, (student, grade_id(cell), bad)


# -- course export nbgrader -----------------------------------------------------------------------
def assert_gradebook_matches_results(db_url: str, lab, results: dict) -> None:
    got = nbgrader_grades(db_url, lab, list(results))
    for student, res in results.items():
        for ex in lab.exercises:
            auto, needs_manual = got[student]["cells"][f"{TEST_PREFIX}{ex.id}"]
            assert auto == pytest.approx(res["extra_data"]["exercises"][ex.id]["score"], abs=1e-9), (student, ex.id)
            assert not needs_manual
        assert got[student]["score"] == pytest.approx(res["score"], abs=1e-6), student
        # the gradebook's notebook also holds the written answers (manual grading, course.toml's points)
        assert got[student]["max_score"] == pytest.approx(res["max_score"] + lab.manual_max), student


def row_counts(db: Path) -> dict:
    with sqlite3.connect(db) as con:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("assignment", "notebook", "grade_cells", "source_cell", "student", "submitted_assignment",
                          "submitted_notebook", "grade", "comment")}


def test_export_into_a_fresh_gradebook(roundtrip, course, lab01, tmp_path):
    db = tmp_path / "gradebook.db"
    db_url = f"sqlite:///{db}"
    summary = export_to_gradebook(course, lab01, roundtrip["results_dir"], db_url)
    assert summary.created_assignment and not summary.skipped
    assert summary.exported == {s: pytest.approx(roundtrip["results"][s]["score"], abs=1e-6) for s in STUDENTS}
    assert_gradebook_matches_results(db_url, lab01, roundtrip["results"])

    # the structure is generate_assignment's: same grade cells as the gradebook nbgrader itself made
    from nbgrader.api import Gradebook

    def structure(url, course_id):
        with Gradebook(url, course_id) as gb:
            nb = gb.find_notebook(notebook_name(lab01), lab01.id)
            return ({c.name: (c.max_score, c.cell_type) for c in nb.grade_cells},
                    {c.name: (c.source, c.checksum, c.locked) for c in nb.source_cells},
                    sorted(c.name for c in nb.solution_cells))
    assert structure(db_url, "default_course") == structure(roundtrip["db_url"], COURSE_ID)

    # idempotent: a second export updates the same rows
    before = row_counts(db)
    again = export_to_gradebook(course, lab01, roundtrip["results_dir"], db_url)
    assert not again.created_assignment and again.exported == summary.exported
    assert row_counts(db) == before
    assert before["student"] == len(STUDENTS) and before["submitted_assignment"] == len(STUDENTS)
    assert_gradebook_matches_results(db_url, lab01, roundtrip["results"])


def test_export_into_the_gradebook_nbgrader_made(roundtrip, course, lab01, tmp_path):
    """An instructor's gradebook (their generate_assignment and autograde) keeps its structure and
    gets our scores, including for the test cells nbgrader could not grade."""
    db = tmp_path / "gradebook.db"
    shutil.copyfile(roundtrip["root"] / "gradebook.db", db)
    before = row_counts(db)
    summary = export_to_gradebook(course, lab01, roundtrip["results_dir"], f"sqlite:///{db}", course_id=COURSE_ID)
    assert not summary.created_assignment and not summary.skipped
    assert row_counts(db) == before
    assert_gradebook_matches_results(f"sqlite:///{db}", lab01, roundtrip["results"])


def test_export_skips_what_it_cannot_use_and_refuses_bad_input(roundtrip, course, lab01, tmp_path):
    results_dir = tmp_path / "results"
    shutil.copytree(roundtrip["results_dir"] / "buggy", results_dir / "buggy")
    (results_dir / "broken").mkdir()
    (results_dir / "broken" / "results.json").write_text("{", encoding="utf-8")
    other = json.loads((results_dir / "buggy" / "results.json").read_text(encoding="utf-8"))
    other["extra_data"]["lab"] = "lab99"
    (results_dir / "other_lab").mkdir()
    (results_dir / "other_lab" / "results.json").write_text(json.dumps(other), encoding="utf-8")
    (results_dir / "no_results_yet").mkdir()
    shutil.copyfile(roundtrip["root"] / "gradebook.db", tmp_path / "gradebook.db")
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    summary = export_to_gradebook(course, lab01, results_dir, db_url, course_id=COURSE_ID)
    assert list(summary.exported) == ["buggy"]
    assert set(summary.skipped) == {"broken", "other_lab"}
    with pytest.raises(ExportError, match="no such folder"):
        export_to_gradebook(course, lab01, tmp_path / "nowhere", db_url)

    # a gradebook whose test cell is worth other points than course.toml says is refused, untouched
    with sqlite3.connect(tmp_path / "gradebook.db") as con:
        con.execute("UPDATE grade_cells SET max_score = 5 WHERE id IN "
                    "(SELECT id FROM base_cell WHERE name = 'test_kd_loss')")
    before = row_counts(tmp_path / "gradebook.db")
    with pytest.raises(ExportError, match="test_kd_loss is worth 5 points"):
        export_to_gradebook(course, lab01, results_dir, db_url, course_id=COURSE_ID)
    assert row_counts(tmp_path / "gradebook.db") == before


def test_export_of_late_results_and_the_cli_entry_point(roundtrip, course, lab01, tmp_path, capsys):
    from nbgrader.api import Gradebook

    from labgrader.exports.nbgrader import export_command
    from labgrader.late import apply_late_policy

    submitted = lab01.due + dt.timedelta(days=1, hours=3)
    late = apply_late_policy(roundtrip["results"]["buggy"], lab01, submitted)
    assert late["score"] < roundtrip["results"]["buggy"]["score"]
    (tmp_path / "results" / "late").mkdir(parents=True)
    (tmp_path / "results" / "late" / "results.json").write_text(json.dumps(late), encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert export_command(course, lab01.id, str(tmp_path / "results"), db_url) == 0
    out = capsys.readouterr().out
    assert "1 submission(s) of lab01 written" in out and "late" in out
    assert_gradebook_matches_results(db_url, lab01, {"late": late})
    with Gradebook(db_url) as gb:
        stamp = gb.find_submission(lab01.id, "late").timestamp
    assert stamp == submitted.astimezone(dt.timezone.utc).replace(tzinfo=None)  # nbgrader stores naive UTC
    with pytest.raises(ExportError, match="lab99"):
        export_command(course, "lab99", str(tmp_path / "results"), db_url)
