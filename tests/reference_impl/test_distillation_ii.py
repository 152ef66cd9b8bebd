"""Tests of the NumPy distillation-II reference (Lab 2) against oracles from elsewhere.

Oracles: ``torch.nn.functional`` (normalize, smooth_l1_loss, pdist, cross_entropy, kl_div,
softmax, mse_loss, linear), the papers' reference code restated in torch (Zagoruyko &
Komodakis's ``at``/``at_loss``, Park et al.'s ``RkdDistance``), brute-force Python loops over
samples, pairs and triples, closed forms (an EMA's geometric gap, the attention map of a
one-hot map) and invariances (rotation, scaling, translation). No expected value here was
produced by running the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.distillation_ii import (
    attention_map,
    attention_transfer_loss,
    dml_losses,
    ema_update,
    ensemble_soft_targets,
    hint_loss,
    rkd_angle_loss,
    rkd_distance_loss,
    self_distillation_loss,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from oracle_strategies import ATOL, RTOL, SETTINGS, alphas, logit_values, t64, temperatures  # noqa: E402

values = st.integers(-50, 50).map(lambda v: v / 10)  # one decimal: no tiny norms, where F.normalize adds its eps


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=values)


@st.composite
def feature_pair(draw):
    """(teacher (N, D_t), student (N, D_s), W (D_s, D_t), b (D_t,))."""
    N, Dt, Ds = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return draw(arrays((N, Dt))), draw(arrays((N, Ds))), draw(arrays((Ds, Dt))), draw(arrays((Dt,)))


@st.composite
def maps(draw, min_n=1):
    """Two feature maps (N, C_s, H, W) and (N, C_t, H, W) with other channel counts."""
    N, H, W = draw(st.integers(min_n, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return draw(arrays((N, draw(st.integers(1, 4)), H, W))), draw(arrays((N, draw(st.integers(1, 4)), H, W)))


@st.composite
def embeddings(draw, min_n=2):
    """Student (N, D_s) and teacher (N, D_t) embeddings whose points are pairwise apart."""
    N = draw(st.integers(min_n, 6))
    s, t = draw(arrays((N, draw(st.integers(1, 4))))), draw(arrays((N, draw(st.integers(1, 4)))))
    for e in (s, t):
        d = np.linalg.norm(e[:, None] - e[None], axis=-1) + np.eye(N)
        assume(d.min() > 1e-3)
    return s, t


@st.composite
def cohorts(draw, max_k=4):
    """(logits (K, N, C), labels (N,))."""
    K, N, C = draw(st.integers(1, max_k)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    z = draw(hnp.arrays(np.float64, (K, N, C), elements=logit_values))
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    return z, y


def random_rotation(D: int, seed: int) -> np.ndarray:
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(D, D)))
    return Q * np.sign(np.diag(R))


# ---------------------------------------------------------------------------------------------
# hint_loss
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(data=feature_pair())
def test_hint_loss_matches_torch_linear_and_mse(data):
    """hint_loss should equal 1/2 * F.mse_loss(F.linear(v, W^T, b), u, reduction='sum') / N."""
    u, v, W, b = data
    r = F.linear(t64(v), t64(W).T, t64(b))
    expected = 0.5 * F.mse_loss(r, t64(u), reduction="sum").item() / u.shape[0]
    assert math.isclose(hint_loss(u, v, W, b), expected, rel_tol=RTOL, abs_tol=ATOL)
    r0 = F.linear(t64(v), t64(W).T)
    expected0 = 0.5 * F.mse_loss(r0, t64(u), reduction="sum").item() / u.shape[0]
    assert math.isclose(hint_loss(u, v, W), expected0, rel_tol=RTOL, abs_tol=ATOL)


@SETTINGS
@given(data=feature_pair())
def test_hint_loss_matches_loop_and_is_zero_for_a_perfect_regressor(data):
    """hint_loss should equal a loop over samples and features, and be 0 when u = v W + b."""
    u, v, W, b = data
    loop = sum(0.5 * sum((u[n, j] - sum(v[n, i] * W[i, j] for i in range(v.shape[1])) - b[j]) ** 2
                         for j in range(u.shape[1])) for n in range(u.shape[0])) / u.shape[0]
    assert math.isclose(hint_loss(u, v, W, b), loop, rel_tol=1e-9, abs_tol=1e-9)
    assert hint_loss(v @ W + b, v, W, b) == pytest.approx(0.0, abs=1e-20)


# ---------------------------------------------------------------------------------------------
# attention_map, attention_transfer_loss
# ---------------------------------------------------------------------------------------------


def at_torch(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zagoruyko & Komodakis's reference code: F.normalize(x.pow(p).mean(1).view(N, -1)) (abs for odd p)."""
    return F.normalize(x.abs().pow(p).mean(1).view(x.size(0), -1))


@SETTINGS
@given(fm=maps(), p=st.sampled_from([1.0, 2.0, 3.0, 0.5]))
def test_attention_map_matches_reference_code(fm, p):
    """attention_map should equal the paper's at(x) = F.normalize(|x|^p.mean(1).view(N, -1))."""
    f = fm[0]
    expected = at_torch(t64(f), p).numpy()
    out = attention_map(f, p)
    assert out.shape == (f.shape[0], f.shape[2] * f.shape[3])
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)


def test_attention_map_closed_forms():
    """A map active at one position gives a one-hot map; a zero map gives zeros (no nan)."""
    f = np.zeros((2, 3, 2, 2))
    f[0, 1, 1, 0] = -7.0
    out = attention_map(f, 2.0)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [0, 0, 0, 0]])
    g = np.ones((1, 2, 3, 3))
    np.testing.assert_allclose(attention_map(g, 1.0), np.full((1, 9), 1 / 3))


@SETTINGS
@given(fm=maps(), p=st.sampled_from([1.0, 2.0, 4.0]))
def test_attention_transfer_loss_matches_reference_code(fm, p):
    """attention_transfer_loss should equal the reference at_loss (mean over N*H*W) times H*W."""
    s, t = fm
    expected = (at_torch(t64(s), p) - at_torch(t64(t), p)).pow(2).mean().item() * s.shape[2] * s.shape[3]
    assert math.isclose(attention_transfer_loss(s, t, p), expected, rel_tol=1e-9, abs_tol=1e-12)


@SETTINGS
@given(fm=maps(), c=st.floats(0.1, 10.0))
def test_attention_transfer_loss_ignores_scale_and_is_zero_for_self(fm, c):
    """Scaling one map leaves the loss unchanged; a map against itself gives 0."""
    s, t = fm
    assert attention_transfer_loss(s * c, t) == pytest.approx(attention_transfer_loss(s, t), rel=1e-9, abs=1e-12)
    assert attention_transfer_loss(s, s) == 0.0


# ---------------------------------------------------------------------------------------------
# rkd_distance_loss, rkd_angle_loss
# ---------------------------------------------------------------------------------------------


def rkd_distance_torch(s: torch.Tensor, t: torch.Tensor) -> float:
    """Park et al.'s RkdDistance with the distinct pairs torch.pdist lists (i < j)."""
    d_s, d_t = F.pdist(s), F.pdist(t)
    return F.smooth_l1_loss(d_s / d_s.mean(), d_t / d_t.mean(), reduction="mean").item()


@SETTINGS
@given(e=embeddings())
def test_rkd_distance_loss_matches_torch(e):
    """rkd_distance_loss should equal smooth_l1_loss of pdist's distances, each normalised by its mean."""
    s, t = e
    assert math.isclose(rkd_distance_loss(s, t), rkd_distance_torch(t64(s), t64(t)), rel_tol=1e-9, abs_tol=1e-12)


@SETTINGS
@given(e=embeddings(), c=st.floats(0.1, 10.0), shift=values, seed=st.integers(0, 100))
def test_rkd_distance_loss_is_invariant_to_similarity_transforms(e, c, shift, seed):
    """Rotating, scaling and translating the teacher's embedding should leave the distance loss unchanged."""
    s, t = e
    t2 = c * t @ random_rotation(t.shape[1], seed) + shift
    assert rkd_distance_loss(s, t2) == pytest.approx(rkd_distance_loss(s, t), rel=1e-8, abs=1e-10)
    assert rkd_distance_loss(t2, t) == pytest.approx(0.0, abs=1e-10)


def rkd_angle_loop(s: np.ndarray, t: np.ndarray) -> float:
    """Brute force over ordered triples of distinct indices, with math and plain loops."""

    def cos(e, i, j, k):
        a, b = e[i] - e[j], e[k] - e[j]
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
        return sum(x * y for x, y in zip(a, b)) / (na * nb)

    total, count = 0.0, 0
    for i, j, k in itertools.permutations(range(len(s)), 3):
        x = abs(cos(s, i, j, k) - cos(t, i, j, k))
        total += 0.5 * x * x if x < 1 else x - 0.5
        count += 1
    return total / count


@SETTINGS
@given(e=embeddings(min_n=3))
def test_rkd_angle_loss_matches_loop(e):
    """rkd_angle_loss should equal the brute-force mean over triples of smooth-L1 of cosine differences."""
    s, t = e
    assert math.isclose(rkd_angle_loss(s, t), rkd_angle_loop(s, t), rel_tol=1e-9, abs_tol=1e-12)


def test_rkd_angle_loss_matches_park_code_on_a_collinear_case():
    """Park et al.'s RkdAngle (all N^3 triples) counts the 3*2*1 distinct ones among 27: rescale to compare."""
    s = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])  # collinear: cosines +-1
    t = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # a right angle at sample 0

    def park(e):
        e = t64(e)
        td = e.unsqueeze(0) - e.unsqueeze(1)
        norm_td = F.normalize(td, p=2, dim=2)
        return torch.bmm(norm_td, norm_td.transpose(1, 2)).view(-1)

    a, b = park(s), park(t)
    all_triples = F.smooth_l1_loss(a, b, reduction="sum").item()
    # triples with a repeated index: i == k (cos = 1 on both sides, or 0 if i == j) contribute 0
    assert rkd_angle_loss(s, t) == pytest.approx(all_triples / 6, rel=1e-12)


@SETTINGS
@given(e=embeddings(min_n=3), c=st.floats(0.1, 10.0), seed=st.integers(0, 100))
def test_rkd_angle_loss_invariances(e, c, seed):
    """Angles ignore rotation, scale and translation; a model against itself gives 0."""
    s, t = e
    t2 = c * t @ random_rotation(t.shape[1], seed) + 1.5
    assert rkd_angle_loss(s, t2) == pytest.approx(rkd_angle_loss(s, t), rel=1e-8, abs=1e-10)
    assert rkd_angle_loss(t2, t) == pytest.approx(0.0, abs=1e-10)


def test_rkd_angle_loss_with_duplicate_points_is_finite():
    """Equal embeddings give zero difference vectors: cosine 0 (F.normalize's rule), never nan."""
    s = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    t = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert math.isfinite(rkd_angle_loss(s, t))


# ---------------------------------------------------------------------------------------------
# dml_losses
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(c=cohorts())
def test_dml_losses_match_torch(c):
    """L_k = F.cross_entropy(z_k, y) + mean over peers j of F.kl_div(log p_k, log p_j, batchmean)."""
    z, y = c
    K = z.shape[0]
    zt = t64(z)
    for k in range(K):
        expected = F.cross_entropy(zt[k], torch.from_numpy(y)).item()
        for j in range(K):
            if j != k:
                kl = F.kl_div(F.log_softmax(zt[k], -1), F.log_softmax(zt[j], -1), reduction="batchmean", log_target=True)
                expected += kl.item() / (K - 1)
        assert math.isclose(dml_losses(z, y)[k], expected, rel_tol=1e-9, abs_tol=1e-9)


def test_dml_losses_identical_students_get_plain_cross_entropy():
    """A cohort of identical students has no disagreement: each loss is the cross-entropy (log 3 for equal logits)."""
    z = np.zeros((4, 2, 3))
    np.testing.assert_allclose(dml_losses(z, np.array([0, 2])), np.full(4, math.log(3)), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# ensemble_soft_targets
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(c=cohorts(), T=temperatures, w=hnp.arrays(np.float64, 4, elements=st.floats(0.0, 1.0)))
def test_ensemble_soft_targets_match_torch(c, T, w):
    """The ensemble target is the (weighted) mean of torch.softmax(z_m / T) over teachers."""
    z, _ = c
    M = z.shape[0]
    expected = F.softmax(t64(z) / T, dim=-1).mean(0).numpy()
    np.testing.assert_allclose(ensemble_soft_targets(z, T), expected, rtol=RTOL, atol=ATOL)
    w = w[:M]
    assume(w.sum() > 0.01)
    wexp = torch.einsum("m,mnc->nc", t64(w / w.sum()), F.softmax(t64(z) / T, dim=-1)).numpy()
    np.testing.assert_allclose(ensemble_soft_targets(z, T, w), wexp, rtol=1e-9, atol=1e-12)


def test_ensemble_of_disagreeing_confident_teachers_is_a_mixture():
    """Two certain teachers voting for different classes give 1/2, 1/2 — averaging logits would not."""
    z = np.array([[[1e4, 0.0, 0.0]], [[0.0, 1e4, 0.0]]])
    np.testing.assert_allclose(ensemble_soft_targets(z), [[0.5, 0.5, 0.0]], atol=1e-12)


# ---------------------------------------------------------------------------------------------
# ema_update
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(t=arrays((3, 2)), s=arrays((3, 2)), m=alphas, k=st.integers(1, 20))
def test_ema_gap_shrinks_geometrically(t, s, m, k):
    """After k updates towards a fixed student, teacher - student = m^k (teacher_0 - student)."""
    out = t
    for _ in range(k):
        out = ema_update(out, s, m)
    np.testing.assert_allclose(out - s, m**k * (t - s), rtol=1e-9, atol=1e-9)


def test_ema_extremes_and_inputs_untouched():
    t, s = np.array([1.0, 2.0]), np.array([3.0, -2.0])
    np.testing.assert_array_equal(ema_update(t, s, 1.0), t)
    np.testing.assert_array_equal(ema_update(t, s, 0.0), s)
    np.testing.assert_allclose(ema_update(t, s, 0.75), [1.5, 1.0])
    assert t.tolist() == [1.0, 2.0] and s.tolist() == [3.0, -2.0]


# ---------------------------------------------------------------------------------------------
# self_distillation_loss
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(c=cohorts(), T=temperatures, alpha=alphas, lam=st.floats(0.0, 2.0), D=st.integers(1, 3), data=st.data())
def test_self_distillation_loss_matches_torch(c, T, alpha, lam, D, data):
    """The BYOT loss from F.cross_entropy, F.kl_div(batchmean) * T^2 and F.mse_loss(sum) / N, exit by exit."""
    z, y = c
    E, N, _ = z.shape
    feats = data.draw(hnp.arrays(np.float64, (E, N, D), elements=values))
    zt, ft, yt = t64(z), t64(feats), torch.from_numpy(y)
    expected = F.cross_entropy(zt[-1], yt).item()
    for i in range(E - 1):
        kl = F.kl_div(F.log_softmax(zt[i] / T, -1), F.log_softmax(zt[-1] / T, -1), reduction="batchmean", log_target=True)
        expected += ((1 - alpha) * F.cross_entropy(zt[i], yt) + alpha * T**2 * kl
                     + lam * F.mse_loss(ft[i], ft[-1], reduction="sum") / N).item()
    got = self_distillation_loss(z, feats, y, T, alpha, lam)
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9)


# ---------------------------------------------------------------------------------------------
# Bad input: ValueError whose message names the problem
# ---------------------------------------------------------------------------------------------

z3 = np.zeros((2, 3, 4))
y3 = np.array([0, 1, 2])
BAD = [
    (hint_loss, (np.zeros((2, 3)), np.zeros((3, 2)), np.zeros((2, 3))), "N >= 1"),
    (hint_loss, (np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((3, 2))), "W must have shape"),
    (hint_loss, (np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 3)), np.zeros(2)), "b must have shape"),
    (attention_map, (np.zeros((2, 3, 4)),), "N, C, H, W"),
    (attention_map, (np.zeros((1, 1, 2, 2)), 0.0), "p must be"),
    (attention_transfer_loss, (np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3))), "agree in N, H and W"),
    (rkd_distance_loss, (np.zeros((1, 2)), np.zeros((1, 2))), "N >= 2"),
    (rkd_distance_loss, (np.zeros((3, 2)), np.ones((3, 2))), "coincide"),
    (rkd_angle_loss, (np.zeros((2, 2)), np.zeros((2, 2))), "N >= 3"),
    (dml_losses, (z3, np.array([0, 1])), "labels"),
    (dml_losses, (z3, np.array([0, 1, 4])), r"\[0, 4\)"),
    (ensemble_soft_targets, (z3, 0.0), "temperature"),
    (ensemble_soft_targets, (z3, 1.0, np.array([1.0, -1.0])), "non-negative"),
    (ensemble_soft_targets, (z3, 1.0, np.zeros(2)), "positive sum"),
    (ema_update, (np.zeros(2), np.zeros(3)), "same shape"),
    (ema_update, (np.zeros(2), np.zeros(2), 1.5), "momentum"),
    (self_distillation_loss, (z3, np.zeros((2, 2, 5)), y3), "features"),
    (self_distillation_loss, (z3, np.zeros((2, 3, 5)), y3, 1.0, 1.5), "alpha"),
]


@pytest.mark.parametrize("fn, args, message", BAD, ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises_value_error(fn, args, message):
    """Invalid arguments should raise ValueError with a message that names the problem."""
    with pytest.raises(ValueError, match=message):
        fn(*args)
