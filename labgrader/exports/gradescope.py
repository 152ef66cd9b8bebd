"""A Gradescope autograder bundle for one lab, and the code that runs inside it.

``export_gradescope(course, lab, out_zip)`` writes the zip Gradescope's "Configure Autograder" page
takes. Gradescope unpacks it at ``/autograder/source`` of an Ubuntu image and

* runs ``setup.sh`` once, as root, when it builds the image: apt installs Python (>= 3.11) and
  bubblewrap, a virtualenv ``/autograder/source/.venv`` gets ``requirements-grading.txt`` (NumPy,
  hypothesis, nbformat: grading needs no torch) and the course package, and ``check`` below makes
  sure the bundled course loads;
* runs ``run_autograder`` once per submission, with the student's files in
  ``/autograder/submission`` and ``/autograder/submission_metadata.json`` beside them. The script
  only calls ``python -m labgrader.exports.gradescope run``: grade the one ``.ipynb`` (0 points
  and a clear message when there is none or more than one), apply the late policy from the
  metadata's ``created_at``, and write ``/autograder/results/results.json``.

The bundle holds what grading needs and nothing a student should see in a release: course.toml,
pyproject.toml, all of labgrader/ (with the hidden checks), reference_impl/ (the truth the checks
compare against: Gradescope never shows /autograder/source to students) and the lab's generated
notebook labs/<notebook> (its trusted setup cell). Never solutions/, tests/, datasets/, .venv or
__pycache__. The zip is deterministic: the same sources give the same bytes.

Both scripts honour ``AUTOGRADER_ROOT`` (instead of ``/autograder``) and ``AUTOGRADER_PYTHON``
(an interpreter to use instead of the virtualenv's), and setup.sh ``AUTOGRADER_SKIP_SYSTEM=1``
(no apt), so the whole flow runs in a temporary folder (tests/labgrader/test_gradescope_export.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
import traceback
import zipfile
from pathlib import Path

from ..config import Course, CourseConfigError, Lab, load_course, prestart_worker
from ..late import TimestampError, read_gradescope_metadata

SCHEMA_PATH = Path(__file__).with_name("gradescope_results.schema.json")
DEFAULT_ROOT = "/autograder"
SOURCE_FOLDERS = ("labgrader", "reference_impl")
# What grading imports (labgrader.grade and the checks): the rest of requirements.txt (torch,
# matplotlib, jupyter, nbgrader, pytest...) is for the notebooks and the tests. jsonschema is
# nbformat's validator, pinned here so results are validated with the version the tests use.
GRADING_PACKAGES = ("numpy", "hypothesis", "nbformat", "jsonschema")
FORBIDDEN = ("solutions/", "tests/", "datasets/", "examples/", ".venv/", "build/")
EXIT_OK, EXIT_GRADER, EXIT_USAGE = 0, 1, 2
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class UsageError(Exception):
    """A bad lab id or course file: exit 2, no traceback."""


def _lab(course: Course, lab_id: str) -> Lab:
    try:
        return course.lab(lab_id)
    except KeyError as e:
        raise UsageError(e.args[0]) from None

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image, with this zip unpacked
# at /autograder/source. It installs Python >= 3.11 and bubblewrap with apt, creates the virtualenv
# /autograder/source/.venv with the grading-only requirements (no torch: grading needs NumPy,
# hypothesis and nbformat) and the course package, and checks that the bundled course loads.
#
# Local dry run (the tests do this): AUTOGRADER_ROOT=DIR instead of /autograder,
# AUTOGRADER_SKIP_SYSTEM=1 to skip apt, AUTOGRADER_PYTHON=/path/to/python to use an interpreter
# that already has the requirements instead of creating the virtualenv.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
LAB="@LAB@"

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
find_python() {
  local c
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}

if [ "${AUTOGRADER_SKIP_SYSTEM:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # bubblewrap (+ setpriv from util-linux): the sandbox mode with no network and no view of
  # /autograder/source. Without it the grader falls back to process isolation + rlimits.
  apt-get install -y -qq --no-install-recommends python3 python3-venv bubblewrap util-linux ca-certificates
  if ! find_python >/dev/null; then
    # Ubuntu 22.04's python3 is 3.10; its python3.11 is in the universe component.
    apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv || true
  fi
fi

if [ -n "${AUTOGRADER_PYTHON:-}" ]; then
  PY="$AUTOGRADER_PYTHON"
  python_ok "$PY" || { echo "setup.sh: AUTOGRADER_PYTHON=$PY is not a Python >= 3.11" >&2; exit 1; }
else
  BASE="$(find_python)" || {
    echo "setup.sh: no Python >= 3.11 on this image; choose the Ubuntu 22.04 (or newer) base image" >&2
    exit 1
  }
  "$BASE" -m venv "$SOURCE/.venv"
  PY="$SOURCE/.venv/bin/python"
  "$PY" -m pip install --quiet --upgrade pip "setuptools>=64"
  "$PY" -m pip install --quiet -r "$SOURCE/requirements-grading.txt"
  # Editable, never a regular install: a regular one would copy reference_impl and the checks into
  # .venv, and the bubblewrap sandbox mounts .venv (but not /autograder/source) for the student's code.
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e "$SOURCE"
fi

cd "$SOURCE"
PYTHONPATH="$SOURCE" PYTHONDONTWRITEBYTECODE=1 "$PY" -m labgrader.exports.gradescope check --root "$ROOT" --lab "$LAB"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission, as root, in /autograder; the logic is in
# labgrader/exports/gradescope.py (`run`): grade the one .ipynb in submission/, apply the late
# policy from submission_metadata.json, write results/results.json.
# Local dry run: AUTOGRADER_ROOT=DIR instead of /autograder, AUTOGRADER_PYTHON=/path/to/python.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PY="${AUTOGRADER_PYTHON:-$SOURCE/.venv/bin/python}"
mkdir -p "$ROOT/results"
cd "$SOURCE"
export PYTHONPATH="$SOURCE" PYTHONDONTWRITEBYTECODE=1
exec "$PY" -m labgrader.exports.gradescope run --root "$ROOT" --lab "@LAB@"
"""

README = """# Gradescope autograder: {lab_id} ({title})

Built by `course export gradescope {lab_id}` from the course "{course}". Upload this zip on the
assignment's "Configure Autograder" page (base image: Ubuntu 22.04 or newer).

- `setup.sh`: apt installs Python >= 3.11 and bubblewrap, creates `.venv` with
  `requirements-grading.txt`, checks that the course loads.
- `run_autograder`: grades the one `.ipynb` in the submission with the hidden property checks,
  applies course.toml's late policy to Gradescope's submission time, writes results.json.

course.toml's due date ({due}) decides lateness; set Gradescope's due date to match.
"""


# -- building the zip ---------------------------------------------------------------------------
def grading_requirements(requirements_txt: Path) -> str:
    """The lines of requirements.txt that grading needs (exact pins kept), as a requirements file."""
    pins: dict[str, str] = {}
    for line in Path(requirements_txt).read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = spec
    missing = [p for p in GRADING_PACKAGES if p not in pins]
    if missing:
        raise ValueError(f"{requirements_txt}: no pin for {', '.join(missing)}, which grading needs")
    head = ("# Grading-only requirements for the Gradescope image, taken from the course's requirements.txt\n"
            "# (no torch, matplotlib or jupyter: the grader imports NumPy, hypothesis and nbformat only).\n")
    return head + "".join(pins[p] + "\n" for p in GRADING_PACKAGES)


def _wanted(rel: Path) -> bool:
    parts = rel.parts
    return not any(p == "__pycache__" or p.startswith(".") or p.endswith(".egg-info") for p in parts) \
        and rel.suffix not in (".pyc", ".pyo")


def bundle_contents(course: Course, lab: Lab) -> dict[str, tuple[bytes, int]]:
    """Archive name -> (bytes, unix mode) of everything the zip holds, in the order it is written."""
    root = course.root
    lab_nb = lab.lab_path(root)
    if not lab_nb.is_file():
        raise FileNotFoundError(f"{lab_nb}: the lab's notebook is missing (run `course build`)")
    files: dict[str, tuple[bytes, int]] = {
        "setup.sh": (SETUP_SH.replace("@LAB@", lab.id).encode(), 0o755),
        "run_autograder": (RUN_AUTOGRADER.replace("@LAB@", lab.id).encode(), 0o755),
        "README.md": (README.format(lab_id=lab.id, title=lab.title, course=course.name,
                                    due=lab.due.isoformat()).encode(), 0o644),
        "requirements-grading.txt": (grading_requirements(root / "requirements.txt").encode(), 0o644),
        "course.toml": (course.path.read_bytes(), 0o644),
        "pyproject.toml": ((root / "pyproject.toml").read_bytes(), 0o644),
        f"labs/{lab.notebook}": (lab_nb.read_bytes(), 0o644),
    }
    for folder in SOURCE_FOLDERS:
        base = root / folder
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root)
            if p.is_file() and _wanted(p.relative_to(base)):
                files[rel.as_posix()] = (p.read_bytes(), 0o644)
    bad = [n for n in files if n.startswith(FORBIDDEN) or "__pycache__" in n.split("/")]
    if bad:  # a guard against a future change to the lists above
        raise RuntimeError(f"refusing to bundle {', '.join(bad)}")
    return files


def export_gradescope(course: Course, lab: Lab | str, out_zip: Path | str) -> Path:
    """Write the Gradescope autograder zip for ``lab`` to ``out_zip`` (atomically) and return its path."""
    lab = course.lab(lab) if isinstance(lab, str) else lab
    out_zip = Path(out_zip)
    files = bundle_contents(course, lab)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so that the modes above are honoured
            zf.writestr(info, data)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_zip.with_name(f".{out_zip.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out_zip)
    return out_zip


# -- results.json -------------------------------------------------------------------------------
def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_errors(results: dict) -> list[str]:
    """Where ``results`` breaks Gradescope's results.json format ([] when it conforms)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    return [f"{'/'.join(str(x) for x in e.absolute_path) or '(top level)'}: {e.message}"
            for e in sorted(validator.iter_errors(results), key=lambda e: list(map(str, e.absolute_path)))]


def find_submission(submission_dir: Path) -> tuple[Path | None, str]:
    """The one notebook to grade, or (None, the reason for 0 points in words for the student)."""
    submission_dir = Path(submission_dir)
    files = sorted(
        p for p in submission_dir.rglob("*")
        if p.is_file() and not any(x.startswith(".") or x == "__MACOSX" for x in p.relative_to(submission_dir).parts)
    ) if submission_dir.is_dir() else []
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    names = lambda ps: ", ".join(p.relative_to(submission_dir).as_posix() for p in ps[:10]) + (" ..." if len(ps) > 10 else "")
    if len(notebooks) == 1:
        return notebooks[0], ""
    if not notebooks:
        got = f"the files received were: {names(files)}" if files else "the submission was empty"
        return None, (f"No Jupyter notebook (.ipynb) was found in your submission ({got}). "
                      f"Upload your lab notebook (in Jupyter: File > Download as .ipynb) and submit again.")
    return None, (f"Your submission contains {len(notebooks)} notebooks ({names(notebooks)}); upload exactly one, "
                  f"your lab notebook, so that the grader knows which one to grade.")


def not_graded(course: Course, lab: Lab, reason: str, seconds: float = 0.0) -> dict:
    """A results.json with 0 points on every check and ``reason`` as the explanation."""
    from ..grade import prepare_run

    run = prepare_run(course, lab)
    return run.not_graded(run.blank(""), reason).replace(seconds=seconds).to_gradescope(course.visibility)


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run(root: Path | str, lab_id: str, *, log=print) -> dict:
    """Grade ``ROOT/submission`` for ``lab_id`` with the course in ``ROOT/source``; write ``ROOT/results/results.json``.

    ``log`` lines go to run_autograder's stdout, which Gradescope shows to instructors only.
    """
    from ..grade import grade_one, prepare_run
    from ..late import apply_late

    root = Path(root)
    start = time.monotonic()
    prestart_worker(root / "source" / "course.toml")  # one submission: its worker starts while the checks load
    try:  # only this lab's checks: `check` validated the whole course when the image was built
        course = load_course(root / "source" / "course.toml", only=lab_id)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    lab = course.labs[0]
    grading = prepare_run(course, lab)
    notebook, problem = find_submission(root / "submission")
    if notebook is None:
        log(f"not graded: {problem}")
        result = grading.not_graded(grading.blank(""), problem).replace(seconds=time.monotonic() - start)
    else:
        log(f"grading {notebook.relative_to(root)} for {lab.id}")
        result = grade_one(grading, notebook, notebook.stem)

    metadata = root / "submission_metadata.json"
    if metadata.is_file():
        try:
            md = read_gradescope_metadata(metadata)
        except TimestampError as e:
            log(f"late policy NOT applied: {e}")
            result = apply_late(result, lab, unreadable="The late policy was not applied: the submission time "
                                                        "could not be read; the course staff can see why.")
        else:
            result = apply_late(result, lab, md.submitted_at)
            dates = {}
            if md.due_date is not None:
                dates["gradescope_due_date"] = md.due_date.isoformat()
                if abs((md.due_date - lab.due).total_seconds()) >= 60:
                    log(f"note: Gradescope's due date {md.due_date.isoformat()} differs from course.toml's "
                        f"{lab.due.isoformat()} for {lab.id}; course.toml's decides lateness")
            if md.late_due_date is not None:
                dates["gradescope_late_due_date"] = md.late_due_date.isoformat()
            result = result.with_extra(**dates)
            log(f"submitted at {md.submitted_at.isoformat()}, {result.late.days_late} day(s) late, "
                f"multiplier {result.multiplier:g}")
    else:
        log(f"no {metadata.name}: late policy not applied")
    results = result.to_gradescope(course.visibility)

    errors = schema_errors(results)
    if errors:  # a grader bug; Gradescope may still take the file, so write it and say so loudly
        log("WARNING: results.json does not match Gradescope's format:\n  " + "\n  ".join(errors[:20]))
    _write_json_atomic(root / "results" / "results.json", results)
    log(f"score {results['score']:g} / {results['max_score']:g} in {time.monotonic() - start:.1f}s "
        f"({results['extra_data'].get('sandbox') or 'not run'})")
    return results


def check(root: Path | str, lab_id: str, *, log=print) -> None:
    """setup.sh's last step: the bundle is importable from ROOT/source and its course loads."""
    import labgrader
    from ..grade import lab_checks
    from ..sandbox.session import bubblewrap_available
    from ..submission import trusted_setup

    source = (Path(root) / "source").resolve()
    imported = Path(labgrader.__file__).resolve().parent.parent
    if imported != source:
        raise RuntimeError(f"autograder is imported from {imported}, not from the bundle in {source}")
    course = load_course(source / "course.toml")
    lab = _lab(course, lab_id)
    trusted_setup(lab.lab_path(course.root))
    lab_checks(lab)
    load_schema()
    mode = "bubblewrap" if bubblewrap_available() else "process isolation + rlimits (no bubblewrap here)"
    log(f"autograder bundle OK: {course.name}, {lab.id} ({lab.title}), {len(lab.exercises)} exercises, "
        f"{lab.max_score:g} points, Python {sys.version.split()[0]}, sandbox: {mode}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m labgrader.exports.gradescope",
                                description="Build or run the Gradescope autograder bundle.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("run", "grade ROOT/submission into ROOT/results/results.json"),
                           ("check", "check that the bundle in ROOT/source loads (setup.sh's last step)")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", DEFAULT_ROOT),
                       help="the autograder folder (default: $AUTOGRADER_ROOT or /autograder)")
        s.add_argument("--lab", required=True, help="lab id from course.toml")
    e = sub.add_parser("export", help="write the autograder zip (same as `course export gradescope`)")
    e.add_argument("lab")
    e.add_argument("--out", required=True)
    e.add_argument("--course", default=os.environ.get("COURSE_TOML", "course.toml"))
    args = p.parse_args(argv)
    try:
        if args.command == "export":
            course = load_course(Path(args.course))
            lab = _lab(course, args.lab)
            out = export_gradescope(course, lab, Path(args.out))
            print(f"wrote {out} ({out.stat().st_size // 1024} KB): Gradescope autograder for {lab.id}")
        elif args.command == "check":
            check(args.root, args.lab)
        else:
            run(args.root, args.lab)
        return EXIT_OK
    except (CourseConfigError, UsageError) as e:
        print(f"gradescope: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        # No results.json: Gradescope then reports that the autograder failed, rather than a 0
        # that looks like a grade. The traceback lands in the instructors' stdout view.
        traceback.print_exc(file=sys.stdout)
        return EXIT_GRADER


if __name__ == "__main__":
    sys.exit(main())
