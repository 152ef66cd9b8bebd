"""Lab 1 meets the contract every lab meets (tests/lab_contract.py).

Its example submissions are graded in more detail by tests/labgrader/test_grading.py (the demo's
fixture), so the contract's examples test is not repeated here.
"""

LAB_ID = "lab01"

from lab_contract import (  # noqa: E402,F401 - the contract's tests, collected in this module
    assert_bug_caught,
    lab,
    test_contract_alternatives_get_full_marks,
    test_contract_exercises_and_checks_agree,
    test_contract_reference_passes_every_check,
    test_contract_solution_notebook_runs_top_to_bottom,
)

import inspect  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402

from labgrader.checks import load as load_checks  # noqa: E402
from reference_impl import distillation as R  # noqa: E402

CHECKS = load_checks("lab01_distillation").CHECKS
ALL_SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


_COMB_INT64 = ("from math import comb",
               "def comb(n, r):  # n! / (r! (n - r)!) with NumPy products: int64 overflows from 21!\n"
               "        return int(np.prod(np.arange(1, n + 1)) // (np.prod(np.arange(1, r + 1)) * np.prod(np.arange(1, n - r + 1))))")

# Mistakes the checks could not see before issue 19's strategies (each got full marks with the grading profile):
# ties never drawn, tiny probabilities never drawn, at most 15 voters. Each is named with the public check that
# now catches it (hidden checks may catch it too; `course validate` measures both sides).
BUGS = {
    # name: (exercise, old, new, checks that must fail)
    "teacher label by argsort, ties to the highest index": (
        "hard_label_kd_loss", "y_t = teacher_logits.argmax(axis=-1)  # (N,)", "y_t = teacher_logits.argsort(axis=-1)[:, -1]  # (N,)",
        {"teacher_label_is_first_maximum"}),
    "label loyalty by argsort, ties to the highest index": (
        "label_loyalty", "return float((s.argmax(axis=-1) == t.argmax(axis=-1)).mean())",
        "return float((s.argsort(axis=-1)[:, -1] == t.argsort(axis=-1)[:, -1]).mean())",
        {"ties_go_to_lowest_index"}),
    "kl with a threshold instead of p > 0": (
        "kl_divergence", "terms = np.where(p > 0, ", "terms = np.where(p > 1e-12, ", {"infinite_where_q_is_zero"}),
    "majority vote with int64 factorials": ("majority_vote_accuracy", *_COMB_INT64, {"complement_symmetry"}),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab, bug):  # noqa: F811 - the contract's fixture
    ex_id, old, new, must_fail = BUGS[bug]
    assert_bug_caught(lab, ALL_SOURCE, ex_id, old, new, must_fail, only_named=True)
