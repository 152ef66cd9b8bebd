"""Progress of a batch grading run, on a terminal or in a log.

``progress_reporter(total)`` returns a context manager that is also the ``progress`` callback of
``grade.grade_batch`` (``progress(name, result_or_None, note)``, called as each submission finishes)::

    with progress_reporter(len(submissions)) as progress:
        grade_batch(course, lab, paths, out_dir, jobs=4, progress=progress)

On an interactive terminal (the stream is a tty and no ``CI`` variable is set) it shows a rich
progress bar (done/total, elapsed, time left) with one line per finished submission printed above
it. Anywhere else (a pipe, a log file, CI) it prints plain lines, one per submission, flushed at
once::

    [3/40] alice  87.5 / 100  (9.1 s) graded
    [4/40] bob  ERROR  grader error: ...
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

FALSE_WORDS = {"", "0", "false", "no", "off"}


def in_ci() -> bool:
    """True when a CI variable is set (GitHub Actions, GitLab, Travis... all set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in FALSE_WORDS


def _num(x) -> str:
    try:
        return f"{round(float(x), 2):g}"
    except (TypeError, ValueError):
        return str(x)


def format_line(done: int, total: int, name: str, result: dict | None, note: str) -> str:
    """One finished submission: ``[3/40] alice  87.5 / 100  (9.1 s) graded``."""
    counter = f"[{done}/{total}]" if total > 0 else f"[{done}]"
    if result is None:
        first, *rest = (note or "grader error").splitlines() or ["grader error"]
        text = f"{counter} {name}  ERROR  {first}"
        return "\n".join([text, *("    " + line for line in rest if line.strip())])
    try:
        seconds = f"  ({float(result.get('execution_time', 0.0)):.1f} s)"
    except (TypeError, ValueError):
        seconds = ""
    text = f"{counter} {name}  {_num(result.get('score'))} / {_num(result.get('max_score'))}{seconds} {note}"
    if (result.get("extra_data") or {}).get("fatal"):
        text += " (the file could not be graded: 0 points)"
    return text


def _style(result: dict | None) -> str:
    if result is None:
        return "bold red"
    try:
        frac = float(result["score"]) / float(result["max_score"]) if float(result["max_score"]) else 0.0
    except (KeyError, TypeError, ValueError):
        return ""
    return "green" if frac >= 1 - 1e-9 else ("red" if frac <= 1e-9 else "yellow")


class BatchProgress:
    """The ``progress`` callback of grade_batch, and a context manager around the run."""

    def __init__(self, total: int, stream: TextIO | None = None, *, console=None, terminal: bool | None = None):
        self.total = max(0, int(total))
        self.done = 0
        self.errors = 0
        self.stream = stream if stream is not None else (console.file if console is not None else sys.stdout)
        if terminal is None:
            if console is not None:  # the caller's console decides (it may be force_terminal=True)
                terminal = bool(console.is_terminal)
            else:
                isatty = getattr(self.stream, "isatty", None)
                terminal = bool(isatty and isatty()) and not in_ci()
        self.terminal = terminal
        self._progress = None
        self._task = None
        if terminal:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.console = console if console is not None else Console(file=self.stream)
            self._progress = Progress(
                SpinnerColumn(), TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                console=self.console, transient=True,
            )
            self._task = self._progress.add_task("grading", total=self.total or None)
        else:
            self.console = console

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
        return None

    def __call__(self, name: str, result: dict | None, note: str) -> None:
        self.done += 1
        if result is None:
            self.errors += 1
        line = format_line(self.done, self.total, name, result, note)
        if self._progress is not None:
            from rich.text import Text

            # Text, not markup: a note may contain [brackets] (an OSError, a traceback).
            self._progress.update(self._task, completed=self.done)
            self._progress.console.print(Text(line, style=_style(result)), soft_wrap=True)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()


def progress_reporter(total: int, stream: TextIO | None = None, *, console=None,
                      terminal: bool | None = None) -> BatchProgress:
    """A progress callback for ``total`` submissions writing to ``stream`` (default: sys.stdout).

    ``terminal`` forces the mode (None: a rich progress bar when the stream, or the given rich
    ``console``, is a terminal and ``CI`` is not set; plain lines otherwise).
    """
    return BatchProgress(total, stream, console=console, terminal=terminal)
