"""`make site`: a lab executed and rendered to HTML with its outputs and plots, checked in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from labgrader.site import build_site


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium not installed: `apt-get install -y chromium` (Debian) to check the site in a browser")
    return found


def _chromium(exe, profile, *args) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_lab01_page_renders_with_outputs_and_plots_in_chromium(course, chromium, tmp_path):
    out = tmp_path / "site"
    assert build_site(course, out, lab_ids=["lab01"], quick=True) == []
    page = out / "lab01.html"
    assert 'href="lab01.html"' in (out / "index.html").read_text()
    run = _chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "Lab 1 — Knowledge distillation I" in dom
    assert "teacher accuracy: train" in dom and "paired gain" in dom  # printed outputs are on the page
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', dom)) >= 5  # the plots, embedded
    assert "Traceback" not in dom and "YOUR ANSWER HERE" not in dom
    shot = tmp_path / "lab01.png"
    run = _chromium(chromium, tmp_path / "profile", "--hide-scrollbars", "--window-size=1200,2400",
                    f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # more than a blank page
