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
# **A note on the reading.** The lottery-ticket notes say "prune $p^{1/n}$% per round". That is right only when $p$ is the fraction of weights *kept* at the end and $p^{1/n}$ the share of the survivors *kept* each round: to keep 5% after $n = 5$ rounds, keep $0.05^{1/5} = 0.549$ of the survivors per round, i.e. prune $q = 1 - 0.05^{1/5} = 0.451$ — what `imp_rate_per_round(0.95, 5)` returns. Read with $p$ as the pruned fraction, $0.95^{1/5} = 0.990$ pruned per round would leave $(1 - 0.990)^5 \approx 1.1 \cdot 10^{-10}$ of the weights.
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
# **Units.** Here the changes are fractions ($+1$ is $+100\%$); Blakeney's dissertation prints percentages. CEV is a squared distance: computed on percentages it is $10^4$ times the value on fractions. Compare with a paper only in one unit.
#
# **Your task.** `cev(d_fpr, d_fnr)` for two `(C,)` arrays, a float.

# %% exercise="cev"
# `course build` fills this cell from reference_impl: the exercise cev

# %% [markdown] name="md_sde"
# ## Exercise 10 — Symmetric Distance Error (SDE)
#
# CEV ignores *which* errors moved. A class whose false negatives grow faster than its false positives ($\Delta\mathrm{FNR} > \Delta\mathrm{FPR}$) is being predicted less — "forgotten"; one with $\Delta\mathrm{FPR} > \Delta\mathrm{FNR}$ absorbs other classes' samples. **SDE** is the mean Euclidean distance of the points from the diagonal $\Delta\mathrm{FPR} = \Delta\mathrm{FNR}$ (Blakeney's dissertation, ch. III, eq. III.5–III.6): the distance from $(x, y)$ to the line $y = x$ is $|y - x| / \sqrt2$, so
#
# $$\mathrm{SDE} = \frac1C \sum_c \frac{\left|\Delta\mathrm{FNR}_c - \Delta\mathrm{FPR}_c\right|}{\sqrt 2}.$$
#
# It is 0 when each class's two rates changed alike, whatever the size of the change. **Units:** the changes are fractions and SDE comes back in the same unit (×100 for the dissertation's percentages; SDE is a distance, so it scales like its inputs, unlike CEV). *(Earlier versions of this lab dropped the $\sqrt2$; the graded function now follows the source.)*
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
# Each seed's dense network trains for 20 epochs (Adam, lr 5·10⁻³, batches of 128); pruned networks are fine-tuned for 10 epochs at lr 2·10⁻³. The whole notebook takes about 40 seconds on one unloaded CPU core (the dissertation's protocols, run beside the lab's own, take about half of it).

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab03, quick_mode, ready

# Tiny networks: one thread is faster than several and makes results bit-for-bit repeatable.
torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab03.Config.quick() if quick_mode() else lab03.Config()
figures = Figures()  # what the experiments measured, by name: the answers quote these
data = digits_splits(seed=0)  # stratified 60/20/20 split of the 1,797 8x8 digits, pixels in [0, 1]
lab = lab03.setup(data, cfg, figures)  # one dense MLP per seed (needs no exercise)

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
# Uses YOUR magnitude_mask, global_magnitude_masks, prune_filters and nm_mask (exercises 1, 2, 4 and 5).
if ready({1: magnitude_mask, 2: global_magnitude_masks, 4: prune_filters, 5: nm_mask}):
    lab03.curves(lab, magnitude_mask, global_magnitude_masks, prune_filters, nm_mask, figures)

# %% name="exp_curves_plot"
if lab.curves:  # section 1 ran: plot it; where global pruning puts the zeros; what structured pruning buys
    lab03.plot_curves(lab)
    lab03.where_the_zeros_go(lab, global_magnitude_masks, figures)

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
# Uses YOUR magnitude_mask and imp_rate_per_round (exercises 1 and 6).
if ready({1: magnitude_mask, 6: imp_rate_per_round}):
    ticket = lab03.lottery(lab, magnitude_mask, imp_rate_per_round, figures)
    lab03.plot_lottery(lab, ticket)

# %% [markdown] name="md_chapter2"
# **The dissertation's protocol.** Blakeney's dissertation (ch. II) asks a different question at 30–90% sparsity: does the pruned network's *mask* matter once the weights are re-initialised? It compares the pruned net re-initialised ("reinit": the magnitude mask, fresh random weights, trained from scratch) with a **random sparse initialisation** (a random mask with the same per-layer sparsity, the same fresh weights) and finds them about equal. `labkit.pruning.sparse_init_vs_reinit` runs that protocol — one-shot, global, 20 epochs from scratch per arm — with **your** `global_magnitude_masks`, beside the one-shot rewind to the dense network's own initialisation ("rewind", a lottery ticket found in one round).

# %% name="exp_chapter2"
# Uses YOUR global_magnitude_masks (exercise 2).
if ready({2: global_magnitude_masks}):
    ch2 = lab03.chapter2(lab, global_magnitude_masks, figures)

# %% [markdown] name="md_chapter2_discussion"
# At 30–70% the dissertation's finding reproduces: a random sparse initialisation trains as well as the re-initialised pruned network (paired differences of −0.003, +0.002 and −0.003, each within one test image, 0.003), so at these sparsities the magnitude mask carries no information a random mask lacks — what matters is how many weights each layer keeps. At 90% the two part: the magnitude mask beats a random one by +0.115 ± 0.018 (0.873 against 0.758). That is the regime of the lottery experiment above (63–95%), which is why its answer finds that "the magnitude mask itself carries most of the value": the two conclusions are about different sparsities and different protocols (iterative with rewinding at 63–95% there, one-shot with re-initialisation at 30–90% in the dissertation), and at this scale they agree where they overlap. Why the mask matters only at high sparsity is not settled by these runs; a plausible reading is that when global pruning removes 90.2% of the first layer's weights, *which* inputs and units keep their connections starts to matter, and a random mask cannot know that. The rewind column is a lottery ticket found in one shot: above both re-initialised arms at every sparsity, 0.935 against 0.873 at 90%.

# %% [markdown] name="md_bias"
# ## 3. Whom does pruning hurt, and does distillation help?
#
# In the spirit of chapter III of Blakeney's dissertation, with one difference stated plainly: the dissertation prunes **filters** (structured) on a **gradual** schedule (AGP, Zhu & Gupta 2017), while the table below prunes **weights** (unstructured) **one-shot** with one global threshold, because that is what §1 built and what the KD comparison needs at this scale. The dissertation's protocol is run right after the table (gradual filter-wise pruning), and its two further analyses — pruning-identified exemplars across seeds and the correlation of SVCCA distance with CEV — in §5.
#
# Global magnitude pruning at 75% and 90%, fine-tuned either with cross-entropy (**CE**) or with Hinton's KD loss from the dense model ($T = 4$, $\alpha = 0.9$, Lab 1's `kd_loss_torch`), on
#
# * the **balanced** training set, and
# * a **down-sampled** one in which classes 3 and 8 keep only 20% of their training images (`labdatasets.imbalance.downsample_classes`, deterministic): the dense baseline is trained on the same imbalanced set.
#
# Every model is tested on the same balanced test set. Per class: FPR and FNR with **your** `per_class_fpr_fnr`, their normalised changes against the dense model with **your** `rate_change` (floors $1/\#\text{negatives}$ and $1/\#\text{positives}$ of the class in the test set), then **your** `cev` and `sde`.

# %% name="exp_bias"
# Uses YOUR global_magnitude_masks, per_class_fpr_fnr, rate_change, cev and sde (exercises 2, 7, 8, 9, 10).
if ready({2: global_magnitude_masks, 7: per_class_fpr_fnr, 8: rate_change, 9: cev, 10: sde}):
    bias = lab03.bias(lab, global_magnitude_masks, per_class_fpr_fnr, rate_change, cev, sde, figures)
    lab03.plot_bias(lab, bias)

# %% [markdown] name="md_agp"
# **The dissertation's protocol: gradual filter-wise pruning.** Zhu & Gupta (*To prune, or not to prune*, 2017, eq. 1) raise the sparsity from $s_i$ to $s_f$ in $n$ pruning steps, $s_t = s_f + (s_i - s_f)\,(1 - t/n)^3$: fast at first, when much is redundant, slowly at the end. `labkit.pruning.agp_filter_prune` removes whole hidden units (a unit's row and the next layer's column, scored by **your** `l1_filter_scores`) on that schedule, training between steps — the protocol of Blakeney's dissertation, ch. III. Below: the same 12 epochs after dense training either way — AGP in 5 steps (6 pruning points, 1 epoch after each) then 6 epochs at the final sparsity, or one-shot filter pruning then 12 epochs — compared on accuracy, CEV and SDE against the dense network.

# %% name="exp_agp"
# Uses YOUR l1_filter_scores, per_class_fpr_fnr, rate_change, cev and sde (exercises 3, 7, 8, 9, 10).
if ready({3: l1_filter_scores, 7: per_class_fpr_fnr, 8: rate_change, 9: cev, 10: sde}):
    lab03.agp(lab, l1_filter_scores, per_class_fpr_fnr, rate_change, cev, sde, figures)

# %% [markdown] name="md_agp_discussion"
# At the same 12 epochs the gradual schedule does not help here: +0.006 at half the units (0.961 against 0.955, within the spread) and −0.014 at three quarters (0.905 against 0.919), with CEV and SDE within their (large) seed spreads of each other. AGP's premise is a long training run in which the network adapts to each small step; with 6 epochs of pruning on a network this small, each step removes units the last epoch had just adapted to, and the budget left at the final sparsity is half the one-shot's. So this lab's §3 table keeps one-shot unstructured pruning, and the dissertation's filter-wise protocol is the comparison above, not a replacement. Filter-wise pruning of both hidden layers is also much harsher on bias than unstructured pruning: CEV 5.920 (AGP) and 4.756 (one-shot) at 75% of the units (which is 80.9% of the weights), against 1.254 for global magnitude pruning of 75% of the weights, which is also more accurate (0.961).

# %% [markdown] name="md_svcca_exp"
# ## 4. Is pruning compression? SVCCA per layer
#
# If pruning only removed redundancy, the pruned network would compute the same representations with fewer weights. **Your** `svcca` compares each layer of the fine-tuned global-magnitude networks with the same layer of the dense network they came from, on the 360 test images (activations transposed to neurons × datapoints). Two references: the dense network fine-tuned for the same 10 epochs with no pruning (the change fine-tuning alone causes), and two dense networks trained from different seeds (how similar independently trained networks are).

# %% name="exp_svcca"
# Uses YOUR global_magnitude_masks and svcca (exercises 2 and 11).
if ready({2: global_magnitude_masks, 11: svcca}):
    lab03.plot_svcca(lab03.svcca_layers(lab, global_magnitude_masks, svcca, figures))

# %% [markdown] name="md_pies"
# ## 5. Chapter III's other analyses: pruning-identified exemplars, and representation drift against bias
#
# Hooker et al. (*What Do Compressed Deep Neural Networks Forget?*, 2019) call a test image a **pruning-identified exemplar** (PIE) when the most common label of a population of pruned models differs from that of a population of dense ones. `labkit.pruning.pie_experiment` trains 5 dense networks (seeds 0–4), prunes each to 90% with **your** `global_magnitude_masks` and fine-tunes it; the populations' modal labels are compared image by image.

# %% name="exp_pies"
# Uses YOUR global_magnitude_masks (exercise 2).
if ready({2: global_magnitude_masks}):
    lab03.pies(lab, global_magnitude_masks, figures)

# %% [markdown] name="md_pies_discussion"
# Hooker et al.'s two observations reproduce in miniature: pruning's losses concentrate on a small set of images (27 PIEs, 7.5% of the test set; the pruned networks' accuracy is 0.289 there against 0.906 elsewhere), and these images were already harder for the *dense* networks (0.793 against 0.972) — atypical or ambiguous digits, 1s (6 of them) and 8s (5) most often. Hooker et al. used 30 models per population; with 5 the modal label is noisier, so treat the exact count as indicative.

# %% [markdown] name="md_drift"
# Blakeney's ch. III also relates how far a pruned model's representation moved to how biased it became. `labkit.pruning.svcca_vs_cev` prunes each seed's dense network to 30/50/70/80/90% (global magnitude, **your** masks), fine-tunes it, and measures the SVCCA distance ($1 -$ **your** `svcca`) of the last hidden layer to the dense one and **your** `cev` of the per-class rate changes; then the Pearson and Spearman correlations of the two over all pruned models.

# %% name="exp_drift"
# Uses YOUR global_magnitude_masks, per_class_fpr_fnr, rate_change, cev and svcca (exercises 2, 7, 8, 9, 11).
if ready({2: global_magnitude_masks, 7: per_class_fpr_fnr, 8: rate_change, 9: cev, 11: svcca}):
    lab03.drift_vs_bias(lab, global_magnitude_masks, svcca, cev, per_class_fpr_fnr, rate_change, figures)

# %% [markdown] name="md_drift_discussion"
# The two measures move together (Pearson 0.743, Spearman 0.718 over the 15 pruned models), but almost all of that is sparsity: both grow with it, from an SVCCA distance of 0.0015 and a CEV of 0.602 at 30% to 0.087 and 12.993 at 90%. Within one sparsity the three seeds show no consistent sign (Spearman −0.5, +0.5 and +0.5 at 70, 80 and 90%). So at this scale SVCCA distance does not tell which of two equally pruned models is more biased; it tells how far pruning has gone. A claim that "representation change predicts bias" would need many models per sparsity.

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab03')}")

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — how to prune.** Compare the four methods at 75% and 90% of weights removed, one-shot and after fine-tuning. Which criterion matters more: *magnitude vs random*, or *layer-wise vs global*? Why does one-shot structured pruning collapse, and what does fine-tuning recover? When would you still choose structured or 2:4 pruning over unstructured pruning that is more accurate at the same count?

# %% [markdown] answer="answer_1"
# Magnitude against random is by far the larger effect. At 75% of the weights removed, random pruning keeps 0.177 one-shot and 0.719 after fine-tuning, magnitude pruning 0.63–0.85 one-shot and 0.954–0.961 after fine-tuning (dense 0.958). At 90% random pruning falls to 0.369 while global magnitude still reaches 0.881. Layer-wise against global matters only at high sparsity: the same up to 60%, 0.954 vs 0.961 at 75%, and 0.680 ± 0.128 vs 0.881 ± 0.005 at 90%. Layer-wise pruning removes 90% of the small 32×10 output layer too. Global pruning removes only about 76% of it (its weights are the largest, mean |w| 0.195 against 0.130–0.145) and takes more from the 64→32 layer (about 92%): with 320 weights feeding 10 classes, the output layer is the least redundant.
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
# KD fine-tuning lowers CEV and SDE at 75% in the down-sampled regime (CEV 1.619 → 0.767, SDE 0.883 → 0.484, with small spreads), and on the balanced data it lowers them within the noise (1.254 ± 0.220 → 1.094 ± 0.698). That is the direction Blakeney et al. report. At 90% it does not reproduce: with Lab 1's setting (T = 4, α = 0.9) and only 10 fine-tuning epochs, KD recovers far less accuracy than CE (0.762 against 0.881 balanced, 0.635 against 0.741 down-sampled), and CEV and SDE grow with the errors (CEV 65 against 13 balanced). The metrics are relative changes, so a model that is much worse overall also scatters more. I would report the 90% forgetting of the rare classes, where the effect is many test images and every seed agrees, and the 75% down-sampled KD improvement as suggestive. I would not report the balanced 75% differences: one image moves a class's FNR by 0.028, and from a zero baseline that counts as a change of +1, so CEV at low sparsity is dominated by a handful of images. The KD failure at 90% would need longer fine-tuning or other T, α before calling it a finding about KD.

# %% [markdown] name="md_question_4"
# **Question 4 — is pruning compression?** Read the SVCCA table: at which sparsity do the pruned network's layers stop being more similar to their dense origin than two independently trained networks are to each other? Which layer changes most? What does this say about the claim that pruning "removes redundant weights", and what would you check before deploying a pruned model in place of a dense one?

# %% [markdown] answer="answer_4"
# Up to 60% the pruned layers stay very close to their dense origin (0.964, 0.994, 0.996), close to what fine-tuning alone does (0.997–0.999), and far above two independently trained dense networks (0.853, 0.931, 0.936): up to this sparsity the pruned network computes almost the same function with fewer weights, and pruning really is compression. At 75% the first layer (0.938) and the logits (0.990) are still closer to the origin than another seed is, while the second hidden layer (0.977) nears the cross-seed 0.931. At 90% hidden 2 (0.913) and the logits (0.898) are *less* similar to their own dense network than two unrelated dense networks are to each other (0.931, 0.936). Only the first layer (0.896 against 0.853) still resembles its origin. The layers after the first change most in the end, although the first layer loses similarity earliest in absolute terms.
#
# So "removing redundant weights" describes moderate sparsity. Beyond it, fine-tuning re-learns a different solution in the surviving weights — a different model that reaches a similar accuracy, with different per-class errors (question 3). Before deploying a pruned model in place of a dense one I would check more than top-1 accuracy: per-class error rates and CEV/SDE against the dense model, agreement with the dense model's predictions (Lab 1's loyalty), calibration, and behaviour on rare classes or subgroups. Those are the properties a representation change can silently alter.
# %% [markdown] name="md_question_5"
# **Question 5 — protocols.** Your §2 and the dissertation's chapter II seem to disagree on whether the magnitude mask matters. Using the random-sparse-init table, say at which sparsities they agree and where they part, and why §2's 95% result does not contradict the dissertation. Then: which of chapter III's analyses (gradual filter pruning, PIEs, SVCCA vs CEV) reproduced here, and which did not?

# %% [markdown] answer="answer_5"
# They agree at 30–70%: there a random sparse initialisation trains as well as the re-initialised pruned network (paired differences between −0.003 and +0.002, within one test image), which is the dissertation's chapter II finding. They part at 90%, where the magnitude mask is worth +0.115 ± 0.018 over a random one. §2's lottery experiment lives at 63–95%, mostly beyond the dissertation's range, and it compares rewinding with re-initialising the same mask rather than a magnitude mask with a random one on the same fresh weights; its conclusion that the mask carries most of the value is a statement about high sparsity, where the two protocols agree (at 90% here too the magnitude mask wins). So there is no contradiction, only two different questions asked at different sparsities.
#
# Of chapter III's analyses, the pruning-identified exemplars reproduce: 27 test images (7.5%) on which the pruned networks' accuracy falls to 0.289, which the dense networks already found hard (0.793 against 0.972). The SVCCA-distance–CEV correlation appears (Spearman 0.718) but is carried by sparsity: within one sparsity the sign is not consistent, so it does not reproduce as a per-model predictor. Gradual filter-wise pruning (AGP) did not beat one-shot filter pruning at the same 12 epochs (0.905 against 0.919 at 75% of the units), so the schedule's benefit does not reproduce at this scale and budget; the dissertation trains much longer between steps.

