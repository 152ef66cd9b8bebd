"""The labs' experiment procedures as importable, tested functions (one module per lab).

A notebook's experiment cell is a few lines: it checks that the exercises the section needs are
done (``ready``), calls a procedure of ``labkit.experiments.labNN`` with the student's functions as
arguments (so it is the student's code that runs), prints the table and plots. Each procedure takes
a ``Config``; ``Config.quick()`` is a tiny size for the test suite (``COURSE_QUICK=1`` in the
notebook's environment selects it), the default is the size the answers were measured at.

Measured figures go into a ``Figures`` record, written as JSON at the end of the notebook, which
``labgrader.claims`` compares with the numbers quoted in the answer cells.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ExperimentConfig", "Figures", "implemented", "quick_mode", "ready"]

QUICK_ENV = "COURSE_QUICK"
FIGURES_ENV = "COURSE_FIGURES"


@dataclass(frozen=True)
class ExperimentConfig:
    """What every lab's ``Config`` has; a lab adds its sizes and a ``quick()`` classmethod."""
    seeds: tuple = (0, 1, 2)  # every setting is trained with each seed; differences between methods are paired
    batch_size: int = 64


def quick_mode() -> bool:
    """True when the notebook runs at the test suite's tiny size (``COURSE_QUICK=1``)."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def implemented(fn: Callable) -> bool:
    """False for an untouched skeleton: a function whose only name is ``NotImplementedError``."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return True  # a builtin or a callable object: assume it is the student's working code
    return not ("NotImplementedError" in code.co_names and set(code.co_names) <= {"NotImplementedError"})


def ready(exercises: dict[int, Callable]) -> bool:
    """Whether every exercise a section needs is implemented; prints one line per missing one.

    ``exercises`` maps the exercise's number in the notebook to the student's function::

        if ready({1: softmax_t, 8: label_loyalty}):
            ...
    """
    missing = [(n, fn) for n, fn in sorted(exercises.items()) if not implemented(fn)]
    for n, fn in missing:
        print(f"needs Exercise {n}, {getattr(fn, '__name__', fn)}: not implemented yet (this section is skipped)")
    return not missing


class Figures(dict):
    """Measured figures by name (``figures["teacher_test_accuracy"] = 0.975``), written as JSON.

    A name ending in ``_s`` or ``_ms`` (a time) is machine-dependent: claims about it are not checked.
    """

    def __setitem__(self, name: str, value) -> None:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"figure {name!r} must be a finite number, got {value}")
        super().__setitem__(name, value)

    def write(self, lab_id: str, folder: str | Path | None = None) -> Path:
        """``<folder>/<lab_id>.json`` (folder: ``$COURSE_FIGURES``, else the current directory)."""
        folder = Path(folder or os.environ.get(FIGURES_ENV) or ".")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{lab_id}.json"
        path.write_text(json.dumps({"lab": lab_id, "quick": quick_mode(), "figures": dict(sorted(self.items()))},
                                   indent=1) + "\n", encoding="utf-8")
        return path
