"""Lab 13's experiment procedures at the quick size: they run on the reference exercises, record their
figures, and what they record agrees with independent computations (naive attention, brute-force cascades)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab13
from reference_impl import efficient_transformers as ref

CFG = lab13.Config.quick()


@pytest.fixture(scope="module")
def setup():
    """(data, the models of train_teachers) at the quick size."""
    torch.set_num_threads(1)
    return _trained(digits_splits(seed=0))


def _trained(data):
    return data, lab13.train_teachers(data, CFG, Figures())


def test_flash_attention_records_equal_outputs_and_the_traffic_ratio():
    figures = Figures()
    lab13.flash_attention(ref.tiled_attention, ref.attention_hbm_accesses, CFG, figures)
    for N in CFG.flash_lengths:
        assert figures[f"flash_N{N}_max_diff"] < 1e-12
        naive, flash = ref.attention_hbm_accesses(N, CFG.flash_d, CFG.sram)
        assert figures[f"hbm_N{N}_ratio"] == pytest.approx(naive / flash)
        assert figures[f"flash_N{N}_naive_ms"] >= 0 and figures[f"flash_N{N}_tiled_ms"] >= 0


def test_a_wrong_tiled_attention_shows_in_the_figures():
    def unscaled(Q, K, V, br, bc):  # forgets 1 / sqrt(d)
        S = Q @ K.T
        P = np.exp(S - S.max(axis=1, keepdims=True))
        return P / P.sum(axis=1, keepdims=True) @ V, np.zeros(len(Q))

    figures = Figures()
    lab13.flash_attention(unscaled, ref.attention_hbm_accesses, CFG, figures)
    assert figures[f"flash_N{CFG.flash_lengths[-1]}_max_diff"] > 1e-3


def test_sanity_reports_agreement_and_disagreement(setup, capsys):
    data, models = setup
    lab13.sanity(ref.soft_cross_entropy, ref.tinybert_attention_loss, ref.tinybert_hidden_loss, ref.deit_loss,
                 models, data)
    out = capsys.readouterr().out
    assert out.count("(agree)") == 4
    lab13.sanity(lambda zs, zt, T: ref.soft_cross_entropy(zs, zt, T) * T**2, ref.tinybert_attention_loss,
                 ref.tinybert_hidden_loss, ref.deit_loss, models, data)
    assert "DIFFER" in capsys.readouterr().out


def test_distill_deit_heads_record_accuracies_in_range(setup):
    data, models = setup
    figures = Figures()
    lab13.distill(ref.tinybert_layer_map, models, data, CFG, figures)
    lab13.deit(ref.deit_loss, ref.deit_predict, models, data, CFG, figures)
    lab13.dynamic_heads(ref.head_flops_loss, data, CFG, figures)
    for key in ("distill_kd_mean", "distill_tinybert_mean", "deit_fused_mean", "deit_agree_mean",
                "heads_t100_acc_mean", "heads_t50_flops_mean"):
        assert 0.0 <= figures[key] <= 1.0, key


def test_cascade_figures_match_a_brute_force_cascade(setup):
    data, models = setup
    figures = Figures()
    lab13.cascade(ref.cascade_cost_accuracy, models, data, CFG, figures)
    s = CFG.seeds[0]
    stages = ("tiny", "student", "teacher")
    costs = [lab13.model_macs(models[k][s]) for k in stages]
    probs = [torch.softmax(torch.as_tensor(lab13.outputs(models[k][s], data.X_test)["logits"]), 1).numpy()
             for k in stages]
    t = CFG.thresholds[0]
    total, right = 0.0, 0
    for i in range(len(data.y_test)):
        for k in range(3):
            total += costs[k]
            if k == 2 or probs[k][i].max() >= t:
                right += int(probs[k][i].argmax() == data.y_test[i])
                break
    key = f"cascade_t{int(round(t * 100))}"
    assert figures[f"{key}_cost_ratio"] == pytest.approx(total / len(data.y_test) / sum(costs), rel=1e-9)
    assert figures[f"{key}_acc_mean"] == pytest.approx(right / len(data.y_test))
    assert figures["latency_b1_teacher_ms"] > 0 and figures[f"latency_b{CFG.batch}_cascade_ms"] > 0
