"""What compression costs beyond accuracy: the NumPy reference graded in Lab 11.

Eleven functions here are Lab 11's exercises (labgrader/checks/lab11_robustness.py declares them):
``obd_saliency``, ``fgsm``, ``pgd_step``, ``robust_accuracy``, ``sam_perturbation``,
``edge_popup_mask``, ``supermask_score_grad``, ``mask_distance``, ``early_bird_epoch``,
``cp_reconstruct`` and ``cp_als_update``. Each one's source is copied verbatim into the solution
notebook, so each is self-contained: it may call the other exercises by name and ``numpy`` as ``np``.

Conventions (where the literature differs, the one chosen is stated):

* Attacks are L-infinity attacks on inputs in a box [lo, hi] (pixels in [0, 1] by default):
  FGSM (Goodfellow et al. 2015) and the projected-gradient step of Madry et al. (2018). ``grad``
  is the gradient of the loss with respect to the input; ``np.sign(0) = 0`` (a pixel the loss does
  not depend on is not moved).
* A sample counts as classified correctly only if its label's logit is *strictly* larger than every
  other logit: a tie is an error (an attack that reaches a tie has done its job).
* Masks are arrays of 0.0 / 1.0 (1 = keep). Top-k selections keep ``round(k * n)`` entries
  (``np.round``, half to even) and break ties in score by the lower flat index (a stable sort).
* CP factors of a 4-D kernel K of shape (O, I, H, W) are matrices A (O, R), B (I, R), C (H, R),
  D (W, R): K[o, i, h, w] = sum_r A[o, r] B[i, r] C[h, r] D[w, r] (Kolda & Bader 2009, sec. 3).
"""

from __future__ import annotations

import numpy as np


def obd_saliency(w: np.ndarray, h_diag: np.ndarray) -> np.ndarray:
    """Optimal Brain Damage saliency of every weight: s_i = 1/2 h_ii w_i^2.

    LeCun, Denker & Solla, "Optimal Brain Damage" (NeurIPS 1989), eq. 5: expand the loss to second
    order around a trained minimum (gradient ~ 0) and neglect the off-diagonal Hessian terms; deleting
    weight i (setting it to 0, a change of -w_i) then changes the loss by about 1/2 h_ii w_i^2. Prune
    the weights of smallest saliency. With h_ii the same for all weights this is magnitude pruning;
    h_ii may come from the exact Hessian, finite differences of gradients, or the diagonal of the
    empirical Fisher, mean(g_i^2), which is >= 0. A negative h_ii (not at a minimum) gives a negative
    saliency: to second order, removing that weight lowers the loss.

    Args:
        w: finite, non-empty weights of any shape.
        h_diag: finite diagonal Hessian (or Fisher) entries, one per weight (w's shape).

    Returns:
        s: a new float64 array of w's shape.

    Raises:
        ValueError: if w is empty, w and h_diag have different shapes, or either is non-finite.
    """
    w = np.asarray(w, dtype=np.float64)
    h_diag = np.asarray(h_diag, dtype=np.float64)
    if w.size == 0:
        raise ValueError("w must be non-empty")
    if w.shape != h_diag.shape:
        raise ValueError(f"h_diag needs one entry per weight: w has shape {w.shape}, h_diag {h_diag.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(h_diag))):
        raise ValueError("w and h_diag must be finite (no NaN or inf)")
    return 0.5 * h_diag * w**2


def fgsm(x: np.ndarray, grad: np.ndarray, eps: float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """The fast gradient sign method: x_adv = clip(x + eps sign(grad), lo, hi).

    Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples" (ICLR 2015),
    eq. 3: the loss's linearisation around x rises fastest, within the L-infinity ball of radius eps,
    at the corner eps sign(grad_x L). The result is clipped to the valid input box [lo, hi]; so
    |x_adv - x| <= eps wherever x is inside the box. sign(0) = 0.

    Args:
        x: finite, non-empty inputs.
        grad: finite gradient of the loss with respect to x (x's shape).
        eps: the attack radius, a finite number >= 0.
        lo, hi: the input box, finite with lo <= hi.

    Returns:
        x_adv: a new float64 array of x's shape.

    Raises:
        ValueError: if x is empty, x and grad have different shapes or are non-finite, eps is
            negative or non-finite, or lo > hi (or either is non-finite).
    """
    x = np.asarray(x, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if x.size == 0 or x.shape != grad.shape:
        raise ValueError(f"x must be non-empty and grad of x's shape, got {x.shape} and {grad.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(grad))):
        raise ValueError("x and grad must be finite")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"the input box needs finite lo <= hi, got lo={lo!r}, hi={hi!r}")
    return np.clip(x + eps * np.sign(grad), lo, hi)


def pgd_step(x: np.ndarray, x0: np.ndarray, grad: np.ndarray, alpha: float, eps: float,
             lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """One step of projected gradient descent on the loss (an L-infinity PGD attack step).

    Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks" (ICLR 2018), eq. 2:

        x' = clip( Proj_{B(x0, eps)}( x + alpha sign(grad) ), lo, hi ),
        Proj_{B(x0, eps)}(z) = clip(z, x0 - eps, x0 + eps)   (elementwise: the L-inf ball is a box).

    x0 is the clean input, x the current iterate; projecting onto the ball and then onto the input box
    is the projection onto their intersection (both are boxes), so the result is in both whenever x0
    is in [lo, hi]. Iterated from x0 (or a random start in the ball), with alpha < eps, this is
    the attack that "robust accuracy" usually means. sign(0) = 0.

    Args:
        x: the current iterate, finite and non-empty.
        x0: the clean input (x's shape).
        grad: the loss's gradient at x (x's shape).
        alpha: the step size, finite and >= 0.
        eps: the ball's radius, finite and >= 0.
        lo, hi: the input box, finite with lo <= hi.

    Returns:
        x_next: a new float64 array of x's shape.

    Raises:
        ValueError: if x is empty, x0 or grad do not have x's shape, any is non-finite, alpha or
            eps is negative or non-finite, or lo > hi (or either is non-finite).
    """
    x = np.asarray(x, dtype=np.float64)
    x0 = np.asarray(x0, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if x.size == 0 or x0.shape != x.shape or grad.shape != x.shape:
        raise ValueError(f"x must be non-empty and x0, grad of its shape, got {x.shape}, {x0.shape}, {grad.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(x0)) and np.all(np.isfinite(grad))):
        raise ValueError("x, x0 and grad must be finite")
    if not (np.isfinite(alpha) and alpha >= 0 and np.isfinite(eps) and eps >= 0):
        raise ValueError(f"alpha and eps must be finite numbers >= 0, got {alpha!r} and {eps!r}")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"the input box needs finite lo <= hi, got lo={lo!r}, hi={hi!r}")
    z = np.clip(x + alpha * np.sign(grad), x0 - eps, x0 + eps)  # the L-inf ball around x0
    return np.clip(z, lo, hi)


def robust_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of samples classified correctly under every one of A inputs (attacks).

    logits[a, n] are the model's logits for sample n under attack a (a = 0 is usually the clean
    input). Sample n is robust if for every a its label's logit is strictly the largest:

        robust_accuracy = (1/N) sum_n prod_a [ logits[a, n, y_n] > max_{c != y_n} logits[a, n, c] ].

    This is the worst case over the attacks tried (Carlini et al., "On Evaluating Adversarial
    Robustness", 2019, sec. 5: report the minimum over attacks per sample, not per attack). A tie is
    counted as an error. With A = 1 it is the ordinary accuracy.

    Args:
        logits: finite array of shape (A, N, C) with A >= 1, N >= 1, C >= 2.
        labels: integer labels of shape (N,), each in [0, C).

    Returns:
        a Python float in [0, 1].

    Raises:
        ValueError: if logits is not 3-D, has an empty axis or fewer than 2 classes, is non-finite,
            or labels is not an integer array of shape (N,) with values in [0, C).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 3 or logits.shape[0] < 1 or logits.shape[1] < 1 or logits.shape[2] < 2:
        raise ValueError(f"logits must have shape (A, N, C) with A, N >= 1 and C >= 2, got {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite")
    A, N, C = logits.shape
    if labels.shape != (N,) or labels.dtype.kind not in "iu" or np.any(labels < 0) or np.any(labels >= C):
        raise ValueError(f"labels must be integers of shape ({N},) in [0, {C}), got {labels!r}")
    idx = np.arange(N)
    true = logits[:, idx, labels]                      # (A, N)
    others = logits.copy()
    others[:, idx, labels] = -np.inf
    correct = true > others.max(axis=2)                # (A, N)
    return float(np.mean(np.all(correct, axis=0)))


def sam_perturbation(g: np.ndarray, rho: float) -> np.ndarray:
    """The weight perturbation of sharpness-aware minimisation: eps = rho g / ||g||_2.

    Foret et al., "Sharpness-Aware Minimization for Efficiently Improving Generalization" (ICLR
    2021), eq. 2 with p = 2: the first-order solution of max_{||eps||_2 <= rho} L(w + eps). SAM then
    descends with the gradient taken at w + eps. The norm is over all of g (every parameter of the
    model together, flattened). A zero gradient gives a zero perturbation (the maximiser of the
    linearisation is then undefined; no step is the convention of the authors' code).

    Args:
        g: finite, non-empty gradient, any shape.
        rho: the neighbourhood radius, finite and >= 0.

    Returns:
        eps: a new float64 array of g's shape with ||eps||_2 = rho (or 0 when g = 0).

    Raises:
        ValueError: if g is empty or non-finite, or rho is negative or non-finite.
    """
    g = np.asarray(g, dtype=np.float64)
    if g.size == 0 or not np.all(np.isfinite(g)):
        raise ValueError("g must be a non-empty, finite array")
    if not (np.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    norm = np.sqrt(np.sum(g**2))
    if norm == 0:
        return np.zeros_like(g)
    return rho * g / norm


def edge_popup_mask(scores: np.ndarray, k: float) -> np.ndarray:
    """The supermask of edge-popup: keep the weights whose scores are the top-k fraction by |score|.

    Ramanujan et al., "What's Hidden in a Randomly Weighted Neural Network?" (CVPR 2020), sec. 3:
    every (frozen, random) weight has a learned score s; the forward pass uses W * M with
    M = 1 on the round(k n) entries of largest |s| and 0 elsewhere (n = scores.size, round half to
    even; ties in |s| are broken by the lower flat index, a stable sort). The scores are trained
    with the straight-through gradient (``supermask_score_grad``).

    Args:
        scores: finite, non-empty array of any shape.
        k: the fraction kept, a number in [0, 1].

    Returns:
        mask: a new float64 array of scores' shape holding round(k n) ones and zeros elsewhere.

    Raises:
        ValueError: if scores is empty or non-finite, or k is not a number in [0, 1].
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("scores must be a non-empty, finite array")
    if not (np.isfinite(k) and 0 <= k <= 1):
        raise ValueError(f"k must be a fraction in [0, 1], got {k!r}")
    n_keep = int(np.round(k * scores.size))
    order = np.argsort(-np.abs(scores).ravel(), kind="stable")
    mask = np.zeros(scores.size)
    mask[order[:n_keep]] = 1.0
    return mask.reshape(scores.shape)


def supermask_score_grad(x: np.ndarray, grad_y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The straight-through gradient of edge-popup's scores for a linear layer y = x (W * M)^T.

    Ramanujan et al. (CVPR 2020), eq. 2: the top-k mask M(s) has zero derivative almost everywhere,
    so the backward pass treats it as the identity: with W_eff = W * M,

        dL/dW_eff = grad_y^T x                     (O, I): the ordinary weight gradient,
        dL/ds     = dL/dW_eff * W                  (elementwise, as if M = s).

    Every score gets a gradient, chosen or not: an edge that is not in the mask still learns how much
    it would lower the loss (Ramanujan et al. call it the edge's "weighted input" times its output's
    gradient), which is what lets edges pop up. (The authors' code ranks |s| and applies the mask to
    |s| inside autograd, so the gradient that reaches s itself is this one times sign(s).)

    Args:
        x: the layer's input, finite, shape (B, I) with B, I >= 1.
        grad_y: the loss's gradient at the output y, finite, shape (B, O).
        W: the frozen weights, finite, shape (O, I).

    Returns:
        grad_s: a new float64 array of shape (O, I).

    Raises:
        ValueError: if x, grad_y or W is not 2-D, is empty or non-finite, or their shapes disagree.
    """
    x = np.asarray(x, dtype=np.float64)
    grad_y = np.asarray(grad_y, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if x.ndim != 2 or grad_y.ndim != 2 or W.ndim != 2 or x.size == 0 or W.size == 0:
        raise ValueError("x (B, I), grad_y (B, O) and W (O, I) must be non-empty 2-D arrays")
    if grad_y.shape[0] != x.shape[0] or W.shape != (grad_y.shape[1], x.shape[1]):
        raise ValueError(f"shapes disagree: x {x.shape}, grad_y {grad_y.shape}, W {W.shape} (need (B, I), (B, O), (O, I))")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(grad_y)) and np.all(np.isfinite(W))):
        raise ValueError("x, grad_y and W must be finite")
    grad_W_eff = grad_y.T @ x  # (O, I)
    return grad_W_eff * W


def mask_distance(m1: np.ndarray, m2: np.ndarray) -> float:
    """The normalised Hamming distance between two 0/1 masks: the fraction of entries that differ.

    You et al., "Drawing Early-Bird Tickets" (ICLR 2020), sec. 4.1: d(m1, m2) = (1/n) sum_i [m1_i != m2_i],
    0 for equal masks, 1 for complementary ones.

    Args:
        m1, m2: non-empty arrays of one shape, every entry 0 or 1 (bool, int or float).

    Returns:
        a Python float in [0, 1].

    Raises:
        ValueError: if the masks are empty, have different shapes, or hold a value other than 0 and 1.
    """
    m1 = np.asarray(m1, dtype=np.float64)
    m2 = np.asarray(m2, dtype=np.float64)
    if m1.size == 0 or m1.shape != m2.shape:
        raise ValueError(f"masks must be non-empty and of one shape, got {m1.shape} and {m2.shape}")
    if not (np.all((m1 == 0) | (m1 == 1)) and np.all((m2 == 0) | (m2 == 1))):
        raise ValueError("masks must hold only 0 and 1")
    return float(np.mean(m1 != m2))


def early_bird_epoch(masks: np.ndarray, threshold: float = 0.1, window: int = 5) -> int:
    """The epoch at which an early-bird ticket is drawn, or -1 if it never is.

    You et al. (ICLR 2020), sec. 4.1: after each epoch t the pruning mask m_t is computed from the
    current weights and kept in a FIFO queue of the last ``window`` masks before it; the ticket is
    drawn at the first epoch t whose mask is within ``threshold`` of every mask in the queue:

        t* = min { t >= window : max_{j = 1..window} d(m_t, m_{t-j}) < threshold },

    with d the normalised Hamming distance (``mask_distance``). The paper uses window 5, threshold 0.1.

    Args:
        masks: array of shape (T, n), T >= 1, n >= 1; row t is the mask after epoch t, entries 0 or 1.
        threshold: a number in (0, 1].
        window: the queue length, an integer >= 1.

    Returns:
        t*: a Python int in [window, T - 1], or -1.

    Raises:
        ValueError: if masks is not a non-empty 2-D array of 0s and 1s, threshold is not in (0, 1],
            or window is not an integer >= 1.
    """
    masks = np.asarray(masks, dtype=np.float64)
    if masks.ndim != 2 or masks.size == 0:
        raise ValueError(f"masks must be a non-empty 2-D array (T, n), got shape {masks.shape}")
    if not np.all((masks == 0) | (masks == 1)):
        raise ValueError("masks must hold only 0 and 1")
    if not (np.isfinite(threshold) and 0 < threshold <= 1):
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    for t in range(window, masks.shape[0]):
        if max(mask_distance(masks[t], masks[t - j]) for j in range(1, window + 1)) < threshold:
            return t
    return -1


def cp_reconstruct(A: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The 4-D kernel of a rank-R CP (canonical polyadic) decomposition.

    K[o, i, h, w] = sum_r A[o, r] B[i, r] C[h, r] D[w, r]   (Kolda & Bader, "Tensor Decompositions
    and Applications", SIAM Review 2009, eq. 3.1). For a convolution kernel (O, I, H, W), Lebedev et
    al. ("Speeding-up CNNs using fine-tuned CP-decomposition", ICLR 2015) run it as four cheap layers:
    a 1x1 convolution I -> R (B), a H x 1 depthwise one (C), a 1 x W depthwise one (D) and a 1x1
    R -> O (A): R (O + I + H + W) weights instead of O I H W.

    Args:
        A, B, C, D: finite, non-empty 2-D arrays of shapes (O, R), (I, R), (H, R), (W, R), one R >= 1.

    Returns:
        K: a new float64 array of shape (O, I, H, W).

    Raises:
        ValueError: if a factor is not a non-empty 2-D array, they have different numbers of
            columns, or any is non-finite.
    """
    factors = [np.asarray(F, dtype=np.float64) for F in (A, B, C, D)]
    if any(F.ndim != 2 or F.size == 0 for F in factors):
        raise ValueError("A, B, C, D must be non-empty 2-D arrays (rows x rank)")
    if len({F.shape[1] for F in factors}) != 1:
        raise ValueError(f"the factors need one rank (columns), got {[F.shape for F in factors]}")
    if not all(np.all(np.isfinite(F)) for F in factors):
        raise ValueError("the factors must be finite")
    A, B, C, D = factors
    return np.einsum("or,ir,hr,wr->oihw", A, B, C, D)


def cp_als_update(K: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray) -> np.ndarray:
    """One alternating-least-squares update of the first CP factor: the best A for fixed B, C, D.

    CP-ALS (Kolda & Bader 2009, sec. 3.4, eq. 3.6; Carroll & Chang 1970) fixes all factors but one
    and solves a linear least-squares problem for it:

        A = argmin_A || K - [[A, B, C, D]] ||_F = K_(1) Z (Z^T Z)^+,

    where K_(1) is K unfolded to (O, I H W) (C order), Z the Khatri-Rao product with rows
    Z[(i, h, w), r] = B[i, r] C[h, r] D[w, r], and Z^T Z = (B^T B) * (C^T C) * (D^T D) (elementwise),
    an R x R matrix: the update never forms anything larger than K. ^+ is the pseudo-inverse, so a
    rank-deficient Z gets the minimum-norm solution. Cycling the update over the four factors (by
    moving the axis to update to the front) decreases the error monotonically.

    Args:
        K: finite 4-D array (O, I, H, W), non-empty.
        B, C, D: finite 2-D arrays (I, R), (H, R), (W, R) with one R >= 1.

    Returns:
        A: a new float64 array of shape (O, R).

    Raises:
        ValueError: if K is not a non-empty 4-D array, a factor is not 2-D or its rows do not match
            K's axis, the factors have different ranks, or anything is non-finite.
    """
    K = np.asarray(K, dtype=np.float64)
    B, C, D = (np.asarray(F, dtype=np.float64) for F in (B, C, D))
    if K.ndim != 4 or K.size == 0:
        raise ValueError(f"K must be a non-empty 4-D array (O, I, H, W), got shape {K.shape}")
    if B.ndim != 2 or C.ndim != 2 or D.ndim != 2 or B.shape[1] < 1:
        raise ValueError("B, C, D must be 2-D arrays with at least one column")
    if (B.shape[0], C.shape[0], D.shape[0]) != K.shape[1:] or not B.shape[1] == C.shape[1] == D.shape[1]:
        raise ValueError(f"factor shapes {B.shape}, {C.shape}, {D.shape} do not fit K {K.shape}: need (I, R), (H, R), (W, R)")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(B)) and np.all(np.isfinite(C)) and np.all(np.isfinite(D))):
        raise ValueError("K and the factors must be finite")
    R = B.shape[1]
    Z = np.einsum("ir,hr,wr->ihwr", B, C, D).reshape(-1, R)  # (I H W, R)
    gram = (B.T @ B) * (C.T @ C) * (D.T @ D)                  # (R, R) = Z^T Z
    K1 = K.reshape(K.shape[0], -1)                            # (O, I H W)
    return K1 @ Z @ np.linalg.pinv(gram)
