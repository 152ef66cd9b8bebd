"""Lab 2 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab02_distillation_ii.py (the public
checks) and not this file. ``labgrader.checks.load("lab02_distillation_ii")`` registers them after the public ones.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from ... import strategies as S
from ...assertions import as_array, as_float, assert_close, require
from ..lab02_distillation_ii import P_VALUES, WEIGHTS, _ce, _kl, check, cohorts, embedding_pairs, exits, feature_maps, hint_batches, map_pairs, param_pairs


# --- hint_loss ------------------------------------------------------------------------------------
@check("hint_loss", batch=hint_batches(), bias=st.booleans())
def hint_loss__agrees_with_reference(student, ref, batch, bias):
    """hint_loss(u, v, W, b) should equal 1/N sum_n 1/2 ||u_n - (v_n W + b)||^2 (b = None: no bias)."""
    u, v, W, b = batch
    b = b if bias else None
    assert_close(student(u, v, W, b), ref(u, v, W, b), "hint_loss(u, v, W, b)")


# --- attention_map --------------------------------------------------------------------------------
@check("attention_map", f=feature_maps(), p=P_VALUES)
def attention_map__agrees_with_reference(student, ref, f, p):
    """attention_map(f, p) should equal mean_c |f|^p, flattened to (N, H*W), each row divided by its L2 norm."""
    assert_close(student(f, p), ref(f, p), "attention_map(features, p)")


# --- attention_transfer_loss ----------------------------------------------------------------------
@check("attention_transfer_loss", fs=map_pairs(), p=P_VALUES)
def attention_transfer_loss__agrees_with_reference(student, ref, fs, p):
    """attention_transfer_loss should equal 1/N sum_n ||a_s,n - a_t,n||_2^2 with a = attention_map(features, p)."""
    s, t = fs
    assert_close(student(s, t, p), ref(s, t, p), "attention_transfer_loss(student_features, teacher_features, p)")


# --- rkd_distance_loss ----------------------------------------------------------------------------
@check("rkd_distance_loss", e=embedding_pairs())
def rkd_distance_loss__agrees_with_reference(student, ref, e):
    """rkd_distance_loss should be the mean over pairs i < j of smooth_l1(|s_i - s_j| / mu_s - |t_i - t_j| / mu_t)."""
    s, t = e
    assert_close(student(s, t), ref(s, t), "rkd_distance_loss(student_embeddings, teacher_embeddings)")


@check("rkd_distance_loss", e=embedding_pairs(min_n=3, outlier=True))
def linear_beyond_one(student, ref, e):
    """For normalised distance gaps |x| >= 1 the smooth-L1 is |x| - 1/2 (linear), not x^2/2 (one sample is an outlier here)."""
    s, t = e
    assert_close(student(s, t), ref(s, t), "rkd_distance_loss with an outlier sample")


# --- rkd_angle_loss -------------------------------------------------------------------------------
@check("rkd_angle_loss", e=embedding_pairs(min_n=3))
def rkd_angle_loss__agrees_with_reference(student, ref, e):
    """rkd_angle_loss should be the mean over ordered triples of distinct (i, j, k) of smooth_l1(cos angle_s(i, j, k) - cos angle_t(i, j, k)), angle at j."""
    s, t = e
    assert_close(student(s, t), ref(s, t), "rkd_angle_loss(student_embeddings, teacher_embeddings)")


@check("rkd_angle_loss", e=embedding_pairs(min_n=3))
def finite_with_duplicate_samples(student, ref, e):
    """When two samples share an embedding, their difference vector has no direction: its cosines count as 0 (no nan)."""
    s, t = e
    s = s.copy()
    s[1] = s[0]
    got = as_float(student(s, t), "rkd_angle_loss with student samples 0 and 1 equal")
    require(math.isfinite(got), f"rkd_angle_loss returned {got!r}: a zero difference vector was divided by its zero norm")
    assert_close(got, ref(s, t), "rkd_angle_loss with student samples 0 and 1 equal")


# --- dml_losses -----------------------------------------------------------------------------------
@check("dml_losses", c=cohorts())
def dml_losses__agrees_with_reference(student, ref, c):
    """dml_losses should give, for each student k, CE(z_k, y) + 1/(K-1) sum_{j != k} mean_n KL(p_j || p_k)."""
    z, y = c
    assert_close(student(z, y), ref(z, y), "dml_losses(cohort_logits, labels)")


@check("dml_losses", c=cohorts(min_k=2, max_k=2))
def peer_is_the_target(student, ref, c):
    """With two students, L_0 - CE(z_0, y) should be KL(p_1 || p_0): the peer's distribution is the target, first in the KL."""
    z, y = c
    got = as_array(student(z, y), "dml_losses(cohort_logits, labels)", shape=(2,))
    assert_close(got[0] - _ce(z[0], y), _kl(z[1], z[0]), "L_0 - CE(z_0, y) for a cohort of two")


@check("dml_losses", c=cohorts(min_k=3, max_k=4))
def mean_over_peers(student, ref, c):
    """In a cohort of K the KL terms should be averaged over the K - 1 peers (not summed, not divided by K)."""
    z, y = c
    K = z.shape[0]
    expected = np.array([_ce(z[k], y) + sum(_kl(z[j], z[k]) for j in range(K) if j != k) / (K - 1) for k in range(K)])
    assert_close(student(z, y), expected, f"dml_losses for a cohort of {K}")


# --- ensemble_soft_targets ------------------------------------------------------------------------
@check("ensemble_soft_targets", c=cohorts(), T=S.TEMPERATURES, w=st.one_of(st.none(), WEIGHTS))
def ensemble_soft_targets__agrees_with_reference(student, ref, c, T, w):
    """ensemble_soft_targets should be sum_m w_m softmax(z_m / T) with w normalised to sum 1 (uniform when weights is None)."""
    z, _ = c
    w = None if w is None else w[: z.shape[0]]
    if w is not None and w.sum() == 0:
        w = np.ones(z.shape[0])
    assert_close(student(z, T, w), ref(z, T, w), "ensemble_soft_targets(teacher_logits, T, weights)")


# --- ema_update -----------------------------------------------------------------------------------
@check("ema_update", ts=param_pairs(), m=S.PROBABILITIES)
def ema_update__agrees_with_reference(student, ref, ts, m):
    """ema_update(teacher, student, m) should be m * teacher + (1 - m) * student, elementwise, for any shape."""
    t, s = ts
    assert_close(student(t, s, m), ref(t, s, m), "ema_update(teacher_params, student_params, momentum)")


# --- self_distillation_loss -----------------------------------------------------------------------
@check("self_distillation_loss", b=exits(), T=S.TEMPERATURES, alpha=S.ALPHAS, lam=st.sampled_from([0.0, 0.03, 1.0]))
def self_distillation_loss__agrees_with_reference(student, ref, b, T, alpha, lam):
    """self_distillation_loss should be CE(z_E, y) + sum over shallow exits of (1-alpha) CE + alpha T^2 KL(p_E || p_i) + lam mean ||F_i - F_E||^2."""
    z, F, y = b
    assert_close(student(z, F, y, T, alpha, lam), ref(z, F, y, T, alpha, lam),
                 "self_distillation_loss(exit_logits, exit_features, labels, T, alpha, lam)")


@check("self_distillation_loss", b=exits(min_e=2), T=st.sampled_from([1.0, 2.0, 4.0]))
def deepest_exit_teaches_with_t_squared(student, ref, b, T):
    """With alpha = 1, lam = 0: CE(z_E, y) + T^2 sum_i KL(p_E,T || p_i,T) — the deepest exit is the teacher, first in the KL."""
    z, F, y = b
    expected = _ce(z[-1], y) + T**2 * sum(_kl(z[-1] / T, z[i] / T) for i in range(len(z) - 1))
    assert_close(student(z, F, y, T, 1.0, 0.0), expected, f"self_distillation_loss(..., T={T}, alpha=1, lam=0)")
