"""What a student sees of each check, and when: course.toml's [visibility] mapped to Gradescope.

The oracle is the rule itself, applied by hand to one result with a failing hidden check (its
counterexample holds a value found nowhere else) and a failing public check: before the due date a
student sees the hidden check's property and pass/fail but not its counterexample; after it, they
see both; the public check's counterexample is visible at once.
"""

from __future__ import annotations

import datetime as dt

import pytest

from labgrader.config import CourseConfigError, Visibility, load_course
from labgrader.reports import submission_html
from labgrader.results import CheckResult, ExerciseResult, SubmissionResult

SECRET = "np.array([31337.25])"  # the hidden check's counterexample value
OPEN = "np.array([4242.5])"  # the public check's


def result() -> SubmissionResult:
    hidden = CheckResult("softmax_t", "agrees_with_reference", "softmax_t should equal the reference.", "failed",
                         public=False, counterexample=(("logits", SECRET),),
                         detail="softmax_t(logits, T)\n  expected: 1.0\n  got:      0.5", expected="1.0", got="0.5")
    public = CheckResult("softmax_t", "sums_to_one", "rows should sum to 1.", "failed", public=True,
                         counterexample=(("logits", OPEN),), detail="row sums wrong")
    ok = CheckResult("softmax_t", "shift_invariant", "shift-invariant.", "passed", public=True)
    return SubmissionResult("alice", "lab01", "Lab 1", (ExerciseResult("softmax_t", 9.0, (hidden, public, ok)),))


def seen(results: dict, *, after_due: bool) -> str:
    """Everything in the tests a student's Gradescope shows, before or after the due date."""
    levels = {"visible", "after_due_date"} if after_due else {"visible"}
    return "\n".join(f"{t['name']}\n{t['output']}\n{t['extra_data']}" for t in results["tests"]
                     if t["visibility"] in levels)


def test_hidden_counterexample_only_after_the_due_date():
    r = result().to_gradescope(Visibility())
    before, after = seen(r, after_due=False), seen(r, after_due=True)
    assert SECRET not in before and "expected: 1.0" not in before
    assert SECRET in after and "expected: 1.0" in after
    assert OPEN in before  # public checks: the student can run them anyway
    # names and pass/fail of every check are visible now, and the points are unchanged
    main = [t for t in r["tests"] if "details_of" not in t["extra_data"]]
    assert [(t["name"], t["status"], t["visibility"]) for t in main] == [
        ("softmax_t: agrees with reference", "failed", "visible"),
        ("softmax_t: sums to one", "failed", "visible"),
        ("softmax_t: shift invariant", "passed", "visible")]
    assert r["score"] == 3.0 and sum(t["score"] for t in r["tests"]) == 3.0
    assert sum(t["max_score"] for t in r["tests"]) == 9.0
    assert "shown after the due date" in main[0]["output"]


def test_policy_levels_map_to_gradescope_values():
    r = result().to_gradescope(Visibility(checks="after_published", hidden_counterexamples="hidden"))
    assert {t["name"]: t["visibility"] for t in r["tests"]} == {
        "softmax_t: agrees with reference": "after_published",
        "softmax_t: agrees with reference (details)": "hidden",
        "softmax_t: sums to one": "after_published",  # details never more visible than the check
        "softmax_t: shift invariant": "after_published"}
    assert SECRET not in seen(r, after_due=True)


def test_the_record_keeps_everything_and_reads_back():
    full = result().to_gradescope()
    assert all(t["visibility"] == "visible" for t in full["tests"]) and len(full["tests"]) == 3
    assert SubmissionResult.from_gradescope(full) == result()
    # the student form reads back to the same result too: the details come from the companion test
    assert SubmissionResult.from_gradescope(result().to_gradescope(Visibility())) == result()


def test_html_report_honours_the_policy():
    record = result().to_gradescope()
    before = submission_html(record, visibility=Visibility(), after_due=False)
    after = submission_html(record, visibility=Visibility(), after_due=True)
    assert SECRET not in before and "31337" not in before and "4242.5" in before
    assert "31337.25" in after


def test_bad_visibility_names_the_key_and_line(tmp_path):
    text = load_course().path.read_text().replace('hidden_counterexamples = "after_due_date"',
                                                  'hidden_counterexamples = "later"')
    path = tmp_path / "course.toml"
    path.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("hidden_counterexamples"))
    with pytest.raises(CourseConfigError, match=rf"course.toml line {line}: visibility.hidden_counterexamples "
                                                r"must be one of visible, after_due_date"):
        load_course(path)


def test_batch_pages_before_and_after_the_due_date(tmp_path, course, lab01):
    """write_outputs decides 'after the due date' from the clock it is given."""
    from labgrader.grade import write_outputs

    (tmp_path / "alice").mkdir()
    import json

    (tmp_path / "alice" / "results.json").write_text(json.dumps(result().to_gradescope()))
    write_outputs(course, lab01, tmp_path, ["alice"], now=lab01.due - dt.timedelta(hours=1))
    assert SECRET not in (tmp_path / "alice" / "report.html").read_text()
    assert SECRET in (tmp_path / "report.html").read_text()  # the class report is the staff's
    write_outputs(course, lab01, tmp_path, ["alice"], now=lab01.due + dt.timedelta(hours=1))
    assert SECRET in (tmp_path / "alice" / "report.html").read_text()
