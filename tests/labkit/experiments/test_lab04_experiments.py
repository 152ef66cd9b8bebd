"""Lab 4's experiment procedures at the quick size, against independent oracles (numpy.linalg, brute force)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from labdatasets import digits_splits
from labkit.experiments import Figures
from labkit.experiments import lab04
from labkit.lowrank import compress_mlp, weight_count
from reference_impl import lowrank as ref

matplotlib.use("Agg")
CFG = lab04.Config.quick()


@pytest.fixture(scope="module")
def dense():
    torch.set_num_threads(1)
    return lab04.train_dense(digits_splits(seed=0), CFG, Figures())


def test_dense_nets_start_from_their_kept_initial_weights(dense):
    for s in CFG.seeds:
        assert not torch.equal(dense.nets[s].net[0].weight, dense.init_nets[s].net[0].weight)
    assert dense.shapes == [(64, 32), (32, 32), (32, 10)] and dense.weights == 64 * 32 + 32 * 32 + 32 * 10
    assert dense.compressed_weights(ref.factorised_params, 4) == 4 * (64 + 32) + 4 * (32 + 32) + 320


def test_spectra_are_numpy_singular_values(dense):
    out = lab04.spectra(ref.truncated_svd, ref.rank_for_energy, ref.break_even_rank, dense)
    from labkit.lowrank import weight_matrices
    for S, W in zip(out["trained"], weight_matrices(dense.nets[CFG.seeds[0]])):
        np.testing.assert_allclose(S, np.linalg.svd(W, compute_uv=False), rtol=1e-10)


def test_svd_truncation_and_pruning_keep_the_same_weight_count_and_record_every_rank(dense):
    results, figures = {}, Figures()
    lab04.pruning(ref.low_rank_factors, ref.factorised_params, dense, results, figures)
    for r in CFG.ranks:
        for key in (("svd", r, False), ("svd", r, True), ("prune", r, False), ("prune", r, True)):
            assert results[key].shape == (len(CFG.seeds),) and ((0 <= results[key]) & (results[key] <= 1)).all()
        low = compress_mlp(dense.nets[0], [r, r, None], ref.low_rank_factors)
        assert weight_count(low) == dense.compressed_weights(ref.factorised_params, r)
    # a rank-r truncation by numpy.linalg.svd gives the same accuracy as the recorded one (before fine-tuning)
    def numpy_factors(W, r):
        U, S, Vt = np.linalg.svd(W, full_matrices=False)
        return U[:, :r] * S[:r], Vt[:r]
    r = CFG.ranks[1]
    assert dense.test_acc(compress_mlp(dense.nets[0], [r, r, None], numpy_factors)) == results["svd", r, False][0]


def test_data_aware_has_smaller_output_error_on_calibration_data(dense):
    results, figures = {}, Figures()
    lab04.data_aware(ref.low_rank_factors, ref.data_aware_low_rank, dense, results, figures)
    for r in CFG.ranks:
        assert figures[f"aware_r{r}_err_aware"] <= figures[f"aware_r{r}_err_plain"] + 0.05  # test images: not exact
        assert ("svd", r, False) in results  # the plain baseline is measured too, whatever ran before


def test_conv_records_factorisations_no_larger_than_the_budget(dense):
    figures = Figures()
    lab04.conv(ref.conv_lowrank_factors, ref.tucker2_hosvd, ref.break_even_rank, dense.data, CFG, figures)
    for r in CFG.conv_ranks:
        assert figures[f"conv_r{r}_params"] == r * 16 * 9 + 32 * r
        assert figures[f"tucker_r{r}_params"] <= figures[f"conv_r{r}_params"]
