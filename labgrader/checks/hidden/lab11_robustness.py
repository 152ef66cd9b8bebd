"""Lab 11 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab11_robustness.py (the public
checks) and not this file. ``labgrader.checks.load("lab11_robustness")`` registers them after the public ones.
"""

from __future__ import annotations

from ...assertions import as_array, as_float, assert_close, fmt
from ..lab11_robustness import RADII, _mask_of, _same_epoch, _well_posed, als_cases, attack_cases, attacked_logits, check, cp_factors, gradients, layer_cases, mask_histories, mask_pairs, pairs, pgd_cases, top_k_cases


# --- obd_saliency ---------------------------------------------------------------------------------
@check("obd_saliency", case=pairs())
def obd_saliency__agrees_with_reference(student, ref, case):
    """obd_saliency(w, h_diag) should return the reference's saliencies."""
    w, h = case
    assert_close(as_array(student(w, h), "obd_saliency(w, h_diag)", w.shape), ref(w, h),
                 f"obd_saliency({fmt(w)}, {fmt(h)})")


# --- fgsm -----------------------------------------------------------------------------------------
@check("fgsm", case=attack_cases())
def fgsm__agrees_with_reference(student, ref, case):
    """fgsm(x, grad, eps, lo, hi) should return the reference's adversarial input."""
    x, g, eps, lo, hi = case
    assert_close(as_array(student(x, g, eps, lo, hi), "fgsm(...)", x.shape), ref(x, g, eps, lo, hi),
                 f"fgsm({fmt(x)}, {fmt(g)}, eps={eps}, lo={lo}, hi={hi})")


# --- pgd_step -------------------------------------------------------------------------------------
@check("pgd_step", case=pgd_cases())
def pgd_step__agrees_with_reference(student, ref, case):
    """pgd_step(x, x0, grad, alpha, eps, lo, hi) should return the reference's next iterate."""
    assert_close(as_array(student(*case), "pgd_step(...)", case[0].shape), ref(*case),
                 "pgd_step(" + ", ".join(fmt(a) for a in case) + ")")


# --- robust_accuracy ------------------------------------------------------------------------------
@check("robust_accuracy", case=attacked_logits())
def robust_accuracy__agrees_with_reference(student, ref, case):
    """robust_accuracy(logits, labels) should return the reference's fraction."""
    logits, labels = case
    assert_close(as_float(student(logits, labels), "robust_accuracy"), ref(logits, labels),
                 f"robust_accuracy({fmt(logits)}, {fmt(labels)})")


# --- sam_perturbation -----------------------------------------------------------------------------
@check("sam_perturbation", g=gradients(), rho=RADII)
def sam_perturbation__agrees_with_reference(student, ref, g, rho):
    """sam_perturbation(g, rho) should return the reference's perturbation."""
    assert_close(as_array(student(g, rho), "sam_perturbation(g, rho)", g.shape), ref(g, rho),
                 f"sam_perturbation({fmt(g)}, {rho})")


# --- edge_popup_mask ------------------------------------------------------------------------------
@check("edge_popup_mask", case=top_k_cases())
def edge_popup_mask__agrees_with_reference(student, ref, case):
    """edge_popup_mask(scores, k) should return the reference's mask."""
    scores, k = case
    assert_close(_mask_of(student(scores, k), scores.shape, "edge_popup_mask(scores, k)"), ref(scores, k),
                 f"edge_popup_mask({fmt(scores)}, k={k})")


# --- supermask_score_grad -------------------------------------------------------------------------
@check("supermask_score_grad", case=layer_cases())
def supermask_score_grad__agrees_with_reference(student, ref, case):
    """supermask_score_grad(x, grad_y, W) should return the reference's score gradient."""
    x, gy, W = case
    assert_close(as_array(student(x, gy, W), "supermask_score_grad(x, grad_y, W)", W.shape), ref(x, gy, W),
                 f"supermask_score_grad({fmt(x)}, {fmt(gy)}, {fmt(W)})", atol=1e-9)


# --- mask_distance --------------------------------------------------------------------------------
@check("mask_distance", case=mask_pairs())
def mask_distance__agrees_with_reference(student, ref, case):
    """mask_distance(m1, m2) should return the reference's distance."""
    assert_close(as_float(student(*case), "mask_distance"), ref(*case), f"mask_distance({fmt(case[0])}, {fmt(case[1])})")


# --- early_bird_epoch -----------------------------------------------------------------------------
@check("early_bird_epoch", case=mask_histories())
def early_bird_epoch__agrees_with_reference(student, ref, case):
    """early_bird_epoch(masks, threshold, window) should return the reference's epoch."""
    _same_epoch(student, case, ref(*case))


# --- cp_reconstruct -------------------------------------------------------------------------------
@check("cp_reconstruct", factors=cp_factors())
def cp_reconstruct__agrees_with_reference(student, ref, factors):
    """cp_reconstruct(A, B, C, D) should return the reference's kernel."""
    expected = ref(*factors)
    assert_close(as_array(student(*factors), "cp_reconstruct(A, B, C, D)", expected.shape), expected,
                 "cp_reconstruct(" + ", ".join(fmt(F) for F in factors) + ")", atol=1e-9)


# --- cp_als_update --------------------------------------------------------------------------------
@check("cp_als_update", case=als_cases().filter(_well_posed))
def cp_als_update__agrees_with_reference(student, ref, case):
    """cp_als_update(K, B, C, D) should return the reference's factor A."""
    expected = ref(*case)
    assert_close(as_array(student(*case), "cp_als_update(K, B, C, D)", expected.shape), expected,
                 "cp_als_update(" + ", ".join(fmt(F) for F in case) + ")", rtol=1e-6, atol=1e-8)
