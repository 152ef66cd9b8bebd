"""Lab 5's experiments (differentiable NAS on a planted task and on the digits), called by labsrc/lab05_nas.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the notebook's answers were measured at; ``Config.quick()`` runs in seconds (tests). Latencies are
measured on the machine that runs the notebook: their figures end in ``_ms`` (machine-dependent) and are
never claimed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from labdatasets import PLANTED_OPS, make_planted_op_task
from labkit.experiments import ExperimentConfig, Figures
from labkit.nas import (DIGIT_OPS, CellNet, measure_latencies_us, op_latency_table, planted_op_importance,
                        random_genotype, search_darts, search_planted, train_network)

SKIP_CELL = [("skip", 0), ("skip", 0), ("skip", 1), ("skip", 0), ("skip", 1)]


@dataclass(frozen=True)
class Config(ExperimentConfig):
    plant: str = "maxpool3"  # the op the synthetic targets are generated with
    planted_seeds: tuple = (0, 1, 2, 3, 4)
    planted_n: int = 1500  # signals, half for training, half for validation
    planted_epochs: int = 20
    planted_warmup: int = 5  # epochs of weights only, alpha frozen at uniform (as ProxylessNAS and FBNet do)
    search_epochs: int = 3  # DARTS epochs on digits (each: 17 alpha steps + 17 weight steps)
    train_steps: int = 300  # Adam steps to train every derived network from scratch (about 18 epochs)
    n_random: int = 8
    lat_warmup: int = 10
    lat_reps: int = 50  # timed calls per op (op_latency_table times them in 5 rounds: at least 5)
    lambdas: tuple = (0.0, 0.3, 1.0, 3.0)

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0,), planted_seeds=(0, 1), planted_n=200, planted_epochs=3, planted_warmup=1,
                   search_epochs=1, train_steps=5, n_random=2, lat_warmup=1, lat_reps=5, lambdas=(0.0, 3.0))


def describe(genotype) -> str:
    return " ".join(f"{op}<-{i}" for op, i in genotype)


def planted(mixed_op_weights, cfg: Config, figures: Figures | None = None) -> dict:
    """The search on the planted task, per seed: op weights over the epochs, removal importance, each op alone."""
    weights, alone, removal = {}, {}, {}
    half = cfg.planted_n // 2
    for seed in cfg.planted_seeds:
        X, y = make_planted_op_task(cfg.planted_n, seed=seed, op=cfg.plant, noise=0.05)
        split = (X[:half], y[:half], X[half:], y[half:])
        supernet_1d, hist = search_planted(*split, epochs=cfg.planted_epochs, warmup_epochs=cfg.planted_warmup,
                                           lr_alpha=0.1, seed=seed)
        weights[seed] = np.asarray(mixed_op_weights(np.array(hist.alpha)))  # (epochs + 1, K) after each epoch
        removal[seed] = planted_op_importance(supernet_1d, X[half:], y[half:])  # MSE rise when op i is removed
        # the same network with a single candidate op, trained for as long: how well can each op fit on its own?
        alone[seed] = [search_planted(*split, epochs=cfg.planted_epochs, seed=seed, ops=(op,))[1].val_loss[-1]
                       for op in PLANTED_OPS]
    recovered = {s: PLANTED_OPS[int(np.argmax(w[-1]))] for s, w in weights.items()}
    best_alone = {s: PLANTED_OPS[int(np.argmin(v))] for s, v in alone.items()}
    print(f"planted op: {cfg.plant}\n")
    print("final op weights, softmax(alpha), after DARTS search")
    print("seed  " + "  ".join(f"{o:>9}" for o in PLANTED_OPS) + "   search picks")
    for seed, w in weights.items():
        print(f"{seed:>4}  " + "  ".join(f"{v:9.3f}" for v in w[-1]) + f"   {recovered[seed]}")
    print("\nrise in validation MSE when one op is removed from the trained supernet (Wang et al., 2021)")
    for seed, v in removal.items():
        print(f"{seed:>4}  " + "  ".join(f"{m:9.4f}" for m in v) + f"   relies on: {PLANTED_OPS[int(np.argmax(v))]}")
    print("\nvalidation MSE of each op trained alone")
    for seed, v in alone.items():
        print(f"{seed:>4}  " + "  ".join(f"{m:9.4f}" for m in v) + f"   best alone: {best_alone[seed]}")
    n_rec = sum(r == cfg.plant for r in recovered.values())
    n_alone = sum(b == cfg.plant for b in best_alone.values())
    print(f"\nsearch recovered the planted op in {n_rec} of {len(recovered)} seeds; "
          f"trained alone, {cfg.plant} fits best in {n_alone} of {len(best_alone)}")
    if figures is not None:
        figures["planted_recovered"], figures["planted_best_alone"] = n_rec, n_alone
        for seed in cfg.planted_seeds:
            for i, op in enumerate(PLANTED_OPS):
                figures[f"planted_seed{seed}_{op}_weight"] = weights[seed][-1, i]
                figures[f"planted_seed{seed}_{op}_removal"] = removal[seed][i]
                figures[f"planted_seed{seed}_{op}_alone"] = alone[seed][i]
    return {"weights": weights, "removal": removal, "alone": alone, "recovered": recovered}


def plot_planted(result: dict, cfg: Config) -> None:
    weights, recovered = result["weights"], result["recovered"]
    fig, axes = plt.subplots(1, len(weights), figsize=(3.2 * len(weights), 2.8), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (seed, w) in zip(axes, weights.items()):
        for i, name in enumerate(PLANTED_OPS):
            ax.plot(w[:, i], label=name, lw=2.5 if name == cfg.plant else 1.2)
        ax.axvline(cfg.planted_warmup, color="gray", ls=":", lw=0.8)
        ax.set_title(f"seed {seed}: picks {recovered[seed]}")
        ax.set_xlabel("epoch (warm-up until the dotted line)")
    axes[0].set_ylabel("softmax(alpha)")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"op weights during search, planted op = {cfg.plant}")
    fig.tight_layout()
    plt.show()


def latency_table(data, cfg: Config, figures: Figures | None = None) -> tuple[dict, float, torch.Tensor]:
    """Each digits-cell op timed on this machine (median), and the fixed part of the network; machine-dependent."""
    table = op_latency_table(C=8, batch=64, warmup=cfg.lat_warmup, reps=cfg.lat_reps)
    print(f"{'op':>9}  median latency (us, batch 64, 8x8x8)")
    for name, us in table.items():
        print(f"{name:>9}  {us:10.1f}")
    # the fixed part (stem + pooling + classifier) once: the network with an all-skip cell minus its skips
    torch.manual_seed(0)
    x = torch.as_tensor(data.X_test[:64])
    fixed = measure_latencies_us({"skip cell": CellNet(genotype=SKIP_CELL)}, x)["skip cell"] - 5 * table["skip"]
    print(f"fixed part (stem, pooling, classifier): {fixed:.1f} us")
    if figures is not None:
        for name, us in table.items():
            figures[f"latency_{name}_ms"] = us / 1000
        figures["latency_fixed_ms"] = fixed / 1000
    return table, fixed, x


def final_accuracy(genotype, data, cfg: Config) -> np.ndarray:
    """Test accuracy of the cell trained from scratch, one per seed."""
    accs = []
    for s in cfg.seeds:
        torch.manual_seed(s)
        accs.append(train_network(CellNet(genotype=genotype), data, steps=cfg.train_steps, seed=s))
    return np.array(accs)


def darts_vs_random(mixed_op_weights, derive_genotype, data, cfg: Config, figures: Figures | None = None) -> dict:
    """First-order DARTS against random search with as many optimiser steps; both winners trained from scratch."""
    ops = list(DIGIT_OPS)
    t0 = time.process_time()
    _, darts_hist = search_darts(data, epochs=cfg.search_epochs, seed=0)
    darts_cpu = time.process_time() - t0
    alpha = darts_hist.alpha[-1]
    darts_geno = derive_genotype(alpha, ops, k=2, n_inputs=1)
    print(f"DARTS: {darts_hist.steps} steps, {darts_cpu:.1f} s CPU, genotype {describe(darts_geno)}")
    print("final op weights per edge (rows) — your mixed_op_weights:")
    print("      " + " ".join(f"{o:>8}" for o in ops))
    for e, row in enumerate(np.asarray(mixed_op_weights(alpha))):
        print(f"edge {e} " + " ".join(f"{v:8.3f}" for v in row))

    rng = np.random.default_rng(0)
    per_arch = darts_hist.steps // cfg.n_random
    t0 = time.process_time()
    random_results = []
    for r in range(cfg.n_random):
        g = random_genotype(rng, n_nodes=3, k=2, ops=ops)
        torch.manual_seed(100 + r)
        val = train_network(CellNet(genotype=g), data, steps=per_arch, seed=100 + r, eval_on="val")
        random_results.append((val, g))
    random_cpu = time.process_time() - t0
    best_val, random_geno = max(random_results, key=lambda t: t[0])
    print(f"random search: {cfg.n_random} cells x {per_arch} steps = {cfg.n_random * per_arch} steps, "
          f"{random_cpu:.1f} s CPU; best validation accuracy {best_val:.3f}: {describe(random_geno)}")

    finals = {"DARTS": (darts_geno, final_accuracy(darts_geno, data, cfg)),
              "random search": (random_geno, final_accuracy(random_geno, data, cfg)),
              "all-skip cell": (SKIP_CELL, final_accuracy(SKIP_CELL, data, cfg))}  # no search: does the cell matter?
    print(f"\n{'cell':>14}  test accuracy ({len(cfg.seeds)} seeds, mean ± std)  genotype")
    for name, (g, accs) in finals.items():
        print(f"{name:>14}  {accs.mean():.3f} ± {accs.std():.3f}                     {describe(g)}")
        if figures is not None:
            key = {"DARTS": "darts", "random search": "random", "all-skip cell": "skip"}[name]
            figures[f"final_{key}_mean"], figures[f"final_{key}_std"] = accs.mean(), accs.std()
    if figures is not None:
        figures["random_best_val"], figures["random_steps_per_cell"] = best_val, per_arch
        figures["darts_cpu_s"], figures["random_cpu_s"] = darts_cpu, random_cpu
    return {"hist": darts_hist, "alpha": alpha, "genotype": darts_geno, "random": random_results, "finals": finals}


def lambda_sweep(derive_genotype, expected_latency, latency_loss_additive, pareto_front, data, table, fixed_us,
                 x, darts: dict, cfg: Config, figures: Figures | None = None) -> dict:
    """Latency-aware DARTS for each lambda: derived cell, expected and measured latency, accuracy, Pareto front."""
    ops = list(DIGIT_OPS)
    op_lat = np.tile([table[o] for o in ops], (len(darts["alpha"]), 1))  # (E, K) same table on every edge
    ref_us = expected_latency(np.zeros_like(op_lat), op_lat, fixed_us)
    print(f"reference latency (uniform supernet): {ref_us:.1f} us")
    sweep = []
    for lam in cfg.lambdas:
        hist = darts["hist"] if lam == 0.0 else search_darts(
            data, epochs=cfg.search_epochs, seed=0, op_latency=op_lat, lam=lam, ref_latency=ref_us,
            fixed_latency=fixed_us)[1]
        alpha = hist.alpha[-1]
        geno = derive_genotype(alpha, ops, k=2, n_inputs=1)
        torch.manual_seed(0)
        net = CellNet(genotype=geno)
        acc = train_network(net, data, steps=cfg.train_steps, seed=0)
        sweep.append(dict(lam=lam, geno=geno, e_lat=expected_latency(alpha, op_lat, fixed_us), acc=acc, net=net,
                          penalty=latency_loss_additive(0.0, alpha, op_lat, ref_us, lam, fixed_us)))
    # all derived networks (and the random cells) timed together, in interleaved rounds, batch 64
    nets = {f"lambda={s['lam']}": s["net"] for s in sweep}
    nets.update({f"random {r}": CellNet(genotype=g) for r, (_, g) in enumerate(darts["random"])})
    measured = measure_latencies_us(nets, x, warmup=5, reps=10, rounds=5)
    for s in sweep:
        s["lat"] = measured[f"lambda={s['lam']}"]
    front = np.asarray(pareto_front(np.array([s["lat"] for s in sweep]), np.array([s["acc"] for s in sweep])), bool)
    print(f"\n{'lambda':>6}  {'E[lat] (us)':>11}  {'penalty':>8}  {'measured (us)':>13}  {'test acc':>8}  front  genotype")
    for s, on in zip(sweep, front):
        print(f"{s['lam']:>6}  {s['e_lat']:11.1f}  {s['penalty']:8.3f}  {s['lat']:13.1f}  {s['acc']:8.3f}  "
              f"{'  *  ' if on else '     '}  {describe(s['geno'])}")
        if figures is not None:  # lambda > 0: the measured table steers the search, so even the cell and its
            # accuracy change from run to run (machine-dependent; lab05_nas.claims.toml claims only lambda = 0)
            figures[f"sweep_lam{s['lam']:g}_acc"], figures[f"sweep_lam{s['lam']:g}_on_front"] = s["acc"], on
            figures[f"sweep_lam{s['lam']:g}_expected_ms"] = s["e_lat"] / 1000  # from the table: machine-dependent
            figures[f"sweep_lam{s['lam']:g}_measured_ms"] = s["lat"] / 1000
    return {"sweep": sweep, "front": front, "measured": measured, "random": darts["random"]}


def plot_sweep(result: dict) -> None:
    sweep, front, measured, random_results = result["sweep"], result["front"], result["measured"], result["random"]
    fig, ax = plt.subplots(figsize=(6, 4))
    rs_lat = [measured[f"random {r}"] for r in range(len(random_results))]
    ax.scatter(rs_lat, [v for v, _ in random_results], c="lightgray", label="random cells (val acc, short budget)")
    lat_s, acc_s = np.array([s["lat"] for s in sweep]), np.array([s["acc"] for s in sweep])
    ax.scatter(lat_s, acc_s, c="tab:blue", label="DARTS + latency loss (test acc)")
    order = np.argsort(lat_s[front])
    ax.plot(lat_s[front][order], acc_s[front][order], "r--", label="Pareto front")
    for s in sweep:
        ax.annotate(f"λ={s['lam']}", (s["lat"], s["acc"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("measured latency of the derived network (us, batch 64)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    ax.set_title("accuracy-latency trade-off")
    plt.show()
