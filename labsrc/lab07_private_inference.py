# %% [markdown] name="md_title"
# # Lab 7 — Private inference: secret sharing, Beaver triples and AutoReP
#
# A hospital wants a diagnosis from a company's model. The hospital may not show the patient's data, the company will not show its weights. **Two-party private inference** runs the model on *secret-shared* data: the input and the weights are split into random-looking pieces held by two non-colluding servers, each of which sees only uniformly random numbers, and yet together they compute the network's output. This lab builds the protocol from its parts, in the style of SecureML (P. Mohassel and Y. Zhang, *SecureML: A System for Scalable Privacy-Preserving Machine Learning*, IEEE S&P 2017) with a trusted dealer of Beaver triples (D. Beaver, *Efficient Multiparty Protocols Using Circuit Randomization*, CRYPTO 1991), and then meets the problem that dominates its cost: **ReLUs**. Linear layers are cheap on shares; a ReLU needs a comparison, i.e. a Boolean circuit, and costs hundreds of bytes and several rounds per neuron. **AutoReP** (H. Peng et al., *AutoReP: Automatic ReLU Replacement for Fast Private Network Inference*, ICCV 2023) learns which ReLUs to keep and replaces the rest by polynomials fitted to each neuron's input distribution.
#
# In this lab you
#
# 1. **write** (graded) the protocol's arithmetic: fixed-point encoding into the ring $\mathbb{Z}_{2^{64}}$ and back, additive secret sharing and reconstruction, Beaver multiplication (elementwise and matrix), the local two-party truncation, and AutoReP's three ingredients — the distribution-aware polynomial fit (DaPa), the hysteresis indicator update and the straight-through estimator;
# 2. **run** (not graded) a digits MLP privately end to end, measure its agreement with the plain model and its communication, measure the truncation's rare failure, and train AutoReP under several ReLU budgets;
# 3. **interpret** what you measured, in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np` in the first code cell) and the functions of earlier exercises; a function that needs `math` imports it inside its body. The autograder runs each function on its own, in a sandbox, and checks it with property tests (e.g. *"the two shares should add up to x modulo 2^64"*) against a hidden reference. Only NumPy arrays and plain numbers cross into the grader, so **randomness is an argument**: `share(x, r)` takes its random mask `r`, `beaver_mul` takes the dealer's triple. Run `course check <this notebook>` to run the public checks yourself.
#
# **Ring arithmetic in NumPy.** `np.uint64` *arrays* wrap around modulo $2^{64}$ silently (`np.array([2**64 - 1], np.uint64) + np.uint64(1)` is `[0]`), but `np.uint64` *scalars* warn on overflow, and mixing `uint64` with a Python `int` or `int64` may give `float64` — which silently loses the low bits. Keep everything `uint64`, use `np.uint64(k)` for constants, and wrap ring code in `with np.errstate(over="ignore"):`. `.view(np.int64)` reinterprets the same 64 bits as a signed (two's complement) integer without copying.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_encode_fixed"
# ## Exercise 1 — fixed-point encoding into $\mathbb{Z}_{2^{64}}$
#
# Secret sharing works in a finite ring: a share must be *uniformly* random, and there is no uniform distribution on the reals. So a real $x$ becomes an integer with $f$ fractional bits, reduced modulo $2^{64}$:
#
# $$\mathrm{enc}(x) = \mathrm{round}(x \cdot 2^f) \bmod 2^{64}, \qquad f = 16 .$$
#
# A negative value $-v$ lands in the upper half of the ring, at $2^{64} - \mathrm{round}(v\,2^f)$: this is exactly the two's complement that `int64` uses, so `np.rint(x * 2**f).astype(np.int64).view(np.uint64)` does the reduction for you. Ring addition of encodings is then addition of the reals, and the encoding error is at most $2^{-(f+1)} \approx 7.6 \cdot 10^{-6}$.
#
# **Your task.** `encode_fixed(x, frac_bits)` for a float array of any shape; round to nearest with ties to even (`np.rint`); raise `ValueError` for NaN/inf, for $|x|\,2^f \ge 2^{63}$ and for `frac_bits` outside $[0, 62]$.

# %% exercise="encode_fixed"
# `course build` fills this cell from reference_impl: the exercise encode_fixed

# %% [markdown] name="md_decode_fixed"
# ## Exercise 2 — decoding
#
# The inverse reads the 64 bits as a signed integer and divides by $2^f$: $u < 2^{63}$ is $u / 2^f$, $u \ge 2^{63}$ is $(u - 2^{64}) / 2^f$. So $2^{64} - 1$ decodes to $-2^{-f}$.
#
# **Your task.** `decode_fixed(x_ring, frac_bits)`; raise `ValueError` if `x_ring` is not a `uint64` array (a float array here is almost always a bug upstream) or `frac_bits` is out of range.

# %% exercise="decode_fixed"
# `course build` fills this cell from reference_impl: the exercise decode_fixed

# %% [markdown] name="md_share"
# ## Exercise 3 — additive secret sharing
#
# To share a secret $x \in \mathbb{Z}_{2^{64}}$ between two servers, draw $r$ uniformly and give
#
# $$x_0 = r, \qquad x_1 = x - r \bmod 2^{64}.$$
#
# Each share alone is uniformly distributed whatever $x$ is — $x_0$ obviously, and $x_1$ because $r \mapsto x - r$ is a bijection of the ring — so a single server learns *nothing* (information-theoretically, not just computationally). Together they recover $x = x_0 + x_1$. Sums of shared values are free: each party adds its shares locally.
#
# **Your task.** `share(x_ring, r)` returns the pair `(x0, x1)`; the mask `r` is an argument (in the experiments it comes from the dealer, `labkit.private_inference.Dealer`).

# %% exercise="share"
# `course build` fills this cell from reference_impl: the exercise share

# %% [markdown] name="md_reconstruct"
# ## Exercise 4 — reconstruction
#
# Opening a shared value: both parties send their share, and $x = x_0 + x_1 \bmod 2^{64}$. It is one line — but it must wrap around correctly: $(2^{64} - 1) + 1 = 0$.
#
# **Your task.** `reconstruct(x0, x1)`.

# %% exercise="reconstruct"
# `course build` fills this cell from reference_impl: the exercise reconstruct

# %% [markdown] name="md_beaver_mul"
# ## Exercise 5 — Beaver multiplication
#
# Products are where the parties must talk: $x_0 y_1$ mixes the two parties' shares. Beaver's trick uses a **triple** $(a, b, c = ab)$ of random ring elements, shared by a trusted dealer before the inputs exist (the *offline phase*). Online, the parties open
#
# $$e = x - a, \qquad f = y - b$$
#
# (each sends its share of $e$ and $f$: one round, $2 \times 2$ ring elements per product). Since $a$ and $b$ are uniform and used once, $e$ and $f$ are uniform too and reveal nothing about $x$ and $y$. Then, locally,
#
# $$z_i = c_i + e\, b_i + a_i\, f \quad (i = 0, 1), \qquad \text{and party 0 alone adds } e f,$$
#
# because $ab + (x - a) b + a (y - b) + (x - a)(y - b) = xy$. If both parties added $ef$ it would count twice. The products are ring products: on fixed-point inputs $z$ has $2f$ fractional bits (exercise 7 fixes that).
#
# **A note on the reading.** The reading notes write a Beaver triple as "$Z = A \oplus B$". The third element is the **product**, $c = ab$ (for matrices $C = AB$), and the shares are additive over $\mathbb{Z}_{2^{64}}$: $c = c_0 + c_1$. $\oplus$ (XOR) is addition in $\mathbb{Z}_2$ — the Boolean shares of the secure ReLU's adder circuit — not the triple's relation.
#
# **Your task.** `beaver_mul(x_shares, y_shares, triple)` returns `((z0, z1), (e, f))` — the product's shares and the two opened values (returned so that you can look at what the network sees).

# %% exercise="beaver_mul"
# `course build` fills this cell from reference_impl: the exercise beaver_mul

# %% [markdown] name="md_beaver_matmul"
# ## Exercise 6 — Beaver matrix multiplication
#
# The same identity holds for matrices, with a triple $(A, B, C = AB)$ of shapes $(m, k), (k, n), (m, n)$:
#
# $$E = X - A,\quad F = Y - B,\qquad Z_i = C_i + E B_i + A_i F \;(+\, E F \text{ for party 0}).$$
#
# The parties send $E$ and $F$: $mk + kn$ elements each, while the product does $mkn$ multiplications. A secure linear layer therefore costs about as much communication as sending its input and weights once — cheap, as the experiments will show. (NumPy's `@` on `uint64` arrays wraps around modulo $2^{64}$ like every other integer operation.)
#
# **Your task.** `beaver_matmul(X_shares, Y_shares, triple)` returns `((Z0, Z1), (E, F))`.

# %% exercise="beaver_matmul"
# `course build` fills this cell from reference_impl: the exercise beaver_matmul

# %% [markdown] name="md_truncate_shares"
# ## Exercise 7 — truncation, locally
#
# The product of two encodings $2^f x \cdot 2^f y$ carries $2^{2f}$: it must be divided by $2^f$ before the next multiplication, or the values leave the ring after a few layers. On shares, division is not linear modulo $2^{64}$ — yet SecureML (Theorem 1) shows that each party can just shift its own share:
#
# $$y_0 = \lfloor x_0 / 2^f \rfloor, \qquad y_1 = -\big\lfloor \big((-x_1) \bmod 2^{64}\big) / 2^f \big\rfloor \bmod 2^{64} .$$
#
# Then $y_0 + y_1$ is $\lfloor x / 2^f \rfloor$ or one more — *unless* $x_0$ falls within $|x|$ of the wrap-around, which happens with probability about $|x| / 2^{64}$ over the random shares, and then the result is off by about $2^{64 - f}$. With values around $2^{40}$ that is $2^{-24}$ per element: rare but not impossible, which is why real systems use a large ring (or pay a round for an exact truncation). You will measure this failure in the experiments.
#
# **Your task.** `truncate_shares(x0, x1, frac_bits)` returns `(y0, y1)`. Use unsigned shifts (`>>` on `uint64`) and ring negation `np.uint64(0) - v`.

# %% exercise="truncate_shares"
# `course build` fills this cell from reference_impl: the exercise truncate_shares

# %% [markdown] name="md_dapa_gaussian_fit"
# ## Exercise 8 — distribution-aware polynomial fit (DaPa)
#
# A polynomial costs one Beaver square per neuron (16 bytes, one round) instead of a Boolean circuit. But which polynomial? A Taylor expansion of a smooth ReLU is accurate near 0 and wild elsewhere; what matters is the error *where the neuron's inputs actually are*. AutoReP fits the polynomial by least squares under the input distribution. For a Gaussian input $x \sim N(\mu, \sigma^2)$ and degree $d$:
#
# $$\min_c \; \mathbb{E}\Big[\big(\mathrm{ReLU}(x) - \textstyle\sum_{k=0}^d c_k x^k\big)^2\Big] \;\Longrightarrow\; \sum_k \mathbb{E}[x^{j+k}]\, c_k = \mathbb{E}[x^{j+1} \mathbf{1}\{x > 0\}], \quad j = 0..d.$$
#
# Both sides have closed forms. With $x = \mu + \sigma z$ and $a = -\mu/\sigma$, expand $x^m$ binomially; the standard-normal moments are $\mathbb{E}[z^i] = (i-1)!!$ for even $i$ (0 for odd), and the *partial* moments $I_i = \mathbb{E}[z^i \mathbf{1}\{z > a\}]$ follow from integrating by parts: $I_0 = 1 - \Phi(a)$, $I_1 = \varphi(a)$, $I_i = a^{i-1}\varphi(a) + (i-1) I_{i-2}$. For $N(0, 1)$ and $d = 2$ the answer is $(0.1995, 0.5, 0.1995)$, i.e. $0.1995 + 0.5x + 0.1995x^2$.
#
# **Your task.** `dapa_gaussian_fit(mu, sigma, degree)` returns $(c_0, \dots, c_d)$; `math.erf`/`math.erfc` give $\Phi$; solve the $(d+1) \times (d+1)$ system with `np.linalg.solve`.

# %% exercise="dapa_gaussian_fit"
# `course build` fills this cell from reference_impl: the exercise dapa_gaussian_fit

# %% [markdown] name="md_hysteresis_update"
# ## Exercise 9 — the hysteresis indicator
#
# AutoReP gives every neuron an indicator $m \in \{0, 1\}$ (1 = keep the ReLU) driven by a real parameter $\mathrm{aux}$ that gradient descent moves. Thresholding at 0 would let $m$ flip at every step while aux hovers near 0, and each flip changes the network under the optimiser's feet. A **hysteresis loop** with width $t$ fixes that:
#
# $$m_{\text{new}} = m_{\text{old}} \cdot [\mathrm{aux} > -t] + (1 - m_{\text{old}}) \cdot [\mathrm{aux} > t] .$$
#
# A kept ReLU is dropped only once aux falls to $-t$; a dropped one returns only once aux exceeds $t$; in between the state is kept.
#
# **Your task.** `hysteresis_update(mask, aux, t)` returns the new boolean indicator.

# %% exercise="hysteresis_update"
# `course build` fills this cell from reference_impl: the exercise hysteresis_update

# %% [markdown] name="md_ste_backward"
# ## Exercise 10 — the straight-through estimator
#
# $m = [\mathrm{aux} > 0]$ has derivative 0 almost everywhere, so no gradient would ever reach aux. A straight-through estimator keeps the step in the forward pass and substitutes a smooth derivative in the backward pass; this lab uses the softplus form
#
# $$\frac{\partial \mathcal{L}}{\partial\, \mathrm{aux}} = \frac{\partial \mathcal{L}}{\partial m} \cdot \mathrm{softplus}(\mathrm{aux}), \qquad \mathrm{softplus}(a) = \log(1 + e^a).$$
#
# Numerical care: `np.log(1 + np.exp(a))` overflows to `inf` for $a > 709$ and returns exactly 0 for $a < -37$ (where the true value is $\approx e^a$); `max(a, 0) + log1p(exp(-|a|))` is exact everywhere.
#
# **Which surrogate.** The factor is softplus(aux), as in the authors' released code (`STEFunction` in `models_util/model_spReLU.py` of github.com/harveyp123/AutoReP, backward `torch.mul(F.softplus(input), grad_output)`). Note that softplus here *is* the stand-in for $\partial m / \partial\,\mathrm{aux}$; it is not the derivative of a smooth stand-in for $m$ (were $m$ approximated by softplus(aux), the factor would be its derivative, the sigmoid). It keeps a dropped ReLU's gradient positive, so the indicator can come back.
#
# **Your task.** `ste_backward(grad_out, aux)`.

# %% exercise="ste_backward"
# `course build` fills this cell from reference_impl: the exercise ste_backward

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. The cells use **your** functions for everything on shares, and `labkit.private_inference` for the dealer, the communication accounting and the secure ReLU (a Boolean circuit, explained below). Both parties run in this one process: the point is to compute exactly what they would compute and to count exactly what they would send, not to measure a network.
#
# * **Data:** the 8×8 digits, split 1,078 / 359 / 360 (train / validation / test), pixels in $[0, 1]$.
# * **Model:** an MLP 64 → 32 → 32 → 32 → 10 with ReLU, i.e. **96 ReLUs** per image, trained with Adam in PyTorch (`labkit.training`).
# * **Fixed point:** $f = 16$ fractional bits in $\mathbb{Z}_{2^{64}}$.
# * **Communication** counts the online phase only (the dealer's offline material is not counted), in bytes sent by both parties together. A ring element is 8 bytes.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab07, quick_mode, ready
from labkit.private_inference import Dealer

torch.set_num_threads(1)  # tiny networks: threads cost more than they save (and the tables are bit-for-bit repeatable)
LAB_START = time.perf_counter()
cfg = lab07.Config.quick() if quick_mode() else lab07.Config()
figures = Figures()  # what the experiments measured, by name: the answers quote these
data = digits_splits(seed=0)
dealer = Dealer(seed=0)  # the trusted dealer of masks and Beaver triples

# %% [markdown] name="md_sanity"
# ## What a single server sees
#
# Your `share` with masks from the dealer: the histogram of party 1's share (top 8 bits of the 64) for two very different secrets — 0 and $\mathrm{enc}(123.456)$ — shared 100,000 times, and the values $e = x - a$ that `beaver_mul` opens. If the shares or the opened values depended on the secret, the histograms would differ. And the dealer's triples are never reused: the cell counts distinct $a$ values over all the triples it drew.

# %% name="exp_sanity"
# Uses YOUR encode_fixed, decode_fixed, share, reconstruct and beaver_mul (exercises 1-5).
if ready({1: encode_fixed, 2: decode_fixed, 3: share, 4: reconstruct, 5: beaver_mul}):
    lab07.what_a_server_sees(lab07.MPC(encode_fixed, decode_fixed, share, reconstruct, beaver_mul, None, None),
                             dealer, cfg, figures)

# %% [markdown] name="md_truncation"
# ## Truncation: the one-unit error and the rare failure
#
# Your `truncate_shares` on a value $x$ shared 400,000 times with fresh masks. SecureML's analysis says the result is $\lfloor x / 2^f\rfloor$ or one more, except with probability $\approx |x| / 2^{64}$, when it is off by about $2^{64 - f}$. At realistic magnitudes ($|x| \approx 2^{40}$, i.e. a product of two encodings of values near 16) that is too rare to see in 400,000 trials, so the cell also uses huge values to make the failure visible and compares its measured rate with $|x| / 2^{64}$.

# %% name="exp_truncation"
# Uses YOUR share, reconstruct and truncate_shares (exercises 3, 4 and 7).
if ready({3: share, 4: reconstruct, 7: truncate_shares}):
    lab07.truncation_failures(share, reconstruct, truncate_shares, dealer, cfg)

# %% [markdown] name="md_secure_mlp"
# ## A digits MLP, privately, end to end
#
# The plain model first: trained in PyTorch on the training split. Then the secure forward pass, written with your functions:
#
# 1. the client's images and the server's weights and biases are encoded (`encode_fixed`) and shared (`share`, masks from the dealer);
# 2. each linear layer is a `beaver_matmul` with a fresh matrix triple, followed by `truncate_shares` and the (shared) bias, added locally;
# 3. each hidden activation is `labkit.private_inference.secure_relu`: the sign bit of $x = x_0 + x_1$ is the top bit of a 64-bit *addition* of the two shares — so the parties evaluate an adder circuit on XOR-shared bits (party 0 holds the bits of $x_0$, party 1 those of $x_1$). Its carries need AND gates, each an opening with a Boolean Beaver triple; a Kogge–Stone parallel prefix needs $1 + 2 \cdot 6$ ANDs of 64-bit words in 7 rounds. The bit is converted to a ring share with a random "daBit" and ReLU$(x) = x - x \cdot \mathrm{msb}(x)$ costs one more `beaver_mul`-style product;
# 4. the logits are opened (`reconstruct`, `decode_fixed`).
#
# The table prints what was sent, per kind of operation, for the whole test set (the 360 images go through as one batch, so the weights' masked $F$ is opened once per layer for all of them).

# %% name="exp_train_plain"
plain = lab07.train_plain(data, cfg)

# %% name="exp_secure_inference"
# Uses YOUR protocol (exercises 1-7): the plain MLP run on shares.
comm = None
if ready({1: encode_fixed, 2: decode_fixed, 3: share, 4: reconstruct, 5: beaver_mul, 6: beaver_matmul, 7: truncate_shares}):
    mpc = lab07.MPC(encode_fixed, decode_fixed, share, reconstruct, beaver_mul, beaver_matmul, truncate_shares)
    comm = lab07.secure_inference(mpc, plain, data, figures)

# %% [markdown] name="md_dapa_exp"
# ## DaPa on real pre-activations
#
# Hidden neurons do not see $N(0, 1)$ inputs. For three neurons of the first hidden layer (the one whose inputs straddle 0 most, a middle one, and the most one-sided one) the cell compares your closed-form `dapa_gaussian_fit` (using the neuron's mean and standard deviation on the training set) with a Monte-Carlo least-squares fit on the neuron's actual inputs (`np.polyfit`), and with the one-size-fits-all $N(0, 1)$ fit. Then it replaces **every** ReLU of the trained network by a degree-2 polynomial, without any retraining, with either fit.

# %% name="exp_dapa"
# Uses YOUR dapa_gaussian_fit (exercise 8).
if ready({8: dapa_gaussian_fit}):
    lab07.dapa(dapa_gaussian_fit, plain, data, figures)

# %% [markdown] name="md_autorep"
# ## AutoReP under a ReLU budget
#
# `labkit.autorep.train_autorep` starts from the trained network with every ReLU kept and every polynomial initialised by your DaPa fit, and runs AutoReP's search: before each step the indicators follow your hysteresis rule ($t = 0.1$), the loss is cross-entropy plus a ReLU-count penalty $\lambda \max(\sum m - B, 0) / 96$, and the gradient reaches aux through the softplus straight-through estimator (the torch twin of your `ste_backward`); aux is moved by plain SGD, the weights and coefficients by Adam. After 8 epochs the budget is enforced exactly (the $B$ neurons with the largest aux keep their ReLU) and the network is fine-tuned for 4 epochs with the indicators frozen. The baseline keeps $B$ ReLUs chosen **at random** and gets the same fine-tuning. Budget 96 keeps every ReLU but gets the same 12 extra epochs: it, not the plain network, is the fair reference for the other budgets. Two seeds per setting (± is the standard deviation over the two). The estimated communication per image uses the cost model of the secure forward pass above (amortised over a batch of 360).

# %% name="exp_autorep"
# Uses YOUR dapa_gaussian_fit (exercise 8) to start every network's polynomials.
runs = {}
if ready({8: dapa_gaussian_fit}):
    runs = lab07.autorep(dapa_gaussian_fit, plain, data, cfg, figures)

# %% name="exp_pareto"
if runs:
    lab07.plot_pareto(runs, plain, data, cfg)

# %% [markdown] name="md_secure_autorep"
# ## The AutoReP network at budget 16, privately
#
# The secure forward pass again, now with 16 ReLUs and 80 polynomial neurons (their coefficients treated as public, a simplification: secret coefficients would cost two more Beaver products per neuron). Measured communication should match the estimate used in the plot.

# %% name="exp_secure_autorep"
if runs and comm is not None:  # needs the AutoReP networks and your protocol (exercises 1-8)
    lab07.secure_autorep(mpc, runs, comm, data, cfg)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s ({len(runs)} AutoReP networks trained); "
      f"figures written to {figures.write('lab07')}")

# %% [markdown] name="md_question_1"
# ### Questions
#
# Answer in a few sentences each, using the numbers you measured.
#
# **Question 1 — what leaks.** Party 1's share and the opened $e$ looked the same for both secrets. (a) Why is that exactly true, not just approximately, and what would go wrong if the dealer handed out the same triple twice? (b) The logits are opened at the end: who learns them, and what could a curious client learn from many such queries — something secret sharing does not protect against?

# %% [markdown] answer="answer_1"
# (a) $x_1 = x - r$ with $r$ uniform on $\mathbb{Z}_{2^{64}}$ is uniform for every fixed $x$, since $r \mapsto x - r$ is a bijection: the distribution of one share does not depend on $x$ at all (the chi-square statistics are of the size a uniform sample gives). Likewise $e = x - a$ with a fresh uniform $a$. With a reused triple the two openings $e = x - a$ and $e' = x' - a$ give $e - e' = x - x'$: the difference of two secrets leaks, and if one of them is known, the other is too. The dealer draws every triple afresh (all 20,000 values of $a$ were distinct).
#
# (b) Whoever the protocol opens the logits to — here both servers, in practice only the client. Secret sharing protects the computation, not its output: a client that queries many inputs can fit a copy of the model (model extraction) or test membership, so real deployments limit queries or release only the top class.

# %% [markdown] name="md_question_2"
# **Question 2 — truncation.** (a) Explain the failure rates you measured with the formula $|x| / 2^{64}$, and why the large error is about $2^{64-f}$. (b) In the secure MLP the values before truncation are products of two encodings. Estimate their magnitude and the probability that *any* truncation of the 360-image inference fails. Would a 32-bit ring be safe?

# %% [markdown] answer="answer_2"
# (a) The result is wrong exactly when party 0's share $x_0 = r$ lands within $|x|$ of the wrap-around, an interval of $|x|$ out of $2^{64}$ values of the uniform $r$; the measured rates follow $|x| / 2^{64}$ within sampling noise (at $2^{40}$ the predicted $6 \cdot 10^{-8}$ is too rare for 400,000 trials, and none was seen). When it happens, party 1's share wrapped around: $2^{64}$ is added or removed before the shift, which becomes $2^{64}/2^{f} = 2^{48}$ after it.
#
# (b) Pre-activations are of order 10 and weights of order 1, so products of encodings are about $2^{16} \cdot 2^{16} \cdot 10 \approx 2^{36}$ per term and at most a few times that per sum: a failure probability of roughly $2^{-27}$ per element. The inference truncates a few tens of thousands of elements, so the chance of any failure is about $10^{-4}$ — and all 360 predictions agreed. In a 32-bit ring the same values would not even fit ($2^{36} > 2^{32}$): the local truncation needs a ring much larger than the values, which is why SecureML uses 64 bits.

# %% [markdown] name="md_question_3"
# **Question 3 — where the bytes go.** Using the communication table: what fraction of the secure MLP's traffic is ReLUs, and why does a ReLU cost so much more than a multiplication? Where do the rounds come from, and which would matter more over a WAN with 50 ms latency?

# %% [markdown] answer="answer_3"
# ReLUs are by far the largest part of the traffic (the printed share is 94.0%). A multiplication opens two ring elements per party; a ReLU must compute a *comparison*, which is not arithmetic in $\mathbb{Z}_{2^{64}}$: the sign bit of $x_0 + x_1$ needs a 64-bit adder circuit, $1 + 2 \cdot 6$ ANDs of 64-bit words (each an opening of two words per party), plus the bit conversion and one product: about 448 bytes against 32 for a product and 16 for a square. Rounds: each linear layer is one round, each ReLU layer 9 (one for the generate bits, six prefix levels, the daBit opening, the final product), so the three ReLU layers contribute 27 of the 31 rounds. Over a WAN with 50 ms per round the ~1.5 s of latency from rounds would dominate the transfer of a few tens of KiB per image; both are driven by the ReLUs.

# %% [markdown] name="md_question_4"
# **Question 4 — AutoReP at this scale.** Compare AutoReP with random placement and with the plain ReLU network in your table and plot, and with the "all replaced, no retraining" numbers of the DaPa cell. Does learning *which* ReLUs to keep matter on the digits? What does DaPa buy over the $N(0, 1)$ fit? What would you expect on a deeper CNN on CIFAR-10, where AutoReP reports its gains — and why might the digits MLP not show them?

# %% [markdown] answer="answer_4"
# On the digits MLP every budget — including 0 ReLUs — ends within about half a percentage point of the 96-ReLU network that got the same extra training, and all of them are slightly *above* the plain network only because they trained 12 epochs more. AutoReP's learned placement is not better than a random one (at budget 16 random placement even scored higher): the differences are of the size of the seed spread and one or two test images (1 image = 0.003). The network is shallow and the task easy, so a degree-2 polynomial per neuron, fine-tuned, is almost as expressive as a ReLU: the paper's finding that placement matters does not reproduce at this scale. DaPa matters before fine-tuning: fitted to each neuron's own mean and spread it replaces all 96 ReLUs at a cost of 0.006 in accuracy (0.942 against 0.947), while the single $N(0, 1)$ fit, far off for one-sided neurons (its MSE is orders of magnitude larger on them), costs 0.025. The Monte-Carlo fit on a neuron's actual inputs is slightly better again (its MSE is the minimum by construction), but the Gaussian closed form comes close where it matters, on neurons whose inputs straddle 0. In a deep CNN polynomial errors compound through many layers (degree $2^L$ after $L$ layers) and training becomes unstable, so which ReLUs to keep — and a good fit for the others — decides the accuracy; that is where AutoReP reports its gains. The communication, on the other hand, reproduces at every scale: with 0–16 ReLUs the estimated traffic falls several-fold.
