"""End-to-end grading: the demo's expectations, determinism, hostile values, bad files, batches."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from labgrader.demo import prepare
from labgrader.config import load_course
from labgrader.grade import collect_submissions, grade_batch, grade_submission, lab_checks, submission_names
from labgrader.results import strip_timings

RIGGED = '''
class AlwaysEqual:
    """Equal to everything: the classic way to pass `assert student == expected`."""
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, *a, **k):
        import numpy as np
        return np.ones(3)
    def __float__(self): return 1.0

def {name}(*args, **kwargs):
    return AlwaysEqual()
'''


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory, course, lab01):
    """The demo's example submissions graded once with the grading profile, in parallel."""
    base = tmp_path_factory.mktemp("demo")
    expected = prepare(course, "lab01", base / "subs")
    summary = grade_batch(course, lab01, [base / "subs"], base / "out", jobs=2)
    return expected, summary, base


def test_demo_examples_get_their_expected_scores(demo_results):
    expected, summary, _ = demo_results
    assert not summary.failed
    for name, spec in expected.items():
        r = summary.results[name]
        assert r["score"] == pytest.approx(spec["score"], abs=1e-3), (name, r["output"])
        if "failing" in spec:
            assert sorted(t["name"] for t in r["tests"] if t["status"] == "failed") == sorted(spec["failing"])


def test_skeleton_says_not_implemented(demo_results):
    _, summary, _ = demo_results
    r = summary.results["skeleton"]
    assert r["score"] == 0
    assert all(e["summary"] == "not implemented" for e in r["extra_data"]["exercises"].values())
    assert all("NotImplementedError" in t["output"] for t in r["tests"])


def test_buggy_feedback_names_property_and_small_counterexample(demo_results):
    _, summary, _ = demo_results
    tests = {t["name"]: t for t in summary.results["buggy"]["tests"]}
    out = tests["softmax_t: stable at large logits"]["output"]
    assert out.startswith("Property: softmax_t should stay finite")
    assert "Counterexample" in out and "logits = np.array(" in out and "10000." in out
    t2 = tests["kd_loss: t squared scaling"]["output"]
    assert "expected:" in t2 and "got:" in t2 and "without the factor T^2" in t2


def test_corrupt_file_gets_zero_with_reason(demo_results):
    _, summary, _ = demo_results
    r = summary.results["corrupt"]
    assert r["score"] == 0
    assert "not a Jupyter notebook: invalid JSON" in r["extra_data"]["fatal"]
    assert all(t["score"] == 0 and "could not be graded" in t["output"] for t in r["tests"])


def test_results_json_is_gradescope_format(demo_results):
    _, summary, base = demo_results
    data = json.loads((base / "out" / "solution" / "results.json").read_text())
    assert set(data) >= {"score", "max_score", "execution_time", "output", "visibility", "tests"}
    assert data["max_score"] == 100
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] in ("passed", "failed") and t["visibility"] == "visible"
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(100, abs=1e-2)


def test_gradebook_csv_has_a_row_per_submission(demo_results):
    expected, summary, base = demo_results
    with open(base / "out" / "gradebook.csv", newline="") as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(expected)
    for name, spec in expected.items():
        assert float(rows[name]["score"]) == pytest.approx(spec["score"], abs=1e-3)
    # kd_loss's points scale with the share of its checks that pass (the failing ones: examples/lab01/expected.toml)
    checks = lab_checks(load_course().lab("lab01"))["kd_loss"]
    failing = [f for f in expected["buggy"]["failing"] if f.startswith("kd_loss: ")]
    assert 0 < len(failing) < len(checks)
    assert float(rows["buggy"]["kd_loss"]) == pytest.approx(10 * (1 - len(failing) / len(checks)))
    assert rows["corrupt"]["status"] == "unreadable"


def test_grading_is_deterministic(demo_results, course, lab01):
    """The same submission graded twice gives identical results apart from timings."""
    _, summary, base = demo_results
    again = grade_submission(course, lab01, base / "subs" / "buggy.ipynb", name="buggy")
    assert json.dumps(strip_timings(again), sort_keys=True) == json.dumps(strip_timings(summary.results["buggy"]), sort_keys=True)


def test_rigged_eq_objects_get_no_points(tmp_path, course, lab01, submission_maker):
    overrides = {ex.id: RIGGED.format(name=ex.function_name) for ex in lab01.exercises}
    sub = submission_maker(tmp_path / "rigged.ipynb", lab01, course, overrides)
    r = grade_submission(course, lab01, sub, profile="quick")
    assert r["score"] == 0
    assert "cannot send a value of type __main__.AlwaysEqual" in r["tests"][0]["output"]


def test_not_a_notebook_and_empty_and_binary_files(tmp_path, course, lab01):
    cases = {
        "essay.ipynb": b"I did the lab in my head.",
        "empty.ipynb": b"",
        "binary.ipynb": bytes(range(256)) * 4,
        "list.ipynb": b"[1, 2, 3]",
    }
    reasons = {}
    for fname, data in cases.items():
        (tmp_path / fname).write_bytes(data)
        r = grade_submission(course, lab01, tmp_path / fname, profile="quick")
        assert r["score"] == 0 and r["max_score"] == 100
        reasons[fname] = r["extra_data"]["fatal"]
    assert "invalid JSON" in reasons["essay.ipynb"]
    assert "empty" in reasons["empty.ipynb"]
    assert "not UTF-8" in reasons["binary.ipynb"]
    assert "not a Jupyter notebook" in reasons["list.ipynb"]


def test_a_broken_cell_costs_only_what_it_defines(tmp_path, course, lab01, submission_maker):
    sol = submission_maker(tmp_path / "sol.ipynb", lab01, course, from_solution=True)
    import nbformat

    from labgrader.submission import grade_id
    nb = nbformat.read(sol, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "js_divergence":
            cell.source = "while True:\n    pass\n" + cell.source
        if grade_id(cell) == "label_loyalty":
            cell.source = cell.source + "\nraise RuntimeError('oops')"
    nbformat.write(nb, sol)
    r = grade_submission(course, lab01, sol, profile="quick")
    ex = r["extra_data"]["exercises"]
    assert ex["js_divergence"]["score"] == 0 and ex["js_divergence"]["summary"] == "not defined"
    # probability_loyalty calls js_divergence, which is missing: graded with the grader answering those
    # calls, it keeps its points (a bug costs only its exercise).
    assert ex["probability_loyalty"]["score"] == 10
    assert ex["label_loyalty"]["score"] == 10  # defined before the error
    assert ex["kd_loss"]["score"] == 10 and ex["softmax_t"]["score"] == 10
    notes = " ".join(c["error"] for c in r["extra_data"]["cells"])
    assert "took longer than" in notes and "RuntimeError: oops" in notes


def test_batch_resumes_without_regrading(tmp_path, course, lab01, submission_maker):
    subs = tmp_path / "subs"
    submission_maker(subs / "a.ipynb", lab01, course)
    submission_maker(subs / "b.ipynb", lab01, course)
    out = tmp_path / "out"
    first = grade_batch(course, lab01, [subs], out, jobs=1, profile="quick")
    assert sorted(first.graded) == ["a", "b"]
    # Interrupted batch: one result is lost; the rerun grades only that one.
    shutil.rmtree(out / "b")
    second = grade_batch(course, lab01, [subs], out, jobs=2, profile="quick")
    assert second.graded == ["b"] and second.skipped == ["a"]
    # A changed submission is regraded; --force regrades everything.
    submission_maker(subs / "a.ipynb", lab01, course, extra_cells=["x = 1"])
    third = grade_batch(course, lab01, [subs], out, jobs=1, profile="quick")
    assert third.graded == ["a"] and third.skipped == ["b"]
    forced = grade_batch(course, lab01, [subs], out, jobs=2, force=True, profile="quick")
    assert sorted(forced.graded) == ["a", "b"]
    assert not list(out.rglob("*.tmp"))


def test_submission_names_are_unique(tmp_path):
    for d in ("alice", "bob"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "lab01.ipynb").write_text("{}")
    paths = collect_submissions([tmp_path])
    names = submission_names(paths)
    assert sorted(names.values()) == ["alice__lab01", "bob__lab01"]
    with pytest.raises(FileNotFoundError):
        collect_submissions([tmp_path / "nope"])


def test_late_policy_from_nbgrader_timestamps(tmp_path, course, lab01, submission_maker):
    """1.5 days after the due date (grace 15 min, 10%/started day): 2 started days, x 0.8."""
    subs = tmp_path / "submitted"
    on_time = submission_maker(subs / "ann" / "lab01" / "lab01_distillation.ipynb", lab01, course, from_solution=True)
    late = submission_maker(subs / "bob" / "lab01" / "lab01_distillation.ipynb", lab01, course, from_solution=True)
    submission_maker(subs / "cy" / "lab01" / "lab01_distillation.ipynb", lab01, course, from_solution=True)
    due = lab01.due
    (on_time.parent / "timestamp.txt").write_text((due.replace(tzinfo=None)).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    bob_time = due.replace(tzinfo=None) + __import__("datetime").timedelta(days=1, hours=12)
    (late.parent / "timestamp.txt").write_text(bob_time.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    out = tmp_path / "out"
    summary = grade_batch(course, lab01, [subs], out, jobs=2, profile="quick", late_policy=True)
    scores = {n.split("__")[0]: r["score"] for n, r in summary.results.items()}
    assert scores == {"ann": 100, "bob": pytest.approx(80), "cy": 100}
    bob = next(r for n, r in summary.results.items() if n.startswith("bob"))
    assert bob["extra_data"]["multiplier"] == pytest.approx(0.8) and "late" in bob["output"]
    bob_name = next(n for n in summary.results if n.startswith("bob"))
    page = (out / bob_name / "report.html").read_text()
    assert 'id="late"' in page and "late: score x 0.8" in page  # the HTML report shows it too
    cy = next(r for n, r in summary.results.items() if n.startswith("cy"))
    assert "Late policy not applied: no timestamp.txt" in cy["output"]
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["submission"].split("__")[0]: r for r in csv.DictReader(fh)}
    assert float(rows["bob"]["late_multiplier"]) == pytest.approx(0.8)
    # A changed timestamp is regraded on resume; an unchanged one is not.
    again = grade_batch(course, lab01, [subs], out, jobs=1, profile="quick", late_policy=True)
    assert not again.graded
    (late.parent / "timestamp.txt").write_text(due.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    third = grade_batch(course, lab01, [subs], out, jobs=1, profile="quick", late_policy=True)
    assert [n.split("__")[0] for n in third.graded] == ["bob"]
