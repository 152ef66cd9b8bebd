"""Every claim of every lab source is live: editing its number in the text, or a run that measures something else,
fails the check (labgrader/claims.py). test_claims.py shows the mechanism on Lab 1; this file applies it
to each claim of each lab that has a claims file."""

from __future__ import annotations

import json
import shutil
import tomllib

import pytest

from labgrader.config import REPO_ROOT
from labgrader.claims import NUMBER, check, claims_path, parse_numbers

SOURCES = sorted(p for p in (REPO_ROOT / "labsrc").glob("*.py") if claims_path(p).exists())
CONVERTED_WITH_CLAIMS = ("lab01_distillation", "lab04_lowrank", "lab06_dynamic", "lab07_private_inference")


def _claims(source):
    with open(claims_path(source), "rb") as fh:
        return tomllib.load(fh)["claims"]


def _figures(source):
    return json.loads(source.with_name(source.stem + ".figures.json").read_text())["figures"]


def test_the_converted_labs_have_claims():
    assert {s.stem for s in SOURCES} >= set(CONVERTED_WITH_CLAIMS)


def _bump_last_digit(quote: str) -> str:
    """``quote`` with the last digit of its first number changed (0.965 -> 0.966, 9 -> 0)."""
    m = NUMBER.search(quote)
    i = max(k for k in range(m.start(), m.end()) if quote[k].isdigit())
    return quote[:i] + str((int(quote[i]) + 1) % 10) + quote[i + 1:]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_editing_any_quoted_number_fails_its_claim(source, tmp_path):
    copy = tmp_path / source.name
    for suffix in (".py", ".claims.toml", ".figures.json"):
        shutil.copy(source.with_name(source.stem + suffix), tmp_path / (source.stem + suffix))
    text, figures = source.read_text(encoding="utf-8"), _figures(source)
    for i, claim in enumerate(_claims(source)):
        anchor = claim.get("context", "") + claim["quote"]
        edited = claim.get("context", "") + _bump_last_digit(claim["quote"])
        assert anchor in text, f"claims[{i}]: {anchor!r} is not on one line of {source.name}"
        copy.write_text(text.replace(anchor, edited), encoding="utf-8")
        problems = check(copy, figures)
        assert any(f"claims[{i}] " in p for p in problems), f"claims[{i}] ({claim['quote']!r}) survived an edit"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_a_run_that_measures_something_else_fails_every_claimed_figure(source):
    figures, tolerance = _figures(source), {}
    for claim in _claims(source):
        for (_, default), name in zip(parse_numbers(claim["quote"]), claim["figures"]):
            tolerance[name] = max(tolerance.get(name, 0.0), claim.get("tolerance", default))
    for name, tol in sorted(tolerance.items()):
        moved = dict(figures, **{name: figures[name] + 3 * tol})  # at least 2 tolerances from any quote of it
        assert any(name in p for p in check(source, moved)), f"moving {name} by {3 * tol:g} went unnoticed"
