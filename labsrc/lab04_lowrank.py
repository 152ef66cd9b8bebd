# %% [markdown] name="md_title"
# # Lab 4 — Low-rank factorisation
#
# A trained weight matrix is rarely "full": most of its action is carried by a few directions. The singular value decomposition finds them, and keeping only the top $r$ turns one $m \times n$ layer into two thin ones, $m \times r$ and $r \times n$ — fewer weights and fewer multiply-accumulates (MACs), *if* $r$ is small enough. By Eckart & Young (1936) the truncated SVD is the best rank-$r$ approximation there is, and the error it makes is known exactly from the singular values it drops.
#
# In this lab you
#
# 1. **write** (graded) the NumPy core of low-rank compression: the truncated SVD with a sign convention, the two factors of a low-rank layer, the rank that keeps a share of the spectral energy, parameter counts and the *break-even* rank beyond which factorising costs more than it saves, the factorisation of a convolution into a $k \times k$ conv and a $1 \times 1$ conv, the *data-aware* factorisation $\min \lVert XW - XW_1W_2\rVert_F$, and the Tucker-2 decomposition of a conv kernel;
# 2. **check** the lecture's worked example (the slide's singular values are wrong — find out where);
# 3. **run** (not graded) compression experiments on the 8×8 digits that ship with the course: the spectra of a trained MLP's layers, accuracy against compression with and without fine-tuning, data-aware against plain SVD, low rank against magnitude pruning at the same number of weights, and a factorised convolution;
# 4. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np` in the first code cell) and the functions of earlier exercises — the autograder runs each function on its own, in a sandbox, and checks it with property tests (e.g. *"the Frobenius error should be the square root of the dropped σ²"*) against a hidden reference. Do not change the signatures. Run `course check <this notebook>` to run the public checks yourself.
#
# **Conventions** (the same in every exercise). A linear layer maps row vectors, $y = xW$ with $W \in \mathbb{R}^{m \times n}$ ($m$ inputs, $n$ outputs; this is `nn.Linear.weight.T`), and a batch $X \in \mathbb{R}^{N \times m}$ gives $XW$. The factorised layer is $y = (xW_1)W_2$ with $W_1 \in \mathbb{R}^{m \times r}$, $W_2 \in \mathbb{R}^{r \times n}$. Conv kernels have PyTorch's layout `(c_out, c_in, k, k)`. Counts ignore biases.
#
# The experiments use PyTorch (CPU) and take about a minute on a laptop. Some experiment cells call your functions, so finish the exercises first.

# %% name="setup"
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads: small SVDs crawl when BLAS threads share busy cores
import numpy as np

# %% [markdown] name="md_truncated_svd"
# ## Exercise 1 — the truncated SVD
#
# Every matrix $W \in \mathbb{R}^{m \times n}$ has a singular value decomposition
#
# $$W = U \,\mathrm{diag}(\sigma)\, V^\top = \sum_{i=1}^{p} \sigma_i\, u_i v_i^\top, \qquad \sigma_1 \ge \sigma_2 \ge \dots \ge \sigma_p \ge 0,\quad p = \min(m, n),$$
#
# with orthonormal columns $u_i$ (left singular vectors) and $v_i$ (right). Keeping the first $r$ terms gives $W_r = U_r \mathrm{diag}(\sigma_{1..r}) V_r^\top$. **Eckart–Young–Mirsky:** no matrix of rank $\le r$ is closer to $W$, in the Frobenius or the spectral norm, and the errors are exactly
#
# $$\lVert W - W_r\rVert_F = \sqrt{\sigma_{r+1}^2 + \dots + \sigma_p^2}, \qquad \lVert W - W_r \rVert_2 = \sigma_{r+1}.$$
#
# **Signs.** $(u_i, v_i)$ and $(-u_i, -v_i)$ give the same $W$, and LAPACK picks either. To make the answer unique, flip each pair so that the entry of largest magnitude of $u_i$ is positive (on an exact tie, the first such entry).
#
# **Your task.** `truncated_svd(W, rank)` with `np.linalg.svd(W, full_matrices=False)`, the sign convention, and `ValueError` for a rank that is not an integer in $[1, \min(m, n)]$ (beware: `True` is an `int` in Python) or a matrix that is not finite and 2-D.

# %% exercise="truncated_svd"
# `course build` fills this cell from reference_impl: the exercise truncated_svd

# %% [markdown] name="md_low_rank_factors"
# ## Exercise 2 — the two factors of a low-rank layer
#
# $W_r$ has rank $r$, but stored as an $m \times n$ matrix it saves nothing. Stored as a product it does:
#
# $$W \approx W_1 W_2, \qquad W_1 = U_r \,\mathrm{diag}(\sigma_{1..r}) \in \mathbb{R}^{m \times r}, \quad W_2 = V_r^\top \in \mathbb{R}^{r \times n}.$$
#
# In a network this is two layers with an $r$-wide bottleneck and no non-linearity between them: $x \mapsto (x W_1) W_2$. How $\sigma$ is split between the factors does not change the product; this lab puts all of it into $W_1$, so $W_2$ has orthonormal rows and $W_1 = W V_r$ is simply $W$ projected onto its top $r$ right singular vectors (the column norms of $W_1$ are then the singular values).
#
# **Your task.** `low_rank_factors(W, rank)`, built on your `truncated_svd`.

# %% exercise="low_rank_factors"
# `course build` fills this cell from reference_impl: the exercise low_rank_factors

# %% [markdown] name="md_rank_for_energy"
# ## Exercise 3 — choosing the rank by energy
#
# Which $r$? A common rule keeps a share $e$ of the spectrum's "energy" $\lVert W \rVert_F^2 = \sum_i \sigma_i^2$:
#
# $$r^*(e) = \min\Big\{ r \ge 1 : \frac{\sum_{i \le r} \sigma_i^2}{\sum_i \sigma_i^2} \ge e \Big\}.$$
#
# By Eckart–Young the relative error is then at most $\sqrt{1 - e}$: keeping 99% of the energy means a Frobenius error of at most 10%. Note the **squares**, and the $\ge$: a share that equals $e$ exactly reaches it.
#
# **Numerics.** Divide the cumulative sums by their last entry rather than by a separately computed `np.sum(S**2)`: the two can differ in the last bit, and then $e = 1$ (which should keep every non-zero singular value) finds no rank at all.
#
# **Your task.** `rank_for_energy(S, energy)` for a spectrum `S` as `np.linalg.svd` returns it, returning a Python `int`; `ValueError` for an energy outside $(0, 1]$ or an invalid spectrum.

# %% exercise="rank_for_energy"
# `course build` fills this cell from reference_impl: the exercise rank_for_energy

# %% [markdown] name="md_factorised_params"
# ## Exercise 4 — what a factorised layer costs
#
# The dense layer stores $mn$ weights and spends $mn$ MACs per input row. The factorised one stores
#
# $$r\,(m + n) \quad\text{weights}$$
#
# and, evaluated as two layers — $(xW_1)W_2$, never $x(W_1W_2)$, which would rebuild the dense matrix — spends $r(m + n)$ MACs per input row too (for a batch of $B$ rows, $B\,r(m+n)$). **Without truncation factorising makes things worse**: at $r = \min(m,n)$ a square layer has $2n^2$ weights instead of $n^2$.
#
# **Your task.** `factorised_params(m, n, r)`, a Python `int`; `ValueError` for sizes that are not positive integers or a rank outside $[1, \min(m, n)]$.

# %% exercise="factorised_params"
# `course build` fills this cell from reference_impl: the exercise factorised_params

# %% [markdown] name="md_break_even_rank"
# ## Exercise 5 — the break-even rank
#
# Factorising pays only while $r(m+n) < mn$. The largest such rank is
#
# $$r_{\max} = \max\{r : r(m+n) < mn\} = \Big\lfloor \frac{mn - 1}{m + n} \Big\rfloor,$$
#
# (for integers, $r(m+n) < mn \iff r(m+n) \le mn - 1$). For a square $n \times n$ layer that is $\lceil n/2 \rceil - 1$: **a rank of half the width already saves nothing.** At $r_{\max} + 1$ the factorised layer is at least as large as the dense one; $r_{\max} = 0$ means no rank helps (e.g. $m = 1$).
#
# **Your task.** `break_even_rank(m, n)` with integer arithmetic (no floating-point division), a Python `int`.

# %% exercise="break_even_rank"
# `course build` fills this cell from reference_impl: the exercise break_even_rank

# %% [markdown] name="md_conv_lowrank_factors"
# ## Exercise 6 — factorising a convolution
#
# A conv kernel $K$ of shape `(c_out, c_in, k, k)` applies, at every pixel, the same linear map from a flattened $(c_\text{in}, k, k)$ input patch to $c_\text{out}$ outputs: the matrix $M = $ `K.reshape(c_out, c_in*k*k)`. Truncate it, $M \approx AB$ with $A = U_r\mathrm{diag}(\sigma) \in \mathbb{R}^{c_\text{out} \times r}$ and $B = V_r^\top \in \mathbb{R}^{r \times c_\text{in}k^2}$, and read the factors as two convolutions:
#
# * $B$ reshaped to `(r, c_in, k, k)`: a $k \times k$ conv with only $r$ output channels;
# * $A$ reshaped to `(c_out, r, 1, 1)`: a $1 \times 1$ conv mixing them into $c_\text{out}$ channels.
#
# Applied one after the other they compute the conv with kernel $(AB)$ reshaped — the best rank-$r$ approximation of $M$ (Zhang et al., *Accelerating Very Deep Convolutional Networks for Classification and Detection*, TPAMI 2016). Weights: $r\,c_\text{in}k^2 + c_\text{out} r$ instead of $c_\text{out}c_\text{in}k^2$; with stride 1 and "same" padding every output pixel costs that many MACs, so for an $H \times W$ output the MACs are $HW$ times the weights.
#
# **Your task.** `conv_lowrank_factors(K, rank)` returning `(K1, K2)`, built on your `low_rank_factors`.

# %% exercise="conv_lowrank_factors"
# `course build` fills this cell from reference_impl: the exercise conv_lowrank_factors

# %% [markdown] name="md_data_aware_low_rank"
# ## Exercise 7 — data-aware factorisation
#
# Plain truncation treats every input direction alike. But a layer only ever sees its inputs $X$ (the activations of the layer below), and what matters is its *output* on them:
#
# $$\min_{W_1 \in \mathbb{R}^{m \times r},\, W_2 \in \mathbb{R}^{r \times n}} \lVert XW - XW_1W_2 \rVert_F .$$
#
# **Closed form.** Take the SVD of the layer's outputs, $XW = P\,\mathrm{diag}(\Sigma)\,Q^\top$, and its top $r$ right singular vectors $Q_r \in \mathbb{R}^{n \times r}$. Then
#
# $$W_1 = W Q_r, \qquad W_2 = Q_r^\top, \qquad XW_1W_2 = XWQ_rQ_r^\top = \sum_{i \le r} \Sigma_i\, p_i q_i^\top,$$
#
# which is the truncated SVD of $XW$ itself — and since $XW_1W_2$ has rank $\le r$, Eckart–Young says nothing does better. (This is reduced-rank regression, Izenman 1975, and the linear case of Zhang et al., CVPR 2015.) It never inverts $X^\top X$, so a rank-deficient $X$ is fine; on $X$ it is never worse than plain truncation of $W$; with $X = I$ it *is* plain truncation.
#
# **Your task.** `data_aware_low_rank(X, W, rank)`, built on your `truncated_svd`; `ValueError` if the shapes do not chain or $X$ has fewer rows than the rank.

# %% exercise="data_aware_low_rank"
# `course build` fills this cell from reference_impl: the exercise data_aware_low_rank

# %% [markdown] name="md_tucker2_hosvd"
# ## Exercise 8 — Tucker-2 of a conv kernel (HOSVD)
#
# Exercise 6 squeezes only the output channels. Tucker-2 squeezes both channel modes of the 4-way kernel and keeps the $k \times k$ spatial modes whole:
#
# $$K[o, i, a, b] \approx \sum_{s \le r_\text{out}} \sum_{t \le r_\text{in}} U_\text{out}[o, s]\; U_\text{in}[i, t]\; \mathcal{G}[s, t, a, b].$$
#
# The truncated **HOSVD** (De Lathauwer, De Moor & Vandewalle, SIAM J. Matrix Anal. Appl. 2000) takes $U_\text{out}$ = the top $r_\text{out}$ left singular vectors of the mode-0 unfolding `K.reshape(c_out, -1)`, $U_\text{in}$ = the top $r_\text{in}$ of the mode-1 unfolding (move axis 1 to the front, then reshape to `(c_in, -1)`), and the core by projection, $\mathcal{G}[s,t] = \sum_{o,i} U_\text{out}[o,s] U_\text{in}[i,t] K[o,i]$ (`np.einsum` is made for this). It is not optimal, but $\lVert K - \hat K\rVert_F^2 \le$ the dropped $\sigma^2$ of the two unfoldings together. As layers: a $1\times1$ conv $c_\text{in} \to r_\text{in}$, a $k \times k$ conv $r_\text{in} \to r_\text{out}$ (the core) and a $1 \times 1$ conv $r_\text{out} \to c_\text{out}$ (Kim et al., ICLR 2016), with $c_\text{in}r_\text{in} + r_\text{in}r_\text{out}k^2 + r_\text{out}c_\text{out}$ weights.
#
# **Your task.** `tucker2_hosvd(K, r_out, r_in)` returning `(core, U_out, U_in)`, built on your `truncated_svd` (so the signs follow its convention).

# %% exercise="tucker2_hosvd"
# `course build` fills this cell from reference_impl: the exercise tucker2_hosvd

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. The cells train small PyTorch networks with `labkit.training` (Adam, mini-batches of 64, deterministic for a seed) and compress them with `labkit.lowrank`, which builds low-rank `Linear` and `Conv2d` layers from the factors **your** functions compute, and prunes by magnitude for comparison.
#
# **Set-up.**
#
# * **Data:** the 8×8 digits, split 1,078 / 359 / 360 (train / validation / test), stratified. Accuracies are *test* accuracies; fine-tuning and calibration use the training images only.
# * **Network:** an MLP 64 → 256 → 256 → 10 (84,480 weights), trained for 20 epochs (Adam, learning rate $2 \cdot 10^{-3}$) with seeds 0, 1, 2. "± " is the standard deviation over the three seeds (NumPy's `std`, ddof = 0); a seed fixes the initial weights and the batch order, and the compressions of one seed's network are compared with each other (paired).
# * **Compression:** the two hidden layers (64 × 256 and 256 × 256) are factorised at a common rank $r$; the 256 × 10 output layer stays dense (at most 10 directions, break-even rank 9). **Compression ratio** = the network's dense weights / its weights after compression (biases, 522 of them, are not counted in either).
# * **Fine-tuning:** 3 epochs of Adam at learning rate $10^{-3}$ on the training images, all layers (the factors, or the unpruned weights, and the head).
# * The sizes, epochs and learning rates were chosen by the lab authors in a short pilot and not tuned per setting; every setting of a sweep is reported.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab04, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab04.Config.quick() if quick_mode() else lab04.Config()
figures = Figures()  # what the experiments measured, by name: the answers quote these
data = digits_splits(seed=0)  # stratified 60/20/20 split of the 1,797 8x8 digits, pixels in [0, 1]
dense = lab04.train_dense(data, cfg, figures)  # one MLP per seed, and its initial weights (for the spectra)
results = {}  # (method, rank, fine-tuned?) -> accuracies over the seeds

# %% [markdown] name="md_lecture_example"
# ## The lecture's worked example
#
# The slides factor
#
# $$A = \begin{pmatrix} 3 & 2 \\ 2 & 3 \\ 1 & 0 \end{pmatrix}$$
#
# and print $\sigma_1 = 5.24$, $\sigma_2 = 1.31$. The cell computes the singular values with **your** `truncated_svd`, the rank-1 approximation with your `low_rank_factors`, and two identities every pair of singular values of $A$ must satisfy: $\sigma_1^2 + \sigma_2^2 = \lVert A \rVert_F^2 = \operatorname{tr}(A^\top A)$ and $\sigma_1^2\sigma_2^2 = \det(A^\top A)$.
#
# The slide's rank-1 approximation is wrong too. It prints $\begin{pmatrix} 2.9 & 2.7 \\ 2.7 & 2.9 \\ 1.3 & 1.2 \end{pmatrix}$, which is not even rank 1: a rank-1 matrix has every $2 \times 2$ minor 0, and $2.9 \cdot 2.9 - 2.7 \cdot 2.7 = 1.12$ (its singular values are 5.8724 and 0.2111). The true $A_1 = \sigma_1 u_1 v_1^\top$ is $\begin{pmatrix} 2.5616 & 2.4571 \\ 2.5403 & 2.4367 \\ 0.5208 & 0.4996 \end{pmatrix}$, at Frobenius distance $\sigma_2 = 1.2205$ from $A$; the slide's matrix is at 1.5906, farther than Eckart–Young allows for the best rank-1 approximation. The cell's last line checks the slide's matrix.

# %% name="exp_lecture_example"
# Uses YOUR truncated_svd and low_rank_factors (exercises 1 and 2).
if ready({1: truncated_svd, 2: low_rank_factors}):
    lab04.lecture_example(truncated_svd, low_rank_factors, figures)

# %% [markdown] name="md_spectra"
# ## 1. The singular value spectra of a trained network
#
# Before compressing anything: how fast do the singular values of the trained layers fall, compared with the same layers at initialisation? The cell plots $\sigma_i / \sigma_1$ for each layer of seed 0's network, trained and untrained, and tabulates — with **your** `rank_for_energy` and `break_even_rank` — the rank that keeps 50%, 90% and 99% of the energy, against the largest rank at which factorising still saves weights.

# %% name="exp_spectra"
# Uses YOUR truncated_svd, rank_for_energy and break_even_rank (exercises 1, 3 and 5).
if ready({1: truncated_svd, 3: rank_for_energy, 5: break_even_rank}):
    spectra = lab04.spectra(truncated_svd, rank_for_energy, break_even_rank, dense, figures)

# %% [markdown] name="md_truncation"
# ## 2. Accuracy against compression, with and without fine-tuning
#
# Both hidden layers are replaced by **your** `low_rank_factors` at rank $r$; the weight count comes from **your** `factorised_params`. Then each compressed network is fine-tuned for 3 epochs. (MACs per image equal the weight count here: one MAC per weight per input row.)

# %% name="exp_truncation"
# Uses YOUR truncated_svd, low_rank_factors, rank_for_energy, factorised_params, break_even_rank.
if ready({1: truncated_svd, 2: low_rank_factors, 3: rank_for_energy, 4: factorised_params, 5: break_even_rank}):
    lab04.truncation(truncated_svd, low_rank_factors, rank_for_energy, factorised_params, break_even_rank,
                     dense, results, figures)

# %% [markdown] name="md_data_aware"
# ## 3. Data-aware against plain SVD at the same rank
#
# The data-aware factors of **your** `data_aware_low_rank` need each layer's inputs: the calibration data are the activations of the *original* network on the 1,078 training images (`labkit.lowrank.layer_inputs`). Same rank, same number of weights as plain truncation; no fine-tuning. Besides accuracy, the cell measures the relative output error $\lVert XW - XW_1W_2\rVert_F / \lVert XW \rVert_F$ of the 256 × 256 layer on the **test** images' activations (data the calibration never saw).

# %% name="exp_data_aware"
# Uses YOUR low_rank_factors and data_aware_low_rank (exercises 2 and 7).
if ready({2: low_rank_factors, 7: data_aware_low_rank}):
    lab04.data_aware(low_rank_factors, data_aware_low_rank, dense, results, figures)

# %% [markdown] name="md_pruning"
# ## 4. Low rank against magnitude pruning at the same number of weights
#
# Magnitude pruning (Han et al., NeurIPS 2015) keeps the largest-magnitude weights of each layer and zeroes the rest. Here each hidden layer keeps exactly as many weights as its rank-$r$ factorisation stores, $r(m+n)$ — **your** `factorised_params` — so both networks have the same weight count; the pruned weights stay zero during fine-tuning (`labkit.lowrank.prune_mlp`). Keep in mind what the equal count hides: the factorised layers are dense matrix products a CPU or GPU runs at full speed, while unstructured sparsity needs sparse kernels (and index storage) to turn into speed.

# %% name="exp_pruning"
# Uses YOUR low_rank_factors and factorised_params (exercises 2 and 4).
if ready({2: low_rank_factors, 4: factorised_params}):
    lab04.pruning(low_rank_factors, factorised_params, dense, results, figures)
    lab04.plot_compression(factorised_params, dense, results)

# %% [markdown] name="md_conv"
# ## 5. A factorised convolution
#
# A small CNN (`labkit.lowrank.SmallCNN`: conv 3×3 1 → 16, conv 3×3 16 → 32, 2×2 max-pool, linear 512 → 10; padding 1, so both convs produce 8 × 8 maps) is trained once (seed 0, 15 epochs). Its second conv, a kernel of shape (32, 16, 3, 3) with 4,608 weights, is replaced by **your** `conv_lowrank_factors` (a 3×3 conv to $r$ channels, then 1×1) and by **your** `tucker2_hosvd` (1×1, 3×3 core, 1×1: `labkit.lowrank.Tucker2Conv2d`) with ranks chosen to store about as many weights; no fine-tuning. MACs per image are 64 (= 8 × 8 output pixels) times the weights.

# %% name="exp_conv"
# Uses YOUR conv_lowrank_factors, tucker2_hosvd and break_even_rank (exercises 6, 8 and 5).
if ready({6: conv_lowrank_factors, 8: tucker2_hosvd, 5: break_even_rank}):
    lab04.conv(conv_lowrank_factors, tucker2_hosvd, break_even_rank, data, cfg, figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab04')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# Measured with PyTorch on CPU, one thread, seeds 0, 1, 2; your numbers should match to the last digit on the same versions and may differ in the third decimal elsewhere. "± " is the standard deviation over the 3 seeds. One test image is 1/360 ≈ 0.003 of accuracy.
#
# **The slide.** Your `truncated_svd` gives $\sigma = (5.0508, 1.2205)$ for $A = [[3,2],[2,3],[1,0]]$; $\sigma_1^2 + \sigma_2^2 = 27.0000 = \lVert A\rVert_F^2$ and $\sigma_1\sigma_2 = 6.1644 = \sqrt{\det A^\top A}$. The slide's pair gives 29.1737 and 6.8644.
#
# **Dense MLP** (84,480 weights): test accuracy 0.969 ± 0.003.
#
# **Spectra** (seed 0): the trained layers' spectra fall much faster than at initialisation. Half the energy of the 256 × 256 layer sits in 6 directions (46 at initialisation); 90% in 82 (130); 99% in 173 (198) — beyond its break-even rank of 127.
#
# **Truncation** (both hidden layers at rank $r$):
#
# | rank | weights | ratio | SVD, no fine-tuning | SVD + 3 epochs | data-aware, no fine-tuning | pruning, no fine-tuning | pruning + 3 epochs |
# |---|---|---|---|---|---|---|---|
# | 1 | 3,392 | 24.9× | 0.202 ± 0.001 | 0.256 ± 0.012 | 0.097 ± 0.000 | 0.219 ± 0.010 | 0.603 ± 0.059 |
# | 2 | 4,224 | 20.0× | 0.214 ± 0.004 | 0.485 ± 0.029 | 0.289 ± 0.024 | 0.288 ± 0.024 | 0.802 ± 0.030 |
# | 4 | 5,888 | 14.3× | 0.700 ± 0.047 | 0.892 ± 0.006 | 0.706 ± 0.008 | 0.638 ± 0.064 | 0.932 ± 0.007 |
# | 8 | 9,216 | 9.2× | 0.934 ± 0.018 | 0.965 ± 0.007 | 0.946 ± 0.001 | 0.895 ± 0.021 | 0.961 ± 0.004 |
# | 16 | 15,872 | 5.3× | 0.965 ± 0.005 | 0.968 ± 0.005 | 0.968 ± 0.003 | 0.956 ± 0.006 | 0.972 ± 0.002 |
# | 32 | 29,184 | 2.9× | 0.961 ± 0.004 | 0.969 ± 0.008 | 0.969 ± 0.003 | 0.963 ± 0.003 | 0.976 ± 0.001 |
# | 48 | 42,496 | 2.0× | 0.969 ± 0.002 | 0.970 ± 0.009 | 0.969 ± 0.003 | 0.968 ± 0.003 | 0.971 ± 0.005 |
#
# **Energy rule** (no fine-tuning): keeping 50% of each layer's energy (ranks 8 and 6 for seed 0) compresses 10.3× at 0.920 ± 0.001; 80% (28, 42): 2.6× at 0.963; 90% (41, 82): 1.5× at 0.967; 95% (50, 117): 1.1× at 0.969.
#
# **Data-aware vs plain, layer 2's relative output error on the test images:** 0.937 → 0.646 at rank 1, 0.204 → 0.087 at rank 8, 0.046 → 0.011 at rank 48: always smaller, on images the calibration never saw. Accuracy gains are paired and small (+0.003 to +0.012 for ranks 4–32, +0.075 at rank 2) — and at rank 1 the data-aware network is at chance (0.097), below plain SVD's 0.202.
#
# **Convolution** (SmallCNN, one seed, 0.983; conv2 (32, 16, 3, 3), 4,608 weights, break-even rank 26; no fine-tuning): channel factorisation at $r$ = 1, 2, 4, 8, 16 stores 176, 352, 704, 1,408, 2,816 weights and reaches 0.747, 0.833, 0.944, 0.975, 0.983; Tucker-2 at about the same or fewer weights — (2, 2) 132, (4, 4) 336, (6, 6) 612, (10, 10) 1,380, (15, 15) 2,745 — reaches 0.900, 0.953, 0.975, 0.978, 0.983.
#
# What does **not** reproduce here, said plainly: the large gains of data-aware over plain SVD factorisation without fine-tuning that Zhang et al. (2015) report for VGG-scale networks appear only weakly at this scale, and not at all at rank 1.

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — the slide.** The slide says $\sigma_1 = 5.24$, $\sigma_2 = 1.31$ for $A = [[3,2],[2,3],[1,0]]$. Show, without computing an SVD, that these cannot be the singular values of $A$. Then find where the slide went wrong: what could have produced those numbers? Finally, read off the rank-1 approximation: which row of $A$ does it reproduce worst, and why?

# %% [markdown] answer="answer_1"
# **They cannot be singular values of $A$.** Three checks, none needing an SVD: (i) $\sigma_1 = \lVert A\rVert_2 \le \lVert A \rVert_F = \sqrt{27} = 5.196$, but the slide's $\sigma_1 = 5.24$ is larger; (ii) $\sigma_1^2 + \sigma_2^2 = \lVert A\rVert_F^2 = \operatorname{tr}(A^\top A) = 27$, the slide's give 29.17; (iii) $\sigma_1^2\sigma_2^2 = \det(A^\top A) = 14 \cdot 13 - 12^2 = 38$, so $\sigma_1\sigma_2 = 6.164$, the slide's give 6.864. The true values are the roots of $\lambda^2 - 27\lambda + 38$: $\sigma = \sqrt{(27 \pm \sqrt{577})/2} = 5.0508, 1.2205$.
#
# **Where it went wrong.** The slide's pair is not a rounding of anything computed correctly from $A$: the usual slips give other numbers — eigenvalues of $A^\top A$ without the square root (25.51, 1.49), $AA^\top$ instead of $A^\top A$ (the same 5.05, 1.22 plus a 0), the eigenvalues of the upper $2\times 2$ block $[[3,2],[2,3]]$ (5, 1), of the column-centred data (2.40, 0.96 as singular values). A search by us over every integer matrix within ±2 of $A$ in each entry, and over Gram matrices with one wrong entry, finds none whose singular values round to (5.24, 1.31). The invariants explain why: the slide's pair needs $\operatorname{tr}(A^\top A) \approx 29.17$ and $\det(A^\top A) \approx 47.1$, which no integer Gram matrix has. Two features point to hand-made numbers: $5.24 / 1.31 = 4.00$ exactly, and $5.24 \approx 3 + \sqrt5 = 5.236$ — the largest eigenvalue of $A$ completed to the symmetric matrix $[[3,2,1],[2,3,0],[1,0,3]]$ (eigenvalues $3 \pm \sqrt5$, 3), i.e. *an eigenvalue of a different matrix*, with $\sigma_2$ then written as a quarter of it. Our best explanation is a slip of that kind (eigenvalues of some square matrix taken for singular values, then copied), not a computation from $A$ — and the lesson is to check the trace and determinant identities before trusting a hand-computed SVD.
#
# **Rank-1 approximation.** $A_1 = \sigma_1 u_1 v_1^\top$ with $v_1 = (0.72, 0.69)$: every row of $A_1$ is a multiple of almost $(1, 1)$, so $A_1$ keeps how large each row is and loses how its two entries differ — the direction $v_2 \approx (0.69, -0.72)$, worth $\sigma_2 = 1.22$. In absolute terms row 2 is reproduced worst: $(2, 3) \to (2.54, 2.44)$, error norm 0.78 (rows 1 and 3: 0.63 and 0.69). Relative to the row, row 3 is much worse: $(1, 0) \to (0.52, 0.50)$ is 69% off — it is the row least like $v_1$ (its two entries are the most different relative to its size), and the smallest, so it counts little in $\sigma_1$ ($u_1$'s third entry is only 0.14).

# %% [markdown] name="md_question_2"
# **Question 2 — spectra.** Compare the trained and the untrained spectra. Which layer is the most compressible, and which is the least? For the 256 × 256 layer, compare the rank that keeps 90% of the energy with its break-even rank: what does that say about factorising it "by energy"?

# %% [markdown] answer="answer_2"
# Training concentrates the spectra: at initialisation (random uniform weights) the singular values are spread out (the 256 × 256 layer needs 46 directions for half its energy, 130 for 90%), after training they fall fast — 6 directions hold half of the 256 × 256 layer's energy and $\sigma_1$ grows from 1.14 to 5.59. The layers learn a few dominant directions on top of what is left of the random initialisation.
#
# Relative to its size the 256 × 256 layer is the most compressible (90% of its energy in 82 of 256 directions, 32%); the 64 × 256 layer needs 41 of 64 (64%) for 90% — the 64 input pixels of the digits are themselves correlated, but every one of the 64 input directions is used; the 256 × 10 output layer is the least: 8 of its 10 directions for 90%, and nothing to gain anyway (break-even rank 9).
#
# For the 256 × 256 layer, 90% energy (rank 82) is below the break-even rank 127, so it saves weights — but only $65{,}536 / (82 \cdot 512) = 1.56\times$. Asking for 99% gives rank 173, above 127: the factorised layer would be *larger* than the dense one. A rank chosen by energy must be checked against the break-even rank (the energy table's code falls back to a dense layer there), and for a layer whose spectrum is not very steep the energy rule buys little compression.

# %% [markdown] name="md_question_3"
# **Question 3 — truncation and fine-tuning.** Where does accuracy without fine-tuning collapse, and how much do three epochs of fine-tuning recover there? Use the energy table: is "keep 90% of the energy" a good rule for accuracy on this network? Why can a small weight-space error (in Frobenius norm) still cost accuracy, and what does fine-tuning change?

# %% [markdown] answer="answer_3"
# Without fine-tuning accuracy holds down to rank 16 (5.3×: 0.965 against 0.969 dense), dips at rank 8 (9.2×: 0.934) and collapses below: 0.700 at rank 4, about 0.2 at ranks 1–2. Three epochs of fine-tuning recover almost all of it at rank 8 (0.965) and most at rank 4 (0.892 from 0.700), some at rank 2 (0.485 from 0.214), little at rank 1 (0.256): with one or two directions per hidden layer the network has too little capacity left, not just a bad starting point.
#
# The energy rule is far too conservative for accuracy here: 90% energy costs ranks 41 and 82 and gives only 1.5× compression at 0.967, while a common rank of 16 — more than the 50%-energy ranks (8 and 6), far fewer than the 90% ones — already gives 5.3× at 0.965; even 50% energy keeps 0.920 at 10.3×. The Frobenius error weights every input direction alike, but the layer only sees its inputs, which occupy few directions (digits' pixels are correlated; ReLU activations more so); an error in a direction the data never excites costs nothing, and one in a direction it uses heavily can flip decisions — and errors in two layers compound. Accuracy depends on the margin of the decisions, not on the weight error. Fine-tuning lets the kept factors and the dense head re-fit the training data *through* the compressed layers: it corrects the composition of errors that the layer-by-layer truncation cannot see.

# %% [markdown] name="md_question_4"
# **Question 4 — data-aware factorisation.** At which ranks does the data-aware factorisation beat plain truncation, and by how much? It minimises the output error of each layer on the calibration data — is it guaranteed to give a better *network*? Use the layer-2 output errors and the smallest ranks in your table.

# %% [markdown] answer="answer_4"
# The data-aware factors win at ranks 2 to 32 (paired gains +0.075 at rank 2, +0.006 at 4, +0.012 at 8, +0.003 at 16, +0.007 at 32), tie at 48 (−0.001) — small next to the seed spread except at ranks 2 and 8 — and lose badly at rank 1 (0.097 against 0.202). Their layer-2 output errors are always much smaller, on the test images too (0.087 against 0.204 at rank 8, 0.011 against 0.046 at rank 48), so the per-layer objective generalises beyond the calibration images.
#
# A better network is not guaranteed: (1) each layer is fitted on the inputs of the *original* network, while after compression it receives the compressed previous layer's outputs; (2) the objective is the Frobenius output error, not the classification loss — all output directions are weighted by their energy, not by their effect on the decision. Rank 1 shows (2) at its extreme: the ReLU activations are non-negative, so the direction of largest output energy is close to the common "mean activation" shared by every image; keeping only it preserves the most output energy but almost no class information, and the network predicts nearly one class (0.097 ≈ 1/10). Plain SVD's top direction of the weights happens to keep a little more. Beyond a few directions the energy-optimal directions do carry the class information, and data-aware wins.

# %% [markdown] name="md_question_5"
# **Question 5 — low rank against pruning, and the convolution.** At the same number of weights, which method keeps more accuracy, before and after fine-tuning? Give a reason in terms of what each method can represent. Then say why a deployment might still choose low rank. For the convolution: how do the channel factorisation and Tucker-2 compare at about the same weight count here?

# %% [markdown] answer="answer_5"
# Without fine-tuning the two are close and neither dominates: low rank is ahead at ranks 4 and 8 (0.700 vs 0.638, 0.934 vs 0.895), pruning at ranks 1–2, and from rank 16 on they are within 0.01 of each other (0.965 vs 0.956 at rank 16, the largest gap). After fine-tuning pruning wins clearly when few weights are left — 0.603 vs 0.256 at 1% density (rank 1), 0.802 vs 0.485 (rank 2), 0.932 vs 0.892 (rank 4) — ties at rank 8 (0.961 vs 0.965) and is slightly ahead at 16–32 (0.972 and 0.976 vs 0.968 and 0.969), by about one seed standard deviation of the low-rank runs. A sparse matrix with $r(m+n)$ non-zeros can still have full rank and keeps the individually important connections (pixel → unit); a rank-$r$ layer forces all 256 units to be combinations of $r$ numbers, so at $r = 1$ each hidden layer passes a single scalar on, which no fine-tuning can undo.
#
# A deployment may still prefer low rank because its savings are real on ordinary hardware: two dense matrix products with $r(m+n)$ MACs run at full BLAS/GPU speed, with no index storage. Unstructured sparsity at 1–30% density needs a sparse format (a CSR index per non-zero roughly doubles the memory of what is kept) and sparse kernels, which on CPUs and GPUs beat dense ones only at high sparsity, and regular structure (N:M, channels) is needed for most accelerators.
#
# For the convolution, Tucker-2 does better than the channel factorisation at about the same or fewer weights: 0.900 vs 0.747 (132 vs 176 weights), 0.953 vs 0.833 (336 vs 352), 0.975 vs 0.944 (612 vs 704); from about 1,400 weights both are at 0.975–0.983. The channel factorisation keeps a full $c_\text{in} k^2 = 144$-weight filter for each of its $r$ bottleneck channels; Tucker-2 also compresses the input channels first, so its $k \times k$ core works on $r_\text{in}$ channels and the same budget buys more bottleneck channels. One seed and no fine-tuning: a first look, not a firm ranking.
