"""Tests of labgrader/config.py: the real course.toml loads, and every mistake names its key and line.

Each bad file is the real course.toml with one edit, so the line an error should name is found
in the test by searching the edited text (never by asking the module under test); the expected
late-policy multipliers are worked out by hand from the policy's numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from labgrader.config import DEFAULT_COURSE, CourseConfigError, LatePolicy, load_course

REAL_TEXT = DEFAULT_COURSE.read_text(encoding="utf-8")
EX = 3  # the exercise most edits are made to: not the first, so indices and lines are not trivially 0/1
EXERCISE_HEADER = "[[labs.exercises]]"


# -- helpers: find lines in the text, edit it, load it -------------------------------------------
def header_line(text: str, k: int, header: str = EXERCISE_HEADER) -> int:
    """1-based line of the k-th (0-based) ``header`` line."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == header]
    return hits[k]


def key_line(text: str, key: str, *, after: int = 0) -> int:
    """1-based line of the first ``key = ...`` line after line ``after``."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n, line in enumerate(text.splitlines(), 1):
        if n > after and pattern.match(line):
            return n
    raise AssertionError(f"no line '{key} = ...' after line {after}")


def exercise_key_line(text: str, k: int, key: str) -> int:
    return key_line(text, key, after=header_line(text, k))


def replace_line(text: str, n: int, new: str | None) -> str:
    """``text`` with line ``n`` (1-based) replaced by ``new``, or deleted when ``new`` is None."""
    lines = text.splitlines(keepends=True)
    assert 1 <= n <= len(lines)
    lines[n - 1 : n] = [] if new is None else [new + "\n"]
    return "".join(lines)


def edit_exercise(k: int, key: str, new: str | None) -> str:
    return replace_line(REAL_TEXT, exercise_key_line(REAL_TEXT, k, key), new)


def load_text(tmp_path: Path, text: str, **kw):
    path = tmp_path / "course.toml"
    path.write_text(text, encoding="utf-8")
    return load_course(path, **kw)


def error_for(tmp_path: Path, text: str, **kw) -> str:
    with pytest.raises(CourseConfigError) as info:
        load_text(tmp_path, text, **kw)
    return str(info.value)


def exercise_id(k: int) -> str:
    line = exercise_key_line(REAL_TEXT, k, "id")
    return REAL_TEXT.splitlines()[line - 1].split("=", 1)[1].strip().strip('"')


# -- the real file ---------------------------------------------------------------------------------
def test_real_course_loads():
    """The repository's course.toml is valid: lab01 first, with 10 exercises worth 100 points; every lab
    has at least six exercises and a max score that is the sum of its points."""
    course = load_course()
    ids = [lab.id for lab in course.labs]
    assert ids[0] == "lab01" and ids == sorted(set(ids))
    lab = course.labs[0]
    assert len(lab.exercises) == 11  # majority_vote_bounds (issue 22), 5 + 5 points with majority_vote_accuracy
    assert sum(e.points for e in lab.exercises) == 100
    assert lab.max_score == 100
    for each in course.labs:
        assert len(each.exercises) >= 6, each.id
        assert each.max_score == sum(e.points for e in each.exercises)


def test_real_course_references_are_functions():
    from reference_impl import distillation

    lab = load_course().labs[0]
    for ex in lab.exercises:
        assert ex.load_reference() is getattr(distillation, ex.id)


def test_the_edited_copy_loads_unchanged(tmp_path):
    """The baseline the error tests edit: an unedited copy in tmp_path loads like the original."""
    assert load_text(tmp_path, REAL_TEXT).labs == load_course().labs


# -- errors naming key and line --------------------------------------------------------------------
def test_missing_required_key_names_the_exercise_table_and_its_line(tmp_path):
    text = edit_exercise(EX, "points", None)
    msg = error_for(tmp_path, text)
    assert f"line {header_line(text, EX)}:" in msg
    assert f"labs[0].exercises[{EX}] is missing the required key 'points'" in msg


def test_missing_required_course_name(tmp_path):
    text = replace_line(REAL_TEXT, key_line(REAL_TEXT, "name"), None)
    msg = error_for(tmp_path, text)
    course_header = next(n for n, l in enumerate(text.splitlines(), 1) if l.strip() == "[course]")
    assert f"line {course_header}:" in msg
    assert "course is missing the required key 'name'" in msg


def test_wrong_type_names_key_line_and_value(tmp_path):
    text = edit_exercise(EX, "points", 'points = "two"')
    msg = error_for(tmp_path, text)
    assert f"line {exercise_key_line(text, EX, 'points')}:" in msg
    assert f"labs[0].exercises[{EX}].points" in msg
    assert "'two'" in msg


def test_boolean_is_not_a_number(tmp_path):
    text = edit_exercise(EX, "points", "points = true")
    msg = error_for(tmp_path, text)
    assert f"line {exercise_key_line(text, EX, 'points')}: labs[0].exercises[{EX}].points must be a number" in msg


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_points_are_refused(tmp_path, value):
    """TOML allows nan and inf; a score of nan would poison every total it enters."""
    text = edit_exercise(EX, "points", f"points = {value}")
    msg = error_for(tmp_path, text)
    assert f"line {exercise_key_line(text, EX, 'points')}: labs[0].exercises[{EX}].points" in msg


def test_negative_points(tmp_path):
    text = edit_exercise(EX, "points", "points = -5")
    msg = error_for(tmp_path, text)
    assert f"line {exercise_key_line(text, EX, 'points')}: labs[0].exercises[{EX}].points must be a number >= 0" in msg
    assert "-5" in msg


def test_zero_points_are_allowed(tmp_path):
    text = edit_exercise(EX, "points", "points = 0")
    assert load_text(tmp_path, text).labs[0].exercises[EX].points == 0


def _declare(monkeypatch, reference: str) -> int:
    """Declare exercise EX's reference as ``reference`` in Lab 1's checks module; the line of its id."""
    from labgrader.checks import lab01_distillation

    monkeypatch.setitem(lab01_distillation.EXERCISES, exercise_id(EX), reference)
    return exercise_key_line(REAL_TEXT, EX, "id")


def test_unknown_reference_function(tmp_path, monkeypatch):
    line = _declare(monkeypatch, "reference_impl.distillation:nope")
    msg = error_for(tmp_path, REAL_TEXT)
    assert f"line {line}: labs[0].exercises[{EX}].id has a reference that names no function" in msg
    assert "reference_impl.distillation:nope" in msg and "lab01_distillation.py" in msg


def test_reference_module_that_does_not_exist(tmp_path, monkeypatch):
    line = _declare(monkeypatch, "reference_impl.no_such_module:softmax_t")
    msg = error_for(tmp_path, REAL_TEXT)
    assert f"line {line}: labs[0].exercises[{EX}].id has a reference" in msg and "no_such_module" in msg


def test_bad_declarations_are_refused_where_they_are_made():
    from labgrader.checks import Registry

    with pytest.raises(ValueError, match="must be a dotted module name, got 'reference_impl.distillation:x'"):
        Registry().exercises("reference_impl.distillation:x", ["softmax_t"])
    with pytest.raises(ValueError, match="'soft max' is not a function name"):
        Registry().exercises("reference_impl.distillation", ["soft max"])
    with pytest.raises(ValueError, match="exercise softmax_t declared twice"):
        Registry().exercises("reference_impl.distillation", ["softmax_t", "softmax_t"])


def test_reference_that_is_not_a_function(tmp_path, monkeypatch):
    line = _declare(monkeypatch, "reference_impl.distillation:np")
    msg = error_for(tmp_path, REAL_TEXT)
    assert f"line {line}: labs[0].exercises[{EX}].id has a reference that is not a function" in msg


def test_a_reference_in_course_toml_is_an_error_naming_its_line(tmp_path):
    """Exercises and their references are declared once, in code: course.toml does not repeat them."""
    points = exercise_key_line(REAL_TEXT, EX, "points")
    lines = REAL_TEXT.splitlines()
    lines.insert(points, 'reference = "reference_impl.distillation:softmax_t"')
    msg = error_for(tmp_path, "\n".join(lines) + "\n")
    assert f"line {points + 1}: labs[0].exercises[{EX}].reference is declared in code" in msg


def test_an_exercise_not_declared_in_code_names_its_line(tmp_path):
    text = edit_exercise(EX, "id", 'id = "no_such_exercise"')
    msg = error_for(tmp_path, text)
    line = exercise_key_line(text, EX, "id")
    assert f"line {line}: labs[0].exercises[{EX}].id names no exercise declared in " in msg


def test_an_exercise_declared_in_code_needs_its_points(tmp_path):
    lines = REAL_TEXT.splitlines()
    start = header_line(REAL_TEXT, EX, "[[labs.exercises]]") - 1
    del lines[start:exercise_key_line(REAL_TEXT, EX, "points")]
    msg = error_for(tmp_path, "\n".join(lines) + "\n")
    assert f"gives no points to {exercise_id(EX)}, declared in labgrader/checks/lab01_distillation.py" in msg


def test_checks_module_that_does_not_exist(tmp_path):
    line = key_line(REAL_TEXT, "checks", after=header_line(REAL_TEXT, 0, "[[labs]]"))
    text = replace_line(REAL_TEXT, line, 'checks = "lab99_nothing"')
    msg = error_for(tmp_path, text)
    assert f"line {line}: labs[0].checks names no module" in msg


def test_references_are_not_resolved_when_asked_not_to(tmp_path, monkeypatch):
    _declare(monkeypatch, "reference_impl.distillation:nope")
    course = load_text(tmp_path, REAL_TEXT, resolve_references=False)
    assert course.labs[0].exercises[EX].reference == "reference_impl.distillation:nope"


def test_duplicate_exercise_id(tmp_path):
    first = exercise_id(0)
    text = edit_exercise(EX, "id", f'id = "{first}"')
    msg = error_for(tmp_path, text)
    line = exercise_key_line(text, EX, "id")
    assert f"line {line}: labs[0].exercises[{EX}].id duplicates the exercise id '{first}'" in msg


def test_duplicate_lab_id(tmp_path):
    lines = REAL_TEXT.splitlines()
    starts = [n for n, line in enumerate(lines, 1) if line.strip() == "[[labs]]"]
    first_lab = "\n".join(lines[starts[0] - 1 : (starts[1] - 1 if len(starts) > 1 else len(lines))])
    text = REAL_TEXT + "\n" + first_lab + "\n"
    second = header_line(text, len(starts), "[[labs]]")
    msg = error_for(tmp_path, text)
    assert f"line {key_line(text, 'id', after=second)}: labs[{len(starts)}].id duplicates the lab id 'lab01'" in msg


def _with_override(override: str) -> tuple[str, int]:
    """course.toml with ``override`` added to the first exercise (after its points), and its line."""
    points = exercise_key_line(REAL_TEXT, 0, "points")
    lines = REAL_TEXT.splitlines()
    lines.insert(points, override)
    return "\n".join(lines) + "\n", points + 1


def test_unknown_dropped_check_names_its_line(tmp_path):
    text, line = _with_override('drop_checks = ["sums_to_two"]')
    msg = error_for(tmp_path, text)
    assert f"line {line}: labs[0].exercises[0].drop_checks names an unknown check 'sums_to_two'" in msg
    assert "sums_to_one" in msg  # the known ones are listed


def test_dropping_a_check_and_the_declared_order(tmp_path):
    from labgrader.checks import load as load_checks
    CHECKS = load_checks("lab01_distillation").CHECKS

    path = tmp_path / "course.toml"
    path.write_text(_with_override('drop_checks = ["sums_to_one"]')[0])
    ex = load_course(path).labs[0].exercises[0]
    assert ex.checks == tuple(n for n in CHECKS[ex.id] if n != "sums_to_one")
    assert load_course().labs[0].exercises[0].checks == tuple(CHECKS[ex.id])  # declared once, in order


def test_dropping_every_check_is_an_error(tmp_path):
    from labgrader.checks import load as load_checks
    CHECKS = load_checks("lab01_distillation").CHECKS

    names = ", ".join(f'"{n}"' for n in CHECKS["softmax_t"])
    text, line = _with_override(f"drop_checks = [{names}]")
    assert f"line {line}: labs[0].exercises[0].drop_checks drops every check" in error_for(tmp_path, text)


def test_unknown_key_typo(tmp_path):
    text = edit_exercise(EX, "points", "pionts = 10")
    msg = error_for(tmp_path, text)
    assert f"line {exercise_key_line(text, EX, 'pionts')}: labs[0].exercises[{EX}].pionts is not a known key" in msg


def test_unknown_top_level_table_names_its_own_line(tmp_path):
    """A misspelt [grading] header is reported at that header, not at some other table's line."""
    line = next(n for n, l in enumerate(REAL_TEXT.splitlines(), 1) if l.strip() == "[grading]")
    text = replace_line(REAL_TEXT, line, "[gradnig]")
    msg = error_for(tmp_path, text)
    assert f"line {line}:" in msg
    assert "gradnig is not a known key" in msg


@pytest.mark.parametrize("value", ["0.0", "-1.0"])
@pytest.mark.parametrize("key", ["time_limit_per_call_s", "time_limit_per_submission_s"])
def test_non_positive_time_limit(tmp_path, key, value):
    line = key_line(REAL_TEXT, key)
    text = replace_line(REAL_TEXT, line, f"{key} = {value}")
    msg = error_for(tmp_path, text)
    assert f"line {line}: grading.{key} must be a number > 0" in msg


def test_negative_late_policy_value(tmp_path):
    line = key_line(REAL_TEXT, "late_policy")
    bad = "late_policy = { grace_minutes = -15, penalty_per_day = 0.1, max_days_late = 5 }"
    text = replace_line(REAL_TEXT, line, bad)
    msg = error_for(tmp_path, text)
    # The inline table has no line per key: the error names the line of late_policy itself.
    assert f"line {line}: labs[0].late_policy.grace_minutes must be a number >= 0" in msg


def test_due_without_time_zone(tmp_path):
    line = key_line(REAL_TEXT, "due")
    text = replace_line(REAL_TEXT, line, "due = 2026-12-04T23:59:00")
    msg = error_for(tmp_path, text)
    assert f"line {line}: labs[0].due must carry a time zone" in msg


def test_invalid_toml_syntax_mentions_the_line(tmp_path):
    line = exercise_key_line(REAL_TEXT, EX, "points")
    text = replace_line(REAL_TEXT, line, "points = = 10")
    msg = error_for(tmp_path, text)
    assert "not valid TOML" in msg
    assert f"line {line}" in msg


def test_missing_file(tmp_path):
    with pytest.raises(CourseConfigError, match="no such file"):
        load_course(tmp_path / "absent.toml")


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "course.toml"
    path.write_bytes(REAL_TEXT.encode() + b"# caf\xe9 in Latin-1\n")
    with pytest.raises(CourseConfigError, match="not UTF-8"):
        load_course(path)


# -- late policy -----------------------------------------------------------------------------------
DUE = dt.datetime(2026, 12, 4, 23, 59, tzinfo=dt.timezone.utc)
POLICY = LatePolicy(grace_minutes=15, penalty_per_day=0.1, max_days_late=5)


@pytest.mark.parametrize("delay", [dt.timedelta(days=-3), dt.timedelta(0), dt.timedelta(minutes=14, seconds=59),
                                   dt.timedelta(minutes=15)])
def test_on_time_or_within_grace_is_full_score(delay):
    assert POLICY.multiplier(DUE, DUE + delay) == 1.0


def test_a_second_past_grace_costs_one_started_day():
    assert POLICY.multiplier(DUE, DUE + dt.timedelta(minutes=15, seconds=1)) == pytest.approx(0.9)


def test_one_and_a_half_days_late_costs_two_started_days():
    # 36 h late, 35 h 45 min past grace: the second day has started, 1 - 2 * 0.1.
    assert POLICY.multiplier(DUE, DUE + dt.timedelta(days=1.5)) == pytest.approx(0.8)


def test_last_allowed_day_and_past_it():
    # Exactly 5 days past grace is 5 started days: 1 - 5 * 0.1. One second more is a sixth day: 0.
    assert POLICY.multiplier(DUE, DUE + dt.timedelta(days=5, minutes=15)) == pytest.approx(0.5)
    assert POLICY.multiplier(DUE, DUE + dt.timedelta(days=5, minutes=15, seconds=1)) == 0.0
    assert POLICY.multiplier(DUE, DUE + dt.timedelta(days=30)) == 0.0


def test_penalty_never_goes_negative():
    steep = LatePolicy(grace_minutes=0, penalty_per_day=0.4, max_days_late=10)
    assert steep.multiplier(DUE, DUE + dt.timedelta(days=2, hours=1)) == 0.0  # 1 - 3 * 0.4 < 0


# -- finding labs ----------------------------------------------------------------------------------
def two_lab_course(tmp_path):
    from labgrader.release import single_lab_toml

    one = single_lab_toml(REAL_TEXT, "lab01")  # the course with lab01 only
    lab_start = header_line(one, 0, "[[labs]]")
    second = "\n".join(one.splitlines()[lab_start - 1 :])
    second = second.replace('id = "lab01"', 'id = "lab02"').replace("lab01_distillation.ipynb", "lab02_quant.ipynb")
    return load_text(tmp_path, one + "\n" + second + "\n")


def test_lab_by_id_and_unique_prefix():
    course = load_course()
    lab = course.labs[0]
    assert course.lab("lab01") is lab
    assert course.lab("lab01_dist") is lab  # a prefix of the notebook name
    if len(course.labs) > 1:
        with pytest.raises(KeyError, match="lab01, "):
            course.lab("lab0")  # ambiguous: the error lists the labs


def test_lab_lookup_in_a_two_lab_course(tmp_path):
    course = two_lab_course(tmp_path)
    assert [lab.id for lab in course.labs] == ["lab01", "lab02"]
    assert course.lab("lab02") is course.labs[1]
    assert course.lab("lab02_q") is course.labs[1]
    with pytest.raises(KeyError, match="lab01, lab02"):
        course.lab("lab0")  # ambiguous


@pytest.mark.parametrize("name", ["lab99", "lab1", "distillation", "LAB01"])
def test_unknown_lab_is_a_key_error(name):
    with pytest.raises(KeyError):
        load_course().lab(name)


def test_exercise_lookup():
    lab = load_course().labs[0]
    assert lab.exercise("kd_loss").points == 10
    with pytest.raises(KeyError):
        lab.exercise("kd")


# -- loading one lab (`course grade LAB` and the self-check import only that lab's checks) ----------
def _lab_ids(text: str) -> list[str]:
    return re.findall(r'^id = "(lab\d+)"', text, flags=re.M)


def test_only_one_lab_loads_that_lab_and_can_complete_itself():
    ids = _lab_ids(REAL_TEXT)
    one = load_course(DEFAULT_COURSE, only=ids[2])
    assert [lab.id for lab in one.labs] == [ids[2]] and not one.is_complete
    full = load_course(DEFAULT_COURSE)
    assert one.labs[0] == full.lab(ids[2])  # the same exercises, checks and points as a full load
    assert [lab.id for lab in one.complete().labs] == ids == [lab.id for lab in full.labs]
    assert full.complete() is full


def test_only_does_not_import_the_other_labs_checks():
    import subprocess
    import sys

    ids = _lab_ids(REAL_TEXT)
    code = ("import sys; from labgrader.config import load_course; load_course(only=%r); "
            "print(sorted(m for m in sys.modules if m.startswith('labgrader.checks.')))" % ids[0])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out)  # noqa: S307 - our own printed list
    assert loaded and all(ids[0] in m or m == "labgrader.checks.hidden" for m in loaded), loaded


def test_only_still_refuses_a_broken_block_of_another_lab(tmp_path):
    ids = _lab_ids(REAL_TEXT)
    second_due = key_line(REAL_TEXT, "due", after=key_line(REAL_TEXT, "due"))
    text = replace_line(REAL_TEXT, second_due, "due = 2026-12-04T23:59:00")
    msg = error_for(tmp_path, text, only=ids[0])
    assert f"line {second_due}: labs[1].due must carry a time zone" in msg
    points = exercise_key_line(REAL_TEXT, len(load_course(DEFAULT_COURSE).labs[0].exercises), "points")
    text = replace_line(REAL_TEXT, points, 'points = "ten"')
    assert f"line {points}: labs[1].exercises[0].points" in error_for(tmp_path, text, only=ids[0])


def test_only_a_lab_that_is_not_there_is_a_key_error_after_the_toml_errors(tmp_path):
    with pytest.raises(KeyError, match="no lab 'lab99' in course.toml .labs: lab01, lab02"):
        load_course(DEFAULT_COURSE, only="lab99")
    text = replace_line(REAL_TEXT, key_line(REAL_TEXT, "due"), "due = 2026-12-04T23:59:00")
    assert "must carry a time zone" in error_for(tmp_path, text, only="lab99")
