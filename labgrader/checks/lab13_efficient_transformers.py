"""Lab 13 checks: FlashAttention's tiled attention and its memory traffic, TinyBERT's layer mapping and
losses, DeiT's distillation token, EBERT-style dynamic heads, Switch sparse-to-dense distillation and a
cascade's cost and accuracy.

Each check's docstring (first paragraph) is the property the student reads when it fails. The
public checks need no reference: they compute the quantity from its definition here, with dense
matrices and loops (naive attention, a walk through FlashAttention's Algorithm 1, per-layer and
per-sample loops, Python's ``math``), or test an invariant (block sizes do not matter, shifting
logits does not matter, a copied layer costs nothing).

The hidden checks (agreement with the reference) are in labgrader/checks/hidden/lab13_efficient_transformers.py,
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
EXERCISES = registry.exercises("reference_impl.efficient_transformers", [
    "tiled_attention", "attention_hbm_accesses", "tinybert_layer_map", "tinybert_attention_loss",
    "tinybert_hidden_loss", "soft_cross_entropy", "deit_loss", "deit_predict", "head_flops_loss",
    "switch_distill_loss", "cascade_cost_accuracy"
])


# --- strategies ----------------------------------------------------------------------------------
def _floats(bound: float = 5.0):
    """Small integers and halves first (readable counterexamples), then any float in [-bound, bound]."""
    return st.one_of(st.integers(-4, 4).map(lambda k: k / 2.0),
                     st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False))


def _array(draw, shape, bound: float = 5.0) -> np.ndarray:
    return draw(hnp.arrays(np.float64, shape, elements=_floats(bound)))


@st.composite
def qkv(draw, max_len: int = 9):
    """(Q (N, d), K (M, d), V (M, d_v), B_r, B_c): lengths up to 9 so that tiles are ragged and several, and
    sometimes a long key sequence (S.sizes: up to 40 keys, many column tiles)."""
    N, M = draw(st.integers(1, max_len)), draw(S.sizes(1, max_len))
    d, dv = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return (_array(draw, (N, d)), _array(draw, (M, d)), _array(draw, (M, dv)),
            draw(st.integers(1, max_len + 1)), draw(st.integers(1, max_len + 1)))


@st.composite
def logit_pair(draw, bound: float = 20.0, max_batch: int = 8):
    """Two (B, C) float64 arrays of one shape."""
    B, C = draw(st.integers(1, max_batch)), draw(st.integers(1, 5))
    return _array(draw, (B, C), bound), _array(draw, (B, C), bound)


@st.composite
def labelled(draw, n_logits: int, bound: float = 20.0, max_batch: int = 8):
    """n_logits (B, C) arrays of one shape and labels (B,) int64 in [0, C)."""
    B, C = draw(st.integers(1, max_batch)), draw(st.integers(1, 5))
    zs = tuple(_array(draw, (B, C), bound) for _ in range(n_logits))
    y = np.array(draw(st.lists(st.integers(0, C - 1), min_size=B, max_size=B)), dtype=np.int64)
    return zs + (y,)


@st.composite
def tied_heads(draw, bound: float = 6.0):
    """Two (B, C) logit arrays whose columns, on some draws, repeat (S.tied on the column order): classes
    c < c' with the same logit in both heads have bitwise-equal fused probabilities in any implementation,
    an exact tie that the lowest-index rule decides."""
    Zc, Zd = draw(logit_pair(bound=bound))
    cols = S.tied(np.arange(Zc.shape[1]), draw).astype(np.int64)
    return Zc[:, cols], Zd[:, cols]


@st.composite
def deit_cases(draw):
    """(Z_cls, Z_dist, Z_teacher, labels) with the teacher's logits snapped to exact ties on some draws."""
    Zc, Zd, Zt, y = draw(labelled(3))
    return Zc, Zd, S.tied(Zt, draw), y


@st.composite
def attention_stacks(draw):
    """(student (M, h, l, l), teacher (N, h, l, l)) with N = k M."""
    M, k, h, l = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 4))
    return _array(draw, (M, h, l, l)), _array(draw, (k * M, h, l, l))


@st.composite
def hidden_stacks(draw):
    """(student (M+1, B, l, d'), teacher (N+1, B, l, d), W_h (d', d), W_e (d', d)) with N = k M."""
    M, k, B, l = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    ds, dt = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return (_array(draw, (M + 1, B, l, ds)), _array(draw, (k * M + 1, B, l, dt)),
            _array(draw, (ds, dt)), _array(draw, (ds, dt)))


@st.composite
def gates(draw):
    """(gate_logits (B, H), head_flops (H,), fixed_flops, target_ratio) with F_full > 0."""
    B, H = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    g = _array(draw, (B, H), 10.0)
    f = draw(hnp.arrays(np.float64, H, elements=st.one_of(st.integers(0, 8).map(float), st.floats(0, 100))))
    fixed = draw(st.one_of(st.sampled_from([0.0, 1.0, 10.0]), st.floats(0, 100)))
    if fixed + f.sum() <= 0:
        fixed = 1.0
    return g, f, fixed, draw(st.one_of(st.sampled_from([0.25, 0.5, 1.0]), st.floats(0.01, 1.0)))


CONFIDENCES = st.sampled_from([0.0, 0.2, 0.5, 0.7, 0.9, 1.0])
_STAGES = S.sizes(1, 4, large=12)  # sometimes a long cascade: a cost summed over 1-2 stages hides a missing running sum


@st.composite
def cascades(draw):
    """(confidences (B, S), correct (B, S) bool, thresholds (S-1,), stage_costs (S,)); values on a grid (ties)."""
    B, S = draw(st.integers(1, 10)), draw(_STAGES)
    conf = draw(hnp.arrays(np.float64, (B, S), elements=CONFIDENCES))
    correct = draw(hnp.arrays(bool, (B, S)))
    t = draw(hnp.arrays(np.float64, S - 1, elements=st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0, 1.5])))
    c = draw(hnp.arrays(np.float64, S, elements=st.one_of(st.integers(0, 10).map(float), st.floats(0, 100))))
    return conf, correct, t, c


# --- helpers --------------------------------------------------------------------------------------


def _same_ints(got, expected, what: str) -> None:
    expected = np.asarray(expected, dtype=np.int64)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        raise CheckFailed(f"{what} should be a NumPy array of shape {expected.shape}, got {fmt(got)}")
    if got.dtype.kind not in "iuf" or not np.array_equal(got, expected):
        raise CheckFailed(f"{what}\n  expected: {fmt(expected)}\n  got:      {fmt(got)}", expected=fmt(expected),
                          got=fmt(got))


def _log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """log softmax of each row, from math.fsum over the max-shifted exponentials."""
    out = np.empty_like(z, dtype=np.float64)
    for b, row in enumerate(z):
        top = max(row)
        lse = top + math.log(math.fsum(math.exp(v - top) for v in row))
        out[b] = [v - lse for v in row]
    return out


def _dense_attention(Q, K, V):
    """softmax(Q K^T / sqrt(d)) V and the row log-sum-exp, with the whole score matrix in memory."""
    S = Q @ K.T / math.sqrt(Q.shape[1])
    logp = _log_softmax_rows(S)
    lse = S[:, 0] - logp[:, 0]
    return np.exp(logp) @ V, lse


def _attention(student, Q, K, V, br, bc):
    got = as_tuple(student(Q, K, V, br, bc), 2, "tiled_attention(Q, K, V, block_rows, block_cols)")
    return as_array(got[0], "O", shape=(Q.shape[0], V.shape[1])), as_array(got[1], "L", shape=(Q.shape[0],))


def _walk_algorithm_1(N: int, d: int, M: int) -> int:
    """HBM elements moved by FlashAttention's Algorithm 1, counted block by block."""
    B_c = -(-M // (4 * d))
    B_r = min(B_c, d)
    moved = N * d + 2 * N
    for c0 in range(0, N, B_c):
        moved += 2 * min(B_c, N - c0) * d
        for r0 in range(0, N, B_r):
            rows = min(B_r, N - r0)
            moved += (2 * rows * d + 2 * rows) + (rows * d + 2 * rows)
    return moved


# --- tiled_attention ------------------------------------------------------------------------------
@check("tiled_attention", public=True, case=qkv())
def equals_naive_attention(student, ref, case):
    """The output should equal naive attention softmax(Q K^T / sqrt(d)) V to 1e-12, and L should be each row's log sum_j exp(S[i, j]), for any block sizes."""
    Q, K, V, br, bc = case
    O, L = _attention(student, Q, K, V, br, bc)
    eO, eL = _dense_attention(Q, K, V)
    # 1e-12, relative to the size of the entries (up to ~50 for L): a few units of float64 rounding, any order
    assert_close(O, eO, f"tiled_attention(Q={fmt(Q)}, K={fmt(K)}, V={fmt(V)}, {br}, {bc})[0] vs naive attention",
                 rtol=1e-12, atol=1e-12)
    assert_close(L, eL, f"tiled_attention(Q={fmt(Q)}, K={fmt(K)}, V, {br}, {bc})[1] vs log-sum-exp of the scores",
                 rtol=1e-12, atol=1e-12)


@check("tiled_attention", public=True, case=qkv(max_len=12), seed=st.integers(0, 3))
def block_sizes_do_not_matter(student, ref, case, seed):
    """One tile per row (block_cols = 1), one tile for everything and the drawn block sizes should all give the same O and L."""
    Q, K, V, br, bc = case
    rng = np.random.default_rng(seed)
    Q, K = Q + rng.normal(size=Q.shape), K + rng.normal(size=K.shape)
    O, L = _attention(student, Q, K, V, br, bc)
    for other in ((1, 1), (Q.shape[0], K.shape[0]), (br, 1)):
        O2, L2 = _attention(student, Q, K, V, *other)
        assert_close(O2, O, f"tiled_attention with blocks {other} vs blocks ({br}, {bc}), Q={fmt(Q)}, K={fmt(K)}",
                     rtol=1e-10, atol=1e-12)
        assert_close(L2, L, f"L with blocks {other} vs blocks ({br}, {bc})", rtol=1e-10, atol=1e-12)


@check("tiled_attention", public=True, scale=st.sampled_from([50.0, 200.0, 1000.0]), bc=st.integers(1, 3))
def stable_for_huge_scores(student, ref, scale, bc):
    """Scores of order 1e4 to 1e6 should give a finite answer: the running max of each row keeps exp from overflowing (each query attends to its best key; a zero query, whose scores are all 0, averages the values)."""
    Q = scale * np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    K = scale * np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    V = np.arange(8.0).reshape(4, 2)
    O, L = _attention(student, Q, K, V, 2, bc)
    top = scale**2 / math.sqrt(2)
    assert_close(O, np.vstack([V[[1, 2, 3]], V.mean(axis=0)]),
                 f"tiled_attention(Q, K, V, 2, {bc}) with scores up to {top:.3g} and a zero query", atol=1e-9)
    assert_close(L, [top, top, top, math.log(4)], f"L with scores up to {top:.3g} and a zero query")


@check("tiled_attention", public=True, N=st.integers(1, 8), M=st.integers(1, 8), bc=st.integers(1, 8))
def equal_scores_average_the_values(student, ref, N, M, bc):
    """With Q = 0 every score ties: each output row is the mean of V's rows and L = log M."""
    V = np.arange(2.0 * M).reshape(M, 2) ** 1.5
    O, L = _attention(student, np.zeros((N, 3)), np.ones((M, 3)), V, 2, bc)
    assert_close(O, np.tile(V.mean(axis=0), (N, 1)), f"tiled_attention(zeros(({N}, 3)), ones(({M}, 3)), V, 2, {bc})")
    assert_close(L, np.full(N, math.log(M)), "L for equal scores")


@check("tiled_attention", public=True, bad=st.sampled_from([
    ("K with another d", np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 1)), 1, 1),
    ("V with another M", np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 1)), 1, 1),
    ("1-D Q", np.ones(3), np.ones((2, 3)), np.ones((2, 1)), 1, 1),
    ("empty Q", np.ones((0, 3)), np.ones((2, 3)), np.ones((2, 1)), 1, 1),
    ("NaN in K", np.ones((2, 3)), np.full((2, 3), np.nan), np.ones((2, 1)), 1, 1),
    ("block_rows 0", np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)), 0, 1),
    ("block_cols 2.0", np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 1)), 1, 2.0)]))
def tiled_attention__rejects_bad_input(student, ref, bad):
    """tiled_attention should raise ValueError for shapes that do not match, empty or non-finite inputs, or a block size that is not a positive integer."""
    what, *args = bad
    raises_value_error(student, f"tiled_attention with {what}", *args)


# --- attention_hbm_accesses -----------------------------------------------------------------------
@st.composite
def _whole_blocks(draw):
    """(N, d, M) with M a multiple of 4 d and N a multiple of B_c = M / 4d: the ceilings are exact there, so
    a ceiling computed as floor + 1 is one block too many (random sizes almost never divide)."""
    d, B_c = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    return B_c * draw(st.integers(1, 4)), d, 4 * d * B_c


SIZES = st.one_of(st.tuples(st.integers(1, 300), st.integers(1, 64), st.one_of(st.integers(1, 2000), st.integers(1, 10**6))),
                  _whole_blocks())


def _hbm(student, N, d, M) -> tuple[int, int]:
    got = as_tuple(student(N, d, M), 2, f"attention_hbm_accesses({N}, {d}, {M})")
    return as_int(got[0], "naive"), as_int(got[1], "flash")


@check("attention_hbm_accesses", public=True, sizes=SIZES)
def naive_is_4Nd_plus_4N2(student, ref, sizes):
    """Naive attention should move 4 N d + 4 N^2 elements: Q, K, V read, O written, and S and P each written and read back."""
    N, d, M = sizes
    naive, _ = _hbm(student, N, d, M)
    require(naive == 4 * N * d + 4 * N * N, f"attention_hbm_accesses({N}, {d}, {M})[0] = {naive}, expected "
                                           f"4 N d + 4 N^2 = {4 * N * d + 4 * N * N}")


@check("attention_hbm_accesses", public=True, sizes=SIZES)
def flash_walks_algorithm_1(student, ref, sizes):
    """FlashAttention's count should be what a walk through Algorithm 1 moves: O, l, m initialised; per column block K_j, V_j read; per (column, row) block Q_i, O_i, l_i, m_i read and O_i, l_i, m_i written (B_c = ceil(M / 4d), B_r = min(B_c, d))."""
    N, d, M = sizes
    _, flash = _hbm(student, N, d, M)
    expected = _walk_algorithm_1(N, d, M)
    require(flash == expected, f"attention_hbm_accesses({N}, {d}, {M})[1] = {flash}, but Algorithm 1 moves {expected}")


@check("attention_hbm_accesses", public=True, bad=st.sampled_from([(0, 8, 64), (8, 0, 64), (8, 8, 0), (8.0, 8, 64),
                                                                   (8, 8, -64), (True, 8, 64)]))
def attention_hbm_accesses__rejects_bad_input(student, ref, bad):
    """attention_hbm_accesses should raise ValueError when N, d or sram_size is not a positive integer."""
    raises_value_error(student, f"attention_hbm_accesses{bad}", *bad)


# --- tinybert_layer_map ---------------------------------------------------------------------------
@check("tinybert_layer_map", public=True, M=st.integers(1, 12), k=st.integers(1, 4))
def uniform_closed_form(student, ref, M, k):
    """The mapping should be g(m) = m N / M for m = 0..M and g(M + 1) = N + 1 (embedding to embedding, prediction layer to prediction layer)."""
    N = k * M
    got = student(M, N)
    _same_ints(got, [m * k for m in range(M + 1)] + [N + 1], f"tinybert_layer_map({M}, {N})")
    require(got.dtype.kind in "iu", f"tinybert_layer_map({M}, {N}) should be an integer array (layer indices), "
                                    f"got dtype {got.dtype}")


@check("tinybert_layer_map", public=True, bad=st.sampled_from([(3, 8), (0, 4), (4, 0), (2.0, 4), (5, 3), (-2, 4)]))
def tinybert_layer_map__rejects_bad_input(student, ref, bad):
    """tinybert_layer_map should raise ValueError for a layer count that is not a positive integer, or N not a multiple of M."""
    raises_value_error(student, f"tinybert_layer_map{bad}", *bad)


# --- tinybert_attention_loss ----------------------------------------------------------------------
def _attn_loss(S, T) -> float:
    M, h = S.shape[:2]
    k = T.shape[0] // M
    total = 0.0
    for m in range(1, M + 1):
        for i in range(h):
            total += float(np.mean((S[m - 1, i] - T[m * k - 1, i]) ** 2)) / h
    return total


@check("tinybert_attention_loss", public=True, stacks=attention_stacks())
def mse_over_mapped_layers(student, ref, stacks):
    """The loss should be sum over student layers m of (1/h) sum over heads of MSE(A^S_m, A^T_{g(m)}), with g(m) = m N / M (layers counted from 1)."""
    S, T = stacks
    assert_close(student(S, T), _attn_loss(S, T), f"tinybert_attention_loss(S={fmt(S)}, T={fmt(T)})")


@check("tinybert_attention_loss", public=True, stacks=attention_stacks().filter(lambda s: s[1].shape[0] > s[0].shape[0]))
def zero_when_copying_the_mapped_layers(student, ref, stacks):
    """A student whose layers are copies of teacher layers g(1), ..., g(M) should have loss 0; copies of the first M teacher layers should not (unless they are equal)."""
    S, T = stacks
    M, k = S.shape[0], T.shape[0] // S.shape[0]
    mapped = T[[m * k - 1 for m in range(1, M + 1)]]
    assert_close(student(mapped, T), 0.0, f"tinybert_attention_loss(T[mapped layers], T) with T={fmt(T)}", atol=0)
    assert_close(student(T[:M], T), _attn_loss(T[:M], T), f"tinybert_attention_loss(T[:{M}], T) with T={fmt(T)}")


@check("tinybert_attention_loss", public=True, bad=st.sampled_from([
    ("3 teacher layers for 2 student layers", np.ones((2, 1, 3, 3)), np.ones((3, 1, 3, 3))),
    ("different head counts", np.ones((1, 1, 3, 3)), np.ones((2, 2, 3, 3))),
    ("non-square maps", np.ones((1, 1, 3, 2)), np.ones((1, 1, 3, 2))),
    ("3-D stacks", np.ones((1, 3, 3)), np.ones((1, 3, 3))),
    ("inf scores", np.full((1, 1, 2, 2), np.inf), np.ones((1, 1, 2, 2)))]))
def tinybert_attention_loss__rejects_bad_input(student, ref, bad):
    """tinybert_attention_loss should raise ValueError for stacks that are not 4-D, differ in (h, l, l), are not square or finite, or whose layer counts do not map uniformly."""
    what, *args = bad
    raises_value_error(student, f"tinybert_attention_loss with {what}", *args)


# --- tinybert_hidden_loss -------------------------------------------------------------------------
def _hidden_loss(HS, HT, W_h, W_e) -> float:
    M = HS.shape[0] - 1
    k = (HT.shape[0] - 1) // M
    total = float(np.mean((HS[0] @ W_e - HT[0]) ** 2))
    for m in range(1, M + 1):
        total += float(np.mean((HS[m] @ W_h - HT[m * k]) ** 2))
    return total


def _hidden_call(stacks) -> str:
    return "tinybert_hidden_loss(HS, HT, W_h, W_e) with " + ", ".join(fmt(a) for a in stacks)


@check("tinybert_hidden_loss", public=True, stacks=hidden_stacks())
def projected_mse_closed_form(student, ref, stacks):
    """The loss should be MSE(E^S W_e, E^T) + sum over m = 1..M of MSE(H^S_m W_h, H^T_{g(m)}), index 0 being the embeddings and g(m) = m N / M."""
    assert_close(student(*stacks), _hidden_loss(*stacks), _hidden_call(stacks))


@check("tinybert_hidden_loss", public=True, stacks=hidden_stacks())
def embedding_uses_W_e_and_layers_W_h(student, ref, stacks):
    """Only the embedding term should use W_e and only the layer terms W_h: when E^T = E^S W_e exactly, the loss is just the layer terms."""
    HS, HT, W_h, W_e = stacks
    HT = HT.copy()
    HT[0] = HS[0] @ W_e  # the embedding term is now exactly 0
    assert_close(student(HS, HT, W_h, W_e), _hidden_loss(HS, HT, W_h, W_e),
                 f"tinybert_hidden_loss with embeddings matched through W_e={fmt(W_e)} (W_h={fmt(W_h)})")


@check("tinybert_hidden_loss", public=True, bad=st.sampled_from([
    ("no layer, embeddings only", np.ones((1, 1, 1, 2)), np.ones((1, 1, 1, 2)), np.ones((2, 2)), np.ones((2, 2))),
    ("different batch sizes", np.ones((2, 1, 1, 2)), np.ones((2, 2, 1, 2)), np.ones((2, 2)), np.ones((2, 2))),
    ("W_h of the wrong shape", np.ones((2, 1, 1, 2)), np.ones((2, 1, 1, 3)), np.ones((2, 2)), np.ones((2, 3))),
    ("2 student layers, 1 teacher layer", np.ones((3, 1, 1, 2)), np.ones((2, 1, 1, 2)), np.ones((2, 2)), np.ones((2, 2))),
    ("NaN in W_e", np.ones((2, 1, 1, 2)), np.ones((2, 1, 1, 2)), np.ones((2, 2)), np.full((2, 2), np.nan))]))
def tinybert_hidden_loss__rejects_bad_input(student, ref, bad):
    """tinybert_hidden_loss should raise ValueError for stacks without a layer, of other batch or length, projections of the wrong shape or not finite, or layer counts that do not map uniformly."""
    what, *args = bad
    raises_value_error(student, f"tinybert_hidden_loss with {what}", *args)


# --- soft_cross_entropy ---------------------------------------------------------------------------
TEMPS = st.one_of(st.sampled_from([0.5, 1.0, 2.0, 4.0]), st.floats(0.2, 20.0))


def _soft_ce(zs, zt, T) -> float:
    log_ps, log_pt = _log_softmax_rows(zs / T), _log_softmax_rows(zt / T)
    return float(-(np.exp(log_pt) * log_ps).sum(axis=1).mean())


@check("soft_cross_entropy", public=True, pair=logit_pair(), T=TEMPS)
def soft_cross_entropy_closed_form(student, ref, pair, T):
    """The loss should be -1/B sum_b sum_c softmax(z^T_b / T)_c log softmax(z^S_b / T)_c (no T^2 factor)."""
    zs, zt = pair
    assert_close(student(zs, zt, T), _soft_ce(zs, zt, T), f"soft_cross_entropy({fmt(zs)}, {fmt(zt)}, {T!r})")


@check("soft_cross_entropy", public=True, pair=logit_pair(), shift=st.sampled_from([-1e3, 7.5, 1e3]))
def shift_invariant_and_stable(student, ref, pair, shift):
    """Adding a constant to a row of logits should not change the loss, even a constant of 1e3 (the softmax must be max-shifted)."""
    zs, zt = pair
    base = as_float(student(zs, zt, 1.0), "the loss")
    assert_close(student(zs + shift, zt - shift, 1.0), base,
                 f"soft_cross_entropy({fmt(zs)} + {shift}, {fmt(zt)} - {shift}) vs unshifted", rtol=1e-9, atol=1e-9)


def _far_rows(big: float) -> np.ndarray:
    """Two rows of logits: one spread over 1.5 big, one offset by -big (a global max or min shift overflows)."""
    return np.array([[big, 0.0, -big / 2], [-big, -big - 1.0, -big - 3.0]])


BIG = st.sampled_from([800.0, 2000.0, 1e4])


@check("soft_cross_entropy", public=True, big=BIG, T=st.sampled_from([1.0, 2.0]))
def rows_far_apart_stay_finite(student, ref, big, T):
    """Rows whose logits spread over 1e3 or more, and rows offset by -1e3 or more from the others, should give the closed form: each row is shifted by its own maximum."""
    zs, zt = _far_rows(big), _far_rows(big)[::-1].copy()
    assert_close(student(zs, zt, T), _soft_ce(zs, zt, T), f"soft_cross_entropy({fmt(zs)}, {fmt(zt)}, {T})")


@check("soft_cross_entropy", public=True, pair=logit_pair(), T=TEMPS)
def at_least_the_teacher_entropy(student, ref, pair, T):
    """The loss should be at least the teacher's entropy at T (it is KL + entropy), with equality when the student's logits equal the teacher's."""
    _, zt = pair
    log_pt = _log_softmax_rows(zt / T)
    entropy = float(-(np.exp(log_pt) * log_pt).sum(axis=1).mean())
    assert_close(student(zt, zt, T), entropy, f"soft_cross_entropy(z, z, {T!r}) with z={fmt(zt)}: the teacher's entropy",
                 atol=1e-9)
    got = as_float(student(pair[0], zt, T), "the loss")
    require(got >= entropy - 1e-9, f"soft_cross_entropy({fmt(pair[0])}, {fmt(zt)}, {T!r}) = {got!r} is below the "
                                   f"teacher's entropy {entropy!r}")


@check("soft_cross_entropy", public=True, bad=st.sampled_from([
    ("T = 0", np.ones((2, 3)), np.ones((2, 3)), 0.0), ("T = inf", np.ones((2, 3)), np.ones((2, 3)), math.inf),
    ("shapes (2, 3) and (3, 2)", np.ones((2, 3)), np.ones((3, 2)), 1.0), ("1-D logits", np.ones(3), np.ones(3), 1.0),
    ("NaN logits", np.array([[np.nan]]), np.ones((1, 1)), 1.0), ("T = -1", np.ones((1, 2)), np.ones((1, 2)), -1.0)]))
def soft_cross_entropy__rejects_bad_input(student, ref, bad):
    """soft_cross_entropy should raise ValueError for T not positive and finite, logits of different or non-2-D shapes, or non-finite logits."""
    what, *args = bad
    raises_value_error(student, f"soft_cross_entropy with {what}", *args)


# --- deit_loss ------------------------------------------------------------------------------------
def _deit(Zc, Zd, Zt, y) -> float:
    rows = np.arange(len(y))
    y_t = [int(np.flatnonzero(r == r.max())[0]) for r in Zt]
    return float(-0.5 * _log_softmax_rows(Zc)[rows, y].mean() - 0.5 * _log_softmax_rows(Zd)[rows, y_t].mean())


@check("deit_loss", public=True, case=deit_cases())
def half_label_half_teacher_decision(student, ref, case):
    """The loss should be 1/2 CE(Z_cls, y) + 1/2 CE(Z_dist, argmax Z_teacher): the class token learns the labels, the distillation token the teacher's hard decisions."""
    assert_close(student(*case), _deit(*case), "deit_loss(" + ", ".join(fmt(a) for a in case) + ")")


@check("deit_loss", public=True, case=labelled(2), C=st.integers(2, 5))
def teacher_ties_go_to_the_lowest_class(student, ref, case, C):
    """When the teacher's top logit ties, its decision should be the lowest class index (np.argmax's rule)."""
    Zc, Zd, y = case
    B = len(y)
    Zc, Zd = np.resize(Zc, (B, C)), np.resize(Zd, (B, C))
    y = y % C
    Zt = np.zeros((B, C))  # every class ties: the teacher says class 0
    assert_close(student(Zc, Zd, Zt, y), _deit(Zc, Zd, Zt, y), f"deit_loss with an all-zero teacher (ties), Zd={fmt(Zd)}")


@check("deit_loss", public=True, big=BIG)
def deit_loss_rows_far_apart(student, ref, big):
    """Logits spread over 1e3 or more, with rows offset from each other, should still give the closed form (each row shifted by its own maximum)."""
    Zc, Zd, Zt = _far_rows(big), _far_rows(big)[::-1].copy(), _far_rows(big)[:, ::-1].copy()
    y = np.array([2, 1])
    assert_close(student(Zc, Zd, Zt, y), _deit(Zc, Zd, Zt, y), f"deit_loss({fmt(Zc)}, {fmt(Zd)}, {fmt(Zt)}, {fmt(y)})")


@check("deit_loss", public=True, bad=st.sampled_from([
    ("label 2 of 2 classes", np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.array([2])),
    ("label -1", np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.array([-1])),
    ("float labels", np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.array([0.0])),
    ("2 labels for 1 row", np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.array([0, 1])),
    ("dist logits of another shape", np.ones((1, 2)), np.ones((1, 3)), np.ones((1, 2)), np.array([0])),
    ("NaN teacher logits", np.ones((1, 2)), np.ones((1, 2)), np.full((1, 2), np.nan), np.array([0]))]))
def deit_loss__rejects_bad_input(student, ref, bad):
    """deit_loss should raise ValueError for logits that are not finite (B, C) arrays of one shape, or labels that are not integers in [0, C) of shape (B,)."""
    what, *args = bad
    raises_value_error(student, f"deit_loss with {what}", *args)


# --- deit_predict ---------------------------------------------------------------------------------
def _predict(student, Zc, Zd):
    got = as_tuple(student(Zc, Zd), 2, "deit_predict(cls_logits, dist_logits)")
    return got[0], as_float(got[1], "agreement")


@check("deit_predict", public=True, pair=tied_heads())
def sum_of_softmaxes_and_agreement(student, ref, pair):
    """The prediction should be argmax of softmax(Z_cls) + softmax(Z_dist) (ties: the lowest class), and the agreement the fraction of rows where argmax Z_cls equals argmax Z_dist."""
    Zc, Zd = pair
    pred, agreement = _predict(student, Zc, Zd)
    fused = np.exp(_log_softmax_rows(Zc)) + np.exp(_log_softmax_rows(Zd))
    expected = []
    for row in fused:  # near-ties within rounding count either way (correct implementations round differently)
        best = [c for c in range(len(row)) if row[c] >= row.max() - 1e-12]
        expected.append(best)
    require(isinstance(pred, np.ndarray) and pred.shape == (len(Zc),),
            f"deit_predict(...)[0] should be a NumPy array of shape ({len(Zc)},), got {fmt(pred)}")
    for b, p in enumerate(pred):
        require(int(p) in expected[b], f"row {b}: predicted class {int(p)}, but softmax(Z_cls) + softmax(Z_dist) = "
                                       f"{fmt(fused[b])} is largest at {expected[b][0]}")
        # an exact tie (a lower class with the same logit in both heads) goes to the lower class, as documented
        lower = [c for c in expected[b] if c < int(p) and Zc[b, c] == Zc[b, int(p)] and Zd[b, c] == Zd[b, int(p)]]
        require(not lower, f"row {b}: predicted class {int(p)}, but class {lower[0] if lower else 0} has the same logits in "
                           f"both heads (Z_cls {fmt(Zc[b])}, Z_dist {fmt(Zd[b])}): an exact tie goes to the lowest class")
    agree = sum(int(np.argmax(Zc[b]) == np.argmax(Zd[b])) for b in range(len(Zc))) / len(Zc)
    assert_close(agreement, agree, f"deit_predict({fmt(Zc)}, {fmt(Zd)})[1], the agreement")


@check("deit_predict", public=True, big=st.sampled_from([30.0, 200.0, 1e4]))
def fuses_probabilities_not_logits(student, ref, big):
    """The heads should be fused by adding probabilities: a very confident class head cannot outvote by its logits' size alone, and huge logits stay finite."""
    Zc = np.array([[big, big - 0.1, 0.0], [0.0, 1.0, 0.0]])  # class head: 0 barely over 1
    Zd = np.array([[0.0, 3.0, 2.0], [0.0, 1.0, 0.0]])  # dist head: clearly 1
    pred, agreement = _predict(student, Zc, Zd)
    _same_ints(pred, [1, 1], f"deit_predict({fmt(Zc)}, {fmt(Zd)})[0]")
    assert_close(agreement, 0.5, f"deit_predict({fmt(Zc)}, {fmt(Zd)})[1]")


@check("deit_predict", public=True, big=BIG)
def deit_predict_rows_far_apart(student, ref, big):
    """Logits spread over 1e3 or more, with rows offset from each other, should fuse like small ones: each head's softmax shifted by its row's maximum."""
    Zc = np.array([[-big / 2, 0.0, 0.0], [-big, -big - 1.0, -big - 3.0]])
    Zd = np.array([[-big, 0.0, 0.5], [-big - 3.0, -big, -big - 1.0]])  # fused: class 2, then class 1
    pred, agreement = _predict(student, Zc, Zd)
    fused = np.exp(_log_softmax_rows(Zc)) + np.exp(_log_softmax_rows(Zd))
    _same_ints(pred, fused.argmax(axis=1), f"deit_predict({fmt(Zc)}, {fmt(Zd)})[0], fused {fmt(fused)}")
    agree = float(np.mean(Zc.argmax(axis=1) == Zd.argmax(axis=1)))
    assert_close(agreement, agree, f"deit_predict({fmt(Zc)}, {fmt(Zd)})[1]")


@check("deit_predict", public=True, bad=st.sampled_from([
    ("shapes (1, 2) and (1, 3)", np.ones((1, 2)), np.ones((1, 3))), ("1-D logits", np.ones(2), np.ones(2)),
    ("empty logits", np.ones((0, 2)), np.ones((0, 2))), ("inf logits", np.full((1, 2), np.inf), np.ones((1, 2)))]))
def deit_predict__rejects_bad_input(student, ref, bad):
    """deit_predict should raise ValueError for logits that are not finite non-empty (B, C) arrays of one shape."""
    what, *args = bad
    raises_value_error(student, f"deit_predict with {what}", *args)


# --- head_flops_loss ------------------------------------------------------------------------------
def _heads(student, g, f, fixed, target):
    got = as_tuple(student(g, f, fixed, target), 3, "head_flops_loss(gate_logits, head_flops, fixed_flops, target_ratio)")
    return got[0], as_array(got[1], "expected_flops", shape=(g.shape[0],)), as_float(got[2], "penalty")


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


@check("head_flops_loss", public=True, g=st.sampled_from([-0.5, 0.5, -3.0, 2.0, -20.0]))
def one_head_costs_its_sigmoid(student, ref, g):
    """One input, one head of 1 FLOP and nothing fixed: the expected FLOPs should be sigmoid(g), on both sides of 0 (a stable sigmoid has a branch for each)."""
    _, expected, _ = _heads(student, np.array([[g]]), np.array([1.0]), 0.0, 1.0)
    assert_close(expected, [_sigmoid(g)], f"head_flops_loss(np.array([[{g}]]), np.array([1.0]), 0.0, 1.0)[1], the expected "
                 f"FLOPs sigmoid({g})")


@check("head_flops_loss", public=True, case=gates())
def sigmoid_expected_flops_and_hinge(student, ref, case):
    """Expected FLOPs should be fixed + sum_i sigmoid(g_i) flops_i per input, the mask g > 0, and the penalty max(0, mean E[F] / F_full - target)^2."""
    g, f, fixed, target = case
    mask, expected, penalty = _heads(student, g, f, fixed, target)
    what = "head_flops_loss(" + ", ".join(fmt(a) for a in case) + ")"
    e = np.array([fixed + math.fsum(_sigmoid(x) * fi for x, fi in zip(row, f)) for row in g])
    _same_ints(mask, (g > 0).astype(np.int64), what + "[0], the hard mask")
    assert_close(expected, e, what + "[1], the expected FLOPs")
    assert_close(penalty, max(0.0, float(e.mean()) / (fixed + math.fsum(f)) - target) ** 2, what + "[2], the penalty",
                 atol=1e-12)


@check("head_flops_loss", public=True, H=st.integers(1, 8), big=st.sampled_from([50.0, 800.0, 1e4]))
def saturated_gates_count_whole_heads(student, ref, H, big):
    """Gate logits of +-big (up to 1e4) should keep or drop whole heads without overflow: E[F] = fixed + the kept heads' FLOPs, and the penalty is 0 at or below the target."""
    g = np.where(np.arange(H) % 2 == 0, big, -big)[None, :]
    f = np.arange(1.0, H + 1)
    kept = float(f[::2].sum())
    mask, expected, penalty = _heads(student, g, f, 2.0, 1.0)
    _same_ints(mask, (g > 0).astype(np.int64), f"head_flops_loss with gates {fmt(g)}[0]")
    assert_close(expected, [2.0 + kept], f"head_flops_loss with gates {fmt(g)}[1]", atol=1e-9)
    assert_close(penalty, 0.0, "the penalty under a target of 1", atol=0)


@check("head_flops_loss", public=True, bad=st.sampled_from([
    ("3 head FLOPs for 2 heads", np.ones((1, 2)), np.ones(3), 1.0, 0.5),
    ("negative head FLOPs", np.ones((1, 2)), -np.ones(2), 1.0, 0.5),
    ("fixed_flops -1", np.ones((1, 2)), np.ones(2), -1.0, 0.5),
    ("a model of 0 FLOPs", np.ones((1, 2)), np.zeros(2), 0.0, 0.5),
    ("target 0", np.ones((1, 2)), np.ones(2), 1.0, 0.0), ("target 1.5", np.ones((1, 2)), np.ones(2), 1.0, 1.5),
    ("1-D gate logits", np.ones(2), np.ones(2), 1.0, 0.5),
    ("NaN gate logits", np.full((1, 2), np.nan), np.ones(2), 1.0, 0.5)]))
def head_flops_loss__rejects_bad_input(student, ref, bad):
    """head_flops_loss should raise ValueError for gate logits that are not a finite (B, H) array, head FLOPs that are negative or of the wrong length, negative fixed FLOPs, a model of 0 FLOPs, or a target outside (0, 1]."""
    what, *args = bad
    raises_value_error(student, f"head_flops_loss with {what}", *args)


# --- switch_distill_loss --------------------------------------------------------------------------
WEIGHTS = st.one_of(st.sampled_from([0.0, 0.25, 1.0]), st.floats(0.0, 1.0, allow_subnormal=False))


@check("switch_distill_loss", public=True, case=labelled(2), w=WEIGHTS)
def cross_entropy_against_the_mix(student, ref, case, w):
    """The loss should be the cross-entropy of softmax(z^S) against q = w softmax(z^T) + (1 - w) onehot(y)."""
    zs, zt, y = case
    q = w * np.exp(_log_softmax_rows(zt)) + (1 - w) * np.eye(zs.shape[1])[y]
    expected = float(-(q * _log_softmax_rows(zs)).sum(axis=1).mean())
    assert_close(student(zs, zt, y, w), expected, f"switch_distill_loss({fmt(zs)}, {fmt(zt)}, {fmt(y)}, {w!r})")


@check("switch_distill_loss", public=True, case=labelled(2))
def default_is_a_quarter_teacher(student, ref, case):
    """Called without teacher_weight the loss should use the reading notes' mix: 0.25 of the teacher's probabilities, 0.75 of the label."""
    zs, zt, y = case
    q = 0.25 * np.exp(_log_softmax_rows(zt)) + 0.75 * np.eye(zs.shape[1])[y]
    expected = float(-(q * _log_softmax_rows(zs)).sum(axis=1).mean())
    assert_close(student(zs, zt, y), expected, f"switch_distill_loss({fmt(zs)}, {fmt(zt)}, {fmt(y)})")


@check("switch_distill_loss", public=True, big=st.sampled_from([100.0, 1e3, 1e4]))
def stable_at_huge_logits(student, ref, big):
    """Logits of +-1e4 should give a finite loss (a student sure of the wrong class pays about the logit gap), also when the rows are far apart from each other."""
    zs = np.array([[big, -big], [-big, -big - 1.0]])
    y = np.array([1, 0])
    expected = float(-(_log_softmax_rows(zs)[[0, 1], y]).mean())  # (2 big + log(1 + 1/e)) / 2
    got = as_float(student(zs, zs.copy(), y, 0.0), f"switch_distill_loss({fmt(zs)}, ..., [1, 0], 0.0)")
    assert_close(got, expected, f"switch_distill_loss({fmt(zs)}, ..., [1, 0], 0.0)")


@check("switch_distill_loss", public=True, bad=st.sampled_from([
    ("teacher_weight 1.5", np.ones((1, 2)), np.ones((1, 2)), np.array([0]), 1.5),
    ("teacher_weight -0.1", np.ones((1, 2)), np.ones((1, 2)), np.array([0]), -0.1),
    ("label 2 of 2 classes", np.ones((1, 2)), np.ones((1, 2)), np.array([2]), 0.25),
    ("teacher logits of another shape", np.ones((1, 2)), np.ones((2, 2)), np.array([0]), 0.25),
    ("float labels", np.ones((1, 2)), np.ones((1, 2)), np.array([0.5]), 0.25)]))
def switch_distill_loss__rejects_bad_input(student, ref, bad):
    """switch_distill_loss should raise ValueError for teacher_weight outside [0, 1], logits of different shapes, or labels that are not integers in [0, C)."""
    what, *args = bad
    raises_value_error(student, f"switch_distill_loss with {what}", *args)


# --- cascade_cost_accuracy ------------------------------------------------------------------------
def _cascade(student, conf, correct, t, c):
    got = as_tuple(student(conf, correct, t, c), 3, "cascade_cost_accuracy(confidences, correct, thresholds, stage_costs)")
    return as_float(got[0], "cost"), as_float(got[1], "accuracy"), as_array(got[2], "exit_fractions", shape=(conf.shape[1],))


@check("cascade_cost_accuracy", public=True, case=cascades())
def first_confident_stage_pays_all_before(student, ref, case):
    """Each input should stop at the first stage k < S-1 with confidence >= threshold k (else the last), pay the costs of stages 0..k, and count as right when that stage is right."""
    conf, correct, t, c = case
    B, S = conf.shape
    exits = []
    for b in range(B):
        k = 0
        while k < S - 1 and not conf[b, k] >= t[k]:
            k += 1
        exits.append(k)
    cost = sum(math.fsum(c[:k + 1]) for k in exits) / B
    acc = sum(bool(correct[b, k]) for b, k in enumerate(exits)) / B
    frac = [exits.count(k) / B for k in range(S)]
    got = _cascade(student, conf, correct, t, c)
    what = "cascade_cost_accuracy(" + ", ".join(fmt(a) for a in case) + ")"
    assert_close(got[0], cost, what + ", the cost")
    assert_close(got[1], acc, what + ", the accuracy")
    assert_close(got[2], frac, what + ", the exit fractions")


@check("cascade_cost_accuracy", public=True, case=cascades())
def open_and_closed_stages(student, ref, case):
    """Thresholds of 0 should stop every input at stage 0 (cost c_0, stage 0's accuracy); thresholds above 1 should send all to the last stage (cost sum c)."""
    conf, correct, t, c = case
    B, S = conf.shape
    got = _cascade(student, conf, correct, np.zeros(S - 1), c)
    assert_close(got[0], c[0], "the cost with thresholds 0")
    assert_close(got[1], correct[:, 0].mean(), "the accuracy with thresholds 0")
    got = _cascade(student, conf, correct, np.full(S - 1, 1.5), c)
    assert_close(got[0], math.fsum(c), "the cost with thresholds 1.5 (every stage passes its inputs on)")
    assert_close(got[1], correct[:, -1].mean(), "the accuracy with thresholds 1.5 (the last stage answers)")


@check("cascade_cost_accuracy", public=True, bad=st.sampled_from([
    ("3 thresholds for 3 stages", np.ones((2, 3)), np.ones((2, 3)), np.ones(3), np.ones(3)),
    ("correct of another shape", np.ones((2, 3)), np.ones((2, 2)), np.ones(2), np.ones(3)),
    ("negative costs", np.ones((2, 3)), np.ones((2, 3)), np.ones(2), -np.ones(3)),
    ("correct holding 2", np.ones((2, 3)), np.full((2, 3), 2), np.ones(2), np.ones(3)),
    ("NaN confidences", np.full((2, 3), np.nan), np.ones((2, 3)), np.ones(2), np.ones(3)),
    ("1-D confidences", np.ones(3), np.ones(3), np.ones(2), np.ones(3))]))
def cascade_cost_accuracy__rejects_bad_input(student, ref, bad):
    """cascade_cost_accuracy should raise ValueError for shapes that disagree, non-finite confidences, negative costs, or correct values other than 0 and 1."""
    what, *args = bad
    raises_value_error(student, f"cascade_cost_accuracy with {what}", *args)
