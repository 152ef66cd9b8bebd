"""HTML reports: one page per submission and one per class, each a single self-contained file.

``write_submission_report(results, path)`` turns one ``results.json`` dictionary into a page: the
score, a table and a bar chart per exercise, every check with its property in words, and for each
failing check the shrunk counterexample and what was expected and what came back, plus the sandbox
mode, the cells that raised and an excerpt of the notebook's output.

``write_class_report(out_dir, lab)`` reads every ``out_dir/*/results.json`` of the lab and writes
``out_dir/report.html``: how many submissions, mean and median score, a score histogram, the pass
rate of every check (worst first) and "what the class got wrong": failures grouped by
(check, counterexample) with how many submissions share each, one example output per group, and a
link to every submission's page. ``write_reports(out_dir, lab)`` writes all of them.

The pages are safe to open: everything that comes from a submission (its output, its exception
messages, its file name) is HTML-escaped, and each page carries a Content-Security-Policy that
allows no scripts and no external loads at all (the pages need neither: charts are inline SVG,
collapsible sections are ``<details>``). They are deterministic: the same results give the same
bytes (no timestamps, no grading times, no random ids, coordinates rounded to fixed decimals), so
regrading a submission rewrites an identical page.
"""

from __future__ import annotations

import bisect
import html
import itertools
import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .results import STATUS_WORDS, CheckResult, SubmissionResult

REPORT_NAME = "report.html"
RESULT_WORDS = STATUS_WORDS  # one vocabulary for results.json and the reports
FATAL_REASON = "could not be graded"
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2em auto;
max-width:68em;padding:0 1em;color:#1d2327;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #dcdcde;padding-bottom:.2em}
h3{margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.95em}
th,td{border:1px solid #dcdcde;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f7f7}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{background:#f6f7f7;border:1px solid #dcdcde;padding:.6em;overflow-x:auto;white-space:pre-wrap;
word-break:break-word;margin:.3em 0}
.score{font-size:2em;font-weight:600}.muted{color:#646970}
.passed{color:#00732e}.failed,.fatal{color:#b32d2e}.partial{color:#996800}
.badge{white-space:nowrap;display:inline-block;padding:0 .5em;border-radius:.7em;font-size:.85em;font-weight:600}
.badge.passed{background:#e6f4ea}.badge.failed{background:#fbeaea}
.box{border:1px solid #dcdcde;border-left:4px solid #b32d2e;padding:.4em .9em;margin:.8em 0}
.box.ok{border-left-color:#00732e}.fatal{border-left-color:#b32d2e;font-weight:600}
details>summary{cursor:pointer;font-weight:600}
svg.chart{display:block;height:auto;margin:.6em 0}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.meta dt{font-weight:600}
dl.meta dd{margin:0;word-break:break-all}
"""


# -- reading results ------------------------------------------------------------------------------
def esc(value) -> str:
    """HTML-escape anything (quotes too: safe in text and in attribute values)."""
    return html.escape(str(value), quote=True)


def num(x) -> str:
    """A score for people: at most two decimals, no trailing zeros (92.3333 -> 92.33, 10.0 -> 10)."""
    try:
        return f"{round(float(x), 2):g}"
    except (TypeError, ValueError):
        return str(x)


def percent(score, max_score) -> float:
    try:
        return 100.0 * float(score) / float(max_score) if float(max_score) else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Feedback:
    """A check's feedback, from the fields results.json keeps for it (labgrader.results.CheckResult)."""

    property: str  # the property in words ("" for a file that could not be graded)
    counterexample: str  # the shrunk input, one "name = value" per line
    detail: str  # the rest: expected / got, the exception, or why the check did not run


def feedback(test: dict, results: dict | None = None, *, visibility=None, after_due: bool = True) -> Feedback:
    """The test's feedback as data; an ungradable file's reason stands in for every check's.

    With a ``visibility`` policy (labgrader.config.Visibility), what a student may not see yet
    (``after_due``: whether the due date has passed) is left out, as on Gradescope.
    """
    x = test.get("extra_data") or {}
    fatal = ((results or {}).get("extra_data") or {}).get("fatal")
    if fatal:
        return Feedback("", "", str(fatal))
    check = CheckResult.from_data(x.get("exercise", ""), x.get("check", ""), x.get("result", ""),
                                  x.get("public", False), x)
    if test.get("status") == "passed":
        return Feedback(check.property, "", "")
    if visibility is not None:
        level = visibility.of_counterexample(check.public)
        if check.has_details and not visibility.shows(level, after_due=after_due):
            check = check.redacted(level)
    detail = "\n".join(part for part in (check.message, check.detail) if part)
    return Feedback(check.property, check.counterexample_text(), detail)


@dataclass
class Submission:
    name: str  # the folder name under out_dir (what links point to)
    results: dict


def read_results(out_dir: Path, lab_id: str | None = None, names: list[str] | None = None
                 ) -> tuple[list[Submission], list[str]]:
    """Every out_dir/*/results.json (of the lab, if given; of these submissions, if ``names`` is given),
    sorted by folder name; and the unreadable ones."""
    subs: list[Submission] = []
    unreadable: list[str] = []
    files = (sorted(Path(out_dir) / n / "results.json" for n in names) if names is not None
             else sorted(Path(out_dir).glob("*/results.json")))
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            extra = data["extra_data"]
            if not (isinstance(extra, dict) and isinstance(data["tests"], list)):
                raise TypeError("not a results.json")
            float(data["score"]), float(data["max_score"])
        except (OSError, ValueError, KeyError, TypeError):
            unreadable.append(f.parent.name)
            continue
        if lab_id is not None and extra.get("lab") != lab_id:
            continue
        subs.append(Submission(f.parent.name, data))
    return subs, unreadable


def _lab_id(lab) -> str | None:
    return lab if isinstance(lab, str) or lab is None else lab.id


def _check_order(lab, subs: list[Submission]) -> list[str]:
    """Test names in the lab's order (exercises, then checks), then any others seen in the results."""
    names: list[str] = []
    for ex in () if isinstance(lab, str) else getattr(lab, "exercises", ()):
        names.extend(f"{ex.id}: {c.replace('_', ' ')}" for c in ex.checks)
    seen = set(names)
    extra = sorted({t["name"] for s in subs for t in s.results["tests"]} - seen)
    if not names:  # no Lab object: the order of the first submission's tests
        for s in subs:
            for t in s.results["tests"]:
                if t["name"] not in seen:
                    seen.add(t["name"])
                    names.append(t["name"])
        extra = sorted({t["name"] for s in subs for t in s.results["tests"]} - seen)
    return names + extra


def exercise_order(results: dict) -> list[str]:
    """Exercise ids in the lab's order: as the tests list them (the exercises dict may be key-sorted)."""
    ids: list[str] = []
    for t in results.get("tests", []):
        ex = (t.get("extra_data") or {}).get("exercise") or t.get("name", "").split(":", 1)[0]
        if ex not in ids:
            ids.append(ex)
    ids.extend(k for k in (results.get("extra_data", {}).get("exercises") or {}) if k not in ids)
    return ids


def is_fatal(results: dict) -> bool:
    return bool(results.get("extra_data", {}).get("fatal"))


def lab_title(results: dict) -> str:
    extra = results.get("extra_data", {})
    return str(extra.get("lab_title") or extra.get("lab", ""))


# -- charts ---------------------------------------------------------------------------------------
# Inline SVG written by hand: a chart is a few dozen rectangles and labels, so a string template is
# all it takes (a plotting library cost seconds of every `course grade` to import and draw). Sizes
# are in CSS pixels of the viewBox; the <svg> is 100% wide up to that size and scales down with the
# page. Text inherits the page's font; every string that comes from course.toml or a results.json
# is escaped, and everything is rounded to 2 decimals so the same results give the same bytes.
SVG_NS = "http://www.w3.org/2000/svg"
INK, GRID, MAX_BAR, HIST_BAR = "#1d2327", "#dcdcde", "#e0e0e0", "#3f6fb5"
LABEL_CHARS = 60  # longer tick labels are cut (with "…"); the whole name is in the bar's tooltip


def _color(frac: float) -> str:
    """Green for full marks, red for none, orange in between."""
    return "#2e7d32" if frac >= 1 - 1e-9 else ("#c62828" if frac <= 1e-9 else "#ef8f00")


def _f(x: float) -> str:
    """A coordinate: at most 2 decimals, no trailing zeros (deterministic, short)."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _text_width(text: str, font_size: float) -> float:
    """Room for a label: sans-serif fonts average about 0.6 em per character."""
    return len(text) * font_size * 0.6


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def _svg(chart_id: str, width: float, height: float, summary: str, body: list[str]) -> str:
    """The <svg> element: role="img" with the summary as its accessible name (aria-label) and <title>."""
    s = esc(summary)
    return (f'<svg xmlns="{SVG_NS}" id="{esc(chart_id)}" class="chart" role="img" aria-label="{s}" '
            f'viewBox="0 0 {_f(width)} {_f(height)}" width="100%" style="max-width:{_f(width)}px" '
            f'font-size="12" fill="{INK}"><title>{s}</title>\n' + "\n".join(body) + "\n</svg>")


def _rect(x: float, y: float, w: float, h: float, fill: str, cls: str, tip: str = "", extra: str = "") -> str:
    tail = f"><title>{esc(tip)}</title></rect>" if tip else "/>"
    return (f'<rect class="{cls}" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" fill="{fill}"'
            f"{extra}{tail}")


def _x_axis(left: float, right: float, bottom: float, ticks: list[tuple[float, str]], label: str,
            grid_top: float | None = None) -> list[str]:
    """A horizontal axis at y=bottom: tick marks and labels at the x positions given, the axis label
    centred below, and light vertical grid lines up to ``grid_top`` if given."""
    out = []
    if grid_top is not None:
        out.extend(f'<line x1="{_f(x)}" y1="{_f(grid_top)}" x2="{_f(x)}" y2="{_f(bottom)}" stroke="{GRID}"/>'
                   for x, _ in ticks)
    out.append(f'<line x1="{_f(left)}" y1="{_f(bottom)}" x2="{_f(right)}" y2="{_f(bottom)}" stroke="{INK}"/>')
    for x, text in ticks:
        out.append(f'<line x1="{_f(x)}" y1="{_f(bottom)}" x2="{_f(x)}" y2="{_f(bottom + 4)}" stroke="{INK}"/>'
                   f'<text x="{_f(x)}" y="{_f(bottom + 17)}" text-anchor="middle">{esc(text)}</text>')
    out.append(f'<text x="{_f((left + right) / 2)}" y="{_f(bottom + 34)}" text-anchor="middle">{esc(label)}</text>')
    return out


def _hbars(rows: list[tuple[str, float, float, str]], *, width: float, row: float, font_size: float,
           maximum: float, ticks: list[tuple[float, str]], label: str, backdrop: bool) -> tuple[float, list[str]]:
    """Horizontal bars, one row per (label, value, max, tooltip), first at the top; values on a 0 to
    ``maximum`` scale, ``ticks`` as (value, text). With ``backdrop`` each row's max is drawn first as
    a grey bar. Returns the height and the elements."""
    left = 8 + max((_text_width(_short(n), font_size) for n, *_ in rows), default=0) + 6
    right, top, bottom = width - 16, 8.0, 8 + row * max(1, len(rows))
    scale = (right - left) / (maximum or 1)
    bar = 0.7 * row
    out = _x_axis(left, right, bottom, [(left + v * scale, t) for v, t in ticks], label, grid_top=top)
    for i, (name, value, mx, tip) in enumerate(rows):
        y = top + i * row
        if backdrop:
            out.append(_rect(left, y + (row - bar) / 2, mx * scale, bar, MAX_BAR, "max"))
        frac = value / mx if mx else 0.0
        out.append(_rect(left, y + (row - bar) / 2, max(0.0, min(value, mx)) * scale, bar, _color(frac), "bar", tip))
        out.append(f'<text x="{_f(left - 6)}" y="{_f(y + row / 2)}" dy=".35em" text-anchor="end" '
                   f'font-size="{_f(font_size)}">{esc(_short(name))}</text>')
    out.append(f'<line x1="{_f(left)}" y1="{_f(top)}" x2="{_f(left)}" y2="{_f(bottom)}" stroke="{INK}"/>')
    return bottom + 42, out


def exercise_chart(exercises: dict, *, title: str = "score per exercise") -> str:
    """Horizontal bars, one per exercise in the order given: a grey bar for its maximum and over it
    the score in green (full marks), orange (partial) or red (none). An inline <svg id="exercise-chart">."""
    items = [(str(k), float(e.get("score", 0) or 0), float(e.get("max_score", 0) or 0)) for k, e in exercises.items()]
    top = max((m for _, _, m in items), default=0.0) or 1.0
    rows = [(k, s, m, f"{k}: {num(s)} of {num(m)} points") for k, s, m in items]
    height, body = _hbars(rows, width=640, row=24, font_size=12, maximum=top,
                          ticks=[(0, num(0)), (top / 2, num(top / 2)), (top, num(top))], label="points",
                          backdrop=True)
    summary = f"{title}: " + ", ".join(f"{num(s)} of {num(m)} points on {k}" for k, s, m in items)
    return _svg("exercise-chart", 640, height, summary, body)


def histogram_counts(percents: list[float], bins: int = 10) -> list[int]:
    """How many percents fall in each of ``bins`` equal bins over [0, 100]: [a, b) except the last,
    which is closed; values outside [0, 100] (and NaN) are not counted (numpy.histogram's convention)."""
    edges = [100 * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for p in percents:
        if 0 <= p <= 100:
            counts[min(bisect.bisect_right(edges, p) - 1, bins - 1)] += 1
    return counts


def _integer_ticks(top: int) -> list[int]:
    """0 up to at least ``top`` (and at least 1) in steps of 1, 2, 5, 10, 20, 50... of at most 6 steps."""
    top = max(int(top), 1)
    step = next(m * 10**e for e in itertools.count() for m in (1, 2, 5) if top <= 6 * m * 10**e)
    return list(range(0, -(-top // step) * step + 1, step))


def histogram_chart(percents: list[float]) -> str:
    """Submissions per tenth of the maximum score: ten vertical bars over 0-100 %."""
    counts = histogram_counts(percents)
    yticks = _integer_ticks(max(counts))
    width, height = 640.0, 280.0
    left, right, top, bottom = 56.0, width - 16, 10.0, height - 50
    sx, sy = (right - left) / 100, (bottom - top) / yticks[-1]
    out = _x_axis(left, right, bottom, [(left + v * sx, str(v)) for v in range(0, 101, 10)],
                  "score (% of the maximum)")
    for v in yticks:
        y = bottom - v * sy
        out.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(right)}" y2="{_f(y)}" stroke="{GRID}"/>'
                   f'<line x1="{_f(left - 4)}" y1="{_f(y)}" x2="{_f(left)}" y2="{_f(y)}" stroke="{INK}"/>'
                   f'<text x="{_f(left - 7)}" y="{_f(y)}" dy=".35em" text-anchor="end">{v}</text>')
    for i, n in enumerate(counts):
        tip = f"{10 * i}–{10 * (i + 1)} %: {n} submission{'s' if n != 1 else ''}"
        out.append(_rect(left + 10 * i * sx, bottom - n * sy, 10 * sx, n * sy, HIST_BAR, "bin", tip,
                         f' stroke="white" data-count="{n}"'))
    out.append(f'<line x1="{_f(left)}" y1="{_f(top)}" x2="{_f(left)}" y2="{_f(bottom)}" stroke="{INK}"/>')
    out.append(f'<text transform="translate(14 {_f((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">'
               "submissions</text>")
    shown = [f"{n} scored {10 * i}–{10 * (i + 1)} %" for i, n in enumerate(counts) if n]
    summary = f"histogram of the scores of {len(percents)} submission{'s' if len(percents) != 1 else ''}" + (
        ": " + ", ".join(shown) if shown else "")
    return _svg("histogram", width, height, summary, out)


def pass_rate_chart(rows: list[tuple[str, float]]) -> str:
    """Horizontal bars, one per check, in the order given (worst first at the top): the fraction of
    submissions that pass it, coloured like the exercise chart."""
    bars = [(str(n), 100 * r, 100.0, f"{n}: {100 * r:.0f}% pass") for n, r in rows]
    height, body = _hbars(bars, width=720, row=17, font_size=10, maximum=100,
                          ticks=[(v, str(v)) for v in range(0, 101, 20)], label="submissions passing (%)",
                          backdrop=False)
    summary = "pass rate per check, worst first: " + "; ".join(f"{n} {100 * r:.0f}%" for n, r in rows)
    return _svg("pass-rate-chart", 720, height, summary, body)


# -- page pieces ----------------------------------------------------------------------------------
def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _pre(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<pre{c}>{esc(text)}</pre>"


def _write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _badge(passed: bool, word: str) -> str:
    cls = "passed" if passed else "failed"
    return f'<span class="badge {cls}">{esc(word)}</span>'


def _failure_block(test: dict, parsed: Feedback) -> str:
    result = RESULT_WORDS.get(test.get("extra_data", {}).get("result", ""), test.get("status", ""))
    parts = [f'<details open class="box" data-check="{esc(test["name"])}">',
             f"<summary>{esc(test['name'])} — {esc(result)} "
             f"<span class=\"muted\">({num(test.get('score', 0))} / {num(test.get('max_score', 0))})</span></summary>"]
    if parsed.property:
        parts.append(f"<p><strong>Property:</strong> {esc(parsed.property)}</p>")
    if parsed.counterexample:
        parts.append("<p>Counterexample (the smallest input hypothesis found):</p>")
        parts.append(_pre(parsed.counterexample, "counterexample"))
    if parsed.detail:
        parts.append(_pre(parsed.detail, "detail"))
    parts.append("</details>")
    return "\n".join(parts)


def submission_html(results: dict, *, class_report: str | None = None, visibility=None, after_due: bool = True) -> str:
    """One submission's page; with a ``visibility`` policy it shows what the student may see now."""
    extra = results.get("extra_data", {}) or {}
    name = str(extra.get("submission", "submission"))
    title = lab_title(results)
    score, max_score = results.get("score", 0), results.get("max_score", 0)
    pct = percent(score, max_score)
    cls = "passed" if pct >= 100 - 1e-9 else ("failed" if pct <= 1e-9 else "partial")
    out: list[str] = []
    if class_report:
        out.append(f'<p class="muted"><a href="{esc(class_report)}">&larr; class report</a></p>')
    out.append(f"<h1>{esc(name)}</h1>")
    out.append(f'<p class="muted">{esc(extra.get("lab", ""))} — {esc(title)}</p>')
    out.append(f'<p><span class="score {cls}" id="score">{num(score)} / {num(max_score)}</span> '
               f'<span class="muted">({pct:.1f}%)</span></p>')
    if extra.get("fatal"):
        out.append(f'<div class="box fatal" id="fatal">{esc(extra["fatal"])}</div>')
    for note in extra.get("notes") or ():
        out.append(f'<div class="box note">{esc(note)}</div>')
    if "multiplier" in extra:  # the late policy was applied (labgrader.late)
        r = SubmissionResult.from_gradescope(results)
        out.append(f'<div class="box" id="late">{esc(r.late.line(r.score, r.max_score))} '
                   f'(submitted {esc(extra.get("submitted_at", ""))}, due {esc(extra.get("due", ""))}; '
                   f'score before the late policy: {esc(extra.get("score_before_late_policy", ""))})</div>')

    # exercises
    raw = extra.get("exercises", {}) or {}
    exercises = {k: raw[k] for k in exercise_order(results) if k in raw}
    by_ex: dict[str, list[dict]] = {}
    for t in results.get("tests", []):
        ex_id = t.get("extra_data", {}).get("exercise") or t["name"].split(":", 1)[0]
        by_ex.setdefault(ex_id, []).append(t)
    out.append("<h2>Exercises</h2>")
    if exercises:
        out.append('<table id="exercises"><thead><tr><th>exercise</th><th class="num">score</th>'
                   '<th class="num">max</th><th>summary</th></tr></thead><tbody>')
        for ex_id, e in exercises.items():
            frac = float(e.get("score", 0)) / float(e.get("max_score", 0) or 1)
            c = "passed" if frac >= 1 - 1e-9 else ("failed" if frac <= 1e-9 else "partial")
            out.append(f'<tr><td><a href="#ex-{esc(quote(ex_id))}">{esc(ex_id)}</a></td>'
                       f'<td class="num {c}">{num(e.get("score", 0))}</td>'
                       f'<td class="num">{num(e.get("max_score", 0))}</td>'
                       f'<td>{esc(e.get("summary", ""))}</td></tr>')
        out.append("</tbody></table>")
        lab = extra.get("lab") or "score per exercise"
        out.append(exercise_chart(exercises, title=str(lab)))

    # checks, exercise by exercise
    out.append("<h2>Checks</h2>")
    order = list(exercises) + [k for k in by_ex if k not in exercises]
    for ex_id in order:
        tests = by_ex.get(ex_id, [])
        e = exercises.get(ex_id, {})
        out.append(f'<h3 id="ex-{esc(quote(ex_id))}">{esc(ex_id)} '
                   f'<span class="muted">{num(e.get("score", 0))} / {num(e.get("max_score", 0))}</span></h3>')
        if not tests:
            continue
        out.append('<table class="checks"><thead><tr><th>#</th><th>check</th><th>property</th><th>result</th>'
                   '<th class="num">points</th></tr></thead><tbody>')
        parsed = [feedback(t, results, visibility=visibility, after_due=after_due) for t in tests
                  if "details_of" not in (t.get("extra_data") or {})]
        tests = [t for t in tests if "details_of" not in (t.get("extra_data") or {})]
        for t, p in zip(tests, parsed):
            passed = t.get("status") == "passed"
            word = RESULT_WORDS.get(t.get("extra_data", {}).get("result", ""), t.get("status", ""))
            check = t["name"].split(": ", 1)[-1]
            out.append(f'<tr><td>{esc(t.get("number", ""))}</td><td>{esc(check)}</td><td>{esc(p.property)}</td>'
                       f'<td>{_badge(passed, word)}</td>'
                       f'<td class="num">{num(t.get("score", 0))} / {num(t.get("max_score", 0))}</td></tr>')
        out.append("</tbody></table>")
        failing = [(t, p) for t, p in zip(tests, parsed) if t.get("status") != "passed"]
        # Failures that share one reason and show no counterexample (not implemented, not defined,
        # unreadable file...) are said once, not once per check.
        shared = {p.detail for _, p in failing if not p.counterexample}
        if len(failing) > 1 and len(shared) == 1 and all(not p.counterexample for _, p in failing):
            out.append(f'<div class="box" data-exercise="{esc(ex_id)}"><p>All {len(failing)} failing checks '
                       f'failed for the same reason:</p>{_pre(shared.pop(), "detail")}</div>')
        else:
            out.extend(_failure_block(t, p) for t, p in failing)

    answers = extra.get("answers") or {}
    if answers:  # the written answers, as submitted: graded by hand (labgrader/answers.py)
        out.append('<h2>Written answers</h2><p>Graded by hand by a TA; not part of the score above.</p>'
                   '<dl class="meta" id="answers">' + "".join(
                       f"<dt>{esc(q)}</dt><dd>{_pre(text) if text else '<em>no answer</em>'}</dd>"
                       for q, text in answers.items()) + "</dl>")

    # how it was graded
    out.append("<h2>How this was graded</h2>")
    sandbox = extra.get("sandbox") or ("not run (the file could not be graded)" if extra.get("fatal") else "none")
    meta = [("sandbox", sandbox), ("examples per property", extra.get("examples_per_property", "")),
            ("seed", extra.get("seed", "")), ("profile", extra.get("profile", "")),
            ("sha256", extra.get("sha256", "")), ("grader fingerprint", extra.get("fingerprint", ""))]
    if extra.get("restarts"):
        meta.append(("sandbox restarts", extra["restarts"]))
    if extra.get("skipped_experiment_cells"):
        meta.append(("experiment cells not run", extra["skipped_experiment_cells"]))
    out.append('<dl class="meta" id="meta">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta)
               + "</dl>")
    cells = extra.get("cells") or []
    if cells:
        out.append("<h3>Cells that raised an error</h3>")
        out.append('<table id="cell-errors"><thead><tr><th>cell</th><th>error</th></tr></thead><tbody>')
        for c in cells:
            where = "setup cell" if c.get("cell") == 0 else f"cell {c.get('cell')}"
            out.append(f"<tr><td>{esc(where)}</td><td>{_pre(c.get('error', ''))}</td></tr>")
        out.append("</tbody></table>")
    if extra.get("stdout_excerpt"):
        out.append("<h3>Output of the notebook while grading (excerpt)</h3>")
        out.append(_pre(extra["stdout_excerpt"], "stdout"))
    return _page(f"{name} — {title}", "\n".join(out))


def write_submission_report(results: dict, path: Path, *, class_report: str | None = None, visibility=None,
                            after_due: bool = True) -> Path:
    """Write one submission's page; ``class_report`` is an optional link back (e.g. "../report.html");
    ``visibility`` and ``after_due`` as in :func:`submission_html`."""
    path = Path(path)
    _write_atomic(path, submission_html(results, class_report=class_report, visibility=visibility,
                                        after_due=after_due))
    return path


# -- the class ------------------------------------------------------------------------------------
@dataclass
class FailureGroup:
    """Submissions that failed one check the same way."""

    check: str  # the test name, "exercise: check words"
    counterexample: str  # "" for failures without one
    reason: str  # for failures without a counterexample: "not implemented", "not defined", ...
    submissions: list[str] = field(default_factory=list)
    example: Feedback | None = None  # the feedback of the first submission (by name)

    @property
    def count(self) -> int:
        return len(self.submissions)


def failure_groups(subs: list[Submission], order: list[str] | None = None) -> list[FailureGroup]:
    """Failures of the graded submissions (unreadable files left out) grouped by (check,
    counterexample), or by (check, reason) when no counterexample was shown; most common first."""
    rank = {n: i for i, n in enumerate(order or [])}
    groups: dict[tuple[str, str, str], FailureGroup] = {}
    for s in sorted(subs, key=lambda s: s.name):
        if is_fatal(s.results):
            continue
        for t in s.results["tests"]:
            if t.get("status") == "passed":
                continue
            p = feedback(t, s.results)
            reason = "" if p.counterexample else RESULT_WORDS.get(t.get("extra_data", {}).get("result", ""), "failed")
            key = (t["name"], p.counterexample, reason)
            g = groups.get(key)
            if g is None:
                g = groups[key] = FailureGroup(t["name"], p.counterexample, reason, [], p)
            g.submissions.append(s.name)
    return sorted(groups.values(), key=lambda g: (-g.count, rank.get(g.check, len(rank)), g.check,
                                                  g.counterexample, g.reason))


@dataclass
class ClassStats:
    lab_id: str
    title: str
    lab: object  # the config.Lab (or just the id)
    submissions: list[Submission]
    unreadable_results: list[str]
    fatal: list[str]
    percents: list[float]
    mean: float
    median: float
    pass_rates: list[tuple[str, int, int]]  # (check, passed, graded), worst first
    groups: list[FailureGroup]


def class_stats(out_dir: Path, lab, names: list[str] | None = None) -> ClassStats:
    lab_id = _lab_id(lab)
    subs, unreadable = read_results(out_dir, lab_id, names)
    order = _check_order(lab, subs)
    graded = [s for s in subs if not is_fatal(s.results)]
    rows = []
    for name in order:
        passed = sum(1 for s in graded for t in s.results["tests"] if t["name"] == name and t.get("status") == "passed")
        rows.append((name, passed, len(graded)))
    pos = {n: i for i, n in enumerate(order)}
    rows.sort(key=lambda r: (r[1] / r[2] if r[2] else 0.0, pos[r[0]]))
    percents = [percent(s.results["score"], s.results["max_score"]) for s in subs]
    title = (None if isinstance(lab, str) else getattr(lab, "title", None)) or (
        lab_title(subs[0].results) if subs else str(lab_id))
    return ClassStats(
        lab_id=str(lab_id), title=title, lab=lab, submissions=subs, unreadable_results=unreadable,
        fatal=[s.name for s in subs if is_fatal(s.results)], percents=percents,
        mean=statistics.fmean(percents) if percents else 0.0,
        median=statistics.median(percents) if percents else 0.0,
        pass_rates=rows, groups=failure_groups(subs, order),
    )


def _link(name: str) -> str:
    return f'<a href="{esc(quote(name))}/{REPORT_NAME}">{esc(name)}</a>'


def class_html(stats: ClassStats) -> str:
    subs = stats.submissions
    heading = stats.lab_id if stats.title in ("", stats.lab_id) else f"{stats.lab_id} — {stats.title}"
    out = [f"<h1>{esc(heading)}: class report</h1>"]
    max_scores = sorted({num(s.results["max_score"]) for s in subs})
    mean, median = (f"{stats.mean:.1f}%", f"{stats.median:.1f}%") if subs else ("—", "—")
    out.append('<table id="summary"><tbody>'
               f'<tr><th>submissions</th><td class="num" id="n-submissions">{len(subs)}</td></tr>'
               f'<tr><th>could not be graded</th><td class="num">{len(stats.fatal)}</td></tr>'
               f'<tr><th>mean score</th><td class="num" id="mean">{mean}</td></tr>'
               f'<tr><th>median score</th><td class="num" id="median">{median}</td></tr>'
               + (f'<tr><th>maximum</th><td class="num">{esc(", ".join(max_scores))} points</td></tr>'
                  if max_scores else "")
               + "</tbody></table>")
    if stats.fatal:
        out.append(f'<p class="muted">Submissions that could not be graded score 0 in the mean and median and are '
                   f'left out of the per-check statistics: {", ".join(_link(n) for n in stats.fatal)}.</p>')
    if stats.unreadable_results:
        out.append('<p class="failed">Unreadable results.json (regrade these): '
                   f'{esc(", ".join(stats.unreadable_results))}.</p>')
    if not subs:
        out.append("<p>No graded submissions yet.</p>")
        return _page(f"{stats.lab_id}: class report", "\n".join(out))

    out.append("<h2>Score distribution</h2>")
    out.append(histogram_chart(stats.percents))

    # per exercise means
    ex_ids: list[str] = [] if isinstance(stats.lab, str) else [ex.id for ex in getattr(stats.lab, "exercises", ())]
    for s in subs:
        ex_ids.extend(k for k in exercise_order(s.results) if k not in ex_ids)
    if ex_ids:
        out.append("<h2>Exercises</h2>")
        out.append('<table id="exercise-means"><thead><tr><th>exercise</th><th class="num">mean score</th>'
                   '<th class="num">max</th><th class="num">full marks</th></tr></thead><tbody>')
        for ex in ex_ids:
            es = [s.results["extra_data"]["exercises"].get(ex, {}) for s in subs]
            mx = max(float(e.get("max_score", 0) or 0) for e in es)
            mean = statistics.fmean(float(e.get("score", 0) or 0) for e in es)
            full = sum(1 for e in es if e and float(e.get("score", 0)) >= float(e.get("max_score", 0)) - 1e-9)
            out.append(f"<tr><td>{esc(ex)}</td><td class=\"num\">{num(mean)}</td><td class=\"num\">{num(mx)}</td>"
                       f"<td class=\"num\">{full} / {len(subs)}</td></tr>")
        out.append("</tbody></table>")

    graded = len(subs) - len(stats.fatal)
    out.append("<h2>Pass rate per check</h2>")
    out.append(f'<p class="muted">Over the {graded} submission(s) that could be graded, worst first.</p>')
    out.append('<table id="pass-rates"><thead><tr><th>check</th><th class="num">passed</th>'
               '<th class="num">pass rate</th></tr></thead><tbody>')
    for name, passed, n in stats.pass_rates:
        rate = passed / n if n else 0.0
        out.append(f'<tr class="pass-rate" data-check="{esc(name)}" data-passed="{passed}" data-graded="{n}">'
                   f'<td>{esc(name)}</td><td class="num">{passed} / {n}</td>'
                   f'<td class="num">{100 * rate:.0f}%</td></tr>')
    out.append("</tbody></table>")
    if graded:
        out.append(pass_rate_chart([(n, p / g if g else 0.0) for n, p, g in stats.pass_rates]))

    with_ce = [g for g in stats.groups if g.counterexample]
    without = [g for g in stats.groups if not g.counterexample]
    out.append('<h2 id="what-went-wrong">What the class got wrong</h2>')
    if not with_ce:
        out.append("<p>No check failed with a counterexample.</p>")
    else:
        out.append('<p class="muted">Failures grouped by check and counterexample: submissions in one group failed '
                   "the same property on the same shrunk input. Most common first; the output shown is the first "
                   "submission's.</p>")
    for i, g in enumerate(with_ce, start=1):
        out.append(f'<div class="box group" id="group-{i}" data-check="{esc(g.check)}" data-count="{g.count}">')
        out.append(f"<h3>{esc(g.check)} — <span class=\"count\">{g.count}</span> submission"
                   f"{'s' if g.count != 1 else ''}</h3>")
        p = g.example
        if p.property:
            out.append(f"<p><strong>Property:</strong> {esc(p.property)}</p>")
        out.append("<p>Counterexample:</p>")
        out.append(_pre(g.counterexample, "counterexample"))
        out.append(f"<p>What {esc(g.submissions[0])}'s function did:</p>")
        out.append(_pre(p.detail, "example"))
        out.append(f"<p class=\"muted\">{', '.join(_link(n) for n in g.submissions)}</p>")
        out.append("</div>")
    if without:
        out.append("<h3>Failures without a counterexample</h3>")
        out.append('<table id="other-failures"><thead><tr><th>check</th><th>reason</th><th class="num">submissions</th>'
                   "<th>who</th></tr></thead><tbody>")
        for g in without:
            out.append(f'<tr class="other-failure" data-check="{esc(g.check)}" data-count="{g.count}">'
                       f"<td>{esc(g.check)}</td><td>{esc(g.reason)}</td><td class=\"num\">{g.count}</td>"
                       f"<td>{', '.join(_link(n) for n in g.submissions)}</td></tr>")
        out.append("</tbody></table>")

    out.append("<h2>Submissions</h2>")
    out.append('<table id="submissions"><thead><tr><th>submission</th><th class="num">score</th>'
               '<th class="num">%</th><th class="num">checks failed</th><th>status</th></tr></thead><tbody>')
    for s, pct in zip(subs, stats.percents):
        r = s.results
        failed = sum(1 for t in r["tests"] if t.get("status") != "passed")
        status = FATAL_REASON if is_fatal(r) else "graded"
        out.append(f'<tr class="submission"><td>{_link(s.name)}</td>'
                   f'<td class="num">{num(r["score"])} / {num(r["max_score"])}</td><td class="num">{pct:.1f}</td>'
                   f'<td class="num">{failed} / {len(r["tests"])}</td><td>{esc(status)}</td></tr>')
    out.append("</tbody></table>")
    return _page(f"{stats.lab_id}: class report", "\n".join(out))


def write_class_report(out_dir: Path, lab, names: list[str] | None = None) -> Path:
    """out_dir/report.html from the results.json of ``lab`` (a config.Lab or a lab id) in out_dir: of the
    submissions ``names`` (those of one `course grade` run), or of every one found."""
    path = Path(out_dir) / REPORT_NAME
    _write_atomic(path, class_html(class_stats(out_dir, lab, names)))
    return path


def write_reports(out_dir: Path, lab, names: list[str] | None = None, *, visibility=None,
                  after_due: bool = True) -> Path:
    """Every submission's out_dir/<name>/report.html (for the student: with course.toml's ``visibility``
    policy, what they may see now) and the class's out_dir/report.html (for the staff: everything)."""
    out_dir = Path(out_dir)
    subs, _ = read_results(out_dir, _lab_id(lab), names)
    for s in subs:
        write_submission_report(s.results, out_dir / s.name / REPORT_NAME, class_report=f"../{REPORT_NAME}",
                                visibility=visibility, after_due=after_due)
    return write_class_report(out_dir, lab, names)
