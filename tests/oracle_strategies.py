"""Hypothesis strategies shared by the reference and labkit tests (oracle tests, not grading checks:
the grading strategies live in labgrader/strategies.py and are deliberately smaller)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Derandomised and without an example database, so a run is reproducible and leaves no files.
SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None)

RTOL = 1e-10  # float64 against float64 oracles that may sum in another order
ATOL = 1e-12
LOG2 = math.log(2.0)

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

LOGIT_BOUND = 30.0
logit_values = st.floats(-LOGIT_BOUND, LOGIT_BOUND, allow_nan=False, allow_infinity=False)
temperatures = st.floats(0.1, 20.0, allow_nan=False, allow_infinity=False)
alphas = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def logits(draw, min_dims: int = 1, max_dims: int = 3, min_classes: int = 1, max_side: int = 6) -> np.ndarray:
    """A float64 logits array of shape (..., C) with moderate values."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side))
    shape = shape[:-1] + (max(shape[-1], min_classes),)
    return draw(hnp.arrays(np.float64, shape, elements=logit_values))


@st.composite
def batches(draw, min_classes: int = 1, max_rows: int = 6, max_classes: int = 7, tied: bool = False):
    """(student_logits (N, C), teacher_logits (N, C), labels (N,)); ``tied`` draws small integers: argmax ties."""
    N = draw(st.integers(1, max_rows))
    C = draw(st.integers(min_classes, max_classes))
    values = st.integers(-2, 2).map(float) if tied else logit_values
    s = draw(hnp.arrays(np.float64, (N, C), elements=values))
    t = draw(hnp.arrays(np.float64, (N, C), elements=values))
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    return s, t, y


@st.composite
def prob_pairs(draw, positive: bool = False, max_rows: int = 5, max_classes: int = 7):
    """Two probability arrays of one shape (N, C); unless ``positive``, entries may be exactly 0."""
    N = draw(st.integers(1, max_rows))
    C = draw(st.integers(1, max_classes))
    weight = st.floats(1e-3, 1.0) if positive else st.one_of(st.just(0.0), st.floats(1e-3, 1.0))
    out = []
    for _ in range(2):
        w = draw(hnp.arrays(np.float64, (N, C), elements=weight))
        w[w.sum(axis=-1) == 0, 0] = 1.0  # an all-zero row is not a distribution: give it a point mass
        out.append(w / w.sum(axis=-1, keepdims=True))
    return out[0], out[1]


def t64(a, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=requires_grad)
