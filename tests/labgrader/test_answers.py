"""Written answers: points from course.toml, collected at grading for the TA, scores merged from a CSV."""

from __future__ import annotations

import csv
import dataclasses
import shutil

import nbformat
import pytest

from labgrader.answers import UNANSWERED, collect_answers
from labgrader.build import answer_cells, set_answer_points
from labgrader.cli import main
from labgrader.config import CourseConfigError, load_course


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course, lab01):
    """The solution (answers written) and the skeleton (untouched) graded by `course grade`."""
    tmp = tmp_path_factory.mktemp("answers")
    subs = tmp / "subs"
    subs.mkdir()
    shutil.copy(lab01.solution_path(course.root), subs / "alice.ipynb")
    shutil.copy(lab01.lab_path(course.root), subs / "bob.ipynb")
    out = tmp / "out"
    assert main(["grade", "lab01", str(subs), "--out", str(out), "--profile", "quick"]) == 0
    return out


def test_collect_answers_takes_the_text_and_treats_the_placeholder_as_no_answer(course, lab01):
    solution = nbformat.read(lab01.solution_path(course.root), as_version=4)
    skeleton = nbformat.read(lab01.lab_path(course.root), as_version=4)
    names = list(lab01.question_points())
    written = collect_answers(lab01, solution)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells if "nbgrader" in c.metadata}
    assert written == {n: by_id[n].strip() for n in names} and all(written.values())
    assert collect_answers(lab01, skeleton) == {n: "" for n in names}
    solution.cells = [c for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") != names[0]]
    assert collect_answers(lab01, solution)[names[0]] == ""  # a deleted answer cell is no answer


def test_answers_sheet_and_gradebook_after_grading(graded, lab01, course):
    sheet = rows(graded / "answers.csv")
    names = list(lab01.question_points())
    assert [(r["question"], r["submission"]) for r in sheet] == [(q, s) for q in names for s in ("alice", "bob")]
    solution = nbformat.read(lab01.solution_path(course.root), as_version=4)
    first = next(c.source for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == names[0])
    assert sheet[0]["answer"] == first.strip() and sheet[1]["answer"] == UNANSWERED
    assert all(r["score"] == "" and r["max_points"] == "5" for r in sheet)
    book = {r["submission"]: r for r in rows(graded / "gradebook.csv")}
    assert float(book["alice"]["score"]) == lab01.max_score and book["alice"]["total_max"] == "125.0"
    assert float(book["alice"]["total"]) == lab01.max_score and book["alice"][names[0]] == ""


def test_ta_scores_are_merged_into_the_gradebook_total(graded, lab01, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    sheet = rows(out / "answers.csv")
    given = {("alice", "answer_1"): 4.5, ("alice", "answer_2"): 5, ("bob", "answer_1"): 0}
    for r in sheet:
        r["score"] = given.get((r["submission"], r["question"]), "")
    with open(tmp_path / "ta.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(sheet[0]))
        w.writeheader()
        w.writerows(sheet)
    assert main(["scores", "lab01", str(out), "--csv", str(tmp_path / "ta.csv")]) == 0
    book = {r["submission"]: r for r in rows(out / "gradebook.csv")}
    assert float(book["alice"]["manual_score"]) == 9.5 and float(book["alice"]["answer_1"]) == 4.5
    assert float(book["alice"]["total"]) == float(book["alice"]["score"]) + 9.5
    assert book["alice"]["answer_3"] == "" and float(book["bob"]["total"]) == float(book["bob"]["score"])
    # a second sheet with one changed score replaces that score only
    (tmp_path / "fix.csv").write_text("submission,question,score\nalice,answer_1,2\n", encoding="utf-8")
    assert main(["scores", "lab01", str(out), "--csv", str(tmp_path / "fix.csv")]) == 0
    book = {r["submission"]: r for r in rows(out / "gradebook.csv")}
    assert float(book["alice"]["manual_score"]) == 7.0
    assert {(r["submission"], r["question"]): r["score"] for r in rows(out / "answers.csv")}[("alice", "answer_1")] == "2"


@pytest.mark.parametrize("line, message", [
    ("alice,answer_1,6", "outside 0..5"),
    ("alice,answer_9,1", "no question 'answer_9'"),
    ("carol,answer_1,1", "no graded submission 'carol'"),
    ("alice,answer_1,five", "must be a number"),
])
def test_a_bad_ta_score_is_refused_naming_the_line(graded, tmp_path, capsys, line, message):
    (tmp_path / "ta.csv").write_text(f"submission,question,score\nalice,answer_2,1\n{line}\n", encoding="utf-8")
    before = (graded / "gradebook.csv").read_bytes()
    assert main(["scores", "lab01", str(graded), "--csv", str(tmp_path / "ta.csv")]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and message in err
    assert (graded / "gradebook.csv").read_bytes() == before and not (graded / "manual_scores.csv").exists()


def test_answer_cells_get_course_toml_points_and_a_lab_without_them_is_an_error(course, lab01):
    from labgrader.labsource import read_source, source_path
    nb = read_source(source_path(course.root, lab01), lab01, course.root)
    names = answer_cells(nb)
    assert names == list(lab01.question_points())
    set_answer_points(nb, lab01)
    assert {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
            if c.metadata["nbgrader"]["grade_id"] in names} == lab01.question_points()
    with pytest.raises(ValueError, match=r"no points for them: add .*questions = \{ answer_1 = 5"):
        set_answer_points(nb, dataclasses.replace(lab01, questions=None))
    with pytest.raises(ValueError, match="give no points to answer_5"):
        set_answer_points(nb, dataclasses.replace(lab01, questions=lab01.questions[:4]))
    with pytest.raises(ValueError, match="answer_9, which is no answer cell"):
        set_answer_points(nb, dataclasses.replace(lab01, questions=(*lab01.questions, ("answer_9", 1.0))))


def test_course_toml_questions_must_be_points(course, tmp_path):
    text = course.path.read_text(encoding="utf-8").replace("answer_2 = 5,", "answer_2 = 'five',", 1)
    (tmp_path / "course.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CourseConfigError, match=r"line \d+: labs\[0\]\.questions.*answer_2 must be a number"):
        load_course(tmp_path / "course.toml", resolve_references=False)


def test_the_submission_report_shows_the_written_answers_escaped(graded, lab01):
    import json

    from labgrader.reports import submission_html
    results = json.loads((graded / "alice" / "results.json").read_text(encoding="utf-8"))
    results["extra_data"]["answers"]["answer_2"] = "<script>alert(1)</script> x < y"
    page = submission_html(results)
    assert '<h2>Written answers</h2>' in page and "&lt;script&gt;alert(1)&lt;/script&gt; x &lt; y" in page
    assert "<script>" not in page
    bob = json.loads((graded / "bob" / "results.json").read_text(encoding="utf-8"))
    assert submission_html(bob).count("<em>no answer</em>") == len(lab01.question_points())
