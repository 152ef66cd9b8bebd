"""Process lifecycle of the grader (labgrader/sandbox/session.py): no process outlives it, no uid is shared.

* A grader killed with SIGKILL in the middle of a ``course grade --jobs 2`` batch leaves nothing behind
  within 5 s: not its pool workers, not the sandbox workers, not bubblewrap (the kernel's parent-death
  signal, bubblewrap's ``--die-with-parent`` and its pid namespace).
* Two graders never get the same sandbox uid (a shared uid would share one process limit), even when
  their pids say the same ``pid % 4000``; a uid is free again the moment its grader dies, however.

Linux only (/proc, prctl, flock); timings are hang guards, never measurements.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from processes import alive, command_line, process_tree, wait_until

from labgrader.config import REPO_ROOT
from labgrader.sandbox.session import SANDBOX_UID_BASE, SANDBOX_UID_COUNT, bubblewrap_available

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; prctl and flock are Linux's")
HANG_GUARD = 120  # seconds: only a hang takes this long
NO_SURVIVOR_SECONDS = 5


# -- uids ---------------------------------------------------------------------------------------------
HOLD_UID = """
import sys
from pathlib import Path
from labgrader.sandbox.session import allocate_uid
uid, fd = allocate_uid(start=int(sys.argv[1]), lock_dir=Path(sys.argv[2]))
print(uid, flush=True)
sys.stdin.read()  # hold the uid until told to go
"""


def hold_uid(start: int, lock_dir: Path) -> tuple[subprocess.Popen, int]:
    """A process that allocated a uid from ``start`` on and holds it: (the process, its uid)."""
    p = subprocess.Popen([sys.executable, "-c", HOLD_UID, str(start), str(lock_dir)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def test_two_graders_with_the_same_pid_modulo_never_share_a_uid(tmp_path):
    last = SANDBOX_UID_COUNT - 1  # the last uid: the next one wraps around to the first
    first, uid_a = hold_uid(last, tmp_path)
    second, uid_b = hold_uid(last, tmp_path)
    third, uid_c = hold_uid(last, tmp_path)
    try:
        assert uid_a == SANDBOX_UID_BASE + last
        assert uid_b == SANDBOX_UID_BASE  # taken: the next, wrapping around
        assert uid_c == SANDBOX_UID_BASE + 1
        # The first grader dies without any clean-up: its uid is free again at once.
        first.kill()
        first.wait()
        fourth, uid_d = hold_uid(last, tmp_path)
        assert uid_d == uid_a
        fourth.kill()
        fourth.wait()
    finally:
        for p in (first, second, third):
            p.kill()
            p.wait()


def test_a_forked_grading_process_allocates_its_own_uid(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from labgrader.sandbox.session import sandbox_uid
        mine = sandbox_uid()
        assert sandbox_uid() == mine  # held for the process's life
        r, w = os.pipe()
        if os.fork() == 0:
            os.write(w, str(sandbox_uid()).encode())
            os._exit(0)
        os.wait()
        print(mine, os.read(r, 100).decode())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=HANG_GUARD,
                         env={**os.environ, "COURSE_SANDBOX_UID_DIR": str(tmp_path)}, check=True).stdout.split()
    parent, child = map(int, out)
    assert parent != child
    assert {f.name for f in tmp_path.iterdir()} == {f"{parent}.lock", f"{child}.lock"}


# -- no survivor -----------------------------------------------------------------------------------------
SLOW_CELL = "import time\nwhile True:\n    time.sleep(0.2)  # a cell that never ends: the worker is busy until stopped"


def sandbox_modes() -> list:
    modes = [pytest.param("process", id="process")]
    modes.append(pytest.param("bwrap", id="bwrap", marks=pytest.mark.skipif(
        not bubblewrap_available(), reason="bubblewrap is not available here (needs bwrap and root)")))
    return modes


@pytest.mark.slow
@pytest.mark.parametrize("mode", sandbox_modes())
def test_sigkill_of_the_grader_mid_batch_leaves_no_process(tmp_path, course, lab01, submission_maker, mode):
    subs = tmp_path / "subs"
    for i in range(4):
        submission_maker(subs / f"slow{i}.ipynb", lab01, course, extra_cells=[SLOW_CELL], from_solution=True)
    grader = subprocess.Popen(
        [str(Path(sys.executable).with_name("course")), "grade", "lab01", str(subs), "--out", str(tmp_path / "out"),
         "--jobs", "2", "--profile", "quick"],
        cwd=REPO_ROOT, env={**os.environ, "COURSE_SANDBOX": mode}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree: dict[int, str] = {}
    kinds: dict[int, str] = {}
    try:
        def workers() -> list[int]:
            return [p for p in process_tree(grader.pid) if "worker.py" in command_line(p)]

        # Wait for both pool workers' sandboxes to be running the slow cell, then kill the grader.
        assert wait_until(lambda: len(workers()) >= 2, HANG_GUARD), "the batch never started two sandbox workers"
        tree = process_tree(grader.pid)
        kinds = {p: command_line(p) for p in tree}
        assert sum("worker.py" in c for c in kinds.values()) >= 2
        if mode == "bwrap":
            assert any(c.startswith(("bwrap", "/usr/bin/bwrap")) for c in kinds.values()), kinds
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        gone = wait_until(lambda: not alive(set(tree) - {grader.pid}), NO_SURVIVOR_SECONDS)
        survivors = {p: kinds[p] for p in alive(set(tree) - {grader.pid})}
        assert gone, f"alive {NO_SURVIVOR_SECONDS} s after the grader's SIGKILL: {survivors}"
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.wait()
        for p in alive(set(tree) - {grader.pid}):  # a failed test cleans up after itself (same command only)
            if command_line(p) == kinds.get(p):
                os.kill(p, signal.SIGKILL)
