"""Lab 2 checks: hints, attention transfer, relational KD, mutual learning, ensembles, EMA, self-distillation.

Each check's docstring (first paragraph) is the property the student reads when it fails. Each
exercise has an agreement check against the hidden reference plus invariants of the topic —
scale, rotation and channel-count invariance, closed forms worked out by hand, the extremes of
a weight — most of them public. Inputs are small (at most 4 samples, 4 classes, 3x3 maps) and
drawn from one-decimal values, so a shrunk counterexample fits on a line; some sizes (hint batch,
channels, parameter vectors) are sometimes larger (S.sizes), and the scale invariances include a scale of 1e-20,
where an epsilon added to a norm or a sum shows (issue 19).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab02_distillation_ii.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import as_array, as_float, assert_close, assert_stable, fmt, raises_value_error, require, require_value_error, row_max_zero
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
# The lab's exercises, in the notebook's order: each is graded against the reference function of its name.
EXERCISES = registry.exercises("reference_impl.distillation_ii", [
    "hint_loss", "attention_map", "attention_transfer_loss", "rkd_distance_loss", "rkd_angle_loss",
    "dml_losses", "ensemble_soft_targets", "ema_update", "self_distillation_loss"
])

LARGE = 1e4  # logits this large overflow exp() unless the row maximum is subtracted first

# One-decimal values in [-3, 3]: readable counterexamples, and no subnormal or huge numbers.
VALUES = st.integers(-30, 30).map(lambda v: v / 10)


def _arr(shape):
    return hnp.arrays(np.float64, shape, elements=VALUES)




def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Log-softmax by np.logaddexp, written independently of the reference."""
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


def _ce(z: np.ndarray, y: np.ndarray) -> float:
    return float(-_log_softmax(z)[np.arange(len(y)), y].mean())


def _kl(z_p: np.ndarray, z_q: np.ndarray) -> float:
    """Batch-mean KL(softmax(z_p) || softmax(z_q)) from logits."""
    lp, lq = _log_softmax(z_p), _log_softmax(z_q)
    return float((np.exp(lp) * (lp - lq)).sum(axis=-1).mean())


def _huber(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, 0.5 * x**2, x - 0.5)


# --- strategies ---------------------------------------------------------------------------------
@st.composite
def hint_batches(draw):
    """(teacher u (N, D_t), student v (N, D_s), W (D_s, D_t), b (D_t,)); N is sometimes up to 12 (batch_mean calls
    the function once per sample, so not 40)."""
    n, dt, ds = draw(S.sizes(1, 4, large=12)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return draw(_arr((n, dt))), draw(_arr((n, ds))), draw(_arr((ds, dt))), draw(_arr((dt,)))


@st.composite
def feature_maps(draw, max_side: int = 3):
    """A (N, C, H, W) map; C is sometimes up to 12."""
    shape = (draw(st.integers(1, 3)), draw(S.sizes(1, 3, large=12)), draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    return draw(_arr(shape))


@st.composite
def map_pairs(draw):
    """Student (N, C_s, H, W) and teacher (N, C_t, H, W) maps: channel counts may differ."""
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return draw(_arr((n, draw(st.integers(1, 3)), h, w))), draw(_arr((n, draw(st.integers(1, 3)), h, w)))


def _apart(e: np.ndarray) -> bool:
    d = np.linalg.norm(e[:, None] - e[None], axis=-1) + np.eye(len(e))
    return bool(d.min() > 0.05)


@st.composite
def embedding_pairs(draw, min_n: int = 2, outlier: bool = False):
    """Student (N, D_s) and teacher (N, D_t) embeddings, points pairwise apart; ``outlier`` moves one far away."""
    n = draw(st.integers(min_n, 4))
    s = draw(_arr((n, draw(st.integers(1, 3)))).filter(_apart))
    t = draw(_arr((n, draw(st.integers(1, 3)))).filter(_apart))
    if outlier:
        s = s.copy()
        s[draw(st.integers(0, n - 1))] *= 30.0
    return s, t


@st.composite
def cohorts(draw, min_k: int = 1, max_k: int = 4, bound: float = 10.0):
    """(logits (K, N, C), labels (N,) int64).

    Not drawn larger (S.sizes): no mistake we know of in DML, ensembles or self-distillation depends on the number
    of classes, and small cohorts keep their counterexamples readable."""
    k, n, c = draw(st.integers(min_k, max_k)), draw(st.integers(1, 3)), draw(st.integers(2, 4))
    z = draw(hnp.arrays(np.float64, (k, n, c), elements=st.integers(int(-10 * bound), int(10 * bound)).map(lambda v: v / 10)))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return z, y


def _signed_permutation(d: int, perm, signs) -> np.ndarray:
    """An orthogonal matrix: a permutation of the axes with sign flips."""
    Q = np.zeros((d, d))
    Q[np.arange(d), list(perm)] = signs
    return Q


@st.composite
def similarity_transforms(draw, d: int):
    """(scale c > 0, orthogonal Q (d, d), shift (d,)) with Q a signed permutation."""
    perm = draw(st.permutations(range(d)))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d))
    return draw(st.sampled_from([0.5, 2.0, 10.0])), _signed_permutation(d, perm, signs), draw(_arr((d,)))


@st.composite
def transformed_pairs(draw, min_n: int = 2):
    """``embedding_pairs`` and a similarity transform of the teacher's space, (s, t, (c, Q, shift)) with Q of
    size D_t: a counterexample can shrink to one dimension (7 numbers), not to a 3 x 3 matrix."""
    s, t = draw(embedding_pairs(min_n))
    return s, t, draw(similarity_transforms(t.shape[1]))


def _pad(e: np.ndarray, d: int = 3) -> np.ndarray:
    return np.hstack([e, np.zeros((e.shape[0], d - e.shape[1]))])


# --- hint_loss ----------------------------------------------------------------------------------
@check("hint_loss", public=True, batch=hint_batches())
def zero_for_exact_regression(student, ref, batch):
    """hint_loss should be 0 when the regressor maps the student's features exactly onto the teacher's (u = v W + b)."""
    _, v, W, b = batch
    assert_close(student(v @ W + b, v, W, b), 0.0, "hint_loss(v W + b, v, W, b)", atol=1e-12)


@check("hint_loss", public=True, d=_arr((1, 3)).filter(lambda a: bool(np.any(a))))
def half_squared_norm(student, ref, d):
    """With W = I and no bias, hint_loss on one sample should be 1/2 ||u - v||^2 (the factor 1/2, summed over features)."""
    v = np.zeros_like(d)
    assert_close(student(d, v, np.eye(3), None), 0.5 * float((d**2).sum()), f"hint_loss(u={fmt(d)}, v=0, W=I)")


@check("hint_loss", public=True, batch=hint_batches().filter(lambda b: b[0].shape[0] > 1))
def batch_mean(student, ref, batch):
    """hint_loss of a batch should be the mean of the per-sample losses (mean over samples, not sum)."""
    u, v, W, b = batch
    whole = as_float(student(u, v, W, b), "hint_loss(u, v, W, b)")
    rows = [as_float(student(u[i:i + 1], v[i:i + 1], W, b), f"hint_loss on sample {i}") for i in range(len(u))]
    assert_close(whole, float(np.mean(rows)), "hint_loss of the batch compared with the mean over its samples")


@check("hint_loss", public=True, batch=hint_batches())
def rejects_mismatched_regressor(student, ref, batch):
    """hint_loss should raise ValueError when W does not map D_s student features to D_t teacher features."""
    u, v, W, b = batch
    bad_W = np.zeros((W.shape[0] + 1, W.shape[1]))
    raises_value_error(student, f"hint_loss with student features {v.shape} and W of shape {bad_W.shape}", u, v, bad_W, b)


# --- attention_map ------------------------------------------------------------------------------
P_VALUES = st.sampled_from([1.0, 2.0, 3.0, 0.5])


@check("attention_map", public=True, f=feature_maps().filter(lambda f: bool(np.all(np.abs(f).sum(axis=(1, 2, 3)) > 0))),
       p=P_VALUES)
def unit_norm_rows(student, ref, f, p):
    """attention_map should return an (N, H*W) array of non-negative rows with L2 norm 1."""
    n, _, h, w = f.shape
    a = as_array(student(f, p), "attention_map(features, p)", shape=(n, h * w))
    require(bool(np.all(a >= 0)), f"attention maps are non-negative (means of |f|^p), got {fmt(a)}")
    assert_close(np.linalg.norm(a, axis=1), np.ones(n), "row norms of attention_map(features, p)")


@check("attention_map", public=True, f=feature_maps(), c=st.sampled_from([0.1, 3.0, -2.0, 1e-20]), p=P_VALUES)
def scale_sign_and_channel_invariant(student, ref, f, c, p):
    """attention_map should not change when the features are scaled by c (even c < 0: it uses |f|; even c = 1e-20: only an all-zero map gives zeros, so no epsilon in the norm) or their channels are repeated."""
    a = as_array(student(f, p), "attention_map(f, p)", shape=(f.shape[0], f.shape[2] * f.shape[3]))
    assert_close(student(c * f, p), a, f"attention_map({c} * f, p) compared with attention_map(f, p)", atol=1e-12)
    assert_close(student(np.concatenate([f, f, f], axis=1), p), a,
                 "attention_map of f with every channel repeated 3 times compared with attention_map(f, p)", atol=1e-12)


@check("attention_map", public=True, n=st.integers(1, 3), h=st.integers(1, 3), w=st.integers(1, 3))
def zero_map_gives_zeros(student, ref, n, h, w):
    """A feature map that is 0 everywhere has no direction: attention_map should return zeros (not nan)."""
    assert_close(student(np.zeros((n, 2, h, w)), 2.0), np.zeros((n, h * w)), "attention_map of an all-zero map", atol=0)


@check("attention_map", public=True, pos=st.tuples(st.integers(0, 2), st.integers(0, 1)), p=P_VALUES)
def one_hot_position(student, ref, pos, p):
    """A map active at a single position (row i, column j) should give a one-hot attention map at index i*W + j (row-major)."""
    f = np.zeros((1, 2, 3, 2))
    f[0, 1, pos[0], pos[1]] = -1.5
    expected = np.zeros((1, 6))
    expected[0, pos[0] * 2 + pos[1]] = 1.0
    assert_close(student(f, p), expected, f"attention_map of a (1, 2, 3, 2) map active only at {pos}", atol=1e-12)


@check("attention_map", public=True, bad=st.sampled_from(["3-D", "p=0", "p=-1", "p=nan"]))
def attention_map__rejects_bad_input(student, ref, bad):
    """attention_map should raise ValueError for features that are not (N, C, H, W) or p that is not a finite number > 0."""
    f, p = (np.ones((1, 2, 2)), 2.0) if bad == "3-D" else (np.ones((1, 1, 2, 2)), float(bad[2:]))
    raises_value_error(student, f"attention_map with {bad}", f, p)


# --- attention_transfer_loss --------------------------------------------------------------------
@check("attention_transfer_loss", public=True, f=feature_maps(), c=st.sampled_from([0.5, 4.0, 1e-20]))
def zero_for_same_attention(student, ref, f, c):
    """attention_transfer_loss should be 0 when the student attends like the teacher, even with other channel counts and scales."""
    t = np.concatenate([f, f], axis=1) * c
    assert_close(student(f, t, 2.0), 0.0, "attention_transfer_loss(f, [f, f] * c)", atol=1e-12)


@check("attention_transfer_loss", public=True, i=st.integers(0, 3), j=st.integers(0, 3), n=st.integers(1, 3))
def disjoint_attention_gives_two(student, ref, i, j, n):
    """Student and teacher attending to single different positions give ||e_i - e_j||^2 = 2 per sample (0 if the same)."""
    s, t = np.zeros((n, 1, 2, 2)), np.zeros((n, 3, 2, 2))
    s[:, 0, i // 2, i % 2] = 1.0
    t[:, 2, j // 2, j % 2] = 2.0
    assert_close(student(s, t, 2.0), 0.0 if i == j else 2.0,
                 f"attention_transfer_loss with attention on position {i} vs {j} (batch mean, not sum)", atol=1e-12)


@check("attention_transfer_loss", public=True, fs=map_pairs())
def symmetric_and_bounded(student, ref, fs):
    """attention_transfer_loss should be symmetric in student and teacher and lie in [0, 2] (non-negative unit vectors)."""
    s, t = fs
    a = as_float(student(s, t, 2.0), "attention_transfer_loss(s, t)")
    b = as_float(student(t, s, 2.0), "attention_transfer_loss(t, s)")
    require(-1e-12 <= a <= 2 + 1e-12, f"attention_transfer_loss = {a!r} is outside [0, 2]")
    assert_close(b, a, "attention_transfer_loss(t, s) compared with attention_transfer_loss(s, t)", atol=1e-12)


@check("attention_transfer_loss", public=True, f=feature_maps(max_side=2))
def rejects_spatial_mismatch(student, ref, f):
    """attention_transfer_loss should raise ValueError when the maps' batch or spatial sizes (N, H, W) differ."""
    g = np.ones(f.shape[:3] + (f.shape[3] + 1,))
    raises_value_error(student, f"attention_transfer_loss with shapes {f.shape} and {g.shape}", f, g)


# --- rkd_distance_loss --------------------------------------------------------------------------
@check("rkd_distance_loss", public=True, case=transformed_pairs())
def rkd_distance_loss__invariant_to_similarity_transforms(student, ref, case):
    """rkd_distance_loss should not change when the teacher's embedding is scaled, rotated/reflected and translated."""
    s, t, (c, Q, shift) = case
    a = as_float(student(s, t), "rkd_distance_loss(s, t)")
    assert_close(student(s, c * t @ Q + shift), a, f"rkd_distance_loss(s, {c} * t Q + shift) compared with rkd_distance_loss(s, t)")


@check("rkd_distance_loss", public=True, e=embedding_pairs(), c=st.sampled_from([0.25, 3.0, 1e-20]))
def zero_for_proportional_embeddings(student, ref, e, c):
    """rkd_distance_loss(c * t, t) should be 0: distances divided by their mean ignore the scale, even c = 1e-20 (no epsilon: only a mean distance of exactly 0 is an error), and D_s may differ from D_t."""
    _, t = e
    assert_close(student(c * _pad(t, t.shape[1] + 1), t), 0.0, f"rkd_distance_loss({c} * t padded with a zero column, t)",
                 atol=1e-12)


@check("rkd_distance_loss", public=True, scale=st.sampled_from([1.0, 2.0, 0.1]))
def collinear_against_equilateral(student, ref, scale):
    """Points 0, 1, 2 on a line against an equilateral triangle: normalised gaps 1/4, 1/2, 1/4 give (1/32 + 1/8 + 1/32)/3 = 1/16."""
    s = scale * np.array([[0.0], [1.0], [2.0]])
    t = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    assert_close(student(s, t), 1 / 16, f"rkd_distance_loss({fmt(s)}, equilateral triangle)")


@check("rkd_distance_loss", public=True, n=st.integers(1, 3))
def rejects_degenerate_batches(student, ref, n):
    """rkd_distance_loss should raise ValueError for fewer than 2 samples or when all of one side's embeddings coincide."""
    if n == 1:
        raises_value_error(student, "rkd_distance_loss with one sample", np.ones((1, 2)), np.ones((1, 2)))
    else:
        t = np.arange(2.0 * n).reshape(n, 2)
        raises_value_error(student, f"rkd_distance_loss with {n} identical student embeddings", np.ones((n, 2)), t)


# --- rkd_angle_loss -----------------------------------------------------------------------------
@check("rkd_angle_loss", public=True, case=transformed_pairs(min_n=3))
def rkd_angle_loss__invariant_to_similarity_transforms(student, ref, case):
    """rkd_angle_loss should not change when the teacher's embedding is scaled, rotated/reflected and translated, and be 0 against itself."""
    s, t, (c, Q, shift) = case
    a = as_float(student(s, t), "rkd_angle_loss(s, t)")
    assert_close(student(s, c * t @ Q + shift), a, f"rkd_angle_loss(s, {c} * t Q + shift) compared with rkd_angle_loss(s, t)")
    assert_close(student(c * t @ Q + shift, t), 0.0, "rkd_angle_loss(c * t Q + shift, t)", atol=1e-12)


@check("rkd_angle_loss", public=True, e=embedding_pairs(min_n=3), perm=st.permutations(range(3)))
def permutation_invariant(student, ref, e, perm):
    """Reordering the samples (the same way in student and teacher) should not change rkd_angle_loss."""
    s, t = e
    order = list(perm) + list(range(3, len(s)))
    a = as_float(student(s, t), "rkd_angle_loss(s, t)")
    assert_close(student(s[order], t[order]), a, f"rkd_angle_loss with samples reordered as {order}")


@check("rkd_angle_loss", public=True, h=st.sampled_from([0.5, 1.0, 2.0]))
def right_angle_against_line(student, ref, h):
    """Collinear points 0, 1, 2 against a right isosceles triangle: cosines -1 vs 0 at the middle vertex, 1 vs cos 45 degrees at the ends, averaged over the 6 ordered triples."""
    s = np.array([[0.0], [1.0], [2.0]])  # cosines at vertex 1: -1; at vertices 0 and 2: +1
    t = np.array([[0.0, 0.0], [h, 0.0], [h, h]])  # right angle at vertex 1; 45 degrees at 0 and 2
    c45 = math.sqrt(0.5)
    # ordered triples: vertex 1 (2 triples): gap |-1 - 0| = 1 -> 0.5; vertices 0 and 2 (4 triples): gap 1 - c45 -> x^2/2
    expected = (2 * 0.5 + 4 * 0.5 * (1 - c45) ** 2) / 6
    assert_close(student(s, t), expected, f"rkd_angle_loss(collinear 0, 1, 2; right triangle with legs {h})")


@check("rkd_angle_loss", public=True, n=st.integers(1, 2))
def rejects_fewer_than_three(student, ref, n):
    """rkd_angle_loss should raise ValueError for fewer than 3 samples (an angle needs three points)."""
    e = np.arange(2.0 * n).reshape(n, 2)
    raises_value_error(student, f"rkd_angle_loss with {n} samples", e, e)


# --- dml_losses ---------------------------------------------------------------------------------
@check("dml_losses", public=True, c=cohorts(max_k=1))
def single_student_is_cross_entropy(student, ref, c):
    """A cohort of one has no peers: dml_losses should return [CE(z, y)] (shape (1,))."""
    z, y = c
    assert_close(student(z, y), np.array([_ce(z[0], y)]), "dml_losses of a cohort of one")


@check("dml_losses", public=True, c=cohorts(max_k=1), k=st.integers(2, 4))
def identical_students_get_cross_entropy(student, ref, c, k):
    """When all K students agree exactly, the peer KLs vanish: every loss should be the cross-entropy."""
    z, y = c
    zz = np.repeat(z, k, axis=0)
    assert_close(student(zz, y), np.full(k, _ce(z[0], y)), f"dml_losses of {k} identical students", atol=1e-12)


@check("dml_losses", public=True, c=cohorts(min_k=2), perm=st.permutations(range(4)))
def permuting_students_permutes_losses(student, ref, c, perm):
    """Reordering the students should reorder their losses the same way (each student's loss depends on the others only as a set)."""
    z, y = c
    order = [i for i in perm if i < z.shape[0]]
    a = as_array(student(z, y), "dml_losses(z, y)", shape=(z.shape[0],))
    assert_close(student(z[order], y), a[order], f"dml_losses with students reordered as {order}")


@check("dml_losses", public=True, c=cohorts(min_k=2, bound=1.0).map(lambda c: (np.round(c[0]) * LARGE, c[1])))
def dml_losses__stable_at_large_logits(student, ref, c):
    """dml_losses should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (work with log-softmax)."""
    z, y = c
    got = as_array(student(z, y), "dml_losses(z, y)", shape=(z.shape[0],))
    assert_stable(got, student(row_max_zero(z), y), "dml_losses(z, y)", "exp overflow or log(0)")


# --- ensemble_soft_targets ----------------------------------------------------------------------
WEIGHTS = hnp.arrays(np.float64, 4, elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])).filter(lambda w: w.sum() > 0)


@check("ensemble_soft_targets", public=True, c=cohorts(), T=S.TEMPERATURES)
def rows_sum_to_one(student, ref, c, T):
    """ensemble_soft_targets should return an (N, C) array of probabilities whose rows sum to 1."""
    z, _ = c
    p = as_array(student(z, T, None), "ensemble_soft_targets(z, T)", shape=z.shape[1:])
    require(bool(np.all((p >= 0) & (p <= 1))), f"probabilities must lie in [0, 1], got {fmt(p)}")
    assert_close(p.sum(axis=-1), np.ones(z.shape[1]), "row sums of ensemble_soft_targets(z, T)", atol=1e-9)


@check("ensemble_soft_targets", public=True, c=cohorts(max_k=1), T=S.TEMPERATURES)
def one_teacher_is_its_softmax(student, ref, c, T):
    """With a single teacher, ensemble_soft_targets(z, T) should be that teacher's softmax(z / T)."""
    z, _ = c
    assert_close(student(z, T, None), np.exp(_log_softmax(z[0] / T)), "ensemble_soft_targets of one teacher")


@check("ensemble_soft_targets", public=True, a=st.integers(0, 2), b=st.integers(0, 2), n=st.integers(1, 3))
def averages_probabilities_not_logits(student, ref, a, b, n):
    """Two certain teachers (logit 1e4 on class a, 2e4 on class b) should give 1/2 on each class: average probabilities, not logits."""
    z = np.zeros((2, n, 3))
    z[0, :, a] = LARGE
    z[1, :, b] = 2 * LARGE
    expected = np.zeros((n, 3))
    expected[:, a] += 0.5
    expected[:, b] += 0.5
    assert_close(student(z, 1.0, None), expected, f"ensemble_soft_targets of teachers sure of class {a} and of class {b}",
                 atol=1e-12)


@check("ensemble_soft_targets", public=True, c=cohorts(min_k=2), T=S.TEMPERATURES, pick=st.integers(0, 3),
       scale=st.sampled_from([0.5, 3.0, 1e-20]))
def weights_select_and_normalise(student, ref, c, T, pick, scale):
    """A weight vector that is 0 except for teacher m should return teacher m's softmax, whatever the weight's size (1e-20 too: divide by the sum, no epsilon)."""
    z, _ = c
    m = pick % z.shape[0]
    w = np.zeros(z.shape[0])
    w[m] = scale
    assert_close(student(z, T, w), np.exp(_log_softmax(z[m] / T)), f"ensemble_soft_targets with weights {fmt(w)}")


@check("ensemble_soft_targets", public=True, c=cohorts(min_k=2, bound=1.0).map(lambda c: (np.round(c[0]) * LARGE, c[1])))
def ensemble_soft_targets__stable_at_large_logits(student, ref, c):
    """ensemble_soft_targets should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (subtract each row's own maximum)."""
    z, _ = c
    got = as_array(student(z, 1.0, None), "ensemble_soft_targets(z, 1.0)", shape=z.shape[1:])
    assert_stable(got, student(row_max_zero(z), 1.0, None), "ensemble_soft_targets(z, 1.0)", "exp overflow or 0/0")


@check("ensemble_soft_targets", public=True, bad=st.sampled_from(["T=0", "T=-1", "negative weight", "zero weights", "2 weights"]))
def ensemble_soft_targets__rejects_bad_input(student, ref, bad):
    """ensemble_soft_targets should raise ValueError for T <= 0, or weights with a negative entry, a zero sum or the wrong length."""
    z = np.zeros((3, 2, 4))
    T, w = {"T=0": (0.0, None), "T=-1": (-1.0, None), "negative weight": (1.0, np.array([1.0, -0.5, 1.0])),
            "zero weights": (1.0, np.zeros(3)), "2 weights": (1.0, np.ones(2))}[bad]
    raises_value_error(student, f"ensemble_soft_targets(3 teachers, {bad})", z, T, w)


# --- ema_update ---------------------------------------------------------------------------------
@st.composite
def param_pairs(draw):
    """Two parameter arrays of one shape, any rank 1..3: the first side is sometimes up to 40 (at most 360 numbers)."""
    shape = (draw(S.sizes(1, 3)),) + draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    return draw(_arr(shape)), draw(_arr(shape))


@check("ema_update", public=True, ts=param_pairs())
def extremes(student, ref, ts):
    """momentum = 1 should keep the teacher unchanged; momentum = 0 should copy the student."""
    t, s = ts
    assert_close(student(t, s, 1.0), t, "ema_update(teacher, student, momentum=1)", atol=0)
    assert_close(student(t, s, 0.0), s, "ema_update(teacher, student, momentum=0)", atol=0)


@check("ema_update", public=True, ts=param_pairs(), m=st.sampled_from([0.5, 0.9, 0.99]), k=st.integers(1, 5))
def gap_shrinks_by_momentum(student, ref, ts, m, k):
    """After k updates towards a fixed student, the teacher-student gap should be m^k times the initial gap."""
    t, s = ts
    out = t
    for _ in range(k):
        out = as_array(student(out, s, m), "ema_update(teacher, student, m)", shape=t.shape)
    assert_close(out - s, m**k * (t - s), f"teacher - student after {k} updates with momentum {m}", atol=1e-9)


@check("ema_update", public=True, bad=st.sampled_from([-0.1, 1.5, "shape"]))
def ema_update__rejects_bad_input(student, ref, bad):
    """ema_update should raise ValueError for a momentum outside [0, 1] or parameters of different shapes."""
    if bad == "shape":
        raises_value_error(student, "ema_update with shapes (2,) and (3,)", np.zeros(2), np.zeros(3), 0.5)
    else:
        raises_value_error(student, f"ema_update with momentum {bad}", np.zeros(2), np.ones(2), bad)


# --- self_distillation_loss ---------------------------------------------------------------------
@st.composite
def exits(draw, min_e: int = 1, max_e: int = 3):
    """(exit_logits (E, N, C), exit_features (E, N, D), labels (N,))."""
    z, y = draw(cohorts(min_k=min_e, max_k=max_e))
    F = draw(_arr(z.shape[:2] + (draw(st.integers(1, 3)),)))
    return z, F, y


@check("self_distillation_loss", public=True, b=exits(max_e=1), T=S.TEMPERATURES, alpha=S.ALPHAS)
def one_exit_is_cross_entropy(student, ref, b, T, alpha):
    """With a single exit there is nothing to distil: self_distillation_loss should be CE(z, y)."""
    z, F, y = b
    assert_close(student(z, F, y, T, alpha, 1.0), _ce(z[0], y), "self_distillation_loss with one exit")


@check("self_distillation_loss", public=True, b=exits(min_e=2), lam=st.sampled_from([0.0, 0.5, 2.0]))
def alpha_zero_is_labels_plus_hint(student, ref, b, lam):
    """With alpha = 0: every exit's CE plus lam * sum over shallow exits of the batch-mean ||F_i - F_E||^2 (no KL)."""
    z, F, y = b
    hint = sum(float(((F[i] - F[-1]) ** 2).sum(axis=-1).mean()) for i in range(len(z) - 1))
    expected = sum(_ce(zi, y) for zi in z) + lam * hint
    assert_close(student(z, F, y, 2.0, 0.0, lam), expected, f"self_distillation_loss(..., alpha=0, lam={lam})")


@check("self_distillation_loss", public=True, b=exits(max_e=1), k=st.integers(2, 3), alpha=S.ALPHAS)
def copies_of_the_deepest_exit(student, ref, b, k, alpha):
    """When every exit equals the deepest (logits and features), KL and hint vanish: the loss is (1 + (E-1)(1-alpha)) CE."""
    z, F, y = b
    zz, FF = np.repeat(z, k, axis=0), np.repeat(F, k, axis=0)
    assert_close(student(zz, FF, y, 3.0, alpha, 1.0), (1 + (k - 1) * (1 - alpha)) * _ce(z[0], y),
                 f"self_distillation_loss of {k} identical exits", atol=1e-12)


@check("self_distillation_loss", public=True, b=exits(min_e=2).map(lambda b: (np.round(b[0] / 10) * LARGE, b[1], b[2])),
       T=st.sampled_from([1.0, 2.0]))
def self_distillation_loss__stable_at_large_logits(student, ref, b, T):
    """self_distillation_loss should stay finite for logits as large as +-1e4, equal to its value with each row's maximum shifted to 0 (log-softmax with each row's own maximum)."""
    z, F, y = b
    got = as_float(student(z, F, y, T, 0.5, 0.1), "self_distillation_loss with large logits")
    assert_stable(got, student(row_max_zero(z), F, y, T, 0.5, 0.1), "self_distillation_loss(..., alpha=0.5, lam=0.1)",
                  "exp overflow or log(0)")


@check("self_distillation_loss", public=True, bad=st.sampled_from(["alpha=1.5", "alpha=-0.1", "T=0", "lam=-1", "features"]))
def self_distillation_loss__rejects_bad_input(student, ref, bad):
    """self_distillation_loss should raise ValueError for T <= 0, alpha outside [0, 1], lam < 0, or features of another (E, N)."""
    z, F, y = np.zeros((2, 3, 4)), np.zeros((2, 3, 5)), np.array([0, 1, 2])
    args = {"alpha=1.5": (z, F, y, 3.0, 1.5, 0.1), "alpha=-0.1": (z, F, y, 3.0, -0.1, 0.1), "T=0": (z, F, y, 0.0, 0.3, 0.1),
            "lam=-1": (z, F, y, 3.0, 0.3, -1.0), "features": (z, np.zeros((2, 2, 5)), y, 3.0, 0.3, 0.1)}[bad]
    raises_value_error(student, f"self_distillation_loss with {bad}", *args)


# --- documented errors (each ValueError in a docstring's Raises: section has a rejects_* check) ------------------
@check("dml_losses", public=True, bad=st.sampled_from([
    (np.zeros((2, 2, 3)), np.array([0, 3])), (np.zeros((2, 2, 3)), np.array([-1, 0])),
    (np.zeros((2, 2, 3)), np.array([0, 1, 2])), (np.zeros((2, 3)), np.array([0, 1]))]))
def dml_losses__rejects_bad_input(student, ref, bad):
    """dml_losses should raise ValueError for cohort logits that are not (K, N, C) or labels outside [0, C) or not (N,)."""
    require_value_error(student, *bad)
