"""The late policy from submission timestamps (labgrader/late.py).

The policy in these tests: due 2026-12-04 23:59 UTC, 15 minutes of grace, 10% per started day
past the grace period, 0 after 5 days. Every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from labgrader.config import Lab, LatePolicy
from labgrader.late import (
    TimestampError,
    apply_late_policy,
    format_duration,
    parse_nbgrader_timestamp,
    read_gradescope_metadata,
    submitted_at_from_gradescope,
    submitted_at_from_nbgrader,
)

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 4, 23, 59, tzinfo=UTC)
POLICY_TEXT = "late policy: 10% per started day, 15 min grace, 0 after 5 days"


@pytest.fixture
def lab():
    return Lab(id="labX", title="Lab X", notebook="labX.ipynb", checks="labX", due=DUE,
               late_policy=LatePolicy(grace_minutes=15, penalty_per_day=0.1, max_days_late=5), exercises=())


@pytest.fixture
def results():
    """A results.json as grade_submission writes it, cut down: 75 of 100 points in two tests."""
    return {
        "score": 75.0,
        "max_score": 100.0,
        "execution_time": 1.0,
        "output": "Lab X: 75 / 100",
        "visibility": "visible",
        "tests": [
            {"name": "a: works", "number": "1.1", "score": 50.0, "max_score": 50.0, "status": "passed"},
            {"name": "b: works", "number": "2.1", "score": 25.0, "max_score": 50.0, "status": "failed"},
        ],
        "extra_data": {"exercises": {"a": {"score": 50.0, "max_score": 50.0}, "b": {"score": 25.0, "max_score": 50.0}}},
    }


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- applying the policy ------------------------------------------------------------------------
def test_on_time_keeps_the_score(lab, results):
    # 18:10 at UTC-5 is 23:10 UTC, 49 minutes before the deadline.
    out = apply_late_policy(results, lab, at("2026-12-04T18:10:00-05:00"))
    assert out["score"] == 75.0
    assert [t["score"] for t in out["tests"]] == [50.0, 25.0]
    extra = out["extra_data"]
    assert extra["multiplier"] == 1.0 and extra["days_late"] == 0
    assert extra["submitted_at"] == "2026-12-04T23:10:00+00:00"
    assert extra["due"] == "2026-12-04T23:59:00+00:00"
    assert extra["score_before_late_policy"] == 75.0
    assert out["output"].splitlines()[-1] == "Submitted on time (2026-12-04 23:10 UTC; due 2026-12-04 23:59 UTC)."
    assert out["output"].splitlines()[0] == "Lab X: 75 / 100"


def test_within_grace_is_not_penalised(lab, results):
    # 00:09 next day: 10 minutes late, inside the 15 minutes of grace.
    out = apply_late_policy(results, lab, at("2026-12-05T00:09:00+00:00"))
    assert out["score"] == 75.0 and out["extra_data"]["days_late"] == 0 and out["extra_data"]["multiplier"] == 1.0
    assert out["output"].splitlines()[-1] == (
        "Submitted 10 min late, within the 15 min grace period: no late penalty.")


def test_grace_boundary(lab, results):
    # Exactly 15 minutes late: still within grace. One second more: 1 started day, x 0.9.
    assert apply_late_policy(results, lab, at("2026-12-05T00:14:00+00:00"))["score"] == 75.0
    out = apply_late_policy(results, lab, at("2026-12-05T00:14:01+00:00"))
    assert out["extra_data"]["days_late"] == 1
    assert out["score"] == pytest.approx(67.5)  # 75 * 0.9


def test_one_and_a_half_days_late(lab, results):
    # 2026-12-06 11:59 UTC is 36 h late; minus 15 min grace, 35 h 45 min = 2 started days:
    # multiplier 1 - 2 * 0.1 = 0.8; 75 -> 60, tests 50 -> 40 and 25 -> 20.
    out = apply_late_policy(results, lab, at("2026-12-06T11:59:00+00:00"))
    assert out["extra_data"]["days_late"] == 2
    assert out["extra_data"]["multiplier"] == pytest.approx(0.8)
    assert out["score"] == pytest.approx(60.0)
    assert [t["score"] for t in out["tests"]] == [pytest.approx(40.0), pytest.approx(20.0)]
    assert [t["max_score"] for t in out["tests"]] == [50.0, 50.0]
    assert [t["status"] for t in out["tests"]] == ["passed", "failed"]  # what the checks found is unchanged
    assert out["extra_data"]["exercises"]["a"]["score"] == pytest.approx(40.0)
    assert out["extra_data"]["exercises"]["b"]["score"] == pytest.approx(20.0)
    assert out["extra_data"]["score_before_late_policy"] == 75.0
    assert out["extra_data"]["late_policy"] == {"grace_minutes": 15, "penalty_per_day": 0.1, "max_days_late": 5}
    assert out["output"].splitlines()[-1] == f"Submitted 1 day 12 h late: score x 0.8 = 60 / 100 ({POLICY_TEXT})."


def test_last_day_before_the_cut_off(lab, results):
    # 2026-12-10 00:14 UTC: 5 days 15 min late; minus grace, exactly 5 days = 5 started days -> x 0.5.
    out = apply_late_policy(results, lab, at("2026-12-10T00:14:00+00:00"))
    assert out["extra_data"]["days_late"] == 5
    assert out["score"] == pytest.approx(37.5)


def test_past_max_days_gives_zero(lab, results):
    # One minute later than the last test: 6 started days > 5 -> 0.
    out = apply_late_policy(results, lab, at("2026-12-10T00:15:00+00:00"))
    assert out["extra_data"]["days_late"] == 6
    assert out["extra_data"]["multiplier"] == 0.0
    assert out["score"] == 0.0
    assert all(t["score"] == 0.0 for t in out["tests"])
    assert out["extra_data"]["score_before_late_policy"] == 75.0
    assert out["output"].splitlines()[-1] == f"Submitted 5 days 16 min late: score x 0 = 0 / 100 ({POLICY_TEXT})."


def test_does_not_change_its_input_and_refuses_to_apply_twice(lab, results):
    before = copy.deepcopy(results)
    out = apply_late_policy(results, lab, at("2026-12-06T11:59:00+00:00"))
    assert results == before
    with pytest.raises(ValueError, match="already been applied"):
        apply_late_policy(out, lab, at("2026-12-06T11:59:00+00:00"))


@pytest.mark.parametrize("seconds, words", [
    (30, "under a minute"), (600, "10 min"), (3 * 3600 + 300, "3 h 5 min"), (86400, "1 day"),
    (86400 + 12 * 3600 + 59, "1 day 12 h"), (5 * 86400 + 16 * 60, "5 days 16 min"), (2 * 86400 + 3600 + 60, "2 days 1 h"),
])
def test_durations_in_words(seconds, words):
    assert format_duration(seconds) == words


def test_naive_submission_time_is_refused(lab, results):
    with pytest.raises(ValueError, match="time zone"):
        apply_late_policy(results, lab, dt.datetime(2026, 12, 4, 23, 0))


def test_the_course_lab_policy(course, lab01, results):
    # Whatever course.toml says, the multiplier is the one LatePolicy.multiplier computes.
    t = lab01.due + dt.timedelta(days=2)
    out = apply_late_policy(results, lab01, t)
    assert out["extra_data"]["multiplier"] == lab01.late_policy.multiplier(lab01.due, t)
    assert out["score"] == pytest.approx(75.0 * lab01.late_policy.multiplier(lab01.due, t))


# -- Gradescope's submission_metadata.json ------------------------------------------------------
def write_json(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_gradescope_created_at_and_due_dates(tmp_path, lab, results):
    f = write_json(tmp_path / "submission_metadata.json", {
        "id": 123456,
        "created_at": "2026-12-06T03:59:00.365935-08:00",
        "assignment": {"due_date": "2026-12-04T15:59:00.000000-08:00", "late_due_date": None,
                       "title": "Lab X", "total_points": "100.0"},
        "users": [{"email": "student@example.com", "id": 1, "name": "Student"}],
        "previous_submissions": [],
    })
    t = submitted_at_from_gradescope(f)
    assert t == dt.datetime(2026, 12, 6, 11, 59, 0, 365935, tzinfo=UTC)
    md = read_gradescope_metadata(f)
    assert md.due_date == DUE and md.late_due_date is None
    # 36 h late (and 0.37 s): 2 started days past grace, as in test_one_and_a_half_days_late.
    assert apply_late_policy(results, lab, t)["score"] == pytest.approx(60.0)


def test_gradescope_z_suffix(tmp_path):
    f = write_json(tmp_path / "m.json", {"created_at": "2026-12-04T23:10:00Z"})
    assert submitted_at_from_gradescope(f) == dt.datetime(2026, 12, 4, 23, 10, tzinfo=UTC)
    assert read_gradescope_metadata(f).due_date is None


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    ({"id": 1}, "no 'created_at'"),
    ({"created_at": 1733356200}, "ISO 8601"),
    ({"created_at": "yesterday"}, "not an ISO 8601"),
    ({"created_at": "2026-12-04T23:10:00"}, "no UTC offset"),
    ({"created_at": "2026-12-04T23:10:00Z", "assignment": "lab"}, "'assignment' must be an object"),
    ({"created_at": "2026-12-04T23:10:00Z", "assignment": {"due_date": "soon"}}, "assignment.due_date"),
])
def test_gradescope_bad_metadata_names_the_file(tmp_path, content, words):
    f = tmp_path / "submission_metadata.json"
    if isinstance(content, str):
        f.write_text(content, encoding="utf-8")
    elif content is not None:
        write_json(f, content)
    with pytest.raises(TimestampError) as e:
        submitted_at_from_gradescope(f)
    assert isinstance(e.value, ValueError)
    assert str(f) in str(e.value) and words in str(e.value)


# -- nbgrader's timestamp.txt -------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("2026-12-04 23:10:01.123456 UTC", dt.datetime(2026, 12, 4, 23, 10, 1, 123456, tzinfo=UTC)),
    ("2026-12-04 23:10:01.123456", dt.datetime(2026, 12, 4, 23, 10, 1, 123456, tzinfo=UTC)),  # naive = UTC
    ("2026-12-04 23:10:01", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
    ("2026-12-04 23:10:01.123456 UTC\n", dt.datetime(2026, 12, 4, 23, 10, 1, 123456, tzinfo=UTC)),
    ("2026-12-05 00:10:01.000000 CET", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
    ("2026-12-04 15:10:01.000000 PST", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
    ("2026-12-05 00:10:01.000000 +0100", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
    ("2026-12-04 18:10:01.000000 -05:00", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
    ("2026-12-05 00:10:01.000000 Europe/Berlin", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
    ("2026-12-04T23:10:01+00:00", dt.datetime(2026, 12, 4, 23, 10, 1, tzinfo=UTC)),
])
def test_nbgrader_timestamps(tmp_path, text, expected):
    f = tmp_path / "timestamp.txt"
    f.write_text(text, encoding="utf-8")
    got = submitted_at_from_nbgrader(f)
    assert got == expected and got.utcoffset() == dt.timedelta(0)


def test_agrees_with_nbgrader_parse_utc():
    """nbgrader 0.9.6 writes timestamp.txt with Exchange.timestamp_format and reads it with parse_utc."""
    utils = pytest.importorskip("nbgrader.utils")
    from dateutil.tz import gettz

    fmt = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's default Exchange.timestamp_format
    for zone in ("UTC", "Europe/Berlin"):
        text = dt.datetime(2026, 12, 5, 0, 10, 1, 123456, tzinfo=gettz(zone)).strftime(fmt)
        ours = parse_nbgrader_timestamp(text)
        assert ours.replace(tzinfo=None) == utils.parse_utc(text), text
    for text in ("2026-12-04 23:10:01.123456", "2026-12-04 23:10:01.123456 UTC", "2026-12-05 00:10:01 Europe/Berlin"):
        assert parse_nbgrader_timestamp(text).replace(tzinfo=None) == utils.parse_utc(text), text


def test_nbgrader_zone_abbreviation_that_nbgrader_itself_misreads():
    # With timezone America/Los_Angeles nbgrader writes "PST"; dateutil's gettz("PST") is None, so
    # nbgrader's parse_utc takes the time as UTC. We read it as UTC-8.
    from dateutil.tz import gettz

    text = dt.datetime(2026, 12, 4, 15, 10, tzinfo=gettz("America/Los_Angeles")).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    assert text.endswith(" PST")
    assert parse_nbgrader_timestamp(text) == dt.datetime(2026, 12, 4, 23, 10, tzinfo=UTC)


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    ("", "is empty"),
    ("   \n", "is empty"),
    ("yesterday at noon", "not an nbgrader timestamp"),
    ("2026-13-04 10:00:00 UTC", "not a valid date"),
    ("2026-12-04 10:00:00 XYZ", "unknown time zone 'XYZ'"),
    ("2026-12-04 10:00:00 CST", "ambiguous"),
    ("2026-12-04 10:00:00 +2500", "out of range"),
])
def test_nbgrader_bad_timestamp_names_the_file(tmp_path, content, words):
    f = tmp_path / "student1" / "timestamp.txt"
    f.parent.mkdir()
    if content is not None:
        f.write_text(content, encoding="utf-8")
    with pytest.raises(TimestampError) as e:
        submitted_at_from_nbgrader(f)
    assert isinstance(e.value, ValueError)
    assert str(f) in str(e.value) and words in str(e.value)
