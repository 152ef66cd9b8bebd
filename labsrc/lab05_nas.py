# %% [markdown] name="md_title"
# # Lab 5 — Neural architecture search: DARTS and latency-aware search
#
# Which operation should sit on each edge of a network — a 3×3 convolution, a 1×1 one, a pooling, a skip connection, nothing at all? **Neural architecture search** (NAS) answers by search instead of by hand. Early NAS trained thousands of candidate networks with reinforcement learning; **DARTS** (Liu, Simonyan & Yang, *DARTS: Differentiable Architecture Search*, ICLR 2019, arXiv:1806.09055) makes the choice continuous: every edge computes a softmax-weighted *mixture* of all candidate ops, the mixing logits $\alpha$ are learned by gradient descent alongside the weights, and the discrete architecture is read off $\alpha$ at the end. **ProxylessNAS** (Cai, Zhu & Han, ICLR 2019, arXiv:1812.00332) adds the hardware: the *expected latency* of the stochastic network is differentiable in $\alpha$, so it can be a term of the loss.
#
# In this lab you
#
# 1. **write** (graded) the NumPy core of both: the softmax op weights, the mixed op, the DARTS genotype derivation, the expected latency and its gradient, the two latency-aware losses of ProxylessNAS, and the Pareto front of an accuracy–latency trade-off;
# 2. **run** (not graded) search with PyTorch (`labkit.nas`): on a synthetic task with a *planted* op, where the right answer is known; on the 8×8 digits, DARTS against random search at equal compute; and latency-aware search with op latencies measured on *this* machine, sweeping the penalty $\lambda$;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np` in the first code cell) and the functions of earlier exercises — the autograder runs each function on its own, in a sandbox, and checks it with property tests against a hidden reference. Do not change the signatures. Run `course check <this notebook>` to run the public checks yourself.
#
# The experiments take about a minute on a laptop CPU. Some of them call your functions, so finish the exercises first.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_mixed_op_weights"
# ## Exercise 1 — the op weights of a mixed edge
#
# DARTS relaxes the categorical choice of one op out of $K$ candidates on an edge into a softmax over $K$ real **architecture parameters** $\alpha \in \mathbb{R}^K$:
#
# $$w_i = \frac{\exp(\alpha_i)}{\sum_{j=1}^{K} \exp(\alpha_j)}.$$
#
# A cell has many edges, so $\alpha$ is a matrix with one row per edge and the softmax runs along the last axis. At the start $\alpha = 0$: every op has weight $1/K$. The same care as in any softmax applies: subtract the row maximum before `np.exp`, which changes nothing mathematically (the softmax is shift-invariant) and keeps $\alpha = 10^4$ from overflowing.
#
# **Your task.** `mixed_op_weights(alpha)` for `alpha` of shape `(..., K)`.

# %% exercise="mixed_op_weights"
# `course build` fills this cell from reference_impl: the exercise mixed_op_weights

# %% [markdown] name="md_mixed_op"
# ## Exercise 2 — the mixed op
#
# On an edge from state $x$, DARTS computes every candidate op and mixes the results (their eq. 1):
#
# $$\bar o(x) = \sum_{i=1}^{K} w_i\, o_i(x), \qquad w = \mathrm{softmax}(\alpha).$$
#
# The supernet is thereby differentiable in $\alpha$: $\partial \bar o / \partial \alpha_j = w_j\,(o_j(x) - \bar o(x))$, so an op whose output moves the loss the right way gains weight. The price is memory and time: the supernet runs *all* $K$ ops on every edge. The candidate `'none'` (the zero op) outputs zeros: it adds nothing to the sum but still takes its share of the softmax, which lets DARTS express "this edge should not exist".
#
# **Your task.** `mixed_op(op_outputs, alpha)`: the $K$ op outputs arrive stacked on the first axis, `op_outputs[i]` $= o_i(x)$; return the weighted sum, of the shape of one output. `np.tensordot` or broadcasting does it in one line.

# %% exercise="mixed_op"
# `course build` fills this cell from reference_impl: the exercise mixed_op

# %% [markdown] name="md_derive_genotype"
# ## Exercise 3 — from a continuous cell to a discrete one
#
# After search, DARTS reads a discrete cell off $\alpha$ (their section 2.4). A cell has `n_inputs` input states (in DARTS two: the outputs of the two previous cells) and a chain of intermediate nodes; node $j$ receives an edge from each of the `n_inputs + j` states before it. The rows of $\alpha$ are numbered node by node: node 0's edges from states $0, 1, \dots$, then node 1's, and so on. With $w = \mathrm{softmax}(\alpha)$ per row:
#
# * the **strength** of an edge is its largest weight among the ops other than `'none'`;
# * each node keeps its $k$ strongest incoming edges ($k = 2$ in DARTS; all of them if it has fewer), strongest first;
# * each kept edge becomes its strongest op other than `'none'`.
#
# Two details make the rule reproducible. `'none'` is excluded on purpose (as in the DARTS code): a zero op often carries much of an edge's weight, and a derived cell of zeros would compute nothing. And **ties go to the lower index**: among equally strong edges the one from the lower state, among equally weighted ops the one listed first — what a stable sort and `np.argmax` do. Note that edges are compared by their *softmax weights*, not by raw $\alpha$: adding a constant to one edge's row changes nothing.
#
# **Your task.** `derive_genotype(alpha, op_names, k=2, n_inputs=2)` returns the genotype as DARTS writes it: a list of `(op_name, input_state)` tuples, node by node. Example: with `op_names = ['none', 'skip', 'conv']`, one node, two inputs and $k = 1$, `alpha = log([[0.7, 0.2, 0.1], [0.4, 0.25, 0.35]])` gives `[('conv', 1)]`: edge 0's 'none' is strong, but its best real op (skip, 0.2) loses to edge 1's conv (0.35).

# %% exercise="derive_genotype"
# `course build` fills this cell from reference_impl: the exercise derive_genotype

# %% [markdown] name="md_expected_latency"
# ## Exercise 4 — the expected latency
#
# ProxylessNAS views the supernet as a *stochastic* network: layer $l$ runs op $i$ with probability $p_{l,i} = \mathrm{softmax}(\alpha_l)_i$. Latencies of a sequential network add up, so its expected latency is
#
# $$\mathbb{E}[\mathrm{lat}] = \sum_{l} \sum_{i} p_{l,i}\, \mathrm{lat}_{l,i} \;+\; \mathrm{lat}_{\text{fixed}},$$
#
# where $\mathrm{lat}_{l,i}$ is op $i$'s latency in layer $l$, *measured once on the target device* and stored in a table, and the fixed part is everything not searched (stem, classifier). Unlike the latency of a discrete network, this is a smooth function of $\alpha$ (Cai et al., sec. 3.3).
#
# **Your task.** `expected_latency(alpha, op_latency, fixed=0.0)` for `alpha` and `op_latency` of the same shape, `(K,)` for one layer or `(L, K)`. Reject negative latencies and mismatched shapes with a `ValueError`.

# %% exercise="expected_latency"
# `course build` fills this cell from reference_impl: the exercise expected_latency

# %% [markdown] name="md_expected_latency_grad"
# ## Exercise 5 — its gradient, in closed form
#
# With the softmax Jacobian $\partial p_i / \partial \alpha_j = p_i(\delta_{ij} - p_j)$,
#
# $$\frac{\partial\, \mathbb{E}[\mathrm{lat}]}{\partial \alpha_{l,j}} = \sum_i \mathrm{lat}_{l,i}\, p_{l,i}(\delta_{ij} - p_{l,j}) = p_{l,j}\,\big(\mathrm{lat}_{l,j} - E_l\big), \qquad E_l = \sum_i p_{l,i}\, \mathrm{lat}_{l,i}.$$
#
# Read it: an op slower than its layer's current expected latency has a positive gradient, so a descent step lowers its $\alpha$; a faster one gains. The push is proportional to the op's probability $p_{l,j}$: an op that is already nearly dead gets almost no gradient, which is one reason a latency penalty cannot resurrect an op once it has lost. Each row of the gradient sums to 0, and the fixed latency drops out.
#
# **Your task.** `expected_latency_grad(alpha, op_latency)`, of the shape of `alpha`. The checks compare it with finite differences; in the tests of the reference it is compared with PyTorch's autograd.

# %% exercise="expected_latency_grad"
# `course build` fills this cell from reference_impl: the exercise expected_latency_grad

# %% [markdown] name="md_latency_loss_additive"
# ## Exercise 6 — latency-aware loss, additive
#
# ProxylessNAS's released code offers two ways of adding latency to the loss. The additive one ("add#linear") charges the *relative* excess over a reference latency (a target, or a baseline network's latency):
#
# $$\mathcal{L} = \mathrm{CE} + \lambda\, \frac{\mathbb{E}[\mathrm{lat}] - \mathrm{ref}}{\mathrm{ref}}.$$
#
# Dividing by ref makes $\lambda$ unit-free: $\lambda = 0.1$ costs 0.1 nats of cross-entropy for a network twice as slow as ref. Below ref the term is negative — it keeps rewarding speed — and its gradient is the same everywhere, $\lambda/\mathrm{ref}$ times exercise 5's: a constant exchange rate between accuracy and latency.
#
# **Your task.** `latency_loss_additive(ce, alpha, op_latency, ref_latency, lam, fixed=0.0)`, using your `expected_latency`. `ValueError` for `ref_latency <= 0` or `lam < 0`.

# %% exercise="latency_loss_additive"
# `course build` fills this cell from reference_impl: the exercise latency_loss_additive

# %% [markdown] name="md_latency_loss_multiplicative"
# ## Exercise 7 — latency-aware loss, multiplicative
#
# The multiplicative form ("mul#log" in the ProxylessNAS code; FBNet, Wu et al., CVPR 2019, uses $\mathrm{CE}\cdot a \log(\mathrm{LAT})^\beta$) scales the loss instead:
#
# $$\mathcal{L} = \mathrm{CE} \cdot \left(\frac{\log \mathbb{E}[\mathrm{lat}]}{\log \mathrm{ref}}\right)^{\beta}.$$
#
# At $\mathbb{E}[\mathrm{lat}] = \mathrm{ref}$ the factor is 1; a slower network scales its loss up, a faster one down, and $\beta$ sets how strongly. Two consequences to think about: the penalty's pull is proportional to CE, so it fades as the network gets accurate; and through the logarithm it reacts to latency *ratios*. The logarithms must be positive, so measure latencies in a unit where they exceed 1 (microseconds). (The ProxylessNAS code also multiplies by a constant 0.2, which we leave out.)
#
# **Your task.** `latency_loss_multiplicative(ce, alpha, op_latency, ref_latency, beta, fixed=0.0)`. `ValueError` for `ref_latency <= 1`, `beta < 0`, or an expected latency $\le 1$.

# %% exercise="latency_loss_multiplicative"
# `course build` fills this cell from reference_impl: the exercise latency_loss_multiplicative

# %% [markdown] name="md_pareto_front"
# ## Exercise 8 — the Pareto front
#
# A latency-aware search gives not one answer but a trade-off: one architecture per $\lambda$. Architecture $m$ **dominates** $n$ when it is no slower and no less accurate, and strictly better in at least one of the two. The **Pareto front** is the set of architectures nobody dominates; everything else is a bad deal (some other architecture is faster *and* at least as accurate). Two architectures with identical numbers do not dominate each other: both stay on the front.
#
# **Your task.** `pareto_front(latency, accuracy)` returns a boolean array, `True` for the architectures on the front. An $N \times N$ comparison with broadcasting is fine for the handful of points here.

# %% exercise="pareto_front"
# `course build` fills this cell from reference_impl: the exercise pareto_front

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. The search code is `labkit.nas` (PyTorch, CPU, one thread): read it, it is short; the experiments that call it and your functions are `labkit/experiments/lab05.py`. It implements **first-order DARTS**: for each mini-batch, one Adam step on $\alpha$ using a batch of the *validation* split, then one step on the weights using a batch of the *training* split — the bilevel problem $\min_\alpha \mathcal{L}_{val}(w^*(\alpha), \alpha)$ s.t. $w^*(\alpha) = \arg\min_w \mathcal{L}_{train}(w, \alpha)$, approximated by alternating single steps (DARTS's $\xi = 0$; the second-order version differentiates through one weight step).

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab05, quick_mode, ready
from labkit.nas import DIGIT_OPS

torch.set_num_threads(1)  # tiny networks: faster than a pool, and repeatable for a fixed thread count
LAB_START = time.perf_counter()
cfg = lab05.Config.quick() if quick_mode() else lab05.Config()  # COURSE_QUICK=1: a tiny size (the tests)
figures = Figures()  # what the experiments measured, by name (latencies: machine-dependent, never claimed)
data = digits_splits(seed=0)
print({name: arr.shape for name, arr in data._asdict().items()})
print("candidate ops on the digits cell:", list(DIGIT_OPS))

# %% [markdown] name="md_planted"
# ## A search whose answer is known
#
# `make_planted_op_task` generates 1-D signals $x \in \mathbb{R}^{16}$ and targets $y = w^\top \mathrm{relu}(\mathrm{op}(x)) + b$ (plus a little noise) from one op of `PLANTED_OPS` (identity, conv3, conv5, maxpool3, avgpool3). The supernet mirrors it: one mixed op over the same five candidates (the convolutions with *learned* kernels; each op followed by a BatchNorm without parameters, as in DARTS, so that no op wins by its scale alone), a learned shift, ReLU, and a learned linear readout. We plant **maxpool3** — the only op that none of the others can imitate (identity and avgpool3 are special convolutions, conv3 is a special conv5) — and search with 5 seeds (a seed changes the data, kernels, readout and initialisation): 5 warm-up epochs of weights only, then 15 epochs of first-order DARTS.
#
# Three views of the same question, *which op does the task need?*
#
# * **the search's answer:** the largest `mixed_op_weights` after search (the figure shows them over the epochs);
# * **what the trained supernet relies on:** the rise in validation error when one op is cut out of it (Wang et al., *Rethinking Architecture Selection in Differentiable NAS*, ICLR 2021, argue that this, not the size of $\alpha$, is what should select an op);
# * **the ground truth, by brute force:** each op alone in the same network, trained as long — affordable here because there are only five candidates.

# %% name="exp_planted"
# Uses YOUR mixed_op_weights (the op weights after each epoch of each search).
if ready({1: mixed_op_weights}):
    planted = lab05.planted(mixed_op_weights, cfg, figures)
    lab05.plot_planted(planted, cfg)

# %% [markdown] name="md_latency_table"
# ## The latency table, measured on this machine
#
# ProxylessNAS measures each candidate op once on the target device and stores the numbers. Here the device is the CPU running this notebook: each op of the digits cell runs on a batch of 64 feature maps of $8 \times 8 \times 8$, with 10 untimed warm-up calls (first calls allocate memory and pick kernels) and the **median** of 50 timed calls (the median ignores the occasional call interrupted by another process; a mean would not). `'none'` costs 0: a derived network simply leaves the edge out.

# %% name="exp_latency_table"
LAT_TABLE, FIXED_US, X_test_t = lab05.latency_table(data, cfg, figures)

# %% [markdown] name="md_darts_vs_random"
# ## DARTS against random search at equal compute
#
# The digits cell has 3 intermediate nodes over one input (the stem's 8 channels), 6 edges and 6 candidate ops; each node keeps $k = 2$ edges (node 0 has only one). That is $5^5 \cdot 3 = 9{,}375$ discrete cells. Li & Talwalkar (*Random Search and Reproducibility for NAS*, UAI 2019) showed that random search with the same budget is a strong baseline that DARTS papers often skipped.
#
# * **DARTS:** `cfg.search_epochs` (3) epochs of first-order search, then your `derive_genotype(alpha, DIGIT_OPS, k=2, n_inputs=1)`.
# * **Random search:** the same number of optimiser steps as the DARTS search took (weight steps plus $\alpha$ steps), shared among randomly sampled cells, each trained for its share and scored on the validation split; the best is kept. Equal *steps*, not equal FLOPs: a supernet step runs all ops on all edges, so this budget favours DARTS; the CPU times are printed.
# * Both winners are then trained from scratch for `cfg.train_steps` (300) steps, 3 seeds each, and scored on the *test* split.

# %% name="exp_darts_vs_random"
# Uses YOUR mixed_op_weights and derive_genotype.
if ready({1: mixed_op_weights, 3: derive_genotype}):
    darts = lab05.darts_vs_random(mixed_op_weights, derive_genotype, data, cfg, figures)

# %% [markdown] name="md_latency_search"
# ## Latency-aware search: sweeping $\lambda$
#
# Now the $\alpha$ step minimises your additive loss, $\mathrm{CE} + \lambda(\mathbb{E}[\mathrm{lat}] - \mathrm{ref})/\mathrm{ref}$, with the op latencies of the table on every edge, the fixed part added once, and ref = the expected latency of the uniform supernet ($\alpha = 0$, your `expected_latency`). Each $\lambda$ gives a genotype; we train it from scratch, measure the *real* latency of the derived network (warm-up + median, batch 64) and its test accuracy, and mark the Pareto front with your `pareto_front`. The random-search cells of the previous section join the plot (trained for their short budget, scored on validation, so they are drawn only for orientation and left out of the front).

# %% name="exp_lambda_sweep"
# Uses YOUR derive_genotype, expected_latency, latency_loss_additive and pareto_front (and the DARTS run above).
if ready({1: mixed_op_weights, 3: derive_genotype, 4: expected_latency, 6: latency_loss_additive, 8: pareto_front}):
    sweep = lab05.lambda_sweep(derive_genotype, expected_latency, latency_loss_additive, pareto_front, data,
                               LAT_TABLE, FIXED_US, X_test_t, darts, cfg, figures)
    lab05.plot_sweep(sweep)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab05')}")

# %% [markdown] name="md_results"
# # Questions
#
# Answer in a few sentences each, using the numbers you measured.

# %% [markdown] name="md_question_1"
# **Question 1 — the planted op.** In how many of the 5 seeds did the search put the largest weight on maxpool3? Where it failed, which op won, and why is that op a plausible *local* optimum of the mixture even though maxpool3 alone fits the targets better? (Think about what the supernet can do with a mixture that a single op cannot, and about which ops start out cheap to use.) What does this suggest about reading an architecture off $\alpha$?

# %% [markdown] answer="answer_1"
# Only 2 of 5 (seeds 2 and 4, maxpool3 at 0.62 and 0.57); seed 0 ends with conv3 on top (0.34, maxpool3 0.17), seeds 1 and 3 with identity (0.91; 0.354 against maxpool3's 0.348). The acceptance target of 4 of 5 is **not** met, and it is not for want of signal: trained alone, maxpool3 fits best in all 5 seeds, by a factor of 5–9 in validation MSE (e.g. seed 1: 0.0035 against 0.027–0.081 for every other op). Cutting ops out of the trained supernet shows that the supernet really *relies* on the op $\alpha$ favours (identity in seed 1: removing it costs 0.32, removing maxpool3 nothing; conv3 in seeds 0 and 3), so this is not a problem of reading $\alpha$ but of what the weight-sharing optimisation converged to.
#
# Why a local optimum: the supernet is not choosing one op but fitting a *mixture* $\sum_i w_i o_i(x)$ with jointly trained weights. identity is useful from the first step (no weights to learn) and a learned conv can be bent to compensate for whatever the mixture lacks, so a mixture of identity and convolutions fits the targets passably long before maxpool3's share is large enough for the readout to exploit its nonlinearity. Once the readout and kernels are adapted to that mixture, moving weight to maxpool3 first *hurts*, and first-order DARTS only follows the local gradient. This is the known fragility of DARTS (parameter-free ops and skip connections winning, supernet rankings that disagree with stand-alone ones: Zela et al., ICLR 2020; Yu et al., ICLR 2020; Wang et al., ICLR 2021). Reading an architecture off $\alpha$ therefore needs a check: here the brute-force stand-alone comparison is cheap and gets it right 5 of 5; in a real space one would at least retrain the top candidates.

# %% [markdown] name="md_question_2"
# **Question 2 — DARTS against random search.** Compare the two test accuracies with their spread over seeds. Is the difference bigger than the noise? Which ops did each pick, and how much does the choice of cell matter at all on this task (what does the fixed part of the network already do)? What would you need to claim that one search method is better?

# %% [markdown] answer="answer_2"
# DARTS's cell reaches 0.989 ± 0.002 and the random-search winner 0.987 ± 0.001 (3 training seeds each): a difference of 0.002, about one test image, within the seed spread and far below the binomial standard error $\sqrt{0.99 \cdot 0.01/360} \approx 0.005$. DARTS put a convolution on every edge (conv1x1 on the first, conv3x3 elsewhere); random search kept two convolutions, two average poolings and a skip. The cell matters only so far: the all-skip cell (no cell ops at all, just the stem convolution and the linear classifier) gets 0.960 ± 0.003, so any cell with a couple of convolutions buys about 0.03, and which ones is nearly irrelevant on 8×8 digits. The random search itself could barely rank cells: 12 steps per cell leave them far from trained (best validation accuracy 0.78), so its choice is close to a random draw from cells with some convolutions. To claim one method is better you would need a task where cells differ, several *search* seeds (not only training seeds), equal budgets in time or FLOPs rather than steps, and a test of the difference across searches.

# %% [markdown] name="md_question_3"
# **Question 3 — the latency table.** Which ops are expensive on this CPU, and is that what their multiply–add counts would predict? (A 3×3 convolution on $8\times8\times8$ maps costs $64 \cdot 8 \cdot 8 \cdot 9 \approx 37$k multiply–adds per image; a pooling about $64 \cdot 8 \cdot 9 \approx 4.6$k comparisons or additions.) Why do ProxylessNAS and FBNet insist on *measured* latency rather than FLOPs?

# %% [markdown] answer="answer_3"
# On this CPU the pooling ops are the most expensive in the table: maxpool3 is the slowest op (about 0.9–1.9 ms per batch of 64 in our runs), avgpool3 about 0.34–0.56 ms, while conv1x1 and conv3x3 take about 0.15–0.32 ms and skip is essentially free. Multiply–add counts predict the opposite (a 3×3 conv is ~8× the arithmetic of a 3×3 pooling): PyTorch's convolutions go to an optimised library (oneDNN) while stride-1 pooling with padding runs a much less optimised kernel; a 1×1 conv costs about as much as a 3×3 one because at this size the cost is overhead and memory traffic, not arithmetic. Latency depends on the kernels, the library, the memory layout and the device, none of which FLOPs see — which is why ProxylessNAS and FBNet build measured lookup tables per target device. (The numbers also move from run to run on a shared machine; the interleaved rounds and medians keep the comparison within one run fair.)

# %% [markdown] name="md_question_4"
# **Question 4 — the trade-off.** How did the genotype, the expected latency and the measured latency change as $\lambda$ grew? Does the expected latency predict the measured one? Which points are on the Pareto front, and did any $\lambda$ buy latency at no cost in accuracy? Recall exercise 5: why can a large $\lambda$ still leave an expensive op in place once the supernet has committed to it, and why does the derived network ignore the weight the search gave to `'none'`?

# %% [markdown] answer="answer_4"
# With $\lambda = 0$ the search puts convolutions on every edge; at $\lambda = 0.3$ one to four edges turn into skips (how many, and which, depends on the run's measured table); from $\lambda = 1$ on every edge is a skip. The expected latency falls steadily with $\lambda$ (3.8 → 3.1 → 2.7 → 2.4 ms in one of our runs, 1.7 → 1.3 → 1.1 → 0.9 ms in another: the table, and with it these numbers, changes from run to run) and the penalty term becomes negative (the supernet is faster than the uniform reference). The expected latency ranks the networks correctly, but how well it predicts the measured latency changes from run to run: in one run the all-skip networks measured about what the table says (≈ 1.8 ms) while the convolutional ones measured about 12 ms against 3–4 ms expected — inside the network the convolutions cost several times what they cost timed alone, for reasons the isolated table cannot see (we did not pin down the cause on this machine); in another the convolutional networks measured what the table predicts (1.6 against 1.7 ms) and the all-skip ones about half (0.5 against 0.9–1.1 ms: the expected latency still counts the weight the search left on the ops the derived cell drops). The front depends on the run too, because every search with $\lambda > 0$ is steered by the measured table: $\lambda = 0$ (which ignores the table) gives 0.992 in every run; $\lambda = 0.3$ gave 0.994 in one of our runs (most accurate, and faster than $\lambda = 0$, which it then dominates) and 0.983 in another (four edges became skips; then both are on the front); $\lambda = 1$ and $\lambda = 3$ gave the same all-skip cell in two wirings (0.958 in our runs, about 2–7× faster than $\lambda = 0.3$), whose latencies differ only by timing noise, so which of the two is marked as dominated changes from run to run. So a small $\lambda$ can buy some latency at little or no cost in accuracy, while the jump to $\lambda = 1$ buys a large speed-up for about 0.03 of accuracy — the trade-off has no middle here because the search space offers no cheap op that still helps.
#
# Exercise 5: the latency gradient on $\alpha_j$ is $p_j(\mathrm{lat}_j - E_l)$, proportional to the op's current probability and to how far it sits from the layer's expected latency; the cross-entropy gradient competes with it edge by edge. A modest $\lambda$ therefore only tips edges where the accuracy gain of a conv is small, and once the softmax is peaked on an op the remaining ops get almost no gradient at all. `'none'` costs 0 and is pushed up by the penalty, but derive_genotype ignores it by design, so the derived network always keeps $k$ real ops per node: the expected latency of the supernet counts a 'none' weight the discrete network never realises — another reason the expected and the measured latency part ways.
