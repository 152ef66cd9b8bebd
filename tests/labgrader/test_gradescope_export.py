"""The Gradescope autograder bundle, run the way Gradescope runs it, in a temporary /autograder.

One image is built per module (unzip into source/, run setup.sh without apt and with this
interpreter instead of a fresh virtualenv); each case then gets a fresh copy of it, like a fresh
container, with its own submission/, submission_metadata.json and results/. Every results.json is
validated against Gradescope's format (labgrader/exports/gradescope_results.schema.json).

Real gradings (each ~10-20 s with course.toml's 50 examples per property): the full solution on
time, the full solution two days late, the skeleton, and the demo's buggy notebook graded directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from labgrader.demo import load_expectations
from labgrader.exports.gradescope import SCHEMA_PATH, export_gradescope, grading_requirements, main
from labgrader.grade import grade_submission

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def schema():
    s = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(s)
    return s


def assert_valid(results: dict, schema: dict) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(results), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, course, lab01) -> Path:
    return export_gradescope(course, lab01, tmp_path_factory.mktemp("export") / "lab01_autograder.zip")


def unzip_with_modes(zip_path: Path, dest: Path) -> None:
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)


def env_for(root: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AUTOGRADER_"))}
    env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable, **extra)
    return env


@pytest.fixture(scope="module")
def image(tmp_path_factory, bundle) -> Path:
    """/autograder/source as Gradescope's image build leaves it: unzipped, then setup.sh run."""
    root = tmp_path_factory.mktemp("image")
    (root / "source").mkdir()
    unzip_with_modes(bundle, root / "source")
    setup = subprocess.run([str(root / "source" / "setup.sh")], cwd=root, env=env_for(root, AUTOGRADER_SKIP_SYSTEM="1"),
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "autograder bundle OK" in setup.stdout, setup.stdout
    return root


def run_autograder(image: Path, root: Path, files: dict[str, Path | str] | None = None,
                   metadata: dict | str | None = None) -> tuple[dict | None, subprocess.CompletedProcess]:
    """A fresh container: copy of the image's source, the submission's files, then run_autograder."""
    shutil.copytree(image / "source", root / "source", symlinks=True)
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    for name, content in (files or {}).items():
        target = root / "submission" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        (root / "submission_metadata.json").write_text(text, encoding="utf-8")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # where Gradescope puts it
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env_for(root),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    out = root / "results" / "results.json"
    return (json.loads(out.read_text(encoding="utf-8")) if out.exists() else None), proc


def metadata_at(when: dt.datetime, due: dt.datetime) -> dict:
    return {"id": 1, "created_at": when.isoformat(), "assignment": {"due_date": due.isoformat(), "late_due_date": None},
            "users": [{"email": "s@example.com", "id": 1, "name": "S"}], "previous_submissions": []}


# -- the zip ------------------------------------------------------------------------------------
def test_zip_holds_what_grading_needs_and_nothing_else(course, lab01, tmp_path):
    bundle = export_gradescope(course, lab01, tmp_path / "lab01.zip")  # fresh: compared with the sources below
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        blobs = {n: zf.read(n) for n in infos}
    names = set(infos)
    for required in ("setup.sh", "run_autograder", "course.toml", "pyproject.toml", "requirements-grading.txt",
                     f"labs/{lab01.notebook}", "labgrader/exports/gradescope.py",
                     "labgrader/exports/gradescope_results.schema.json", "labgrader/late.py",
                     f"labgrader/checks/{lab01.checks}.py", "labgrader/sandbox/worker.py",
                     "reference_impl/distillation.py"):
        assert required in names, required
    for name in ("setup.sh", "run_autograder"):
        assert (infos[name].external_attr >> 16) & 0o111, f"{name} is not executable"
    for name in names:
        parts = name.split("/")
        assert parts[0] not in ("solutions", "tests", "labdatasets", "examples", ".venv", "build", "bench"), name
        assert "__pycache__" not in parts and not name.endswith(".pyc"), name
        assert not any(p.startswith(".") for p in parts), name
    # every source file of the grader is there, byte for byte
    for folder in ("labgrader", "reference_impl"):
        for p in (course.root / folder).rglob("*.py"):
            if "__pycache__" not in p.parts:
                assert blobs[p.relative_to(course.root).as_posix()] == p.read_bytes()
    # the instructor's solution notebook is not smuggled in under another name
    solution = hashlib.sha256(lab01.solution_path(course.root).read_bytes()).hexdigest()
    assert solution not in {hashlib.sha256(b).hexdigest() for b in blobs.values()}
    # grading needs no torch; what it needs is pinned as in requirements.txt
    reqs = blobs["requirements-grading.txt"].decode()
    packages = [line for line in reqs.splitlines() if line and not line.startswith("#")]
    assert not [line for line in packages if line.startswith(("torch", "matplotlib"))]
    pinned = (course.root / "requirements.txt").read_text()
    for line in packages:
        assert line in pinned.splitlines(), line
    assert {"numpy", "hypothesis", "nbformat"} <= {line.split("==")[0] for line in packages}


def test_zip_is_deterministic(course, lab01, tmp_path):
    first = export_gradescope(course, lab01, tmp_path / "first.zip")
    again = export_gradescope(course, lab01, tmp_path / "again.zip")
    assert again.read_bytes() == first.read_bytes()


def test_scripts_are_valid_bash(bundle, tmp_path):
    unzip_with_modes(bundle, tmp_path)
    for name in ("setup.sh", "run_autograder"):
        r = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_module_command_line(course, tmp_path, capsys):
    assert main(["export", "lab01", "--out", str(tmp_path / "a.zip"), "--course", str(course.path)]) == 0
    assert zipfile.is_zipfile(tmp_path / "a.zip") and "wrote" in capsys.readouterr().out
    assert main(["export", "lab99", "--out", str(tmp_path / "b.zip"), "--course", str(course.path)]) == 2
    assert "no lab 'lab99'" in capsys.readouterr().err and not (tmp_path / "b.zip").exists()


def test_grading_requirements_fail_loudly_without_a_pin(tmp_path):
    f = tmp_path / "requirements.txt"
    f.write_text("numpy==2.4.6\nhypothesis==6.170.15\n")
    with pytest.raises(ValueError, match="nbformat"):
        grading_requirements(f)


# -- run_autograder -----------------------------------------------------------------------------
def test_full_solution_on_time_gets_full_marks(image, tmp_path, course, lab01, schema):
    results, proc = run_autograder(image, tmp_path / "ag", {"lab01_distillation.ipynb": lab01.solution_path(course.root)},
                                   metadata_at(lab01.due - dt.timedelta(hours=1), lab01.due))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid(results, schema)
    assert results["score"] == 100 and results["max_score"] == 100
    assert all(t["status"] == "passed" for t in results["tests"])
    assert results["extra_data"]["multiplier"] == 1.0 and results["extra_data"]["days_late"] == 0
    assert results["output"].splitlines()[-1].startswith("Submitted on time")
    assert "grading submission/lab01_distillation.ipynb" in proc.stdout


def test_solution_two_days_late_is_scaled_by_the_policy(image, tmp_path, course, lab01, schema):
    policy = lab01.late_policy
    assert (policy.grace_minutes, policy.penalty_per_day, policy.max_days_late) == (15, 0.1, 5)  # course.toml
    # 2 days late minus 15 min of grace = 2 started days: 100 x (1 - 2 x 0.1) = 80.
    results, proc = run_autograder(image, tmp_path / "ag", {"my_lab.ipynb": lab01.solution_path(course.root)},
                                   metadata_at(lab01.due + dt.timedelta(days=2), lab01.due))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid(results, schema)
    assert results["score"] == pytest.approx(80.0)
    extra = results["extra_data"]
    assert extra["score_before_late_policy"] == 100 and extra["days_late"] == 2
    assert extra["multiplier"] == pytest.approx(0.8)
    assert extra["gradescope_due_date"] == lab01.due.isoformat().replace("Z", "+00:00")
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(80.0, abs=0.01)  # per-test rounding
    assert "Submitted 2 days late: score x 0.8 = 80 / 100" in results["output"]


def test_skeleton_gets_zero_and_checkpoints_are_ignored(image, tmp_path, course, lab01, schema):
    nb = lab01.lab_path(course.root)
    results, proc = run_autograder(image, tmp_path / "ag", {
        "lab01_distillation.ipynb": nb,
        ".ipynb_checkpoints/lab01_distillation-checkpoint.ipynb": nb,
        "__MACOSX/._lab01_distillation.ipynb": "resource fork",
    })
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid(results, schema)
    assert results["score"] == 0
    assert all(e["summary"] == "not implemented" for e in results["extra_data"]["exercises"].values())
    assert "submitted_at" not in results["extra_data"]  # no metadata: no late policy
    assert "late policy not applied" in proc.stdout


def test_no_notebook_gets_zero_and_says_why(image, tmp_path, lab01, schema):
    results, proc = run_autograder(image, tmp_path / "ag", {"answers.py": "def softmax_t(): pass\n"},
                                   metadata_at(lab01.due, lab01.due))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid(results, schema)
    assert results["score"] == 0 and results["max_score"] == 100
    assert "No Jupyter notebook (.ipynb) was found" in results["output"] and "answers.py" in results["output"]
    assert len(results["tests"]) == sum(len(e.checks) for e in lab01.exercises)
    assert all(t["score"] == 0 and t["status"] == "failed" for t in results["tests"])
    assert results["extra_data"]["fatal"]


def test_two_notebooks_get_zero_and_are_named(image, tmp_path, course, lab01, schema):
    nb = lab01.lab_path(course.root)
    results, proc = run_autograder(image, tmp_path / "ag", {"a.ipynb": nb, "sub/b.ipynb": nb})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid(results, schema)
    assert results["score"] == 0
    assert "contains 2 notebooks (a.ipynb, sub/b.ipynb)" in results["output"]


def test_unreadable_metadata_grades_without_the_late_policy(image, tmp_path, schema):
    results, proc = run_autograder(image, tmp_path / "ag", {}, metadata="{not json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_valid(results, schema)
    assert "the submission was empty" in results["output"]
    assert "late policy was not applied" in results["output"]
    assert "late policy NOT applied" in proc.stdout and "not valid JSON" in proc.stdout


# -- results.json straight from grade_submission (the demo's examples) --------------------------
@pytest.mark.parametrize("name", ["buggy", "corrupt"])
def test_grade_submission_results_match_gradescope_format(name, course, lab01, schema):
    spec = load_expectations(course, "lab01")[name]
    path = course.root / "examples" / "lab01" / spec["file"]
    results = grade_submission(course, lab01, path, name=name)
    assert_valid(results, schema)
    assert results["score"] == pytest.approx(spec["score"], abs=1e-3)


# -- the schema itself --------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    {"score": 1, "tests": [{"score": 1, "status": "ok"}]},
    {"score": 1, "visibility": "public"},
    {"score": 1, "colour": "red"},
    {"tests": [{"name": "no score anywhere"}]},
    {"score": "ten"},
    {"score": 1, "tests": [{"score": 1, "number": "1.1", "weight": 2}]},
    {"score": 1, "leaderboard": [{"name": "Accuracy"}]},
    {"score": 1, "output_format": "latex"},
])
def test_schema_rejects_what_gradescope_does_not_document(bad, schema):
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_schema_accepts_the_documented_example(schema):
    example = {
        "score": 44.0, "execution_time": 136, "output": "Text relevant to the entire submission",
        "output_format": "simple_format", "test_output_format": "text", "test_name_format": "text",
        "visibility": "after_due_date", "stdout_visibility": "visible", "extra_data": {},
        "tests": [{"score": 2.0, "max_score": 2.0, "status": "passed", "name": "Your name here", "name_format": "text",
                   "number": "1.1", "output": "Giant multiline string", "output_format": "text",
                   "tags": ["tag1", "tag2", "tag3"], "visibility": "visible", "extra_data": {}}],
        "leaderboard": [{"name": "Accuracy", "value": .926}, {"name": "Time", "value": 15.1, "order": "asc"},
                        {"name": "Stars", "value": "*****"}],
    }
    assert_valid(example, schema)
    assert_valid({"tests": [{"score": 1.0}]}, schema)  # a score on every test instead of at the top
