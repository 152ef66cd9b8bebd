"""Tests of the NumPy distillation reference (Lab 1) against oracles from elsewhere.

Oracles: ``torch.nn.functional`` (softmax, log_softmax, cross_entropy, kl_div), closed forms
(uniform softmax, Bernoulli KL, log 2 for disjoint JS, the binomial majority vote written out),
brute-force Python loops (argmax agreement, entropies, 2^k vote outcomes), and properties
generated with hypothesis. No expected value here was produced by running the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impl.distillation import (
    cross_entropy,
    hard_label_kd_loss,
    js_divergence,
    kd_loss,
    kl_divergence,
    label_loyalty,
    log_softmax_t,
    majority_vote_accuracy,
    majority_vote_bounds,
    probability_loyalty,
    softmax_t,
)



pytestmark = pytest.mark.usefixtures("one_torch_thread")


from oracle_strategies import (  # noqa: E402 - shared with the labkit tests
    ATOL, LOG2, RTOL, SETTINGS, alphas, batches, logits, prob_pairs, t64, temperatures,
)


def entropy_loop(p) -> float:
    """Shannon entropy in nats by a plain loop, skipping zeros (0 log 0 = 0)."""
    return -sum(x * math.log(x) for x in p if x > 0)


def first_argmax(row) -> int:
    """Index of the first maximum, by a plain loop."""
    best = 0
    for i, x in enumerate(row):
        if x > row[best]:
            best = i
    return best


# ---------------------------------------------------------------------------------------------
# softmax_t, log_softmax_t
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(z=logits(), T=temperatures)
def test_softmax_t_matches_torch(z, T):
    """softmax_t(z, T) should equal torch.softmax(z / T) along the last axis."""
    expected = F.softmax(t64(z) / T, dim=-1).numpy()
    out = softmax_t(z, T)
    assert out.shape == z.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


@SETTINGS
@given(z=logits(), T=temperatures)
def test_log_softmax_t_matches_torch(z, T):
    """log_softmax_t(z, T) should equal torch.log_softmax(z / T) along the last axis."""
    expected = F.log_softmax(t64(z) / T, dim=-1).numpy()
    out = log_softmax_t(z, T)
    assert out.shape == z.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=1e-10)


@SETTINGS
@given(z=logits(), T=temperatures)
def test_softmax_t_rows_sum_to_one(z, T):
    """softmax_t should give non-negative rows that sum to 1 along the last axis, and so should exp(log_softmax_t)."""
    p = softmax_t(z, T)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_softmax_t(z, T)).sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@SETTINGS
@given(z=logits(min_dims=2, max_dims=2), shift=st.floats(-1e3, 1e3), T=temperatures)
def test_softmax_t_is_shift_invariant(z, shift, T):
    """Adding the same constant to every logit of a row should not change softmax_t."""
    # The shift is rounded into z + shift, so equality holds to ~|shift| * eps / T, not exactly.
    np.testing.assert_allclose(softmax_t(z + shift, T), softmax_t(z, T), rtol=1e-9, atol=1e-11)


@SETTINGS
@given(C=st.integers(1, 50), value=st.floats(-1e4, 1e4), T=temperatures)
def test_softmax_t_of_equal_logits_is_uniform(C, value, T):
    """When all C logits are equal, softmax_t should be uniform: every entry 1 / C, whatever T."""
    np.testing.assert_allclose(softmax_t(np.full(C, value), T), np.full(C, 1.0 / C), rtol=1e-14)
    np.testing.assert_allclose(log_softmax_t(np.full(C, value), T), np.full(C, -math.log(C)), rtol=1e-13, atol=1e-15)


def test_softmax_t_is_stable_at_extreme_logits():
    """Logits of +-1e4 should give finite results: softmax [1e4, -1e4] = [1, 0], log_softmax [0, -1e4] = [0, -1e4]."""
    z = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]])
    with np.errstate(over="raise", invalid="raise"):  # exp(-2e4) may underflow to 0; nothing may overflow
        p = softmax_t(z, 1.0)
    assert np.isfinite(p).all()
    np.testing.assert_array_equal(p, [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    logp = log_softmax_t(np.array([0.0, -1e4]), 1.0)
    assert np.isfinite(logp).all(), "log_softmax_t should not return -inf where softmax underflows"
    np.testing.assert_allclose(logp, [0.0, -1e4], rtol=1e-15, atol=0)


@SETTINGS
@given(z=logits(min_dims=2, max_dims=2, min_classes=2))
def test_softmax_t_flattens_to_uniform_as_T_grows(z):
    """As T grows, softmax_t should approach the uniform distribution 1 / C."""
    C = z.shape[-1]
    # |p_i - 1/C| <= (exp(range(z)/T) - 1) / C, here about 6e-7 / C.
    np.testing.assert_allclose(softmax_t(z, 1e8), np.full(z.shape, 1.0 / C), rtol=1e-6, atol=0)


@SETTINGS
@given(z=logits(min_dims=2, max_dims=2, min_classes=2), T1=temperatures, T2=temperatures)
def test_softmax_t_largest_probability_decreases_with_T(z, T1, T2):
    """A higher temperature should never make the largest probability of a row larger."""
    lo, hi = min(T1, T2), max(T1, T2)
    assert (softmax_t(z, hi).max(axis=-1) <= softmax_t(z, lo).max(axis=-1) + 1e-12).all()


@SETTINGS
@given(z=logits(min_dims=2, max_dims=2, min_classes=2).filter(
    lambda z: (np.diff(np.sort(z, axis=-1)[:, -2:], axis=-1) > 0.1).all()
))
def test_softmax_t_approaches_one_hot_as_T_shrinks(z):
    """With a unique row maximum, softmax_t at a tiny T should be the one-hot vector of the argmax."""
    one_hot = np.eye(z.shape[-1])[[first_argmax(row) for row in z]]
    np.testing.assert_allclose(softmax_t(z, 1e-3), one_hot, rtol=0, atol=1e-30)  # gap / T >= 100


# ---------------------------------------------------------------------------------------------
# kl_divergence, js_divergence
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(pq=prob_pairs(positive=True))
def test_kl_divergence_matches_torch_kl_div(pq):
    """kl_divergence(p, q) per row should equal F.kl_div(input=log q, target=p) summed over classes."""
    p, q = pq
    expected = F.kl_div(t64(q).log(), t64(p), reduction="none").sum(dim=-1).numpy()
    out = kl_divergence(p, q)
    assert out.shape == p.shape[:-1]
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)
    batchmean = F.kl_div(t64(q).log(), t64(p), reduction="batchmean").item()
    assert kl_divergence(p, q).mean() == pytest.approx(batchmean, rel=1e-9, abs=1e-12)


@SETTINGS
@given(a=st.floats(0.01, 0.99), b=st.floats(0.01, 0.99))
def test_kl_divergence_of_bernoullis_matches_closed_form(a, b):
    """KL(Bern(a) || Bern(b)) should be a log(a/b) + (1-a) log((1-a)/(1-b))."""
    expected = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
    out = float(kl_divergence(np.array([a, 1 - a]), np.array([b, 1 - b])))
    assert out == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_kl_divergence_zero_conventions():
    """0 log 0 = 0: classes p gives no mass add nothing; a class p has but q lacks makes KL infinite."""
    assert float(kl_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5]))) == pytest.approx(LOG2, rel=1e-15)
    assert float(kl_divergence(np.array([1.0, 0.0]), np.array([1.0, 0.0]))) == 0.0
    assert float(kl_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0]))) == math.inf


@SETTINGS
@given(pq=prob_pairs())
def test_kl_divergence_is_non_negative_and_zero_at_equality(pq):
    """KL(p || q) should be >= 0 (Gibbs' inequality) and exactly 0 when q == p."""
    p, q = pq
    assert (kl_divergence(p, q) >= -1e-12).all()
    np.testing.assert_allclose(kl_divergence(p, p), 0.0, rtol=0, atol=1e-14)


@SETTINGS
@given(pq=prob_pairs())
def test_js_divergence_matches_entropy_form(pq):
    """JS(p, q) should equal H((p+q)/2) - (H(p) + H(q)) / 2, entropies computed by a loop."""
    p, q = pq
    expected = [entropy_loop((pr + qr) / 2) - (entropy_loop(pr) + entropy_loop(qr)) / 2 for pr, qr in zip(p, q)]
    np.testing.assert_allclose(js_divergence(p, q), expected, rtol=0, atol=1e-12)


@SETTINGS
@given(pq=prob_pairs())
def test_js_divergence_is_symmetric_and_bounded(pq):
    """JS should be symmetric, lie in [0, log 2] and be 0 for identical rows."""
    p, q = pq
    js = js_divergence(p, q)
    np.testing.assert_allclose(js, js_divergence(q, p), rtol=1e-12, atol=1e-15)
    assert (js >= -1e-12).all() and (js <= LOG2 + 1e-12).all()
    np.testing.assert_allclose(js_divergence(p, p), 0.0, rtol=0, atol=1e-14)


@SETTINGS
@given(data=st.data(), C=st.integers(2, 8))
def test_js_divergence_of_disjoint_supports_is_log_2(data, C):
    """Distributions with disjoint supports should be log 2 apart in JS divergence, the maximum."""
    split = data.draw(st.integers(1, C - 1))
    w = data.draw(hnp.arrays(np.float64, (C,), elements=st.floats(1e-3, 1.0)))
    p = np.where(np.arange(C) < split, w, 0.0)
    q = np.where(np.arange(C) >= split, w, 0.0)
    p, q = p / p.sum(), q / q.sum()
    assert float(js_divergence(p, q)) == pytest.approx(LOG2, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# cross_entropy, kd_loss, hard_label_kd_loss
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(batch=batches())
def test_cross_entropy_matches_torch(batch):
    """cross_entropy should equal F.cross_entropy (mean over the batch) and return a Python float."""
    s, _, y = batch
    out = cross_entropy(s, y)
    assert type(out) is float
    assert out == pytest.approx(F.cross_entropy(t64(s), torch.as_tensor(y)).item(), rel=1e-10, abs=1e-12)


def test_cross_entropy_is_finite_for_confident_wrong_logits():
    """Logits [0, -1e4] with label 1 should cost log(1 + e^1e4) = 1e4 (to rounding), not inf."""
    assert cross_entropy(np.array([[0.0, -1e4]]), np.array([1])) == pytest.approx(1e4, rel=1e-15)
    assert cross_entropy(np.array([[0.0, -1e4]]), np.array([0])) == pytest.approx(0.0, abs=1e-300)


def torch_kd(s, t, y, T, alpha) -> float:
    """Hinton's loss written directly in torch: (1-alpha) CE + alpha T^2 batchmean KL(p_t,T || p_s,T)."""
    s, t = t64(s), t64(t)
    soft = F.kl_div(F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1), reduction="batchmean", log_target=True)
    return ((1 - alpha) * F.cross_entropy(s, torch.as_tensor(y)) + alpha * T**2 * soft).item()


@SETTINGS
@given(batch=batches(), T=temperatures)
def test_kd_loss_with_alpha_0_is_cross_entropy(batch, T):
    """kd_loss with alpha = 0 should be the plain cross-entropy of the student, F.cross_entropy."""
    s, t, y = batch
    expected = F.cross_entropy(t64(s), torch.as_tensor(y)).item()
    assert kd_loss(s, t, y, T=T, alpha=0.0) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@SETTINGS
@given(batch=batches(), T=temperatures)
def test_kd_loss_with_alpha_1_is_scaled_batchmean_kl(batch, T):
    """kd_loss with alpha = 1 should be T^2 * F.kl_div(log p_s,T, log p_t,T, reduction='batchmean')."""
    s, t, y = batch
    soft = F.kl_div(
        F.log_softmax(t64(s) / T, dim=-1), F.log_softmax(t64(t) / T, dim=-1), reduction="batchmean", log_target=True
    ).item()
    # The KL can cancel to ~1e-16 when student and teacher nearly agree, hence the absolute floor.
    assert kd_loss(s, t, y, T=T, alpha=1.0) == pytest.approx(T**2 * soft, rel=1e-8, abs=1e-10 * T**2)


@SETTINGS
@given(batch=batches(), T=temperatures, alpha=alphas)
def test_kd_loss_matches_torch(batch, T, alpha):
    """kd_loss should equal (1-alpha) F.cross_entropy + alpha T^2 batchmean KL computed by torch."""
    s, t, y = batch
    assert kd_loss(s, t, y, T=T, alpha=alpha) == pytest.approx(torch_kd(s, t, y, T, alpha), rel=1e-8, abs=1e-10 * T**2)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # the warning is the point
@SETTINGS
@given(batch=batches(min_classes=2), T=temperatures)
def test_kd_loss_uses_batchmean_not_elementwise_mean(batch, T):
    """The soft term should average over the batch only; KLDivLoss's default 'mean' would be C times smaller."""
    s, t, y = batch
    C = s.shape[1]
    soft = kd_loss(s, t, y, T=T, alpha=1.0)
    mean_all = T**2 * F.kl_div(
        F.log_softmax(t64(s) / T, dim=-1), F.log_softmax(t64(t) / T, dim=-1), reduction="mean", log_target=True
    ).item()
    assert soft == pytest.approx(C * mean_all, rel=1e-8, abs=1e-10 * T**2)


@SETTINGS
@given(batch=batches(), T=temperatures, alpha=alphas)
def test_kd_loss_when_student_equals_teacher_is_weighted_cross_entropy(batch, T, alpha):
    """If the student's logits equal the teacher's, the KL term vanishes: kd_loss = (1 - alpha) CE."""
    s, _, y = batch
    expected = (1 - alpha) * F.cross_entropy(t64(s), torch.as_tensor(y)).item()
    assert kd_loss(s, s.copy(), y, T=T, alpha=alpha) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_kd_loss_is_finite_at_extreme_logits():
    """kd_loss should stay finite at logits of +-1e4: here 8 * (1250 - log 2) by hand (CE ~ 0, T = 4, alpha = 1/2)."""
    # log p_s,T = [0, -2500] (to e^-2500), p_t,T = [1/2, 1/2]: KL = 1/2 log(1/2) + 1/2 (log(1/2) + 2500).
    out = kd_loss(np.array([[0.0, -1e4]]), np.array([[0.0, 0.0]]), np.array([0]), T=4.0, alpha=0.5)
    assert out == pytest.approx(0.5 * 16 * (1250 - LOG2), rel=1e-12)


@SETTINGS
@given(batch=batches(tied=True), alpha=alphas)
def test_hard_label_kd_loss_matches_torch(batch, alpha):
    """hard_label_kd_loss should equal (1-alpha) F.cross_entropy(z_s, y) + alpha F.cross_entropy(z_s, argmax z_t)."""
    s, t, y = batch
    S = t64(s)
    y_t = torch.as_tensor([first_argmax(row) for row in t])  # ties to the lowest index
    expected = ((1 - alpha) * F.cross_entropy(S, torch.as_tensor(y)) + alpha * F.cross_entropy(S, y_t)).item()
    assert hard_label_kd_loss(s, t, y, alpha=alpha) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_hard_label_kd_loss_default_is_deit_and_ties_go_to_class_0():
    """The default alpha is DeiT's 1/2; a teacher with all-equal logits should vote for class 0."""
    s = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    t = np.zeros((2, 3))
    y = np.array([2, 1])
    log_z = [math.log(sum(math.exp(v) for v in row)) for row in s]
    ce_y = -((s[0, 2] - log_z[0]) + (s[1, 1] - log_z[1])) / 2
    ce_teacher = -((s[0, 0] - log_z[0]) + (s[1, 0] - log_z[1])) / 2
    assert hard_label_kd_loss(s, t, y) == pytest.approx(0.5 * ce_y + 0.5 * ce_teacher, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# label_loyalty, probability_loyalty
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(batch=batches(tied=True))
def test_label_loyalty_matches_loop(batch):
    """label_loyalty should be the share of rows whose first argmax agrees, counted by a loop."""
    s, t, _ = batch
    agree = sum(first_argmax(rs) == first_argmax(rt) for rs, rt in zip(s, t))
    out = label_loyalty(s, t)
    assert type(out) is float
    assert out == pytest.approx(agree / len(s), rel=1e-15)
    assert label_loyalty(s, s) == 1.0


@SETTINGS
@given(pq=prob_pairs())
def test_probability_loyalty_matches_loop(pq):
    """probability_loyalty should be mean(1 - sqrt(JS in bits)), JS from entropies computed by a loop."""
    s, t = pq
    expected = 0.0
    for rs, rt in zip(s, t):
        js = entropy_loop((rs + rt) / 2) - (entropy_loop(rs) + entropy_loop(rt)) / 2
        expected += 1 - math.sqrt(min(max(js / LOG2, 0.0), 1.0))
    expected /= len(s)
    out = probability_loyalty(s, t)
    assert 0.0 <= out <= 1.0
    # sqrt amplifies an absolute error e in JS near 0 to ~sqrt(e): hence the loose tolerance.
    assert out == pytest.approx(expected, abs=1e-6)


def test_probability_loyalty_extremes():
    """probability_loyalty should be 1 for identical predictions and 0 for disjoint ones."""
    p = np.array([[0.2, 0.8, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert probability_loyalty(p, p) == pytest.approx(1.0, abs=1e-7)
    assert probability_loyalty(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# majority_vote_accuracy
# ---------------------------------------------------------------------------------------------


def test_majority_vote_of_three_at_0_7_is_0_784():
    """Three independent 0.7 voters: P(2 right) + P(3 right) = 3 * 0.7^2 * 0.3 + 0.7^3 = 0.784."""
    written_out = 3 * 0.7**2 * 0.3 + 0.7**3
    assert majority_vote_accuracy(0.7, 3) == pytest.approx(written_out, rel=1e-15)
    assert majority_vote_accuracy(0.7, 3) == pytest.approx(0.784, rel=1e-15)


@SETTINGS
@given(p=st.floats(0.0, 1.0))
def test_majority_vote_of_one_is_p(p):
    """A single voter should be exactly as accurate as it is: k = 1 gives p."""
    assert majority_vote_accuracy(p, 1) == pytest.approx(p, rel=1e-15, abs=0)


@pytest.mark.parametrize("k", range(1, 21))
def test_majority_vote_of_coin_flips_is_one_half(k):
    """Voters at p = 1/2 should give an ensemble at exactly 1/2 for every k (ties broken by a fair coin)."""
    assert majority_vote_accuracy(0.5, k) == pytest.approx(0.5, rel=1e-14)


def brute_force_vote(p: float, k: int) -> float:
    """Enumerate all 2^k right/wrong outcomes; a majority wins, a tie is a fair coin."""
    total = 0.0
    for outcome in itertools.product((True, False), repeat=k):
        right = sum(outcome)
        weight = math.prod(p if o else 1 - p for o in outcome)
        if 2 * right > k:
            total += weight
        elif 2 * right == k:
            total += weight / 2
    return total


@SETTINGS
@given(p=st.floats(0.0, 1.0), k=st.integers(1, 10))
def test_majority_vote_matches_enumeration(p, k):
    """majority_vote_accuracy should equal the brute-force sum over all 2^k outcomes, ties counted half."""
    assert majority_vote_accuracy(p, k) == pytest.approx(brute_force_vote(p, k), rel=1e-12, abs=1e-15)


@SETTINGS
@given(p=st.floats(0.51, 0.9), k=st.integers(0, 10))
def test_majority_vote_improves_with_more_voters(p, k):
    """Condorcet: for p > 1/2, adding two voters to an odd-sized ensemble should raise its accuracy.

    p <= 0.9: near p = 0.99 both accuracies round to 1.0 in float64 and '>' cannot hold (a flaky failure).
    """
    assert majority_vote_accuracy(p, 2 * k + 3) > majority_vote_accuracy(p, 2 * k + 1)


@pytest.mark.parametrize("p, expected", [(0.0, 0.0), (1.0, 1.0)])
@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_majority_vote_of_certain_voters(p, expected, k):
    """Voters that are always wrong (always right) should give an ensemble that is always wrong (right)."""
    assert majority_vote_accuracy(p, k) == expected


def test_majority_vote_accepts_numpy_integers():
    """k given as a NumPy integer should behave as the Python int."""
    assert majority_vote_accuracy(0.7, np.int64(3)) == pytest.approx(0.784, rel=1e-15)


# ---------------------------------------------------------------------------------------------
# majority_vote_bounds: the linear programme over joint distributions, solved by brute force
# ---------------------------------------------------------------------------------------------


def lp_vote_bounds(p: float, k: int) -> tuple:
    """min and max of P(vote right) over every joint distribution of k right/wrong voters with P(voter i right) = p.

    The variables are the probabilities q_o of the 2^k outcomes o in {0, 1}^k; the constraints are
    sum_o q_o = 1 and, for each voter i, sum_{o: o_i = 1} q_o = p (k + 1 equalities, full row rank);
    the objective is sum_o q_o g(o) with g = 1 for a majority, 1/2 for a tie, 0 otherwise. A linear
    programme attains its optimum at a basic feasible solution: solve every (k + 1)-column basis, keep
    the ones with q >= 0, and take the min and max of the objective over them (vertex enumeration).
    Nothing here uses the count-of-right-votes reduction the reference is built on.
    """
    outcomes = np.array(list(itertools.product((0, 1), repeat=k)), dtype=float)  # (2^k, k)
    A = np.vstack([np.ones(len(outcomes)), outcomes.T])  # (k + 1, 2^k)
    b = np.concatenate([[1.0], np.full(k, p)])  # (k + 1,)
    right = outcomes.sum(axis=1)
    g = np.where(2 * right > k, 1.0, np.where(2 * right == k, 0.5, 0.0))  # (2^k,)
    values = []
    for basis in itertools.combinations(range(len(outcomes)), k + 1):
        B = A[:, basis]
        if abs(np.linalg.det(B)) < 1e-9:
            continue
        q = np.linalg.solve(B, b)
        if np.all(q >= -1e-12):
            values.append(float(g[list(basis)] @ q))
    return min(values), max(values)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.45, 0.5, 0.62, 0.7, 0.9, 1.0])
def test_majority_vote_bounds_solve_the_linear_programme(p, k):
    """(lo, hi) should be the min and max of the vote's accuracy over all joint distributions with marginals p."""
    lo, hi = majority_vote_bounds(p, k)
    e_lo, e_hi = lp_vote_bounds(p, k)
    assert lo == pytest.approx(e_lo, abs=1e-9)
    assert hi == pytest.approx(e_hi, abs=1e-9)


def test_majority_vote_bounds_of_three_at_0_7_are_0_55_and_1():
    """The KD lecture's brain teaser: three 70% voters give anything from 55% to 100% (independent: 78.4%)."""
    assert majority_vote_bounds(0.7, 3) == pytest.approx((0.55, 1.0), abs=1e-12)
    # the two extreme joint distributions, written out: best = the three 2-of-3 patterns with 1/3 each
    # (each voter right in 2 of 3: p = 2/3 < 0.7, so all 2-1 wins are affordable), worst = 3-0 wins on
    # 55% and a 1-2 loss on 45% split over the three voters (each voter right 0.55 + 0.45/3 = 0.70)
    assert 0.55 + 0.45 / 3 == pytest.approx(0.7)


@SETTINGS
@given(p=st.floats(0.0, 1.0), k=st.integers(1, 12))
def test_majority_vote_bounds_bracket_the_independent_vote(p, k):
    """Independent voters are one joint distribution: lo <= majority_vote_accuracy(p, k) <= hi, all in [0, 1]."""
    lo, hi = majority_vote_bounds(p, k)
    ind = brute_force_vote(p, k)
    assert 0.0 <= lo <= ind + 1e-12 and ind - 1e-12 <= hi <= 1.0


# ---------------------------------------------------------------------------------------------
# Bad input: ValueError whose message names the problem
# ---------------------------------------------------------------------------------------------

Z = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])
Y = np.array([2, 0])
P2 = np.array([[0.5, 0.5]])

BAD_INPUTS = [
    pytest.param(softmax_t, (Z,), {"T": 0.0}, "temperature T must be a finite number > 0", id="softmax_t-T=0"),
    pytest.param(softmax_t, (Z,), {"T": -1.0}, "temperature T", id="softmax_t-T<0"),
    pytest.param(softmax_t, (Z,), {"T": math.nan}, "temperature T", id="softmax_t-T=nan"),
    pytest.param(softmax_t, (Z,), {"T": math.inf}, "temperature T", id="softmax_t-T=inf"),
    pytest.param(softmax_t, (np.float64(1.0),), {}, "class axis", id="softmax_t-scalar"),
    pytest.param(log_softmax_t, (Z,), {"T": 0.0}, "temperature T", id="log_softmax_t-T=0"),
    pytest.param(log_softmax_t, (Z,), {"T": math.nan}, "temperature T", id="log_softmax_t-T=nan"),
    pytest.param(log_softmax_t, (3.0,), {}, "class axis", id="log_softmax_t-scalar"),
    pytest.param(softmax_t, (np.zeros((2, 0)),), {}, "C >= 1", id="softmax_t-no-classes"),
    pytest.param(log_softmax_t, (np.zeros((2, 0)),), {}, "C >= 1", id="log_softmax_t-no-classes"),
    pytest.param(kl_divergence, (P2, np.array([[0.2, 0.3, 0.5]])), {}, "same shape", id="kl-shape"),
    pytest.param(js_divergence, (P2, np.array([0.5, 0.5])), {}, "same shape", id="js-shape"),
    pytest.param(cross_entropy, (Z, np.array([0, 1, 2])), {}, r"expected logits \(N, C\)", id="ce-shape"),
    pytest.param(cross_entropy, (Z[0], np.array([0])), {}, r"expected logits \(N, C\)", id="ce-1d-logits"),
    pytest.param(cross_entropy, (Z, np.array([0, 3])), {}, r"labels must be integers in \[0, 3\)", id="ce-label=C"),
    pytest.param(cross_entropy, (Z, np.array([-1, 0])), {}, r"labels must be integers in \[0, 3\)", id="ce-label<0"),
    pytest.param(cross_entropy, (Z, np.array([0.0, 1.0])), {}, "labels must be integers", id="ce-float-labels"),
    pytest.param(cross_entropy, (np.zeros((0, 3)), np.zeros(0, dtype=int)), {}, "empty batch", id="ce-empty"),
    pytest.param(kd_loss, (Z, Z, Y), {"alpha": 1.5}, r"alpha must lie in \[0, 1\]", id="kd-alpha=1.5"),
    pytest.param(kd_loss, (Z, Z, Y), {"alpha": -0.1}, r"alpha must lie in \[0, 1\]", id="kd-alpha<0"),
    pytest.param(kd_loss, (Z, Z, Y), {"alpha": math.nan}, r"alpha must lie in \[0, 1\]", id="kd-alpha=nan"),
    pytest.param(kd_loss, (Z, Z, Y), {"T": 0.0}, "temperature T", id="kd-T=0"),
    pytest.param(kd_loss, (Z, Z, Y), {"T": -2.0}, "temperature T", id="kd-T<0"),
    pytest.param(kd_loss, (Z, Z, Y), {"T": math.nan}, "temperature T", id="kd-T=nan"),
    pytest.param(kd_loss, (Z, Z[:, :2], Y), {}, "same shape", id="kd-shape"),
    pytest.param(kd_loss, (Z, Z, np.array([0, 5])), {}, "labels must be integers", id="kd-label-range"),
    pytest.param(kd_loss, (Z, Z, np.array([0])), {}, r"labels \(N,\)", id="kd-label-shape"),
    pytest.param(hard_label_kd_loss, (Z, Z, Y), {"alpha": 1.5}, r"alpha must lie in \[0, 1\]", id="hard-alpha=1.5"),
    pytest.param(hard_label_kd_loss, (Z, Z[:1], Y), {}, "same shape", id="hard-shape"),
    pytest.param(hard_label_kd_loss, (Z, Z, np.array([3, 0])), {}, "labels must be integers", id="hard-label-range"),
    pytest.param(label_loyalty, (Z, Z[:1]), {}, "one shape", id="label_loyalty-shape"),
    pytest.param(label_loyalty, (np.zeros((0, 3)), np.zeros((0, 3))), {}, "non-empty", id="label_loyalty-empty"),
    pytest.param(probability_loyalty, (P2, P2[0]), {}, "one shape", id="prob_loyalty-shape"),
    pytest.param(probability_loyalty, (np.zeros((0, 2)), np.zeros((0, 2))), {}, "non-empty", id="prob_loyalty-empty"),
    pytest.param(majority_vote_accuracy, (0.7, 0), {}, "k must be an integer in \\[1, 1000\\]", id="vote-k=0"),
    pytest.param(majority_vote_accuracy, (0.7, -3), {}, "k must be an integer in \\[1, 1000\\]", id="vote-k<0"),
    pytest.param(majority_vote_accuracy, (0.7, 2.5), {}, "k must be an integer in \\[1, 1000\\]", id="vote-k=2.5"),
    pytest.param(majority_vote_accuracy, (0.7, 3.0), {}, "k must be an integer in \\[1, 1000\\]", id="vote-k=3.0"),
    pytest.param(majority_vote_accuracy, (0.7, 1001), {}, "k must be an integer in \\[1, 1000\\]", id="vote-k=1001"),
    pytest.param(majority_vote_accuracy, (0.7, True), {}, "k must be an integer in \\[1, 1000\\]", id="vote-k=True"),
    pytest.param(majority_vote_accuracy, (-0.1, 3), {}, r"p must lie in \[0, 1\]", id="vote-p=-0.1"),
    pytest.param(majority_vote_accuracy, (1.1, 3), {}, r"p must lie in \[0, 1\]", id="vote-p=1.1"),
    pytest.param(majority_vote_accuracy, (math.nan, 3), {}, r"p must lie in \[0, 1\]", id="vote-p=nan"),
    pytest.param(majority_vote_bounds, (0.7, 0), {}, "k must be an integer in \\[1, 1000\\]", id="bounds-k=0"),
    pytest.param(majority_vote_bounds, (0.7, 3.0), {}, "k must be an integer in \\[1, 1000\\]", id="bounds-k=3.0"),
    pytest.param(majority_vote_bounds, (0.7, True), {}, "k must be an integer in \\[1, 1000\\]", id="bounds-k=True"),
    pytest.param(majority_vote_bounds, (1.1, 3), {}, r"p must lie in \[0, 1\]", id="bounds-p=1.1"),
    pytest.param(majority_vote_bounds, (math.nan, 3), {}, r"p must lie in \[0, 1\]", id="bounds-p=nan"),
]


@pytest.mark.parametrize("fn, args, kwargs, message", BAD_INPUTS)
def test_bad_input_raises_value_error(fn, args, kwargs, message):
    """Invalid arguments should raise ValueError with a message that names the problem."""
    with pytest.raises(ValueError, match=message):
        fn(*args, **kwargs)
