"""Lab 4's experiments (low-rank compression of a digits MLP and a small CNN), called by
labsrc/lab04_lowrank.py. Every function that uses one of the student's exercises takes it as an
argument. ``Config()`` is the size the answers were measured at; ``Config.quick()`` runs in seconds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from labkit.experiments import ExperimentConfig, Figures
from labkit.lowrank import (LowRankConv2d, SmallCNN, Tucker2Conv2d, compress_mlp, layer_inputs, prune_mlp,
                            weight_count, weight_matrices)
from labkit.training import MLP, accuracy, set_seed, train_classifier

@dataclass(frozen=True)
class Config(ExperimentConfig):
    hidden: tuple = (256, 256)
    epochs: int = 20
    lr: float = 2e-3
    ft_epochs: int = 3  # fine-tuning after compression
    ft_lr: float = 1e-3
    ranks: tuple = (1, 2, 4, 8, 16, 32, 48)  # common rank of the two hidden layers; 48 < 51 = break-even of 64 x 256
    energies: tuple = (0.5, 0.8, 0.9, 0.95)
    cnn_epochs: int = 15
    conv_ranks: tuple = (1, 2, 4, 8, 12, 16)

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), hidden=(32, 32), epochs=2, ft_epochs=1, ranks=(1, 4, 16), energies=(0.5, 0.9),
                   cnn_epochs=1, conv_ranks=(1, 4))


@dataclass
class Dense:
    """The trained dense MLPs (one per seed), their initial weights, and their test accuracy."""
    data: object
    cfg: Config
    nets: dict
    init_nets: dict
    accuracy: np.ndarray

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [W.shape for W in weight_matrices(self.nets[self.cfg.seeds[0]])]

    @property
    def weights(self) -> int:
        return sum(m * n for m, n in self.shapes)

    def test_acc(self, model) -> float:
        return accuracy(model, self.data.X_test, self.data.y_test)

    def fine_tuned(self, model, seed: int):
        train_classifier(model, self.data.X_train, self.data.y_train, epochs=self.cfg.ft_epochs, lr=self.cfg.ft_lr,
                         batch_size=self.cfg.batch_size, seed=seed)
        return model

    def compressed_weights(self, factorised_params, r: int) -> int:
        """Weights of the network with both hidden layers at rank r (the output layer kept dense)."""
        (m1, n1), (m2, n2), (m3, n3) = self.shapes
        return factorised_params(m1, n1, r) + factorised_params(m2, n2, r) + m3 * n3


def train_dense(data, cfg: Config, figures: Figures | None = None) -> Dense:
    nets, init_nets = {}, {}
    for s in cfg.seeds:
        set_seed(s)
        init_nets[s] = MLP(64, cfg.hidden, 10)
        nets[s] = MLP(64, cfg.hidden, 10)
        nets[s].load_state_dict(init_nets[s].state_dict())  # the same initial weights, kept for the spectra
        train_classifier(nets[s], data.X_train, data.y_train, epochs=cfg.epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=s)
    dense = Dense(data, cfg, nets, init_nets, np.array([accuracy(nets[s], data.X_test, data.y_test) for s in cfg.seeds]))
    print(f"MLP 64 -> {cfg.hidden[0]} -> {cfg.hidden[1]} -> 10, layer shapes {dense.shapes}, {dense.weights:,} weights")
    print(f"dense test accuracy {dense.accuracy.mean():.3f} ± {dense.accuracy.std():.3f} "
          f"(seeds {cfg.seeds}: {np.round(dense.accuracy, 3)})")
    if figures is not None:
        figures["dense_acc_mean"], figures["dense_acc_std"] = dense.accuracy.mean(), dense.accuracy.std()
    return dense


def lecture_example(truncated_svd, low_rank_factors, figures: Figures | None = None) -> None:
    """The lecture's 3 x 2 example, by the student's SVD and by hand, and the slide's rank-1 matrix."""
    A = np.array([[3.0, 2.0], [2.0, 3.0], [1.0, 0.0]])
    U, S, Vt = truncated_svd(A, 2)
    print("singular values (your truncated_svd):", np.round(S, 4))
    print("A^T A =", (A.T @ A).tolist(), f"  trace {np.trace(A.T @ A):.0f}, det {np.linalg.det(A.T @ A):.0f}")
    print(f"by hand: sigma^2 = (27 +- sqrt(577)) / 2 -> sigma = {np.sqrt((27 + np.sqrt(577)) / 2):.4f}, "
          f"{np.sqrt((27 - np.sqrt(577)) / 2):.4f}")
    W1, W2 = low_rank_factors(A, 1)
    A1 = W1 @ W2
    print("\nrank-1 approximation A_1 = sigma_1 u_1 v_1^T:\n", np.round(A1, 4))
    print("u_1 =", np.round(U[:, 0], 4), " v_1 =", np.round(Vt[0], 4))
    print(f"||A - A_1||_F = {np.linalg.norm(A - A1):.4f}  (sigma_2 = {S[1]:.4f}: the only value dropped)")
    print(f"||A - A_1||_2 = {np.linalg.norm(A - A1, 2):.4f}")
    print("\n                     sigma_1^2 + sigma_2^2    sigma_1 * sigma_2")
    print(f"must equal           ||A||_F^2 = {np.sum(A**2):<12.4f} sqrt(det(A^T A)) = {np.sqrt(np.linalg.det(A.T @ A)):.4f}")
    print(f"yours                {np.sum(S**2):<24.4f} {S[0] * S[1]:.4f}")
    print(f"the slide's          {5.24**2 + 1.31**2:<24.4f} {5.24 * 1.31:.4f}")
    slide_A1 = np.array([[2.9, 2.7], [2.7, 2.9], [1.3, 1.2]])
    slide_S = np.linalg.svd(slide_A1, compute_uv=False)
    print("\nthe slide's A_1: singular values", np.round(slide_S, 4),
          f"(rank {np.linalg.matrix_rank(slide_A1)}), ||A - slide A_1||_F = {np.linalg.norm(A - slide_A1):.4f}")
    if figures is not None:
        figures["slide_sigma1"], figures["slide_sigma2"] = S[0], S[1]
        figures["slide_frobenius_sq"], figures["slide_sigma_product"] = np.sum(S**2), S[0] * S[1]
        figures["slide_A1_err_fro"] = np.linalg.norm(A - A1)
        for i in range(3):
            for j in range(2):
                figures[f"slide_A1_{i}{j}"] = A1[i, j]
        figures["slide_wrong_A1_sigma1"], figures["slide_wrong_A1_sigma2"] = slide_S
        figures["slide_wrong_A1_minor"] = 2.9 * 2.9 - 2.7 * 2.7
        figures["slide_wrong_A1_err_fro"] = np.linalg.norm(A - slide_A1)
        # what answer 1 quotes: the invariants, the usual slips, and how well A_1 reproduces each row
        G = A.T @ A
        figures["slide_A_fro"], figures["slide_det_gram"] = np.sqrt(np.sum(A**2)), np.linalg.det(G)
        figures["slide_pair_frobenius_sq"], figures["slide_pair_product"] = 5.24**2 + 1.31**2, 5.24 * 1.31
        figures["slide_pair_det"], figures["slide_pair_ratio"] = (5.24 * 1.31) ** 2, 5.24 / 1.31
        figures["slide_gram_eig1"], figures["slide_gram_eig2"] = np.linalg.eigvalsh(G)[::-1]
        centred = np.linalg.svd(A - A.mean(axis=0), compute_uv=False)
        figures["slide_centred_sigma1"], figures["slide_centred_sigma2"] = centred
        figures["slide_3_plus_sqrt5"] = 3 + np.sqrt(5)
        figures["slide_v1_0"], figures["slide_v1_1"] = abs(Vt[0, 0]), abs(Vt[0, 1])
        figures["slide_u1_2"] = abs(U[2, 0])
        for i in range(3):
            figures[f"slide_A1_row{i + 1}_err"] = np.linalg.norm(A[i] - A1[i])
        figures["slide_A1_row3_percent_off"] = 100 * np.linalg.norm(A[2] - A1[2]) / np.linalg.norm(A[2])


def spectra(truncated_svd, rank_for_energy, break_even_rank, dense: Dense, figures: Figures | None = None) -> dict:
    """Singular values of each layer, trained against at initialisation (seed 0): table and plot."""
    s0 = dense.cfg.seeds[0]
    out = {kind: [truncated_svd(W, min(W.shape))[1] for W in weight_matrices(model)]
           for kind, model in (("trained", dense.nets[s0]), ("init", dense.init_nets[s0]))}
    print(f"{'layer':>12} {'':>8} {'r(50%)':>7} {'r(90%)':>7} {'r(99%)':>7} {'break-even':>11} {'sigma_1':>8}")
    for i, (m, n) in enumerate(dense.shapes):
        for kind in ("trained", "init"):
            S = out[kind][i]
            ranks = [rank_for_energy(S, e) for e in (0.5, 0.9, 0.99)]
            print(f"{f'{m} x {n}':>12} {kind:>8} {ranks[0]:>7} {ranks[1]:>7} {ranks[2]:>7} "
                  f"{break_even_rank(m, n):>11} {S[0]:>8.2f}")
            if figures is not None:
                for e, r in zip((50, 90, 99), ranks):
                    figures[f"layer{i + 1}_{kind}_rank{e}"] = r
                figures[f"layer{i + 1}_{kind}_sigma1"] = S[0]
                figures[f"layer{i + 1}_break_even"] = break_even_rank(m, n)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for i, ax in enumerate(axes):
        for kind, style in (("trained", "-"), ("init", "--")):
            S = out[kind][i]
            ax.plot(np.arange(1, len(S) + 1), S / S[0], style, label=kind)
        ax.axvline(break_even_rank(*dense.shapes[i]), color="gray", ls=":", label="break-even rank")
        ax.set(title=f"layer {i + 1}: {dense.shapes[i][0]} x {dense.shapes[i][1]}", xlabel="index i",
               ylabel="sigma_i / sigma_1", yscale="log")
        ax.legend()
    plt.tight_layout()
    plt.show()
    return out


def svd_accuracies(low_rank_factors, dense: Dense, results: dict, r: int) -> None:
    """results["svd", r, False / True]: rank-r SVD truncation of both hidden layers, before / after fine-tuning."""
    if ("svd", r, True) in results:
        return
    plain, tuned = [], []
    for s in dense.cfg.seeds:
        low = compress_mlp(dense.nets[s], [r, r, None], low_rank_factors)
        plain.append(dense.test_acc(low))
        tuned.append(dense.test_acc(dense.fine_tuned(low, s)))
    results["svd", r, False], results["svd", r, True] = np.array(plain), np.array(tuned)


def truncation(truncated_svd, low_rank_factors, rank_for_energy, factorised_params, break_even_rank,
               dense: Dense, results: dict, figures: Figures | None = None) -> None:
    """Accuracy against rank (with and without fine-tuning), then ranks chosen by energy."""
    cfg = dense.cfg
    for r in cfg.ranks:
        svd_accuracies(low_rank_factors, dense, results, r)
        low = compress_mlp(dense.nets[cfg.seeds[0]], [r, r, None], low_rank_factors)
        assert weight_count(low) == dense.compressed_weights(factorised_params, r)  # torch agrees with yours
    print(f"dense: {dense.weights:,} weights, accuracy {dense.accuracy.mean():.3f} ± {dense.accuracy.std():.3f}\n")
    print(f"{'rank':>5} {'weights':>8} {'ratio':>6} {'SVD, no fine-tuning':>22} {'SVD + fine-tuning':>20}")
    for r in cfg.ranks:
        a, b = results["svd", r, False], results["svd", r, True]
        n = dense.compressed_weights(factorised_params, r)
        print(f"{r:>5} {n:>8,} {dense.weights / n:>5.1f}x {a.mean():>14.3f} ± {a.std():.3f} {b.mean():>12.3f} ± {b.std():.3f}")
        if figures is not None:
            figures[f"svd_r{r}_acc_mean"], figures[f"svd_r{r}_ft_acc_mean"] = a.mean(), b.mean()
            figures[f"svd_r{r}_acc_std"], figures[f"svd_r{r}_ft_acc_std"] = a.std(), b.std()
            figures[f"r{r}_weights"], figures[f"r{r}_ratio"] = n, dense.weights / n
    print(f"\n{'energy':>7} {'ranks':>10} {'ratio':>6} {'accuracy (no fine-tuning)':>27}")
    for e in cfg.energies:
        accs, ratios, chosen = [], [], []
        for s in cfg.seeds:
            Ws = weight_matrices(dense.nets[s])
            ranks = [rank_for_energy(truncated_svd(W, min(W.shape))[1], e) for W in Ws[:2]]
            ranks = [r if r <= break_even_rank(*W.shape) else None for r, W in zip(ranks, Ws)]  # never at a loss
            low = compress_mlp(dense.nets[s], ranks + [None], low_rank_factors)
            accs.append(dense.test_acc(low))
            ratios.append(dense.weights / weight_count(low))
            chosen.append(ranks)
        print(f"{e:>7} {str(chosen[0]):>10} {np.mean(ratios):>5.1f}x {np.mean(accs):>19.3f} ± {np.std(accs):.3f}"
              f"   (seed 0's ranks; None = kept dense)")
        if figures is not None:
            key = f"energy{round(100 * e)}"
            for i, r in enumerate(chosen[0]):
                if r is not None:  # None: kept dense
                    figures[f"{key}_layer{i + 1}_rank_seed0"] = r
            figures[f"{key}_ratio"], figures[f"{key}_acc_mean"], figures[f"{key}_acc_std"] = (
                np.mean(ratios), np.mean(accs), np.std(accs))
    if figures is not None:
        figures["dense_weights"] = dense.weights


def _relative_output_error(X, W, W1, W2) -> float:
    return float(np.linalg.norm(X @ W - X @ W1 @ W2) / np.linalg.norm(X @ W))


def data_aware(low_rank_factors, data_aware_low_rank, dense: Dense, results: dict,
               figures: Figures | None = None) -> None:
    """Data-aware against plain SVD factorisation: accuracy (paired) and layer-2 output error on test images."""
    cfg, data = dense.cfg, dense.data
    calibration = {s: layer_inputs(dense.nets[s], data.X_train) for s in cfg.seeds}
    test_inputs = {s: layer_inputs(dense.nets[s], data.X_test) for s in cfg.seeds}
    errors = {}
    for r in cfg.ranks:
        svd_accuracies(low_rank_factors, dense, results, r)
        accs, err_plain, err_aware = [], [], []
        for s in cfg.seeds:
            aware = compress_mlp(dense.nets[s], [r, r, None], data_aware_low_rank, calibration=calibration[s])
            accs.append(dense.test_acc(aware))
            W, X_test = weight_matrices(dense.nets[s])[1], test_inputs[s][1]
            err_plain.append(_relative_output_error(X_test, W, *low_rank_factors(W, r)))
            err_aware.append(_relative_output_error(X_test, W, *data_aware_low_rank(calibration[s][1], W, r)))
        results["aware", r, False] = np.array(accs)
        errors[r] = (np.mean(err_plain), np.mean(err_aware))
    print(f"{'rank':>5} {'plain SVD acc':>16} {'data-aware acc':>17} {'paired gain':>12} "
          f"{'layer-2 output error on test':>30}")
    for r in cfg.ranks:
        a, b = results["svd", r, False], results["aware", r, False]
        print(f"{r:>5} {a.mean():>10.3f} ± {a.std():.3f} {b.mean():>11.3f} ± {b.std():.3f} {(b - a).mean():>+12.3f}"
              f"     plain {errors[r][0]:.3f}  aware {errors[r][1]:.3f}")
        if figures is not None:
            figures[f"aware_r{r}_gain"] = (b - a).mean()
            figures[f"aware_r{r}_acc_mean"], figures[f"aware_r{r}_acc_std"] = b.mean(), b.std()
            figures[f"aware_r{r}_err_plain"], figures[f"aware_r{r}_err_aware"] = errors[r]


def pruning(low_rank_factors, factorised_params, dense: Dense, results: dict, figures: Figures | None = None) -> None:
    """Magnitude pruning to the weight count of each rank, against low rank, before and after fine-tuning."""
    cfg, shapes = dense.cfg, dense.shapes
    for r in cfg.ranks:
        svd_accuracies(low_rank_factors, dense, results, r)
        plain, tuned = [], []
        for s in cfg.seeds:
            keep = [factorised_params(m, n, r) for m, n in shapes[:2]] + [None]
            pruned = prune_mlp(dense.nets[s], keep)
            assert weight_count(pruned) == dense.compressed_weights(factorised_params, r)  # same count as rank r
            plain.append(dense.test_acc(pruned))
            tuned.append(dense.test_acc(dense.fine_tuned(pruned, s)))
        results["prune", r, False], results["prune", r, True] = np.array(plain), np.array(tuned)
    print(f"{'rank':>5} {'weights':>8} {'density':>8} | {'no fine-tuning':^29} | {'after fine-tuning':^29}")
    print(f"{'':>5} {'':>8} {'':>8} | {'low rank':>14} {'pruning':>14} | {'low rank':>14} {'pruning':>14}")
    for r in cfg.ranks:
        n = dense.compressed_weights(factorised_params, r)
        density = (n - shapes[2][0] * shapes[2][1]) / sum(m * k for m, k in shapes[:2])
        row = f"{r:>5} {n:>8,} {density:>8.3f} |"
        for ft in (False, True):
            for method in ("svd", "prune"):
                a = results[method, r, ft]
                row += f" {a.mean():>7.3f} ± {a.std():.3f}"
                if figures is not None:
                    figures[f"{method}_r{r}_{'ft_' if ft else ''}acc_mean"] = a.mean()
                    figures[f"{method}_r{r}_{'ft_' if ft else ''}acc_std"] = a.std()
            if figures is not None:
                figures[f"r{r}_density"] = density
            row += " |"
        print(row)


def plot_compression(factorised_params, dense: Dense, results: dict) -> None:
    """Accuracy against compression ratio for every method measured, without and with fine-tuning."""
    ranks = dense.cfg.ranks
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    ratios = [dense.weights / dense.compressed_weights(factorised_params, r) for r in ranks]
    for ax, ft in zip(axes, (False, True)):
        for method, label in (("svd", "low rank (SVD)"), ("aware", "low rank (data-aware)"),
                              ("prune", "magnitude pruning")):
            if (method, ranks[0], ft) not in results:
                continue
            accs = [results[method, r, ft] for r in ranks]
            ax.errorbar(ratios, [a.mean() for a in accs], yerr=[a.std() for a in accs], marker="o", capsize=3,
                        label=label)
        ax.axhline(dense.accuracy.mean(), color="k", ls=":", label="dense")
        ax.set_xscale("log")
        ax.set(xlabel="compression ratio (dense weights / kept weights)", ylabel="test accuracy",
               title="after 3 epochs of fine-tuning" if ft else "no fine-tuning")
        ax.legend()
    plt.tight_layout()
    plt.show()


def conv(conv_lowrank_factors, tucker2_hosvd, break_even_rank, data, cfg: Config,
         figures: Figures | None = None) -> None:
    """The second conv layer of a small CNN: channel factorisation against Tucker-2 at about equal weights."""
    set_seed(0)
    cnn = SmallCNN()
    train_classifier(cnn, data.X_train, data.y_train, epochs=cfg.cnn_epochs, lr=2e-3, batch_size=cfg.batch_size, seed=0)
    cnn_acc = accuracy(cnn, data.X_test, data.y_test)
    K = cnn.conv2.weight.detach().double().numpy()  # (32, 16, 3, 3)
    bias = cnn.conv2.bias.detach()
    c_out, c_in, k, _ = K.shape
    print(f"SmallCNN test accuracy {cnn_acc:.3f}; conv2 kernel {K.shape}: {K.size:,} weights, "
          f"{64 * K.size:,} MACs per image")
    print(f"break-even rank of the unfolding ({c_out} x {c_in * k * k}): {break_even_rank(c_out, c_in * k * k)}\n")

    def with_conv2(layer) -> float:
        model = copy.deepcopy(cnn)
        model.conv2 = layer
        return accuracy(model, data.X_test, data.y_test)

    print(f"{'method':>22} {'ranks':>10} {'weights':>8} {'MACs/image':>11} {'accuracy':>9}")
    for r in cfg.conv_ranks:
        K1, K2 = conv_lowrank_factors(K, r)
        params = K1.size + K2.size  # r c_in k^2 + c_out r
        acc = with_conv2(LowRankConv2d.from_factors(K1, K2, bias=bias, padding=1))
        print(f"{'k x k then 1 x 1':>22} {r:>10} {params:>8,} {64 * params:>11,} {acc:>9.3f}")
        # Tucker-2 with r_in = r_out = t, the largest t whose weights do not exceed the channel factorisation's
        t = max(t for t in range(1, c_in + 1) if c_in * t + t * t * k * k + t * c_out <= params)
        core, U_out, U_in = tucker2_hosvd(K, t, t)
        t_params = core.size + U_out.size + U_in.size
        acc_t = with_conv2(Tucker2Conv2d.from_factors(core, U_out, U_in, bias=bias, padding=1))
        print(f"{'Tucker-2 (HOSVD)':>22} {f'{t}, {t}':>10} {t_params:>8,} {64 * t_params:>11,} {acc_t:>9.3f}")
        if figures is not None:
            figures[f"conv_r{r}_acc"], figures[f"conv_r{r}_params"] = acc, params
            figures[f"tucker_r{r}_acc"], figures[f"tucker_r{r}_params"] = acc_t, t_params
            figures[f"tucker_r{r}_rank"] = t
    if figures is not None:
        figures["cnn_acc"] = cnn_acc
        figures["conv2_weights"], figures["conv2_break_even"] = K.size, break_even_rank(c_out, c_in * k * k)
