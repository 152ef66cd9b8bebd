"""Lab 12's experiment procedures at the quick size: they run with the reference functions, record their
figures, and their numbers are accuracies (checked against closed forms where one exists)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from labdatasets import digits_splits
from labkit.experiments import Figures, lab12
from reference_impl import data_free as ref

matplotlib.use("Agg")
CFG = lab12.Config.quick()
pytestmark = pytest.mark.usefixtures("one_torch_thread")
data = pytest.fixture(scope="module", name="data")(lambda: digits_splits(seed=0))  # the digits, split once for the module


def test_dataset_distillation_records_every_row(data):
    figures = Figures()
    dd = lab12.dataset_distillation(ref.softmax_ce_grad, ref.distill_grad, data, CFG, figures)
    for n in CFG.dd_per_class:
        for key in ("distilled", "real", "real_long", "full", "full_long"):
            assert 0.0 <= figures[f"dd_{10 * n}_{key}_mean"] <= 1.0
        assert dd["images"][n, CFG.seeds[0]].shape == (10 * n, 64)
    # the full training set is the same for every seed and W0 differs only by seed: a tiny spread at most
    assert figures[f"dd_{10 * CFG.dd_per_class[0]}_full_std"] < 0.05


def test_teacher_data_free_and_nasty_run_and_record(data, capsys):
    figures = Figures()
    teacher = lab12.teacher(data, CFG, figures)
    rows = lab12.data_free(ref.data_free_kd_losses, ref.bn_statistics_loss, teacher, data, CFG, figures)
    assert set(rows) >= {"no KD (real labels)", "KD on real images", "generator (L1)"}
    assert all(len(v) == len(CFG.seeds) for v in rows.values())
    out = lab12.nasty(ref.nasty_teacher_grad, ref.soft_label_entropy, ref.dark_knowledge_stats, teacher, data, CFG,
                      figures)
    # a student setting that both tables contain is trained once: the same number
    assert out["students"]["normal", "KD"] == rows["KD on real images"]
    for name in ("normal", "nasty"):
        acc, H, p_y, rest, h = out["teachers"][name]
        assert 0 <= H <= np.log(10) + 1e-9 and abs(p_y + rest - 1) < 1e-9 and 0 <= h <= 1
    assert "sanity: your data_free_kd_losses('l1')" in capsys.readouterr().out
