# %% [markdown] name="md_title"
# # Lab 1 — Knowledge distillation I
#
# A large network trained on a task knows more than its accuracy shows: *how* it is wrong-ish on every input — that a particular 7 looks a bit like a 1 and not at all like a 0 — is information a small network can learn from. **Knowledge distillation** (KD) trains a small *student* to match the output distribution of a large *teacher* instead of, or as well as, the hard labels (Hinton, Vinyals & Dean, *Distilling the Knowledge in a Neural Network*, 2015, arXiv:1503.02531).
#
# In this lab you
#
# 1. **write** (graded) the NumPy building blocks of distillation: the temperature softmax and its log, KL and Jensen–Shannon divergences, cross-entropy, Hinton's KD loss, DeiT's hard-label distillation loss, label and probability *loyalty*, the accuracy of a majority vote and the range it can take when the voters' errors are correlated;
# 2. **run** (not graded) distillation on the 8×8 handwritten digits that ship with the course: a teacher MLP with 85,002 parameters and a student with 1,210, trained with and without KD, sweeping the temperature $T$ and the weight $\alpha$, with 3 seeds per setting;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np` in the first code cell) and the functions of earlier exercises — the autograder runs each function on its own, in a sandbox, and checks it with property tests (e.g. *"softmax_t should sum to 1 along the last axis"*, *"KL should be 0 exactly when p == q"*) against a hidden reference. Do not change the signatures. Run `course check <this notebook>` to run the public checks yourself.
#
# The experiments use PyTorch (CPU) and take about a minute on a laptop. Some experiment cells call your functions, so finish the exercises first.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_softmax_t"
# ## Exercise 1 — softmax with a temperature
#
# A classifier outputs logits $z \in \mathbb{R}^C$. Hinton et al. (2015) soften its softmax with a temperature $T > 0$:
#
# $$p_i(T) = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}.$$
#
# $T = 1$ is the ordinary softmax; $T \to \infty$ flattens it towards the uniform distribution; $T \to 0$ sharpens it towards the one-hot argmax. Why bother: a well-trained network is confident on its training data — it gives the right class 0.999 — and the little mass left over is spread *unevenly*: the 7 that looks like a 1 gives "1" $10^{-3}$ and "0" $10^{-9}$. That ranking of the wrong classes is what Hinton calls *dark knowledge*. At $T = 1$ it is invisible to a loss (the targets are practically one-hot); at a higher $T$ the small logit differences become visible probability differences.
#
# **Numerics.** `np.exp(710.0)` overflows to `inf` in float64, and `inf / inf` is `nan`. The softmax is *shift-invariant* — $\mathrm{softmax}(z - c) = \mathrm{softmax}(z)$ for any constant $c$ (it cancels between numerator and denominator) — so subtract each row's maximum first: the largest exponent becomes $e^0 = 1$, nothing overflows, and the denominator is at least 1.
#
# **Your task.** `softmax_t(logits, T)` on the last axis of an array of any shape `(..., C)`, returning float64; raise `ValueError` when `T` is not a finite number $> 0$.

# %% exercise="softmax_t"
# `course build` fills this cell from reference_impl: the exercise softmax_t

# %% [markdown] name="md_log_softmax_t"
# ## Exercise 2 — log-softmax, computed stably
#
# Losses need $\log p$, not $p$. Taking `np.log(softmax_t(z, T))` fails where a probability underflows: for $z = (0, -1000)$ the second probability is $e^{-1000}$, which is `0.0` in float64, and $\log 0 = -\infty$ — although the true value, $-1000$, is perfectly representable. The log-sum-exp form avoids ever forming the tiny probability:
#
# $$\log p_i = \frac{z_i}{T} - \mathrm{LSE}(z / T), \qquad \mathrm{LSE}(a) = m + \log \sum_j e^{a_j - m}, \quad m = \max_j a_j .$$
#
# Every exponent is $\le 0$ and the sum is $\ge 1$, so the result is finite for finite logits.
#
# **Your task.** `log_softmax_t(logits, T)`, same shapes, checks and dtype as exercise 1; `np.exp` of each row should sum to 1.

# %% exercise="log_softmax_t"
# `course build` fills this cell from reference_impl: the exercise log_softmax_t

# %% [markdown] name="md_kl_divergence"
# ## Exercise 3 — Kullback–Leibler divergence
#
# $$\mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i}$$
#
# measures, in nats, how badly $q$ describes samples from $p$. It is $\ge 0$, with equality exactly when $p = q$ (Gibbs' inequality), and it is **not** symmetric. In distillation $p$ is the teacher's softened distribution and $q$ the student's. Since
#
# $$\mathrm{KL}(p_t \,\|\, p_s) = \underbrace{-\textstyle\sum_i p_{t,i} \log p_{s,i}}_{\text{cross-entropy with soft targets}} \; - \; \underbrace{H(p_t)}_{\text{independent of the student}},$$
#
# minimising the KL has exactly the gradient of the soft-target cross-entropy that Hinton et al. write — but the KL is 0 at a perfect match, which makes it easier to read.
#
# **Edge cases, on purpose.** A class with $p_i = 0$ contributes $0 \cdot \log(0 / q_i) = 0$ (the limit of $x \log x$ as $x \to 0$), whatever $q_i$ is. A class with $p_i > 0$ and $q_i = 0$ makes the divergence $+\infty$: the student calls impossible something the teacher says happens. Beware that `np.where(p > 0, ..., 0.0)` evaluates both branches: the discarded one still computes `0 * log 0 = nan` and emits a `RuntimeWarning`, which `np.errstate` silences (or compute the logs only where `p > 0`).
#
# **Your task.** `kl_divergence(p, q)` row-wise over the last axis: inputs `(..., C)`, output `(...)`; `ValueError` when the shapes differ.

# %% exercise="kl_divergence"
# `course build` fills this cell from reference_impl: the exercise kl_divergence

# %% [markdown] name="md_js_divergence"
# ## Exercise 4 — Jensen–Shannon divergence
#
# $$\mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m), \qquad m = \tfrac12 (p + q)$$
#
# (Lin, 1991) repairs the KL's two awkward properties: it is symmetric, and it is always finite — $m_i > 0$ wherever $p_i$ or $q_i$ is, so neither KL ever divides by zero. It is 0 exactly when $p = q$ and at most $\log 2$ nats, reached when $p$ and $q$ have disjoint supports. $\sqrt{\mathrm{JS} / \log 2}$ is even a metric (Endres & Schindelin, 2003), which probability loyalty (exercise 9) uses.
#
# **Your task.** `js_divergence(p, q)` row-wise, built from your `kl_divergence`.

# %% exercise="js_divergence"
# `course build` fills this cell from reference_impl: the exercise js_divergence

# %% [markdown] name="md_cross_entropy"
# ## Exercise 5 — cross-entropy with integer labels
#
# The "hard" term of the distillation loss is the usual classification loss, averaged over the batch:
#
# $$\mathrm{CE}(z, y) = -\frac1N \sum_{n=1}^{N} \log \mathrm{softmax}(z_n)_{y_n}.$$
#
# Compute it through your `log_softmax_t` with $T = 1$, so that a confident wrong prediction gives a large finite loss instead of $-\log 0 = \infty$. The entries $\log p_{n, y_n}$ for all $n$ at once are `logp[np.arange(N), labels]`. This is `torch.nn.functional.cross_entropy` with its default `reduction="mean"`.
#
# **Your task.** `cross_entropy(logits, labels)` for logits `(N, C)` and integer labels `(N,)`, returning a Python `float`; `ValueError` on a shape mismatch, an empty batch, or a label that is not an integer in $[0, C)$.

# %% exercise="cross_entropy"
# `course build` fills this cell from reference_impl: the exercise cross_entropy

# %% [markdown] name="md_kd_loss"
# ## Exercise 6 — Hinton's distillation loss
#
# With student logits $z_s$, teacher logits $z_t$ and labels $y$,
#
# $$\mathcal{L} = (1 - \alpha)\, \mathrm{CE}(z_s, y) \;+\; \alpha\, T^2 \, \frac1N \sum_{n} \mathrm{KL}\big(\mathrm{softmax}(z_{t,n} / T) \,\big\|\, \mathrm{softmax}(z_{s,n} / T)\big).$$
#
# The first term learns from the labels at $T = 1$; the second makes the student's softened distribution match the teacher's.
#
# **Why $T^2$.** Write $q = \mathrm{softmax}(z_s / T)$ and $p = \mathrm{softmax}(z_t / T)$. The gradient of the KL with respect to a student logit is
#
# $$\frac{\partial}{\partial z_{s,i}} \mathrm{KL}(p \,\|\, q) = \frac{1}{T}\,(q_i - p_i).$$
#
# When $T$ is large compared with the logits, $e^{x} \approx 1 + x$ gives $q_i \approx (1 + z_{s,i}/T) / C$ for zero-mean logits, and the same for $p_i$, so
#
# $$\frac{\partial}{\partial z_{s,i}} \mathrm{KL} \approx \frac{1}{C\,T^2}\,(z_{s,i} - z_{t,i}).$$
#
# Two things follow (Hinton et al., 2015, sec. 2 and 2.1): at high temperature, distillation becomes *matching the logits* (Caruana's logit regression, up to a constant); and the soft term's gradient shrinks like $1/T^2$. Multiplying by $T^2$ undoes the shrinkage, so the balance between the two terms set by $\alpha$ stays roughly the same when you change $T$.
#
# **Conventions** (papers and libraries differ; this course's choice): $\alpha$ weights the *soft* term; the KL is *summed over classes and averaged over the batch*. PyTorch's `nn.KLDivLoss()` with its default `reduction="mean"` averages over all $N \cdot C$ elements, silently dividing the soft term by the number of classes; `reduction="batchmean"` is the one that matches the maths. The experiments train with `kd_loss_torch`, the PyTorch twin of this function; a cell below checks that yours agrees with it.
#
# **Your task.** `kd_loss(student_logits, teacher_logits, labels, T=4.0, alpha=0.9)`, a Python `float`, from your earlier functions; `ValueError` for $\alpha \notin [0, 1]$, a bad $T$ or mismatched shapes.

# %% exercise="kd_loss"
# `course build` fills this cell from reference_impl: the exercise kd_loss

# %% [markdown] name="md_hard_label_kd_loss"
# ## Exercise 7 — hard-label distillation (DeiT)
#
# Touvron et al., *Training data-efficient image transformers & distillation through attention* (DeiT, ICML 2021), distil a CNN teacher into a vision transformer and report that a simpler target works better for them than Hinton's soft one: the teacher's **decision** $y_t = \arg\max_c z_{t,c}$, used as a second label,
#
# $$\mathcal{L} = (1 - \alpha)\, \mathrm{CE}(z_s, y) + \alpha\, \mathrm{CE}(z_s, y_t)$$
#
# with $\alpha = \tfrac12$ (their eq. 3) — no temperature and no $T^2$ to tune. Note what this loss can and cannot transfer: wherever the teacher agrees with the label it is plain cross-entropy; it differs only on inputs where the teacher *disagrees* with the label — in DeiT, heavily augmented crops in which the labelled object may have been cropped out. Ties in the teacher's logits go to the lowest class index, as `np.argmax` does.
#
# **Your task.** `hard_label_kd_loss(student_logits, teacher_logits, labels, alpha=0.5)`, a Python `float`.

# %% exercise="hard_label_kd_loss"
# `course build` fills this cell from reference_impl: the exercise hard_label_kd_loss

# %% [markdown] name="md_label_loyalty"
# ## Exercise 8 — label loyalty
#
# A compressed model with the teacher's accuracy need not behave like the teacher: two classifiers at 95% can be wrong on different 5% of the inputs. Xu et al., *Beyond Preserved Accuracy: Evaluating Loyalty and Robustness of BERT Compression* (EMNLP 2021), therefore measure how *loyal* a student is to its teacher. **Label loyalty** is the fraction of inputs on which the two predict the same class:
#
# $$L_l = \frac1N \sum_{n} \big[\arg\max_c p_{s,n,c} = \arg\max_c p_{t,n,c}\big].$$
#
# It works on logits as well as probabilities (the softmax does not change the argmax). Ties go to the lowest class index.
#
# **Your task.** `label_loyalty(student_probs, teacher_probs)`, a Python `float` in $[0, 1]$; `ValueError` unless both are non-empty `(N, C)` arrays of the same shape.

# %% exercise="label_loyalty"
# `course build` fills this cell from reference_impl: the exercise label_loyalty

# %% [markdown] name="md_probability_loyalty"
# ## Exercise 9 — probability loyalty
#
# Label loyalty ignores confidence. **Probability loyalty** (Xu et al., 2021) compares the whole distributions through the Jensen–Shannon distance, with the divergence measured in bits ($\mathrm{JS}_2 = \mathrm{JS} / \log 2 \in [0, 1]$):
#
# $$L_p = \frac1N \sum_n \Big(1 - \sqrt{\mathrm{JS}_2(p_{t,n},\, p_{s,n})}\Big) \in [0, 1],$$
#
# 1 for identical predictions and 0 for disjoint supports. Rounding can push $\mathrm{JS}_2$ a hair below 0 (then the square root is `nan`) or above 1; clip it to $[0, 1]$ first.
#
# **Your task.** `probability_loyalty(student_probs, teacher_probs)`, a Python `float`, using your `js_divergence`.

# %% exercise="probability_loyalty"
# `course build` fills this cell from reference_impl: the exercise probability_loyalty

# %% [markdown] name="md_majority_vote_accuracy"
# ## Exercise 10 — the accuracy of a majority vote
#
# Distilling from several teachers (an ensemble) averages their outputs or takes a vote. Why should an ensemble beat its members? If $k$ classifiers are each right with probability $p$, **independently**, the majority is right with probability
#
# $$P(\text{majority right}) = \sum_{i > k/2} \binom{k}{i} p^i (1-p)^{k-i} \;\; \Big(+\; \tfrac12 \binom{k}{k/2} p^{k/2} (1-p)^{k/2} \text{ for even } k\Big),$$
#
# the even-$k$ term being a tie broken by a fair coin. Three independent teachers at $p = 0.7$ vote to $3 \cdot 0.7^2 \cdot 0.3 + 0.7^3 = 0.784$, and for any $p > \tfrac12$ the vote tends to 1 as $k$ grows (Condorcet's jury theorem). The word that carries all the weight is *independently*: you will measure below how far real networks are from it. The KD lecture's brain teaser asks the same question — three voters at 70% — and its answer is "all of the above", not 78.4%: the formula needs independence, and Exercise 11 computes what a vote can do without it.
#
# **Your task.** `majority_vote_accuracy(p, k)`, a Python `float`; `ValueError` for $p \notin [0, 1]$ or a $k$ that is not an integer $\ge 1$. (`math.comb` may be imported inside the function.)

# %% exercise="majority_vote_accuracy"
# `course build` fills this cell from reference_impl: the exercise majority_vote_accuracy

# %% [markdown] name="md_majority_vote_bounds"
# ## Exercise 11 — the same vote with correlated errors
#
# The KD lecture's brain teaser asks what three voters that are each right 70% of the time achieve by a majority vote, and its answer is "all of the above": without independence, anything from **55% to 100%**. Only the marginals are fixed: each voter is right with probability $p$. Let $X$ be the number of voters that are right on an input; then $E[X] = kp$, and any distribution of $X$ on $\{0, \dots, k\}$ with that mean is possible (make a random subset of $X$ voters right). The vote's accuracy $E[g(X)]$, with $g = 1$ for a majority, $\tfrac12$ for a tie and 0 otherwise, is then a linear programme with one constraint, and its extremes use two values of $X$:
#
# * **best case** — every input is won by the smallest majority $m = \lfloor k/2 \rfloor + 1$ or lost with no right vote at all: $\;\mathrm{hi} = \min\!\left(1, \dfrac{kp}{m}\right)$;
# * **worst case** — every input is won unanimously or lost by the largest losing count $L = \lceil k/2 \rceil - 1$: $\;\mathrm{lo} = \max\!\left(0, \dfrac{kp - L}{k - L}\right)$.
#
# For $k = 3$, $p = 0.7$: $\mathrm{hi} = \min(1, 2.1/2) = 1$ (three 2–1 wins need only 2 of the 2.1 right votes per input on average) and $\mathrm{lo} = (2.1 - 1)/2 = 0.55$ (3–0 wins on 55% of the inputs, 1–2 losses on 45%: each voter is right on $0.55 + 0.45/3 = 0.70$). The independent $0.784$ of Exercise 10 is one point inside $[0.55, 1]$. Kuncheva et al. (*Limits on the majority vote accuracy in classifier fusion*, Pattern Analysis and Applications, 2003) call the two extremes the "pattern of success" and the "pattern of failure".
#
# **Your task.** `majority_vote_bounds(p, k)`, the tuple `(lo, hi)` of Python floats; `ValueError` for $p \notin [0, 1]$ or a $k$ that is not an integer $\ge 1$.

# %% exercise="majority_vote_bounds"
# `course build` fills this cell from reference_impl: the exercise majority_vote_bounds

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. The cells train small PyTorch MLPs with `labkit.training` (Adam, mini-batches of 64, deterministic for a seed) and the distillation losses of `labkit.distillation_torch`, the PyTorch twins of your exercises 6 and 7.
#
# **Set-up.**
#
# * **Data:** the 8×8 digits, split 1,078 / 359 / 360 (train / validation / test), stratified. All numbers reported are *test* accuracies.
# * **Teacher:** an MLP 64 → 256 → 256 → 10 (85,002 parameters), trained once (seed 0) on all 1,078 training images.
# * **Student:** an MLP 64 → 16 → 10 (1,210 parameters, 70× smaller), trained for 600 Adam steps (learning rate $10^{-2}$) in every setting, so that a smaller training set means more epochs, not less training.
# * **Two regimes.** *full*: the student trains on the same 1,078 images as the teacher. *5/class*: the student sees only 5 labelled images of each digit (50 images), as when labels are scarce; the teacher's outputs on those same 50 images are its only extra information. (Hinton et al., sec. 4, report that soft targets let a model trained on 3% of the data recover most of the full-data accuracy.)
# * **Seeds:** every setting is trained with seeds 0, 1, 2; the seed fixes the student's initial weights, the batch order and, in the 5/class regime, which 50 images are labelled. A given seed gives the same initial weights and images to every method, so differences between methods are *paired*.
# * The architecture, learning rate, number of steps and the 5-per-class regime were chosen by the lab authors in a short pilot and are not tuned per setting; every setting of the sweep is reported, none is singled out. In fairness: the pilot looked at test accuracy. With a finer search that would bias the reported numbers upwards; such choices belong on the validation split.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab01, quick_mode, ready
from labkit.training import predict_logits

# One thread: the networks are tiny, and the measured table is bit-for-bit repeatable for a fixed thread
# count, torch version and CPU. COURSE_QUICK=1 runs every experiment at a tiny size (the tests do).
torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab01.Config.quick() if quick_mode() else lab01.Config()
figures = Figures()  # what the experiments measured, by name: the answers quote these
data = digits_splits(seed=0)  # stratified 60/20/20 split of the 1,797 8x8 digits, pixels in [0, 1]

# %% [markdown] name="md_teacher"
# ## The teacher
#
# Train the teacher and look at its learning curves. Note its accuracy on its own training images.

# %% name="exp_teacher"
teacher, teacher_hist = lab01.train_teacher(data, cfg, figures)
lab01.plot_teacher(teacher_hist)
train_logits_teacher = predict_logits(teacher, data.X_train).astype(np.float64)  # (1078, 10)
test_logits_teacher = predict_logits(teacher, data.X_test).astype(np.float64)  # (360, 10)

# %% [markdown] name="md_soft_targets"
# ## What the teacher's soft targets look like
#
# The first lines print, at each temperature, how much probability the teacher puts on the top class of its *training* images — the targets the student will be distilled on — and on the runner-up. The bar charts show the teacher's distribution for one typical test digit at $T = 1, 2, 4, 8, 16$ (your `softmax_t`). Watch at which temperature the ranking of the wrong classes becomes visible, and at which it is washed out.

# %% name="exp_soft_targets"
# Uses YOUR softmax_t from exercise 1.
if ready({1: softmax_t}):
    lab01.soft_target_stats(softmax_t, train_logits_teacher, cfg.temperatures, figures)
    # One typical test digit: among the images the teacher gets right, the one whose runner-up
    # probability at T = 1 is the median (so neither a confident nor a borderline case).
    i = lab01.typical_test_digit(softmax_t, test_logits_teacher, data.y_test)
    lab01.plot_soft_targets(softmax_t, data.X_test[i], data.y_test[i], test_logits_teacher[i], cfg.temperatures, i)
    print("logits:", np.round(test_logits_teacher[i], 1))

# %% [markdown] name="md_sanity_check"
# ## Sanity check: your `kd_loss` against the PyTorch loss used for training
#
# The experiments train with `kd_loss_torch`. On a batch of 128 training images (untrained student, trained teacher) your NumPy `kd_loss` and `hard_label_kd_loss` should agree with the PyTorch versions to float64 rounding (differences around $10^{-15}$). A larger difference points to a convention: the $T^2$ factor, the batch mean of the KL, the direction of the KL, or the temperature of the hard term.

# %% name="exp_sanity_check"
# Uses YOUR kd_loss and hard_label_kd_loss (exercises 6 and 7): they should agree with the
# PyTorch versions the experiments train with, to float64 rounding.
if ready({6: kd_loss, 7: hard_label_kd_loss}):
    lab01.sanity_check(kd_loss, hard_label_kd_loss, data.X_train, data.y_train, train_logits_teacher, cfg)

# %% [markdown] name="md_sweeps"
# ## The sweeps
#
# `student(regime, method, seed)` trains (once, then caches) a student; `method` is `("ce",)` for plain cross-entropy, `("kd", T, alpha)` for Hinton's loss and `("hard", alpha)` for DeiT's. The next cell sweeps $T \in \{1, 2, 4, 8, 16\}$ at $\alpha = 0.9$ and $\alpha \in \{0, 0.25, 0.5, 0.75, 0.9, 1\}$ at $T = 4$, plus DeiT's hard-label loss at $\alpha = 0.5$, in both regimes, and prints mean ± standard deviation over the three seeds and the *paired gain*: the mean over seeds of (method − no KD) with the same seed.

# %% name="exp_helpers"
# student(regime, method, seed) -> a trained student (cached); student.test_accuracy(regime, method) per seed
student = lab01.Students(data, teacher, cfg)

# %% name="exp_sweeps"
t0 = time.perf_counter()
results = lab01.sweep(student, cfg, figures)
print(f"\ntrained {len(student)} students in {time.perf_counter() - t0:.1f} s")

# %% [markdown] name="md_plots"
# Student accuracy against the temperature (log₂ axis) and against $\alpha$; the dashed line and grey band are the no-KD baseline's mean ± standard deviation.

# %% name="exp_plot_temperature"
lab01.plot_sweep(results, cfg, over="T")

# %% name="exp_plot_alpha"
lab01.plot_sweep(results, cfg, over="alpha")

# %% [markdown] name="md_data_size"
# ## When does distillation pay off?
#
# The two regimes are the ends of a range. The same comparison — no KD against KD at $T = 4$, $\alpha = 0.9$ — for 5, 10, 20 and 50 labelled images per class and for the full training set (≈108 per class):

# %% name="exp_data_size"
# When does KD pay off? The same comparison (no KD vs KD at cfg.t_fixed, cfg.alpha_fixed) as the
# number of labelled images per class grows. The teacher is the same throughout.
sizes = lab01.data_size(student, cfg, figures)
lab01.plot_data_size(sizes, figures["teacher_test_accuracy"], cfg)

# %% [markdown] name="md_loyalty"
# ## Loyalty: does the student behave like the teacher?
#
# Accuracy says how often a student is right; loyalty (your exercises 8 and 9) says how often it agrees with the teacher, and how closely its probabilities follow the teacher's, on the 360 test images.

# %% name="exp_loyalty"
# Uses YOUR softmax_t, label_loyalty and probability_loyalty: how closely does each student
# follow the teacher on the test images (averaged over seeds)?
if ready({1: softmax_t, 8: label_loyalty, 9: probability_loyalty}):
    lab01.loyalty(softmax_t, label_loyalty, probability_loyalty, student, results, test_logits_teacher, cfg, figures)

# %% [markdown] name="md_majority_vote"
# ## An ensemble of students: is the vote as good as the formula says?
#
# The three no-KD students of each regime (seeds 0, 1, 2) as an ensemble. Your `majority_vote_accuracy(p, 3)` predicts the ensemble's accuracy from the mean single accuracy, *assuming independent errors*; the cell measures what the vote actually achieves — both the binary event the formula describes (at least 2 of the 3 students are right) and a real plurality vote over the 10 classes — and the probability that two students are wrong on the same image, against the $(1-p)^2$ that independence predicts. Your `majority_vote_bounds(p, 3)` gives the range the vote can take for voters of this accuracy whatever their correlation; the measured value must lie inside it.

# %% name="exp_majority_vote"
# Uses YOUR majority_vote_accuracy: three students trained with different seeds, as an ensemble.
if ready({10: majority_vote_accuracy, 11: majority_vote_bounds}):
    lab01.majority_vote(majority_vote_accuracy, student, cfg, figures, majority_vote_bounds=majority_vote_bounds)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s ({len(student)} students trained); "
      f"figures written to {figures.write('lab01')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# Measured with PyTorch 2.13.0 on CPU, one thread, seeds 0, 1, 2; your numbers should match to the last digit on the same versions and may differ in the third decimal elsewhere. "± " is the standard deviation over the 3 seeds (NumPy's `std`, ddof = 0); the gain is paired (same seed, same initial weights and images). One test image is 1/360 ≈ 0.003 of accuracy.
#
# **Teacher** (85,002 parameters): accuracy 1.000 on its training images, 0.969 validation, **0.975 test**. On its own training images it is very confident: mean top-class probability 0.992 at $T = 1$, 0.735 at $T = 4$, 0.228 at $T = 16$.
#
# **Student** (1,210 parameters), test accuracy:
#
# | student loss | full training set (1,078 images) | gain | 5 images per class (50 images) | gain |
# |---|---|---|---|---|
# | no KD (cross-entropy) | 0.971 ± 0.001 | — | 0.868 ± 0.007 | — |
# | KD, $T = 1$, $\alpha = 0.9$ | 0.970 ± 0.003 | −0.001 | 0.894 ± 0.013 | +0.026 |
# | KD, $T = 2$, $\alpha = 0.9$ | 0.966 ± 0.007 | −0.006 | 0.934 ± 0.007 | +0.067 |
# | KD, $T = 4$, $\alpha = 0.9$ | 0.962 ± 0.001 | −0.009 | 0.947 ± 0.008 | +0.080 |
# | KD, $T = 8$, $\alpha = 0.9$ | 0.959 ± 0.001 | −0.012 | **0.958 ± 0.002** | **+0.091** |
# | KD, $T = 16$, $\alpha = 0.9$ | 0.957 ± 0.003 | −0.014 | 0.956 ± 0.003 | +0.089 |
# | KD, $T = 4$, $\alpha = 0$ | 0.971 ± 0.001 | +0.000 | 0.868 ± 0.007 | +0.000 |
# | KD, $T = 4$, $\alpha = 0.25$ | 0.963 ± 0.006 | −0.008 | 0.944 ± 0.008 | +0.077 |
# | KD, $T = 4$, $\alpha = 0.5$ | 0.961 ± 0.005 | −0.010 | 0.945 ± 0.007 | +0.078 |
# | KD, $T = 4$, $\alpha = 0.75$ | 0.962 ± 0.001 | −0.009 | 0.944 ± 0.007 | +0.076 |
# | KD, $T = 4$, $\alpha = 1$ | 0.963 ± 0.001 | −0.008 | 0.947 ± 0.004 | +0.080 |
# | hard-label KD (DeiT), $\alpha = 0.5$ | 0.971 ± 0.001 | +0.000 | 0.868 ± 0.007 | +0.000 |
#
# No KD against KD ($T = 4$, $\alpha = 0.9$) by labelled images per class: 5: 0.868 → 0.947 (+0.080); 10: 0.903 → 0.951 (+0.048); 20: 0.940 → 0.953 (+0.013); 50: 0.956 → 0.960 (+0.005); all (≈108): 0.971 → 0.962 (−0.009).
#
# Loyalty to the teacher on the test set (mean over seeds; label / probability loyalty): full set, no KD 0.977 / 0.950, KD $T = 4$ 0.979 / 0.976; 5 per class, no KD 0.865 / 0.800, KD $T = 4$ 0.958 / 0.925, KD $T = 8$ 0.968 / 0.940. Majority vote of the three no-KD students: full set 0.971 each, formula 0.998, measured 0.975; 5 per class 0.868 each, formula 0.952, measured 0.906 (at least 2 of 3 right) and 0.917 (plurality vote).
#
# **What this shows.**
#
# * **On the full training set, distillation does not help this student; if anything it hurts a little** (−0.001 at $T = 1$ down to −0.014 at $T = 16$, about 0 to 5 test images). Hinton et al.'s gains do not reproduce at this scale, and the reasons are visible in the numbers: (1) there is little to distil — the teacher is only 0.4 points (1–2 test images) better than the student trained on labels; (2) the teacher is distilled on its own *training* images, which it fits perfectly and with 0.99 confidence, so at $T = 1$ its targets are nearly the labels, and at higher $T$ what is added is the ranking of wrong classes it fitted on those very images; (3) at high $T$ the loss approaches matching all ten logits (section 6), a function of an 85k-parameter network that a 16-unit student cannot reproduce, and with $\alpha T^2 = 14.4$ against 0.1 for the labels the soft term dominates — the student spends its capacity copying the teacher rather than separating the classes. That accuracy falls steadily with $T$ fits this reading; large teacher–student capacity gaps are known to hurt KD (Cho & Hariharan, *On the Efficacy of Knowledge Distillation*, ICCV 2019). Yet the KD students *are* more loyal to the teacher (probability loyalty 0.976 against 0.950): KD does what it optimises, which is not the same as accuracy.
# * **With 5 labelled images per class, distillation helps a lot:** +0.08 to +0.09 for $T \ge 4$, far beyond the seed noise, and at $T = 8$ the student (0.958) comes within 1.3 points of the same student trained on all 1,078 labels. Each of the 50 images now comes with a 10-number target that says which other digits it resembles — information the teacher learned from the full training set. This is Hinton et al.'s "soft targets as a regulariser" finding (sec. 4), qualitatively reproduced. The benefit shrinks as labels become plentiful and is gone by 50 per class.
# * $\alpha$ barely matters once it is above 0: with $T^2 = 16$ the soft term dominates already at $\alpha = 0.25$. $\alpha = 0$ and DeiT's hard-label loss reproduce the baseline exactly (see question 3).
# * Three students make a better classifier than one, but far less better than the independence formula predicts: their errors fall on the same images.

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — the $T^2$ factor.** (a) At $T = 4$, $\alpha = 0.25$, what are the weights of the hard and the soft term, and what does that say about the flat $\alpha$ curve of the 5-per-class regime? (b) Suppose the $T^2$ factor were dropped. What would happen to the soft term's gradient at $T = 16$, and which measured row would the $T = 16$, $\alpha = 0.9$ student then come to resemble? (c) At $\alpha = 1$, does the $T^2$ factor change anything when the optimiser is Adam?

# %% [markdown] answer="answer_1"
# (a) The hard term gets $1 - \alpha = 0.75$, the soft term $\alpha T^2 = 0.25 \cdot 16 = 4$. Since the $T^2$ factor makes the soft gradient comparable in size to a cross-entropy gradient (it cancels the $1/T^2$ of section 6), the soft term already dominates at $\alpha = 0.25$, and every $\alpha \ge 0.25$ trains essentially the same student: measured 0.944–0.947 for $\alpha$ from 0.25 to 1 against 0.868 at $\alpha = 0$. Only $\alpha$ close to 0 would show the transition.
#
# (b) Without $T^2$ the soft term's gradient at $T = 16$ shrinks by about $1/T^2 = 1/256$ (it scales like $(z_s - z_t)/(C T^2)$), so its effective weight would be $0.9/256 \approx 0.004$ against 0.1 for the labels: the student would be trained almost purely by cross-entropy and would come to resemble the no-KD / $\alpha = 0$ row — about 0.87 instead of 0.956 with 5 per class, about 0.971 on the full set. The T sweep would then mix up two effects: changing $T$ would also change the balance of the two terms.
#
# (c) Almost nothing. With $\alpha = 1$ the loss is $T^2$ times the KL, and Adam divides each update by a running RMS of the gradient, so a constant factor on the whole loss cancels (up to the tiny $\epsilon$). The factor matters when there is a second term to balance against ($0 < \alpha < 1$), or with plain SGD, where it would act as a learning-rate change.

# %% [markdown] name="md_question_2"
# **Question 2 — $T = 1$ against $T = 16$.** Using the bar charts and the printed top-class probabilities of the teacher on its training images: why does KD at $T = 1$ add only +0.026 with 5 images per class while $T = 8$ adds +0.091? And why, on the full training set, does the student's accuracy fall steadily as $T$ grows?

# %% [markdown] answer="answer_2"
# At $T = 1$ the teacher's targets on the images it was trained on are almost one-hot — mean top-class probability 0.992, runner-up 0.007 — so the soft term says little more than the label does; the small gain (+0.026) comes from the remaining bit of non-label mass. At $T = 4$–$8$ the top class drops to 0.74–0.41 and the runner-ups rise to 0.10–0.14: the bar chart shows that the 2 resembles an 8 and a 1 more than a 4 or a 7. Each of the 50 training images then carries a 10-number description of its similarity to all digits, which the teacher learned from 1,078 images — much more information per example, and a strong regulariser against overfitting 50 images. At $T = 16$ the distribution is nearly flat (top class 0.23), but the *ratios* between classes survive, and by section 6 the loss is then close to matching the logits, which still works (0.956).
#
# On the full set the student already has enough labels to reach 0.971, and the teacher is barely better (0.975), so there is little to gain. As $T$ grows, the objective moves from "match the teacher's decision" towards "match all ten of the teacher's logits", weighted $\alpha T^2 = 14.4$ against 0.1 for the labels at $T = 4$. A 16-unit student cannot represent the logit function of an 85k-parameter network; it spends its capacity on the wrong-class logits (including what the teacher memorised about its training images) instead of on the class boundaries, and its accuracy falls monotonically (0.970 → 0.957) while its agreement with the teacher's probabilities rises.

# %% [markdown] name="md_question_3"
# **Question 3 — the extremes.** Three rows reproduce the no-KD baseline to three decimals in both regimes: $\alpha = 0$, DeiT's hard-label loss, and (trivially) the baseline itself. Explain why for the first two. Then: with $\alpha = 1$ the student never sees a label — how can it still reach 0.947 with 5 images per class, and in what sense did it see labels after all?

# %% [markdown] answer="answer_3"
# $\alpha = 0$: the loss is $(1 - 0)\,\mathrm{CE} + 0 \cdot T^2\,\mathrm{KL} = \mathrm{CE}$, and the same seed gives the same initial weights, the same images and the same batch order, so it is the baseline run again.
#
# Hard-label KD: the teacher is 100% right on its training images, and every student training image (all 1,078, or the 50) is one of them, so $y_t = \arg\max z_t = y$ on every example and $(1 - \alpha)\,\mathrm{CE}(z_s, y) + \alpha\,\mathrm{CE}(z_s, y_t) = \mathrm{CE}(z_s, y)$. A teacher's hard labels carry information only where they differ from the true labels — in DeiT, on heavily augmented crops; without augmentation or unlabelled data there is nothing to transfer.
#
# $\alpha = 1$: the teacher's distribution contains the label (its argmax is right on every training image) *and* the similarity structure, so the label term adds nothing the soft term does not already say: 0.947 at $\alpha = 1$ against 0.947 at $\alpha = 0.9$. The labels are not absent, though: they went into training the teacher on all 1,078 images. The 5-per-class student benefits from 1,078 labels' worth of knowledge, routed through the teacher — which is the point of the method, but means the comparison with a 50-label baseline is not a free lunch.

# %% [markdown] name="md_question_4"
# **Question 4 — signal or noise?** For the full set at $T = 4$ ($-0.009$) and the 5-per-class regime at $T = 8$ ($+0.091$), is the difference bigger than the noise? Consider the spread over seeds, that the gains are paired, and the size of the test set (the binomial standard error of an accuracy $p$ on $n$ images is $\sqrt{p(1-p)/n}$). What would you do to turn the full-set observation into a firm claim?

# %% [markdown] answer="answer_4"
# 5 per class: +0.091 is about 33 test images. The seed standard deviations are 0.002–0.007, every seed gains, and the binomial standard error at $p \approx 0.9$ on 360 images is about 0.016, so the gain is several standard errors from 0 on any count: a real effect.
#
# Full set: −0.009 is about 3 test images. The seed spread is small (0.001) and the sign is the same for all three seeds and consistent with a monotone trend in $T$, but the binomial standard error at $p = 0.97$ is $\sqrt{0.97 \cdot 0.03 / 360} \approx 0.009$ — as large as the effect. The paired design removes part of that (both students are scored on the same images; a McNemar test on the images where they disagree is the right test), but three seeds, one teacher and one split are a thin basis. "KD does not help here" is well supported; "KD hurts here" is suggestive only. To firm it up: more seeds, several teachers, other splits (`digits_splits(seed)`) or cross-validation, and report a paired test or a confidence interval on the gain. And the three-seed standard deviations themselves are rough estimates.

# %% [markdown] name="md_question_5"
# **Question 5 — votes and loyalty.** (a) Your `majority_vote_accuracy` predicts 0.998 for three full-set students at 0.971; the vote gets 0.975. Use the printed probability that two students are both wrong to explain the gap, and say why the gap is smaller (relative to the formula's promise) for the 5-per-class students. What does this imply for distilling from an ensemble of teachers? (b) On the full set the KD student ($T = 4$) is *less* accurate than the no-KD one but has *higher* label and probability loyalty. What does that say about what distillation optimises, and why might a deployer care about loyalty anyway?

# %% [markdown] answer="answer_5"
# (a) The formula assumes independent errors: two students would then both be wrong with probability $(1 - p)^2 = 0.0008$, but a pair of them is wrong on the same image 0.0176 of the time, about 21 times more often. Their mistakes are concentrated on the same ambiguous digits, which a vote cannot fix, so the vote recovers only 0.004 of the 0.027 the formula promises. The 5-per-class students were trained on *different* random 50-image subsets and are more diverse (both wrong 0.046 against 0.0175 under independence, only 2.6×), so their vote gains more, 0.868 → 0.917 (plurality), though still below the formula's 0.952. For multi-teacher distillation: an ensemble is a better teacher only in so far as its members err differently — teachers trained on different data, with different architectures or augmentations; averaging near-copies adds little. Without independence nothing pins the vote to the formula at all: for $p = 0.971$, `majority_vote_bounds(0.971, 3)` is $[0.9565, 1]$, and the measured 0.975 lies inside it, much nearer the worst case than the independent 0.998 — three students that err on the same images are close to the "pattern of failure", where correct votes are wasted on unanimous wins.
#
# (b) KD optimises agreement with the teacher's distribution, not accuracy: the student copies the teacher's mistakes and uncertainties along with its right answers (probability loyalty 0.950 → 0.976). When the teacher is barely better than the student, following it more closely does not raise accuracy and can cost some, as here. Xu et al. (2021) argue that a compressed model that replaces a deployed one should also *behave* like it — make the same decisions with similar confidence, so that downstream systems, calibration and users' expectations carry over — which accuracy alone does not measure and loyalty does.
