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

# Named constants a lab can reuse.
TEMPERATURES = st.one_of(st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0, 16.0]), st.floats(0.2, 50.0))
ALPHAS = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0, allow_subnormal=False))
PROBABILITIES = st.floats(0.0, 1.0, allow_subnormal=False)


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
