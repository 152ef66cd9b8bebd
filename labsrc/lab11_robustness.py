# %% [markdown] name="md_title"
# # Lab 11 — What compression costs beyond accuracy
#
# Labs 3, 4, 8 and 1/2 compressed networks by pruning, low rank, quantization and distillation, and measured one number: clean test accuracy. Lecture 7 asks what that number hides. Does the *way* we choose weights to prune matter (second-order saliency instead of magnitude)? Is a compressed model at equal clean accuracy more fragile under adversarial inputs? Do flat minima (SAM) make a network easier to compress? And why does pruning work at all — random networks already contain good subnetworks (supermasks), and the mask that pruning will find is often fixed early in training (early-bird tickets)? Last, lecture 6's other tensor decomposition: CP beside Tucker-2.
#
# In this lab you
#
# 1. **write** (graded) the NumPy building blocks: Optimal Brain Damage's saliency, FGSM and a PGD step, robust accuracy, SAM's perturbation, edge-popup's top-k supermask and its straight-through score gradient, the mask distance and the early-bird stopping rule, and the CP reconstruction of a convolution kernel with one ALS update;
# 2. **run** (not graded) OBD against magnitude pruning, FGSM/PGD on dense, pruned, low-rank, 4-bit and distilled models, SAM against plain training before pruning and truncation, supermasks in random and trained networks, early-bird detection, and CP against Tucker-2 on the course CNN — each over 3 seeds;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np`) and the functions of earlier exercises. The autograder checks each function with property tests (e.g. *"the next iterate should stay within eps of x0 and inside [lo, hi]"*) against a hidden reference. Run `course check <this notebook>` for the public checks.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_obd_saliency"
# ## Exercise 1 — Optimal Brain Damage
#
# Magnitude pruning removes the smallest $|w_i|$. LeCun, Denker & Solla (*Optimal Brain Damage*, NeurIPS 1989) ask instead how much the **loss** rises when $w_i$ is deleted. Expanding the loss to second order around a trained minimum (gradient $\approx 0$) and dropping the off-diagonal Hessian terms, setting $w_i \to 0$ (a change $\delta w_i = -w_i$) costs
#
# $$s_i = \tfrac12\, h_{ii}\, w_i^2, \qquad h_{ii} = \frac{\partial^2 L}{\partial w_i^2}.$$
#
# With the same $h_{ii}$ for all weights this *is* magnitude pruning; the curvature re-ranks weights whose loss is flat or steep in their direction. $h_{ii}$ can be estimated from Hessian-vector products $Hv$ (double backpropagation) with Hutchinson's estimator $\mathbb E_v[v \odot Hv] = \mathrm{diag}(H)$ for random $\pm1$ vectors $v$, or replaced by the diagonal of the empirical Fisher $\frac1N\sum_n g_{n,i}^2 \ge 0$ — both are computed for you in `labkit.robustness`.
#
# **Your task.** `obd_saliency(w, h_diag)`.

# %% exercise="obd_saliency"
# `course build` fills this cell from reference_impl: the exercise obd_saliency

# %% [markdown] name="md_fgsm"
# ## Exercise 2 — the fast gradient sign method
#
# An adversarial example is an input $x'$ close to $x$ — here within $\|x' - x\|_\infty \le \varepsilon$, every pixel moved by at most $\varepsilon$ — that the model misclassifies. Goodfellow, Shlens & Szegedy (*Explaining and Harnessing Adversarial Examples*, ICLR 2015) take one step to the corner of the box where the linearised loss is largest:
#
# $$x' = \mathrm{clip}\big(x + \varepsilon\,\mathrm{sign}(\nabla_x L(x, y)),\ lo,\ hi\big),$$
#
# clipped to the valid pixel range ($[0, 1]$ for the digits). $\mathrm{sign}(0) = 0$.
#
# **Your task.** `fgsm(x, grad, eps, lo=0.0, hi=1.0)`; the experiment computes `grad` with torch.

# %% exercise="fgsm"
# `course build` fills this cell from reference_impl: the exercise fgsm

# %% [markdown] name="md_pgd_step"
# ## Exercise 3 — a projected-gradient step
#
# One linear step is a weak attack when the loss is curved. Madry et al. (*Towards Deep Learning Models Resistant to Adversarial Attacks*, ICLR 2018, eq. 2) iterate smaller steps and project back onto the allowed set after each:
#
# $$x^{t+1} = \mathrm{clip}\Big(\Pi_{B_\infty(x_0, \varepsilon)}\big(x^t + \alpha\,\mathrm{sign}(\nabla_x L(x^t, y))\big),\ lo,\ hi\Big), \qquad \Pi_{B_\infty(x_0,\varepsilon)}(z) = \mathrm{clip}(z,\ x_0 - \varepsilon,\ x_0 + \varepsilon).$$
#
# The $L_\infty$ ball is a box, so its projection is an elementwise clip; so is the pixel box, and clipping to one then the other is the projection onto their intersection.
#
# **Your task.** `pgd_step(x, x0, grad, alpha, eps, lo=0.0, hi=1.0)`.

# %% exercise="pgd_step"
# `course build` fills this cell from reference_impl: the exercise pgd_step

# %% [markdown] name="md_robust_accuracy"
# ## Exercise 4 — robust accuracy
#
# A sample is robust if the model classifies it correctly under *every* input we tried (the clean one and each attack): report the per-sample worst case, not the accuracy under the best attack on average (Carlini et al., *On Evaluating Adversarial Robustness*, 2019). With logits of shape $(A, N, C)$ for $A$ inputs,
#
# $$\text{robust acc} = \frac1N \sum_n \prod_a \big[z_{a,n,y_n} > \max_{c \ne y_n} z_{a,n,c}\big].$$
#
# A tie counts as an error (an attack that reaches a tie has done its job).
#
# **Your task.** `robust_accuracy(logits, labels)`.

# %% exercise="robust_accuracy"
# `course build` fills this cell from reference_impl: the exercise robust_accuracy

# %% [markdown] name="md_sam_perturbation"
# ## Exercise 5 — sharpness-aware minimisation
#
# Foret et al. (*Sharpness-Aware Minimization*, ICLR 2021) minimise the worst loss in a neighbourhood, $\min_w \max_{\|\epsilon\|_2 \le \rho} L(w + \epsilon)$. To first order the inner maximum is at
#
# $$\hat\epsilon(w) = \rho\, \frac{g}{\|g\|_2}, \qquad g = \nabla_w L(w),$$
#
# with the norm over *all* parameters together. A SAM step computes $\hat\epsilon$, takes the gradient at $w + \hat\epsilon$, and applies it at $w$: two forward-backward passes per step. Flat minima are often said to be more *compressible*: a weight change from pruning or rounding costs less loss where the loss is flat. The experiment tests that here. A zero gradient gets a zero perturbation.
#
# **Your task.** `sam_perturbation(g, rho)`.

# %% exercise="sam_perturbation"
# `course build` fills this cell from reference_impl: the exercise sam_perturbation

# %% [markdown] name="md_edge_popup_mask"
# ## Exercise 6 — supermasks by edge-popup
#
# Why does pruning work? Ramanujan et al. (*What's Hidden in a Randomly Weighted Neural Network?*, CVPR 2020) show that a wide enough **random** network contains a subnetwork that performs well without any weight training. Their edge-popup algorithm freezes the random weights $W$, gives every weight a score $s$, and uses $W \odot M$ with
#
# $$M = 1 \text{ on the } \mathrm{round}(k\,n) \text{ entries of largest } |s|, \quad 0 \text{ elsewhere}.$$
#
# Ties in $|s|$ go to the lower (flattened) index; round is half to even (`np.round`).
#
# **Your task.** `edge_popup_mask(scores, k)`, a 0/1 float array.

# %% exercise="edge_popup_mask"
# `course build` fills this cell from reference_impl: the exercise edge_popup_mask

# %% [markdown] name="md_supermask_score_grad"
# ## Exercise 7 — the straight-through score gradient
#
# The top-$k$ mask is piecewise constant in $s$: its derivative is 0 almost everywhere. Edge-popup passes the gradient straight through the mask, as if $M = s$ (Ramanujan et al. 2020, eq. 2). For a linear layer $y = x\,(W \odot M)^\top$ with input $x$ $(B, I)$ and upstream gradient $\partial L/\partial y$ $(B, O)$:
#
# $$\frac{\partial L}{\partial s} = \Big(\frac{\partial L}{\partial y}^{\!\top} x\Big) \odot W.$$
#
# Every score gets a gradient, in the mask or not: that is how an edge outside it can "pop up".
#
# **Your task.** `supermask_score_grad(x, grad_y, W)`.

# %% exercise="supermask_score_grad"
# `course build` fills this cell from reference_impl: the exercise supermask_score_grad

# %% [markdown] name="md_mask_distance"
# ## Exercise 8 — the distance between two masks
#
# You et al. (*Drawing Early-Bird Tickets*, ICLR 2020) compare pruning masks by the normalised Hamming distance, the fraction of entries in which they differ: $d(m_1, m_2) = \frac1n\sum_i [m_{1,i} \ne m_{2,i}]$.
#
# **Your task.** `mask_distance(m1, m2)`.

# %% exercise="mask_distance"
# `course build` fills this cell from reference_impl: the exercise mask_distance

# %% [markdown] name="md_early_bird_epoch"
# ## Exercise 9 — early-bird tickets
#
# The lottery-ticket procedure (Lab 3) trains to convergence, prunes, rewinds and retrains. You et al. observe that the magnitude mask stops changing early, and draw the ticket then: after each epoch $t$ compute the mask $m_t$; keep the last `window` masks in a queue; stop at the first $t \ge$ `window` with
#
# $$\max_{j = 1..\text{window}} d(m_t, m_{t-j}) < \text{threshold}.$$
#
# The paper uses window 5 and threshold 0.1. Return $-1$ when no epoch qualifies.
#
# **Your task.** `early_bird_epoch(masks, threshold=0.1, window=5)`, using your `mask_distance`.

# %% exercise="early_bird_epoch"
# `course build` fills this cell from reference_impl: the exercise early_bird_epoch

# %% [markdown] name="md_cp_reconstruct"
# ## Exercise 10 — CP decomposition of a kernel
#
# Lab 4 factorised a convolution kernel $K$ $(O, I, H, W)$ by Tucker-2 on its channel modes. The **CP** (canonical polyadic) decomposition writes it as a sum of $R$ rank-one tensors (Kolda & Bader, *Tensor Decompositions and Applications*, 2009, eq. 3.1):
#
# $$K_{oihw} = \sum_{r=1}^R A_{or} B_{ir} C_{hr} D_{wr}.$$
#
# Lebedev et al. (ICLR 2015) run it as four cheap convolutions — $1\times1$ $I \to R$ ($B$), a depthwise $H \times 1$ ($C$), a depthwise $1 \times W$ ($D$), $1\times1$ $R \to O$ ($A$) — with $R(O + I + H + W)$ weights instead of $OIHW$: depthwise, separable, cheap convolutions from a decomposition.
#
# **Your task.** `cp_reconstruct(A, B, C, D)`.

# %% exercise="cp_reconstruct"
# `course build` fills this cell from reference_impl: the exercise cp_reconstruct

# %% [markdown] name="md_cp_als_update"
# ## Exercise 11 — one ALS update
#
# Finding the best rank-$R$ CP approximation is hard (it may not even exist), but with three factors fixed the fourth is a linear least-squares problem. Alternating least squares (Kolda & Bader 2009, sec. 3.4) cycles over the factors:
#
# $$A = K_{(1)}\, Z\, (Z^\top Z)^{+}, \qquad Z_{(i,h,w),r} = B_{ir} C_{hr} D_{wr}, \qquad Z^\top Z = (B^\top B) * (C^\top C) * (D^\top D),$$
#
# with $K_{(1)}$ the $(O, IHW)$ unfolding (C order), $*$ the elementwise product and $^+$ the pseudo-inverse. The $R \times R$ Gram matrix means the update never forms anything larger than $K$. The experiment updates the other factors with your function too, by moving their axis to the front.
#
# **Your task.** `cp_als_update(K, B, C, D)`.

# %% exercise="cp_als_update"
# `course build` fills this cell from reference_impl: the exercise cp_als_update

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. **Set-up**: the 8×8 digits (1,078 / 359 / 360, test accuracies reported, pixels in $[0, 1]$), an MLP 64 → 64 → 10 trained for 15 epochs with Adam, seeds 0, 1, 2; "±" is the standard deviation over seeds; differences are paired by seed. The compressed models are made with the earlier labs' code (`labkit.lowrank`, `labkit.quantization`, `labkit.distillation_torch`).

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab11, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
figures, data = Figures(), digits_splits(seed=0)
cfg = lab11.Config.quick() if quick_mode() else lab11.Config()
dense = lab11.train_dense(data, cfg, figures)

# %% [markdown] name="md_obd"
# ## OBD against magnitude pruning
#
# Global pruning of both layers' weights, *without* fine-tuning, ranked by $|w|$ (OBD with $h = 1$), by OBD with the Fisher diagonal (300 training samples) and by OBD with Hutchinson's Hessian diagonal (32 probes, the whole training set).

# %% name="exp_obd"
if ready({1: obd_saliency}):
    obd = lab11.obd_vs_magnitude(obd_saliency, dense, figures)

# %% [markdown] name="md_robust"
# ## Are compressed models more fragile?
#
# Five models per seed: the dense MLP; magnitude-pruned to 80% sparsity and fine-tuned 3 epochs (Lab 3/4's `prune_mlp`); SVD rank 8 per layer, fine-tuned (Lab 4's `compress_mlp`); 4-bit per-channel symmetric weights (Lab 8's fake quantization, no retraining); a 64 → 16 → 10 student distilled from the dense model (Lab 1's KD loss, $T = 4$, $\alpha = 0.9$). FGSM and 10-step PGD ($\alpha = 2.5\varepsilon/10$) at three radii on the 360 test images; robust accuracy counts a sample only if it is right on the clean *and* the attacked input.

# %% name="exp_robust"
if ready({2: fgsm, 3: pgd_step, 4: robust_accuracy}):
    models = lab11.compressed_models(dense)
    rob = lab11.robustness(fgsm, pgd_step, robust_accuracy, models, dense, figures)

# %% [markdown] name="md_sam"
# ## Does SAM buy compressibility?
#
# The same MLP trained with SAM ($\rho = 0.05$, Adam as the base optimiser, same seeds and epochs) against the dense models above, then pruned globally by magnitude (no fine-tuning) or with its first (64 × 64) layer truncated by SVD to rank 4 or 8.

# %% name="exp_sam"
if ready({5: sam_perturbation}):
    sam = lab11.sam_compressibility(sam_perturbation, dense, figures)

# %% [markdown] name="md_supermask"
# ## Supermasks: a good subnetwork without training a weight
#
# Edge-popup keeps $k = 50\%$ of the weights of (a) a random 64 → 256 → 10 network with signed-constant weights $\pm\sqrt{2/\text{fan-in}}$ and (b) the trained dense MLP's weights (biases dropped); only the scores are trained (Adam, 10 epochs). First, your score gradient against torch autograd through the masked layer.

# %% name="exp_supermask"
if ready({6: edge_popup_mask, 7: supermask_score_grad}):
    lab11.score_gradient_sanity(edge_popup_mask, supermask_score_grad)
    sup = lab11.supermasks(edge_popup_mask, dense, figures)

# %% [markdown] name="md_early_bird"
# ## Early-bird tickets
#
# During the dense training above, the global magnitude mask at 70% sparsity was recorded after every epoch. The early-bird rule (threshold 0.1, window 3: the paper's 5 is a third of our 15 epochs) says when the ticket could have been drawn; how far is that mask from the one at the end of training?

# %% name="exp_early_bird"
if ready({8: mask_distance, 9: early_bird_epoch}):
    eb = lab11.early_bird(early_bird_epoch, mask_distance, dense, figures)

# %% [markdown] name="md_cp"
# ## CP against Tucker-2 on the course CNN
#
# Lab 4's `SmallCNN` (conv 1 → 16, conv 16 → 32, 3×3) trained 4 epochs per seed; its second convolution's kernel (4,608 weights) replaced by a CP approximation of rank 8, 16, 32 (25 ALS sweeps of your update) or a Tucker-2 (HOSVD) one of similar size, without fine-tuning. Weights and MACs are those of the factorised layers at the 8 × 8 output positions.

# %% name="exp_cp"
if ready({10: cp_reconstruct, 11: cp_als_update}):
    cp = lab11.cp_vs_tucker(cp_als_update, cp_reconstruct, data, cfg, figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab11')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# PyTorch 2.13.0, CPU, one thread, seeds 0, 1, 2. Dense MLP 0.963 ± 0.003.
#
# * **OBD.** Without fine-tuning, OBD with the Fisher diagonal matches magnitude pruning up to 50% (0.965 ± 0.007 against 0.954 ± 0.003) but falls behind from 70% on, badly at 95% (0.216 against 0.527). Hutchinson's Hessian diagonal (32 probes) is worse than both at low sparsity (0.862 ± 0.015 at 30%). "Second-order saliency beats magnitude" does not reproduce at this scale beyond 50%.
# * **Fragility.** 4-bit weights cost nothing measurable, clean (0.963) or under PGD at $\varepsilon = 0.1$ (0.524 ± 0.003 against the dense 0.531 ± 0.005). The other compressed models lose more: pruned 0.931 clean, 0.478 under PGD at 0.1; low rank 0.955 and 0.458; distilled 0.919 and 0.456. The low-rank model is the clearest case of "equal clean accuracy, more fragile": within a point of dense on clean inputs, 7 points below it under attack. PGD is only slightly stronger than FGSM here (dense 0.531 against 0.569 at 0.1, equal at 0.02).
# * **SAM.** The same clean accuracy (0.962 ± 0.005). After 70% magnitude pruning SAM keeps 0.938 ± 0.009 against 0.926 ± 0.015, a paired gain of 0.012 ± 0.006; at 90% the mean gain (0.057) is smaller than its spread (0.070); SVD truncation gains nothing (rank 4: 0.002 ± 0.009, rank 8: −0.004 ± 0.036).
# * **Supermasks.** The random 64 → 256 → 10 network is at chance (0.095 ± 0.007); a 50% supermask of its frozen random weights reaches 0.946 ± 0.003 without training a single weight. A supermask of the trained MLP's weights (biases dropped) reaches 0.969 ± 0.007.
# * **Early birds.** The rule fires at epoch 5 of 15 for every seed; that mask differs from the final one in 0.091 ± 0.005 of the weights (the last epoch still changes 0.009).
# * **CP against Tucker-2.** At similar size CP approximates the kernel better: rank 16 (864 weights) has relative error 0.619 against 0.636 for Tucker-2 (8, 8) (960 weights), rank 32 (1,728) 0.476 against 0.536 (Tucker-2 (16, 8), 1,792). Accuracy without fine-tuning is the same within the spread (0.933 against 0.931, 0.941 against 0.937; dense 0.941 ± 0.012). Rank 8 keeps 0.915 with 432 of the 4,608 weights.

# %% [markdown] name="md_question_1"
# ### Questions
#
# **Question 1 — OBD.** Compare the three pruning curves. Where does curvature help, and why is OBD at a trained minimum close to magnitude pruning for the first layers of an MLP?

# %% [markdown] answer="answer_1"
# At a trained minimum the gradient is small and OBD's $\frac12 h_{ii} w_i^2$ differs from magnitude only through $h_{ii}$. The empirical Fisher's $h_{ii}$ is the mean squared gradient, large for the weights of pixels and hidden units that are often active; up to 50% it removes weights that are large but unused and matches magnitude pruning. Far from the minimum of the *pruned* network (70-95%) the second-order model is no longer valid: deleting many weights at once changes the loss by much more than the sum of the single-weight saliencies (the off-diagonal terms OBD neglects add up), and the Fisher probably ranks all the weights of rarely-used input pixels as free, cutting inputs that matter together. Hutchinson's estimate has variance $\sum_{j\ne i} H_{ij}^2 / \text{probes}$ per entry: with 32 probes a small $h_{ii}$ is swamped by noise and can come out negative, which ranks a large weight as the cheapest to delete — hence its bad curve even at 30%. More probes, clamping at 0, or the Gauss-Newton diagonal (what LeCun et al. used) would help; magnitude is the robust default.

# %% [markdown] name="md_question_2"
# **Question 2 — fragility.** At (nearly) equal clean accuracy, are the compressed models more fragile than the dense one under PGD? Which compression hurts robustness most, and what would you need to measure to make the comparison fair?

# %% [markdown] answer="answer_2"
# Not uniformly. The 4-bit model has the dense model's clean and robust accuracy: rounding each weight by at most half a step leaves the function (and its input gradients) nearly unchanged. The low-rank model is at nearly equal clean accuracy (0.955 against 0.963) but 7 points less robust under PGD at 0.1; pruning and distillation lose more under attack than clean too, but they also start lower, so part of their drop is the clean gap. A fair comparison needs models at *equal clean accuracy* (tune the compression ratio or fine-tuning until they match), robust accuracy at several radii with a strong attack (PGD with restarts; check that more steps do not lower it further), and the spread over seeds — then "compressed models are more fragile" can be tested per method rather than taken as a rule.

# %% [markdown] name="md_question_3"
# **Question 3 — SAM.** Does SAM make the MLP more compressible here? Use the paired differences and their spread.

# %% [markdown] answer="answer_3"
# Weakly, for pruning only. The paired gain after 70% magnitude pruning, 0.012 ± 0.006, is about two spreads from 0 (with 3 seeds, suggestive rather than established); at 90% the mean gain is large but its spread is larger — the Adam models' accuracy at 90% itself varies by ± 0.170 between seeds — so it is not evidence. SVD truncation shows nothing. SAM ran at one $\rho$ on a small MLP where the plain minimum is already flat enough to prune to 50% for free; a claim about flatness would need a sweep over $\rho$, larger models and a flatness measure (the Hessian's top eigenvalue), and the cost — two forward-backward passes per step — is real.

# %% [markdown] name="md_question_4"
# **Question 4 — why pruning works.** What do the supermask and early-bird results say about where a pruned network's accuracy comes from, and what does CP against Tucker-2 say about which structure a kernel has?

# %% [markdown] answer="answer_4"
# A pruned network's accuracy need not come from its surviving weights' values: a random network with the right 50% of its edges kept classifies the digits at 0.946, so selecting a subnetwork is itself a way of training, and pruning a trained network partly selects a good subnetwork that was already there. Early birds say the selection happens early: the magnitude mask is within 10% of its final form after a third of the training, so one could stop dense training, prune and retrain at a fraction of the cost (You et al.), accepting the 9% of the mask that still changes. CP beating Tucker-2 at equal size says this kernel's structure is spread over many rank-one terms rather than concentrated in a few channel subspaces; the large relative errors that cost little accuracy say that the kernel's norm is a poor proxy for what the network needs from it — data-aware or fine-tuned factorisations (Lab 4) matter more than the decomposition's type.
