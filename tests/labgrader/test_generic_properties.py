"""The properties every exercise has, whatever its lab (labs discovered from course.toml, so new labs are covered).

1. Inputs are not modified and the result is a new array (labgrader.sandbox.worker.watched_call, enforced on
   every call a check makes by labgrader.runner.StudentFunction): a mutating or aliasing function fails.
2. Every ``ValueError`` a reference docstring documents under ``Raises:`` has a check named ``rejects_*``.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labgrader.checks import Check
from labgrader.checks import load as load_checks
from labgrader.config import load_course
from labgrader.grade import lab_checks
from labgrader.inprocess import InProcessBackend
from labgrader.runner import StudentFunction, grade_exercise, run_check
from labgrader.sandbox import Limits, StudentSession

COURSE = load_course()
EXERCISES = [(lab, ex) for lab in COURSE.labs for ex in lab.exercises]
IDS = [f"{lab.id}-{ex.id}" for lab, ex in EXERCISES]
ARRAYS = hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-10, 10))


def _check(fn, **strategies) -> Check:
    return Check("f", fn.__name__, inspect.getdoc(fn), strategies, fn)


def _agrees(student, ref, x):
    """f(x) should equal x + 1."""
    got = student(x)
    assert np.array_equal(got, x + 1)


def _outcome(source: str):
    return run_check(_check(_agrees, x=ARRAYS), StudentFunction(InProcessBackend.from_source(source), "f"), None,
                     max_examples=10, seed_value=1)


def test_a_copying_function_passes():
    assert _outcome("def f(x):\n    return x + 1\n").passed


@pytest.mark.parametrize("body", ["x += 1\n    return x", "x[...] = x + 1\n    return x.copy()",
                                  "np.add(x, 1, out=x)\n    return x + 0"])
def test_a_function_that_modifies_its_input_fails_and_is_told_so(body):
    out = _outcome(f"def f(x):\n    {body}\n")
    assert out.status == "failed"
    assert "modified its input `x` in place" in out.output


@pytest.mark.parametrize("body", ["return x", "return x[:]", "return x.reshape(-1)"])
def test_a_function_that_returns_its_input_or_a_view_fails_and_is_told_so(body):
    def returns_x(student, ref, x):
        """f(x) should equal x."""
        assert np.array_equal(student(x), x)

    out = run_check(_check(returns_x, x=ARRAYS), StudentFunction(InProcessBackend.from_source(f"def f(x):\n    {body}\n"),
                                                                 "f"), None, max_examples=5, seed_value=1)
    assert out.status == "failed"
    assert "returned `x` itself or a view of it" in out.output


def test_a_mutated_list_argument_is_seen_too():
    r = InProcessBackend.from_source("def f(xs):\n    xs.append(1.0)\n    return len(xs)\n").call("f", [1.0, 2.0])
    assert r.ok and r.mutated == ("xs",) and r.aliased == ()


def test_a_nan_input_left_alone_is_not_a_modification():
    r = InProcessBackend.from_source("def f(x):\n    return x * 2\n").call("f", np.array([np.nan, -0.0]))
    assert r.ok and r.mutated == () and r.aliased == ()


def test_the_sandbox_worker_reports_modified_and_aliased_inputs():
    cells = [(0, "import numpy as np\n"
                 "def grow(x, *, by=1.0):\n    x += by\n    return x\n"
                 "def fresh(x):\n    return x * 2\n")]
    limits = Limits(call_seconds=60.0, submission_seconds=300.0)
    with StudentSession(cells, limits) as session:
        session.start()
        r = session.call("grow", np.zeros(3), by=2.0)
        assert r.ok and r.mutated == ("x",) and r.aliased == ("x",)
        np.testing.assert_array_equal(r.value, np.full(3, 2.0))
        r = session.call("fresh", np.ones(2))
        assert r.ok and r.mutated == () and r.aliased == ()


class _Mutating:
    """The reference, except that after computing its result it changes its first array argument in place."""

    def __init__(self, ref):
        self.ref = ref
        self.mutated = 0
        self.arrays_seen = 0
        self.__signature__ = inspect.signature(ref)

    @staticmethod
    def _arrays(value):
        """The arrays in an argument, also inside lists, tuples and dicts (e.g. a list of weight matrices)."""
        if isinstance(value, np.ndarray):
            yield value
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from _Mutating._arrays(v)
        elif isinstance(value, dict):
            for v in value.values():
                yield from _Mutating._arrays(v)

    def __call__(self, *args, **kwargs):
        out = self.ref(*args, **kwargs)
        arrays = [a for v in list(args) + list(kwargs.values()) for a in self._arrays(v)]
        self.arrays_seen += len(arrays)
        for a in arrays:
            if a.size and a.flags.writeable:
                a[(0,) * a.ndim] = ~a[(0,) * a.ndim] if a.dtype == bool else a[(0,) * a.ndim] + 1
                self.mutated += 1
                break
        return out


@pytest.mark.slow
@pytest.mark.parametrize(("lab", "ex"), EXERCISES, ids=IDS)
def test_an_exercise_whose_function_modifies_its_input_loses_points(lab, ex):
    """Applied to every exercise of every lab in course.toml, with no code of the lab's own."""
    fn = _Mutating(ex.load_reference())
    checks = [c for c in lab_checks(lab)[ex.id] if not c.name.startswith("rejects_")]
    out = grade_exercise(ex, checks[:2], InProcessBackend({ex.function_name: fn}), defined=True, max_examples=5,
                         seed_value=1)
    if fn.mutated == 0:  # not applicable: every argument of these checks' calls is a scalar (or an empty array)
        pytest.skip(f"{ex.id}: no call with a non-empty array argument in these checks")
    assert out.score < ex.points, f"{ex.id}: a function that modifies its input got full marks"
    assert any("modified its input" in c.output for c in out.checks)


# -- 2. documented errors have checks ----------------------------------------------------------------------------
RAISES = re.compile(r"^Raises:\n((?:[ \t]+.*\n?)+)", re.M)


def documented_value_error(fn) -> str | None:
    """The text of the ValueError entry of the docstring's ``Raises:`` section, or None."""
    section = RAISES.search(inspect.getdoc(fn) or "")
    if section is None or "ValueError" not in section.group(1):
        return None
    return " ".join(section.group(1).split())


def test_the_raises_parser_reads_the_google_style_section():
    def documented(x):
        """Do it.

        Raises:
            ValueError: if x is negative or
                not finite.
        """

    def undocumented(x):
        """Do it; raises ValueError in prose only, which is no contract."""

    assert documented_value_error(documented) == "ValueError: if x is negative or not finite."
    assert documented_value_error(undocumented) is None


@pytest.mark.parametrize(("lab", "ex"), EXERCISES, ids=IDS)
def test_every_documented_value_error_has_a_rejects_check(lab, ex):
    documented = documented_value_error(ex.load_reference())
    if documented is None:
        return
    module = load_checks(lab.checks)
    rejects = [n for n in ex.checks if n.startswith("rejects_") and n in module.CHECKS[ex.id]]
    assert rejects, (f"{lab.id} {ex.id}: its docstring documents '{documented}' but no check named rejects_* "
                     f"tests it: add one to labgrader/checks/{lab.checks}.py (DEVELOPERS.md, 'Adding a lab')")


# -- 3. honest feedback: NaN and inf are named, stability checks fail on stability alone ------------------------
def test_a_nan_result_is_named_as_such_even_when_both_sides_are_nan():
    from labgrader.assertions import CheckFailed, assert_close

    with pytest.raises(CheckFailed, match=r"returned NaN .*the expected value is NaN too"):
        assert_close(np.nan, np.nan, "f(x + c) compared with f(x)")
    with pytest.raises(CheckFailed, match=r"returned an infinity where the expected value is finite"):
        assert_close(np.array([np.inf, 0.0]), np.array([1.0, 0.0]), "f(x)")
    with pytest.raises(CheckFailed) as wrong:
        assert_close(np.array([2.0]), np.array([1.0]), "f(x)")
    assert "NaN" not in str(wrong.value) and "infinity" not in str(wrong.value)


SOFTMAX_WITHOUT_T = """
def softmax_t(logits, T=1.0):
    if not np.isfinite(T) or T <= 0:
        raise ValueError("T")
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
"""
SOFTMAX_UNSTABLE = """
def softmax_t(logits, T=1.0):
    e = np.exp(logits / T)
    return e / e.sum(axis=-1, keepdims=True)
"""


@pytest.mark.parametrize(("lab_id", "ex_id", "check_name"), [
    ("lab01", "softmax_t", "stable_at_large_logits"), ("lab01", "cross_entropy", "stable_at_large_logits")])
def test_a_stability_check_passes_a_stable_function_with_a_formula_bug(lab_id, ex_id, check_name):
    """The formula bug (no division by T; CE without the mean) is the agreement check's to report, not the stability check's."""
    lab = COURSE.lab(lab_id)
    module = load_checks(lab.checks)
    source = SOFTMAX_WITHOUT_T if ex_id == "softmax_t" else (
        "def cross_entropy(logits, labels):\n"
        "    z = logits - logits.max(axis=-1, keepdims=True)\n"
        "    return float(np.sum(np.log(np.exp(z).sum(axis=-1)) - z[np.arange(len(labels)), labels]))\n")
    out = run_check(module.CHECKS[ex_id][check_name], StudentFunction(InProcessBackend.from_source(source), ex_id),
                    lab.exercise(ex_id).load_reference(), max_examples=30, seed_value=1)
    assert out.passed, out.output
    agreement = run_check(module.CHECKS[ex_id]["agrees_with_reference"],
                          StudentFunction(InProcessBackend.from_source(source), ex_id),
                          lab.exercise(ex_id).load_reference(), max_examples=30, seed_value=1)
    assert agreement.status == "failed"


def test_a_stability_check_fails_an_overflowing_function_and_names_the_overflow():
    lab = COURSE.lab("lab01")
    check = load_checks(lab.checks).CHECKS["softmax_t"]["stable_at_large_logits"]
    out = run_check(check, StudentFunction(InProcessBackend.from_source(SOFTMAX_UNSTABLE), "softmax_t"), None,
                    max_examples=30, seed_value=1)
    assert out.status == "failed" and "non-finite values" in out.output and "exp overflowed" in out.output


# -- 4. a self-check says how many hidden checks it did not run ------------------------------------------------
def test_the_self_check_counts_the_hidden_checks_it_did_not_run(capsys):
    from labgrader.selfcheck import check
    from reference_impl.distillation import kd_loss

    lab = COURSE.lab("lab01")
    module = load_checks(lab.checks)
    hidden = [n for n in lab.exercise("kd_loss").checks if not module.CHECKS["kd_loss"][n].public]
    assert len(hidden) >= 2
    check("lab01", "kd_loss", kd_loss, examples=3)
    out = capsys.readouterr().out
    assert f"{len(hidden)} hidden checks (comparing with the reference) were NOT run" in out.splitlines()[0]


def test_a_released_bundle_keeps_the_names_of_the_hidden_checks_and_nothing_else(tmp_path):
    import ast

    from labgrader.checks import Registry
    from labgrader.release import release_lab

    lab = COURSE.lab("lab01")
    module = load_checks(lab.checks)
    release_lab(COURSE, lab, tmp_path / "bundle")
    names = tmp_path / "bundle" / "labgrader" / "checks" / "hidden" / f"{lab.checks}.py"
    tree = ast.parse(names.read_text(encoding="utf-8"))
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef)], "no check function in the bundle's hidden/"
    call = tree.body[-1].value
    assert ast.unparse(call.func) == "registry.withhold"
    withheld = ast.literal_eval(call.args[0])
    for ex in lab.exercises:
        assert withheld.get(ex.id, []) == module.registry.hidden(ex.id, ex.checks), ex.id
    student_side = Registry()  # what the bundle's module holds: the public checks, and the hidden names
    student_side.withhold(withheld)
    assert student_side.hidden("kd_loss") == module.registry.hidden("kd_loss")
