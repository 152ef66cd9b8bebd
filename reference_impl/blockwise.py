"""Distillation for efficiency: the NumPy reference graded in Lab 10.

Ten functions here are Lab 10's exercises (labgrader/checks/lab10_blockwise.py declares them):
``depthwise_separable_conv``, ``separable_cost``, ``block_loss``, ``replacement_plan``,
``wfd_schedule``, ``makespan``, ``parallel_metrics``, ``mse_logit_loss``, ``kd_weight_schedule`` and
``time_to_target``. Each one's source is copied verbatim into the solution notebook, so each is
self-contained: it may call the other exercises by name and ``numpy`` as ``np``.

The source is C. Blakeney's PhD dissertation on distillation for efficiency (Texas State University,
2022; "Blakeney 2022" below): chapter IV, craft (blockwise) distillation (Blakeney et al., "Craft
Distillation: Layer-wise Convolutional Neural Network Distillation", CSCloud 2020) and its parallel
version (Blakeney et al., "Parallel Blockwise Knowledge Distillation for Deep Neural Network
Compression", IEEE TPDS 2021), and chapter V, knowledge distillation to make training itself faster.
Where the literature differs, the convention chosen is stated in the function's docstring.

Conventions:

* Images are channel-first, (C, H, W) or a batch (N, C, H, W); convolutions are cross-correlations
  (as ``torch.nn.functional.conv2d``), stride 1, zero padding ``padding`` on every side.
* Blocks are numbered from the input (block 0) to the output; a schedule assigns block i to worker
  ``assignment[i]`` in 0..W-1.
"""

from __future__ import annotations

import numpy as np


def depthwise_separable_conv(x: np.ndarray, K_dw: np.ndarray, K_pw: np.ndarray, padding: int = 0) -> np.ndarray:
    """A depthwise k x k convolution followed by a pointwise (1 x 1) one (Howard et al., MobileNets, 2017, sec. 3.1).

    The dense k x k convolution y[o] = sum_c K[o, c] * x[c] (cross-correlation, * below) is replaced by

        depthwise:  h[c, i, j] = sum_{u,v} K_dw[c, u, v] x_pad[c, i + u, j + v]     one filter per channel
        pointwise:  y[o, i, j] = sum_c K_pw[o, c] h[c, i, j]

    which equals the dense convolution with the rank-structured kernel K[o, c] = K_pw[o, c] K_dw[c]
    (Blakeney 2022, ch. IV: the "craft" replacement of a 3 x 3 block). Stride 1; x_pad is x with
    ``padding`` zeros on every side, so the output is (H + 2p - k + 1) x (W + 2p - k + 1).

    Args:
        x: finite array (C, H, W), or a batch (N, C, H, W).
        K_dw: finite depthwise kernels (C, k, k).
        K_pw: finite pointwise weights (C_out, C).
        padding: p, an integer >= 0.

    Returns:
        y: float64 (C_out, H', W'), or (N, C_out, H', W') for a batch.

    Raises:
        ValueError: if x is not 3-D or 4-D, K_dw is not (C, k, k) with x's C and a square kernel, K_pw is
            not (C_out, C), an array is empty or non-finite, padding is not an integer >= 0, or the kernel
            is larger than the padded image.
    """
    x = np.asarray(x, dtype=np.float64)
    K_dw = np.asarray(K_dw, dtype=np.float64)
    K_pw = np.asarray(K_pw, dtype=np.float64)
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be (C, H, W) or (N, C, H, W), got shape {x.shape}")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
    batch = x if x.ndim == 4 else x[None]  # (N, C, H, W)
    N, C, H, W = batch.shape
    if K_dw.ndim != 3 or K_dw.shape[0] != C or K_dw.shape[1] != K_dw.shape[2]:
        raise ValueError(f"K_dw must be (C, k, k) with C = {C} channels of x, got shape {K_dw.shape}")
    if K_pw.ndim != 2 or K_pw.shape[1] != C:
        raise ValueError(f"K_pw must be (C_out, C) with C = {C}, got shape {K_pw.shape}")
    if batch.size == 0 or K_dw.size == 0 or K_pw.size == 0:
        raise ValueError("x, K_dw and K_pw must be non-empty")
    if not (np.all(np.isfinite(batch)) and np.all(np.isfinite(K_dw)) and np.all(np.isfinite(K_pw))):
        raise ValueError("x, K_dw and K_pw must be finite (no NaN or inf)")
    k = K_dw.shape[1]
    if k > H + 2 * padding or k > W + 2 * padding:
        raise ValueError(f"a {k} x {k} kernel does not fit a {H} x {W} image with padding {padding}")
    xp = np.pad(batch, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, H+2p, W+2p)
    Ho, Wo = H + 2 * padding - k + 1, W + 2 * padding - k + 1
    h = np.zeros((N, C, Ho, Wo))
    for u in range(k):
        for v in range(k):
            h += K_dw[None, :, u, v, None, None] * xp[:, :, u:u + Ho, v:v + Wo]  # depthwise: (N, C, Ho, Wo)
    y = np.einsum("oc,nchw->nohw", K_pw, h)  # pointwise: (N, C_out, Ho, Wo)
    return y if x.ndim == 4 else y[0]


def separable_cost(c_in: int, c_out: int, k: int, H: int, W: int) -> tuple[int, int, int, int]:
    """Weights and multiply-accumulates of a dense k x k conv and of its depthwise-separable replacement.

        dense:      params = c_out c_in k^2,         MACs = H W c_out c_in k^2
        separable:  params = c_in k^2 + c_out c_in,  MACs = H W (c_in k^2 + c_out c_in)

    for one image with an H x W output (stride 1, "same" padding; no biases), so the separable block
    costs a fraction 1/c_out + 1/k^2 of the dense one (Howard et al. 2017, eq. 5).

    Args:
        c_in, c_out, k: input channels, output channels, kernel size; positive integers.
        H, W: the output's height and width, positive integers.

    Returns:
        (dense_params, separable_params, dense_macs, separable_macs) as Python ints.

    Raises:
        ValueError: if a size is not a positive integer.
    """
    for name, value in (("c_in", c_in), ("c_out", c_out), ("k", k), ("H", H), ("W", W)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    c_in, c_out, k, H, W = int(c_in), int(c_out), int(k), int(H), int(W)
    dense = c_out * c_in * k * k
    separable = c_in * k * k + c_out * c_in
    return dense, separable, H * W * dense, H * W * separable


def block_loss(student_out: np.ndarray, teacher_out: np.ndarray) -> tuple[float, np.ndarray]:
    """The local loss of blockwise distillation and its gradient: the mean squared error to the teacher block.

    Each replacement block b_s is trained alone to reproduce the teacher block's output on the same
    (cached) input activations (Blakeney et al. 2020, 2021; Blakeney 2022, ch. IV):

        L = 1/n sum_i (s_i - t_i)^2,      dL/ds = 2 (s - t) / n,

    with n the number of entries (batch x channels x positions: ``torch.nn.functional.mse_loss``'s
    mean). No labels and no other block are involved, which is what lets blocks train in parallel.

    Args:
        student_out: finite, non-empty array (any shape), the replacement block's output.
        teacher_out: finite array of the same shape, the teacher block's output.

    Returns:
        (L, grad): a Python float >= 0 and a float64 array of student_out's shape.

    Raises:
        ValueError: if the shapes differ, the arrays are empty, or an entry is non-finite.
    """
    s = np.asarray(student_out, dtype=np.float64)
    t = np.asarray(teacher_out, dtype=np.float64)
    if s.shape != t.shape:
        raise ValueError(f"student_out and teacher_out must have the same shape, got {s.shape} and {t.shape}")
    if s.size == 0:
        raise ValueError("student_out and teacher_out must be non-empty")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(t))):
        raise ValueError("student_out and teacher_out must be finite (no NaN or inf)")
    diff = s - t
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


def replacement_plan(acc_drops: np.ndarray, threshold: float, order: str = "bottom_up") -> np.ndarray:
    """Which blocks craft distillation replaces: greedy acceptance within an accuracy budget.

    Blocks are visited in ``order`` — "bottom_up" from the input (0, 1, ..., B-1) or "top_down" from
    the output (B-1, ..., 0) — and block i's replacement is accepted when the accuracy lost so far plus
    its own drop stays within the threshold (Blakeney et al. 2020: a block is kept only if the
    reassembled network stays within the accuracy threshold of the teacher):

        accept i  <=>  sum_{accepted j} d_j + d_i <= threshold,

    modelling the drops d_i (teacher accuracy minus accuracy with block i replaced, measured one block
    at a time) as additive. A negative drop (the replacement helped) is always accepted and gives budget
    back. Rejected blocks keep the teacher's block.

    Args:
        acc_drops: finite 1-D array of B >= 1 accuracy drops (fractions, may be negative).
        threshold: the total drop allowed, a finite number >= 0.
        order: "bottom_up" or "top_down".

    Returns:
        a bool array of shape (B,): True where block i is replaced.

    Raises:
        ValueError: if acc_drops is not a non-empty finite 1-D array, threshold is negative or
            non-finite, or order is unknown.
    """
    d = np.asarray(acc_drops, dtype=np.float64)
    if d.ndim != 1 or d.size == 0 or not np.all(np.isfinite(d)):
        raise ValueError(f"acc_drops must be a non-empty, finite 1-D array, got shape {d.shape}")
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if order not in ("bottom_up", "top_down"):
        raise ValueError(f"order must be 'bottom_up' or 'top_down', got {order!r}")
    visit = range(d.size) if order == "bottom_up" else range(d.size - 1, -1, -1)
    accepted = np.zeros(d.size, dtype=bool)
    spent = 0.0
    for i in visit:
        if spent + d[i] <= threshold:
            accepted[i] = True
            spent += d[i]
    return accepted


def wfd_schedule(times: np.ndarray, workers: int) -> np.ndarray:
    """Worst-fit decreasing: assign blocks to W workers, longest first, each to the least-loaded worker.

    The parallel blockwise distillation schedule (Blakeney et al., TPDS 2021; Blakeney 2022,
    ch. IV): sort the blocks by training time, longest first (equal times: lower block index first),
    and give each to the worker with the smallest load so far (equal loads: the lower worker index).
    This is Graham's LPT rule, whose makespan is at most (4/3 - 1/(3W)) times the optimum
    (Graham, "Bounds on Multiprocessing Timing Anomalies", 1969).

    Args:
        times: finite 1-D array of B >= 1 block training times, each >= 0.
        workers: W, an integer >= 1.

    Returns:
        assignment: an int64 array (B,), assignment[i] in [0, W) is block i's worker.

    Raises:
        ValueError: if times is not a non-empty 1-D array of finite values >= 0, or workers is not an
            integer >= 1.
    """
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"times must be a non-empty 1-D array of finite times >= 0, got {times!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    order = np.argsort(-t, kind="stable")  # longest first, ties by block index
    loads = np.zeros(int(workers))
    assignment = np.zeros(t.size, dtype=np.int64)
    for i in order:
        w = int(np.argmin(loads))  # the first of the least-loaded workers
        assignment[i] = w
        loads[w] += t[i]
    return assignment


def makespan(times: np.ndarray, assignment: np.ndarray, workers: int) -> float:
    """The wall-clock time of a schedule: the largest total time of any worker.

        T_W = max_w sum_{i : assignment[i] = w} times[i]

    (every worker runs its blocks one after the other, all workers at once; Blakeney et al. 2021).
    A worker with no block has load 0.

    Args:
        times: finite 1-D array of B >= 1 times >= 0.
        assignment: 1-D integer array (B,) with entries in [0, W).
        workers: W, an integer >= 1.

    Returns:
        the makespan as a Python float.

    Raises:
        ValueError: if times is not a non-empty 1-D array of finite values >= 0, workers is not an integer
            >= 1, or assignment does not hold one integer worker index in [0, W) per block.
    """
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("times must be a non-empty 1-D array of finite times >= 0")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    a = np.asarray(assignment)
    if a.shape != t.shape or a.dtype.kind not in "iu" or np.any(a < 0) or np.any(a >= workers):
        raise ValueError(f"assignment must hold one integer worker index in [0, {workers}) per block")
    return float(np.max(np.bincount(a.astype(np.int64), weights=t, minlength=int(workers))))


def parallel_metrics(T1: float, TW: float, workers: int, E1: float, EW: float) -> tuple[float, float, float]:
    """Speed-up, efficiency and greenup of running on W workers instead of one.

        speed-up   S = T_1 / T_W
        efficiency E = S / W          (1 is perfect scaling)
        greenup    G = E_1 / E_W      (energy on one worker over energy on W; > 1 saves energy)

    (Blakeney et al. 2021; Blakeney 2022, ch. IV; greenup after Abdulsalam et al., "Using the Greenup, Powerup, and Speedup
    Metrics to Evaluate Software Energy Efficiency", IGSC 2015.) The dissertation's tables 4.6 and 4.12
    can be checked with these three lines.

    Args:
        T1, TW: wall-clock times on 1 and on W workers, finite numbers > 0.
        workers: W, an integer >= 1.
        E1, EW: energies (any one unit) on 1 and on W workers, finite numbers > 0.

    Returns:
        (speed-up, efficiency, greenup) as Python floats.

    Raises:
        ValueError: if a time or an energy is not a finite number > 0, or workers is not an integer >= 1.
    """
    for name, value in (("T1", T1), ("TW", TW), ("E1", E1), ("EW", EW)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    speedup = float(T1) / float(TW)
    return speedup, speedup / int(workers), float(E1) / float(EW)


def mse_logit_loss(student_logits: np.ndarray, teacher_logits: np.ndarray) -> tuple[float, np.ndarray]:
    """Distillation by regressing the teacher's logits, and its gradient.

        L = 1/N sum_n ||z_s,n - z_t,n||^2,        dL/dz_s = 2 (z_s - z_t) / N

    summed over the C classes and averaged over the batch (Ba & Caruana, "Do Deep Nets Really Need to be
    Deep?", 2014; Kim et al., "Comparing Kullback-Leibler Divergence and Mean Squared Error Loss in
    Knowledge Distillation", IJCAI 2021; Blakeney 2022, ch. V). Hinton et al. (2015, sec. 2.1) show
    that T^2 KL(p_t || p_s) at temperature T tends to ||z_s - z_t||^2 / (2 C) as T -> infinity when
    every row of logits has mean 0. Unlike the KL loss, this one sees the logits themselves, not only
    their differences: adding a constant to one row of z_s changes L.

    Args:
        student_logits, teacher_logits: finite arrays (N, C) of one shape, N >= 1, C >= 1.

    Returns:
        (L, grad): a Python float >= 0 and a float64 array (N, C).

    Raises:
        ValueError: if the arrays are not 2-D of one shape, are empty, or hold a non-finite entry.
    """
    zs = np.asarray(student_logits, dtype=np.float64)
    zt = np.asarray(teacher_logits, dtype=np.float64)
    if zs.ndim != 2 or zs.shape != zt.shape:
        raise ValueError(f"the logits must be 2-D (N, C) of one shape, got {zs.shape} and {zt.shape}")
    if zs.size == 0:
        raise ValueError("the logits must be non-empty")
    if not (np.all(np.isfinite(zs)) and np.all(np.isfinite(zt))):
        raise ValueError("the logits must be finite (no NaN or inf)")
    N = zs.shape[0]
    diff = zs - zt  # (N, C)
    return float(np.sum(diff**2) / N), 2.0 * diff / N


def kd_weight_schedule(steps: np.ndarray, total_steps: int, alpha: float, stop_fraction: float,
                       decay: str = "step") -> np.ndarray:
    """The weight of the distillation term at each training step, switched off after a fraction of training.

    Distilling only early in training (Blakeney 2022, ch. V; "early-stopped KD", Cho & Hariharan, "On the
    Efficacy of Knowledge Distillation", ICCV 2019, sec. 5) uses the loss (1 - a_t) CE + a_t KD with, for
    t_stop = stop_fraction * total_steps,

        "step":    a_t = alpha            if t < t_stop,  else 0
        "linear":  a_t = alpha (1 - t / t_stop)  if t < t_stop,  else 0

    so stop_fraction = 1 distils for the whole run and stop_fraction = 0 never.

    Args:
        steps: integer steps t (any shape), each in [0, total_steps).
        total_steps: an integer >= 1.
        alpha: the distillation weight while it is on, in [0, 1].
        stop_fraction: in [0, 1].
        decay: "step" or "linear".

    Returns:
        a float64 array of steps' shape with entries in [0, alpha].

    Raises:
        ValueError: if total_steps is not an integer >= 1, a step is not an integer in [0, total_steps),
            alpha or stop_fraction is outside [0, 1], or decay is unknown.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise ValueError(f"total_steps must be an integer >= 1, got {total_steps!r}")
    t = np.asarray(steps)
    if t.dtype.kind not in "iu" or np.any(t < 0) or np.any(t >= total_steps):
        raise ValueError(f"steps must be integers in [0, {total_steps})")
    if not (np.isfinite(alpha) and 0 <= alpha <= 1):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if not (np.isfinite(stop_fraction) and 0 <= stop_fraction <= 1):
        raise ValueError(f"stop_fraction must be in [0, 1], got {stop_fraction!r}")
    if decay not in ("step", "linear"):
        raise ValueError(f"decay must be 'step' or 'linear', got {decay!r}")
    t_stop = stop_fraction * total_steps
    on = t < t_stop
    if decay == "step":
        return np.where(on, float(alpha), 0.0)
    return np.where(on, alpha * (1.0 - t / np.where(t_stop > 0, t_stop, 1.0)), 0.0)


def time_to_target(times: np.ndarray, accs: np.ndarray, target: float) -> float:
    """The wall-clock time at which a training curve first reaches a target accuracy.

    With the curve recorded at increasing times t_0 < t_1 < ... and accuracies a_i, the first i with
    a_i >= target gives

        t* = t_0                                                        if i = 0
        t* = t_{i-1} + (target - a_{i-1}) / (a_i - a_{i-1}) (t_i - t_{i-1})   otherwise

    (linear interpolation between the two records around the crossing), and t* = inf when the curve
    never reaches the target. The speed-up of KD for training is t*_baseline / t*_KD at the baseline's
    accuracy (Blakeney 2022, ch. V; time-to-accuracy as in DAWNBench, Coleman et al. 2017).

    Args:
        times: finite 1-D array of T >= 1 strictly increasing times.
        accs: finite 1-D array (T,) of accuracies.
        target: a finite number.

    Returns:
        t* as a Python float (inf if the target is never reached).

    Raises:
        ValueError: if times and accs are not non-empty finite 1-D arrays of one length, times do not
            strictly increase, or target is not finite.
    """
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(accs, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or a.shape != t.shape:
        raise ValueError(f"times and accs must be non-empty 1-D arrays of one length, got {t.shape} and {a.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(a))):
        raise ValueError("times and accs must be finite (no NaN or inf)")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must strictly increase")
    if not np.isfinite(target):
        raise ValueError(f"target must be finite, got {target!r}")
    reached = np.flatnonzero(a >= target)
    if reached.size == 0:
        return float("inf")
    i = int(reached[0])
    if i == 0:
        return float(t[0])
    frac = (target - a[i - 1]) / (a[i] - a[i - 1])
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))
