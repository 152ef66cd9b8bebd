"""Lab 1's experiment procedures at the quick size, against independent oracles (torch, brute force)."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, implemented, ready
from labkit.experiments import lab01
from labkit.training import MLP, predict_logits, set_seed
from reference_impl import distillation as ref

matplotlib.use("Agg")
CFG = lab01.Config.quick()


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    data = digits_splits(seed=0)
    figures = Figures()
    teacher, _ = lab01.train_teacher(data, CFG, figures)
    return data, teacher, lab01.Students(data, teacher, CFG), figures


def test_soft_target_stats_match_torch_softmax(trained):
    data, teacher, _, _ = trained
    logits = predict_logits(teacher, data.X_train).astype(np.float64)
    stats = lab01.soft_target_stats(ref.softmax_t, logits, (1, 4))
    for T, (top, runner) in stats.items():
        p = torch.softmax(torch.from_numpy(logits) / T, dim=1).numpy()
        assert top == pytest.approx(p.max(axis=1).mean(), abs=1e-12)
        assert runner == pytest.approx(np.sort(p, axis=1)[:, -2].mean(), abs=1e-12)
    assert stats[1][0] > stats[4][0]  # a higher temperature flattens the targets


def test_typical_digit_is_correct_and_the_median_by_brute_force(trained):
    data, teacher, _, _ = trained
    logits = predict_logits(teacher, data.X_test).astype(np.float64)
    i = lab01.typical_test_digit(ref.softmax_t, logits, data.y_test)
    p = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert p[i].argmax() == data.y_test[i]
    runner = {j: np.sort(p[j])[-2] for j in range(len(p)) if p[j].argmax() == data.y_test[j]}
    below = sum(v < runner[i] for v in runner.values())
    assert below == len(runner) // 2


def test_sanity_check_agrees_for_the_reference_and_flags_a_missing_t_squared(trained, capsys):
    data, teacher, _, _ = trained
    logits = predict_logits(teacher, data.X_train).astype(np.float64)
    assert lab01.sanity_check(ref.kd_loss, ref.hard_label_kd_loss, data.X_train, data.y_train, logits, CFG) < 1e-12

    def no_t_squared(z_s, z_t, y, T=1.0, alpha=0.5):
        return ref.kd_loss(z_s, z_t, y, T=T, alpha=alpha) if T == 1 else 0.0

    assert lab01.sanity_check(no_t_squared, ref.hard_label_kd_loss, data.X_train, data.y_train, logits, CFG) > 1e-3


def test_students_are_paired_cached_and_scarce_sets_have_n_per_class(trained):
    data, _, student, _ = trained
    X, y = student.training_set("5/class", seed=1)
    assert np.bincount(y, minlength=10).tolist() == [5] * 10
    assert not np.array_equal(X, student.training_set("5/class", seed=2)[0])
    a, b = student("5/class", ("ce",), 0), student("5/class", ("kd", 4.0, 0.0), 0)
    assert student("5/class", ("ce",), 0) is a  # cached
    set_seed(0)
    fresh = MLP(64, CFG.student_hidden, 10)
    assert not torch.equal(fresh.net[0].weight, a.net[0].weight)  # trained
    # KD with alpha = 0 is plain cross-entropy: the same seed trains the very same weights.
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="method must be"):
        student("full", ("kld", 4.0), 0)


def test_sweep_records_every_method_and_regime(trained, capsys):
    _, _, student, figures = trained
    results = lab01.sweep(student, CFG, figures)
    assert set(results) == {(r, m) for r in CFG.regimes for m in lab01.methods(CFG)}
    for (r, m), acc in results.items():
        assert acc.shape == (len(CFG.seeds),)
        assert figures[lab01.figure_key(r, m) + "_mean"] == pytest.approx(acc.mean())
    assert "paired gain" in capsys.readouterr().out


def test_majority_vote_measures_the_plurality_by_brute_force(trained, capsys):
    data, _, student, figures = trained
    lab01.majority_vote(ref.majority_vote_accuracy, student, CFG, figures)
    for r in CFG.regimes:
        preds = [predict_logits(student(r, ("ce",), s), data.X_test).argmax(axis=1) for s in CFG.seeds]
        single = np.mean([(p == data.y_test).mean() for p in preds])
        assert figures[f"vote_{r.replace('/', '')}_single"] == pytest.approx(single)


def test_figures_are_written_as_json(tmp_path):
    figures = Figures()
    figures["b"], figures["a"] = np.float64(0.5), 2
    path = figures.write("lab99", tmp_path)
    assert json.loads(path.read_text()) == {"lab": "lab99", "quick": False, "figures": {"a": 2.0, "b": 0.5}}
    with pytest.raises(ValueError, match="finite"):
        figures["c"] = float("nan")


def test_ready_names_each_missing_exercise(capsys):
    def skeleton(x):
        """Doc."""
        raise NotImplementedError()

    def done(x):
        if x < 0:
            raise NotImplementedError("negative")
        return np.abs(x)

    assert not implemented(skeleton) and implemented(done) and implemented(np.abs)
    assert ready({2: done}) and capsys.readouterr().out == ""
    assert not ready({4: skeleton, 2: done})
    assert capsys.readouterr().out == "needs Exercise 4, skeleton: not implemented yet (this section is skipped)\n"
