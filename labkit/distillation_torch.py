"""Knowledge distillation in PyTorch: the differentiable counterparts of ``distillation.py``.

The NumPy module is what students write and the autograder grades; this one is what the lab
experiments train with. Each function here computes the same quantity as its NumPy namesake
(``softmax_t_torch`` <-> ``softmax_t`` and so on) with the same conventions and the same input
checks, so a float64 tensor in gives the NumPy answer to rounding, and autograd supplies the
gradient. This module imports only ``torch`` and ``math``: importing the NumPy reference from here
(or this module from there) would make the grader pay for torch.

Conventions (as in ``distillation.py``):

* Probabilities and logits live on the last axis: ``logits`` has shape ``(..., C)``.
* Logarithms are natural (nats).
* The KD loss follows Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network"
  (2015): ``(1 - alpha) * CE + alpha * T**2 * KL(p_teacher,T || p_student,T)``, with the KL summed
  over classes and averaged over the batch: ``F.kl_div(..., reduction="batchmean")``. The default
  ``reduction="mean"`` (and ``nn.KLDivLoss()``) averages over every element, which also divides by
  the number of classes C and silently shrinks the soft term by a factor C.
* The soft term is computed from two log-softmaxes (``log_target=True``), never from the log of a
  softmax: a probability that underflows to 0 would turn a large but finite loss into +inf.
* Losses return a 0-d tensor (so ``.backward()`` works); the teacher is always detached.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_temperature(T: float) -> None:
    if isinstance(T, torch.Tensor):
        T = T.item()
    if not math.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:  # also rejects nan, for which every comparison is False
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")


def _check_batch(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Shapes (N, C), (N, C), (N,) with N >= 1, integer labels in [0, C): the checks of the NumPy kd_loss."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            "student and teacher logits must have the same shape, "
            f"got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    if student_logits.ndim != 2 or labels.shape != (student_logits.shape[0],):
        raise ValueError(
            f"expected logits (N, C) and labels (N,), got {tuple(student_logits.shape)} and {tuple(labels.shape)}"
        )
    if student_logits.shape[0] == 0:
        raise ValueError("cross_entropy of an empty batch is undefined (N = 0)")
    C = student_logits.shape[1]
    # F.cross_entropy would ignore a label of -100 (its ignore_index) and fail obscurely on others.
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers in [0, {C}), got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= C:
        raise ValueError(f"labels must be integers in [0, {C}), got {labels.tolist()!r}")


def _with_class_axis(logits) -> torch.Tensor:
    logits = torch.as_tensor(logits)
    if logits.ndim == 0:
        raise ValueError("logits must have a class axis: shape (..., C), got a scalar")
    return logits


def softmax_t_torch(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Softmax with temperature along the last axis; the torch twin of ``softmax_t``.

    p_i = exp(z_i / T) / sum_j exp(z_j / T)

    ``F.softmax`` subtracts the row maximum internally, so logits of +-1e4 give finite
    probabilities, as in the NumPy version. T > 1 flattens the distribution, T -> 0 approaches
    the one-hot argmax.

    Args:
        logits: tensor of shape (..., C) with C >= 1 classes.
        T: temperature, a finite number > 0.

    Returns:
        tensor of the same shape and floating dtype as ``logits``; each row sums to 1.

    Raises:
        ValueError: if T is not a finite number > 0 or logits has no class axis.
    """
    _check_temperature(T)
    logits = _with_class_axis(logits)
    return F.softmax(logits / T, dim=-1)  # (..., C)


def log_softmax_t_torch(logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """Log of the temperature softmax along the last axis; the torch twin of ``log_softmax_t``.

    log p_i = z_i / T - logsumexp(z / T)

    ``F.log_softmax`` uses the log-sum-exp form, so it stays finite where
    ``softmax_t_torch(...).log()`` would give -inf (e.g. logits [0, -1e4]).

    Args:
        logits: tensor of shape (..., C).
        T: temperature, a finite number > 0.

    Returns:
        tensor of the same shape; exp of each row sums to 1.

    Raises:
        ValueError: if T is not a finite number > 0 or logits has no class axis.
    """
    _check_temperature(T)
    logits = _with_class_axis(logits)
    return F.log_softmax(logits / T, dim=-1)  # (..., C)


def kl_divergence_torch(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row from probabilities, in nats; the torch twin of ``kl_divergence``.

    KL(p || q) = sum_i p_i * log(p_i / q_i) = sum_i [xlogy(p_i, p_i) - xlogy(p_i, q_i)]

    ``torch.xlogy(x, y)`` is x * log(y) with the value 0 wherever x == 0, which is exactly the
    convention 0 * log(0 / q) = 0; where p_i > 0 and q_i = 0 the divergence is +inf, as in NumPy.
    (``F.kl_div(q.log(), p, reduction="none")`` gives nan there instead, from 0 * -inf.) For
    losses, use ``kd_loss_torch``, which works from log-probabilities.

    Args:
        p, q: probability tensors of the same shape (..., C); rows are non-negative and sum to 1.

    Returns:
        tensor of shape (...,): one divergence per row (0-d for 1-D inputs).

    Raises:
        ValueError: if the shapes differ.
    """
    p = torch.as_tensor(p)
    q = torch.as_tensor(q)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=-1)  # (...,)


def kd_loss_torch(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    T: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """Hinton's knowledge-distillation loss, differentiable in the student; twin of ``kd_loss``.

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * 1/N sum_n KL(softmax(z_t,n / T) || softmax(z_s,n / T))

    Hinton, Vinyals & Dean (2015), sec. 2: the soft term's gradient scales like 1/T^2, so it is
    multiplied by T^2. The hard term uses T = 1 (``F.cross_entropy``, batch mean). The soft term
    is ``F.kl_div(input=log p_s, target=log p_t, reduction="batchmean", log_target=True)``: note
    the argument order (input is the student's log-probabilities, target the teacher's) and the
    batch mean (KL summed over classes, averaged over N), which is the NumPy ``kd_loss``'s
    ``kl_divergence(p_t, p_s).mean()``. Working from log-softmaxes keeps the loss finite where
    the NumPy version's probabilities underflow. The teacher logits are detached: no gradient
    flows into the teacher.

    Args:
        student_logits, teacher_logits: tensors of shape (N, C), N >= 1.
        labels: integer tensor of shape (N,), values in [0, C).
        T: temperature, a finite number > 0.
        alpha: weight of the soft (distillation) term, in [0, 1].

    Returns:
        the loss as a 0-d tensor.

    Raises:
        ValueError: if alpha is outside [0, 1], T is not a finite number > 0, the shapes
            disagree, or a label is outside [0, C).
    """
    _check_alpha(alpha)
    _check_temperature(T)
    student_logits = torch.as_tensor(student_logits)
    teacher_logits = torch.as_tensor(teacher_logits).detach()
    labels = torch.as_tensor(labels)
    _check_batch(student_logits, teacher_logits, labels)
    hard = F.cross_entropy(student_logits, labels.long())  # ()
    log_p_s = F.log_softmax(student_logits / T, dim=-1)  # (N, C)
    log_p_t = F.log_softmax(teacher_logits / T, dim=-1)  # (N, C)
    soft = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)  # ()
    return (1 - alpha) * hard + alpha * T**2 * soft


def hard_label_kd_loss_torch(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Hard-label distillation (DeiT); the torch twin of ``hard_label_kd_loss``.

    L = (1 - alpha) * CE(z_s, y) + alpha * CE(z_s, y_t),   y_t = argmax_c z_t,c

    Touvron et al., "Training data-efficient image transformers & distillation through
    attention" (ICML 2021), eq. 3, is alpha = 1/2. ``torch.argmax`` returns the first maximal
    index, the same tie rule as ``np.argmax``, so both versions pick the same teacher labels.
    The teacher gets no gradient (argmax has none, and its logits are detached).

    Args:
        student_logits, teacher_logits: tensors of shape (N, C), N >= 1.
        labels: integer tensor of shape (N,), values in [0, C).
        alpha: weight of the teacher-label term, in [0, 1].

    Returns:
        the loss as a 0-d tensor.

    Raises:
        ValueError: if alpha is outside [0, 1], the shapes disagree, or a label is outside [0, C).
    """
    _check_alpha(alpha)
    student_logits = torch.as_tensor(student_logits)
    teacher_logits = torch.as_tensor(teacher_logits).detach()
    labels = torch.as_tensor(labels)
    _check_batch(student_logits, teacher_logits, labels)
    y_t = teacher_logits.argmax(dim=-1)  # (N,)
    hard = F.cross_entropy(student_logits, labels.long())  # ()
    return (1 - alpha) * hard + alpha * F.cross_entropy(student_logits, y_t)
