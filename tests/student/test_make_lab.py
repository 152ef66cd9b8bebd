"""`make lab`: JupyterLab on labs/ with the course's kernel, opened in headless Chromium, then stopped."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from labgrader.config import REPO_ROOT

pytestmark = pytest.mark.slow
HANG_GUARD = 300  # seconds for the server to come up on a loaded machine (a hang guard, not a timing)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def test_make_lab_serves_the_labs_with_the_course_kernel(tmp_path, lab01):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium not installed (the Makefile installs it where it can: Debian, as root)")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    # -o: use the venv as it is (this test runs inside it); make lab is otherwise the README's command
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_PORT={port}",
                             f"LAB_ARGS=--no-browser --IdentityProvider.token={token}"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HANG_GUARD
        while True:
            try:
                status, body = get(f"{base}/api/status?token={token}")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "JupyterLab did not start (hang guard)"
                time.sleep(1)
        _, specs = get(f"{base}/api/kernelspecs?token={token}")
        kernels = json.loads(specs)["kernelspecs"]
        assert kernels["efficient-ml-labs"]["spec"]["display_name"] == "Efficient ML Labs"
        assert str(REPO_ROOT / ".venv") in kernels["efficient-ml-labs"]["spec"]["argv"][0]
        _, listing = get(f"{base}/api/contents?token={token}")  # the server's root is labs/
        assert lab01.notebook in {c["name"] for c in json.loads(listing)["content"]}
        run = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                              "--virtual-time-budget=30000", "--dump-dom",
                              f"{base}/lab/tree/{lab01.notebook}?token={token}"],
                             capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "JupyterLab" in run.stdout and "jupyter-config-data" in run.stdout, run.stdout[:2000]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    with pytest.raises(OSError):
        get(f"{base}/api/status?token={token}")  # stopped
