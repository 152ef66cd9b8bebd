"""Lab 8's experiment procedures at the quick size, against independent oracles (torch fake-quant, closed forms)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits

from labkit.experiments import Figures, lab08
from labkit.quantization import ptq_weights, quantized_layers
from reference_impl import quantization as ref

matplotlib.use("Agg")
CFG = lab08.Config.quick()
Q = (ref.quant_params, ref.quantize, ref.dequantize, ref.calibrate_range)


@pytest.fixture(scope="module")
def floats():
    torch.set_num_threads(1)
    return lab08.train_floats(digits_splits(seed=0), CFG, Figures())


@pytest.mark.parametrize("per_channel", [False, True])
def test_weight_quantizer_matches_torch_fake_quant(per_channel):
    W = np.random.default_rng(0).standard_normal((5, 7))
    got = lab08.weight_quantizer(*Q, 4, per_channel, "minmax", CFG)(W)
    m = np.abs(W).max(axis=1) if per_channel else np.full(5, np.abs(W).max())
    scale = (m / 7).astype(np.float32)
    Wt = torch.tensor(W)
    if per_channel:
        theirs = torch.fake_quantize_per_channel_affine(Wt, torch.tensor(scale), torch.zeros(5, dtype=torch.int32),
                                                        0, -7, 7)
    else:
        theirs = torch.fake_quantize_per_tensor_affine(Wt, float(scale[0]), 0, -7, 7)
    np.testing.assert_allclose(got, theirs.numpy(), rtol=1e-6, atol=1e-6)


def test_ptq_sweep_records_every_scheme_and_8_bits_is_near_float(floats):
    figures = Figures()
    res = lab08.ptq_sweep(*Q, floats, figures)
    assert len(res) == 2 * len(CFG.bits) * len(lab08.PTQ_SCHEMES)
    assert abs(res["mlp", 8, "channel", "minmax"].mean() - floats.mlp_acc.mean()) <= 0.02
    assert figures["ptq_cnn_2b_channel_mse_mean"] == res["cnn", 2, "channel", "mse"].mean()


def test_equal_bytes_methods_fit_their_budget(floats):
    model = floats.mlps[CFG.seeds[0]]
    budgets = lab08._layer_budgets(ref.storage_bits, model, 4)
    for layer, b in zip(quantized_layers(model), budgets):
        n, out = layer.weight.numel(), layer.weight.shape[0]
        assert b == 4 * n + 32 * out
    out = lab08.equal_bytes(*Q, ref.storage_bits, floats, Figures())
    assert set(out) == {(4, ft, m) for ft in (False, True) for m in ("quantization", "pruning", "low rank")}


def test_qat_and_int_layer_run_and_record(floats, capsys):
    figures = Figures()
    out = lab08.qat_vs_ptq(*Q, floats, figures)
    assert all(len(a) == len(CFG.seeds) for a in out.values())
    lab08.integer_layer(*Q, ref.quantize_multiplier, ref.int_linear, floats, figures)
    # the integer layer's output is within a few output steps of the float one (input, weight and output rounding)
    assert figures["int_layer_max_err_steps"] < 4
    lab08.low_precision_formats(ref.fp_encode, ref.fp_decode, ref.bfp_quantize, *Q, floats, figures)
    assert figures["fmt_int8_per_channel_err"] < figures["fmt_int4_per_channel_err"]
    lab08.gradient_sanity(ref.fake_quant_grad, ref.lsq_grads)
    assert "max difference 0.0e+00" in capsys.readouterr().out


def test_ptq_of_identity_quantizer_changes_nothing(floats):
    m = floats.mlps[CFG.seeds[0]]
    assert floats.test_acc(ptq_weights(m, lambda W: W)) == floats.mlp_acc[0]
