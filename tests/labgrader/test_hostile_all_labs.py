"""The hostile corpus for every lab (tests/hostile/all_labs.py): exact scores and reasons, nothing leaks.

The same classes of attack as Lab 1's hand-made corpus (tests/labgrader/test_hostile.py), generated
for every lab in course.toml from its own exercise list: hangs and crashes planted in the exercises no
other exercise calls, top-level cells that loop, flood, bomb, exit and fork, and the skeleton "solved"
by importing the hidden reference. One ``grade_batch(jobs=2)`` per lab, with the clean solution in the
same batch (full marks), in a copy of the course with few examples and small limits. A file of its own
so that ``pytest -n 2 --dist loadfile`` runs it beside Lab 1's corpus, not after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import nbformat
import pytest
from test_hostile import BWRAP, all_labs, haystack, strings

from labgrader.config import REPO_ROOT, load_course
from labgrader.grade import grade_batch
from labgrader.sandbox.session import MODE_BWRAP, MODE_PROCESS


ALL_LABS_GRADING = {  # few examples: the point is containment and exact points, not the checks' power
    "examples_per_property": 3,
    "time_limit_per_call_s": 3.0,
    "time_limit_per_submission_s": 90.0,
    "memory_limit_mb": 1024,
    "output_limit_kb": 256,
}
LAB_IDS = [lab.id for lab in load_course().labs]


@dataclass
class AllLabs:
    cases: dict[tuple[str, str], object]  # (lab, case) -> all_labs.Case
    results: dict[tuple[str, str], dict]
    failed: dict[str, dict]
    seconds: float
    course: object


@pytest.fixture(scope="module")
def every_lab(tmp_path_factory) -> AllLabs:
    """Each lab's hostile, reference and clean submissions, one grade_batch(jobs=2) per lab, one after another."""
    root = tmp_path_factory.mktemp("hostile_all_labs")
    course = all_labs.small_course(root / "course", REPO_ROOT, ALL_LABS_GRADING)
    cases = {(c.lab, c.name): c for c in all_labs.corpus(course, call_seconds=ALL_LABS_GRADING["time_limit_per_call_s"],
                                                             bwrap=BWRAP, repo=REPO_ROOT)}
    results, failed = {}, {}
    start = time.monotonic()
    for lab in course.labs:
        subs = root / "submissions" / lab.id
        subs.mkdir(parents=True)
        for (lab_id, name), case in cases.items():
            if lab_id == lab.id:
                nbformat.write(case.notebook, subs / f"{name}.ipynb")
        summary = grade_batch(course, lab, [subs], root / "out" / lab.id, jobs=2, force=True)
        failed[lab.id] = summary.failed
        results.update({(lab.id, name): r for name, r in summary.results.items()})
    seconds = time.monotonic() - start
    print(f"\nhostile batches for {len(course.labs)} labs: {len(cases)} submissions graded in {seconds:.0f} s "
          f"({'bubblewrap' if BWRAP else 'process'} mode)")
    return AllLabs(cases, results, failed, seconds, course)


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_lab_hostile_corpus_gets_its_exact_scores(every_lab, lab_id):
    assert every_lab.failed[lab_id] == {}
    for name in ("hangs", "crashes", "reference", "clean"):
        case, result = every_lab.cases[(lab_id, name)], every_lab.results[(lab_id, name)]
        text = haystack(result)
        assert result["score"] == case.score, f"{lab_id}/{name}\n{result['output']}"
        for reason in case.reasons:
            alternatives = reason if isinstance(reason, tuple) else (reason,)
            assert any(r in text for r in alternatives), f"{lab_id}/{name}: the report should say {reason!r}\n{text}"
        assert result["extra_data"]["sandbox"].startswith(MODE_BWRAP if BWRAP else MODE_PROCESS)
    clean = every_lab.results[(lab_id, "clean")]
    assert clean["score"] == clean["max_score"] > 0 and clean["extra_data"]["restarts"] == 0


def _lab_secrets(lab, submissions: list) -> list[str]:
    """Text only the lab's reference modules, hidden checks or solution answers hold (not labs/, not the
    submissions: the clean and hostile ones carry the solution's exercise cells, which are public to them)."""
    public = [(REPO_ROOT / "labs" / lab.notebook).read_text(encoding="utf-8")]
    public += [nbformat.writes(nb) for nb in submissions]
    public += [c.source for nb in submissions for c in nb.cells]
    public_text = "\n".join(public)
    modules = {ex.reference.split(":")[0] for ex in lab.exercises}
    only = []
    for module in sorted(modules):
        source = (REPO_ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        only += [line.strip() for line in source.splitlines() if len(line.strip()) >= 30 and line.strip() not in public_text]
    solution = nbformat.read(REPO_ROOT / "solutions" / lab.notebook, as_version=4)
    only += [c.source.strip()[:60] for c in solution.cells
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("answer_")
             and c.source.strip()[:60] not in public_text]
    checks = (REPO_ROOT / "labgrader" / "checks" / f"{lab.checks}.py").read_text(encoding="utf-8")
    only.append(checks.splitlines()[0].strip('"'))
    return [s for s in only if s]


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_lab_nothing_of_the_reference_leaks(every_lab, lab_id):
    lab = every_lab.course.lab(lab_id)
    secrets = _lab_secrets(lab, [c.notebook for (lid, _), c in every_lab.cases.items() if lid == lab_id])
    assert len(secrets) >= 5, f"{lab_id}: too few reference-only texts to look for"
    for name in ("hangs", "crashes", "reference", "clean"):
        text = "\n".join(strings(every_lab.results[(lab_id, name)]))
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{lab_id}/{name} shows text of the reference or the solutions: {leaked[:3]}"
