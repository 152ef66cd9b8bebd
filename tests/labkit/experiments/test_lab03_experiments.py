"""Lab 3's experiment procedures at the quick size, against independent oracles (numpy sorts and
statistics, closed forms, brute-force counts)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab03
from labkit.pruning import count_params, get_weights
from reference_impl import pruning as ref
from reference_impl.metrics import cev, per_class_fpr_fnr, rate_change, sde, svcca

matplotlib.use("Agg")
CFG = lab03.Config.quick()


@pytest.fixture(scope="module")
def lab():
    torch.set_num_threads(1)
    figures = Figures()
    lab = lab03.setup(digits_splits(seed=0), CFG, figures)
    lab.figures = figures
    lab03.curves(lab, ref.magnitude_mask, ref.global_magnitude_masks, ref.prune_filters, ref.nm_mask, figures)
    return lab


def test_setup_trains_one_dense_network_per_seed_and_records_its_accuracy(lab):
    acc = [float((lab.dense[s](torch.as_tensor(lab.data.X_test, dtype=torch.float32)).argmax(1).numpy()
                  == lab.data.y_test).mean()) for s in CFG.seeds]
    assert lab.figures["dense_acc_mean"] == pytest.approx(np.mean(acc))
    assert lab.figures["dense_acc_std"] == pytest.approx(np.std(acc))
    assert not torch.equal(lab.dense[0].net[0].weight, lab.dense[1].net[0].weight)  # seeds differ


def test_global_magnitude_prunes_the_smallest_weights_of_all_layers_and_fine_tuning_keeps_them_zero(lab):
    s, seed = CFG.sparsities[0], CFG.seeds[0]
    W = get_weights(lab.dense[seed])
    flat = np.concatenate([np.abs(w).ravel() for w in W])
    k = round(s * flat.size)
    threshold = np.sort(flat)[k - 1]  # the k-th smallest magnitude overall (no ties in trained weights)
    ft = get_weights(lab.pruned["global magnitude", s, seed])
    for w, w_ft in zip(W, ft):
        np.testing.assert_array_equal(w_ft == 0, np.abs(w) <= threshold)
    assert lab.figures[f"curve_global_magnitude_{s}_removed"] == pytest.approx(k / flat.size, abs=1e-12)


def test_nm_and_structured_pruning_remove_what_they_promise(lab):
    n = sum(w.size for w in get_weights(lab.dense[0]))
    assert lab.figures["curve_n_m_2_4_0.5_removed"] == pytest.approx(0.5)  # every row length is a multiple of 4
    assert lab.figures["curve_n_m_1_4_0.75_removed"] == pytest.approx(0.75)
    for s in CFG.sparsities:
        h1, h2 = 64 - round(s * 64), 32 - round(s * 32)
        weights = 64 * h1 + h1 * h2 + h2 * 10
        small = lab.pruned["structured (L1 filters)", s, 0]
        assert [w.shape for w in get_weights(small)] == [(h1, 64), (h2, h1), (10, h2)]
        assert count_params(small)["dense"] == weights + h1 + h2 + 10
        assert lab.figures[f"curve_structured_l1_filters_{s}_removed"] == pytest.approx(1 - weights / n)


def test_curves_and_the_zeros_table_record_every_method(lab, capsys):
    figures = Figures()
    lab03.where_the_zeros_go(lab, ref.global_magnitude_masks, figures)
    for s in (0.75, 0.9):
        sizes = [w.size for w in get_weights(lab.dense[0])]
        pruned = sum(figures[f"global_{s}_layer{i}_sparsity"] * n for i, n in enumerate(sizes))
        assert pruned == pytest.approx(round(s * sum(sizes)), abs=1e-6 * sum(sizes))  # global: s of all weights
    W = get_weights(lab.dense[0])
    assert figures["dense_macs"] == sum(w.size for w in W)
    assert "genuinely smaller" in capsys.readouterr().out
    for m in lab03.METHODS:
        for s in CFG.sparsities:
            assert 0 <= lab.figures[f"curve_{lab03.slug(m)}_{s}_ft_mean"] <= 1


def test_lottery_uses_the_students_schedule_and_masks(lab):
    calls = []

    def spy_mask(w, s):
        calls.append(s)
        return ref.magnitude_mask(w, s)

    figures = Figures()
    out = lab03.lottery(lab, spy_mask, ref.imp_rate_per_round, figures)
    q = 1 - (1 - CFG.imp_target) ** (1 / CFG.imp_rounds)  # closed form
    assert out["q"] == pytest.approx(q) and out["sparsity"][-1] == pytest.approx(CFG.imp_target)
    assert len(calls) == CFG.imp_rounds * len(CFG.seeds) * 3  # one mask per layer, round and seed
    assert sorted(set(np.round(calls, 12))) == sorted(np.round(out["sparsity"], 12))
    for r in range(CFG.imp_rounds):
        gap = out["rewind to init"][r] - out["random reinit"][r]
        assert figures[f"ticket_r{r + 1}_gain"] == pytest.approx(gap.mean())


def test_chapter2_gap_is_the_paired_difference(lab):
    figures = Figures()
    ch2 = lab03.chapter2(lab, ref.global_magnitude_masks, figures)
    assert ch2["sparsities"] == CFG.ch2_sparsities
    for i, s in enumerate(CFG.ch2_sparsities):
        gap = ch2["reinit"][i] - ch2["random sparse init"][i]
        assert figures[f"ch2_{s}_gap_mean"] == pytest.approx(gap.mean())
        assert figures[f"ch2_{s}_rewind_mean"] == pytest.approx(ch2["rewind"][i].mean())


def test_bias_metrics_are_the_variances_and_distances_of_the_rate_changes(lab):
    figures = Figures()
    out = lab03.bias(lab, ref.global_magnitude_masks, per_class_fpr_fnr, rate_change, cev, sde, figures)
    s = CFG.bias_sparsities[0]
    for regime in ("balanced", "down-sampled"):
        for ft in ("CE", "KD"):
            b = out[regime, s, ft]
            np.testing.assert_allclose(b["cev"], b["d_fpr"].var(axis=1) + b["d_fnr"].var(axis=1))
            np.testing.assert_allclose(b["sde"], np.abs(b["d_fnr"] - b["d_fpr"]).mean(axis=1) / np.sqrt(2))
            name = f"bias_{regime.replace('-', '_')}_{s}_{ft.lower()}"
            assert figures[f"{name}_dfnr_down"] == pytest.approx(b["d_fnr"][:, [3, 8]].mean())
    # the balanced CE row is section 1's fine-tuned network, not a new one
    assert out["balanced", s, "CE"]["acc"][0] == lab.test_acc(lab.pruned["global magnitude", s, CFG.seeds[0]])


def test_agp_records_the_zhu_gupta_schedule_and_both_arms(lab):
    figures = Figures()
    out = lab03.agp(lab, ref.l1_filter_scores, per_class_fpr_fnr, rate_change, cev, sde, figures)
    s_f, n = max(CFG.agp_sparsities), CFG.agp_steps
    for t in range(n + 1):
        assert figures[f"agp_schedule_{t}"] == pytest.approx(s_f * (1 - (1 - t / n) ** 3))
    for s in CFG.agp_sparsities:
        for arm in ("AGP", "one-shot"):
            assert out[s, arm].shape == (len(CFG.seeds), 3) and (out[s, arm][:, 0] <= 1).all()


def test_svcca_table_has_a_row_per_sparsity_and_the_cross_seed_reference(lab):
    figures = Figures()
    out = lab03.svcca_layers(lab, ref.global_magnitude_masks, svcca, figures)
    assert list(out["sv"]) == [0.0, *CFG.sparsities]
    assert out["cross"].shape == (1, 3)  # two seeds: one pair
    assert all(0 <= v <= 1 + 1e-9 for v in out["cross"].ravel())


def test_pies_are_where_the_modal_labels_differ(lab):
    figures = Figures()
    out = lab03.pies(lab, ref.global_magnitude_masks, figures)

    def mode(preds):  # brute force: count each label per column, smallest label on ties
        return np.array([np.argmax(np.bincount(col, minlength=10)) for col in preds.T])

    pie = mode(out["dense_preds"]) != mode(out["pruned_preds"])
    np.testing.assert_array_equal(out["pie"], pie)
    assert figures["pie_count"] == pie.sum() == sum(figures[f"pie_class{c}"] for c in range(10))


def test_drift_correlations_are_numpy_pearson(lab):
    figures = Figures()
    drift = lab03.drift_vs_bias(lab, ref.global_magnitude_masks, svcca, cev, per_class_fpr_fnr, rate_change, figures)
    assert len(drift["cev"]) == len(CFG.drift_sparsities) * len(CFG.seeds)
    assert figures["drift_pearson"] == pytest.approx(np.corrcoef(drift["svcca_distance"], drift["cev"])[0, 1])


def test_editing_a_number_lab03_quotes_fails_its_claims_check(tmp_path):
    """The last full run's figures hold every claim; one edited number in an answer does not."""
    import json
    import shutil

    from labgrader.claims import check
    from labgrader.config import REPO_ROOT

    for suffix in (".py", ".claims.toml", ".figures.json"):
        shutil.copy(REPO_ROOT / "labsrc" / f"lab03_pruning{suffix}", tmp_path / f"lab03_pruning{suffix}")
    source = tmp_path / "lab03_pruning.py"
    figures = json.loads((tmp_path / "lab03_pruning.figures.json").read_text())
    assert not figures["quick"] and check(source, figures["figures"]) == []
    text = source.read_text()
    assert text.count("(0.873 against 0.758)") == 1
    source.write_text(text.replace("(0.873 against 0.758)", "(0.873 against 0.658)"))
    problems = check(source, figures["figures"])
    assert len(problems) == 1 and "md_chapter2_discussion" in problems[0]
