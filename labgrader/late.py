"""The late policy, applied from a submission's timestamp.

Where the time a student submitted comes from:

* Gradescope writes ``/autograder/submission_metadata.json`` with ``"created_at"`` (ISO 8601 with a
  UTC offset) and the assignment's own dates under ``"assignment"`` (``due_date``,
  ``late_due_date``). Our course.toml's ``due`` is authoritative for the penalty; what Gradescope
  says is read too (:func:`read_gradescope_metadata`) so that a mismatch can be reported.
* nbgrader writes ``timestamp.txt`` beside each submission with its ``timestamp_format``
  (default ``"%Y-%m-%d %H:%M:%S.%f %Z"``, e.g. ``2026-12-04 23:10:01.123456 UTC``). nbgrader
  itself reads it back with ``nbgrader.utils.parse_utc``: a third, space-separated field is a time
  zone, anything without one is UTC. We accept the same texts without depending on dateutil.

:func:`apply_late_policy` then multiplies a Gradescope ``results.json`` dictionary (as
``labgrader.grade.grade_submission`` returns it) by ``lab.late_policy.multiplier(lab.due, t)``,
records what it did in ``extra_data`` and tells the student in one line of ``output``.

Every malformed file raises :class:`TimestampError` (a ``ValueError``) whose message names the file.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

UTC = dt.timezone.utc


class TimestampError(ValueError):
    """A timestamp or metadata file cannot be read; the message names the file and what is wrong."""


# -- Gradescope ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradescopeMetadata:
    """What /autograder/submission_metadata.json says about the submission's timing (all UTC-aware)."""

    submitted_at: dt.datetime
    due_date: dt.datetime | None = None  # the Gradescope assignment's due date (informative only)
    late_due_date: dt.datetime | None = None


def _iso(value, what: str, path: Path) -> dt.datetime:
    if not isinstance(value, str):
        raise TimestampError(f"{path}: {what} must be an ISO 8601 date-time string, got {value!r}")
    text = value.strip()
    try:
        when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise TimestampError(
            f"{path}: {what} is not an ISO 8601 date-time (like 2026-12-04T23:10:01.123456-08:00): {value!r}"
        ) from None
    if when.tzinfo is None:
        raise TimestampError(f"{path}: {what} has no UTC offset, so the moment is ambiguous: {value!r}")
    return when.astimezone(UTC)


def _read(path: Path, where_it_comes_from: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TimestampError(f"{path}: no such file ({where_it_comes_from})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TimestampError(f"{path}: cannot be read: {e}") from None


def read_gradescope_metadata(metadata_path: Path | str) -> GradescopeMetadata:
    """Parse Gradescope's submission_metadata.json: ``created_at`` and the assignment's dates."""
    path = Path(metadata_path)
    text = _read(path, "Gradescope writes it beside the submission")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TimestampError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(data, dict):
        raise TimestampError(f"{path}: must hold a JSON object, got {type(data).__name__}")
    if "created_at" not in data:
        raise TimestampError(f"{path}: has no 'created_at' (the submission time)")
    submitted = _iso(data["created_at"], "'created_at'", path)
    due = late_due = None
    assignment = data.get("assignment")
    if assignment is not None:
        if not isinstance(assignment, dict):
            raise TimestampError(f"{path}: 'assignment' must be an object, got {type(assignment).__name__}")
        if assignment.get("due_date") is not None:
            due = _iso(assignment["due_date"], "'assignment.due_date'", path)
        if assignment.get("late_due_date") is not None:
            late_due = _iso(assignment["late_due_date"], "'assignment.late_due_date'", path)
    return GradescopeMetadata(submitted, due, late_due)


def submitted_at_from_gradescope(metadata_path: Path | str) -> dt.datetime:
    """The submission time from Gradescope's submission_metadata.json, as an aware UTC datetime."""
    return read_gradescope_metadata(metadata_path).submitted_at


# -- nbgrader -----------------------------------------------------------------------------------
# Zone abbreviations that nbgrader's "%Z" writes for common course time zones, each with the one
# fixed offset it stands for. Ambiguous ones (CST: US Central or China; IST: India, Ireland or
# Israel; AST, BST...) are refused with a message instead of guessed.
_ABBREVIATIONS = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60,
    "CET": 60, "CEST": 120, "MET": 60, "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "EST": -300, "EDT": -240, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
    "AKST": -540, "AKDT": -480, "HST": -600, "NST": -210, "NDT": -150,
    "JST": 540, "KST": 540, "HKT": 480, "SGT": 480,
    "AWST": 480, "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
}
_AMBIGUOUS = {"CST", "IST", "AST", "BST", "ADT", "SST", "CAT", "EAT", "WAT"}
_NBGRADER = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?:\s+(\S+))?$")
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})?$")


def _zone(name: str, path: Path, text: str) -> dt.tzinfo:
    up = name.upper()
    if up in _ABBREVIATIONS:
        return dt.timezone(dt.timedelta(minutes=_ABBREVIATIONS[up]))
    m = _OFFSET.match(up)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        if minutes >= 24 * 60:
            raise TimestampError(f"{path}: time zone offset {name!r} is out of range in {text!r}")
        return dt.timezone(dt.timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
    if up in _AMBIGUOUS:
        raise TimestampError(
            f"{path}: time zone {name!r} in {text!r} is ambiguous; configure nbgrader's Exchange.timestamp_format "
            f"with %z (a numeric offset such as +0100) or use a zone name like America/Chicago"
        )
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise TimestampError(
            f"{path}: unknown time zone {name!r} in {text!r} (use UTC, a numeric offset such as +0100, "
            f"or an IANA name such as Europe/Berlin)"
        ) from None


def parse_nbgrader_timestamp(text: str, path: Path | str = "timestamp.txt") -> dt.datetime:
    """Parse one nbgrader timestamp text into an aware UTC datetime; naive times are UTC."""
    path = Path(path)
    raw = text.strip()
    if not raw:
        raise TimestampError(f"{path}: is empty (nbgrader writes the submission time into it)")
    m = _NBGRADER.match(raw)
    if m is None:
        try:  # ISO 8601 with a 'T' and an attached offset, as some exchanges write it
            when = dt.datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
        except ValueError:
            raise TimestampError(
                f"{path}: not an nbgrader timestamp like '2026-12-04 23:10:01.123456 UTC': {raw[:100]!r}"
            ) from None
    else:
        date, clock, zone = m.groups()
        try:
            when = dt.datetime.fromisoformat(f"{date}T{clock}")
        except ValueError:
            raise TimestampError(f"{path}: not a valid date and time: {raw[:100]!r}") from None
        if zone is not None:
            when = when.replace(tzinfo=_zone(zone, path, raw))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # nbgrader's own rule: no zone means UTC
    return when.astimezone(UTC)


def submitted_at_from_nbgrader(timestamp_txt: Path | str) -> dt.datetime:
    """The submission time from nbgrader's timestamp.txt, as an aware UTC datetime."""
    path = Path(timestamp_txt)
    text = _read(path, "nbgrader writes timestamp.txt beside each submission")
    return parse_nbgrader_timestamp(text, path)


# -- the policy ---------------------------------------------------------------------------------
def _round(x: float) -> float:
    return round(float(x), 4)


def format_duration(seconds: float) -> str:
    """The two largest units: '1 day 12 h', '5 days 16 min', '3 h 5 min', '10 min', 'under a minute'."""
    s = int(seconds)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    parts = [f"{days} day{'s' if days != 1 else ''}" if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes else ""]
    return " ".join([p for p in parts if p][:2]) or "under a minute"


def describe_policy(policy) -> str:
    """'10% per started day, 15 min grace, 0 after 5 days'."""
    grace = f"{policy.grace_minutes:g} min grace" if policy.grace_minutes else "no grace period"
    if policy.max_days_late <= 0:
        return f"{grace}, no late submissions accepted"
    parts = []
    if policy.penalty_per_day:
        parts.append(f"{100 * policy.penalty_per_day:g}% per started day")
    else:
        parts.append("no penalty per day")
    parts.append(grace)
    parts.append(f"0 after {policy.max_days_late} day{'s' if policy.max_days_late != 1 else ''}")
    return ", ".join(parts)


def days_late(policy, due: dt.datetime, submitted: dt.datetime) -> int:
    """Started days past the due date plus the grace period (0 when on time or within grace)."""
    late = (submitted - due).total_seconds() - 60 * policy.grace_minutes
    return 0 if late <= 0 else math.ceil(late / 86400)


def _utc_text(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class LateOutcome:
    """What the late policy decided for one submission: the multiplier and the line that says why."""

    submitted_at: dt.datetime
    due: dt.datetime
    days_late: int
    multiplier: float
    grace_minutes: float
    penalty_per_day: float
    max_days_late: int

    KEYS = ("submitted_at", "due", "days_late", "multiplier", "score_before_late_policy", "late_policy")

    @property
    def policy(self):
        from .config import LatePolicy

        return LatePolicy(self.grace_minutes, self.penalty_per_day, self.max_days_late)

    def line(self, score: float, max_score: float | None) -> str:
        """One line for the student: on time, within grace, or the penalty and the score after it."""
        late_s = (self.submitted_at - self.due).total_seconds()
        of = f" / {max_score:g}" if isinstance(max_score, (int, float)) else ""
        if late_s <= 0:
            return f"Submitted on time ({_utc_text(self.submitted_at)}; due {_utc_text(self.due)})."
        if self.days_late == 0:
            return (f"Submitted {format_duration(late_s)} late, within the {self.grace_minutes:g} min grace period: "
                    f"no late penalty.")
        return (f"Submitted {format_duration(late_s)} late: score x {self.multiplier:g} = {score:g}{of} "
                f"(late policy: {describe_policy(self.policy)}).")

    def data(self, score_before: float) -> dict:
        return {
            "submitted_at": self.submitted_at.astimezone(UTC).isoformat(),
            "due": self.due.astimezone(UTC).isoformat(),
            "days_late": self.days_late,
            "multiplier": self.multiplier,
            "score_before_late_policy": _round(score_before),
            "late_policy": {"grace_minutes": self.grace_minutes, "penalty_per_day": self.penalty_per_day,
                            "max_days_late": self.max_days_late},
        }

    @classmethod
    def from_data(cls, extra: dict) -> "LateOutcome | None":
        if "multiplier" not in extra or "submitted_at" not in extra:
            return None
        p = extra.get("late_policy") or {}
        return cls(dt.datetime.fromisoformat(extra["submitted_at"]), dt.datetime.fromisoformat(extra["due"]),
                   int(extra["days_late"]), float(extra["multiplier"]), p.get("grace_minutes", 0.0),
                   p.get("penalty_per_day", 0.0), p.get("max_days_late", 0))


def late_outcome(lab, submitted_at: dt.datetime) -> LateOutcome:
    """The lab's late policy for a submission at ``submitted_at`` (an aware datetime)."""
    if not isinstance(submitted_at, dt.datetime) or submitted_at.tzinfo is None:
        raise ValueError(f"submitted_at must be a datetime with a time zone, got {submitted_at!r}")
    policy, due = lab.late_policy, lab.due
    return LateOutcome(submitted_at, due, days_late(policy, due, submitted_at),
                       float(policy.multiplier(due, submitted_at)), policy.grace_minutes, policy.penalty_per_day,
                       policy.max_days_late)


def apply_late(result, lab, submitted_at: dt.datetime | None = None, *, unreadable: str = ""):
    """The one late-policy step (``course grade --late-policy`` and the Gradescope runner use it).

    ``result`` is an labgrader.results.SubmissionResult. With ``submitted_at`` the lab's policy is
    applied; with ``unreadable`` (why the time is unknown) a note says it was not. Applying it twice
    is refused (it would penalise twice).
    """
    if result.late is not None:
        raise ValueError("the late policy has already been applied to these results")
    if submitted_at is None:
        return result.with_note(unreadable) if unreadable else result
    return result.replace(late=late_outcome(lab, submitted_at))


def apply_late_policy(results: dict, lab, submitted_at: dt.datetime) -> dict:
    """A copy of a results.json dictionary with the lab's late policy applied (see :class:`LateOutcome`).

    The top-level score, each test's score and each exercise's score in ``extra_data`` are
    multiplied by the multiplier; ``extra_data`` gains :attr:`LateOutcome.KEYS`; ``output`` gains
    one line saying what happened. Applying it twice is refused (it would penalise twice).
    """
    extra = results.get("extra_data") or {}
    if "score_before_late_policy" in extra:
        raise ValueError("the late policy has already been applied to these results")
    late = late_outcome(lab, submitted_at)
    out = copy.deepcopy(results)
    before = float(out.get("score", 0.0))
    out["score"] = _round(before * late.multiplier)
    for test in out.get("tests", []):
        if "score" in test:
            test["score"] = _round(test["score"] * late.multiplier)
    extra = out.setdefault("extra_data", {})
    for ex in (extra.get("exercises") or {}).values():
        if isinstance(ex, dict) and "score" in ex:
            ex["score"] = _round(ex["score"] * late.multiplier)
    extra.update(late.data(before))
    line = late.line(out["score"], out.get("max_score"))
    out["output"] = (out.get("output") or "").rstrip("\n") + ("\n" if out.get("output") else "") + line
    return out
