"""``make site``: the course as web pages for self-learners — every solution notebook executed, with
its outputs and plots, rendered to HTML by nbconvert, under ``build/site/`` (gitignored).

    python -m labgrader.site [--labs lab01 ...] [--quick] [--out build/site] [--update-figures]

Each lab's run writes its measured figures (``labkit.experiments.Figures``) to ``<out>/figures/``;
where the lab has quoted-number claims (``labsrc/<lab>.claims.toml``), a full-size run is checked
against them and the command exits 1 on a mismatch. ``--update-figures`` copies the fresh figures to
``labsrc/<lab>.figures.json`` (what the test suite checks the claims against) after a passing check.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from .config import REPO_ROOT, Course, load_course
from .labsource import source_path

DEFAULT_OUT = Path("build") / "site"


def execute(notebook: Path, workdir: Path, *, quick: bool, figures: Path, timeout: int = 1800):
    """The executed notebook (outputs kept); raises nbclient's CellExecutionError on a failing cell."""
    nb = nbformat.read(notebook, as_version=4)
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "COURSE_FIGURES": str(figures),
           "COURSE_QUICK": "1" if quick else "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of the process that starts it
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def render(nb, title: str) -> str:
    """Standalone HTML (nbconvert's lab template; plots embedded as data URIs)."""
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def index_page(course: Course, pages: dict[str, float]) -> str:
    items = "\n".join(f'<li><a href="{html.escape(lab.id)}.html">{html.escape(lab.title)}</a> '
                      f"(executed in {pages[lab.id]:.0f} s)</li>" for lab in course.labs if lab.id in pages)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(course.name)}</title></head>"
            f"<body><h1>{html.escape(course.name)}</h1><p>Every lab's solution notebook, executed, with its "
            f"outputs and plots.</p><ul>\n{items}\n</ul></body></html>\n")


def build_site(course: Course, out: Path, *, lab_ids: list[str] | None = None, quick: bool = False,
               update_figures: bool = False) -> list[str]:
    """Execute and render the labs into ``out``; returns the claim problems (empty when all hold)."""
    from .claims import check, claims_path

    out.mkdir(parents=True, exist_ok=True)
    problems, pages = [], {}
    for lab in course.labs:
        if lab_ids and lab.id not in lab_ids:
            continue
        t0 = time.perf_counter()
        nb = execute(lab.solution_path(course.root), out / "work" / lab.id, quick=quick, figures=out / "figures")
        pages[lab.id] = time.perf_counter() - t0
        (out / f"{lab.id}.html").write_text(render(nb, lab.title), encoding="utf-8")
        print(f"{lab.id}: executed in {pages[lab.id]:.0f} s, {out / (lab.id + '.html')}")
        source, fig = source_path(course.root, lab), out / "figures" / f"{lab.id}.json"
        if quick or not claims_path(source).exists() or not fig.exists():
            continue
        found = check(source, json.loads(fig.read_text(encoding="utf-8"))["figures"])
        problems += found
        print("\n".join(found) or f"{lab.id}: every quoted number is what the run measured")
        if update_figures and not found:
            shutil.copy(fig, source.with_name(source.stem + ".figures.json"))
    (out / "index.html").write_text(index_page(course, pages), encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labgrader.site", description=__doc__.split("\n\n")[0])
    ap.add_argument("--labs", nargs="*", help="lab ids (default: every lab in course.toml)")
    ap.add_argument("--quick", action="store_true", help="the tests' tiny size (claims are not checked)")
    ap.add_argument("--out", type=Path, default=None, help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--update-figures", action="store_true", help="after a passing check, keep the new figures")
    args = ap.parse_args(argv)
    course = load_course(REPO_ROOT / "course.toml")
    out = args.out or course.root / DEFAULT_OUT
    problems = build_site(course, out, lab_ids=args.labs, quick=args.quick, update_figures=args.update_figures)
    print(f"site: {out / 'index.html'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
