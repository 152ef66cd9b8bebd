# %% [markdown] name="md_title"
# # Lab 3 — Pruning, lottery tickets, and what pruning does to a model
#
# Most weights of a trained network can be removed with little loss of accuracy: Han et al. (*Learning both Weights and Connections for Efficient Neural Networks*, NeurIPS 2015) cut AlexNet's and VGG-16's parameters 9–13× by deleting the weights of smallest magnitude and retraining the rest. This lab asks what that costs, and what it means:
#
# * **how** to prune — weight by weight (*unstructured*: layer-wise or with one global threshold), whole filters (*structured*, which makes the matrices genuinely smaller), or in the N:M pattern sparse tensor cores run;
# * **the lottery ticket hypothesis** (Frankle & Carbin, ICLR 2019): iterative magnitude pruning (IMP) with the surviving weights rewound to their initial values finds sparse sub-networks that train as well as the dense one — is it the mask or the initialisation that matters?
# * **whom pruning hurts**: the accuracy lost is not spread evenly over the classes (Hooker et al., *What Do Compressed Deep Neural Networks Forget?*, 2019). Blakeney et al. (*Simon Says: Evaluating and Mitigating Bias in Pruned Neural Networks with Knowledge Distillation*, 2021) measure it with two numbers, CEV and SDE, and find that fine-tuning with knowledge distillation from the dense model reduces it;
# * **is pruning compression** — does the pruned network compute the same function with fewer weights, or a different one? SVCCA (Raghu et al., NeurIPS 2017) compares what two layers represent.
#
# You will **write** (graded) eleven NumPy functions: the masks, L1 filter pruning, N:M masks, the IMP schedule, per-class error rates, the normalised rate change, CEV, SDE and SVCCA; then **run** (not graded) the experiments on the 8×8 digits with a small MLP (64 → 64 → 32 → 10), using your functions; and **interpret** what you measured in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np` in the first code cell) and the functions of earlier exercises. The autograder runs each function on its own, in a sandbox, and checks it with property tests (e.g. *"magnitude_mask should prune exactly round(s·n) weights, even with ties"*); the test cell under each exercise runs the public ones, so you see a failing property and a small counterexample at once.
#
# **Conventions used throughout.** A mask has the shape of its weight, `True` keeps, `False` prunes. *Sparsity* is the fraction removed. Weights use PyTorch's layout: a Linear weight is `(out, in)`.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_magnitude_mask"
# ## Exercise 1 — layer-wise magnitude pruning
#
# The simplest importance score for a weight is its magnitude $|w|$: a small weight changes the layer's output little when set to 0 (to first order, for inputs of similar scale). Magnitude pruning at sparsity $s$ removes the $k = \mathrm{round}(s \cdot n)$ weights of smallest $|w|$ from a layer of $n$ weights.
#
# **"Exactly $k$" needs a tie rule.** A threshold — "keep $|w| > t$" — removes a different number of weights when several magnitudes equal $t$ (a layer already full of zeros; quantised weights). The rule here is a total order: smaller $|w|$ is pruned first, and among equal magnitudes the **lower flat (row-major) index is pruned first**. That is exactly what a *stable* ascending sort of $|w|$ gives (`np.argsort(..., kind="stable")`): prune the first $k$ of it. `round` is NumPy's / Python's, half to even: $0.5 \cdot 5 = 2.5 \to 2$.
#
# **Your task.** `magnitude_mask(w, sparsity)` for an array of any shape; a boolean mask of the same shape; `ValueError` for a sparsity outside $[0, 1]$ (or nan).

# %% exercise="magnitude_mask"
# `course build` fills this cell from reference_impl: the exercise magnitude_mask

# %% [markdown] name="md_global_magnitude_masks"
# ## Exercise 2 — global magnitude pruning
#
# Pruning every layer to the same sparsity treats a 64×64 hidden layer and the 32×10 output layer alike, although they differ in size and in how redundant they are. **Global** pruning ranks the weights of all layers together and removes the $\mathrm{round}(s \cdot n_\text{total})$ smallest overall: layers with many small weights end up sparser, layers with large weights denser. Weights of different layers are compared by raw magnitude, which is meaningful only when layers have comparable scales (they do here; with batch norm one often normalises first).
#
# Ties, as before, by position: in the concatenation `[w_0.ravel(), w_1.ravel(), ...]` — earlier layer first, then lower flat index. With one layer this is `magnitude_mask`; you may call it.
#
# **Your task.** `global_magnitude_masks(weights, sparsity)`: a list of masks, one per array, each of its array's shape; `ValueError` for an empty list.

# %% exercise="global_magnitude_masks"
# `course build` fills this cell from reference_impl: the exercise global_magnitude_masks

# %% [markdown] name="md_l1_filter_scores"
# ## Exercise 3 — L1 filter scores
#
# A mask with 90% zeros still stores and multiplies a dense matrix unless the hardware and kernels exploit sparsity — on a CPU or GPU they mostly do not at these sparsities. **Structured pruning** removes whole output units: rows of a Linear weight `(out, in)`, or output channels (filters) of a Conv2d weight `(c_out, c_in, kh, kw)`. Li et al. (*Pruning Filters for Efficient ConvNets*, ICLR 2017) score filter $i$ by its L1 norm
#
# $$s_i = \sum_{j, \ldots} |W_{i, j, \ldots}|$$
#
# — a filter with small weights produces small activations — and remove the filters with the smallest scores.
#
# **Your task.** `l1_filter_scores(W)` for an array with at least 2 dimensions, filters along axis 0: one score per filter; `ValueError` for a 1-D array.

# %% exercise="l1_filter_scores"
# `course build` fills this cell from reference_impl: the exercise l1_filter_scores

# %% [markdown] name="md_prune_filters"
# ## Exercise 4 — removing filters: genuinely smaller tensors
#
# Removing filter $i$ of layer $\ell$ removes row $i$ of $W_\ell$, entry $i$ of its bias, **and** input channel $i$ of the next layer: column $i$ of $W_{\ell+1}$ (axis 1 in PyTorch's layout), which used to read that unit. The result is a smaller dense network: `(c_out, c_in)` becomes `(c_out − k, c_in)` and the next layer's `(c_next, c_out)` becomes `(c_next, c_out − k)` — fewer parameters *and* fewer multiply–accumulates (MACs), on any hardware.
#
# Remove the $k = \mathrm{round}(s \cdot c_\text{out})$ filters with the smallest L1 score (ties: lower index first), and keep the survivors in their original order so that the rows of $W_\ell$, the entries of $b_\ell$ and the columns of $W_{\ell+1}$ still refer to the same units.
#
# **Your task.** `prune_filters(W, b, W_next, sparsity)` returning the tuple `(W_pruned, b_pruned, W_next_pruned)`; `ValueError` when the shapes do not chain.

# %% exercise="prune_filters"
# `course build` fills this cell from reference_impl: the exercise prune_filters

# %% [markdown] name="md_nm_mask"
# ## Exercise 5 — N:M sparsity
#
# Between free-form sparsity (accurate, hard to accelerate) and removing filters (fast, coarse) sits **N:M semi-structured** sparsity: in every group of $m$ consecutive weights along the input dimension, at most $n$ are non-zero. NVIDIA's Ampere sparse tensor cores run **2:4** at up to twice the dense throughput: the hardware stores the 2 values and a 2-bit index each (Mishra et al., *Accelerating Sparse Deep Neural Networks*, 2021).
#
# Split each row of $W$ `(out, in)` into groups `w[r, 0:m], w[r, m:2m], …` and keep the $n$ largest $|w|$ of each (ties as before: the lower index is pruned first). When `in` is not a multiple of $m$, the row is padded at its end with entries that are always pruned first, so a last partial group of $r < m$ weights keeps $\min(n, r)$.
#
# **Your task.** `nm_mask(w, n, m)` for a 2-D weight; `ValueError` unless $1 \le n \le m$ are integers.

# %% exercise="nm_mask"
# `course build` fills this cell from reference_impl: the exercise nm_mask

# %% [markdown] name="md_imp_rate_per_round"
# ## Exercise 6 — the iterative pruning schedule
#
# One-shot pruning to 90% removes many weights at once; **iterative magnitude pruning** (IMP) trains, prunes a fraction $q$ of the surviving weights, retrains, and repeats. Frankle & Carbin prune $q = 20\%$ per round. To reach sparsity $s$ in exactly $n$ rounds, the density $1 - s$ must be reached by keeping the same share of the survivors each round:
#
# $$(1 - q)^n = 1 - s \quad\Longrightarrow\quad q = 1 - (1 - s)^{1/n}.$$
#
# (Pruning $s / n$ of the *original* weights per round is a different schedule, whose rate grows relative to what is left.)
#
# **Lottery tickets.** After each round, instead of continuing from the trained weights, IMP *rewinds* the surviving weights to their values at initialisation (Frankle & Carbin 2019) or at an early training step $k$ (Frankle et al., *Linear Mode Connectivity and the Lottery Ticket Hypothesis*, ICML 2020) and retrains. The claim: the sparse network so found ("winning ticket") trains to the dense network's accuracy, while the same mask with a **fresh random initialisation** does not — the mask and its initial weights belong together.
#
# **Your task.** `imp_rate_per_round(sparsity, rounds)`, a float; `ValueError` for a sparsity outside $[0, 1]$ or rounds that is not an integer $\ge 1$.

# %% exercise="imp_rate_per_round"
# `course build` fills this cell from reference_impl: the exercise imp_rate_per_round

# %% [markdown] name="md_per_class_fpr_fnr"
# ## Exercise 7 — per-class false positive and false negative rates
#
# Accuracy is one number; pruning may trade errors between classes. One-vs-rest, for each class $c$: a positive is a sample labelled $c$,
#
# $$\mathrm{FPR}_c = \frac{\mathrm{FP}_c}{\mathrm{FP}_c + \mathrm{TN}_c} \;(\text{how often another class is called } c), \qquad \mathrm{FNR}_c = \frac{\mathrm{FN}_c}{\mathrm{FN}_c + \mathrm{TP}_c} = 1 - \text{recall}_c .$$
#
# A class that never occurs as a label has no positives: its FNR is $0/0$, which is defined as **0** here (nothing to get wrong), and likewise the FPR of a class that is every label. A confusion matrix `cm[true, pred]` built with `np.add.at` (or `np.bincount` of `true * C + pred`) gives all four counts per class at once.
#
# **Your task.** `per_class_fpr_fnr(y_true, y_pred, num_classes)` returning the tuple `(fpr, fnr)` of `(C,)` float arrays; `ValueError` on a shape mismatch, an empty input or a label outside $[0, C)$.

# %% exercise="per_class_fpr_fnr"
# `course build` fills this cell from reference_impl: the exercise per_class_fpr_fnr

# %% [markdown] name="md_rate_change"
# ## Exercise 8 — normalised change of an error rate
#
# Blakeney et al. compare a pruned model with its dense baseline class by class through the *normalised* change of each rate,
#
# $$\Delta R_c = \frac{R_c^\text{pruned} - R_c^\text{dense}}{R_c^\text{dense}},$$
#
# so that doubling a class's errors counts $+1$ ($+100\%$) whether they went from 1% to 2% or from 10% to 20%. The ratio is undefined when the baseline rate is 0 — and on a test set of 36 images per class a good model makes no false negative on many classes. This lab's definition: the denominator is $\max(R_c^\text{dense}, \text{floor}_c)$ with the floor the smallest non-zero rate the test set can show, $1 / (\text{number of samples the rate is measured on})$. Going from 0 to one mistake then counts $+1$; $0 \to 0$ counts 0.
#
# **Your task.** `rate_change(base, new, floor)` with `floor` a number or a `(C,)` array, all $> 0$; `ValueError` for a floor that is not $> 0$ or a rate outside $[0, 1]$.

# %% exercise="rate_change"
# `course build` fills this cell from reference_impl: the exercise rate_change

# %% [markdown] name="md_cev"
# ## Exercise 9 — Combined Error Variance (CEV)
#
# Each class is a point $(\Delta\mathrm{FPR}_c, \Delta\mathrm{FNR}_c)$. If pruning changed every class's errors by the same relative amount, the points coincide: the model got uniformly worse, nobody in particular was hurt. **CEV** measures how scattered they are — the mean squared distance from their centroid:
#
# $$\mathrm{CEV} = \frac1C \sum_c \left[(\Delta\mathrm{FPR}_c - \overline{\Delta\mathrm{FPR}})^2 + (\Delta\mathrm{FNR}_c - \overline{\Delta\mathrm{FNR}})^2\right] = \mathrm{Var}(\Delta\mathrm{FPR}) + \mathrm{Var}(\Delta\mathrm{FNR}),$$
#
# with population variances (divide by $C$, not $C - 1$). It is blind to a common shift: a large but even change gives CEV 0.
#
# **Your task.** `cev(d_fpr, d_fnr)` for two `(C,)` arrays, a float.

# %% exercise="cev"
# `course build` fills this cell from reference_impl: the exercise cev

# %% [markdown] name="md_sde"
# ## Exercise 10 — Symmetric Distance Error (SDE)
#
# CEV ignores *which* errors moved. A class whose false negatives grow faster than its false positives ($\Delta\mathrm{FNR} > \Delta\mathrm{FPR}$) is being predicted less — "forgotten"; one with $\Delta\mathrm{FPR} > \Delta\mathrm{FNR}$ absorbs other classes' samples. **SDE** is the mean distance of the points from the diagonal $\Delta\mathrm{FPR} = \Delta\mathrm{FNR}$, measured as the absolute difference:
#
# $$\mathrm{SDE} = \frac1C \sum_c \left|\Delta\mathrm{FNR}_c - \Delta\mathrm{FPR}_c\right| .$$
#
# It is 0 when each class's two rates changed alike, whatever the size of the change.
#
# **Your task.** `sde(d_fpr, d_fnr)`, a float.

# %% exercise="sde"
# `course build` fills this cell from reference_impl: the exercise sde

# %% [markdown] name="md_svcca"
# ## Exercise 11 — SVCCA
#
# Two layers — the same layer of a dense and of a pruned network, or layers of different widths — are compared through their activations on the same $N$ inputs: $A$ of shape (neurons$_A$, $N$), $B$ (neurons$_B$, $N$). Neurons themselves cannot be matched one to one (any rotation of a layer's units, undone by the next layer, computes the same function), so Raghu et al. (*SVCCA*, NeurIPS 2017) compare the *subspaces* the activations span:
#
# 1. **centre** each neuron (subtract its mean over the datapoints);
# 2. **SV step**: thin SVD $A = U S V^\top$; keep the top $k_A$ directions, the fewest whose squared singular values reach `variance` (99%) of the total, or $k$ when given. The rows of $V_{k}^\top$ are an orthonormal basis of the kept subspace of $\mathbb{R}^N$; this drops the low-variance noise directions;
# 3. **CCA**: the canonical correlations $\rho_1 \ge \rho_2 \ge \dots$ of the reduced activations are the cosines of the principal angles between the two subspaces: the singular values of $V_{A,k}^\top V_{B,k}$ (Björck & Golub 1973), or equivalently $\rho^2$ = eigenvalues of $\Sigma_{AA}^{-1}\Sigma_{AB}\Sigma_{BB}^{-1}\Sigma_{BA}$;
# 4. **SVCCA** $= \frac{1}{\min(k_A, k_B)} \sum_i \rho_i \in [0, 1]$.
#
# It is invariant to any invertible linear map of a layer's kept subspace: $A$ and $MA$ score 1.
#
# **Your task.** `svcca(A, B, variance=0.99, k=None)`, a float; `ValueError` for a different number of datapoints, a matrix without variance, `variance` outside $(0, 1]$, or `k` out of range.

# %% exercise="svcca"
# `course build` fills this cell from reference_impl: the exercise svcca

# %% [markdown] name="md_experiments"
# # Experiments
#
# Everything below runs on the 1,797 8×8 digits that ship with the course (a stratified 60/20/20 split: 1,078 training, 359 validation, 360 test images) with an MLP 64 → 64 → 32 → 10 (6,570 parameters), three seeds per setting. The training loop is `labkit.training.train_classifier` (Adam, fixed epochs); `labkit.pruning.train_masked` trains with a mask held fixed: pruned weights stay exactly 0. The masks come from **your** functions.
#
# Each seed's dense network trains for 20 epochs (Adam, lr 5·10⁻³, batches of 128); pruned networks are fine-tuned for 10 epochs at lr 2·10⁻³. The whole notebook takes about a minute and a half on a laptop CPU.

# %% name="exp_setup"
import copy
import functools
import time

import matplotlib.pyplot as plt
import torch

from datasets import digits_splits
from datasets.imbalance import downsample_classes
from labkit.distillation_torch import kd_loss_torch
from labkit.pruning import (count_params, get_weights, hidden_activations, linear_layers, mlp_from_arrays,
                            random_masks, set_weights, train_masked)
from labkit.training import MLP, accuracy, predict_logits, set_seed, train_classifier

# Tiny networks: one thread is faster than several and makes results bit-for-bit repeatable.
torch.set_num_threads(1)
LAB_START = time.perf_counter()

data = digits_splits(seed=0)
SEEDS = (0, 1, 2)
HIDDEN = (64, 32)
EPOCHS, LR, BATCH = 20, 5e-3, 128    # dense training (and each IMP round)
FT_EPOCHS, FT_LR = 10, 2e-3          # fine-tuning after pruning
SPARSITIES = (0.3, 0.45, 0.6, 0.75, 0.9)
KD = functools.partial(kd_loss_torch, T=4.0, alpha=0.9)  # Hinton KD, as in Lab 1


def new_mlp(seed: int) -> MLP:
    set_seed(seed)  # the same seed gives the same initial weights
    return MLP(64, HIDDEN, 10)


def train_dense(seed: int, X=data.X_train, y=data.y_train) -> MLP:
    model = new_mlp(seed)
    train_classifier(model, X, y, epochs=EPOCHS, lr=LR, batch_size=BATCH, seed=seed)
    return model


def test_acc(model) -> float:
    return accuracy(model, data.X_test, data.y_test)


def with_masks(model, masks):
    """A copy of model with its weights multiplied by the masks (one-shot pruning, no retraining)."""
    m = copy.deepcopy(model)
    set_weights(m, [w * k for w, k in zip(get_weights(model), masks)])
    return m


def fine_tune(model, masks, seed, X=data.X_train, y=data.y_train, teacher=None):
    """Prune model with masks, then fine-tune the survivors (cross-entropy, or KD from teacher)."""
    m = with_masks(model, masks)
    extra = {} if teacher is None else {"teacher": teacher, "loss_fn": KD}
    train_masked(m, masks, X, y, epochs=FT_EPOCHS, lr=FT_LR, batch_size=BATCH, seed=seed, **extra)
    return m


t0 = time.perf_counter()
dense = {s: train_dense(s) for s in SEEDS}
dense_acc = np.array([test_acc(dense[s]) for s in SEEDS])
print(f"dense MLP 64 -> {HIDDEN[0]} -> {HIDDEN[1]} -> 10: {count_params(dense[0])['dense']:,} parameters; "
      f"test accuracy {dense_acc.mean():.3f} ± {dense_acc.std():.3f} over seeds {SEEDS} ({time.perf_counter() - t0:.1f} s)")


# %% [markdown] name="md_curves"
# ## 1. Sparsity–accuracy curves: how to prune
#
# For each sparsity $s$ in 30/45/60/75/90% and each seed, prune the trained dense network
#
# * **layer-wise magnitude**: `magnitude_mask(w, s)` on every layer;
# * **global magnitude**: `global_magnitude_masks(weights, s)`;
# * **random**: $s$ of every layer's weights chosen at random (the baseline any criterion must beat);
# * **structured (L1 filters)**: `prune_filters` removes $s$ of the units of both hidden layers (the 10 outputs stay). Removing a unit removes a row *and* a column, so the fraction of weights removed is larger than $s$; the plot's x-axis is the fraction of weights actually removed, for every method;
# * **N:M**: `nm_mask` at 2:4 (50%) and 1:4 (75%) on every layer,
#
# then measure the test accuracy right after pruning ("one-shot") and after fine-tuning the surviving weights.

# %% name="exp_curves"
def weights_removed(model) -> float:
    """Fraction of the dense network's weights that are gone (zero in a mask, or removed with their unit)."""
    return 1 - count_params(model)["weights_nonzero"] / sum(w.size for w in get_weights(dense[0]))


def structured(model, s):
    """Remove round(s * width) units of every hidden layer with YOUR prune_filters: a smaller dense MLP."""
    Ws = get_weights(model)
    bs = [layer.bias.detach().double().numpy() for layer in linear_layers(model)]
    for i in range(len(Ws) - 1):
        Ws[i], bs[i], Ws[i + 1] = prune_filters(Ws[i], bs[i], Ws[i + 1], s)
    return mlp_from_arrays(Ws, bs)


def masks_for(method, model, s, seed):
    W = get_weights(model)
    if method == "layer-wise magnitude":
        return [magnitude_mask(w, s) for w in W]
    if method == "global magnitude":
        return global_magnitude_masks(W, s)
    if method == "random":
        return random_masks(W, [s] * len(W), seed=1000 + seed)
    n, m = method.split()[1].split(":")  # "N:M 2:4"
    return [nm_mask(w, int(n), int(m)) for w in W]


METHODS = ("layer-wise magnitude", "global magnitude", "random", "structured (L1 filters)")
curves = {}   # (method, s) -> list over seeds of (weights removed, one-shot acc, fine-tuned acc)
pruned = {}   # (method, s, seed) -> fine-tuned pruned model (reused below)
t0 = time.perf_counter()
for s in SPARSITIES:
    for method in METHODS + (("N:M 2:4",) if s == SPARSITIES[0] else ()) + (("N:M 1:4",) if s == 0.75 else ()):
        key_s = {"N:M 2:4": 0.5, "N:M 1:4": 0.75}.get(method, s)
        rows = []
        for seed in SEEDS:
            if method.startswith("structured"):
                small = structured(dense[seed], s)
                one_shot = test_acc(small)
                ft = fine_tune(small, [np.ones(w.shape, dtype=bool) for w in get_weights(small)], seed)
            else:
                masks = masks_for(method, dense[seed], s, seed)
                one_shot = test_acc(with_masks(dense[seed], masks))
                ft = fine_tune(dense[seed], masks, seed)
            pruned[method, key_s, seed] = ft
            rows.append((weights_removed(ft), one_shot, test_acc(ft)))
        curves[method, key_s] = np.array(rows)
print(f"pruned and fine-tuned {len(pruned)} networks in {time.perf_counter() - t0:.1f} s\n")

print(f"dense: {dense_acc.mean():.3f} ± {dense_acc.std():.3f}")
print(f"{'method':26}{'s':>6}{'weights removed':>17}{'one-shot acc':>18}{'fine-tuned acc':>18}")
for (method, s), r in sorted(curves.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    print(f"{method:26}{s:>6.2f}{r[:, 0].mean():>17.3f}{r[:, 1].mean():>11.3f} ± {r[:, 1].std():.3f}"
          f"{r[:, 2].mean():>11.3f} ± {r[:, 2].std():.3f}")

# %% name="exp_curves_plot"
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, col, title in [(axes[0], 1, "one-shot (no retraining)"), (axes[1], 2, f"after {FT_EPOCHS} epochs of fine-tuning")]:
    for i, method in enumerate(METHODS):
        r = [curves[method, s] for s in SPARSITIES]
        ax.errorbar([x[:, 0].mean() for x in r], [x[:, col].mean() for x in r], yerr=[x[:, col].std() for x in r],
                    marker="o", capsize=3, label=method, color=f"C{i}")
    for method, s, mk in [("N:M 2:4", 0.5, "s"), ("N:M 1:4", 0.75, "D")]:
        r = curves[method, s]
        ax.errorbar(r[:, 0].mean(), r[:, col].mean(), yerr=r[:, col].std(), marker=mk, color="k", ls="none",
                    capsize=3, label=method)
    ax.axhline(dense_acc.mean(), color="gray", ls="--", label="dense")
    ax.set(xlabel="fraction of weights removed", title=title)
axes[0].set_ylabel("test accuracy")
axes[1].legend(loc="lower left", fontsize=8)
plt.tight_layout()
plt.show()

# Where global pruning puts the zeros (mean over seeds), and the layers' mean |w|
for s in (0.75, 0.9):
    per_layer = np.mean([[1 - m.mean() for m in global_magnitude_masks(get_weights(dense[seed]), s)] for seed in SEEDS], axis=0)
    print(f"global magnitude at {s:.0%}: sparsity of the layers 64->64, 64->32, 32->10 = {np.round(per_layer, 3).tolist()}")
print("mean |w| of the dense layers:", np.round(np.mean([[np.abs(w).mean() for w in get_weights(dense[seed])] for seed in SEEDS], axis=0), 3).tolist(), "\n")

# What structured pruning buys: real parameter and MAC counts of the smaller dense network
print("structured pruning, seed 0: the networks are genuinely smaller (MACs per image = weights of a dense MLP)")
for s in SPARSITIES:
    m = pruned["structured (L1 filters)", s, 0]
    shapes = " -> ".join(str(w.shape[1]) for w in get_weights(m)) + " -> 10"
    c = count_params(m)
    print(f"  s = {s:.2f}: {shapes:24} {c['dense']:>5,} parameters, {c['weights_nonzero']:>5,} MACs per image "
          f"(dense: {count_params(dense[0])['dense']:,} / {count_params(dense[0])['weights_nonzero']:,})")

# %% [markdown] name="md_lottery"
# ## 2. The lottery ticket in miniature
#
# IMP to 95% sparsity in 3 rounds, layer-wise, with **your** `imp_rate_per_round` (each round prunes $q$ of the surviving weights of each layer with `magnitude_mask`; pruned weights are 0, so they stay pruned). After each round the surviving weights are retrained for the full 20 epochs from
#
# * **rewind to init** — their values at initialisation (Frankle & Carbin 2019);
# * **rewind to epoch 1** — their values after one epoch of dense training (Frankle et al. 2020 rewind to an early step $k$), with the same masks;
# * **random reinit** — the same mask, fresh random initial weights (another seed): the control that separates the mask from its initialisation;
# * **random mask** — a random mask of the same per-layer sparsity, trained from the original initialisation.

# %% name="exp_lottery"
TARGET, ROUNDS = 0.95, 3
q = imp_rate_per_round(TARGET, ROUNDS)
print(f"IMP to {TARGET:.0%} in {ROUNDS} rounds: prune q = {q:.3f} of the survivors per round; "
      f"sparsity after each round: {[round(1 - (1 - q) ** r, 3) for r in range(1, ROUNDS + 1)]}")


def train_from(init_model, masks, seed):
    m = copy.deepcopy(init_model)
    train_masked(m, masks, data.X_train, data.y_train, epochs=EPOCHS, lr=LR, batch_size=BATCH, seed=seed)
    return test_acc(m), m


LOTTERY = ("rewind to init", "rewind to epoch 1", "random reinit", "random mask")
ticket = {k: np.zeros((ROUNDS, len(SEEDS))) for k in LOTTERY}
t0 = time.perf_counter()
for j, seed in enumerate(SEEDS):
    init = new_mlp(seed)                                   # the initialisation dense[seed] started from
    early = copy.deepcopy(init)
    train_classifier(early, data.X_train, data.y_train, epochs=1, lr=LR, batch_size=BATCH, seed=seed)
    current = dense[seed]                                  # round 0: the trained dense network
    for r in range(ROUNDS):
        s_r = 1 - (1 - q) ** (r + 1)
        masks = [magnitude_mask(w, s_r) for w in get_weights(current)]
        ticket["rewind to init"][r, j], current = train_from(init, masks, seed)
        ticket["rewind to epoch 1"][r, j], _ = train_from(early, masks, seed)
        ticket["random reinit"][r, j], _ = train_from(new_mlp(10_000 + seed), masks, seed)
        rand = random_masks(get_weights(init), [1 - m.mean() for m in masks], seed=2000 + 10 * seed + r)
        ticket["random mask"][r, j], _ = train_from(init, rand, seed)
print(f"trained {len(LOTTERY) * ROUNDS * len(SEEDS)} sparse networks in {time.perf_counter() - t0:.1f} s\n")

print(f"test accuracy, mean ± std over seeds (dense: {dense_acc.mean():.3f} ± {dense_acc.std():.3f})")
print(f"{'round, sparsity':18}" + "".join(f"{k:>22}" for k in LOTTERY))
for r in range(ROUNDS):
    print(f"{r + 1}, {1 - (1 - q) ** (r + 1):.3f}".ljust(18)
          + "".join(f"{ticket[k][r].mean():>14.3f} ± {ticket[k][r].std():.3f}" for k in LOTTERY))
gap = ticket["rewind to init"] - ticket["random reinit"]
print(f"\npaired gain of the ticket over random reinit (same mask, same seed), per round: "
      f"{np.round(gap.mean(axis=1), 3).tolist()}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
xs = [1 - (1 - q) ** (r + 1) for r in range(ROUNDS)]
for i, k in enumerate(LOTTERY):
    ax.errorbar(xs, ticket[k].mean(axis=1), yerr=ticket[k].std(axis=1), marker="o", capsize=3, label=k, color=f"C{i}")
ax.axhline(dense_acc.mean(), color="gray", ls="--", label="dense")
ax.set(xlabel="sparsity", ylabel="test accuracy", title="IMP: rewinding vs random reinitialisation")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] name="md_bias"
# ## 3. Whom does pruning hurt, and does distillation help?
#
# Chapter III of Blakeney's dissertation in miniature. Global magnitude pruning at 75% and 90%, fine-tuned either with cross-entropy (**CE**) or with Hinton's KD loss from the dense model ($T = 4$, $\alpha = 0.9$, Lab 1's `kd_loss_torch`), on
#
# * the **balanced** training set, and
# * a **down-sampled** one in which classes 3 and 8 keep only 20% of their training images (`datasets.imbalance.downsample_classes`, deterministic): the dense baseline is trained on the same imbalanced set.
#
# Every model is tested on the same balanced test set. Per class: FPR and FNR with **your** `per_class_fpr_fnr`, their normalised changes against the dense model with **your** `rate_change` (floors $1/\#\text{negatives}$ and $1/\#\text{positives}$ of the class in the test set), then **your** `cev` and `sde`.

# %% name="exp_bias"
DOWN_CLASSES, DOWN_KEEP = (3, 8), 0.2
idx = downsample_classes(data.y_train, DOWN_CLASSES, DOWN_KEEP, seed=0)
REGIMES = {"balanced": (data.X_train, data.y_train), "down-sampled": (data.X_train[idx], data.y_train[idx])}
print("training images per class, down-sampled:", np.bincount(data.y_train[idx], minlength=10).tolist())
dense_by = {("balanced", s): dense[s] for s in SEEDS}
dense_by.update({("down-sampled", s): train_dense(s, *REGIMES["down-sampled"]) for s in SEEDS})

pos = np.bincount(data.y_test, minlength=10)  # test positives per class
neg = len(data.y_test) - pos


def rates(model):
    return per_class_fpr_fnr(data.y_test, predict_logits(model, data.X_test).argmax(axis=1), 10)


BIAS_SPARSITIES = (0.75, 0.9)
bias = {}  # (regime, s, finetune) -> dict of per-seed arrays
t0 = time.perf_counter()
for regime, (X, y) in REGIMES.items():
    for s in BIAS_SPARSITIES:
        for ft in ("CE", "KD"):
            out = {"acc": [], "cev": [], "sde": [], "d_fpr": [], "d_fnr": []}
            for seed in SEEDS:
                base = dense_by[regime, seed]
                masks = global_magnitude_masks(get_weights(base), s)
                if regime == "balanced" and ft == "CE":
                    model = pruned["global magnitude", s, seed]  # the same run as in section 1
                else:
                    model = fine_tune(base, masks, seed, X, y, teacher=base if ft == "KD" else None)
                fpr0, fnr0 = rates(base)
                fpr1, fnr1 = rates(model)
                d_fpr, d_fnr = rate_change(fpr0, fpr1, 1 / neg), rate_change(fnr0, fnr1, 1 / pos)
                for k, v in [("acc", test_acc(model)), ("cev", cev(d_fpr, d_fnr)), ("sde", sde(d_fpr, d_fnr)),
                             ("d_fpr", d_fpr), ("d_fnr", d_fnr)]:
                    out[k].append(v)
            bias[regime, s, ft] = {k: np.array(v) for k, v in out.items()}
print(f"fine-tuned {len(bias) * len(SEEDS)} pruned networks in {time.perf_counter() - t0:.1f} s\n")

for regime in REGIMES:
    base_acc = np.array([test_acc(dense_by[regime, s]) for s in SEEDS])
    print(f"{regime}: dense test accuracy {base_acc.mean():.3f} ± {base_acc.std():.3f}")
print(f"\n{'regime':14}{'s':>5}{'fine-tune':>10}{'test acc':>16}{'CEV':>18}{'SDE':>16}"
      f"{'mean dFNR of 3, 8':>20}{'of the others':>15}")
others = [c for c in range(10) if c not in DOWN_CLASSES]
for (regime, s, ft), b in bias.items():
    print(f"{regime:14}{s:>5.2f}{ft:>10}{b['acc'].mean():>9.3f} ± {b['acc'].std():.3f}"
          f"{b['cev'].mean():>11.3f} ± {b['cev'].std():.3f}{b['sde'].mean():>9.3f} ± {b['sde'].std():.3f}"
          f"{b['d_fnr'][:, list(DOWN_CLASSES)].mean():>20.2f}{b['d_fnr'][:, others].mean():>15.2f}")

# %% name="exp_bias_scatter"
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True, sharey=True)
for ax, regime in zip(axes, REGIMES):
    for ft, mk in [("CE", "o"), ("KD", "^")]:
        b = bias[regime, 0.9, ft]
        for c in range(10):
            hit = regime == "down-sampled" and c in DOWN_CLASSES
            ax.scatter(b["d_fpr"][:, c], b["d_fnr"][:, c], marker=mk, s=40 if hit else 18,
                       color="C3" if hit else ("C0" if ft == "CE" else "C2"), alpha=0.8,
                       label=None if c else f"{ft} fine-tuning")
    lim = max(1.0, float(np.max(np.abs(ax.get_xlim() + ax.get_ylim()))))
    ax.plot([-lim, lim], [-lim, lim], color="gray", ls="--", lw=1, label="dFPR = dFNR")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set(xlabel="dFPR (normalised change)", title=f"{regime}, 90% sparsity: one point per class and seed"
           + (" (red: classes 3, 8)" if regime == "down-sampled" else ""))
    ax.legend(fontsize=8)
axes[0].set_ylabel("dFNR (normalised change)")
plt.tight_layout()
plt.show()

# %% [markdown] name="md_svcca_exp"
# ## 4. Is pruning compression? SVCCA per layer
#
# If pruning only removed redundancy, the pruned network would compute the same representations with fewer weights. **Your** `svcca` compares each layer of the fine-tuned global-magnitude networks with the same layer of the dense network they came from, on the 360 test images (activations transposed to neurons × datapoints). Two references: the dense network fine-tuned for the same 10 epochs with no pruning (the change fine-tuning alone causes), and two dense networks trained from different seeds (how similar independently trained networks are).

# %% name="exp_svcca"
LAYERS = ("hidden 1 (64)", "hidden 2 (32)", "logits (10)")
acts = {seed: hidden_activations(dense[seed], data.X_test) for seed in SEEDS}


def layer_svcca(model, seed):
    return [svcca(a.T, b.T) for a, b in zip(acts[seed], hidden_activations(model, data.X_test))]


ones = {s: [np.ones(w.shape, dtype=bool) for w in get_weights(dense[s])] for s in SEEDS}
sv = {0.0: np.array([layer_svcca(fine_tune(dense[s], ones[s], s), s) for s in SEEDS])}
for s in SPARSITIES:
    sv[s] = np.array([layer_svcca(pruned["global magnitude", s, seed], seed) for seed in SEEDS])  # (seeds, layers)
cross = np.array([[svcca(a.T, b.T) for a, b in zip(acts[i], acts[j])] for i, j in [(0, 1), (0, 2), (1, 2)]])

print("SVCCA with the dense network's same layer (99% variance kept), mean ± std over seeds")
print(f"{'':34}" + "".join(f"{name:>20}" for name in LAYERS))
for s, v in sv.items():
    label = "dense, fine-tuned, not pruned" if s == 0 else f"global magnitude {s:.0%}, fine-tuned"
    print(f"{label:34}" + "".join(f"{v[:, i].mean():>13.3f} ± {v[:, i].std():.3f}" for i in range(len(LAYERS))))
print(f"{'two dense nets, different seeds':34}"
      + "".join(f"{cross[:, i].mean():>13.3f} ± {cross[:, i].std():.3f}" for i in range(len(LAYERS))))

fig, ax = plt.subplots(figsize=(6.5, 3.8))
xs = list(sv)
for i, name in enumerate(LAYERS):
    ax.errorbar(xs, [sv[s][:, i].mean() for s in xs], yerr=[sv[s][:, i].std() for s in xs], marker="o",
                capsize=3, label=name, color=f"C{i}")
    ax.axhline(cross[:, i].mean(), color=f"C{i}", ls=":", lw=1)
ax.set(xlabel="sparsity (global magnitude, fine-tuned)", ylabel="SVCCA with the dense layer",
       title="Dotted: two dense networks from different seeds")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% name="exp_runtime"
print(f"experiments ran in {time.perf_counter() - LAB_START:.0f} s")

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — how to prune.** Compare the four methods at 75% and 90% of weights removed, one-shot and after fine-tuning. Which criterion matters more: *magnitude vs random*, or *layer-wise vs global*? Why does one-shot structured pruning collapse, and what does fine-tuning recover? When would you still choose structured or 2:4 pruning over unstructured pruning that is more accurate at the same count?

# %% [markdown] answer="answer_1"
# Magnitude against random is by far the larger effect. At 75% of the weights removed, random pruning keeps 0.177 one-shot and 0.719 after fine-tuning, magnitude pruning 0.63–0.85 one-shot and 0.954–0.961 after fine-tuning (dense 0.958). At 90% random pruning falls to 0.369 while global magnitude still reaches 0.881. Layer-wise against global matters only at high sparsity: the same up to 60%, 0.954 vs 0.961 at 75%, and 0.680 ± 0.128 vs 0.881 ± 0.005 at 90%. Layer-wise pruning removes 90% of the small 32×10 output layer too. Global pruning removes only about 76% of it (its weights are the largest, mean |w| ≈ 0.19 against 0.13–0.14) and takes more from the 64→32 layer (about 92%): with 320 weights feeding 10 classes, the output layer is the least redundant.
#
# Structured pruning collapses one-shot (0.301 at s = 0.75, i.e. 81% of the weights) because removing a unit removes its whole contribution, and a unit with a small L1 norm can still carry a needed feature. Fine-tuning recovers much of it (0.906 at 81%; 0.946 at 67%), though less than unstructured pruning at the same count. Unlike the masks it buys something on any hardware: 64 → 16 → 8 → 10 has 1,266 parameters and 1,232 MACs per image instead of 6,570 / 6,464, as a dense network. 2:4 costs nothing here (0.968 after fine-tuning at 50%) and 1:4 little (0.943 at 75%, against 0.954–0.961): choose N:M when the hardware has sparse tensor cores, structured pruning when it has none, and unstructured masks only when a sparse kernel or a compressed storage format actually turns the zeros into savings.

# %% [markdown] name="md_question_2"
# **Question 2 — lottery tickets.** Does rewinding to initialisation beat random reinitialisation of the same mask at this scale, at each sparsity? Is the difference larger than the seed-to-seed spread? What does the random-mask control add? Relate your finding to Frankle & Carbin's claim and to Liu et al. (*Rethinking the Value of Network Pruning*, ICLR 2019), who found that small networks trained from scratch with a pruned architecture often match the pruned ones.

# %% [markdown] answer="answer_2"
# Yes, and increasingly with sparsity. With the same masks and seeds, rewinding to the initialisation beats a fresh random initialisation by +0.008 at 63% sparsity (within the spread of about 0.007), +0.078 at 86% and +0.269 at 95% (0.841 ± 0.025 against 0.571 ± 0.074), far outside the seed-to-seed spread. Rewinding to epoch 1 gives the same as rewinding to init here (0.844 at 95%): at this scale the initialisation is already "stable", which is why Frankle et al. needed late rewinding only for deep networks. The random-mask control is much worse than both (0.287 at 95%): the magnitude mask itself carries most of the value, and the mask together with its initial weights carries more.
#
# This agrees with Frankle & Carbin's claim qualitatively — at moderate sparsity the tickets match the dense network (0.962 and 0.952 against 0.958), the randomly reinitialised ones fall behind — but only in miniature: one architecture, one dataset, 3 seeds, 3 rounds. Liu et al.'s observation concerns *structured* pruning and networks trained with larger learning rates, where a pruned architecture trained from scratch does as well; here the mask is unstructured and very sparse, the regime where Frankle & Carbin see the initialisation matter. At 95% the ticket is still well below the dense network (0.841), so "trains to the same accuracy" holds only up to about 86%.

# %% [markdown] name="md_question_3"
# **Question 3 — bias.** In your table, does pruning increase the errors of the down-sampled classes 3 and 8 more than those of the other classes? Does KD fine-tuning lower CEV and SDE, in which regime and at which sparsity? Given three seeds and 36 test images per class (one image changes a class's FNR by 1/36 ≈ 0.028, a normalised change of up to +1 when the baseline was 0), which differences would you report as findings?

# %% [markdown] answer="answer_3"
# At 75% sparsity pruning barely changes accuracy, and the down-sampled classes are hit somewhat harder in the imbalanced regime with CE fine-tuning (mean ΔFNR 0.58 against 0.25 for the others). At 90% the effect is clear: with CE fine-tuning on the down-sampled data the FNR of classes 3 and 8 grows by a mean of 4.82 (+482%) against 2.17 for the other classes. The pruned network forgets the rare classes first, as Hooker et al. report. On the balanced data classes 3 and 8 are not special (1.33 against 2.00).
#
# KD fine-tuning lowers CEV and SDE at 75% in the down-sampled regime (CEV 1.619 → 0.767, SDE 1.248 → 0.684, with small spreads), and on the balanced data it lowers them within the noise (1.254 ± 0.220 → 1.094 ± 0.698). That is the direction Blakeney et al. report. At 90% it does not reproduce: with Lab 1's setting (T = 4, α = 0.9) and only 10 fine-tuning epochs, KD recovers far less accuracy than CE (0.762 against 0.881 balanced, 0.635 against 0.741 down-sampled), and CEV and SDE grow with the errors (CEV 65 against 13 balanced). The metrics are relative changes, so a model that is much worse overall also scatters more. I would report the 90% forgetting of the rare classes, where the effect is many test images and every seed agrees, and the 75% down-sampled KD improvement as suggestive. I would not report the balanced 75% differences: one image moves a class's FNR by 0.028, and from a zero baseline that counts as a change of +1, so CEV at low sparsity is dominated by a handful of images. The KD failure at 90% would need longer fine-tuning or other T, α before calling it a finding about KD.

# %% [markdown] name="md_question_4"
# **Question 4 — is pruning compression?** Read the SVCCA table: at which sparsity do the pruned network's layers stop being more similar to their dense origin than two independently trained networks are to each other? Which layer changes most? What does this say about the claim that pruning "removes redundant weights", and what would you check before deploying a pruned model in place of a dense one?

# %% [markdown] answer="answer_4"
# Up to 60% the pruned layers stay very close to their dense origin (0.964, 0.994, 0.996), close to what fine-tuning alone does (0.997–0.999), and far above two independently trained dense networks (0.853, 0.931, 0.936): up to this sparsity the pruned network computes almost the same function with fewer weights, and pruning really is compression. At 75% the first layer (0.938) and the logits (0.990) are still closer to the origin than another seed is, while the second hidden layer (0.977) nears the cross-seed 0.931. At 90% hidden 2 (0.913) and the logits (0.898) are *less* similar to their own dense network than two unrelated dense networks are to each other (0.931, 0.936). Only the first layer (0.896 against 0.853) still resembles its origin. The layers after the first change most in the end, although the first layer loses similarity earliest in absolute terms.
#
# So "removing redundant weights" describes moderate sparsity. Beyond it, fine-tuning re-learns a different solution in the surviving weights — a different model that reaches a similar accuracy, with different per-class errors (question 3). Before deploying a pruned model in place of a dense one I would check more than top-1 accuracy: per-class error rates and CEV/SDE against the dense model, agreement with the dense model's predictions (Lab 1's loyalty), calibration, and behaviour on rare classes or subgroups. Those are the properties a representation change can silently alter.
