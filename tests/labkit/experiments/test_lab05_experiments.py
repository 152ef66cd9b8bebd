"""Lab 5's experiment procedures at the quick size, against independent oracles (torch, brute force, closed forms)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import PLANTED_OPS, digits_splits
from labkit.experiments import Figures
from labkit.experiments import lab05
from labgrader.claims import MACHINE_DEPENDENT
from reference_impl import nas as ref

matplotlib.use("Agg")
torch.set_num_threads(1)  # the procedures' networks are tiny; one thread keeps their results repeatable
CFG = lab05.Config.quick()
DATA = digits_splits(seed=0)


@pytest.fixture(scope="module")
def darts():
    figures = Figures()
    return lab05.darts_vs_random(ref.mixed_op_weights, ref.derive_genotype, DATA, CFG, figures), figures


@pytest.fixture(scope="module")
def table():
    figures = Figures()
    return lab05.latency_table(DATA, CFG, figures), figures


def test_planted_weights_are_the_softmax_and_the_counts_are_the_argmaxes():
    seen = []

    def spy(alpha):
        seen.append(np.array(alpha))
        return ref.mixed_op_weights(alpha)

    figures = Figures()
    out = lab05.planted(spy, CFG, figures)
    assert len(seen) == len(CFG.planted_seeds)
    for alpha, w in zip(seen, out["weights"].values()):
        assert w.shape == (CFG.planted_epochs + 1, len(PLANTED_OPS))
        assert np.allclose(w, torch.softmax(torch.from_numpy(alpha), dim=-1).numpy(), atol=1e-12)
    assert figures["planted_recovered"] == sum(PLANTED_OPS[int(np.argmax(w[-1]))] == CFG.plant
                                               for w in out["weights"].values())
    assert figures["planted_best_alone"] == sum(PLANTED_OPS[int(np.argmin(v))] == CFG.plant
                                                for v in out["alone"].values())


def test_latency_figures_are_machine_dependent(table):
    (lat, fixed, x), figures = table
    names = [n for n in figures if n.startswith("latency_")]
    assert names and all(n.endswith(MACHINE_DEPENDENT) for n in names)
    assert lat["none"] == 0 and all(v > 0 for k, v in lat.items() if k != "none")
    assert x.shape == (64, 64)


def test_final_accuracy_repeats_for_a_seed():
    a = lab05.final_accuracy(lab05.SKIP_CELL, DATA, CFG)
    b = lab05.final_accuracy(lab05.SKIP_CELL, DATA, CFG)
    assert np.array_equal(a, b) and a.shape == (len(CFG.seeds),) and np.all((a >= 0) & (a <= 1))


def test_darts_vs_random_gives_random_search_the_same_steps(darts):
    out, figures = darts
    assert figures["random_steps_per_cell"] == out["hist"].steps // CFG.n_random
    assert len(out["random"]) == CFG.n_random
    assert out["genotype"] == ref.derive_genotype(out["alpha"], list(lab05.DIGIT_OPS), k=2, n_inputs=1)
    assert figures["random_best_val"] == max(v for v, _ in out["random"])


def test_lambda_sweep_front_and_penalty_against_brute_force(darts, table):
    (lat, fixed, x), _ = table
    figures = Figures()
    out = lab05.lambda_sweep(ref.derive_genotype, ref.expected_latency, ref.latency_loss_additive, ref.pareto_front,
                             DATA, lat, fixed, x, darts[0], CFG, figures)
    sweep, front = out["sweep"], out["front"]
    assert [s["lam"] for s in sweep] == list(CFG.lambdas)
    op_lat = np.tile([lat[o] for o in lab05.DIGIT_OPS], (len(darts[0]["alpha"]), 1))
    ref_us = op_lat.mean(axis=1).sum() + fixed  # the uniform supernet, in closed form
    for s in sweep:
        assert s["penalty"] == pytest.approx(s["lam"] * (s["e_lat"] - ref_us) / ref_us, rel=1e-9, abs=1e-12)
    for i, s in enumerate(sweep):  # brute force: on the front iff no other point dominates it
        dominated = any(t["lat"] <= s["lat"] and t["acc"] >= s["acc"] and (t["lat"] < s["lat"] or t["acc"] > s["acc"])
                        for t in sweep)
        assert bool(front[i]) == (not dominated)
    assert all(not n.endswith("_us") for n in figures)
