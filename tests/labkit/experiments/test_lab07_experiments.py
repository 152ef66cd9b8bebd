"""Lab 7's experiment procedures at the quick size, against independent oracles (float inference, closed forms)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures
from labkit.experiments import lab07
from labkit.private_inference import Comm, Dealer, beaver_square_cost, relu_cost
from labkit.training import predict_logits
from reference_impl import autorep as ref_autorep
from reference_impl import secret_sharing as ref

matplotlib.use("Agg")
CFG = lab07.Config.quick()
MPC = lab07.MPC(ref.encode_fixed, ref.decode_fixed, ref.share, ref.reconstruct, ref.beaver_mul, ref.beaver_matmul,
                ref.truncate_shares)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    data = digits_splits(seed=0)
    return data, lab07.train_plain(data, CFG)


def test_secure_forward_matches_float_inference(trained):
    data, plain = trained
    X = data.X_test[:40].astype(np.float64)
    comm = Comm()
    logits = lab07.secure_forward(MPC, lab07.layers_of(plain), X, Dealer(seed=1), comm)
    np.testing.assert_allclose(logits, predict_logits(plain, X), atol=1e-2)  # fixed point with 16 fractional bits
    assert comm.total_bytes > 0 and set(comm.bytes) == {"linear", "relu"}


def test_layers_of_are_the_torch_linear_layers(trained):
    _, plain = trained
    X = np.random.default_rng(0).random((5, 64))
    h = X
    layers = lab07.layers_of(plain)
    for i, (W, b) in enumerate(layers):
        h = h @ W + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    np.testing.assert_allclose(h, predict_logits(plain, X), atol=1e-5)


def test_truncation_fails_about_as_often_as_predicted(trained):
    rows = lab07.truncation_failures(ref.share, ref.reconstruct, ref.truncate_shares, Dealer(seed=0), CFG)
    for k, rate, predicted, smalls, _ in rows:
        assert set(smalls) <= {0, 1}
        sd = np.sqrt(predicted * (1 - predicted) / CFG.truncation_trials)  # binomial standard error
        assert abs(rate - predicted) <= 5 * sd + 1e-4, (k, rate, predicted)


def test_comm_estimate_counts_relus_and_squares():
    per_relu = relu_cost(1)[0]
    assert lab07.comm_per_image(96, CFG, 360) - lab07.comm_per_image(95, CFG, 360) == pytest.approx(
        per_relu - beaver_square_cost(1)[0])


def test_autorep_then_secure_inference_of_the_budget_network_agrees(trained, capsys):
    data, plain = trained
    figures = Figures()
    runs = lab07.autorep(ref_autorep.dapa_gaussian_fit, plain, data, CFG, figures)
    for B in CFG.budgets:
        assert runs[B, "AutoReP", CFG.seeds[0]][1] == B  # the ReLU count hits the budget
    comm = lab07.secure_inference(MPC, plain, data, figures)
    lab07.secure_autorep(MPC, runs, comm, data, CFG)
    out = capsys.readouterr().out
    assert "budget 16: secure vs plain predictions agree on" in out
    assert figures["secure_agreement"] > 0.95
