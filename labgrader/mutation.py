"""Mutants of a reference function: small, plausible bugs, one change each (mutmut's operators).

Operators (each site yields one mutant per alternative):

* ``arith``     ``+ <-> -``, ``* <-> /``, ``** -> *``, ``/ -> //``
* ``compare``   ``< <-> <=``, ``> <-> >=``, ``== <-> !=``, ``< <-> >``
* ``const``     a number ``c`` becomes ``c + 1`` and ``c - 1`` (``True <-> False``)
* ``axis``      ``axis=a`` becomes ``axis=0`` / ``axis=-1`` / dropped; ``keepdims=True -> False``
* ``slice``     slice bounds ``a:b`` shifted by one
* ``drop``      a term dropped: ``a + b -> a`` and ``-> b``; ``a * b -> a`` and ``-> b``; ``-x -> x``
* ``stmt``      an assignment statement deleted
* ``call``      ``max <-> min``, ``sum <-> mean``, ``argmax <-> argmin``, ``log -> log2``, ``sqrt -> abs``
* ``bool``      ``and <-> or``, ``not x -> x``

Input validation is not mutated: an ``if`` whose body only raises is skipped, since the checks
grade the mathematics (a lab that grades its errors has a ``rejects_*`` check, and those
functions' validation could be opted back in). The docstring is never mutated.

Each mutant has a stable id (operator, line within the function, column, what changed) so that
equivalent mutants can be listed once, with a reason, in ``labgrader/checks/equivalent_mutants/<lab>.toml``.
"""

from __future__ import annotations

import ast
import copy
import difflib
import inspect
import textwrap
from dataclasses import dataclass

ARITH = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
         ast.Pow: [ast.Mult], ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv]}
COMPARE = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt], ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt],
           ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is],
           ast.In: [ast.NotIn], ast.NotIn: [ast.In]}
CALLS = {"max": "min", "min": "max", "sum": "mean", "mean": "sum", "argmax": "argmin", "argmin": "argmax",
         "log": "log2", "sqrt": "abs", "exp": "expm1"}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%",
          ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    exercise: str
    id: str  # "operator:detail:column:the original line's text"
    source: str  # the whole mutated function
    diff: str  # unified diff against the (unparsed) original


def _is_validation(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and all(isinstance(s, ast.Raise) for s in node.body) and not node.orelse


class _Sites(ast.NodeVisitor):
    """Collect (node path, operator, detail, apply) mutation sites in one function."""

    def __init__(self):
        self.sites: list[tuple] = []

    def generic_visit(self, node):
        if _is_validation(node):
            return
        super().generic_visit(node)

    def visit_FunctionDef(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            body = body[1:]  # never the docstring
        for stmt in body:
            self.visit(stmt)
        self._statement_deletions(body)

    def _statement_deletions(self, body):
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AugAssign)):
                self.sites.append((stmt, "stmt", "deleted", "delete"))

    def visit_If(self, node):
        if _is_validation(node):
            return
        self.generic_visit(node)
        self._statement_deletions(node.body)

    def visit_For(self, node):
        self.generic_visit(node)
        self._statement_deletions(node.body)

    def visit_With(self, node):
        self.generic_visit(node)
        self._statement_deletions(node.body)

    def visit_BinOp(self, node):
        for alt in ARITH.get(type(node.op), []):
            self.sites.append((node, "arith", f"{SYMBOL[type(node.op)]}->{SYMBOL[alt]}", ("op", alt)))
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            self.sites.append((node, "drop", "keep-left", ("keep", "left")))
            if isinstance(node.op, (ast.Add, ast.Mult)):
                self.sites.append((node, "drop", "keep-right", ("keep", "right")))
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
            self.sites.append((node, "drop", "unary-minus", ("unwrap",)))
        if isinstance(node.op, ast.Not):
            self.sites.append((node, "bool", "not-removed", ("unwrap",)))
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        alt = ast.Or if isinstance(node.op, ast.And) else ast.And
        self.sites.append((node, "bool", f"{SYMBOL[type(node.op)]}->{SYMBOL[alt]}", ("op", alt)))
        self.generic_visit(node)

    def visit_Compare(self, node):
        for i, op in enumerate(node.ops):
            for alt in COMPARE.get(type(op), []):
                self.sites.append((node, "compare", f"{SYMBOL[type(op)]}->{SYMBOL[alt]}", ("cmp", i, alt)))
        self.generic_visit(node)

    def visit_Constant(self, node):
        v = node.value
        if isinstance(v, bool):
            self.sites.append((node, "const", f"{v}->{not v}", ("const", not v)))
        elif isinstance(v, (int, float)):
            for new in (v + 1, v - 1):
                self.sites.append((node, "const", f"{v!r}->{new!r}", ("const", new)))

    def visit_keyword(self, node):
        if node.arg == "axis":
            current = ast.unparse(node.value)
            for alt in ("0", "-1", "None"):
                if alt != current:
                    self.sites.append((node, "axis", f"axis={current}->axis={alt}", ("kwvalue", alt)))
        elif node.arg == "keepdims" and isinstance(node.value, ast.Constant) and node.value.value is True:
            self.sites.append((node, "axis", "keepdims=True->False", ("kwvalue", "False")))
            return
        self.generic_visit(node)

    def visit_Slice(self, node):
        for part in ("lower", "upper"):
            bound = getattr(node, part)
            if bound is not None:
                for delta in (1, -1):
                    self.sites.append((node, "slice", f"{part}{delta:+d}", ("slice", part, delta)))
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in CALLS:
            self.sites.append((node, "call", f"{name}->{CALLS[name]}", ("call", CALLS[name])))
        self.generic_visit(node)


def _apply(func: ast.FunctionDef, target_path: list[int], kind, parent_map) -> ast.FunctionDef:
    """Copy ``func`` and apply one change at the node reached by ``target_path`` (walk order)."""
    new = copy.deepcopy(func)
    nodes = list(ast.walk(new))
    node = nodes[target_path[0]]
    action = kind[0] if isinstance(kind, tuple) else kind
    if action == "op":
        node.op = kind[1]()
    elif action == "cmp":
        node.ops[kind[1]] = kind[2]()
    elif action == "const":
        node.value = kind[1]
    elif action == "kwvalue":
        if kind[1] == "None" and node.arg == "axis":
            _replace(new, node, None)
        else:
            node.value = ast.parse(kind[1], mode="eval").body
    elif action == "slice":
        bound = getattr(node, kind[1])
        setattr(node, kind[1], ast.BinOp(bound, ast.Add() if kind[2] > 0 else ast.Sub(), ast.Constant(1)))
    elif action == "keep":
        _replace(new, node, node.left if kind[1] == "left" else node.right)
    elif action == "unwrap":
        _replace(new, node, node.operand)
    elif action == "call":
        if isinstance(node.func, ast.Attribute):
            node.func.attr = kind[1]
        else:
            node.func.id = kind[1]
    elif action == "delete":
        _replace(new, node, ast.Pass())
    return ast.fix_missing_locations(new)


def _replace(root: ast.AST, old: ast.AST, new: ast.AST | None) -> None:
    for parent in ast.walk(root):
        for fname, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        if new is None:
                            del value[i]
                        else:
                            value[i] = new
                        return
            elif value is old:
                setattr(parent, fname, new)
                return
    raise ValueError("node not found")


def function_source(fn) -> str:
    return textwrap.dedent(inspect.getsource(fn))


def mutants(exercise_id: str, fn) -> list[Mutant]:
    """Every single-change mutant of ``fn`` whose source compiles and differs from the original."""
    src = function_source(fn)
    src_lines = src.splitlines()
    tree = ast.parse(src)
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    original = ast.unparse(func)
    collector = _Sites()
    collector.visit(func)
    index = {id(n): i for i, n in enumerate(ast.walk(func))}
    out, seen = [], set()
    for node, op, detail, kind in collector.sites:
        lineno = getattr(node, "lineno", func.lineno)
        col = getattr(node, "col_offset", 0)
        # Named by the line's text, not its number, so that editing a docstring keeps ids stable.
        mid = f"{op}:{detail}:{col}:{src_lines[lineno - 1].strip()}"
        try:
            new = _apply(func, [index[id(node)]], kind, None)
            text = ast.unparse(new)
            compile(text, "<mutant>", "exec")
        except (ValueError, SyntaxError, TypeError):
            continue
        if text == original or text in seen or mid in {m.id for m in out}:
            continue
        seen.add(text)
        diff = "".join(difflib.unified_diff((original + "\n").splitlines(True), (text + "\n").splitlines(True),
                                            "reference", "mutant", n=0))
        out.append(Mutant(exercise_id, mid, text, diff))
    return out
