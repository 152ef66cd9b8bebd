"""HTML reports from really graded submissions, and the batch progress reporter.

One batch is graded once for the module (quick profile): the solution, the untouched skeleton, two
buggy variants made by editing the solution's source that share a bug (so their counterexamples
group), a hostile one whose exception text, output and cell error are HTML/script, and a truncated
file. Expected statistics are
computed here straight from the results.json files, not with the report module's helpers.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labgrader.grade import grade_batch
from labgrader.progress import format_line, progress_reporter
from labgrader.reports import (exercise_chart, histogram_chart, pass_rate_chart, write_class_report, write_reports,
                                write_submission_report)
from labgrader.submission import grade_id

pytestmark = pytest.mark.slow

SCRIPT = "<script>alert(1)</script>"
HOSTILE_NAME = '<script>alert(1)</script>&"'
SVG = "{http://www.w3.org/2000/svg}"
GREEN, ORANGE, RED = "#2e7d32", "#ef8f00", "#c62828"  # full marks, partial, none
SOFTMAX_SHIFT = "    z = z - z.max(axis=-1, keepdims=True)  # (..., C), row max is 0\n"
KL_GUARD = "        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)  # (..., C)\n"
KL_NO_GUARD = "        terms = p * (np.log(p) - np.log(q))\n"
HOSTILE_KL = f'''
def kl_divergence(p, q):
    raise ValueError("{SCRIPT} & <b>bold</b> \\"quoted\\"")
'''
HOSTILE_CELLS = [
    'print("</pre><script>alert(\'stdout\')</script><img src=x onerror=alert(2)>")',
    'raise RuntimeError("</td></pre><script>alert(3)</script>")',
]


def solution_sources(course, lab) -> dict[str, str]:
    nb = nbformat.read(lab.solution_path(course.root), as_version=4)
    return {grade_id(c): c.source for c in nb.cells if grade_id(c)}


def edited(source: str, old: str, new: str) -> str:
    assert old in source, f"the solution changed: {old!r} not found; update this test's bug"
    return source.replace(old, new)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course, lab01, submission_maker):
    base = tmp_path_factory.mktemp("reports")
    subs = base / "subs"
    src = solution_sources(course, lab01)
    no_shift = edited(src["softmax_t"], SOFTMAX_SHIFT, "")
    submission_maker(subs / "solution.ipynb", lab01, course, from_solution=True)
    submission_maker(subs / "skeleton.ipynb", lab01, course)
    submission_maker(subs / "buggy_a.ipynb", lab01, course, {"softmax_t": no_shift}, from_solution=True)
    # Two more from the skeleton with a few exercises done (quick to grade: the rest is not implemented).
    submission_maker(subs / "buggy_b.ipynb", lab01, course,
                     {"softmax_t": no_shift, "kl_divergence": edited(src["kl_divergence"], KL_GUARD, KL_NO_GUARD),
                      "label_loyalty": src["label_loyalty"]})
    submission_maker(subs / "hostile.ipynb", lab01, course,
                     {"softmax_t": src["softmax_t"], "kl_divergence": HOSTILE_KL}, extra_cells=HOSTILE_CELLS)
    (subs / "corrupt.ipynb").write_text('{"cells": [{"cell_type": "code", "sou')
    out = base / "out"
    summary = grade_batch(course, lab01, [subs], out, jobs=2, profile="quick")
    assert not summary.failed, summary.failed
    write_reports(out, lab01)
    return out


def results_of(out: Path) -> dict[str, dict]:
    return {f.parent.name: json.loads(f.read_text()) for f in sorted(out.glob("*/results.json"))}


class Dom(HTMLParser):
    """Just enough of the DOM: every element's tag and attributes, and the text of pre, headings, td, p and div."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: list[tuple[str, dict, str]] = []  # (tag, attrs, text) of the tracked tags
        self._open: list[tuple[str, dict, list[str]]] = []
        self.groups: list[dict] = []  # the "what the class got wrong" boxes: attrs + first counterexample pre
        self._group: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "div" and "group" in a.get("class", "").split():
            self._group = {**a, "counterexample": None}
            self.groups.append(self._group)
        if tag in ("pre", "h1", "h2", "h3", "td", "p", "div"):
            self._open.append((tag, a, []))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            t, a, parts = self._open.pop()
            text = "".join(parts)
            self.texts.append((t, a, text))
            if t == "pre" and a.get("class") == "counterexample" and self._group is not None \
                    and self._group["counterexample"] is None:
                self._group["counterexample"] = text

    def handle_data(self, data):
        for _, _, parts in self._open:
            parts.append(data)

    def by(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def counterexample_of(output: str) -> str:
    """The lines under 'Counterexample ...:' that are indented (the shrunk input), without the indent."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("Counterexample (", "One failing input:")):
            block = []
            for x in lines[i + 1:]:
                if not x.startswith((" ", "\t")):
                    break
                block.append(x[4:] if x.startswith("    ") else x)
            return "\n".join(block)
    return ""


# -- charts: inline SVG, read back as XML ----------------------------------------------------------
def svg_in(page: str, chart_id: str) -> ET.Element:
    """The page's inline <svg id=chart_id>, parsed on its own as XML: it must be well-formed."""
    found = re.findall(rf'<svg\b[^>]*\bid="{chart_id}"[^>]*>.*?</svg>', page, re.S)
    assert len(found) == 1, f"{len(found)} <svg id={chart_id}> in the page"
    return ET.fromstring(found[0])


def rects(svg: ET.Element, cls: str) -> list[dict]:
    return [r.attrib for r in svg.iter(f"{SVG}rect") if r.get("class") == cls]


def texts(svg: ET.Element) -> list[ET.Element]:
    return list(svg.iter(f"{SVG}text"))


def x_of_tick(svg: ET.Element, label: str) -> float:
    """Where the x axis puts a tick label (the one centred text with that content)."""
    [x] = [float(t.get("x")) for t in texts(svg) if t.text == label and t.get("text-anchor") == "middle"]
    return x


def assert_accessible(svg: ET.Element) -> str:
    """An image to assistive technology, named by a summary that is also its <title> (the tooltip)."""
    assert svg.get("role") == "img" and svg.get("width") == "100%" and len(svg.get("viewBox").split()) == 4
    title = svg.find(f"{SVG}title")
    assert title is not None and title.text == svg.get("aria-label") and title.text
    return title.text


def rule_color(score: float, max_score: float) -> str:
    return GREEN if score >= max_score else (RED if score <= 0 else ORANGE)


def assert_exercise_chart(page: str, results: dict) -> None:
    """One grey bar per exercise at its maximum and one score bar over it, score/max of its length,
    coloured by the rule; labels are the exercise ids in the lab's order; the summary says each score."""
    svg = svg_in(page, "exercise-chart")
    summary = assert_accessible(svg)
    order = list(dict.fromkeys(t["extra_data"]["exercise"] for t in results["tests"]))
    ex = results["extra_data"]["exercises"]
    assert sorted(order) == sorted(ex)
    maxes, bars = rects(svg, "max"), rects(svg, "bar")
    assert len(maxes) == len(bars) == len(order)
    top = max(ex[k]["max_score"] for k in order)
    full = x_of_tick(svg, f"{top:g}") - x_of_tick(svg, "0")  # the x axis runs 0 .. the largest maximum
    for k, m, b in zip(order, maxes, bars):
        score, max_score = ex[k]["score"], ex[k]["max_score"]
        assert float(m["width"]) == pytest.approx(full * max_score / top, abs=0.02), k
        assert float(b["width"]) == pytest.approx(full * score / top, abs=0.02), k
        assert b["fill"] == rule_color(score, max_score), k
        assert f"{round(score, 2):g} of {round(max_score, 2):g} points on {k}" in summary
    labels = [t.text for t in texts(svg) if t.get("text-anchor") == "end"]
    assert labels == order


# -- the class report -----------------------------------------------------------------------------
def test_class_report_numbers_histogram_and_pass_rates(graded, lab01):
    res = results_of(graded)
    assert sorted(res) == ["buggy_a", "buggy_b", "corrupt", "hostile", "skeleton", "solution"]
    dom = Dom((graded / "report.html").read_text(encoding="utf-8"))
    cells = {a.get("id"): text for t, a, text in dom.texts if t == "td" and a.get("id")}
    assert cells["n-submissions"] == "6"
    pcts = [100 * r["score"] / r["max_score"] for r in res.values()]
    assert cells["mean"] == f"{statistics.fmean(pcts):.1f}%"
    assert cells["median"] == f"{statistics.median(pcts):.1f}%"

    # The histogram: ten bins of 10 % whose heights are numpy's counts of the same percents.
    page = (graded / "report.html").read_text(encoding="utf-8")
    assert "<img" not in page and "data:image" not in page  # the charts are inline SVG, not images
    hist = svg_in(page, "histogram")
    summary = assert_accessible(hist)
    counts, _ = np.histogram(pcts, bins=10, range=(0, 100))
    bins = rects(hist, "bin")
    assert len(bins) == 10 and sum(counts) == 6
    unit = max(float(b["height"]) for b in bins) / max(counts)  # pixels per submission
    assert [float(b["height"]) for b in bins] == pytest.approx([unit * c for c in counts], abs=0.02)
    assert [int(b["data-count"]) for b in bins] == counts.tolist()
    width = x_of_tick(hist, "100") - x_of_tick(hist, "0")
    assert [float(b["x"]) for b in bins] == pytest.approx([x_of_tick(hist, "0") + width * i / 10 for i in range(10)],
                                                          abs=0.02)
    assert "6 submissions" in summary and f"{counts[0]} scored 0–10 %" in summary


    # A row for every check, with the pass count over the gradable submissions, worst first.
    gradable = [r for r in res.values() if not r["extra_data"]["fatal"]]
    passed = Counter(t["name"] for r in gradable for t in r["tests"] if t["status"] == "passed")
    names = [t["name"] for t in res["solution"]["tests"]]
    rows = dom.by("tr", **{"class": "pass-rate"})
    assert sorted(r["data-check"] for r in rows) == sorted(names)
    assert len(names) == sum(len(e.checks) for e in lab01.exercises)
    for r in rows:
        assert int(r["data-passed"]) == passed[r["data-check"]], r
        assert int(r["data-graded"]) == len(gradable) == 5
    rates = [int(r["data-passed"]) for r in rows]
    assert rates == sorted(rates)  # worst first

    # The pass-rate chart: one bar per check in the table's order, passed/graded of the axis, coloured
    # green (all pass), red (none) or orange.
    chart = svg_in(page, "pass-rate-chart")
    summary = assert_accessible(chart)
    bars = rects(chart, "bar")
    assert len(bars) == len(rows) == len(names)
    width = x_of_tick(chart, "100") - x_of_tick(chart, "0")
    for r, b in zip(rows, bars):
        p = passed[r["data-check"]]
        assert float(b["width"]) == pytest.approx(width * p / len(gradable), abs=0.02), r
        assert b["fill"] == rule_color(p, len(gradable)), r
        assert f"{r['data-check']} {100 * p / len(gradable):.0f}%" in summary
    # Tick labels are the check names, long ones cut to LABEL_CHARS with an ellipsis (the bar's tooltip has it whole).
    from labgrader.reports import LABEL_CHARS
    labels = [t.text for t in texts(chart) if t.get("text-anchor") == "end"]
    assert len(labels) == len(rows)
    for label, r in zip(labels, rows):
        name = r["data-check"]
        assert label == name if len(name) <= LABEL_CHARS else (
            len(label) == LABEL_CHARS and label.endswith("…") and name.startswith(label[:-1])), (label, name)


def test_class_report_groups_counterexamples_with_counts(graded):
    res = results_of(graded)
    expected = Counter()
    for r in res.values():
        if r["extra_data"]["fatal"]:
            continue
        for t in r["tests"]:
            ce = counterexample_of(t["output"])
            if t["status"] == "failed" and ce:
                expected[(t["name"], ce)] += 1
    dom = Dom((graded / "report.html").read_text(encoding="utf-8"))
    shown = Counter({(g["data-check"], g["counterexample"]): int(g["data-count"]) for g in dom.groups})
    assert len(shown) == len(dom.groups), "a (check, counterexample) group appears twice"
    assert shown == expected
    # Both buggy variants dropped the max shift: one group of two, and it is listed first.
    softmax = [(k, n) for k, n in shown.items() if k[0] == "softmax_t: stable at large logits"]
    assert len(softmax) == 1 and softmax[0][1] == 2 and "10000." in softmax[0][0][1]
    assert int(dom.groups[0]["data-count"]) == max(expected.values()) == 2
    # Failures without a counterexample (the skeleton's "not implemented") are counted separately.
    other = Counter()
    for r in res.values():
        if not r["extra_data"]["fatal"]:
            other.update(t["name"] for t in r["tests"]
                         if t["status"] == "failed" and not counterexample_of(t["output"]))
    rows = dom.by("tr", **{"class": "other-failure"})
    shown_other = Counter()
    for a in rows:
        shown_other[a["data-check"]] += int(a["data-count"])
    assert shown_other == other
    assert shown_other["softmax_t: agrees with reference"] == 1  # the skeleton: not implemented
    # Every submission is linked, and every link points at a written page.
    links = {a["href"] for a in dom.by("a") if a.get("href", "").endswith("/report.html")}
    assert links == {f"{n}/report.html" for n in res}
    assert all((graded / h).is_file() for h in links)


def test_charts_escape_names_and_stay_well_formed():
    """Exercise and check names come from course.toml: in a chart they are text, never markup."""
    exercises = {HOSTILE_NAME: {"score": 2.5, "max_score": 5}, "ok": {"score": 0, "max_score": 10}}
    charts = [exercise_chart(exercises, title=HOSTILE_NAME),
              pass_rate_chart([(HOSTILE_NAME, 0.25), ("fine: check", 1.0)])]
    for chart in charts:
        assert "<script" not in chart.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;" in chart
        svg = ET.fromstring(chart)  # well-formed: the escaped name parses back to the name
        assert [t.text for t in texts(svg) if t.get("text-anchor") == "end"][0] == HOSTILE_NAME
        assert HOSTILE_NAME in assert_accessible(svg)
        assert chart == (exercise_chart(exercises, title=HOSTILE_NAME) if "exercise-chart" in chart
                         else pass_rate_chart([(HOSTILE_NAME, 0.25), ("fine: check", 1.0)]))  # same bytes
    ex, rates = ET.fromstring(charts[0]), ET.fromstring(charts[1])
    assert [b["fill"] for b in rects(ex, "bar")] == [ORANGE, RED]  # red, but no bar to see: 0 points
    full = x_of_tick(ex, "10") - x_of_tick(ex, "0")  # the axis runs to the largest maximum, 10
    assert [float(b["width"]) for b in rects(ex, "max")] == pytest.approx([full / 2, full], abs=0.02)
    assert [float(b["width"]) for b in rects(ex, "bar")] == pytest.approx([full / 4, 0], abs=0.02)
    full = x_of_tick(rates, "100") - x_of_tick(rates, "0")
    assert [float(b["width"]) for b in rects(rates, "bar")] == pytest.approx([full / 4, full], abs=0.02)
    assert [b["fill"] for b in rects(rates, "bar")] == [ORANGE, GREEN]


def test_histogram_counts_match_numpy_at_the_edges():
    """Every bin is [a, a + 10) except the last, [90, 100], as numpy.histogram counts them."""
    rng = np.random.default_rng(0)
    percents = [0.0, 9.999, 10.0, 20.0, 89.99, 90.0, 99.99, 100.0, 100.0, *rng.uniform(0, 100, 37).tolist()]
    svg = ET.fromstring(histogram_chart(percents))
    counts, _ = np.histogram(percents, bins=10, range=(0, 100))
    bins = rects(svg, "bin")
    assert [int(b["data-count"]) for b in bins] == counts.tolist()
    unit = max(float(b["height"]) for b in bins) / max(counts)
    assert [float(b["height"]) for b in bins] == pytest.approx([unit * c for c in counts], abs=0.02)
    # integer y ticks from 0 past the tallest bar
    yticks = [int(t.text) for t in texts(svg) if t.get("text-anchor") == "end"]
    assert yticks[0] == 0 and yticks[-1] >= max(counts) and yticks == sorted(set(yticks))
    assert [t.text for t in texts(svg) if t.get("text-anchor") == "middle"][:11] == [str(v) for v in range(0, 101, 10)]


# -- a submission's page --------------------------------------------------------------------------
def test_submission_report_shows_failures_properties_and_counterexamples(graded):
    res = results_of(graded)
    text = (graded / "buggy_a" / "report.html").read_text(encoding="utf-8")
    dom = Dom(text)
    assert_exercise_chart(text, res["buggy_a"])
    assert_exercise_chart((graded / "skeleton" / "report.html").read_text(encoding="utf-8"), res["skeleton"])
    assert svg_in(text, "exercise-chart").get("aria-label").startswith("lab01: ")  # the summary names the lab
    failing = [t for t in res["buggy_a"]["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failing] == ["softmax_t: stable at large logits"]
    blocks = dom.by("details", **{"data-check": "softmax_t: stable at large logits"})
    assert len(blocks) == 1
    pres = [x for t, a, x in dom.texts if t == "pre" and a.get("class") == "counterexample"]
    assert pres == ["logits = np.array([[10000., 10000.]])\nT = 1.0"]
    details = [x for t, a, x in dom.texts if t == "pre" and a.get("class") == "detail"]
    assert any("non-finite" in d for d in details)
    assert "should stay finite and correct for logits as large as +-1e4" in text
    assert res["buggy_a"]["extra_data"]["sandbox"] and res["buggy_a"]["extra_data"]["sandbox"] in text
    # every exercise and every check has its row
    assert len(dom.by("tr")) >= len(res["buggy_a"]["tests"]) + len(res["buggy_a"]["extra_data"]["exercises"])

    sk = (graded / "skeleton" / "report.html").read_text(encoding="utf-8")
    assert "not implemented" in sk and "NotImplementedError" in sk
    bad = Dom((graded / "corrupt" / "report.html").read_text(encoding="utf-8"))
    [fatal] = [x for t, a, x in bad.texts if a.get("id") == "fatal"]
    assert fatal == res["corrupt"]["extra_data"]["fatal"] and "could not be graded" in fatal


def test_student_text_is_escaped_everywhere(graded):
    res = results_of(graded)
    hostile = res["hostile"]
    assert any(SCRIPT in t["output"] for t in hostile["tests"]), "the hostile text did not reach the results"
    assert "<script>" in hostile["extra_data"]["stdout_excerpt"]
    assert any("<script>" in c["error"] for c in hostile["extra_data"]["cells"])
    pages = [graded / "report.html", *graded.glob("*/report.html")]
    assert len(pages) == 7
    for page in pages:
        text = page.read_text(encoding="utf-8")
        low = text.lower()
        assert "<script" not in low, page
        assert "<img src=x" not in low and "<b>bold" not in low, page
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
    text = (graded / "hostile" / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown, as text
    assert "&lt;/pre&gt;&lt;script&gt;alert(&#x27;stdout&#x27;)" in text
    assert "&lt;/td&gt;&lt;/pre&gt;&lt;script&gt;alert(3)" in text
    cls = (graded / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in cls  # the group's example output


def _poison(x, payload):
    if isinstance(x, str):
        return x + payload
    if isinstance(x, list):
        return [_poison(v, payload) for v in x]
    if isinstance(x, dict):
        return {(k + payload if k in ("softmax_t", "kd_loss") else k): _poison(v, payload) for k, v in x.items()}
    return x


def test_every_string_field_is_escaped(tmp_path, graded, lab01):
    """Not only outputs: names, summaries, sandbox, sha, cell errors... and the folder name."""
    payload = '"><script>alert(9)</script><img src=x onerror=alert(9)>'
    folder = tmp_path / 'x"><script>alert(8)<'
    for name in ("buggy_b", "skeleton", "hostile"):
        r = _poison(json.loads((graded / name / "results.json").read_text()), payload)
        r["extra_data"]["lab"] = "lab01"
        (folder / name).mkdir(parents=True)
        (folder / name / "results.json").write_text(json.dumps(r))
    evil_name = tmp_path / "out" / '"><script>alert(7)<'
    evil_name.mkdir(parents=True)
    shutil.copy(folder / "buggy_b" / "results.json", evil_name / "results.json")
    for d in (folder, tmp_path / "out"):
        write_reports(d, lab01)
        for page in d.rglob("report.html"):
            low = page.read_text(encoding="utf-8").lower()
            assert "<script" not in low and "<img src=x" not in low, page
            assert "&lt;script&gt;alert(9)" in low, page
    write_submission_report(_poison(json.loads((graded / "corrupt" / "results.json").read_text()), payload),
                            tmp_path / "one.html")
    assert "<script" not in (tmp_path / "one.html").read_text().lower()


# -- determinism ----------------------------------------------------------------------------------
def test_reports_are_deterministic(graded, tmp_path, lab01):
    pages = sorted(p.relative_to(graded) for p in graded.rglob("report.html"))
    before = {p: (graded / p).read_bytes() for p in pages}
    write_reports(graded, lab01)
    assert {p: (graded / p).read_bytes() for p in pages} == before
    # Elsewhere on disk, from copies of the results, by a fresh interpreter (no chart caches, another
    # hash seed), given the lab by id instead of the Lab: the same bytes (no paths, no times inside).
    copy = tmp_path / "copy"
    for f in graded.glob("*/results.json"):
        (copy / f.parent.name).mkdir(parents=True)
        shutil.copy(f, copy / f.parent.name / "results.json")
    code = "import sys; from pathlib import Path; from labgrader.reports import write_reports; " \
           "write_reports(Path(sys.argv[1]), 'lab01')"
    subprocess.run([sys.executable, "-c", code, str(copy)], check=True, timeout=300,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert {p: (copy / p).read_bytes() for p in pages} == before
    assert write_class_report(copy, lab01).read_bytes() == before[Path("report.html")]


# -- in a real browser ----------------------------------------------------------------------------
@pytest.fixture(scope="session")  # before the module's grading: a missing browser skips at once
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium not installed: `apt-get install -y chromium` (Debian) to render the reports "
                    "in a headless browser; the HTML itself is checked by the other tests")
    return found


def _chromium_run(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_reports_render_in_headless_chromium(chromium, graded, tmp_path):
    exe = chromium
    res = results_of(graded)
    run = _chromium_run(exe, tmp_path / "profile", "--dump-dom", (graded / "report.html").as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = Dom(run.stdout)
    heads = [x for t, a, x in dom.texts if t in ("h1", "h2")]
    assert heads[0].endswith("class report")
    for h in ("Score distribution", "Pass rate per check", "What the class got wrong", "Submissions"):
        assert h in heads
    assert len(dom.by("tr", **{"class": "pass-rate"})) == len(res["solution"]["tests"])
    assert len(dom.by("tr", **{"class": "submission"})) == len(res)
    assert {a.get("id") for a in dom.by("svg")} >= {"histogram", "pass-rate-chart"}
    assert "<script" not in run.stdout.lower()

    run = _chromium_run(exe, tmp_path / "profile", "--dump-dom", (graded / "hostile" / "report.html").as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    low = run.stdout.lower()
    assert "<script" not in low and "<img src=\"x\"" not in low and "<img src=x" not in low
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in low

    # The inline SVG charts are drawn under the page's CSP: the histogram's blue is on screen, and on a
    # submission's page the exercise chart's green (full marks) and orange (softmax_t, partly).
    from PIL import Image

    def screenshot(page: Path) -> list[tuple[int, tuple[int, int, int]]]:
        shot = tmp_path / f"{page.parent.name}.png"
        run = _chromium_run(exe, tmp_path / "profile", "--hide-scrollbars", "--window-size=1200,1400",
                            f"--screenshot={shot}", page.as_uri())
        assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
        assert shot.stat().st_size > 20_000
        with Image.open(shot) as im:
            return im.convert("RGB").getcolors(maxcolors=1 << 20)

    def count(colors, rgb: tuple[int, int, int]) -> int:
        return sum(n for n, c in colors if all(abs(a - b) < 12 for a, b in zip(c, rgb)))

    assert count(screenshot(graded / "report.html"), (0x3F, 0x6F, 0xB5)) > 500, "the histogram did not render"
    page = screenshot(graded / "buggy_a" / "report.html")
    assert count(page, (0x2E, 0x7D, 0x32)) > 500, "the exercise chart did not render"
    assert count(page, (0xEF, 0x8F, 0x00)) > 100, "the partial bar did not render"


# -- progress -------------------------------------------------------------------------------------
def test_progress_plain_lines(graded, monkeypatch, tmp_path, course, lab01):
    res = results_of(graded)
    out = io.StringIO()
    with progress_reporter(3, out) as progress:
        assert not progress.terminal
        progress("buggy_a", res["buggy_a"], "graded")
        progress("corrupt", res["corrupt"], "graded")
        progress("zed", None, "grader error: Traceback (most recent call last):\n  boom [x]")
    lines = out.getvalue().splitlines()
    t = res["buggy_a"]["execution_time"]
    assert lines[0] == f"[1/3] buggy_a  {round(res['buggy_a']['score'], 2):g} / 100  ({t:.1f} s) graded"
    assert lines[1].startswith("[2/3] corrupt  0 / 100") and "could not be graded" in lines[1]
    assert lines[2] == "[3/3] zed  ERROR  grader error: Traceback (most recent call last):"
    assert lines[3] == "      boom [x]"
    assert format_line(3, 40, "alice", {"score": 87.5, "max_score": 100, "execution_time": 9.06}, "graded") \
        == "[3/40] alice  87.5 / 100  (9.1 s) graded"

    # a tty in CI gets plain lines too
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("CI", "true")
    assert not progress_reporter(1, Tty()).terminal
    monkeypatch.delenv("CI")
    assert progress_reporter(1, Tty()).terminal

    # it is grade_batch's callback (grading into a fresh folder: the module's results stay as they are)
    subs = graded.parent / "subs"
    log = io.StringIO()
    with progress_reporter(2, log) as progress:
        grade_batch(course, lab01, [subs / "corrupt.ipynb", subs / "skeleton.ipynb"], tmp_path / "out",
                    jobs=1, profile="quick", progress=progress)
    lines = sorted(log.getvalue().splitlines(), key=lambda x: x.split("] ", 1)[1])
    assert [x.split("]")[0] for x in lines] in (["[1/2", "[2/2"], ["[2/2", "[1/2"])
    assert lines[0].split("] ", 1)[1] == "corrupt  0 / 100  (0.0 s) graded (the file could not be graded: 0 points)"
    assert lines[1].split("] ", 1)[1].startswith("skeleton  0 / 100  (") and lines[1].endswith(" s) graded")


def test_progress_on_a_terminal_draws_a_bar_and_lines(graded, monkeypatch):
    from rich.console import Console

    monkeypatch.delenv("CI", raising=False)
    res = results_of(graded)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120, color_system="standard")
    with progress_reporter(2, console=console) as progress:
        assert progress.terminal
        progress("solution", res["solution"], "graded")
        progress("oops", None, "grader error: [Errno 2] no such file")
    text = buf.getvalue()
    assert "\x1b[" in text  # ANSI: colours and cursor movement of the live bar
    assert "━" in text and "2/2" in text  # the bar, then complete
    assert "[1/2] solution  100 / 100" in text
    assert "[2/2] oops  ERROR  grader error: [Errno 2] no such file" in text  # brackets are not markup
