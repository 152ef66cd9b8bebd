# %% [markdown] name="md_title"
# # Lab 10 — Distillation for efficiency
#
# Labs 1 and 2 used distillation to make a *small model* good. This lab uses it to make *compression and training themselves* cheap, following chapters IV and V of C. Blakeney's dissertation on distillation for efficiency (Texas State University, 2022):
#
# * **craft (blockwise) distillation** replaces each block of a trained network — here a dense 3×3 convolution — by a cheaper one (depthwise-separable), training every replacement *alone* on the teacher's cached activations with a local loss, accepting it only if accuracy stays within a threshold, then reassembling and fine-tuning (Blakeney et al., *Craft Distillation*, CSCloud 2020);
# * **parallel blockwise distillation**: since the blocks are independent, they can be trained on several workers at once, scheduled by a bin-packing heuristic; speed-up, efficiency and "greenup" (energy saving) measure what that buys (Blakeney et al., *Parallel Blockwise Knowledge Distillation for Deep Neural Network Compression*, IEEE TPDS 2021);
# * **KD for training efficiency**: can a teacher of the *same size* make a student reach a given accuracy sooner? KL or MSE on the logits, distilling only early in training, an early-stopped teacher (Cho & Hariharan, ICCV 2019; lecture 06).
#
# You **write** (graded) ten NumPy functions, **run** (not graded) the three experiments on the 8×8 digits with your functions, and **interpret** what you measured in the questions at the end.
#
# **How the exercises work.** Each exercise cell holds one function with its signature and docstring; replace the body. Use only `numpy` (imported as `np`) and the functions of earlier exercises. The autograder checks each function with property tests against a hidden reference; `course check <this notebook>` runs the public checks.

# %% name="setup"
import numpy as np

# %% [markdown] name="md_depthwise_separable_conv"
# ## Exercise 1 — the depthwise-separable block
#
# A dense $k\times k$ convolution from $C$ to $C_{out}$ channels mixes space and channels at once: $y_o = \sum_c K_{oc} \star x_c$. A **depthwise-separable** block (Howard et al., *MobileNets*, 2017) does the two separately: one $k\times k$ filter per input channel (depthwise), then a $1\times 1$ convolution that mixes channels (pointwise):
#
# $$h_c = K^{dw}_c \star x_c, \qquad y_o = \sum_c K^{pw}_{oc}\, h_c .$$
#
# It is exactly the dense convolution whose kernel has the *rank-one-per-pair* structure $K_{oc} = K^{pw}_{oc} K^{dw}_c$ — a restriction, which is why the replacement must be trained to imitate the dense block.
#
# **Your task.** `depthwise_separable_conv(x, K_dw, K_pw, padding=0)` for one image $(C, H, W)$ or a batch $(N, C, H, W)$, stride 1, zero padding.

# %% exercise="depthwise_separable_conv"
# `course build` fills this cell from reference_impl: the exercise depthwise_separable_conv

# %% [markdown] name="md_separable_cost"
# ## Exercise 2 — what the replacement saves
#
# Per output pixel the dense conv reads $C_{out} C_{in} k^2$ weights, the separable block $C_{in}k^2 + C_{out}C_{in}$: a fraction $1/C_{out} + 1/k^2$ (Howard et al. 2017, eq. 5) — about $1/9$ for a 3×3 conv with many output channels, but *more* than the dense conv for a block with one input channel and few outputs? Work it out for the first block of the CNN below ($1 \to 16$).
#
# **Your task.** `separable_cost(c_in, c_out, k, H, W)` returning (dense params, separable params, dense MACs, separable MACs).

# %% exercise="separable_cost"
# `course build` fills this cell from reference_impl: the exercise separable_cost

# %% [markdown] name="md_block_loss"
# ## Exercise 3 — the local loss
#
# A replacement block $b_s$ is trained on the teacher's activations at its boundaries: input $a_{i}$, target $a_{i+1}$, both computed once by the teacher and cached. The loss is the mean squared error $L = \frac1n\sum (b_s(a_i) - a_{i+1})^2$; no labels and no other block take part — the property that lets every block train on its own worker.
#
# **Your task.** `block_loss(student_out, teacher_out)` returning $(L, \partial L/\partial s)$.

# %% exercise="block_loss"
# `course build` fills this cell from reference_impl: the exercise block_loss

# %% [markdown] name="md_replacement_plan"
# ## Exercise 4 — which blocks to accept
#
# After training, replacing block $i$ alone costs an accuracy drop $d_i$ (measured on validation data). Craft distillation keeps a replacement only while the network stays within a threshold of the teacher. Visiting the blocks in an order — from the input (**bottom-up**) or from the output (**top-down**) — and treating the drops as additive, block $i$ is accepted when $\sum_{\text{accepted } j} d_j + d_i \le \text{threshold}$. The order matters: the budget goes to whichever blocks are visited first.
#
# **Your task.** `replacement_plan(acc_drops, threshold, order)` returning a boolean mask.

# %% exercise="replacement_plan"
# `course build` fills this cell from reference_impl: the exercise replacement_plan

# %% [markdown] name="md_wfd_schedule"
# ## Exercise 5 — scheduling blocks on workers
#
# With $W$ workers, each block's training is a job of known length (measured once). The TPDS paper places them by **worst-fit decreasing**: longest job first, each on the currently least-loaded worker — Graham's LPT rule, never worse than $\frac43 - \frac1{3W}$ times the best schedule.
#
# **Your task.** `wfd_schedule(times, workers)` returning each block's worker (ties: lower block index first, lower worker index).

# %% exercise="wfd_schedule"
# `course build` fills this cell from reference_impl: the exercise wfd_schedule

# %% [markdown] name="md_makespan"
# ## Exercise 6 — the makespan
#
# The wall-clock time of a schedule is the busiest worker's total, $T_W = \max_w \sum_{i \to w} t_i$.
#
# **Your task.** `makespan(times, assignment, workers)`.

# %% exercise="makespan"
# `course build` fills this cell from reference_impl: the exercise makespan

# %% [markdown] name="md_parallel_metrics"
# ## Exercise 7 — speed-up, efficiency, greenup
#
# $S = T_1/T_W$, efficiency $S/W$, greenup $G = E_1/E_W$ (Abdulsalam et al., IGSC 2015): $G > 1$ means the parallel run used *less* energy, which happens when the machine's static power is paid for a shorter time. Three divisions — and yet the dissertation's tables 4.6 and 4.12 get some of them wrong (the speed-up and efficiency of 2 and 4 GPUs swapped; a greenup printed as 1.18 that its own energies make 1.14). With your function you can check such tables yourself.
#
# **Your task.** `parallel_metrics(T1, TW, workers, E1, EW)`.

# %% exercise="parallel_metrics"
# `course build` fills this cell from reference_impl: the exercise parallel_metrics

# %% [markdown] name="md_mse_logit_loss"
# ## Exercise 8 — distilling logits with the MSE
#
# Hinton's loss compares softened distributions; as $T\to\infty$ (with zero-mean logits) $T^2\,\mathrm{KL}$ becomes $\frac1{2C}\lVert z_s - z_t\rVert^2$. Regressing the logits directly, $L = \frac1N\sum_n \lVert z_{s,n} - z_{t,n}\rVert^2$ (Ba & Caruana 2014; Kim et al., IJCAI 2021), needs no temperature — Blakeney's chapter V compares the two for training speed.
#
# **Your task.** `mse_logit_loss(student_logits, teacher_logits)` returning $(L, \partial L/\partial z_s)$.

# %% exercise="mse_logit_loss"
# `course build` fills this cell from reference_impl: the exercise mse_logit_loss

# %% [markdown] name="md_kd_weight_schedule"
# ## Exercise 9 — distilling only early
#
# The loss at step $t$ is $(1-a_t)\,\mathrm{CE} + a_t\,\mathrm{KD}$. Cho & Hariharan (ICCV 2019) found that stopping distillation part-way ("early-stopped KD") can help; for training efficiency it also saves the teacher's forward passes. With $t_{stop} = f\cdot$ total steps, $a_t = \alpha$ before $t_{stop}$ ("step") or a linear ramp $\alpha(1 - t/t_{stop})$ ("linear"), and 0 after.
#
# **Your task.** `kd_weight_schedule(steps, total_steps, alpha, stop_fraction, decay)`.

# %% exercise="kd_weight_schedule"
# `course build` fills this cell from reference_impl: the exercise kd_weight_schedule

# %% [markdown] name="md_time_to_target"
# ## Exercise 10 — time to target
#
# "Faster training" means: the same accuracy sooner. Time-to-accuracy (DAWNBench, Coleman et al. 2017) reads a training curve at its first crossing of the target, interpolating linearly between the two records around it; the speed-up of KD is $t^*_{\text{baseline}} / t^*_{\text{KD}}$.
#
# **Your task.** `time_to_target(times, accs, target)` (inf when the curve never gets there).

# %% exercise="time_to_target"
# `course build` fills this cell from reference_impl: the exercise time_to_target

# %% [markdown] name="md_experiments"
# # Experiments
#
# Nothing from here on is graded. **Set-up**: the 8×8 digits (1,078 / 359 / 360 images; test accuracies reported unless said otherwise), seeds 0, 1, 2, "±" the standard deviation over seeds. The teacher is `BlockCNN` (`labkit.blockwise`): four 3×3 conv + ReLU blocks 1 → 16 → 32 → 32 → 32 on 8×8 maps, a 2×2 max-pool and a linear head, trained 10 epochs with Adam. First, your functions against the torch modules that train.

# %% name="exp_setup"
import time

import torch

from labdatasets import digits_splits
from labkit.experiments import Figures, lab10, quick_mode, ready

torch.set_num_threads(1)
LAB_START = time.perf_counter()
cfg = lab10.Config.quick() if quick_mode() else lab10.Config()
figures = Figures()
data = digits_splits(seed=0)
teachers = lab10.train_teachers(data, cfg, figures)
if ready({1: depthwise_separable_conv, 3: block_loss, 8: mse_logit_loss}):
    lab10.sanity(depthwise_separable_conv, block_loss, mse_logit_loss)

# %% [markdown] name="md_craft"
# ## Craft distillation of the CNN
#
# Every block gets a depthwise-separable replacement (+ ReLU), trained 8 epochs on the teacher's cached activations with the MSE. Then: the validation drop of each replacement alone, your `replacement_plan` bottom-up and top-down with a threshold of 5 points, the reassembled network before and after 2 epochs of fine-tuning (KD from the teacher, $T=4$, $\alpha=0.9$), and — at the MACs of the all-separable network — **L1 filter pruning** (Li et al., ICLR 2017) of the same teacher, fine-tuned the same way. MACs are counted with your `separable_cost`.

# %% name="exp_craft"
if ready({1: depthwise_separable_conv, 2: separable_cost, 3: block_loss, 4: replacement_plan}):
    crafted = lab10.craft(depthwise_separable_conv, separable_cost, block_loss, replacement_plan, teachers, figures)

# %% [markdown] name="md_parallel"
# ## Parallel blockwise distillation
#
# The same block trainings for seed 0, now in **worker processes** (`multiprocessing`, spawned and warmed up before timing): on 1 worker and on 2, each worker's blocks chosen by your `wfd_schedule` from the block times measured above. Energy is *modelled* (this notebook cannot read a power meter): a static 10 W for the wall time plus 15 W per busy core for the CPU seconds the workers used. **Every number in this table depends on the machine and on what else runs on it**; run it twice and compare.

# %% name="exp_parallel"
if ready({1: depthwise_separable_conv, 2: separable_cost, 3: block_loss, 4: replacement_plan, 5: wfd_schedule,
          6: makespan, 7: parallel_metrics}):
    par = lab10.parallel(wfd_schedule, makespan, parallel_metrics, teachers, crafted, figures)

# %% [markdown] name="md_kd_speed"
# ## KD for training efficiency
#
# `SmallCNN` (Lab 4's CNN, 16 and 32 channels) trained 10 epochs on labels is the baseline; the same architecture trained 12 epochs is the teacher, and one stopped after 2 epochs is the early-stopped teacher. Students of the same size train with KD (KL at $T=4$ or MSE on logits, $\alpha=0.9$) for the whole run or the first 25 / 50 % of the steps (your `kd_weight_schedule`). The target is the baseline's final validation accuracy; your `time_to_target` reads each curve in **epochs** (deterministic) and in **seconds** (machine-dependent), and the speed-up is paired by seed.

# %% name="exp_kd_speed"
if ready({9: kd_weight_schedule, 10: time_to_target}):
    kd = lab10.kd_for_speed(time_to_target, kd_weight_schedule, data, cfg, figures)
    lab10.plot_kd_curves(kd, cfg)

# %% name="exp_runtime"
figures["runtime_s"] = time.perf_counter() - LAB_START  # machine-dependent: not checked
print(f"experiments ran in {figures['runtime_s']:.0f} s; figures written to {figures.write('lab10')}")

# %% [markdown] name="md_results"
# ## Results (as measured by the course authors)
#
# PyTorch 2.13.0, CPU, one thread per process, seeds 0, 1, 2, on a shared 2-core machine.
#
# * **Craft distillation.** The teacher reaches 0.981 ± 0.002. Trained locally for 8 epochs, the separable replacements imitate the teacher's blocks unevenly: replacing block 0 alone costs 0.785 of validation accuracy (a one-channel input leaves a separable block one filter), block 1 costs 0.085, blocks 2 and 3 cost 0.024 and 0.023. With a threshold of 5 points your plan accepts 1.3 of 4 blocks on average in either order, for 809,301 conv MACs instead of 1,483,776 (−45 %); the reassembled network scores 0.958 ± 0.004 and, after 2 epochs of fine-tuning with KD, 0.977 ± 0.006 — within half a point of the teacher.
# * **Against pruning at equal MACs.** Replacing *every* block (211,520 MACs) collapses the network to 0.152 ± 0.111, and fine-tuning recovers only 0.757 ± 0.030; L1 filter pruning of the same teacher to 210,816 MACs gives 0.668 ± 0.181 before and 0.906 ± 0.017 after the same fine-tuning. **At this scale and with this short local training, pruning beats the all-separable network** — the dissertation's claim that craft distillation compresses as well as pruning does not reproduce for the whole network here, only for the blocks the threshold accepts.
# * **Parallel blockwise distillation.** The blocks trained on 1 and on 2 worker processes have identical weights. The speed-up depends on the machine and its load: on our loaded machine 2 workers were *slower* than 1, because each block trains for a few seconds at most while starting the job and shipping its cached activations to a worker costs about as much; the timings are printed above and not quoted here.
# * **KD for training efficiency does not reproduce here.** The baseline SmallCNN reaches 0.973 ± 0.006 in 10 epochs; with a fully trained same-size teacher (0.976) KL distillation gives 0.964 ± 0.010 and MSE on logits 0.933 ± 0.008, distilling for the first 25 % / 50 % of the steps 0.966 ± 0.001 / 0.963 ± 0.005, and the early-stopped teacher (0.879) 0.924 ± 0.022. No KD run reached the baseline's final validation accuracy within the 10 epochs for any seed (speed-up reported as 0). With 1,078 images the labels already carry almost everything a same-size teacher knows, and the KD term pulls the student towards the teacher's own mistakes; stopping KD early limits the damage, as chapter V and Cho & Hariharan suggest, but does not turn it into a gain.

# %% [markdown] name="md_question_1"
# ### Questions
#
# **Question 1 — where do separable blocks pay?** Using your `separable_cost`, compare the first block (1 → 16) with a 32 → 32 block. Which replacement saves MACs, and which block's replacement loses most accuracy in your drop table? What does that say about replacing *every* block?

# %% [markdown] answer="answer_1"
# For 1 → 16 the separable block costs $1\cdot 9 + 16\cdot 1 = 25$ weights per pixel against $144$ for the dense one, but with a single input channel it can only produce 16 scaled copies of *one* filtered image: every output channel sees the same 3×3 filter, so the block cannot represent the 16 different edge detectors the teacher learned, and its replacement costs the most accuracy. A 32 → 32 block drops from 9,216 to 1,312 weights per pixel (1/32 + 1/9 ≈ 0.14) and has 32 depthwise filters to work with, so it imitates the teacher much better. Replacing every block therefore spends most of the accuracy on the block that saves the least; the acceptance rule exists to skip such blocks.

# %% [markdown] name="md_question_2"
# **Question 2 — bottom-up or top-down?** With your drops and threshold, which blocks did each order accept, and why can the two orders accept different sets with the same budget? Which order would you choose when the early blocks are the expensive ones?

# %% [markdown] answer="answer_2"
# The greedy rule spends the budget on whichever blocks it visits first: bottom-up offers the budget to the early blocks, top-down to the late ones, and a block visited after the budget is used up is rejected even if it would save more MACs than one accepted earlier. With drops that differ between blocks the two orders can accept different subsets (or the same one, when the budget covers all the cheap replacements either way). When the early blocks hold most of the MACs (large maps, as in ImageNet CNNs; here all maps are 8×8), visit them first — or, better, sort the blocks by MACs saved per point of accuracy lost, which is a knapsack the greedy order only approximates.

# %% [markdown] name="md_question_3"
# **Question 3 — the parallel speed-up.** Compare the predicted $T_2$ (your makespan of the measured block times) with the measured one, and your efficiency with 1. Why is a speed-up on 2 cores below 2 here, and how could the modelled greenup exceed 1 while the CPU seconds grow?

# %% [markdown] answer="answer_3"
# The prediction assumes the two workers run at the speed a single process had and that nothing else costs time. In the measurement the pool sends each worker its cached activations (pickled), the workers share memory bandwidth and caches, and on a shared machine other programs take cores — each of these makes $T_2$ larger than the makespan, so efficiency is below 1 (and with four blocks of unequal length, LPT's makespan is itself above $T_1/2$). The energy model charges the static power for the wall time and the dynamic power for the CPU seconds: running in parallel shortens the wall time, saving static energy, while the CPU seconds stay about the same or grow a little, so $G = E_1/E_2 > 1$ whenever the saved static energy outweighs the extra CPU energy. In our loaded run the opposite happened: 2 workers took *longer* than 1 (start-up and data transfer dwarf blocks that train for a second or two, and other programs held the cores), so both terms grew and the greenup fell below 1 — parallelism pays when each block's training is long against those fixed costs, as it is for ImageNet-sized blocks. That is why the dissertation can report greenups above 1 — and why its tables must be checked: $S/W$ and $E_1/E_W$ are divisions anyone can redo.

# %% [markdown] name="md_question_4"
# **Question 4 — does a same-size teacher make training faster?** From your KD table, which runs reach the baseline's accuracy in fewer epochs, and does the advantage survive in seconds? Compare KL and MSE, distilling for 25 / 50 % of the steps, and the early-stopped teacher with the fully trained one.

# %% [markdown] answer="answer_4"
# None of them, in our runs: no KD student reached the baseline's final validation accuracy within the 10 epochs, so the speed-up in epochs is 0 for every seed, and in seconds it can only be worse, since each KD step also pays for the teacher's logits. KL does better than MSE on logits (the MSE asks the student to reproduce the teacher's logit *scale*, a harder target than its ranking, and with $\alpha = 0.9$ it dominates the labels); distilling only for the first 25 or 50 % of the steps ends closer to the baseline than distilling throughout, because the last epochs train on the labels alone; the early-stopped teacher is the worst, because at 2 epochs it is far less accurate than the student becomes, so its soft targets mislead. Lecture 06's claim that early-stopped teachers make better students assumes a teacher that is still more accurate than the student, and chapter V's speed-ups were measured on CIFAR / ImageNet-scale tasks where a teacher knows much more than the labels say; on 1,078 digit images neither condition holds, and the honest conclusion is that a same-size teacher does not make training faster here.
