"""`course grade` on the inputs people get wrong: each gets a clear message and its documented exit code
(labgrader/cli.py: 2 bad usage, 3 nothing to grade)."""

from __future__ import annotations

import csv

import pytest

from labgrader.cli import main


def _grade(*argv) -> int:
    return main(["grade", *map(str, argv), "--profile", "quick", "--jobs", "1"])


def test_one_notebook_prints_the_students_report(tmp_path, capsys, course, lab01, submission_maker):
    sub = submission_maker(tmp_path / "alice.ipynb", lab01, course)
    out = tmp_path / "out"
    assert _grade("lab01", sub, "--out", out) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'alice' / 'report.html'}" in printed
    assert (out / "alice" / "report.html").is_file()


def test_deleted_submissions_leave_the_gradebook_and_the_class_report(tmp_path, capsys, course, lab01,
                                                                      submission_maker):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in ("ann", "bob", "cy"):
        submission_maker(subs / f"{name}.ipynb", lab01, course)
    assert _grade("lab01", subs, "--out", out) == 0
    (subs / "bob.ipynb").unlink()
    assert _grade("lab01", subs, "--out", out) == 0
    with open(out / "gradebook.csv", newline="") as fh:
        assert [r["submission"] for r in csv.DictReader(fh)] == ["ann", "cy"]
    page = (out / "report.html").read_text()
    assert 'id="n-submissions">2<' in page and "bob/report.html" not in page and "ann/report.html" in page


def test_out_naming_a_file_is_a_usage_error(tmp_path, capsys, course, lab01, submission_maker):
    sub = submission_maker(tmp_path / "alice.ipynb", lab01, course)
    (tmp_path / "out.csv").write_text("x")
    assert _grade("lab01", sub, "--out", tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file; give a folder" in err and "Traceback" not in err


def test_an_empty_folder_says_so_and_exits_3(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _grade("lab01", tmp_path / "empty", "--out", tmp_path / "out") == 3
    assert "no notebooks (*.ipynb) found in" in capsys.readouterr().err


def test_a_notebook_of_another_lab_is_named(tmp_path, capsys, course, lab01, submission_maker):
    sub = submission_maker(tmp_path / "mine.ipynb", lab01, course, from_solution=True)
    out = tmp_path / "out"
    assert _grade("lab03", sub, "--out", out) == 0
    err = capsys.readouterr().err
    assert "no function of lab03 found; this looks like lab01" in err
    assert "No function of lab03 found; this looks like lab01" in (out / "mine" / "report.html").read_text()


@pytest.mark.parametrize("layout, jobs, prestarts", [
    ("one file", 2, True), ("two files", 1, True), ("two files", 2, False), ("no file", 1, False),
    ("a missing path", 1, False)])
def test_the_first_worker_starts_early_exactly_when_one_process_will_grade(tmp_path, monkeypatch, layout, jobs,
                                                                          prestarts):
    """One rule (config.grades_serially) decides both: the pool or one process, and the early worker."""
    import labgrader.cli as cli
    import labgrader.grade as grade

    class Graded(Exception):
        pass

    started = []
    monkeypatch.setattr(cli, "prestart_worker", started.append)

    def grade_batch(course, lab, paths, out, *, jobs, **kwargs):
        raise Graded(jobs)

    monkeypatch.setattr(grade, "grade_batch", grade_batch)
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in {"one file": ["a"], "two files": ["a", "b"]}.get(layout, []):
        (subs / f"{name}.ipynb").write_text("{}")
    target = {"one file": subs / "a.ipynb", "a missing path": tmp_path / "nope"}.get(layout, subs)
    argv = ["grade", "lab01", str(target), "--out", str(tmp_path / "out"), "--jobs", str(jobs)]
    if layout in ("no file", "a missing path"):
        assert main(argv) == (3 if layout == "no file" else 2)
    else:
        with pytest.raises(Graded):
            main(argv)
    assert bool(started) == prestarts
