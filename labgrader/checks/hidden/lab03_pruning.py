"""Lab 3 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab03_pruning.py (the public
checks) and not this file. ``labgrader.checks.load("lab03_pruning")`` registers them after the public ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...assertions import assert_close
from ..lab03_pruning import SPARSITIES, _FLOORS, _LAYERS, _NM, _TARGETS, _W2, _activations, _deltas, _labels, _layer_pair, _mask, _masks, _pruned, _rate_pairs, _rates, _weights, _weights_and_sparsity, check


# --- magnitude_mask -------------------------------------------------------------------------------
@check("magnitude_mask", case=_weights_and_sparsity())
def magnitude_mask__agrees_with_reference(student, ref, case):
    """magnitude_mask(w, s) should prune the round(s * n) weights that come first by (|w|, flat index)."""
    w, s = case
    assert_close(_mask(student(w, s), "magnitude_mask(w, s)", w.shape), ref(w, s).astype(float), "magnitude_mask(w, s)")


# --- global_magnitude_masks -----------------------------------------------------------------------
@check("global_magnitude_masks", ws=_LAYERS, s=SPARSITIES)
def global_magnitude_masks__agrees_with_reference(student, ref, ws, s):
    """global_magnitude_masks(ws, s) should prune the round(s * n_total) weights first by (|w|, position in the concatenation)."""
    got = _masks(student(ws, s), ws, "global_magnitude_masks(ws, s)")
    for i, (g, e) in enumerate(zip(got, ref(ws, s))):
        assert_close(g, e.astype(float), f"global_magnitude_masks(ws, s)[{i}]")


@check("global_magnitude_masks", w=_weights(), s=SPARSITIES)
def ties_across_layers_go_to_the_earlier_layer(student, ref, w, s):
    """Equal magnitudes in two layers: the earlier layer (then the lower flat index) should be pruned first."""
    ws = [np.abs(w), -np.abs(w)]  # the same magnitudes twice
    got = _masks(student(ws, s), ws, "global_magnitude_masks([|w|, -|w|], s)")
    for i, (g, e) in enumerate(zip(got, ref(ws, s))):
        assert_close(g, e.astype(float), f"global_magnitude_masks([|w|, -|w|], s)[{i}]")


# --- l1_filter_scores -----------------------------------------------------------------------------
@check("l1_filter_scores", W=_weights(min_dims=2, max_dims=4, max_side=3))
def l1_filter_scores__agrees_with_reference(student, ref, W):
    """l1_filter_scores(W) should be the sum of |W[i, ...]| over every axis but the first, one score per filter."""
    assert_close(student(W), ref(W), "l1_filter_scores(W)")


# --- prune_filters --------------------------------------------------------------------------------
@check("prune_filters", layers=_layer_pair(), s=SPARSITIES)
def prune_filters__agrees_with_reference(student, ref, layers, s):
    """prune_filters should drop the round(s * c_out) filters with the smallest L1 norm (ties: lower index), their biases and the next layer's matching input channels."""
    got = _pruned(student, *layers, s)
    for name, g, e in zip(("W", "b", "W_next"), got, ref(*layers, s)):
        assert_close(g, e, f"prune_filters(W, b, W_next, s): the pruned {name}")


# --- nm_mask --------------------------------------------------------------------------------------
@check("nm_mask", w=_W2, nm=_NM)
def nm_mask__agrees_with_reference(student, ref, w, nm):
    """nm_mask(w, n, m) should keep the n largest |w| of every m consecutive inputs of each row (ties: lower index pruned)."""
    n, m = nm
    assert_close(_mask(student(w, n, m), f"nm_mask(w, {n}, {m})", w.shape), ref(w, n, m).astype(float), f"nm_mask(w, {n}, {m})")


# --- imp_rate_per_round ---------------------------------------------------------------------------
@check("imp_rate_per_round", s=_TARGETS, rounds=st.integers(1, 20))
def imp_rate_per_round__agrees_with_reference(student, ref, s, rounds):
    """imp_rate_per_round(s, n) should be 1 - (1 - s)^(1/n)."""
    assert_close(student(s, rounds), ref(s, rounds), f"imp_rate_per_round({s!r}, {rounds})")


# --- per_class_fpr_fnr ----------------------------------------------------------------------------
@check("per_class_fpr_fnr", ypc=_labels())
def per_class_fpr_fnr__agrees_with_reference(student, ref, ypc):
    """per_class_fpr_fnr should give FPR_c = FP/(FP + TN) and FNR_c = FN/(FN + TP) per class (0 when a denominator is 0)."""
    fpr, fnr = _rates(student, *ypc)
    efpr, efnr = ref(*ypc)
    assert_close(fpr, efpr, "FPR per class")
    assert_close(fnr, efnr, "FNR per class")


# --- rate_change ----------------------------------------------------------------------------------
@check("rate_change", rates=_rate_pairs(), floor=_FLOORS)
def rate_change__agrees_with_reference(student, ref, rates, floor):
    """rate_change(base, new, floor) should be (new - base) / max(base, floor) per class."""
    base, new = rates
    assert_close(student(base, new, floor), ref(base, new, floor), "rate_change(base, new, floor)")


# --- cev ------------------------------------------------------------------------------------------
@check("cev", d=_deltas())
def cev__agrees_with_reference(student, ref, d):
    """cev(dFPR, dFNR) should be 1/C sum_c [(dFPR_c - mean dFPR)^2 + (dFNR_c - mean dFNR)^2]."""
    assert_close(student(*d), ref(*d), "cev(d_fpr, d_fnr)", atol=1e-12)


# --- sde ------------------------------------------------------------------------------------------
@check("sde", d=_deltas())
def sde__agrees_with_reference(student, ref, d):
    """sde(dFPR, dFNR) should be 1/C sum_c |dFNR_c - dFPR_c| / sqrt(2), the mean distance to the diagonal."""
    assert_close(student(*d), ref(*d), "sde(d_fpr, d_fnr)", atol=1e-12)


# --- svcca ----------------------------------------------------------------------------------------
@check("svcca", ABk=st.sampled_from([1, 2]).flatmap(lambda k: st.tuples(_activations(k=k), st.just(k))))
def agrees_with_reference_top_k(student, ref, ABk):
    """svcca(A, B, k=k) should be the mean canonical correlation of the top-k SVD directions of the centred A and B."""
    # atol 1e-6: a covariance-inverse (classical CCA) formulation squares the condition number and
    # takes square roots of eigenvalues near 0, which costs about 1e-8; mistakes move SVCCA by > 1e-3.
    (A, B), k = ABk
    assert_close(student(A, B, k=k), ref(A, B, k=k), f"svcca(A, B, k={k})", atol=1e-6, rtol=1e-6)


@check("svcca", AB=_activations(variance=0.99))
def svcca__agrees_with_reference(student, ref, AB):
    """svcca(A, B) should keep the fewest top directions that explain >= 99% of each layer's variance, then average the canonical correlations."""
    assert_close(student(*AB), ref(*AB), "svcca(A, B)", atol=1e-6, rtol=1e-6)


@check("svcca", AB=_activations(variance=0.8))
def variance_threshold_is_on_squared_singular_values(student, ref, AB):
    """With variance=0.8, the kept directions should be the fewest whose squared singular values reach 80% of the total."""
    assert_close(student(*AB, variance=0.8), ref(*AB, variance=0.8), "svcca(A, B, variance=0.8)", atol=1e-6, rtol=1e-6)
