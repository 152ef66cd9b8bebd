"""Lab 2's experiment procedures at the quick size, against independent oracles (torch, Lab 1's reference, closed forms)."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labdatasets import digits_splits
from labkit.distillation_ii import MultiExitMLP
from labkit.experiments import Figures
from labkit.experiments import lab02
from labkit.training import predict_logits, set_seed
from reference_impl import distillation as lab1_ref
from reference_impl import distillation_ii as ref

matplotlib.use("Agg")
CFG = lab02.Config.quick()


@pytest.fixture(scope="module")
def lab():
    torch.set_num_threads(1)
    return lab02.Lab(digits_splits(seed=0), CFG)


def test_scarce_set_has_n_per_class_and_depends_on_the_seed(lab):
    X0, y0 = lab.scarce_set(0)
    assert np.bincount(y0, minlength=10).tolist() == [CFG.n_scarce] * 10
    X0b, _ = lab.scarce_set(0)
    X1, _ = lab.scarce_set(1)
    assert np.array_equal(X0, X0b) and not np.array_equal(X0, X1)
    # every image is a training image with its own label
    rows = {x.tobytes(): y for x, y in zip(lab.data.X_train, lab.data.y_train)}
    assert all(rows[x.tobytes()] == y for x, y in zip(X0, y0))


def test_loyalty_matches_lab1_reference(lab):
    s, t = lab.train_student(CFG.thin, 0), lab.teacher(CFG.mid_teacher)
    label, prob = lab.loyalty(s, t)
    ps = torch.softmax(torch.from_numpy(predict_logits(s, lab.data.X_test)).double(), 1).numpy()
    pt = torch.softmax(torch.from_numpy(predict_logits(t, lab.data.X_test)).double(), 1).numpy()
    assert label == pytest.approx(lab1_ref.label_loyalty(ps, pt), abs=1e-12)
    assert prob == pytest.approx(lab1_ref.probability_loyalty(ps, pt), abs=1e-9)
    assert lab.loyalty(t, t) == pytest.approx((1.0, 1.0))


def test_sanity_agrees_for_the_reference_and_flags_a_dml_without_peers(lab, capsys):
    assert lab02.sanity(ref.hint_loss, ref.rkd_distance_loss, ref.rkd_angle_loss, ref.dml_losses, lab) < 1e-9

    def ce_only(z, y):  # forgets the peers' KL terms
        return np.array([ref.dml_losses(z[k:k + 1], y)[0] for k in range(len(z))])

    assert lab02.sanity(ref.hint_loss, ref.rkd_distance_loss, ref.rkd_angle_loss, ce_only, lab) > 1e-3
    assert "dml_losses[1]" in capsys.readouterr().out


def test_ensemble_teacher_softmax_is_the_mean_of_the_members_softmax(lab):
    members = [lab.teacher(h) for h in CFG.teacher_sizes[1:]]
    x = torch.from_numpy(lab.data.X_test[:20].astype(np.float32))
    T = 4.0
    z = lab02.EnsembleTeacher(ref.ensemble_soft_targets, members, T)(x)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m(x).double() / T, 1) for m in members]).mean(0)
    assert torch.allclose(torch.softmax(z.double() / T, 1), expected, atol=1e-5)


def test_teacher_size_records_gains_as_paired_differences(lab, capsys):
    figures = Figures()
    out = lab02.teacher_size(ref.ensemble_soft_targets, lab, figures)
    assert len(out["rows"]) == len(CFG.teacher_sizes) + 1
    for name, n, t_acc, acc, gain, loy in out["rows"]:
        assert np.allclose(gain, acc - out["base_acc"]) and 0 <= loy[0] <= 1 and 0 <= loy[1] <= 1
    k = lab02.key(CFG.teacher_sizes[0])
    assert figures[f"size_{k}_gain"] == pytest.approx(figures[f"size_{k}_mean"] - figures["size_nokd_mean"])
    # an MLP (8,) teacher: 64*8 + 8 + 8*10 + 10 parameters
    assert figures[f"size_{k}_params"] == 64 * 8 + 8 + 8 * 10 + 10
    assert "ensemble of the 3 largest" in capsys.readouterr().out


def test_ema_with_momentum_zero_is_the_student(lab):
    figures = Figures()
    rows = lab02.ema(ref.ema_update, lab02.Lab(lab.data, dataclasses.replace(CFG, ema_momentum=0.0)), figures)
    assert np.array_equal(rows[:, 0], rows[:, 1]) and figures["ema_average_gain"] == 0.0


def test_born_again_generation_0_is_the_independent_dml_student(lab):
    """The text says generation 0 has the same initial weights and batches as section 4's independent student."""
    figures = Figures()
    ban = lab02.born_again(ref.ensemble_soft_targets, lab, figures)
    lab02.dml(lab, figures)
    assert ban.shape == (len(CFG.seeds), CFG.generations + 2)
    assert figures["ban_gen0_mean"] == figures["dml_full_K1_mean"]


def test_loss_parts_match_torch_cross_entropy(lab):
    set_seed(0)
    net = MultiExitMLP(64, CFG.exit_widths, 10)
    parts = lab02.loss_parts(ref.self_distillation_loss, net, lab.data, CFG)
    assert parts["total"] == pytest.approx(parts["torch"], abs=1e-9)
    with torch.no_grad():
        z, _ = net.exits(torch.from_numpy(lab.data.X_train.astype(np.float32)))
    y = torch.from_numpy(lab.data.y_train).long()
    ces = [F.cross_entropy(zi.double(), y).item() for zi in z]
    assert parts["ce"] == pytest.approx(ces[-1] + (1 - CFG.sd_alpha) * sum(ces[:-1]), abs=1e-9)
    assert parts["kd"] >= 0 and parts["hint"] >= 0
    assert parts["ce"] + parts["kd"] + parts["hint"] == pytest.approx(parts["total"])


def test_attention_transfer_runs_and_its_distances_are_in_range(lab):
    figures = Figures()
    out = lab02.attention_transfer(ref.attention_map, ref.attention_transfer_loss, lab, figures)
    for name in lab02.AT_KEYS.values():
        assert 0 <= figures[f"at_{name}_dist8"] <= 2 and 0 <= figures[f"at_{name}_dist4"] <= 2
    assert figures["at_student_params"] < figures["at_teacher_params"]
    assert set(out["accuracy"]) == set(lab02.AT_KEYS)


def test_quick_is_smaller_than_the_full_size():
    full = lab02.Config()
    assert CFG.steps < full.steps and len(CFG.seeds) <= len(full.seeds) and CFG.cnn_steps < full.cnn_steps
    assert full.seeds == (0, 1, 2) and full.steps == 400 and full.teacher_sizes[-1] == (512, 512)


def test_editing_a_quoted_number_fails_the_claims(tmp_path):
    """Lab 2's answer cells are checked: the attention-transfer result edited by one unit no longer matches."""
    import shutil

    from labgrader.config import REPO_ROOT
    from labgrader.claims import check

    for suffix in (".py", ".claims.toml"):
        shutil.copy(REPO_ROOT / "labsrc" / f"lab02_distillation_ii{suffix}", tmp_path / f"lab02_distillation_ii{suffix}")
    source = tmp_path / "lab02_distillation_ii.py"
    figures = json.loads((REPO_ROOT / "labsrc" / "lab02_distillation_ii.figures.json").read_text())["figures"]
    assert check(source, figures) == []
    (problem,) = check(source, dict(figures, at_kd_dist4=0.2556))  # a run that measured something else
    assert "quotes 0.25 for at_kd_dist4" in problem
    source.write_text(source.read_text().replace("**0.657 ± 0.009**", "**0.658 ± 0.009**"))
    problems = check(source, figures)
    assert problems and all("occurs 0 times" in p for p in problems)
