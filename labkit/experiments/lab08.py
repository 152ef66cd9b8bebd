"""Lab 8's experiments (quantizing a digits MLP and a small CNN), called by labsrc/lab08_quantization.py.

Every function that uses one of the student's exercises takes it as an argument. ``Config()`` is the
size the answers were measured at; ``Config.quick()`` runs in seconds (tests). Weight quantization is
symmetric (Nagel et al. 2021 recommend symmetric weights: no zero-point cross terms); activations stay
float except in the integer-only layer, which quantizes its input and output too.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from labkit.distillation_torch import kd_loss_torch
from labkit.experiments import ExperimentConfig, Figures
from labkit.lowrank import SmallCNN, compress_mlp, prune_mlp
from labkit.quantization import ptq_weights, quantized_layers, to_qat
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier


@dataclass(frozen=True)
class Config(ExperimentConfig):
    hidden: tuple = (128, 128)
    epochs: int = 20
    lr: float = 2e-3
    cnn_epochs: int = 6
    bits: tuple = (8, 6, 4, 3, 2)
    percentile: float = 99.9
    mse_grid: int = 40
    qat_bits: tuple = (4, 2)
    qat_epochs: int = 8
    qat_lr: float = 1e-3
    kd_T: float = 4.0
    kd_alpha: float = 0.9
    budget_bits: tuple = (8, 4, 2)  # equal-bytes comparison: the bytes of per-channel k-bit weights
    ft_epochs: int = 3  # fine-tuning in the equal-bytes comparison (QAT for quantization)
    timing_rows: int = 2048

    @classmethod
    def quick(cls) -> Config:
        """A few seconds on one core: for tests and ``COURSE_QUICK=1``, not for the answers."""
        return cls(seeds=(0, 1), hidden=(16, 16), epochs=2, cnn_epochs=1, bits=(8, 2), mse_grid=5, qat_bits=(2,),
                   qat_epochs=1, budget_bits=(4,), ft_epochs=1, timing_rows=64)


@dataclass
class Floats:
    """The float models (one MLP and one SmallCNN per seed) and their test accuracies."""
    data: object
    cfg: Config
    mlps: dict
    cnns: dict
    mlp_acc: np.ndarray
    cnn_acc: np.ndarray

    def test_acc(self, model) -> float:
        return accuracy(model, self.data.X_test, self.data.y_test)


def _ms(a: np.ndarray) -> str:
    return f"{a.mean():.3f} ± {a.std():.3f}"


def train_floats(data, cfg: Config, figures: Figures | None = None) -> Floats:
    mlps, cnns = {}, {}
    for s in cfg.seeds:
        set_seed(s)
        mlps[s] = MLP(64, cfg.hidden, 10)
        train_classifier(mlps[s], data.X_train, data.y_train, epochs=cfg.epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=s)
        set_seed(s)
        cnns[s] = SmallCNN(8, 16) if cfg.hidden[0] < 64 else SmallCNN()
        train_classifier(cnns[s], data.X_train, data.y_train, epochs=cfg.cnn_epochs, lr=cfg.lr,
                         batch_size=cfg.batch_size, seed=s)
    fl = Floats(data, cfg, mlps, cnns, np.array([accuracy(mlps[s], data.X_test, data.y_test) for s in cfg.seeds]),
                np.array([accuracy(cnns[s], data.X_test, data.y_test) for s in cfg.seeds]))
    n_mlp = sum(layer.weight.numel() for layer in quantized_layers(mlps[cfg.seeds[0]]))
    n_cnn = sum(layer.weight.numel() for layer in quantized_layers(cnns[cfg.seeds[0]]))
    print(f"float32 MLP 64 -> {cfg.hidden[0]} -> {cfg.hidden[1]} -> 10 ({n_mlp:,} weights): test accuracy "
          f"{_ms(fl.mlp_acc)}")
    print(f"float32 SmallCNN ({n_cnn:,} weights): test accuracy {_ms(fl.cnn_acc)}   (seeds {cfg.seeds})")
    if figures is not None:
        figures["mlp_float_acc_mean"], figures["cnn_float_acc_mean"] = fl.mlp_acc.mean(), fl.cnn_acc.mean()
    return fl


def weight_quantizer(quant_params, quantize, dequantize, calibrate_range, bits: int, per_channel: bool,
                     method: str, cfg: Config):
    """W -> dequantize(quantize(W)) with symmetric k-bit codes, the range calibrated per tensor or per output channel."""
    def fake_quant(W: np.ndarray) -> np.ndarray:
        rows = W.reshape(W.shape[0], -1) if per_channel else W.reshape(1, -1)
        ranges = np.array([calibrate_range(r, bits, method, True, cfg.percentile, cfg.mse_grid) for r in rows])
        scale, zp = quant_params(ranges[:, 0], ranges[:, 1], bits, True)
        if per_channel:
            return dequantize(quantize(W, scale, zp, bits, True, 0), scale, zp, 0)
        return dequantize(quantize(W, scale[0], zp[0], bits, True), scale[0], zp[0])
    return fake_quant


PTQ_SCHEMES = (("tensor", "minmax"), ("tensor", "percentile"), ("tensor", "mse"), ("channel", "minmax"),
               ("channel", "mse"))


def ptq_sweep(quant_params, quantize, dequantize, calibrate_range, fl: Floats, figures: Figures | None = None) -> dict:
    """Weight-only PTQ of the MLP and the CNN at every bit width, per-tensor vs per-channel, three calibrations."""
    cfg, results = fl.cfg, {}
    for kind, models in (("mlp", fl.mlps), ("cnn", fl.cnns)):
        for bits in cfg.bits:
            for gran, method in PTQ_SCHEMES:
                fq = weight_quantizer(quant_params, quantize, dequantize, calibrate_range, bits, gran == "channel",
                                      method, cfg)
                results[kind, bits, gran, method] = np.array([fl.test_acc(ptq_weights(models[s], fq)) for s in cfg.seeds])
        float_acc = fl.mlp_acc if kind == "mlp" else fl.cnn_acc
        print(f"\n{kind.upper()} (float {_ms(float_acc)}), weight-only PTQ, test accuracy (mean ± std over seeds)")
        print(f"{'bits':>4} " + " ".join(f"{g + '/' + m:>16}" for g, m in PTQ_SCHEMES))
        for bits in cfg.bits:
            print(f"{bits:>4} " + " ".join(f"{_ms(results[kind, bits, g, m]):>16}" for g, m in PTQ_SCHEMES))
            if figures is not None:
                for g, m in PTQ_SCHEMES:
                    figures[f"ptq_{kind}_{bits}b_{g}_{m}_mean"] = results[kind, bits, g, m].mean()
                    figures[f"ptq_{kind}_{bits}b_{g}_{m}_std"] = results[kind, bits, g, m].std()
    return results


def plot_ptq(results: dict, fl: Floats) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, kind, float_acc in ((axes[0], "mlp", fl.mlp_acc), (axes[1], "cnn", fl.cnn_acc)):
        for g, m in PTQ_SCHEMES:
            accs = [results[kind, b, g, m] for b in fl.cfg.bits]
            ax.errorbar(fl.cfg.bits, [a.mean() for a in accs], yerr=[a.std() for a in accs], marker="o", capsize=3,
                        label=f"per-{g}, {m}")
        ax.axhline(float_acc.mean(), color="k", ls=":", label="float32")
        ax.set(xlabel="weight bits", ylabel="test accuracy", title=f"{kind.upper()}: weight-only PTQ")
        ax.invert_xaxis()
        ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()


def gradient_sanity(fake_quant_grad, lsq_grads) -> None:
    """The student's NumPy gradients against the torch modules the QAT runs train with."""
    import torch

    from labkit.quantization import LSQQuantizer, fake_quant_ste
    x = np.linspace(-1.3, 1.7, 13)
    g = np.cos(np.arange(13.0))
    xt = torch.tensor(x, requires_grad=True)
    fake_quant_ste(xt, torch.tensor(0.125, dtype=torch.float64), 0, -7, 7).backward(torch.tensor(g))
    d1 = np.max(np.abs(xt.grad.numpy() - fake_quant_grad(x, g, 0.125, 0, 4, True)))
    q = LSQQuantizer(4).double()
    vt = torch.tensor(x, requires_grad=True)
    q(vt.detach())
    with torch.no_grad():
        q.step.fill_(0.15)
    q(vt).backward(torch.tensor(g))
    grad_v, grad_s = lsq_grads(x, g, 0.15, 4)
    d2 = max(np.max(np.abs(vt.grad.numpy() - grad_v)), abs(float(q.step.grad) - grad_s))
    print(f"STE gradient vs torch: max difference {d1:.1e};  LSQ gradients vs torch: max difference {d2:.1e}")


def _qat(fl: Floats, s: int, bits: int, method: str, kd: bool, epochs: int):
    cfg = fl.cfg
    model = copy.deepcopy(fl.mlps[s]) if method == "float" else to_qat(fl.mlps[s], bits, method)
    kwargs = dict(teacher=fl.mlps[s], loss_fn=lambda zs, zt, y: kd_loss_torch(zs, zt, y, cfg.kd_T, cfg.kd_alpha)) \
        if kd else {}
    train_classifier(model, fl.data.X_train, fl.data.y_train, epochs=epochs, lr=cfg.qat_lr,
                     batch_size=cfg.batch_size, seed=s, **kwargs)
    return model


# (row, method, KD): "float" fine-tunes the float model as long as QAT does (is a QAT gain just more training?)
QAT_METHODS = (("PTQ (per-channel min/max)", None, False), ("float, same fine-tuning", "float", False),
               ("QAT, STE", "ste", False), ("QAT, STE + KD", "ste", True), ("QAT, LSQ", "lsq", False),
               ("QAT, LSQ + KD", "lsq", True))


def qat_vs_ptq(quant_params, quantize, dequantize, calibrate_range, fl: Floats, figures: Figures | None = None) -> dict:
    """PTQ against QAT (STE, LSQ), each with and without KD from the float model, on the MLP (paired by seed)."""
    cfg, out = fl.cfg, {}
    for bits in cfg.qat_bits:
        fq = weight_quantizer(quant_params, quantize, dequantize, calibrate_range, bits, True, "minmax", cfg)
        for name, method, kd in QAT_METHODS:
            accs = []
            for s in cfg.seeds:
                model = ptq_weights(fl.mlps[s], fq) if method is None else _qat(fl, s, bits, method, kd, cfg.qat_epochs)
                accs.append(fl.test_acc(model))
            out[bits, name] = np.array(accs)
    print(f"MLP float {_ms(fl.mlp_acc)}; QAT fine-tunes the float model for {cfg.qat_epochs} epochs "
          f"(lr {cfg.qat_lr}); KD: T = {cfg.kd_T}, alpha = {cfg.kd_alpha}, teacher = the float model")
    print(f"{'method':>28} " + " ".join(f"{str(b) + ' bits':>16} {'gain':>7}" for b in cfg.qat_bits))
    for name, method, kd in QAT_METHODS:
        row = f"{name:>28} "
        for b in cfg.qat_bits:
            a, base = out[b, name], out[b, QAT_METHODS[0][0]]
            row += f"{_ms(a):>16} {(a - base).mean():>+7.3f} "
            if figures is not None:
                key = name.split(" (")[0].replace(",", "").replace(" + ", "_").replace(" ", "_").lower()
                figures[f"qat_{b}b_{key}_mean"], figures[f"qat_{b}b_{key}_std"] = a.mean(), a.std()
        print(row)
    return out


def _layer_budgets(storage_bits, model, bits: int) -> list[int]:
    """Per Linear layer: the bits of its weights at k bits, per output channel (float32 scales)."""
    return [storage_bits(layer.weight.numel(), bits, layer.weight.shape[0]) for layer in quantized_layers(model)]


def svd_factors(W: np.ndarray, r: int):
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r] * S[:r], Vt[:r]


def equal_bytes(quant_params, quantize, dequantize, calibrate_range, storage_bits, fl: Floats,
                figures: Figures | None = None) -> dict:
    """Quantization vs magnitude pruning vs low rank, each layer given the bytes of its per-channel k-bit weights.

    Pruning stores each kept weight as float32 plus a 1-bit mask over all weights; low rank stores
    float32 factors r (m + n). Without and with fine-tuning (QAT with the STE for quantization).
    """
    cfg, out = fl.cfg, {}
    for bits in cfg.budget_bits:
        for ft in (False, True):
            for method in ("quantization", "pruning", "low rank"):
                accs = []
                for s in cfg.seeds:
                    model = fl.mlps[s]
                    budgets = _layer_budgets(storage_bits, model, bits)
                    layers = quantized_layers(model)
                    if method == "quantization":
                        if ft:
                            m = _qat(fl, s, bits, "ste", False, cfg.ft_epochs)
                        else:
                            m = ptq_weights(model, weight_quantizer(quant_params, quantize, dequantize,
                                                                    calibrate_range, bits, True, "minmax", cfg))
                    elif method == "pruning":
                        keep = [max(0, min(l.weight.numel(), (b - l.weight.numel()) // 32)) for l, b in zip(layers, budgets)]
                        m = prune_mlp(model, keep)
                    else:
                        ranks = [max(1, min(min(l.weight.shape), b // (32 * sum(l.weight.shape))))
                                 for l, b in zip(layers, budgets)]
                        m = compress_mlp(model, ranks, svd_factors)
                    if ft and method != "quantization":
                        train_classifier(m, fl.data.X_train, fl.data.y_train, epochs=cfg.ft_epochs, lr=cfg.qat_lr,
                                         batch_size=cfg.batch_size, seed=s)
                    accs.append(fl.test_acc(m))
                out[bits, ft, method] = np.array(accs)
    n_bits = 32 * sum(layer.weight.numel() for layer in quantized_layers(fl.mlps[cfg.seeds[0]]))
    print(f"MLP float32 weights: {n_bits // 8:,} bytes, accuracy {_ms(fl.mlp_acc)}")
    print(f"{'budget':>22} {'fine-tuned':>10} {'quantization':>16} {'pruning':>16} {'low rank':>16}")
    for bits in cfg.budget_bits:
        total = sum(_layer_budgets(storage_bits, fl.mlps[cfg.seeds[0]], bits))
        for ft in (False, True):
            label = f"{total // 8:,} B (= {bits}-bit)"
            print(f"{label:>22} {str(ft):>10} " + " ".join(f"{_ms(out[bits, ft, m]):>16}"
                                                           for m in ("quantization", "pruning", "low rank")))
            if figures is not None:
                for m in ("quantization", "pruning", "low rank"):
                    figures[f"bytes_{bits}b_{'ft' if ft else 'noft'}_{m.replace(' ', '_')}_mean"] = out[bits, ft, m].mean()
        if figures is not None:
            figures[f"bytes_{bits}b_total"] = total // 8
    return out


def plot_equal_bytes(out: dict, storage_bits, fl: Floats) -> None:
    cfg = fl.cfg
    sizes = [sum(_layer_budgets(storage_bits, fl.mlps[cfg.seeds[0]], b)) / 8 for b in cfg.budget_bits]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, ft in zip(axes, (False, True)):
        for m in ("quantization", "pruning", "low rank"):
            accs = [out[b, ft, m] for b in cfg.budget_bits]
            ax.errorbar(sizes, [a.mean() for a in accs], yerr=[a.std() for a in accs], marker="o", capsize=3, label=m)
        ax.axhline(fl.mlp_acc.mean(), color="k", ls=":", label="float32")
        ax.set(xscale="log", xlabel="weight storage (bytes)", ylabel="test accuracy",
               title="after fine-tuning" if ft else "no fine-tuning")
        ax.legend()
    plt.tight_layout()
    plt.show()


def low_precision_formats(fp_encode, fp_decode, bfp_quantize, quant_params, quantize, dequantize, calibrate_range,
                          fl: Floats, figures: Figures | None = None) -> None:
    """The MLP's weights cast to E4M3, E5M2, block floating point and per-channel INT8 / INT4: error and accuracy."""
    cfg = fl.cfg

    def fp(e, m, fo):
        return lambda W: fp_decode(fp_encode(W, e, m, fo), e, m, fo)

    def bfp(p):
        return lambda W: bfp_quantize(W, 16 if W.shape[-1] % 16 == 0 else W.shape[-1], p)

    formats = (("E4M3 (8 bits)", fp(4, 3, True)), ("E5M2 (8 bits)", fp(5, 2, False)),
               ("BFP16, 8-bit mantissa", bfp(8)), ("BFP16, 4-bit mantissa", bfp(4)),
               ("INT8 per-channel", weight_quantizer(quant_params, quantize, dequantize, calibrate_range, 8, True,
                                                     "minmax", cfg)),
               ("INT4 per-channel", weight_quantizer(quant_params, quantize, dequantize, calibrate_range, 4, True,
                                                     "minmax", cfg)))
    print(f"{'format':>24} {'relative weight error':>22} {'test accuracy':>16}")
    for name, f in formats:
        errs, accs = [], []
        for s in cfg.seeds:
            for layer in quantized_layers(fl.mlps[s]):
                W = layer.weight.detach().double().numpy()
                errs.append(np.linalg.norm(W - f(W)) / np.linalg.norm(W))
            accs.append(fl.test_acc(ptq_weights(fl.mlps[s], f)))
        accs = np.array(accs)
        print(f"{name:>24} {np.mean(errs):>22.4f} {_ms(accs):>16}")
        if figures is not None:
            key = name.split(" (")[0].replace(",", "").replace(" ", "_").replace("-", "_").lower()
            figures[f"fmt_{key}_err"], figures[f"fmt_{key}_acc_mean"] = np.mean(errs), accs.mean()


def integer_layer(quant_params, quantize, dequantize, calibrate_range, quantize_multiplier, int_linear, fl: Floats,
                  figures: Figures | None = None) -> None:
    """The MLP's first layer (with its ReLU) run in integers only, against the float layer, and its speed."""
    cfg, data = fl.cfg, fl.data
    model = fl.mlps[cfg.seeds[0]]
    first = quantized_layers(model)[0]
    W, b = first.weight.detach().double().numpy(), first.bias.detach().double().numpy()  # (128, 64), (128,)
    s_x, zp_x = quant_params(0.0, 1.0, 8)  # pixels in [0, 1]
    lo, hi = calibrate_range(W, 8, "minmax")
    s_w, _ = quant_params(lo, hi, 8, True)
    y_train = np.maximum(data.X_train @ W.T + b, 0.0)
    s_y, zp_y = quant_params(0.0, float(y_train.max()), 8)  # lo = 0: zp_y = 0, so the clamp at 0 is the ReLU
    W_q = quantize(W, s_w, 0, 8, True)
    b_q = np.round(b / (s_x * s_w)).astype(np.int64)
    M0, n = quantize_multiplier(float(s_x * s_w / s_y))
    X = data.X_test
    x_q = quantize(X, s_x, zp_x, 8)
    y_q = int_linear(x_q, int(zp_x), W_q, b_q, M0, n, int(zp_y))
    y_int = dequantize(y_q, s_y, zp_y)
    y_float = np.maximum(X @ W.T + b, 0.0)
    err = np.abs(y_int - y_float)
    rest = model.net[2:]
    import torch
    with torch.no_grad():
        logits = rest(torch.from_numpy(y_int.astype(np.float32))).numpy()
    acc_int = float(np.mean(np.argmax(logits, axis=1) == data.y_test))
    acc_float = float(np.mean(np.argmax(predict_logits(model, X), axis=1) == data.y_test))
    print(f"layer 1 (64 -> {W.shape[0]}, ReLU fused as the clamp at zp_y = {int(zp_y)}): M = s_x s_w / s_y = "
          f"{float(s_x * s_w / s_y):.6g} -> M0 = {M0}, n = {n}")
    print(f"|integer layer - float layer| on the test images: max {err.max():.4f} = {err.max() / float(s_y):.2f} "
          f"output steps, mean {err.mean():.4f}; output step s_y = {float(s_y):.4f}")
    print(f"MLP accuracy with the integer first layer {acc_int:.3f} (float {acc_float:.3f}, seed {cfg.seeds[0]})")
    # speed: the same product in NumPy float32 (BLAS) and int32 (NumPy's integer matmul has no BLAS)
    rng = np.random.default_rng(0)
    A_q = rng.integers(0, 256, (cfg.timing_rows, 64)).astype(np.int32)
    Wt_q = W_q.T.astype(np.int32).copy()
    A_f, Wt_f = A_q.astype(np.float32), Wt_q.astype(np.float32)
    timings = {}
    for name, fn in (("float32", lambda: A_f @ Wt_f), ("int32", lambda: A_q @ Wt_q),
                     ("int_linear", lambda: int_linear(A_q, 0, W_q, b_q, M0, n, int(zp_y)))):
        reps = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            reps.append(time.perf_counter() - t0)
        timings[name] = 1e3 * float(np.median(reps))
    print(f"({cfg.timing_rows}, 64) @ (64, {W.shape[0]}), median of 5 (machine-dependent): float32 "
          f"{timings['float32']:.3f} ms, int32 {timings['int32']:.3f} ms, the whole int_linear {timings['int_linear']:.3f} ms")
    if figures is not None:
        figures["int_layer_max_err_steps"] = err.max() / float(s_y)
        figures["int_layer_acc"], figures["int_layer_float_acc"] = acc_int, acc_float
        for k, v in timings.items():
            figures[f"matmul_{k}_ms"] = v
