"""Shared hypothesis strategies: small, readable inputs for the property checks.

Small on purpose: a counterexample the student reads should fit on a line (batches of at most
4 rows, at most 5 classes), and hypothesis shrinks towards 0, 1 and short arrays. Values are
float64, bounded and never subnormal (below 2.2e-308 a probability such as 5e-324 underflows in
(p + q) / 2, and correct implementations then disagree about a case no lab is about), so that any
correct implementation agrees with the reference to the tolerances in ``labgrader.assertions``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_BATCH = 4
MAX_CLASSES = 5
LOGIT_BOUND = 30.0
# Sizes beyond the readable ones: some bugs are exact on short inputs (a sum where a running sum is
# due agrees for one or two terms; float32 accumulation drifts only past a few dozen terms). ``sizes``
# draws up to LARGE_SIZE some of the time; hypothesis shrinks towards its first, small branch, so a
# counterexample is only large when no small one exists.
LARGE_SIZE = 40
# Magnitudes a docstring may fix an output for, beyond what bounded floats reach by chance: values so
# small that exp(x) == 1 and x * x underflows to 0, and exact zeros.
TINY_VALUES = (1e-20, -1e-20, 1e-300, -1e-300, 0.0, -0.0)

# Named constants a lab can reuse.
TEMPERATURES = st.one_of(st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]), st.floats(0.2, 50.0))
ALPHAS = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0, allow_subnormal=False))
PROBABILITIES = st.floats(0.0, 1.0, allow_subnormal=False)


def sizes(lo: int = 1, hi: int = MAX_BATCH, *, large: int = LARGE_SIZE):
    """An integer size: lo..hi (readable counterexamples) or, sometimes, hi+1..large.

    Use it for the length of a vector, a batch or a sequence wherever a docstring allows any size,
    so that bugs that only show on longer inputs are drawn (issue 19)."""
    if lo > hi:
        raise ValueError(f"sizes: lo={lo} > hi={hi}; give lo <= hi")
    small = st.integers(lo, hi)
    return small if large <= hi else st.one_of(small, st.integers(hi + 1, large))


def tied(values, draw, *, p: float = 0.5) -> np.ndarray:
    """``values`` with, on some draws, every entry snapped to one of its first three: exact ties.

    For argmax/argsort/top-k whose docstring fixes how ties break (lowest index, stable order): a
    float drawn at random is almost never tied, so without this the rule is never tested."""
    a = np.array(values, dtype=np.float64, copy=True)
    if a.size >= 2 and draw(st.floats(0.0, 1.0)) < p:
        flat = a.reshape(-1)
        pool = flat[: min(3, flat.size)].copy()
        picks = draw(st.lists(st.integers(0, pool.size - 1), min_size=flat.size, max_size=flat.size))
        flat[:] = pool[np.asarray(picks)]
    return a


def half_ties(scale: float, *, lo: int = -20, hi: int = 20):
    """Exact rounding ties: (k + 1/2) * scale for integers k, as float64.

    For functions that round x / scale half to even (np.round): a random float is never exactly
    halfway, so round-half-up or round-half-away-from-zero would pass without these. Exact when
    ``scale`` is a power of two (then x / scale is k + 1/2 in floating point too)."""
    return st.integers(lo, hi).map(lambda k: (k + 0.5) * scale)


def with_tiny(elements):
    """``elements`` or one of TINY_VALUES (for docstrings that fix the output at tiny magnitudes)."""
    return st.one_of(elements, st.sampled_from(TINY_VALUES))


def _floats(bound: float):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


@st.composite
def logits(draw, *, min_classes: int = 2, max_classes: int = MAX_CLASSES, max_batch: int = MAX_BATCH,
           bound: float = LOGIT_BOUND, batch: int | None = None, classes: int | None = None) -> np.ndarray:
    """A (N, C) float64 array of logits."""
    n = batch if batch is not None else draw(st.integers(1, max_batch))
    c = classes if classes is not None else draw(st.integers(min_classes, max_classes))
    return draw(hnp.arrays(np.float64, (n, c), elements=_floats(bound)))


@st.composite
def logit_arrays(draw, *, max_dims: int = 3, bound: float = LOGIT_BOUND) -> np.ndarray:
    """Logits of any rank 1..max_dims, classes on the last axis: (C,), (N, C), (A, N, C)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=4))
    return draw(hnp.arrays(np.float64, shape, elements=_floats(bound)))


@st.composite
def prob_vectors(draw, *, min_classes: int = 2, max_classes: int = MAX_CLASSES, max_batch: int = MAX_BATCH,
                 batch: int | None = None, classes: int | None = None, zeros: bool = True) -> np.ndarray:
    """A (N, C) array whose rows are probability distributions; exact zeros allowed when ``zeros``."""
    n = batch if batch is not None else draw(st.integers(1, max_batch))
    c = classes if classes is not None else draw(st.integers(min_classes, max_classes))
    low = 0.0 if zeros else 0.01
    w = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(low, 10.0, allow_subnormal=False)))
    w[w.sum(axis=-1) <= 0, -1] = 1.0  # a row of zeros has no distribution: put its mass on the last class
    return w / w.sum(axis=-1, keepdims=True)


@st.composite
def prob_pairs(draw, *, zeros: bool = True, same_support: bool = False):
    """Two (N, C) probability arrays of one shape: (p, q)."""
    n = draw(st.integers(1, MAX_BATCH))
    c = draw(st.integers(2, MAX_CLASSES))
    p = draw(prob_vectors(batch=n, classes=c, zeros=zeros and not same_support))
    q = draw(prob_vectors(batch=n, classes=c, zeros=zeros and not same_support))
    return p, q


@st.composite
def labelled_logits(draw, *, bound: float = LOGIT_BOUND):
    """(logits (N, C), labels (N,) int64 in [0, C))."""
    z = draw(logits(bound=bound))
    n, c = z.shape
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return z, y


@st.composite
def kd_batches(draw, *, bound: float = 10.0, distinct_teacher_max: bool = False):
    """(student_logits, teacher_logits, labels) for a batch: two (N, C) arrays and (N,) labels.

    With ``distinct_teacher_max`` the teacher's row maximum is unique, so argmax is unambiguous.
    """
    zs, y = draw(labelled_logits(bound=bound))
    zt = draw(hnp.arrays(np.float64, zs.shape, elements=_floats(bound)))
    if distinct_teacher_max:
        for row in zt:
            top = np.flatnonzero(row == row.max())
            row[top[1:]] -= 1.0  # break ties by lowering all but the first maximum
    return zs, zt, y
