# %% [markdown] name="md_title"
# # Lab 13 — Efficient transformers
#
# A transformer layer spends its time in two places: the attention matrix, quadratic in the sequence length, and the weights, which make a model like BERT-base too slow for a phone. This lab covers both sides. **FlashAttention** computes *exact* attention without ever storing the N × N matrix, by tiling it and keeping two running statistics per row; the gain is in memory traffic, not arithmetic. **Distillation** makes the model smaller: TinyBERT imitates the teacher layer by layer (attention maps, hidden states, predictions), DeiT adds a distillation token, and Switch Transformers distil a sparse mixture-of-experts into a dense model. **Adaptive computation** spends less on easy inputs: EBERT switches attention heads off per input, and a cascade of models lets a cheap model answer when it is sure — which pays off at batch 1 on a CPU but not always in a batch.
#
# In this lab you
#
# 1. **write** (graded) the NumPy pieces: tiled attention with the online softmax and the HBM-traffic count of FlashAttention, TinyBERT's layer mapping and losses, DeiT's loss and prediction, EBERT-style head masks with a FLOPs penalty, the Switch distillation loss and a cascade's cost and accuracy;
# 2. **run** (not graded) a tiny transformer over the 8×8 digits, each image row a token of 8 pixels: tiled vs naive attention, a 4-layer teacher distilled into 2 layers (no KD, Hinton KD, TinyBERT), DeiT's distillation token, dynamic heads under FLOPs targets, and a cascade timed at batch 1 and in batches — over 3 seeds;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np`) and the functions of earlier exercises. The autograder checks each function with property tests (e.g. *"the output should equal naive attention softmax(QKᵀ/√d)V to 1e-12 for any block sizes"*) against a hidden reference. Run `course check <this notebook>` for the public checks.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_tiled_attention"
# ## Exercise 1 — attention, one tile at a time
#
# Attention is $O = \mathrm{softmax}(S)\,V$ with $S = QK^\top/\sqrt d$ (Vaswani et al. 2017). The softmax of a row needs the whole row: its maximum (for stability) and its sum. FlashAttention (Dao et al., *FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness*, NeurIPS 2022, Algorithm 1) visits the row in blocks of $B_c$ keys and keeps, per query row, a running maximum $m$, a running normaliser $\ell$ and an unnormalised output; when a new block raises the maximum, everything so far is rescaled by $e^{m_{old} - m_{new}}$ (the *online softmax*, Milakov & Gimelshein 2018):
#
# $$m' = \max(m, \max_j S_{ij}),\quad \ell' = e^{m - m'}\ell + \sum_j e^{S_{ij} - m'},\quad \mathrm{acc}' = e^{m - m'}\mathrm{acc} + \sum_j e^{S_{ij} - m'} V_j.$$
#
# At the end $O_i = \mathrm{acc}_i/\ell_i$ — *exactly* the softmax, for any block size: this is not an approximation. FlashAttention also keeps $L_i = m_i + \log \ell_i$, the row's log-sum-exp, so that the backward pass can recompute $P = e^{S - L}$ instead of storing it.
#
# **Your task.** `tiled_attention(Q, K, V, block_rows, block_cols)` returning `(O, L)`, without forming the whole $S$.

# %% exercise="tiled_attention"
# `course build` fills this cell from reference_impl: the exercise tiled_attention

# %% [markdown] name="md_attention_hbm_accesses"
# ## Exercise 2 — the IO argument
#
# On a GPU, arithmetic is cheap and memory traffic to the large, slow HBM is not. Naive attention writes $S$ and $P$ (each $N^2$) to HBM and reads them back; FlashAttention keeps each tile in the small on-chip SRAM of $M$ elements. With blocks $B_c = \lceil M/4d\rceil$, $B_r = \min(B_c, d)$ the paper's Algorithm 1 reads each $K_j, V_j$ once and, for every column block, reads and writes every row block of $Q, O, \ell, m$:
#
# $$\text{naive} = 4Nd + 4N^2, \qquad \text{flash} = Nd + 2N + 2Nd + T_c\,(3Nd + 4N),\quad T_c = \lceil N/B_c\rceil,$$
#
# which is $\Theta(N^2d^2/M)$ (their Theorem 2): fewer accesses whenever $d^2 \ll M$.
#
# **Your task.** `attention_hbm_accesses(N, d, sram_size)` returning `(naive, flash)` as ints.

# %% exercise="attention_hbm_accesses"
# `course build` fills this cell from reference_impl: the exercise attention_hbm_accesses

# %% [markdown] name="md_tinybert_layer_map"
# ## Exercise 3 — TinyBERT's layer mapping
#
# A student of $M$ layers learns from a teacher of $N$ layers (Jiao et al., *TinyBERT*, Findings of EMNLP 2020). Which teacher layer does student layer $m$ imitate? The *uniform* strategy takes every $(N/M)$-th: $g(m) = m\,N/M$, with $g(0) = 0$ the embeddings and $g(M+1) = N+1$ the prediction layer. TinyBERT-4 from BERT-base (12 layers) learns from layers 3, 6, 9 and 12.
#
# **Your task.** `tinybert_layer_map(n_student, n_teacher)`: the array $g(0), \dots, g(M+1)$.

# %% exercise="tinybert_layer_map"
# `course build` fills this cell from reference_impl: the exercise tinybert_layer_map

# %% [markdown] name="md_tinybert_attention_loss"
# ## Exercise 4 — attention-based distillation
#
# Attention maps carry linguistic knowledge (which token looks at which), so TinyBERT makes the student's maps match the teacher's, head by head, on the mapped layers:
#
# $$\mathcal L_{attn} = \sum_{m=1}^{M} \frac1h\sum_{i=1}^h \mathrm{MSE}\big(A^S_{m,i}, A^T_{g(m),i}\big),$$
#
# with $A$ the attention **scores before the softmax** (the paper found them to converge faster). Student and teacher need the same number of heads; their widths may differ.
#
# **Your task.** `tinybert_attention_loss(student_attn, teacher_attn)` for stacks $(M, h, l, l)$ and $(N, h, l, l)$, calling your `tinybert_layer_map`.

# %% exercise="tinybert_attention_loss"
# `course build` fills this cell from reference_impl: the exercise tinybert_attention_loss

# %% [markdown] name="md_tinybert_hidden_loss"
# ## Exercise 5 — hidden states and embeddings through a learned projection
#
# The student's hidden states are narrower ($d' < d$), so they are compared through learned matrices: $\mathcal L = \mathrm{MSE}(E^S W_e, E^T) + \sum_{m=1}^M \mathrm{MSE}(H^S_m W_h, H^T_{g(m)})$ (TinyBERT eqs. 8–9). $W_h$ and $W_e$ are trained with the student and thrown away afterwards.
#
# **Your task.** `tinybert_hidden_loss(student_hidden, teacher_hidden, W_h, W_e)`; index 0 of each stack is the embedding layer's output.

# %% exercise="tinybert_hidden_loss"
# `course build` fills this cell from reference_impl: the exercise tinybert_hidden_loss

# %% [markdown] name="md_soft_cross_entropy"
# ## Exercise 6 — the prediction-layer loss
#
# TinyBERT's last loss is the cross-entropy of the student's softened prediction against the teacher's, $-\frac1B\sum_b \mathrm{softmax}(z^T_b/t)\cdot\log\mathrm{softmax}(z^S_b/t)$ (eq. 10). Unlike Hinton's KD loss (Lab 1) there is no $T^2$ factor, and it is KL plus the teacher's entropy: its minimum, where the student matches the teacher, is the entropy, not 0.
#
# **Your task.** `soft_cross_entropy(student_logits, teacher_logits, T=1.0)`, stable for logits of ±1e4.

# %% exercise="soft_cross_entropy"
# `course build` fills this cell from reference_impl: the exercise soft_cross_entropy

# %% [markdown] name="md_deit_loss"
# ## Exercise 7 — DeiT's distillation token
#
# DeiT (Touvron et al., *Training data-efficient image transformers & distillation through attention*, ICML 2021) appends a second learned token next to the class token. The class token's head learns from the labels; the distillation token's head from the teacher's **hard** decisions $y_t = \arg\max Z_t$:
#
# $$\mathcal L = \tfrac12\,\mathrm{CE}(Z_{cls}, y) + \tfrac12\,\mathrm{CE}(Z_{dist}, y_t).$$
#
# Ties in the teacher's logits go to the lowest class index.
#
# **Your task.** `deit_loss(cls_logits, dist_logits, teacher_logits, labels)`.

# %% exercise="deit_loss"
# `course build` fills this cell from reference_impl: the exercise deit_loss

# %% [markdown] name="md_deit_predict"
# ## Exercise 8 — DeiT at test time
#
# The two heads are fused by adding their softmax outputs; how often the two heads decide alike tells how different the tokens have become (DeiT reports the two tokens' embeddings drift apart through the layers).
#
# **Your task.** `deit_predict(cls_logits, dist_logits)` returning the fused predictions and the agreement.

# %% exercise="deit_predict"
# `course build` fills this cell from reference_impl: the exercise deit_predict

# %% [markdown] name="md_head_flops_loss"
# ## Exercise 9 — dynamic heads with a FLOPs penalty
#
# EBERT (Liu et al., *EBERT: Efficient BERT Inference with Dynamic Structured Pruning*, Findings of ACL 2021) lets a small predictor decide, per input, which heads run. The forward pass uses the hard mask $\mathbb 1[g > 0]$; the training loss sees the keep probabilities $\sigma(g)$ through the expected FLOPs
#
# $$\mathbb E[F]_b = F_{fixed} + \sum_i \sigma(g_{b,i})\,F_i, \qquad \text{penalty} = \max\!\big(0,\ \overline{\mathbb E[F]}/F_{full} - \text{target}\big)^2$$
#
# (the hinge-squared form is this course's convention: nothing below the budget, a smooth push above it).
#
# **Your task.** `head_flops_loss(gate_logits, head_flops, fixed_flops, target_ratio)` returning `(mask, expected_flops, penalty)`.

# %% exercise="head_flops_loss"
# `course build` fills this cell from reference_impl: the exercise head_flops_loss

# %% [markdown] name="md_switch_distill_loss"
# ## Exercise 10 — sparse to dense
#
# A mixture-of-experts model is large in parameters but cheap per token; serving it is still awkward. Fedus et al. (*Switch Transformers*, JMLR 2022, sec. 5) distil it into a dense model and keep about 30% of the quality gain, training the student on a mix of **0.25 teacher probabilities and 0.75 ground-truth label**: cross-entropy against $q = 0.25\,\mathrm{softmax}(z^T) + 0.75\,\mathrm{onehot}(y)$.
#
# **Your task.** `switch_distill_loss(student_logits, teacher_logits, labels, teacher_weight=0.25)`; the loss is linear in $q$, so your `soft_cross_entropy` does half the work.

# %% exercise="switch_distill_loss"
# `course build` fills this cell from reference_impl: the exercise switch_distill_loss

# %% [markdown] name="md_cascade_cost_accuracy"
# ## Exercise 11 — a cascade
#
# A cascade (Viola & Jones, CVPR 2001; lecture 7) runs a cheap model first and passes an input on only when the model is unsure: stage $k$ answers when its confidence reaches threshold $t_k$, the last stage answers the rest. An input answered by stage $k$ paid for stages $0..k$. Unlike Lab 6's early exits the stages are separate models, so a later stage cannot reuse an earlier one's work.
#
# **Your task.** `cascade_cost_accuracy(confidences, correct, thresholds, stage_costs)` returning `(cost, accuracy, exit_fractions)`.

# %% exercise="cascade_cost_accuracy"
# `course build` fills this cell from reference_impl: the exercise cascade_cost_accuracy

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. **Set-up**: the 8×8 digits (1,078 / 359 / 360, test accuracies reported), each image as 8 tokens (its rows) of 8 pixels. `DigitTransformer` (`labkit.efficient_transformers`) is a pre-norm transformer: teacher 4 layers, width 32, 4 heads; student 2 layers, width 16, 4 heads; a 1-layer width-8 "tiny" model as the cascade's first stage. Every model trains 15 epochs with AdamW (lr 5·10⁻³, batches of 128), seeds 0, 1, 2; "±" is the standard deviation over seeds. Times are measured on the machine that runs the notebook, **now**: yours will differ.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab13, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab13.Config.quick() if quick_mode() else lab13.Config()
figures = Figures()
data = digits_splits(seed=0)

# %% [markdown] name="md_flash"
# ## FlashAttention in NumPy
#
# Your `tiled_attention` against naive attention at several sequence lengths: the largest difference, the time of each, and your traffic model's naive / flash ratio. NumPy is not a GPU: there is no SRAM to keep a tile in, and a Python loop over tiles costs more than one big matrix product.

# %% name="exp_flash"
if ready({1: tiled_attention, 2: attention_hbm_accesses}):
    lab13.flash_attention(tiled_attention, attention_hbm_accesses, cfg, figures)

# %% [markdown] name="md_teachers"
# ## Teacher, student and tiny model, without distillation
#
# Then your loss functions against the torch losses the training below uses, on one batch of the trained models.

# %% name="exp_teachers"
models = lab13.train_teachers(data, cfg, figures)
if ready({4: tinybert_attention_loss, 5: tinybert_hidden_loss, 6: soft_cross_entropy, 7: deit_loss}):
    lab13.sanity(soft_cross_entropy, tinybert_attention_loss, tinybert_hidden_loss, deit_loss, models, data)

# %% [markdown] name="md_distill"
# ## TinyBERT-style distillation: 4 layers into 2
#
# The student (2 layers, width 16) trained three ways: labels only; Hinton's KD from the teacher ($T = 4$, $\alpha = 0.9$, Lab 1's loss); and TinyBERT's losses — attention scores and hidden states of the mapped layers (through learned $W_h$, $W_e$) plus the prediction loss at $t = 1$ — in one stage, without labels.

# %% name="exp_distill"
if ready({3: tinybert_layer_map}):
    lab13.distill(tinybert_layer_map, models, data, cfg, figures)

# %% [markdown] name="md_deit"
# ## DeiT: a distillation token against logit KD
#
# Three students with a class token: no distillation, Hinton KD on the class head, and DeiT (class + distillation token, hard teacher labels), evaluated per head and fused by your `deit_predict`.

# %% name="exp_deit"
if ready({7: deit_loss, 8: deit_predict}):
    lab13.deit(deit_loss, deit_predict, models, data, cfg, figures)

# %% [markdown] name="md_heads"
# ## Dynamic heads: accuracy against expected FLOPs
#
# A 2-layer transformer of width 32 with 4 heads per layer and a linear head predictor (on the mean token embedding), trained with cross-entropy plus $20\times$ the FLOPs penalty at several targets. Your `head_flops_loss` turns the trained predictor's gate logits on the test set into masks and expected FLOPs.

# %% name="exp_heads"
if ready({9: head_flops_loss}):
    lab13.dynamic_heads(head_flops_loss, data, cfg, figures)

# %% [markdown] name="md_cascade"
# ## A cascade, and when adaptivity pays
#
# tiny → student → teacher, the same threshold at both early stages, cost in MACs per image from your `cascade_cost_accuracy`; then the wall time per image of the teacher alone and of the cascade at threshold 0.9, one image at a time and in batches of 256 (a batch runs each stage on the images still unanswered).

# %% name="exp_cascade"
if ready({11: cascade_cost_accuracy}):
    lab13.cascade(cascade_cost_accuracy, models, data, cfg, figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab13')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# PyTorch 2.13.0, CPU, one thread, seeds 0, 1, 2, 15 epochs per model. Times are not quoted: they depend on the machine and its load (ours was shared), so read yours from the tables above.
#
# * **FlashAttention.** Tiled and naive attention agree to within a few units of float64 rounding (below 10⁻¹⁵) at every length: tiling is exact. The traffic model with $d = 16$ and 100 KB of SRAM says naive attention moves 3.1, 10.7 and 20.2 times as many HBM elements as FlashAttention at N = 64, 256 and 1,024; for GPU-sized heads ($d = 64$, 100,000 elements of SRAM) 5.6, 7.1 and 7.8 times at N = 1,024, 4,096 and 16,384 — the ratio grows with N towards its $\Theta(M/d^2)$ limit. In NumPy the timings say little about that: there is no SRAM under our control, each tile is a Python loop iteration, and at large N the naive version's time is dominated by allocating the N × N matrices.
# * **Teacher and students.** Teacher (4 layers, width 32) 0.939 ± 0.014; student (2 layers, width 16; the MACs per image are printed above) 0.922 ± 0.025; the tiny model 0.808 ± 0.006.
# * **Distillation does not help the 2-layer student here.** Hinton KD 0.920 ± 0.022 against 0.922 ± 0.025 without KD (paired gain −0.002); TinyBERT's losses, in one stage and without labels, 0.850 ± 0.019 (−0.072). The paper's gains do not reproduce at this scale: our teacher is only slightly better than the student, has seen the same 1,078 images, and TinyBERT's attention and hidden losses need many more steps (the paper distils for days on augmented data, in two stages, the prediction stage with labels) — in 15 epochs they pull the student towards the teacher's internals at the expense of its predictions.
# * **DeiT.** Class token without distillation 0.928 ± 0.006, with Hinton KD 0.936 ± 0.019; DeiT's class head 0.931 ± 0.013, distillation head 0.919 ± 0.018, both fused 0.930 ± 0.011. The heads agree on 0.969 ± 0.006 of the test images. All differences are within the spread over seeds: DeiT's advantage of hard distillation (with a convnet teacher, on ImageNet) is not visible with a small transformer teacher on digits.
# * **Dynamic heads.** With no FLOPs pressure (target 1) 0.945 ± 0.021 at 0.971 of the full FLOPs (the predictor keeps every head). At target 0.5 the predictor switches off almost every head (0.108 of them run) and accuracy falls to 0.854 ± 0.068, at 0.546 of the FLOPs: the embedding, FFNs and classifier are about half of this model's FLOPs and cannot be switched off, so a 50% budget leaves almost nothing for attention. EBERT also prunes FFN channels for that reason.
# * **Cascade.** At threshold 0.8 the cascade tiny → student → teacher reaches 0.948 ± 0.007 with 0.225 of the MACs of running all three stages, at 0.9 the same 0.948 ± 0.007 with 0.345; the teacher alone gets 0.939 ± 0.014. At 0.5 it costs only 0.053 but accuracy drops to 0.881 ± 0.002. In wall time, measure for yourself: these models are so small that a call's fixed overhead (Python, PyTorch dispatch) is larger than its arithmetic, so at batch 1 the cascade's extra calls can cost more than the MACs it saves; in a batch of 256 each stage is one call on the images still unanswered.

# %% [markdown] name="md_question_1"
# ### Questions
#
# **Question 1 — FlashAttention.** Your tiled attention agrees with naive attention to rounding, yet it is slower in NumPy. Why is it faster on a GPU? Use your traffic model's numbers.

# %% [markdown] answer="answer_1"
# Tiling never changes the arithmetic (it is the same $O(N^2 d)$, plus the rescaling) — it changes where the data lives. On a GPU, attention is limited by memory bandwidth: the naive version writes $S$ and $P$ ($N^2$ each) to HBM and reads them back, which my traffic model counts as 10.7 times the flash traffic at N = 256 and 20.2 times at N = 1,024 (with $d = 16$). FlashAttention keeps each tile in SRAM, fuses the matrix products, the softmax and the rescaling into one kernel, and never writes $S$ or $P$; the backward pass recomputes them from $Q, K$ and $L$. In NumPy there is no SRAM we control and no kernel fusion: every tile is a Python iteration with its own temporaries, so the same algorithm pays interpreter overhead instead of saving bandwidth.

# %% [markdown] name="md_question_2"
# **Question 2 — distillation.** Rank no KD, Hinton KD and TinyBERT's losses on your table, and say whether the differences are larger than the spread over seeds.

# %% [markdown] answer="answer_2"
# On our runs: no KD 0.922 ± 0.025, Hinton KD 0.920 ± 0.022, TinyBERT's losses 0.850 ± 0.019. Hinton KD and no KD are indistinguishable (paired gain −0.002, far inside the spread); TinyBERT's one-stage losses are clearly worse (−0.072). So the ranking is no KD ≈ KD > TinyBERT, the opposite of the papers. The teacher is only slightly better than the student and trained on the same small set, so its soft targets carry little beyond the labels; the layer-wise losses constrain a student of width 16 to imitate a width-32 teacher's hidden states through $W_h$ and its attention scores, which takes more training than 15 epochs and, without labels or a separate prediction stage, costs accuracy.

# %% [markdown] name="md_question_3"
# **Question 3 — adaptive computation.** From the cascade and dynamic-heads tables: how much computation does adaptivity save at what accuracy, and why does the saving in MACs turn into a saving in time at batch 1 but not (or less) in a batch?

# %% [markdown] answer="answer_3"
# The cascade at threshold 0.8 answers with 0.948 ± 0.007 using 0.225 of the MACs of all three stages (the teacher alone: 0.939 ± 0.014): most digits are easy, and the tiny model answers a large share of them. Dynamic heads save much less: at target 0.5 the model runs 0.108 of its heads yet still spends 0.546 of its FLOPs, and loses much of its accuracy, because the parts that cannot be switched off (FFNs, embedding) are half the model. Whether MACs become time depends on how the hardware is used. At batch 1 on a CPU a skipped stage is time saved — if the stages are large enough that their arithmetic dominates; our models are so small that the cost per call dominates, so compare the two batch-1 columns of your table before believing a saving. In a batch, all images wait for the slowest: an early exit saves time only if the remaining images are gathered into a smaller batch (as here), and on an accelerator a batch smaller than the hardware's width costs about as much as a full one, so adaptivity pays mainly at batch 1 and at the edge, where lecture 7 places it.
