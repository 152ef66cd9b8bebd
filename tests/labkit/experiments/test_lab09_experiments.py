"""Lab 9's experiment procedures at the quick size, with the reference's functions; oracles are closed forms."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab09
from reference_impl import ofa as ref

CFG = lab09.Config.quick()
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def setup():
    """The course split and one quick supernet per seed, trained with the reference's functions."""
    torch.set_num_threads(1)
    split = digits_splits(seed=0)
    nets = lab09.train_supernets(ref.ps_sample, ref.inplace_kd_loss, ref.sort_channels, split, CFG)
    return split, nets


def test_inherited_and_searches_record_their_figures(setup):
    data, nets = setup
    figures = Figures()
    res = lab09.inherited_vs_scratch(ref.elastic_linear, ref.subnet_cost, ref.kendall_tau, nets, data, CFG, figures)
    # 39 subnets: depth 1, 2, 3 with 3 widths each: 3 + 9 + 27
    assert figures["n_subnets"] == 39 == len(res["archs"])
    # the largest subnet: 64*16 + 16*16 + 16*16 + 16*10 MACs
    assert res["macs"].max() == 64 * 16 + 2 * 16 * 16 + 16 * 10
    out = lab09.search(ref.ridge_fit, ref.kendall_tau, ref.tournament_select, ref.crossover_mutate, ref.reinforce_grad,
                       ref.subnet_cost, ref.elastic_linear, nets, data, CFG, figures)
    # no search can beat the best feasible subnet measured on the same split
    for k in ("evolution", "random", "rl"):
        assert np.all(out[k] <= out["best"] + 1e-12)
    ch = lab09.channel_search(ref.tournament_select, ref.crossover_mutate, ref.subnet_cost, ref.elastic_linear, nets,
                              data, CFG, figures)
    budget = ref.subnet_cost(np.array([CFG.uniform_width] * 3), 3, 64, 10)[0]
    for widths in ch["widths"]:
        assert ref.subnet_cost(np.array(widths), 3, 64, 10)[0] <= budget


def test_evolution_finds_the_feasible_optimum_of_a_known_fitness():
    # fitness = sum of genes, cost = sum of genes: the best feasible vector sums to exactly the budget
    rng = np.random.default_rng(0)
    cfg = lab09.Config(population=8, generations=30)
    n = np.array([4, 4, 4])
    start = [rng.integers(0, n) for _ in range(8)]
    best = lab09._evolve(lambda g: float(g.sum()), lambda g: float(g.sum()), 5.0, n, rng, cfg, ref.tournament_select,
                         ref.crossover_mutate, start)
    assert best.sum() == 5
