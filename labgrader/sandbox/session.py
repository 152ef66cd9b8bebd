"""The grader's side of the sandbox: one worker process per submission, with limits.

A :class:`StudentSession` starts ``worker.py`` in a private temporary directory, loads the
submission's cells into it, and forwards calls. Everything that crosses is plain data
(``wire``). The worker runs

* in its own session and process group (so it and anything it forks can be killed at once),
* with rlimits on address space (memory), CPU seconds, file size (which also caps its stdout and
  stderr files), core dumps and, where the kernel enforces it, the number of processes,
* with a minimal environment, ``python -I`` (no user site, no PYTHON* variables), a private
  working directory and HOME/TMPDIR inside it,
* under a wall-clock deadline per cell, per call and per submission enforced from here,
* killed by the kernel when the process that started it dies, even by SIGKILL (Linux: the parent-death
  signal; bubblewrap's ``--die-with-parent`` and its pid namespace take every process inside down too),
* as a uid of its own (as root): one per grading process, held by a lock file, never shared by two graders.

Where the platform lacks a limit (no ``resource`` module on Windows, no RLIMIT_NPROC, no
bubblewrap), the worker runs with the limits that remain and ``StudentSession.mode`` says which.

A worker that hangs, dies or exceeds a limit raises :class:`WorkerLost`, a ``BaseException`` so
that hypothesis does not treat it as an ordinary failing example and try to shrink it: the
exercise being graded is lost, and the next call starts a fresh worker. Cells that hung or killed
the worker while loading are skipped on restart, so one bad cell costs only the exercises it
defines.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import wire

try:  # POSIX only: on Windows the worker runs with wall-clock limits alone (see rlimits_available)
    import resource
except ImportError:  # pragma: no cover - exercised by tests/labgrader/test_platform_fallback.py
    resource = None  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
MODE_PROCESS = "process isolation + rlimits"
MODE_BWRAP = "bubblewrap: no network, read-only filesystem without the course repository, private /tmp, unprivileged uid, rlimits"
SANDBOX_UID_BASE = 61000  # uids 61000..64999: one per grading process, in no /etc/passwd, owning nothing
SANDBOX_UID_COUNT = 4000
STARTUP_SECONDS = 30.0  # a worker's interpreter start-up (slow on a loaded machine) is not the student's time
RLIMITS = ("AS", "CPU", "FSIZE", "CORE", "NPROC")  # what _preexec sets, where the platform has it


def rlimits_available() -> tuple[str, ...]:
    """The resource limits this platform can put on the worker (none without the resource module)."""
    if resource is None:
        return ()
    return tuple(name for name in RLIMITS if hasattr(resource, f"RLIMIT_{name}"))


def limits_description() -> str:
    """The limits the process fallback applies here, in words for the report."""
    names = rlimits_available()
    if not names:
        return "wall-clock limits only (this platform has no resource limits)"
    missing = [n for n in RLIMITS if n not in names]
    return "rlimits" + (f" ({', '.join(names)}; no {', '.join(missing)} here)" if missing else "")


# -- orphans: a worker never outlives the process that started it ----------------------------------------
PR_SET_PDEATHSIG = 1
_libc_prctl = None


def _prctl():
    """libc's prctl on Linux (loaded in the grader, before any fork), else None."""
    global _libc_prctl
    if _libc_prctl is None and sys.platform.startswith("linux"):
        import ctypes

        try:
            _libc_prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            _libc_prctl = False
    return _libc_prctl or None


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere nothing).

    For a grading pool's workers (``initializer=die_with_parent``) and, between fork and exec, for the
    sandbox worker. ``parent_pid`` closes the race of a parent that died before the call. The signal
    is sent when the *thread* that forked this process exits, so a session's worker belongs to the
    thread that starts it; a change of uid clears the setting, so call this after dropping privileges.
    """
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != (parent_pid if parent_pid is not None else os.getppid()):
        os.kill(os.getpid(), signal.SIGKILL)  # the parent is already gone


# -- uids: one per grading process, never shared ------------------------------------------------------
_UIDS: dict[int, tuple[int, int]] = {}  # grading pid -> (uid, fd of its lock file)
_UID_LOCK = threading.Lock()


def uid_lock_dir() -> Path:
    """Where the uid locks live: shared by every grader on the machine."""
    if os.environ.get("COURSE_SANDBOX_UID_DIR"):
        return Path(os.environ["COURSE_SANDBOX_UID_DIR"])
    run = Path("/run")
    if run.is_dir() and os.access(run, os.W_OK):
        return run / "course-sandbox-uids"
    return Path(tempfile.gettempdir()) / "course-sandbox-uids"


def sandbox_uid() -> int:
    """This process's sandbox uid, allocated once and held for the process's life.

    Each uid in 61000..64999 has a lock file; a grader takes the first free one (an exclusive
    ``flock``), starting at ``61000 + pid % 4000`` so that graders rarely probe the same files. The
    kernel drops the lock when its holder dies, however it dies, so a crashed grader's uid is free again
    at once. Two graders never share a uid, and so never share its process limit (RLIMIT_NPROC counts
    per uid). A forked child (a pool worker) allocates its own.
    """
    pid = os.getpid()
    with _UID_LOCK:
        if pid not in _UIDS:
            _UIDS[pid] = allocate_uid(start=pid % SANDBOX_UID_COUNT)
        return _UIDS[pid][0]


def allocate_uid(start: int = 0, lock_dir: Path | None = None) -> tuple[int, int]:
    """Lock the first free uid from ``SANDBOX_UID_BASE + start`` on: (uid, the open fd holding its lock)."""
    import fcntl

    folder = Path(lock_dir or uid_lock_dir())
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for i in range(SANDBOX_UID_COUNT):
        uid = SANDBOX_UID_BASE + (start + i) % SANDBOX_UID_COUNT
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person looking
        return uid, fd
    raise RuntimeError(f"all {SANDBOX_UID_COUNT} sandbox uids are in use (lock files in {folder})")


def _bwrap_binds() -> list[str]:
    """Read-only binds for the interpreter: the system, the venv and its base Python, nothing else.

    The venv may live inside the course repository (``.venv``): only the venv folder is bound, so
    ``reference_impl``, ``labgrader/checks`` and ``solutions`` beside it do not exist in the sandbox.
    """
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for link in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    binds = [(p, p) for p in sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)})
             if not p.startswith("/usr/")]
    if os.path.realpath(sys.prefix) != os.path.abspath(sys.prefix):  # the venv reached through a symlink
        binds.append((os.path.realpath(sys.prefix), os.path.abspath(sys.prefix)))
    made: set[str] = set()
    for src, dest in binds:
        # Parents bwrap would create on its own may be unreadable to the sandbox's uid (seen under the
        # /tmp tmpfs): make them explicitly, world-traversable, before binding.
        parents = []
        parent = os.path.dirname(dest)
        while parent not in ("/", "/tmp", "") and parent not in made:
            parents.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(parents):
            args += ["--perms", "0755", "--dir", d]
            made.add(d)
        args += ["--ro-bind", src, dest]
    return args


def _others_can_run_python() -> bool:
    """Can an unprivileged uid run this interpreter and read its venv? (Every folder on the way
    needs o+x, the files o+r: a Python under /root, mode 700, fails this.)"""
    paths = {os.path.realpath(sys.executable), os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    for path in paths:
        p = path
        while p and p != "/":
            try:
                mode = os.stat(p).st_mode
            except OSError:
                return False
            if os.path.isdir(p) and not mode & 0o001:
                return False
            if os.path.isfile(p) and not mode & 0o004:
                return False
            p = os.path.dirname(p)
    return True


_BWRAP_OK: bool | None = None
# The probe: the interpreter starts inside bubblewrap as the sandbox uid, and NumPy's files (the package
# and its compiled core, in the venv the worker imports it from) are there and readable to it. (It used
# to import NumPy: the same answer for a tenth of a worker start-up more on every `course grade`.)
_PROBE = "import os, sys; sys.exit(0 if all(os.access(f, os.R_OK) for f in sys.argv[1:]) else 3)"


def _probe_files() -> list[str]:
    import numpy

    core = getattr(getattr(numpy, "_core", None), "_multiarray_umath", None)
    return [os.path.abspath(m.__file__) for m in (numpy, core) if getattr(m, "__file__", None)]



def bubblewrap_available() -> bool:
    """bwrap is installed, we are root (to drop to an unprivileged uid inside), and a probe runs."""
    global _BWRAP_OK
    if os.environ.get("COURSE_SANDBOX") == "process":
        return False
    if _BWRAP_OK is None:
        _BWRAP_OK = False
        if shutil.which("bwrap") and shutil.which("setpriv") and os.geteuid() == 0:
            try:
                probe = subprocess.run(_bwrap_prefix("/") + [sys.executable, "-I", "-S", "-c", _PROBE, *_probe_files()],
                                       capture_output=True, timeout=30)
                _BWRAP_OK = probe.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _BWRAP_OK = False
    if os.environ.get("COURSE_SANDBOX") == "bwrap" and not _BWRAP_OK:
        raise RuntimeError("COURSE_SANDBOX=bwrap but bubblewrap cannot run here (install bubblewrap; needs root)")
    return _BWRAP_OK


def _bwrap_prefix(run_dir: str, uid: int = SANDBOX_UID_BASE, tmp_bytes: int = 64 * 1024 * 1024) -> list[str]:
    return [
        shutil.which("bwrap") or "bwrap",
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "01777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",  # first: a venv under /tmp is bound over it
        *_bwrap_binds(),
        "--ro-bind", run_dir, "/sandbox",
        "--chdir", "/tmp",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--",
        shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
    ]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's worker (from course.toml's [grading])."""

    call_seconds: float = 10.0
    submission_seconds: float = 120.0
    memory_mb: int = 2048
    output_kb: int = 1024
    max_processes: int = 64


class WorkerLost(BaseException):
    """The worker hung, crashed or hit a limit; ``reason`` says which, in words for the student."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SubmissionTimeUp(WorkerLost):
    """The submission's total time budget is spent."""


@dataclass
class CellOutcome:
    index: int
    ok: bool
    error: str = ""


@dataclass
class CallResult:
    ok: bool
    value: object = None
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    mutated: tuple = ()  # arguments the call changed (worker.watched_call)
    aliased: tuple = ()  # array arguments the returned value shares memory with


@dataclass
class LoadReport:
    cells: list[CellOutcome] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class StudentSession:
    """A sandboxed worker holding one submission's code."""

    def __init__(self, cells: list[tuple[int, str]], limits: Limits):
        if os.name == "nt":  # the worker's pipes, process group and fork-time limits are POSIX's
            raise RuntimeError("the grading sandbox needs Linux or macOS (on Windows: WSL); the self-check "
                               "cells inside the notebook work on Windows as they are")
        self.cells = cells
        self.limits = limits
        self.bwrap = bubblewrap_available()
        # Without bubblewrap, root still drops to an unprivileged uid where the interpreter allows it
        # (rlimits on processes bind only non-root users, and root could lift the others).
        self.drop_uid = not self.bwrap and hasattr(os, "geteuid") and os.geteuid() == 0 and _others_can_run_python()
        process = MODE_PROCESS if set(rlimits_available()) == set(RLIMITS) else \
            f"process isolation + {limits_description()}"
        if self.bwrap:
            self.mode = MODE_BWRAP
        elif self.drop_uid:
            self.mode = process + ", unprivileged uid"
        elif hasattr(os, "geteuid") and os.geteuid() == 0:
            self.mode = process + " (as root: the interpreter is not readable by other users, so no uid drop)"
        else:
            self.mode = process
        self.skipped: dict[int, str] = {}
        self.load_report: LoadReport | None = None
        self.restarts = 0  # workers started, as reported (a restart after a speculative call's loss is not counted)
        self._spawns = 0  # workers started: names their run folder and output file
        self._uncounted_restart = False
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._to_worker = self._from_worker = -1
        self._started = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "StudentSession":
        self._dir = Path(tempfile.mkdtemp(prefix="course-sandbox-"))
        return self

    def __exit__(self, *exc) -> None:
        self._stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def deadline(self, seconds: float) -> float:
        return min(time.monotonic() + seconds, self._started + self.limits.submission_seconds)

    def time_left(self) -> float:
        return self._started + self.limits.submission_seconds - time.monotonic()

    def _preexec(self) -> None:  # runs in the child between fork and exec
        if resource is not None:
            mem = self.limits.memory_mb * 1024 * 1024
            cpu = int(self.limits.submission_seconds) + 5
            out = self.limits.output_kb * 1024
            n = self.limits.max_processes
            wanted = {"AS": (mem, mem), "CPU": (cpu, cpu + 5), "FSIZE": (out, out), "CORE": (0, 0), "NPROC": (n, n)}
            for name in rlimits_available():
                try:
                    resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), wanted[name])
                except (ValueError, OSError):  # macOS refuses some values (RLIMIT_AS); Linux takes them all
                    if sys.platform.startswith("linux"):
                        raise
        # Past the file-size limit, writes should fail with EFBIG, not kill the worker silently.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if self.drop_uid:
            os.setgroups([])
            os.setgid(self._uid)
            os.setuid(self._uid)
        die_with_parent(self._parent_pid)  # after the uid change, which would clear it

    def _spawn(self) -> None:
        assert self._dir is not None
        run = self._dir / f"run{self._spawns}"
        run.mkdir()
        for name in ("worker.py", "wire.py"):
            shutil.copy(HERE / name, run / name)
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(run),
            "TMPDIR": str(run),
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # needed on some CPUs for correct BLAS
            if key in os.environ:
                env[key] = os.environ[key]
        self._stdout = open(self._dir / f"stdout{self._spawns}.txt", "wb")
        python = [sys.executable, "-I", "-u", "-X", "faulthandler"]
        if self.bwrap:
            os.chmod(run, 0o755)
            env.update(HOME="/tmp", TMPDIR="/tmp")
            # /tmp is memory: cap it too (the file-size rlimit is per file).
            argv = _bwrap_prefix(str(run), sandbox_uid(), max(4, 4 * self.limits.output_kb // 1024) * 1024 * 1024) + python + ["/sandbox/worker.py", str(p2c_r), str(c2p_w)]
            cwd = "/"
        else:
            argv = python + [str(run / "worker.py"), str(p2c_r), str(c2p_w)]
            cwd = str(run)
            if self.drop_uid:
                os.chmod(self._dir, 0o755)
                os.chmod(run, 0o777)  # the unprivileged worker's only writable place
        self._uid = sandbox_uid() if self.drop_uid else -1
        self._parent_pid = os.getpid()
        self._proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
            pass_fds=(p2c_r, c2p_w),
            start_new_session=True,
            preexec_fn=self._preexec,
        )
        os.close(p2c_r)
        os.close(c2p_w)
        # A worker that stops reading (stopped, or its student code holding the GIL) must not block a
        # large write here forever: writes are non-blocking and bounded by the call's deadline.
        os.set_blocking(p2c_w, False)
        self._to_worker, self._from_worker = p2c_w, c2p_r
        self._reader = wire.FrameReader(c2p_r)

    def _stop(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._proc.wait()
            self._proc = None
        for fd in (self._to_worker, self._from_worker):
            if fd >= 0:
                os.close(fd)
        self._to_worker = self._from_worker = -1
        if getattr(self, "_stdout", None) is not None:
            self._stdout.close()
            self._stdout = None

    def _death_reason(self) -> str:
        """Why the worker is gone, in words (call after a ChannelClosed)."""
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the sandbox closed its channel unexpectedly"
        if self.bwrap and code > 128:  # bwrap reports a child killed by signal N as exit code 128 + N
            code = -(code - 128)
        if code < 0:
            sig = -code
            if sig == signal.SIGXCPU:
                return f"the submission used more than {int(self.limits.submission_seconds)} s of CPU time"
            if sig == signal.SIGKILL:
                return (
                    "the sandbox process was killed (SIGKILL) — usually the memory limit of "
                    f"{self.limits.memory_mb} MB or the process being killed from inside"
                )
            if sig == signal.SIGSEGV:
                return "the sandbox process crashed with a segmentation fault (SIGSEGV)"
            return f"the sandbox process was killed by {_signal_name(sig)}"
        return f"the sandbox process exited with code {code} (os._exit or a crash in native code?)"

    def _timed_out(self, what: str) -> WorkerLost:
        """Stop the worker after a missed deadline; the exception to raise for it."""
        self._stop()
        if time.monotonic() >= self._started + self.limits.submission_seconds - 0.01:
            return SubmissionTimeUp(
                f"the submission's time limit of {self.limits.submission_seconds:g} s ran out during {what}"
            )
        return WorkerLost(f"{what} took longer than {self.limits.call_seconds:g} s and was stopped")

    def _read(self, deadline: float, what: str):
        try:
            return self._reader.read_frame(deadline)
        except wire.ChannelTimeout:
            raise self._timed_out(what) from None
        except wire.ChannelClosed:
            reason = self._death_reason()
            self._stop()
            raise WorkerLost(f"{what}: {reason}") from None
        except wire.WireError as e:
            self._stop()
            raise WorkerLost(f"{what}: the sandbox sent a malformed reply ({e})") from None

    def _send(self, message, deadline: float, what: str) -> None:
        try:
            wire.write_frame(self._to_worker, message, deadline)
        except wire.ChannelTimeout:
            raise self._timed_out(what) from None
        except (BrokenPipeError, OSError):
            reason = self._death_reason()
            self._stop()
            raise WorkerLost(f"{what}: {reason}") from None

    # -- loading ---------------------------------------------------------------------------
    def start(self) -> LoadReport:
        """Start a worker and execute the cells in it, skipping cells that hang or crash it."""
        while True:
            if self.time_left() <= 0:
                raise SubmissionTimeUp(
                    f"the submission's time limit of {self.limits.submission_seconds:g} s ran out while loading the notebook"
                )
            if not (self._spawns == 0 and _take_spare(self)):
                self._spawn()
            self._spawns += 1
            self.restarts += 0 if self._uncounted_restart else 1
            self._uncounted_restart = False
            cells = [(i, src) for i, src in self.cells if i not in self.skipped]
            current = None
            try:
                # The interpreter's start-up (seconds on a loaded machine) is not a cell's time: the
                # call limit runs from the worker's first message on.
                self._send(
                    {"op": "load", "cells": [{"index": i, "source": s} for i, s in cells]},
                    self.deadline(self.limits.call_seconds + STARTUP_SECONDS),
                    "loading the notebook",
                )
                while True:
                    seconds = self.limits.call_seconds + (STARTUP_SECONDS if current is None else 0)
                    msg = self._read(self.deadline(seconds), "running a notebook cell")
                    if isinstance(msg, dict) and msg.get("event") == "cell_start" and type(msg.get("index")) is int:
                        current = msg["index"]
                        continue
                    break
                report = self._load_report(msg)
            except SubmissionTimeUp:
                raise
            except WorkerLost as lost:
                if current is None:
                    raise
                self.skipped[current] = lost.reason.replace("running a notebook cell", f"cell {current}")
                continue
            for i, reason in sorted(self.skipped.items()):
                report.cells.append(CellOutcome(i, False, f"skipped: {reason}"))
            report.cells.sort(key=lambda c: c.index)
            self.load_report = report
            return report

    def _load_report(self, msg) -> LoadReport:
        """Validate the worker's "loaded" message: the student's code shares the worker's process
        and could write a forged one, which must cost this submission, never crash the grader."""
        try:
            assert isinstance(msg, dict) and msg.get("event") == "loaded"
            cells = [CellOutcome(int(c["index"]), bool(c["ok"]), str(c["error"])) for c in msg["cells"]]
            functions = {str(f) for f in msg["functions"]}
        except (AssertionError, KeyError, TypeError, ValueError):
            self._stop()
            raise WorkerLost("loading the notebook: the sandbox sent a malformed reply "
                             "(did the code write to the grader's pipe?)") from None
        return LoadReport(cells=cells, functions=functions)

    # -- calls -----------------------------------------------------------------------------
    def call(self, fn: str, *args, **kwargs) -> CallResult:
        """Call the student's ``fn`` in the worker; raises WorkerLost if the worker fails."""
        if self._proc is None:
            self.start()
        what = f"calling {fn}()"
        deadline = self.deadline(self.limits.call_seconds)
        self._send({"op": "call", "fn": fn, "args": list(args), "kwargs": kwargs, "answered": sorted(self.answers)},
                   deadline, what)
        return self._reply(what, deadline)

    def batch(self, calls: list[tuple[str, list, dict, dict]]) -> "CallBatch":
        """Send several calls in one frame: (fn, args, kwargs, memo) each; read their replies from the
        returned :class:`CallBatch`, in order. ``memo`` maps the sha256 of an ask frame (see worker.py)
        to the answer the grader would give it."""
        if self._proc is None:
            self.start()
        answered = sorted(self.answers)
        specs = [{"fn": fn, "args": list(args), "kwargs": kwargs, "answered": answered, "memo": memo}
                 for fn, args, kwargs, memo in calls]
        first = calls[0][0] if calls else "?"
        self._send({"op": "batch", "calls": specs}, self.deadline(self.limits.call_seconds), f"calling {first}()")
        return CallBatch(self, [c[0] for c in calls], self._proc)

    def _reply(self, what: str, deadline: float) -> CallResult:
        """Read one call's reply (answering its asks on the way)."""
        msg = self._read(deadline, what)
        while isinstance(msg, dict) and msg.get("event") == "ask":  # see answering()
            self._send(self._answer(msg), deadline, what)
            msg = self._read(deadline, what)
        if not isinstance(msg, dict) or not isinstance(msg.get("ok"), bool):
            self._stop()
            raise WorkerLost(f"{what}: the sandbox sent a malformed reply (did the code write to the grader's pipe?)")
        if msg.get("ok") is True:
            return CallResult(True, value=msg.get("value"), mutated=tuple(str(n) for n in msg.get("mutated") or ()),
                              aliased=tuple(str(n) for n in msg.get("aliased") or ()))
        return CallResult(
            False,
            error_type=str(msg.get("error_type", "")),
            error=str(msg.get("error", "")),
            traceback=str(msg.get("traceback", "")),
        )

    answers: dict = {}  # function name -> the grader's stand-in (the reference), while answering()

    def answering(self, answers: dict):
        """While in this context, the student's calls of these functions (made from the function
        being graded) are answered here, by the given trusted functions, with data."""
        import contextlib

        @contextlib.contextmanager
        def scope():
            before, self.answers = self.answers, dict(answers)
            try:
                yield self
            finally:
                self.answers = before

        return scope()

    def _answer(self, msg: dict) -> dict:
        fn = self.answers.get(msg.get("fn"))
        try:
            if fn is None:
                raise NameError(f"{msg.get('fn')!r} is not answered by the grader")
            reply = {"op": "answer", "ok": True, "value": fn(*msg.get("args", ()), **msg.get("kwargs", {}))}
            wire.encode(reply)  # a value the wire cannot carry is an error for the caller, not the grader
            return reply
        except Exception as e:  # the arguments the student's code passed made the reference raise
            return {"op": "answer", "ok": False, "error_type": type(e).__name__, "error": str(e)[:2000]}

    def output_excerpt(self, limit: int = 2000) -> str:
        """The first ``limit`` characters the student's code printed (all runs)."""
        if self._dir is None:
            return ""
        text = ""
        runs = sorted(self._dir.glob("stdout*.txt"), key=lambda f: int(f.stem[6:]))  # stdout2 before stdout10
        for f in runs:
            with open(f, "rb") as fh:
                text += fh.read(limit).decode("utf-8", "replace")
            if len(text) >= limit:
                break
        return text[:limit]


class CallBatch:
    """The replies of a batch of calls, read one at a time, in order.

    Each reply is read with the call limit counted from the moment the grader asks for it (the
    worker started that call no later): a hang or crash in a call is reported with the words of a
    single call (``calling fn() took longer than ...``). The worker runs no call after one that
    raised NotImplementedError (an exercise not done yet), so ``pending`` drops to 0 there; it goes
    on after any other error (a check may expect one: which calls should raise is not its business).
    """

    def __init__(self, session: StudentSession, fns: list[str], proc):
        self.session = session
        self.fns = fns
        self.read = 0
        self.pending = len(fns)
        self._proc = proc  # the worker that runs the batch: once it is gone, nothing more will come

    @property
    def alive(self) -> bool:
        return self.pending > 0 and self.session._proc is self._proc

    def next(self) -> CallResult:
        """The next call's reply (raises WorkerLost as a single call would)."""
        if not self.alive:
            raise RuntimeError("no reply pending in this batch")
        s = self.session
        fn = self.fns[self.read]
        self.read += 1
        self.pending -= 1
        try:
            r = s._reply(f"calling {fn}()", s.deadline(s.limits.call_seconds))
        except BaseException:
            self.pending = 0
            raise
        if not r.ok and r.error_type == "NotImplementedError":
            self.pending = 0
        return r

    def discard(self) -> None:
        """Read and drop the replies still to come: calls that grading one call at a time would not
        have made. If one of them loses the worker (a hang, a crash), the next call starts a fresh
        worker, and that restart is not reported (one-call-at-a-time grading had none)."""
        try:
            while self.alive:
                self.next()
        except SubmissionTimeUp:
            raise
        except WorkerLost:
            self.session._uncounted_restart = True


# -- a worker started ahead of time ------------------------------------------------------------------
_spare: StudentSession | None = None


def prestart(limits: Limits) -> None:
    """Start a worker now, for the next StudentSession with these limits to take over.

    Its interpreter's start (0.6-0.8 s to a loaded worker under load average 10, measured) then runs
    beside the grader's own start (importing the checks, loading the recorded cases) instead of
    after it. The worker holds nothing of any submission until the session that takes it sends the
    cells; the submission's time starts when that session is made, as it does for a worker it
    starts itself. One spare at a time, used only by the process that made it; a spare no session
    takes is stopped at exit (and dies with this process in any case, as every worker does)."""
    global _spare
    if _spare is not None or os.name == "nt":
        return
    spare = StudentSession([], limits)
    spare.__enter__()
    try:
        spare._spawn()
    except OSError:
        spare.__exit__(None, None, None)
        return
    _spare = spare
    import atexit

    atexit.register(drop_spare)


def drop_spare() -> None:
    """Stop the spare worker, if there is one."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None:
        spare.__exit__(None, None, None)


def _take_spare(session: StudentSession) -> bool:
    """Give ``session`` the spare worker (its process, pipes and folder) if it fits; True if it did."""
    global _spare
    spare, _spare = _spare, None
    if spare is None:
        return False
    fits = (spare.limits == session.limits and spare.mode == session.mode and spare._parent_pid == os.getpid()
            and spare._proc is not None and spare._proc.poll() is None and session._dir is not None)
    if not fits:
        spare.__exit__(None, None, None)
        return False
    shutil.rmtree(session._dir, ignore_errors=True)  # the session's own, still empty, folder
    for name in ("_dir", "_proc", "_to_worker", "_from_worker", "_reader", "_stdout", "_uid", "_parent_pid"):
        setattr(session, name, getattr(spare, name))
    spare._dir, spare._proc, spare._stdout = None, None, None
    spare._to_worker = spare._from_worker = -1
    return True
