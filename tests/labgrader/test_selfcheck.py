"""The in-notebook self-check (labgrader/selfcheck.py): time limits like ``course check``'s.

A student's infinite loop (or endless sleep) in the function a test cell checks is stopped at the call
limit, the report names the input it was running on, the rest of that exercise is not run, and the
cell ends; the timer is put back as it was. Where the platform has no SIGALRM (Windows), the main
thread is interrupted instead, and a real Ctrl-C is still a Ctrl-C. A real Jupyter kernel shows the
same, and that interrupting or restarting it leaves no process behind (the self-check starts none).
Timings are hang guards only.
"""

from __future__ import annotations

import signal
import sys
import time

import pytest
from processes import process_tree, wait_until

from labgrader import selfcheck

HANG_GUARD = 120  # seconds


def spin(logits, T=1.0):
    while True:
        pass


def nap(logits, T=1.0):
    while True:
        time.sleep(0.1)


@pytest.mark.parametrize("fn", [spin, nap], ids=["busy-loop", "sleep-loop"])
def test_an_endless_call_is_stopped_and_the_input_is_named(capsys, fn):
    before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    selfcheck.check("lab01", "softmax_t", fn, call_seconds=1)
    assert time.monotonic() - start < HANG_GUARD
    out = capsys.readouterr().out
    assert out.startswith("softmax_t: 0/")
    lines = out.splitlines()
    stopped = next(i for i, line in enumerate(lines) if "calling softmax_t() took longer than 1 s and was stopped" in line)
    assert "Stopped: calling softmax_t()" in lines[stopped]
    assert lines[stopped + 1].strip().startswith("logits = ")  # the input it was running on, by name
    assert "Not run: calling softmax_t() took longer than 1 s" in out  # the rest of the exercise
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before


def test_a_correct_function_passes_under_the_limit(capsys):
    from reference_impl.distillation import softmax_t

    selfcheck.check("lab01", "softmax_t", softmax_t, call_seconds=30)
    out = capsys.readouterr().out
    assert "FAIL" not in out and "Stopped" not in out
    n = out.count("\n  ok   ")
    assert n >= 1 and out.startswith(f"softmax_t: {n}/{n} public checks pass")


def test_without_sigalrm_the_main_thread_is_interrupted(capsys, monkeypatch):
    """Windows has no setitimer: the limit interrupts the main thread, as Ctrl-C would."""
    monkeypatch.delattr(signal, "setitimer")
    selfcheck.check("lab01", "softmax_t", spin, call_seconds=1)
    out = capsys.readouterr().out
    assert "calling softmax_t() took longer than 1 s and was stopped" in out


def test_a_real_ctrl_c_is_not_mistaken_for_the_time_limit(monkeypatch):
    def interrupted(logits, T=1.0):
        raise KeyboardInterrupt

    for platform_timer in (True, False):
        if not platform_timer:
            monkeypatch.delattr(signal, "setitimer")
        with pytest.raises(KeyboardInterrupt):
            selfcheck.check("lab01", "softmax_t", interrupted, call_seconds=30)


# -- a real kernel ------------------------------------------------------------------------------------
LOOP = "def spin(logits, T=1.0):\n    while True:\n        pass\n"


def run(client, code: str) -> tuple[str, str]:
    """Execute ``code`` in the kernel: (status, stdout + error text)."""
    out: list[str] = []

    def collect(msg):
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            out.append(f"{content['ename']}: {content['evalue']}")

    reply = client.execute_interactive(code, timeout=HANG_GUARD, output_hook=collect)
    return reply["content"]["status"], "".join(out)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_in_a_real_kernel_a_loop_is_stopped_and_interrupt_or_restart_leaves_no_process():
    jupyter_client = pytest.importorskip("jupyter_client")
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=HANG_GUARD)
        status, out = run(client, LOOP + "from labgrader.selfcheck import check\n"
                                          "check('lab01', 'softmax_t', spin, call_seconds=1)")
        assert status == "ok", out
        assert "calling softmax_t() took longer than 1 s and was stopped" in out and "logits = " in out

        # Interrupted mid-check (the limit far away): the cell ends with KeyboardInterrupt, nothing lingers.
        pid = km.provisioner.process.pid
        client.execute(LOOP + "print('started', flush=True)\ncheck('lab01', 'softmax_t', spin, call_seconds=600)")
        assert wait_until(lambda: _saw(client, "started"), HANG_GUARD)
        km.interrupt_kernel()
        assert _wait_for_error(client) == "KeyboardInterrupt"
        assert set(process_tree(pid)) == {pid}
        client.get_shell_msg(timeout=HANG_GUARD)  # the interrupted cell's reply
        timer = "import signal\nprint(signal.getitimer(signal.ITIMER_REAL))"
        assert wait_until(lambda: run(client, timer) == ("ok", "(0.0, 0.0)\n"), HANG_GUARD, interval=0.5), \
            "the kernel does not answer, or the self-check's timer is still set"  # (requests queued right
        # after an error are aborted by the kernel: hence a retry)

        client.execute(LOOP + "check('lab01', 'softmax_t', spin, call_seconds=600)")
        km.restart_kernel(now=True)
        assert not process_tree(pid), "the old kernel (or a child of it) survived the restart"
        new_pid = km.provisioner.process.pid
        client.wait_for_ready(timeout=HANG_GUARD)
        assert set(process_tree(new_pid)) == {new_pid}
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


def _saw(client, text: str) -> bool:
    try:
        msg = client.get_iopub_msg(timeout=0.2)
    except Exception:  # queue.Empty
        return False
    return msg["msg_type"] == "stream" and text in msg["content"]["text"]


def _wait_for_error(client) -> str:
    end = time.monotonic() + HANG_GUARD
    while time.monotonic() < end:
        msg = client.get_iopub_msg(timeout=HANG_GUARD)
        if msg["msg_type"] == "error":
            return msg["content"]["ename"]
    raise AssertionError("the interrupted cell never ended")
