"""Tests of Lab 3's literature protocols in labkit.pruning: the AGP schedule, filter-wise masks and
gradual pruning, the ch. II random-sparse-init control, pruning-identified exemplars, and the
SVCCA-distance / CEV correlation.

Oracles: Zhu & Gupta's closed form written out with fractions, a NumPy forward pass of the smaller
dense network that filter pruning should be equivalent to, collections.Counter for modal labels,
numpy.corrcoef for Pearson, hand-ranked ties for Spearman; the experiments run tiny (quick=True)
and are checked for what must hold whatever the training noise (exact equalities where the
protocol makes two arms the same computation).
"""

from __future__ import annotations

import collections
from fractions import Fraction

import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.pruning import (agp_filter_prune, agp_sparsity, correlations, get_weights, linear_layers, modal_predictions,
                            pie_experiment, pruning_identified_exemplars, sparse_init_vs_reinit, svcca_vs_cev,
                            unit_masks)
from labkit.training import MLP, predict_logits, set_seed
from reference_impl.metrics import cev, per_class_fpr_fnr, rate_change, svcca
from reference_impl.pruning import global_magnitude_masks, l1_filter_scores

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return digits_splits(0)


# --- AGP ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("s_i, s_f, t0, n, dt", [(0.0, 0.9, 0, 5, 1), (0.1, 0.75, 3, 4, 2), (0.5, 0.5, 0, 3, 1)])
def test_agp_matches_zhu_gupta_closed_form(s_i, s_f, t0, n, dt):
    """s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3 at the pruning steps; s_i before t0, s_f after, flat in between."""
    for t in range(0, t0 + (n + 3) * dt):
        if t < t0:
            expected = Fraction(s_i)
        else:
            k = min((t - t0) // dt, n)  # the last pruning step reached
            expected = Fraction(s_f) + (Fraction(s_i) - Fraction(s_f)) * (1 - Fraction(k, n)) ** 3
        assert agp_sparsity(t, s_i, s_f, t0, n, dt) == pytest.approx(float(expected), abs=1e-12), t


def test_agp_prunes_fast_then_slowly():
    """The increments of the schedule shrink (a cubic that flattens at the end) and add up to s_f - s_i."""
    s = np.array([agp_sparsity(t, 0.0, 0.9, 0, 6) for t in range(7)])
    steps = np.diff(s)
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0)
    assert s[0] == 0.0 and s[-1] == pytest.approx(0.9) and steps.sum() == pytest.approx(0.9)


def test_agp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sparsities"):
        agp_sparsity(0, 0.0, 1.5, 0, 3)
    with pytest.raises(ValueError, match="n and dt"):
        agp_sparsity(0, 0.0, 0.5, 0, 0)


# --- filter-wise masks ---------------------------------------------------------------------------
def test_unit_masks_equal_the_smaller_dense_network():
    """Masking a unit's row and the next layer's column computes what the network with the unit deleted computes."""
    set_seed(0)
    model = MLP(5, [6, 4], 3)
    W = get_weights(model)
    b = [layer.bias.detach().double().numpy() for layer in linear_layers(model)]
    masks = unit_masks(W, 0.5)
    X = np.random.default_rng(0).normal(size=(7, 5))
    # the oracle: delete the 3 (of 6) and 2 (of 4) units with the smallest L1 row norm, then a NumPy forward pass
    keep = [np.sort(np.argsort(np.abs(W[i]).sum(axis=1), kind="stable")[round(0.5 * W[i].shape[0]):]) for i in range(2)]
    small_W = [W[0][keep[0]], W[1][keep[1]][:, keep[0]], W[2][:, keep[1]]]
    small_b = [b[0][keep[0]], b[1][keep[1]], b[2]]
    h = X
    for i, (w, bb) in enumerate(zip(small_W, small_b)):
        h = h @ w.T + bb
        h = np.maximum(h, 0) if i < 2 else h
    with torch.no_grad():
        for layer, m in zip(linear_layers(model), masks):
            layer.weight.mul_(torch.from_numpy(m.astype(np.float32)))
    np.testing.assert_allclose(predict_logits(model, X), h, rtol=1e-5, atol=1e-5)
    assert masks[2].all(axis=0).sum() == 2 and masks[2].any(axis=1).all(), "output units stay; 2 input columns go"


def test_unit_masks_take_the_students_score_and_never_regrow():
    W = [np.array([[3.0, 0], [1, 0], [2, 0], [0.5, 0]]), np.ones((2, 4))]
    first = unit_masks(W, 0.25, score_fn=l1_filter_scores)
    assert first[0].any(axis=1).tolist() == [True, True, True, False]
    W[0][3] = 10.0  # the removed unit's weights grow back in the arrays: it must stay removed
    second = unit_masks(W, 0.5, previous=first)
    assert second[0].any(axis=1).tolist() == [True, False, True, False]
    assert not second[1][:, [1, 3]].any()


def test_agp_filter_prune_reaches_the_final_unit_count(digits):
    """quick AGP to 75%: the schedule is the closed form, kept units never increase, and pruned weights are exactly 0."""
    X, y = digits.X_train[:300], digits.y_train[:300]
    set_seed(0)
    model = MLP(64, [16, 8], 10)
    out = agp_filter_prune(model, X, y, 0.75, quick=True, seed=0)
    assert out["schedule"] == [pytest.approx(agp_sparsity(t, 0.0, 0.75, 0, 2)) for t in range(3)]
    kept = np.array(out["units_kept"])  # (steps + 1, hidden layers)
    assert kept[-1].tolist() == [16 - round(0.75 * 16), 8 - round(0.75 * 8)]
    assert np.all(np.diff(kept, axis=0) <= 0)
    for w, m in zip(get_weights(model), out["masks"]):
        assert np.all(w[~m] == 0.0)


# --- ch. II: random sparse init vs reinit ---------------------------------------------------------
def test_sparse_init_protocol_with_dense_masks_reduces_to_the_same_training(digits):
    """With a mask_fn that prunes nothing: rewind = the dense run, and reinit = random sparse init (same init, mask all ones)."""
    out = sparse_init_vs_reinit(digits, lambda ws, s: [np.ones(w.shape, dtype=bool) for w in ws], quick=True)
    assert out["rewind"].shape == (2, 1) and out["sparsities"] == (0.3, 0.9)
    np.testing.assert_array_equal(out["rewind"][:, 0], out["dense"][0])
    np.testing.assert_array_equal(out["reinit"], out["random sparse init"])


def test_sparse_init_protocol_runs_its_arms(digits):
    out = sparse_init_vs_reinit(digits, global_magnitude_masks, quick=True)
    assert out["dense"][0] > 0.5, "three epochs on the digits should beat chance (0.1) by far"
    for arm in ("reinit", "random sparse init", "rewind"):
        assert np.all((out[arm] > 0.1) & (out[arm] <= 1.0)), arm
    assert not np.array_equal(out["reinit"], out["random sparse init"]), "different masks should not train identically"


# --- pruning-identified exemplars ---------------------------------------------------------------
def test_modal_predictions_against_counter():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 4, size=(5, 50))
    for n, col in enumerate(preds.T):
        counts = collections.Counter(col.tolist())
        top = max(counts.values())
        assert modal_predictions(preds)[n] == min(c for c, k in counts.items() if k == top)


def test_pies_are_where_the_modal_labels_differ():
    dense = np.array([[0, 1, 2, 3], [0, 1, 2, 3], [1, 1, 0, 3]])
    pruned = np.array([[0, 2, 2, 1], [1, 2, 0, 1], [0, 1, 0, 3]])
    # dense modes 0, 1, 2, 3; pruned modes 0, 2, 0, 1 (column 0 is a tie 0, 1, 0 -> 0)
    assert pruning_identified_exemplars(dense, pruned).tolist() == [False, True, True, True]
    with pytest.raises(ValueError):
        pruning_identified_exemplars(dense, pruned[:, :3])


def test_pie_experiment_is_consistent_with_its_predictions(digits):
    out = pie_experiment(digits, global_magnitude_masks, sparsity=0.9, quick=True)
    d, p = out["dense_preds"], out["pruned_preds"]
    assert d.shape == p.shape == (3, len(digits.y_test))
    np.testing.assert_array_equal(out["pie"], modal_predictions(d, 10) != modal_predictions(p, 10))
    pie = out["pie"]
    assert out["pruned_acc_rest"] == pytest.approx((p[:, ~pie] == digits.y_test[~pie]).mean())
    if pie.any():
        assert out["dense_acc_pie"] == pytest.approx((d[:, pie] == digits.y_test[pie]).mean())


# --- SVCCA distance vs CEV ------------------------------------------------------------------------
def test_correlations_against_numpy_and_hand_ranks():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=20), rng.normal(size=20)
    pearson, spearman = correlations(x, y)
    assert pearson == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert correlations(x, np.exp(3 * x))[1] == pytest.approx(1.0)  # monotone: Spearman 1, Pearson less
    # ties: x = [1, 2, 2, 3] has ranks [1, 2.5, 2.5, 4]
    assert correlations([1, 2, 2, 3], [1, 2, 3, 4])[1] == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1])
    assert np.isnan(correlations([1, 1, 1], [1, 2, 3])[0])


def test_svcca_vs_cev_quick(digits):
    out = svcca_vs_cev(digits, global_magnitude_masks, svcca, cev, per_class_fpr_fnr, rate_change, quick=True)
    assert out["sparsity"].tolist() == [0.3, 0.6, 0.9]
    assert np.all((out["svcca_distance"] >= -1e-9) & (out["svcca_distance"] <= 1 + 1e-9))
    assert np.all(out["cev"] >= 0)
    assert out["pearson"] == pytest.approx(np.corrcoef(out["svcca_distance"], out["cev"])[0, 1])
