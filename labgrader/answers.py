"""Written answers: collected at grading, read by a TA, scored by hand, merged into the gradebook.

* ``course grade`` stores each submission's answers (the text of its answer cells, by cell name) in
  results.json's ``extra_data.answers`` and writes ``DIR/answers.csv``, the TA's sheet: one row per
  submission and question (``submission, question, max_points, score, comment, answer``), sorted by
  question so that a TA grades one question across the class (as Gradescope's manual questions do).
* The TA fills ``score`` (and ``comment``) in that CSV, or any CSV with the columns ``submission,
  question, score``, and runs ``course scores LAB DIR --csv FILE``: every row is checked (a known
  submission and question, 0 <= score <= the question's points; errors name the row and the fix),
  merged into ``DIR/manual_scores.csv`` (a later score for the same answer replaces the earlier one)
  and the gradebook is rewritten: a column per question, ``manual_score``, ``total`` (the autograded
  score + the manual one) and ``total_max``.

An answer cell left as the skeleton's ``YOUR ANSWER HERE`` is collected as empty: it scores 0 by
itself (nbgrader does the same) and the sheet says so.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

ANSWERS_SHEET = "answers.csv"
MANUAL_SCORES = "manual_scores.csv"
PLACEHOLDER = "YOUR ANSWER HERE"
UNANSWERED = "(no answer: the cell still says YOUR ANSWER HERE; 0 points)"
SHEET_FIELDS = ["submission", "question", "max_points", "score", "comment", "answer"]
MAX_ANSWER_CHARS = 20_000  # a pasted essay is cut, with a note


def collect_answers(lab, nb) -> dict[str, str]:
    """{question name: the submitted text} for the lab's questions ('' where unanswered or missing)."""
    points = lab.question_points()
    found = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid in points and cell.get("cell_type") == "markdown" and gid not in found:
            src = cell.get("source", "")
            text = "".join(src) if isinstance(src, list) else str(src)
            text = "" if text.strip() == PLACEHOLDER else text.strip()
            if len(text) > MAX_ANSWER_CHARS:
                text = text[:MAX_ANSWER_CHARS] + f"\n[cut at {MAX_ANSWER_CHARS} characters]"
            found[gid] = text
    return {name: found.get(name, "") for name in points}


def _results(out_dir: Path, lab) -> dict[str, dict]:
    out = {}
    for f in sorted(Path(out_dir).glob("*/results.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("extra_data", {}).get("lab") in (None, lab.id):
            out[f.parent.name] = data
    return out


def read_manual_scores(out_dir: Path) -> dict[tuple[str, str], tuple[float, str]]:
    """{(submission, question): (score, comment)} from DIR/manual_scores.csv (empty when there is none)."""
    path = Path(out_dir) / MANUAL_SCORES
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {(r["submission"], r["question"]): (float(r["score"]), r.get("comment", "")) for r in csv.DictReader(fh)}


def manual_columns(out_dir: Path, lab, name: str, score: float, scores=None) -> dict:
    """The gradebook's columns for one submission: a score per question (blank until a TA gave one),
    manual_score, total (autograded + manual) and total_max."""
    scores = read_manual_scores(out_dir) if scores is None else scores
    cols, manual = {}, 0.0
    for q in lab.question_points():
        s = scores.get((name, q))
        cols[q] = "" if s is None else s[0]
        manual += 0.0 if s is None else s[0]
    cols.update(manual_score=round(manual, 4), total=round(score + manual, 4),
                total_max=lab.max_score + lab.manual_max)
    return cols


def write_answers_sheet(out_dir: Path, lab, names: list[str] | None = None) -> Path:
    """DIR/answers.csv: every submission's answer to every question, grouped by question, with the
    scores a TA already gave."""
    results = _results(out_dir, lab)
    names = sorted(results) if names is None else [n for n in names if n in results]
    scores = read_manual_scores(out_dir)
    rows = []
    for q, pts in lab.question_points().items():
        for n in sorted(names):
            text = results[n].get("extra_data", {}).get("answers", {}).get(q, "")
            given = scores.get((n, q))
            rows.append({"submission": n, "question": q, "max_points": f"{pts:g}",
                         "score": "" if given is None else f"{given[0]:g}",
                         "comment": "" if given is None else given[1], "answer": text or UNANSWERED})
    path = Path(out_dir) / ANSWERS_SHEET
    write_csv(path, SHEET_FIELDS, rows)
    return path


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    """Write a CSV atomically (a temporary file, then os.replace): a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


class ScoreSheetError(ValueError):
    """A TA's CSV cannot be merged; the message names the row and the fix."""


def merge_scores(out_dir: Path, lab, ta_csv: str | Path) -> int:
    """Merge a TA's scores (CSV with submission, question, score[, comment]) into DIR/manual_scores.csv
    and rewrite the gradebook and the answers sheet; returns how many scores were merged."""
    from .results import write_gradebook

    out_dir = Path(out_dir)
    known = _results(out_dir, lab)
    points = lab.question_points()
    text = Path(ta_csv).read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"submission", "question", "score"} - set(reader.fieldnames or [])
    if missing:
        raise ScoreSheetError(f"{ta_csv}: no column {', '.join(sorted(missing))} (the header needs submission, "
                              f"question, score; {ANSWERS_SHEET} from course grade has them)")
    scores = read_manual_scores(out_dir)
    merged = 0
    for i, row in enumerate(reader, start=2):
        where = f"{ta_csv} line {i}"
        raw = (row.get("score") or "").strip()
        if not raw:
            continue  # not graded yet
        sub, q = (row.get("submission") or "").strip(), (row.get("question") or "").strip()
        if sub not in known:
            raise ScoreSheetError(f"{where}: no graded submission {sub!r} in {out_dir} "
                                  f"(graded: {', '.join(sorted(known)) or 'none'})")
        if q not in points:
            raise ScoreSheetError(f"{where}: {lab.id} has no question {q!r} (questions: {', '.join(points)})")
        try:
            value = float(raw)
        except ValueError:
            raise ScoreSheetError(f"{where}: score must be a number, got {raw!r}") from None
        if not 0 <= value <= points[q]:
            raise ScoreSheetError(f"{where}: score {value:g} for {q} is outside 0..{points[q]:g} "
                                  "(course.toml's points for it)")
        scores[(sub, q)] = (value, (row.get("comment") or "").strip())
        merged += 1
    write_csv(out_dir / MANUAL_SCORES, ["submission", "question", "score", "comment"],
               [{"submission": s, "question": q, "score": f"{v:g}", "comment": c}
                for (s, q), (v, c) in sorted(scores.items())])
    write_gradebook(out_dir, lab)
    write_answers_sheet(out_dir, lab)
    return merged
