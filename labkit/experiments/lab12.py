"""Lab 12's experiments (dataset distillation, data-free KD, nasty teachers on the 8×8 digits), called by
labsrc/lab12_data_free.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the size
the answers were measured at; ``Config.quick()`` runs in seconds (tests). The teacher and the student are
Lab 1's (``lab01.train_teacher``: MLP 64 -> 256 -> 256 -> 10; student MLP 64 -> 16 -> 10), and the KD loss
is Lab 1's ``kd_loss_torch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from labkit import data_free as dfk
from labkit.experiments import ExperimentConfig, Figures, lab01
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier


@dataclass(frozen=True)
class Config(ExperimentConfig):
    # dataset distillation (linear softmax regression, no bias): the inner loop, then Adam on the pixels
    dd_per_class: tuple = (1, 5)
    dd_steps: int = 10
    dd_lr: float = 1.0
    dd_iters: int = 300
    dd_outer_lr: float = 0.03
    dd_batch: int = 256
    # Lab 1's teacher (teacher_hidden, _epochs, _lr) and student (student_hidden, _epochs, _lr)
    teacher_hidden: tuple = (256, 256)
    dd_init_std: float = 0.01
    dd_long_steps: int = 300  # "trained to convergence" on the same real images
    teacher_epochs: int = 40
    teacher_lr: float = 1e-3
    student_hidden: tuple = (16,)
    student_epochs: int = 40
    student_lr: float = 1e-2
    # data-free KD; then the nasty teacher (Ma et al. 2021: T = 4, omega = 0.04 on CIFAR-10)
    df_iters: int = 250
    df_batch: int = 128
    df_bn_weight: float = 1.0
    kd: tuple = (4.0, 0.9)  # (T, alpha) of Lab 1's KD
    nasty_T: float = 4.0
    nasty_omega: float = 0.04
    nasty_epochs: int = 40
    skeptical: tuple = (20.0, 0.5)  # (T, alpha) of the skeptical student

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), dd_per_class=(1,), dd_steps=3, dd_iters=5, dd_long_steps=5, teacher_hidden=(32,),
                   teacher_epochs=2, student_epochs=2, df_iters=3, df_batch=32, nasty_epochs=2)

    def lab01_config(self) -> lab01.Config:
        return lab01.Config(seeds=self.seeds, teacher_hidden=self.teacher_hidden, teacher_epochs=self.teacher_epochs,
                            teacher_lr=self.teacher_lr, student_hidden=self.student_hidden)


def _ms(a) -> str:
    a = np.asarray(a)
    return f"{a.mean():.3f} ± {a.std():.3f}"


def _record(figures: Figures | None, name: str, values) -> None:
    if figures is not None:
        figures[f"{name}_mean"], figures[f"{name}_std"] = np.mean(values), np.std(values)


# --- dataset distillation ---------------------------------------------------------------------------------
def dataset_distillation(softmax_ce_grad, distill_grad, data, cfg: Config, figures: Figures | None = None) -> dict:
    """Distilled vs random real images, n per class, for the linear model trained dd_steps steps from random W0."""
    X, y = data.X_train.astype(np.float64), data.y_train.astype(np.int64)
    Xte, yte = data.X_test.astype(np.float64), data.y_test.astype(np.int64)
    results, images = {}, {}
    for n in cfg.dd_per_class:
        rows = {"distilled": [], "random real": [], f"random real, {cfg.dd_long_steps} steps": [],
                "full training set": [], f"full set, {cfg.dd_long_steps} steps": []}
        for s in cfg.seeds:
            X_syn, y_syn, _ = dfk.distill_dataset(distill_grad, X, y, n, steps=cfg.dd_steps, lr=cfg.dd_lr,
                                                  iters=cfg.dd_iters, outer_lr=cfg.dd_outer_lr, batch=cfg.dd_batch,
                                                  init_std=cfg.dd_init_std, seed=s)
            images[n, s] = X_syn
            X_real, y_real = dfk.random_real(X, y, n, seed=1000 + s)
            W0 = dfk.init_weights(np.random.default_rng(10_000 + s), X.shape[1], 10, cfg.dd_init_std)  # unseen init
            for name, (Xs, ys, k) in {"distilled": (X_syn, y_syn, cfg.dd_steps),
                                      "random real": (X_real, y_real, cfg.dd_steps),
                                      f"random real, {cfg.dd_long_steps} steps": (X_real, y_real, cfg.dd_long_steps),
                                      "full training set": (X, y, cfg.dd_steps),
                                      f"full set, {cfg.dd_long_steps} steps": (X, y, cfg.dd_long_steps)}.items():
                W = dfk.train_linear(softmax_ce_grad, Xs, ys, W0, cfg.dd_lr, k)
                rows[name].append(dfk.linear_accuracy(W, Xte, yte))
        results[n] = rows
    print(f"linear softmax regression, {cfg.dd_steps} GD steps at lr {cfg.dd_lr} from W0 ~ N(0, {cfg.dd_init_std}^2); "
          f"test accuracy (mean ± std over seeds {cfg.seeds})")
    print(f"{'images':>6} " + " ".join(f"{k:>23}" for k in results[cfg.dd_per_class[0]]))
    for n, rows in results.items():
        print(f"{10 * n:>6} " + " ".join(f"{_ms(v):>23}" for v in rows.values()))
        for key, v in zip(("distilled", "real", "real_long", "full", "full_long"), rows.values()):
            _record(figures, f"dd_{10 * n}_{key}", v)
    return {"results": results, "images": images}


def plot_distilled(dd: dict, cfg: Config) -> None:
    """The distilled images of seed 0 (one row per class for 1/class; the first image of each class otherwise)."""
    ns = sorted({n for n, _ in dd["images"]})
    fig, axes = plt.subplots(len(ns), 10, figsize=(10, 1.2 * len(ns)), squeeze=False)
    for r, n in enumerate(ns):
        X_syn = dd["images"][n, cfg.seeds[0]]
        for c in range(10):
            axes[r, c].imshow(X_syn[c * n].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(f"{n}/class", fontsize=8)
    fig.suptitle("distilled images (seed 0)")
    plt.show()


# --- Lab 1's teacher and students -------------------------------------------------------------------------
def teacher(data, cfg: Config, figures: Figures | None = None):
    """Lab 1's teacher (seed 0), trained on all training images."""
    t, _ = lab01.train_teacher(data, cfg.lab01_config(), figures)
    return t


_STUDENTS: dict = {}


def student_accuracy(data, cfg: Config, seed: int, teacher_model=None, T: float = 4.0, alpha: float = 0.9) -> float:
    """Test accuracy of ``train_student``; a setting trained once (the same student appears in two tables)."""
    key = (id(data), cfg, seed, teacher_model, T, alpha)  # the model itself: kept alive, compared by identity
    if key not in _STUDENTS:
        _STUDENTS[key] = accuracy(train_student(data, cfg, seed, teacher_model, T, alpha), data.X_test, data.y_test)
    return _STUDENTS[key]


def train_student(data, cfg: Config, seed: int, teacher_model=None, T: float = 4.0, alpha: float = 0.9):
    """Lab 1's student on the training set, with cross-entropy (no teacher) or Lab 1's KD loss."""
    set_seed(seed)
    student = MLP(64, cfg.student_hidden, 10)
    kw = {} if teacher_model is None else {"teacher": teacher_model, "loss_fn": dfk.kd_loss_fn(T, alpha)}
    train_classifier(student, data.X_train, data.y_train, epochs=cfg.student_epochs, lr=cfg.student_lr,
                     batch_size=cfg.batch_size, seed=seed, **kw)
    return student


# --- data-free KD -----------------------------------------------------------------------------------------
def data_free(data_free_kd_losses, bn_statistics_loss, teacher_model, data, cfg: Config,
              figures: Figures | None = None) -> dict:
    """Students that never see a real image (generator, with and without the BN-statistics term; plain noise)
    against KD on real data and no KD. Checks the torch losses against the student's NumPy functions first."""
    rng = np.random.default_rng(0)
    t, s = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    for kind in ("l1", "kl"):
        mine = data_free_kd_losses(t, s, kind, 1.0)[0]
        torch_d = dfk.disagreement_torch(torch.tensor(t), torch.tensor(s), kind).item()
        print(f"sanity: your data_free_kd_losses({kind!r}) {mine:.6f}, torch {torch_d:.6f}")
    stats = dfk.stored_statistics(teacher_model, data.X_train)
    f = rng.normal(size=(8, stats[0].numel()))
    print(f"sanity: your bn_statistics_loss {bn_statistics_loss(f, stats[0].numpy(), stats[1].numpy()):.4f}, "
          f"torch {dfk.bn_statistics_loss_torch(torch.tensor(f, dtype=torch.float32), *stats).item():.4f}")
    rows = {name: [] for name in ("no KD (real labels)", "KD on real images", "generator (L1)", "generator (L1) + BN stats",
                                  "uniform noise, no generator")}
    for s_ in cfg.seeds:
        acc = lambda m: accuracy(m, data.X_test, data.y_test)  # noqa: E731
        rows["no KD (real labels)"].append(student_accuracy(data, cfg, s_))
        rows["KD on real images"].append(student_accuracy(data, cfg, s_, teacher_model, *cfg.kd))
        for name, kw in (("generator (L1)", {}), ("generator (L1) + BN stats", {"bn_weight": cfg.df_bn_weight}),
                         ("uniform noise, no generator", {"generator": False})):
            set_seed(s_)
            student = MLP(64, cfg.student_hidden, 10)
            dfk.train_data_free(teacher_model, student, iters=cfg.df_iters, batch=cfg.df_batch, stats=stats, seed=s_,
                                **kw)
            rows[name].append(acc(student))
    print(f"\nstudent MLP 64 -> {cfg.student_hidden[0]} -> 10, test accuracy (mean ± std over seeds {cfg.seeds}); "
          f"teacher {accuracy(teacher_model, data.X_test, data.y_test):.3f}")
    for (name, v), key in zip(rows.items(), ("nokd", "kd_real", "gen", "gen_bn", "noise")):
        print(f"{name:>30}: {_ms(v)}")
        _record(figures, f"df_{key}", v)
    return rows


# --- nasty teacher ----------------------------------------------------------------------------------------
def nasty(nasty_teacher_grad, soft_label_entropy, dark_knowledge_stats, normal_teacher, data, cfg: Config,
          figures: Figures | None = None) -> dict:
    """A nasty teacher trained (with your gradient) against the normal one; its soft labels; and what students
    distilled from each reach, with Lab 1's KD (T, alpha = cfg.kd) and a skeptical student (higher T, lower alpha)."""
    set_seed(0)
    bad = MLP(64, cfg.teacher_hidden, 10)
    dfk.train_nasty_teacher(nasty_teacher_grad, bad, normal_teacher, data.X_train, data.y_train,
                            epochs=cfg.nasty_epochs, lr=cfg.teacher_lr, batch=cfg.batch_size, T=cfg.nasty_T,
                            omega=cfg.nasty_omega, seed=0)
    out = {"teachers": {}, "students": {}}
    print(f"teachers on the test set (soft labels at T = {cfg.kd[0]}):")
    print(f"{'':>8} {'accuracy':>9} {'entropy':>8} {'p[y]':>7} {'non-target':>11} {'non-target H / log 9':>21}")
    for name, m in (("normal", normal_teacher), ("nasty", bad)):
        z = predict_logits(m, data.X_test).astype(np.float64)
        H = float(np.mean(soft_label_entropy(z, cfg.kd[0])))
        stats = np.asarray(dark_knowledge_stats(z, data.y_test.astype(np.int64), cfg.kd[0]))
        a = accuracy(m, data.X_test, data.y_test)
        out["teachers"][name] = (a, H, *stats)
        print(f"{name:>8} {a:>9.3f} {H:>8.3f} {stats[0]:>7.3f} {stats[1]:>11.3f} {stats[2]:>21.3f}")
        if figures is not None:
            figures[f"nasty_{name}_teacher_acc"], figures[f"nasty_{name}_entropy"] = a, H
            figures[f"nasty_{name}_p_target"], figures[f"nasty_{name}_nontarget_entropy"] = stats[0], stats[2]
    rows = {}
    for name, m in (("normal", normal_teacher), ("nasty", bad)):
        for variant, (T, alpha) in (("KD", cfg.kd),
                                    ("skeptical", cfg.skeptical)):
            rows[name, variant] = [student_accuracy(data, cfg, s, m, T, alpha) for s in cfg.seeds]
    rows["none", "CE"] = [student_accuracy(data, cfg, s) for s in cfg.seeds]
    print(f"\nstudents (MLP 64 -> {cfg.student_hidden[0]} -> 10), test accuracy (mean ± std over seeds {cfg.seeds}):")
    print(f"  no teacher (cross-entropy):                       {_ms(rows['none', 'CE'])}")
    for name in ("normal", "nasty"):
        print(f"  {name:>6} teacher, KD T = {cfg.kd[0]:g}, alpha = {cfg.kd[1]:g}:            {_ms(rows[name, 'KD'])}")
        print(f"  {name:>6} teacher, skeptical T = {cfg.skeptical[0]:g}, alpha = {cfg.skeptical[1]:g}:    "
              f"{_ms(rows[name, 'skeptical'])}")
    for (name, variant), v in rows.items():
        _record(figures, f"nasty_student_{name}_{variant.lower()}", v)
    out["students"] = rows
    return out
