"""Tests of labkit/distillation_ii.py, the PyTorch side of Lab 2's experiments.

The torch losses should agree with the NumPy reference in float64 (hypothesis-generated inputs)
and send no gradient to the teacher; the training loops should be deterministic for a seed,
lower their loss, and leave what they should not train untouched; the born-again chain, the
multi-exit network and the CNNs for attention transfer should be what their docstrings say.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference_impl.distillation_ii as ref
from labkit.distillation_ii import (
    MultiExitMLP,
    SmallCNN,
    attention_map_torch,
    attention_transfer_loss_torch,
    born_again_chain,
    dml_losses_torch,
    exit_accuracies,
    fitnet_hint_stage,
    hidden_features,
    hint_loss_torch,
    rkd_angle_loss_torch,
    rkd_distance_loss_torch,
    self_distillation_loss_torch,
    train_attention_transfer,
    train_cohort,
    train_self_distillation,
    train_with_loss,
)
from labkit.distillation_torch import kd_loss_torch
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from oracle_strategies import SETTINGS, t64  # noqa: E402

values = st.integers(-30, 30).map(lambda v: v / 10)


@st.composite
def embedding_pairs(draw, min_n=3):
    n = draw(st.integers(min_n, 6))
    s = draw(hnp.arrays(np.float64, (n, draw(st.integers(1, 4))), elements=values))
    t = draw(hnp.arrays(np.float64, (n, draw(st.integers(1, 4))), elements=values))
    for e in (s, t):
        assume((np.linalg.norm(e[:, None] - e[None], axis=-1) + np.eye(n)).min() > 0.05)
    return s, t


@SETTINGS
@given(e=embedding_pairs())
def test_rkd_losses_match_numpy_reference(e):
    s, t = e
    assert rkd_distance_loss_torch(t64(s), t64(t)).item() == pytest.approx(ref.rkd_distance_loss(s, t), rel=1e-9, abs=1e-12)
    assert rkd_angle_loss_torch(t64(s), t64(t)).item() == pytest.approx(ref.rkd_angle_loss(s, t), rel=1e-9, abs=1e-12)


@SETTINGS
@given(n=st.integers(1, 4), dt=st.integers(1, 4), ds=st.integers(1, 4), data=st.data())
def test_hint_loss_matches_numpy_reference(n, dt, ds, data):
    u = data.draw(hnp.arrays(np.float64, (n, dt), elements=values))
    v = data.draw(hnp.arrays(np.float64, (n, ds), elements=values))
    W = data.draw(hnp.arrays(np.float64, (ds, dt), elements=values))
    assert hint_loss_torch(t64(u), t64(v) @ t64(W)).item() == pytest.approx(ref.hint_loss(u, v, W), rel=1e-9, abs=1e-12)


@SETTINGS
@given(k=st.integers(1, 4), n=st.integers(1, 4), c=st.integers(2, 5), data=st.data())
def test_dml_losses_match_numpy_reference(k, n, c, data):
    z = data.draw(hnp.arrays(np.float64, (k, n, c), elements=values.map(lambda v: 5 * v)))
    y = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    got = dml_losses_torch(list(t64(z)), torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(got, ref.dml_losses(z, y), rtol=1e-9, atol=1e-12)


def test_teacher_and_peers_get_no_gradient():
    rng = np.random.default_rng(0)
    s, t = t64(rng.normal(size=(5, 3)), True), t64(rng.normal(size=(5, 4)), True)
    (rkd_distance_loss_torch(s, t) + rkd_angle_loss_torch(s, t) + hint_loss_torch(t, s @ t64(np.ones((3, 4))))).backward()
    assert t.grad is None and s.grad is not None and s.grad.abs().sum() > 0
    z = [t64(rng.normal(size=(4, 3)), True) for _ in range(2)]
    dml_losses_torch(z, torch.tensor([0, 1, 2, 0]))[0].backward()
    assert (z[1].grad is None or not z[1].grad.any()) and z[0].grad.abs().sum() > 0


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    return X, (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0)


def _cohort(seed):
    set_seed(seed)
    return [MLP(6, [8], 4), MLP(6, [8], 4)]


def test_train_cohort_is_deterministic_and_learns(toy):
    X, y = toy
    a, b = _cohort(0), _cohort(0)
    ha = train_cohort(a, X, y, epochs=30, lr=1e-2, batch_size=16, seed=3)
    hb = train_cohort(b, X, y, epochs=30, lr=1e-2, batch_size=16, seed=3)
    assert ha == hb and ha[-1] < 0.5 * ha[0]
    for m, n in zip(a, b):
        for p, q in zip(m.parameters(), n.parameters()):
            assert torch.equal(p, q)


def test_train_with_loss_calls_on_step_once_per_batch(toy):
    X, y = toy
    set_seed(0)
    m = MLP(6, [8], 4)
    calls = []
    train_with_loss([m], X, y, lambda xb, yb: F.cross_entropy(m(xb), yb), epochs=2, lr=1e-2, batch_size=16, seed=0,
                    on_step=lambda: calls.append(1))
    assert len(calls) == 2 * 3  # 40 samples in batches of 16: 3 steps per epoch
    assert not m.training


def test_fitnet_hint_stage_trains_the_body_only_and_lowers_the_hint_loss(toy):
    X, _ = toy
    set_seed(0)
    teacher, student = MLP(6, [12], 4), MLP(6, [5], 4)
    head = [p.detach().clone() for p in student.net[-1].parameters()]
    body = [p.detach().clone() for p in student.net[0].parameters()]
    hist = fitnet_hint_stage(student, teacher, X, epochs=40, lr=1e-2, batch_size=16, seed=0)
    assert hist[-1] < hist[0]
    assert all(torch.equal(p, q) for p, q in zip(student.net[-1].parameters(), head))
    assert not all(torch.equal(p, q) for p, q in zip(student.net[0].parameters(), body))


def test_hidden_features_is_the_last_relu_output():
    set_seed(0)
    m = MLP(3, [4, 5], 2)
    x = torch.randn(2, 3)
    h = hidden_features(m, x)
    assert h.shape == (2, 5) and torch.all(h >= 0)
    assert torch.allclose(m.net[-1](h), m(x))
    with pytest.raises(ValueError, match="hidden layer"):
        hidden_features(MLP(3, [], 2), x)


# ---------------------------------------------------------------------------------------------
# self-distillation (Zhang et al., ICCV 2019)


@SETTINGS
@given(e=st.integers(1, 4), n=st.integers(1, 4), c=st.integers(2, 5), d=st.integers(1, 4),
       T=st.sampled_from([0.5, 1.0, 3.0, 7.5]), alpha=st.sampled_from([0.0, 0.3, 1.0]),
       lam=st.sampled_from([0.0, 0.03, 1.0]), data=st.data())
def test_self_distillation_loss_matches_numpy_reference(e, n, c, d, T, alpha, lam, data):
    z = data.draw(hnp.arrays(np.float64, (e, n, c), elements=values.map(lambda v: 5 * v)))
    f = data.draw(hnp.arrays(np.float64, (e, n, d), elements=values))
    y = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    want = ref.self_distillation_loss(z, f, y, T=T, alpha=alpha, lam=lam)
    got_stacked = self_distillation_loss_torch(t64(z), t64(f), torch.from_numpy(y), T=T, alpha=alpha, lam=lam).item()
    got_lists = self_distillation_loss_torch(list(t64(z)), list(t64(f)), torch.from_numpy(y), T=T, alpha=alpha, lam=lam).item()
    assert got_stacked == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert got_lists == got_stacked


def test_self_distillation_deepest_exit_learns_from_the_labels_only():
    rng = np.random.default_rng(1)
    z, f = t64(rng.normal(size=(3, 5, 4)), True), t64(rng.normal(size=(3, 5, 2)), True)
    y = torch.tensor([0, 1, 2, 3, 0])
    self_distillation_loss_torch(z, f, y, T=2.0, alpha=0.5, lam=0.1).backward()
    ce_grad = (torch.softmax(z[-1].detach(), dim=1) - F.one_hot(y, 4)) / 5  # d CE / d z_E
    assert torch.allclose(z.grad[-1], ce_grad, atol=1e-12)
    assert not f.grad[-1].any() and f.grad[:-1].abs().sum() > 0 and z.grad[:-1].abs().sum() > 0


def test_self_distillation_without_kd_and_hint_is_the_sum_of_the_exits_cross_entropies():
    rng = np.random.default_rng(2)
    z, f, y = t64(rng.normal(size=(3, 6, 4))), t64(rng.normal(size=(3, 6, 2))), torch.tensor([0, 1, 2, 3, 0, 1])
    want = sum(F.cross_entropy(z[i], y) for i in range(3))
    assert self_distillation_loss_torch(z, f, y, alpha=0.0, lam=0.0).item() == pytest.approx(want.item(), rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"T": 0.0}, "T > 0"), ({"alpha": 1.5}, "alpha in"), ({"lam": -0.1}, "lam >= 0"),
    ({"f": np.zeros((2, 4, 3))}, "features"), ({"y": [0, 1, 2, 7]}, "labels must be integers"),
    ({"z": np.zeros((0, 4, 3)), "f": np.zeros((0, 4, 3))}, "expected logits"),
])
def test_self_distillation_loss_rejects_bad_input(kwargs, match):
    z, f, y = kwargs.pop("z", np.zeros((3, 4, 3))), kwargs.pop("f", np.zeros((3, 4, 2))), kwargs.pop("y", [0, 1, 2, 0])
    with pytest.raises(ValueError, match=match):
        self_distillation_loss_torch(t64(z), t64(f), torch.tensor(y), **kwargs)


def test_multi_exit_mlp_has_an_exit_per_block_and_forward_is_the_deepest():
    set_seed(0)
    m = MultiExitMLP(6, [5, 7, 3], 4)
    x = torch.randn(2, 6)
    logits, feats = m.exits(x)
    assert [tuple(z.shape) for z in logits] == [(2, 4)] * 3 and [tuple(h.shape) for h in feats] == [(2, 3)] * 3
    assert torch.equal(m(x), logits[-1])
    assert torch.equal(feats[-1], m.blocks[2](m.blocks[1](m.blocks[0](x))))  # the deepest features: no bottleneck
    for bad in ([], [4, 0], "32"):
        with pytest.raises(ValueError, match="hidden"):
            MultiExitMLP(6, bad, 4)


def test_self_distillation_training_pulls_shallow_features_towards_the_deepest(toy):
    """Same init and batches: with the hint (lam > 0) the shallow exits end closer to the deepest
    exit's features, and closer in prediction (KL), than with cross-entropy only. (The total loss
    with a large hint weight need not fall: the deepest features it chases keep growing.)"""
    X, y = toy

    def run(alpha, lam):
        set_seed(0)
        m = MultiExitMLP(6, [8, 8], 4)
        hist = train_self_distillation(m, X, y, epochs=40, lr=1e-2, batch_size=16, seed=0, alpha=alpha, lam=lam)
        with torch.no_grad():
            logits, feats = m.exits(torch.from_numpy(X).float())
        hint = (feats[0] - feats[1]).pow(2).sum(1).mean().item()
        kl = F.kl_div(F.log_softmax(logits[0] / 3, 1), F.log_softmax(logits[1] / 3, 1), reduction="batchmean",
                      log_target=True).item()
        return m, hist, hint, kl

    m_ce, h_ce, hint_ce, kl_ce = run(0.0, 0.0)
    m_sd, h_sd, hint_sd, kl_sd = run(0.9, 1.0)
    assert h_ce[-1] < 0.5 * h_ce[0]
    assert hint_sd < 0.5 * hint_ce and kl_sd < kl_ce
    accs = exit_accuracies(m_sd, X, y)
    assert len(accs) == 2 and all(0 <= a <= 1 for a in accs) and accs[-1] == accuracy(m_sd, X, y)
    assert train_self_distillation(_sd_model(), X, y, epochs=2, lr=1e-2, batch_size=16, seed=0) == \
        train_self_distillation(_sd_model(), X, y, epochs=2, lr=1e-2, batch_size=16, seed=0)
    with pytest.raises(ValueError, match="MultiExitMLP"):
        train_self_distillation(MLP(6, [8], 4), X, y, epochs=1, lr=1e-2, batch_size=16, seed=0)
    with pytest.raises(ValueError, match="MultiExitMLP"):
        exit_accuracies(MLP(6, [8], 4), X, y)


def _sd_model():
    set_seed(0)
    return MultiExitMLP(6, [8, 8], 4)


# ---------------------------------------------------------------------------------------------
# attention transfer (Zagoruyko & Komodakis, ICLR 2017)


@st.composite
def feature_map_pairs(draw):
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = draw(hnp.arrays(np.float64, (n, draw(st.integers(1, 3)), h, w), elements=values))
    t = draw(hnp.arrays(np.float64, (n, draw(st.integers(1, 3)), h, w), elements=values))
    return s, t


@SETTINGS
@given(pair=feature_map_pairs(), p=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_attention_map_and_loss_match_numpy_reference(pair, p):
    s, t = pair
    np.testing.assert_allclose(attention_map_torch(t64(s), p).numpy(), ref.attention_map(s, p), rtol=1e-9, atol=1e-12)
    got = attention_transfer_loss_torch(t64(s), t64(t), p).item()
    assert got == pytest.approx(ref.attention_transfer_loss(s, t, p), rel=1e-9, abs=1e-12)


def test_attention_transfer_sends_no_gradient_to_the_teacher_and_none_is_nan_at_a_zero_map():
    rng = np.random.default_rng(3)
    s, t = t64(rng.normal(size=(2, 3, 4, 4)), True), t64(rng.normal(size=(2, 5, 4, 4)), True)
    attention_transfer_loss_torch(s, t).backward()
    assert t.grad is None and s.grad.abs().sum() > 0
    s0 = torch.zeros(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)  # a dead ReLU layer: all zeros
    attention_transfer_loss_torch(s0, t64(rng.normal(size=(1, 2, 3, 3)))).backward()
    assert torch.isfinite(s0.grad).all()


@pytest.mark.parametrize("s_shape, t_shape, p, match", [
    ((2, 3, 4, 4), (2, 3, 2, 2), 2.0, "agree in N, H and W"),
    ((2, 3, 4, 4), (3, 3, 4, 4), 2.0, "agree in N, H and W"),
    ((2, 3, 4), (2, 3, 4), 2.0, r"\(N, C, H, W\)"),
    ((2, 3, 4, 4), (2, 3, 4, 4), 0.0, "p must be"),
])
def test_attention_transfer_loss_rejects_bad_input(s_shape, t_shape, p, match):
    with pytest.raises(ValueError, match=match):
        attention_transfer_loss_torch(torch.ones(s_shape), torch.ones(t_shape), p)


def test_small_cnn_stages_halve_the_map_and_the_head_reads_the_last_stage():
    set_seed(0)
    m = SmallCNN((3, 5), out_features=4, convs_per_stage=2)
    x = torch.rand(2, 64)
    maps = m.feature_maps(x)
    assert [tuple(f.shape) for f in maps] == [(2, 3, 8, 8), (2, 5, 4, 4)] and all((f >= 0).all() for f in maps)
    assert torch.allclose(m(x), m.head(maps[-1].mean(dim=(2, 3))))
    assert len(m.stages[0]) == 4  # two (conv, ReLU) pairs
    with pytest.raises(ValueError, match="channels"):
        SmallCNN(())
    assert [f.shape[2:] for f in SmallCNN((2, 2, 2, 2)).feature_maps(x)] == [(8, 8), (4, 4), (2, 2), (1, 1)]
    with pytest.raises(ValueError, match="divisible by 16"):
        SmallCNN((2,) * 5)  # four halvings of an 8x8 image


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = rng.random(size=(40, 64))
    return X, (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(np.int64)


def test_attention_transfer_training_moves_the_students_attention_towards_the_teachers(images):
    """Same init and batches: after KD + AT the student's attention maps are closer to the
    teacher's than after KD alone; the teacher is not trained; the logged first loss is
    KD + beta/2 * attention_transfer_loss_torch at the initial weights (full batch)."""
    X, y = images
    set_seed(1)
    teacher = SmallCNN((6, 8), out_features=2, convs_per_stage=2)
    before = [p.detach().clone() for p in teacher.parameters()]
    xt = torch.from_numpy(X).float()

    def student():
        set_seed(0)
        return SmallCNN((2, 3), out_features=2)

    def at_distance(m):
        with torch.no_grad():
            return sum(attention_transfer_loss_torch(a, b).item() for a, b in zip(m.feature_maps(xt), teacher.feature_maps(xt)))

    s0 = student()
    with torch.no_grad():
        want = kd_loss_torch(s0(xt), teacher(xt), torch.from_numpy(y)) + 5.0 * at_distance(s0)
    kd_only, with_at = student(), student()
    h = train_attention_transfer(with_at, teacher, X, y, beta=10.0, epochs=30, lr=1e-2, batch_size=40, seed=0)
    train_attention_transfer(kd_only, teacher, X, y, beta=0.0, epochs=30, lr=1e-2, batch_size=40, seed=0)
    assert h[0] == pytest.approx(want.item(), rel=1e-5)
    assert at_distance(with_at) < 0.5 * at_distance(kd_only)
    assert all(torch.equal(p, q) for p, q in zip(teacher.parameters(), before))
    last_only = student()
    train_attention_transfer(last_only, teacher, X, y, beta=10.0, epochs=30, lr=1e-2, batch_size=40, seed=0, stages=[1])
    with torch.no_grad():
        d_last = attention_transfer_loss_torch(last_only.feature_maps(xt)[1], teacher.feature_maps(xt)[1]).item()
        d_kd = attention_transfer_loss_torch(kd_only.feature_maps(xt)[1], teacher.feature_maps(xt)[1]).item()
    assert d_last < 0.5 * d_kd


@pytest.mark.parametrize("kwargs, match", [
    ({"student": SmallCNN((2, 2, 2))}, "as many stages"),
    ({"student": MLP(64, [4], 2)}, "student must be a labkit SmallCNN"),
    ({"beta": -1.0}, "beta must be"),
    ({"stages": [2]}, "stages must be"),
    ({"stages": []}, "stages must be"),
    ({"alpha": 2.0}, "alpha"),
])
def test_train_attention_transfer_rejects_bad_input(images, kwargs, match):
    X, y = images
    args = {"student": SmallCNN((2, 3), out_features=2), "teacher": SmallCNN((4, 4), out_features=2), "beta": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_attention_transfer(args.pop("student"), args.pop("teacher"), X, y, epochs=1, lr=1e-2, batch_size=8,
                                 seed=0, **args)


# ---------------------------------------------------------------------------------------------
# born-again networks (Furlanello et al., ICML 2018)


def _kl_rows(p_logits, q_logits):
    """Mean over rows of KL(softmax(p) || softmax(q))."""
    lp, lq = F.log_softmax(torch.from_numpy(p_logits).double(), 1), F.log_softmax(torch.from_numpy(q_logits).double(), 1)
    return float((lp.exp() * (lp - lq)).sum(1).mean())


def test_born_again_chain_trains_g_plus_one_generations_each_from_the_last(toy):
    X, _ = toy
    y = np.random.default_rng(1).integers(0, 4, size=len(X))  # random labels: gen 0 fits them only in part
    make = lambda: MLP(6, [8], 4)  # noqa: E731
    kw = dict(epochs=40, lr=1e-2, batch_size=16, seed=5)
    chain = born_again_chain(make, X, y, generations=2, **kw)
    assert len(chain) == 3 and len({id(m) for m in chain}) == 3
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in chain]
    assert shapes[0] == shapes[1] == shapes[2]
    assert not torch.equal(chain[0].net[0].weight, chain[1].net[0].weight)
    assert all(not m.training for m in chain)
    # generation 0 is a plain cross-entropy run from init seed `seed`
    set_seed(5)
    plain = make()
    train_classifier(plain, X, y, epochs=40, lr=1e-2, batch_size=16, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), chain[0].parameters()))
    # generation 1 learned generation 0's soft targets (alpha = 1: never the labels): it is closer to
    # them than a label-trained twin (same init and batches), and it follows gen 0 where gen 0 and
    # the labels disagree
    set_seed(1000 + 5)
    twin = make()
    train_classifier(twin, X, y, epochs=40, lr=1e-2, batch_size=16, seed=1000 + 5)
    z0, z1, zt = (predict_logits(m, X) for m in (chain[0], chain[1], twin))
    assert _kl_rows(z0, z1) < 0.5 * _kl_rows(z0, zt)
    agree_gen0, agree_labels = (z1.argmax(1) == z0.argmax(1)).mean(), (z1.argmax(1) == y).mean()
    assert agree_gen0 > 0.7 and agree_gen0 > agree_labels  # chance: about 1/4
    # deterministic for a seed
    again = born_again_chain(make, X, y, generations=2, **kw)
    assert all(torch.equal(p, q) for a, b in zip(chain, again) for p, q in zip(a.parameters(), b.parameters()))


def test_born_again_chain_rejects_bad_input(toy):
    X, y = toy
    kw = dict(epochs=1, lr=1e-2, batch_size=16, seed=0)
    with pytest.raises(ValueError, match="generations must be an int >= 1"):
        born_again_chain(lambda: MLP(6, [8], 4), X, y, generations=0, **kw)
    widths = iter([[8], [9]])
    with pytest.raises(ValueError, match="same architecture"):
        born_again_chain(lambda: MLP(6, next(widths), 4), X, y, generations=1, **kw)
    one = MLP(6, [8], 4)
    with pytest.raises(ValueError, match="new model on every call"):
        born_again_chain(lambda: one, X, y, generations=1, **kw)
    with pytest.raises(ValueError, match="make_model must be a function"):
        born_again_chain(MLP(6, [8], 4), X, y, generations=1, **kw)  # a model, not a maker of models
    with pytest.raises(ValueError, match="make_model must be a function"):
        born_again_chain("MLP", X, y, generations=1, **kw)
    with pytest.raises(ValueError, match="torch.nn.Module"):
        born_again_chain(lambda: "not a model", X, y, generations=1, **kw)
    with pytest.raises(ValueError, match="temperature"):
        born_again_chain(lambda: MLP(6, [8], 4), X, y, generations=1, T=0.0, **kw)
