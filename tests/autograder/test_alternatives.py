"""No false failures: every correct alternative implementation gets full marks through the real sandbox.

Each notebook in tests/alternatives/lab01/ implements every exercise correctly but differently from
the reference (loops, other NumPy formulations, torch). If one loses points, a check is too strict:
fix the check, not the alternative (see tests/alternatives/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.grade import grade_submission

ALTERNATIVES = Path(__file__).resolve().parents[1] / "alternatives"
LAB01 = sorted((ALTERNATIVES / "lab01").glob("*.ipynb"))


def test_the_corpus_is_there():
    assert len(LAB01) >= 2, f"expected at least two alternatives notebooks in {ALTERNATIVES / 'lab01'}"


@pytest.mark.parametrize("path", LAB01, ids=[p.stem for p in LAB01])
def test_alternative_gets_full_marks(course, lab01, path):
    res = grade_submission(course, lab01, path)  # grading profile, real sandbox
    failed = [t for t in res["tests"] if t["status"] != "passed"]
    report = "\n\n".join(f"[{t['name']}]\n{t['output']}" for t in failed)
    cells = res["extra_data"].get("cells", [])
    assert not cells, f"{path.name}: cells raised while loading: {cells}"
    assert res["score"] == res["max_score"], (
        f"{path.name} is a correct implementation but got {res['score']:g} / {res['max_score']:g}: "
        f"a check is too strict (fix the check, not the alternative).\n\n{report}"
    )
