"""The `course` command: verbs and exit codes (0 ok, 1 grader failure or drift, 2 usage/config)."""

from __future__ import annotations

import json

from labgrader.cli import main


def test_build_check_is_clean(capsys):
    assert main(["build", "--check"]) == 0
    assert "match reference_impl" in capsys.readouterr().out


def test_bad_course_toml_exits_2_naming_the_line(tmp_path, capsys, course):
    bad = tmp_path / "course.toml"
    text = course.path.read_text().replace("points = 10", 'points = "ten"', 1)
    bad.write_text(text)
    line = text.splitlines().index('points = "ten"') + 1
    assert main(["--course", str(bad), "build", "--check"]) == 2
    err = capsys.readouterr().err
    assert f"course.toml line {line}: labs[0].exercises[0].points must be a number" in err


def test_unknown_lab_and_missing_path_exit_2(tmp_path, capsys):
    assert main(["grade", "lab99", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no lab 'lab99'" in capsys.readouterr().err
    assert main(["grade", "lab01", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_grade_writes_results_and_gradebook(tmp_path, capsys, course, lab01, submission_maker):
    sub = submission_maker(tmp_path / "subs" / "alice.ipynb", lab01, course)
    (tmp_path / "subs" / "broken.ipynb").write_text("{not json")
    out = tmp_path / "out"
    assert main(["grade", "lab01", str(tmp_path / "subs"), "--out", str(out), "--jobs", "2", "--profile", "quick"]) == 0
    assert json.loads((out / "alice" / "results.json").read_text())["score"] == 0
    assert json.loads((out / "broken" / "results.json").read_text())["extra_data"]["fatal"]
    assert (out / "gradebook.csv").read_text().count("\n") == 3
    assert "2 submission(s) with reports" in capsys.readouterr().out
    # Second run resumes.
    assert main(["grade", "lab01", str(sub), "--out", str(out), "--profile", "quick"]) == 0
    assert "already graded" in capsys.readouterr().out
