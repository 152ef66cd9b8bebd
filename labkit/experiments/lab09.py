"""Lab 9's experiments (once-for-all on the digits, three searches, a MetaPruning-style channel search),
called by labsrc/lab09_ofa.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the answers were measured at; ``Config.quick()`` runs in seconds (tests). One supernet is trained
per seed; every figure is a mean ± standard deviation over the seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from labkit.experiments import ExperimentConfig, Figures
from labkit.ofa import (all_architectures, canonical, decode, extract_subnet, one_hot, subnet_accuracy,
                        train_from_scratch, train_supernet)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    width_choices: tuple = (4, 8, 16)
    depth_choices: tuple = (1, 2, 3)
    stage_steps: tuple = (600, 400, 800)  # progressive shrinking: largest net, + elastic depth, + elastic width
    lr: float = 3e-3
    T: float = 1.0
    scratch_steps: int = 600  # a subnet trained alone: as many steps as stage 0 gave the largest network
    n_scratch: int = 10  # subnets also trained from scratch (spread over the MAC range)
    n_predictor: int = 16  # measured subnets the predictor is fitted on (= the evaluation budget of each search)
    ridge_lam: float = 1.0
    budget_frac: float = 0.35  # MAC budget as a fraction of the largest network's MACs
    population: int = 16
    generations: int = 8
    tournament: int = 3
    p_mut: float = 0.3
    rl_lr: float = 0.5
    rl_decay: float = 0.8
    rl_beta: float = 0.05
    uniform_width: int = 8  # the channel search's baseline: every layer this wide (depth max)
    channel_widths: tuple = (4, 6, 8, 10, 12, 14, 16)  # the channel search's finer grid (MetaPruning searches ratios)

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), stage_steps=(20, 10, 20), scratch_steps=20, n_scratch=3, n_predictor=6,
                   population=6, generations=2)


def _ms(a) -> str:
    a = np.asarray(a, dtype=np.float64)
    return f"{a.mean():.3f} ± {a.std():.3f}"


def _n_choices(cfg: Config) -> np.ndarray:
    return np.array([len(set(cfg.depth_choices))] + [len(set(cfg.width_choices))] * max(cfg.depth_choices))


def _macs(subnet_cost, genes, cfg: Config) -> int:
    widths, depth = decode(genes, cfg.width_choices, cfg.depth_choices)
    return int(subnet_cost(np.array(widths, dtype=np.int64), depth, 64, 10)[0])


def train_supernets(ps_sample, inplace_kd_loss, sort_channels, data, cfg: Config) -> dict:
    """One once-for-all supernet per seed, by progressive shrinking with in-place distillation."""
    nets = {s: train_supernet(data, ps_sample, inplace_kd_loss, sort_channels, width_choices=cfg.width_choices,
                              depth_choices=cfg.depth_choices, stage_steps=cfg.stage_steps, lr=cfg.lr,
                              batch_size=cfg.batch_size, T=cfg.T, seed=s) for s in cfg.seeds}
    print(f"trained {len(nets)} supernets ({sum(cfg.stage_steps)} steps each, stages {cfg.stage_steps})")
    return nets


def inherited_vs_scratch(elastic_linear, subnet_cost, kendall_tau, nets: dict, data, cfg: Config,
                         figures: Figures | None = None) -> dict:
    """Test accuracy of every subnet with inherited weights; a spread of them also trained from scratch."""
    archs = all_architectures(cfg.width_choices, cfg.depth_choices)
    macs = np.array([_macs(subnet_cost, g, cfg) for g in archs])
    pick = np.argsort(macs, kind="stable")[np.linspace(0, len(archs) - 1, cfg.n_scratch).round().astype(int)]
    inherited, scratch, taus, gaps = {}, {}, [], []
    for s, net in nets.items():
        inherited[s] = np.array([subnet_accuracy(extract_subnet(net, *decode(g, cfg.width_choices, cfg.depth_choices),
                                                                elastic_linear), data, "test") for g in archs])
        scratch[s] = np.array([train_from_scratch(*decode(archs[i], cfg.width_choices, cfg.depth_choices), data,
                                                  steps=cfg.scratch_steps, lr=cfg.lr, seed=s) for i in pick])
        taus.append(kendall_tau(inherited[s][pick], scratch[s]))
        gaps.append(float(np.mean(scratch[s] - inherited[s][pick])))
    inh = np.mean([inherited[s] for s in nets], axis=0)
    print(f"{len(archs)} subnets, {macs.min():,} to {macs.max():,} MACs")
    print(f"inherited weights, test accuracy: largest {_ms([inherited[s][np.argmax(macs)] for s in nets])}, "
          f"smallest {_ms([inherited[s][np.argmin(macs)] for s in nets])}, mean over subnets {_ms([inherited[s].mean() for s in nets])}")
    print(f"on {len(pick)} subnets also trained from scratch ({cfg.scratch_steps} steps): "
          f"scratch - inherited = {_ms(gaps)}, Kendall tau(inherited, scratch) = {_ms(taus)}")
    if figures is not None:
        for name, per_seed in (("largest", [inherited[s][np.argmax(macs)] for s in nets]),
                               ("smallest", [inherited[s][np.argmin(macs)] for s in nets]),
                               ("mean", [inherited[s].mean() for s in nets])):
            figures[f"inherited_{name}_acc_mean"], figures[f"inherited_{name}_acc_std"] = np.mean(per_seed), np.std(per_seed)
        figures["scratch_minus_inherited_mean"], figures["scratch_minus_inherited_std"] = np.mean(gaps), np.std(gaps)
        figures["tau_inherited_scratch_mean"], figures["tau_inherited_scratch_std"] = np.mean(taus), np.std(taus)
        figures["n_subnets"] = len(archs)
    return {"archs": archs, "macs": macs, "inherited": inh, "pick": pick,
            "scratch": np.mean([scratch[s] for s in nets], axis=0)}


def plot_inherited(result: dict) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter(result["macs"], result["inherited"], s=14, label="inherited (once-for-all)")
    ax.scatter(result["macs"][result["pick"]], result["scratch"], s=24, marker="x", label="trained from scratch")
    ax.set_xscale("log")
    ax.set_xlabel("MACs per image")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.legend()
    plt.tight_layout()
    plt.show()


def _evolve(fitness_of, cost_of, budget, n_choices, rng, cfg: Config, tournament_select, crossover_mutate, start):
    """Evolution under a budget: tournament parents, crossover + mutation children; the population keeps the best."""
    pop = [np.array(g) for g in start]
    for _ in range(cfg.generations):
        f = np.array([fitness_of(g) for g in pop])
        c = np.array([cost_of(g) for g in pop], dtype=np.float64)
        parents = tournament_select(f, c, float(budget), rng.integers(0, len(pop), size=(2 * len(pop), cfg.tournament)))
        G = len(n_choices)
        children = [crossover_mutate(pop[parents[2 * i]], pop[parents[2 * i + 1]], n_choices, rng.random(G),
                                     rng.random(G), rng.random(G), cfg.p_mut) for i in range(len(pop))]
        every = pop + children
        f = np.array([fitness_of(g) for g in every])
        c = np.array([cost_of(g) for g in every], dtype=np.float64)
        keep = sorted(range(len(every)), key=lambda i: ((0, -f[i]) if c[i] <= budget else (1, c[i]), i))
        pop = [every[i] for i in keep[: len(pop)]]
    return pop[0]


def search(ridge_fit, kendall_tau, tournament_select, crossover_mutate, reinforce_grad, subnet_cost, elastic_linear,
           nets: dict, data, cfg: Config, figures: Figures | None = None) -> dict:
    """Under a MAC budget, with the same number of measured subnets each: predictor + evolution, random search,
    a REINFORCE controller. Measuring = the inherited weights' validation accuracy; the winners are scored on test."""
    archs = all_architectures(cfg.width_choices, cfg.depth_choices)
    n_choices = _n_choices(cfg)
    big = _macs(subnet_cost, n_choices - 1, cfg)  # the largest network: every gene at its last choice
    budget = cfg.budget_frac * big
    cost_of = lambda g: _macs(subnet_cost, g, cfg)
    out = {"evolution": [], "random": [], "rl": [], "best": [], "pred_tau": []}
    for s, net in nets.items():
        rng = np.random.default_rng(100 + s)
        cache = {}

        def measure(g, split="val"):
            key = (canonical(g, cfg.depth_choices), split)
            if key not in cache:
                cache[key] = subnet_accuracy(extract_subnet(net, *decode(g, cfg.width_choices, cfg.depth_choices),
                                                            elastic_linear), data, split)
            return cache[key]

        feasible = [g for g in archs if cost_of(g) <= budget]
        out["best"].append(max(measure(g, "test") for g in feasible))  # the oracle: every feasible subnet measured
        # 1. predictor + evolution: fit on n_predictor measured subnets, search with the predictor, measure the winner
        train_idx = rng.choice(len(archs), size=cfg.n_predictor, replace=False)
        enc = lambda g: one_hot(g, n_choices, cfg.depth_choices)
        w, b = ridge_fit(np.array([enc(archs[i]) for i in train_idx]), np.array([measure(archs[i]) for i in train_idx]),
                         cfg.ridge_lam)
        predict = lambda g: float(enc(g) @ w + b)
        out["pred_tau"].append(kendall_tau(np.array([predict(g) for g in archs]), np.array([measure(g) for g in archs])))
        start = [rng.integers(0, n_choices) for _ in range(cfg.population)]
        winner = _evolve(predict, cost_of, budget, n_choices, rng, cfg, tournament_select, crossover_mutate, start)
        out["evolution"].append(measure(winner, "test") if cost_of(winner) <= budget else 0.0)
        # 2. random search: n_predictor random feasible subnets measured, the best kept
        pool = rng.permutation(len(feasible))[: cfg.n_predictor]
        best = max((feasible[i] for i in pool), key=lambda g: measure(g))
        out["random"].append(measure(best, "test"))
        # 3. REINFORCE: n_predictor sampled subnets, reward = accuracy (0 over budget), moving-average baseline
        logits = np.zeros((len(n_choices), int(n_choices.max())))
        logits[np.arange(logits.shape[1])[None, :] >= n_choices[:, None]] = -30.0  # choices a gene does not have
        baseline, seen = None, []
        for _ in range(cfg.n_predictor):
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = np.array([rng.choice(p.shape[1], p=row) for row in p])
            reward = measure(g) if cost_of(g) <= budget else 0.0
            baseline = reward if baseline is None else baseline
            logits += cfg.rl_lr * reinforce_grad(logits, g, reward, baseline, cfg.rl_beta)
            baseline = cfg.rl_decay * baseline + (1 - cfg.rl_decay) * reward
            seen.append((reward, g))
        out["rl"].append(measure(max(seen, key=lambda t: t[0])[1], "test"))
    res = {k: np.array(v) for k, v in out.items()}
    n_feasible = sum(cost_of(g) <= budget for g in archs)
    print(f"MAC budget {budget:,.0f} ({cfg.budget_frac:.0%} of the largest network: {n_feasible} of {len(archs)} subnets "
          f"fit); {cfg.n_predictor} measured subnets per search")
    print(f"predictor (ridge on one-hot): Kendall tau with measured validation accuracy {_ms(res['pred_tau'])}")
    for k, label in (("evolution", "predictor + evolution"), ("random", "random search"), ("rl", "REINFORCE controller"),
                     ("best", "best feasible subnet (all measured)")):
        print(f"  {label:38s} test accuracy {_ms(res[k])}")
    if figures is not None:
        figures["budget_macs"], figures["n_feasible"] = budget, n_feasible
        figures["predictor_tau_mean"], figures["predictor_tau_std"] = res["pred_tau"].mean(), res["pred_tau"].std()
        for k in ("evolution", "random", "rl", "best"):
            figures[f"search_{k}_acc_mean"], figures[f"search_{k}_acc_std"] = res[k].mean(), res[k].std()
    return res


def channel_search(tournament_select, crossover_mutate, subnet_cost, elastic_linear, nets: dict, data, cfg: Config,
                   figures: Figures | None = None) -> dict:
    """MetaPruning-style: search the widths of the full-depth MLP at the MACs of a uniform one, candidates scored
    with weights from the supernet; then the searched and the uniform MLP are both trained from scratch."""
    D = max(cfg.depth_choices)
    n_choices = np.array([1] + [len(cfg.channel_widths)] * D)  # depth fixed at its maximum
    uniform = [cfg.uniform_width] * D
    budget = int(subnet_cost(np.array(uniform, dtype=np.int64), D, 64, 10)[0])
    widths_of = lambda g: [cfg.channel_widths[int(i)] for i in g[1:]]
    cost_of = lambda g: int(subnet_cost(np.array(widths_of(g), dtype=np.int64), D, 64, 10)[0])
    searched, uni, found = [], [], []
    for s, net in nets.items():
        rng = np.random.default_rng(200 + s)
        fit = lambda g: subnet_accuracy(extract_subnet(net, widths_of(g), D, elastic_linear), data, "val")
        start = [rng.integers(0, n_choices) for _ in range(cfg.population)]
        g = _evolve(fit, cost_of, budget, n_choices, rng, cfg, tournament_select, crossover_mutate, start)
        widths = widths_of(g)
        found.append(widths)
        searched.append(train_from_scratch(widths, D, data, steps=cfg.scratch_steps, lr=cfg.lr, seed=s))
        uni.append(train_from_scratch(uniform, D, data, steps=cfg.scratch_steps, lr=cfg.lr, seed=s))
    print(f"budget: the uniform MLP {uniform} ({budget:,} MACs); searched widths per seed: {found}")
    print(f"trained from scratch: searched {_ms(searched)}, uniform {_ms(uni)}, "
          f"difference {_ms(np.array(searched) - np.array(uni))}")
    if figures is not None:
        figures["channel_searched_acc_mean"], figures["channel_uniform_acc_mean"] = np.mean(searched), np.mean(uni)
        d = np.array(searched) - np.array(uni)
        figures["channel_diff_mean"], figures["channel_diff_std"] = d.mean(), d.std()
    return {"searched": np.array(searched), "uniform": np.array(uni), "widths": found}
