"""Ctrl-C on a real `course grade --jobs 2` (a pool) and `--jobs 1` (in process): the first stops the
batch and keeps what is finished, the second exits at once.

Two quick submissions (ann, bob) come first in the queue, then four slow ones whose softmax_t sleeps
on every call (each takes minutes to grade). SIGINT is sent once ann and bob have results, while two
slow ones are running and two are queued. Timeouts here are hang guards only, never assertions on speed.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

SLOW = '''
import time as _t
def softmax_t(logits, T=1.0):
    _t.sleep(0.5)
    z = np.asarray(logits, dtype=np.float64) / T
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''
QUICK, SLOW_NAMES = ("ann", "bob"), ("cy", "dee", "eve", "fay")


@pytest.fixture(params=[2, 1], ids=["jobs2", "jobs1"])
def batch(request, tmp_path, course, lab01, submission_maker):
    subs = tmp_path / "subs"
    for name in QUICK:
        submission_maker(subs / f"{name}.ipynb", lab01, course)
    for name in SLOW_NAMES:
        submission_maker(subs / f"{name}.ipynb", lab01, course, {"softmax_t": SLOW})
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "labgrader.cli", "grade", "lab01", str(subs), "--out", str(out),
            "--jobs", str(request.param), "--profile", "quick"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "1"})
    deadline = time.monotonic() + 600  # hang guard
    while not all((out / n / "results.json").is_file() for n in QUICK):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the quick submissions were never graded"
        time.sleep(0.2)
    time.sleep(2)  # slow ones are now running (two with --jobs 2, one with --jobs 1)
    yield proc, out, request.param
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _children(pid: int) -> list[int]:
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def test_first_ctrl_c_stops_the_batch_and_keeps_finished_results(batch):
    proc, out, _ = batch
    pool = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)  # hang guard: it must not grade the queue
    assert proc.returncode == 130, err
    assert "interrupted" in err and "rerun the same command" in err
    for n in QUICK:
        assert (out / n / "results.json").is_file()
    assert not any((out / n / "results.json").is_file() for n in ("eve", "fay"))  # queued: cancelled
    with open(out / "gradebook.csv", newline="") as fh:
        listed = [r["submission"] for r in csv.DictReader(fh)]
    assert listed[:2] == list(QUICK) and set(listed) <= set(QUICK) | {"cy", "dee"}
    assert not [p for p in pool if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]  # the pool is gone


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_second_ctrl_c_exits_at_once(batch):
    proc, out, jobs = batch
    if jobs == 1:
        pytest.skip("in process the first Ctrl-C already stops the running grading at once")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # hang guard
    assert proc.returncode == 130, err
    assert "interrupted twice" in err
    for n in QUICK:
        assert (out / n / "results.json").is_file()


def test_a_pool_worker_closes_its_sandboxes_once_when_sigterm_comes_twice():
    """The pool's own terminate() can follow ours while the first close is still running; a nested
    close would wait on the lock the outer one holds (Popen.wait) and never exit."""
    from labgrader import grade

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the pool worker
        os.close(r)

        class Session:
            def __exit__(self, *exc):
                os.kill(os.getpid(), signal.SIGTERM)  # the second SIGTERM, mid-close
                time.sleep(0.2)
                os.write(w, b"closed\n")

        grade._OPEN_SESSIONS.clear()
        grade._OPEN_SESSIONS.add(Session())
        signal.signal(signal.SIGTERM, grade._close_and_exit)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        os._exit(3)  # not reached unless the handler never exited
    os.close(w)
    deadline = time.monotonic() + 60  # hang guard
    while (got := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        assert time.monotonic() < deadline, "the worker never exited"
        time.sleep(0.05)
    with os.fdopen(r) as fh:
        closes = fh.read().split()
    assert os.waitstatus_to_exitcode(got[1]) == 128 + signal.SIGTERM
    assert closes == ["closed"]
