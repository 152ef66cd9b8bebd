"""Tests of the NumPy pruning reference (Lab 3) against oracles from elsewhere.

Oracles: ``torch.nn.utils.prune`` (l1_unstructured, global_unstructured, ln_structured) on
tie-free weights, where its top-k choice is unambiguous; brute-force Python sorts of
(|w|, index) pairs for the tie-breaking rule; a forward pass of a two-layer network in torch (the
structurally pruned, smaller network must compute what the masked dense one computes); the
closed form of the IMP schedule applied round by round. No expected value here was produced by
running the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.nn.utils import prune as tprune

from oracle_strategies import SETTINGS, t64
from reference_impl.pruning import (
    global_magnitude_masks,
    imp_rate_per_round,
    l1_filter_scores,
    magnitude_mask,
    nm_mask,
    prune_filters,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

sparsities = st.floats(0.0, 1.0, allow_nan=False)
small_ints = st.integers(-3, 3).map(float)  # many ties
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


def distinct(shape) -> np.ndarray:
    """Weights with distinct magnitudes and random signs (no ties: torch's top-k is then unambiguous)."""
    n = int(np.prod(shape))
    rng = np.random.default_rng(n)
    mags = rng.permutation(n) + 1.0 + rng.uniform(0, 0.5)
    return (mags * rng.choice([-1.0, 1.0], size=n)).reshape(shape)


def brute_force_keep(values: list[float], k: int) -> list[bool]:
    """Remove the first k of sorted (|v|, index) pairs: the documented order, written as a Python sort."""
    pruned = {i for _, i in sorted((abs(v), i) for i, v in enumerate(values))[:k]}
    return [i not in pruned for i in range(len(values))]


# ---------------------------------------------------------------------------------------------
# magnitude_mask, global_magnitude_masks
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(shape=shapes, s=sparsities)
def test_magnitude_mask_matches_torch_l1_unstructured(shape, s):
    """On tie-free weights the mask should equal torch.nn.utils.prune.l1_unstructured's with amount = round(s * n)."""
    w = distinct(shape)
    lin = torch.nn.Linear(1, 1)
    lin.weight = torch.nn.Parameter(t64(w))
    k = round(s * w.size)
    tprune.l1_unstructured(lin, "weight", amount=k)
    np.testing.assert_array_equal(magnitude_mask(w, s), lin.weight_mask.numpy().astype(bool))


@SETTINGS
@given(w=hnp.arrays(np.float64, shapes, elements=small_ints), s=sparsities)
def test_magnitude_mask_breaks_ties_by_flat_index(w, s):
    """With ties, exactly round(s * n) weights go: smaller |w| first, then the lower flat index."""
    k = round(s * w.size)
    expected = np.array(brute_force_keep(list(w.ravel()), k)).reshape(w.shape)
    out = magnitude_mask(w, s)
    assert out.dtype == bool and out.shape == w.shape
    assert int((~out).sum()) == k
    np.testing.assert_array_equal(out, expected)


def test_magnitude_mask_examples_by_hand():
    """Worked by hand: round half to even, all-equal weights, the two ends of the range."""
    w = np.array([0.5, -0.1, 0.3, -0.1, 0.2])
    # 0.5 * 5 = 2.5 rounds to 2: the two -0.1 go (|w| = 0.1, indices 1 and 3)
    np.testing.assert_array_equal(magnitude_mask(w, 0.5), [True, False, True, False, True])
    np.testing.assert_array_equal(magnitude_mask(np.ones((2, 2)), 0.5), [[False, False], [True, True]])
    assert magnitude_mask(w, 0.0).all() and not magnitude_mask(w, 1.0).any()


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf])
def test_magnitude_mask_rejects_bad_sparsity(bad):
    with pytest.raises(ValueError):
        magnitude_mask(np.ones(3), bad)


@SETTINGS
@given(shapes_=st.lists(shapes, min_size=1, max_size=3), s=sparsities)
def test_global_masks_match_torch_global_unstructured(shapes_, s):
    """On tie-free weights the masks should equal torch's global_unstructured(L1Unstructured, amount=round(s * n))."""
    n = sum(int(np.prod(sh)) for sh in shapes_)
    flat = distinct((n,))
    ws, start = [], 0
    for sh in shapes_:
        size = int(np.prod(sh))
        ws.append(flat[start : start + size].reshape(sh))
        start += size
    mods = []
    for w in ws:
        m = torch.nn.Linear(1, 1)
        m.weight = torch.nn.Parameter(t64(w))
        mods.append(m)
    tprune.global_unstructured([(m, "weight") for m in mods], pruning_method=tprune.L1Unstructured,
                               amount=round(s * n))
    for ours, m in zip(global_magnitude_masks(ws, s), mods):
        np.testing.assert_array_equal(ours, m.weight_mask.numpy().astype(bool))


@SETTINGS
@given(ws=st.lists(hnp.arrays(np.float64, shapes, elements=small_ints), min_size=1, max_size=3), s=sparsities)
def test_global_masks_break_ties_by_concatenation_order(ws, s):
    """Global ranking with ties: the order is (|w|, position in the concatenation of the flattened layers)."""
    values = [v for w in ws for v in w.ravel()]
    keep = brute_force_keep(values, round(s * len(values)))
    masks = global_magnitude_masks(ws, s)
    assert [m.shape for m in masks] == [w.shape for w in ws]
    np.testing.assert_array_equal(np.concatenate([m.ravel() for m in masks]), keep)


def test_global_masks_prune_unevenly():
    """A layer of small weights loses more than the global sparsity, a layer of large ones less."""
    small, large = np.full(10, 0.01), np.full(10, 1.0)
    m_small, m_large = global_magnitude_masks([small, large], 0.5)
    assert not m_small.any() and m_large.all()
    with pytest.raises(ValueError):
        global_magnitude_masks([], 0.5)


# ---------------------------------------------------------------------------------------------
# l1_filter_scores, prune_filters
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(W=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=4), elements=st.floats(-5, 5)))
def test_l1_filter_scores_match_torch_norm(W):
    """l1_filter_scores should equal torch.linalg.vector_norm(W, ord=1) over every axis but 0."""
    expected = torch.linalg.vector_norm(t64(W), ord=1, dim=tuple(range(1, W.ndim))).numpy()
    np.testing.assert_allclose(l1_filter_scores(W), expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(c_in=st.integers(1, 5), c_out=st.integers(1, 6), c_next=st.integers(1, 4), s=sparsities,
       seed=st.integers(0, 2**16))
def test_pruned_network_computes_what_the_masked_network_computes(c_in, c_out, c_next, s, seed):
    """Removing filters (smaller dense tensors) should give the same outputs as zeroing them with torch's ln_structured."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(c_out, c_in))
    b = rng.normal(size=c_out)
    W_next = rng.normal(size=(c_next, c_out))
    X = t64(rng.normal(size=(7, c_in)))
    Wp, bp, Wnp = prune_filters(W, b, W_next, s)
    k = round(s * c_out)
    assert Wp.shape == (c_out - k, c_in) and bp.shape == (c_out - k,) and Wnp.shape == (c_next, c_out - k)
    # oracle: torch zeroes the k filters with the smallest L1 norm (continuous random weights: no ties)
    lin = torch.nn.Linear(c_in, c_out).double()
    with torch.no_grad():
        lin.weight.copy_(t64(W))
        lin.bias.copy_(t64(b))
    tprune.ln_structured(lin, "weight", amount=k, n=1, dim=0)
    keep = lin.weight_mask.numpy()[:, 0].astype(bool)  # (c_out,)
    hidden = F.relu(F.linear(X, lin.weight, lin.bias * t64(keep.astype(float))))
    expected = F.linear(hidden, t64(W_next)).detach().numpy()
    ours = F.linear(F.relu(F.linear(X, t64(Wp), t64(bp))), t64(Wnp)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_prune_filters_conv_layout_and_ties():
    """Conv layout (c_out, c_in, kh, kw): ties go to the lower index; survivors keep their order."""
    W = np.stack([np.full((2, 3, 3), v) for v in (1.0, 0.5, 2.0, 0.5)])  # scores 18, 9, 36, 9
    b = np.array([10.0, 11.0, 12.0, 13.0])
    W_next = np.arange(5 * 4 * 3 * 3, dtype=float).reshape(5, 4, 3, 3)
    Wp, bp, Wnp = prune_filters(W, b, W_next, 0.25)  # k = 1: filter 1 (score 9, lower index than 3)
    np.testing.assert_array_equal(bp, [10.0, 12.0, 13.0])
    np.testing.assert_array_equal(Wp, W[[0, 2, 3]])
    np.testing.assert_array_equal(Wnp, W_next[:, [0, 2, 3]])
    with pytest.raises(ValueError):
        prune_filters(W, b, W_next[:, :3], 0.5)


# ---------------------------------------------------------------------------------------------
# nm_mask
# ---------------------------------------------------------------------------------------------


def nm_brute_force(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Per row, per group of m (the last one possibly shorter, r < m): keep the min(n, r) last of sorted (|w|, index)."""
    keep = np.zeros(w.shape, dtype=bool)
    for r in range(w.shape[0]):
        for start in range(0, w.shape[1], m):
            group = list(range(start, min(start + m, w.shape[1])))
            ranked = [i for _, i in sorted((abs(w[r, i]), i) for i in group)]
            for i in ranked[len(ranked) - min(n, len(group)):]:
                keep[r, i] = True
    return keep


@SETTINGS
@given(w=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=9), elements=small_ints),
       nm=st.integers(1, 5).flatmap(lambda m: st.tuples(st.integers(1, m), st.just(m))))
def test_nm_mask_matches_brute_force(w, nm):
    """nm_mask should keep the n largest |w| of every group of m along the input axis (ties: lower index pruned first)."""
    n, m = nm
    np.testing.assert_array_equal(nm_mask(w, n, m), nm_brute_force(w, n, m))


def test_nm_mask_two_four_by_hand():
    """2:4 on a row of 6: groups [0:4] keeps the two largest, the partial group [4:6] keeps both."""
    w = np.array([[0.1, -0.9, 0.5, 0.2, 0.0, -3.0]])
    np.testing.assert_array_equal(nm_mask(w, 2, 4), [[False, True, True, False, True, True]])
    w = np.array([[0.1, -0.9, 0.5, 0.2, 0.0, -3.0, 0.7]])  # last group of 3 keeps 2: -3.0 and 0.7
    np.testing.assert_array_equal(nm_mask(w, 2, 4), [[False, True, True, False, False, True, True]])
    for n, m in [(0, 4), (5, 4), (2.0, 4)]:
        with pytest.raises(ValueError):
            nm_mask(w, n, m)


# ---------------------------------------------------------------------------------------------
# imp_rate_per_round
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(s=st.floats(0.0, 0.999), rounds=st.integers(1, 30))
def test_imp_rate_reaches_the_target_round_by_round(s, rounds):
    """Pruning q of the survivors in each of the n rounds should leave 1 - s of the weights."""
    q = imp_rate_per_round(s, rounds)
    density = 1.0
    for _ in range(rounds):
        density -= q * density  # prune q of what survived
    assert math.isclose(density, 1 - s, rel_tol=1e-9, abs_tol=1e-12)


def test_imp_rate_published_numbers():
    """Frankle & Carbin prune 20% per round: 0.8^10 = 0.107 left; one round is one-shot pruning."""
    assert math.isclose(imp_rate_per_round(1 - 0.8**10, 10), 0.2, rel_tol=1e-12)
    assert imp_rate_per_round(0.9, 1) == pytest.approx(0.9)
    assert imp_rate_per_round(0.75, 2) == pytest.approx(0.5)
    for bad in [(0.5, 0), (1.5, 2), (0.5, 2.0)]:
        with pytest.raises(ValueError):
            imp_rate_per_round(*bad)
