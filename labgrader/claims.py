"""Numbers quoted in a lab's prose, checked against the figures its experiments measured.

A lab source ``labsrc/<lab>.py`` may have a ``labsrc/<lab>.claims.toml`` beside it::

    [[claims]]
    cell = "md_results"                        # the cell's name in the source
    context = "$T = 8$, $\\alpha = 0.9$ | "     # optional: text right before the quote (not parsed)
    quote = "0.959 ± 0.001 | −0.012"           # the text as it stands in the cell; its numbers, in order, ...
    figures = ["acc_full_kd_T8_a0.9_mean", "acc_full_kd_T8_a0.9_std", "acc_full_kd_T8_a0.9_gain"]  # ... are these
    tolerance = 0.0005                          # optional: default half a unit of the quote's last digit

``context + quote`` must occur exactly once in the cell (an edited number no longer matches), and
each quoted number must be within the tolerance of the figure the notebook wrote (``Figures.write``):
by default the quote must be the figure rounded to the digits shown. Figures whose name ends in
``_s`` or ``_ms`` are timings, machine-dependent, and may not be claimed.

    python -m labgrader.claims labsrc/lab01_distillation.py FIGURES.json   # exit 1 on a mismatch
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import jupytext

NUMBER = re.compile(r"[−+-]?\d[\d,]*(?:\.\d+)?")
MACHINE_DEPENDENT = ("_s", "_ms")


def claims_path(source: Path) -> Path:
    source = Path(source)
    return source.with_name(source.stem + ".claims.toml")


def parse_numbers(quote: str) -> list[tuple[float, float]]:
    """Each number in ``quote`` with its default tolerance (half a unit of its last digit)."""
    out = []
    for m in NUMBER.finditer(quote):
        text = m.group().replace("−", "-").replace(",", "")
        decimals = len(text.split(".")[1]) if "." in text else 0
        out.append((float(text), 0.5 * 10.0 ** -decimals))
    return out


def cells_by_name(source: Path) -> dict[str, str]:
    nb = jupytext.read(source, fmt="py:percent")
    return {c.metadata.get("name") or c.metadata.get("answer") or c.metadata.get("exercise"): c.source for c in nb.cells}


def check(source: Path, figures: dict) -> list[str]:
    """Problems with the claims of ``source`` against ``figures`` (name -> value); [] when every claim holds."""
    path = claims_path(source)
    with open(path, "rb") as fh:
        claims = tomllib.load(fh).get("claims", [])
    cells = cells_by_name(source)
    problems = []
    for i, claim in enumerate(claims):
        where = f"{path.name} claims[{i}] ({claim.get('cell')}: {claim.get('quote')!r})"
        text = cells.get(claim.get("cell"))
        if text is None:
            problems.append(f"{where}: no cell named {claim.get('cell')!r} in {Path(source).name}")
            continue
        anchor = claim.get("context", "") + claim["quote"]
        if text.count(anchor) != 1:
            problems.append(f"{where}: the quote occurs {text.count(anchor)} times in the cell, not once "
                            "(was a number edited? fix the claim or the text)")
            continue
        numbers, names = parse_numbers(claim["quote"]), claim["figures"]
        if len(numbers) != len(names):
            problems.append(f"{where}: {len(numbers)} numbers quoted but {len(names)} figures named")
            continue
        for (value, default_tol), name in zip(numbers, names):
            if name.endswith(MACHINE_DEPENDENT):
                problems.append(f"{where}: {name} is a timing (machine-dependent) and cannot be claimed")
            elif name not in figures:
                problems.append(f"{where}: the run wrote no figure {name!r}")
            elif abs(figures[name] - value) > claim.get("tolerance", default_tol) + 1e-12:
                problems.append(f"{where}: quotes {value:g} for {name}, the run measured {figures[name]:.6g} "
                                f"(tolerance {claim.get('tolerance', default_tol):g})")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m labgrader.claims labsrc/<lab>.py FIGURES.json", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    if data.get("quick"):
        print(f"{argv[1]} was measured at the quick size: claims are about the full size", file=sys.stderr)
        return 2
    problems = check(Path(argv[0]), data["figures"])
    print("\n".join(problems) or f"{argv[0]}: every quoted number is what the run measured")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
