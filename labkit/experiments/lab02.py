"""Lab 2's experiments (teachers, assistants, hints, relations, cohorts), called by labsrc/lab02_distillation_ii.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the notebook's answers were measured at; ``Config.quick()`` runs in seconds (tests). A ``Lab``
holds the data and the teachers (trained once, then cached) that the sections share.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from labkit.distillation_ii import (MultiExitMLP, SmallCNN, attention_transfer_loss_torch, born_again_chain,
                                    dml_losses_torch, exit_accuracies, fitnet_hint_stage, hidden_features,
                                    hint_loss_torch, rkd_angle_loss_torch, rkd_distance_loss_torch,
                                    self_distillation_loss_torch, train_attention_transfer, train_cohort,
                                    train_self_distillation, train_with_loss)
from labkit.distillation_torch import kd_loss_torch
from labkit.experiments import ExperimentConfig, Figures
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier


@dataclass(frozen=True)
class Config(ExperimentConfig):
    seeds_takd: tuple = (0, 1, 2, 3, 4)  # the TAKD comparison's differences are small: more seeds
    lr: float = 1e-2
    steps: int = 400  # every student: this many Adam steps at lr, whatever the method
    t_kd: float = 4.0
    alpha_kd: float = 0.9
    n_scarce: int = 5  # labelled images per class for the students
    student: tuple = (16,)  # hidden widths: the student of most experiments ...
    thin: tuple = (8,)  # ... and a thinner one
    teacher_epochs: int = 30
    teacher_lr: float = 1e-3
    teacher_sizes: tuple = ((8,), (32,), (128,), (512, 512))  # the last is the largest (TAKD's teacher)
    mid_teacher: tuple = (128,)  # the teacher of the sanity check and of section 3
    ta: tuple = (32,)
    dml_sizes: tuple = (1, 2, 4)
    ema_momentum: float = 0.99
    generations: int = 3
    exit_widths: tuple = (32, 32, 32)
    sd_T: float = 3.0
    sd_alpha: float = 0.3
    sd_lam: float = 0.03
    cnn_teacher: tuple = (16, 32)
    cnn_teacher_epochs: int = 20
    cnn_student: tuple = (8, 16)
    beta: float = 10.0
    cnn_steps: int = 200  # a CNN step costs several MLP steps: half the steps keeps section 8 within budget

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), seeds_takd=(0, 1), steps=16, teacher_epochs=2,
                   teacher_sizes=((8,), (32,), (128,), (64, 64)), dml_sizes=(1, 2), generations=1,
                   cnn_teacher_epochs=1, cnn_steps=4)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def ms(values) -> str:
    v = np.asarray(values)
    return f"{v.mean():.3f} ± {v.std():.3f}"


def record(figures: Figures | None, name: str, values) -> None:
    """``name_mean`` and ``name_std`` (ddof = 0) of per-seed values."""
    if figures is None:
        return
    v = np.asarray(values, dtype=float)
    figures[f"{name}_mean"], figures[f"{name}_std"] = v.mean(), v.std()


def record_paired(figures: Figures | None, name: str, diff) -> None:
    """A paired difference: its mean, how many seeds are > 0, and each seed's value."""
    if figures is None:
        return
    d = np.asarray(diff, dtype=float)
    figures[f"{name}_gain"], figures[f"{name}_npos"] = d.mean(), int((d > 0).sum())
    for k, v in enumerate(d):
        figures[f"{name}_gain_seed{k}"] = v


def key(hidden: tuple) -> str:
    return "mlp" + "x".join(map(str, hidden))


class Lab:
    """The data, the students' recipe and the teachers (each trained once, then cached)."""

    def __init__(self, data, cfg: Config):
        self.data, self.cfg = data, cfg
        self.teachers: dict = {}
        self.kd = functools.partial(kd_loss_torch, T=cfg.t_kd, alpha=cfg.alpha_kd)

    def scarce_set(self, seed: int):
        """cfg.n_scarce random training images per class (which ones depends on the seed)."""
        rng = np.random.default_rng(seed)
        y = self.data.y_train
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), self.cfg.n_scarce, replace=False) for c in range(10)])
        return self.data.X_train[idx], y[idx]

    def epochs_for(self, n_images: int, steps: int | None = None) -> int:
        return math.ceil((steps or self.cfg.steps) / math.ceil(n_images / self.cfg.batch_size))

    def teacher(self, hidden: tuple) -> torch.nn.Module:
        if hidden not in self.teachers:
            set_seed(0)
            model = MLP(64, hidden, 10)
            train_classifier(model, self.data.X_train, self.data.y_train, epochs=self.cfg.teacher_epochs,
                             lr=self.cfg.teacher_lr, batch_size=self.cfg.batch_size, seed=0)
            self.teachers[hidden] = model
        return self.teachers[hidden]

    def train_student(self, hidden: tuple, seed: int, by=None) -> torch.nn.Module:
        """A student on the seed's scarce images: cross-entropy if by is None, else KD from the teacher `by`."""
        X, y = self.scarce_set(seed)
        set_seed(seed)  # same seed, same initial weights for every method: paired comparisons
        model = MLP(64, hidden, 10)
        train_classifier(model, X, y, epochs=self.epochs_for(len(X)), lr=self.cfg.lr, batch_size=self.cfg.batch_size,
                         seed=seed, loss_fn=None if by is None else self.kd, teacher=by)
        return model

    def test_acc(self, model) -> float:
        return accuracy(model, self.data.X_test, self.data.y_test)

    def probs(self, model) -> np.ndarray:
        z = predict_logits(model, self.data.X_test).astype(np.float64)  # (360, 10)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loyalty(self, student_model, teacher_model) -> tuple[float, float]:
        """Label and probability loyalty (Lab 1, Xu et al. 2021) of a student to a teacher on the test set."""
        ps, pt = self.probs(student_model), self.probs(teacher_model)
        label = float((ps.argmax(1) == pt.argmax(1)).mean())
        m = (ps + pt) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = lambda p: np.where(p > 0, p * np.log(p / m), 0.0).sum(1)  # noqa: E731
        js_bits = (kl(ps) + kl(pt)) / 2 / np.log(2)
        return label, float((1 - np.sqrt(np.clip(js_bits, 0, 1))).mean())


def sanity(hint_loss, rkd_distance_loss, rkd_angle_loss, dml_losses, lab: Lab) -> float:
    """The student's NumPy losses against the torch ones on 32 training images; prints them, returns the max |diff|."""
    data = lab.data
    t_model = lab.teacher(lab.cfg.mid_teacher)
    set_seed(0)
    s_model = MLP(64, lab.cfg.student, 10)
    xb = torch.from_numpy(data.X_train[:32].astype(np.float32))
    yb = data.y_train[:32]
    with torch.no_grad():
        u = hidden_features(t_model, xb).double().numpy()  # (32, 128) teacher hint
        v = hidden_features(s_model, xb).double().numpy()  # (32, 16)  student guided layer
    W = np.random.default_rng(0).normal(size=(v.shape[1], u.shape[1])) / 4
    tu, tv = torch.from_numpy(u), torch.from_numpy(v)
    rows = [("hint_loss", hint_loss(u, v, W), hint_loss_torch(tu, torch.from_numpy(v @ W)).item()),
            ("rkd_distance_loss", rkd_distance_loss(v, u), rkd_distance_loss_torch(tv, tu).item()),
            ("rkd_angle_loss", rkd_angle_loss(v, u), rkd_angle_loss_torch(tv, tu).item())]
    cohort = np.stack([predict_logits(m, data.X_train[:32]) for m in (t_model, s_model)]).astype(np.float64)
    torch_dml = dml_losses_torch(list(torch.from_numpy(cohort)), torch.from_numpy(yb)).numpy()
    ours_dml = np.asarray(dml_losses(cohort, yb))
    rows += [(f"dml_losses[{k}]", ours_dml[k], torch_dml[k]) for k in range(2)]
    for name, ours, theirs in rows:
        print(f"{name:20} numpy {ours:.12f}  torch {theirs:.12f}  |diff| {abs(ours - theirs):.1e}")
    return max(abs(float(ours) - float(theirs)) for _, ours, theirs in rows)


class EnsembleTeacher(torch.nn.Module):
    """Logits T log p whose temperature-T softmax is the ensemble's averaged soft targets p."""

    def __init__(self, ensemble_soft_targets, members, T):
        super().__init__()
        self.members, self.T = torch.nn.ModuleList(members), T  # registered: n_params counts them all
        self.ensemble_soft_targets = ensemble_soft_targets

    def forward(self, x):
        z = np.stack([m(x).detach().double().numpy() for m in self.members])  # (M, B, 10)
        p = self.ensemble_soft_targets(z, self.T)  # (B, 10)
        return torch.from_numpy(self.T * np.log(np.maximum(p, 1e-300))).float()


def teacher_size(ensemble_soft_targets, lab: Lab, figures: Figures | None = None) -> dict:
    """Section 1: a student distilled from each teacher size and from an ensemble of the largest three."""
    cfg, t0 = lab.cfg, time.perf_counter()
    baseline = {s: lab.train_student(cfg.student, s) for s in cfg.seeds}
    base_acc = np.array([lab.test_acc(baseline[s]) for s in cfg.seeds])
    rows = []
    # (name, figure key, the teacher distilled from, the same teacher at T = 1 for accuracy and loyalty)
    teachers = [(f"MLP {h}", key(h), lab.teacher(h), lab.teacher(h)) for h in cfg.teacher_sizes]
    members = [lab.teacher(h) for h in cfg.teacher_sizes[1:]]
    teachers.append(("ensemble of the 3 largest", "ensemble", EnsembleTeacher(ensemble_soft_targets, members, cfg.t_kd),
                     EnsembleTeacher(ensemble_soft_targets, members, 1.0)))
    for name, k, t_model, judge in teachers:
        students = [lab.train_student(cfg.student, s, by=t_model) for s in cfg.seeds]
        acc = np.array([lab.test_acc(m) for m in students])
        loy = np.array([lab.loyalty(m, judge) for m in students]).mean(0)  # (label, prob.)
        rows.append((name, n_params(judge), lab.test_acc(judge), acc, acc - base_acc, loy))
        if figures is not None:
            figures[f"size_{k}_params"], figures[f"size_{k}_teacher_acc"] = rows[-1][1], rows[-1][2]
            record(figures, f"size_{k}", acc)
            record_paired(figures, f"size_{k}", acc - base_acc)
            figures[f"size_{k}_label_loyalty"], figures[f"size_{k}_prob_loyalty"] = loy
    print(f"trained in {time.perf_counter() - t0:.0f} s; student: MLP {cfg.student}, "
          f"{n_params(baseline[cfg.seeds[0]]):,} parameters, {cfg.n_scarce} images per class\n")
    print(f"{'teacher':28}{'params':>9}{'teacher acc':>13}{'student acc':>16}{'gain':>8}{'label loy.':>12}{'prob. loy.':>12}")
    bl = np.array([lab.loyalty(baseline[s], lab.teacher(cfg.teacher_sizes[-1])) for s in cfg.seeds]).mean(0)
    print(f"{'none (no KD)':28}{'':>9}{'':>13}{ms(base_acc):>16}{'':>8}{bl[0]:>12.3f}{bl[1]:>12.3f}  (loyalty to the largest)")
    for name, n, t_acc, acc, gain, loy in rows:
        print(f"{name:28}{n:>9,}{t_acc:>13.3f}{ms(acc):>16}{gain.mean():>+8.3f}{loy[0]:>12.3f}{loy[1]:>12.3f}")
    record(figures, "size_nokd", base_acc)
    if figures is not None:
        figures["size_nokd_label_loyalty"], figures["size_nokd_prob_loyalty"] = bl
        figures["student_params"] = n_params(baseline[cfg.seeds[0]])
    return {"base_acc": base_acc, "rows": rows}


def plot_teacher_size(result: dict) -> None:
    base_acc, rows = result["base_acc"], result["rows"][:-1]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sizes = [r[1] for r in rows]
    ax.axhspan(base_acc.mean() - base_acc.std(), base_acc.mean() + base_acc.std(), color="gray", alpha=0.2)
    ax.axhline(base_acc.mean(), color="gray", ls="--", label="student, no KD (mean ± std)")
    ax.errorbar(sizes, [r[3].mean() for r in rows], yerr=[r[3].std() for r in rows], marker="o",
                capsize=4, label="student, KD from the teacher")
    ax.plot(sizes, [r[2] for r in rows], "k:", marker="s", label="teacher")
    ax.set_xscale("log")
    ax.set(xlabel="teacher parameters (log scale)", ylabel="test accuracy", title="Teacher size against student accuracy")
    ax.legend()
    plt.tight_layout()
    plt.show()


def takd(lab: Lab, figures: Figures | None = None) -> dict:
    """Section 2: no KD, KD from the largest teacher, and KD through a teacher assistant, for the thin student."""
    cfg, data, t0 = lab.cfg, lab.data, time.perf_counter()
    big = lab.teacher(cfg.teacher_sizes[-1])
    accs = {"NOKD": [], "BLKD": [], "TAKD": []}
    loy = {"BLKD": [], "TAKD": []}
    ta_acc = []
    for s in cfg.seeds_takd:
        set_seed(100 + s)
        ta = MLP(64, cfg.ta, 10)
        train_classifier(ta, data.X_train, data.y_train, epochs=lab.epochs_for(len(data.X_train)), lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=s, loss_fn=lab.kd, teacher=big)
        ta_acc.append(lab.test_acc(ta))
        for method, by in [("NOKD", None), ("BLKD", big), ("TAKD", ta)]:
            m = lab.train_student(cfg.thin, s, by=by)
            accs[method].append(lab.test_acc(m))
            if by is not None:
                loy[method].append(lab.loyalty(m, big) + lab.loyalty(m, ta))
    print(f"trained in {time.perf_counter() - t0:.0f} s; teacher {lab.test_acc(big):.3f}, TA {ms(ta_acc)} test accuracy\n")
    for method, acc in accs.items():
        extra = ""
        if method in loy:
            l = np.mean(loy[method], axis=0)  # noqa: E741
            extra = f"   loyalty to teacher {l[0]:.3f} / {l[1]:.3f}, to TA {l[2]:.3f} / {l[3]:.3f} (label / prob.)"
        print(f"{method}: student MLP {cfg.thin} test accuracy {ms(acc)}{extra}")
        record(figures, f"takd_{method.lower()}", acc)
        if figures is not None:
            figures[f"takd_{method.lower()}_min"], figures[f"takd_{method.lower()}_max"] = min(acc), max(acc)
    acc = {k: np.array(v) for k, v in accs.items()}
    for a, b in [("BLKD", "NOKD"), ("TAKD", "NOKD"), ("TAKD", "BLKD")]:
        d = acc[a] - acc[b]
        print(f"paired {a} - {b}: mean {d.mean():+.3f}, per seed {np.round(d, 3).tolist()}, "
              f"{int((d > 0).sum())} of {len(d)} seeds > 0")
        record_paired(figures, f"takd_{a.lower()}_{b.lower()}", d)
    record(figures, "takd_ta", ta_acc)
    if figures is not None:
        figures["takd_teacher_acc"] = lab.test_acc(big)
    return acc


def features(lab: Lab, figures: Figures | None = None) -> dict:
    """Section 3: no KD, KD, FitNets + KD and RKD + KD for the thin student, from the mid-size teacher."""
    cfg, t0 = lab.cfg, time.perf_counter()
    mid = lab.teacher(cfg.mid_teacher)
    feat = {"no KD": [], "KD": [], "FitNets + KD": [], "RKD + KD": []}
    for s in cfg.seeds:
        X, y = lab.scarce_set(s)
        epochs = lab.epochs_for(len(X))
        feat["no KD"].append(lab.test_acc(lab.train_student(cfg.thin, s)))
        feat["KD"].append(lab.test_acc(lab.train_student(cfg.thin, s, by=mid)))

        set_seed(s)
        m = MLP(64, cfg.thin, 10)
        fitnet_hint_stage(m, mid, X, epochs=epochs // 2, lr=cfg.lr, batch_size=cfg.batch_size, seed=s)
        train_classifier(m, X, y, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=s, loss_fn=lab.kd,
                         teacher=mid)
        feat["FitNets + KD"].append(lab.test_acc(m))

        set_seed(s)
        m = MLP(64, cfg.thin, 10)

        def rkd_kd(xb, yb, m=m):
            with torch.no_grad():
                h_t = hidden_features(mid, xb)
                z_t = mid.net[-1](h_t)
            h_s = hidden_features(m, xb)
            return lab.kd(m.net[-1](h_s), z_t, yb) + rkd_distance_loss_torch(h_s, h_t) + 2 * rkd_angle_loss_torch(h_s, h_t)

        train_with_loss([m], X, y, rkd_kd, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=s)
        feat["RKD + KD"].append(lab.test_acc(m))
    print(f"trained in {time.perf_counter() - t0:.0f} s; teacher MLP {cfg.mid_teacher} test accuracy {lab.test_acc(mid):.3f}\n")
    base = np.array(feat["no KD"])
    names = {"no KD": "nokd", "KD": "kd", "FitNets + KD": "fitnets", "RKD + KD": "rkd"}
    for method, acc in feat.items():
        acc = np.array(acc)
        print(f"{method:14} {ms(acc)}   paired gain over no KD {(acc - base).mean():+.3f}   per seed {np.round(acc, 3).tolist()}")
        record(figures, f"feat_{names[method]}", acc)
        if method != "no KD":
            record_paired(figures, f"feat_{names[method]}", acc - base)
    for method in ("FitNets + KD", "RKD + KD"):
        record_paired(figures, f"feat_{names[method]}_vs_kd", np.array(feat[method]) - np.array(feat["KD"]))
    return {k: np.array(v) for k, v in feat.items()}


def plot_features(feat: dict, cfg: Config) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    names = list(feat)
    ax.bar(names, [np.mean(feat[k]) for k in names], yerr=[np.std(feat[k]) for k in names], capsize=4, color="C0")
    for i, k in enumerate(names):
        ax.plot([i] * len(feat[k]), feat[k], "k.", ms=8)
    ax.set(ylabel="test accuracy", ylim=(0.5, 1), title=f"Thin student MLP {cfg.thin}: mean ± std, dots = seeds")
    plt.tight_layout()
    plt.show()


def dml(lab: Lab, figures: Figures | None = None) -> dict:
    """Section 4: DML cohorts of K students (K = 1: independent), scarce and full training set."""
    cfg, data, t0 = lab.cfg, lab.data, time.perf_counter()
    out = {}
    for regime in ("5/class", "full"):
        for K in cfg.dml_sizes:
            accs = []
            for s in cfg.seeds:
                X, y = lab.scarce_set(s) if regime == "5/class" else (data.X_train, data.y_train)
                cohort = []
                for k in range(K):
                    set_seed(s if k == 0 else 1000 * k + s)  # member 0 starts like the independent student
                    cohort.append(MLP(64, cfg.student, 10))
                train_cohort(cohort, X, y, epochs=lab.epochs_for(len(X)), lr=cfg.lr, batch_size=cfg.batch_size, seed=s)
                accs.append(np.mean([lab.test_acc(m) for m in cohort]))
            out[regime, K] = np.array(accs)
    print(f"trained in {time.perf_counter() - t0:.0f} s\n")
    for regime in ("5/class", "full"):
        for K in cfg.dml_sizes:
            d = out[regime, K] - out[regime, 1]
            label = "independent" if K == 1 else f"DML cohort of {K}"
            print(f"{regime:>8} {label:18} mean member accuracy {ms(out[regime, K])}"
                  + (f"   paired gain {d.mean():+.3f}" if K > 1 else ""))
            name = f"dml_{'5class' if regime == '5/class' else 'full'}_K{K}"
            record(figures, name, out[regime, K])
            if K > 1:
                record_paired(figures, name, d)
    return out


def ema(ema_update, lab: Lab, figures: Figures | None = None) -> np.ndarray:
    """Section 5: the student on cross-entropy, with the student's ema_update keeping a moving average."""
    cfg, t0 = lab.cfg, time.perf_counter()
    rows = []
    for s in cfg.seeds:
        X, y = lab.scarce_set(s)
        set_seed(s)
        model = MLP(64, cfg.student, 10)
        ema_model = MLP(64, cfg.student, 10)
        ema_model.load_state_dict(model.state_dict())

        def ema_step(model=model, ema_model=ema_model):
            with torch.no_grad():
                for p_t, p_s in zip(ema_model.parameters(), model.parameters()):
                    p_t.copy_(torch.from_numpy(np.asarray(ema_update(p_t.numpy(), p_s.numpy(), cfg.ema_momentum),
                                                          dtype=np.float32)))

        train_with_loss([model], X, y, lambda xb, yb, model=model: F.cross_entropy(model(xb), yb),
                        epochs=lab.epochs_for(len(X)), lr=cfg.lr, batch_size=cfg.batch_size, seed=s, on_step=ema_step)
        rows.append((lab.test_acc(model), lab.test_acc(ema_model)))
    rows = np.array(rows)
    print(f"trained in {time.perf_counter() - t0:.0f} s")
    print(f"student {ms(rows[:, 0])}, its EMA (m = {cfg.ema_momentum}) {ms(rows[:, 1])}, "
          f"paired gain {(rows[:, 1] - rows[:, 0]).mean():+.3f}")
    record(figures, "ema_student", rows[:, 0])
    record(figures, "ema_average", rows[:, 1])
    record_paired(figures, "ema_average", rows[:, 1] - rows[:, 0])
    return rows


def born_again(ensemble_soft_targets, lab: Lab, figures: Figures | None = None) -> np.ndarray:
    """Section 6: born-again generations on the full training set and their ensemble (the student's function)."""
    cfg, data, t0 = lab.cfg, lab.data, time.perf_counter()
    X, y = data.X_train, data.y_train  # the paper's setting; try lab.scarce_set(s) for the students' 50 images

    def ensemble_acc(models) -> float:
        z = np.stack([predict_logits(m, data.X_test) for m in models]).astype(np.float64)  # (M, 360, 10)
        return float((np.asarray(ensemble_soft_targets(z, 1.0)).argmax(1) == data.y_test).mean())

    ban = []
    for s in cfg.seeds:
        chain = born_again_chain(lambda: MLP(64, cfg.student, 10), X, y, generations=cfg.generations,
                                 epochs=lab.epochs_for(len(X)), lr=cfg.lr, batch_size=cfg.batch_size, seed=s)
        ban.append([lab.test_acc(m) for m in chain] + [ensemble_acc(chain)])  # T = 1, alpha = 1: outputs only
    ban = np.array(ban)  # (seeds, generations + 1 + 1)
    print(f"trained in {time.perf_counter() - t0:.0f} s; MLP {cfg.student} in every generation, full training set, "
          f"{len(cfg.seeds)} seeds\n")
    cols = [f"gen {k}" for k in range(cfg.generations + 1)] + ["BAN ensemble"]
    print("".join(f"{c:>17}" for c in cols))
    print("".join(f"{ms(ban[:, j]):>17}" for j in range(ban.shape[1])) + "\n")
    for k in range(ban.shape[1]):
        record(figures, f"ban_gen{k}" if k <= cfg.generations else "ban_ensemble", ban[:, k])
    for k in range(1, cfg.generations + 1):
        d = ban[:, k] - ban[:, 0]
        print(f"paired gen {k} - gen 0: {d.mean():+.3f}  per seed {np.round(d, 3).tolist()}, {int((d > 0).sum())} of {len(d)} > 0")
        record_paired(figures, f"ban_gen{k}", d)
    d = ban[:, -1] - ban[:, 0]
    print(f"paired BAN ensemble - gen 0: {d.mean():+.3f}  per seed {np.round(d, 3).tolist()}, {int((d > 0).sum())} of {len(d)} > 0")
    record_paired(figures, "ban_ensemble", d)
    return ban


def self_distillation(self_distillation_loss, lab: Lab, figures: Figures | None = None) -> dict:
    """Section 7: a MultiExitMLP on CE only and on self-distillation; the student's loss checked and split."""
    cfg, data, t0 = lab.cfg, lab.data, time.perf_counter()
    methods = {"CE only": (0.0, 0.0), "self-distillation": (cfg.sd_alpha, cfg.sd_lam)}
    sd = {}
    for name, (alpha, lam) in methods.items():
        rows = []
        for s in cfg.seeds:
            set_seed(s)  # the same initial weights for both methods
            net = MultiExitMLP(64, cfg.exit_widths, 10)
            train_self_distillation(net, data.X_train, data.y_train, epochs=lab.epochs_for(len(data.X_train)), lr=cfg.lr,
                                    batch_size=cfg.batch_size, seed=s, T=cfg.sd_T, alpha=alpha, lam=lam)
            rows.append(exit_accuracies(net, data.X_test, data.y_test))
        sd[name] = np.array(rows)  # (seeds, exits)
    print(f"trained in {time.perf_counter() - t0:.0f} s; MultiExitMLP {cfg.exit_widths}, {n_params(net):,} parameters, "
          f"full training set, {len(cfg.seeds)} seeds\n")
    print(f"{'test accuracy':20}" + "".join(f"{f'exit {i + 1}':>17}" for i in range(len(cfg.exit_widths))))
    for name, r in sd.items():
        print(f"{name:20}" + "".join(f"{ms(r[:, i]):>17}" for i in range(r.shape[1])))
        for i in range(r.shape[1]):
            record(figures, f"sd_{'ce' if name == 'CE only' else 'sd'}_exit{i + 1}", r[:, i])
    d = sd["self-distillation"] - sd["CE only"]  # (seeds, exits)
    print(f"{'paired gain':20}" + "".join(f"{f'{d[:, i].mean():+.3f} ({int((d[:, i] > 0).sum())} of {len(d)} > 0)':>17}"
                                          for i in range(d.shape[1])))
    for i in range(d.shape[1]):
        record_paired(figures, f"sd_exit{i + 1}", d[:, i])
        if figures is not None:
            figures[f"sd_exit{i + 1}_nneg"] = int((d[:, i] < 0).sum())
    return {"accuracy": sd, "parts": loss_parts(self_distillation_loss, net, data, cfg, figures)}


def loss_parts(self_distillation_loss, net, data, cfg: Config, figures: Figures | None = None) -> dict:
    """The last self-distilled network on the training set: the student's loss against the torch twin, then
    split into its cross-entropy, KD and feature-hint parts."""
    with torch.no_grad():
        z_e, f_e = net.exits(torch.from_numpy(data.X_train.astype(np.float32)))
    z_e, f_e = torch.stack(z_e).double(), torch.stack(f_e).double()  # (3, 1078, 10), (3, 1078, 32)
    z_np, f_np, y = z_e.numpy(), f_e.numpy(), data.y_train
    total = self_distillation_loss(z_np, f_np, y, T=cfg.sd_T, alpha=cfg.sd_alpha, lam=cfg.sd_lam)
    theirs = self_distillation_loss_torch(z_e, f_e, torch.from_numpy(y), T=cfg.sd_T, alpha=cfg.sd_alpha,
                                          lam=cfg.sd_lam).item()
    print(f"\nself_distillation_loss on the training set: numpy {total:.12f}  torch {theirs:.12f}  |diff| {abs(total - theirs):.1e}")
    no_hint = self_distillation_loss(z_np, f_np, y, T=cfg.sd_T, alpha=cfg.sd_alpha, lam=0.0)
    labels_only = self_distillation_loss(z_np, f_np, y, T=cfg.sd_T, alpha=0.0, lam=0.0)  # sum of the CEs
    ce_deepest = self_distillation_loss(z_np[-1:], f_np[-1:], y)  # E = 1: the deepest exit's CE
    ce = ce_deepest + (1 - cfg.sd_alpha) * (labels_only - ce_deepest)  # CE_E + (1 - alpha) * the shallow CEs
    parts = {"total": total, "torch": theirs, "ce": ce, "kd": no_hint - ce, "hint": total - no_hint}
    print(f"its parts: cross-entropies {ce:.3f}, KD terms {no_hint - ce:.3f}, feature hints {total - no_hint:.3f} "
          f"(lambda = {cfg.sd_lam} times squared distances {(total - no_hint) / cfg.sd_lam:.1f}, summed over the shallow exits)")
    if figures is not None:
        for name in ("total", "ce", "kd", "hint"):
            figures[f"sd_loss_{name}"] = parts[name]
    return parts


def plot_self_distillation(result: dict, cfg: Config) -> None:
    sd = result["accuracy"]
    fig, ax = plt.subplots(figsize=(6.5, 3.3))
    for j, (name, r) in enumerate(sd.items()):
        xs = np.arange(r.shape[1]) + (j - 0.5) * 0.35
        ax.bar(xs, r.mean(0), width=0.35, yerr=r.std(0), capsize=3, label=name)
        for i in range(r.shape[1]):
            ax.plot([xs[i]] * len(r), r[:, i], "k.", ms=6)
    ax.set_xticks(range(len(cfg.exit_widths)), [f"exit {i + 1}" for i in range(len(cfg.exit_widths))])
    lo = min((r.mean(0) - r.std(0)).min() for r in sd.values())
    ax.set(ylabel="test accuracy", ylim=(max(0.0, lo - 0.03), 1.0), title="One network, three exits: mean ± std, dots = seeds")
    ax.legend(loc="lower right")
    plt.tight_layout()
    plt.show()


AT_KEYS = {"student alone": "alone", "KD": "kd", "AT (8x8 + 4x4) + KD": "both", "AT (4x4) + KD": "4x4"}


def stage_maps(model, x) -> list:
    with torch.no_grad():
        return [f.double().numpy() for f in model.feature_maps(x)]  # [(360, C, 8, 8), (360, C, 4, 4)]


def attention_transfer(attention_map, attention_transfer_loss, lab: Lab, figures: Figures | None = None) -> dict:
    """Section 8: CNN students alone, with KD, and with KD + attention transfer at both stages or the 4×4 one."""
    cfg, data, t0 = lab.cfg, lab.data, time.perf_counter()
    set_seed(0)
    cnn_teacher = SmallCNN(cfg.cnn_teacher, convs_per_stage=2)
    train_classifier(cnn_teacher, data.X_train, data.y_train, epochs=cfg.cnn_teacher_epochs, lr=cfg.lr,
                     batch_size=cfg.batch_size, seed=0)
    methods = {"student alone": dict(beta=0.0, alpha=0.0), "KD": dict(beta=0.0, alpha=cfg.alpha_kd),
               "AT (8x8 + 4x4) + KD": dict(beta=cfg.beta, alpha=cfg.alpha_kd),
               "AT (4x4) + KD": dict(beta=cfg.beta, alpha=cfg.alpha_kd, stages=[1])}
    x_test = torch.from_numpy(data.X_test.astype(np.float32))
    maps_teacher = stage_maps(cnn_teacher, x_test)
    acc, dist, students = {}, {}, {}
    for name, kw in methods.items():
        accs, dists = [], []
        for s in cfg.seeds:
            X, y = lab.scarce_set(s)
            set_seed(s)  # the same initial weights for every method
            student = SmallCNN(cfg.cnn_student)
            train_attention_transfer(student, cnn_teacher, X, y, epochs=lab.epochs_for(len(X), cfg.cnn_steps),
                                     lr=cfg.lr, batch_size=cfg.batch_size, seed=s, T=cfg.t_kd, **kw)
            accs.append(lab.test_acc(student))
            dists.append([attention_transfer_loss(a, b) for a, b in zip(stage_maps(student, x_test), maps_teacher)])
        acc[name], dist[name], students[name] = np.array(accs), np.array(dists), student
    print(f"trained in {time.perf_counter() - t0:.0f} s; teacher SmallCNN {cfg.cnn_teacher} x2 convs, "
          f"{n_params(cnn_teacher):,} parameters, test accuracy {lab.test_acc(cnn_teacher):.3f}; student SmallCNN "
          f"{cfg.cnn_student}, {n_params(student):,} parameters, {cfg.n_scarce} images per class, {cfg.cnn_steps} steps\n")
    ms_student = stage_maps(student, x_test)  # the student's loss against the torch twin, on the last student's maps
    for k in range(2):
        ours = attention_transfer_loss(ms_student[k], maps_teacher[k])
        theirs = attention_transfer_loss_torch(torch.from_numpy(ms_student[k]), torch.from_numpy(maps_teacher[k])).item()
        print(f"attention_transfer_loss, stage {k + 1}: numpy {ours:.12f}  torch {theirs:.12f}  |diff| {abs(ours - theirs):.1e}")
    print()
    print(f"{'':22}{'test acc.':>16}{'gain over KD':>14}{'':12}{'AT distance to the teacher (test)':>36}")
    for name in methods:
        d = acc[name] - acc["KD"]
        gain = "" if name == "KD" else f"{d.mean():>+12.3f} ({int((d > 0).sum())} of {len(d)} > 0)"
        dm = dist[name].mean(0)
        print(f"{name:22}{ms(acc[name]):>16}{gain:26}{f'8x8 {dm[0]:.3f}   4x4 {dm[1]:.3f}':>36}")
        record(figures, f"at_{AT_KEYS[name]}", acc[name])
        if figures is not None:
            figures[f"at_{AT_KEYS[name]}_dist8"], figures[f"at_{AT_KEYS[name]}_dist4"] = dm
    for name in methods:
        if name != "KD":
            print(f"paired {name} - KD per seed: {np.round(acc[name] - acc['KD'], 3).tolist()}")
            record_paired(figures, f"at_{AT_KEYS[name]}", acc[name] - acc["KD"])
    if figures is not None:
        figures["at_teacher_params"], figures["at_teacher_acc"] = n_params(cnn_teacher), lab.test_acc(cnn_teacher)
        figures["at_student_params"] = n_params(student)
    return {"accuracy": acc, "distance": dist, "teacher": cnn_teacher, "students": students, "x_test": x_test}


def plot_attention(attention_map, result: dict, data, i: int = 0) -> None:
    """Where the networks look, for one test image: the student's attention_map of each stage."""
    rows = [("teacher", result["teacher"]), ("student, KD", result["students"]["KD"]),
            ("student, AT (4x4) + KD", result["students"]["AT (4x4) + KD"])]
    fig, axes = plt.subplots(len(rows), 3, figsize=(6.0, 6.2))
    for r, (label, model) in enumerate(rows):
        maps = stage_maps(model, result["x_test"])
        axes[r, 0].imshow(data.X_test[i].reshape(8, 8), cmap="gray_r")
        axes[r, 0].set_ylabel(label, fontsize=9)
        for k, side in enumerate((8, 4)):
            axes[r, k + 1].imshow(np.asarray(attention_map(maps[k][i:i + 1], 2.0)).reshape(side, side), cmap="viridis")
            if r == 0:
                axes[r, k + 1].set_title(f"attention, {side}x{side} stage", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title(f"test image (a {data.y_test[i]})", fontsize=9)
    plt.tight_layout()
    plt.show()
