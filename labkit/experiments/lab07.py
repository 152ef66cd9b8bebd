"""Lab 7's experiments (2-party secure inference and AutoReP), called by labsrc/lab07_private_inference.py.

The student's protocol functions travel together as an ``MPC`` (exercises 1–7); the other functions
that use an exercise take it as an argument. ``Config()`` is the size the answers were measured at;
``Config.quick()`` runs in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from labkit.autorep import AutoRepMLP, relu_count, train_autorep
from labkit.experiments import ExperimentConfig, Figures
from labkit.private_inference import (Comm, Dealer, beaver_matmul_cost, beaver_mul_cost, beaver_square_cost, relu_cost,
                                      secure_relu)
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier

FRAC = 16  # fractional bits of the fixed-point encoding


@dataclass(frozen=True)
class Config(ExperimentConfig):
    seeds: tuple = (0, 1)
    hidden: tuple = (32, 32, 32)
    plain_epochs: int = 30
    shares: int = 100_000  # secrets shared for the histograms
    truncation_trials: int = 400_000
    budgets: tuple = (0, 4, 16, 48, 96)
    search_epochs: int = 8
    finetune_epochs: int = 4

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(plain_epochs=3, shares=5_000, truncation_trials=20_000, budgets=(0, 16, 96), search_epochs=1,
                   finetune_epochs=1)


@dataclass(frozen=True)
class MPC:
    """The student's protocol: fixed point (1, 2), sharing (3, 4), Beaver products (5, 6), truncation (7)."""
    encode_fixed: Callable
    decode_fixed: Callable
    share: Callable
    reconstruct: Callable
    beaver_mul: Callable
    beaver_matmul: Callable
    truncate_shares: Callable


def what_a_server_sees(mpc: MPC, dealer: Dealer, cfg: Config, figures: Figures | None = None) -> None:
    """Party 1's share and the opened e = x - a look uniform whatever the secret (histograms, chi-square)."""
    n = cfg.shares
    secrets = {"x = 0": np.zeros(n, np.uint64),
               "x = enc(123.456)": np.full(n, mpc.encode_fixed(np.array(123.456), FRAC), np.uint64)}
    fig, ax = plt.subplots(1, 2, figsize=(11, 3))
    for label, x in secrets.items():
        x0, x1 = mpc.share(x, dealer.mask(x.shape))
        assert np.array_equal(mpc.reconstruct(x0, x1), x)
        ax[0].hist((x1 >> np.uint64(56)).astype(int), bins=64, range=(0, 256), histtype="step", label=label)
        y = mpc.encode_fixed(np.full(n, 2.0), FRAC)
        triple = dealer.triple((n,))
        (z0, z1), (e, f) = mpc.beaver_mul((x0, x1), mpc.share(y, dealer.mask(y.shape)), triple)
        ax[1].hist((e >> np.uint64(56)).astype(int), bins=64, range=(0, 256), histtype="step", label=label)
        top = (x1 >> np.uint64(61)).astype(int)
        chi2 = ((np.bincount(top, minlength=8) - n / 8) ** 2 / (n / 8)).sum()
        print(f"{label:>18}: chi-square of party 1's share (top 3 bits, 7 dof) = {chi2:5.1f};  beaver product decodes "
              f"to {mpc.decode_fixed(mpc.reconstruct(z0, z1), 2 * FRAC)[:1]} "
              f"(expected {2 * mpc.decode_fixed(x[:1], FRAC)})")
    ax[0].set(title="party 1's share x1 (top 8 bits)", xlabel="value", ylabel="count")
    ax[1].set(title="opened e = x - a (top 8 bits)", xlabel="value")
    for a in ax:
        a.legend(loc="lower right")
    plt.tight_layout()
    plt.show()
    draws = [dealer.triple((1000,))[0] for _ in range(20)]
    a_values = np.concatenate([a0 + a1 for a0, a1 in draws])
    print(f"dealer: {len(a_values):,} triple elements drawn, {len(np.unique(a_values)):,} distinct values of a")
    if figures is not None:
        figures["dealer_a_drawn"], figures["dealer_a_distinct"] = len(a_values), len(np.unique(a_values))


def truncation_failures(share, reconstruct, truncate_shares, dealer: Dealer, cfg: Config) -> list[tuple]:
    """How often local truncation of shares fails for |x| near 2^k, against the predicted |x| / 2^64; printed."""
    rows = []
    for log2x in (40, 50, 52, 54, 56):
        for sign in (1, -1):
            v = sign * (2**log2x + 12345)
            x = np.full(cfg.truncation_trials, v % 2**64, dtype=np.uint64)
            y0, y1 = truncate_shares(*share(x, dealer.mask(x.shape)), FRAC)
            got = reconstruct(y0, y1).view(np.int64)  # the truncated value, in units of 2^-f
            diff = got - np.int64(v >> FRAC)  # minus floor(x / 2^f): 0 or 1 when all is well
            small = np.isin(diff, (0, 1))
            rows.append((sign * log2x, (~small).mean(), abs(v) / 2**64, np.unique(diff[small]).tolist(),
                         np.abs(diff[~small]).min() if (~small).any() else 0))
    print(f"{'x ~ +-2^k':>10}{'failure rate':>15}{'|x| / 2^64':>14}   small errors   smallest large error")
    for k, rate, pred, smalls, big in rows:
        print(f"{k:>10}{rate:>15.2e}{pred:>14.2e}   {str(smalls):<14} {big:.3g}"
              + (f" (2^64/2^f = {2**(64 - FRAC):.3g})" if big else ""))
    return rows


def train_plain(data, cfg: Config):
    set_seed(0)
    plain = MLP(64, cfg.hidden, 10)
    train_classifier(plain, data.X_train, data.y_train, epochs=cfg.plain_epochs, lr=3e-3, batch_size=cfg.batch_size,
                     seed=0)
    print(f"plain MLP {plain.extra_repr()}: test accuracy {accuracy(plain, data.X_test, data.y_test):.3f}, "
          f"{sum(cfg.hidden)} ReLUs per image")
    return plain


def layers_of(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W (in, out), b (out,)) float64 arrays of every Linear layer, in order."""
    lins = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    return [(lin.weight.detach().double().numpy().T.copy(), lin.bias.detach().double().numpy().copy()) for lin in lins]


def secure_forward(mpc: MPC, layers, X, dealer: Dealer, comm: Comm, acts=None) -> np.ndarray:
    """Two-party inference on shares; the opened logits. acts[i] = (keep (width,) bool, coef (width, 3)) per
    hidden layer: keep -> secure ReLU, otherwise c0 + c1 x + c2 x^2 with public coefficients; None: all ReLU."""
    N = X.shape[0]
    x = mpc.share(mpc.encode_fixed(X, FRAC), dealer.mask(X.shape))  # the client's input, shared
    for i, (W, b) in enumerate(layers):
        Ws = mpc.share(mpc.encode_fixed(W, FRAC), dealer.mask(W.shape))  # the server's weights, shared
        bs = mpc.share(mpc.encode_fixed(b, FRAC), dealer.mask(b.shape))
        (z0, z1), _ = mpc.beaver_matmul(x, Ws, dealer.matmul_triple(N, *W.shape))
        comm.add("linear", beaver_matmul_cost(N, *W.shape))
        z0, z1 = mpc.truncate_shares(z0, z1, FRAC)
        z0, z1 = z0 + bs[0], z1 + bs[1]  # (N, out): adding shares is local
        if i == len(layers) - 1:
            return mpc.decode_fixed(mpc.reconstruct(z0, z1), FRAC)  # the logits are opened
        keep, coef = acts[i] if acts is not None else (np.ones(W.shape[1], bool), None)
        y0, y1 = np.empty_like(z0), np.empty_like(z1)
        if keep.any():
            y0[:, keep], y1[:, keep] = secure_relu(z0[:, keep], z1[:, keep], dealer, comm)
        if (~keep).any():
            p0, p1 = z0[:, ~keep], z1[:, ~keep]
            (s0, s1), _ = mpc.beaver_mul((p0, p1), (p0, p1), dealer.square(p0.shape))  # x^2 from a Beaver pair
            comm.add("poly (square)", beaver_square_cost(p0.size))
            s0, s1 = mpc.truncate_shares(s0, s1, FRAC)
            c = [np.broadcast_to(mpc.encode_fixed(coef[~keep, k], FRAC), p0.shape) for k in range(3)]
            with np.errstate(over="ignore"):  # public coefficients: local products, then truncation
                t0, t1 = mpc.truncate_shares(c[1] * p0 + c[2] * s0, c[1] * p1 + c[2] * s1, FRAC)
                y0[:, ~keep], y1[:, ~keep] = t0 + c[0], t1  # party 0 adds the constant
        x = (y0, y1)


def secure_inference(mpc: MPC, plain, data, figures: Figures | None = None) -> Comm:
    """The plain MLP run on shares over the test images: agreement with plain inference and the traffic."""
    import time

    comm = Comm()
    t0 = time.perf_counter()
    secure_logits = secure_forward(mpc, layers_of(plain), data.X_test.astype(np.float64), Dealer(seed=1), comm)
    secure_s = time.perf_counter() - t0
    plain_logits = predict_logits(plain, data.X_test)
    agree = secure_logits.argmax(1) == plain_logits.argmax(1)
    n_test = len(data.y_test)
    print(f"secure inference of {n_test} test images in {secure_s:.1f} s (both parties simulated in one process)")
    print(f"secure and plain predictions agree on {agree.sum()} of {n_test} test images ({100 * agree.mean():.2f}%)")
    print(f"secure test accuracy {(secure_logits.argmax(1) == data.y_test).mean():.3f}; "
          f"max |secure - plain logit| = {np.abs(secure_logits - plain_logits).max():.2e}")
    print()
    print(comm.table())
    relu_share = comm.bytes["relu"] / comm.total_bytes
    print(f"\nper image: {comm.total_bytes / n_test / 1024:.1f} KiB, of which ReLUs {100 * relu_share:.1f}% "
          f"({relu_cost(1)[0]:.0f} bytes and {relu_cost(1)[1]} rounds per ReLU; a linear layer is 1 round)")
    if figures is not None:
        figures["secure_agreement"], figures["secure_kib_per_image"] = agree.mean(), comm.total_bytes / n_test / 1024
        figures["secure_relu_share"] = relu_share
        figures["secure_relu_percent"] = 100 * relu_share
        figures["secure_rounds"], figures["secure_relu_rounds"] = comm.total_rounds, comm.rounds["relu"]
        figures["relu_bytes_each"], figures["relu_rounds_each"] = relu_cost(1)
        figures["product_bytes_each"], figures["square_bytes_each"] = beaver_mul_cost(1)[0], beaver_square_cost(1)[0]
        figures["secure_test_accuracy"] = (secure_logits.argmax(1) == data.y_test).mean()
    return comm


def dapa(dapa_gaussian_fit, plain, data, figures: Figures | None = None) -> None:
    """DaPa's Gaussian fit per neuron against a Monte-Carlo fit and one N(0, 1) fit; all ReLUs replaced."""
    base = AutoRepMLP(plain)
    pre = base.preactivations(data.X_train)  # per hidden layer, (N, width)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    ratio = np.abs(pre[0].mean(0)) / pre[0].std(0)  # |mu| / sd: small = inputs on both sides of 0
    order = np.argsort(ratio)
    for ax, j in zip(axes, (order[0], order[len(order) // 2], order[-1])):
        z = pre[0][:, j].astype(np.float64)
        mu, sd = z.mean(), z.std()
        fits = ((dapa_gaussian_fit(mu, sd, 2), "DaPa N(mu, sd)"),
                (np.polyfit(z, np.maximum(z, 0), 2)[::-1], "Monte Carlo"),  # least squares on the real inputs
                (dapa_gaussian_fit(0.0, 1.0, 2), "N(0, 1) fit"))
        grid = np.linspace(z.min(), z.max(), 200)
        ax.hist(z, bins=40, density=True, color="0.85", label="inputs (density)")
        ax2 = ax.twinx()
        ax2.plot(grid, np.maximum(grid, 0), "k", lw=2, label="ReLU")
        for c, name in fits:
            ax2.plot(grid, np.polyval(c[::-1], grid), label=name)
            mse = np.mean((np.maximum(z, 0) - np.polyval(c[::-1], z)) ** 2)
            print(f"neuron {j:2d} (mu {mu:+.2f}, sd {sd:.2f}) {name:>15}: c = {np.round(c, 4)}, MSE on its inputs {mse:.2e}")
        ax.set(title=f"layer 1, neuron {j}", xlabel="pre-activation")
        ax2.legend(fontsize=7, loc="upper left")
    plt.tight_layout()
    plt.show()

    def replace_all(fit) -> float:
        m = AutoRepMLP(plain)
        m.init_polynomials(data.X_train, fit)
        for a in m.acts:
            a.mask.zero_()
            a.frozen = True
        return accuracy(m, data.X_test, data.y_test)

    per_neuron, standard = replace_all(dapa_gaussian_fit), replace_all(lambda mu, sd: dapa_gaussian_fit(0.0, 1.0, 2))
    n_relu = sum(a.mask.numel() for a in base.acts)
    print(f"\nall {n_relu} ReLUs replaced, no retraining: DaPa per neuron {per_neuron:.3f}, "
          f"N(0, 1) fit for all {standard:.3f}, plain ReLU network {accuracy(plain, data.X_test, data.y_test):.3f}")
    if figures is not None:
        figures["dapa_replace_all_acc"], figures["n01_replace_all_acc"] = per_neuron, standard
        figures["plain_acc"], figures["n_relu"] = accuracy(plain, data.X_test, data.y_test), n_relu
        figures["dapa_replace_all_cost"] = figures["plain_acc"] - per_neuron
        figures["n01_replace_all_cost"] = figures["plain_acc"] - standard


def comm_per_image(n_relu: int, cfg: Config, batch: int) -> float:
    """Estimated bytes per image of secure inference with n_relu ReLUs kept (the rest as squares)."""
    dims = [64, *cfg.hidden, 10]
    lin = sum(beaver_matmul_cost(batch, i, o)[0] for i, o in zip(dims[:-1], dims[1:]))
    return (lin + relu_cost(batch * n_relu)[0] + beaver_square_cost(batch * (sum(cfg.hidden) - n_relu))[0]) / batch


def autorep(dapa_gaussian_fit, plain, data, cfg: Config, figures: Figures | None = None) -> dict:
    """AutoReP (learned ReLU placement) against random placement at each ReLU budget; (B, method, seed) -> run."""
    import time

    n_relu, n_test = sum(cfg.hidden), len(data.y_test)
    runs = {}
    t0 = time.perf_counter()
    for B in cfg.budgets:
        for method in ("AutoReP", "random"):
            if method == "random" and B in (0, n_relu):
                continue  # nothing to choose
            for s in cfg.seeds:
                torch.manual_seed(s)
                m = AutoRepMLP(plain)
                m.init_polynomials(data.X_train, dapa_gaussian_fit)
                keep = None
                if method == "random":
                    keep = np.zeros(n_relu, bool)
                    keep[np.random.default_rng(s).choice(n_relu, B, replace=False)] = True
                hist = train_autorep(m, data.X_train, data.y_train, budget=B, search_epochs=cfg.search_epochs,
                                     finetune_epochs=cfg.finetune_epochs, lr=1e-3, aux_lr=1.0, lam=1.0, t=0.1, seed=s,
                                     mask_init=keep)
                runs[B, method, s] = (accuracy(m, data.X_test, data.y_test), relu_count(m), hist["searched_count"], m)
    print(f"trained {len(runs)} networks in {time.perf_counter() - t0:.1f} s\n")
    print(f"{'budget':>6} {'ReLUs':>6} {'KiB/image':>10} {'AutoReP acc':>14} {'random acc':>14}  count after search")
    for B in cfg.budgets:
        a = [runs[B, "AutoReP", s][0] for s in cfg.seeds]
        r = [runs[B, "random", s][0] for s in cfg.seeds] if (B, "random", cfg.seeds[0]) in runs else None
        rs = f"{np.mean(r):.3f} ± {np.std(r):.3f}" if r else "—"
        print(f"{B:>6} {runs[B, 'AutoReP', cfg.seeds[0]][1]:>6} {comm_per_image(B, cfg, n_test) / 1024:>10.1f} "
              f"{np.mean(a):>8.3f} ± {np.std(a):.3f} {rs:>14}  {[runs[B, 'AutoReP', s][2] for s in cfg.seeds]}")
        if figures is not None:
            figures[f"autorep_budget{B}_acc_mean"], figures[f"autorep_budget{B}_acc_std"] = np.mean(a), np.std(a)
            figures[f"autorep_budget{B}_kib_per_image"] = comm_per_image(B, cfg, n_test) / 1024
            if r:
                figures[f"random_budget{B}_acc_mean"], figures[f"random_budget{B}_acc_std"] = np.mean(r), np.std(r)
    print(f"plain ReLU network: {accuracy(plain, data.X_test, data.y_test):.3f} with {n_relu} ReLUs, "
          f"{comm_per_image(n_relu, cfg, n_test) / 1024:.1f} KiB/image")
    return runs


def plot_pareto(runs: dict, plain, data, cfg: Config) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    kib = [comm_per_image(B, cfg, len(data.y_test)) / 1024 for B in cfg.budgets]
    for ax, xs, xlabel in ((axes[0], cfg.budgets, f"ReLUs kept (of {sum(cfg.hidden)})"),
                           (axes[1], kib, "estimated communication per image (KiB)")):
        for method, marker in (("AutoReP", "o"), ("random", "s")):
            pts = [(x, [runs[B, method, s][0] for s in cfg.seeds]) for x, B in zip(xs, cfg.budgets)
                   if (B, method, cfg.seeds[0]) in runs]
            ax.errorbar([p[0] for p in pts], [np.mean(p[1]) for p in pts], yerr=[np.std(p[1]) for p in pts],
                        marker=marker, capsize=4, label=method)
        ax.axhline(accuracy(plain, data.X_test, data.y_test), color="gray", ls="--", label="plain ReLU network")
        ax.set(xlabel=xlabel, ylabel="test accuracy")
        ax.legend()
    plt.tight_layout()
    plt.show()


def secure_autorep(mpc: MPC, runs: dict, comm_all_relu: Comm, data, cfg: Config, budget: int = 16) -> None:
    """The budget-16 AutoReP network run on shares: agreement, and measured against estimated traffic."""
    m = runs[budget, "AutoReP", cfg.seeds[0]][3]
    acts = [(a.mask.numpy().copy(), a.coef.detach().double().numpy()) for a in m.acts]
    comm = Comm()
    logits = secure_forward(mpc, layers_of(m), data.X_test.astype(np.float64), Dealer(seed=2), comm, acts)
    agree = (logits.argmax(1) == predict_logits(m, data.X_test).argmax(1)).mean()
    n_test = len(data.y_test)
    print(comm.table())
    print(f"\nbudget {budget}: secure vs plain predictions agree on {100 * agree:.2f}% of test images; "
          f"measured {comm.total_bytes / n_test / 1024:.1f} KiB/image, estimated "
          f"{comm_per_image(budget, cfg, n_test) / 1024:.1f} KiB/image; "
          f"all-ReLU network {comm_all_relu.total_bytes / n_test / 1024:.1f} KiB/image")
