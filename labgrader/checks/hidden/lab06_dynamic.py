"""Lab 6 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab06_dynamic.py (the public
checks) and not this file. ``labgrader.checks.load("lab06_dynamic")`` registers them after the public ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...assertions import assert_close, fmt, require
from ..lab06_dynamic import CAPACITY_FACTORS, CONFIDENCE_THRESHOLDS, _exits, _gate_logits, check, exit_costs, exit_logits, exit_problems, gate_grads, gated_blocks, prob_arrays, router_logits


# --- entropy --------------------------------------------------------------------------------------
@check("entropy", p=prob_arrays())
def entropy__agrees_with_reference(student, ref, p):
    """entropy(p) should equal -sum_i p_i log p_i along the last axis, in nats, with 0 log 0 = 0."""
    assert_close(student(p), ref(p), "entropy(p)")


# --- exit_decisions -------------------------------------------------------------------------------
@check("exit_decisions", problem=exit_problems())
def exit_decisions__agrees_with_reference(student, ref, problem):
    """exit_decisions should send each sample to the first exit e < E-1 with entropy(probs[e, n]) < thresholds[e], else to E-1."""
    probs, thr = problem
    assert_close(student(probs, thr), ref(probs, thr), "exit_decisions(probs, thresholds)")


@check("exit_decisions", problem=exit_problems(full=False, min_exits=2), raise_by=st.floats(0.0, 1.0))
def higher_thresholds_exit_no_later(student, ref, problem, raise_by):
    """Raising the thresholds (more exits accept) should never make a sample leave later."""
    probs, thr = problem
    N = probs.shape[1]
    a = _exits(student(probs, thr), N, "exit_decisions(probs, thresholds)")
    b = _exits(student(probs, thr + raise_by), N, f"exit_decisions(probs, thresholds + {raise_by!r})")
    require(bool(np.all(b <= a)), f"with thresholds {fmt(thr)} the exits are {fmt(a)}, but with the higher "
            f"thresholds {fmt(thr + raise_by)} they are {fmt(b)}")
    assert_close(b, ref(probs, thr + raise_by), f"exit_decisions(probs, thresholds + {raise_by!r})")


# --- confidence_exit_decisions --------------------------------------------------------------------
@check("confidence_exit_decisions", problem=exit_problems(CONFIDENCE_THRESHOLDS))
def confidence_exit_decisions__agrees_with_reference(student, ref, problem):
    """confidence_exit_decisions should send each sample to the first exit e < E-1 with max_c probs[e, n, c] >= thresholds[e], else to E-1."""
    probs, thr = problem
    assert_close(student(probs, thr), ref(probs, thr), "confidence_exit_decisions(probs, thresholds)")


@check("confidence_exit_decisions", problem=exit_problems(CONFIDENCE_THRESHOLDS, full=False, min_exits=2),
       lower_by=st.floats(0.0, 1.0))
def lower_thresholds_exit_no_later(student, ref, problem, lower_by):
    """Lowering the confidence thresholds (more exits accept) should never make a sample leave later."""
    probs, thr = problem
    N = probs.shape[1]
    a = _exits(student(probs, thr), N, "confidence_exit_decisions(probs, thresholds)")
    b = _exits(student(probs, thr - lower_by), N, f"confidence_exit_decisions(probs, thresholds - {lower_by!r})")
    require(bool(np.all(b <= a)), f"with thresholds {fmt(thr)} the exits are {fmt(a)}, but with the lower "
            f"thresholds {fmt(thr - lower_by)} they are {fmt(b)}")
    assert_close(b, ref(probs, thr - lower_by), f"confidence_exit_decisions(probs, thresholds - {lower_by!r})")


# --- expected_cost --------------------------------------------------------------------------------
@check("expected_cost", problem=exit_costs())
def expected_cost__agrees_with_reference(student, ref, problem):
    """expected_cost(exits, cost_per_exit) should be the mean over samples of cost_per_exit[exit_n]."""
    exits, cost = problem
    assert_close(student(exits, cost), ref(exits, cost), "expected_cost(exits, cost_per_exit)")


# --- branchy_loss ---------------------------------------------------------------------------------
@check("branchy_loss", problem=exit_logits())
def branchy_loss__agrees_with_reference(student, ref, problem):
    """branchy_loss should equal sum_e w_e CE(logits[e], labels), each CE a batch mean."""
    z, y, w = problem
    assert_close(student(z, y, w), ref(z, y, w), "branchy_loss(logits, labels, weights)")


# --- skip_gate_forward ----------------------------------------------------------------------------
@check("skip_gate_forward", z=_gate_logits())
def skip_gate_forward__agrees_with_reference(student, ref, z):
    """skip_gate_forward(z) should be 1.0 where sigmoid(z) >= 1/2 and 0.0 elsewhere, elementwise."""
    assert_close(student(z), ref(z), "skip_gate_forward(gate_logits)")


# --- skip_block_output ----------------------------------------------------------------------------
@check("skip_block_output", block=gated_blocks())
def skip_block_output__agrees_with_reference(student, ref, block):
    """skip_block_output should equal m_n * f(x)_n + (1 - m_n) * x_n, one gate per sample broadcast over its features."""
    x, fx, m = block
    assert_close(student(x, fx, m), ref(x, fx, m), "skip_block_output(x, fx, m)")


# --- ste_gate_grad --------------------------------------------------------------------------------
@check("ste_gate_grad", zg=gate_grads())
def ste_gate_grad__agrees_with_reference(student, ref, zg):
    """ste_gate_grad(z, upstream) should be sigmoid(z) (1 - sigmoid(z)) * upstream, elementwise."""
    z, g = zg
    assert_close(student(z, g), ref(z, g), "ste_gate_grad(gate_logits, upstream)")


# --- switch_route ---------------------------------------------------------------------------------
@check("switch_route", z=router_logits(), cf=CAPACITY_FACTORS)
def switch_route__agrees_with_reference(student, ref, z, cf):
    """switch_route should send each token to its argmax expert unless that expert already holds ceil(cf T / E) earlier tokens (then -1)."""
    assert_close(student(z, cf), ref(z, cf), f"switch_route(router_logits, capacity_factor={cf})")


# --- load_balancing_loss --------------------------------------------------------------------------
@check("load_balancing_loss", z=router_logits())
def load_balancing_loss__agrees_with_reference(student, ref, z):
    """load_balancing_loss should equal E * sum_i f_i P_i (f_i: share of tokens whose argmax is i, ties to the lowest index; P_i: mean softmax probability of i)."""
    assert_close(student(z), ref(z), "load_balancing_loss(router_logits)")
