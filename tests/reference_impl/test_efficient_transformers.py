"""Tests of the NumPy efficient-transformers reference (Lab 13) against oracles from elsewhere.

Oracles: ``torch.nn.functional.scaled_dot_product_attention`` and a naive softmax(QK^T/sqrt(d))V in
float64 (tiled attention to 1e-12, for every tiling), ``torch.logsumexp``, ``torch.nn.functional``
``mse_loss`` / ``cross_entropy`` with probability targets / ``sigmoid``, torch autograd, Lab 1's
``reference_impl.distillation`` (cross-entropy, the KD loss's KL) and Lab 6's
``reference_impl.dynamic`` (confidence exits, expected cost) for the cascade, brute-force loops
over tiles, layers and samples, and closed forms worked out by hand in comments. No expected value
was produced by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl import distillation, dynamic
from reference_impl.efficient_transformers import (attention_hbm_accesses, cascade_cost_accuracy, deit_loss,
                                                   deit_predict, head_flops_loss, soft_cross_entropy,
                                                   switch_distill_loss, tiled_attention, tinybert_attention_loss,
                                                   tinybert_hidden_loss, tinybert_layer_map)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)
FLOATS = st.floats(-5, 5, allow_nan=False, allow_subnormal=False)


def arrays(*shape, elements=FLOATS):
    return hnp.arrays(np.float64, shape, elements=elements)


REJECTS = []  # (function, arguments it must refuse with ValueError); one test below runs them all


def naive_attention(Q, K, V):
    S = Q @ K.T / math.sqrt(Q.shape[1])
    P = np.exp(S - S.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True) @ V


# --- tiled_attention ---------------------------------------------------------------------------------
@pytest.mark.parametrize("N,M,d,dv", [(1, 1, 1, 1), (8, 8, 8, 8), (13, 7, 5, 3), (64, 64, 16, 16)])
@pytest.mark.parametrize("br,bc", [(1, 1), (3, 2), (4, 16), (100, 100)])
def test_tiled_attention_equals_torch_sdpa_in_float64(N, M, d, dv, br, bc):
    rng = np.random.default_rng(N * 100 + M + br)
    Q, K, V = rng.normal(size=(N, d)) * 2, rng.normal(size=(M, d)) * 2, rng.normal(size=(M, dv))
    O, L = tiled_attention(Q, K, V, br, bc)
    Qt, Kt, Vt = (torch.from_numpy(a) for a in (Q, K, V))
    expected = F.scaled_dot_product_attention(Qt[None], Kt[None], Vt[None])[0].numpy()
    assert O.dtype == np.float64 and O.shape == (N, dv)
    np.testing.assert_allclose(O, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(O, naive_attention(Q, K, V), rtol=0, atol=1e-12)
    lse = torch.logsumexp(Qt @ Kt.T / math.sqrt(d), dim=1).numpy()
    np.testing.assert_allclose(L, lse, rtol=0, atol=1e-12)


def test_tiled_attention_is_stable_for_huge_scores():
    # scores of order 1e4: exp overflows without the running max; the answer is the argmax row of V
    Q = np.array([[100.0, 0.0], [0.0, -100.0]])
    K = np.array([[100.0, 0.0], [0.0, 100.0], [-100.0, 0.0]])
    V = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    O, L = tiled_attention(Q, K, V, 1, 1)
    np.testing.assert_allclose(O, [[1.0, 2.0], [3.0, 4.0]], atol=1e-12)  # query 1's scores: (0, -1e4/√2, 0)...
    assert np.all(np.isfinite(L))


def test_tiled_attention_query_1_ties_average_values():
    # equal scores: the output is the mean of V's rows; L = log M + the common score
    Q = np.zeros((2, 3))
    K = np.arange(12.0).reshape(4, 3)
    V = np.arange(8.0).reshape(4, 2)
    O, L = tiled_attention(Q, K, V, 2, 3)
    np.testing.assert_allclose(O, np.tile(V.mean(axis=0), (2, 1)), atol=1e-12)
    np.testing.assert_allclose(L, [math.log(4)] * 2, atol=1e-12)


@SETTINGS
@given(data=st.data(), N=st.integers(1, 9), M=st.integers(1, 9), d=st.integers(1, 4),
       br=st.integers(1, 10), bc=st.integers(1, 10))
def test_tiled_attention_any_tiling_matches_naive(data, N, M, d, br, bc):
    Q, K, V = data.draw(arrays(N, d)), data.draw(arrays(M, d)), data.draw(arrays(M, 2))
    before = [a.copy() for a in (Q, K, V)]
    O, _ = tiled_attention(Q, K, V, br, bc)
    np.testing.assert_allclose(O, naive_attention(Q, K, V), rtol=0, atol=1e-12)
    for a, b in zip((Q, K, V), before):
        np.testing.assert_array_equal(a, b)


REJECTS += [(tiled_attention, args) for args in [
    (np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 1)), 1, 1),  # d differs
    (np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 1)), 1, 1),  # M differs
    (np.ones(3), np.ones((2, 3)), np.ones((2, 1)), 1, 1),  # 1-D Q
    (np.ones((0, 3)), np.ones((2, 3)), np.ones((2, 1)), 1, 1),  # empty
    (np.full((2, 3), np.nan), np.ones((2, 3)), np.ones((2, 1)), 1, 1),
    (np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)), 0, 1),
    (np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)), 1, 2.0),
    (np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)), True, 1),
]]


# --- attention_hbm_accesses --------------------------------------------------------------------------
def brute_force_traffic(N, d, M):
    """Walk Dao et al.'s Algorithm 1 block by block, counting every element moved."""
    B_c = math.ceil(M / (4 * d))
    B_r = min(B_c, d)
    traffic = N * d + 2 * N  # line 2: O, l, m initialised in HBM
    for c0 in range(0, N, B_c):
        bc = min(B_c, N - c0)
        traffic += 2 * bc * d  # line 6: K_j, V_j
        for r0 in range(0, N, B_r):
            br = min(B_r, N - r0)
            traffic += 2 * br * d + 2 * br  # line 8: Q_i, O_i, l_i, m_i
            traffic += br * d + 2 * br  # lines 12-13: O_i, l_i, m_i written back
    return traffic


@pytest.mark.parametrize("N,d,M", [(1, 1, 1), (8, 8, 64), (100, 7, 300), (1024, 64, 100_000), (5, 3, 10**6)])
def test_hbm_accesses_match_a_walk_of_algorithm_1(N, d, M):
    naive, flash = attention_hbm_accesses(N, d, M)
    assert flash == brute_force_traffic(N, d, M)
    # Algorithm 0 by hand: read Q, K; write S; read S; write P; read P, V; write O
    assert naive == 2 * N * d + N * N + N * N + N * N + N * N + N * d + N * d
    assert isinstance(naive, int) and isinstance(flash, int)


def test_hbm_flash_beats_naive_at_gpu_sizes_and_scales_like_theorem_2():
    # A100-like: 100 KB of SRAM ~ 25,000 fp32 elements... use M = 100_000 elements, d = 64, N = 4096
    naive, flash = attention_hbm_accesses(4096, 64, 100_000)
    assert flash < naive / 5
    # Theta(N^2 d^2 / M): doubling M (while B_c divides N) roughly halves the traffic
    _, flash_2m = attention_hbm_accesses(4096, 64, 200_000)
    assert 0.45 < flash_2m / flash < 0.6


REJECTS += [(attention_hbm_accesses, args) for args in [(0, 1, 1), (1, 0, 1), (1, 1, 0), (2.0, 1, 1), (True, 1, 1), (4, -1, 8)]]


# --- tinybert_layer_map ------------------------------------------------------------------------------
def test_layer_map_tinybert_4_of_12():
    # TinyBERT-4 from BERT-base: student layers 1..4 learn from teacher layers 3, 6, 9, 12
    np.testing.assert_array_equal(tinybert_layer_map(4, 12), [0, 3, 6, 9, 12, 13])
    np.testing.assert_array_equal(tinybert_layer_map(1, 1), [0, 1, 2])
    assert tinybert_layer_map(2, 8).dtype == np.int64


REJECTS += [(tinybert_layer_map, args) for args in [(3, 8), (0, 4), (4, 0), (2.0, 4), (5, 3)]]


# --- tinybert_attention_loss / tinybert_hidden_loss ---------------------------------------------------
@SETTINGS
@given(data=st.data(), M=st.integers(1, 3), k=st.integers(1, 3), h=st.integers(1, 3), l=st.integers(1, 4))
def test_attention_loss_is_torch_mse_over_mapped_layers(data, M, k, h, l):
    N = M * k
    S, T = data.draw(arrays(M, h, l, l)), data.draw(arrays(N, h, l, l))
    expected = 0.0
    for m in range(1, M + 1):  # student layer m imitates teacher layer m * k
        expected += sum(F.mse_loss(torch.from_numpy(S[m - 1, i]), torch.from_numpy(T[m * k - 1, i])).item()
                        for i in range(h)) / h
    assert tinybert_attention_loss(S, T) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_attention_loss_zero_on_the_mapped_layers_only():
    rng = np.random.default_rng(0)
    T = rng.normal(size=(6, 2, 3, 3))
    S = T[[2, 5]].copy()  # exactly teacher layers 3 and 6: g(1) = 3, g(2) = 6
    assert tinybert_attention_loss(S, T) == 0.0
    assert tinybert_attention_loss(T[[0, 1]], T) > 0  # the first two layers are not the mapped ones


@pytest.mark.parametrize("S,T", [(np.ones((2, 1, 3, 3)), np.ones((3, 1, 3, 3))),
                                 (np.ones((1, 1, 3, 3)), np.ones((2, 2, 3, 3))),
                                 (np.ones((1, 1, 3, 2)), np.ones((1, 1, 3, 2))),
                                 (np.ones((1, 3, 3)), np.ones((1, 3, 3))),
                                 (np.full((1, 1, 2, 2), np.inf), np.ones((1, 1, 2, 2)))])
def test_attention_loss_rejects(S, T):
    with pytest.raises(ValueError):
        tinybert_attention_loss(S, T)


@SETTINGS
@given(data=st.data(), M=st.integers(1, 3), k=st.integers(1, 2), B=st.integers(1, 3), l=st.integers(1, 3),
       ds=st.integers(1, 3), dt=st.integers(1, 4))
def test_hidden_loss_with_autograd_gradient(data, M, k, B, l, ds, dt):
    N = M * k
    HS, HT = data.draw(arrays(M + 1, B, l, ds)), data.draw(arrays(N + 1, B, l, dt))
    W_h, W_e = data.draw(arrays(ds, dt)), data.draw(arrays(ds, dt))
    HSt, HTt = torch.from_numpy(HS), torch.from_numpy(HT)
    Wh, We = torch.from_numpy(W_h), torch.from_numpy(W_e)
    expected = F.mse_loss(HSt[0] @ We, HTt[0]) + sum(F.mse_loss(HSt[m] @ Wh, HTt[m * k]) for m in range(1, M + 1))
    assert tinybert_hidden_loss(HS, HT, W_h, W_e) == pytest.approx(expected.item(), rel=1e-12, abs=1e-12)


def test_hidden_loss_by_hand():
    # one token, one feature, M = N = 1: (2*3 - 5)^2 + (1*0.5 - 1)^2 = 1 + 0.25 (W_e = 3 on m = 0, W_h = 0.5 on m = 1)
    HS = np.array([2.0, 1.0]).reshape(2, 1, 1, 1)
    HT = np.array([5.0, 1.0]).reshape(2, 1, 1, 1)
    assert tinybert_hidden_loss(HS, HT, np.array([[0.5]]), np.array([[3.0]])) == pytest.approx(1.25)


@pytest.mark.parametrize("HS,HT,W", [(np.ones((1, 1, 1, 2)), np.ones((1, 1, 1, 2)), np.ones((2, 2))),
                                     (np.ones((2, 1, 1, 2)), np.ones((2, 2, 1, 2)), np.ones((2, 2))),
                                     (np.ones((2, 1, 1, 2)), np.ones((2, 1, 1, 3)), np.ones((2, 2))),
                                     (np.ones((3, 1, 1, 2)), np.ones((2, 1, 1, 2)), np.ones((2, 2)))])
def test_hidden_loss_rejects(HS, HT, W):
    with pytest.raises(ValueError):
        tinybert_hidden_loss(HS, HT, W, W)


# --- soft_cross_entropy -------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), B=st.integers(1, 5), C=st.integers(1, 6), T=st.floats(0.25, 8))
def test_soft_cross_entropy_is_torch_ce_with_probability_targets(data, B, C, T):
    zs, zt = data.draw(arrays(B, C)), data.draw(arrays(B, C))
    expected = F.cross_entropy(torch.from_numpy(zs / T), torch.softmax(torch.from_numpy(zt / T), dim=1))
    assert soft_cross_entropy(zs, zt, T) == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)
    # = KL + teacher entropy (Lab 1's KL of the KD loss at alpha = 1 is T^2 times the KL)
    p_t = distillation.softmax_t(zt, T)
    kl = distillation.kd_loss(zs, zt, np.zeros(B, dtype=int), T=T, alpha=1.0) / T**2
    assert soft_cross_entropy(zs, zt, T) == pytest.approx(kl + float(dynamic.entropy(p_t).mean()), abs=1e-9)


def test_soft_cross_entropy_stable_at_huge_logits():
    z = np.array([[1e4, -1e4, 0.0]])
    assert soft_cross_entropy(z, z, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert soft_cross_entropy(-z, z, 1.0) == pytest.approx(2e4)


REJECTS += [(soft_cross_entropy, args) for args in [(np.ones((2, 3)), np.ones((2, 3)), 0.0), (np.ones((2, 3)), np.ones((2, 3)), np.inf),
                                  (np.ones((2, 3)), np.ones((3, 2)), 1.0), (np.ones(3), np.ones(3), 1.0),
                                  (np.array([[np.nan]]), np.ones((1, 1)), 1.0)]]


# --- deit_loss / deit_predict -------------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), B=st.integers(1, 6), C=st.integers(2, 5))
def test_deit_loss_against_torch_and_lab1(data, B, C):
    Zc, Zd, Zt = data.draw(arrays(B, C)), data.draw(arrays(B, C)), data.draw(arrays(B, C))
    y = data.draw(hnp.arrays(np.int64, B, elements=st.integers(0, C - 1)))
    got = deit_loss(Zc, Zd, Zt, y)
    y_t = torch.from_numpy(Zt).argmax(dim=1)  # torch's argmax: the first maximum too
    expected = 0.5 * F.cross_entropy(torch.from_numpy(Zc), torch.from_numpy(y)) \
        + 0.5 * F.cross_entropy(torch.from_numpy(Zd), y_t)
    assert got == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)
    # with one token for both heads it is Lab 1's DeiT hard-label loss at alpha = 1/2
    assert deit_loss(Zc, Zc, Zt, y) == pytest.approx(distillation.hard_label_kd_loss(Zc, Zt, y, 0.5), rel=1e-10)


def test_deit_teacher_tie_goes_to_lowest_class():
    Zt = np.array([[1.0, 1.0]])
    Zd = np.array([[0.0, math.log(3)]])  # softmax (1/4, 3/4): CE to class 0 is log 4
    assert deit_loss(Zd, Zd, Zt, np.array([1])) == pytest.approx(0.5 * math.log(4 / 3) + 0.5 * math.log(4))


@pytest.mark.parametrize("labels", [np.array([2]), np.array([-1]), np.array([0.0]), np.array([0, 1])])
def test_deit_loss_rejects_bad_labels(labels):
    with pytest.raises(ValueError):
        deit_loss(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), labels)


def test_deit_loss_rejects_bad_logits():
    with pytest.raises(ValueError):
        deit_loss(np.ones((1, 2)), np.ones((1, 3)), np.ones((1, 2)), np.array([0]))
    with pytest.raises(ValueError):
        deit_loss(np.ones((1, 2)), np.ones((1, 2)), np.full((1, 2), np.nan), np.array([0]))


@SETTINGS
@given(data=st.data(), B=st.integers(1, 8), C=st.integers(1, 5))
def test_deit_predict_brute_force(data, B, C):
    Zc, Zd = data.draw(arrays(B, C)), data.draw(arrays(B, C))
    pred, agreement = deit_predict(Zc, Zd)
    fused = torch.softmax(torch.from_numpy(Zc), 1) + torch.softmax(torch.from_numpy(Zd), 1)
    for b in range(B):
        assert fused[b, pred[b]] >= fused[b].max() - 1e-12
    agree = sum(int(np.argmax(Zc[b]) == np.argmax(Zd[b])) for b in range(B))
    assert agreement == pytest.approx(agree / B)
    assert pred.dtype == np.int64


def test_deit_predict_fuses_probabilities_not_logits():
    # cls prefers 0 with huge logits but the dist head is sure of 1: summed probabilities pick 1 when dist is surer
    Zc = np.array([[2.0, 0.0]])  # softmax ~ (0.881, 0.119)
    Zd = np.array([[0.0, 100.0]])  # ~ (0, 1): sum (0.881, 1.119) -> 1, while summed logits (2, 100) -> 1 too
    Zc2 = np.array([[200.0, 0.0]])  # summed logits (200, 100) -> 0, summed probabilities (1, 1) tie -> 0
    assert deit_predict(Zc, Zd)[0][0] == 1
    Zc3 = np.array([[10.0, 9.0, 0.0]])  # (0.731, 0.269, ~0)
    Zd3 = np.array([[0.0, 5.0, 4.0]])  # (0.005, 0.727, 0.268): sums (0.736, 0.996, 0.268) -> 1
    assert deit_predict(Zc3, Zd3)[0][0] == 1 and deit_predict(Zc3, Zd3)[1] == 0.0
    assert deit_predict(Zc2, Zc2)[1] == 1.0


# --- head_flops_loss -----------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), B=st.integers(1, 5), H=st.integers(1, 6), fixed=st.floats(0, 100),
       target=st.floats(0.05, 1.0))
def test_head_flops_against_torch(data, B, H, fixed, target):
    g = data.draw(arrays(B, H, elements=st.floats(-20, 20)))
    f = data.draw(arrays(H, elements=st.floats(0, 50)))
    if fixed + f.sum() <= 0:
        fixed = 1.0
    mask, expected, penalty = head_flops_loss(g, f, fixed, target)
    p = torch.sigmoid(torch.from_numpy(g))
    e = fixed + (p * torch.from_numpy(f)).sum(dim=1)
    np.testing.assert_allclose(expected, e.numpy(), rtol=1e-12, atol=1e-9)
    ratio = e.mean().item() / (fixed + f.sum())
    assert penalty == pytest.approx(max(0.0, ratio - target) ** 2, abs=1e-12)
    np.testing.assert_array_equal(mask, (g > 0).astype(int))


def test_head_flops_by_hand_and_huge_logits():
    # logits 0 -> p = 1/2: E = 10 + (4 + 6)/2 = 15 of 20 -> ratio 0.75; target 0.5 -> penalty 0.0625
    mask, expected, penalty = head_flops_loss(np.zeros((1, 2)), np.array([4.0, 6.0]), 10.0, 0.5)
    np.testing.assert_array_equal(mask, [[0, 0]])
    np.testing.assert_allclose(expected, [15.0])
    assert penalty == pytest.approx(0.0625)
    _, expected, penalty = head_flops_loss(np.array([[1e4, -1e4]]), np.array([4.0, 6.0]), 10.0, 0.7)
    np.testing.assert_allclose(expected, [14.0])  # head 0 always, head 1 never: 14 / 20 = 0.7, at the target
    assert penalty == 0.0


REJECTS += [(head_flops_loss, args) for args in [(np.ones((1, 2)), np.ones(3), 1.0, 0.5), (np.ones((1, 2)), -np.ones(2), 1.0, 0.5),
                                  (np.ones((1, 2)), np.ones(2), -1.0, 0.5), (np.ones((1, 2)), np.zeros(2), 0.0, 0.5),
                                  (np.ones((1, 2)), np.ones(2), 1.0, 0.0), (np.ones((1, 2)), np.ones(2), 1.0, 1.5),
                                  (np.ones(2), np.ones(2), 1.0, 0.5), (np.full((1, 2), np.nan), np.ones(2), 1.0, 0.5)]]


# --- switch_distill_loss ------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), B=st.integers(1, 5), C=st.integers(2, 6), w=st.floats(0, 1))
def test_switch_distill_is_torch_ce_with_mixed_targets(data, B, C, w):
    zs, zt = data.draw(arrays(B, C)), data.draw(arrays(B, C))
    y = data.draw(hnp.arrays(np.int64, B, elements=st.integers(0, C - 1)))
    q = w * torch.softmax(torch.from_numpy(zt), 1) + (1 - w) * F.one_hot(torch.from_numpy(y), C).double()
    expected = F.cross_entropy(torch.from_numpy(zs), q)
    assert switch_distill_loss(zs, zt, y, w) == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)
    # w = 0 is Lab 1's cross-entropy
    assert switch_distill_loss(zs, zt, y, 0.0) == pytest.approx(distillation.cross_entropy(zs, y), rel=1e-12)


def test_switch_default_mix_is_a_quarter_teacher():
    zs = np.array([[0.0, 0.0]])  # log softmax = (-log 2, -log 2): every target's CE is log 2
    assert switch_distill_loss(zs, np.array([[3.0, -1.0]]), np.array([1])) == pytest.approx(math.log(2))
    zs = np.array([[0.0, math.log(3)]])  # (1/4, 3/4); teacher sure of 0: q = (0.25, 0.75)
    expected = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert switch_distill_loss(zs, np.array([[1e4, 0.0]]), np.array([1])) == pytest.approx(expected)


REJECTS += [(switch_distill_loss, args) for args in [(np.ones((1, 2)), np.ones((1, 2)), np.array([0]), 1.5),
                                  (np.ones((1, 2)), np.ones((1, 2)), np.array([0]), -0.1),
                                  (np.ones((1, 2)), np.ones((1, 2)), np.array([2]), 0.25),
                                  (np.ones((1, 2)), np.ones((2, 2)), np.array([0]), 0.25)]]


# --- cascade_cost_accuracy ----------------------------------------------------------------------------
@SETTINGS
@given(data=st.data(), B=st.integers(1, 10), S=st.integers(1, 4))
def test_cascade_agrees_with_lab6_exits_and_cost(data, B, S):
    conf = data.draw(arrays(B, S, elements=st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9, 1.0])))
    correct = data.draw(hnp.arrays(bool, (B, S)))
    t = data.draw(arrays(S - 1, elements=st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.1])))
    c = data.draw(arrays(S, elements=st.floats(0, 10)))
    cost, acc, frac = cascade_cost_accuracy(conf, correct, t, c)
    # Lab 6's confidence rule on probabilities (p, 1 - p) whose max is the confidence (>= 0.5 here... use max)
    probs = np.stack([np.stack([conf[:, k], np.zeros(B)], axis=1) for k in range(S)])  # (S, B, 2), max = conf
    exits = dynamic.confidence_exit_decisions(probs, t)
    assert cost == pytest.approx(dynamic.expected_cost(exits, np.cumsum(c)), rel=1e-12, abs=1e-12)
    assert acc == pytest.approx(sum(correct[b, exits[b]] for b in range(B)) / B)
    np.testing.assert_allclose(frac, [np.mean(exits == k) for k in range(S)])


def test_cascade_by_hand():
    conf = np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.1], [0.2, 0.3, 0.1], [0.5, 0.1, 0.4]])
    correct = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    # thresholds (0.5, 0.8): exits 0, 1, 2, 0 (0.5 >= 0.5); costs 1, 10, 100 -> 1, 11, 111, 1
    cost, acc, frac = cascade_cost_accuracy(conf, correct, np.array([0.5, 0.8]), np.array([1.0, 10.0, 100.0]))
    assert cost == pytest.approx((1 + 11 + 111 + 1) / 4)
    assert acc == pytest.approx((1 + 1 + 0 + 0) / 4)
    np.testing.assert_allclose(frac, [0.5, 0.25, 0.25])


REJECTS += [(cascade_cost_accuracy, args) for args in [
    (np.ones((2, 3)), np.ones((2, 3)), np.ones(3), np.ones(3)),
    (np.ones((2, 3)), np.ones((2, 2)), np.ones(2), np.ones(3)),
    (np.ones((2, 3)), np.ones((2, 3)), np.ones(2), -np.ones(3)),
    (np.ones((2, 3)), np.full((2, 3), 2), np.ones(2), np.ones(3)),
    (np.full((2, 3), np.nan), np.ones((2, 3)), np.ones(2), np.ones(3)),
    (np.ones(3), np.ones(3), np.ones(2), np.ones(3)),
]]


@pytest.mark.parametrize("fn,args", REJECTS, ids=[f"{fn.__name__}-{i}" for i, (fn, _) in enumerate(REJECTS)])
def test_bad_input_is_rejected(fn, args):
    with pytest.raises(ValueError):
        fn(*args)
