"""Lab 13's experiments (efficient transformers on the digits, rows as tokens), called by
labsrc/lab13_efficient_transformers.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the answers were measured at; ``Config.quick()`` runs in seconds (tests). Times (figures ending
in ``_ms``) are measured on the machine that runs the notebook and are never quoted as fixed numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from labkit.distillation_torch import kd_loss_torch
from labkit.efficient_transformers import (DigitTransformer, deit_loss_torch, head_flops_penalty_torch, head_macs,
                                           model_macs, outputs, soft_cross_entropy_torch, tinybert_attention_loss_torch,
                                           tinybert_hidden_loss_torch, train)
from labkit.experiments import ExperimentConfig, Figures
from labkit.training import set_seed


@dataclass(frozen=True)
class Config(ExperimentConfig):
    flash_lengths: tuple = (64, 256, 1024)
    flash_d: int = 16
    flash_block: int = 64
    sram: int = 25_000  # elements of on-chip memory in the traffic model (100 KB of float32)
    teacher: tuple = (32, 4, 4, 64)  # d_model, layers, heads, d_ff
    student: tuple = (16, 2, 4, 32)
    tiny: tuple = (8, 1, 2, 16)  # the cascade's first stage
    epochs: int = 15
    lr: float = 5e-3
    batch_size: int = 128
    gated: tuple = (32, 2, 4, 64)  # the dynamic-heads model
    kd_T: float = 4.0
    kd_alpha: float = 0.9
    flops_targets: tuple = (1.0, 0.5)
    flops_lambda: float = 20.0
    thresholds: tuple = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01)
    timing_images: int = 256
    batch: int = 256
    train_size: int | None = None  # None: the whole training split

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0,), flash_lengths=(16, 40), flash_block=8, teacher=(16, 2, 2, 16), student=(8, 1, 2, 8),
                   tiny=(4, 1, 2, 4), gated=(8, 1, 2, 8), epochs=1, flops_targets=(1.0, 0.5), thresholds=(0.5, 1.01), timing_images=8,
                   batch=16, train_size=128)


def _ms(a) -> str:
    a = np.asarray(a, dtype=np.float64)
    return f"{a.mean():.3f} ± {a.std():.3f}"


def _best_time(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _acc(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())


# --- FlashAttention --------------------------------------------------------------------------------
def flash_attention(tiled_attention, attention_hbm_accesses, cfg: Config, figures: Figures) -> None:
    """Tiled vs naive attention in NumPy: the largest difference, the time of each, and the HBM traffic model."""
    rng = np.random.default_rng(0)
    d, B = cfg.flash_d, cfg.flash_block
    print(f"attention of N tokens, d = {d}, tiles of {B} x {B}; traffic model with M = {cfg.sram:,} elements of SRAM")
    print(f"{'N':>6} {'max |tiled - naive|':>20} {'naive ms':>10} {'tiled ms':>10} {'HBM naive':>12} {'HBM flash':>12}"
          f" {'ratio':>7}")
    for N in cfg.flash_lengths:
        Q, K, V = rng.normal(size=(N, d)), rng.normal(size=(N, d)), rng.normal(size=(N, d))

        def naive():
            S = Q @ K.T / np.sqrt(d)
            P = np.exp(S - S.max(axis=1, keepdims=True))
            return (P / P.sum(axis=1, keepdims=True)) @ V

        O, _ = tiled_attention(Q, K, V, B, B)
        diff = float(np.abs(O - naive()).max())
        t_naive = _best_time(naive) * 1e3
        t_tiled = _best_time(lambda: tiled_attention(Q, K, V, B, B)) * 1e3
        hbm_naive, hbm_flash = attention_hbm_accesses(N, d, cfg.sram)
        figures[f"flash_N{N}_max_diff"] = diff
        figures[f"flash_N{N}_naive_ms"] = t_naive
        figures[f"flash_N{N}_tiled_ms"] = t_tiled
        figures[f"hbm_N{N}_ratio"] = hbm_naive / hbm_flash
        print(f"{N:>6} {diff:>20.2e} {t_naive:>10.2f} {t_tiled:>10.2f} {hbm_naive:>12,} {hbm_flash:>12,}"
              f" {hbm_naive / hbm_flash:>7.2f}")
    for N, dd in ((1024, 64), (4096, 64), (16384, 64)):
        a, b = attention_hbm_accesses(N, dd, 100_000)
        figures[f"hbm_gpu_N{N}_ratio"] = a / b
        print(f"GPU-sized model (d = {dd}, M = 100,000): N = {N:>6}: naive / flash traffic = {a / b:.1f}")


# --- teachers and students -------------------------------------------------------------------------
def _model(shape: tuple, **kw) -> DigitTransformer:
    d, layers, heads, d_ff = shape
    return DigitTransformer(d, layers, heads, d_ff, **kw)


def _train_set(data, cfg: Config) -> tuple:
    n = cfg.train_size or len(data.X_train)
    return data.X_train[:n], data.y_train[:n]


def _ce(out, xb, yb):
    return F.cross_entropy(out["logits"], yb)


def train_teachers(data, cfg: Config, figures: Figures) -> dict:
    """The 4-layer teacher and the 2-layer student trained without KD, one per seed."""
    res = {"teacher": {}, "student": {}, "tiny": {}}
    for s in cfg.seeds:
        for name, shape in (("teacher", cfg.teacher), ("student", cfg.student), ("tiny", cfg.tiny)):
            set_seed(s)
            res[name][s] = train(_model(shape), *_train_set(data, cfg), _ce, epochs=cfg.epochs, lr=cfg.lr,
                                 batch_size=cfg.batch_size, seed=s)
    for name in res:
        acc = [_acc(outputs(res[name][s], data.X_test)["logits"], data.y_test) for s in cfg.seeds]
        figures[f"{name}_acc_mean"], figures[f"{name}_acc_std"] = np.mean(acc), np.std(acc)
        print(f"{name:>8} {cfg.teacher if name == 'teacher' else cfg.student if name == 'student' else cfg.tiny}"
              f" (d, layers, heads, d_ff), {model_macs(res[name][cfg.seeds[0]]):,.0f} MACs / image: "
              f"test accuracy {_ms(acc)}")
    return res


def _heads_as_maps(scores: list) -> np.ndarray:
    """[(B, h, L, L)] * layers -> (layers, B h, L, L): the mean over B h maps is the batch mean of the head mean."""
    S = torch.stack(scores).double().numpy()
    return S.reshape(S.shape[0], -1, S.shape[-2], S.shape[-1])


def sanity(soft_cross_entropy, tinybert_attention_loss, tinybert_hidden_loss, deit_loss, models: dict, data) -> None:
    """The NumPy exercises against the torch losses used for training, on one batch."""
    s = min(models["teacher"])
    t, st = models["teacher"][s], models["student"][s]
    x = torch.as_tensor(data.X_test[:16], dtype=torch.float32)
    with torch.no_grad():
        to, so = t(x), st(x)
        rng = np.random.default_rng(0)
        W = torch.as_tensor(rng.normal(size=(st.d, t.d)) * 0.1, dtype=torch.float32)
        pairs = [
            ("soft_cross_entropy", soft_cross_entropy(so["logits"].double().numpy(), to["logits"].double().numpy(), 2.0),
             soft_cross_entropy_torch(so["logits"], to["logits"], 2.0)),
            ("tinybert_attention_loss",
             tinybert_attention_loss(_heads_as_maps(so["scores"]), _heads_as_maps(to["scores"])),
             tinybert_attention_loss_torch(so["scores"], to["scores"])),
            ("tinybert_hidden_loss",
             tinybert_hidden_loss(torch.stack(so["hidden"]).double().numpy(), torch.stack(to["hidden"]).double().numpy(),
                                  W.double().numpy(), W.double().numpy()),
             tinybert_hidden_loss_torch(so["hidden"], to["hidden"], W, W)),
            ("deit_loss", deit_loss(so["logits"].double().numpy(), to["logits"].double().numpy(),
                                    to["logits"].double().numpy(), data.y_test[:16].astype(np.int64)),
             deit_loss_torch(so["logits"], to["logits"], to["logits"], torch.as_tensor(data.y_test[:16]))),
        ]
    for name, mine, theirs in pairs:
        ok = abs(float(mine) - float(theirs)) <= 1e-4 * (1 + abs(float(theirs)))
        print(f"{name:>24}: yours {float(mine):.6f}, torch training loss {float(theirs):.6f} "
              f"{'(agree)' if ok else '(DIFFER: check your exercise)'}")


def distill(tinybert_layer_map, models: dict, data, cfg: Config, figures: Figures) -> dict:
    """2-layer students of the 4-layer teacher: no KD, Hinton KD, TinyBERT (attention + hidden + prediction)."""
    M, N = cfg.student[1], cfg.teacher[1]
    print(f"TinyBERT layer map for {M} student layers of {N}: g = {[int(v) for v in tinybert_layer_map(M, N)]}")
    res = {"kd": {}, "tinybert": {}}
    for s in cfg.seeds:
        teacher = models["teacher"][s]
        for p in teacher.parameters():
            p.requires_grad_(False)

        def kd(out, xb, yb, teacher=teacher):
            with torch.no_grad():
                zt = teacher(xb)["logits"]
            return kd_loss_torch(out["logits"], zt, yb, T=cfg.kd_T, alpha=cfg.kd_alpha)

        set_seed(s)
        res["kd"][s] = train(_model(cfg.student), *_train_set(data, cfg), kd, epochs=cfg.epochs, lr=cfg.lr,
                             batch_size=cfg.batch_size, seed=s)
        set_seed(s)
        W_h = torch.nn.Parameter(torch.randn(cfg.student[0], cfg.teacher[0]) * 0.1)
        W_e = torch.nn.Parameter(torch.randn(cfg.student[0], cfg.teacher[0]) * 0.1)

        def tb(out, xb, yb, teacher=teacher, W_h=W_h, W_e=W_e):
            with torch.no_grad():
                to = teacher(xb)
            return (tinybert_attention_loss_torch(out["scores"], to["scores"])
                    + tinybert_hidden_loss_torch(out["hidden"], to["hidden"], W_h, W_e)
                    + soft_cross_entropy_torch(out["logits"], to["logits"], 1.0))

        res["tinybert"][s] = train(_model(cfg.student), *_train_set(data, cfg), tb, epochs=cfg.epochs,
                                   lr=cfg.lr, batch_size=cfg.batch_size, seed=s, extra_params=[W_h, W_e])
    rows = [("teacher", "teacher (4 layers)", models["teacher"]), ("none", "student, no KD", models["student"]),
            ("kd", "student, Hinton KD", res["kd"]), ("tinybert", "student, TinyBERT losses", res["tinybert"])]
    base = np.array([_acc(outputs(models["student"][s], data.X_test)["logits"], data.y_test) for s in cfg.seeds])
    for key, name, ms in rows:
        acc = np.array([_acc(outputs(ms[s], data.X_test)["logits"], data.y_test) for s in cfg.seeds])
        figures[f"distill_{key}_mean"], figures[f"distill_{key}_std"] = acc.mean(), acc.std()
        figures[f"distill_{key}_gain_mean"] = (acc - base).mean()
        print(f"{name:>26}: {_ms(acc)}   gain over no KD (paired): {_ms(acc - base)}")
    return res


def deit(deit_loss, deit_predict, models: dict, data, cfg: Config, figures: Figures) -> None:
    """DeiT students (class + distillation token, hard teacher labels) against a class-token student with
    Hinton KD and one without distillation."""
    acc = {k: [] for k in ("none", "kd", "cls", "dist", "fused", "agree")}
    for s in cfg.seeds:
        teacher = models["teacher"][s]

        def kd(out, xb, yb, teacher=teacher):
            with torch.no_grad():
                zt = teacher(xb)["logits"]
            return kd_loss_torch(out["logits"], zt, yb, T=cfg.kd_T, alpha=cfg.kd_alpha)

        def hard(out, xb, yb, teacher=teacher):
            with torch.no_grad():
                zt = teacher(xb)["logits"]
            return deit_loss_torch(out["logits"], out["dist_logits"], zt, yb)

        for key, loss, extra in (("none", _ce, 1), ("kd", kd, 1), ("deit", hard, 2)):
            set_seed(s)
            m = train(_model(cfg.student, extra_tokens=extra), *_train_set(data, cfg), loss, epochs=cfg.epochs,
                      lr=cfg.lr, batch_size=cfg.batch_size, seed=s)
            out = outputs(m, data.X_test)
            if key != "deit":
                acc[key].append(_acc(out["logits"], data.y_test))
                continue
            pred, agreement = deit_predict(out["logits"], out["dist_logits"])
            acc["cls"].append(_acc(out["logits"], data.y_test))
            acc["dist"].append(_acc(out["dist_logits"], data.y_test))
            acc["fused"].append(float((pred == data.y_test).mean()))
            acc["agree"].append(agreement)
    for k, v in acc.items():
        figures[f"deit_{k}_mean"], figures[f"deit_{k}_std"] = np.mean(v), np.std(v)
    print(f"class token, no distillation: {_ms(acc['none'])}")
    print(f"class token, Hinton KD:       {_ms(acc['kd'])}")
    print(f"DeiT, class head:             {_ms(acc['cls'])}")
    print(f"DeiT, distillation head:      {_ms(acc['dist'])}")
    print(f"DeiT, both heads (fused):     {_ms(acc['fused'])}")
    print(f"the two heads agree on        {_ms(acc['agree'])} of the test images")


def dynamic_heads(head_flops_loss, data, cfg: Config, figures: Figures) -> None:
    """4-layer models with a per-input head predictor, trained with CE + lambda * FLOPs penalty at several targets."""
    print(f"{'target':>7} {'accuracy':>16} {'expected FLOPs / full':>24} {'heads run (hard mask)':>24}")
    for target in cfg.flops_targets:
        acc, ratio, kept = [], [], []
        for s in cfg.seeds:
            set_seed(s)
            m = _model(cfg.gated, gated=True)
            per_head, rest = head_macs(m)

            def loss(out, xb, yb, per_head=per_head, rest=rest, target=target):
                pen = head_flops_penalty_torch(out["gate_logits"], per_head, rest, target)
                return F.cross_entropy(out["logits"], yb) + cfg.flops_lambda * pen

            train(m, *_train_set(data, cfg), loss, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                  seed=s)
            out = outputs(m, data.X_test)
            g = out["gate_logits"].reshape(len(data.X_test), -1)
            H = g.shape[1]
            mask, expected, _ = head_flops_loss(g, np.full(H, per_head), rest, target)
            acc.append(_acc(out["logits"], data.y_test))
            ratio.append(float(expected.mean()) / (rest + H * per_head))
            kept.append(float(mask.mean()))
        key = f"heads_t{int(round(target * 100))}"
        figures[f"{key}_acc_mean"], figures[f"{key}_acc_std"] = np.mean(acc), np.std(acc)
        figures[f"{key}_flops_mean"], figures[f"{key}_kept_mean"] = np.mean(ratio), np.mean(kept)
        print(f"{target:>7.2f} {_ms(acc):>16} {_ms(ratio):>24} {_ms(kept):>24}")


def cascade(cascade_cost_accuracy, models: dict, data, cfg: Config, figures: Figures) -> None:
    """tiny -> student -> teacher, answering at the first stage whose max softmax reaches the threshold."""
    stages = ("tiny", "student", "teacher")
    s0 = cfg.seeds[0]
    costs = np.array([model_macs(models[k][s0]) for k in stages])
    print(f"stage MACs / image: {', '.join(f'{k} {c:,.0f}' for k, c in zip(stages, costs))}")
    print(f"{'threshold':>9} {'MACs / image':>16} {'accuracy':>16} {'answered by tiny / student / teacher':>40}")
    best = None
    for t in cfg.thresholds:
        cost, acc, frac = [], [], []
        for s in cfg.seeds:
            probs = [F.softmax(torch.as_tensor(outputs(models[k][s], data.X_test)["logits"]), dim=1).numpy()
                     for k in stages]
            conf = np.stack([p.max(axis=1) for p in probs], axis=1)
            correct = np.stack([p.argmax(axis=1) == data.y_test for p in probs], axis=1)
            c, a, f = cascade_cost_accuracy(conf, correct, np.full(2, t), costs)
            cost.append(c)
            acc.append(a)
            frac.append(f)
        key = f"cascade_t{int(round(t * 100))}"
        figures[f"{key}_cost_ratio"] = np.mean(cost) / costs.sum()
        figures[f"{key}_acc_mean"], figures[f"{key}_acc_std"] = np.mean(acc), np.std(acc)
        f = np.mean(frac, axis=0)
        print(f"{t:>9.2f} {np.mean(cost):>16,.0f} {_ms(acc):>16} {' / '.join(f'{v:.2f}' for v in f):>40}")
        if best is None and t >= 0.9:
            best = t
    latency(models, data, cfg, figures, best if best is not None else cfg.thresholds[-1])


@torch.no_grad()
def latency(models: dict, data, cfg: Config, figures: Figures, threshold: float) -> None:
    """Wall time per image of the teacher alone and of the cascade, at batch 1 and in batches (machine-dependent)."""
    s0 = cfg.seeds[0]
    stages = [models[k][s0] for k in ("tiny", "student", "teacher")]
    X = torch.as_tensor(data.X_test[:cfg.timing_images], dtype=torch.float32)

    def run_cascade(xb):
        alive = torch.arange(len(xb))
        pred = torch.empty(len(xb), dtype=torch.long)
        for k, m in enumerate(stages):
            p = F.softmax(m(xb[alive])["logits"], dim=1)
            conf, arg = p.max(dim=1)
            stop = conf >= threshold if k < len(stages) - 1 else torch.ones_like(conf, dtype=torch.bool)
            pred[alive[stop]] = arg[stop]
            alive = alive[~stop]
            if len(alive) == 0:
                break
        return pred

    def per_image(fn, batch):
        return _best_time(lambda: [fn(X[i:i + batch]) for i in range(0, len(X), batch)], 3) / len(X) * 1e3

    rows = {}
    for batch in (1, cfg.batch):
        rows[batch] = (per_image(lambda xb: stages[-1](xb)["logits"], batch), per_image(run_cascade, batch))
        figures[f"latency_b{batch}_teacher_ms"], figures[f"latency_b{batch}_cascade_ms"] = rows[batch]
    print(f"threshold {threshold}: ms per image (this machine, now)  teacher alone   cascade   cascade / teacher")
    for batch, (t, c) in rows.items():
        print(f"  batch {batch:>4}: {t:>34.4f} {c:>9.4f} {c / t:>19.2f}")
