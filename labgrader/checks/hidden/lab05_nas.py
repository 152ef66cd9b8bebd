"""Lab 5 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab05_nas.py (the public
checks) and not this file. ``labgrader.checks.load("lab05_nas")`` registers them after the public ones.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ... import strategies as S
from ...assertions import assert_close, require
from ..lab05_nas import BETA, CE, LAM, REF, _alpha_latency, _as_genotype, _front_is, _genotype_inputs, _op_outputs, _points, check


# --- mixed_op_weights -----------------------------------------------------------------------------
@check("mixed_op_weights", alpha=S.logit_arrays(bound=20.0))
def mixed_op_weights__agrees_with_reference(student, ref, alpha):
    """mixed_op_weights(alpha) should equal softmax(alpha) along the last (op) axis, for any shape (..., K)."""
    assert_close(student(alpha), ref(alpha), "mixed_op_weights(alpha)")


# --- mixed_op -------------------------------------------------------------------------------------
@check("mixed_op", oa=_op_outputs())
def mixed_op__agrees_with_reference(student, ref, oa):
    """mixed_op(op_outputs, alpha) should equal sum_i softmax(alpha)_i * op_outputs[i], of the shape of one op's output."""
    o, a = oa
    assert_close(student(o, a), ref(o, a), "mixed_op(op_outputs, alpha)")


# --- derive_genotype ------------------------------------------------------------------------------
@check("derive_genotype", inp=_genotype_inputs())
def derive_genotype__agrees_with_reference(student, ref, inp):
    """derive_genotype should keep, per node, the k edges with the strongest non-'none' softmax weight (strongest first, ties to the lower state) and give each its strongest non-'none' op."""
    a, names, k, n_inputs = inp
    got = _as_genotype(student(a, names, k=k, n_inputs=n_inputs), "derive_genotype(alpha, op_names, k, n_inputs)")
    exp = ref(a, names, k=k, n_inputs=n_inputs)
    require(got == exp, f"derive_genotype(alpha, op_names={names}, k={k}, n_inputs={n_inputs})\n"
                        f"  expected: {exp}\n  got:      {got}")


# --- expected_latency -----------------------------------------------------------------------------
@check("expected_latency", al=_alpha_latency(), fixed=st.floats(0, 50))
def expected_latency__agrees_with_reference(student, ref, al, fixed):
    """expected_latency should equal sum over layers and ops of softmax(alpha)_i * lat_i, plus fixed."""
    a, lat = al
    assert_close(student(a, lat, fixed), ref(a, lat, fixed), "expected_latency(alpha, op_latency, fixed)")


# --- expected_latency_grad ------------------------------------------------------------------------
@check("expected_latency_grad", al=_alpha_latency())
def expected_latency_grad__agrees_with_reference(student, ref, al):
    """expected_latency_grad should equal p_j (lat_j - E_l) per layer, with p = softmax(alpha_l) and E_l = sum_i p_i lat_i."""
    a, lat = al
    assert_close(student(a, lat), ref(a, lat), "expected_latency_grad(alpha, op_latency)", atol=1e-9)


# --- latency_loss_additive ------------------------------------------------------------------------
@check("latency_loss_additive", ce=CE, al=_alpha_latency(), ref_latency=REF, lam=LAM, fixed=st.floats(0, 20))
def latency_loss_additive__agrees_with_reference(student, ref, ce, al, ref_latency, lam, fixed):
    """latency_loss_additive should equal CE + lam * (E[lat] - ref) / ref, E[lat] = expected_latency(alpha, op_latency, fixed)."""
    a, lat = al
    assert_close(student(ce, a, lat, ref_latency, lam, fixed), ref(ce, a, lat, ref_latency, lam, fixed),
                 "latency_loss_additive(ce, alpha, op_latency, ref_latency, lam, fixed)")


# --- latency_loss_multiplicative ------------------------------------------------------------------
@check("latency_loss_multiplicative", ce=CE, al=_alpha_latency(low=2.0), ref_latency=REF, beta=BETA,
       fixed=st.floats(0, 20))
def latency_loss_multiplicative__agrees_with_reference(student, ref, ce, al, ref_latency, beta, fixed):
    """latency_loss_multiplicative should equal CE * (log E[lat] / log ref)^beta, E[lat] = expected_latency(alpha, op_latency, fixed)."""
    a, lat = al
    assert_close(student(ce, a, lat, ref_latency, beta, fixed), ref(ce, a, lat, ref_latency, beta, fixed),
                 "latency_loss_multiplicative(ce, alpha, op_latency, ref_latency, beta, fixed)")


# --- pareto_front ---------------------------------------------------------------------------------
@check("pareto_front", pts=_points())
def pareto_front__agrees_with_reference(student, ref, pts):
    """pareto_front(latency, accuracy) should mark exactly the architectures no other one dominates (no slower and no less accurate, better in one)."""
    _front_is(student, *pts, ref(*pts))
