"""Quoted numbers in the lab sources are the figures the full-size run measured (labgrader/claims.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from labgrader.config import REPO_ROOT
from labgrader.claims import check, claims_path, main, parse_numbers

SOURCES = sorted(p for p in (REPO_ROOT / "labsrc").glob("*.py") if claims_path(p).exists())


def _figures(source):
    data = json.loads(source.with_name(source.stem + ".figures.json").read_text())
    assert data["quick"] is False, "the committed figures must come from a full-size run"
    return data["figures"]


def test_lab01_has_claims():
    assert REPO_ROOT / "labsrc" / "lab01_distillation.py" in SOURCES


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_quoted_number_is_what_the_last_full_run_measured(source):
    assert check(source, _figures(source)) == []


def _copy(tmp_path, name="lab01_distillation"):
    for suffix in (".py", ".claims.toml", ".figures.json"):
        shutil.copy(REPO_ROOT / "labsrc" / (name + suffix), tmp_path / (name + suffix))
    return tmp_path / (name + ".py")


def test_editing_a_quoted_number_fails_the_check(tmp_path):
    source = _copy(tmp_path)
    source.write_text(source.read_text().replace("**0.975 test**", "**0.976 test**"))
    problems = check(source, _figures(source))
    assert len(problems) == 1 and "claims[0]" in problems[0] and "occurs 0 times" in problems[0]
    # and the CLI the site build runs exits 1
    assert main([str(source), str(source.with_name(source.stem + ".figures.json"))]) == 1


def test_a_run_that_measures_something_else_fails_the_check(tmp_path):
    source = _copy(tmp_path)
    figures = dict(_figures(source), teacher_test_accuracy=0.9756)  # rounds to 0.976, the text says 0.975
    (problem,) = check(source, figures)
    assert "quotes 0.975 for teacher_test_accuracy, the run measured 0.9756" in problem
    assert check(source, dict(figures, teacher_test_accuracy=0.9754)) == []  # within half a unit of 0.975
    missing = {k: v for k, v in figures.items() if k != "teacher_val_accuracy"}
    assert any("wrote no figure 'teacher_val_accuracy'" in p for p in check(source, missing))


def test_timings_cannot_be_claimed_and_quick_runs_are_refused(tmp_path):
    source = _copy(tmp_path)
    claims = claims_path(source)
    claims.write_text('[[claims]]\ncell = "md_results"\nquote = "0.975 test"\nfigures = ["runtime_s"]\n')
    (problem,) = check(source, {"runtime_s": 0.975})
    assert "machine-dependent" in problem
    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps({"lab": "lab01", "quick": True, "figures": {}}))
    assert main([str(source), str(quick)]) == 2


def test_numbers_are_parsed_with_their_precision():
    assert parse_numbers("85,002 parameters, −0.012 | **+0.091**, 0.95") == [
        (85002.0, 0.5), (-0.012, 0.0005), (0.091, 0.0005), (0.95, 0.005)]
