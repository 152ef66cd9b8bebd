"""Tests of the PyTorch distillation functions used for training in the Lab 1 experiments.

They should agree with the NumPy reference in float64 (hypothesis-generated inputs), with the same
formulas written by hand in torch, and with the closed-form gradient of Hinton's loss; gradcheck
confirms autograd, and the teacher must receive no gradient.
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given

import reference_impl.distillation as ref
import labkit.distillation_torch as dt
from labkit.distillation_torch import (
    hard_label_kd_loss_torch,
    kd_loss_torch,
    kl_divergence_torch,
    log_softmax_t_torch,
    softmax_t_torch,
)



pytestmark = pytest.mark.usefixtures("one_torch_thread")


from oracle_strategies import SETTINGS, alphas, batches, logits, prob_pairs, t64, temperatures  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Agreement with the NumPy reference (float64)
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(z=logits(), T=temperatures)
def test_softmax_and_log_softmax_match_numpy(z, T):
    """softmax_t_torch and log_softmax_t_torch should equal softmax_t and log_softmax_t in float64."""
    p = softmax_t_torch(t64(z), T)
    logp = log_softmax_t_torch(t64(z), T)
    assert p.dtype == torch.float64 and p.shape == z.shape
    np.testing.assert_allclose(p.numpy(), ref.softmax_t(z, T), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(logp.numpy(), ref.log_softmax_t(z, T), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(pq=prob_pairs())
def test_kl_divergence_matches_numpy_including_zeros(pq):
    """kl_divergence_torch should equal kl_divergence per row, with 0 log 0 = 0 and +inf where q lacks p's mass."""
    p, q = pq
    out = kl_divergence_torch(t64(p), t64(q))
    assert out.shape == p.shape[:-1]
    assert not torch.isnan(out).any()
    np.testing.assert_allclose(out.numpy(), ref.kl_divergence(p, q), rtol=1e-10, atol=1e-13)  # inf == inf


@SETTINGS
@given(batch=batches(), T=temperatures, alpha=alphas)
def test_kd_loss_matches_numpy(batch, T, alpha):
    """kd_loss_torch should equal the NumPy kd_loss in float64."""
    s, t, y = batch
    out = kd_loss_torch(t64(s), t64(t), torch.as_tensor(y), T=T, alpha=alpha)
    assert out.ndim == 0 and out.dtype == torch.float64
    assert out.item() == pytest.approx(ref.kd_loss(s, t, y, T=T, alpha=alpha), rel=1e-8, abs=1e-10 * T**2)


@SETTINGS
@given(batch=batches(tied=True), alpha=alphas)
def test_hard_label_kd_loss_matches_numpy(batch, alpha):
    """hard_label_kd_loss_torch should equal hard_label_kd_loss, with the same tie rule for the teacher's argmax."""
    s, t, y = batch
    out = hard_label_kd_loss_torch(t64(s), t64(t), torch.as_tensor(y), alpha=alpha)
    assert out.ndim == 0
    assert out.item() == pytest.approx(ref.hard_label_kd_loss(s, t, y, alpha=alpha), rel=1e-10, abs=1e-12)


def test_defaults_match_numpy():
    """Default T and alpha should be those of the NumPy functions (T = 4, alpha = 0.9; DeiT's alpha = 0.5)."""
    s = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    t = np.array([[1.0, 1.0, 0.0], [-1.0, 2.0, 2.5]])
    y = np.array([0, 2])
    assert kd_loss_torch(t64(s), t64(t), torch.as_tensor(y)).item() == pytest.approx(ref.kd_loss(s, t, y), rel=1e-12)
    assert hard_label_kd_loss_torch(t64(s), t64(t), torch.as_tensor(y)).item() == pytest.approx(
        ref.hard_label_kd_loss(s, t, y), rel=1e-12
    )


# ---------------------------------------------------------------------------------------------
# Agreement with hand-written torch formulas
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(pq=prob_pairs(positive=True))
def test_kl_divergence_matches_hand_formula(pq):
    """kl_divergence_torch(p, q) should equal sum_i p_i log(p_i / q_i) for strictly positive p, q."""
    p, q = t64(pq[0]), t64(pq[1])
    expected = (p * (p / q).log()).sum(-1)
    np.testing.assert_allclose(kl_divergence_torch(p, q).numpy(), expected.numpy(), rtol=1e-9, atol=1e-13)


@SETTINGS
@given(batch=batches(), T=temperatures, alpha=alphas)
def test_kd_loss_matches_hand_formula(batch, T, alpha):
    """kd_loss_torch should equal (1-alpha) * mean(-log p_s[y]) + alpha * T^2 * mean_n sum_c p_t (log p_t - log p_s)."""
    s, t, y = t64(batch[0]), t64(batch[1]), torch.as_tensor(batch[2])
    N = s.shape[0]
    log_p1 = s - s.exp().sum(-1, keepdim=True).log()  # logits are bounded: no overflow
    ce = -log_p1[torch.arange(N), y].mean()
    log_ps = (s / T) - (s / T).exp().sum(-1, keepdim=True).log()
    log_pt = (t / T) - (t / T).exp().sum(-1, keepdim=True).log()
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean()
    expected = (1 - alpha) * ce + alpha * T**2 * kl
    assert kd_loss_torch(s, t, y, T=T, alpha=alpha).item() == pytest.approx(expected.item(), rel=1e-8, abs=1e-10 * T**2)


@SETTINGS
@given(batch=batches(tied=True), alpha=alphas)
def test_hard_label_kd_loss_matches_hand_formula(batch, alpha):
    """hard_label_kd_loss_torch should equal (1-alpha) CE(z_s, y) + alpha CE(z_s, first argmax of z_t), CE by hand."""
    s_np, t_np, y_np = batch
    s = t64(s_np)
    N = s.shape[0]
    log_p = s - s.exp().sum(-1, keepdim=True).log()
    y_t = torch.as_tensor([int(np.flatnonzero(row == row.max())[0]) for row in t_np])  # first maximum
    rows = torch.arange(N)
    expected = -(1 - alpha) * log_p[rows, torch.as_tensor(y_np)].mean() - alpha * log_p[rows, y_t].mean()
    out = hard_label_kd_loss_torch(s, t64(t_np), torch.as_tensor(y_np), alpha=alpha)
    assert out.item() == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)


def test_kd_loss_is_finite_at_extreme_logits():
    """Logits of +-1e4 should give a finite loss: 8 * (1250 - log 2) here, worked out by hand (T = 4, alpha = 1/2)."""
    # log p_s,T = [0, -2500] (to e^-2500), p_t,T = [1/2, 1/2]: KL = 1/2 log(1/2) + 1/2 (log(1/2) + 2500); CE ~ e^-1e4.
    out = kd_loss_torch(t64([[0.0, -1e4]]), t64([[0.0, 0.0]]), torch.tensor([0]), T=4.0, alpha=0.5)
    assert out.item() == pytest.approx(8 * (1250 - math.log(2)), rel=1e-12)


def test_float32_in_float32_out():
    """float32 logits should give float32 results (training runs in float32)."""
    z = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    assert softmax_t_torch(z, 2.0).dtype == torch.float32
    assert kd_loss_torch(z, z.flip(0), torch.tensor([0, 1, 2, 3])).dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(batch=batches(max_rows=4, max_classes=5), T=temperatures, alpha=alphas)
def test_kd_loss_gradcheck(batch, T, alpha):
    """Autograd's gradient of kd_loss_torch w.r.t. the student logits should match finite differences (float64)."""
    s, t, y = batch
    teacher, labels = t64(t), torch.as_tensor(y)
    assert torch.autograd.gradcheck(
        lambda z: kd_loss_torch(z, teacher, labels, T=T, alpha=alpha), (t64(s, requires_grad=True),)
    )


@SETTINGS
@given(batch=batches(max_rows=4, max_classes=5), alpha=alphas)
def test_hard_label_kd_loss_gradcheck(batch, alpha):
    """Autograd's gradient of hard_label_kd_loss_torch w.r.t. the student logits should match finite differences."""
    s, t, y = batch
    teacher, labels = t64(t), torch.as_tensor(y)
    assert torch.autograd.gradcheck(
        lambda z: hard_label_kd_loss_torch(z, teacher, labels, alpha=alpha), (t64(s, requires_grad=True),)
    )


@SETTINGS
@given(batch=batches(), T=temperatures, alpha=alphas)
def test_kd_loss_gradient_matches_closed_form(batch, T, alpha):
    """dL/dz_s should be [(1-alpha)(softmax(z_s) - onehot(y)) + alpha T (p_s,T - p_t,T)] / N (Hinton 2015, eq. 2)."""
    s_np, t_np, y_np = batch
    N, C = s_np.shape
    s = t64(s_np, requires_grad=True)
    kd_loss_torch(s, t64(t_np), torch.as_tensor(y_np), T=T, alpha=alpha).backward()

    def softmax(a):  # a plain NumPy softmax, independent of the code under test
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    hard = softmax(s_np) - np.eye(C)[y_np]  # (N, C)
    soft = T * (softmax(s_np / T) - softmax(t_np / T))  # (N, C): T^2 times the 1/T of the chain rule
    expected = ((1 - alpha) * hard + alpha * soft) / N
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(batch=batches(max_classes=7).filter(lambda b: b[0].shape[1] >= 2))
def test_soft_gradient_approaches_logit_matching_at_high_T(batch):
    """At high T with zero-mean logits, the soft gradient should approach (z_s - z_t) / (C N) (Hinton 2015, eq. 4)."""
    s_np, t_np, y_np = batch
    s_np = (s_np - s_np.mean(axis=-1, keepdims=True)) / 4  # zero-mean logits in [-10, 10]
    t_np = (t_np - t_np.mean(axis=-1, keepdims=True)) / 4
    N, C = s_np.shape
    s = t64(s_np, requires_grad=True)
    kd_loss_torch(s, t64(t_np), torch.as_tensor(y_np), T=1e5, alpha=1.0).backward()
    # The next term of the expansion is O(max|z|^2 / (C T)) = O(1e-3 / C) per sample.
    np.testing.assert_allclose(s.grad.numpy(), (s_np - t_np) / (C * N), rtol=0, atol=2e-3 / N)


@pytest.mark.parametrize(
    "loss",
    [
        pytest.param(lambda s, t, y: kd_loss_torch(s, t, y, T=3.0, alpha=0.7), id="kd_loss_torch"),
        pytest.param(lambda s, t, y: hard_label_kd_loss_torch(s, t, y, alpha=0.5), id="hard_label_kd_loss_torch"),
    ],
)
def test_teacher_gets_no_gradient(loss):
    """The teacher is fixed: backward through the loss should leave teacher.grad None, and the student's grad set."""
    g = torch.Generator().manual_seed(1)
    student = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    out = loss(student, teacher, torch.tensor([0, 1, 2, 3, 0]))
    out.backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# Bad input: the same ValueErrors as the NumPy reference
# ---------------------------------------------------------------------------------------------

Z = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], dtype=torch.float64)
Y = torch.tensor([2, 0])

BAD_INPUTS = [
    pytest.param(softmax_t_torch, (Z,), {"T": 0.0}, "temperature T must be a finite number > 0", id="softmax-T=0"),
    pytest.param(softmax_t_torch, (Z,), {"T": math.nan}, "temperature T", id="softmax-T=nan"),
    pytest.param(softmax_t_torch, (torch.tensor(1.0),), {}, "class axis", id="softmax-scalar"),
    pytest.param(log_softmax_t_torch, (Z,), {"T": -1.0}, "temperature T", id="log_softmax-T<0"),
    pytest.param(log_softmax_t_torch, (Z,), {"T": math.inf}, "temperature T", id="log_softmax-T=inf"),
    pytest.param(kl_divergence_torch, (Z, Z[:, :2]), {}, "same shape", id="kl-shape"),
    pytest.param(kd_loss_torch, (Z, Z, Y), {"alpha": 1.5}, r"alpha must lie in \[0, 1\]", id="kd-alpha=1.5"),
    pytest.param(kd_loss_torch, (Z, Z, Y), {"alpha": math.nan}, r"alpha must lie in \[0, 1\]", id="kd-alpha=nan"),
    pytest.param(kd_loss_torch, (Z, Z, Y), {"T": 0.0}, "temperature T", id="kd-T=0"),
    pytest.param(kd_loss_torch, (Z, Z, Y), {"T": math.nan}, "temperature T", id="kd-T=nan"),
    pytest.param(kd_loss_torch, (Z, Z[:, :2], Y), {}, "same shape", id="kd-shape"),
    pytest.param(kd_loss_torch, (Z[0], Z[0], Y[:1]), {}, r"expected logits \(N, C\)", id="kd-1d-logits"),
    pytest.param(kd_loss_torch, (Z, Z, Y[:1]), {}, r"labels \(N,\)", id="kd-label-shape"),
    pytest.param(kd_loss_torch, (Z, Z, torch.tensor([0, 3])), {}, r"integers in \[0, 3\)", id="kd-label=C"),
    # -100 is F.cross_entropy's ignore_index: unchecked, that sample would silently drop out of the loss.
    pytest.param(kd_loss_torch, (Z, Z, torch.tensor([0, -100])), {}, r"labels must be integers", id="kd-label=-100"),
    pytest.param(kd_loss_torch, (Z, Z, torch.tensor([0.0, 1.0])), {}, "labels must be integers", id="kd-float-labels"),
    pytest.param(kd_loss_torch, (Z[:0], Z[:0], Y[:0]), {}, "empty batch", id="kd-empty"),
    pytest.param(hard_label_kd_loss_torch, (Z, Z, Y), {"alpha": -0.1}, r"alpha must lie in \[0, 1", id="hard-alpha<0"),
    pytest.param(hard_label_kd_loss_torch, (Z, Z[:1], Y), {}, "same shape", id="hard-shape"),
    pytest.param(hard_label_kd_loss_torch, (Z, Z, torch.tensor([1, -1])), {}, "labels must be", id="hard-label<0"),
]


@pytest.mark.parametrize("fn, args, kwargs, message", BAD_INPUTS)
def test_bad_input_raises_value_error(fn, args, kwargs, message):
    """Invalid arguments should raise ValueError with a message that names the problem, as the NumPy versions do."""
    with pytest.raises(ValueError, match=message):
        fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# Module boundary: the grader imports the NumPy module and must not pay for torch
# ---------------------------------------------------------------------------------------------


def test_torch_module_imports_only_torch_and_math():
    """distillation_torch.py should import torch and math only, never the NumPy reference."""
    tree = ast.parse(Path(dt.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0] if node.level == 0 else "<relative>")
    assert imported <= {"__future__", "math", "torch"}, imported


def test_numpy_reference_does_not_import_torch():
    """Importing reference_impl.distillation should not import torch."""
    code = "import sys, reference_impl.distillation; sys.exit('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"torch was imported (or the import failed): {result.stderr}"
