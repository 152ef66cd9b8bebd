"""Tests of the sandbox (labgrader/sandbox/session.py + worker.py): a real worker process per test.

Each test starts a StudentSession over a few hand-written "notebook cells" and checks what the
grader sees: plain values, errors as CallResults, and WorkerLost (never a hang, never a crash of
the grader) when the student's code loops, exits, or exhausts a limit. Limits are small so that
the whole file runs in well under a minute; the expected values are computed here with NumPy.

Nothing here depends on the machine's speed or load: elapsed times are bounded below where a limit
must not cut a call short, and above only by HANG_GUARD, which tells "stopped" from "hung".
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import threading
import time
from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest
from processes import alive, process_tree, wait_until

from labgrader.sandbox.session import MODE_BWRAP, MODE_PROCESS, bubblewrap_available
from labgrader.sandbox import Limits, StudentSession, SubmissionTimeUp, WorkerLost

CALL_SECONDS = 2
HANG_GUARD = 60  # seconds: only a hang takes this long, however loaded the machine
LIMITS = Limits(call_seconds=CALL_SECONDS, submission_seconds=30, memory_mb=1024, output_kb=64)

HELPERS = dedent(
    """
    import os, sys, time
    import numpy as np

    def double(x):
        return x * 2

    import secrets
    WORKER_TOKEN = secrets.token_hex(8)  # new in every worker (pids repeat inside a pid namespace)

    def where_am_i():
        return {"cwd": os.getcwd(), "env": dict(os.environ), "pid": WORKER_TOKEN}
    """
)


def cells(*sources: str) -> list[tuple[int, str]]:
    return [(i, dedent(s)) for i, s in enumerate(sources)]


def session(*sources: str, limits: Limits = LIMITS) -> StudentSession:
    return StudentSession(cells(HELPERS, *sources), limits)


def assert_alive(s: StudentSession) -> None:
    """The session still answers: double() of a fresh array comes back right."""
    x = np.arange(4.0)
    r = s.call("double", x)
    assert r.ok, r
    assert type(r.value) is np.ndarray and np.array_equal(r.value, x * 2)


# -- loading and calling -----------------------------------------------------------------------------
def test_loads_cells_and_calls_a_function():
    with session("def stats(x):\n    return {'mean': float(x.mean()), 'shape': x.shape, 'rows': x.sum(axis=1)}") as s:
        report = s.start()
        assert [(c.index, c.ok) for c in report.cells] == [(0, True), (1, True)]
        assert {"double", "where_am_i", "stats"} <= report.functions

        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        r = s.call("double", x)
        assert r.ok and (r.error_type, r.error, r.traceback) == ("", "", "")
        assert type(r.value) is np.ndarray and r.value.dtype == np.float32
        assert np.array_equal(r.value, x * 2)

        r = s.call("stats", x)
        assert r.ok
        assert r.value["mean"] == 2.5 and r.value["shape"] == (2, 3)
        assert type(r.value["rows"]) is np.ndarray and r.value["rows"].tolist() == [3.0, 12.0]


def test_keyword_arguments_and_unknown_functions():
    with session("def scale(x, *, by=1.0):\n    return x * by") as s:
        r = s.call("scale", np.ones(2), by=3.0)
        assert r.ok and r.value.tolist() == [3.0, 3.0]
        r = s.call("no_such_function", 1)
        assert not r.ok and r.error_type == "NameError" and "no_such_function" in r.error


def test_an_exception_in_a_call_is_reported_with_its_traceback():
    with session("def broken(x):\n    return x / undefined_name") as s:
        r = s.call("broken", 1.0)
        assert not r.ok
        assert r.error_type == "NameError" and "undefined_name" in r.error
        assert "<cell 1>" in r.traceback and "worker.py" not in r.traceback
        assert_alive(s)


def test_a_cell_that_raises_is_reported_and_the_next_cells_still_run():
    with session(
        "raise ValueError('cell one is broken')",
        "def after_error():\n    return 'after error'",
        "def broken(:\n    pass",
        "import sys\nsys.exit(0)",
        "def after_exit():\n    return 'after exit'",
    ) as s:
        report = s.start()
        by_index = {c.index: c for c in report.cells}
        assert not by_index[1].ok and "ValueError" in by_index[1].error and "cell one is broken" in by_index[1].error
        assert not by_index[3].ok and "SyntaxError" in by_index[3].error
        assert not by_index[4].ok and "SystemExit" in by_index[4].error
        assert by_index[2].ok and by_index[5].ok
        assert s.call("after_error").value == "after error"
        assert s.call("after_exit").value == "after exit"


def test_notebook_magics_are_ignored():
    with session("%matplotlib inline\n!pip install numpy\ndef after_magic():\n    return 7") as s:
        report = s.start()
        assert all(c.ok for c in report.cells), report.cells
        assert s.call("after_magic").value == 7


def test_a_top_level_infinite_loop_cell_is_skipped():
    with session(
        "def before_loop():\n    return 'before'",
        "while True:\n    pass",
        "def after_loop():\n    return 'after'",
    ) as s:
        start = time.monotonic()
        report = s.start()
        assert time.monotonic() - start < CALL_SECONDS + HANG_GUARD
        loop = next(c for c in report.cells if c.index == 2)
        assert not loop.ok
        assert loop.error.startswith("skipped:") and f"{CALL_SECONDS} s" in loop.error
        assert [c.index for c in report.cells if c.ok] == [0, 1, 3]
        assert set(s.skipped) == {2}
        assert s.call("before_loop").value == "before"
        assert s.call("after_loop").value == "after"


@pytest.mark.parametrize("module", ["reference_impl", "reference_impl.distillation", "labgrader",
                                    "labgrader.sandbox.wire", "labdatasets"])
def test_the_course_packages_cannot_be_imported(module):
    with session(
        f"import {module}",
        "import importlib\ndef load(name):\n    importlib.import_module(name)\n    return 'imported'",
    ) as s:
        report = s.start()
        cell = next(c for c in report.cells if c.index == 1)
        assert not cell.ok and "ImportError" in cell.error
        r = s.call("load", module)
        assert not r.ok and r.error_type == "ImportError", r
        # The control: an ordinary module imports fine in the same worker.
        assert s.call("load", "json").value == "imported"


# -- hangs, exits and limits ----------------------------------------------------------------------
def test_a_call_that_loops_forever_loses_the_worker_and_the_next_call_works():
    with session("def spin():\n    while True:\n        pass") as s:
        assert_alive(s)
        start = time.monotonic()
        with pytest.raises(WorkerLost) as info:
            s.call("spin")
        assert CALL_SECONDS <= time.monotonic() - start < CALL_SECONDS + HANG_GUARD
        assert not isinstance(info.value, Exception)  # so hypothesis does not shrink it as a failure
        assert not isinstance(info.value, SubmissionTimeUp)
        assert "spin" in info.value.reason and f"{CALL_SECONDS} s" in info.value.reason
        assert s.restarts == 1
        assert_alive(s)  # a fresh worker, with the cells loaded again
        assert s.restarts == 2


def test_os_exit_in_a_call_names_the_exit_code():
    with session("def bail():\n    os._exit(3)") as s:
        first = s.call("where_am_i").value["pid"]
        with pytest.raises(WorkerLost) as info:
            s.call("bail")
        assert "code 3" in info.value.reason
        assert s.call("where_am_i").value["pid"] != first
        assert_alive(s)


def test_a_fatal_signal_is_named():
    with session("import signal\ndef crash():\n    os.kill(os.getpid(), signal.SIGSEGV)") as s:
        with pytest.raises(WorkerLost) as info:
            s.call("crash")
        assert "SIGSEGV" in info.value.reason
        assert_alive(s)


@pytest.mark.parametrize(
    "body, error_type",
    [("sys.exit()", "SystemExit"), ("sys.exit(4)", "SystemExit"), ("raise KeyboardInterrupt", "KeyboardInterrupt"),
     ("raise BaseException('out')", "BaseException"), ("raise GeneratorExit", "GeneratorExit")],
)
def test_exits_and_base_exceptions_are_errors_and_the_worker_survives(body, error_type):
    with session(f"def leave():\n    {body}") as s:
        pid = s.call("where_am_i").value["pid"]
        r = s.call("leave")
        assert not r.ok and r.error_type == error_type
        assert s.call("where_am_i").value["pid"] == pid
        assert s.restarts == 1


@pytest.mark.parametrize(
    "body",
    ["return float(np.ones(4 * 1024**3 // 8).sum())",  # one 4 GB allocation
     "chunks = []\n    while True:\n        chunks.append(np.ones(10**7))"],  # 80 MB at a time
    ids=["4GB", "growing"],
)
def test_a_memory_bomb_fails_without_hanging_or_touching_the_grader(body):
    """The bomb fails (MemoryError, or the worker killed) and the grader is untouched.

    A growing bomb touches every page, and first-touch page faults are slow and erratic on some VMs
    (filling 880 MB took 0.08 s to 2.2 s): it may reach the call's time limit before the memory limit.
    A small memory limit (256 MB, ~100 MB of which the interpreter and NumPy take) makes that rare,
    and the time limit is the documented other way such a bomb ends: either way it is contained.
    """
    grader_limit = resource.getrlimit(resource.RLIMIT_AS)
    limits = dataclasses.replace(LIMITS, memory_mb=256)
    with session(f"def bomb():\n    {body}", limits=limits) as s:
        s.start()
        start = time.monotonic()
        try:
            r = s.call("bomb")
        except WorkerLost as lost:
            assert ("memory" in lost.reason or "killed" in lost.reason
                    or lost.reason == f"calling bomb() took longer than {CALL_SECONDS} s and was stopped"), lost.reason
        else:
            assert not r.ok and r.error_type == "MemoryError", r
        assert time.monotonic() - start < CALL_SECONDS + HANG_GUARD
        assert_alive(s)
    assert resource.getrlimit(resource.RLIMIT_AS) == grader_limit
    assert np.ones(256 * 1024**2 // 8).sum() == 256 * 1024**2 // 8  # the grader can still allocate


@pytest.mark.parametrize(
    "body, first_printed",
    [("print('x' * 5_000_000)", "xxx"), ("for i in range(200_000):\n        print('line', i)", "line 0\nline 1\n")],
    ids=["one-big-print", "many-lines"],
)
def test_printing_megabytes_is_bounded(body, first_printed):
    with session(f"def shout():\n    {body}\n    return 'done'") as s:
        s.start()
        start = time.monotonic()
        try:
            r = s.call("shout")
        except WorkerLost:
            pass
        else:
            assert r.ok or r.error_type == "OSError", r
        assert time.monotonic() - start < CALL_SECONDS + HANG_GUARD
        assert all(f.stat().st_size <= LIMITS.output_kb * 1024 for f in s._dir.glob("stdout*.txt"))
        excerpt = s.output_excerpt()
        assert 0 < len(excerpt) <= 2000
        assert excerpt.startswith(first_printed)
        assert len(s.output_excerpt(limit=100)) == 100


@pytest.mark.parametrize(
    "source",
    [
        "class Liar:\n    def __eq__(self, other):\n        return True\ndef cheat():\n    return Liar()",
        "class Sneaky(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
        "def cheat():\n    return np.zeros(3).view(Sneaky)",
        "class Fl(float):\n    def __eq__(self, other):\n        return True\ndef cheat():\n    return [1.0, Fl(2.0)]",
        "def cheat():\n    return (x for x in range(3))",
        "def cheat():\n    return np.array([object()])",
    ],
    ids=["rigged-eq", "ndarray-subclass", "float-subclass", "generator", "object-array"],
)
def test_values_that_are_not_plain_data_do_not_cross(source):
    with session(source) as s:
        r = s.call("cheat")
        assert r.ok is False and r.error_type == "UnsupportedReturnValue", r
        assert r.value is None
        assert_alive(s)
        assert s.restarts == 1


def test_a_forged_reply_on_the_protocol_pipe_loses_the_worker():
    """Bytes the student writes to the grader's pipe are never trusted: they cost the worker, not the grader."""
    forged = (
        "import json, struct\n"
        "def forge():\n"
        "    h = json.dumps({'body': {'__ndarray__': 5, 'dtype': '<f8', 'shape': [1]}, 'buffers': []}).encode()\n"
        "    os.write(int(sys.argv[2]), struct.pack('<Q', len(h)) + h)\n"
        "    return 1"
    )
    with session(forged) as s:
        with pytest.raises(WorkerLost) as info:
            s.call("forge")
        assert "malformed" in info.value.reason
        assert_alive(s)


def test_a_student_mutating_an_input_does_not_touch_the_callers_array():
    with session("def zero_it(x):\n    x[:] = 0\n    return float(x.sum())") as s:
        x = np.arange(1.0, 6.0)
        r = s.call("zero_it", x)
        assert r.ok and r.value == 0.0  # the student's copy was zeroed...
        assert x.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # ...the grader's was not


def test_worker_environment_and_private_directory_in_process_mode(monkeypatch):
    monkeypatch.setenv("COURSE_SANDBOX", "process")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    monkeypatch.setenv("COURSE_TEST_CANARY", "grader-only")
    with session("import sys\ndef flags():\n    return sys.flags.isolated") as s:
        assert s.mode.startswith(MODE_PROCESS)
        info = s.call("where_am_i").value
        cwd = Path(info["cwd"])
        assert "PYTHONPATH" not in info["env"] and "COURSE_TEST_CANARY" not in info["env"]
        assert info["env"]["HOME"] == str(cwd)
        assert cwd.is_dir() and Path(os.getcwd()) not in cwd.parents and cwd != Path(os.getcwd())
        # Its private directory holds its own copies of worker.py and wire.py, nothing of the repository.
        assert {p.name for p in cwd.iterdir()} - {"__pycache__"} == {"wire.py", "worker.py"}
        assert s.call("flags").value == 1
    assert not cwd.exists()
    assert not cwd.parent.exists()


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not bubblewrap_available(), reason="bubblewrap is not installed or cannot run here (needs root)")
def test_bubblewrap_mode_hides_the_repository_and_the_network(monkeypatch):
    monkeypatch.setenv("COURSE_TEST_CANARY", "grader-only")
    probe = f"""
    import socket, sys
    def probe():
        out = {{"uid": os.getuid(), "root": sorted(os.listdir("/")), "isolated": sys.flags.isolated}}
        for name, path in [("abs", {str(REPO / "reference_impl" / "distillation.py")!r}),
                           ("rel", "../reference_impl/distillation.py"), ("sol", {str(REPO / "solutions")!r})]:
            try:
                open(path).read() if not path.endswith("solutions") else os.listdir(path)
                out[name] = "READ"
            except OSError as e:
                out[name] = type(e).__name__
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=2)
            out["net"] = "CONNECTED"
        except OSError as e:
            out["net"] = e.errno
        try:
            out["repo"] = sorted(os.listdir({str(REPO)!r}))
        except OSError as e:
            out["repo"] = type(e).__name__
        try:
            open("/etc/hostname-from-sandbox", "w")
            out["rofs"] = "WROTE"
        except OSError as e:
            out["rofs"] = type(e).__name__
        with open("/tmp/scratch.txt", "w") as f:
            f.write("private tmp works")
        return out
    """
    with session(probe) as s:
        assert s.mode == MODE_BWRAP
        info = s.call("where_am_i").value
        assert info["cwd"] == "/tmp" and info["env"]["HOME"] == "/tmp"
        assert "COURSE_TEST_CANARY" not in info["env"]
        out = s.call("probe").value
    assert out["uid"] >= 61000
    assert out["abs"] == out["rel"] == out["sol"] == "FileNotFoundError"
    assert out["net"] == 101  # ENETUNREACH: no network namespace route at all
    assert out["rofs"] in ("OSError", "PermissionError")
    # The repository's folder exists only as the way to a venv inside it (bound alone), never its files.
    venv = Path(sys.prefix)
    expected_repo = [venv.name] if venv.parent == REPO else "FileNotFoundError"
    assert out["repo"] == expected_repo


def test_the_submission_budget_runs_out_across_slow_calls():
    """Calls of 1 s, each well within its 6 s limit, run out the submission's 8 s (a call cut short by
    its own limit would raise a plain WorkerLost, failing pytest.raises)."""
    limits = Limits(call_seconds=6, submission_seconds=8, memory_mb=1024, output_kb=64)
    with session("def slow():\n    time.sleep(1.0)\n    return 'slept'", limits=limits) as s:
        s.start()
        ok = 0
        with pytest.raises(SubmissionTimeUp) as info:
            for _ in range(100):
                assert s.call("slow").value == "slept"
                ok += 1
        assert 1 <= ok < 8
        assert "8 s" in info.value.reason
        assert isinstance(info.value, WorkerLost)
        restarts = s.restarts
        with pytest.raises(SubmissionTimeUp):  # and it stays spent: no new worker is even started
            s.call("double", np.ones(1))
        assert s.restarts == restarts


def wait_until_stopped(s: StudentSession) -> None:
    """Wait (up to HANG_GUARD) until a process of the session's worker is stopped (SIGSTOP)."""
    assert wait_until(lambda: "T" in process_tree(s._proc.pid).values(), HANG_GUARD), "the worker never stopped itself"


def test_a_worker_that_stops_reading_cannot_block_a_large_call():
    """Sending arguments is bounded by the call's time limit too: a frozen worker costs a WorkerLost."""
    freezer = (
        "import signal, threading\n"
        "def freeze_later():\n"
        "    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGSTOP)).start()\n"
        "    return 'frozen soon'"
    )
    with session(freezer) as s:
        assert s.call("freeze_later").value == "frozen soon"
        wait_until_stopped(s)  # the worker is stopped now, its input pipe unread
        outcome: list = []

        def big_call():
            try:
                outcome.append(s.call("double", np.zeros(1_000_000)))  # 8 MB: far more than a pipe holds
            except WorkerLost as lost:
                outcome.append(lost)

        caller = threading.Thread(target=big_call, daemon=True)
        start = time.monotonic()
        caller.start()
        caller.join(CALL_SECONDS + HANG_GUARD)
        assert not caller.is_alive(), "the grader hung writing to a worker that does not read"
        assert CALL_SECONDS - 0.1 <= time.monotonic() - start < CALL_SECONDS + HANG_GUARD
        assert len(outcome) == 1 and isinstance(outcome[0], WorkerLost), outcome
        assert f"{CALL_SECONDS} s" in outcome[0].reason
        assert_alive(s)


def test_output_excerpt_keeps_the_order_of_runs_past_ten_restarts():
    with session("def say(i):\n    print(f'<{i}>')", "def bail():\n    os._exit(3)") as s:
        for i in range(12):
            assert s.call("say", i).ok
            with pytest.raises(WorkerLost):
                s.call("bail")
        assert s.restarts == 12
        assert s.output_excerpt() == "".join(f"<{i}>\n" for i in range(12))


# -- a worker started ahead of time (prestart) -------------------------------------------------------
def _gone(pid: int) -> bool:
    return not alive(process_tree(pid))


def test_a_session_takes_the_prestarted_worker_and_the_next_one_starts_its_own():
    from labgrader.sandbox import session as sandbox_session

    sandbox_session.prestart(LIMITS)
    spare_pid = sandbox_session._spare._proc.pid
    try:
        with session() as s:
            s.start()
            assert s._proc.pid == spare_pid  # the prestarted worker, now holding this submission's cells
            x = np.arange(6.0)
            np.testing.assert_array_equal(s.call("double", x).value, x * 2)
            assert s.call("where_am_i").value["cwd"]  # answers like any worker
            assert s.restarts == 1
        assert wait_until(lambda: _gone(spare_pid), HANG_GUARD)  # stopped with the session
        with session() as s2:
            s2.start()
            assert s2._proc.pid != spare_pid
            assert_alive(s2)
    finally:
        sandbox_session.drop_spare()


def test_a_session_with_other_limits_does_not_take_the_spare_and_stops_it():
    from labgrader.sandbox import session as sandbox_session

    sandbox_session.prestart(LIMITS)
    spare_pid = sandbox_session._spare._proc.pid
    try:
        with session(limits=dataclasses.replace(LIMITS, memory_mb=LIMITS.memory_mb + 1)) as s:
            s.start()
            assert s._proc.pid != spare_pid
            assert sandbox_session._spare is None
            assert wait_until(lambda: _gone(spare_pid), HANG_GUARD)
            assert_alive(s)
    finally:
        sandbox_session.drop_spare()


def test_a_spare_nobody_takes_is_stopped_when_the_grader_exits():
    import subprocess

    code = ("from labgrader.sandbox import session as s, Limits; s.prestart(Limits()); "
            "print(s._spare._proc.pid, flush=True)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD, check=True)
    pid = int(out.stdout.split()[0])
    assert wait_until(lambda: _gone(pid), HANG_GUARD)
