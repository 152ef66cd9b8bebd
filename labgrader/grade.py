"""Grade submissions: one notebook in a sandbox, or a batch in parallel with resume.

A grading is a short pipeline of named steps over one :class:`GradingRun` (the course, the lab,
its checks, examples per property, seed, fingerprint, limits and recorded cases, built once per
batch by :func:`prepare_run`)::

    read the notebook -> plan its cells -> load them in the sandbox -> grade each exercise
      -> assemble a SubmissionResult (labgrader.results) -> late policy -> write results.json

``grade_one(run, path, name)`` is the per-submission step: a module-level function of picklable
arguments returning the typed result, so any executor can run it. ``grade_batch`` grades many,
``--jobs`` at a time, writes each ``DIR/<name>/results.json`` as soon as it is done (atomically: a
half-written file never exists), writes ``DIR/gradebook.csv`` and the HTML reports of exactly the
submissions given, and on a second run skips every submission whose results are already there for
the same file contents and the same grader (a fingerprint of course.toml, the checks and the
reference).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .cases import lab_cases
from .checks import Check
from .config import REPO_ROOT, Course, Lab, grades_serially
from .results import CellError, CheckResult, ExerciseResult, SubmissionResult, write_gradebook
from .runner import PROFILES, grade_exercise
from .sandbox import Limits, StudentSession, SubmissionTimeUp, WorkerLost
from .sandbox.session import die_with_parent  # pool workers die with the grader, even by SIGKILL
from .submission import SubmissionError, collect_submissions, plan_cells, read_notebook, submission_names, trusted_setup

GRADER_VERSION = "2"
GRADEBOOK_EVERY_S = 60.0  # a long batch rewrites gradebook.csv this often as results arrive, and once at the end


def file_sha256(path: Path) -> str:
    """The file's sha256, read in chunks (a multi-gigabyte upload must not be read into memory), or ""."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (OSError, ValueError):
        return ""


def examples_for(course: Course, profile: str) -> int:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    return PROFILES[profile] or course.grading.examples_per_property


def lab_checks(lab: Lab, *, public_only: bool = False) -> dict[str, list[Check]]:
    """The checks course.toml lists for each exercise (only the public ones, on request)."""
    from .checks import load

    module = load(lab.checks)
    return {e.id: [module.CHECKS[e.id][name] for name in e.checks
                   if name in module.CHECKS.get(e.id, {}) and (module.CHECKS[e.id][name].public or not public_only)]
            for e in lab.exercises}


# What decides a grade: editing anything else (reports, CLI, exports) must not force a regrade.
GRADE_DECIDING = ("labgrader/grade.py", "labgrader/runner.py", "labgrader/assertions.py",
                  "labgrader/strategies.py", "labgrader/submission.py", "labgrader/results.py",
                  "labgrader/inprocess.py", "labgrader/checks", "labgrader/sandbox", "reference_impl")


def fingerprint(course: Course, lab: Lab, profile: str) -> str:
    """Changes whenever anything that decides a grade changes: course.toml, checks, reference, grader."""
    h = hashlib.sha256(f"{GRADER_VERSION}|{profile}|{lab.id}".encode())
    h.update(course.path.read_bytes())
    for entry in GRADE_DECIDING:
        path = REPO_ROOT / entry
        files = sorted(path.rglob("*.py")) + sorted(path.rglob("*.toml")) if path.is_dir() else [path]
        for p in files:
            if p.exists():
                h.update(p.relative_to(REPO_ROOT).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


# -- the run context ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradingRun:
    """Everything a grading needs that does not depend on the submission, built once per batch."""

    course: Course
    lab: Lab  # with public_only, only the exercises that have public checks
    profile: str
    public_only: bool
    checks: dict[str, list[Check]]
    examples: int
    seed: int
    fingerprint: str
    limits: Limits
    cases: dict = field(repr=False)  # exercise -> check -> recorded cases (labgrader.cases)
    answers: dict = field(repr=False, default_factory=dict)  # exercise -> {upstream function: its reference}

    def __reduce__(self):
        # Checks and recorded cases are rebuilt where the run is unpickled (another process or host).
        return prepare_run, (self.course, self.lab, self.profile, self.public_only, self.fingerprint)

    def blank(self, name: str, sha256: str = "") -> SubmissionResult:
        """The result before anything ran: every check still to be decided."""
        return SubmissionResult(submission=name, lab=self.lab.id, lab_title=self.lab.title, exercises=(),
                                sha256=sha256, profile=self.profile, examples_per_property=self.examples,
                                seed=self.seed, fingerprint=self.fingerprint)

    def not_graded(self, result: SubmissionResult, reason: str) -> SubmissionResult:
        """0 points on every check, ``reason`` as the explanation (an unreadable file, no notebook...)."""
        return result.replace(fatal=reason, exercises=tuple(
            ExerciseResult(e.id, e.points, tuple(CheckResult(e.id, c.name, c.description, "failed", c.public)
                                                 for c in self.checks[e.id]))
            for e in self.lab.exercises))


def prepare_run(course: Course, lab: Lab, profile: str = "grading", public_only: bool = False,
                fp: str | None = None) -> GradingRun:
    """The run context: checks, examples, seed, fingerprint, limits, and the recorded cases (recorded
    here, once, if need be: forked workers inherit them)."""
    checks = lab_checks(lab, public_only=public_only)
    if public_only:  # score only what the public checks can see
        lab = dataclasses.replace(lab, exercises=tuple(e for e in lab.exercises if checks[e.id]))
    n = examples_for(course, profile)
    fp = fp or fingerprint(course, lab, profile)
    cases = lab_cases(lab, checks, fingerprint=fp, max_examples=n, seed_value=course.grading.seed)
    return GradingRun(course, lab, profile, public_only, checks, n, course.grading.seed, fp,
                      course.grading.limits, cases, {} if public_only else upstream_answers(lab))


def _names_used(code) -> set[str]:
    """The global names a function's code (and the code nested in it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names_used(const)
    return names


def upstream_answers(lab: Lab) -> dict[str, dict]:
    """exercise id -> {function name of another exercise its reference calls: that reference}.

    The rule "a bug costs only its exercise": when exercise B's reference calls exercise A, the
    student's B is graded with A's calls answered by the grader (the reference's result, as data),
    so a wrong or missing A costs A's points only. The student's own A never runs inside B's checks.
    """
    refs = {e.function_name: e.load_reference() for e in lab.exercises}
    out = {}
    for e in lab.exercises:
        ref = refs[e.function_name]
        used = _names_used(ref.__code__)
        out[e.id] = {name: fn for name, fn in refs.items()
                     if name != e.function_name and name in used and ref.__globals__.get(name) is fn}
    return out


# -- the steps of one submission -----------------------------------------------------------------
def load_notebook(session: StudentSession) -> tuple[set[str], tuple[CellError, ...], str]:
    """Run the notebook's cells in the sandbox: the functions it defines, the cells that raised, and
    why it could not be loaded at all ("" when it could)."""
    try:
        report = session.start()
    except WorkerLost as e:
        return set(), (), e.reason
    return set(report.functions), tuple(CellError(c.index, c.error) for c in report.cells if not c.ok), ""


def grade_exercises(run: GradingRun, session: StudentSession, functions: set[str], stop: str) -> list[ExerciseResult]:
    """Each exercise's checks, in order; once the submission's time is up, the rest are not graded."""
    results = []
    for ex in run.lab.exercises:
        checks = run.checks[ex.id]
        if not stop:
            try:
                results.append(grade_exercise(ex, checks, session, defined=ex.function_name in functions,
                                              max_examples=run.examples, seed_value=run.seed,
                                              cases=run.cases[ex.id], answers=run.answers.get(ex.id)))
                continue
            except SubmissionTimeUp as e:
                stop = e.reason
        results.append(grade_exercise(ex, checks, session, defined=False, max_examples=0, seed_value=0,
                                      not_defined_reason=f"Not graded: {stop}"))
    return results


WRONG_LAB = "No function of "  # how the note on a notebook of another lab begins


def wrong_lab_note(run: GradingRun, functions: set[str]) -> str:
    """When the notebook defines none of the lab's functions but those of another lab: say which."""
    if any(ex.function_name in functions for ex in run.lab.exercises):
        return ""
    best, hits = None, 0
    for other in run.course.complete().labs:  # rare: the other labs' checks are loaded only here
        n = sum(ex.function_name in functions for ex in other.exercises)
        if other.id != run.lab.id and n > hits:
            best, hits = other, n
    if best is None:
        return ""
    return f"{WRONG_LAB}{run.lab.id} found; this looks like {best.id} ({best.title}): is it the right notebook?"


def grade_one(run: GradingRun, path: Path, name: str | None = None) -> SubmissionResult:
    """Grade one notebook; never raises for anything the submission does."""
    path = Path(path)
    start = time.monotonic()
    result = run.blank(name or path.stem, file_sha256(path))
    try:
        nb = read_notebook(path)
    except SubmissionError as e:
        return run.not_graded(result, f"This submission could not be graded: {e}.").replace(
            seconds=time.monotonic() - start)
    if run.lab.questions:  # the written answers' text, for the TA (labgrader/answers.py)
        from .answers import collect_answers
        result = result.with_extra(answers=collect_answers(run.lab, nb))
    plan = plan_cells(nb, trusted_setup(run.lab.lab_path(run.course.root)))
    with StudentSession(plan.cells, run.limits) as session, _open(session):
        functions, cells, load_error = load_notebook(session)
        exercises = grade_exercises(run, session, functions, load_error)
        result = result.replace(sandbox=session.mode, cells=cells, exercises=tuple(exercises),
                                restarts=max(0, session.restarts - 1), stdout_excerpt=session.output_excerpt(1000),
                                skipped_experiment_cells=plan.skipped_experiments)
    note = wrong_lab_note(run, functions) if not load_error else ""
    if note:
        result = result.with_note(note)
    return result.replace(seconds=time.monotonic() - start)


def grade_submission(course: Course, lab: Lab, path: Path, *, profile: str = "grading", name: str | None = None,
                     public_only: bool = False, fp: str | None = None) -> dict:
    """Grade one notebook into a results.json dictionary (``public_only``: the checks that need no
    reference, as ``course check`` runs them; exercises are then scored out of their public checks)."""
    return grade_one(prepare_run(course, lab, profile, public_only, fp), path, name).to_gradescope()


# -- batches ------------------------------------------------------------------------------------
@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # grader errors (not the student's fault)
    results: dict[str, dict] = field(default_factory=dict)  # name -> results.json as written
    names: list[str] = field(default_factory=list)  # every submission of this run, in order
    interrupted: bool = False  # Ctrl-C: what is listed was finished; the rest was not graded


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _timestamp_file(path: Path) -> Path:
    return path.parent / "timestamp.txt"  # nbgrader's submitted/<student>/<assignment>/timestamp.txt


def _is_done(out_dir: Path, name: str, path: Path, fp: str, late_policy: bool = False) -> dict | None:
    f = out_dir / name / "results.json"
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
        extra = data["extra_data"]
        stamp_hash = file_sha256(_timestamp_file(path))
        if late_policy and extra.get("timestamp_sha256") != stamp_hash:
            return None  # graded without the policy, or the timestamp changed
        if not late_policy and "timestamp_sha256" in extra:
            return None
        if extra["fingerprint"] == fp and extra["sha256"] == file_sha256(path):
            return data
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def nbgrader_late_step(result: SubmissionResult, lab: Lab, path: Path) -> SubmissionResult:
    """The late policy from nbgrader's timestamp.txt beside the notebook (labgrader.late.apply_late)."""
    from .late import TimestampError, apply_late, submitted_at_from_nbgrader

    stamp = _timestamp_file(path)
    result = result.with_extra(timestamp_sha256=file_sha256(stamp))
    if not stamp.is_file():
        return apply_late(result, lab, unreadable="Late policy not applied: no timestamp.txt beside the notebook.")
    try:
        return apply_late(result, lab, submitted_at_from_nbgrader(stamp))
    except TimestampError as e:
        return apply_late(result, lab, unreadable=f"Late policy not applied: {e}")


# -- dispatch: which process grades which submission ------------------------------------------------
class Interrupt:
    """Ctrl-C during a batch: the first stops dispatching (queued work is cancelled, running work gets
    ``GRACE_SECONDS`` to finish, then is stopped); the second exits at once."""

    GRACE_SECONDS = 3.0

    def __init__(self) -> None:
        self.requested = False
        self.on_second = lambda: None  # what to kill before exiting at once

    def __enter__(self) -> "Interrupt":
        import signal
        import threading

        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _handle(self, signum, frame) -> None:
        import sys

        if self.requested:
            self.on_second()
            print("course: interrupted twice: stopped at once", file=sys.stderr, flush=True)
            os._exit(130)
        self.requested = True
        print("course: interrupted: finishing or stopping the running submissions, nothing new is started "
              "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
        self.on_first()

    def on_first(self) -> None:  # the serial dispatcher stops the running grading where it is
        pass


_OPEN_SESSIONS: set = set()  # the sandboxes this process has open (closed by SIGTERM in a pool process)


class _open:
    def __init__(self, session):
        self.session = session

    def __enter__(self):
        _OPEN_SESSIONS.add(self.session)

    def __exit__(self, *exc):
        _OPEN_SESSIONS.discard(self.session)


def _close_and_exit(signum, frame) -> None:
    import signal

    # Once: a second SIGTERM (the pool's own terminate() after ours) must not re-enter the close below,
    # where the nested Popen.wait would deadlock on the lock the outer one holds (seen under load).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for session in list(_OPEN_SESSIONS):
        try:
            session.__exit__(None, None, None)
        except BaseException:  # noqa: BLE001 - leaving anyway
            pass
    os._exit(128 + signum)


def _pool_worker_init() -> None:
    """In each pool process: Ctrl-C is the parent's to handle; SIGTERM closes the sandbox and exits."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _close_and_exit)
    die_with_parent()  # and die with the grader, even when it is killed with SIGKILL


def dispatch_serial(run: GradingRun, todo: list[tuple[Path, str]], jobs: int, done, interrupt: Interrupt) -> None:
    """One at a time, in this process. Ctrl-C stops the running grading (its sandbox is closed)."""
    class _Stop(BaseException):
        pass

    def stop():
        raise _Stop()

    interrupt.on_first = stop
    try:
        for path, name in todo:
            if interrupt.requested:
                return
            try:
                result, error = grade_one(run, path, name), None
            except Exception:  # a grader bug: report, keep going with the others
                result, error = None, f"grader error: {traceback.format_exc(limit=3)}"
            done(name, result, error)
    except _Stop:
        return
    finally:
        interrupt.on_first = lambda: None


def dispatch_pool(run: GradingRun, todo: list[tuple[Path, str]], jobs: int, done, interrupt: Interrupt) -> None:
    """``jobs`` forked processes. Ctrl-C cancels the queue, waits a few seconds for the running ones,
    then stops them (SIGTERM: each closes its sandbox); a second Ctrl-C kills them and exits."""
    import concurrent.futures as cf
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("fork")
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_worker_init)

    workers: list = []  # filled at the first submit, which forks them all
    interrupt.on_second = lambda: _signal(workers, signal.SIGTERM)  # each closes its sandbox and exits at once
    try:
        futures = {pool.submit(grade_one, run, path, name): name for path, name in todo}
        workers.extend(pool._processes.values())
        pending = set(futures)
        deadline = None
        while pending:
            finished, pending = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                if fut.cancelled():
                    continue
                try:
                    done(futures[fut], fut.result(), None)
                except Exception as e:  # includes BrokenProcessPool
                    if not interrupt.requested:
                        done(futures[fut], None, f"grader error: {type(e).__name__}: {e}")
            if interrupt.requested:
                if deadline is None:
                    for fut in pending:
                        fut.cancel()
                    pending = {f for f in pending if not f.cancelled()}
                    deadline = time.monotonic() + interrupt.GRACE_SECONDS
                elif time.monotonic() > deadline:
                    break  # the running ones are stopped below
    finally:
        if interrupt.requested:  # the pool may have lost its futures first (a worker gone): stop the rest here
            _stop_processes(workers, interrupt.GRACE_SECONDS)
        pool.shutdown(wait=True, cancel_futures=True)


def _signal(procs, sig) -> None:
    for proc in procs:
        try:
            os.kill(proc.pid, sig)
        except (ProcessLookupError, OSError):
            pass


def _stop_processes(procs, grace: float) -> None:
    """SIGTERM those alive, SIGKILL any still alive ``grace`` seconds later, and reap them."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal([p for p in procs if p.is_alive()], sig)
        until = time.monotonic() + grace
        while any(p.is_alive() for p in procs) and time.monotonic() < until:
            time.sleep(0.05)


def dispatch_local(run: GradingRun, todo: list[tuple[Path, str]], jobs: int, done, interrupt: Interrupt) -> None:
    """The default dispatcher: serially for one job or one submission, else a pool of forked processes.

    A dispatcher calls ``done(name, SubmissionResult | None, error | None)`` in this process as each
    submission finishes, and stops starting new ones once ``interrupt.requested``. Another executor
    (a cluster) plugs in with the same signature: ``grade_batch(..., dispatch=...)``.
    """
    (dispatch_serial if grades_serially(jobs, len(todo)) else dispatch_pool)(run, todo, jobs, done, interrupt)


def grade_batch(course: Course, lab: Lab, paths: list[Path], out_dir: Path, *, jobs: int = 1, force: bool = False,
                profile: str = "grading", progress=None, late_policy: bool = False,
                dispatch=dispatch_local) -> BatchSummary:
    """Grade many submissions; resumable; ``progress(name, result_or_None, note)`` is told as each finishes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subs = collect_submissions(paths)
    names = submission_names(subs)
    run = prepare_run(course, lab, profile)
    summary = BatchSummary(names=[names[p] for p in subs])
    todo: list[tuple[Path, str]] = []
    for p in subs:
        done = None if force else _is_done(out_dir, names[p], p, run.fingerprint, late_policy)
        if done is not None:
            summary.skipped.append(names[p])
            summary.results[names[p]] = done
            if progress:
                progress(names[p], done, "already graded")
        else:
            todo.append((p, names[p]))
    paths_of = {n: p for p, n in todo}
    last_gradebook = [time.monotonic()]

    def record(name: str, result: SubmissionResult | None, error: str | None) -> None:
        if error is not None:
            summary.failed[name] = error
            if progress:
                progress(name, None, error)
            return
        if late_policy:
            result = nbgrader_late_step(result, lab, paths_of[name])
        data = result.to_gradescope()
        _write_json_atomic(out_dir / name / "results.json", data)
        summary.graded.append(name)
        summary.results[name] = data
        if time.monotonic() - last_gradebook[0] > GRADEBOOK_EVERY_S:  # a long batch keeps the gradebook current
            write_gradebook(out_dir, lab, [n for n in summary.names if n in summary.results])
            last_gradebook[0] = time.monotonic()
        if progress:
            progress(name, data, "graded")

    with Interrupt() as interrupt:
        dispatch(run, todo, jobs, record, interrupt)
        summary.interrupted = interrupt.requested
        write_outputs(course, lab, out_dir, [n for n in summary.names if n in summary.results])
    return summary


def write_outputs(course: Course, lab: Lab, out_dir: Path, names: list[str], now=None) -> None:
    """gradebook.csv and the HTML reports, of exactly these submissions; the students' pages show
    what course.toml's visibility policy lets them see at ``now`` (default: the present)."""
    import datetime as dt

    from .reports import write_reports

    now = now or dt.datetime.now(dt.timezone.utc)
    write_gradebook(out_dir, lab, names)
    if lab.questions:
        from .answers import write_answers_sheet
        write_answers_sheet(out_dir, lab, names)
    write_reports(out_dir, lab, names, visibility=course.visibility, after_due=now >= lab.due)
