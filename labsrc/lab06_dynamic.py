# %% [markdown] name="md_title"
# # Lab 6 — Dynamic computation: early exits, skipping and experts
#
# A static network spends the same computation on every input: a clear, centred "1" goes through every layer that a smudged "8" needs. **Dynamic** networks decide per input how much to compute. This lab covers three ways to do it:
#
# * **Early exits** — classifiers attached to intermediate layers answer as soon as they are confident, so easy inputs leave early. BranchyNet (Teerapittayanon, McDanel & Kung, *BranchyNet: Fast Inference via Early Exiting from Deep Neural Networks*, ICPR 2016) exits when the prediction's **entropy** is low; self-distillation (Zhang et al., *Be Your Own Teacher: Improve the Performance of Convolutional Neural Networks via Self Distillation*, ICCV 2019) trains the shallow classifiers from the deepest one and exits on the **top softmax probability**.
# * **Skipping** — SkipNet (Wang, Yu, Dou, Darrell & Gonzalez, *SkipNet: Learning Dynamic Routing in Convolutional Networks*, ECCV 2018) puts a gate in front of each residual block that decides, per input, whether to run it. The gate is a hard 0/1 decision, trained with the **straight-through estimator** (Bengio, Léonard & Courville, 2013).
# * **Experts** — the Switch Transformer (Fedus, Zoph & Shazeer, *Switch Transformers: Scaling to Trillion Parameter Models with Simple and Efficient Sparsity*, 2021) has many expert MLPs but sends each token to only **one**: parameters grow, computation per token does not. Experts have a fixed **capacity**; overflowing tokens are dropped, and an auxiliary **load-balancing loss** keeps the router from favouring a few experts.
#
# In this lab you
#
# 1. **write** (graded) the NumPy core of all three: entropy, the two exit rules, the expected cost of an early-exit network, BranchyNet's joint loss, SkipNet's hard gate, gated block output and straight-through gradient, Switch routing with capacity, and the load-balancing loss;
# 2. **run** (not graded) small PyTorch experiments on the easy/hard synthetic set and the 8×8 digits that ship with the course: which samples leave early, accuracy against average compute, the exit histogram, gate training with a compute penalty, and routing with and without the load-balancing loss;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np` in the first code cell) and the functions of earlier exercises. The autograder runs each function on its own in a sandbox and checks it with property tests (e.g. *"a one-hot distribution should have entropy exactly 0"*, *"no expert gets more than its capacity"*) against a hidden reference. Do not change the signatures. Run `course check <this notebook>` to run the public checks yourself.
#
# The experiments use PyTorch (CPU) and take about a minute. They call your functions, so finish the exercises first.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_entropy"
# ## Exercise 1 — entropy of a prediction
#
# An exit classifier outputs a distribution $p \in \Delta^{C-1}$ over $C$ classes. How *sure* is it? BranchyNet measures it by the Shannon entropy
#
# $$H(p) = -\sum_{i=1}^{C} p_i \log p_i \quad\text{(nats)},$$
#
# which is $0$ for a one-hot prediction (certain) and $\log C$ for the uniform one (no idea). Low entropy means "I can answer here".
#
# **Numerics.** A class with $p_i = 0$ contributes $0 \cdot \log 0$, which NumPy evaluates as `0 * -inf = nan`. The right value is the limit $\lim_{x \to 0} x \log x = 0$: handle zeros on purpose (e.g. take the log only where $p > 0$).
#
# **The slide.** The BranchyNet slide writes $\mathrm{entropy}(y) = \sum_c y_c \log y_c$ without the minus sign: that sum is $-H(y) \le 0$ (for $y = (0.7, 0.2, 0.1)$ it is $-0.802$, the entropy $+0.802$ nats; the cell after the exercise computes both). Use $H(y) = -\sum_c y_c \log y_c \ge 0$.
#
# **Your task.** `entropy(p)` along the last axis of an array of any shape `(..., C)`; `ValueError` for a negative probability.

# %% exercise="entropy"
# `course build` fills this cell from reference_impl: the exercise entropy

# %% name="slide_entropy"
y = np.array([0.7, 0.2, 0.1])  # the slide's formula, without the minus sign, against the entropy (NumPy only)
print(f"sum y log y = {np.sum(y * np.log(y)):.3f}, entropy H(y) = {-np.sum(y * np.log(y)):.3f} nats")

# %% [markdown] name="md_exit_decisions"
# ## Exercise 2 — BranchyNet's exit rule
#
# An early-exit network with $E$ exits produces $E$ predictions per sample, stacked as `probs[e, n, :]`. At inference the sample travels through the network and stops at the **first** exit that is confident enough:
#
# $$\mathrm{exit}_n = \min\{\, e < E-1 : H(\texttt{probs}[e, n]) < \tau_e \,\}, \qquad \text{or } E-1 \text{ if there is none.}$$
#
# The final exit has no choice: it takes every sample that is left. The threshold $\tau_e$ trades accuracy for computation: $\tau_e = 0$ closes exit $e$ (no entropy is *strictly* below 0, not even a one-hot prediction's), $\tau_e > \log C$ opens it for everyone. The thresholds may come as $E-1$ numbers, or $E$ with the last one ignored.
#
# In a real network the computation really stops at the exit; here all exits' predictions are precomputed and the rule decides which one counts. "The first index where a condition holds, along an axis" is `argmax` of a boolean array — once a row of `True`s is appended for the last exit.
#
# **The slide.** It also exits when the entropy is "greater than" the threshold. BranchyNet exits when the exit is *confident*, i.e. when $H < \tau$ (Teerapittayanon et al. 2016, Algorithm 1). The slide's two slips cancel only with a negated threshold ($\sum y \log y > -\tau \iff H < \tau$); with a positive threshold such as 0.2 nats its rule would never fire, since $\sum y \log y \le 0$.
#
# **Your task.** `exit_decisions(probs, thresholds)` returning int64 exit indices `(N,)`; `ValueError` if `thresholds` has neither $E-1$ nor $E$ entries.

# %% exercise="exit_decisions"
# `course build` fills this cell from reference_impl: the exercise exit_decisions

# %% [markdown] name="md_confidence_exit_decisions"
# ## Exercise 3 — the confidence rule of self-distillation
#
# Zhang et al. (2019) attach shallow classifiers to a ResNet, train them with the deepest classifier as a teacher ("be your own teacher") and, at inference, let a shallow classifier answer when its **top softmax probability** reaches a threshold:
#
# $$\mathrm{exit}_n = \min\{\, e < E-1 : \max_c \texttt{probs}[e, n, c] \ge \tau_e \,\}, \qquad \text{or } E-1.$$
#
# Note the direction (high confidence exits, where low entropy did) and the comparison `>=`: a threshold of 1 still lets a *certain* prediction out, a threshold above 1 closes the exit. The max-probability and the entropy rule agree on clear cases and differ on distributions whose top class is moderate but whose remaining mass is concentrated or spread.
#
# **Your task.** `confidence_exit_decisions(probs, thresholds)`, with the same shapes and errors as exercise 2.

# %% exercise="confidence_exit_decisions"
# `course build` fills this cell from reference_impl: the exercise confidence_exit_decisions

# %% [markdown] name="md_expected_cost"
# ## Exercise 4 — the average cost of an early-exit network
#
# Let `cost_per_exit[e]` be the **cumulative** cost (here: multiply–accumulates, MACs) of obtaining exit $e$'s answer: all layers up to that exit *and* every exit classifier evaluated on the way (a sample that reached exit 2 paid for the classifiers of exits 0 and 1 too, and learned from them only that it had to go on). The average cost over a data set is
#
# $$\bar c = \frac1N \sum_n \texttt{cost\_per\_exit}[\mathrm{exit}_n].$$
#
# Together with the accuracy of the answers actually given, this is one point on the accuracy–compute curve; sweeping the thresholds traces the curve.
#
# **Your task.** `expected_cost(exits, cost_per_exit)` as a Python float; `ValueError` for an empty or non-integer `exits`, an index outside $[0, E)$ or a negative cost.

# %% exercise="expected_cost"
# `course build` fills this cell from reference_impl: the exercise expected_cost

# %% [markdown] name="md_branchy_loss"
# ## Exercise 5 — training all exits at once
#
# BranchyNet trains the exits jointly, minimising a weighted sum of their losses (Teerapittayanon et al. 2016):
#
# $$L = \sum_{e=0}^{E-1} w_e \, \mathrm{CE}(z_e, y), \qquad \mathrm{CE}(z, y) = -\frac1N \sum_n \log \mathrm{softmax}(z_n)_{y_n}.$$
#
# The early exits' gradients flow into the shared early layers, so a large $w_0$ makes the first layers serve the first classifier at some cost to the last one. Compute the log-softmax with the row maximum subtracted (log-sum-exp) so that logits of $\pm 10^4$ give a large *finite* loss.
#
# **Your task.** `branchy_loss(logits, labels, weights)` for `logits` of shape `(E, N, C)`, integer `labels` `(N,)` and non-negative `weights` `(E,)`; a Python float.

# %% exercise="branchy_loss"
# `course build` fills this cell from reference_impl: the exercise branchy_loss

# %% [markdown] name="md_skip_gate_forward"
# ## Exercise 6 — SkipNet's hard gate
#
# SkipNet computes, from a residual block's input, a gate logit $z$ (a tiny layer) and decides whether to run the block:
#
# $$m = \mathbb{1}[\sigma(z) \ge \tfrac12] \in \{0, 1\}, \qquad \sigma(z) = \frac{1}{1 + e^{-z}}.$$
#
# A hard decision is what saves computation: a soft gate $\sigma(z) = 0.03$ would still need the block's output. Since $\sigma(z) \ge 1/2 \iff z \ge 0$, the comparison can be done on $z$ itself, which also avoids $\sigma(-10^{-20})$ rounding to exactly $0.5$. At $z = 0$ exactly, the block runs.
#
# **Your task.** `skip_gate_forward(gate_logits)` returning a float64 array of 0.0 and 1.0 of the input's shape; `ValueError` for non-finite logits.

# %% exercise="skip_gate_forward"
# `course build` fills this cell from reference_impl: the exercise skip_gate_forward

# %% [markdown] name="md_skip_block_output"
# ## Exercise 7 — the gated residual block
#
# With the gate $m_n$ of sample $n$, the block's output is
#
# $$y_n = m_n \, f(x)_n + (1 - m_n)\, x_n ,$$
#
# the block's result where it ran and the input — the identity shortcut of the residual block — where it was skipped (SkipNet). The gate is one number per sample and multiplies all of that sample's features: broadcast `m` of shape `(N,)` against `x` of shape `(N, ...)`. During training with a soft relaxation $m_n \in (0, 1)$ mixes the two.
#
# **Your task.** `skip_block_output(x, fx, m)`; `ValueError` on a shape mismatch or a gate outside $[0, 1]$.

# %% exercise="skip_block_output"
# `course build` fills this cell from reference_impl: the exercise skip_block_output

# %% [markdown] name="md_ste_gate_grad"
# ## Exercise 8 — the straight-through gradient
#
# The step function $m = \mathbb{1}[z \ge 0]$ has derivative 0 everywhere except at 0: backpropagation through it tells the gate nothing. The **straight-through estimator** (Bengio et al. 2013) keeps the hard step in the forward pass and pretends, in the backward pass, that the gate was its sigmoid:
#
# $$\frac{\partial L}{\partial z} \approx \sigma'(z)\, \frac{\partial L}{\partial m}, \qquad \sigma'(z) = \sigma(z)\,(1 - \sigma(z)) = \frac{e^{-|z|}}{(1 + e^{-|z|})^2}.$$
#
# The last form never overflows (`np.exp(1000)` is `inf`; `np.exp(-1000)` is just 0) and shows that $\sigma'$ is symmetric, at most $1/4$ at $z = 0$, and vanishes for confident gates. In PyTorch the trick is one line, `m = hard + (s - s.detach())` with `s = torch.sigmoid(z)`: the value is `hard`, the gradient is that of `s`.
#
# **Your task.** `ste_gate_grad(gate_logits, upstream)` returning $\sigma'(z) \cdot$ `upstream`; `ValueError` if the shapes differ.

# %% exercise="ste_gate_grad"
# `course build` fills this cell from reference_impl: the exercise ste_gate_grad

# %% [markdown] name="md_switch_route"
# ## Exercise 9 — Switch routing with a capacity
#
# A Switch layer has $E$ expert MLPs and a router that gives each token $t$ logits $r_t \in \mathbb{R}^E$. The token goes to **one** expert, the top-1 choice $\arg\max_i r_{t,i}$ (ties to the lowest index). To keep tensor shapes static, each expert processes at most
#
# $$\text{capacity} = \left\lceil \text{capacity\_factor} \cdot \frac{T}{E} \right\rceil$$
#
# tokens of a batch of $T$. Tokens are served in their order in the batch; once an expert is full, later tokens that choose it **overflow**: they are *dropped*, i.e. not processed by any expert, and continue unchanged on the residual connection (Fedus et al. 2021, sec. 2.2). A factor of 1 leaves no slack — any imbalance drops tokens —, a larger factor wastes padding.
#
# A vectorised way to find each token's place in its expert's queue is a cumulative sum over the one-hot choices; a loop with a counter per expert is just as correct.
#
# **Your task.** `switch_route(router_logits, capacity_factor)` returning int64 `(T,)`: each token's expert, or `-1` if dropped; `ValueError` for a factor that is not a finite number $> 0$.

# %% exercise="switch_route"
# `course build` fills this cell from reference_impl: the exercise switch_route

# %% [markdown] name="md_load_balancing_loss"
# ## Exercise 10 — the load-balancing loss
#
# Nothing stops a router from sending most tokens to the same few experts, which then overflow while the others idle. The Switch Transformer adds (Fedus et al. 2021, eq. 4–6)
#
# $$\mathcal{L}_\text{balance} = E \sum_{i=1}^{E} f_i \, P_i, \qquad f_i = \frac1T \sum_t \mathbb{1}[\arg\max r_t = i], \qquad P_i = \frac1T \sum_t \mathrm{softmax}(r_t)_i .$$
#
# $f_i$ (the share of tokens routed to expert $i$) has no gradient; $P_i$ (the router's mean probability for $i$) does, and the product pushes probability away from overloaded experts. Under perfectly balanced routing $f_i = P_i = 1/E$ and the loss is 1; if every token goes to one expert with certainty it is $E$. The paper multiplies it by $\alpha = 10^{-2}$ in the training loss; this function returns it without $\alpha$.
#
# **Your task.** `load_balancing_loss(router_logits)` for logits `(T, E)`, a Python float.

# %% exercise="load_balancing_loss"
# `course build` fills this cell from reference_impl: the exercise load_balancing_loss

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. The networks and training loops are in `labkit.dynamic` (small MLPs, Adam, deterministic for a seed); the decisions — which exit, which gate, which expert — are taken by **your** functions wherever the NumPy version is natural.
#
# **Set-up.**
#
# * **Data:** the easy/hard synthetic set (`labdatasets.make_easy_hard`: two classes in 2-D, "easy" points far from the boundary, "hard" ones within 0.5 of it, a third of them on the wrong side) and the 8×8 digits split 1,078 / 359 / 360. Reported numbers are *test* numbers.
# * **Cost** is counted in multiply–accumulates (MACs) of the Linear layers per sample; biases, activations and the softmax are ignored.
# * **Seeds:** the early-exit networks on digits are trained with seeds 0, 1, 2 (mean ± std); the gate and routing experiments use seed 0 only, to keep the lab within its time budget — their differences should be read with that in mind.
# * Architectures, learning rates and epochs were fixed by the lab authors in a short pilot and are not tuned per setting.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab06, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab06.Config.quick() if quick_mode() else lab06.Config()
figures = Figures()  # what the experiments measured, by name: the answers quote these
data = digits_splits(seed=0)

# %% [markdown] name="md_exp_easy_hard"
# ## Which samples leave early? The easy/hard set
#
# A 3-exit MLP (2 → 16 → 32 → 32, an exit after each layer) is trained with BranchyNet's loss (all weights 1) on 2,000 points and tested on 1,000. With the entropy threshold at 0.2 nats at both early exits (the maximum for 2 classes is $\log 2 \approx 0.69$), your `exit_decisions` sends each test point to an exit. The table splits the exits by the generator's easy/hard label, which the network never saw.

# %% name="exp_easy_hard"
# Uses YOUR entropy and exit_decisions (exercises 1 and 2).
if ready({1: entropy, 2: exit_decisions}):
    lab06.easy_hard(entropy, exit_decisions, cfg, figures)

# %% [markdown] name="md_exp_digits"
# ## Early exits on the digits: accuracy against compute
#
# A 3-exit MLP 64 → 32 → 128 → 128 with an exit (Linear to 10 classes) after each hidden layer. The first exit is cheap, the last one costs ten times as much. Two training losses, 3 seeds each:
#
# * **BranchyNet**: `branchy_loss` with weights (1, 1, 1) (its torch twin);
# * **self-distillation** (Zhang et al. 2019, without their feature-hint term): the last exit trained with cross-entropy, each earlier exit with $0.5\,\mathrm{CE} + 0.5\,T^2\,\mathrm{KL}(p_\text{last} \| p_e)$ at $T = 3$.

# %% name="exp_digits_train"
probs, COSTS = lab06.train_exits(data, cfg, figures)  # (E, 360, 10) per (method, seed); MACs per exit

# %% name="exp_tradeoff"
# Uses YOUR exit_decisions, confidence_exit_decisions and expected_cost (exercises 2, 3 and 4).
if ready({2: exit_decisions, 3: confidence_exit_decisions, 4: expected_cost}):
    curves = lab06.tradeoff(exit_decisions, confidence_exit_decisions, expected_cost, probs, COSTS, data.y_test, cfg,
                            figures)

# %% [markdown] name="md_exp_histogram"
# ### The exit histogram
#
# At one operating point — entropy threshold 0.1 nats, BranchyNet training, seed 0 — how many test digits leave at each exit, and how accurate is each group? The images are the three digits with the *highest* exit-0 entropy among those sent to the last exit.

# %% name="exp_histogram"
# Uses YOUR entropy, exit_decisions and expected_cost (exercises 1, 2 and 4).
if ready({1: entropy, 2: exit_decisions, 4: expected_cost}):
    lab06.exit_histogram(entropy, exit_decisions, expected_cost, probs["branchy", cfg.seeds[0]], COSTS, data,
                         figures)

# %% [markdown] name="md_exp_gates"
# ## Skipping blocks: gate training
#
# A residual MLP: stem 64 → 64, four gated residual blocks $h \mapsto h + W_2\,\mathrm{relu}(W_1 h)$ (64 → 64 → 64, 8,192 MACs each), classifier 64 → 10. Each block has a gate $z = w^\top h + b$ with the hard forward / sigmoid backward of exercises 6 and 8. The loss is
#
# $$\mathrm{CE} + \lambda \cdot \overline{m},$$
#
# where $\overline{m}$ is the share of executed blocks in the batch: a price per block. $\lambda = 0$ gives the gates no reason to skip or to run. (SkipNet itself uses a similar compute penalty, with reinforcement learning for the gates in its second stage.)

# %% name="exp_gates"
gated = lab06.train_gates(data, cfg, figures)  # lambda -> trained GatedResidualMLP

# %% [markdown] name="md_exp_gates_numpy"
# The same network, run in NumPy with **your** `skip_gate_forward` and `skip_block_output`, should give exactly the decisions of the torch model; and your `ste_gate_grad` should be the gradient that torch's straight-through trick sends into the gate logits.

# %% name="exp_gates_numpy"
# Uses YOUR skip_gate_forward and skip_block_output (exercises 6 and 7), then ste_gate_grad (exercise 8).
if ready({6: skip_gate_forward, 7: skip_block_output}):
    lab06.gates_against_torch(skip_gate_forward, skip_block_output, gated[0.2], data.X_test)
if ready({8: ste_gate_grad}):
    lab06.ste_against_autograd(ste_gate_grad)

# %% [markdown] name="md_exp_routing"
# ## Experts: routing with and without the load-balancing loss
#
# A one-layer Switch MLP: embedding 64 → 32, a Switch layer with $E = 4$ experts (each 32 → 64 → 32), classifier 32 → 10. Every image is a token; a batch of 64 images is the unit over which capacity is counted (capacity factor 1.25 in training). The loss is $\mathrm{CE} + \alpha \cdot \mathcal{L}_\text{balance}$ with $\alpha \in \{0, 0.01, 0.1\}$ (0.01 is the paper's value). After training, the test set is routed in batches of 64 with **your** `switch_route` at several capacity factors; **your** `load_balancing_loss` measures the balance.

# %% name="exp_routing"
# Uses YOUR switch_route and load_balancing_loss (exercises 9 and 10).
if ready({9: switch_route, 10: load_balancing_loss}):
    lab06.routing(switch_route, load_balancing_loss, data, cfg, figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab06')}")

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — who leaves early.** On the easy/hard set, which points left at exit 0, and which went to the end? Do the hard points that go to the end get *more accurate* answers there than exit 0 would have given? What does that say about what the entropy rule detects — difficulty for this network, or difficulty that depth can fix?

# %% [markdown] answer="answer_1"
# Every easy point (501 of 501) left at exit 0: exit 0's mean entropy on them is 0.003 nats, far below the threshold of 0.2. The hard points mostly travelled to the end: 0.8% left at exit 0, 15.8% at exit 1 and 83.4% at exit 2 (mean exit-0 entropy 0.570, close to the maximum log 2 = 0.693). So the rule does separate the two groups, without ever seeing the easy/hard labels.
#
# The trip to the end buys nothing, though. On the hard points the network's answer is right 0.675 of the time — about the Bayes rate of 2/3 for this generator, where a third of the hard points lie on the wrong side of the true boundary — and the three exits are almost equally accurate on the whole test set (0.827, 0.827, 0.838). The entropy measures how unsure *this* classifier is, and here that uncertainty is in the data (label noise near the boundary), not something more layers can resolve. The rule spends the full network on exactly the points where the extra computation is useless. Deciding whether depth *would* help needs more than the current exit's confidence: for example a learned exit policy, or thresholds tuned for each exit on validation data.

# %% [markdown] name="md_question_2"
# **Question 2 — the accuracy–compute curve.** On the digits, what average cost does the entropy rule reach without losing accuracy against the last exit, and what share of the full network's MACs is that? Compare the per-exit accuracies: does the BranchyNet premise that deeper exits are more accurate hold on this data set, and how does that shape the curve? Where does the saving come from, then?

# %% [markdown] answer="answer_2"
# The per-exit accuracies of the BranchyNet-trained networks are 0.956 ± 0.007, 0.963 ± 0.007 and 0.956 ± 0.007: the deepest exit is *not* more accurate than the first. The differences are at most 0.007, about 2.5 test images, within the seed spread and well within the binomial standard error of about 0.011 at 360 images. So there is no trade-off to trace. The entropy rule keeps the last exit's accuracy (0.956) at every threshold and pushes the cost down: 5,360 MACs (21% of the 25,408 of the full network) at 0.3 nats, 2,795 MACs (11%) at 1.0 nats. With every sample at exit 0 it costs 2,368 MACs (9%), still at 0.956.
#
# The premise of BranchyNet, that later exits are more accurate so that the thresholds buy accuracy with computation, does not hold on the 8×8 digits: one hidden layer of 32 units already reaches the accuracy of the deep part. The saving is real, but a static network made of stage 0 and exit 0 gets the same. On ResNets on CIFAR or ImageNet the shallow exits are clearly weaker, the curve rises with MACs, and the exit rule earns its keep by spending the deep layers only on the inputs that need them. Here the experiment shows the mechanism (the cost falls with the threshold, and the exit histogram below has 44% of the digits at exit 0 and 12% at exit 2 at 0.1 nats) but not the benefit.

# %% [markdown] name="md_question_3"
# **Question 3 — entropy or confidence, BranchyNet or self-distillation.** Compare the two exit rules on the same networks, and the two training losses at each exit. Did self-distillation help the shallow exits here, as Zhang et al. report for ResNets on CIFAR? Give a reason why it might not at this scale.

# %% [markdown] answer="answer_3"
# On the same networks the two rules give nearly the same curves. For BranchyNet at accuracy 0.956, confidence ≥ 0.95 costs 5,856 MACs and entropy < 0.3 costs 5,360. The confidence rule's best point, 0.964 ± 0.008 at threshold 0.6, is within one standard deviation of the rest. For a 10-class prediction that is nearly one-hot, both statistics say the same thing; they differ only on moderate predictions, which are rare here.
#
# Self-distillation did *not* help. Its exits reach 0.945 ± 0.003, 0.937 ± 0.009 and 0.921 ± 0.027, each lower than the BranchyNet networks' exits (0.956, 0.963, 0.956), and the later the exit, the lower and the more variable across seeds (the final exit's spread is four times BranchyNet's). Zhang et al.'s gains do not reproduce at this scale, for reasons the set-up makes plausible. (i) The teacher (the final exit) is no better than the students, so its soft targets carry no knowledge the shallow exits lack. (ii) With α = 0.5 the shallow exits see the labels at half weight and partly imitate the teacher's early, still-wrong predictions: the teacher trains at the same time. (iii) Only the final exit's cross-entropy has full weight, so the shared first layers get less direct label signal than with BranchyNet's three equal CE terms. (iv) The paper's ResNets have deep, over-parameterised backbones and add feature-hint losses that we left out.

# %% [markdown] name="md_question_4"
# **Question 4 — gates.** How does the executed share of blocks change with $\lambda$, and what does it cost in accuracy? Which blocks are dropped first? Why does $\lambda = 0$ not simply execute every block, and why does the straight-through estimator give the gate a useful signal although the forward pass is a step function?

# %% [markdown] answer="answer_4"
# With the compute penalty the gates learn to skip. At λ = 0 the executed shares of blocks 1–4 are [1, 0.531, 1, 1] (33,914 MACs of 37,760 with every block); at λ = 0.05 [0.856, 0.097, 0.706, 0.822] (25,313); at λ = 0.2 [0.483, 0, 0.378, 0.669] (17,530); at λ = 0.5 [0, 0, 0.281, 0.539] (11,705, 31% of the full cost). Accuracy shows no systematic cost: 0.972, 0.942, 0.969, 0.969. The dip at λ = 0.05 is 11 test images, with one seed, and not monotone in λ: the two larger penalties, which skip more, are back at 0.969. The digits are simply easy enough for the stem and the classifier (together a one-hidden-layer MLP) plus a fraction of one block. Block 2 goes first (it was already skipped for half the digits at λ = 0); blocks 1 and 3 are thinned next, and at λ = 0.5 block 1 is gone entirely. The last block is kept longest and then runs only for about half the digits: the gates skip per input, not per block.
#
# At λ = 0 nothing asks the network to use a block. The gate only follows the cross-entropy, and a block that does not lower it, like block 2, is skipped for many inputs at no cost. The straight-through gradient is useful because the upstream gradient at the gate is ∂L/∂m = ⟨∂L/∂y, f(x) − x⟩, a first-order estimate of how much running the block changes the loss for this input. Multiplying it by σ'(z) instead of the step's zero derivative moves the gate's logit in the right direction. The estimate is biased (it pretends m is continuous) and is strongest for undecided gates near z = 0, which are the ones that can still flip.

# %% [markdown] name="md_question_5"
# **Question 5 — experts.** Without the load-balancing loss, how is the load spread over the 4 experts, and what is the balance loss? What happens to dropped tokens as the capacity factor grows, with and without the auxiliary loss? Why does accuracy barely depend on the number of dropped tokens in this network, and why would it in a deep Switch Transformer?

# %% [markdown] answer="answer_5"
# Without the auxiliary loss (α = 0) the router sends 70.3% of the test tokens to one expert, 29.7% to a second and none to the other two; the balance loss is 2.270 (1 is perfect, 4 the maximum). The paper's α = 0.01 only evens out the two used experts (0.472 / 0.528, loss 1.955): two experts stay dead. α = 0.1 balances all four (0.25, 0.231, 0.283, 0.236; loss 1.006). The right α depends on the scale of the main loss and on the training length; the paper's value does not transfer to this toy.
#
# Dropped tokens follow the imbalance. At capacity factor 1 the shares dropped are 0.503, 0.500 and 0.092 for α = 0, 0.01, 0.1; at the training factor 1.25 they are 0.400, 0.372 and 0.019; at 2.0 they are 0.203, 0.061 and 0. With 70% of the tokens wanting one expert, nothing is dropped only once ⌈cf · 64/4⌉ ≥ 0.7 · 64, i.e. cf ≥ 2.8: the measured drop is 0 at cf = 4 for every α. Balanced routing makes a factor of 1.25–1.5 enough.
#
# Accuracy hardly moves with the drop rate (0.953–0.975 over every setting but one; α = 0 still gets 0.961 with 75% of the tokens dropped at cf 0.5). A dropped token is not lost here: it goes on the residual path through the embedding and the classifier, which alone make a decent digit classifier, so the expert layer adds little. The one visible cost is at α = 0.1, cf = 0.5 (0.922): the balanced model relies on its experts more. In a deep Switch Transformer the experts are the feed-forward layers of every block, which hold most of the parameters and much of the computation. A dropped token skips that computation in that layer, and over many layers and a large share of tokens the quality loss adds up. This is why the paper tunes the capacity factor and keeps the balance loss.
