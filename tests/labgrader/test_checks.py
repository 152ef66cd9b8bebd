"""The Lab 1 checks against the reference (all pass) and against classic bugs (the right ones fail).

Runs in process (InProcessBackend) with the quick profile: this tests the checks, not the sandbox.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

from labgrader.checks import load as load_checks
from labgrader.inprocess import InProcessBackend
from labgrader.runner import grade_exercise
from reference_impl import distillation as R

CHECKS = load_checks("lab01_distillation").CHECKS

ALL_SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


def _grade(lab, source: str, ex_id: str, examples: int = 30):
    backend = InProcessBackend.from_source(source)
    ex = lab.exercise(ex_id)
    checks = [CHECKS[ex_id][n] for n in ex.checks]
    out = grade_exercise(ex, checks, backend, defined=ex.function_name in backend.functions,
                         max_examples=examples, seed_value=1)
    return {c.name: c for c in out.checks}


def test_every_exercise_in_course_toml_lists_every_check_of_its_module(lab01):
    for ex in lab01.exercises:
        assert list(ex.checks) == list(CHECKS[ex.id]), ex.id


@pytest.mark.parametrize("ex_id", list(CHECKS))
def test_reference_passes_every_check(lab01, ex_id):
    outcomes = _grade(lab01, ALL_SOURCE, ex_id)
    failed = {n: o.output for n, o in outcomes.items() if not o.passed}
    assert not failed


BUGS = {
    # exercise: (old, new, checks that must fail)
    "softmax_t": ("z = z - z.max(axis=-1, keepdims=True)  # (..., C), row max is 0", "pass",
                  {"stable_at_large_logits"}),
    "kd_loss": ("alpha * T**2 * soft", "alpha * soft", {"agrees_with_reference", "t_squared_scaling", "kl_direction_teacher_first"}),
    "kl_divergence": ("np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)", "p * (np.log(p) - np.log(q))",
                      {"agrees_with_reference", "zero_for_identical", "handles_zero_probabilities"}),
    "cross_entropy": ("-logp[np.arange(logits.shape[0]), labels].mean()", "-logp[np.arange(logits.shape[0]), labels].sum()",
                      {"agrees_with_reference", "uniform_logits_give_log_c", "batch_mean"}),  # not the stability
    # check: a sum for the mean is a formula bug, which issue 19's stability checks no longer report as an overflow
    "majority_vote_accuracy": ("total += 0.5 * term", "total += term", {"agrees_with_reference", "complement_symmetry", "even_k_splits_ties"}),
}


@pytest.mark.parametrize("ex_id", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab01, ex_id):
    old, new, must_fail = BUGS[ex_id]
    assert ALL_SOURCE.count(old) == 1, "the bug's anchor text must be unique in the reference"
    outcomes = _grade(lab01, ALL_SOURCE.replace(old, new), ex_id)
    failed = {n for n, o in outcomes.items() if not o.passed}
    assert must_fail <= failed, (must_fail - failed)
    for n in failed:
        assert "Property:" in outcomes[n].output and "Counterexample" in outcomes[n].output


def test_missing_function_is_reported_not_crashed(lab01):
    src = ALL_SOURCE.replace("def js_divergence(", "def js_divergance(")
    outcomes = _grade(lab01, src, "js_divergence")
    assert all(o.status == "not_defined" for o in outcomes.values())
    assert "does not define a function named js_divergence" in next(iter(outcomes.values())).output


def test_nondeterministic_function_fails_clearly(lab01):
    src = ALL_SOURCE + "\n\nimport random\n_old = softmax_t\ndef softmax_t(logits, T=1.0):\n    return _old(logits, T) + random.random() * 1e-3\n"
    outcomes = _grade(lab01, src, "softmax_t")
    assert not outcomes["agrees_with_reference"].passed


def test_fmt_renders_arrays_by_their_contents_every_time():
    """fmt keeps the texts it made (checks format the same inputs several times a case): a text must
    follow the array's dtype, shape and bytes, never its identity."""
    import numpy as np

    from labgrader.assertions import fmt

    def rendered(x):  # the rendering, made here with NumPy directly
        body = np.array2string(x, separator=", ", precision=6, floatmode="maxprec", suppress_small=False,
                               threshold=64) if x.dtype.kind == "f" else np.array2string(x, separator=", ", threshold=64)
        return f"np.array({body})"

    a = np.array([0.5, -0.0, np.nan])
    assert fmt(a) == rendered(a) == fmt(a)
    a[1] = 0.0  # the same object, other contents
    assert fmt(a) == rendered(a) and "-0." not in fmt(a)
    assert fmt(a.astype(np.float32)) == rendered(a.astype(np.float32))
    assert fmt(np.arange(6).reshape(2, 3)) == rendered(np.arange(6).reshape(2, 3)) != fmt(np.arange(6))
