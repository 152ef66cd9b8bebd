"""Lab 9 checks: channel sorting and elastic width, subnet cost, progressive-shrinking sampling, in-place
distillation, the REINFORCE controller gradient, tournament selection under a budget, crossover and
mutation, the ridge accuracy predictor and Kendall's tau.

Each check's docstring (first paragraph) is the property the student reads when it fails. Every
exercise has an agreement check against the hidden reference; the public checks need no reference:
each recomputes the quantity here by a route of its own (Python loops over channels, layers, pairs
and tournaments; ``np.logaddexp`` softmaxes; finite differences; the ridge normal equations) or
checks an invariant of the topic (the network function survives channel sorting; tau depends on
ranks only).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab09_ofa.py,
which students do not receive; this file is released to them as it is.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import strategies as S
from ..assertions import CheckFailed, as_array, as_float, as_int, as_tuple, assert_close, fmt, raises_value_error, require
from . import Registry

registry = Registry()
check = registry.check
CHECKS = registry.checks
EXERCISES = registry.exercises("reference_impl.ofa", [
    "sort_channels", "elastic_linear", "subnet_cost", "ps_sample", "inplace_kd_loss", "reinforce_grad",
    "tournament_select", "crossover_mutate", "ridge_fit", "kendall_tau"
])


# --- helpers --------------------------------------------------------------------------------------


def _agree(got: tuple, expected: tuple, what: str, names: tuple, **tolerances) -> None:
    """Each of the student's results close to the reference's, named in the feedback."""
    for g, e, name in zip(got, expected, names):
        assert_close(g, e, f"{what}: {name}", **tolerances)


def _ints(got, what: str, shape) -> list:
    """The student's integer array (integer dtype, or floats holding whole numbers) as a list of ints."""
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"{what} should be a NumPy array, got {type(got).__name__}: {fmt(got)}")
    if got.shape != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got shape {got.shape}")
    if got.dtype.kind not in "iuf" or (got.dtype.kind == "f" and not np.all(got == np.round(got))):
        raise CheckFailed(f"{what} should hold integers, got {fmt(got)}")
    return [int(v) for v in got.reshape(-1)]


def _same_ints(got, expected: list, what: str, shape) -> None:
    g = _ints(got, what, shape)
    if g != list(expected):
        e = fmt(np.array(expected, dtype=np.int64).reshape(shape))
        raise CheckFailed(f"{what}\n  expected: {e}\n  got:      {fmt(np.array(g).reshape(shape))}",
                          expected=e, got=fmt(np.array(g).reshape(shape)))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax written independently of the reference (np.logaddexp.reduce)."""
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


# Sizes beyond the readable ones (issue 19): S.sizes draws up to LARGE some of the time; 20 rather than
# S.LARGE_SIZE keeps the grading time of this lab within its budget (40 cost ~40% more per submission).
LARGE = 20


def _small_floats(bound: float = 5.0):
    """Small integers and halves first (readable counterexamples, and ties), then any float."""
    return st.one_of(st.integers(-4, 4).map(lambda k: k / 2.0), S._floats(bound))


def _arrays(shape, bound: float = 5.0):
    return hnp.arrays(np.float64, shape, elements=_small_floats(bound))


def _draws(n: int):
    """n uniform draws in [0, 1): grid points (exact boundaries of floor(u * n)) and any float."""
    u = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1 / 3, 2 / 3, 0.999]),
                  st.floats(0.0, 1.0, exclude_max=True, allow_subnormal=False))
    return hnp.arrays(np.float64, n, elements=u)


# --- sort_channels --------------------------------------------------------------------------------
@st.composite
def _two_layers(draw, max_hidden: int = 9):
    H, D, O = draw(S.sizes(1, max_hidden, large=LARGE)), draw(st.integers(1, 4)), draw(st.integers(1, 3))  # H sometimes up to LARGE
    # W1 of halves: the row norms are exact sums whatever the order of summation, so ties are exact ties
    W1 = draw(hnp.arrays(np.float64, (H, D), elements=st.integers(-8, 8).map(lambda k: k / 2.0)))
    return W1, draw(_arrays((H,))), draw(_arrays((O, H)))


def _sorted_three(student, W1, b1, W2):
    got = as_tuple(student(W1, b1, W2), 3, "sort_channels(W1, b1, W2)")
    return (as_array(got[0], "W1'", W1.shape), as_array(got[1], "b1'", b1.shape), as_array(got[2], "W2'", W2.shape))


@check("sort_channels", public=True, layers=_two_layers())
def stable_order_by_l1_norm(student, ref, layers):
    """The channels should come in order of decreasing L1 norm of their rows of W1, equal norms keeping their original order; b1 and the columns of W2 move with them."""
    W1, b1, W2 = layers
    got = _sorted_three(student, W1, b1, W2)
    norms = [sum(abs(v) for v in row) for row in W1.tolist()]
    order = sorted(range(len(norms)), key=lambda h: (-norms[h], h))
    what = f"sort_channels with row L1 norms {fmt(np.array(norms))}: the order should be {order}"
    assert_close(got[0], W1[order, :], what + " (W1')")
    assert_close(got[1], b1[order], what + " (b1')")
    assert_close(got[2], W2[:, order], what + " (W2')")


@check("sort_channels", public=True, layers=_two_layers(), x=_arrays((3, 4)))
def network_function_unchanged(student, ref, layers, x):
    """Sorting only renames the hidden channels: x -> W2 relu(W1 x + b1) should give the same outputs before and after."""
    W1, b1, W2 = layers
    S1, c1, S2 = _sorted_three(student, W1, b1, W2)
    x = x[:, : W1.shape[1]]
    before = np.maximum(x @ W1.T + b1, 0.0) @ W2.T
    after = np.maximum(x @ S1.T + c1, 0.0) @ S2.T
    assert_close(after, before, "the network's outputs after sorting (W2' relu(W1' x + b1'))", atol=1e-9)


@check("sort_channels", public=True, H=st.integers(1, 4), bad=st.sampled_from(["b1", "W2", "nan", "1d"]))
def rejects_bad_shapes_or_values(student, ref, H, bad):
    """sort_channels should raise ValueError when b1 is not (H,), W2 is not (O, H), W1 is not 2-D, or an entry is NaN."""
    W1, b1, W2 = np.ones((H, 2)), np.zeros(H), np.ones((2, H))
    if bad == "b1":
        b1 = np.zeros(H + 1)
    elif bad == "W2":
        W2 = np.ones((2, H + 1))
    elif bad == "nan":
        W1 = W1.copy()
        W1[0, 0] = math.nan
    else:
        W1 = np.ones(H)
    raises_value_error(student, f"sort_channels with a bad {bad}", W1, b1, W2)


# --- elastic_linear -------------------------------------------------------------------------------
@st.composite
def _layer_and_widths(draw):
    O, I = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return draw(_arrays((O, I))), draw(_arrays((O,))), draw(st.integers(1, O)), draw(st.integers(1, I))


def _sub(student, W, b, o, i):
    got = as_tuple(student(W, b, o, i), 2, f"elastic_linear(W, b, {o}, {i})")
    return as_array(got[0], "W_sub", (o, i)), as_array(got[1], "b_sub", (o,))


@check("elastic_linear", public=True, case=_layer_and_widths())
def keeps_the_first_channels(student, ref, case):
    """The subnet should inherit the first out_width rows and first in_width columns of W, and the first out_width entries of b."""
    W, b, o, i = case
    Ws, bs = _sub(student, W, b, o, i)
    for r in range(o):
        for c in range(i):
            require(Ws[r, c] == W[r, c], f"elastic_linear(W={fmt(W)}, b, {o}, {i}): W_sub[{r}, {c}] should be "
                                         f"W[{r}, {c}] = {W[r, c]!r}, got {Ws[r, c]!r}")
        require(bs[r] == b[r], f"elastic_linear(W, b={fmt(b)}, {o}, {i}): b_sub[{r}] should be {b[r]!r}, got {bs[r]!r}")


@check("elastic_linear", public=True, O=st.integers(1, 4), I=st.integers(1, 4),
       bad=st.sampled_from(["out0", "out_big", "in0", "in_big", "float", "bias"]))
def rejects_bad_widths_or_shapes(student, ref, O, I, bad):
    """elastic_linear should raise ValueError for a width outside [1, O] / [1, I] or not an integer, or a bias that is not (O,)."""
    W, b, o, i = np.ones((O, I)), np.zeros(O), 1, 1
    if bad == "out0":
        o = 0
    elif bad == "out_big":
        o = O + 1
    elif bad == "in0":
        i = 0
    elif bad == "in_big":
        i = I + 1
    elif bad == "float":
        o = 1.0
    else:
        b = np.zeros(O + 1)
    raises_value_error(student, f"elastic_linear(W of shape {W.shape}, b of shape {b.shape}, {o!r}, {i!r})", W, b, o, i)


# --- subnet_cost ----------------------------------------------------------------------------------
@st.composite
def _subnets(draw):
    widths = draw(st.lists(st.integers(1, 300), min_size=1, max_size=8))
    return np.array(widths, dtype=np.int64), draw(st.integers(0, len(widths))), draw(st.integers(1, 784)), \
        draw(st.integers(1, 100))


def _cost(student, widths, depth, d_in, d_out):
    got = as_tuple(student(widths, depth, d_in, d_out), 2, f"subnet_cost({fmt(widths)}, {depth}, {d_in}, {d_out})")
    return as_int(got[0], "macs"), as_int(got[1], "params")


@check("subnet_cost", public=True, case=_subnets())
def layer_by_layer_count(student, ref, case):
    """MACs should be the sum over the subnet's layers of in * out (only the first depth widths are used), and params the MACs plus one bias per output unit."""
    widths, depth, d_in, d_out = case
    sizes = [d_in] + [int(v) for v in widths[:depth]] + [d_out]
    macs = params = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        macs += n_in * n_out
        params += n_in * n_out + n_out
    got = _cost(student, *case)
    require(got == (macs, params), f"subnet_cost({fmt(widths)}, {depth}, {d_in}, {d_out}): layer sizes {sizes}\n"
                                   f"  expected: {(macs, params)}\n  got:      {got}")


@check("subnet_cost", public=True, D=st.integers(1, 4),
       bad=st.sampled_from(["depth_big", "depth_neg", "width0", "float_widths", "d_in0", "d_out0"]))
def subnet_cost__rejects_bad_arguments(student, ref, D, bad):
    """subnet_cost should raise ValueError for a depth outside [0, D], a width < 1 or not an integer, or d_in / d_out < 1."""
    widths, depth, d_in, d_out = np.full(D, 4, dtype=np.int64), 1, 8, 3
    if bad == "depth_big":
        depth = D + 1
    elif bad == "depth_neg":
        depth = -1
    elif bad == "width0":
        widths[-1] = 0
    elif bad == "float_widths":
        widths = widths.astype(np.float64)
    elif bad == "d_in0":
        d_in = 0
    else:
        d_out = 0
    raises_value_error(student, f"subnet_cost({fmt(widths)}, {depth}, {d_in}, {d_out})", widths, depth, d_in, d_out)


# --- ps_sample ------------------------------------------------------------------------------------
@st.composite
def _ps_cases(draw):
    width_choices = draw(st.lists(st.integers(1, 64), min_size=1, max_size=5))
    depth_choices = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    D = max(depth_choices)
    return draw(_draws(D + 1)), draw(st.integers(0, 2)), width_choices, depth_choices


def _ps(student, u, stage, wc, dc):
    got = as_tuple(student(u, stage, wc, dc), 2, f"ps_sample(u={fmt(u)}, {stage}, {wc}, {dc})")
    return _ints(got[0], "widths", (max(dc),)), as_int(got[1], "depth")


@check("ps_sample", public=True, case=_ps_cases())
def stage_schedule_closed_form(student, ref, case):
    """Stage 0 is the largest network; stage 1 draws the depth d_(floor(u_0 n_d)) from the sorted distinct depths; stage 2 also draws each width w_(floor(u_l n_w)) from the sorted distinct widths."""
    u, stage, wc, dc = case
    ws, ds = sorted(set(wc)), sorted(set(dc))
    depth = ds[-1] if stage == 0 else ds[math.floor(u[0] * len(ds))]
    widths = [ws[-1]] * ds[-1] if stage < 2 else [ws[math.floor(v * len(ws))] for v in u[1:]]
    got = _ps(student, u, stage, wc, dc)
    require(got == (widths, depth), f"ps_sample(u={fmt(u)}, stage={stage}, {wc}, {dc})\n"
                                    f"  expected: {(widths, depth)}\n  got:      {got}")


@check("ps_sample", public=True, bad=st.sampled_from(["stage3", "stage_neg", "u_one", "u_neg", "u_short",
                                                      "no_widths", "zero_depth"]))
def ps_sample__rejects_bad_arguments(student, ref, bad):
    """ps_sample should raise ValueError for a stage other than 0, 1, 2, a draw outside [0, 1), u not of shape (D + 1,), or an empty / non-positive choice list."""
    u, stage, wc, dc = np.array([0.5, 0.5, 0.5]), 2, [4, 8], [1, 2]
    if bad == "stage3":
        stage = 3
    elif bad == "stage_neg":
        stage = -1
    elif bad == "u_one":
        u = np.array([0.5, 1.0, 0.5])
    elif bad == "u_neg":
        u = np.array([-0.1, 0.5, 0.5])
    elif bad == "u_short":
        u = np.array([0.5, 0.5])
    elif bad == "no_widths":
        wc = []
    else:
        dc = [0, 2]
    raises_value_error(student, f"ps_sample(u={fmt(u)}, {stage}, {wc}, {dc})", u, stage, wc, dc)


# --- inplace_kd_loss ------------------------------------------------------------------------------
@st.composite
def _kd_cases(draw, bound: float = 10.0, large: int = LARGE):
    K = draw(S.sizes(2, 8, large=large))  # classes, sometimes up to `large` (then at most 4 rows)
    B = draw(st.integers(1, 8 if K <= 8 else 4))
    s = draw(hnp.arrays(np.float64, (B, K), elements=S._floats(bound)))
    t = draw(hnp.arrays(np.float64, (B, K), elements=S._floats(bound)))
    return s, t, draw(st.sampled_from([1.0, 2.0, 4.0, 0.5]) | st.floats(0.3, 10.0))


def _kd(student, s, t, T):
    got = as_tuple(student(s, t, T), 2, "inplace_kd_loss(student_logits, teacher_logits, T)")
    return as_float(got[0], "loss"), as_array(got[1], "grad", s.shape)


@check("inplace_kd_loss", public=True, case=_kd_cases())
def kl_closed_form_and_gradient(student, ref, case):
    """The loss should be T^2 / B * sum_b KL(p_b || q_b) with p = softmax(teacher / T), q = softmax(student / T), and its gradient T / B * (q - p)."""
    s, t, T = case
    log_q, log_p = _log_softmax(s / T), _log_softmax(t / T)
    p, q = np.exp(log_p), np.exp(log_q)
    loss, grad = _kd(student, s, t, T)
    what = f"inplace_kd_loss({fmt(s)}, {fmt(t)}, T={T!r})"
    assert_close(loss, T * T * float(np.sum(p * (log_p - log_q))) / s.shape[0], what + "[0], the loss", atol=1e-9)
    assert_close(grad, T * (q - p) / s.shape[0], what + "[1], the gradient", atol=1e-9)


@check("inplace_kd_loss", public=True, case=_kd_cases(bound=3.0, large=8), v=_arrays((8, 8), bound=1.0), h=st.just(1e-5))
def gradient_matches_finite_differences(student, ref, case, v, h):
    """The returned gradient should match a central finite difference of the returned loss along a direction v: (L(s + h v) - L(s - h v)) / 2h = <grad, v>."""
    s, t, T = case
    v = v[: s.shape[0], : s.shape[1]]
    _, grad = _kd(student, s, t, T)
    fd = (_kd(student, s + h * v, t, T)[0] - _kd(student, s - h * v, t, T)[0]) / (2 * h)
    assert_close(float(np.sum(grad * v)), fd,
                 f"<grad, v> of inplace_kd_loss at {fmt(s)} (teacher {fmt(t)}, T={T!r}), v = {fmt(v)}, vs the finite difference",
                 rtol=1e-4, atol=1e-7)  # central differences in float64 at h = 1e-5: ~1e-10 truncation and rounding


@check("inplace_kd_loss", public=True, B=st.integers(2, 4), K=st.integers(2, 5), T=st.sampled_from([1.0, 3.0]),
       big=st.sampled_from([1e4, -1e4]))
def zero_at_the_teacher_and_stable(student, ref, B, K, T, big):
    """A subnet that equals the largest network should get loss 0 and gradient 0, also when one row's logits are as large as +-1e4 and the others small (each row shifted by its own max)."""
    s = np.zeros((B, K))
    s[0, 0] = big
    s[1:, -1] = 1.0
    loss, grad = _kd(student, s, s.copy(), T)
    assert_close(loss, 0.0, f"inplace_kd_loss(z, z, T={T!r}) with z = {fmt(s)}", atol=1e-9)
    assert_close(grad, np.zeros_like(s), f"the gradient of inplace_kd_loss(z, z, T={T!r}) with z = {fmt(s)}", atol=1e-9)


@check("inplace_kd_loss", public=True, B=st.integers(1, 3), K=st.integers(2, 6), T=st.sampled_from([1.0, 2.0, 4.0]))
def confident_teacher_closed_form(student, ref, B, K, T):
    """A teacher with logits (1e4, 0, ..., 0) is one-hot (its other probabilities underflow to 0, and 0 log 0 = 0): against a uniform student the loss should be T^2 log K and the gradient T / B (1/K - onehot)."""
    t = np.zeros((B, K))
    t[:, 0] = 1e4
    loss, grad = _kd(student, np.zeros((B, K)), t, T)
    onehot = np.zeros((B, K))
    onehot[:, 0] = 1.0
    what = f"inplace_kd_loss(zeros, teacher={fmt(t)}, T={T!r})"
    assert_close(loss, T * T * math.log(K), what + "[0], the loss", atol=1e-9)
    assert_close(grad, T / B * (1.0 / K - onehot), what + "[1], the gradient", atol=1e-9)


@check("inplace_kd_loss", public=True, bad=st.sampled_from(["shape", "1d", "nan", "T0", "Tneg", "Tinf"]))
def inplace_kd_loss__rejects_bad_arguments(student, ref, bad):
    """inplace_kd_loss should raise ValueError for logits of different or non-(B, K) shapes, a NaN logit, or T not a positive finite number."""
    s, t, T = np.zeros((2, 3)), np.zeros((2, 3)), 1.0
    if bad == "shape":
        t = np.zeros((2, 4))
    elif bad == "1d":
        s, t = np.zeros(3), np.zeros(3)
    elif bad == "nan":
        s = np.array([[0.0, math.nan, 1.0], [0.0, 0.0, 0.0]])
    elif bad == "T0":
        T = 0.0
    elif bad == "Tneg":
        T = -1.0
    else:
        T = math.inf
    raises_value_error(student, f"inplace_kd_loss({fmt(s)}, {fmt(t)}, T={T!r})", s, t, T)


# --- reinforce_grad -------------------------------------------------------------------------------
@st.composite
def _controller_cases(draw, bound: float = 8.0):
    L, K = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    z = draw(hnp.arrays(np.float64, (L, K), elements=S._floats(bound)))
    a = np.array(draw(st.lists(st.integers(0, K - 1), min_size=L, max_size=L)), dtype=np.int64)
    R = draw(st.sampled_from([0.0, 1.0, 0.5]) | S._floats(2.0))
    b = draw(st.sampled_from([0.0, 0.5]) | S._floats(2.0))
    beta = draw(st.sampled_from([0.0, 0.1, 1.0]) | st.floats(0.0, 2.0))
    return z, a, R, b, beta


@check("reinforce_grad", public=True, case=_controller_cases())
def policy_gradient_closed_form(student, ref, case):
    """The gradient should be (R - b)(onehot(a_l) - pi_l) - beta pi_l (log pi_l + H(pi_l)) row by row, pi_l = softmax(logits[l])."""
    z, a, R, b, beta = case
    log_pi = _log_softmax(z)
    pi = np.exp(log_pi)
    expected = np.empty_like(z)
    for l in range(z.shape[0]):
        H = -sum(pi[l, k] * log_pi[l, k] for k in range(z.shape[1]))
        for k in range(z.shape[1]):
            expected[l, k] = (R - b) * ((k == a[l]) - pi[l, k]) - beta * pi[l, k] * (log_pi[l, k] + H)
    assert_close(as_array(student(z, a, R, b, beta), "the gradient", z.shape), expected,
                 f"reinforce_grad({fmt(z)}, {fmt(a)}, reward={R!r}, baseline={b!r}, beta={beta!r})", atol=1e-9)


@check("reinforce_grad", public=True, case=_controller_cases(bound=3.0), h=st.just(1e-6))
def ascends_the_objective(student, ref, case, h):
    """The gradient should match central finite differences of J = (R - b) sum_l log pi_l(a_l) + beta sum_l H(pi_l) in the logits."""
    z, a, R, b, beta = case

    def J(zz):
        lp = _log_softmax(zz)
        return (R - b) * lp[np.arange(len(a)), a].sum() - beta * (np.exp(lp) * lp).sum()

    fd = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += h
        down[idx] -= h
        fd[idx] = (J(up) - J(down)) / (2 * h)
    assert_close(as_array(student(z, a, R, b, beta), "the gradient", z.shape), fd,
                 f"reinforce_grad({fmt(z)}, {fmt(a)}, reward={R!r}, baseline={b!r}, beta={beta!r}) vs finite "
                 f"differences of J", rtol=1e-4, atol=1e-6)  # central differences at h = 1e-6


@check("reinforce_grad", public=True, K=st.integers(2, 5), big=st.sampled_from([1e4, -1e4, 800.0]), k=st.integers(0, 4),
       beta=st.sampled_from([0.0, 0.5]))
def stable_for_large_logits(student, ref, K, big, k, beta):
    """With one row's logit as large as +-1e4 and another row small, the gradient should stay finite and exact (subtract each row's own max before exp)."""
    z = np.zeros((2, K))
    z[0, k % K] = big
    z[1, (k + 1) % K] = 1.0  # a small row beside the large one: each row needs its own max shift
    a = np.array([k % K, 0], dtype=np.int64)
    log_pi = _log_softmax(z)
    pi = np.exp(log_pi)
    H = -np.sum(np.where(pi > 0, pi * log_pi, 0.0), axis=1, keepdims=True)
    expected = 1.0 * (np.eye(K)[a] - pi) - beta * np.where(pi > 0, pi * (log_pi + H), 0.0)
    assert_close(as_array(student(z, a, 1.0, 0.0, beta), "the gradient", z.shape), expected,
                 f"reinforce_grad({fmt(z)}, {fmt(a)}, reward=1.0, baseline=0.0, beta={beta!r})", atol=1e-9)


@check("reinforce_grad", public=True, L=st.integers(1, 3), K=st.integers(2, 4),
       bad=st.sampled_from(["action_big", "action_neg", "action_float", "actions_short", "beta_neg", "reward_nan",
                            "baseline_inf", "logits_1d", "logits_nan"]))
def reinforce_grad__rejects_bad_arguments(student, ref, L, K, bad):
    """reinforce_grad should raise ValueError for an action outside [0, K) or not an integer, actions not (L,), logits not a finite (L, K) array, a non-finite reward or baseline, or beta < 0."""
    z, a, R, b, beta = np.zeros((L, K)), np.zeros(L, dtype=np.int64), 1.0, 0.0, 0.0
    if bad == "action_big":
        a[0] = K
    elif bad == "action_neg":
        a[0] = -1
    elif bad == "action_float":
        a = a.astype(np.float64)
    elif bad == "actions_short":
        a = np.zeros(L + 1, dtype=np.int64)
    elif bad == "beta_neg":
        beta = -0.1
    elif bad == "reward_nan":
        R = math.nan
    elif bad == "baseline_inf":
        b = math.inf
    elif bad == "logits_1d":
        z = np.zeros(K)
        a = np.zeros(1, dtype=np.int64)
    else:
        z = z.copy()
        z[0, 0] = math.nan
    raises_value_error(student, f"reinforce_grad({fmt(z)}, {fmt(a)}, {R!r}, {b!r}, {beta!r})", z, a, R, b, beta)


# --- tournament_select ----------------------------------------------------------------------------
@st.composite
def _tournaments(draw):
    N = draw(S.sizes(1, 10, large=LARGE))
    f = draw(hnp.arrays(np.float64, N, elements=st.integers(0, 3).map(float) | S._floats(1.0)))
    f = S.tied(f, draw)  # exact fitness ties on some draws: the rule "the one drawn first wins" must be tested
    c = draw(hnp.arrays(np.float64, N, elements=st.integers(0, 6).map(float)))
    budget = float(draw(st.integers(-1, 7)))
    n, k = draw(st.integers(1, 7)), draw(S.sizes(1, 7, large=LARGE))
    draws = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, N - 1)))
    return f, c, budget, draws


@check("tournament_select", public=True, case=_tournaments())
def deb_feasibility_rules(student, ref, case):
    """Each tournament's winner should be the best drawn candidate by Deb's rules: feasible (cost <= budget) beats infeasible, then higher fitness (feasible) or lower cost (infeasible), then the one drawn first."""
    f, c, budget, d = case
    expected = []
    for row in d.tolist():
        def rank(pos):
            j = row[pos]
            return ((0, -f[j]) if c[j] <= budget else (1, c[j])), pos
        expected.append(row[min(range(len(row)), key=rank)])
    _same_ints(student(f, c, budget, d), expected,
               f"tournament_select(fitness={fmt(f)}, cost={fmt(c)}, budget={budget!r}, draws={fmt(d)})", (d.shape[0],))


@check("tournament_select", public=True, budget=st.integers(0, 5), gap=st.integers(1, 3))
def budget_boundary_and_ties(student, ref, budget, gap):
    """A candidate whose cost equals the budget is feasible (cost <= budget), whichever position it was drawn in; two infeasible candidates of equal cost go to the one drawn first."""
    f = np.array([0.0, 1.0, 2.0, 3.0])
    c = np.array([0.0, budget, budget + gap, budget + gap], dtype=np.float64)
    d = np.array([[0, 1], [1, 0], [2, 3], [3, 2], [1, 2], [2, 1]], dtype=np.int64)
    _same_ints(student(f, c, float(budget), d), [1, 1, 2, 3, 1, 1],
               f"tournament_select(fitness={fmt(f)}, cost={fmt(c)}, budget={float(budget)!r}, draws={fmt(d)})", (6,))


@check("tournament_select", public=True, N=st.integers(1, 4),
       bad=st.sampled_from(["index_big", "index_neg", "float_draws", "draws_1d", "shapes", "nan_fitness", "nan_budget"]))
def tournament_select__rejects_bad_arguments(student, ref, N, bad):
    """tournament_select should raise ValueError for a drawn index outside [0, N) or not an integer, draws not (n, k), fitness and cost of different shapes, a NaN fitness or a NaN budget."""
    f, c, budget, d = np.zeros(N), np.zeros(N), 1.0, np.zeros((2, 2), dtype=np.int64)
    if bad == "index_big":
        d[0, 1] = N
    elif bad == "index_neg":
        d[1, 0] = -1
    elif bad == "float_draws":
        d = d.astype(np.float64)
    elif bad == "draws_1d":
        d = np.zeros(3, dtype=np.int64)
    elif bad == "shapes":
        c = np.zeros(N + 1)
    elif bad == "nan_fitness":
        f = np.full(N, math.nan)
    else:
        budget = math.nan
    raises_value_error(student, f"tournament_select({fmt(f)}, {fmt(c)}, {budget!r}, {fmt(d)})", f, c, budget, d)


# --- crossover_mutate -----------------------------------------------------------------------------
@st.composite
def _breeding(draw):
    G = draw(S.sizes(1, 10, large=LARGE))
    n = np.array(draw(st.lists(st.integers(1, 6), min_size=G, max_size=G)), dtype=np.int64)
    a = np.array([draw(st.integers(0, int(k) - 1)) for k in n], dtype=np.int64)
    b = np.array([draw(st.integers(0, int(k) - 1)) for k in n], dtype=np.int64)
    p = draw(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 1.0))
    return a, b, n, draw(_draws(G)), draw(_draws(G)), draw(_draws(G)), p


@check("crossover_mutate", public=True, case=_breeding())
def gene_by_gene_closed_form(student, ref, case):
    """Gene i should be parent_a_i if u_cross_i < 0.5 else parent_b_i, and then floor(r_mut_i * n_choices_i) if u_mut_i < p_mut."""
    a, b, n, u_c, u_m, r_m, p = case
    expected = []
    for i in range(a.size):
        gene = int(a[i]) if u_c[i] < 0.5 else int(b[i])
        expected.append(math.floor(r_m[i] * int(n[i])) if u_m[i] < p else gene)
    _same_ints(student(*case), expected, "crossover_mutate(" + ", ".join(fmt(v) for v in case) + ")", a.shape)


@check("crossover_mutate", public=True, G=st.integers(1, 4),
       bad=st.sampled_from(["gene_big", "gene_neg", "n0", "u_one", "r_neg", "p_big", "p_neg", "shapes"]))
def crossover_mutate__rejects_bad_arguments(student, ref, G, bad):
    """crossover_mutate should raise ValueError for a parent gene outside [0, n_choices_i), n_choices < 1, a draw outside [0, 1), p_mut outside [0, 1], or arrays of different shapes."""
    n = np.full(G, 3, dtype=np.int64)
    a, b = np.zeros(G, dtype=np.int64), np.ones(G, dtype=np.int64)
    u_c, u_m, r_m, p = np.full(G, 0.2), np.full(G, 0.7), np.full(G, 0.5), 0.5
    if bad == "gene_big":
        b[-1] = 3
    elif bad == "gene_neg":
        a[0] = -1
    elif bad == "n0":
        n[0] = 0
    elif bad == "u_one":
        u_c[0] = 1.0
    elif bad == "r_neg":
        r_m[-1] = -0.25
    elif bad == "p_big":
        p = 1.5
    elif bad == "p_neg":
        p = -0.5
    else:
        u_m = np.full(G + 1, 0.7)
    args = (a, b, n, u_c, u_m, r_m, p)
    raises_value_error(student, "crossover_mutate(" + ", ".join(fmt(v) for v in args) + ")", *args)


# --- ridge_fit ------------------------------------------------------------------------------------
@st.composite
def _regressions(draw):
    N, F = draw(S.sizes(1, 12, large=LARGE)), draw(st.integers(1, 6))
    X = draw(_arrays((N, F)))
    y = draw(_arrays((N,), bound=1.0))
    return X, y, draw(st.sampled_from([1.0, 0.1, 10.0]) | st.floats(0.05, 20.0))


def _ridge(student, X, y, lam):
    got = as_tuple(student(X, y, lam), 2, f"ridge_fit(X, y, lam={lam!r})")
    return as_array(got[0], "w", (X.shape[1],)), as_float(got[1], "b")


@check("ridge_fit", public=True, case=_regressions())
def normal_equations_hold(student, ref, case):
    """At the minimum the gradient vanishes: the residuals r = y - X w - b sum to 0 (unpenalised intercept) and X^T r = lam w."""
    X, y, lam = case
    w, b = _ridge(student, X, y, lam)
    r = y - X @ w - b
    scale = 1.0 + float(np.abs(X).sum() * (np.abs(y).max() + 1))
    what = f"ridge_fit(X={fmt(X)}, y={fmt(y)}, lam={lam!r}) returned w={fmt(w)}, b={b!r}"
    assert_close(np.array([r.sum()]), np.zeros(1), what + ": the sum of the residuals y - X w - b", atol=1e-8 * scale)
    assert_close(X.T @ r, lam * w, what + ": X^T (y - X w - b) compared with lam * w", rtol=1e-6, atol=1e-8 * scale)


@check("ridge_fit", public=True, N=st.integers(2, 6), F=st.integers(1, 3), c=st.floats(-2, 2), lam=st.floats(0.1, 5))
def constant_target_gives_zero_weights(student, ref, N, F, c, lam):
    """With every accuracy equal to c, the fit should be w = 0 and b = c: the intercept is not penalised."""
    X = np.arange(N * F, dtype=np.float64).reshape(N, F) % 5
    w, b = _ridge(student, X, np.full(N, c), lam)
    assert_close(w, np.zeros(F), f"ridge_fit(X={fmt(X)}, y = {c!r} everywhere, lam={lam!r})[0], w", atol=1e-9)
    assert_close(b, c, f"ridge_fit(X={fmt(X)}, y = {c!r} everywhere, lam={lam!r})[1], b", atol=1e-9)


@check("ridge_fit", public=True, bad=st.sampled_from(["lam0", "lam_neg", "lam_inf", "y_shape", "X_1d", "nan"]))
def ridge_fit__rejects_bad_arguments(student, ref, bad):
    """ridge_fit should raise ValueError for lam not a finite number > 0, y not of shape (N,), X not 2-D, or a NaN entry."""
    X, y, lam = np.eye(3), np.arange(3.0), 1.0
    if bad == "lam0":
        lam = 0.0
    elif bad == "lam_neg":
        lam = -1.0
    elif bad == "lam_inf":
        lam = math.inf
    elif bad == "y_shape":
        y = np.arange(4.0)
    elif bad == "X_1d":
        X = np.arange(3.0)
    else:
        y = np.array([0.0, math.nan, 1.0])
    raises_value_error(student, f"ridge_fit({fmt(X)}, {fmt(y)}, {lam!r})", X, y, lam)


# --- kendall_tau ----------------------------------------------------------------------------------
def _not_constant(pair) -> bool:
    a, b = pair
    return len(set(a.tolist())) > 1 and len(set(b.tolist())) > 1


@st.composite
def _scorings(draw):
    N = draw(S.sizes(2, 12, large=LARGE))
    elements = st.integers(0, 4).map(float) | S._floats(1.0)
    return draw(hnp.arrays(np.float64, N, elements=elements)), draw(hnp.arrays(np.float64, N, elements=elements))


@check("kendall_tau", public=True, pair=_scorings().filter(_not_constant))
def pair_counting(student, ref, pair):
    """tau_b should be (C - D) / sqrt((n0 - n_a)(n0 - n_b)), counting concordant C, discordant D and tied pairs over all i < j."""
    a, b = pair
    C = D = ta = tb = n0 = 0
    for i in range(a.size):
        for j in range(i + 1, a.size):
            n0 += 1
            ta += a[i] == a[j]
            tb += b[i] == b[j]
            C += (a[i] > a[j] and b[i] > b[j]) or (a[i] < a[j] and b[i] < b[j])
            D += (a[i] > a[j] and b[i] < b[j]) or (a[i] < a[j] and b[i] > b[j])
    expected = (C - D) / math.sqrt((n0 - ta) * (n0 - tb))
    assert_close(student(a, b), expected, f"kendall_tau({fmt(a)}, {fmt(b)}): C={C}, D={D}, n0={n0}, ties {ta} and {tb}",
                 atol=1e-12)


@check("kendall_tau", public=True, pair=_scorings().filter(_not_constant), reverse=st.booleans())
def depends_on_ranks_only(student, ref, pair, reverse):
    """tau_b should not change when a is replaced by its ranks (an increasing transform), should flip sign when a is negated, and be symmetric in a and b."""
    a, b = pair
    tau = as_float(student(a, b), f"kendall_tau({fmt(a)}, {fmt(b)})")
    require(-1 - 1e-12 <= tau <= 1 + 1e-12, f"kendall_tau({fmt(a)}, {fmt(b)}) = {tau!r} is outside [-1, 1]")
    if reverse:
        assert_close(student(-a, b), -tau, f"kendall_tau(-a, b) with a = {fmt(a)}, b = {fmt(b)} (should be -tau)",
                     atol=1e-12)
    else:
        ranks = np.unique(a, return_inverse=True)[1].astype(np.float64)  # 0, 1, ... in increasing order of a
        assert_close(student(ranks, b), tau, f"kendall_tau(ranks of a, b) with a = {fmt(a)}, b = {fmt(b)}", atol=1e-12)
    assert_close(student(b, a), tau, f"kendall_tau(b, a) with a = {fmt(a)}, b = {fmt(b)} (should equal kendall_tau(a, b))",
                 atol=1e-12)


@check("kendall_tau", public=True, N=st.integers(2, 5), bad=st.sampled_from(["const_a", "const_b", "one", "shapes",
                                                                               "nan", "2d"]))
def kendall_tau__rejects_bad_arguments(student, ref, N, bad):
    """kendall_tau should raise ValueError for a constant a or b (every pair tied), fewer than 2 items, arrays of different shapes or not 1-D, or a NaN."""
    a, b = np.arange(float(N)), np.arange(float(N))[::-1].copy()
    if bad == "const_a":
        a = np.full(N, 2.0)
    elif bad == "const_b":
        b = np.zeros(N)
    elif bad == "one":
        a, b = np.array([1.0]), np.array([2.0])
    elif bad == "shapes":
        b = np.arange(float(N + 1))
    elif bad == "nan":
        a = a.copy()
        a[0] = math.nan
    else:
        a, b = a.reshape(1, N), b.reshape(1, N)
    raises_value_error(student, f"kendall_tau({fmt(a)}, {fmt(b)})", a, b)
