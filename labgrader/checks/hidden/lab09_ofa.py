"""Lab 9 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab09_ofa.py (the public
checks) and not this file. ``labgrader.checks.load("lab09_ofa")`` registers them after the public ones.
"""

from __future__ import annotations

from ...assertions import as_array, assert_close, fmt, require
from ..lab09_ofa import _agree, _breeding, _controller_cases, _cost, _kd, _kd_cases, _layer_and_widths, _not_constant, _ps, _ps_cases, _regressions, _ridge, _same_ints, _scorings, _sorted_three, _sub, _subnets, _tournaments, _two_layers, check


# --- sort_channels --------------------------------------------------------------------------------
@check("sort_channels", layers=_two_layers())
def sort_channels__agrees_with_reference(student, ref, layers):
    """sort_channels(W1, b1, W2) should return the reference's reordered (W1', b1', W2')."""
    _agree(_sorted_three(student, *layers), ref(*layers), f"sort_channels(W1={fmt(layers[0])}, b1={fmt(layers[1])}, W2=...)",
           ("W1'", "b1'", "W2'"))


# --- elastic_linear -------------------------------------------------------------------------------
@check("elastic_linear", case=_layer_and_widths())
def elastic_linear__agrees_with_reference(student, ref, case):
    """elastic_linear(W, b, out_width, in_width) should return the reference's (W_sub, b_sub)."""
    W, b, o, i = case
    _agree(_sub(student, W, b, o, i), ref(W, b, o, i), f"elastic_linear(W={fmt(W)}, b={fmt(b)}, {o}, {i})",
           ("W_sub", "b_sub"))


# --- subnet_cost ----------------------------------------------------------------------------------
@check("subnet_cost", case=_subnets())
def subnet_cost__agrees_with_reference(student, ref, case):
    """subnet_cost(widths, depth, d_in, d_out) should return the reference's (macs, params)."""
    got = _cost(student, *case)
    e = ref(*case)
    require(got == tuple(int(v) for v in e), f"subnet_cost({fmt(case[0])}, {case[1]}, {case[2]}, {case[3]})\n"
                                             f"  expected: {tuple(int(v) for v in e)}\n  got:      {got}")


# --- ps_sample ------------------------------------------------------------------------------------
@check("ps_sample", case=_ps_cases())
def ps_sample__agrees_with_reference(student, ref, case):
    """ps_sample(u, stage, width_choices, depth_choices) should return the reference's (widths, depth)."""
    widths, depth = _ps(student, *case)
    e_w, e_d = ref(*case)
    e = ([int(v) for v in e_w], int(e_d))
    require((widths, depth) == e, f"ps_sample(u={fmt(case[0])}, stage={case[1]}, {case[2]}, {case[3]})\n"
                                  f"  expected: {e}\n  got:      {(widths, depth)}")


# --- inplace_kd_loss ------------------------------------------------------------------------------
@check("inplace_kd_loss", case=_kd_cases())
def inplace_kd_loss__agrees_with_reference(student, ref, case):
    """inplace_kd_loss(student_logits, teacher_logits, T) should return the reference's (loss, grad)."""
    s, t, T = case
    _agree(_kd(student, s, t, T), ref(s, t, T), f"inplace_kd_loss({fmt(s)}, {fmt(t)}, T={T!r})",
           ("[0], the loss", "[1], the gradient"), atol=1e-9)


# --- reinforce_grad -------------------------------------------------------------------------------
@check("reinforce_grad", case=_controller_cases())
def reinforce_grad__agrees_with_reference(student, ref, case):
    """reinforce_grad(logits, actions, reward, baseline, beta) should return the reference's gradient."""
    z, a, R, b, beta = case
    assert_close(as_array(student(z, a, R, b, beta), "the gradient", z.shape), ref(z, a, R, b, beta),
                 f"reinforce_grad({fmt(z)}, {fmt(a)}, reward={R!r}, baseline={b!r}, beta={beta!r})", atol=1e-9)


# --- tournament_select ----------------------------------------------------------------------------
@check("tournament_select", case=_tournaments())
def tournament_select__agrees_with_reference(student, ref, case):
    """tournament_select(fitness, cost, budget, draws) should return the reference's winners."""
    f, c, budget, d = case
    _same_ints(student(f, c, budget, d), [int(v) for v in ref(f, c, budget, d)],
               f"tournament_select(fitness={fmt(f)}, cost={fmt(c)}, budget={budget!r}, draws={fmt(d)})", (d.shape[0],))


# --- crossover_mutate -----------------------------------------------------------------------------
@check("crossover_mutate", case=_breeding())
def crossover_mutate__agrees_with_reference(student, ref, case):
    """crossover_mutate(parent_a, parent_b, n_choices, u_cross, u_mut, r_mut, p_mut) should return the reference's child."""
    _same_ints(student(*case), [int(v) for v in ref(*case)],
               "crossover_mutate(" + ", ".join(fmt(v) for v in case) + ")", case[0].shape)


# --- ridge_fit ------------------------------------------------------------------------------------
@check("ridge_fit", case=_regressions())
def ridge_fit__agrees_with_reference(student, ref, case):
    """ridge_fit(X, y, lam) should return the reference's (w, b)."""
    X, y, lam = case
    # solve, inverse, SVD and lstsq differ by about cond * eps: rtol 1e-6
    _agree(_ridge(student, X, y, lam), ref(X, y, lam), f"ridge_fit(X={fmt(X)}, y={fmt(y)}, lam={lam!r})",
           ("[0], w", "[1], b"), rtol=1e-6, atol=1e-8)


# --- kendall_tau ----------------------------------------------------------------------------------
@check("kendall_tau", pair=_scorings().filter(_not_constant))
def kendall_tau__agrees_with_reference(student, ref, pair):
    """kendall_tau(a, b) should return the reference's tau-b."""
    a, b = pair
    assert_close(student(a, b), ref(a, b), f"kendall_tau({fmt(a)}, {fmt(b)})", atol=1e-12)
