"""Lab 10 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab10_blockwise.py (the public
checks) and not this file. ``labgrader.checks.load("lab10_blockwise")`` registers them after the public ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ...assertions import assert_close, fmt, require
from ..lab10_blockwise import DROPS, ORDERS, POSITIVE, SIZES, THRESHOLDS, TIMES, _assignment, _conv_desc, _costs, _metrics, _plan, _same_loss_and_grad, _weights, check, conv_cases, curves, logit_pairs, output_pairs, schedule_cases, schedules


# --- depthwise_separable_conv ---------------------------------------------------------------------
@check("depthwise_separable_conv", case=conv_cases())
def depthwise_separable_conv__agrees_with_reference(student, ref, case):
    """depthwise_separable_conv(x, K_dw, K_pw, padding) should return the reference's output."""
    expected = ref(*case)
    assert_close(student(*case), expected, _conv_desc(case), atol=1e-9)


# --- separable_cost -------------------------------------------------------------------------------
@check("separable_cost", sizes=SIZES)
def separable_cost__agrees_with_reference(student, ref, sizes):
    """separable_cost(c_in, c_out, k, H, W) should return the reference's four counts."""
    got, expected = _costs(student, sizes), ref(*sizes)
    require(got == tuple(expected), f"separable_cost{sizes}\n  expected: {expected}\n  got:      {got}")


# --- block_loss -----------------------------------------------------------------------------------
@check("block_loss", pair=output_pairs())
def block_loss__agrees_with_reference(student, ref, pair):
    """block_loss(student_out, teacher_out) should return the reference's loss and gradient."""
    _same_loss_and_grad(student, "block_loss", *pair, ref(*pair))


# --- replacement_plan -----------------------------------------------------------------------------
@check("replacement_plan", d=DROPS, threshold=THRESHOLDS, order=ORDERS)
def replacement_plan__agrees_with_reference(student, ref, d, threshold, order):
    """replacement_plan(acc_drops, threshold, order) should accept the reference's blocks."""
    got, expected = _plan(student, d, threshold, order), ref(d, threshold, order)
    require(np.array_equal(got, expected), f"replacement_plan({fmt(d)}, {threshold!r}, {order!r})\n"
            f"  expected: {fmt(expected)}\n  got:      {fmt(got)}")


# --- wfd_schedule ---------------------------------------------------------------------------------
@check("wfd_schedule", t=TIMES, W=st.integers(1, 4))
def wfd_schedule__agrees_with_reference(student, ref, t, W):
    """wfd_schedule(times, workers) should give the reference's assignment."""
    got, expected = _assignment(student, t, W), ref(t, W)
    require(np.array_equal(got, expected), f"wfd_schedule({fmt(t)}, {W})\n  expected: {fmt(expected)}\n  got:      {fmt(got)}")


# --- makespan -------------------------------------------------------------------------------------
@check("makespan", case=schedules())
def makespan__agrees_with_reference(student, ref, case):
    """makespan(times, assignment, workers) should return the reference's makespan."""
    t, a, W = case
    assert_close(student(t, a, W), ref(t, a, W), f"makespan({fmt(t)}, {fmt(a)}, {W})")


# --- parallel_metrics -----------------------------------------------------------------------------
@check("parallel_metrics", T1=POSITIVE, TW=POSITIVE, W=st.integers(1, 8), E1=POSITIVE, EW=POSITIVE)
def parallel_metrics__agrees_with_reference(student, ref, T1, TW, W, E1, EW):
    """parallel_metrics(T1, TW, workers, E1, EW) should return the reference's speed-up, efficiency and greenup."""
    assert_close(np.array(_metrics(student, T1, TW, W, E1, EW)), np.array(ref(T1, TW, W, E1, EW)),
                 f"parallel_metrics{fmt((T1, TW, W, E1, EW))}")


# --- mse_logit_loss -------------------------------------------------------------------------------
@check("mse_logit_loss", pair=logit_pairs())
def mse_logit_loss__agrees_with_reference(student, ref, pair):
    """mse_logit_loss(student_logits, teacher_logits) should return the reference's loss and gradient."""
    _same_loss_and_grad(student, "mse_logit_loss", *pair, ref(*pair))


# --- kd_weight_schedule ---------------------------------------------------------------------------
@check("kd_weight_schedule", case=schedule_cases())
def kd_weight_schedule__agrees_with_reference(student, ref, case):
    """kd_weight_schedule(steps, total_steps, alpha, stop_fraction, decay) should return the reference's weights."""
    steps, total, alpha, frac, decay = case
    assert_close(_weights(student, case), ref(*case),
                 f"kd_weight_schedule({fmt(steps)}, {total}, {alpha!r}, {frac!r}, {decay!r})", atol=1e-12)


# --- time_to_target -------------------------------------------------------------------------------
@check("time_to_target", case=curves())
def time_to_target__agrees_with_reference(student, ref, case):
    """time_to_target(times, accs, target) should return the reference's time."""
    times, accs, target = case
    assert_close(student(times, accs, target), ref(times, accs, target),
                 f"time_to_target({fmt(times)}, {fmt(accs)}, {target!r})")
