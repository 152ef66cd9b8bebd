"""``course validate``: how good are a lab's checks? Two numbers, measured.

1. **Mutation score.** Every exercise's reference function is mutated (labgrader.mutation), each
   mutant is graded as a submission on that exercise's checks — in process, since mutants are our
   own code — and counted killed (some check fails) or survived. Mutants that are equivalent to the
   reference are listed once, with a reason, in ``labgrader/checks/equivalent_mutants/<lab>.toml``; they
   leave the denominator. Any other survivor counts against the score and is printed with its diff.
2. **False failures.** Every notebook in ``tests/alternatives/<lab>/`` is a correct implementation
   written differently from the reference; each is graded through the sandbox and must get full
   marks.

It also measures whether feedback teaches: the share of killed mutants whose failing check names
its property and shows a counterexample of at most ``SMALL_COUNTEREXAMPLE`` numbers; and what a
student's self-check sees: the share of killed mutants that a *public* check (or the import, or the
time limit, which the self-check has too) already kills, so "all public checks passed" rarely hides a
bug that grading then finds.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .config import Course, Lab
from .cases import lab_cases
from .grade import fingerprint, grade_submission, lab_checks
from .inprocess import InProcessBackend
from .mutation import Mutant, function_source, mutants
from .runner import grade_exercise

SMALL_COUNTEREXAMPLE = 16  # numbers a student can follow by hand
MUTANT_SECONDS = 20  # a mutant that runs longer is counted killed by timeout (the sandbox would stop it)
EQUIVALENT_DIR = Path(__file__).resolve().parent / "checks" / "equivalent_mutants"  # one <lab id>.toml per lab


class _Timeout(BaseException):  # not Exception: hypothesis must not catch it
    pass


@dataclass
class MutantResult:
    mutant: Mutant
    killed: bool
    by: str = ""  # the first failing check
    output: str = ""
    small: bool = False
    public: bool = False  # killed by something the student's self-check runs too (a public check, import, timeout)


@dataclass
class ExerciseReport:
    exercise: str
    results: list[MutantResult] = field(default_factory=list)
    equivalent: dict[str, str] = field(default_factory=dict)  # mutant id -> reason (listed and generated)

    @property
    def counted(self) -> list[MutantResult]:
        return [r for r in self.results if r.mutant.id not in self.equivalent]

    @property
    def killed(self) -> int:
        return sum(r.killed for r in self.counted)

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.counted if not r.killed]


@dataclass
class LabReport:
    lab: str
    exercises: list[ExerciseReport] = field(default_factory=list)
    stale_equivalents: list[str] = field(default_factory=list)
    killed_but_listed: list[str] = field(default_factory=list)
    alternatives: dict[str, dict] = field(default_factory=dict)  # notebook -> {score, max_score, failed}

    @property
    def total(self) -> int:
        return sum(len(e.counted) for e in self.exercises)

    @property
    def killed(self) -> int:
        return sum(e.killed for e in self.exercises)

    @property
    def kill_rate(self) -> float:
        return self.killed / self.total if self.total else 1.0

    @property
    def feedback_share(self) -> float:
        killed = [r for e in self.exercises for r in e.counted if r.killed]
        return sum(r.small for r in killed) / len(killed) if killed else 1.0

    @property
    def public_kill_rate(self) -> float:
        """Killed by the public checks alone, as a share of the mutants grading kills."""
        killed = [r for e in self.exercises for r in e.counted if r.killed]
        return sum(r.public for r in killed) / len(killed) if killed else 1.0

    @property
    def false_failures(self) -> int:
        return sum(1 for a in self.alternatives.values() if a["score"] < a["max_score"])


def load_equivalents(lab_id: str, path: Path | None = None) -> dict[str, dict[str, str]]:
    """exercise -> {mutant id: reason} for one lab."""
    path = path or EQUIVALENT_DIR / f"{lab_id}.toml"
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for entry in data.get("equivalent", []):
        if entry.get("lab") == lab_id:
            out.setdefault(entry["exercise"], {})[entry["mutant"]] = entry["reason"]
    return out


def lab_source(lab: Lab) -> str:
    """All the lab's reference functions, as a complete correct submission would define them."""
    return "\n\n".join(function_source(e.load_reference()) for e in lab.exercises)


def _alarm(signum, frame):
    raise _Timeout()


def _grade_mutant(lab: Lab, ex_id: str, mutant: Mutant, base_source: str, examples: int, seed: int,
                  fp: str) -> MutantResult:
    ex = lab.exercise(ex_id)
    checks = lab_checks(lab)[ex_id]
    cases = lab_cases(lab, {ex_id: checks}, fingerprint=fp, max_examples=examples, seed_value=seed)[ex_id]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(MUTANT_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mutants overflow and divide by zero: that is their point
            backend = InProcessBackend.from_source(base_source + "\n\n" + mutant.source)
            outcome = grade_exercise(ex, checks, backend, defined=True, max_examples=examples, seed_value=seed,
                                     cases=cases)
    except _Timeout:
        return MutantResult(mutant, True, "timeout", f"ran longer than {MUTANT_SECONDS} s", True, True)
    except Exception as e:  # a mutant that does not even define: killed at import
        return MutantResult(mutant, True, "error", f"{type(e).__name__}: {e}", True, True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    failing = [c for c in outcome.checks if not c.passed]
    if not failing:
        return MutantResult(mutant, False)
    first = failing[0]
    small = first.output.startswith("Property:") and (
        first.counterexample_size is None or first.counterexample_size <= SMALL_COUNTEREXAMPLE)
    return MutantResult(mutant, True, first.name, first.output, small, any(c.public for c in failing))


def _task(args):
    return _grade_mutant(*args)


def validate_lab(course: Course, lab: Lab, *, exercises: list[str] | None = None, examples: int | None = None,
                 jobs: int = 1, alternatives: bool = True, progress=None,
                 equivalents_path: Path | None = None) -> LabReport:
    examples = examples or course.grading.examples_per_property
    seed = course.grading.seed
    equivalents = load_equivalents(lab.id, equivalents_path)
    base = lab_source(lab)
    fp = fingerprint(course, lab, "grading")
    lab_cases(lab, lab_checks(lab), fingerprint=fp, max_examples=examples, seed_value=seed)  # before the fork
    report = LabReport(lab.id)
    tasks, by_ex = [], {}
    for ex in lab.exercises:
        if exercises and ex.id not in exercises:
            continue
        ms = mutants(ex.id, ex.load_reference())
        ids = {m.id for m in ms}
        listed = equivalents.get(ex.id, {})
        report.stale_equivalents += [f"{ex.id}/{mid}" for mid in listed if mid not in ids]
        by_ex[ex.id] = ExerciseReport(ex.id, equivalent={k: v for k, v in listed.items() if k in ids})
        tasks += [(lab, ex.id, m, base, examples, seed, fp) for m in ms]
    if jobs > 1:
        ctx = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            results = list(pool.map(_task, tasks, chunksize=4))
    else:
        results = [_task(t) for t in tasks]
    for r in results:
        by_ex[r.mutant.exercise].results.append(r)
        if progress:
            progress(r)
    report.exercises = list(by_ex.values())
    for e in report.exercises:
        report.killed_but_listed += [f"{e.exercise}/{r.mutant.id}" for r in e.results
                                     if r.mutant.id in e.equivalent and r.killed]
    if alternatives:
        folder = course.root / "tests" / "alternatives" / lab.id
        for nb in sorted(folder.glob("*.ipynb")):
            res = grade_submission(course, lab, nb)
            report.alternatives[nb.name] = {
                "score": res["score"], "max_score": res["max_score"],
                "failed": [t["name"] for t in res["tests"] if t["status"] == "failed"],
            }
    return report


def format_report(report: LabReport, *, show_survivors: bool = True) -> str:
    lines = [f"{'exercise':<24} {'mutants':>7} {'equiv.':>6} {'killed':>6} {'survived':>8} {'kill rate':>9}"]
    for e in report.exercises:
        n = len(e.counted)
        rate = f"{100 * e.killed / n:.1f}%" if n else "-"
        lines.append(f"{e.exercise:<24} {len(e.results):>7} {len(e.equivalent):>6} {e.killed:>6} {len(e.survivors):>8} {rate:>9}")
    lines.append(f"{'all':<24} {sum(len(e.results) for e in report.exercises):>7} "
                 f"{sum(len(e.equivalent) for e in report.exercises):>6} {report.killed:>6} "
                 f"{report.total - report.killed:>8} {100 * report.kill_rate:>8.1f}%")
    lines.append(f"feedback that teaches (property named, counterexample <= {SMALL_COUNTEREXAMPLE} numbers): "
                 f"{100 * report.feedback_share:.1f}% of killed mutants")
    lines.append(f"caught by the public checks alone (what the self-check sees): "
                 f"{100 * report.public_kill_rate:.1f}% of killed mutants")
    if report.alternatives:
        lines.append(f"alternatives (correct implementations): {len(report.alternatives)} notebooks, "
                     f"{report.false_failures} with false failures")
        for name, a in report.alternatives.items():
            mark = "full marks" if a["score"] >= a["max_score"] else "FALSE FAILURE: " + ", ".join(a["failed"])
            lines.append(f"  {name:<40} {a['score']:>6g} / {a['max_score']:<5g} {mark}")
    if show_survivors:
        for e in report.exercises:
            for r in e.survivors:
                lines.append(f"\nsurvivor {e.exercise}/{r.mutant.id}:\n{r.mutant.diff.rstrip()}")
    for s in report.stale_equivalents:
        lines.append(f"stale entry in equivalent_mutants/<lab>.toml (no such mutant any more): {s}")
    for s in report.killed_but_listed:
        lines.append(f"listed as equivalent but killed (remove it from equivalent_mutants/<lab>.toml): {s}")
    return "\n".join(lines)
