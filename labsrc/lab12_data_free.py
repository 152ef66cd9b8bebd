# %% [markdown] name="md_title"
# # Lab 12 — Distillation without the data, and data without the model
#
# Lab 1 distilled a teacher into a student *on the teacher's training data*. This lab removes pieces of that picture. **Dataset distillation** (lecture 7) keeps the model's training procedure and throws away most of the data: can ten synthetic images teach a model as much as a thousand real ones? **Data-free KD** (the reading notes; the KD lecture's "data-free KD") keeps the teacher and throws away the data: a generator invents inputs on which the student still has something to learn. And the **nasty teacher** asks the opposite question: can the owner of a model keep it accurate but make it *useless to distil from*?
#
# In this lab you
#
# 1. **write** (graded) the NumPy pieces: the cross-entropy gradient of softmax regression, the gradient of a validation loss through k unrolled SGD steps with respect to the synthetic training images, the adversarial data-free KD objectives and DeepInversion's batch-norm statistics term, the nasty-teacher objective and its gradient, and two statistics of soft labels;
# 2. **run** (not graded) dataset distillation of the digits into 10 and 50 images, data-free distillation of Lab 1's teacher, and a nasty teacher trained with *your* gradient, against a normal one and a skeptical student — each over 3 seeds;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np`) and the functions of earlier exercises. The autograder checks each function with property tests (e.g. *"grad_X_syn should match central finite differences of the validation loss after the k unrolled steps"*) against a hidden reference. Run `course check <this notebook>` for the public checks.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_softmax_ce_grad"
# ## Exercise 1 — the inner step: softmax regression's gradient
#
# The model of the dataset-distillation experiment is linear softmax regression: logits $Z = XW$ for inputs $X \in \mathbb{R}^{N \times d}$ and weights $W \in \mathbb{R}^{d \times C}$. Its mean cross-entropy and gradient are (Bishop 2006, eq. 4.109)
#
# $$L = -\frac1N \sum_n \log \mathrm{softmax}(Z_n)_{y_n}, \qquad \frac{\partial L}{\partial W} = \frac1N X^\top (P - Y),$$
#
# with $P$ the row-wise softmax and $Y$ the one-hot labels. Compute the loss as $\mathrm{logsumexp}(Z_n) - Z_{n, y_n}$ with the row maximum subtracted: logits of $\pm 10^4$ must give a finite loss.
#
# **Your task.** `softmax_ce_grad(X, W, y)`, returning `(loss, grad_W)`.

# %% exercise="softmax_ce_grad"
# `course build` fills this cell from reference_impl: the exercise softmax_ce_grad

# %% [markdown] name="md_distill_grad"
# ## Exercise 2 — dataset distillation: differentiating through training
#
# Wang, Zhu, Torralba & Efros (*Dataset Distillation*, 2018) treat the training set itself as the parameter. Train a model for $k$ gradient steps on $M$ synthetic images $\tilde X$ from an initialisation $W_0$,
#
# $$W_{t+1} = W_t - \eta\, \nabla_W L(\tilde X, \tilde y; W_t), \qquad t = 0, \dots, k-1,$$
#
# then measure the loss on real data, $\mathcal L(\tilde X) = L(X_\text{val}, y_\text{val}; W_k)$, and move the synthetic images down its gradient $\partial \mathcal L / \partial \tilde X$. Every $W_t$ depends on $\tilde X$, and each step uses $\tilde X$ twice (in the inputs and, through the softmax, in the weights' gradient), so the gradient is backpropagation through the whole unrolled loop (their eq. 3–4). With $A = \partial\mathcal L/\partial W_{t+1}$, $P = \mathrm{softmax}(\tilde X W_t)$, $B = \tilde X A / M$, one step backwards is
#
# $$S = P \odot \big(B - \textstyle\sum_c P B\big), \qquad \frac{\partial\mathcal L}{\partial \tilde X} \mathrel{+}= -\eta\Big(\tfrac1M (P - Y) A^\top + S W_t^\top\Big), \qquad \frac{\partial\mathcal L}{\partial W_t} = A - \eta\, \tilde X^\top S,$$
#
# starting from $\partial\mathcal L/\partial W_k = X_\text{val}^\top(P_\text{val} - Y_\text{val})/N$. The checks compare your gradient with finite differences $(\mathcal L(\tilde X + h e_{ij}) - \mathcal L(\tilde X - h e_{ij}))/2h$: a forgotten path shows at once. This is the linear case of what autograd does for a network; the memory of keeping all $W_t$ is why the method is limited to short inner loops.
#
# **Your task.** `distill_grad(X_syn, y_syn, X_val, y_val, W0, lr, steps)`, returning `(loss, grad_X_syn)`; call your `softmax_ce_grad`.

# %% exercise="distill_grad"
# `course build` fills this cell from reference_impl: the exercise distill_grad

# %% [markdown] name="md_data_free_kd_losses"
# ## Exercise 3 — data-free KD: the adversarial game
#
# Without the training data, where do the inputs for distillation come from? Micaelli & Storkey (*Zero-shot Knowledge Transfer via Adversarial Belief Matching*, NeurIPS 2019) and Fang et al. (*Data-Free Adversarial Distillation*, 2019) train a generator $G$ of inputs $x = G(z)$ against the student: the student minimises a disagreement $D$ with the teacher on generated inputs, the generator *maximises* it, so it keeps producing the inputs where the student is still wrong.
#
# $$D_\text{KL} = \frac{T^2}{N} \sum_n \mathrm{KL}\big(\mathrm{softmax}(t_n/T)\,\|\,\mathrm{softmax}(s_n/T)\big), \qquad D_{L1} = \frac{1}{NC} \sum_{n,c} |t_{nc} - s_{nc}|.$$
#
# Fang et al. argue for the L1 on logits: once the student matches the teacher's argmax, the KL saturates and the generator's gradient vanishes; the L1 keeps pushing.
#
# **Your task.** `data_free_kd_losses(teacher_logits, student_logits, kind, T)`, returning `(student_loss, generator_loss)` $= (D, -D)$.

# %% exercise="data_free_kd_losses"
# `course build` fills this cell from reference_impl: the exercise data_free_kd_losses

# %% [markdown] name="md_bn_statistics_loss"
# ## Exercise 4 — what the teacher remembers: batch-norm statistics
#
# A network with BatchNorm carries, in each BN layer, the running mean $\mu_\text{BN}$ and variance $\sigma^2_\text{BN}$ of its training data's features. DeepInversion (Yin et al., *Dreaming to Distill*, CVPR 2020, eq. 4) makes synthetic inputs match them:
#
# $$R = \|\mu(x) - \mu_\text{BN}\|_2 + \|\sigma^2(x) - \sigma^2_\text{BN}\|_2,$$
#
# with the batch's per-channel mean and **biased** variance (divided by the count, as BN normalises) over every axis except the channels (axis 1). Note the norms are not squared.
#
# **Your task.** `bn_statistics_loss(features, running_mean, running_var)` for features of shape (N, C) or (N, C, H, W).

# %% exercise="bn_statistics_loss"
# `course build` fills this cell from reference_impl: the exercise bn_statistics_loss

# %% [markdown] name="md_nasty_teacher_loss"
# ## Exercise 5 — the nasty teacher
#
# Ma et al. (*Undistillable: Making a Nasty Teacher That CANNOT Teach Students*, ICLR 2021, eq. 2) train a teacher to keep its accuracy while its softened outputs mislead: with a fixed, normally trained network $z_\text{normal}$ (the "adversarial network"),
#
# $$L = \mathrm{CE}(z, y) - \omega\, T^2\, \frac1N \sum_n \mathrm{KL}\big(\mathrm{softmax}(z_{\text{normal},n}/T)\,\|\,\mathrm{softmax}(z_n/T)\big).$$
#
# The CE at $T = 1$ keeps the argmax right; the $-\mathrm{KL}$ at temperature $T$ pushes the soft labels away from the ones a normal network would give — which are exactly what a student distilling at $T$ learns from.
#
# **Your task.** `nasty_teacher_loss(nasty_logits, normal_logits, labels, T, omega)`.

# %% exercise="nasty_teacher_loss"
# `course build` fills this cell from reference_impl: the exercise nasty_teacher_loss

# %% [markdown] name="md_nasty_teacher_grad"
# ## Exercise 6 — its gradient
#
# With $p = \mathrm{softmax}(z)$, $p_T = \mathrm{softmax}(z/T)$, $q_T = \mathrm{softmax}(z_\text{normal}/T)$:
#
# $$\frac{\partial L}{\partial z} = \frac{p - Y}{N} - \omega\, T\, \frac{p_T - q_T}{N}.$$
#
# (The KL's gradient is $(p_T - q_T)/T$; times $\omega T^2$.) It is the negative of a distilling student's soft gradient: the teacher is trained to move *away* from what the normal network says. The experiment trains the nasty teacher with your function: autograd takes the gradient from the logits back into the network (`logits.backward(your_gradient)`).
#
# **Your task.** `nasty_teacher_grad(nasty_logits, normal_logits, labels, T, omega)`.

# %% exercise="nasty_teacher_grad"
# `course build` fills this cell from reference_impl: the exercise nasty_teacher_grad

# %% [markdown] name="md_soft_label_entropy"
# ## Exercise 7 — how soft is a soft label?
#
# $$H_n = -\sum_c p_{nc} \log p_{nc}, \qquad p_n = \mathrm{softmax}(z_n / T),$$
#
# in nats, from $0$ (one-hot) to $\log C$ (uniform). Compute it as $\mathrm{logsumexp}(a) - \sum_c p_c a_c$ ($a = z/T$): `p * np.log(p)` gives $0 \cdot (-\infty) = $ NaN where a probability underflows.
#
# **Your task.** `soft_label_entropy(logits, T)`, one entropy per row.

# %% exercise="soft_label_entropy"
# `course build` fills this cell from reference_impl: the exercise soft_label_entropy

# %% [markdown] name="md_dark_knowledge_stats"
# ## Exercise 8 — reading the dark knowledge
#
# Hinton et al. (2015) put the teacher's extra information in the *non-target* classes: a 7 that looks a bit like a 1. Three batch means tell a teacher's soft labels apart: the true class's probability $p[y]$, the non-target mass $1 - p[y]$, and the normalised entropy of the non-target distribution $r$ (the wrong classes' probabilities renormalised to sum to 1), $H(r)/\log(C-1) \in [0, 1]$: 1 when the wrong classes share the mass evenly, near 0 when one wrong class takes all of it.
#
# **Your task.** `dark_knowledge_stats(logits, labels, T)`, returning an array of the three.

# %% exercise="dark_knowledge_stats"
# `course build` fills this cell from reference_impl: the exercise dark_knowledge_stats

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. **Set-up**: the 8×8 digits (1,078 / 359 / 360 images, test accuracies reported), Lab 1's teacher (MLP 64 → 256 → 256 → 10, seed 0) and student (MLP 64 → 16 → 10, 40 epochs of Adam), Lab 1's KD loss; seeds 0, 1, 2, "±" the standard deviation over seeds.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab12, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab12.Config.quick() if quick_mode() else lab12.Config()
figures = Figures()
data = digits_splits(seed=0)
teacher = lab12.teacher(data, cfg, figures)  # Lab 1's teacher, for the data-free and nasty-teacher sections

# %% [markdown] name="md_dd"
# ## Ten images instead of a thousand
#
# Your `distill_grad` drives Adam on 10 (one per class) or 50 synthetic images, starting from random real ones, for 300 outer steps; each step draws a fresh $W_0 \sim \mathcal N(0, 0.01^2)$ and 256 real training images for the validation loss. The distilled images are then judged as Wang et al. do: a model from a new random $W_0$ (not one used while distilling) trained by the same 10 gradient steps at $\eta = 1$ on them, against the same number of random real images (10 steps, or 300), and the whole training set with the same 10 steps.

# %% name="exp_dd"
if ready({1: softmax_ce_grad, 2: distill_grad}):
    dd = lab12.dataset_distillation(softmax_ce_grad, distill_grad, data, cfg, figures)
    lab12.plot_distilled(dd, cfg)

# %% [markdown] name="md_df"
# ## Distilling Lab 1's teacher without its data
#
# The student never sees a digit: a small generator (noise of 32 dimensions → 128 → 64 pixels in [0, 1]) plays the adversarial game of Exercise 3 with the L1 disagreement (one generator step, five student steps, 250 rounds of 128 images), once alone and once with the BN-statistics term of Exercise 4 added to the generator's loss. Lab 1's teacher has no BatchNorm layer, so we record what one after its first layer would have stored — the mean and variance of its first layer's pre-activations on the training set — and treat that as part of the model. Baselines: the student on the real labels (no KD), KD on the real images, and the same game with uniform noise instead of a generator. First, your two functions against the torch versions the training uses.

# %% name="exp_df"
if ready({3: data_free_kd_losses, 4: bn_statistics_loss}):
    df = lab12.data_free(data_free_kd_losses, bn_statistics_loss, teacher, data, cfg, figures)

# %% [markdown] name="md_nasty"
# ## A nasty teacher, and a skeptical student
#
# A network of the teacher's size is trained from scratch for 40 epochs with your `nasty_teacher_grad` against the normal teacher ($T = 4$, $\omega = 0.04$, Ma et al.'s CIFAR-10 setting). We compare the two teachers' accuracy and soft labels (your Exercises 7–8, at $T = 4$) and distil each into the student with Lab 1's KD ($T = 4$, $\alpha = 0.9$), and with a *skeptical* student that trusts the soft labels less ($T = 20$, $\alpha = 0.5$) — a simple stand-in for the defences of Kundu et al. (*Analyzing the Confidentiality of Undistillable Teachers in Knowledge Distillation*, NeurIPS 2021), whose skeptical student distils from an intermediate layer instead.

# %% name="exp_nasty"
if ready({6: nasty_teacher_grad, 7: soft_label_entropy, 8: dark_knowledge_stats}):
    nasty = lab12.nasty(nasty_teacher_grad, soft_label_entropy, dark_knowledge_stats, teacher, data, cfg, figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab12')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# PyTorch 2.13.0, CPU, one thread, seeds 0, 1, 2. Lab 1's teacher: test accuracy 0.975.
#
# * **Dataset distillation.** Ten distilled images (one per class) train the linear model to **0.943 ± 0.003** in 10 steps, against **0.623 ± 0.051** for ten random real images (0.619 ± 0.038 after 300 steps: more steps do not help, the ten images are the limit) and **0.917** for the *whole* training set in the same 10 steps. With 50 images: distilled 0.936 ± 0.009, random real 0.858 ± 0.052. Lecture 7's claim reproduces: the distilled images beat as many real ones by 32 points, and even the full set under the same short schedule; only the full set trained for 300 steps (0.961) is better. Fifty distilled images are no better than ten here: with 10 steps of a linear model there is little more to encode.
# * **Data-free KD.** Without a single real image the student reaches 0.711 ± 0.086 with the adversarial generator alone and 0.858 ± 0.075 with the BN-statistics term, against 0.964 for KD on the real images and 0.968 ± 0.003 with no KD at all (on the full training set KD does not help, as in Lab 1). **Plain uniform noise (0.820 ± 0.047) beats the generator alone**: at this scale and budget the adversarial game does not pay for itself — the generator finds inputs where the two disagree, which are not the inputs that matter for digits; the statistics prior pulls them back towards the data. Very noisy across seeds.
# * **The nasty teacher** is *more* accurate than the normal one (0.989 against 0.975) while its soft labels at $T = 4$ are almost uniform: entropy 2.159 nats (of at most $\log 10 = 2.303$) against 0.961, true-class probability 0.269 against 0.732, and a non-target distribution that is flat (normalised entropy 0.986) rather than structured (0.753). Contrary to Ma et al.'s figure of a *spiky* non-target distribution, here the nasty teacher hides its dark knowledge by flattening it. Students distilled from it reach 0.955 ± 0.005, against 0.964 from the normal teacher and 0.968 ± 0.003 from the labels alone: it does hurt, but by one point, not by the tens of points the paper reports on CIFAR — our students learn the digits from the labels almost as well. The skeptical student ($T = 20$, $\alpha = 0.5$) gets 0.958 from the nasty teacher (0.962 from the normal one): a partial recovery, within the seed spread. (Several settings have a spread of 0.000: the three students differ, but at this accuracy they miss the same handful of test digits.)

# %% [markdown] name="md_question_1"
# ### Questions
#
# **Question 1 — better than the whole training set?** Ten distilled images beat the full training set under the same ten steps. How can ten images carry more than a thousand, and what would happen to that advantage with a different initialisation distribution, or with 300 steps instead of 10?

# %% [markdown] answer="answer_1"
# The synthetic images are not samples of the data but *training signals* for one procedure: they are optimised so that ten gradient steps from a $W_0$ near 0 land on good weights, i.e. each image is roughly a class template that moves the weight column of its class in the best direction in one push (with $W_0 \approx 0$, $W_1 \approx -\eta \tilde X^\top (1/C - Y)/M$, so the images *are* the first step's weights). Real images, even all of them, were never chosen for that: averaged over 1,078 images the first steps make less progress than ten images made for it. The advantage is tied to the procedure: from a $W_0$ far from the distribution used in distillation, or trained for 300 steps (where the full set reaches 0.961 and a handful of images cannot describe the class boundaries), the distilled images lose their edge — Wang et al. report the same dependence on the initialisation.

# %% [markdown] name="md_question_2"
# **Question 2 — where do the generator's inputs go?** Compare the data-free rows with KD on real images and with plain noise. What does the generator contribute, and what does the BN-statistics term add (or not) for this teacher?

# %% [markdown] answer="answer_2"
# The generator alone does worse (0.711) than uniform noise (0.820): maximising the teacher–student disagreement finds inputs where the two networks differ, and for an MLP those can be far from any digit (the student then learns the teacher's behaviour off the data manifold). Noise at least covers the pixel box evenly. The BN-statistics term (0.858) makes the generated batches match the teacher's first-layer statistics on the training data, which pulls them towards digit-like inputs and gives the best data-free result — but still 11 points short of KD with real data, and very noisy across seeds (± 0.075). Note that the statistics come from the training data: a BN layer stores them anyway, so the method is data-free only in that it needs no images at distillation time.

# %% [markdown] name="md_question_3"
# **Question 3 — is the nasty teacher nasty here?** Use the teachers' accuracy and soft-label statistics and the student table. Did the paper's claim reproduce at this scale, and did the skeptical student recover?

# %% [markdown] answer="answer_3"
# Partly. The nasty teacher does what the objective asks: it is even more accurate than the normal one (0.989 against 0.975), yet its soft labels at $T = 4$ carry almost no structure — near-uniform (entropy 2.159 of 2.303, $p[y] = 0.269$) with a flat non-target part (0.986). A student distilled from it loses a point (0.955 against 0.964 from the normal teacher), so it is less useful to distil from; but it is far from "undistillable", because on the full digits training set the labels alone give 0.968 and the KD term has little to add or to take away. The effect Ma et al. report (students far below their label-only baseline on CIFAR) needs a task where the student depends on the teacher; a data-scarce regime (Lab 1: 5 labels per class) would be the place to see it. The skeptical student (higher $T$, more weight on the labels) recovers part of the point (0.958), within the spread: trusting the labels more is the simplest defence, and costs nothing here because the labels were enough.
