"""Lab 11's experiment procedures at the quick size, with the reference as the student's functions."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab11
from reference_impl import robustness as ref

CFG = lab11.Config.quick()
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def dense():
    """The quick dense MLPs, trained once for the module (one thread: the suite runs files in parallel)."""
    torch.set_num_threads(1)
    return lab11.train_dense(digits_splits(seed=0), CFG, Figures())


def test_dense_records_one_mask_per_epoch_at_the_sparsity(dense):
    n = dense.masks[CFG.seeds[0]].shape[1]
    assert n == sum(p.numel() for p in lab11.weight_params(dense.models[CFG.seeds[0]]))
    kept = n - round(CFG.eb_sparsity * n)
    assert all(m.shape == (CFG.epochs, n) and np.all(m.sum(axis=1) == kept) for m in dense.masks.values())


def test_obd_and_robustness_and_sam(dense):
    figures = Figures()
    obd = lab11.obd_vs_magnitude(ref.obd_saliency, dense, figures)
    for (method, sp), accs in obd.items():
        assert len(accs) == len(CFG.seeds) and all(0 <= a <= 1 for a in accs)
    models = lab11.compressed_models(dense)
    rob = lab11.robustness(ref.fgsm, ref.pgd_step, ref.robust_accuracy, models, dense, figures)
    for kind in models:
        for eps in CFG.eps:
            # robust accuracy counts only samples right on the clean input too: never above clean accuracy
            assert np.all(np.array(rob[kind, "PGD", eps]) <= np.array(rob[kind, "clean", 0.0]) + 1e-12)
    sam = lab11.sam_compressibility(ref.sam_perturbation, dense, figures)
    assert ("SAM", "dense") in sam
    eb = lab11.early_bird(ref.early_bird_epoch, ref.mask_distance, dense, figures)
    assert len(eb["epoch"]) == len(CFG.seeds)
    sup = lab11.supermasks(ref.edge_popup_mask, dense, figures)
    assert all(0 <= a <= 1 for v in sup.values() for a in v)
    assert "rob_dense_clean_mean" in figures and "sam_gain_dense_mean" in figures


def test_score_gradient_sanity_agrees_with_autograd():
    assert lab11.score_gradient_sanity(ref.edge_popup_mask, ref.supermask_score_grad) < 1e-5


def test_cp_vs_tucker_runs():
    out = lab11.cp_vs_tucker(ref.cp_als_update, ref.cp_reconstruct, digits_splits(seed=0), CFG, Figures())
    assert ("CP", CFG.cp_ranks[0]) in out and all(0 <= e for e, _ in out["CP", CFG.cp_ranks[0]])
