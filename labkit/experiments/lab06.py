"""Lab 6's experiments (early exits, skip gates, switch routing), called by labsrc/lab06_dynamic.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the answers were measured at; ``Config.quick()`` runs in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from labdatasets import make_easy_hard
from labkit.dynamic import (GatedResidualMLP, MultiExitMLP, SwitchMLP, predict, train_gated, train_multi_exit,
                            train_switch)
from labkit.experiments import ExperimentConfig, Figures
from labkit.training import set_seed


@dataclass(frozen=True)
class Config(ExperimentConfig):
    lr: float = 3e-3
    easy_hard_points: int = 3000  # 2/3 train, 1/3 test
    easy_hard_epochs: int = 30
    widths: tuple = (32, 128, 128)
    exit_epochs: int = 30
    entropy_thresholds: tuple = (0.0, 0.001, 0.01, 0.03, 0.1, 0.3, 0.6, 1.0, 1.5, 2.5)
    confidence_thresholds: tuple = (1.01, 0.9999, 0.999, 0.99, 0.95, 0.9, 0.8, 0.6, 0.4, 0.0)
    gate_lambdas: tuple = (0.0, 0.05, 0.2, 0.5)
    gate_epochs: int = 25
    balance_alphas: tuple = (0.0, 0.01, 0.1)
    capacity_factors: tuple = (0.5, 1.0, 1.25, 1.5, 2.0, 4.0)
    switch_epochs: int = 30

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), easy_hard_points=600, easy_hard_epochs=3, exit_epochs=3,
                   entropy_thresholds=(0.0, 0.1, 2.5), confidence_thresholds=(1.01, 0.9, 0.0), gate_lambdas=(0.0, 0.2),
                   gate_epochs=2, balance_alphas=(0.0, 0.1), capacity_factors=(1.0, 2.0), switch_epochs=2)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row softmax through torch (Lab 1's exercise must not appear in the student bundle as NumPy code)."""
    return torch.softmax(torch.as_tensor(z, dtype=torch.float64), dim=-1).numpy()


def easy_hard(entropy, exit_decisions, cfg: Config, figures: Figures | None = None) -> None:
    """A three-exit MLP on the easy/hard 2-D task: where easy and hard points leave (entropy < 0.2)."""
    n_train = 2 * cfg.easy_hard_points // 3
    X, y, hard = make_easy_hard(cfg.easy_hard_points, seed=0, n_features=2)
    X_tr, y_tr, X_te, y_te, hard_te = X[:n_train], y[:n_train], X[n_train:], y[n_train:], hard[n_train:]
    set_seed(0)
    net = MultiExitMLP(2, [16, 32, 32], 2)
    train_multi_exit(net, X_tr, y_tr, epochs=cfg.easy_hard_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=0,
                     weights=[1, 1, 1])
    p = softmax(predict(net, X_te))  # (E, N, 2)
    exits = exit_decisions(p, np.array([0.2, 0.2]))
    answer = p[exits, np.arange(len(y_te))].argmax(axis=1)
    print(f"{'':>6}{'n':>6}{'exit 0':>9}{'exit 1':>9}{'exit 2':>9}{'accuracy':>10}{'mean entropy at exit 0':>25}")
    for name, mask in [("easy", ~hard_te), ("hard", hard_te)]:
        share = np.bincount(exits[mask], minlength=3) / mask.sum()
        acc = (answer[mask] == y_te[mask]).mean()
        print(f"{name:>6}{mask.sum():>6}" + "".join(f"{s:>9.3f}" for s in share) + f"{acc:>10.3f}"
              f"{entropy(p[0][mask]).mean():>25.3f}")
        if figures is not None:
            figures[f"easy_hard_{name}_acc"] = acc
            figures[f"easy_hard_{name}_n"] = mask.sum()
            figures[f"easy_hard_{name}_entropy0"] = entropy(p[0][mask]).mean()
            figures[f"easy_hard_{name}_exit0_n"] = np.sum(exits[mask] == 0)
            for e in range(3):
                figures[f"easy_hard_{name}_exit{e}_share"] = share[e]
                figures[f"easy_hard_{name}_exit{e}_percent"] = 100 * share[e]
    if figures is not None:
        for e in range(3):
            figures[f"easy_hard_exit{e}_acc_all"] = (p[e].argmax(1) == y_te).mean()
    print("accuracy of each exit on all test points:", [round(float((p[e].argmax(1) == y_te).mean()), 3) for e in range(3)])
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for e, marker in zip(range(3), "o^s"):
        sel = exits == e
        ax[0].scatter(X_te[sel, 0], X_te[sel, 1], s=8, marker=marker, label=f"left at exit {e} ({sel.sum()})")
    ax[0].set(title="test points by the exit they left at", xlabel="$x_1$", ylabel="$x_2$")
    ax[0].legend()
    ax[1].hist([entropy(p[0][~hard_te]), entropy(p[0][hard_te])], bins=30, label=["easy", "hard"])
    ax[1].axvline(0.2, color="k", ls="--", label="threshold 0.2")
    ax[1].set(title="entropy of exit 0's prediction", xlabel="nats", ylabel="test points")
    ax[1].legend()
    plt.tight_layout()
    plt.show()


def train_exits(data, cfg: Config, figures: Figures | None = None) -> tuple[dict, np.ndarray]:
    """Multi-exit MLPs on the digits, BranchyNet and self-distilled, one per seed: (probs per (method, seed)
    as (E, N, 10), cumulative MACs per exit); prints each exit's accuracy."""
    nets = {}
    for method in ("branchy", "self-distill"):
        for seed in cfg.seeds:
            set_seed(seed)
            net = MultiExitMLP(64, list(cfg.widths), 10)
            train_multi_exit(net, data.X_train, data.y_train, epochs=cfg.exit_epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, seed=seed, weights=[1, 1, 1], distill=method == "self-distill")
            nets[method, seed] = net
    costs = nets["branchy", cfg.seeds[0]].macs_per_exit()  # cumulative MACs per exit
    probs = {k: softmax(predict(net, data.X_test)) for k, net in nets.items()}  # (E, N, 10) each
    print("cumulative MACs per exit:", costs.astype(int).tolist())
    print(f"{'method':>14}" + "".join(f"{'exit ' + str(e) + ' accuracy':>22}" for e in range(3)))
    for method in ("branchy", "self-distill"):
        acc = np.array([[(probs[method, s][e].argmax(1) == data.y_test).mean() for e in range(3)] for s in cfg.seeds])
        print(f"{method:>14}" + "".join(f"{m:>15.3f} ± {sd:.3f}" for m, sd in zip(acc.mean(0), acc.std(0))))
        if figures is not None:
            for e in range(3):
                figures[f"{method}_exit{e}_acc_mean"] = acc.mean(0)[e]
                figures[f"{method}_exit{e}_acc_std"] = acc.std(0)[e]
                figures[f"exit{e}_macs"] = costs[e]
    return probs, costs


def tradeoff(exit_decisions, confidence_exit_decisions, expected_cost, probs: dict, costs: np.ndarray, y: np.ndarray,
             cfg: Config, figures: Figures | None = None) -> dict:
    """Accuracy against average MACs as the threshold of each exit rule varies; table and plot."""
    def sweep(method, rule, thresholds):
        rows = []
        for t in thresholds:
            acc, cost = [], []
            for s in cfg.seeds:
                p = probs[method, s]
                ex = rule(p, np.array([t, t]))
                acc.append((p[ex, np.arange(p.shape[1])].argmax(1) == y).mean())
                cost.append(expected_cost(ex, costs))
            rows.append((t, np.mean(acc), np.std(acc), np.mean(cost)))
        return rows

    curves = {}
    figures = figures if figures is not None else {}
    for method in ("branchy", "self-distill"):
        for rule_name, rule, ts in [("entropy", exit_decisions, cfg.entropy_thresholds),
                                    ("confidence", confidence_exit_decisions, cfg.confidence_thresholds)]:
            curves[method, rule_name] = sweep(method, rule, ts)
            print(f"{method}, {rule_name} rule:  threshold -> accuracy (mean ± std over seeds), "
                  "average MACs (share of the full network)")
            for t, a, sd, c in curves[method, rule_name]:
                key = f"{method}_{rule_name}_t{t:g}"
                figures[f"{key}_acc_mean"], figures[f"{key}_acc_std"] = a, sd
                figures[f"{key}_macs"], figures[f"{key}_macs_percent"] = c, 100 * c / costs[-1]
                print(f"    {t:>7}: {a:.3f} ± {sd:.3f}   {c:>7.0f} MACs ({c / costs[-1]:.2f})")
    fig, ax = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for a, method in zip(ax, ("branchy", "self-distill")):
        for rule_name, marker in (("entropy", "o-"), ("confidence", "s--")):
            rows = curves[method, rule_name]
            a.plot([r[3] for r in rows], [r[1] for r in rows], marker, label=f"{rule_name} rule")
        single = [np.mean([(probs[method, s][e].argmax(1) == y).mean() for s in cfg.seeds]) for e in range(3)]
        a.plot(costs, single, "k*", ms=12, label="every sample at exit e (static)")
        a.set(title=method, xlabel="average MACs per sample", xscale="log")
        a.legend()
    ax[0].set_ylabel("test accuracy")
    plt.tight_layout()
    plt.show()
    return curves


def exit_histogram(entropy, exit_decisions, expected_cost, p0: np.ndarray, costs: np.ndarray, data,
                   figures: Figures | None = None) -> None:
    """Where the digits leave at entropy < 0.1 (seed 0, BranchyNet), and the hardest ones that went to the end."""
    ex0 = exit_decisions(p0, np.array([0.1, 0.1]))
    counts = np.bincount(ex0, minlength=3)
    for e in range(3):
        sel = ex0 == e
        acc_here = (p0[e][sel].argmax(1) == data.y_test[sel]).mean() if sel.any() else float("nan")
        acc_final = (p0[2][sel].argmax(1) == data.y_test[sel]).mean() if sel.any() else float("nan")
        print(f"exit {e}: {counts[e]:>3} digits ({counts[e] / len(ex0):.3f}), accuracy of the exit's answer "
              f"{acc_here:.3f}, of the last exit's answer on the same digits {acc_final:.3f}")
    print(f"average cost {expected_cost(ex0, costs):.0f} MACs against {costs[-1]:.0f} for the full network")
    if figures is not None:
        for e in range(3):
            figures[f"histogram_t0.1_exit{e}_percent"] = 100 * counts[e] / len(ex0)
    fig, ax = plt.subplots(1, 4, figsize=(13, 3), gridspec_kw={"width_ratios": [1.6, 1, 1, 1]})
    ax[0].bar(range(3), counts)
    ax[0].set(xticks=range(3), xlabel="exit", ylabel="test digits", title="exit histogram (entropy < 0.1)")
    late = np.flatnonzero(ex0 == 2)
    worst = late[np.argsort(entropy(p0[0][late]))[::-1][:3]]
    for a, i in zip(ax[1:], worst):
        a.imshow(data.X_test[i].reshape(8, 8), cmap="gray_r")
        a.set_title(f"a {data.y_test[i]}: H0 = {entropy(p0[0][i]):.2f}")
        a.axis("off")
    plt.tight_layout()
    plt.show()


def train_gates(data, cfg: Config, figures: Figures | None = None) -> dict:
    """SkipNet-style gated residual MLPs, one per compute weight lambda; prints accuracy, gates and MACs."""
    gated = {}
    print(f"{'lambda':>7}{'accuracy':>10}{'executed share, blocks 1-4':>34}{'average MACs':>14}")
    for lam in cfg.gate_lambdas:
        set_seed(0)
        g = GatedResidualMLP(64, 64, 4, 10)
        train_gated(g, data.X_train, data.y_train, epochs=cfg.gate_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                    seed=0, compute_weight=lam)
        logits, gates = predict(g, data.X_test)  # (N, 10), (4, N)
        gated[lam] = g
        macs = g.fixed_macs() + g.block_macs() * gates.sum(axis=0).mean()
        acc = (logits.argmax(1) == data.y_test).mean()
        print(f"{lam:>7}{acc:>10.3f}{str(gates.mean(axis=1).round(3)):>34}{macs:>14.0f}")
        if figures is not None:
            figures[f"gate_lambda{lam:g}_acc"], figures[f"gate_lambda{lam:g}_macs"] = acc, macs
            for b, share in enumerate(gates.mean(axis=1)):
                figures[f"gate_lambda{lam:g}_block{b + 1}_share"] = share
            figures["gate_full_macs"] = g.fixed_macs() + 4 * g.block_macs()
            figures[f"gate_lambda{lam:g}_macs_percent"] = 100 * macs / figures["gate_full_macs"]
    g0 = gated[cfg.gate_lambdas[0]]
    print(f"(every block executed: {g0.fixed_macs() + 4 * g0.block_macs()} MACs)")
    return gated


def numpy_forward(skip_gate_forward, skip_block_output, g: GatedResidualMLP, X: np.ndarray):
    """The gated network in NumPy with the student's hard gate and gated block: (logits, gates (blocks, N))."""
    W = {k: v.double().numpy() for k, v in g.state_dict().items()}
    h = np.maximum(X @ W["stem.weight"].T + W["stem.bias"], 0)  # (N, 64)
    ms = []
    for b in range(len(g.blocks)):
        z = h @ W[f"gates.{b}.weight"][0] + W[f"gates.{b}.bias"][0]  # (N,)
        m = skip_gate_forward(z)
        inner = np.maximum(h @ W[f"blocks.{b}.0.weight"].T + W[f"blocks.{b}.0.bias"], 0)
        fx = h + inner @ W[f"blocks.{b}.2.weight"].T + W[f"blocks.{b}.2.bias"]
        h = skip_block_output(h, fx, m)
        ms.append(m)
    return h @ W["head.weight"].T + W["head.bias"], np.stack(ms)


def gates_against_torch(skip_gate_forward, skip_block_output, g: GatedResidualMLP, X: np.ndarray) -> bool:
    """Whether the NumPy forward pass makes the same gate decisions and predictions as torch; printed."""
    logits_np, gates_np = numpy_forward(skip_gate_forward, skip_block_output, g, X.astype(np.float64))
    logits_t, gates_t = predict(g, X)
    same = bool(np.array_equal(gates_np, gates_t)) and bool(np.array_equal(logits_np.argmax(1), logits_t.argmax(1)))
    print("gate decisions identical:", bool(np.array_equal(gates_np, gates_t)),
          "| predictions identical:", bool(np.array_equal(logits_np.argmax(1), logits_t.argmax(1))),
          f"| max |logit difference| {np.abs(logits_np - logits_t).max():.1e} (float32 torch against float64 NumPy)")
    return same


def ste_against_autograd(ste_gate_grad) -> float:
    """The student's straight-through gradient against torch autograd on the same estimator; max |diff|."""
    z = torch.linspace(-6, 6, 13, dtype=torch.float64, requires_grad=True)
    upstream = torch.linspace(1, 2, 13, dtype=torch.float64)
    s = torch.sigmoid(z)
    ((z >= 0).double() + (s - s.detach())).backward(upstream)
    diff = float(np.abs(ste_gate_grad(z.detach().numpy(), upstream.numpy()) - z.grad.numpy()).max())
    print(f"ste_gate_grad against torch autograd: max |difference| {diff:.1e}")
    return diff


def routing(switch_route, load_balancing_loss, data, cfg: Config, figures: Figures | None = None) -> None:
    """Switch MLPs trained with each load-balancing weight: expert load, and tokens dropped per capacity factor."""
    switch, dropped = {}, {}
    print(f"{'alpha':>6}{'accuracy (cf 1.25)':>20}{'tokens per expert (top-1 share)':>36}{'balance loss':>14}")
    for alpha in cfg.balance_alphas:
        set_seed(0)
        sw = SwitchMLP(64, 32, 4, 64, 10, capacity_factor=1.25)
        train_switch(sw, data.X_train, data.y_train, epochs=cfg.switch_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                     seed=0, balance_weight=alpha)
        switch[alpha] = sw
        logits, r = predict(sw, data.X_test, batch_size=cfg.batch_size)  # (N, 10), (N, 4)
        share = np.bincount(r.argmax(axis=1), minlength=4) / len(r)
        print(f"{alpha:>6}{(logits.argmax(1) == data.y_test).mean():>20.3f}{str(share.round(3)):>36}"
              f"{load_balancing_loss(r):>14.3f}")
        if figures is not None:
            figures[f"switch_alpha{alpha:g}_acc"] = (logits.argmax(1) == data.y_test).mean()
            figures[f"switch_alpha{alpha:g}_balance_loss"] = load_balancing_loss(r)
            for k, v in enumerate(share):
                figures[f"switch_alpha{alpha:g}_expert{k}_share"] = v
                figures[f"switch_alpha{alpha:g}_expert{k}_percent"] = 100 * v
        for cf in cfg.capacity_factors:
            sw.capacity_factor = cf
            logits_cf, r_cf = predict(sw, data.X_test, batch_size=cfg.batch_size)
            batches = range(0, len(r_cf), cfg.batch_size)
            assign = np.concatenate([switch_route(r_cf[i:i + cfg.batch_size], cf) for i in batches])
            dropped[alpha, cf] = ((assign == -1).mean(), (logits_cf.argmax(1) == data.y_test).mean())
            if figures is not None:
                figures[f"switch_alpha{alpha:g}_cf{cf:g}_dropped"] = dropped[alpha, cf][0]
                figures[f"switch_alpha{alpha:g}_cf{cf:g}_acc"] = dropped[alpha, cf][1]
                figures[f"switch_alpha{alpha:g}_cf{cf:g}_dropped_percent"] = 100 * dropped[alpha, cf][0]
        sw.capacity_factor = 1.25
    print(f"\n{'capacity factor':>16}" + "".join(f"{'alpha ' + str(a) + ': dropped, acc':>28}" for a in cfg.balance_alphas))
    for cf in cfg.capacity_factors:
        print(f"{cf:>16}" + "".join(f"{dropped[a, cf][0]:>20.3f}, {dropped[a, cf][1]:.3f}" for a in cfg.balance_alphas))
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.25
    for k, alpha in enumerate(cfg.balance_alphas):
        _, r = predict(switch[alpha], data.X_test, batch_size=cfg.batch_size)
        ax[0].bar(np.arange(4) + (k - 1) * width, np.bincount(r.argmax(1), minlength=4) / len(r), width,
                  label=f"alpha = {alpha}")
        ax[1].plot(cfg.capacity_factors, [dropped[alpha, cf][0] for cf in cfg.capacity_factors], "o-",
                   label=f"alpha = {alpha}")
    ax[0].axhline(0.25, color="k", ls="--", lw=1)
    ax[0].set(xticks=range(4), xlabel="expert", ylabel="share of test tokens (top-1)", title="expert load")
    ax[0].legend()
    ax[1].set(xlabel="capacity factor", ylabel="share of tokens dropped", title="dropped tokens (batches of 64)",
              xscale="log")
    ax[1].legend()
    plt.tight_layout()
    plt.show()
