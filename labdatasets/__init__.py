"""Course data: vendored 8x8 digits (no download) and deterministic synthetic tasks.

* :func:`load_digits`, :func:`digits_splits`, :class:`Split` -- UCI Optical
  Recognition of Handwritten Digits (Alpaydin & Kaynak 1998, CC BY 4.0,
  DOI 10.24432/C50P49), scikit-learn's copy; see ``datasets/data/ATTRIBUTION.md``.
* :func:`make_easy_hard` -- easy/hard binary task for early exits.
* :func:`make_planted_op_task`, :data:`PLANTED_OPS` -- NAS task with a planted op.

Only NumPy is used; data files are checked against ``datasets/data/SHA256SUMS``.
"""

from .checksums import ChecksumError, verify_file
from .digits import (
    CLASS_COUNTS,
    SPLIT_SIZES,
    Split,
    digits_split_indices,
    digits_splits,
    load_digits,
)
from .synthetic import PLANTED_OPS, make_easy_hard, make_planted_op_task

__all__ = [
    "CLASS_COUNTS",
    "ChecksumError",
    "PLANTED_OPS",
    "SPLIT_SIZES",
    "Split",
    "digits_split_indices",
    "digits_splits",
    "load_digits",
    "make_easy_hard",
    "make_planted_op_task",
    "verify_file",
]
