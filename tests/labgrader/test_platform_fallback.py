"""Students on Windows (no ``resource`` module, no bubblewrap): the self-check and ``course check`` work.

Each test runs a fresh interpreter in which ``import resource`` raises ImportError (a meta-path
blocker installed before anything of the course is imported, as on Windows) and bubblewrap is off
(COURSE_SANDBOX=process): the course's modules import, ``course check`` grades a notebook end to end
in the process fallback and its report says which limits applied (wall-clock only), and the
in-notebook self-check stops an infinite loop at its time limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from labgrader.config import REPO_ROOT

HANG_GUARD = 600  # seconds

WITHOUT_RESOURCE = textwrap.dedent("""
    import sys

    class NoResource:
        def find_spec(self, name, path=None, target=None):
            if name == "resource":
                raise ImportError("No module named 'resource' (blocked by the test, as on Windows)")

    sys.modules.pop("resource", None)
    sys.meta_path.insert(0, NoResource())
""")


def run_without_resource(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_SANDBOX": "process"}
    return subprocess.run([sys.executable, "-c", WITHOUT_RESOURCE + textwrap.dedent(code)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD)


def test_the_blocker_really_blocks():
    r = run_without_resource("import resource")
    assert r.returncode != 0 and "ImportError: No module named 'resource' (blocked" in r.stderr


@pytest.mark.slow
def test_course_check_without_resource_grades_and_says_which_limits(lab01, course):
    r = run_without_resource(f"""
        from labgrader.cli import main
        code = main(["check", {str(lab01.solution_path(course.root))!r}])
        assert "resource" not in sys.modules
        raise SystemExit(code)
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(public checks only)" in r.stdout
    assert "process isolation + wall-clock limits only (this platform has no resource limits)" in r.stdout
    assert "\nx " not in r.stdout  # nothing failed: the full solution passes every public check


def test_the_in_notebook_self_check_without_resource_stops_a_loop():
    r = run_without_resource("""
        from labgrader.selfcheck import check

        def softmax_t(logits, T=1.0):
            while True:
                pass

        check("lab01", "softmax_t", softmax_t, call_seconds=1)
        assert "resource" not in sys.modules
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "calling softmax_t() took longer than 1 s and was stopped, on the input" in r.stdout
