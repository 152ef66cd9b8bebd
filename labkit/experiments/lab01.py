"""Lab 1's experiments (knowledge distillation on the 8×8 digits), called by labsrc/lab01_distillation.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the notebook's answers were measured at; ``Config.quick()`` runs in seconds (tests).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from labkit.distillation_torch import hard_label_kd_loss_torch, kd_loss_torch
from labkit.experiments import ExperimentConfig, Figures
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier

@dataclass(frozen=True)
class Config(ExperimentConfig):
    teacher_hidden: tuple = (256, 256)
    teacher_epochs: int = 40
    teacher_lr: float = 1e-3
    student_hidden: tuple = (16,)
    student_lr: float = 1e-2
    student_steps: int = 600  # every student gets the same number of Adam steps
    temperatures: tuple = (1, 2, 4, 8, 16)  # the T sweep, at alpha = alpha_fixed
    alphas: tuple = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)  # the alpha sweep, at T = t_fixed
    t_fixed: float = 4.0
    alpha_fixed: float = 0.9
    n_scarce: int = 5  # labelled training images per class in the data-scarce regime
    sizes: tuple = ("5/class", "10/class", "20/class", "50/class", "full")

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), teacher_hidden=(32,), teacher_epochs=3, student_steps=20, temperatures=(1, 4),
                   alphas=(0.0, 0.9), sizes=("5/class", "full"))

    @property
    def regimes(self) -> tuple:
        return ("full", f"{self.n_scarce}/class")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_teacher(data, cfg: Config, figures: Figures | None = None):
    """The teacher MLP (seed 0) on all training images; prints its size and accuracies."""
    set_seed(0)
    teacher = MLP(64, cfg.teacher_hidden, 10)
    hist = train_classifier(teacher, data.X_train, data.y_train, epochs=cfg.teacher_epochs, lr=cfg.teacher_lr,
                            batch_size=cfg.batch_size, seed=0, X_val=data.X_val, y_val=data.y_val)
    acc = {"train": accuracy(teacher, data.X_train, data.y_train), "val": hist.val_accuracy[-1],
           "test": accuracy(teacher, data.X_test, data.y_test)}
    print(f"teacher: MLP {teacher.extra_repr()}, {n_params(teacher):,} parameters")
    print(f"teacher accuracy: train {acc['train']:.3f}, val {acc['val']:.3f}, test {acc['test']:.3f}")
    print(f"student: MLP {MLP(64, cfg.student_hidden, 10).extra_repr()}, "
          f"{n_params(MLP(64, cfg.student_hidden, 10)):,} parameters")
    if figures is not None:
        for split, value in acc.items():
            figures[f"teacher_{split}_accuracy"] = value
        figures["teacher_params"] = n_params(teacher)
    return teacher, hist


def plot_teacher(hist) -> None:
    fig, ax = plt.subplots(1, 2, figsize=(10, 3))
    ax[0].plot(hist.train_loss)
    ax[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="teacher: training loss")
    ax[1].plot(hist.val_accuracy)
    ax[1].set(xlabel="epoch", ylabel="validation accuracy", title="teacher: validation accuracy")
    plt.tight_layout()
    plt.show()


def soft_target_stats(softmax_t, logits: np.ndarray, temperatures, figures: Figures | None = None) -> dict:
    """T -> (mean top-class probability, mean runner-up probability) of ``softmax_t(logits, T)``; printed."""
    out = {}
    for T in temperatures:
        p = softmax_t(logits, T)
        out[T] = (float(p.max(axis=1).mean()), float(np.sort(p, axis=1)[:, -2].mean()))
        print(f"T = {T:>2}: teacher's mean top-class probability on the training images {out[T][0]:.4f}, "
              f"mean probability of the runner-up {out[T][1]:.4f}")
        if figures is not None:
            figures[f"teacher_top_prob_T{T:g}"], figures[f"teacher_runner_up_prob_T{T:g}"] = out[T]
    return out


def typical_test_digit(softmax_t, logits: np.ndarray, y: np.ndarray) -> int:
    """Among the images the teacher gets right, the one whose runner-up probability at T = 1 is the median."""
    p1 = softmax_t(logits, 1.0)
    correct = np.flatnonzero(p1.argmax(axis=1) == y)
    runner_up = np.sort(p1[correct], axis=1)[:, -2]
    return int(correct[np.argsort(runner_up)[len(runner_up) // 2]])


def plot_soft_targets(softmax_t, image: np.ndarray, label: int, logits: np.ndarray, temperatures, i: int) -> None:
    """The digit and the teacher's distribution for it at each temperature (true class in red)."""
    fig, axes = plt.subplots(1, 1 + len(temperatures), figsize=(17, 3), layout="constrained",
                             gridspec_kw={"width_ratios": [0.7] + [1] * len(temperatures)})
    axes[0].imshow(image.reshape(8, 8), cmap="gray_r")
    axes[0].set_title(f"test image {i} (a {label})")
    axes[0].axis("off")
    for ax, T in zip(axes[1:], temperatures):
        ax.bar(range(10), softmax_t(logits, T), color=["C3" if c == label else "C0" for c in range(10)])
        ax.set(title=f"T = {T}", xticks=range(10), ylim=(0, 1), xlabel="class")
    axes[1].set_ylabel("teacher's probability")
    fig.suptitle("The teacher's soft targets for one test digit (true class in red)")
    plt.show()


def sanity_check(kd_loss, hard_label_kd_loss, X_train, y_train, teacher_logits, cfg: Config) -> float:
    """The student's NumPy losses against the PyTorch ones on 128 training images; returns the largest |diff|."""
    idx = np.random.default_rng(0).choice(len(X_train), size=128, replace=False)
    set_seed(0)
    z_s = predict_logits(MLP(64, cfg.student_hidden, 10), X_train[idx]).astype(np.float64)  # (128, 10) untrained
    z_t, y = teacher_logits[idx], y_train[idx]  # (128, 10), (128,)
    zs, zt, yt = torch.from_numpy(z_s), torch.from_numpy(z_t), torch.from_numpy(y)
    worst = 0.0
    for T, alpha in [(1.0, 0.5), (4.0, 0.9), (16.0, 1.0)]:
        ours, ref = kd_loss(z_s, z_t, y, T=T, alpha=alpha), kd_loss_torch(zs, zt, yt, T=T, alpha=alpha).item()
        worst = max(worst, abs(ours - ref))
        print(f"kd_loss            T = {T:>4}, alpha = {alpha}: numpy {ours:.12f}  torch {ref:.12f}  |diff| {abs(ours - ref):.1e}")
    ours, ref = hard_label_kd_loss(z_s, z_t, y, alpha=0.5), hard_label_kd_loss_torch(zs, zt, yt, alpha=0.5).item()
    print(f"hard_label_kd_loss             alpha = 0.5: numpy {ours:.12f}  torch {ref:.12f}  |diff| {abs(ours - ref):.1e}")
    return max(worst, abs(ours - ref))


def _make_loss(method: tuple):
    """("ce",) -> None (plain cross-entropy); ("kd", T, alpha) -> Hinton KD; ("hard", alpha) -> DeiT."""
    if method[0] == "ce":
        return None
    if method[0] == "kd":
        return functools.partial(kd_loss_torch, T=method[1], alpha=method[2])
    if method[0] == "hard":
        return functools.partial(hard_label_kd_loss_torch, alpha=method[1])
    raise ValueError(f"method must be ('ce',), ('kd', T, alpha) or ('hard', alpha), got {method!r}")


class Students:
    """Trained students by (regime, method, seed), trained on demand and cached (nothing is trained twice).

    ``regime`` is "full" (all training images) or "n/class" (n random labelled images per class, drawn
    from the seed); ``method`` is ("ce",), ("kd", T, alpha) or ("hard", alpha). One seed gives every
    method the same initial weights, batches and images: comparisons between methods are paired.
    """

    def __init__(self, data, teacher, cfg: Config):
        self.data, self.teacher, self.cfg, self.cache = data, teacher, cfg, {}

    def __len__(self) -> int:
        return len(self.cache)

    def training_set(self, regime: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.data
        if regime == "full":
            return d.X_train, d.y_train
        n = int(regime.split("/")[0])
        rng = np.random.default_rng(seed)  # which images are labelled depends on the seed, too
        idx = np.concatenate([rng.choice(np.flatnonzero(d.y_train == c), n, replace=False) for c in range(10)])
        return d.X_train[idx], d.y_train[idx]

    def __call__(self, regime: str, method: tuple, seed: int) -> torch.nn.Module:
        key = (regime, method, seed)
        if key not in self.cache:
            X, y = self.training_set(regime, seed)
            loss_fn = _make_loss(method)
            set_seed(seed)
            model = MLP(64, self.cfg.student_hidden, 10)
            epochs = math.ceil(self.cfg.student_steps / math.ceil(len(X) / self.cfg.batch_size))
            train_classifier(model, X, y, epochs=epochs, lr=self.cfg.student_lr, batch_size=self.cfg.batch_size,
                             seed=seed, loss_fn=loss_fn, teacher=None if loss_fn is None else self.teacher)
            self.cache[key] = model
        return self.cache[key]

    def test_accuracy(self, regime: str, method: tuple) -> np.ndarray:
        """Test accuracy, one entry per seed."""
        return np.array([accuracy(self(regime, method, s), self.data.X_test, self.data.y_test)
                         for s in self.cfg.seeds])

    @staticmethod
    def describe(method: tuple) -> str:
        return {"ce": "no KD (cross-entropy only)", "kd": "KD  T = {1:g}, alpha = {2:g}",
                "hard": "hard-label KD (DeiT), alpha = {1:g}"}[method[0]].format(*method)


def figure_key(regime: str, method: tuple) -> str:
    """A figure's name: ``acc_5class_kd_T8_a0.9``, ``acc_full_ce``, ``acc_full_hard_a0.5``."""
    r = regime.replace("/", "")
    m = {"ce": "ce", "kd": "kd_T{1:g}_a{2:g}", "hard": "hard_a{1:g}"}[method[0]].format(*method)
    return f"acc_{r}_{m}"


def methods(cfg: Config) -> list[tuple]:
    return ([("ce",)] + [("kd", float(T), cfg.alpha_fixed) for T in cfg.temperatures]
            + [("kd", cfg.t_fixed, a) for a in cfg.alphas if a != cfg.alpha_fixed] + [("hard", 0.5)])


def sweep(students: Students, cfg: Config, figures: Figures | None = None) -> dict:
    """(regime, method) -> accuracies per seed for every method; prints mean ± std and the paired gain."""
    results = {(r, m): students.test_accuracy(r, m) for r in cfg.regimes for m in methods(cfg)}
    print(f"test accuracy, mean ± std over seeds {cfg.seeds}; paired gain = mean over seeds of (method - no KD)")
    print(f"{'':38}" + "".join(f"{r + ' (' + str(len(students.training_set(r, 0)[0])) + ' images)':>34}"
                               for r in cfg.regimes))
    for m in methods(cfg):
        row = f"{Students.describe(m):38}"
        for r in cfg.regimes:
            acc, gain = results[r, m], results[r, m] - results[r, ("ce",)]
            row += f"{acc.mean():>14.3f} ± {acc.std():.3f}" + (f"  ({gain.mean():+.3f})" if m != ("ce",) else " " * 10)
            if figures is not None:
                figures[figure_key(r, m) + "_mean"], figures[figure_key(r, m) + "_std"] = acc.mean(), acc.std()
                if m != ("ce",):
                    figures[figure_key(r, m) + "_gain"] = gain.mean()
        print(row)
    return results


def _baseline_band(ax, base: np.ndarray) -> None:
    ax.axhspan(base.mean() - base.std(), base.mean() + base.std(), color="gray", alpha=0.2)
    ax.axhline(base.mean(), color="gray", ls="--", label="no KD (mean ± std)")


def plot_sweep(results: dict, cfg: Config, over: str) -> None:
    """Student accuracy against T (``over="T"``, log₂ axis) or alpha (``over="alpha"``), per regime."""
    titles = {"full": "full training set (1,078 labelled images)",
              f"{cfg.n_scarce}/class": f"{cfg.n_scarce} labelled images per class ({10 * cfg.n_scarce} images)"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, r in zip(axes, cfg.regimes):
        _baseline_band(ax, results[r, ("ce",)])
        if over == "T":
            xs, accs = cfg.temperatures, [results[r, ("kd", float(T), cfg.alpha_fixed)] for T in cfg.temperatures]
            label, xlabel = f"KD, alpha = {cfg.alpha_fixed}", "temperature T"
        else:
            xs, accs = cfg.alphas, [results[r, ("kd", cfg.t_fixed, a)] for a in cfg.alphas]
            label, xlabel = f"KD, T = {cfg.t_fixed:g}", "alpha (weight of the soft term)"
        ax.errorbar(xs, [a.mean() for a in accs], yerr=[a.std() for a in accs], marker="o", capsize=4, label=label)
        if over == "T":
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(T) for T in xs])
        ax.set(xlabel=xlabel, ylabel="student test accuracy", title=titles[r])
        ax.legend(loc="best")
    if over == "T":
        fig.suptitle(f"Student ({cfg.student_hidden[0]} hidden units) test accuracy against T, "
                     f"mean ± std over {len(cfg.seeds)} seeds")
    plt.tight_layout()
    plt.show()


def data_size(students: Students, cfg: Config, figures: Figures | None = None) -> dict:
    """size -> (images per class, no-KD accuracies, KD accuracies at t_fixed, alpha_fixed); printed."""
    kd = ("kd", cfg.t_fixed, cfg.alpha_fixed)
    out = {}
    for r in cfg.sizes:
        b, k = students.test_accuracy(r, ("ce",)), students.test_accuracy(r, kd)
        out[r] = (len(students.training_set(r, 0)[0]) / 10, b, k)
        print(f"{r:>9}: no KD {b.mean():.3f} ± {b.std():.3f}   KD {k.mean():.3f} ± {k.std():.3f}   "
              f"paired gain {(k - b).mean():+.3f}")
        if figures is not None:
            figures[f"size_{r.replace('/', '')}_gain"] = (k - b).mean()
    return out


def plot_data_size(sizes: dict, teacher_accuracy: float, cfg: Config) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    size_n = [n for n, _, _ in sizes.values()]
    for i, label in [(1, "no KD"), (2, f"KD, T = {cfg.t_fixed:g}, alpha = {cfg.alpha_fixed}")]:
        accs = [v[i] for v in sizes.values()]
        ax.errorbar(size_n, [a.mean() for a in accs], yerr=[a.std() for a in accs], marker="o", capsize=4, label=label)
    ax.axhline(teacher_accuracy, color="k", ls=":", label="teacher (all 1,078 images)")
    ax.set_xscale("log")
    ax.set_xticks(size_n, [r.split("/")[0] if r != "full" else f"all\n(≈{n:.0f})" for r, n in zip(sizes, size_n)])
    ax.minorticks_off()
    ax.set(xlabel="labelled training images per class (log scale)", ylabel="student test accuracy")
    ax.legend()
    plt.tight_layout()
    plt.show()


def loyalty(softmax_t, label_loyalty, probability_loyalty, students: Students, results: dict,
            teacher_logits: np.ndarray, cfg: Config, figures: Figures | None = None) -> None:
    """Accuracy, label and probability loyalty to the teacher on the test images, averaged over seeds."""
    X, y = students.data.X_test, students.data.y_test
    p_teacher = softmax_t(teacher_logits, 1.0)  # (N, 10)
    best_T = {r: max(cfg.temperatures, key=lambda T: results[r, ("kd", float(T), cfg.alpha_fixed)].mean())
              for r in cfg.regimes}
    print(f"{'':45}{'test acc':>10}{'label loyalty':>15}{'prob. loyalty':>15}")
    for r in cfg.regimes:
        for m in [("ce",), ("kd", cfg.t_fixed, cfg.alpha_fixed),
                  ("kd", float(best_T[r]), cfg.alpha_fixed), ("hard", 0.5)]:
            acc, ll, pl = [], [], []
            for s in cfg.seeds:
                p_student = softmax_t(predict_logits(students(r, m, s), X).astype(np.float64), 1.0)
                acc.append(accuracy(students(r, m, s), X, y))
                ll.append(label_loyalty(p_student, p_teacher))
                pl.append(probability_loyalty(p_student, p_teacher))
            print(f"{r:>8} {Students.describe(m):36}{np.mean(acc):>10.3f}{np.mean(ll):>15.3f}{np.mean(pl):>15.3f}")
            if figures is not None:
                figures[figure_key(r, m) + "_label_loyalty"] = np.mean(ll)
                figures[figure_key(r, m) + "_prob_loyalty"] = np.mean(pl)


def majority_vote(majority_vote_accuracy, students: Students, cfg: Config, figures: Figures | None = None, *,
                  majority_vote_bounds=None) -> None:
    """The no-KD students of each regime as an ensemble: the independent-errors formula against the vote.

    With ``majority_vote_bounds`` (Exercise 11) it also prints the range any k voters of the measured
    accuracy can reach whatever their correlation; the measured binary vote lies inside it.
    """
    X, y = students.data.X_test, students.data.y_test
    k = len(cfg.seeds)
    for r in cfg.regimes:
        preds = np.stack([predict_logits(students(r, ("ce",), s), X).argmax(axis=1) for s in cfg.seeds])  # (k, N)
        right = preds == y  # (k, N)
        p = right.mean()
        at_least_half = (right.sum(axis=0) > k // 2).mean()  # the binary event the formula models
        # a plurality vote over the classes (when all k disagree, the first student decides)
        vote = np.array([np.bincount(col, minlength=10).argmax() if len(set(col)) < k else col[0] for col in preds.T])
        both_wrong = np.mean([(~right[a] & ~right[b]).mean() for a in range(k) for b in range(a + 1, k)])
        print(f"{r:>8}: mean single accuracy {p:.3f} | independent-errors formula {majority_vote_accuracy(p, k):.3f} | "
              f"measured: >= {k // 2 + 1} of {k} right {at_least_half:.3f}, plurality vote {(vote == y).mean():.3f} | "
              f"P(two students both wrong) {both_wrong:.4f} vs (1 - p)^2 = {(1 - p) ** 2:.4f} "
              f"({both_wrong / (1 - p) ** 2:.1f}x)")
        if majority_vote_bounds is not None:
            lo, hi = majority_vote_bounds(p, k)
            print(f"{'':>10}any {k} voters at p = {p:.3f}: the vote lies in [{lo:.3f}, {hi:.3f}]; "
                  f"measured >= {k // 2 + 1} of {k} right {at_least_half:.3f}")
        if figures is not None:
            key = r.replace("/", "")
            figures[f"vote_{key}_single"], figures[f"vote_{key}_plurality"] = p, (vote == y).mean()
            figures[f"vote_{key}_formula"], figures[f"vote_{key}_both_wrong"] = majority_vote_accuracy(p, k), both_wrong
