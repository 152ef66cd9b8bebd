# %% [markdown] name="md_title"
# # Lab 9 — NAS II: weight sharing, once-for-all, reinforcement learning and evolution
#
# Lab 5 searched architectures by gradient descent on a continuous relaxation (DARTS, ProxylessNAS). Lecture 06 also teaches the two older families of search — a **reinforcement-learning controller** that samples architectures and is rewarded with their accuracy (Zoph & Le, ICLR 2017; NASNet, CVPR 2018), and **evolution** (Real et al., AAAI 2019) — and the idea that made both affordable: **weight sharing**. Instead of training every candidate, one *supernet* holds the weights of all of them. **Once-for-All** (OFA; Cai, Gan, Wang, Zhang & Han, ICLR 2020) trains such a supernet so that its subnets are good *without retraining*, then searches it for the best subnet under a MAC or latency budget with an accuracy predictor and evolution; MetaPruning (Liu et al., ICCV 2019) searches channel widths in the same spirit.
#
# In this lab you
#
# 1. **write** (graded) the NumPy building blocks: channel sorting by importance and elastic width (the weights a subnet inherits), the MACs and parameters of a subnet, the progressive-shrinking sampler, the in-place distillation loss and its gradient, the REINFORCE gradient of a controller with a baseline and an entropy bonus, tournament selection under a budget, crossover and mutation, a ridge-regression accuracy predictor and Kendall's rank correlation;
# 2. **run** (not graded) an OFA supernet for the digits MLP (39 subnets), compare inherited weights with training from scratch, search under a MAC budget with predictor + evolution, random search and a REINFORCE controller at an equal number of measured subnets, and a MetaPruning-style channel search against uniform widths — each over 3 seeds;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np`) and the functions of earlier exercises. Every random draw is an argument, so each function is deterministic. The autograder checks each function with property tests (e.g. *"sorting only renames the hidden channels: the network's outputs are unchanged"*) against a hidden reference. Run `course check <this notebook>` for the public checks.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_sort_channels"
# ## Exercise 1 — channel sorting
#
# OFA's **elastic width** lets a subnet keep only the first $w$ channels of a layer. Which channels come first matters: OFA sorts them by importance, the L1 norm of each channel's weights, $s_h = \sum_j |W_1[h, j]|$, so that the most important channels are shared by the most subnets (Cai et al. 2020, sec. 3.2). Reordering hidden channel $h$ is a renaming: permute the rows of $W_1$ and $b_1$ and the *columns* of the next layer's $W_2$ with the same permutation $\pi = \mathrm{argsort}(-s)$ and the network computes exactly the same function:
#
# $$W_1' = W_1[\pi, :],\quad b_1' = b_1[\pi],\quad W_2' = W_2[:, \pi].$$
#
# Equal norms keep their original order (a stable sort).
#
# **Your task.** `sort_channels(W1, b1, W2)`.

# %% exercise="sort_channels"
# `course build` fills this cell from reference_impl: the exercise sort_channels

# %% [markdown] name="md_elastic_linear"
# ## Exercise 2 — elastic width: the weights a subnet inherits
#
# A subnet with $w_{out}$ output channels and a $w_{in}$-wide input keeps the top-left corner of the largest layer, $W[:w_{out}, :w_{in}]$ and $b[:w_{out}]$ (Cai et al. 2020, Fig. 3). All subnets share these weights: a training step on one subnet changes every subnet that contains it. That is the whole trick — and the whole difficulty: a weight must be good for many networks at once.
#
# **Your task.** `elastic_linear(W, b, out_width, in_width)`, returning copies.

# %% exercise="elastic_linear"
# `course build` fills this cell from reference_impl: the exercise elastic_linear

# %% [markdown] name="md_subnet_cost"
# ## Exercise 3 — what a subnet costs
#
# The subnet keeps the first `depth` hidden layers (**elastic depth**), so its layer sizes are $n = (d_{in}, w_1, \dots, w_{depth}, d_{out})$. A `Linear(n_i, n_{i+1})` costs $n_i n_{i+1}$ multiply-accumulates per input and has $n_i n_{i+1} + n_{i+1}$ parameters. The search of this lab constrains MACs; OFA constrains MACs or a measured latency (Lab 5 built a latency table).
#
# **Your task.** `subnet_cost(widths, depth, d_in, d_out)` returning `(macs, params)`.

# %% exercise="subnet_cost"
# `course build` fills this cell from reference_impl: the exercise subnet_cost

# %% [markdown] name="md_ps_sample"
# ## Exercise 4 — progressive shrinking
#
# Training all subnets from the start lets the many small ones drag the shared weights away from what the large ones need. **Progressive shrinking** (Cai et al. 2020, sec. 3.2, Fig. 2) first trains the largest network, then lets one dimension after another vary: here stage 0 is the largest network, stage 1 samples the depth, stage 2 the depth and every width. With the choices sorted and distinct, uniform draws $u \in [0, 1)^{D+1}$ pick $d_{(\lfloor u_0 n_d \rfloor)}$ and $w_{(\lfloor u_{l} n_w \rfloor)}$.
#
# **Your task.** `ps_sample(u, stage, width_choices, depth_choices)`.

# %% exercise="ps_sample"
# `course build` fills this cell from reference_impl: the exercise ps_sample

# %% [markdown] name="md_inplace_kd_loss"
# ## Exercise 5 — in-place distillation
#
# Each sampled subnet is trained on the *largest network's* soft labels, computed in the same forward pass (Yu & Huang, *Universally Slimmable Networks*, ICCV 2019; OFA sec. 3.2) — Lab 1's KD loss with the supernet as its own teacher:
#
# $$\mathcal L = \frac{T^2}{B} \sum_b \mathrm{KL}(p_b \,\|\, q_b),\qquad p = \mathrm{softmax}(z_{big}/T),\ q = \mathrm{softmax}(z_{sub}/T),\qquad \frac{\partial \mathcal L}{\partial z_{sub}} = \frac{T}{B}(q - p).$$
#
# The teacher is a constant (no gradient flows into it through this term). The experiments back-propagate *your* gradient through the subnet: `sub_logits.backward(grad)`.
#
# **Your task.** `inplace_kd_loss(student_logits, teacher_logits, T)` returning `(loss, grad)`.

# %% exercise="inplace_kd_loss"
# `course build` fills this cell from reference_impl: the exercise inplace_kd_loss

# %% [markdown] name="md_reinforce_grad"
# ## Exercise 6 — the REINFORCE controller
#
# Zoph & Le's controller is a policy that emits an architecture one decision at a time; here it is one categorical distribution $\pi_l = \mathrm{softmax}(\theta_l)$ per decision. Having sampled $a$ and measured its reward $R$ (validation accuracy), REINFORCE (Williams 1992) ascends
#
# $$J = (R - b)\sum_l \log \pi_l(a_l) + \beta \sum_l H(\pi_l),\qquad \frac{\partial J}{\partial \theta_{lk}} = (R - b)(\mathbb 1[k = a_l] - \pi_{lk}) - \beta\,\pi_{lk}(\log \pi_{lk} + H(\pi_l)).$$
#
# The baseline $b$ (a moving average of past rewards) does not change the expected gradient but lowers its variance; the entropy bonus (ENAS, Pham et al. 2018) keeps the controller from committing too early.
#
# **Your task.** `reinforce_grad(logits, actions, reward, baseline, beta)`.

# %% exercise="reinforce_grad"
# `course build` fills this cell from reference_impl: the exercise reinforce_grad

# %% [markdown] name="md_tournament_select"
# ## Exercise 7 — tournament selection under a budget
#
# Evolution picks parents by **tournament**: draw $k$ candidates, keep the best (Real et al. 2019). Under a MAC budget, "best" follows Deb's feasibility rules (Deb 2000): a feasible candidate beats an infeasible one, feasible ones compare by fitness, infeasible ones by cost (the smaller violation), and a tie goes to the one drawn first.
#
# **Your task.** `tournament_select(fitness, cost, budget, draws)`, one winner per row of `draws`.

# %% exercise="tournament_select"
# `course build` fills this cell from reference_impl: the exercise tournament_select

# %% [markdown] name="md_crossover_mutate"
# ## Exercise 8 — crossover and mutation
#
# An architecture is a vector of genes (here: the depth, then the width of each layer, as choice indices). OFA's evolution (sec. 3.3) and MetaPruning make a child by **uniform crossover** — each gene from one parent or the other — then **mutation** — each gene redrawn with probability $p_{mut}$:
#
# $$c_i = \begin{cases} a_i & u^{cross}_i < 0.5 \\ b_i & \text{else} \end{cases},\qquad c_i \leftarrow \lfloor r_i\, n_i \rfloor \text{ if } u^{mut}_i < p_{mut}.$$
#
# **Your task.** `crossover_mutate(parent_a, parent_b, n_choices, u_cross, u_mut, r_mut, p_mut)`.

# %% exercise="crossover_mutate"
# `course build` fills this cell from reference_impl: the exercise crossover_mutate

# %% [markdown] name="md_ridge_fit"
# ## Exercise 9 — an accuracy predictor
#
# Measuring a subnet costs a pass over the validation set; OFA fits a small **accuracy predictor** on a few thousand measured (architecture, accuracy) pairs and lets evolution query it instead (sec. 3.3). Ours is its linear version, ridge regression on one-hot encodings with an unpenalised intercept:
#
# $$\min_{w, b}\ \|y - Xw - b\mathbf 1\|^2 + \lambda\|w\|^2:\qquad w = (X_c^\top X_c + \lambda I)^{-1} X_c^\top y_c,\quad b = \bar y - \bar x^\top w,$$
#
# with $X_c, y_c$ centred (Hoerl & Kennard 1970). One-hot blocks are collinear (each sums to 1): $\lambda > 0$ makes the solution unique.
#
# **Your task.** `ridge_fit(X, y, lam)` returning `(w, b)`.

# %% exercise="ridge_fit"
# `course build` fills this cell from reference_impl: the exercise ridge_fit

# %% [markdown] name="md_kendall_tau"
# ## Exercise 10 — Kendall's tau
#
# A search only needs its estimates (a predictor, or inherited weights) to **rank** architectures right. Kendall's $\tau_b$ counts, over all pairs, concordant ($C$) against discordant ($D$) pairs, corrected for ties (Kendall 1945; `scipy.stats.kendalltau`'s default):
#
# $$\tau_b = \frac{C - D}{\sqrt{(n_0 - n_a)(n_0 - n_b)}},\qquad n_0 = N(N-1)/2.$$
#
# **Your task.** `kendall_tau(a, b)`.

# %% exercise="kendall_tau"
# `course build` fills this cell from reference_impl: the exercise kendall_tau

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. **Set-up**: the 8×8 digits with Lab 5's split (`digits_splits`: 1,078 / 359 / 360). The supernet is the MLP 64 → 16 → 16 → 16 → 10; a subnet has depth 1, 2 or 3 and each layer width 4, 8 or 16: **39 distinct subnets**, from 296 to 1,696 MACs (narrow on purpose: at widths of 64 every subnet scores 0.95–0.97 on the digits and there is nothing to search). The code is `labkit/ofa.py` (the supernet, training, extraction; it reuses Lab 5's mini-batches and training loop) and `labkit/experiments/lab09.py` (the searches): read them, they are short. Seeds 0, 1, 2: one supernet per seed; "±" is the standard deviation over seeds.
#
# **Progressive shrinking** (your exercises 1, 4, 5): 600 Adam steps on the largest network, then its channels are sorted with your `sort_channels`, then 400 steps with elastic depth and 800 with elastic depth and width; every step trains the largest network on the labels and one sampled subnet on its soft labels (in-place distillation, $T = 1$). One difference from OFA: in a plain MLP the classifier is shared by every depth, so sorting channels after depth became elastic would change the shallower subnets; we sort once, after stage 0, where only the largest network has been trained.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab09, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab09.Config.quick() if quick_mode() else lab09.Config()
figures = Figures()
data = digits_splits(seed=0)

# %% name="exp_supernets"
nets = None
if ready({1: sort_channels, 4: ps_sample, 5: inplace_kd_loss}):
    nets = lab09.train_supernets(ps_sample, inplace_kd_loss, sort_channels, data, cfg)

# %% [markdown] name="md_inherited"
# ## Inherited weights against training from scratch
#
# Every subnet is cut out of each supernet with your `elastic_linear` and scored on the test split, no retraining. Ten subnets spread over the MAC range are also trained alone, from scratch, for 600 steps (what stage 0 gave the largest network). Two questions: how much accuracy does sharing cost (the gap), and do inherited weights *rank* subnets as training from scratch would (Kendall's tau, your exercise 10)? The ranking is what a search needs.

# %% name="exp_inherited"
if nets is not None and ready({2: elastic_linear, 3: subnet_cost, 10: kendall_tau}):
    inherited = lab09.inherited_vs_scratch(elastic_linear, subnet_cost, kendall_tau, nets, data, cfg, figures)
    lab09.plot_inherited(inherited)

# %% [markdown] name="md_search"
# ## Search under a MAC budget: predictor + evolution, random search, REINFORCE
#
# The budget is 35% of the largest network's MACs. Each search may **measure** 16 subnets (the inherited weights' validation accuracy); its winner is then scored on the test split.
#
# * **Predictor + evolution** (OFA): the 16 measurements fit your ridge predictor on one-hot encodings; evolution (population 16, 8 generations, tournaments of 3 with your `tournament_select`, children by your `crossover_mutate`, $p_{mut} = 0.3$) searches with predicted accuracy, free of charge; the winner is measured.
# * **Random search**: 16 random subnets within the budget, the best on validation kept.
# * **REINFORCE** (your `reinforce_grad`): 16 episodes; reward = validation accuracy, 0 over the budget; moving-average baseline (decay 0.8), $\beta = 0.05$, step 0.5.
#
# The last row measures every subnet within the budget: the best any search could find. Lab 5's DARTS searched a different space (a conv cell), so its result is not comparable number for number; what carries over is the *cost* comparison — one supernet training, then searches that cost evaluations, not trainings.

# %% name="exp_search"
if nets is not None and ready({2: elastic_linear, 3: subnet_cost, 6: reinforce_grad, 7: tournament_select,
                               8: crossover_mutate, 9: ridge_fit, 10: kendall_tau}):
    searched = lab09.search(ridge_fit, kendall_tau, tournament_select, crossover_mutate, reinforce_grad, subnet_cost,
                            elastic_linear, nets, data, cfg, figures)

# %% [markdown] name="md_channels"
# ## A MetaPruning-style channel search
#
# MetaPruning (Liu et al., ICCV 2019) trains a *PruningNet* that generates weights for any channel configuration, scores candidate widths with the generated weights, searches them by evolution under a budget, and then trains the winner from scratch. Our supernet plays the PruningNet's part (it *stores* shared weights rather than generating them): evolution over the three widths of the depth-3 MLP, each one of 4, 6, …, 16 (a finer grid than the supernet was trained on, as MetaPruning searches channel ratios), at the MACs of the uniform 8-8-8 network (720), candidates scored on validation with inherited weights; then the searched widths and the uniform ones are both trained from scratch (600 steps, same seeds).

# %% name="exp_channels"
if nets is not None and ready({2: elastic_linear, 3: subnet_cost, 7: tournament_select, 8: crossover_mutate}):
    channels = lab09.channel_search(tournament_select, crossover_mutate, subnet_cost, elastic_linear, nets, data, cfg,
                                    figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab09')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# PyTorch 2.13.0, CPU, one thread, seeds 0, 1, 2 (one supernet per seed).
#
# * **Inherited weights.** All 39 subnets work without retraining: the largest 0.936 ± 0.008, the smallest (64 → 4 → 10) 0.501 ± 0.068, the mean over subnets 0.722 ± 0.032. Trained alone from scratch for 600 steps, the 10 spread-out subnets do better by 0.061 ± 0.050 on average, and the order of the subnets by inherited accuracy agrees only loosely with their order from scratch: Kendall tau 0.300 ± 0.103. **OFA's claim that subnets with inherited weights match or beat the same subnets trained from scratch does not reproduce at this scale**: our supernet gets 1,800 steps to share among 39 subnets (OFA trains for hundreds of epochs per shrinking phase and fine-tunes), and its smallest subnets are 4 channels wide, where one set of weights serves very different networks.
# * **Predictor.** Fitted on 16 measured subnets, the ridge predictor ranks all 39 almost as the measurements do: Kendall tau 0.799 ± 0.030 with the measured validation accuracy.
# * **Search.** The budget of 594 MACs admits 14 of the 39 subnets. Random search and the REINFORCE controller both find the best of them, 0.810 ± 0.027 (the best feasible subnet on test is also 0.810 ± 0.027); predictor + evolution lands on a slightly worse one, 0.779 ± 0.019. With 16 measurements and 14 feasible subnets, random search is exhaustive: the space is too small for a clever search to pay off, and the predictor's remaining ranking errors are all that separates it from the optimum.
# * **Channel search.** Evolution with inherited weights returned the uniform widths 8-8-8 for two seeds and 8-10-4 for the third; trained from scratch, searched 0.833 against uniform 0.866, a difference of −0.032 ± 0.046. MetaPruning's finding that searched widths beat uniform ones at equal FLOPs does not reproduce here: the one non-uniform network the search preferred (by inherited accuracy) was worse once trained alone.

# %% [markdown] name="md_question_1"
# ### Questions
#
# **Question 1 — sharing.** How large is the gap between inherited weights and training from scratch, and for which subnets? Why would progressive shrinking and in-place distillation reduce it?

# %% [markdown] answer="answer_1"
# Trained alone, the 10 subnets beat their inherited weights by 0.061 ± 0.050 on average, and the smallest subnet scores only 0.501 with inherited weights. The narrow subnets are the ones to suspect (we did not measure the gap subnet by subnet: the plot shows it): their 4 channels are the first 4 of 16 channels trained mostly as part of wider networks, and every subnet pulls the shared weights its own way. Progressive shrinking lets the large subnets settle first (stage 0 trains only the largest network, which the others then start from), so the small ones adapt to good features instead of dragging them; and in-place distillation trains each subnet on the largest network's soft labels, a target every subnet can approximate, consistent across subnets, and richer than the labels. Both reduce the interference; with our short schedule they do not remove it.

# %% [markdown] name="md_question_2"
# **Question 2 — ranking.** A search needs the right *order*, not the right accuracy. Compare the Kendall tau of inherited against scratch accuracy with the predictor's tau. What limits each?

# %% [markdown] answer="answer_2"
# Inherited against scratch accuracy has tau 0.300 ± 0.103: inherited weights rank subnets only loosely, because the cost of sharing need not be the same for every subnet, and the 10 scratch accuracies are themselves noisy (one training run per seed). The predictor reaches 0.799 ± 0.030, but against the *inherited* validation accuracy it was fitted to: it inherits every bias of the supernet, and its own limits are its linear form (no interactions between a layer's width and the depth) and 16 training points for 12 one-hot features. A search is only as good as the weakest link: a predictor that ranks the supernet perfectly still ranks the trained networks with tau around 0.3.

# %% [markdown] name="md_question_3"
# **Question 3 — three searches.** Explain the ranking of the three searches at 16 measured subnets in a space of 39, and say when the predictor + evolution approach pays off.

# %% [markdown] answer="answer_3"
# Random search and REINFORCE found the best feasible subnet (0.810 ± 0.027) because with 14 feasible subnets and 16 measurements random search sees almost all of them, and the controller, rewarded 0 outside the budget, sampled it too within its 16 episodes. Predictor + evolution (0.779 ± 0.019) measures only the subnets it fits on and then trusts the predictor, whose tau of 0.80 leaves near-ties among the top subnets misordered. The predictor pays off when the space is far larger than the evaluation budget (OFA's space has about $10^{19}$ subnets) and when a measurement is expensive: each query is then free, evolution can explore thousands of candidates, and the same predictor serves every new budget or device without another measurement.

# %% [markdown] name="md_question_4"
# **Question 4 — channels.** Did the searched widths beat uniform widths at equal MACs? What does MetaPruning's claim need that this experiment lacks?

# %% [markdown] answer="answer_4"
# No: trained from scratch, the searched widths scored 0.833 against 0.866 for uniform 8-8-8 (−0.032 ± 0.046); in two seeds the search simply returned the uniform widths. MetaPruning's claim needs weights that predict how a configuration will do *after* training: its PruningNet is trained to generate good weights for every configuration, while our supernet was trained only on widths 4, 8 and 16, so widths like 10 or 14 are scored with weights no subnet was trained with. It also needs a space where uniform widths are far from optimal (deep CNNs, where early layers are cheap per channel), many more channels to redistribute than 3 layers of at most 16, and more than one seed per configuration to tell a difference of 0.03 from noise.
