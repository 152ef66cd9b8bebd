"""Tests of labkit/distillation_ii.py, the PyTorch side of Lab 2's experiments.

The torch losses should agree with the NumPy reference in float64 (hypothesis-generated inputs)
and send no gradient to the teacher; the training loops should be deterministic for a seed,
lower their loss, and leave what they should not train untouched.
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
    dml_losses_torch,
    fitnet_hint_stage,
    hidden_features,
    hint_loss_torch,
    rkd_angle_loss_torch,
    rkd_distance_loss_torch,
    train_cohort,
    train_with_loss,
)
from labkit.training import MLP, set_seed

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
