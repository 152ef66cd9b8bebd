"""Lab 10's experiments (distillation for efficiency), called by labsrc/lab10_blockwise.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the answers were measured at; ``Config.quick()`` runs in seconds (tests). Timings (figure names
ending in ``_s``) depend on the machine and its load and are never claimed; epochs-to-target, MACs
and accuracies are deterministic for a seed on one machine.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from labkit.blockwise import (BlockCNN, SeparableConv2d, block_activations, conv_macs, mse_logit_loss_torch,
                              prune_filters_l1, separable_block, seeded, train_blocks_job, train_with_schedule,
                              with_blocks, worker_ready)
from labkit.distillation_torch import kd_loss_torch
from labkit.experiments import ExperimentConfig, Figures
from labkit.lowrank import SmallCNN
from labkit.training import accuracy, train_classifier


@dataclass(frozen=True)
class Config(ExperimentConfig):
    widths: tuple = (16, 32, 32, 32)
    teacher_epochs: int = 10
    lr: float = 2e-3
    block_epochs: int = 8
    block_lr: float = 3e-3
    threshold: float = 0.05  # craft: total validation-accuracy drop allowed
    ft_epochs: int = 2  # fine-tuning of the reassembled (or pruned) network, with KD from the teacher
    kd_T: float = 4.0
    kd_alpha: float = 0.9
    workers: tuple = (1, 2)
    parallel_repeats: int = 2
    p_static_w: float = 10.0  # energy model: the node's static power (W) ...
    p_core_w: float = 15.0  # ... plus this per busy core (W), times the CPU seconds used
    small_cnn: tuple = (16, 32)  # KD for training efficiency: SmallCNN teacher and student of one size
    kd_teacher_epochs: int = 12
    early_teacher_epochs: int = 2
    kd_epochs: int = 10
    stop_fractions: tuple = (0.25, 0.5)

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), widths=(4, 8), teacher_epochs=1, block_epochs=1, ft_epochs=1, parallel_repeats=1,
                   small_cnn=(4, 8), kd_teacher_epochs=1, early_teacher_epochs=1, kd_epochs=2)


def _ms(a) -> str:
    a = np.asarray(a, dtype=float)
    return f"{a.mean():.3f} ± {a.std():.3f}"


@dataclass
class Teachers:
    data: object
    cfg: Config
    models: dict
    test_acc: np.ndarray


def train_teachers(data, cfg: Config, figures: Figures | None = None) -> Teachers:
    """One BlockCNN teacher per seed, trained with cross-entropy."""
    models = {}
    for s in cfg.seeds:
        models[s] = seeded(lambda: BlockCNN(cfg.widths), s)
        train_classifier(models[s], data.X_train, data.y_train, epochs=cfg.teacher_epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=s)
    acc = np.array([accuracy(models[s], data.X_test, data.y_test) for s in cfg.seeds])
    print(f"teacher BlockCNN {' -> '.join(map(str, (1, *cfg.widths)))} ({conv_macs(models[cfg.seeds[0]]):,} conv MACs"
          f" an image): test accuracy {_ms(acc)}   (seeds {cfg.seeds})")
    if figures is not None:
        figures["teacher_acc_mean"] = acc.mean()
    return Teachers(data, cfg, models, acc)


def sanity(depthwise_separable_conv, block_loss, mse_logit_loss) -> None:
    """The student's NumPy functions against the torch modules the experiments train."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8))
    layer = SeparableConv2d(3, 5).double()
    with torch.no_grad():
        layer.pointwise.bias.zero_()
        ours = layer(torch.from_numpy(x)).numpy()
    K_dw = layer.depthwise.weight.detach().numpy()[:, 0]  # (C, k, k)
    K_pw = layer.pointwise.weight.detach().numpy()[:, :, 0, 0]  # (C_out, C)
    d1 = np.max(np.abs(depthwise_separable_conv(x, K_dw, K_pw, 1) - ours))
    s, t = rng.standard_normal((4, 5, 3, 3)), rng.standard_normal((4, 5, 3, 3))
    d2 = abs(block_loss(s, t)[0] - torch.nn.functional.mse_loss(torch.from_numpy(s), torch.from_numpy(t)).item())
    zs, zt = rng.standard_normal((6, 10)), rng.standard_normal((6, 10))
    d3 = abs(mse_logit_loss(zs, zt)[0] - mse_logit_loss_torch(torch.from_numpy(zs), torch.from_numpy(zt)).item())
    print(f"your depthwise_separable_conv vs torch: max difference {d1:.1e}; block_loss vs F.mse_loss: {d2:.1e}; "
          f"mse_logit_loss vs the torch loss: {d3:.1e}")


def _model_macs(separable_cost, model: BlockCNN, replaced) -> int:
    """Conv MACs of the teacher architecture with the blocks in ``replaced`` made separable (your separable_cost)."""
    chans = (1, *model.widths)
    total = 0
    for i in range(len(model.widths)):
        dense_p, sep_p, dense_m, sep_m = separable_cost(chans[i], chans[i + 1], 3, 8, 8)
        total += sep_m if replaced[i] else dense_m
    return int(total)


def _fine_tune(model, teacher, data, cfg, seed):
    train_classifier(model, data.X_train, data.y_train, epochs=cfg.ft_epochs, lr=cfg.lr / 2, batch_size=cfg.batch_size,
                     seed=seed, teacher=teacher,
                     loss_fn=lambda zs, zt, y: kd_loss_torch(zs, zt, y, cfg.kd_T, cfg.kd_alpha))
    return model


def _pruned_at(model: BlockCNN, macs: int) -> BlockCNN:
    """The widest uniformly narrowed L1-pruned network with at most ``macs`` conv MACs."""
    best = None
    for keep_frac in np.linspace(1.0, 0.05, 96):
        keep = [max(1, int(round(w * keep_frac))) for w in model.widths]
        chans = (1, *keep)
        m = sum(9 * a * b * 64 for a, b in zip(chans[:-1], chans[1:]))
        if m <= macs:
            best = keep
            break
    return prune_filters_l1(model, best or [1] * len(model.widths))


def craft(depthwise_separable_conv, separable_cost, block_loss, replacement_plan, tc: Teachers,
          figures: Figures | None = None) -> dict:
    """Craft distillation of every teacher: train each separable block on cached activations, accept by the
    threshold (bottom-up and top-down), reassemble, fine-tune; against L1 filter pruning at equal MACs."""
    cfg, data = tc.cfg, tc.data
    B = len(cfg.widths)
    chans = (1, *cfg.widths)
    rows = {k: [] for k in ("teacher", "all", "bottom_up", "top_down", "bottom_up_ft", "top_down_ft",
                            "pruned", "pruned_ft")}
    macs, drops_all, block_times, final_losses, blocks_by_seed = {}, [], [], [], {}
    for s in cfg.seeds:
        teacher = tc.models[s]
        acts = block_activations(teacher, data.X_train)
        blocks = {}
        times = []
        for i in range(B):
            torch.manual_seed(s + i)
            job = {"blocks": [(i, chans[i], chans[i + 1], acts[i], acts[i + 1])], "epochs": cfg.block_epochs,
                   "lr": cfg.block_lr, "batch_size": cfg.batch_size, "seed": s}
            out = train_blocks_job(job)
            blocks[i] = separable_block(chans[i], chans[i + 1])
            blocks[i].load_state_dict(out["states"][i])
            blocks[i].eval()
            times.append(out["times"][i])
            with torch.no_grad():  # the local loss on the training activations, with your block_loss
                pred = blocks[i](torch.from_numpy(acts[i])).numpy()
            final_losses.append(block_loss(pred, acts[i + 1])[0])
        blocks_by_seed[s] = blocks
        block_times.append(times)
        t_val = accuracy(teacher, data.X_val, data.y_val)
        drops = np.array([t_val - accuracy(with_blocks(teacher, {i: blocks[i]}), data.X_val, data.y_val)
                          for i in range(B)])
        drops_all.append(drops)
        rows["teacher"].append(accuracy(teacher, data.X_test, data.y_test))
        rows["all"].append(accuracy(with_blocks(teacher, blocks), data.X_test, data.y_test))
        for order in ("bottom_up", "top_down"):
            plan = np.asarray(replacement_plan(drops, cfg.threshold, order), dtype=bool)
            macs.setdefault(order, []).append(_model_macs(separable_cost, teacher, plan))
            model = with_blocks(teacher, {i: blocks[i] for i in range(B) if plan[i]})
            rows[order].append(accuracy(model, data.X_test, data.y_test))
            rows[order + "_ft"].append(accuracy(_fine_tune(model, teacher, data, cfg, s), data.X_test, data.y_test))
            macs.setdefault(order + "_plan", []).append(plan)
        target = _model_macs(separable_cost, teacher, np.ones(B, dtype=bool))
        pruned = _pruned_at(teacher, target)
        macs.setdefault("pruned", []).append(conv_macs(pruned))
        rows["pruned"].append(accuracy(pruned, data.X_test, data.y_test))
        rows["pruned_ft"].append(accuracy(_fine_tune(pruned, teacher, data, cfg, s), data.X_test, data.y_test))
    dense = _model_macs(separable_cost, tc.models[cfg.seeds[0]], np.zeros(B, dtype=bool))
    all_sep = _model_macs(separable_cost, tc.models[cfg.seeds[0]], np.ones(B, dtype=bool))
    # the "all replaced" network, fine-tuned too (it has the MACs pruning is matched to)
    rows["all_ft"] = [accuracy(_fine_tune(with_blocks(tc.models[s], blocks_by_seed[s]), tc.models[s], data, cfg, s),
                               data.X_test, data.y_test) for s in cfg.seeds]
    drops_all = np.array(drops_all)
    print("per-block validation-accuracy drop when only that block is replaced (mean over seeds): "
          + ", ".join(f"block {i}: {d:+.3f}" for i, d in enumerate(drops_all.mean(axis=0))))
    print(f"threshold {cfg.threshold}; blocks replaced: "
          + "; ".join(f"{o}: {np.mean([p.sum() for p in macs[o + '_plan']]):.1f} of {B}" for o in ("bottom_up", "top_down")))
    print(f"\n{'network':>34} {'conv MACs':>10} {'test acc.':>14} {'after fine-tuning':>18}")
    table = (("teacher (dense)", dense, "teacher", None), ("all blocks separable", all_sep, "all", "all_ft"),
             ("craft, bottom-up", np.mean(macs["bottom_up"]), "bottom_up", "bottom_up_ft"),
             ("craft, top-down", np.mean(macs["top_down"]), "top_down", "top_down_ft"),
             ("L1 filter pruning, equal MACs", np.mean(macs["pruned"]), "pruned", "pruned_ft"))
    for name, m, k, kft in table:
        print(f"{name:>34} {m:>10,.0f} {_ms(rows[k]):>14} {_ms(rows[kft]) if kft else '':>18}")
    if figures is not None:
        figures["craft_dense_macs"], figures["craft_all_separable_macs"] = dense, all_sep
        figures["craft_pruned_macs_mean"] = np.mean(macs["pruned"])
        for k, v in rows.items():
            figures[f"craft_{k}_acc_mean"], figures[f"craft_{k}_acc_std"] = np.mean(v), np.std(v)
        for o in ("bottom_up", "top_down"):
            figures[f"craft_{o}_macs_mean"] = np.mean(macs[o])
            figures[f"craft_{o}_blocks_mean"] = np.mean([p.sum() for p in macs[o + "_plan"]])
        for i, d in enumerate(drops_all.mean(axis=0)):
            figures[f"craft_drop_block{i}_mean"] = d
        figures["craft_block_time_total_s"] = float(np.sum(block_times) / len(cfg.seeds))
    return {"rows": rows, "drops": drops_all, "block_times": np.array(block_times), "blocks": blocks_by_seed}


def _run_pool(jobs: list[dict], workers: int) -> tuple[float, float, list[dict]]:
    """Run one job per worker process (spawned, warmed up first); wall-clock of the jobs, CPU seconds, results."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(worker_ready, range(workers), chunksize=1)  # imports done: time the work, not the start-up
        t0 = time.perf_counter()
        results = pool.map(train_blocks_job, jobs, chunksize=1)
        wall = time.perf_counter() - t0
    return wall, float(sum(r["cpu"] for r in results)), results


def parallel(wfd_schedule, makespan, parallel_metrics, tc: Teachers, craft_out: dict,
             figures: Figures | None = None) -> dict:
    """Parallel blockwise distillation of seed 0's teacher on 1 and 2 worker processes, scheduled by your
    wfd_schedule on the block times measured in the craft run; speed-up, efficiency and modelled greenup."""
    cfg, data = tc.cfg, tc.data
    s = cfg.seeds[0]
    chans = (1, *cfg.widths)
    acts = block_activations(tc.models[s], data.X_train)
    est = craft_out["block_times"][0]
    blocks = [(i, chans[i], chans[i + 1], acts[i], acts[i + 1]) for i in range(len(cfg.widths))]
    out, states = {}, None
    for W in cfg.workers:
        assignment = np.asarray(wfd_schedule(est, W))
        out[W, "predicted"] = makespan(est, assignment, W)
        jobs = [{"blocks": [b for b in blocks if assignment[b[0]] == w], "epochs": cfg.block_epochs,
                 "lr": cfg.block_lr, "batch_size": cfg.batch_size, "seed": s} for w in range(W)]
        jobs = [j for j in jobs if j["blocks"]]
        runs = [_run_pool(jobs, W) for _ in range(cfg.parallel_repeats)]
        wall, cpu, results = min(runs, key=lambda r: r[0])  # the least disturbed run
        out[W, "wall"], out[W, "cpu"] = wall, cpu
        out[W, "energy"] = cfg.p_static_w * wall + cfg.p_core_w * cpu
        out[W, "assignment"] = assignment
        got = {i: st for r in results for i, st in r["states"].items()}
        if states is None:
            states = got
        else:  # the blocks are independent: where they were trained does not change them
            out["same_weights"] = all(torch.equal(states[i][k], got[i][k]) for i in states for k in states[i])
    print(f"block training times measured in the craft run (s, seed {s}): " + ", ".join(f"{t:.2f}" for t in est))
    print(f"{'workers':>8} {'schedule':>14} {'predicted T_W':>14} {'measured T_W':>13} {'CPU s':>7} "
          f"{'speed-up':>9} {'efficiency':>11} {'greenup':>8}")
    W1 = cfg.workers[0]
    for W in cfg.workers:
        S, E, G = parallel_metrics(out[W1, "wall"], out[W, "wall"], W, out[W1, "energy"], out[W, "energy"])
        out[W, "metrics"] = (S, E, G)
        print(f"{W:>8} {str(out[W, 'assignment'].tolist()):>14} {out[W, 'predicted']:>14.2f} {out[W, 'wall']:>13.2f} "
              f"{out[W, 'cpu']:>7.2f} {S:>9.2f} {E:>11.2f} {G:>8.2f}")
        if figures is not None:
            figures[f"parallel_{W}w_predicted_s"], figures[f"parallel_{W}w_wall_s"] = out[W, "predicted"], out[W, "wall"]
            figures[f"parallel_{W}w_speedup_s"], figures[f"parallel_{W}w_efficiency_s"] = S, E
            figures[f"parallel_{W}w_greenup_s"] = G
    print(f"(machine-dependent; energy modelled as {cfg.p_static_w:g} W static + {cfg.p_core_w:g} W per busy core; "
          f"blocks trained on 1 and on {cfg.workers[-1]} workers have identical weights: {out.get('same_weights')})")
    return out


def _teacher_cnn(data, cfg: Config, seed: int, epochs: int):
    model = seeded(lambda: SmallCNN(*cfg.small_cnn), 100 + seed)
    train_classifier(model, data.X_train, data.y_train, epochs=epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                     seed=100 + seed)
    return model


KD_RUNS = ("baseline (labels only)", "KD, KL, whole run", "KD, MSE on logits, whole run", "KD, KL, first 25%",
           "KD, KL, first 50%", "KD, KL, early-stopped teacher")


def kd_for_speed(time_to_target, kd_weight_schedule, data, cfg: Config, figures: Figures | None = None) -> dict:
    """A same-size SmallCNN student trained on labels, or with a teacher (KL or MSE, whole run or the first
    25 / 50% of steps, a fully trained or an early-stopped teacher): epochs and seconds to the baseline's accuracy."""
    steps = cfg.kd_epochs * -(-len(data.y_train) // cfg.batch_size)
    out = {name: {"curves": [], "test": [], "epochs_to": [], "seconds_to": []} for name in KD_RUNS}
    teacher_acc = {"full": [], "early": []}
    for s in cfg.seeds:
        full = _teacher_cnn(data, cfg, s, cfg.kd_teacher_epochs)
        early = _teacher_cnn(data, cfg, s, cfg.early_teacher_epochs)
        teacher_acc["full"].append(accuracy(full, data.X_test, data.y_test))
        teacher_acc["early"].append(accuracy(early, data.X_test, data.y_test))
        all_steps = np.arange(steps)
        settings = {
            KD_RUNS[0]: dict(),
            KD_RUNS[1]: dict(teacher=full, kd="kl", weights=kd_weight_schedule(all_steps, steps, cfg.kd_alpha, 1.0)),
            KD_RUNS[2]: dict(teacher=full, kd="mse", weights=kd_weight_schedule(all_steps, steps, cfg.kd_alpha, 1.0)),
            KD_RUNS[3]: dict(teacher=full, kd="kl", weights=kd_weight_schedule(all_steps, steps, cfg.kd_alpha,
                                                                               cfg.stop_fractions[0])),
            KD_RUNS[4]: dict(teacher=full, kd="kl", weights=kd_weight_schedule(all_steps, steps, cfg.kd_alpha,
                                                                               cfg.stop_fractions[1])),
            KD_RUNS[5]: dict(teacher=early, kd="kl", weights=kd_weight_schedule(all_steps, steps, cfg.kd_alpha, 1.0)),
        }
        for name, kw in settings.items():
            student = seeded(lambda: SmallCNN(*cfg.small_cnn), s)
            times, accs = train_with_schedule(student, data, epochs=cfg.kd_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                                              seed=s, T=cfg.kd_T, **kw)
            out[name]["curves"].append((times, accs))
            out[name]["test"].append(accuracy(student, data.X_test, data.y_test))
        target = out[KD_RUNS[0]]["curves"][-1][1][-1]  # the baseline's final validation accuracy, this seed
        epochs = np.arange(1.0, cfg.kd_epochs + 1)
        for name in KD_RUNS:
            times, accs = out[name]["curves"][-1]
            out[name]["epochs_to"].append(time_to_target(epochs, accs, target))
            out[name]["seconds_to"].append(time_to_target(times, accs, target))
    print(f"SmallCNN{cfg.small_cnn} teachers: trained {cfg.kd_teacher_epochs} epochs {_ms(teacher_acc['full'])}, "
          f"early-stopped at {cfg.early_teacher_epochs} epochs {_ms(teacher_acc['early'])}; students train "
          f"{cfg.kd_epochs} epochs (T = {cfg.kd_T}, alpha = {cfg.kd_alpha}); target = the baseline's final "
          f"validation accuracy, per seed")
    print(f"{'run':>32} {'test acc.':>14} {'epochs to target':>17} {'speed-up (epochs)':>18} {'speed-up (s)':>13}")
    base_e, base_s = np.array(out[KD_RUNS[0]]["epochs_to"]), np.array(out[KD_RUNS[0]]["seconds_to"])
    for i, name in enumerate(KD_RUNS):
        e, sec = np.array(out[name]["epochs_to"]), np.array(out[name]["seconds_to"])
        sp_e, sp_s = base_e / e, base_s / sec  # paired by seed; inf -> 0 (never reached)
        out[name]["speedup_epochs"], out[name]["speedup_s"] = sp_e, sp_s
        reached = np.isfinite(e).sum()
        print(f"{name:>32} {_ms(out[name]['test']):>14} {np.mean(e[np.isfinite(e)]) if reached else np.inf:>13.2f}"
              f" ({reached}/{len(e)}) {_ms(sp_e):>18} {_ms(sp_s):>13}")
        if figures is not None:
            key = f"kd_run{i}"
            figures[f"{key}_test_acc_mean"], figures[f"{key}_test_acc_std"] = np.mean(out[name]["test"]), np.std(out[name]["test"])
            figures[f"{key}_speedup_epochs_mean"] = sp_e.mean()
            figures[f"{key}_speedup_epochs_std"] = sp_e.std()
            figures[f"{key}_speedup_wall_s"] = sp_s.mean()
    if figures is not None:
        figures["kd_teacher_full_acc_mean"] = np.mean(teacher_acc["full"])
        figures["kd_teacher_early_acc_mean"] = np.mean(teacher_acc["early"])
    out["teacher_acc"] = teacher_acc
    return out


def plot_kd_curves(out: dict, cfg: Config) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for name in KD_RUNS:
        accs = np.array([c[1] for c in out[name]["curves"]])
        times = np.array([c[0] for c in out[name]["curves"]])
        axes[0].plot(np.arange(1, cfg.kd_epochs + 1), accs.mean(axis=0), marker="o", label=name)
        axes[1].plot(times.mean(axis=0), accs.mean(axis=0), marker="o", label=name)
    axes[0].set(xlabel="epoch", ylabel="validation accuracy (mean over seeds)", title="per epoch")
    axes[1].set(xlabel="training wall-clock (s, this machine)", title="per second")
    axes[0].legend(fontsize=8)
    plt.tight_layout()
    plt.show()
