"""The hostile corpus (tests/hostile/lab01): every case gets its exact score and reason, in one batch.

The corpus (see tests/hostile/lab01/make_corpus.py) is mostly "the full solution plus one hostile
thing": loops, sleeps, exits, bombs, floods, network, reading or importing the hidden reference,
monkeypatching, rigged return values, edited cells, and files that are not a notebook at all.
``expected.toml`` holds each case's exact score, the words the grader must use, and why.

All of it is graded in ONE ``grade_batch(..., jobs=2)`` beside the clean full solution and the
untouched skeleton (which must still get 100 and 0: a hostile neighbour changes nothing), by a
copy of the course with small limits so that the batch takes about a minute. Then: no grader
errors, every score and reason as expected, and nothing that only the reference, the hidden
checks or the solutions contain appears in any results.json or the gradebook.

Some cases are graded only in the bubblewrap sandbox (``bwrap_only``): their expectation needs it,
or they are dangerous without it (a fork bomb is unbounded for root, kill_parent would kill the
grader). Without bubblewrap those tests are skipped, saying so; the rest run in the process mode.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from labgrader.config import REPO_ROOT
from labgrader.grade import BatchSummary, grade_batch, grade_submission
from labgrader.sandbox.session import MODE_BWRAP, MODE_PROCESS, bubblewrap_available

CORPUS = REPO_ROOT / "tests" / "hostile" / "lab01"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
GRADING = EXPECTED["grading"]
CASES: dict[str, dict] = EXPECTED["cases"]
BATCH = {name: case for name, case in CASES.items() if "known_bug" not in case}
BWRAP = bubblewrap_available()
NO_BWRAP = ("bubblewrap is not available here (it needs bwrap and root, or COURSE_SANDBOX=process is set): "
            "this case is graded only inside the bubblewrap sandbox")
STDOUT_EXCERPT_CHARS = 1000  # grade.py keeps this much of what the student's code printed


def _load(path: Path, name: str) -> types.ModuleType:
    """A file of tests/hostile as a module (run from source: no __pycache__ in the corpus)."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[module.__name__] = module  # dataclasses and the like look their module up
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


make_corpus = _load(CORPUS / "make_corpus.py", "hostile_make_corpus")
all_labs = _load(REPO_ROOT / "tests" / "hostile" / "all_labs.py", "hostile_all_labs")


def small_course(root: Path):
    """A copy of the course (course.toml, labs/, solutions/) whose [grading] is expected.toml's."""
    return all_labs.small_course(root, REPO_ROOT, GRADING)


def strings(value):
    """Every string inside a JSON value (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def haystack(result: dict) -> str:
    """Where a reason may appear: the fatal error, the summary text, each test's output, cell errors."""
    extra = result["extra_data"]
    return "\n".join([extra.get("fatal", ""), result.get("output", ""), *(t["output"] for t in result["tests"]),
                      *(c["error"] for c in extra.get("cells", []))])


# -- the batch ----------------------------------------------------------------------------------------
@dataclass
class Graded:
    summary: BatchSummary
    out: Path
    seconds: float
    names: list[str]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = tmp_path_factory.mktemp("hostile")
    course = small_course(root / "course")
    lab = course.lab("lab01")
    subs = root / "submissions"
    subs.mkdir()
    for name, case in BATCH.items():
        if case.get("bwrap_only") and not BWRAP:
            continue
        target = subs / f"{name}.ipynb"
        if "generated" in case:
            getattr(make_corpus, case["generated"])(target)
        else:
            shutil.copy(CORPUS / case["file"], target)
    shutil.copy(lab.solution_path(course.root), subs / "clean_solution.ipynb")
    shutil.copy(lab.lab_path(course.root), subs / "untouched_skeleton.ipynb")
    names = sorted(p.stem for p in subs.glob("*.ipynb"))
    start = time.monotonic()
    summary = grade_batch(course, lab, [subs], root / "out", jobs=2, force=True)
    seconds = time.monotonic() - start
    print(f"\nhostile batch: {len(names)} submissions graded in {seconds:.0f} s ({'bubblewrap' if BWRAP else 'process'} mode)")
    return Graded(summary, root / "out", seconds, names)


def test_the_corpus_and_its_expectations_match():
    files = {p.name for p in CORPUS.glob("*.ipynb")}
    named = {case["file"] for case in CASES.values() if "file" in case}
    assert files == named, f"notebooks without an expectation: {files - named}; expectations without a file: {named - files}"
    assert len(BATCH) >= 25
    for name, case in CASES.items():
        assert case.get("why"), name
        assert ("file" in case) != ("generated" in case), name
        if "known_bug" not in case:
            assert isinstance(case["score"], (int, float)) and case["reason"], name
    assert all(p.stat().st_size < 64 * 1024 for p in CORPUS.glob("*.ipynb")), "keep the committed corpus small"


@pytest.mark.slow
def test_every_submission_is_graded_and_the_grader_never_fails(graded):
    assert graded.summary.failed == {}
    assert sorted(graded.summary.graded) == graded.names
    for name in graded.names:
        assert (graded.out / name / "results.json").is_file(), name
    rows = (graded.out / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    assert sorted(row.split(",", 1)[0] for row in rows[1:]) == graded.names


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BATCH))
def test_hostile_case(graded, name):
    case = BATCH[name]
    if case.get("bwrap_only") and not BWRAP:
        pytest.skip(NO_BWRAP)
    result = graded.summary.results[name]
    text = haystack(result)
    assert result["score"] == case["score"], f"{name}: {case['why']}\n{result['output']}"
    for reason in case["reason"]:
        alternatives = reason if isinstance(reason, list) else [reason]  # a list: any one of these
        assert any(r in text for r in alternatives), f"{name}: the report should say {reason!r}\n{result['output']}"
    for key, value in case.get("extra_data", {}).items():
        assert result["extra_data"][key] == value, f"{name}: extra_data.{key}"
    if result["extra_data"]["fatal"]:
        assert result["extra_data"]["sandbox"] == "", name
    else:
        assert result["extra_data"]["sandbox"].startswith(MODE_BWRAP if BWRAP else MODE_PROCESS), name


@pytest.mark.slow
def test_other_submissions_in_the_batch_are_unaffected(graded):
    clean = graded.summary.results["clean_solution"]
    assert clean["score"] == clean["max_score"] == 100
    assert {e["summary"] for e in clean["extra_data"]["exercises"].values()} == {"all checks passed"}
    assert clean["extra_data"]["restarts"] == 0
    skeleton = graded.summary.results["untouched_skeleton"]
    assert skeleton["score"] == 0
    assert {e["summary"] for e in skeleton["extra_data"]["exercises"].values()} == {"not implemented"}


def _solution_only_texts() -> list[str]:
    """Text that only the reference, the hidden checks or the solutions hold (not the corpus, not labs/)."""
    public = [(REPO_ROOT / "labs" / make_corpus.NOTEBOOK).read_text(encoding="utf-8")]
    for p in CORPUS.glob("*.ipynb"):
        raw = p.read_bytes().decode("utf-8", "replace")
        public.append(raw)
        try:
            public.extend(strings(json.loads(raw)))
        except (ValueError, RecursionError):  # the corpus's not-JSON cases
            pass
    public_text = "\n".join(public)
    reference = (REPO_ROOT / "reference_impl" / "distillation.py").read_text(encoding="utf-8")
    only = [line.strip() for line in reference.splitlines()
            if len(line.strip()) >= 30 and line.strip() not in public_text]
    assert any("the NumPy reference graded in Lab 1" in line for line in only)  # the module docstring, at least
    solution = nbformat.read(REPO_ROOT / "solutions" / make_corpus.NOTEBOOK, as_version=4)
    answers = [c.source.strip()[:60] for c in solution.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("answer_")]
    checks = (REPO_ROOT / "labgrader" / "checks" / "lab01_distillation.py").read_text(encoding="utf-8")
    return [*only, *answers, make_corpus.BEGIN, checks.splitlines()[0].strip('"'), "def _distinct_max("]


@pytest.mark.slow
def test_nothing_of_the_reference_leaks(graded):
    secrets = _solution_only_texts()
    def without_own_answers(result: dict) -> dict:  # a submission's written answers are echoed for the TA
        result.get("extra_data", {}).pop("answers", None)  # (clean_solution's are the solution's own text)
        return result

    outputs = {f.parent.name: "\n".join(strings(without_own_answers(json.loads(f.read_text(encoding="utf-8")))))
               for f in graded.out.glob("*/results.json")}
    outputs["gradebook.csv"] = (graded.out / "gradebook.csv").read_text(encoding="utf-8")
    for where, text in outputs.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{where} shows text of the reference or the solutions: {leaked[:3]}"


@pytest.mark.slow
def test_reports_stay_small_whatever_the_submission_printed(graded):
    for f in graded.out.glob("*/results.json"):
        result = json.loads(f.read_text(encoding="utf-8"))
        assert len(result["extra_data"].get("stdout_excerpt", "")) <= STDOUT_EXCERPT_CHARS, f.parent.name
        assert f.stat().st_size < 200 * 1024, f.parent.name
    flood = graded.summary.results.get("stdout_flood")
    assert flood is not None and flood["extra_data"]["stdout_excerpt"] == "x" * STDOUT_EXCERPT_CHARS


# -- the process fallback ------------------------------------------------------------------------------
READ_CASES = ("read_reference_relative", "read_reference_absolute")


@pytest.mark.slow
def test_reading_the_reference_in_process_mode(tmp_path, monkeypatch):
    """Without bubblewrap the worker is an ordinary process of the grader's user: it CAN read the
    repository. The report says which sandbox graded it (extra_data.sandbox) so this is visible."""
    course = small_course(tmp_path / "course")
    lab = course.lab("lab01")
    reference_docstring = "Knowledge distillation: the NumPy reference graded in Lab 1."
    with monkeypatch.context() as m:
        m.setenv("COURSE_SANDBOX", "process")
        m.chdir(REPO_ROOT)  # the grader runs from the course's folder, as `course grade` usually does
        results = {name: grade_submission(course, lab, CORPUS / f"{name}.ipynb") for name in READ_CASES}
    for name, r in results.items():
        assert r["extra_data"]["sandbox"].startswith(MODE_PROCESS), name
        assert f"Graded in the sandbox ({MODE_PROCESS}" in r["output"], name

    # Relative paths start in the worker's private temporary folder: nothing of the course above it.
    if not Path(tempfile.gettempdir()).resolve().is_relative_to(REPO_ROOT):
        relative = results["read_reference_relative"]
        assert relative["score"] == 0
        assert "could not read the reference or the solutions by a relative path" in haystack(relative)

    # Absolute paths work: the grader's own working directory (/proc/<ppid>/cwd) is the repository. The
    # student's code runs the reference (full marks) and prints it into the report.
    absolute = results["read_reference_absolute"]
    assert absolute["score"] == absolute["max_score"]
    assert reference_docstring in absolute["extra_data"]["stdout_excerpt"]

    if not BWRAP:
        pytest.skip("bubblewrap is not available here (needs bwrap and root): cannot show that its sandbox, "
                    "unlike the process mode, hides the repository")
    with monkeypatch.context() as m:
        m.chdir(REPO_ROOT)
        for name in READ_CASES:
            r = grade_submission(course, lab, CORPUS / f"{name}.ipynb")
            assert r["extra_data"]["sandbox"] == MODE_BWRAP
            assert r["score"] == 0, name
            assert reference_docstring not in "\n".join(strings(r)), name

