# %% [markdown] name="md_title"
# # Lab 8 — Quantization
#
# A trained network's weights are float32: 32 bits each. Most of those bits are noise as far as the network's decisions are concerned. **Quantization** stores weights (and, for integer-only inference, activations) as small integers or narrow floats, with a scale that maps them back to reals. It is the compression technique you will use most: int8 inference is in every mobile runtime, and 4-bit and FP8 formats are how large models fit on one accelerator.
#
# In this lab you
#
# 1. **write** (graded) the NumPy building blocks: the scale and zero point of affine and symmetric k-bit quantization, quantize and dequantize per tensor and per channel, range calibration (min/max, percentile, MSE-optimal clipping), FP8-style floats (E4M3 / E5M2) and block floating point, the fixed-point multiplier and integer-only linear layer of Jacob et al. (CVPR 2018), the straight-through estimator and LSQ's step-size gradient, and the storage arithmetic;
# 2. **run** (not graded) post-training quantization (PTQ) of a digits MLP and a small CNN from 8 down to 2 bits, quantization-aware training (QAT) with and without distillation from the float model, quantization against pruning (Lab 3) and low rank (Lab 4) at equal bytes, narrow float formats, and an integer-only layer — each over 3 seeds;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np`) and the functions of earlier exercises. The autograder checks each function with property tests (e.g. *"inside the calibrated range every x should come back within scale / 2"*) against a hidden reference. Run `course check <this notebook>` for the public checks.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_quant_params"
# ## Exercise 1 — scale and zero point
#
# Uniform quantization represents a real $x$ by an integer $q$ through an affine map (Jacob et al., *Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference*, CVPR 2018, eq. 1):
#
# $$x \approx \hat x = s\,(q - z), \qquad q \in [q_{\min}, q_{\max}].$$
#
# Given a range $[x_{\min}, x_{\max}]$ to cover with $k$ bits, first widen it to contain 0 — $lo = \min(x_{\min}, 0)$, $hi = \max(x_{\max}, 0)$ — so that the real 0 (zero padding, every ReLU output that is 0) is a code and is represented *exactly*. Then
#
# * **affine (asymmetric)**: $q \in [0, 2^k - 1]$, $s = (hi - lo)/(2^k - 1)$, $z = \mathrm{round}(-lo / s)$;
# * **symmetric**: $q \in [-(2^{k-1} - 1), 2^{k-1} - 1]$, $s = \max(-lo, hi)/(2^{k-1} - 1)$, $z = 0$ (Nagel et al., *A White Paper on Neural Network Quantization*, 2021, sec. 2.2; the grid drops $-2^{k-1}$ so that it is symmetric).
#
# Symmetric wastes part of the grid when the data is one-sided, but it makes the integer arithmetic cheaper (no zero-point cross terms); weights are usually quantized symmetrically, activations affinely. A range of width 0 gets $s = 1$.
#
# **Your task.** `quant_params(x_min, x_max, bits, symmetric=False)`, elementwise for arrays (one range per channel).

# %% exercise="quant_params"
# `course build` fills this cell from reference_impl: the exercise quant_params

# %% [markdown] name="md_quantize"
# ## Exercise 2 — quantize, per tensor and per channel
#
# $$q = \mathrm{clamp}\big(\mathrm{round}(x / s) + z,\; q_{\min},\; q_{\max}\big).$$
#
# **Rounding** is *half to even* (`np.round`: $0.5 \to 0$, $1.5 \to 2$, $2.5 \to 2$), applied before adding $z$ (as PyTorch does; with an odd $z$ the order matters at ties). Inside the range the error is at most half a step, $|x - \hat x| \le s/2$; outside it, clamping costs $|x| - $ the range end, unbounded.
#
# **Per channel.** One scale for a whole weight matrix is set by its largest entry; a row (output channel) of small weights then uses only a few codes. Per-channel quantization gives every output channel its own $s_j, z_j$ (Krishnamoorthi 2018; Nagel et al. 2021, sec. 2.4) at the cost of one scale per channel.
#
# **Your task.** `quantize(x, scale, zero_point, bits, symmetric=False, axis=None)`, returning int64 codes.

# %% exercise="quantize"
# `course build` fills this cell from reference_impl: the exercise quantize

# %% [markdown] name="md_dequantize"
# ## Exercise 3 — dequantize
#
# $\hat x = s\,(q - z)$, broadcast per channel along `axis`. Simulating quantization in float — *fake quantization*, `dequantize(quantize(x))` — is how both PTQ experiments and QAT training measure what a quantized model would compute.
#
# **Your task.** `dequantize(q, scale, zero_point, axis=None)`.

# %% exercise="dequantize"
# `course build` fills this cell from reference_impl: the exercise dequantize

# %% [markdown] name="md_calibrate_range"
# ## Exercise 4 — calibration: which range?
#
# The range trades two errors: a wide range (min/max) never clips but makes the step $s$ large for everybody; a narrow one rounds finely but clips the tails. Nagel et al. (2021, sec. 3.1) compare three choices:
#
# * **min/max**: $(\min x, \max x)$;
# * **percentile**: $(P_{100-p}(x), P_p(x))$ — ignore the most extreme $100 - p$ percent on each side;
# * **MSE**: search shrunk ranges $(a\,lo, a\,hi)$, $a = i/\text{grid}$, and keep the one minimising $\frac1n \sum (x - \hat x)^2$.
#
# **Your task.** `calibrate_range(x, bits, method, symmetric, percentile, grid)`, using your exercises 1–3 for the MSE search (on a tie the smallest $a$ wins).

# %% exercise="calibrate_range"
# `course build` fills this cell from reference_impl: the exercise calibrate_range

# %% [markdown] name="md_fp_encode"
# ## Exercise 5 — FP8: encoding a narrow float
#
# Integers spread their codes evenly; floats spread them geometrically, so the *relative* error is about constant over many orders of magnitude. An FP8 number has 1 sign bit, $e$ exponent bits and $m$ mantissa bits (Micikevicius et al., *FP8 Formats for Deep Learning*, 2022): with bias $b = 2^{e-1} - 1$,
#
# $$\text{normal } (E \ge 1):\ (-1)^s\,(1 + M/2^m)\,2^{E - b}, \qquad \text{subnormal } (E = 0):\ (-1)^s\,(M / 2^m)\,2^{1 - b}.$$
#
# Subnormals continue the smallest binade's spacing down to 0. **E5M2** keeps IEEE's convention (the top exponent is inf/NaN; largest value 57344); **E4M3** gives the top exponent to numbers and keeps only the all-ones code for NaN (largest value 448) — the paper's choice, since 4 exponent bits leave little range to waste. Encoding rounds to the nearest value, ties to an even mantissa, and *saturates* beyond the largest value.
#
# **Your task.** `fp_encode(x, exp_bits, man_bits, finite_only=False)`, returning the integer bit codes. (PyTorch's `float8_e4m3fn` and `float8_e5m2` casts give the same bits; the tests check this.)

# %% exercise="fp_encode"
# `course build` fills this cell from reference_impl: the exercise fp_encode

# %% [markdown] name="md_fp_decode"
# ## Exercise 6 — FP8: decoding
#
# The inverse: split the code into sign, exponent field and mantissa field and apply the two formulas above, with the special codes (inf, NaN) of each convention.
#
# **Your task.** `fp_decode(codes, exp_bits, man_bits, finite_only=False)`.

# %% exercise="fp_decode"
# `course build` fills this cell from reference_impl: the exercise fp_decode

# %% [markdown] name="md_bfp_quantize"
# ## Exercise 7 — block floating point
#
# Between the two: a **block** of values shares one exponent, and each value keeps only a small signed integer mantissa (Drumond et al., NeurIPS 2018; Microsoft's MSFP, Darvish Rouhani et al., NeurIPS 2020). For a block with largest magnitude $A$, $E = \lfloor \log_2 A \rfloor$ and with $p$-bit signed mantissas
#
# $$\text{step} = 2^{E - p + 2}, \qquad m_i = \mathrm{clamp}(\mathrm{round}(x_i / \text{step}), \pm(2^{p-1} - 1)), \qquad \hat x_i = m_i\,\text{step}.$$
#
# The cost is one exponent per block instead of one per value; the price is that small values in a block with a large one are rounded on the large one's grid.
#
# **Your task.** `bfp_quantize(x, block_size, man_bits)` over blocks of the last axis. (`np.frexp` gives the exponent exactly; `np.log2` can be off by one at powers of two.)

# %% exercise="bfp_quantize"
# `course build` fills this cell from reference_impl: the exercise bfp_quantize

# %% [markdown] name="md_quantize_multiplier"
# ## Exercise 8 — a real multiplier in integers
#
# An integer-only layer must rescale its int32 accumulator by $M = s_x s_w / s_y$, a real number, without floats. Jacob et al. (2018, eq. 6) write $M = 2^{-n} M_0$ with $M_0 \in [0.5, 1)$ and keep $M_0$ as a Q31 fixed-point int32, $\mathrm{round}(M_0\,2^{31})$: a multiplication and a shift.
#
# **Your task.** `quantize_multiplier(M)` for $0 < M < 1$, returning `(M0, n)`.

# %% exercise="quantize_multiplier"
# `course build` fills this cell from reference_impl: the exercise quantize_multiplier

# %% [markdown] name="md_int_linear"
# ## Exercise 9 — an integer-only linear layer
#
# With $x = s_x (x_q - z_x)$ (uint8), $W = s_w W_q$ (int8, symmetric), the bias quantized at scale $s_x s_w$ and the output $y = s_y (y_q - z_y)$ (Jacob et al. 2018, sec. 2.3),
#
# $$\mathrm{acc} = \sum_j (x_{q,j} - z_x)\,W_{q,oj} + b_{q,o} \;\;(\text{int32}), \qquad y_q = \mathrm{clamp}\big(z_y + \mathrm{rshift}(\mathrm{acc}\cdot M_0,\ 31 + n),\ 0,\ 2^k - 1\big),$$
#
# where `rshift` divides by a power of two rounding to nearest, ties away from zero. Everything is integer arithmetic; when $z_y = 0$ the clamp at 0 *is* the ReLU, fused for free.
#
# **Your task.** `int_linear(x_q, zp_x, W_q, b_q, M0, n, zp_y, bits=8)`. Accumulate in int64 (NumPy's default) and check that the result fits int32.

# %% exercise="int_linear"
# `course build` fills this cell from reference_impl: the exercise int_linear

# %% [markdown] name="md_fake_quant_grad"
# ## Exercise 10 — the straight-through estimator
#
# `round` has derivative 0 almost everywhere, so gradient descent through fake quantization would never move. The **straight-through estimator** (Bengio, Léonard & Courville, 2013) pretends round is the identity in the backward pass; the clamp keeps its true derivative:
#
# $$\frac{\partial L}{\partial x} = \frac{\partial L}{\partial \hat x}\cdot \big[q_{\min} \le \mathrm{round}(x/s) + z \le q_{\max}\big].$$
#
# **Your task.** `fake_quant_grad(x, grad_out, scale, zero_point, bits, symmetric=False)`.

# %% exercise="fake_quant_grad"
# `course build` fills this cell from reference_impl: the exercise fake_quant_grad

# %% [markdown] name="md_lsq_grads"
# ## Exercise 11 — learned step size (LSQ)
#
# Esser et al., *Learned Step Size Quantization* (ICLR 2020), make the step $s$ a parameter: $\hat v = \mathrm{round}(\mathrm{clip}(v/s, -Q_N, Q_P))\,s$ with, through the STE,
#
# $$\frac{\partial \hat v}{\partial s} = \begin{cases} -v/s + \mathrm{round}(v/s) & -Q_N < v/s < Q_P \\ -Q_N & v/s \le -Q_N \\ Q_P & v/s \ge Q_P \end{cases}$$
#
# — a value near a transition point pushes $s$ harder than one on the grid, which plain min/max scaling ignores. The step's gradient is scaled by $g = 1/\sqrt{N Q_P}$ so that it is about as large relative to $s$ as the weights' gradients are to the weights.
#
# **Your task.** `lsq_grads(v, grad_out, s, bits)`, returning `(grad_v, grad_s)`.

# %% exercise="lsq_grads"
# `course build` fills this cell from reference_impl: the exercise lsq_grads

# %% [markdown] name="md_storage_bits"
# ## Exercise 12 — counting the bits
#
# $n$ weights at $k$ bits with one scale (and zero point) per group cost $n k + \text{groups}\,(\text{scale bits} + \text{zero-point bits})$. The metadata is why per-channel is nearly free for a large layer and why tiny groups at 2 bits are not.
#
# **Your task.** `storage_bits(n_weights, bits, n_groups, scale_bits=32, zero_point_bits=0)`.

# %% exercise="storage_bits"
# `course build` fills this cell from reference_impl: the exercise storage_bits

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. **Set-up**: the 8×8 digits (1,078 / 359 / 360, test accuracies reported), an MLP 64 → 128 → 128 → 10 (25,856 weights) and `SmallCNN` from Lab 4 (9,872 weights), each trained for 20 (MLP) or 6 (CNN) epochs with Adam, seeds 0, 1, 2; "±" is the standard deviation over seeds, gains are paired by seed. Quantization here is **weight-only and symmetric** (activations stay float) except in the integer-only layer. PTQ uses your exercises 1–4; the QAT runs use `labkit.quantization`, whose gradients the sanity cell compares with your exercises 10–11.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab08, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab08.Config.quick() if quick_mode() else lab08.Config()
figures = Figures()
data = digits_splits(seed=0)
floats = lab08.train_floats(data, cfg, figures)

# %% [markdown] name="md_ptq"
# ## Post-training quantization: accuracy against bits
#
# Every weight tensor is quantized with your functions — per tensor or per output channel, the range by min/max, the 99.9th percentile or the MSE search — and the model is evaluated without any retraining.

# %% name="exp_ptq"
if ready({1: quant_params, 2: quantize, 3: dequantize, 4: calibrate_range}):
    ptq = lab08.ptq_sweep(quant_params, quantize, dequantize, calibrate_range, floats, figures)
    lab08.plot_ptq(ptq, floats)

# %% [markdown] name="md_formats"
# ## Narrow floats and block floating point
#
# The same MLPs with their weights cast to E4M3, E5M2, block floating point (blocks of 16) and per-channel INT8 / INT4: the relative weight error $\|W - \hat W\|_F / \|W\|_F$ and the accuracy.

# %% name="exp_formats"
if ready({1: quant_params, 2: quantize, 3: dequantize, 4: calibrate_range, 5: fp_encode, 6: fp_decode,
          7: bfp_quantize}):
    lab08.low_precision_formats(fp_encode, fp_decode, bfp_quantize, quant_params, quantize, dequantize,
                                calibrate_range, floats, figures)

# %% [markdown] name="md_qat"
# ## Quantization-aware training, with and without distillation
#
# QAT fine-tunes the float model with fake-quantized weights (STE, or LSQ's learned step), 8 epochs at learning rate $10^{-3}$; "+ KD" trains on Hinton's loss with the float model as teacher ($T = 4$, $\alpha = 0.9$), the "distillation for quantization" of lecture 06. The row "float, same fine-tuning" trains the float model for the same 8 epochs: a QAT gain over the float model that this row also shows is more training, not quantization. First, your gradients against the torch modules used for training.

# %% name="exp_qat"
if ready({10: fake_quant_grad, 11: lsq_grads}):
    lab08.gradient_sanity(fake_quant_grad, lsq_grads)
if ready({1: quant_params, 2: quantize, 3: dequantize, 4: calibrate_range}):
    qat = lab08.qat_vs_ptq(quant_params, quantize, dequantize, calibrate_range, floats, figures)

# %% [markdown] name="md_bytes"
# ## Quantization, pruning or low rank at equal bytes?
#
# Each layer of the MLP gets the bytes its per-channel $k$-bit weights take (your `storage_bits`, float32 scales). Pruning spends them on float32 survivors plus a 1-bit mask; low rank on float32 factors $r(m+n)$. Lecture 7 says pruning is worse than quantization; is it here?

# %% name="exp_bytes"
if ready({1: quant_params, 2: quantize, 3: dequantize, 4: calibrate_range, 12: storage_bits}):
    same_bytes = lab08.equal_bytes(quant_params, quantize, dequantize, calibrate_range, storage_bits, floats, figures)
    lab08.plot_equal_bytes(same_bytes, storage_bits, floats)

# %% [markdown] name="md_int_layer"
# ## An integer-only layer
#
# The MLP's first layer with its ReLU, run by your `int_linear` on uint8 pixels and int8 weights, against the float layer; then the rest of the network in float. Last, the speed of the same product in NumPy float32 and int32 — **machine-dependent**: NumPy has no integer BLAS, so this measures NumPy, not integer hardware.

# %% name="exp_int_layer"
if ready({1: quant_params, 2: quantize, 3: dequantize, 4: calibrate_range, 8: quantize_multiplier, 9: int_linear}):
    lab08.integer_layer(quant_params, quantize, dequantize, calibrate_range, quantize_multiplier, int_linear,
                        floats, figures)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab08')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# PyTorch 2.13.0, CPU, one thread, seeds 0, 1, 2. Float32 MLP 0.960 ± 0.005, CNN 0.960 ± 0.008.
#
# * **PTQ.** Down to 3 bits every scheme stays within 1.5 points of float on both models (most differences are within the seed spread). At **2 bits** the schemes separate: per-tensor min/max collapses the MLP to 0.294 ± 0.135, per-channel min/max gives 0.807, the percentile 0.786, and the MSE search 0.935 (per tensor) / 0.930 (per channel). The CNN behaves alike (0.834 min/max, 0.937 MSE).
# * **QAT.** At 2 bits QAT recovers almost everything PTQ loses: STE 0.952, LSQ 0.963, against PTQ 0.807. At 4 bits QAT (0.969) beats the original float model (0.960) — but the float model fine-tuned for the same 8 epochs reaches 0.969 too: that gain is extra training, not quantization. Against that control, 4-bit QAT loses nothing and 2-bit QAT 0.6 (LSQ) to 1.7 (STE) points.
# * **KD into low precision does not help here**: STE + KD 0.959 against STE 0.969 at 4 bits, 0.955 against 0.952 at 2 bits (within the spread); LSQ + KD 0.961 against 0.963. The teacher is the float model itself, no more accurate than the student — the setting where KD has least to give (Lab 1). Papers that report gains distil from a *larger* float teacher.
# * **Equal bytes.** Quantization wins at every budget, by far: at the bytes of 4-bit weights, 0.956 without fine-tuning against 0.591 for pruning and 0.203 for low rank; after fine-tuning 0.969 / 0.838 / 0.206. "Pruning is worse than quantization" reproduces. Low rank is hurt most by the 10-class output layer, whose budget allows rank 2 or less.
# * **Formats.** E4M3 (relative weight error 0.026) and E5M2 (0.052) lose nothing measurable at this scale; INT8 per channel has the smallest error (0.0055), BFP16 with 8-bit mantissas about the same (0.0064).
# * **Integer-only layer.** Within about 2 output steps of the float layer; accuracy 0.956 against 0.958 for seed 0. In NumPy the int32 product was *slower* than float32 in every run we made (4× to 30×, depending on the machine's load; no integer BLAS): integer inference pays off on hardware with int8 dot products, not here.

# %% [markdown] name="md_question_1"
# ### Questions
#
# **Question 1 — why do the calibrations only matter at 2 bits?** Use the 3-bit and 2-bit rows of the PTQ table and what a symmetric 2-bit grid is (how many codes?).

# %% [markdown] answer="answer_1"
# The symmetric 2-bit grid has three codes, $\{-s, 0, s\}$: weights are ternary. With min/max, $s$ is the largest weight, so nearly every weight (most are much smaller than the largest) rounds to 0 and the layer is mostly erased — per tensor worst of all, since one large weight anywhere sets $s$ for the whole matrix. The MSE search shrinks $s$ until many weights are $\pm s$, which keeps the sign pattern of the bulk and clips the few large ones. At 3 bits (7 codes) the grid is fine enough that every calibration keeps the bulk, and the differences drop below the seed spread.

# %% [markdown] name="md_question_2"
# **Question 2 — QAT and KD.** Why does QAT recover 2-bit accuracy that PTQ loses, and why does distilling from the float model not add to it here? What teacher would you try?

# %% [markdown] answer="answer_2"
# PTQ rounds a model trained for float weights; QAT lets the weights move so that the *quantized* network fits the data (the STE passes the loss's gradient to the latent float weights, and the rounding decisions change when a weight crosses a transition). KD adds information only where the teacher knows more than the labels: the float MLP is no more accurate than the quantized student can become (0.960 against 0.952–0.969), so its soft targets mostly repeat the labels, and on 4 bits the KD runs are slightly worse. A larger, more accurate float teacher (the CNN, or a wide MLP) would be the fair test of "distillation for quantization".

# %% [markdown] name="md_question_3"
# **Question 3 — equal bytes.** Explain with the storage counts why pruning and low rank lose to quantization at the bytes of 4-bit weights, and name one setting where the ranking could change.

# %% [markdown] answer="answer_3"
# At 4 bits a layer keeps every one of its weights at 1/8 of their float32 size. Pruning with float32 survivors and a 1-bit mask can keep only $(4n - n)/32 \approx 9\%$ of the weights; low rank $r(m+n) \cdot 32 \le 4mn$ gives $r \approx 10$ for the 64 × 128 layer and under 2 for the 128 × 10 output layer. Without fine-tuning both lose most of the function; quantization changes every weight by at most half a step. The ranking could change when the storage of the alternatives is also compressed (pruned weights stored in int8, factors quantized — the methods combine), for layers that really are low rank, or with hardware that skips zeros but has no low-precision arithmetic.

# %% [markdown] name="md_question_4"
# **Question 4 — the integer-only layer.** Where does its error of about 2 output steps come from, given that the requantization alone rounds by at most half a step? And what does the speed measurement say about integer inference?

# %% [markdown] answer="answer_4"
# Three roundings add up: the input pixels rounded to 8 bits (half a step $s_x$ each, multiplied by the weights and summed over 64 inputs), the weights rounded to int8, and the final requantization (half an output step). Their sum can exceed half a step; the fixed-point multiplier itself adds at most $2^{-31}$ relative error. The speed figure measures NumPy, which calls BLAS for float32 and a plain loop for integers, so int32 is much slower here; on CPUs with int8 dot-product instructions (VNNI, NEON sdot) or accelerators, int8 matrix products are 2–4× faster than float32 and move a quarter of the bytes.
