"""NAS II: weight sharing, once-for-all, reinforcement learning and evolution — the NumPy reference graded in Lab 9.

Ten functions here are Lab 9's exercises (labgrader/checks/lab09_ofa.py declares them):
``sort_channels``, ``elastic_linear``, ``subnet_cost``, ``ps_sample``, ``inplace_kd_loss``,
``reinforce_grad``, ``tournament_select``, ``crossover_mutate``, ``ridge_fit`` and ``kendall_tau``.
Each one's source is copied verbatim into the solution notebook, so each is self-contained: it may
call the other exercises by name and ``numpy`` as ``np``.

Conventions (where the literature differs, the one chosen is stated):

* The supernet is an MLP d_in -> w_1 -> ... -> w_D -> d_out with ReLU between layers. Weights are
  stored as PyTorch's ``nn.Linear`` stores them: W of shape (out, in), y = x W^T + b.
* Once-for-All: Cai, Gan, Wang, Zhang & Han, "Once-for-All: Train One Network and Specialize it
  for Efficient Deployment" (ICLR 2020). A subnet of width w keeps the *first* w channels of each
  layer of the largest network (sec. 3.2, elastic width); the channels are first sorted by
  importance (the L1 norm of their weights) so that the first ones are the most important.
  A subnet of depth d keeps the first d layers (elastic depth). Progressive shrinking trains the
  largest network first, then lets depth, then width, vary (sec. 3.2, Fig. 2); in-place
  distillation (Yu & Huang, "Universally Slimmable Networks", ICCV 2019) trains each sampled subnet
  on the largest network's soft labels.
* The RL controller: Zoph & Le, "Neural Architecture Search with Reinforcement Learning" (ICLR 2017),
  and NASNet (Zoph et al., CVPR 2018): a policy over L discrete decisions, one categorical
  distribution softmax(logits_l) per decision, trained by REINFORCE (Williams, 1992) with a
  moving-average baseline and (as in ENAS, Pham et al., ICML 2018) an entropy bonus.
* Evolution: Real et al., "Regularized Evolution for Image Classifier Architecture Search"
  (AAAI 2019) for tournament selection, OFA's evolutionary search (crossover + mutation, sec. 3.3)
  and MetaPruning (Liu et al., ICCV 2019). Every random draw is an argument, so each function is a
  deterministic function of its inputs. Budget constraints follow Deb's feasibility rules
  (Deb, "An efficient constraint handling method for genetic algorithms", CMAME 2000).
* The accuracy predictor is ridge regression on architecture encodings (OFA uses a small MLP on
  one-hot encodings; ridge is its linear version); its quality is measured by rank correlation,
  Kendall's tau-b (Kendall, 1945), as in the NAS-Bench and predictor literature.
"""

from __future__ import annotations

import numpy as np


def sort_channels(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reorder a hidden layer's channels by importance, most important first, without changing the network.

    The importance of hidden channel h is the L1 norm of its incoming weights,
    s_h = sum_j |W1[h, j]| (OFA, Cai et al. 2020, sec. 3.2: "we first compute the L1 norm of each
    channel's weight ... more important channels are shared by more subnets"). With the order
    pi = argsort(-s) (stable: equal norms keep their original order), the layer's rows and the
    next layer's columns are permuted alike,

        W1' = W1[pi, :],   b1' = b1[pi],   W2' = W2[:, pi],

    so x -> W2' relu(W1' x + b1') is the same function as before: only the channel order changes,
    and elastic width (elastic_linear) then keeps the most important channels.

    Args:
        W1: (H, D) weights of the hidden layer (out, in).
        b1: (H,) its bias.
        W2: (O, H) weights of the next layer.

    Returns:
        (W1', b1', W2'): new float64 arrays of the same shapes.

    Raises:
        ValueError: if the shapes do not fit together (W1 (H, D), b1 (H,), W2 (O, H), H >= 1) or an
            entry is not finite.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    b1 = np.asarray(b1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    if W1.ndim != 2 or W1.shape[0] < 1 or b1.shape != (W1.shape[0],) or W2.ndim != 2 or W2.shape[1] != W1.shape[0]:
        raise ValueError(f"expected W1 (H, D), b1 (H,), W2 (O, H) with H >= 1, got {W1.shape}, {b1.shape}, {W2.shape}")
    if not (np.all(np.isfinite(W1)) and np.all(np.isfinite(b1)) and np.all(np.isfinite(W2))):
        raise ValueError("W1, b1 and W2 must be finite (no NaN or inf)")
    importance = np.abs(W1).sum(axis=1)  # (H,)
    order = np.argsort(-importance, kind="stable")  # (H,), most important first
    return W1[order, :], b1[order], W2[:, order]


def elastic_linear(W: np.ndarray, b: np.ndarray, out_width: int, in_width: int) -> tuple[np.ndarray, np.ndarray]:
    """The weights a subnet inherits from the largest network's layer: the first channels (elastic width).

        W_sub = W[:out_width, :in_width],   b_sub = b[:out_width]

    A subnet with fewer output channels keeps the first out_width rows; its previous layer being
    narrower too, only the first in_width inputs exist, so the first in_width columns are kept
    (OFA, Cai et al. 2020, sec. 3.2, Fig. 3). Every subnet shares these weights with the largest
    network: training one subnet updates the weights of all the subnets that contain it.
    The result is a copy: changing it must not change the supernet.

    Args:
        W: (O, I) weights of the largest layer (out, in).
        b: (O,) its bias.
        out_width: integer in [1, O].
        in_width: integer in [1, I].

    Returns:
        (W_sub, b_sub): new float64 arrays of shapes (out_width, in_width) and (out_width,).

    Raises:
        ValueError: if W is not 2-D, b is not (O,), or a width is not an integer in [1, O] / [1, I].
    """
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if W.ndim != 2 or b.shape != (W.shape[0],):
        raise ValueError(f"expected W (O, I) and b (O,), got {W.shape} and {b.shape}")
    for name, width, size in (("out_width", out_width, W.shape[0]), ("in_width", in_width, W.shape[1])):
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 1 <= width <= size:
            raise ValueError(f"{name} must be an integer in [1, {size}], got {width!r}")
    return W[:out_width, :in_width].copy(), b[:out_width].copy()


def subnet_cost(widths: np.ndarray, depth: int, d_in: int, d_out: int) -> tuple[int, int]:
    """Multiply-accumulates and parameters of one subnet of the elastic MLP.

    The subnet keeps the first ``depth`` hidden layers (elastic depth), of widths
    widths[0], ..., widths[depth-1], so its layer sizes are n = (d_in, w_1, ..., w_depth, d_out) and

        MACs   = sum_{i=0}^{depth} n_i * n_{i+1}          (one input; a Linear(n_i, n_{i+1}) costs n_i n_{i+1})
        params = MACs + sum_{i=1}^{depth+1} n_i            (weights plus one bias per output unit)

    Depth 0 is the linear model d_in -> d_out. This is the cost OFA searches under
    (Cai et al. 2020, sec. 3.3: "specialized for a MAC / latency constraint").

    Args:
        widths: 1-D integer array (D,) of the hidden layers' widths, each >= 1; only the first
            ``depth`` are used.
        depth: integer in [0, D].
        d_in, d_out: input and output sizes, integers >= 1.

    Returns:
        (macs, params) as Python ints.

    Raises:
        ValueError: if widths is not a 1-D array of integers >= 1, depth is not an integer in
            [0, D], or d_in / d_out is not an integer >= 1.
    """
    w = np.asarray(widths)
    if w.ndim != 1 or w.dtype.kind not in "iu" or np.any(w < 1):
        raise ValueError(f"widths must be a 1-D array of integers >= 1, got {w!r}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 0 <= depth <= w.shape[0]:
        raise ValueError(f"depth must be an integer in [0, {w.shape[0]}], got {depth!r}")
    for name, size in (("d_in", d_in), ("d_out", d_out)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {size!r}")
    n = [int(d_in)] + [int(v) for v in w[:depth]] + [int(d_out)]
    macs = sum(n[i] * n[i + 1] for i in range(len(n) - 1))
    return macs, macs + sum(n[1:])


def ps_sample(u: np.ndarray, stage: int, width_choices: list, depth_choices: list) -> tuple[np.ndarray, int]:
    """The subnet progressive shrinking trains at one step, from uniform draws u.

    Progressive shrinking (OFA, Cai et al. 2020, sec. 3.2, Fig. 2) trains the largest network
    first and then lets the dimensions shrink one after another, so the large subnets are not
    disturbed by the small ones too early. With D = max(depth_choices) hidden layers, the choices
    sorted ascending (w_(0) < ... and d_(0) < ...) and u = (u_0, u_1, ..., u_D) in [0, 1):

        stage 0 (largest network):   depth = max(depth_choices),            every width = max(width_choices)
        stage 1 (elastic depth):     depth = d_( floor(u_0 * n_depths) ),    every width = max(width_choices)
        stage 2 (+ elastic width):   depth = d_( floor(u_0 * n_depths) ),    widths[l] = w_( floor(u_{l+1} * n_widths) )

    Every one of the D widths is drawn (also those below the depth, which the subnet does not use),
    so one u gives one subnet whatever the depth. Duplicate choices count once.

    Args:
        u: (D + 1,) draws in [0, 1).
        stage: 0, 1 or 2.
        width_choices: non-empty list of integers >= 1.
        depth_choices: non-empty list of integers >= 1.

    Returns:
        (widths, depth): an int64 array (D,) and a Python int.

    Raises:
        ValueError: if stage is not 0, 1 or 2, a choice list is empty or holds a value that is not an
            integer >= 1, or u is not (D + 1,) with entries in [0, 1).
    """
    if isinstance(stage, bool) or not isinstance(stage, (int, np.integer)) or stage not in (0, 1, 2):
        raise ValueError(f"stage must be 0, 1 or 2, got {stage!r}")
    lists = []
    for name, choices in (("width_choices", width_choices), ("depth_choices", depth_choices)):
        values = list(choices)
        if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values):
            raise ValueError(f"{name} must be a non-empty list of integers >= 1, got {choices!r}")
        lists.append(sorted(set(int(v) for v in values)))
    ws, ds = lists
    D = ds[-1]
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (D + 1,) or not np.all((u >= 0) & (u < 1)):
        raise ValueError(f"u must have shape ({D + 1},) (1 + the largest depth) with entries in [0, 1), got {u!r}")
    depth = ds[-1] if stage == 0 else ds[int(np.floor(u[0] * len(ds)))]
    if stage < 2:
        widths = np.full(D, ws[-1], dtype=np.int64)
    else:
        widths = np.array([ws[int(np.floor(v * len(ws)))] for v in u[1:]], dtype=np.int64)
    return widths, depth


def inplace_kd_loss(student_logits: np.ndarray, teacher_logits: np.ndarray, T: float = 1.0) -> tuple[float, np.ndarray]:
    """In-place distillation: a subnet's KD loss against the largest network, and its gradient.

    With p = softmax(teacher_logits / T) (the largest network's soft labels, a constant: no gradient
    flows into the teacher) and q = softmax(student_logits / T), over a batch of B rows,

        L = T^2 / B * sum_b KL(p_b || q_b) = T^2 / B * sum_b sum_k p_bk (log p_bk - log q_bk)
        dL / d student_logits = T / B * (q - p)

    (Hinton et al. 2015 for the T^2 scaling; in-place distillation: Yu & Huang 2019, used by OFA,
    Cai et al. 2020, sec. 3.2). Computed with log-softmax (row max subtracted), so logits of +-1e4
    stay finite, and 0 log 0 = 0 where a teacher probability underflows to 0.

    Args:
        student_logits: (B, K) logits of the subnet, B, K >= 1.
        teacher_logits: (B, K) logits of the largest network.
        T: temperature, > 0.

    Returns:
        (loss, grad): a Python float >= 0 and a float64 array (B, K).

    Raises:
        ValueError: if the logits are not two (B, K) arrays of one shape, an entry is not finite,
            or T is not a positive finite number.
    """
    s = np.asarray(student_logits, dtype=np.float64)
    t = np.asarray(teacher_logits, dtype=np.float64)
    if s.ndim != 2 or s.shape != t.shape or s.size == 0:
        raise ValueError(f"student and teacher logits must both be (B, K) with B, K >= 1, got {s.shape} and {t.shape}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(t))):
        raise ValueError("logits must be finite (no NaN or inf)")
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive finite number, got {T!r}")
    zs, zt = s / T, t / T  # (B, K)
    log_q = zs - zs.max(axis=1, keepdims=True)
    log_q = log_q - np.log(np.exp(log_q).sum(axis=1, keepdims=True))  # (B, K)
    log_p = zt - zt.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))  # (B, K)
    p, q = np.exp(log_p), np.exp(log_q)
    B = s.shape[0]
    kl = np.where(p > 0, p * (log_p - log_q), 0.0).sum()
    return float(max(T * T * kl / B, 0.0)), T * (q - p) / B


def reinforce_grad(logits: np.ndarray, actions: np.ndarray, reward: float, baseline: float,
                   beta: float = 0.0) -> np.ndarray:
    """The REINFORCE gradient of a NAS controller, with a baseline and an entropy bonus.

    The controller picks one of K options for each of L decisions, decision l from
    pi_l = softmax(logits[l]). Having sampled the architecture a = (a_1, ..., a_L) and measured its
    reward R (validation accuracy), REINFORCE (Williams 1992; Zoph & Le 2017, eq. 2-3) ascends

        J = (R - b) * sum_l log pi_l(a_l) + beta * sum_l H(pi_l),   H(pi) = -sum_k pi_k log pi_k

    where b is the moving-average baseline (it lowers the variance and leaves the expected gradient
    unchanged) and beta >= 0 weights an entropy bonus that keeps the policy exploring (ENAS, Pham
    et al. 2018). Its gradient with respect to the logits is, row by row,

        dJ / dlogits[l, k] = (R - b) * (1[k = a_l] - pi_lk) - beta * pi_lk * (log pi_lk + H(pi_l))

    The gradient of J (to be *added* to the logits times a learning rate). Each row sums to 0.

    Args:
        logits: (L, K) finite controller logits, L, K >= 1.
        actions: (L,) integers in [0, K): the sampled choices.
        reward: R, a finite number.
        baseline: b, a finite number.
        beta: the entropy weight, >= 0.

    Returns:
        float64 array (L, K).

    Raises:
        ValueError: if logits is not a finite (L, K) array, actions is not (L,) integers in [0, K),
            reward or baseline is not finite, or beta is negative or not finite.
    """
    z = np.asarray(logits, dtype=np.float64)
    a = np.asarray(actions)
    if z.ndim != 2 or z.size == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be a finite (L, K) array with L, K >= 1, got shape {z.shape}")
    if a.shape != (z.shape[0],) or a.dtype.kind not in "iu" or np.any(a < 0) or np.any(a >= z.shape[1]):
        raise ValueError(f"actions must be ({z.shape[0]},) integers in [0, {z.shape[1]}), got {a!r}")
    if not (np.isfinite(reward) and np.isfinite(baseline)):
        raise ValueError(f"reward and baseline must be finite, got {reward!r} and {baseline!r}")
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    log_pi = z - z.max(axis=1, keepdims=True)
    log_pi = log_pi - np.log(np.exp(log_pi).sum(axis=1, keepdims=True))  # (L, K)
    pi = np.exp(log_pi)
    H = -(pi * log_pi).sum(axis=1, keepdims=True)  # (L, 1)
    onehot = np.zeros_like(z)
    onehot[np.arange(z.shape[0]), a] = 1.0
    return (reward - baseline) * (onehot - pi) - beta * pi * (log_pi + H)


def tournament_select(fitness: np.ndarray, cost: np.ndarray, budget: float, draws: np.ndarray) -> np.ndarray:
    """Tournament selection under a budget: the winner of each tournament of drawn candidates.

    Each row of ``draws`` is one tournament: the population indices of the k candidates drawn (with
    or without repeats). Its winner follows Deb's feasibility rules (Deb 2000):

    * a feasible candidate (cost <= budget) beats an infeasible one;
    * between two feasible candidates the higher fitness wins;
    * between two infeasible ones the lower cost wins (the smaller violation);
    * on a tie the candidate drawn first (leftmost in the row) wins.

    (Real et al. 2019's tournament; OFA and MetaPruning search under a MAC/latency budget.)

    Args:
        fitness: (N,) finite fitness of the population (e.g. predicted accuracy).
        cost: (N,) finite costs (e.g. MACs).
        budget: the largest feasible cost.
        draws: (n, k) integers in [0, N), n, k >= 1.

    Returns:
        int64 array (n,): the population index of each tournament's winner.

    Raises:
        ValueError: if fitness and cost are not finite (N,) arrays with N >= 1, budget is not a
            number (NaN), or draws is not an (n, k) integer array with entries in [0, N).
    """
    f = np.asarray(fitness, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    d = np.asarray(draws)
    if f.ndim != 1 or f.shape != c.shape or f.size == 0 or not (np.all(np.isfinite(f)) and np.all(np.isfinite(c))):
        raise ValueError(f"fitness and cost must be finite arrays of one shape (N,), N >= 1, got {f.shape} and {c.shape}")
    if np.isnan(budget):
        raise ValueError("budget must be a number, got NaN")
    if d.ndim != 2 or d.size == 0 or d.dtype.kind not in "iu" or np.any(d < 0) or np.any(d >= f.size):
        raise ValueError(f"draws must be an (n, k) integer array with entries in [0, {f.size}), got {d!r}")
    winners = np.empty(d.shape[0], dtype=np.int64)
    for r, row in enumerate(d):
        best = int(row[0])
        for j in row[1:]:
            j = int(j)
            ok_j, ok_best = c[j] <= budget, c[best] <= budget
            if ok_j and not ok_best:
                best = j
            elif ok_j and ok_best and f[j] > f[best]:
                best = j
            elif not ok_j and not ok_best and c[j] < c[best]:
                best = j
        winners[r] = best
    return winners


def crossover_mutate(parent_a: np.ndarray, parent_b: np.ndarray, n_choices: np.ndarray, u_cross: np.ndarray,
                     u_mut: np.ndarray, r_mut: np.ndarray, p_mut: float) -> np.ndarray:
    """A child architecture from two parents: uniform crossover, then mutation (OFA sec. 3.3; MetaPruning).

    An architecture is a vector of G genes, gene i an integer choice in [0, n_choices[i]). With
    uniform draws in [0, 1) for every gene,

        child_i = parent_a_i  if u_cross_i < 0.5  else parent_b_i             (uniform crossover)
        child_i = floor(r_mut_i * n_choices_i)  if u_mut_i < p_mut            (mutation: a fresh
                                                                               uniform choice, which may
                                                                               equal the old one)

    p_mut = 0 only crosses over; p_mut = 1 draws a fresh random architecture.

    Args:
        parent_a, parent_b: (G,) integer genes, gene i in [0, n_choices[i]).
        n_choices: (G,) integers >= 1.
        u_cross, u_mut, r_mut: (G,) draws in [0, 1).
        p_mut: the mutation probability, in [0, 1].

    Returns:
        int64 array (G,), a new array.

    Raises:
        ValueError: if the arrays are not all (G,), n_choices holds an integer < 1 or a non-integer,
            a parent's gene is not an integer in [0, n_choices[i]), a draw is outside [0, 1), or p_mut
            is outside [0, 1].
    """
    n = np.asarray(n_choices)
    a, b = np.asarray(parent_a), np.asarray(parent_b)
    draws = [np.asarray(v, dtype=np.float64) for v in (u_cross, u_mut, r_mut)]
    if n.ndim != 1 or any(v.shape != n.shape for v in [a, b] + draws):
        raise ValueError(f"parents, n_choices and the draws must all have one shape (G,), got "
                         f"{[v.shape for v in [a, b, n] + draws]}")
    if n.dtype.kind not in "iu" or np.any(n < 1):
        raise ValueError(f"n_choices must be integers >= 1, got {n!r}")
    for name, p in (("parent_a", a), ("parent_b", b)):
        if p.dtype.kind not in "iu" or np.any(p < 0) or np.any(p >= n):
            raise ValueError(f"{name} must hold integers with gene i in [0, n_choices[i]), got {p!r}")
    if not all(np.all((v >= 0) & (v < 1)) for v in draws):
        raise ValueError("u_cross, u_mut and r_mut must be draws in [0, 1)")
    if not 0 <= p_mut <= 1:
        raise ValueError(f"p_mut must be a probability in [0, 1], got {p_mut!r}")
    u_c, u_m, r_m = draws
    child = np.where(u_c < 0.5, a, b).astype(np.int64)
    fresh = np.floor(r_m * n).astype(np.int64)
    return np.where(u_m < p_mut, fresh, child)


def ridge_fit(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """An accuracy predictor: ridge regression of accuracy on architecture encodings, intercept not penalised.

        (w, b) = argmin_{w, b} ||y - X w - b 1||^2 + lam ||w||^2

    Centre the data (x_bar, y_bar the column and target means, Xc = X - x_bar, yc = y - y_bar):

        w = (Xc^T Xc + lam I)^{-1} Xc^T yc,    b = y_bar - x_bar . w

    (Hoerl & Kennard 1970; Hastie, Tibshirani & Friedman, ESL sec. 3.4.1). lam > 0 makes the
    system positive definite, so it has one solution also when encodings are collinear (one-hot
    blocks always are: each block sums to 1) or there are fewer architectures than features.
    OFA trains an accuracy predictor on measured (subnet, accuracy) pairs and searches with it
    instead of measuring every candidate (Cai et al. 2020, sec. 3.3).

    Args:
        X: (N, F) finite encodings, N, F >= 1.
        y: (N,) finite accuracies.
        lam: the ridge penalty, a finite number > 0.

    Returns:
        (w, b): a float64 array (F,) and a Python float.

    Raises:
        ValueError: if X is not a finite (N, F) array, y is not finite of shape (N,), or lam is not
            a finite number > 0.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or X.size == 0 or y.shape != (X.shape[0],):
        raise ValueError(f"expected X (N, F) and y (N,) with N, F >= 1, got {X.shape} and {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite (no NaN or inf)")
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
    x_bar, y_bar = X.mean(axis=0), y.mean()
    Xc = X - x_bar  # (N, F)
    w = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ (y - y_bar))  # (F,)
    return w, float(y_bar - x_bar @ w)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's rank correlation tau-b between two scorings of the same N items (e.g. predicted vs measured accuracy).

    Over all pairs i < j: concordant if (a_i - a_j)(b_i - b_j) > 0, discordant if < 0, neither when
    tied in a or in b. With C, D the concordant and discordant counts, n0 = N(N-1)/2 and n_a, n_b
    the pairs tied in a and in b,

        tau_b = (C - D) / sqrt((n0 - n_a) (n0 - n_b))

    (Kendall 1945; scipy.stats.kendalltau's default). tau_b = 1 when a and b rank the items the same
    way, -1 when exactly reversed, and it depends only on the ranks: any increasing transform of a
    or b leaves it unchanged. A search only needs the predictor to *rank* architectures right.

    Args:
        a, b: finite arrays (N,), N >= 2, neither constant.

    Returns:
        tau_b as a Python float in [-1, 1].

    Raises:
        ValueError: if a and b are not finite (N,) arrays with N >= 2, or one of them is constant
            (every pair tied: no ranking to compare).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"a and b must both be (N,) with N >= 2, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite (no NaN or inf)")
    da = np.sign(a[:, None] - a[None, :])  # (N, N)
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu(np.ones(da.shape, dtype=bool), k=1)
    n0 = upper.sum()
    s = (da * db)[upper].sum()  # C - D
    n_a = (da[upper] == 0).sum()
    n_b = (db[upper] == 0).sum()
    if n_a == n0 or n_b == n0:
        raise ValueError("a and b must not be constant: with every pair tied there is no ranking to compare")
    return float(s / np.sqrt((n0 - n_a) * (n0 - n_b)))
