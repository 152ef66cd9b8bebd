"""Mutant generation: every operator fires where it should, and nowhere it should not."""

from __future__ import annotations

import numpy as np

from labgrader.mutation import mutants


def sample(x: np.ndarray, T: float = 1.0) -> float:
    """Docstring with numbers 1 + 2 that must never be mutated."""
    if T <= 0:
        raise ValueError("T must be > 0")
    z = x / T
    z = z - z.max(axis=-1, keepdims=True)
    s = np.exp(z).sum(axis=-1)
    return float(-s[1:3].mean() ** 2) if T > 0.5 and True else 0.0


def _changed_lines(m) -> list[str]:
    return [l[1:].strip() for l in m.diff.splitlines() if l.startswith("+") and not l.startswith("+++")]


def test_each_operator_produces_the_expected_mutants():
    by_op: dict[str, list[list[str]]] = {}
    for m in mutants("sample", sample):
        by_op.setdefault(m.id.split(":")[0], []).append(_changed_lines(m))
    expect = {
        "arith": ["z = x * T", "z = z + z.max(axis=-1, keepdims=True)",
                  "return float(-(s[1:3].mean() * 2)) if T > 0.5 and True else 0.0"],
        "call": ["z = z - z.min(axis=-1, keepdims=True)", "s = np.expm1(z).sum(axis=-1)",
                 "s = np.exp(z).mean(axis=-1)"],
        "axis": ["z = z - z.max(axis=0, keepdims=True)", "z = z - z.max(keepdims=True)",
                 "z = z - z.max(axis=-1, keepdims=False)", "s = np.exp(z).sum(axis=0)"],
        "slice": ["return float(-s[1 + 1:3].mean() ** 2) if T > 0.5 and True else 0.0",
                  "return float(-s[1:3 - 1].mean() ** 2) if T > 0.5 and True else 0.0"],
        "drop": ["return float(s[1:3].mean() ** 2) if T > 0.5 and True else 0.0", "z = x", "z = z"],
        "compare": ["return float(-s[1:3].mean() ** 2) if T >= 0.5 and True else 0.0"],
        "bool": ["return float(-s[1:3].mean() ** 2) if T > 0.5 or True else 0.0"],
        "const": ["return float(-s[1:3].mean() ** 2) if T > 0.5 and False else 0.0",
                  "return float(-s[1:3].mean() ** 2) if T > 1.5 and True else 0.0"],
        "stmt": ["pass"],
    }
    for op, lines in expect.items():
        for line in lines:
            assert [line] in by_op[op], (op, line, by_op.get(op))


def test_docstring_and_validation_are_never_mutated():
    for m in mutants("sample", sample):
        removed = [l for l in m.diff.splitlines() if l.startswith("-") and not l.startswith("---")]
        assert all("Docstring" not in l and "raise ValueError" not in l and "if T <= 0" not in l for l in removed), m.id


def test_mutants_are_unique_compile_and_have_stable_ids():
    ms = mutants("sample", sample)
    assert len({m.source for m in ms}) == len(ms)
    assert len({m.id for m in ms}) == len(ms)
    for m in ms:
        compile(m.source, "<m>", "exec")
    assert [m.id for m in mutants("sample", sample)] == [m.id for m in ms]
