"""Lab 10 checks: depthwise-separable blocks (forward and cost), the local block loss, the acceptance
rule, worst-fit-decreasing schedules and their makespan, speed-up / efficiency / greenup, the MSE
logit loss, the early-stopped KD weight and time-to-target.

Each check's docstring (first paragraph) is the property the student reads when it fails. The
invariants are public: they need no reference, because every quantity has a closed form or a brute
force computed here (a direct loop over output pixels for the convolution, the greedy rules replayed
step by step, exhaustive search over schedules for Graham's bound). Sums that a greedy rule compares
with a budget are drawn on a dyadic grid (multiples of 1/64), so every order of summation is exact
and no correct implementation can land on the other side of a tie.

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab10_blockwise.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import as_array, as_float, as_tuple, assert_close, fmt, raises_value_error, require
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
EXERCISES = registry.exercises("reference_impl.blockwise", [
    "depthwise_separable_conv", "separable_cost", "block_loss", "replacement_plan", "wfd_schedule", "makespan",
    "parallel_metrics", "mse_logit_loss", "kd_weight_schedule", "time_to_target",
])

ELEMENTS = st.one_of(st.integers(-4, 4).map(float),
                     st.floats(-5, 5, allow_nan=False, allow_infinity=False, allow_subnormal=False))
ORDERS = st.sampled_from(["bottom_up", "top_down"])
DECAYS = st.sampled_from(["step", "linear"])


# --- helpers --------------------------------------------------------------------------------------


def _int_codes(got, what: str, shape) -> np.ndarray:
    """The student's integer array (integers, or floats holding whole numbers) as int64."""
    g = as_array(got, what, shape=shape)
    require(bool(np.all(g == np.round(g))), f"{what} should hold integers, got {fmt(got)}")
    return g.astype(np.int64)




# --- depthwise_separable_conv ---------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    """(x, K_dw, K_pw, padding): a batch or a single image, images up to 8 x 8, kernels 1 x 1 to 3 x 3."""
    c, c_out, k, p = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 3])), \
        draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, k - 2 * p), 8)), draw(st.integers(max(1, k - 2 * p), 8))
    shape = (draw(st.integers(1, 2)), c, h, w) if draw(st.booleans()) else (c, h, w)
    x = draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))
    return x, draw(hnp.arrays(np.float64, (c, k, k), elements=ELEMENTS)), \
        draw(hnp.arrays(np.float64, (c_out, c), elements=ELEMENTS)), p


def _dense_conv_loop(x, K_dw, K_pw, p):
    """The dense conv with K[o, c] = K_pw[o, c] K_dw[c], one output pixel at a time."""
    batch = x if x.ndim == 4 else x[None]
    N, C, H, W = batch.shape
    k = K_dw.shape[1]
    K = K_pw[:, :, None, None] * K_dw[None]  # (C_out, C, k, k)
    xp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    xp[:, :, p:p + H, p:p + W] = batch
    Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
    y = np.zeros((N, K.shape[0], Ho, Wo))
    for n, o, i, j in itertools.product(range(N), range(K.shape[0]), range(Ho), range(Wo)):
        y[n, o, i, j] = np.sum(K[o] * xp[n, :, i:i + k, j:j + k])
    return y if x.ndim == 4 else y[0]


def _conv_desc(case) -> str:
    x, K_dw, K_pw, p = case
    return f"depthwise_separable_conv(x of shape {x.shape}, K_dw of shape {K_dw.shape}, K_pw of shape {K_pw.shape}, " \
           f"padding={p})"


@check("depthwise_separable_conv", public=True, case=conv_cases())
def equals_dense_conv_with_product_kernel(student, ref, case):
    """The output should equal the dense convolution (cross-correlation, stride 1, zero padding p) with the kernel K[o, c] = K_pw[o, c] K_dw[c], of shape (C_out, H + 2p - k + 1, W + 2p - k + 1) (with a leading N for a batch)."""
    assert_close(student(*case), _dense_conv_loop(*case), _conv_desc(case), atol=1e-9)


@check("depthwise_separable_conv", public=True, c=st.integers(1, 3), j=st.integers(0, 7), p=st.integers(0, 1))
def identity_kernels_copy_the_image(student, ref, c, j, p):
    """With a 1 x 1 depthwise kernel of ones and the identity as pointwise weights, the output should be the input (padding p adds a border of zeros)."""
    x = np.arange(c * 8 * 8, dtype=np.float64).reshape(c, 8, 8) - j
    got = student(x, np.ones((c, 1, 1)), np.eye(c), p)
    expected = np.pad(x, ((0, 0), (p, p), (p, p)))
    assert_close(got, expected, f"depthwise_separable_conv(x of shape {x.shape}, ones((c, 1, 1)), eye({c}), padding={p})")


@check("depthwise_separable_conv", public=True, bad=st.sampled_from([
    ("x of shape (3, 4)", np.zeros((3, 4)), np.zeros((3, 1, 1)), np.zeros((2, 3)), 0),
    ("K_dw with the wrong channel count", np.zeros((3, 4, 4)), np.zeros((2, 1, 1)), np.zeros((2, 3)), 0),
    ("a non-square K_dw", np.zeros((3, 4, 4)), np.zeros((3, 3, 1)), np.zeros((2, 3)), 0),
    ("K_pw of shape (2, 2) for 3 channels", np.zeros((3, 4, 4)), np.zeros((3, 1, 1)), np.zeros((2, 2)), 0),
    ("an empty x", np.zeros((0, 3, 4, 4)), np.zeros((3, 1, 1)), np.zeros((2, 3)), 0),
    ("a NaN in x", np.full((1, 3, 3), np.nan), np.zeros((1, 1, 1)), np.zeros((1, 1)), 0),
    ("an inf in K_pw", np.zeros((1, 3, 3)), np.zeros((1, 1, 1)), np.full((1, 1), np.inf), 0),
    ("padding -1", np.zeros((1, 3, 3)), np.zeros((1, 1, 1)), np.zeros((1, 1)), -1),
    ("padding 0.5", np.zeros((1, 3, 3)), np.zeros((1, 1, 1)), np.zeros((1, 1)), 0.5),
    ("a 5 x 5 kernel on a 2 x 2 image", np.zeros((1, 2, 2)), np.zeros((1, 5, 5)), np.zeros((1, 1)), 1),
]))
def depthwise_separable_conv__rejects_bad_input(student, ref, bad):
    """depthwise_separable_conv should raise ValueError for x not 3-D or 4-D, kernels of the wrong shape, empty or non-finite arrays, a padding that is not an integer >= 0, or a kernel larger than the padded image."""
    what, *args = bad
    raises_value_error(student, f"depthwise_separable_conv with {what}", *args)


# --- separable_cost -------------------------------------------------------------------------------
SIZES = st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 7), st.integers(1, 32), st.integers(1, 32))


def _costs(student, sizes) -> tuple:
    got = as_tuple(student(*sizes), 4, f"separable_cost{sizes}")
    out = []
    for name, v in zip(("dense_params", "separable_params", "dense_macs", "separable_macs"), got):
        value = as_float(v, f"separable_cost{sizes}: {name}")
        require(value.is_integer(), f"separable_cost{sizes}: {name} should be an integer, got {fmt(v)}")
        out.append(int(value))
    return tuple(out)


@check("separable_cost", public=True, sizes=SIZES)
def separable_cost__closed_form(student, ref, sizes):
    """Dense: c_out c_in k^2 weights and H W c_out c_in k^2 MACs; separable: c_in k^2 + c_out c_in weights and H W times that in MACs."""
    c_in, c_out, k, H, W = sizes
    expected = (c_out * c_in * k * k, c_in * k * k + c_out * c_in, H * W * c_out * c_in * k * k,
                H * W * (c_in * k * k + c_out * c_in))
    got = _costs(student, sizes)
    require(got == expected, f"separable_cost{sizes}\n  expected: {expected}\n  got:      {got}")


@check("separable_cost", public=True, c_in=st.integers(1, 64), c_out=st.integers(1, 64), k=st.integers(1, 7))
def cost_ratio_is_one_over_c_out_plus_one_over_k2(student, ref, c_in, c_out, k):
    """The separable block's MACs should be the fraction 1/c_out + 1/k^2 of the dense conv's (Howard et al. 2017, eq. 5), for any image size."""
    for H, W in ((1, 1), (8, 8), (3, 5)):
        dense_p, sep_p, dense_m, sep_m = _costs(student, (c_in, c_out, k, H, W))
        assert_close(sep_m / dense_m, 1 / c_out + 1 / k**2, f"separable_cost({c_in}, {c_out}, {k}, {H}, {W}): "
                     "separable_macs / dense_macs")


@check("separable_cost", public=True, bad=st.sampled_from([
    (0, 8, 3, 8, 8), (4, -1, 3, 8, 8), (4, 8, 0, 8, 8), (4, 8, 3, 0, 8), (4, 8, 3, 8, -2), (4, 8, 3.0, 8, 8),
    (True, 8, 3, 8, 8)]))
def separable_cost__rejects_bad_input(student, ref, bad):
    """separable_cost should raise ValueError when a size is not a positive integer (0, negative, a float or a bool)."""
    raises_value_error(student, f"separable_cost{fmt(bad)}", *bad)


# --- block_loss -----------------------------------------------------------------------------------
@st.composite
def output_pairs(draw):
    shapes = st.sampled_from([(1,), (7,), (2, 3), (3, 2, 2), (2, 2, 2, 2)])
    shape = draw(st.one_of(shapes, S.sizes(8, 8).map(lambda n: (n,))))  # and vectors of 8, sometimes up to 40
    return draw(hnp.arrays(np.float64, shape, elements=ELEMENTS)), draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))


def _loss_and_grad(student, what, *args, shape):
    L, grad = as_tuple(student(*args), 2, what)
    return as_float(L, what + "[0], the loss"), as_array(grad, what + "[1], the gradient", shape=shape)


def _same_loss_and_grad(student, name: str, a, b, expected) -> None:
    """The student's (loss, gradient) at (a, b) against ``expected`` = (loss, gradient)."""
    L, grad = _loss_and_grad(student, f"{name}(a, b)", a, b, shape=a.shape)
    r_L, r_grad = expected
    assert_close(L, r_L, f"{name}({fmt(a)}, {fmt(b)})[0]", atol=1e-12)
    assert_close(grad, r_grad, f"{name}({fmt(a)}, {fmt(b)})[1]", atol=1e-12)


@check("block_loss", public=True, pair=output_pairs())
def mean_squared_error_and_gradient(student, ref, pair):
    """The loss should be the mean of (s - t)^2 over all n entries and the gradient 2 (s - t) / n."""
    s, t = pair
    n = s.size
    mean_sq = sum((a - b) ** 2 for a, b in zip(s.ravel().tolist(), t.ravel().tolist())) / n
    _same_loss_and_grad(student, "block_loss", s, t, (mean_sq, 2 * (s - t) / n))


@check("block_loss", public=True, pair=output_pairs())
def zero_loss_on_the_teacher(student, ref, pair):
    """A block that reproduces the teacher exactly should have loss 0 and gradient 0."""
    _, t = pair
    L, grad = _loss_and_grad(student, "block_loss(t, t)", t, t, shape=t.shape)
    assert_close(L, 0.0, f"block_loss({fmt(t)}, {fmt(t)})[0]", atol=0)
    assert_close(grad, np.zeros(t.shape), f"block_loss({fmt(t)}, {fmt(t)})[1]", atol=0)


@check("block_loss", public=True, bad=st.sampled_from([
    ("shapes (2, 3) and (3, 2)", np.zeros((2, 3)), np.zeros((3, 2))), ("empty arrays", np.zeros((0, 3)), np.zeros((0, 3))),
    ("an inf in student_out", np.array([np.inf, 0.0]), np.zeros(2)), ("a NaN in teacher_out", np.zeros(2),
                                                                      np.array([0.0, np.nan]))]))
def block_loss__rejects_bad_input(student, ref, bad):
    """block_loss should raise ValueError when the shapes differ, the arrays are empty or an entry is non-finite."""
    what, *args = bad
    raises_value_error(student, f"block_loss with {what}", *args)


# --- replacement_plan -----------------------------------------------------------------------------
DROPS = hnp.arrays(np.float64, S.sizes(1, 10), elements=st.integers(-2, 5).map(lambda v: v / 64))
THRESHOLDS = st.integers(0, 12).map(lambda v: v / 64)


def _plan(student, d, threshold, order) -> np.ndarray:
    what = f"replacement_plan({fmt(d)}, {threshold!r}, {order!r})"
    got = as_array(student(d, threshold, order), what, shape=d.shape)
    require(bool(np.all((got == 0) | (got == 1))), f"{what} should be a boolean array, got {fmt(got)}")
    return got.astype(bool)


def _greedy(d, threshold, order) -> np.ndarray:
    out, spent = np.zeros(len(d), dtype=bool), 0.0
    for i in (range(len(d)) if order == "bottom_up" else reversed(range(len(d)))):
        if spent + d[i] <= threshold:
            out[i], spent = True, spent + d[i]
    return out


@check("replacement_plan", public=True, d=DROPS, threshold=THRESHOLDS, order=ORDERS)
def greedy_in_order_within_budget(student, ref, d, threshold, order):
    """Visiting blocks from the input ("bottom_up") or from the output ("top_down"), block i should be accepted exactly when the drops accepted so far plus d_i stay <= threshold."""
    got, expected = _plan(student, d, threshold, order), _greedy(d.tolist(), threshold, order)
    require(np.array_equal(got, expected), f"replacement_plan({fmt(d)}, {threshold!r}, {order!r})\n"
            f"  expected: {fmt(expected)}\n  got:      {fmt(got)}")


@check("replacement_plan", public=True, d=DROPS, threshold=THRESHOLDS)
def order_matters_and_budget_holds(student, ref, d, threshold):
    """In both orders the accepted drops should sum to at most the threshold, every block with a drop <= 0 should be accepted, and no block whose drop exceeds the threshold plus all the budget the negative drops give back."""
    for order in ("bottom_up", "top_down"):
        got = _plan(student, d, threshold, order)
        what = f"replacement_plan({fmt(d)}, {threshold!r}, {order!r}) = {fmt(got)}"
        require(d[got].sum() <= threshold, f"{what}: the accepted drops sum to {d[got].sum()!r} > {threshold!r}")
        require(bool(np.all(got[d <= 0])), f"{what}: a block with a drop <= 0 was rejected")
        most = threshold - d[d < 0].sum()
        require(not np.any(got[d > most]), f"{what}: a block whose drop exceeds {most!r} (the threshold plus the "
                "negative drops) was accepted")


@check("replacement_plan", public=True, case=st.sampled_from([
    (np.array([-0.25, 0.5]), 0.375, "top_down", [True, False]), (np.array([0.5, -0.25]), 0.375, "bottom_up", [False, True]),
    (np.array([0.25, -0.25, 0.5, 0.125]), 0.25, "bottom_up", [True, True, False, True]),
    (np.array([0.125, 0.5, -0.25, 0.25]), 0.25, "top_down", [True, False, True, True])]))
def each_block_is_visited_once(student, ref, case):
    """Each block should be decided once, when it is visited: a block rejected early stays rejected even if later blocks with negative drops give budget back."""
    d, threshold, order, expected = case
    got = _plan(student, d, threshold, order)
    require(np.array_equal(got, expected), f"replacement_plan({fmt(d)}, {threshold!r}, {order!r})\n"
            f"  expected: {fmt(np.array(expected))}\n  got:      {fmt(got)}")


@check("replacement_plan", public=True, bad=st.sampled_from([
    ("a 2-D acc_drops", np.zeros((2, 2)), 0.1, "bottom_up"), ("an empty acc_drops", np.zeros(0), 0.1, "bottom_up"),
    ("a NaN drop", np.array([0.0, np.nan]), 0.1, "bottom_up"), ("threshold -0.1", np.zeros(2), -0.1, "bottom_up"),
    ("threshold inf", np.zeros(2), math.inf, "top_down"), ("order 'random'", np.zeros(2), 0.1, "random")]))
def replacement_plan__rejects_bad_input(student, ref, bad):
    """replacement_plan should raise ValueError for acc_drops that is not a non-empty finite 1-D array, a negative or non-finite threshold, or an unknown order."""
    what, *args = bad
    raises_value_error(student, f"replacement_plan with {what}", *args)


# --- wfd_schedule ---------------------------------------------------------------------------------
TIMES = hnp.arrays(np.float64, S.sizes(1, 10), elements=st.integers(0, 12).map(float))


def _lpt(t, W) -> np.ndarray:
    loads, out = [0.0] * W, np.zeros(len(t), dtype=np.int64)
    for i in sorted(range(len(t)), key=lambda i: (-t[i], i)):
        w = min(range(W), key=lambda w: (loads[w], w))
        out[i], loads[w] = w, loads[w] + t[i]
    return out


def _assignment(student, t, W) -> np.ndarray:
    what = f"wfd_schedule({fmt(t)}, {W})"
    a = _int_codes(student(t, W), what, t.shape)
    require(bool(np.all((a >= 0) & (a < W))), f"{what} should give worker indices in [0, {W}), got {fmt(a)}")
    return a


@check("wfd_schedule", public=True, t=TIMES, W=st.integers(1, 4))
def longest_first_to_least_loaded(student, ref, t, W):
    """Blocks should be placed longest first (equal times: lower block index first), each on the worker with the smallest load so far (equal loads: lower worker index)."""
    got, expected = _assignment(student, t, W), _lpt(t.tolist(), W)
    require(np.array_equal(got, expected), f"wfd_schedule({fmt(t)}, {W})\n  expected: {fmt(expected)}\n  got:      {fmt(got)}")


@check("wfd_schedule", public=True, t=hnp.arrays(np.float64, st.integers(1, 7), elements=st.integers(1, 12).map(float)),
       W=st.integers(2, 3))
def within_grahams_bound(student, ref, t, W):
    """The schedule's makespan should be at most (4/3 - 1/(3W)) times the best possible one (found here by trying every assignment)."""
    a = _assignment(student, t, W)
    best = min(max(sum(t[i] for i in range(t.size) if s[i] == w) for w in range(W))
               for s in itertools.product(range(W), repeat=t.size))
    got = max(t[a == w].sum() for w in range(W))
    require(got <= (4 / 3 - 1 / (3 * W)) * best + 1e-9,
            f"wfd_schedule({fmt(t)}, {W}) = {fmt(a)} has makespan {got:g}; the optimum is {best:g}, "
            f"and LPT's bound is {(4 / 3 - 1 / (3 * W)) * best:g}")


@check("wfd_schedule", public=True, bad=st.sampled_from([
    ("workers 0", np.ones(3), 0), ("workers 1.5", np.ones(3), 1.5), ("a negative time", np.array([1.0, -1.0]), 2),
    ("an empty times", np.zeros(0), 2), ("a 2-D times", np.ones((2, 2)), 2), ("an inf time", np.array([np.inf]), 1)]))
def wfd_schedule__rejects_bad_input(student, ref, bad):
    """wfd_schedule should raise ValueError for times that are not a non-empty 1-D array of finite values >= 0, or workers that is not an integer >= 1."""
    what, *args = bad
    raises_value_error(student, f"wfd_schedule with {what}", *args)


# --- makespan -------------------------------------------------------------------------------------
@st.composite
def schedules(draw):
    W = draw(st.integers(1, 4))
    n = draw(S.sizes(1, 10))
    t = draw(hnp.arrays(np.float64, n, elements=st.one_of(st.integers(0, 9).map(float), st.floats(0, 50))))
    return t, draw(hnp.arrays(np.int64, n, elements=st.integers(0, W - 1))), W


@check("makespan", public=True, case=schedules())
def largest_worker_sum(student, ref, case):
    """The makespan should be the largest, over workers, of the summed times of that worker's blocks (0 for a worker without blocks)."""
    t, a, W = case
    loads = [sum(ti for ti, ai in zip(t.tolist(), a.tolist()) if ai == w) for w in range(W)]
    assert_close(student(t, a, W), max(loads), f"makespan({fmt(t)}, {fmt(a)}, {W})")


@check("makespan", public=True, case=schedules())
def one_worker_is_the_total(student, ref, case):
    """All blocks on worker 0 should give the total time, whatever the number of workers."""
    t, _, W = case
    a = np.zeros(t.size, dtype=np.int64)
    assert_close(student(t, a, W), sum(t.tolist()), f"makespan({fmt(t)}, {fmt(a)}, {W})")


@check("makespan", public=True, bad=st.sampled_from([
    ("a worker index 2 for 2 workers", np.ones(3), np.array([0, 1, 2]), 2),
    ("a worker index -1", np.ones(2), np.array([0, -1]), 2),
    ("one index too few", np.ones(3), np.array([0, 1]), 2),
    ("float indices", np.ones(2), np.array([0.0, 1.0]), 2),
    ("workers 0", np.ones(2), np.array([0, 0]), 0),
    ("a negative time", np.array([1.0, -1.0]), np.array([0, 1]), 2),
    ("an empty times", np.zeros(0), np.zeros(0, dtype=np.int64), 1)]))
def makespan__rejects_bad_input(student, ref, bad):
    """makespan should raise ValueError for bad times, workers not an integer >= 1, or an assignment that is not one integer worker index in [0, W) per block."""
    what, *args = bad
    raises_value_error(student, f"makespan with {what}", *args)


# --- parallel_metrics -----------------------------------------------------------------------------
POSITIVE = st.one_of(st.integers(1, 100).map(float), st.floats(1e-3, 1e4))


def _metrics(student, *args) -> tuple:
    what = f"parallel_metrics{fmt(args)}"
    got = as_tuple(student(*args), 3, what)
    return tuple(as_float(v, f"{what}[{i}]") for i, v in enumerate(got))


@check("parallel_metrics", public=True, T1=POSITIVE, TW=POSITIVE, W=st.integers(1, 8), E1=POSITIVE, EW=POSITIVE)
def parallel_metrics__closed_form(student, ref, T1, TW, W, E1, EW):
    """Speed-up T1 / TW, efficiency speed-up / W, greenup E1 / EW."""
    assert_close(np.array(_metrics(student, T1, TW, W, E1, EW)), np.array([T1 / TW, T1 / TW / W, E1 / EW]),
                 f"parallel_metrics{fmt((T1, TW, W, E1, EW))}")


@check("parallel_metrics", public=True, T=POSITIVE, W=st.integers(1, 8))
def perfect_scaling_has_efficiency_one(student, ref, T, W):
    """W workers that take 1/W of the time should give speed-up W and efficiency 1; equal energies greenup 1."""
    assert_close(np.array(_metrics(student, T * W, T, W, T, T)), np.array([float(W), 1.0, 1.0]),
                 f"parallel_metrics{fmt((T * W, T, W, T, T))}")


@check("parallel_metrics", public=True, bad=st.sampled_from([
    (0.0, 1.0, 2, 1.0, 1.0), (1.0, -1.0, 2, 1.0, 1.0), (1.0, 1.0, 2, math.inf, 1.0), (1.0, 1.0, 2, 1.0, math.nan),
    (1.0, 1.0, 0, 1.0, 1.0), (1.0, 1.0, 2.5, 1.0, 1.0), (1.0, 1.0, True, 1.0, 1.0)]))
def parallel_metrics__rejects_bad_input(student, ref, bad):
    """parallel_metrics should raise ValueError for a time or energy that is not a finite number > 0, or workers that is not an integer >= 1."""
    raises_value_error(student, f"parallel_metrics{fmt(bad)}", *bad)


# --- mse_logit_loss -------------------------------------------------------------------------------
@st.composite
def logit_pairs(draw):
    C = draw(S.sizes(1, 10))  # classes, sometimes up to 40 (then at most 4 rows: one large side)
    shape = (draw(st.integers(1, 8 if C <= 10 else 4)), C)
    return draw(hnp.arrays(np.float64, shape, elements=ELEMENTS)), draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))


@check("mse_logit_loss", public=True, pair=logit_pairs())
def summed_over_classes_mean_over_batch(student, ref, pair):
    """L should be (1/N) sum_n sum_c (z_s - z_t)^2 — summed over the classes, averaged over the N rows — and the gradient 2 (z_s - z_t) / N."""
    zs, zt = pair
    N = zs.shape[0]
    rows = [sum((a - b) ** 2 for a, b in zip(r, q)) for r, q in zip(zs.tolist(), zt.tolist())]
    _same_loss_and_grad(student, "mse_logit_loss", zs, zt, (sum(rows) / N, 2 * (zs - zt) / N))


@check("mse_logit_loss", public=True, pair=logit_pairs(), shift=st.integers(1, 3).map(float))
def sees_a_shift_of_the_logits(student, ref, pair, shift):
    """Unlike the KL loss, adding a constant c to every logit of the student should raise the loss by C c^2 + 2 c sum(z_s - z_t) / N."""
    zs, zt = pair
    N, C = zs.shape
    L0, _ = _loss_and_grad(student, "mse_logit_loss(zs, zt)", zs, zt, shape=zs.shape)
    L1, _ = _loss_and_grad(student, "mse_logit_loss(zs + c, zt)", zs + shift, zt, shape=zs.shape)
    assert_close(L1 - L0, C * shift**2 + 2 * shift * float(np.sum(zs - zt)) / N,
                 f"mse_logit_loss(zs + {shift:g}, zt) - mse_logit_loss(zs, zt) for zs = {fmt(zs)}, zt = {fmt(zt)}",
                 rtol=1e-6, atol=1e-9)


@check("mse_logit_loss", public=True, bad=st.sampled_from([
    ("1-D logits", np.zeros(3), np.zeros(3)), ("shapes (2, 3) and (2, 4)", np.zeros((2, 3)), np.zeros((2, 4))),
    ("empty logits", np.zeros((0, 3)), np.zeros((0, 3))), ("a NaN", np.array([[np.nan, 0.0]]), np.zeros((1, 2))),
    ("an inf", np.zeros((1, 2)), np.array([[0.0, -np.inf]]))]))
def mse_logit_loss__rejects_bad_input(student, ref, bad):
    """mse_logit_loss should raise ValueError when the logits are not 2-D of one shape, are empty, or hold a non-finite entry."""
    what, *args = bad
    raises_value_error(student, f"mse_logit_loss with {what}", *args)


# --- kd_weight_schedule ---------------------------------------------------------------------------
@st.composite
def schedule_cases(draw):
    total = draw(st.integers(1, 40))
    shape = draw(st.one_of(st.sampled_from([(1,), (7,), (2, 4)]), S.sizes(8, 8).map(lambda n: (n,))))  # up to 40 steps
    steps = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, total - 1)))
    alpha = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]) | st.floats(0, 1))
    frac = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.integers(0, 8).map(lambda v: v / 8))
    return steps, total, alpha, frac, draw(DECAYS)


def _expected_weight(t, total, alpha, frac, decay):
    t_stop = frac * total
    if t >= t_stop:
        return 0.0
    return alpha if decay == "step" else alpha * (1 - t / t_stop)


def _weights(student, case):
    steps, total, alpha, frac, decay = case
    return as_array(student(steps, total, alpha, frac, decay),
                    f"kd_weight_schedule({fmt(steps)}, {total}, {alpha!r}, {frac!r}, {decay!r})", shape=steps.shape)


@check("kd_weight_schedule", public=True, case=schedule_cases())
def kd_weight_schedule__closed_form(student, ref, case):
    """With t_stop = stop_fraction * total_steps, the weight should be 0 for t >= t_stop and, before, alpha ("step") or alpha (1 - t / t_stop) ("linear")."""
    steps, total, alpha, frac, decay = case
    expected = np.array([_expected_weight(t, total, alpha, frac, decay) for t in steps.ravel().tolist()])
    assert_close(_weights(student, case), expected.reshape(steps.shape),
                 f"kd_weight_schedule({fmt(steps)}, {total}, {alpha!r}, {frac!r}, {decay!r})", atol=1e-12)


@check("kd_weight_schedule", public=True, total=st.integers(1, 40), alpha=st.floats(0.05, 1), decay=DECAYS)
def whole_run_or_never(student, ref, total, alpha, decay):
    """stop_fraction = 0 should never distil (all weights 0); stop_fraction = 1 should give step 0 the full alpha and every step a weight in (0, alpha]."""
    steps = np.arange(total)
    assert_close(as_array(student(steps, total, alpha, 0.0, decay), "weights", shape=steps.shape), np.zeros(total),
                 f"kd_weight_schedule(arange({total}), {total}, {alpha!r}, 0.0, {decay!r})", atol=0)
    w = as_array(student(steps, total, alpha, 1.0, decay), "weights", shape=steps.shape)
    what = f"kd_weight_schedule(arange({total}), {total}, {alpha!r}, 1.0, {decay!r}) = {fmt(w)}"
    assert_close(w[0], alpha, what + ": the weight at step 0")
    require(bool(np.all((w > 0) & (w <= alpha * (1 + 1e-12)))), what + ": every weight should be in (0, alpha]")


@check("kd_weight_schedule", public=True, bad=st.sampled_from([
    ("total_steps 0", np.arange(3), 0, 0.5, 0.5, "step"), ("a step = total_steps", np.array([3]), 3, 0.5, 0.5, "step"),
    ("a negative step", np.array([-1]), 3, 0.5, 0.5, "step"), ("a float step", np.array([0.5]), 3, 0.5, 0.5, "step"),
    ("alpha 1.5", np.arange(3), 3, 1.5, 0.5, "step"), ("alpha -0.1", np.arange(3), 3, -0.1, 0.5, "linear"),
    ("stop_fraction 1.1", np.arange(3), 3, 0.5, 1.1, "step"), ("decay 'cosine'", np.arange(3), 3, 0.5, 0.5, "cosine")]))
def kd_weight_schedule__rejects_bad_input(student, ref, bad):
    """kd_weight_schedule should raise ValueError for total_steps not an integer >= 1, a step that is not an integer in [0, total_steps), alpha or stop_fraction outside [0, 1], or an unknown decay."""
    what, *args = bad
    raises_value_error(student, f"kd_weight_schedule with {what}", *args)


# --- time_to_target -------------------------------------------------------------------------------
@st.composite
def curves(draw):
    n = draw(S.sizes(1, 10))
    steps = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.5, 1.0, 2.0, 3.0])))
    times = np.cumsum(steps) + draw(st.sampled_from([0.0, 10.0]))
    accs = draw(hnp.arrays(np.float64, n, elements=st.integers(0, 20).map(lambda v: v / 20)))
    return times, accs, draw(st.integers(0, 21).map(lambda v: v / 20))


def _crossing(times, accs, target) -> float:
    for i, a in enumerate(accs):
        if a >= target:
            if i == 0:
                return times[0]
            return times[i - 1] + (target - accs[i - 1]) * (times[i] - times[i - 1]) / (a - accs[i - 1])
    return math.inf


@check("time_to_target", public=True, case=curves())
def first_crossing_interpolated(student, ref, case):
    """The result should be the first time the curve reaches the target: t_0 if a_0 >= target, else linearly interpolated between the records just before and at the first a_i >= target; inf if no a_i reaches it."""
    times, accs, target = case
    assert_close(student(times, accs, target), _crossing(times.tolist(), accs.tolist(), target),
                 f"time_to_target({fmt(times)}, {fmt(accs)}, {target!r})")


@check("time_to_target", public=True, case=curves())
def later_targets_take_longer(student, ref, case):
    """Raising the target should never make it reached sooner, and a target above every accuracy should give inf."""
    times, accs, target = case
    lo, hi = student(times, accs, target / 2), student(times, accs, target)
    what = f"time_to_target({fmt(times)}, {fmt(accs)}, target)"
    require(as_float(lo, what) <= as_float(hi, what),
            f"{what} is {fmt(lo)} for target {target / 2!r} but {fmt(hi)} for {target!r}")
    assert_close(student(times, accs, float(accs.max()) + 0.01), math.inf,
                 f"time_to_target({fmt(times)}, {fmt(accs)}, {float(accs.max()) + 0.01!r})")


@check("time_to_target", public=True, bad=st.sampled_from([
    ("times that repeat", np.array([1.0, 1.0]), np.array([0.1, 0.2]), 0.15),
    ("times that fall", np.array([2.0, 1.0]), np.array([0.1, 0.2]), 0.15),
    ("lengths 2 and 1", np.array([1.0, 2.0]), np.array([0.1]), 0.15),
    ("empty arrays", np.zeros(0), np.zeros(0), 0.1), ("2-D arrays", np.ones((1, 1)), np.ones((1, 1)), 0.1),
    ("a NaN accuracy", np.array([1.0, 2.0]), np.array([0.1, np.nan]), 0.15),
    ("a NaN target", np.array([1.0]), np.array([0.1]), math.nan)]))
def time_to_target__rejects_bad_input(student, ref, bad):
    """time_to_target should raise ValueError when times and accs are not non-empty finite 1-D arrays of one length, times do not strictly increase, or target is not finite."""
    what, *args = bad
    raises_value_error(student, f"time_to_target with {what}", *args)
