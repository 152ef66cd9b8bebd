"""Tests for labdatasets.digits / labdatasets.checksums against independent oracles.

The oracle for the data is the vendored gzip CSV parsed with the stdlib ``csv``
module, and hashlib for checksums; the pinned SHA-256 is that of
scikit-learn 1.9.1's ``sklearn/datasets/data/digits.csv.gz``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labdatasets
import labdatasets.digits as digits_mod
from labdatasets import ChecksumError, Split, digits_split_indices, digits_splits, load_digits
from labdatasets.checksums import read_sums, verify_file

DATA_DIR = Path(__file__).resolve().parents[2] / "datasets/data"  # the course layout's data folder
DATA_FILE = DATA_DIR / "digits.csv.gz"
UPSTREAM_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
KNOWN_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def _csv_oracle() -> tuple[list[list[int]], list[int]]:
    pixels, labels = [], []
    with gzip.open(DATA_FILE, "rt", newline="") as f:
        for row in csv.reader(f):
            values = [int(v) for v in row]
            pixels.append(values[:64])
            labels.append(values[64])
    return pixels, labels


# --------------------------------------------------------------------- data file


def test_data_file_is_the_upstream_file():
    assert hashlib.sha256(DATA_FILE.read_bytes()).hexdigest() == UPSTREAM_SHA256


def test_sha256sums_lists_the_data_file_in_sha256sum_format():
    lines = (DATA_DIR / "SHA256SUMS").read_text().splitlines()
    entries = {}
    for line in lines:
        m = re.fullmatch(r"([0-9a-f]{64})  (\S+)", line)
        assert m, f"bad SHA256SUMS line {line!r}"
        entries[m.group(2)] = m.group(1)
    assert entries == {"digits.csv.gz": UPSTREAM_SHA256}
    assert read_sums() == entries
    verify_file(DATA_FILE)  # does not raise


def test_attribution_names_source_and_license():
    text = (DATA_DIR / "ATTRIBUTION.md").read_text()
    for needle in ("Alpaydin", "Kaynak", "1998", "CC BY 4.0", "10.24432/C50P49", "scikit-learn", "BSD-3"):
        assert needle in text


# --------------------------------------------------------------------- load_digits


def test_load_digits_matches_csv_oracle():
    pixels, labels = _csv_oracle()
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    np.testing.assert_array_equal(X * 16, np.array(pixels, dtype=np.float32))
    np.testing.assert_array_equal(y, np.array(labels))
    assert X.min() == 0.0 and X.max() == 1.0


def test_load_digits_unflattened_is_row_major_8x8():
    pixels, _ = _csv_oracle()
    X3, y3 = load_digits(flatten=False)
    assert X3.shape == (1797, 8, 8) and X3.dtype == np.float32
    # pixel (r, c) of image i is CSV column 8 r + c
    for i in (0, 1, 1000, 1796):
        for r, c in ((0, 3), (4, 4), (7, 0)):
            assert X3[i, r, c] * 16 == pixels[i][8 * r + c]
    X, y = load_digits()
    np.testing.assert_array_equal(X3.reshape(1797, 64), X)
    np.testing.assert_array_equal(y3, y)


def test_class_counts():
    _, y = load_digits()
    assert np.bincount(y).tolist() == KNOWN_CLASS_COUNTS
    assert list(labdatasets.CLASS_COUNTS) == KNOWN_CLASS_COUNTS
    _, labels = _csv_oracle()
    assert [Counter(labels)[c] for c in range(10)] == KNOWN_CLASS_COUNTS


def test_load_digits_returns_fresh_arrays():
    X, y = load_digits()
    X[:] = -1
    y[:] = -1
    X2, y2 = load_digits()
    assert X2.min() == 0.0 and y2.min() == 0


@pytest.mark.parametrize("bad", [None, 0, 1, "yes"])
def test_load_digits_rejects_non_bool_flatten(bad):
    with pytest.raises(ValueError, match="flatten"):
        load_digits(flatten=bad)


# --------------------------------------------------------------------- checksum errors


def _corrupt_copy(tmp_path: Path, name: str = "digits.csv.gz") -> Path:
    bad = tmp_path / name
    shutil.copyfile(DATA_FILE, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    return bad


def test_corrupted_file_raises_checksum_error(tmp_path, monkeypatch):
    bad = _corrupt_copy(tmp_path)
    monkeypatch.setattr(digits_mod, "DIGITS_FILE", bad)
    for call in (load_digits, digits_splits, digits_split_indices):
        with pytest.raises(ChecksumError) as info:
            call()
        msg = str(info.value)
        assert str(bad) in msg
        assert "git checkout datasets/data" in msg
        assert UPSTREAM_SHA256 in msg


def test_intact_copy_loads(tmp_path, monkeypatch):
    good = tmp_path / "digits.csv.gz"
    shutil.copyfile(DATA_FILE, good)
    monkeypatch.setattr(digits_mod, "DIGITS_FILE", good)
    X, y = load_digits()
    assert X.shape == (1797, 64)


def test_missing_file_raises_checksum_error(tmp_path, monkeypatch):
    missing = tmp_path / "digits.csv.gz"
    monkeypatch.setattr(digits_mod, "DIGITS_FILE", missing)
    with pytest.raises(ChecksumError, match="missing") as info:
        load_digits()
    assert str(missing) in str(info.value) and "git checkout datasets/data" in str(info.value)


def test_unlisted_file_raises_checksum_error(tmp_path):
    other = tmp_path / "other.csv.gz"
    shutil.copyfile(DATA_FILE, other)
    with pytest.raises(ChecksumError, match="not listed"):
        verify_file(other)


def test_malformed_sums_file_raises(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("not a checksum line\n")
    with pytest.raises(ChecksumError, match="malformed"):
        verify_file(DATA_FILE, sums_file=sums)


def test_checksum_error_with_custom_sums(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("0" * 64 + "  digits.csv.gz\n")
    with pytest.raises(ChecksumError, match="corrupted or modified"):
        verify_file(DATA_FILE, sums_file=sums)


# --------------------------------------------------------------------- splits


def _check_split(seed: int, X_all: np.ndarray, y_all: np.ndarray) -> tuple[np.ndarray, ...]:
    tr, va, te = digits_split_indices(seed)
    assert (tr.size, va.size, te.size) == (1078, 359, 360)
    for idx in (tr, va, te):
        assert idx.dtype == np.int64
    # disjoint and covering
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(1797))
    # stratified: per class within one sample of 60/20/20
    for c, count in enumerate(KNOWN_CLASS_COUNTS):
        for idx, frac in ((tr, 0.6), (va, 0.2), (te, 0.2)):
            k = int(np.sum(y_all[idx] == c))
            assert abs(k - frac * count) <= 1, (seed, c, k, frac * count)
    # the arrays are exactly the rows at those indices
    s = digits_splits(seed)
    assert isinstance(s, Split)
    np.testing.assert_array_equal(s.X_train, X_all[tr])
    np.testing.assert_array_equal(s.y_train, y_all[tr])
    np.testing.assert_array_equal(s.X_val, X_all[va])
    np.testing.assert_array_equal(s.y_val, y_all[va])
    np.testing.assert_array_equal(s.X_test, X_all[te])
    np.testing.assert_array_equal(s.y_test, y_all[te])
    return tr, va, te


def test_course_split_structure_and_sizes():
    X_all, y_all = load_digits()
    _check_split(0, X_all, y_all)
    s = digits_splits()
    assert Split._fields == ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
    assert [a.shape for a in s] == [(1078, 64), (1078,), (359, 64), (359,), (360, 64), (360,)]
    assert [a.dtype for a in s] == [np.float32, np.int64] * 3
    assert labdatasets.SPLIT_SIZES == {"train": 1078, "val": 359, "test": 360}


def test_course_split_is_pinned():
    """The seed=0 split is THE course split: any change to it must be deliberate."""
    tr, va, te = digits_split_indices()
    h = hashlib.sha256()
    for idx in (tr, va, te):
        h.update(np.asarray(idx, dtype="<i8").tobytes())
    assert h.hexdigest() == COURSE_SPLIT_SHA256
    assert tr[:5].tolist() == COURSE_SPLIT_TRAIN_HEAD


def test_splits_deterministic_and_seed_dependent():
    a, b = digits_splits(0), digits_splits()
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x, z)
    a_idx = digits_split_indices(0)
    assert all(np.array_equal(p, q) for p, q in zip(a_idx, digits_split_indices(np.int64(0))))
    c_idx = digits_split_indices(1)
    assert not np.array_equal(np.sort(a_idx[2]), np.sort(c_idx[2]))
    assert not np.array_equal(a.X_train, digits_splits(1).X_train)


def test_splits_interleave_classes():
    s = digits_splits()
    # a prefix of the training set is a mixed batch, not one class
    assert len(np.unique(s.y_train[:50])) >= 8


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63 - 1))
def test_split_properties_hold_for_any_seed(seed):
    X_all, y_all = load_digits()
    _check_split(seed, X_all, y_all)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None, True, [0]])
def test_splits_reject_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        digits_splits(bad)
    with pytest.raises(ValueError, match="seed"):
        digits_split_indices(bad)


# Recorded from the implementation (NumPy default_rng/PCG64) and frozen: the course split.
COURSE_SPLIT_SHA256 = "97424ac8a4cedc4757dcec0da6d00388fb88e1aea7c1b4e23026c77b1fae442b"
COURSE_SPLIT_TRAIN_HEAD = [22, 1452, 102, 864, 1427]
