# %% [markdown] name="md_title"
# # Lab 2 — Knowledge distillation II: teachers, assistants, hints, relations and cohorts
#
# Lab 1 distilled a teacher's *output distribution* into a student with Hinton's loss. This lab asks the two questions the lectures ask next:
#
# * **What to distil.** Not only the logits: a hidden layer's activations (*hints*, FitNets — Romero et al., ICLR 2015), *where* a convolutional network looks (attention transfer — Zagoruyko & Komodakis, ICLR 2017), or the *relations* between samples — distances and angles in the embedding (relational KD — Park, Kim, Lu & Cho, CVPR 2019).
# * **Who teaches.** A much larger teacher, or a *teacher assistant* of intermediate size in between (TAKD — Mirzadeh et al., AAAI 2020); an ensemble of teachers; no teacher at all but a cohort of peers learning together (deep mutual learning, DML — Zhang, Xiang, Hospedales & Lu, CVPR 2018); a moving average of the student itself (the "mean"/"momentum" teacher — Tarvainen & Valpola, NeurIPS 2017); the network's own deepest layer teaching its shallow exits (self-distillation — Zhang et al., ICCV 2019); or the same architecture, generation after generation (born-again networks — Furlanello et al., ICML 2018).
#
# In this lab you
#
# 1. **write** (graded) nine NumPy functions: the FitNets hint loss, attention maps and the attention-transfer loss, the two relational losses, the losses of a DML cohort, an ensemble's soft targets, an EMA teacher update and the self-distillation loss;
# 2. **run** (not graded) experiments on the 8×8 digits in the data-scarce regime of Lab 1 (5 labelled images per class; the teachers see all 1,078 training images): teacher size against student accuracy, no KD vs baseline KD vs TAKD, FitNets and RKD against plain KD on a thin student, DML cohorts of 2 and 4, an EMA teacher, the students' loyalty to their teachers, born-again generations, self-distilled exits of one network, and attention transfer between small CNNs — each over several seeds, mean ± std;
# 3. **interpret** what you measured.
#
# **How the exercises work.** As in Lab 1: replace each exercise cell's body, use only `numpy` (imported as `np` below) and, where the text says so, your earlier functions of *this* lab (the grader runs this lab's cells only, so Lab 1's functions are not available: write the few lines of a stable log-softmax again where you need one). Do not change the signatures. `course check <this notebook>` runs the public checks.
#
# The experiments use PyTorch on the CPU and take about two minutes.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_hint_loss"
# ## Exercise 1 — FitNets hint loss
#
# Romero et al. train a student that is *thinner and deeper* than its teacher. Output-level KD alone gave them a poor optimisation problem for deep thin nets, so they first train the student's lower half to reproduce a hidden layer of the teacher — the **hint** — and only then train the whole student with KD (a two-stage schedule). The student's *guided layer* $v$ is thinner than the teacher's hint $u$ ($D_s < D_t$), so a small learned **regressor** $r$ maps it into the teacher's space; for vectors it is linear, $r(v) = vW + b$ (for feature maps of different sizes, FitNets use a convolution):
#
# $$\mathcal{L}_{\text{hint}} = \frac1N \sum_{n=1}^N \tfrac12 \big\| u_n - r(v_n) \big\|_2^2 .$$
#
# The regressor is thrown away after stage 1. Convention: the squared norm is summed over the $D_t$ features and averaged over the batch.
#
# **Your task.** `hint_loss(teacher_features, student_features, W, b=None)` returning a Python `float`; `ValueError` if `W` is not $(D_s, D_t)$, `b` not $(D_t,)$, or the batch sizes differ.

# %% exercise="hint_loss"
# `course build` fills this cell from reference_impl: the exercise hint_loss

# %% [markdown] name="md_attention_map"
# ## Exercise 2 — attention maps
#
# For a convolutional layer with activations $f \in \mathbb{R}^{C \times H \times W}$, Zagoruyko & Komodakis define a *spatial attention map* by collapsing the channels:
#
# $$Q = \frac1C \sum_{c=1}^{C} |f_c|^p \in \mathbb{R}^{H \times W}, \qquad a = \frac{\operatorname{vec}(Q)}{\|\operatorname{vec}(Q)\|_2}.$$
#
# Large values mark positions where many channels fire strongly — where the network "looks". $p > 1$ emphasises the most active positions (the paper uses $p = 2$). The normalisation matters: teacher and student layers differ in channel count and activation scale, and after normalising only the *shape* of the map is compared (whether you average or sum over channels makes no difference after normalising). Flatten in row-major order (`reshape(N, -1)`), so position $(i, j)$ lands at index $iW + j$. A map that is zero everywhere has no direction: return zeros for it, not `nan`.
#
# **Your task.** `attention_map(features, p=2.0)` for features $(N, C, H, W)$, returning $(N, H \cdot W)$ float64; `ValueError` if the input is not 4-D or $p$ is not a finite number $> 0$.

# %% exercise="attention_map"
# `course build` fills this cell from reference_impl: the exercise attention_map

# %% [markdown] name="md_attention_transfer_loss"
# ## Exercise 3 — attention transfer
#
# The student is trained to attend where the teacher attends, at one or more layers whose *spatial* sizes agree:
#
# $$\mathcal{L}_{AT} = \frac1N \sum_{n} \big\| a_{s,n} - a_{t,n} \big\|_2^2 .$$
#
# The channel counts of the two layers may differ — that is the point of collapsing the channels. (The paper writes the unsquared norm; its reference code squares the difference, as here, and averages over positions as well; we sum over positions and average over the batch.) Because both maps are non-negative unit vectors, each term lies in $[0, 2]$: 0 for the same attention, 2 for attention on disjoint positions.
#
# **Your task.** `attention_transfer_loss(student_features, teacher_features, p=2.0)`, a Python `float`, built from your `attention_map`; `ValueError` when $N$, $H$ or $W$ differ.

# %% exercise="attention_transfer_loss"
# `course build` fills this cell from reference_impl: the exercise attention_transfer_loss

# %% [markdown] name="md_rkd_distance_loss"
# ## Exercise 4 — relational KD: distances
#
# Park et al. argue that what a teacher knows is better described by how it *relates* samples to one another than by each output alone. For a batch of embeddings $t_1, \dots, t_N$ (a hidden layer, or the logits), the **distance-wise potential** is the pairwise distance divided by the batch's mean distance,
#
# $$\psi_D(t_i, t_j) = \frac{\|t_i - t_j\|_2}{\mu_t}, \qquad \mu_t = \frac{2}{N(N-1)} \sum_{i<j} \|t_i - t_j\|_2,$$
#
# and the loss compares the student's potentials with the teacher's through the robust Huber ("smooth-L1", $\delta = 1$) loss:
#
# $$\mathcal{L}_{RKD\text{-}D} = \frac{2}{N(N-1)} \sum_{i<j} \ell_\delta\big(\psi_D(s_i, s_j) - \psi_D(t_i, t_j)\big), \qquad \ell_\delta(x) = \begin{cases} x^2/2 & |x| < 1 \\ |x| - 1/2 & \text{otherwise.} \end{cases}$$
#
# Each side is normalised by *its own* mean distance, so the embeddings may have different dimensions and scales; the loss is unchanged if either embedding is scaled, rotated or translated. Convention: the mean is over the $N(N-1)/2$ distinct pairs (the paper's code also averages the zero diagonal in). `np.triu_indices(N, k=1)` lists the pairs $i < j$.
#
# **Your task.** `rkd_distance_loss(student_embeddings, teacher_embeddings)` for $(N, D_s)$ and $(N, D_t)$, a Python `float`; `ValueError` if $N < 2$, the batch sizes differ, or one side's embeddings all coincide (mean distance 0).

# %% exercise="rkd_distance_loss"
# `course build` fills this cell from reference_impl: the exercise rkd_distance_loss

# %% [markdown] name="md_rkd_angle_loss"
# ## Exercise 5 — relational KD: angles
#
# The **angle-wise potential** of a triple is the cosine of the angle at the middle sample,
#
# $$\psi_A(t_i, t_j, t_k) = \langle e_{ij}, e_{kj} \rangle, \qquad e_{ij} = \frac{t_i - t_j}{\|t_i - t_j\|_2},$$
#
# and the loss is the mean Huber loss of the differences over ordered triples of **distinct** indices ($N(N-1)(N-2)$ of them):
#
# $$\mathcal{L}_{RKD\text{-}A} = \operatorname{mean}_{i, j, k \text{ distinct}} \; \ell_\delta\big(\psi_A(s_i, s_j, s_k) - \psi_A(t_i, t_j, t_k)\big).$$
#
# Angles are a higher-order relation than distances: they describe the *shape* of each triangle of samples and ignore scale, rotation and translation. If two samples have the same embedding, $e_{ij}$ has no direction: give it cosine 0 with everything (PyTorch's `F.normalize` does the same). All $N^3$ cosines at once: the differences `e[:, None] - e[None, :]` have shape $(N, N, D)$, and `np.einsum("ijd,kjd->ijk", u, u)` gives the cosine at vertex $j$.
#
# **Your task.** `rkd_angle_loss(student_embeddings, teacher_embeddings)`, a Python `float`; `ValueError` if $N < 3$ or the batch sizes differ. The experiments train with Park et al.'s combination $\mathcal{L}_{KD} + \beta_D \mathcal{L}_{RKD\text{-}D} + \beta_A \mathcal{L}_{RKD\text{-}A}$ with $\beta_D = 1$, $\beta_A = 2$.

# %% exercise="rkd_angle_loss"
# `course build` fills this cell from reference_impl: the exercise rkd_angle_loss

# %% [markdown] name="md_dml_losses"
# ## Exercise 6 — deep mutual learning
#
# DML drops the pre-trained teacher. $K$ students train *together*, and each learns from the labels and from its peers' current predictions:
#
# $$\mathcal{L}_k = \mathrm{CE}(z_k, y) + \frac{1}{K-1} \sum_{j \neq k} \frac1N \sum_n \mathrm{KL}\big(p_{j,n} \,\|\, p_{k,n}\big), \qquad p = \mathrm{softmax}(z).$$
#
# The peers' distributions are the *targets*, so they come first in the KL (in training they are constants: no gradient flows into the peer). Zhang et al. report that even two students of the same architecture both end up better than one trained alone — a teacher is not needed for the soft-target effect. With $K = 1$ there are no peers and $\mathcal{L}_1$ is the cross-entropy. Compute everything from stable log-softmaxes (subtract each row's maximum) so that logits of $\pm 10^4$ give large finite losses.
#
# **Your task.** `dml_losses(cohort_logits, labels)` for logits $(K, N, C)$ and integer labels $(N,)$, returning the $K$ losses as a float64 array of shape $(K,)$; `ValueError` on a shape mismatch or a label outside $[0, C)$.

# %% exercise="dml_losses"
# `course build` fills this cell from reference_impl: the exercise dml_losses

# %% [markdown] name="md_ensemble_soft_targets"
# ## Exercise 7 — an ensemble of teachers
#
# Several teachers can teach together: their soft targets are averaged (Hinton et al., 2015, distilled an ensemble this way),
#
# $$p_n = \sum_{m=1}^{M} w_m \, \mathrm{softmax}(z_{m,n} / T), \qquad w_m \ge 0, \ \textstyle\sum_m w_m = 1,$$
#
# uniform $w_m = 1/M$ by default; given weights are normalised to sum to 1. Average **probabilities**, not logits: two confident teachers that disagree (one sure of class 3, one of class 5) should give 1/2 on each, while the softmax of their averaged logits would still be sure of one class. Lab 1's `majority_vote_accuracy` showed why an ensemble helps when its members err differently; the hard-label version of an ensemble is a majority vote of the argmaxes.
#
# **Your task.** `ensemble_soft_targets(teacher_logits, T=1.0, weights=None)` for logits $(M, N, C)$, returning $(N, C)$ probabilities; `ValueError` for a bad $T$ or bad weights (wrong length, a negative entry, zero sum).

# %% exercise="ensemble_soft_targets"
# `course build` fills this cell from reference_impl: the exercise ensemble_soft_targets

# %% [markdown] name="md_ema_update"
# ## Exercise 8 — the momentum (EMA) teacher
#
# A teacher does not have to be trained at all. The *mean teacher* of Tarvainen & Valpola keeps an exponential moving average of the student's weights and updates it after every optimiser step,
#
# $$\theta_{\text{teacher}} \leftarrow m\, \theta_{\text{teacher}} + (1 - m)\, \theta_{\text{student}}, \qquad m \in [0, 1];$$
#
# the same update drives MoCo's momentum encoder and DINO's teacher. The average of recent students is smoother than any one of them (it averages out the noise of the last steps), and it can then serve as a teacher for the student. After $k$ steps towards a fixed student, the gap shrinks by $m^k$; $m = 1$ freezes the teacher and $m = 0$ copies the student.
#
# **Your task.** `ema_update(teacher_params, student_params, momentum=0.99)` for two arrays of one shape (any shape), returning the new teacher array; `ValueError` for a momentum outside $[0, 1]$ or different shapes.

# %% exercise="ema_update"
# `course build` fills this cell from reference_impl: the exercise ema_update

# %% [markdown] name="md_self_distillation_loss"
# ## Exercise 9 — self-distillation ("be your own teacher")
#
# Zhang et al. (ICCV 2019) attach classifiers ("exits") at several depths of one network and let the **deepest** exit teach the shallower ones, within a single training run. With exits $i = 1, \dots, E$ ordered shallow to deep, logits $z_i$ and features $F_i$ (brought to one size $D$):
#
# $$\mathcal{L} = \mathrm{CE}(z_E, y) + \sum_{i < E} \Big[ (1 - \alpha)\,\mathrm{CE}(z_i, y) + \alpha\, T^2\, \frac1N \sum_n \mathrm{KL}\big(p_{E,n} \,\|\, p_{i,n}\big) + \lambda\, \frac1N \sum_n \|F_{i,n} - F_{E,n}\|_2^2 \Big], \quad p = \mathrm{softmax}(z / T).$$
#
# The deepest exit learns from the labels only; each shallow exit learns from the labels, from the deepest exit's softened predictions (Hinton's KD term, with the $T^2$ of Lab 1) and from its features (a hint, as in exercise 1). The payoff is a network that can stop early (Lab 6's dynamic inference) with accurate shallow exits. With $E = 1$ the loss is the cross-entropy.
#
# **Your task.** `self_distillation_loss(exit_logits, exit_features, labels, T=3.0, alpha=0.3, lam=0.03)` for logits $(E, N, C)$, features $(E, N, D)$ and labels $(N,)$, a Python `float`; `ValueError` for mismatched shapes, a bad label, $T \le 0$, $\alpha \notin [0, 1]$ or $\lambda < 0$.

# %% exercise="self_distillation_loss"
# `course build` fills this cell from reference_impl: the exercise self_distillation_loss

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. The cells train small PyTorch MLPs (and, in section 8, small CNNs) with `labkit.training` (Adam, mini-batches of 64, deterministic for a seed), Lab 1's `kd_loss_torch`, and `labkit.distillation_ii` — the torch twins of your exercises and a training loop for losses that need hidden features or several networks at once. Each section's procedure, called with your functions, is in `labkit/experiments/lab02.py`.
#
# **Set-up.**
#
# * **Data:** the 8×8 digits, the course's stratified split (1,078 train / 359 val / 360 test). **Teachers** are trained on all 1,078 training images. **Students** see only **5 labelled images per class** (50 images, a different random draw per seed) — the regime in which Lab 1 found that distillation helps; on the full training set it did not.
# * **Students** get the same number of Adam steps (400) whatever the method, learning rate $10^{-2}$; KD is Hinton's loss at $T = 4$, $\alpha = 0.9$ throughout.
# * **Seeds:** 3 per setting (5 for the TAKD comparison, whose differences are small). A seed fixes the student's initial weights and which 50 images it sees, so methods are compared *paired*: the "gain" columns are means over seeds of (method − baseline) for the same seed. ± is the standard deviation over seeds (ddof = 0). One test image is 1/360 ≈ 0.003 of accuracy.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab02, quick_mode, ready

torch.set_num_threads(1)  # tiny networks: threads cost more than they save (and results repeat bit for bit)
LAB_START = time.perf_counter()
cfg = lab02.Config.quick() if quick_mode() else lab02.Config()  # COURSE_QUICK=1: a tiny size (the tests)
figures = Figures()  # what the experiments measured, by name: the answers quote these
data = digits_splits(seed=0)
lab = lab02.Lab(data, cfg)  # the students' recipe and the teachers (each trained once, then cached)
print({name: arr.shape for name, arr in data._asdict().items()})

# %% [markdown] name="md_sanity"
# ## Sanity check: your functions against the torch losses used for training
#
# The experiments backpropagate through `labkit.distillation_ii`'s torch losses. On real data — hidden features of an untrained student and of a trained teacher for 32 training images — your NumPy functions should agree with them to float64 rounding.

# %% name="exp_sanity"
# Uses YOUR hint_loss, rkd_distance_loss, rkd_angle_loss and dml_losses.
if ready({1: hint_loss, 4: rkd_distance_loss, 5: rkd_angle_loss, 6: dml_losses}):
    lab02.sanity(hint_loss, rkd_distance_loss, rkd_angle_loss, dml_losses, lab)

# %% [markdown] name="md_teacher_size"
# ## 1. Does a bigger teacher make a better student?
#
# Four teachers from 610 to 301,066 parameters, each trained once on the full training set; a 16-unit student (1,210 parameters) distilled from each on its 50 images, 3 seeds. The lecture's claim (Mirzadeh et al., 2020; Cho & Hariharan, ICCV 2019): beyond some size, a better teacher makes a *worse* student — the student cannot follow it. The last row distils from an **ensemble** of the three largest teachers: a teacher module whose softened distribution is your `ensemble_soft_targets` of theirs (its logits are $T \log p$, so that $\mathrm{softmax}(T \log p / T) = p$). Loyalty is measured to the teacher the student learned from.

# %% name="exp_teacher_size"
# Uses YOUR ensemble_soft_targets (for the ensemble teacher).
if ready({7: ensemble_soft_targets}):
    sizes = lab02.teacher_size(ensemble_soft_targets, lab, figures)
    lab02.plot_teacher_size(sizes)

# %% [markdown] name="md_takd"
# ## 2. A teacher assistant for a large capacity gap
#
# Mirzadeh et al. bridge a large gap with an intermediate **teacher assistant** (TA): teacher → TA by KD, then TA → student by KD. Their Table 1 has the shape NOKD < BLKD (baseline KD from the teacher) < TAKD. Here: teacher MLP (512, 512) (301k parameters), TA MLP (32,) (2.4k, distilled from the teacher on the full training set, one per seed), student MLP (8,) (610 parameters), 5 seeds. The student sees its 50 images; the TA, like the teacher, all 1,078.

# %% name="exp_takd"
takd = lab02.takd(lab, figures)

# %% [markdown] name="md_features"
# ## 3. Hints and relations for a thin student
#
# The thin student MLP (8,) learns from the teacher MLP (128,) (9.6k parameters, test accuracy printed in section 1) on its 50 images, 3 seeds:
#
# * **KD** — Hinton's loss;
# * **FitNets + KD** — stage 1 trains the student's hidden layer and a linear regressor (8 → 128) on the hint loss against the teacher's hidden layer for 200 epochs (no labels), then stage 2 is the same KD training as above;
# * **RKD + KD** — KD plus $1 \cdot \mathcal{L}_{RKD\text{-}D} + 2 \cdot \mathcal{L}_{RKD\text{-}A}$ on the hidden layers (8 against 128 dimensions: relations need no regressor).

# %% name="exp_features"
feat = lab02.features(lab, figures)
lab02.plot_features(feat, cfg)

# %% [markdown] name="md_dml"
# ## 4. Mutual learning: cohorts of 2 and 4
#
# No teacher: $K$ students MLP (16,) with different initial weights train together on the same images with your DML loss (torch twin: `dml_losses_torch`, peers detached), $K = 1$ being independent training. Reported: the mean test accuracy of the cohort's members, mean ± std over 3 seeds — in the scarce regime and, for comparison, on the full training set (1,078 images).

# %% name="exp_dml"
dml = lab02.dml(lab, figures)

# %% [markdown] name="md_ema"
# ## 5. A momentum teacher for free
#
# The 16-unit student trained with cross-entropy on its 50 images, while your `ema_update` keeps a moving average of its weights ($m = 0.99$, updated after every step). Is the average better than the student it averages?

# %% name="exp_ema"
# Uses YOUR ema_update, on every parameter tensor after every optimiser step.
if ready({8: ema_update}):
    ema = lab02.ema(ema_update, lab, figures)

# %% [markdown] name="md_born_again"
# ## 6. Born-again networks: the same architecture, generation after generation
#
# Furlanello et al. ("Born-Again Neural Networks", ICML 2018) distil a network into a student of the **same architecture** and report that the student — a *born-again network* (BAN) — is more accurate than its teacher on CIFAR-10/100; repeating the step gives generations 2, 3, …, and averaging the generations' predictions (a *BAN ensemble*) gains more. A teacher that is no larger than its student cannot pass on capacity, only its *dark knowledge*: how it ranks the wrong classes.
#
# Here `born_again_chain` (labkit) trains **generation 0**, the MLP (16,) on the labels (the same initial weights and batches as section 4's independent student on the full training set), and then **3 generations**, each a freshly initialised MLP (16,) trained by KD from the one before with the paper's loss: the teacher's output distribution only ($T = 1$, $\alpha = 1$, no labels). Every generation gets the same 400 steps. The setting is the paper's: the **full training set** (1,078 images) for every generation, so a teacher knows nothing its student could not learn from the same labels. The last column is the **BAN ensemble**: your `ensemble_soft_targets` of generations 0–3 at $T = 1$. 3 seeds.

# %% name="exp_born_again"
# Uses YOUR ensemble_soft_targets (for the BAN ensemble).
if ready({7: ensemble_soft_targets}):
    ban = lab02.born_again(ensemble_soft_targets, lab, figures)

# %% [markdown] name="md_self_distillation"
# ## 7. Self-distillation: the deepest exit teaches the shallow ones
#
# Zhang et al. ("Be Your Own Teacher", ICCV 2019) train one network with an exit after each block, the deepest exit teaching the shallower ones within the same run — your `self_distillation_loss` (its torch twin `self_distillation_loss_torch` detaches the deepest exit, which learns from the labels only). They report gains at the shallow exits *and* at the deepest one for ResNets on CIFAR-100 and ImageNet.
#
# Here `MultiExitMLP(64, [32, 32, 32], 10)`: three blocks, an exit after each; a shallow exit reads its block through a bottleneck (Linear 32 → 32 + ReLU) whose output is the feature the hint compares with the deepest block's. Two trainings of this architecture from the same initial weights, 400 steps on the **full training set** (there is no outside teacher: the network teaches itself), 3 seeds:
#
# * **CE only** — every exit on the labels ($\alpha = 0$, $\lambda = 0$: the loss is the sum of the exits' cross-entropies);
# * **self-distillation** — the exercise's loss with its defaults, $T = 3$, $\alpha = 0.3$, $\lambda = 0.03$.
#
# After training, your `self_distillation_loss` (called with $\lambda = 0$ and with $\alpha = \lambda = 0$) splits the last network's loss on the training set into its label, KD and feature-hint parts.

# %% name="exp_self_distillation"
# Uses YOUR self_distillation_loss (checked against the torch loss the training uses, then to split the loss).
if ready({9: self_distillation_loss}):
    sd = lab02.self_distillation(self_distillation_loss, lab, figures)
    lab02.plot_self_distillation(sd, cfg)

# %% [markdown] name="md_attention_transfer"
# ## 8. Attention transfer between small CNNs
#
# Attention maps need spatial feature maps, which the MLPs above do not have (question 3 c). So, for this section only, a tiny CNN on the 8×8 images (labkit `SmallCNN`): a first stage at 8×8, a 2×2 max-pool, a second stage at 4×4, a global average pool and a linear classifier.
#
# * **Teacher**: 16 then 32 channels, two 3×3 convolutions per stage, trained once on the full training set (20 epochs).
# * **Student**: 8 then 16 channels, one convolution per stage, on its 50 images, 3 seeds, as the MLP students — but **200 steps**, half theirs: a CNN step costs several MLP steps, and the lab has a time budget.
#
# The stage outputs of both networks are 8×8 and 4×4, so their attention maps (your `attention_map`, $p = 2$) can be compared stage by stage whatever the channel counts. Methods, all from the same initial weights: the **student alone** (cross-entropy); **KD** (Hinton, $T = 4$, $\alpha = 0.9$); and KD $+ \frac{\beta}{2} \sum_{\text{stages}} \mathcal{L}_{AT}$ (Zagoruyko & Komodakis, ICLR 2017, eq. 2, with KD as in their AT + KD runs; torch twin `attention_transfer_loss_torch`, the teacher's maps fixed), matching **both stages** or only the **4×4 stage**, $\beta = 10$. For scale: the paper's $\beta = 10^3$ multiplies a loss that is also averaged over the $H \cdot W$ positions, which in our convention (a sum over positions) is a weight $\beta = 10^3 / (H W)$, i.e. about 16 at 8×8 and 62 at 4×4.
#
# **Caveat.** $\beta$ and the two stage choices were picked by the course authors from a few values tried with these seeds' *test* accuracy, not on a validation set: a gain below is an optimistic estimate.

# %% name="exp_attention_transfer"
# Uses YOUR attention_map and attention_transfer_loss (distances to the teacher, the picture, a check against torch).
if ready({2: attention_map, 3: attention_transfer_loss}):
    at = lab02.attention_transfer(attention_map, attention_transfer_loss, lab, figures)
    lab02.plot_attention(attention_map, at, data)  # where the networks look, for one test image

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s ({len(lab.teachers)} teachers trained once and cached); "
      f"figures written to {figures.write('lab02')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# Measured with one torch thread; the numbers repeat to the last digit on the same versions and may differ in the third decimal elsewhere. ± is the standard deviation over seeds; "gain" is paired (same seed: same initial weights, same 50 images). One test image is 0.003.
#
# **1. Teacher size** (student MLP (16,), 1,210 parameters, 5 images per class; no KD: **0.865 ± 0.006**):
#
# | teacher | parameters | teacher test acc. | student test acc. | gain | label / prob. loyalty |
# |---|---|---|---|---|---|
# | MLP (8,) | 610 | 0.858 | 0.885 ± 0.015 | +0.020 | 0.919 / 0.924 |
# | MLP (32,) | 2,410 | 0.947 | 0.949 ± 0.007 | +0.084 | 0.977 / 0.944 |
# | MLP (128,) | 9,610 | 0.967 | **0.951 ± 0.003** | **+0.086** | 0.969 / 0.942 |
# | MLP (512, 512) | 301,066 | **0.978** | 0.935 ± 0.007 | +0.070 | 0.945 / 0.914 |
# | ensemble of the 3 largest | 313,086 | 0.978 | 0.947 ± 0.006 | +0.082 | 0.952 / 0.898 |
#
# The best teacher does not make the best student: the most accurate teacher (0.978) gives a student 0.016 *worse* than the 9.6k-parameter one (0.967), about six test images, with seed spreads of 0.003–0.007 — the lecture's claim, reproduced at this scale. The students are also least loyal to the largest teacher. Averaging three teachers' soft targets recovers most of the loss (0.947) without beating the best single mid-size teacher. Even a teacher *less accurate than the student it teaches* (MLP (8,), 0.858 against 0.865) helps, by +0.020.
#
# **2. TAKD** (teacher MLP (512, 512) 0.978, TA MLP (32,) 0.966 ± 0.003, student MLP (8,), 5 seeds): NOKD **0.774 ± 0.085** < BLKD **0.859 ± 0.054** < TAKD **0.873 ± 0.053**. Paired: BLKD − NOKD +0.085 (5 of 5 seeds), TAKD − NOKD +0.099 (5 of 5), TAKD − BLKD **+0.014** (per seed +0.028, −0.003, +0.006, +0.017, +0.022: 4 of 5). The *shape* of Mirzadeh et al.'s Table 1 appears, but the TAKD − BLKD step is small: four of five seeds is what a fair coin gives 19% of the time, so this is suggestive, not established. The huge ± is the 8-unit student's sensitivity to its seed (no KD ranges from 0.631 to 0.878).
#
# **3. Hints and relations** (student MLP (8,), teacher MLP (128,), 3 seeds): no KD 0.759 ± 0.101; KD 0.880 ± 0.065 (+0.120); **FitNets + KD 0.787 ± 0.064 (+0.028)**; **RKD + KD 0.931 ± 0.020 (+0.171)**. The FitNets hint stage *hurts* here: FitNets + KD is below plain KD on all three seeds (by 0.08–0.12). RKD + KD is at least as good as KD on every seed (+0.044, 0.000, +0.108) and has a third of its spread. We ran FitNets' two-stage recipe untuned (200 hint epochs, last hidden layers, a linear regressor), so the finding is about this setting, not about hints in general.
#
# **4. DML** (student MLP (16,), 3 seeds): 5 per class — independent 0.865 ± 0.006, cohort of 2 0.865 ± 0.008 (+0.000), cohort of 4 0.866 ± 0.010 (+0.001); full training set — independent 0.962 ± 0.003, cohort of 2 0.957 ± 0.008 (−0.005), cohort of 4 0.959 ± 0.002 (−0.003). **Zhang et al.'s gains do not reproduce here**: mutual learning changes nothing beyond noise in either regime.
#
# **5. EMA teacher** (m = 0.99): student 0.865 ± 0.006, its moving average 0.863 ± 0.007 (−0.002): no gain.
#
#
# **6. Born-again networks** (MLP (16,) in every generation, full training set, $T = 1$, $\alpha = 1$, 3 seeds): generation 0 **0.962 ± 0.003**, generations 1–3 0.954 ± 0.007, 0.955 ± 0.005, 0.958 ± 0.006 (paired −0.008, −0.007, −0.004; 0, 0 and 1 of 3 seeds above generation 0); BAN ensemble of generations 0–3 0.960 ± 0.005 (paired −0.002, on no seed above generation 0). **Furlanello et al.'s gains do not reproduce here**: no generation beats its ancestor and the ensemble of the four does not beat generation 0 — differences of one to three test images, inside the noise.
#
# **7. Self-distillation** (MultiExitMLP (32, 32, 32), full training set, 3 seeds; exits 1 / 2 / 3): CE only 0.950 ± 0.004 / 0.949 ± 0.001 / 0.954 ± 0.003; self-distillation ($T = 3$, $\alpha = 0.3$, $\lambda = 0.03$) 0.938 ± 0.024 / 0.940 ± 0.016 / 0.939 ± 0.016, paired −0.012 / −0.009 / −0.015 (below CE only on 1, 1 and 2 of 3 seeds). **Self-distillation does not help here, and costs the deepest exit most.** The split of the loss points at the feature hint: at the end of training it is 1.10 of the total 1.40 (cross-entropies 0.22, KD terms 0.08) — $\lambda = 0.03$ is far too strong for these unnormalised ReLU features, and since the deepest features are a fixed target that keeps growing while the shared blocks are pulled towards it, the whole network pays. The paper's $\lambda$ was set for ResNet features; we did not tune it.
#
# **8. Attention transfer** (CNN teacher 16,698 parameters, 0.986; student CNN 1,418 parameters, 5 images per class, 200 steps, 3 seeds): student alone 0.767 ± 0.034; KD 0.812 ± 0.008; AT at both stages + KD **0.657 ± 0.009** (−0.155 against KD, below it on all 3 seeds); AT at the 4×4 stage + KD **0.781 ± 0.003** (−0.031; per seed −0.031, −0.044, −0.017). Both AT variants move the student's maps towards the teacher's (4×4 distance 0.07–0.08, against 0.25 for KD), but that buys no accuracy: matching the 8×8 maps as well costs fifteen points on every seed, and matching only the 4×4 maps costs three, also on every seed. **Zagoruyko & Komodakis's gains do not reproduce at this scale**, and since $\beta$ and the stages were picked on these seeds' test accuracy, even these numbers flatter AT.
#

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — the best teacher.** (a) Which teacher made the best student, and by how much (in test images) did the most accurate teacher fall short? Is that beyond the seed noise? (b) How do the loyalty columns fit the explanation that the student "cannot follow" a much larger teacher? (c) The 610-parameter teacher is *less* accurate than the no-KD student, yet it helps. What can a worse teacher still give a student that sees only 50 images?

# %% [markdown] answer="answer_1"
# (a) The MLP (128,) teacher (9.6k parameters, 0.967): student 0.951 ± 0.003. The MLP (512, 512) teacher is the most accurate (0.978) but its student reaches 0.935 ± 0.007, 0.016 lower — about 6 of 360 test images; the spreads are 0.003 and 0.007, so the gap is two to five standard deviations, with 3 seeds a reasonably clear effect (a paired per-seed comparison would make it firmer). The ensemble (0.947) sits between.
#
# (b) Probability loyalty to the teacher falls from 0.944 (MLP (32,)) and 0.942 (MLP (128,)) to 0.914 for the largest teacher, and label loyalty from 0.977 to 0.945: the 16-unit student matches the large teacher's distribution *less well*. A 301k-parameter teacher fits its 1,078 training images with a very sharp, detailed function; at $T = 4$ the student is asked to reproduce all ten of its logits, and with 16 hidden units it cannot — it spends its capacity on a function it cannot represent. A mid-size teacher's function is closer to what the student can express, so the student matches it better and generalises better. That is the capacity-gap argument of Mirzadeh et al. and Cho & Hariharan.
#
# (c) The teacher was trained on all 1,078 labelled images; the student sees 50. Even a weak teacher's soft targets on those 50 images carry information from the other 1,028 (which digits look alike), and they regularise the student against overfitting 50 examples (the "label smoothing" view of KD). Accuracy is not the only thing a teacher transfers.

# %% [markdown] name="md_question_2"
# **Question 2 — is TAKD really better?** Use the per-seed paired differences printed by the TAKD cell. (a) Why compare paired differences rather than the two means ± std? (b) How strong is the evidence for TAKD > BLKD? What would you run to settle it within the same time budget?

# %% [markdown] answer="answer_2"
# (a) The spread across seeds (± 0.05) is mostly the *seed's* effect — which 50 images the student sees and its initial weights — and that effect is shared by all three methods for a seed (no KD ranges from 0.631 to 0.878). Differences within a seed cancel it; the paired differences vary much less (−0.003 to +0.028) than the accuracies.
#
# (b) Weak. The mean paired gain is +0.014 (about 5 test images), positive on 4 of 5 seeds; under "no difference" a sign test gives at least 4 of 5 positive with probability 6/32 ≈ 0.19. The ordering NOKD < BLKD < TAKD matches the paper, and BLKD/TAKD over NOKD is clear (5 of 5, +0.08 to +0.10), but TAKD over BLKD is not established. To settle it: more seeds (the runs are cheap: a student costs well under a second), several TAs (sizes and seeds), and a confidence interval or a paired test on the differences; also other student sizes, since the effect should grow with the capacity gap.

# %% [markdown] name="md_question_3"
# **Question 3 — hints against relations.** (a) FitNets needs a regressor and RKD does not. Why? Which transformations of the student's hidden layer leave each loss unchanged? (b) Give two reasons why the FitNets hint stage could hurt a one-hidden-layer, 8-unit student trained on 50 images, while RKD helps. (c) Attention transfer needs spatial feature maps: why was it not run on these MLPs?

# %% [markdown] answer="answer_3"
# (a) The hint loss compares the student's and the teacher's features coordinate by coordinate, so they must live in the same space: 8 student units against 128 teacher units need a map $r$ between them. RKD compares only *relations within each side* — distances normalised by their mean, angles — which are numbers, not vectors, so any dimensions can be compared. The RKD losses are invariant to rotating, reflecting, translating and scaling the student's embedding (and the teacher's); the hint loss is invariant to none of these by itself — the learned regressor has to absorb them.
#
# (b) (1) The hint stage asks 8 ReLU units to linearly reconstruct a 128-dimensional teacher layer: they are pulled towards the directions of largest variance of the teacher's features, which need not be the class-discriminative ones, and with 200 label-free epochs on 50 images the student ends stage 1 in a place that plain KD (stage 2, the same 400 steps as the KD student) does not recover from — measured: below plain KD on all three seeds. (2) FitNets were designed for *deep* thin networks whose optimisation fails without guidance; a one-hidden-layer MLP has no such problem, so the hint brings the cost of a constraint without its benefit. RKD instead asks only that the 8-dimensional embedding arrange the 50 images like the teacher's does — a constraint an 8-unit layer can meet (it has the freedom of any similarity transform), and which acts on the structure that matters for classification (which images are near each other).
#
# (c) The attention map collapses channels at each *spatial position* $(i, j)$ of a convolutional feature map. An MLP's hidden layer has no spatial axes (it is $(N, D)$), so there is no "where" to attend to; attention transfer needs a convolutional teacher and student — section 8.

# %% [markdown] name="md_question_4"
# **Question 4 — peers and averages.** Deep mutual learning and the EMA teacher gave nothing here. (a) What does a pre-trained teacher in sections 1–3 know that a peer in a DML cohort does not? (b) What does the EMA of a student average over in these runs (how many steps does $m = 0.99$ effectively remember?), and in which use of a mean teacher would you expect a gain?

# %% [markdown] answer="answer_4"
# (a) The teachers were trained on all 1,078 labelled images; their soft targets on the 50 student images carry knowledge of the other 1,028. DML peers see exactly the same 50 images (or, in the full regime, the same 1,078) as the student: they have no knowledge the student lacks, so mutual learning can only act as a regulariser (pulling each student towards a smoother, less overconfident consensus). At this scale — tiny MLPs that do not overfit badly in 400 steps — that regularisation changes nothing beyond noise (+0.000 / +0.001 with 5 per class, −0.005 / −0.003 on the full set). Zhang et al. report gains for large networks on CIFAR-100 and person re-identification, where overconfident minima matter; that does not reproduce here.
#
# (b) With $m = 0.99$ the weight of a step $k$ steps ago is $0.01 \cdot 0.99^k$: an effective window of about $1/(1 - m) = 100$ steps, a quarter of the run. By then Adam has nearly converged on 50 images, so the average of the last ~100 students is almost the final student (0.863 against 0.865). A mean teacher pays off as a *teacher* — e.g. a consistency loss between student and EMA predictions on unlabelled or augmented images (Tarvainen & Valpola) or as a stable target in self-supervised learning (MoCo, DINO) — or with noisy SGD and a decaying learning rate where weight averaging smooths the final iterates; none of those were run here.

# %% [markdown] name="md_question_5"
# **Question 5 — teachers with nothing new to know.** The born-again generations and the self-distilled exits learn from a teacher that saw exactly the same images and labels as they did. (a) What, then, can such a teacher transfer at all? Did any born-again generation beat generation 0 on more seeds than a coin would? (b) Suppose the BAN ensemble *had* beaten generation 0. Why would that not show that born-again training helped, and which control run would you add? (c) In section 7, which part of the self-distillation loss dominated at the end of training, and what does that suggest about $\lambda$? How would you choose $\lambda$ (and $\alpha$, $T$) without looking at the test set?

# %% [markdown] answer="answer_5"
# (a) Only what is not in the one-hot labels: how the teacher *ranks the wrong classes* (which 3s look like 8s) — a smoothed target that acts as a regulariser — and, for exits, a target that a shallow exit can reach more easily than the labels. It cannot transfer knowledge of other data. Measured: no. Generations 1–3 are at or below generation 0 (paired −0.008, −0.007, −0.004: one of nine generation-seed pairs positive), differences of one to three test images; at $T = 1$ a teacher that fits its 1,078 training images almost perfectly gives near one-hot targets there, so its dark knowledge is thin. Furlanello et al.'s gains are for large networks on CIFAR, trained far longer; they do not reproduce at this scale.
#
# (b) Four models of different initial weights average away part of each other's errors whatever the training, so "BAN ensemble > generation 0" would not show that born-again training did anything. The control is an ensemble of 4 MLPs (16,) trained *independently* on the labels, with the same initial weights, batches and compute as the 4 generations: only the KD chain differs. (If anything the chain should make its members more alike — each copies the last — which an ensemble does not want.) Here the question does not arise: the BAN ensemble (0.960) is not above generation 0 (0.962).
#
# (c) The feature hint: 1.10 of a total loss of 1.40 (cross-entropies 0.22, KD 0.08). The squared distance between a shallow exit's features and the deepest exit's (summed over 32 ReLU units, which are unnormalised and keep growing during training) is in the tens, so $\lambda = 0.03$ makes the hint, not the labels, the main objective of the shallow blocks — which are also the deepest exit's blocks; that is why even exit 3 loses accuracy (−0.015). A smaller $\lambda$ (or $\lambda = 0$, KD only), or normalised features, is the obvious change. To choose: hold out the validation split (359 images, unused so far), try a small grid ($\lambda \in \{0, 10^{-3}, 10^{-2}, 0.03\}$, $\alpha \in \{0.1, 0.3, 0.5\}$), pick by validation accuracy of the exit you care about, and report test accuracy once, over several seeds.

# %% [markdown] name="md_question_6"
# **Question 6 — where to transfer attention.** (a) Matching the teacher's attention at both stages hurt the CNN student on every seed; matching only the 4×4 stage hurt less but also on every seed, although it brought the student's 4×4 maps close to the teacher's. Use the distances in the table and the picture: how does the teacher's 8×8 attention differ from the student's, and why could a first stage of 8 channels and *one* convolution be hurt by being made to reproduce it? (b) Section 8's caveat says $\beta$ and the stages were chosen on test accuracy. Describe a protocol that would give an honest estimate of AT's gain at the same cost.

# %% [markdown] answer="answer_6"
# (a) The teacher's 8×8 map comes after two convolutions of 16 channels and is *peaked*: with $p = 2$ a few positions where many channels fire strongly dominate. The student's first stage is a single 3×3 convolution of the raw image: its map follows the digit's strokes (edges and ink), and its distance to the teacher's is large (1.22 and 1.26 of a possible 2 for the KD and the lone student). Reproducing those peaks with 8 filters of one layer means giving up the stroke detectors the rest of the network builds on; the AT term then fights the KD term, and the student ends far below KD alone (−0.155, all seeds) even though its 8×8 maps did move to the teacher's (distance 0.51). At 4×4 teacher and student roughly agree already — both show where the digit's mass is — so matching them is an easy constraint: the student's 4×4 maps get close to the teacher's (0.08), but an attention map says only *where* the network looks, not what it sees there, and with 50 images the extra constraint cost accuracy instead (−0.031, below KD on every seed). Zagoruyko & Komodakis match maps at the end of each residual *group* of teacher and student of comparable depth and train for far longer on CIFAR/ImageNet; a one-layer stage against a two-layer stage is not that setting.
#
# (b) Split the roles of the data: choose $\beta$ (and the stages, and $p$) on the validation split — e.g. $\beta \in \{2, 10, 30, 100\}$, stages {4×4}, {8×8, 4×4}, with a few seeds — and only then run the chosen setting and KD on *fresh* seeds (new initial weights and new 50-image draws), reporting paired test differences with their spread or a confidence interval. The cost is the same few student trainings per setting; what changes is that the test set is looked at once.
