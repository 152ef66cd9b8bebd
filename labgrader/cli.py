"""``course``: the command line, a thin layer over functions the tests call directly.

    course build [--check]                 regenerate solution exercise cells and labs/ from reference_impl
    course grade LAB PATH... --out DIR     grade notebooks (files or folders) into DIR/<name>/results.json
                 [--jobs N] [--force]      and DIR/gradebook.csv; resumes unless --force
    course check NOTEBOOK [--lab LAB]      a student's self-check: the public checks, in the sandbox
    course release LAB --out DIR           the student bundle (no solutions, reference or hidden checks)
    course scores LAB DIR --csv FILE       merge a TA's scores of the written answers into DIR/gradebook.csv
    course validate LAB [--exercise ID]    mutation score of the checks, and the correct alternatives
    course export gradescope LAB --out F   an autograder zip for Gradescope
    course export nbgrader LAB DIR --db URL   write graded results into an nbgrader gradebook
    course demo                            build, then grade the bundled example submissions

Exit codes: 0 when every submission got a report (a corrupt or hostile one gets 0 points and a
reason), 1 when the grader itself failed, 2 for bad usage or a bad course.toml, 3 when `course
grade` found no notebook to grade, 130 when interrupted (Ctrl-C: finished results are kept and a
rerun resumes).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import DEFAULT_COURSE, CourseConfigError, grades_serially, load_course, prestart_worker
from .submission import collect_submissions

EXIT_OK, EXIT_GRADER, EXIT_USAGE, EXIT_EMPTY, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    pass


def _course(args):
    return load_course(Path(args.course))


def _course_lab(args):
    """The course with only ``args.lab`` loaded (no other lab's checks imported), and that lab."""
    try:
        course = load_course(Path(args.course), only=args.lab)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    return course, course.labs[0]


def cmd_build(args) -> int:
    from .build import build

    course = _course(args)
    changes = build(course, check=args.check)
    if args.check:
        if changes:
            for c in changes:
                print(f"drift: {c.path.relative_to(course.root)} is {c.reason}; run `course build`")
            return EXIT_GRADER
        print("course build --check: solutions/ and labs/ match reference_impl")
        return EXIT_OK
    for c in changes:
        print(f"wrote {c.path.relative_to(course.root)} ({c.reason})")
    if not changes:
        print("nothing to do: solutions/ and labs/ are up to date")
    return EXIT_OK


def cmd_grade(args) -> int:
    paths = [Path(p) for p in args.paths]
    try:
        subs, missing = collect_submissions(paths), None
    except FileNotFoundError as e:
        subs, missing = [], e  # reported below, once the course is known to be good
    if not args.cluster and subs and grades_serially(args.jobs, len(subs)):
        prestart_worker(Path(args.course))  # one process will grade: its first worker starts while the checks load
    from .grade import WRONG_LAB, grade_batch
    from .progress import progress_reporter
    from .reports import REPORT_NAME

    import gc

    gc.freeze()  # the modules just imported are there for good: no collection need walk them again (hypothesis
    # makes one full collection on its first use, 0.03-0.1 s); this process ends when the batch does

    course, lab = _course_lab(args)
    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder (it gets one folder per submission, "
                         "gradebook.csv and report.html)")
    if missing is not None:
        raise UsageError(str(missing))
    if not subs:
        print(f"course: no notebooks (*.ipynb) found in {', '.join(map(str, paths))}; nothing graded",
              file=sys.stderr)
        return EXIT_EMPTY
    with progress_reporter(len(subs)) as progress:
        if args.cluster:  # one task per submission on a Dask scheduler (labgrader/cluster.py)
            from .cluster import ClusterError, grade_batch_on_cluster

            try:
                summary = grade_batch_on_cluster(course, lab, paths, out, address=args.cluster, force=args.force,
                                                 profile=args.profile, progress=progress,
                                                 late_policy=args.late_policy)
            except ClusterError as e:
                raise UsageError(str(e)) from None
        else:
            summary = grade_batch(course, lab, paths, out, jobs=args.jobs, force=args.force, profile=args.profile,
                                  progress=progress, late_policy=args.late_policy)
    for name, r in summary.results.items():
        for note in r.get("extra_data", {}).get("notes", []):
            if note.startswith(WRONG_LAB):
                print(f"course: {name}: {note[0].lower()}{note[1:]}", file=sys.stderr)
    if summary.interrupted:
        print(f"course: interrupted: {len(summary.graded)} graded now and kept, {len(summary.skipped)} already "
              f"graded; rerun the same command to grade the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    n = len(summary.graded) + len(summary.skipped)
    report = out / summary.names[0] / REPORT_NAME if len(summary.names) == 1 else out / REPORT_NAME
    print(f"{n} submission(s) with reports in {out} ({len(summary.graded)} graded now, "
          f"{len(summary.skipped)} already graded); gradebook: {out / 'gradebook.csv'}; report: {report}")
    if summary.failed:
        print(f"grader errors on {len(summary.failed)} submission(s): {', '.join(summary.failed)}", file=sys.stderr)
        return EXIT_GRADER
    return EXIT_OK


def cmd_validate(args) -> int:
    from .validate import format_report, validate_lab

    course, lab = _course_lab(args)
    unknown = [e for e in args.exercise or [] if e not in {x.id for x in lab.exercises}]
    if unknown:
        raise UsageError(f"no exercise {', '.join(unknown)} in {lab.id}")
    report = validate_lab(course, lab, exercises=args.exercise, examples=args.examples, jobs=args.jobs,
                          alternatives=not args.no_alternatives)
    print(format_report(report, show_survivors=True))
    ok = report.kill_rate >= args.min_kill_rate and report.false_failures == 0 and not report.stale_equivalents
    return EXIT_OK if ok else EXIT_GRADER


def cmd_check(args) -> int:
    from .checks import hidden_checks, not_run_note
    from .grade import grade_one, prepare_run

    course = load_course(Path(args.course), resolve_references=False)
    path = Path(args.notebook)
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if args.lab:
        try:
            lab = course.lab(args.lab)
        except KeyError as e:
            raise UsageError(e.args[0]) from None
    else:
        matches = [lab for lab in course.labs if lab.notebook == path.name] or \
                  [lab for lab in course.labs if path.name.startswith(lab.id)]
        if len(matches) != 1:
            raise UsageError(f"cannot tell which lab {path.name} belongs to: pass --lab "
                             f"({', '.join(lab.id for lab in course.labs)})")
        lab = matches[0]
    result = grade_one(prepare_run(course, lab, "grading", public_only=True), path)  # grading's examples and seed
    not_run = {ex: len(names) for ex, names in hidden_checks(lab).items()}
    print(result.to_text(not_run).replace(f"{lab.title}:", f"{lab.title} (public checks only):", 1))
    r = result.to_gradescope()
    for t in r["tests"]:
        if t["status"] == "failed":
            print(f"\nx {t['name']}\n" + "\n".join("    " + line for line in t["output"].splitlines()))
    hidden = sum(not_run.values())
    public = len(r["tests"])
    print(f"\nThese are the {public} public checks (with the examples and seed grading uses); {not_run_note(hidden)}.")
    return EXIT_OK


def cmd_release(args) -> int:
    from .release import release_lab

    course, lab = _course_lab(args)
    try:
        files = release_lab(course, lab, Path(args.out))
    except FileExistsError as e:
        raise UsageError(str(e)) from None
    print(f"wrote the {lab.id} student bundle to {args.out}: {len(files)} files "
          "(no solutions, no reference implementation, public checks only)")
    return EXIT_OK


def cmd_scores(args) -> int:
    from .answers import ScoreSheetError, merge_scores

    course, lab = _course_lab(args)
    if not lab.questions:
        raise UsageError(f"{lab.id} has no written questions with points in course.toml (questions = {{...}})")
    try:
        n = merge_scores(course_out := Path(args.dir), lab, args.csv)
    except (ScoreSheetError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    print(f"merged {n} scores into {course_out / 'manual_scores.csv'}; rewrote {course_out / 'gradebook.csv'} "
          "(total = autograded + written answers)")
    return EXIT_OK


def cmd_export_gradescope(args) -> int:
    from .exports.gradescope import export_gradescope

    course, lab = _course_lab(args)
    out = export_gradescope(course, lab, Path(args.out))
    print(f"wrote {out} ({out.stat().st_size // 1024} KB): upload it on the assignment's Configure Autograder page")
    return EXIT_OK


def cmd_export_nbgrader(args) -> int:
    from .exports.nbgrader import ExportError, export_command

    course = _course(args)
    try:
        return export_command(course, args.lab, args.results_dir, args.db,
                              course_id=args.course_id, source=args.source)
    except ExportError as e:
        raise UsageError(str(e)) from None


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(_course(args), jobs=args.jobs, out=Path(args.out) if args.out else None)


STUDENT_VERBS = ("check",)  # what works in a student bundle: no reference, builder or exports there


def student_bundle() -> bool:
    """True when this labgrader comes from a student bundle (``course release`` marks it)."""
    return (Path(__file__).resolve().parent / "STUDENT_BUNDLE").exists()


def make_parser(student: bool | None = None) -> argparse.ArgumentParser:
    student = student_bundle() if student is None else student
    p = argparse.ArgumentParser(prog="course", description=(
        "Efficient ML Labs, the student bundle: check your notebook with the public checks." if student else
        "Efficient ML Labs: build, grade and demo the course."))
    p.add_argument("--course", default=os.environ.get("COURSE_TOML", str(DEFAULT_COURSE)),
                   help="path to course.toml (default: the repository's)")
    subparsers = p.add_subparsers(dest="command", required=True)

    class _Verbs:  # in a student bundle, the instructor's verbs are not offered (they would crash there)
        def add_parser(self, name, **kw):
            if student and name not in STUDENT_VERBS:
                return argparse.ArgumentParser(add_help=False)
            return subparsers.add_parser(name, **kw)

    sub = _Verbs()

    b = sub.add_parser("build", help="regenerate solution exercise cells and labs/ from reference_impl")
    b.add_argument("--check", action="store_true", help="only report drift; exit 1 if anything would change")
    b.set_defaults(func=cmd_build)

    g = sub.add_parser("grade", help="grade notebooks into DIR/<name>/results.json and DIR/gradebook.csv")
    g.add_argument("lab", help="lab id from course.toml, e.g. lab01")
    g.add_argument("paths", nargs="+", help="notebooks, or folders searched for *.ipynb")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded in parallel")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    g.add_argument("--late-policy", action="store_true",
                   help="apply course.toml's late policy from nbgrader's timestamp.txt beside each notebook")
    g.add_argument("--profile", default="grading", choices=["grading", "quick"],
                   help="grading: course.toml's examples per property; quick: a few, for trying things out")
    g.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's tcp://HOST:8786 (--jobs is then the cluster's)")
    g.set_defaults(func=cmd_grade)

    c = sub.add_parser("check", help="a student's self-check: the public checks on a notebook, in the sandbox")
    c.add_argument("notebook")
    c.add_argument("--lab", default=None, help="lab id (default: from the notebook's file name)")
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("release", help="the student bundle: labs, datasets, public checks; never solutions")
    r.add_argument("lab")
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_release)

    v = sub.add_parser("validate", help="mutation score of a lab's checks, and its correct alternatives")
    v.add_argument("lab", help="lab id, e.g. lab01")
    v.add_argument("--exercise", action="append", help="only this exercise (repeatable)")
    v.add_argument("--examples", type=int, default=None, help="examples per property (default: course.toml's)")
    v.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    v.add_argument("--no-alternatives", action="store_true", help="skip grading tests/alternatives/<lab>/")
    v.add_argument("--min-kill-rate", type=float, default=0.95, help="exit 1 below this (default 0.95)")
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("scores", help="merge a TA's scores of the written answers (CSV) into DIR's gradebook")
    s.add_argument("lab", help="lab id from course.toml, e.g. lab01")
    s.add_argument("dir", help="the folder course grade wrote (with answers.csv and gradebook.csv)")
    s.add_argument("--csv", required=True, help="columns submission, question, score[, comment]: "
                                                "e.g. DIR/answers.csv with the score column filled in")
    s.set_defaults(func=cmd_scores)

    x = sub.add_parser("export", help="export to the grading tools a course already uses")
    xs = x.add_subparsers(dest="target", required=True)
    xg = xs.add_parser("gradescope", help="an autograder zip for Gradescope")
    xg.add_argument("lab", help="lab id, e.g. lab01")
    xg.add_argument("--out", required=True, help="the zip to write")
    xg.set_defaults(func=cmd_export_gradescope)
    xn = xs.add_parser("nbgrader", help="write DIR/<student>/results.json into an nbgrader gradebook")
    xn.add_argument("lab", help="lab id, e.g. lab01")
    xn.add_argument("results_dir", help="the --out folder of `course grade`; subfolder name = student id")
    xn.add_argument("--db", required=True, help="gradebook URL, e.g. sqlite:///gradebook.db")
    xn.add_argument("--course-id", default="default_course", help="nbgrader course id for a new assignment")
    xn.add_argument("--source", default=None,
                    help="folder with the lab notebook carrying nbgrader metadata (default: solutions/); "
                         "used only if the gradebook has no such notebook")
    xn.set_defaults(func=cmd_export_nbgrader)

    d = sub.add_parser("demo", help="build, then grade the bundled example submissions and print the table")
    d.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    d.add_argument("--out", default=None, help="output folder (default: build/demo)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CourseConfigError as e:
        print(f"course: {e}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as e:
        print(f"course: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("course: interrupted; finished results are kept and a rerun resumes", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
