"""The student bundle as a student installs it: a fresh venv, one `pip install` of the released wheel.

Simulates the README's set-ups (the bundle's README.md, written by `course release`):

* Colab: Hugging Face `datasets` is preinstalled there. A stand-in for Hugging Face's `datasets`
  (the same top-level name, a `load_dataset` function) is installed beside the bundle; both import, each
  to its own package, also from the bundle's folder (whose `datasets/` holds only the data).
* laptop / VS Code: the venv's own kernel (VS Code's "Python Environments" kernel is that
  interpreter) executes the lab notebook headless; the self-check cells run and report.
* JupyterHub: `ipykernel install --user` in a fresh HOME registers "efficient-ml-labs", `jupyter
  kernelspec list` shows it, and the notebook executes with that kernel by name.
* Windows: tests/labgrader/test_platform_fallback.py (no `resource`, no bubblewrap).

The venv is built offline: its wheels are repacked from this venv's installed distributions
(tests/student/wheelhouse.py), nothing is downloaded. torch is not installed in it (Colab and hubs
bring their own; the wheel does not require it), so the notebook runs without its experiment cells
(the grader does the same: `exp_` cells are never graded).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from labgrader.release import WHEEL_REQUIRES, release_lab, write_wheel

sys.path.insert(0, str(Path(__file__).parent))
from wheelhouse import wheelhouse  # noqa: E402

pytestmark = pytest.mark.slow
HANG_GUARD = 900  # seconds: building the venv on a loaded 2-core machine


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=HANG_GUARD, **kw)
    assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def student(tmp_path_factory, course, lab01):
    tmp = tmp_path_factory.mktemp("student")
    bundle = tmp / "bundle"
    release_lab(course, lab01, bundle)
    wh = tmp / "wheels"
    wheelhouse(list(WHEEL_REQUIRES), wh)
    stand_in = tmp / "hf" / "datasets"  # rename: keep (Hugging Face's name)
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('"""Stand-in for Hugging Face datasets (same top-level name)."""\n'
                                          'def load_dataset(name):\n    return f"hf:{name}"\n')
    write_wheel(tmp / "hf", ("datasets",), "datasets", "5.2.0", (), wh, scripts=False)  # rename: keep
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    wheel = next((bundle / "dist").glob("*.whl"))
    # The README's one command (Colab / hub form), offline here: --no-index, wheels from disk.
    run([py, "-m", "pip", "install", "-q", "--no-index", "--find-links", wh, wheel, "datasets==5.2.0"])
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:{os.environ['PATH']}", COURSE_SANDBOX="process")
    return {"bundle": bundle, "venv": venv, "py": py, "env": env, "home": home}


def test_one_install_brings_no_instructor_tools(student):
    r = run([student["py"], "-m", "pip", "list", "--format", "json"], env=student["env"])
    names = {d["name"].lower().replace("_", "-") for d in json.loads(r.stdout)}
    assert "efficient-ml-labs-lab01" in names and "numpy" in names and "ipykernel" in names
    assert not names & {"nbgrader", "pytest", "pytest-xdist", "dask", "distributed", "ruff", "jupytext"}, names


def test_hugging_face_datasets_and_the_course_data_import_side_by_side(student):
    code = textwrap.dedent("""
        import datasets, labdatasets  # rename: keep (Hugging Face's datasets beside ours)
        from labdatasets import digits_splits
        print(datasets.load_dataset("mnist"), datasets.__file__)  # rename: keep
        s = digits_splits()
        print(len(s.y_train), labdatasets.checksums.DATA_DIR)
    """)
    for cwd in (student["bundle"], student["home"]):  # the bundle's folder too: its datasets/ is data only
        r = run([student["py"], "-c", code], cwd=cwd, env=student["env"])
        first, second = r.stdout.splitlines()
        assert first.startswith("hf:mnist ") and str(student["venv"]) in first, r.stdout
        assert second.split()[0] == "1078", r.stdout


def test_student_course_has_only_check_and_it_works(student, course, lab01):
    course_cmd = student["venv"] / "bin" / "course"
    r = run([course_cmd, "--help"], cwd=student["home"], env=student["env"])
    assert "{check}" in r.stdout and "grade" not in r.stdout and "build" not in r.stdout
    bad = subprocess.run([course_cmd, "grade", "lab01", "x.ipynb"], capture_output=True, text=True,
                         cwd=student["home"], env=student["env"], timeout=HANG_GUARD)
    assert bad.returncode == 2 and "invalid choice: 'grade'" in bad.stderr
    skeleton = run([course_cmd, "check", student["bundle"] / "labs" / lab01.notebook], cwd=student["home"],
                   env=student["env"])
    assert "(public checks only): 0 / 100" in skeleton.stdout and "not implemented" in skeleton.stdout
    solution = run([course_cmd, "check", lab01.solution_path(course.root)], cwd=student["home"], env=student["env"])
    assert "(public checks only): 100 / 100" in solution.stdout


EXECUTE = textwrap.dedent("""
    import sys, nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(sys.argv[1], as_version=4)
    # no torch in this venv: the experiment cells (grade_id exp_*, the same cells the grader skips) stay out
    nb.cells = [c for c in nb.cells
                if not c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("exp_")]
    NotebookClient(nb, kernel_name=sys.argv[2], timeout=600).execute()
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    print(out)
""")


@pytest.mark.parametrize("setup", ["vscode", "jupyterhub"])
def test_lab_notebook_runs_headless_with_the_students_kernel(student, course, lab01, tmp_path, setup):
    env, py = student["env"], student["py"]
    kernel = "python3"  # VS Code: the venv's interpreter runs its own ipykernel
    if setup == "jupyterhub":
        kernel = "efficient-ml-labs"
        run([py, "-m", "ipykernel", "install", "--user", "--name", kernel, "--display-name", "Efficient ML Labs"],
            env=env)
        specs = json.loads(run([student["venv"] / "bin" / "jupyter", "kernelspec", "list", "--json"],
                               env=env).stdout)["kernelspecs"]
        assert kernel in specs and specs[kernel]["resource_dir"].startswith(str(student["home"]))
        assert specs[kernel]["spec"]["argv"][0] == str(py)
    # the skeleton, with softmax_t solved as a student would
    nb = nbformat.read(student["bundle"] / "labs" / lab01.notebook, as_version=4)
    solved = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
              for c in nbformat.read(lab01.solution_path(course.root), as_version=4).cells}
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax_t":
            c.source = "\n".join(line for line in solved["softmax_t"].splitlines() if "SOLUTION" not in line)
    path = tmp_path / lab01.notebook
    nbformat.write(nb, path)
    out = run([py, "-c", EXECUTE, path, kernel], cwd=tmp_path, env=env).stdout
    solved_line = re.search(r"^softmax_t: (\d+)/(\d+) public checks pass", out, re.M)
    assert solved_line and solved_line.group(1) == solved_line.group(2) != "0", out
    assert re.search(r"^log_softmax_t: 0/\d+ public checks pass", out, re.M), out
