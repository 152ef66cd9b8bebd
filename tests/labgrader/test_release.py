"""course release: the student bundle holds no solution code, no reference_impl, no hidden checks;
course check runs the public checks from it, without the reference."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys

import pytest

from labgrader.checks import load as load_checks
from labgrader.cli import main
from labgrader.config import REPO_ROOT
from labgrader.release import release_lab
from reference_impl import distillation as R

CHECKS = load_checks("lab01_distillation").CHECKS

NO_REFERENCE = "import sys; sys.modules['reference_impl'] = None\n"  # any import of it now fails


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, course, lab01):
    out = tmp_path_factory.mktemp("release") / "bundle"
    files = release_lab(course, lab01, out)
    return out, files


def test_bundle_has_no_solutions_reference_or_hidden_checks(bundle):
    out, files = bundle
    rel = [f.relative_to(out).as_posix() for f in files]
    assert "labs/lab01_distillation.ipynb" in rel
    assert not [r for r in rel if r.startswith(("reference_impl/", "solutions/", "tests/", "examples/"))]
    assert not [r for r in rel if r in ("labgrader/validate.py", "labgrader/mutation.py",
                                        "labgrader/checks/equivalent_mutants/lab01.toml")]
    # No solution body of any exercise, no hidden test, no solution marker, anywhere in the bundle.
    bodies = []
    for name in CHECKS:
        fn = getattr(R, name)
        node = ast.parse(inspect.getsource(fn)).body[0]
        bodies += [ast.get_source_segment(inspect.getsource(fn), stmt).strip() for stmt in node.body[1:]
                   if not isinstance(stmt, (ast.If, ast.Raise))]
    distinctive = [b for b in bodies if len(b) > 30]
    assert len(distinctive) >= 10
    for f in files:
        text = f.read_text(encoding="utf-8", errors="ignore")
        assert "### BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, f
        if f.parent.name == "labkit":
            # The torch losses the experiments train with restate the docstrings' formulas by design
            # (labkit/__init__.py); the NumPy exercise bodies must appear nowhere else.
            continue
        for b in distinctive:
            assert b not in text, (f, b)


def test_bundle_checks_module_holds_exactly_the_public_checks(bundle):
    out, _ = bundle
    code = NO_REFERENCE + (
        "import json\nfrom labgrader.checks.lab01_distillation import CHECKS\n"
        "print(json.dumps({e: sorted(c) for e, c in CHECKS.items()}))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(out)}, timeout=60)
    assert r.returncode == 0, r.stderr
    public = json.loads(r.stdout)
    expected = {e: sorted(n for n, c in checks.items() if c.public) for e, checks in CHECKS.items()}
    assert {e: v for e, v in public.items() if v} == {e: v for e, v in expected.items() if v}
    assert all(public.get(e) for e in CHECKS), "every exercise keeps at least one public check"


def test_public_check_files_use_no_reference_and_hidden_files_are_not_shipped(bundle):
    """The public file of every lab is released as it is: it must not import reference_impl, and no
    public check may call its ``ref``; the registry refuses a check in the wrong file."""
    checks = REPO_ROOT / "labgrader" / "checks"
    labs = sorted(checks.glob("lab[0-9][0-9]_*.py"))
    assert len(labs) >= 8 and all((checks / "hidden" / f.name).is_file() for f in labs)
    for f in labs:
        tree = ast.parse(f.read_text(encoding="utf-8"))
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not [n for n in imports if "reference_impl" in ast.unparse(n)], f
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            if any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "check" for d in fn.decorator_list):
                assert not [x for x in ast.walk(fn) if isinstance(x, ast.Name) and x.id == "ref"], (f, fn.name)
    out, files = bundle
    hidden = [p.relative_to(out).as_posix() for p in files if "hidden" in p.relative_to(out).parts]
    assert sorted(hidden) == ["labgrader/checks/hidden/__init__.py", "labgrader/checks/hidden/lab01_distillation.py"]
    names_only = ast.parse((out / hidden[1]).read_text(encoding="utf-8"))  # registry.withhold({...}): names only
    assert not [n for n in ast.walk(names_only) if isinstance(n, ast.FunctionDef)]
    shipped = out / "labgrader" / "checks" / "lab01_distillation.py"
    assert shipped.read_bytes() == (checks / "lab01_distillation.py").read_bytes()


@pytest.mark.parametrize("public,module,words", [
    (True, "labgrader.checks.hidden.labXX", "belongs in the public file"),
    (False, "labgrader.checks.labXX", "belongs in labgrader/checks/hidden/"),
])
def test_the_registry_refuses_a_check_in_the_wrong_file(public, module, words):
    from labgrader.checks import Registry

    def c(student, ref):
        """p."""
    c.__module__ = module
    with pytest.raises(ValueError, match=words):
        Registry().check("x", public=public)(c)


def test_course_check_runs_from_the_bundle_without_the_reference(bundle, course, lab01):
    out, _ = bundle
    def run(notebook):
        code = NO_REFERENCE + f"from labgrader.cli import main; sys.exit(main(['check', {str(notebook)!r}]))"
        return subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(out)}, timeout=300)
    skeleton = run(out / "labs" / lab01.notebook)
    assert skeleton.returncode == 0, skeleton.stderr
    assert "(public checks only): 0 / 100" in skeleton.stdout and "not implemented" in skeleton.stdout
    solution = run(lab01.solution_path(course.root))
    assert solution.returncode == 0, solution.stderr
    assert "(public checks only): 100 / 100" in solution.stdout
    # each exercise says how many of its checks grading also runs (counted here from the full checks)
    from labgrader.checks import load

    declared = load(lab01.checks).CHECKS
    for ex in lab01.exercises:
        checks = [declared[ex.id][n] for n in ex.checks]
        public, hidden = sum(c.public for c in checks), sum(not c.public for c in checks)
        line = next(x for x in solution.stdout.splitlines() if x.split()[:1] == [ex.id])
        assert line.endswith(f"({public} public; {hidden} hidden not run)" if hidden else "all checks passed"), line


def test_release_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert main(["release", "lab01", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "x").read_text() == "keep me"


def test_bundle_course_toml_names_only_the_released_lab():
    from labgrader.release import single_lab_toml
    import tomllib
    text = ('[course]\nname = "x"\n\n[[labs]]\nid = "lab01"\nchecks = "a"\n\n[[labs.exercises]]\nid = "e1"\n\n'
            '[[labs]]\nid = "lab02"  # second\nchecks = "b"\n\n[[labs.exercises]]\nid = "e2"\n[[labs.exercises]]\nid = "e3"\n')
    two = tomllib.loads(single_lab_toml(text, "lab02"))
    assert two["course"] == {"name": "x"} and [lab["id"] for lab in two["labs"]] == ["lab02"]
    assert [e["id"] for e in two["labs"][0]["exercises"]] == ["e2", "e3"]
    one = tomllib.loads(single_lab_toml(text, "lab01"))
    assert [e["id"] for e in one["labs"][0]["exercises"]] == ["e1"]
    with pytest.raises(ValueError, match="lab09"):
        single_lab_toml(text, "lab09")


def test_bundle_requirements_pin_torch_on_the_cpu_index_and_leave_out_the_instructor_tools(bundle, course):
    out, files = bundle
    lines = [ln for ln in (out / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    dev = {ln.split("==")[0].lower(): ln for ln in (course.root / "requirements.txt").read_text().splitlines()
           if "==" in ln}
    pins = {ln.split("==")[0].lower(): ln for ln in lines if "==" in ln}
    assert pins["torch"] == dev["torch"] == "torch==2.13.0"
    assert all(dev[name] == line for name, line in pins.items() if name != "jupyterlab")  # the course's own pins
    assert "jupyterlab" in pins
    assert not set(pins) & {"nbgrader", "pytest", "pytest-xdist", "dask", "distributed", "ruff", "jupytext"}
    wheel = lines[-1]
    assert wheel.startswith("./dist/") and (out / wheel).is_file()


def test_bundle_wheel_carries_the_data_the_course_toml_and_no_reference(bundle):
    import zipfile
    out, _ = bundle
    names = zipfile.ZipFile(next((out / "dist").glob("*.whl"))).namelist()
    assert "labdatasets/data/digits.csv.gz" in names and "labgrader/course.toml" in names
    assert "labgrader/labs/lab01_distillation.ipynb" in names and "labgrader/STUDENT_BUNDLE" in names
    assert not [n for n in names if n.startswith(("reference_impl", "solutions", "datasets/"))]
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [ln for ln in zipfile.ZipFile(next((out / "dist").glob("*.whl"))).read(meta).decode().splitlines()
                if ln.startswith("Requires-Dist")]
    assert requires and not [r for r in requires if "torch" in r or "nbgrader" in r or "pytest" in r]


def test_student_requirements_name_a_missing_pin():
    from labgrader.release import student_requirements
    with pytest.raises(ValueError, match="pins no torch"):
        student_requirements("numpy==2.4.6\n", "x.whl")


def test_course_in_a_student_bundle_offers_only_check(capsys):
    from labgrader.cli import make_parser
    with pytest.raises(SystemExit):
        make_parser(student=True).parse_args(["grade", "lab01", "x.ipynb", "--out", "o"])
    assert "invalid choice: 'grade'" in capsys.readouterr().err
    assert make_parser(student=True).parse_args(["check", "x.ipynb"]).command == "check"
    assert make_parser(student=False).parse_args(["build"]).command == "build"
