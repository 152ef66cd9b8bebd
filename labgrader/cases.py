"""The inputs hypothesis draws for each check when every example passes: recorded once, replayed.

Why. Hypothesis's engine (generation, its tree of choices, mutation of earlier examples) costs the
grader about 4 ms per example, more than the student's call through the sandbox; with 50 examples
per property that was two thirds of grading one notebook. Most checks of most submissions pass, and
for a passing function the work is the same every time.

Why it changes no grade. With a fixed seed, the examples hypothesis tries depend only on the
strategies, the settings, the seed and the outcome of each example (timing matters only once a bug
is found, for shrinking). Every check's body here either passes or raises, so a function that passes
every example is shown exactly the recorded sequence. A check that draws inside its body
(``st.data()``) is recorded by running it with the reference as the student, which passes, and
its draws are kept with the inputs; where the reference is not at hand (a student's copy), such
checks are not recorded and hypothesis runs them. ``runner.replay`` runs a check over its recorded
cases; at the first case that does not pass, hypothesis runs the check from the start as it always did, so the
counterexample, its shrinking and the message are those of a grading without the record.
``tests/labgrader/test_cases.py`` compares the two paths.

The record is kept in memory (a batch records before it forks its workers) and in
``build/cases/``, keyed by everything that can change it: the grader's fingerprint of the lab (checks,
strategies, reference, course.toml), the examples per property, the seed and the versions of
hypothesis, NumPy and Python. Recording a lab takes about as long as grading it once did.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import platform
import sys
from pathlib import Path

import hypothesis
import numpy as np

from .checks import Check
from .inprocess import InProcessBackend
from .runner import RecordedDraws, StudentFunction, hypothesis_test

CASES_DIR = Path(__file__).resolve().parent.parent / "build" / "cases"
FORMAT = "4"

_memory: dict[str, dict[str, dict[str, dict]]] = {}  # "<lab>-<key>" -> exercise -> check -> {"strategies", "cases"}


def _data_args(check: Check) -> list[str]:
    return [name for name, s in check.strategies.items() if repr(s) == "data()"]


def draws_in_body(check: Check) -> bool:
    """Does the check draw inside its body (``st.data()``)? Its examples then depend on the body."""
    return bool(_data_args(check))


class _RecordingData:
    """Passes draws through to hypothesis's ``data`` and keeps a copy of each, as drawn."""

    def __init__(self, data):
        self.data = data
        self.draws: list[tuple[str, object]] = []

    def draw(self, strategy, label=None):
        value = self.data.draw(strategy, label=label)
        self.draws.append((repr(strategy), copy.deepcopy(value)))
        return value


def record_check(check: Check, *, max_examples: int, seed_value: int,
                 reference: tuple[str, object] | None = None) -> list[dict] | None:
    """The inputs hypothesis gives this check when every example passes (None: not recordable).

    ``reference`` is the exercise's (function name, reference function): a check that draws in its
    body is recorded by running it with the reference as the student; without one it is not recorded.
    """
    data_args = _data_args(check)
    if data_args and reference is None:
        return None
    cases: list[dict] = []
    if not data_args:
        def body(**kwargs):
            cases.append(copy.deepcopy(kwargs))
    else:
        name, fn = reference
        student = StudentFunction(InProcessBackend({name: fn}), name)

        def body(**kwargs):
            case = {k: copy.deepcopy(v) for k, v in kwargs.items() if k not in data_args}
            recorders = {k: _RecordingData(kwargs[k]) for k in data_args}
            completed = False
            try:
                check.fn(student, fn, **{**kwargs, **recorders})
                completed = True
            finally:  # an example hypothesis abandons mid-body (out of data, a filter) is replayed up to there
                cases.append({**case, **{k: RecordedDraws(r.draws, aborted=not completed)
                                         for k, r in recorders.items()}})
    try:
        hypothesis_test(check, body, max_examples=max_examples, seed_value=seed_value)()
    except Exception:  # the reference fails its own check: let hypothesis judge every submission
        return None
    return cases


def lab_references(lab) -> dict[str, tuple[str, object]]:
    """exercise id -> (function name, reference function), for the exercises whose reference loads."""
    out = {}
    for ex in getattr(lab, "exercises", ()):
        try:
            out[ex.id] = (ex.function_name, ex.load_reference())
        except Exception:  # a student's copy has no reference: its data() checks are not recorded
            continue
    return out


def strategies_of(check: Check) -> str:
    """The check's strategies as hypothesis describes them: a record is replayed only for the same."""
    return repr(sorted((name, repr(s)) for name, s in check.strategies.items()))


def cache_key(fingerprint: str, max_examples: int, seed_value: int) -> str:
    parts = (FORMAT, fingerprint, str(max_examples), str(seed_value), hypothesis.__version__, np.__version__,
             platform.python_version())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _path(lab_id: str, key: str, root: Path) -> Path:
    return root / f"{lab_id}-{key}.pickle"


def lab_cases(lab, checks: dict[str, list[Check]], *, fingerprint: str, max_examples: int,
              seed_value: int, root: Path | None = None) -> dict[str, dict[str, list[dict] | None]]:
    """exercise id -> check name -> recorded cases (None: not recordable); recorded if need be.

    ``lab`` is the course's Lab (its id names the record; its references record the checks that
    draw in their body), or a bare id, for which such checks are left to hypothesis.

    A record that cannot be read or written (a read-only checkout, a corrupt file) is recorded
    again in memory: the record only saves time, it never decides anything.
    """
    lab_id = lab if isinstance(lab, str) else lab.id
    root = CASES_DIR if root is None else Path(root)
    key = cache_key(fingerprint, max_examples, seed_value)
    references: dict | None = None
    held = _memory.get(f"{lab_id}-{key}") or _load(_path(lab_id, key, root)) or {}

    def current(ex: str, c: Check) -> bool:
        entry = held.get(ex, {}).get(c.name)
        return isinstance(entry, dict) and entry.get("strategies") == strategies_of(c)

    missing = [(ex, c) for ex, cs in checks.items() for c in cs if not current(ex, c)]
    recorded = False
    for ex, c in missing:
        reference = None
        if draws_in_body(c):
            if references is None:
                references = {} if isinstance(lab, str) else lab_references(lab)
            reference = references.get(ex)
            if reference is None:
                continue  # not recordable here; another grader with the reference may record it
        held.setdefault(ex, {})[c.name] = {
            "strategies": strategies_of(c),
            "cases": record_check(c, max_examples=max_examples, seed_value=seed_value, reference=reference),
        }
        recorded = True
    if recorded:
        _store(_path(lab_id, key, root), held)
    _memory[f"{lab_id}-{key}"] = held
    return {ex: {c.name: held[ex][c.name]["cases"] for c in cs if current(ex, c)} for ex, cs in checks.items()}


def _load(path: Path) -> dict | None:
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)  # our own file, written below; never a submission's
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def _store(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: two graders recording at once each write a whole file
    except OSError as e:
        print(f"note: the recorded cases could not be saved ({e}); grading records them again next time",
              file=sys.stderr)
