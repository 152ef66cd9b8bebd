"""Lab 13 checks: the hidden checks, which compare with the reference implementation.

They run only on the course's grader; students get labgrader/checks/lab13_efficient_transformers.py (the public
checks) and not this file. ``labgrader.checks.load("lab13_efficient_transformers")`` registers them after the public ones.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ...assertions import assert_close, fmt, require
from ..lab13_efficient_transformers import SIZES, TEMPS, WEIGHTS, _attention, _cascade, _hbm, _heads, _hidden_call, _predict, _same_ints, attention_stacks, cascades, check, deit_cases, gates, hidden_stacks, labelled, logit_pair, qkv, tied_heads


# --- tiled_attention ------------------------------------------------------------------------------
@check("tiled_attention", case=qkv())
def tiled_attention__agrees_with_reference(student, ref, case):
    """tiled_attention(Q, K, V, block_rows, block_cols) should return the reference's output O and log-sum-exp L."""
    Q, K, V, br, bc = case
    O, L = _attention(student, Q, K, V, br, bc)
    rO, rL = ref(Q, K, V, br, bc)
    assert_close(O, rO, f"tiled_attention(Q, K, V, {br}, {bc})[0] with Q={fmt(Q)}, K={fmt(K)}, V={fmt(V)}")
    assert_close(L, rL, f"tiled_attention(Q, K, V, {br}, {bc})[1] with Q={fmt(Q)}, K={fmt(K)}")


# --- attention_hbm_accesses -----------------------------------------------------------------------
@check("attention_hbm_accesses", sizes=SIZES)
def attention_hbm_accesses__agrees_with_reference(student, ref, sizes):
    """attention_hbm_accesses(N, d, sram_size) should return the reference's (naive, flash) counts."""
    got = _hbm(student, *sizes)
    expected = tuple(int(v) for v in ref(*sizes))
    require(got == expected, f"attention_hbm_accesses{sizes}\n  expected: {expected}\n  got:      {got}")


# --- tinybert_layer_map ---------------------------------------------------------------------------
@check("tinybert_layer_map", M=st.integers(1, 12), k=st.integers(1, 4))
def tinybert_layer_map__agrees_with_reference(student, ref, M, k):
    """tinybert_layer_map(M, N) should return the reference's mapping."""
    _same_ints(student(M, k * M), ref(M, k * M), f"tinybert_layer_map({M}, {k * M})")


# --- tinybert_attention_loss ----------------------------------------------------------------------
@check("tinybert_attention_loss", stacks=attention_stacks())
def tinybert_attention_loss__agrees_with_reference(student, ref, stacks):
    """tinybert_attention_loss(student_attn, teacher_attn) should return the reference's loss."""
    S, T = stacks
    assert_close(student(S, T), ref(S, T), f"tinybert_attention_loss(S={fmt(S)}, T={fmt(T)})")


# --- tinybert_hidden_loss -------------------------------------------------------------------------
@check("tinybert_hidden_loss", stacks=hidden_stacks())
def tinybert_hidden_loss__agrees_with_reference(student, ref, stacks):
    """tinybert_hidden_loss(student_hidden, teacher_hidden, W_h, W_e) should return the reference's loss."""
    assert_close(student(*stacks), ref(*stacks), _hidden_call(stacks))


# --- soft_cross_entropy ---------------------------------------------------------------------------
@check("soft_cross_entropy", pair=logit_pair(), T=TEMPS)
def soft_cross_entropy__agrees_with_reference(student, ref, pair, T):
    """soft_cross_entropy(student_logits, teacher_logits, T) should return the reference's loss."""
    zs, zt = pair
    assert_close(student(zs, zt, T), ref(zs, zt, T), f"soft_cross_entropy({fmt(zs)}, {fmt(zt)}, {T!r})")


# --- deit_loss ------------------------------------------------------------------------------------
@check("deit_loss", case=deit_cases())
def deit_loss__agrees_with_reference(student, ref, case):
    """deit_loss(cls_logits, dist_logits, teacher_logits, labels) should return the reference's loss."""
    assert_close(student(*case), ref(*case), "deit_loss(" + ", ".join(fmt(a) for a in case) + ")")


# --- deit_predict ---------------------------------------------------------------------------------
@check("deit_predict", pair=tied_heads())
def deit_predict__agrees_with_reference(student, ref, pair):
    """deit_predict(cls_logits, dist_logits) should return the reference's predictions and agreement."""
    pred, agreement = _predict(student, *pair)
    r_pred, r_agreement = ref(*pair)
    _same_ints(pred, r_pred, f"deit_predict({fmt(pair[0])}, {fmt(pair[1])})[0]")
    assert_close(agreement, r_agreement, f"deit_predict({fmt(pair[0])}, {fmt(pair[1])})[1]")


# --- head_flops_loss ------------------------------------------------------------------------------
@check("head_flops_loss", case=gates())
def head_flops_loss__agrees_with_reference(student, ref, case):
    """head_flops_loss(gate_logits, head_flops, fixed_flops, target_ratio) should return the reference's masks, expected FLOPs and penalty."""
    mask, expected, penalty = _heads(student, *case)
    r_mask, r_expected, r_penalty = ref(*case)
    what = "head_flops_loss(" + ", ".join(fmt(a) for a in case) + ")"
    _same_ints(mask, r_mask, what + "[0]")
    assert_close(expected, r_expected, what + "[1]")
    assert_close(penalty, r_penalty, what + "[2]", atol=1e-12)


# --- switch_distill_loss --------------------------------------------------------------------------
@check("switch_distill_loss", case=labelled(2), w=WEIGHTS)
def switch_distill_loss__agrees_with_reference(student, ref, case, w):
    """switch_distill_loss(student_logits, teacher_logits, labels, teacher_weight) should return the reference's loss."""
    zs, zt, y = case
    assert_close(student(zs, zt, y, w), ref(zs, zt, y, w), f"switch_distill_loss({fmt(zs)}, {fmt(zt)}, {fmt(y)}, {w!r})")


# --- cascade_cost_accuracy ------------------------------------------------------------------------
@check("cascade_cost_accuracy", case=cascades())
def cascade_cost_accuracy__agrees_with_reference(student, ref, case):
    """cascade_cost_accuracy(confidences, correct, thresholds, stage_costs) should return the reference's cost, accuracy and exit fractions."""
    got = _cascade(student, *case)
    expected = ref(*case)
    what = "cascade_cost_accuracy(" + ", ".join(fmt(a) for a in case) + ")"
    for i, name in enumerate(("cost", "accuracy", "exit fractions")):
        assert_close(got[i], expected[i], f"{what}, the {name}")
