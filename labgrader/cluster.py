"""Grade a batch on a Dask cluster: one task per submission, results written here as they arrive.

    course grade lab01 submissions/ --out results/ --cluster tcp://scheduler:8786

This is ``grade.grade_batch`` with Dask's futures in place of the local process pool; Dask's
scheduler places the tasks, and its workers may be other machines (or Slurm/PBS jobs started by
dask-jobqueue). What stays on this machine, the client:

* reading the submissions: each task carries the notebook's bytes, so the workers need no shared
  file system, only the course checkout (the grader) and its virtualenv;
* the resume rule (a results.json with the same file hash and grader fingerprint is kept), the
  late policy (timestamp.txt beside each notebook), and every output: ``DIR/<name>/results.json``
  written atomically as each result arrives, ``gradebook.csv`` and the HTML reports.

What runs on a worker (``grade_task``): ``grade.grade_submission`` on a private copy of the bytes, in
the worker's own sandbox. Before it grades anything, a worker compares what decides a grade on it
(the grader fingerprint of course.toml, checks and reference; the Python, NumPy and hypothesis
versions) with the client's, and refuses if they differ: a grade must not depend on where it ran.
The recorded hypothesis cases (labgrader.cases) are recorded once per worker process, on its first
task (or read from its ``build/cases/``), and kept in memory for the rest.

Failures. A worker lost mid-task (killed, out of memory, its node preempted) is Dask's business:
the scheduler gives the task to another worker; a task that was on ``allowed-failures`` (default 3)
workers that all died is reported as a grader error for that submission, and a rerun grades it
again. A task that raises is retried ``RETRIES`` times. Either way each submission has one future
and its result is written once: none is graded twice in the output, none is lost. Ctrl-C cancels
the pending tasks on the cluster; finished results stay and a rerun resumes.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from .config import REPO_ROOT, Course, Lab, load_course
from .grade import BatchSummary, GradingRun, fingerprint, grade_batch, grade_one, grade_submission
from .results import SubmissionResult
from .sandbox import StudentSession
from .submission import MAX_NOTEBOOK_BYTES

RETRIES = 1  # a task that raises (not a lost worker, which the scheduler handles) is tried once more
CONNECT_TIMEOUT_S = 30
WORKER_WAIT_S = 600  # for the first worker: batch jobs (dask-jobqueue) may wait in the queue
IN_FLIGHT_PER_THREAD = 4  # tasks submitted ahead per worker thread: the notebooks' bytes wait on the
MIN_IN_FLIGHT = 32        # scheduler, so a class of 10,000 is not all held in memory at once


class ClusterError(Exception):
    """The cluster cannot grade this batch: unreachable, no workers, or workers of another grader."""


class GraderMismatch(RuntimeError):
    """Raised on a worker whose grader differs from the client's (it must not grade)."""


# -- the worker side ------------------------------------------------------------------------------
_LOCK = threading.Lock()  # one grading at a time per worker process (see README: --nthreads 1)
_graders: dict[tuple[str, str, str], tuple[Course, Lab, dict]] = {}


def _course_ref(course: Course) -> str:
    """How a worker finds the course: relative to its checkout if it is in the repository, else as is."""
    try:
        return course.path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(course.path.resolve())


def grader_identity(course: Course, lab: Lab, profile: str) -> dict[str, str]:
    """Everything that decides a grade besides the submission: two graders agreeing here agree on grades."""
    import hypothesis
    import numpy as np

    return {"fingerprint": fingerprint(course, lab, profile), "python": platform.python_version(),
            "numpy": np.__version__, "hypothesis": hypothesis.__version__}


def _grader(course_ref: str, lab_id: str, profile: str) -> tuple[Course, Lab, dict]:
    key = (course_ref, lab_id, profile)
    if key not in _graders:
        from hypothesis.errors import HypothesisDeprecationWarning

        # Dask's threads (its event loop) draw from the global `random` while hypothesis
        # generates in this thread; hypothesis notices the state change and warns. It draws from its
        # own seeded source and the checks never use `random`, so grades are unaffected (the tests
        # compare with a local run); the warning would only fill the worker's log.
        warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies",
                                category=HypothesisDeprecationWarning)
        path = REPO_ROOT / course_ref
        if not path.is_file():
            raise GraderMismatch(f"this worker has no course file {path} (start the worker from the course checkout)")
        course = load_course(path)
        lab = course.lab(lab_id)
        _graders[key] = (course, lab, grader_identity(course, lab, profile))
    return _graders[key]


def describe_mismatch(ours: dict, theirs: dict, where: str) -> str | None:
    """None when the two identities agree, else a sentence naming what differs and the fix."""
    diff = [f"{k} {theirs.get(k)!r} (client: {ours.get(k)!r})" for k in ours if ours.get(k) != theirs.get(k)]
    if not diff:
        return None
    return (f"{where} has another grader: {'; '.join(diff)}. Check out the same commit of the course there "
            "(and install its requirements.txt), or stop that worker")


def worker_identity(course_ref: str, lab_id: str, profile: str) -> dict:
    """Run on each worker by the client before submitting: this worker's grader identity.

    With ``sandbox``, the isolation this worker gives a submission (it decides no grade of a correct
    submission, but the client says so when workers differ). No lock: ``Client.run`` calls this on
    the worker's event loop, which must not wait for a grading.
    """
    try:
        course, _, identity = _grader(course_ref, lab_id, profile)
        return {**identity, "sandbox": StudentSession([], course.grading.limits).mode}
    except Exception as e:  # reported to the client as a mismatch naming the worker
        return {"error": f"{type(e).__name__}: {e}"}


def grade_task(job: dict) -> dict:
    """On a worker: grade one submission shipped as bytes; refuse if this worker's grader differs.

    ``job`` holds ``course`` (see _course_ref), ``lab``, ``profile``, ``identity`` (the client's
    grader_identity), ``name`` and ``data`` (the notebook's bytes). Returns grade_submission's dict.
    """
    with _LOCK:
        course, lab, identity = _grader(job["course"], job["lab"], job["profile"])
        problem = describe_mismatch(job["identity"], identity, f"worker {platform.node()}")
        if problem:
            raise GraderMismatch(problem)
        with tempfile.TemporaryDirectory(prefix="course-grade-") as d:
            path = Path(d) / "submission.ipynb"
            path.write_bytes(job["data"])
            return grade_submission(course, lab, path, profile=job["profile"], name=job["name"],
                                    fp=identity["fingerprint"])


# -- the client side ------------------------------------------------------------------------------
def connect(address: str, timeout: float | None = None):
    """A distributed Client for ``address`` (tcp://HOST:PORT), or ClusterError saying what to do."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("--cluster needs dask's distributed package: pip install -r requirements.txt") from None
    try:
        return Client(address, timeout=timeout or CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({type(e).__name__}: {e}); start one "
                           "with `dask scheduler` and pass its tcp://HOST:8786 address") from None


def check_workers(client, course: Course, lab: Lab, profile: str, identity: dict,
                  wait_s: float | None = None) -> int:
    """Wait for a worker, ask every worker for its grader identity; ClusterError if any differs.

    Returns the number of worker threads. A worker that joins later is checked by each of its tasks.
    """
    wait_s = WORKER_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    told = False
    while not client.scheduler_info(n_workers=-1)["workers"]:
        if not told:  # a Slurm job may sit in the queue for a while
            print(f"waiting up to {wait_s:.0f} s for a worker to join the scheduler", file=sys.stderr, flush=True)
            told = True
        if time.monotonic() > deadline:
            raise ClusterError(f"the scheduler has no workers after {wait_s:.0f} s: start some with "
                               "`dask worker tcp://SCHEDULER:8786 --nthreads 1` from the course checkout")
        time.sleep(0.5)
    found = client.run(worker_identity, _course_ref(course), lab.id, profile)
    problems = [describe_mismatch(identity, theirs, f"worker {addr}") if "error" not in theirs
                else f"worker {addr} cannot load the grader: {theirs['error']}" for addr, theirs in found.items()]
    problems = [p for p in problems if p]
    if problems:
        raise ClusterError("refusing to grade on a cluster with another grader version:\n  " + "\n  ".join(problems))
    modes = sorted({theirs.get("sandbox", "") for theirs in found.values()})
    if len(modes) > 1:
        print("note: the workers isolate submissions differently (" + "; ".join(modes) + "); each report says "
              "which mode graded it (extra_data.sandbox, the gradebook's sandbox column)", file=sys.stderr)
    return sum(client.nthreads().values())


def _failure(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return ("grader error: every worker that ran this task died (KilledWorker; the scheduler's "
                "allowed-failures was reached): a rerun grades it again")
    if isinstance(exc, GraderMismatch):
        return f"grader error: {exc}"
    return f"grader error: {name}: {exc}"


class ClusterDispatch:
    """``grade.grade_batch``'s dispatch step on a Dask cluster: one task per submission.

    Everything else is grade_batch's: the resume rule, the late policy, results.json written as each
    result arrives, the gradebook and the reports of exactly this run's submissions, Ctrl-C. Before it
    sends anything it checks every worker's grader identity (ClusterError when a worker differs or the
    scheduler cannot be reached); it keeps a window of tasks in flight, grades a notebook too large to
    ship here (as locally, the grade says why), and cancels what is pending on the cluster when the
    batch stops early (Ctrl-C, an error). Workers return results.json dictionaries: plain data.
    """

    def __init__(self, address: str | None = None, client=None) -> None:
        if (address is None) == (client is None):
            raise ValueError("ClusterDispatch needs a scheduler address or an open distributed client, not both")
        self.address, self.client = address, client

    def __call__(self, run: GradingRun, todo: list[tuple[Path, str]], jobs: int, done, interrupt) -> None:
        if not todo:
            return
        course, lab, profile = run.course, run.lab, run.profile
        identity = grader_identity(course, lab, profile)
        client = self.client or connect(self.address)
        pending: dict = {}
        try:
            threads = check_workers(client, course, lab, profile, identity)
            window = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)
            queue = iter(todo)
            run_id = f"{time.time_ns():x}"

            from distributed import as_completed

            arrivals = as_completed(loop=client.loop)

            def fill() -> None:  # keep the cluster fed, a window at a time
                while len(pending) < window and not interrupt.requested:
                    path, name = next(queue, (None, None))
                    if path is None:
                        return
                    try:
                        too_big = path.stat().st_size > MAX_NOTEBOOK_BYTES
                    except OSError:
                        too_big = True
                    if too_big:  # refused unread, as locally: the grade says why, nothing is shipped
                        done(name, grade_one(run, path, name), None)
                        continue
                    job = {"course": _course_ref(course), "lab": lab.id, "profile": profile, "identity": identity,
                           "name": name, "data": path.read_bytes()}
                    fut = client.submit(grade_task, job, key=f"grade-{lab.id}-{name}-{run_id}", pure=False,
                                        retries=RETRIES)
                    pending[fut] = name
                    arrivals.add(fut)

            fill()
            for fut in arrivals:
                name = pending.pop(fut)
                try:
                    result = SubmissionResult.from_gradescope(fut.result())
                except Exception as e:  # KilledWorker, GraderMismatch, a grader bug
                    done(name, None, _failure(e))
                else:
                    done(name, result, None)
                fut.release()
                if interrupt.requested:  # Ctrl-C: the running tasks' results that arrived are kept
                    break
                fill()
        finally:  # stopped early (Ctrl-C, KeyboardInterrupt, a lost scheduler): drop the cluster's pending work
            if pending:
                try:
                    client.cancel(list(pending), force=True)
                except Exception:
                    pass
            if self.client is None:
                client.close()


def grade_batch_on_cluster(course: Course, lab: Lab, paths: list[Path], out_dir: Path, *, address: str | None = None,
                           client=None, force: bool = False, profile: str = "grading", progress=None,
                           late_policy: bool = False) -> BatchSummary:
    """``grade.grade_batch`` on a Dask cluster (``address``, or an open distributed ``client``).

    Raises ClusterError (before grading anything) when the cluster cannot be used.
    """
    return grade_batch(course, lab, paths, out_dir, force=force, profile=profile, progress=progress,
                       late_policy=late_policy, dispatch=ClusterDispatch(address, client))
