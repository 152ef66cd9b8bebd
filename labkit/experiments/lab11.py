"""Lab 11's experiments (what compression costs beyond accuracy), called by labsrc/lab11_robustness.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the answers were measured at; ``Config.quick()`` runs in seconds (tests). The compressed models
are made the way the earlier labs make them, with their code: magnitude pruning and fine-tuning
(Lab 3/4's ``labkit.lowrank.prune_mlp``), SVD low rank (``compress_mlp`` with Lab 8's SVD factors),
4-bit per-channel weights (Lab 8's ``labkit.quantization.to_qat``) and a distilled smaller student
(Lab 1's ``kd_loss_torch``).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from labkit.distillation_torch import kd_loss_torch
from labkit.experiments import ExperimentConfig, Figures
from labkit.experiments.lab08 import svd_factors
from labkit.lowrank import SmallCNN, compress_mlp, prune_mlp
from labkit.quantization import to_qat
from labkit.robustness import (SupermaskLinear, SupermaskMLP, conv_costs, cp_als, fgsm_attack, fisher_diagonal,
                               global_prune, hessian_diagonal, logits_of, pgd_attack, train, tucker2, weight_params)
from labkit.training import MLP, accuracy, set_seed, train_classifier


@dataclass(frozen=True)
class Config(ExperimentConfig):
    epochs: int = 15
    lr: float = 3e-3
    hidden: tuple[int, ...] = (64,)
    fisher_samples: int = 300
    probes: int = 32
    sparsities: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9, 0.95)
    prune_sparsity: float = 0.8
    student_hidden: tuple[int, ...] = (16,)
    rank: int = 8
    bits: int = 4
    ft_epochs: int = 3
    pgd_steps: int = 10
    attack_samples: int = 360
    eps: tuple[float, ...] = (0.02, 0.05, 0.1)
    sam_rho: float = 0.05
    sam_sparsities: tuple[float, ...] = (0.7, 0.9)
    sam_ranks: tuple[int, ...] = (4, 8)
    super_k: float = 0.5
    super_epochs: int = 10
    super_lr: float = 0.01
    super_hidden: tuple[int, ...] = (256,)
    eb_sparsity: float = 0.7
    eb_threshold: float = 0.1
    eb_window: int = 3
    cp_ranks: tuple[int, ...] = (8, 16, 32)
    tucker_ranks: tuple[tuple[int, int], ...] = ((6, 4), (8, 8), (16, 8))
    cnn_epochs: int = 4
    cp_iters: int = 25

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), hidden=(16,), epochs=2, sparsities=(0.5, 0.9), fisher_samples=20, probes=2,
                   eps=(0.05,), pgd_steps=2, attack_samples=40, ft_epochs=1, sam_sparsities=(0.9,), sam_ranks=(4,),
                   eb_window=1, super_hidden=(32,), super_epochs=1, cnn_epochs=1, cp_ranks=(4,), tucker_ranks=((4, 2),),
                   cp_iters=2)


def _ms(a) -> str:
    a = np.asarray(a, dtype=float)
    return f"{a.mean():.3f} ± {a.std():.3f}"


def _record(figures: Figures | None, name: str, values) -> None:
    if figures is not None:
        values = np.asarray(values, dtype=float)
        figures[f"{name}_mean"] = values.mean()
        figures[f"{name}_std"] = values.std()


def _pct(s: float) -> str:
    return f"{round(100 * s)}"


@dataclass
class Dense:
    data: object
    cfg: Config
    models: dict
    masks: dict
    acc: np.ndarray


def _magnitude_vector(model, sparsity: float) -> np.ndarray:
    """The global magnitude mask (1 = kept) of the model's weights, flattened over all layers."""
    w = np.concatenate([p.detach().double().numpy().ravel() for p in weight_params(model)])
    keep = np.ones(w.size)
    keep[np.argsort(np.abs(w), kind="stable")[:int(round(sparsity * w.size))]] = 0.0
    return keep


def train_dense(data, cfg: Config, figures: Figures | None = None) -> Dense:
    models, masks = {}, {}
    for s in cfg.seeds:
        set_seed(s)
        models[s] = MLP(64, cfg.hidden, 10)
        history = []
        train(models[s], data.X_train, data.y_train, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=s,
              on_epoch=lambda e, m: history.append(_magnitude_vector(m, cfg.eb_sparsity)))
        masks[s] = np.array(history)
    acc = np.array([accuracy(models[s], data.X_test, data.y_test) for s in cfg.seeds])
    print(f"dense MLP 64 -> {' -> '.join(map(str, cfg.hidden))} -> 10, {cfg.epochs} epochs: test accuracy {_ms(acc)}")
    _record(figures, "dense_acc", acc)
    return Dense(data, cfg, models, masks, acc)


# --- OBD against magnitude ----------------------------------------------------------------------------
def obd_vs_magnitude(obd_saliency, dense: Dense, figures: Figures | None = None) -> dict:
    """Global pruning without fine-tuning by |w| (OBD with h = 1), OBD with the Fisher diagonal and with
    Hutchinson's Hessian diagonal; test accuracy at each sparsity."""
    cfg, data, out = dense.cfg, dense.data, {}
    for s in cfg.seeds:
        model = dense.models[s]
        ws = [p.detach().double().numpy() for p in weight_params(model)]
        sub = slice(0, cfg.fisher_samples)
        curv = {"magnitude": [np.ones_like(w) for w in ws],
                "OBD (Fisher)": fisher_diagonal(model, data.X_train[sub], data.y_train[sub]),
                "OBD (Hessian)": hessian_diagonal(model, data.X_train, data.y_train, cfg.probes, seed=s)}
        for method, hs in curv.items():
            sal = [np.asarray(obd_saliency(w, h)) for w, h in zip(ws, hs)]
            for sp in cfg.sparsities:
                out.setdefault((method, sp), []).append(accuracy(global_prune(model, sal, sp), data.X_test, data.y_test))
    print(f"{'sparsity':>9} " + " ".join(f"{m:>16}" for m in ("magnitude", "OBD (Fisher)", "OBD (Hessian)")))
    for sp in cfg.sparsities:
        print(f"{_pct(sp) + '%':>9} " + " ".join(f"{_ms(out[m, sp]):>16}" for m in ("magnitude", "OBD (Fisher)", "OBD (Hessian)")))
        for m, key in (("magnitude", "magnitude"), ("OBD (Fisher)", "fisher"), ("OBD (Hessian)", "hessian")):
            _record(figures, f"obd_{key}_{_pct(sp)}", out[m, sp])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for m in ("magnitude", "OBD (Fisher)", "OBD (Hessian)"):
        means = [np.mean(out[m, sp]) for sp in cfg.sparsities]
        stds = [np.std(out[m, sp]) for sp in cfg.sparsities]
        ax.errorbar([100 * sp for sp in cfg.sparsities], means, yerr=stds, marker="o", capsize=3, label=m)
    ax.set_xlabel("weights pruned (%), no fine-tuning")
    ax.set_ylabel("test accuracy")
    ax.legend()
    plt.tight_layout()
    plt.show()
    return out


# --- robustness of compressed models ----------------------------------------------------------------
def compressed_models(dense: Dense) -> dict:
    """kind -> {seed: model}: dense; pruned (magnitude, fine-tuned); low rank (SVD, fine-tuned); 4-bit weights
    (per-channel PTQ); a smaller student distilled from the dense model."""
    cfg, d = dense.cfg, dense.data
    out = {"dense": dense.models, "pruned": {}, "low rank": {}, f"{cfg.bits}-bit": {}, "distilled": {}}
    ft = dict(epochs=cfg.ft_epochs, lr=1e-3, batch_size=cfg.batch_size)
    for s in cfg.seeds:
        model = dense.models[s]
        layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        pruned = prune_mlp(model, [int(round((1 - cfg.prune_sparsity) * layer.weight.numel())) for layer in layers])
        train_classifier(pruned, d.X_train, d.y_train, seed=s, **ft)
        low = compress_mlp(model, [min(cfg.rank, min(layer.weight.shape)) for layer in layers], svd_factors)
        train_classifier(low, d.X_train, d.y_train, seed=s, **ft)
        set_seed(s)
        student = MLP(64, cfg.student_hidden, 10)
        train_classifier(student, d.X_train, d.y_train, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=s, teacher=model, loss_fn=kd_loss_torch)
        out["pruned"][s], out["low rank"][s], out["distilled"][s] = pruned, low, student
        out[f"{cfg.bits}-bit"][s] = to_qat(model, cfg.bits)
    return out


def robustness(fgsm, pgd_step, robust_accuracy, models: dict, dense: Dense, figures: Figures | None = None) -> dict:
    """Clean accuracy, and robust accuracy (the student's robust_accuracy over [clean, attacked]) under FGSM and
    PGD at each eps, for every kind of model; the first ``attack_samples`` test images."""
    cfg, d = dense.cfg, dense.data
    X, y = d.X_test[:cfg.attack_samples].astype(np.float64), d.y_test[:cfg.attack_samples].astype(np.int64)
    out = {}
    for kind, by_seed in models.items():
        for s, model in by_seed.items():
            clean = logits_of(model, X)
            out.setdefault((kind, "clean", 0.0), []).append(robust_accuracy(clean[None], y))
            for eps in cfg.eps:
                for attack in ("FGSM", "PGD"):
                    adv = (fgsm_attack(model, X, y, eps, fgsm) if attack == "FGSM"
                           else pgd_attack(model, X, y, eps, pgd_step, cfg.pgd_steps))
                    logits = np.stack([clean, logits_of(model, adv)])
                    out.setdefault((kind, attack, eps), []).append(robust_accuracy(logits, y))
    cols = [("clean", 0.0)] + [(a, e) for e in cfg.eps for a in ("FGSM", "PGD")]
    print(f"{'model':>10} " + " ".join(f"{(a if a == 'clean' else f'{a} {e}'):>13}" for a, e in cols))
    for kind in models:
        print(f"{kind:>10} " + " ".join(f"{_ms(out[kind, a, e]):>13}" for a, e in cols))
        key = kind.replace(" ", "_").replace("-", "")
        for a, e in cols:
            _record(figures, f"rob_{key}_{a.lower()}" + ("" if a == "clean" else f"_{round(e * 100)}"), out[kind, a, e])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for kind in models:
        ax.errorbar([0.0] + list(cfg.eps), [np.mean(out[kind, "clean", 0.0])] + [np.mean(out[kind, "PGD", e]) for e in cfg.eps],
                    yerr=[np.std(out[kind, "clean", 0.0])] + [np.std(out[kind, "PGD", e]) for e in cfg.eps],
                    marker="o", capsize=3, label=kind)
    ax.set_xlabel("PGD radius eps (L-inf, pixels in [0, 1])")
    ax.set_ylabel("robust accuracy")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()
    return out


# --- SAM and compressibility ------------------------------------------------------------------------------
def sam_compressibility(sam_perturbation, dense: Dense, figures: Figures | None = None) -> dict:
    """Adam vs SAM(Adam) training with the same seeds, then global magnitude pruning (no fine-tuning) and SVD
    truncation of the hidden layers: accuracy of each."""
    cfg, d, out = dense.cfg, dense.data, {}
    for s in cfg.seeds:
        set_seed(s)
        sam = MLP(64, cfg.hidden, 10)
        train(sam, d.X_train, d.y_train, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=s,
              rho=cfg.sam_rho, sam_perturbation=sam_perturbation)
        for name, model in (("Adam", dense.models[s]), ("SAM", sam)):
            out.setdefault((name, "dense"), []).append(accuracy(model, d.X_test, d.y_test))
            mags = [np.abs(p.detach().double().numpy()) for p in weight_params(model)]
            for sp in cfg.sam_sparsities:
                out.setdefault((name, f"pruned {_pct(sp)}%"), []).append(
                    accuracy(global_prune(model, mags, sp), d.X_test, d.y_test))
            layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
            for r in cfg.sam_ranks:
                low = compress_mlp(model, [r] * (len(layers) - 1) + [None], svd_factors)
                out.setdefault((name, f"rank {r}"), []).append(accuracy(low, d.X_test, d.y_test))
    settings = ["dense"] + [f"pruned {_pct(sp)}%" for sp in cfg.sam_sparsities] + [f"rank {r}" for r in cfg.sam_ranks]
    print(f"{'':>12} {'Adam':>14} {'SAM':>14} {'SAM - Adam (paired)':>20}")
    for st in settings:
        diff = np.array(out["SAM", st]) - np.array(out["Adam", st])
        print(f"{st:>12} {_ms(out['Adam', st]):>14} {_ms(out['SAM', st]):>14} {_ms(diff):>20}")
        key = st.replace(" ", "_").replace("%", "")
        _record(figures, f"sam_adam_{key}", out["Adam", st])
        _record(figures, f"sam_sam_{key}", out["SAM", st])
        _record(figures, f"sam_gain_{key}", diff)
    return out


# --- early-bird tickets --------------------------------------------------------------------------------
def early_bird(early_bird_epoch, mask_distance, dense: Dense, figures: Figures | None = None) -> dict:
    """The epoch each dense run's global magnitude mask (``eb_sparsity``) settles by the early-bird rule, and how far
    that mask is from the final epoch's."""
    cfg, out = dense.cfg, {"epoch": [], "distance": [], "last_change": []}
    for s in cfg.seeds:
        masks = dense.masks[s]
        t = int(early_bird_epoch(masks, cfg.eb_threshold, cfg.eb_window))
        final = masks[-1]
        out["epoch"].append(t if t >= 0 else len(masks))
        out["distance"].append(mask_distance(masks[t], final) if t >= 0 else 0.0)
        out["last_change"].append(mask_distance(masks[-2], final) if len(masks) > 1 else 0.0)
        curve = [mask_distance(m, final) for m in masks]
        print(f"seed {s}: distance to the final mask by epoch " + " ".join(f"{c:.2f}" for c in curve)
              + f"; early bird at epoch {t}")
    print(f"early-bird epoch {_ms(out['epoch'])} of {cfg.epochs}; its mask differs from the final one in "
          f"{_ms(out['distance'])} of the weights (last epoch's change: {_ms(out['last_change'])})")
    for k, v in out.items():
        _record(figures, f"eb_{k}", v)
    return out


# --- supermasks ---------------------------------------------------------------------------------------
def score_gradient_sanity(edge_popup_mask, supermask_score_grad) -> float:
    """The student's straight-through score gradient against torch autograd through a SupermaskLinear."""
    torch.manual_seed(0)
    layer = SupermaskLinear(6, 4, 0.5, edge_popup_mask)
    x = torch.randn(5, 6)
    y = layer(x)
    grad_y = torch.randn_like(y)
    (y * grad_y).sum().backward()
    got = np.asarray(supermask_score_grad(x.double().numpy(), grad_y.double().numpy(), layer.weight.detach().double().numpy()))
    sign = np.sign(layer.scores.detach().double().numpy())  # the layer's mask ranks |s|: autograd adds d|s|/ds
    err = float(np.max(np.abs(got * sign - layer.scores.grad.double().numpy())))
    print(f"score gradient: largest difference from torch autograd {err:.1e}")
    return err


def supermasks(edge_popup_mask, dense: Dense, figures: Figures | None = None) -> dict:
    """Edge-popup (k = super_k) in a random signed-constant network and in a copy of the trained dense weights
    (biases dropped); against the random network unmasked and the trained network itself."""
    cfg, d, out = dense.cfg, dense.data, {}
    widths = (64,) + tuple(cfg.super_hidden) + (10,)
    for s in cfg.seeds:
        set_seed(s)
        net = SupermaskMLP(widths, cfg.super_k, edge_popup_mask)
        with torch.no_grad():
            unmasked = torch.nn.Sequential(torch.nn.Linear(64, widths[1], bias=False), torch.nn.ReLU(),
                                           torch.nn.Linear(widths[1], 10, bias=False))
            unmasked[0].weight.copy_(net.layers[0].weight)
            unmasked[2].weight.copy_(net.layers[1].weight)
        out.setdefault("random weights, no mask", []).append(accuracy(unmasked, d.X_test, d.y_test))
        train(net, d.X_train, d.y_train, epochs=cfg.super_epochs, lr=cfg.super_lr, batch_size=cfg.batch_size, seed=s)
        out.setdefault("random weights + supermask", []).append(accuracy(net, d.X_test, d.y_test))
        trained_w = [p.detach().numpy() for p in weight_params(dense.models[s])]
        set_seed(s)
        net_t = SupermaskMLP((64,) + tuple(cfg.hidden) + (10,), cfg.super_k, edge_popup_mask, trained_w)
        train(net_t, d.X_train, d.y_train, epochs=cfg.super_epochs, lr=cfg.super_lr, batch_size=cfg.batch_size, seed=s)
        out.setdefault("trained weights + supermask", []).append(accuracy(net_t, d.X_test, d.y_test))
    out["trained dense"] = list(dense.acc)
    for k, v in out.items():
        print(f"{k:>30}: {_ms(v)}")
        _record(figures, "super_" + k.replace(" + ", "_").replace(", ", "_").replace(" ", "_"), v)
    return out


# --- CP vs Tucker-2 ------------------------------------------------------------------------------------
def cp_vs_tucker(cp_als_update, cp_reconstruct, data, cfg: Config, figures: Figures | None = None) -> dict:
    """SmallCNN (Lab 4) per seed; its conv2 kernel replaced by CP-ALS (the student's update) or Tucker-2 (HOSVD)
    approximations of similar size: relative kernel error and test accuracy without fine-tuning."""
    out = {}
    for s in cfg.seeds:
        set_seed(s)
        cnn = SmallCNN(8, 16) if cfg.cnn_epochs < 2 else SmallCNN()
        train_classifier(cnn, data.X_train, data.y_train, epochs=cfg.cnn_epochs, lr=2e-3, batch_size=cfg.batch_size, seed=s)
        K = cnn.conv2.weight.detach().double().numpy()  # (O, I, 3, 3)
        out.setdefault(("dense", 0), []).append((0.0, accuracy(cnn, data.X_test, data.y_test)))
        approx = {("CP", r): np.asarray(cp_reconstruct(*cp_als(K, r, cp_als_update, cp_reconstruct, cfg.cp_iters, s)[0]))
                  for r in cfg.cp_ranks}
        approx.update({("Tucker-2", rr): tucker2(K, *rr) for rr in cfg.tucker_ranks})
        for key, K_hat in approx.items():
            err = float(np.linalg.norm(K - K_hat) / np.linalg.norm(K))
            orig = cnn.conv2.weight.detach().clone()
            with torch.no_grad():
                cnn.conv2.weight.copy_(torch.from_numpy(K_hat).float())
            out.setdefault(key, []).append((err, accuracy(cnn, data.X_test, data.y_test)))
            with torch.no_grad():
                cnn.conv2.weight.copy_(orig)
    O, I = K.shape[:2]
    print(f"{'conv2':>16} {'weights':>8} {'MACs':>8} {'rel. error':>14} {'accuracy':>14}")
    for key, vals in out.items():
        kind, r = key
        w, macs = conv_costs(O, I, 3, 64, cp_rank=r if kind == "CP" else None, tucker=r if kind == "Tucker-2" else None)
        vals = np.array(vals)
        label = f"{kind} {r}" if kind != "dense" else "dense"
        print(f"{label:>16} {w:>8} {macs:>8} {_ms(vals[:, 0]):>14} {_ms(vals[:, 1]):>14}")
        name = "dense" if kind == "dense" else f"{kind.lower().replace('-', '')}_{r if kind == 'CP' else '_'.join(map(str, r))}"
        _record(figures, f"cp_{name}_err", vals[:, 0])
        _record(figures, f"cp_{name}_acc", vals[:, 1])
        if figures is not None:
            figures[f"cp_{name}_weights"] = w
    return out
