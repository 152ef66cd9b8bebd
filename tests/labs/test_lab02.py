"""Lab 2 meets the contract every lab meets (tests/lab_contract.py), and its checks catch classic bugs.

The bug tests run in process (InProcessBackend, quick examples): they test the checks, not the
sandbox. Each bug is a realistic student mistake made in the reference's own source.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

from labgrader.checks import load as load_checks
from reference_impl import distillation_ii as R

LAB_ID = "lab02"

from lab_contract import *  # noqa: E402,F401,F403 - the contract's tests, collected in this module
from lab_contract import assert_bug_caught, grade_in_process  # noqa: E402

CHECKS = load_checks("lab02_distillation_ii").CHECKS

ALL_SOURCE = "\n\n".join(textwrap.dedent(inspect.getsource(getattr(R, n))) for n in CHECKS)


_grade = grade_in_process


BUGS = {
    # name: (exercise, old, new, checks that must fail)
    "hint_loss without the 1/2": ("hint_loss", "0.5 * ((u - r) ** 2).sum(axis=1).mean()", "((u - r) ** 2).sum(axis=1).mean()",
                                  {"agrees_with_reference", "half_squared_norm"}),
    "hint_loss mean over features too": ("hint_loss", "0.5 * ((u - r) ** 2).sum(axis=1).mean()", "0.5 * ((u - r) ** 2).mean()",
                                         {"agrees_with_reference", "half_squared_norm"}),
    "attention_map without abs": ("attention_map", "(np.abs(f) ** p)", "(f ** p)",
                                  {"agrees_with_reference", "scale_sign_and_channel_invariant"}),
    "attention_map without normalising": ("attention_map", "return Q / np.where(norm > 0, norm, 1.0)", "return Q",
                                          {"agrees_with_reference", "unit_norm_rows", "scale_sign_and_channel_invariant"}),
    "attention_map normalised by the sum (L1)": ("attention_map", "norm = np.linalg.norm(Q, axis=1, keepdims=True)",
                                                 "norm = Q.sum(axis=1, keepdims=True)",
                                                 {"agrees_with_reference", "unit_norm_rows"}),
    "attention transfer summed over the batch": ("attention_transfer_loss", "((a_s - a_t) ** 2).sum(axis=1).mean()",
                                                 "((a_s - a_t) ** 2).sum()",
                                                 {"agrees_with_reference", "disjoint_attention_gives_two"}),
    "rkd distances both normalised by the teacher's mean": (
        "rkd_distance_loss", "x = np.abs(d_s / d_s.mean() - d_t / d_t.mean())", "x = np.abs(d_s / d_t.mean() - d_t / d_t.mean())",
        {"agrees_with_reference", "zero_for_proportional_embeddings", "collinear_against_equilateral"}),
    "rkd distance with squared error instead of smooth-L1": (
        "rkd_distance_loss", "np.where(x < 1, 0.5 * x**2, x - 0.5).mean())\n\n\ndef rkd_angle", "(0.5 * x**2).mean())\n\n\ndef rkd_angle",
        {"linear_beyond_one"}),
    "rkd angle including repeated indices": ("rkd_angle_loss", "x = np.abs(cos[0] - cos[1])[distinct]", "x = np.abs(cos[0] - cos[1])",
                                             {"agrees_with_reference", "right_angle_against_line"}),
    "rkd angle with distances, not unit vectors": ("rkd_angle_loss", "unit = diff / np.where(norm > 0, norm, 1.0)", "unit = diff",
                                                   {"agrees_with_reference", "invariant_to_similarity_transforms"}),
    "dml KL in the wrong direction": ("dml_losses", "(p[:, None] * (logp[:, None] - logp[None, :]))",
                                      "(p[None, :] * (logp[None, :] - logp[:, None]))",
                                      {"agrees_with_reference", "peer_is_the_target", "mean_over_peers"}),
    "dml peers summed, not averaged": ("dml_losses", "kl.sum(axis=0) / (K - 1)", "kl.sum(axis=0)",
                                       {"agrees_with_reference", "mean_over_peers"}),
    "ensemble averages logits": ("ensemble_soft_targets", "return np.tensordot(w / w.sum(), p, axes=1)",
                                 "zbar = np.tensordot(w / w.sum(), z, axes=1)\n    e = np.exp(zbar - zbar.max(axis=-1, keepdims=True))\n"
                                 "    return e / e.sum(axis=-1, keepdims=True)",
                                 {"agrees_with_reference", "averages_probabilities_not_logits"}),
    "ensemble weights not normalised": ("ensemble_soft_targets", "np.tensordot(w / w.sum(), p, axes=1)", "np.tensordot(w, p, axes=1)",
                                        {"agrees_with_reference", "weights_select_and_normalise"}),
    "ema with the weights swapped": ("ema_update", "momentum * t + (1 - momentum) * s", "(1 - momentum) * t + momentum * s",
                                     {"agrees_with_reference", "extremes", "gap_shrinks_by_momentum"}),
    "self-distillation without T^2": ("self_distillation_loss", "alpha * T**2 * kl", "alpha * kl",
                                      {"agrees_with_reference", "deepest_exit_teaches_with_t_squared"}),
    "self-distillation KL reversed": ("self_distillation_loss", "(np.exp(logq[-1]) * (logq[-1] - logq[:-1]))",
                                      "(np.exp(logq[:-1]) * (logq[:-1] - logq[-1]))",
                                      {"agrees_with_reference", "deepest_exit_teaches_with_t_squared"}),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_classic_bugs_fail_the_named_checks(lab, bug):
    ex_id, old, new, must_fail = BUGS[bug]
    assert_bug_caught(lab, ALL_SOURCE, ex_id, old, new, must_fail)


# Issue 19: an epsilon added to a norm or a sum is invisible at the one-decimal scale the strategies drew, and each of
# these got full marks with the grading profile; the scale invariances now include a scale of 1e-20. Ten examples
# reach it (the scales are sampled from three or four), which keeps the suite's time budget.
EPSILON_BUGS = {
    "attention map normalised as F.normalize does (norm at least 1e-12)": (
        "attention_map", "return Q / np.where(norm > 0, norm, 1.0)", "return Q / np.maximum(norm, 1e-12)",
        {"scale_sign_and_channel_invariant"}),
    "rkd distances normalised with an epsilon": (
        "rkd_distance_loss", "x = np.abs(d_s / d_s.mean() - d_t / d_t.mean())",
        "x = np.abs(d_s / (d_s.mean() + 1e-12) - d_t / (d_t.mean() + 1e-12))", {"zero_for_proportional_embeddings"}),
    "ensemble weights normalised with an epsilon": (
        "ensemble_soft_targets", "np.tensordot(w / w.sum(), p, axes=1)", "np.tensordot(w / (w.sum() + 1e-12), p, axes=1)",
        {"weights_select_and_normalise"}),
}


@pytest.mark.parametrize("bug", list(EPSILON_BUGS))
def test_an_epsilon_in_a_norm_or_sum_fails_the_scale_checks(lab, bug):
    ex_id, old, new, must_fail = EPSILON_BUGS[bug]
    assert_bug_caught(lab, ALL_SOURCE, ex_id, old, new, must_fail, examples=10)
