"""Lab 3's experiments (pruning a digits MLP: curves, lottery tickets, bias, SVCCA, and the
dissertation's protocols), called by labsrc/lab03_pruning.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the notebook's answers were measured at; ``Config.quick()`` runs in seconds (tests).
"""

from __future__ import annotations

import copy
import functools
import re
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from labdatasets.imbalance import downsample_classes
from labkit.distillation_torch import kd_loss_torch
from labkit.experiments import ExperimentConfig, Figures
from labkit.pruning import (agp_filter_prune, agp_sparsity, correlations, count_params, get_weights, hidden_activations,
                            linear_layers, mlp_from_arrays, pie_experiment, random_masks, set_weights,
                            sparse_init_vs_reinit, svcca_vs_cev, train_masked, unit_masks)
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier


@dataclass(frozen=True)
class Config(ExperimentConfig):
    batch_size: int = 128
    hidden: tuple = (64, 32)
    epochs: int = 20  # dense training (and each IMP round)
    lr: float = 5e-3
    ft_epochs: int = 10  # fine-tuning after pruning
    ft_lr: float = 2e-3
    sparsities: tuple = (0.3, 0.45, 0.6, 0.75, 0.9)
    kd_T: float = 4.0  # Hinton KD, as in Lab 1
    kd_alpha: float = 0.9
    imp_target: float = 0.95
    imp_rounds: int = 3
    down_classes: tuple = (3, 8)
    down_keep: float = 0.2
    bias_sparsities: tuple = (0.75, 0.9)  # a subset of sparsities (their CE runs are section 1's)
    ch2_sparsities: tuple = (0.3, 0.5, 0.7, 0.9)  # the dissertation's ch. II range
    agp_sparsities: tuple = (0.5, 0.75)  # fraction of hidden units removed
    agp_steps: int = 5
    agp_epochs_per_step: int = 1
    agp_finetune_epochs: int = 6  # one-shot gets (steps + 1) * epochs_per_step + finetune epochs
    pie_sparsity: float = 0.9
    pie_seeds: tuple = (0, 1, 2, 3, 4)
    drift_sparsities: tuple = (0.3, 0.5, 0.7, 0.8, 0.9)

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), epochs=2, ft_epochs=1, sparsities=(0.5, 0.9), imp_rounds=2, bias_sparsities=(0.9,),
                   ch2_sparsities=(0.5, 0.9), agp_sparsities=(0.5,), agp_steps=2, agp_finetune_epochs=1,
                   pie_seeds=(0, 1, 2), drift_sparsities=(0.3, 0.6, 0.9))

    @property
    def train(self) -> dict:
        return {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size}


def slug(text) -> str:
    """A figure-name fragment: "global magnitude" -> "global_magnitude", 0.75 -> "0.75"."""
    return re.sub(r"[^0-9a-zA-Z.]+", "_", str(text)).strip("_").lower()


def record(figures: Figures | None, name: str, values) -> None:
    """figures[name_mean] and figures[name_std] (over seeds) of an array of per-seed values."""
    if figures is not None:
        values = np.asarray(values, dtype=np.float64)
        figures[f"{name}_mean"], figures[f"{name}_std"] = values.mean(), values.std()


@dataclass
class Lab:
    """The lab's shared state: data, sizes, the dense networks (one per seed) and the pruned ones."""
    data: object
    cfg: Config
    dense: dict = field(default_factory=dict)
    pruned: dict = field(default_factory=dict)  # (method, s, seed) -> fine-tuned pruned model
    curves: dict = field(default_factory=dict)  # (method, s) -> (seeds, 3): weights removed, one-shot, fine-tuned

    @property
    def kd(self):
        return functools.partial(kd_loss_torch, T=self.cfg.kd_T, alpha=self.cfg.kd_alpha)

    def new_mlp(self, seed: int) -> MLP:
        set_seed(seed)  # the same seed gives the same initial weights
        return MLP(64, self.cfg.hidden, 10)

    def train_dense(self, seed: int, X=None, y=None) -> MLP:
        model = self.new_mlp(seed)
        X, y = (self.data.X_train, self.data.y_train) if X is None else (X, y)
        train_classifier(model, X, y, seed=seed, **self.cfg.train)
        return model

    def test_acc(self, model) -> float:
        return accuracy(model, self.data.X_test, self.data.y_test)

    @property
    def dense_acc(self) -> np.ndarray:
        return np.array([self.test_acc(self.dense[s]) for s in self.cfg.seeds])

    def fine_tune(self, model, masks, seed, X=None, y=None, teacher=None):
        """Prune model with masks, then fine-tune the survivors (cross-entropy, or KD from teacher)."""
        m = with_masks(model, masks)
        X, y = (self.data.X_train, self.data.y_train) if X is None else (X, y)
        extra = {} if teacher is None else {"teacher": teacher, "loss_fn": self.kd}
        train_masked(m, masks, X, y, epochs=self.cfg.ft_epochs, lr=self.cfg.ft_lr, batch_size=self.cfg.batch_size,
                     seed=seed, **extra)
        return m

    def global_pruned(self, global_magnitude_masks, s, seed):
        """Section 1's fine-tuned global-magnitude network (trained now when section 1 did not run)."""
        key = ("global magnitude", s, seed)
        if key not in self.pruned:
            masks = global_magnitude_masks(get_weights(self.dense[seed]), s)
            self.pruned[key] = self.fine_tune(self.dense[seed], masks, seed)
        return self.pruned[key]

    def rates(self, per_class_fpr_fnr, model):
        return per_class_fpr_fnr(self.data.y_test, predict_logits(model, self.data.X_test).argmax(axis=1), 10)

    def bias_metrics(self, fns, base, model):
        """(d_fpr, d_fnr, CEV, SDE) of model against base; fns = (per_class_fpr_fnr, rate_change, cev, sde)."""
        per_class_fpr_fnr, rate_change, cev, sde = fns
        pos = np.bincount(self.data.y_test, minlength=10)  # test positives per class
        neg = len(self.data.y_test) - pos
        fpr0, fnr0 = self.rates(per_class_fpr_fnr, base)
        fpr1, fnr1 = self.rates(per_class_fpr_fnr, model)
        d_fpr, d_fnr = rate_change(fpr0, fpr1, 1 / neg), rate_change(fnr0, fnr1, 1 / pos)
        return d_fpr, d_fnr, cev(d_fpr, d_fnr), sde(d_fpr, d_fnr)


def with_masks(model, masks):
    """A copy of model with its weights multiplied by the masks (one-shot pruning, no retraining)."""
    m = copy.deepcopy(model)
    set_weights(m, [w * k for w, k in zip(get_weights(model), masks)])
    return m


def setup(data, cfg: Config, figures: Figures | None = None) -> Lab:
    """Train one dense MLP per seed; prints its size and test accuracy."""
    lab = Lab(data, cfg)
    t0 = time.perf_counter()
    lab.dense = {s: lab.train_dense(s) for s in cfg.seeds}
    acc = lab.dense_acc
    h = cfg.hidden
    print(f"dense MLP 64 -> {h[0]} -> {h[1]} -> 10: {count_params(lab.dense[cfg.seeds[0]])['dense']:,} parameters; "
          f"test accuracy {acc.mean():.3f} ± {acc.std():.3f} over seeds {cfg.seeds} ({time.perf_counter() - t0:.1f} s)")
    record(figures, "dense_acc", acc)
    if figures is not None:
        figures["one_test_image_acc"] = 1 / len(data.y_test)
    return lab


# ---------------------------------------------------------------------------------------------- §1
METHODS = ("layer-wise magnitude", "global magnitude", "random", "structured (L1 filters)")
NM = {"N:M 2:4": 0.5, "N:M 1:4": 0.75}  # the N:M patterns and the sparsity they are filed under


def structured(prune_filters, model, s):
    """Remove round(s * width) units of every hidden layer with the student's prune_filters: a smaller dense MLP."""
    Ws = get_weights(model)
    bs = [layer.bias.detach().double().numpy() for layer in linear_layers(model)]
    for i in range(len(Ws) - 1):
        Ws[i], bs[i], Ws[i + 1] = prune_filters(Ws[i], bs[i], Ws[i + 1], s)
    return mlp_from_arrays(Ws, bs)


def curves(lab: Lab, magnitude_mask, global_magnitude_masks, prune_filters, nm_mask, figures: Figures | None = None):
    """Prune every dense network with each method at each sparsity, one-shot and fine-tuned; prints the table."""
    cfg, dense = lab.cfg, lab.dense
    n_dense = sum(w.size for w in get_weights(dense[cfg.seeds[0]]))

    def masks_for(method, model, s, seed):
        W = get_weights(model)
        if method == "layer-wise magnitude":
            return [magnitude_mask(w, s) for w in W]
        if method == "global magnitude":
            return global_magnitude_masks(W, s)
        if method == "random":
            return random_masks(W, [s] * len(W), seed=1000 + seed)
        n, m = method.split()[1].split(":")  # "N:M 2:4"
        return [nm_mask(w, int(n), int(m)) for w in W]

    t0 = time.perf_counter()
    runs = [(m, s) for s in cfg.sparsities for m in METHODS] + list(NM.items())
    for method, s in runs:
        rows = []
        for seed in cfg.seeds:
            if method.startswith("structured"):
                small = structured(prune_filters, dense[seed], s)
                one_shot = lab.test_acc(small)
                ft = lab.fine_tune(small, [np.ones(w.shape, dtype=bool) for w in get_weights(small)], seed)
            else:
                masks = masks_for(method, dense[seed], s, seed)
                one_shot = lab.test_acc(with_masks(dense[seed], masks))
                ft = lab.fine_tune(dense[seed], masks, seed)
            lab.pruned[method, s, seed] = ft
            rows.append((1 - count_params(ft)["weights_nonzero"] / n_dense, one_shot, lab.test_acc(ft)))
        lab.curves[method, s] = np.array(rows)
    print(f"pruned and fine-tuned {len(runs) * len(cfg.seeds)} networks in {time.perf_counter() - t0:.1f} s\n")

    acc = lab.dense_acc
    print(f"dense: {acc.mean():.3f} ± {acc.std():.3f}")
    print(f"{'method':26}{'s':>6}{'weights removed':>17}{'one-shot acc':>18}{'fine-tuned acc':>18}")
    for (method, s), r in sorted(lab.curves.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        print(f"{method:26}{s:>6.2f}{r[:, 0].mean():>17.3f}{r[:, 1].mean():>11.3f} ± {r[:, 1].std():.3f}"
              f"{r[:, 2].mean():>11.3f} ± {r[:, 2].std():.3f}")
        name = f"curve_{slug(method)}_{s}"
        if figures is not None:
            figures[f"{name}_removed"] = r[:, 0].mean()
            figures[f"{name}_removed_percent"] = 100 * r[:, 0].mean()
        record(figures, f"{name}_oneshot", r[:, 1])
        record(figures, f"{name}_ft", r[:, 2])
    return lab.curves


def plot_curves(lab: Lab) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, col, title in [(axes[0], 1, "one-shot (no retraining)"),
                           (axes[1], 2, f"after {lab.cfg.ft_epochs} epochs of fine-tuning")]:
        for i, method in enumerate(METHODS):
            r = [lab.curves[method, s] for s in lab.cfg.sparsities]
            ax.errorbar([x[:, 0].mean() for x in r], [x[:, col].mean() for x in r],
                        yerr=[x[:, col].std() for x in r], marker="o", capsize=3, label=method, color=f"C{i}")
        for (method, s), mk in zip(NM.items(), "sD"):
            r = lab.curves[method, s]
            ax.errorbar(r[:, 0].mean(), r[:, col].mean(), yerr=r[:, col].std(), marker=mk, color="k", ls="none",
                        capsize=3, label=method)
        ax.axhline(lab.dense_acc.mean(), color="gray", ls="--", label="dense")
        ax.set(xlabel="fraction of weights removed", title=title)
    axes[0].set_ylabel("test accuracy")
    axes[1].legend(loc="lower left", fontsize=8)
    plt.tight_layout()
    plt.show()


def where_the_zeros_go(lab: Lab, global_magnitude_masks, figures: Figures | None = None) -> None:
    """Per-layer sparsity of global pruning, the layers' mean |w|, and structured pruning's real sizes."""
    seeds, dense = lab.cfg.seeds, lab.dense
    for s in (0.75, 0.9):
        per_layer = np.mean([[1 - m.mean() for m in global_magnitude_masks(get_weights(dense[seed]), s)]
                             for seed in seeds], axis=0)
        print(f"global magnitude at {s:.0%}: sparsity of the layers 64->64, 64->32, 32->10 = "
              f"{np.round(per_layer, 3).tolist()}")
        for i, v in enumerate(per_layer):
            if figures is not None:
                figures[f"global_{s}_layer{i}_sparsity"] = v
                figures[f"global_{s}_layer{i}_percent"] = 100 * v
    mean_w = np.mean([[np.abs(w).mean() for w in get_weights(dense[seed])] for seed in seeds], axis=0)
    print("mean |w| of the dense layers:", np.round(mean_w, 3).tolist(), "\n")
    for i, v in enumerate(mean_w):
        if figures is not None:
            figures[f"dense_layer{i}_mean_abs_w"] = v

    d = count_params(dense[seeds[0]])
    print("structured pruning, seed 0: the networks are genuinely smaller (MACs per image = weights of a dense MLP)")
    for s in lab.cfg.sparsities:
        m = lab.pruned["structured (L1 filters)", s, seeds[0]]
        shapes = " -> ".join(str(w.shape[1]) for w in get_weights(m)) + " -> 10"
        c = count_params(m)
        print(f"  s = {s:.2f}: {shapes:24} {c['dense']:>5,} parameters, {c['weights_nonzero']:>5,} MACs per image "
              f"(dense: {d['dense']:,} / {d['weights_nonzero']:,})")
        if figures is not None:
            figures[f"structured_{s}_params"], figures[f"structured_{s}_macs"] = c["dense"], c["weights_nonzero"]
    if figures is not None:
        figures["dense_params"], figures["dense_macs"] = d["dense"], d["weights_nonzero"]


# ---------------------------------------------------------------------------------------------- §2
LOTTERY = ("rewind to init", "rewind to epoch 1", "random reinit", "random mask")


def lottery(lab: Lab, magnitude_mask, imp_rate_per_round, figures: Figures | None = None) -> dict:
    """IMP with the student's schedule and masks; four ways to retrain after each round. Prints the table."""
    cfg, data = lab.cfg, lab.data
    target, rounds = cfg.imp_target, cfg.imp_rounds
    q = imp_rate_per_round(target, rounds)
    sparsity = [1 - (1 - q) ** (r + 1) for r in range(rounds)]
    print(f"IMP to {target:.0%} in {rounds} rounds: prune q = {q:.3f} of the survivors per round; "
          f"sparsity after each round: {[round(s, 3) for s in sparsity]}")

    def train_from(init_model, masks, seed):
        m = copy.deepcopy(init_model)
        train_masked(m, masks, data.X_train, data.y_train, seed=seed, **cfg.train)
        return lab.test_acc(m), m

    ticket = {k: np.zeros((rounds, len(cfg.seeds))) for k in LOTTERY}
    t0 = time.perf_counter()
    for j, seed in enumerate(cfg.seeds):
        init = lab.new_mlp(seed)  # the initialisation dense[seed] started from
        early = copy.deepcopy(init)
        train_classifier(early, data.X_train, data.y_train, epochs=1, lr=cfg.lr, batch_size=cfg.batch_size, seed=seed)
        current = lab.dense[seed]  # round 0: the trained dense network
        for r in range(rounds):
            masks = [magnitude_mask(w, sparsity[r]) for w in get_weights(current)]
            ticket["rewind to init"][r, j], current = train_from(init, masks, seed)
            ticket["rewind to epoch 1"][r, j], _ = train_from(early, masks, seed)
            ticket["random reinit"][r, j], _ = train_from(lab.new_mlp(10_000 + seed), masks, seed)
            rand = random_masks(get_weights(init), [1 - m.mean() for m in masks], seed=2000 + 10 * seed + r)
            ticket["random mask"][r, j], _ = train_from(init, rand, seed)
    print(f"trained {len(LOTTERY) * rounds * len(cfg.seeds)} sparse networks in {time.perf_counter() - t0:.1f} s\n")

    acc = lab.dense_acc
    print(f"test accuracy, mean ± std over seeds (dense: {acc.mean():.3f} ± {acc.std():.3f})")
    print(f"{'round, sparsity':18}" + "".join(f"{k:>22}" for k in LOTTERY))
    for r in range(rounds):
        print(f"{r + 1}, {sparsity[r]:.3f}".ljust(18)
              + "".join(f"{ticket[k][r].mean():>14.3f} ± {ticket[k][r].std():.3f}" for k in LOTTERY))
    gap = ticket["rewind to init"] - ticket["random reinit"]
    print(f"\npaired gain of the ticket over random reinit (same mask, same seed), per round: "
          f"{np.round(gap.mean(axis=1), 3).tolist()}")
    if figures is not None:
        figures["imp_q"] = q
        for r in range(rounds):
            figures[f"ticket_r{r + 1}_sparsity"] = sparsity[r]
            figures[f"ticket_r{r + 1}_sparsity_percent"] = 100 * sparsity[r]
            figures[f"ticket_r{r + 1}_gain"] = gap[r].mean()
            for k in LOTTERY:
                record(figures, f"ticket_r{r + 1}_{slug(k)}", ticket[k][r])
    return {"q": q, "sparsity": sparsity, **ticket}


def plot_lottery(lab: Lab, ticket: dict) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, k in enumerate(LOTTERY):
        ax.errorbar(ticket["sparsity"], ticket[k].mean(axis=1), yerr=ticket[k].std(axis=1), marker="o", capsize=3,
                    label=k, color=f"C{i}")
    ax.axhline(lab.dense_acc.mean(), color="gray", ls="--", label="dense")
    ax.set(xlabel="sparsity", ylabel="test accuracy", title="IMP: rewinding vs random reinitialisation")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()


CH2_ARMS = ("reinit", "random sparse init", "rewind")


def chapter2(lab: Lab, global_magnitude_masks, figures: Figures | None = None) -> dict:
    """Blakeney's ch. II protocol (labkit.pruning.sparse_init_vs_reinit) with the student's global masks."""
    cfg = lab.cfg
    ch2 = sparse_init_vs_reinit(lab.data, global_magnitude_masks, sparsities=cfg.ch2_sparsities, seeds=cfg.seeds,
                                hidden=cfg.hidden, **cfg.train)
    print(f"dense {ch2['dense'].mean():.3f} ± {ch2['dense'].std():.3f}")
    for i, s in enumerate(ch2["sparsities"]):
        gap = ch2["reinit"][i] - ch2["random sparse init"][i]
        print(f"s = {s:.1f}: " + ", ".join(f"{a} {ch2[a][i].mean():.3f} ± {ch2[a][i].std():.3f}" for a in CH2_ARMS)
              + f" | reinit - random (paired) {gap.mean():+.3f} ± {gap.std():.3f}")
        for a in CH2_ARMS:
            record(figures, f"ch2_{s}_{slug(a)}", ch2[a][i])
        record(figures, f"ch2_{s}_gap", gap)
    return ch2


# ---------------------------------------------------------------------------------------------- §3
def bias(lab: Lab, global_magnitude_masks, per_class_fpr_fnr, rate_change, cev, sde,
         figures: Figures | None = None) -> dict:
    """CE vs KD fine-tuning of globally pruned networks, balanced vs down-sampled; CEV and SDE. Prints the table."""
    cfg, data = lab.cfg, lab.data
    fns = (per_class_fpr_fnr, rate_change, cev, sde)
    idx = downsample_classes(data.y_train, cfg.down_classes, cfg.down_keep, seed=0)
    regimes = {"balanced": (data.X_train, data.y_train), "down-sampled": (data.X_train[idx], data.y_train[idx])}
    print("training images per class, down-sampled:", np.bincount(data.y_train[idx], minlength=10).tolist())
    dense_by = {("balanced", s): lab.dense[s] for s in cfg.seeds}
    dense_by.update({("down-sampled", s): lab.train_dense(s, *regimes["down-sampled"]) for s in cfg.seeds})

    out = {}  # (regime, s, finetune) -> dict of per-seed arrays
    t0 = time.perf_counter()
    for regime, (X, y) in regimes.items():
        for s in cfg.bias_sparsities:
            for ft in ("CE", "KD"):
                rows = {"acc": [], "cev": [], "sde": [], "d_fpr": [], "d_fnr": []}
                for seed in cfg.seeds:
                    base = dense_by[regime, seed]
                    if regime == "balanced" and ft == "CE":
                        model = lab.global_pruned(global_magnitude_masks, s, seed)  # the same run as in section 1
                    else:
                        masks = global_magnitude_masks(get_weights(base), s)
                        model = lab.fine_tune(base, masks, seed, X, y, teacher=base if ft == "KD" else None)
                    d_fpr, d_fnr, c, e = lab.bias_metrics(fns, base, model)
                    for k, v in [("acc", lab.test_acc(model)), ("cev", c), ("sde", e), ("d_fpr", d_fpr),
                                 ("d_fnr", d_fnr)]:
                        rows[k].append(v)
                out[regime, s, ft] = {k: np.array(v) for k, v in rows.items()}
    if figures is not None:  # how much one test image moves a class's FNR
        figures["one_test_image_fnr"] = 1 / np.median(np.bincount(data.y_test, minlength=10))
    print(f"fine-tuned {len(out) * len(cfg.seeds)} pruned networks in {time.perf_counter() - t0:.1f} s\n")

    for regime in regimes:
        base_acc = np.array([lab.test_acc(dense_by[regime, s]) for s in cfg.seeds])
        print(f"{regime}: dense test accuracy {base_acc.mean():.3f} ± {base_acc.std():.3f}")
        record(figures, f"bias_{slug(regime)}_dense_acc", base_acc)
    print(f"\n{'regime':14}{'s':>5}{'fine-tune':>10}{'test acc':>16}{'CEV':>18}{'SDE':>16}"
          f"{'mean dFNR of 3, 8':>20}{'of the others':>15}")
    down = list(cfg.down_classes)
    others = [c for c in range(10) if c not in cfg.down_classes]
    for (regime, s, ft), b in out.items():
        print(f"{regime:14}{s:>5.2f}{ft:>10}{b['acc'].mean():>9.3f} ± {b['acc'].std():.3f}"
              f"{b['cev'].mean():>11.3f} ± {b['cev'].std():.3f}{b['sde'].mean():>9.3f} ± {b['sde'].std():.3f}"
              f"{b['d_fnr'][:, down].mean():>20.2f}{b['d_fnr'][:, others].mean():>15.2f}")
        name = f"bias_{slug(regime)}_{s}_{ft.lower()}"
        for k in ("acc", "cev", "sde"):
            record(figures, f"{name}_{k}", b[k])
        if figures is not None:
            figures[f"{name}_dfnr_down"] = b["d_fnr"][:, down].mean()
            figures[f"{name}_dfnr_others"] = b["d_fnr"][:, others].mean()
    return out


def plot_bias(lab: Lab, out: dict) -> None:
    """One point per class and seed in the (dFPR, dFNR) plane, at the highest bias sparsity."""
    s = lab.cfg.bias_sparsities[-1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True, sharey=True)
    for ax, regime in zip(axes, ("balanced", "down-sampled")):
        for ft, mk in [("CE", "o"), ("KD", "^")]:
            b = out[regime, s, ft]
            for c in range(10):
                hit = regime == "down-sampled" and c in lab.cfg.down_classes
                ax.scatter(b["d_fpr"][:, c], b["d_fnr"][:, c], marker=mk, s=40 if hit else 18,
                           color="C3" if hit else ("C0" if ft == "CE" else "C2"), alpha=0.8,
                           label=None if c else f"{ft} fine-tuning")
        lim = max(1.0, float(np.max(np.abs(ax.get_xlim() + ax.get_ylim()))))
        ax.plot([-lim, lim], [-lim, lim], color="gray", ls="--", lw=1, label="dFPR = dFNR")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set(xlabel="dFPR (normalised change)", title=f"{regime}, {s:.0%} sparsity: one point per class and seed"
               + (" (red: classes 3, 8)" if regime == "down-sampled" else ""))
        ax.legend(fontsize=8)
    axes[0].set_ylabel("dFNR (normalised change)")
    plt.tight_layout()
    plt.show()


def agp(lab: Lab, l1_filter_scores, per_class_fpr_fnr, rate_change, cev, sde, figures: Figures | None = None) -> dict:
    """The dissertation's ch. III protocol: gradual (AGP) filter-wise pruning against one-shot filter-wise
    pruning with the same number of epochs after dense training; accuracy, CEV and SDE. Prints the table."""
    cfg, data = lab.cfg, lab.data
    fns = (per_class_fpr_fnr, rate_change, cev, sde)
    steps, s_f = cfg.agp_steps, max(cfg.agp_sparsities)
    epochs = (steps + 1) * cfg.agp_epochs_per_step + cfg.agp_finetune_epochs
    schedule = [agp_sparsity(t, 0.0, s_f, 0, steps) for t in range(steps + 1)]
    print(f"AGP schedule to {s_f:.0%} in {steps} steps: {[round(v, 3) for v in schedule]}; {epochs} epochs after dense training either way")
    out = {}
    for s in cfg.agp_sparsities:
        rows = {"AGP": [], "one-shot": []}
        for seed in cfg.seeds:
            base = lab.dense[seed]
            gradual = copy.deepcopy(base)
            agp_filter_prune(gradual, data.X_train, data.y_train, s, steps=steps,
                             epochs_per_step=cfg.agp_epochs_per_step, finetune_epochs=cfg.agp_finetune_epochs,
                             lr=cfg.ft_lr, batch_size=cfg.batch_size, seed=seed, score_fn=l1_filter_scores)
            one = copy.deepcopy(base)
            train_masked(one, unit_masks(get_weights(one), s, score_fn=l1_filter_scores), data.X_train, data.y_train,
                         epochs=epochs, lr=cfg.ft_lr, batch_size=cfg.batch_size, seed=seed)
            for k, m in (("AGP", gradual), ("one-shot", one)):
                rows[k].append((lab.test_acc(m), *lab.bias_metrics(fns, base, m)[2:]))
        for k, v in rows.items():
            v = out[s, k] = np.array(v)
            print(f"units removed {s:.2f} {k:>9}: acc {v[:, 0].mean():.3f} ± {v[:, 0].std():.3f}, "
                  f"CEV {v[:, 1].mean():.3f} ± {v[:, 1].std():.3f}, SDE {v[:, 2].mean():.3f} ± {v[:, 2].std():.3f}")
            for i, name in enumerate(("acc", "cev", "sde")):
                record(figures, f"agp_{s}_{slug(k)}_{name}", v[:, i])
        if figures is not None:
            figures[f"agp_{s}_gain"] = out[s, "AGP"][:, 0].mean() - out[s, "one-shot"][:, 0].mean()
    if figures is not None:
        for t, v in enumerate(schedule):
            figures[f"agp_schedule_{t}"] = v
    return out


# ---------------------------------------------------------------------------------------------- §4
LAYERS = ("hidden 1 (64)", "hidden 2 (32)", "logits (10)")


def svcca_layers(lab: Lab, global_magnitude_masks, svcca, figures: Figures | None = None) -> dict:
    """SVCCA of each layer of the pruned networks with their dense origin; two references. Prints the table."""
    cfg, data, dense, seeds = lab.cfg, lab.data, lab.dense, lab.cfg.seeds
    acts = {seed: hidden_activations(dense[seed], data.X_test) for seed in seeds}

    def layer_svcca(model, seed):
        return [svcca(a.T, b.T) for a, b in zip(acts[seed], hidden_activations(model, data.X_test))]

    ones = {s: [np.ones(w.shape, dtype=bool) for w in get_weights(dense[s])] for s in seeds}
    sv = {0.0: np.array([layer_svcca(lab.fine_tune(dense[s], ones[s], s), s) for s in seeds])}
    for s in cfg.sparsities:  # (seeds, layers)
        sv[s] = np.array([layer_svcca(lab.global_pruned(global_magnitude_masks, s, seed), seed) for seed in seeds])
    pairs = [(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1:]]
    cross = np.array([[svcca(a.T, b.T) for a, b in zip(acts[i], acts[j])] for i, j in pairs])

    print("SVCCA with the dense network's same layer (99% variance kept), mean ± std over seeds")
    print(f"{'':34}" + "".join(f"{name:>20}" for name in LAYERS))
    for s, v in sv.items():
        label = "dense, fine-tuned, not pruned" if s == 0 else f"global magnitude {s:.0%}, fine-tuned"
        print(f"{label:34}" + "".join(f"{v[:, i].mean():>13.3f} ± {v[:, i].std():.3f}" for i in range(len(LAYERS))))
        for i in range(len(LAYERS)):
            record(figures, f"svcca_{s}_layer{i}", v[:, i])
    print(f"{'two dense nets, different seeds':34}"
          + "".join(f"{cross[:, i].mean():>13.3f} ± {cross[:, i].std():.3f}" for i in range(len(LAYERS))))
    for i in range(len(LAYERS)):
        record(figures, f"svcca_cross_layer{i}", cross[:, i])
    return {"sv": sv, "cross": cross}


def plot_svcca(sv: dict) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    xs = list(sv["sv"])
    for i, name in enumerate(LAYERS):
        ax.errorbar(xs, [sv["sv"][s][:, i].mean() for s in xs], yerr=[sv["sv"][s][:, i].std() for s in xs],
                    marker="o", capsize=3, label=name, color=f"C{i}")
        ax.axhline(sv["cross"][:, i].mean(), color=f"C{i}", ls=":", lw=1)
    ax.set(xlabel="sparsity (global magnitude, fine-tuned)", ylabel="SVCCA with the dense layer",
           title="Dotted: two dense networks from different seeds")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()


def pies(lab: Lab, global_magnitude_masks, figures: Figures | None = None) -> dict:
    """Pruning-identified exemplars across seeds (labkit.pruning.pie_experiment) with the student's masks."""
    cfg, data = lab.cfg, lab.data
    out = pie_experiment(data, global_magnitude_masks, sparsity=cfg.pie_sparsity, seeds=cfg.pie_seeds,
                         hidden=cfg.hidden, epochs=cfg.epochs, finetune_epochs=cfg.ft_epochs, lr=cfg.lr,
                         ft_lr=cfg.ft_lr, batch_size=cfg.batch_size)
    pie = out["pie"]
    per_class = np.bincount(data.y_test[pie], minlength=10)
    print(f"{len(cfg.pie_seeds)} dense and {len(cfg.pie_seeds)} pruned networks ({cfg.pie_sparsity:.0%}, "
          f"fine-tuned): {pie.sum()} PIEs of {pie.size} test images ({pie.mean():.1%})")
    print(f"dense accuracy on the PIEs {out['dense_acc_pie']:.3f} (rest {out['dense_acc_rest']:.3f}), "
          f"pruned {out['pruned_acc_pie']:.3f} (rest {out['pruned_acc_rest']:.3f})")
    print("PIEs per class:", per_class.tolist())
    if figures is not None:
        figures["pie_count"], figures["pie_percent"] = pie.sum(), 100 * pie.mean()
        for k in ("dense_acc_pie", "dense_acc_rest", "pruned_acc_pie", "pruned_acc_rest"):
            figures[f"pie_{k}"] = out[k] if pie.any() else 0.0
        for c, n in enumerate(per_class):
            figures[f"pie_class{c}"] = n
    return out


def drift_vs_bias(lab: Lab, global_magnitude_masks, svcca, cev, per_class_fpr_fnr, rate_change,
                  figures: Figures | None = None) -> dict:
    """SVCCA distance (last hidden layer) against CEV over pruned models (labkit.pruning.svcca_vs_cev)."""
    cfg = lab.cfg
    drift = svcca_vs_cev(lab.data, global_magnitude_masks, svcca, cev, per_class_fpr_fnr, rate_change,
                         sparsities=cfg.drift_sparsities, seeds=cfg.seeds, hidden=cfg.hidden, epochs=cfg.epochs,
                         finetune_epochs=cfg.ft_epochs, lr=cfg.lr, ft_lr=cfg.ft_lr, batch_size=cfg.batch_size)
    print(f"over {len(drift['cev'])} pruned models: Pearson {drift['pearson']:.3f}, Spearman {drift['spearman']:.3f}")
    for s in cfg.drift_sparsities:
        w = drift["sparsity"] == s
        # within one sparsity: does the more drifted seed have the larger CEV? (needs >= 3 seeds)
        within = correlations(drift["svcca_distance"][w], drift["cev"][w])[1] if w.sum() >= 3 else float("nan")
        print(f"s = {s}: SVCCA distance {drift['svcca_distance'][w].mean():.3f}, CEV {drift['cev'][w].mean():.3f}, "
              f"Spearman over the {w.sum()} seeds {within:+.3f}")
        if figures is not None:
            figures[f"drift_{s}_svcca_distance"] = drift["svcca_distance"][w].mean()
            figures[f"drift_{s}_cev"] = drift["cev"][w].mean()
            if np.isfinite(within):
                figures[f"drift_{s}_spearman_within"] = within
    if figures is not None:
        figures["drift_pearson"], figures["drift_spearman"] = drift["pearson"], drift["spearman"]
        figures["drift_models"] = len(drift["cev"])
    return drift
