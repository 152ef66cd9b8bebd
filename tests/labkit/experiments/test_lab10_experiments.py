"""Lab 10's experiment procedures at the quick size, with the reference functions, against what must hold."""

from __future__ import annotations

import dataclasses

import matplotlib
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab10
from reference_impl import blockwise as ref

matplotlib.use("Agg")
CFG = lab10.Config.quick()


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    data = digits_splits(seed=0)
    figures = Figures()
    tc = lab10.train_teachers(data, CFG, figures)
    crafted = lab10.craft(ref.depthwise_separable_conv, ref.separable_cost, ref.block_loss, ref.replacement_plan, tc,
                          figures)
    return data, tc, crafted, figures


def test_craft_counts_macs_and_respects_the_plan(setup):
    data, tc, crafted, figures = setup
    chans = (1, *CFG.widths)
    dense = sum(64 * 9 * a * b for a, b in zip(chans[:-1], chans[1:]))
    sep = sum(64 * (9 * a + a * b) for a, b in zip(chans[:-1], chans[1:]))
    assert figures["craft_dense_macs"] == dense and figures["craft_all_separable_macs"] == sep
    assert figures["craft_pruned_macs_mean"] <= sep
    assert crafted["drops"].shape == (len(CFG.seeds), len(CFG.widths))
    # no block replaced -> the network is the teacher
    for o in ("bottom_up", "top_down"):
        if figures[f"craft_{o}_blocks_mean"] == 0:
            assert figures[f"craft_{o}_acc_mean"] == figures["craft_teacher_acc_mean"]


@pytest.mark.slow
def test_parallel_blocks_match_and_metrics_are_consistent(setup):
    data, tc, crafted, figures = setup
    out = lab10.parallel(ref.wfd_schedule, ref.makespan, ref.parallel_metrics, tc, crafted, figures)
    assert out["same_weights"] is True
    S, E, G = out[2, "metrics"]
    assert E == pytest.approx(S / 2) and out[1, "metrics"] == (1.0, 1.0, 1.0)
    assert out[1, "predicted"] == pytest.approx(crafted["block_times"][0].sum())


def test_kd_for_speed_baseline_reaches_its_own_target(setup):
    data, tc, crafted, figures = setup
    cfg = dataclasses.replace(CFG, seeds=(0,))
    out = lab10.kd_for_speed(ref.time_to_target, ref.kd_weight_schedule, data, cfg, figures)
    base = out[lab10.KD_RUNS[0]]
    # the target is the baseline's final accuracy: it is reached at the latest in the last epoch
    assert base["epochs_to"][0] <= cfg.kd_epochs and base["speedup_epochs"][0] == 1.0
    assert all(len(out[name]["test"]) == 1 for name in lab10.KD_RUNS)
    lab10.plot_kd_curves(out, cfg)
