"""What a check asserts, and how a failure reads to a student.

``CheckFailed`` carries the sentence the student sees (expected vs got); the runner adds the
property in words and hypothesis's shrunk counterexample. Tolerances are dtype-aware: float64
results are held to ``rtol=1e-7`` — loose enough for any correct ordering of float64 operations
on the small inputs the strategies draw, tight enough that a dropped term or a wrong constant
shows — and explicit ``atol`` is given where exact zeros are expected.
"""

from __future__ import annotations

import math

import numpy as np

RTOL_F64 = 1e-7
ATOL_F64 = 1e-9
RTOL_F32 = 1e-4
ATOL_F32 = 1e-6


class CheckFailed(AssertionError):
    """A property did not hold; the message is shown to the student.

    ``expected`` and ``got`` (rendered values) are kept apart as data when the check compared two values.
    """

    def __init__(self, message: str, *, expected: str | None = None, got: str | None = None):
        super().__init__(message)
        self.expected = expected
        self.got = got


_FORMATTED: dict = {}  # (dtype, shape, bytes, precision) -> fmt's text: checks format their inputs eagerly,
# the same arrays several times a case (a Lab 7 grade formatted 836 arrays 2,209 times: 19% of its checks'
# time under a profiler)


def fmt(x, precision: int = 6) -> str:
    """A compact, copy-pasteable rendering of a value for feedback."""
    if type(x) is np.ndarray and x.dtype.kind in "biuf" and x.dtype.fields is None and x.size <= 4096:
        key = (x.dtype.str, x.shape, x.tobytes(), precision)
        text = _FORMATTED.get(key)
        if text is None:
            if len(_FORMATTED) >= 4096:
                _FORMATTED.clear()
            text = _FORMATTED[key] = _fmt_array(x, precision)
        return text
    return _fmt(x, precision)


def _fmt(x, precision: int) -> str:
    if isinstance(x, np.ndarray):
        return _fmt_array(x, precision)
    if isinstance(x, float):
        return repr(float(f"{x:.{precision + 4}g}"))
    if isinstance(x, (list, tuple)):
        inner = ", ".join(fmt(v, precision) for v in x)
        return f"[{inner}]" if isinstance(x, list) else f"({inner})"
    return repr(x)


def _fmt_array(x: np.ndarray, precision: int) -> str:
    if x.dtype.kind == "f":
        body = np.array2string(
            x, separator=", ", precision=precision, floatmode="maxprec", suppress_small=False, threshold=64
        )
    else:
        body = np.array2string(x, separator=", ", threshold=64)
    return f"np.array({body})" if x.ndim else f"np.array({x.item()!r})"


def as_array(got, what: str, shape: tuple | None = None) -> np.ndarray:
    """The student's value as a float64 array, or CheckFailed saying what was wrong with it."""
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        got = np.asarray(got, dtype=np.float64)
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"{what} should be a NumPy array, got {type(got).__name__}: {fmt(got)}")
    if shape is not None and got.shape != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got shape {got.shape}")
    return got.astype(np.float64)


def as_float(got, what: str) -> float:
    """The student's value as a Python float (a float, an int or a 0-d/size-1 array)."""
    if isinstance(got, bool):
        raise CheckFailed(f"{what} should be a number, got the boolean {got}")
    if isinstance(got, (int, float)):
        return float(got)
    if isinstance(got, np.ndarray) and got.size == 1 and got.ndim <= 1:
        return float(got.reshape(()))
    raise CheckFailed(f"{what} should be a single number (a float), got {type(got).__name__}: {fmt(got)}")


def as_int(got, what: str) -> int:
    """The student's count as a Python int, exactly (no detour through float: 2^53 + 1 stays itself): an
    int, a NumPy integer, a whole float, or a size-1 array of one. Booleans, NaN, inf and fractions fail."""
    if isinstance(got, np.ndarray) and got.size == 1 and got.ndim <= 1:
        got = got.reshape(()).item()
    elif isinstance(got, np.generic):
        got = got.item()
    if isinstance(got, bool):
        raise CheckFailed(f"{what} should be an integer, got the boolean {got}")
    if isinstance(got, int):
        return got
    if isinstance(got, float) and got.is_integer():
        return int(got)
    raise CheckFailed(f"{what} should be an integer, got {type(got).__name__}: {fmt(got)}")


def _tolerances(dtype: np.dtype | None, rtol: float | None, atol: float | None) -> tuple[float, float]:
    low = dtype is not None and dtype.kind == "f" and dtype.itemsize < 8
    r = rtol if rtol is not None else (RTOL_F32 if low else RTOL_F64)
    a = atol if atol is not None else (ATOL_F32 if low else ATOL_F64)
    return r, a


def assert_close(got, expected, what: str, *, rtol: float | None = None, atol: float | None = None) -> None:
    """Assert ``got`` equals ``expected`` elementwise within tolerance; infinities must match, NaN never does."""
    exp = np.asarray(expected, dtype=np.float64)
    if exp.ndim == 0 and not isinstance(got, np.ndarray):
        g = np.asarray(as_float(got, what))
        dtype = None
    else:
        dtype = got.dtype if isinstance(got, np.ndarray) else None
        g = as_array(got, what, shape=exp.shape)
    r, a = _tolerances(dtype, rtol, atol)
    # NaN never matches (no graded function returns NaN on valid input, and an all-NaN answer would
    # otherwise "agree" with itself in the invariance checks); matching infinities do. A failure says when
    # the student's value is NaN or infinite (nonfinite_note).
    same_nonfinite = np.isinf(g) & np.isinf(exp) & (np.sign(g) == np.sign(exp))
    finite = np.isfinite(g) & np.isfinite(exp)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = same_nonfinite | (finite & (np.abs(g - exp) <= a + r * np.abs(exp)))
    if not np.all(ok):
        expected_s, got_s = (fmt(exp.item()), fmt(g.item())) if exp.ndim == 0 else (fmt(exp), fmt(g))
        raise CheckFailed(f"{what}{nonfinite_note(g, exp)}\n  expected: {expected_s}\n  got:      {got_s}",
                          expected=expected_s, got=got_s)


def nonfinite_note(got: np.ndarray, expected: np.ndarray) -> str:
    """Say so when the student's value holds NaN or an infinity the expected value does not: "expected: 0.5 /
    got: nan" alone reads like a wrong formula. In a relational check the expected value comes from another call
    of the student's function, so NaN on both sides is the student's NaN too."""
    notes = []
    if np.any(np.isnan(got)):
        both = " (the expected value is NaN too: it comes from another call of your function)" \
            if np.any(np.isnan(expected)) else ""
        notes.append("your function returned NaN (not a number), from an invalid operation such as 0/0, "
                     f"inf - inf, 0 * inf or the log of a negative number{both}")
    elif np.any(np.isinf(got) & ~np.isinf(expected)):
        notes.append("your function returned an infinity where the expected value is finite: an overflow "
                     "(e.g. exp of a large number) or a division by zero")
    return "".join(f"\n  ({n})" for n in notes)


def text(message) -> str:
    """A check's message: the text itself, or a function returning it, so that a check that formats
    arrays in its message formats them only when it fails."""
    return message() if callable(message) else message


def require(condition: bool, message) -> None:
    """Fail with ``message`` (text, or a function returning it: see ``text``) unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(text(message))


def is_finite_number(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def call_text(name: str, *args, **kwargs) -> str:
    """A call as the student would type it: ``name(arg, ..., key=value)``."""
    return f"{name}(" + ", ".join([fmt(a) for a in args] + [f"{k}={fmt(v)}" for k, v in kwargs.items()]) + ")"


def raises_value_error(student, what: str, *args, **kwargs) -> None:
    """``student(*args, **kwargs)``, described to the student as ``what``, should raise ValueError (a
    documented error: the ``rejects_*`` checks)."""
    r = student.raw(*args, **kwargs)
    require(not r.ok and r.error_type == "ValueError",
            f"{what} should raise ValueError, but it "
            + (f"returned {fmt(r.value)}" if r.ok else f"raised {r.error_type}: {r.error}"))


def require_value_error(student, *args, **kwargs) -> None:
    """``student(*args, **kwargs)`` should raise ValueError; the message shows the call as typed."""
    raises_value_error(student, call_text(student.name, *args, **kwargs), *args, **kwargs)


def as_tuple(got, count: int, what: str) -> tuple:
    """The student's tuple (or list) of ``count`` results; CheckFailed for anything else."""
    require(isinstance(got, (tuple, list)) and len(got) == count,
            lambda: f"{what} should return a tuple of {count} values, got {type(got).__name__}: {fmt(got)}")
    return tuple(got)


def row_max_zero(z: np.ndarray) -> np.ndarray:
    """``z`` shifted along its last axis so that each row's maximum is 0 (softmax and its losses do not change)."""
    return z - z.max(axis=-1, keepdims=True)


def assert_stable(got, shifted, what: str, cause: str) -> None:
    """A stability check's assertion: ``got`` (at large inputs) is finite and equals ``shifted``, the same call of
    the student's function on the inputs shifted by ``row_max_zero``. It compares the function with itself, so it
    fails on overflow (or another loss at large magnitude) alone, never on a formula bug that is wrong at every
    scale (the agreement check reports those)."""
    g = np.asarray(got, dtype=np.float64) if isinstance(got, (np.ndarray, float, int)) else None
    if g is not None and not np.all(np.isfinite(g)):
        raise CheckFailed(f"{what} returned non-finite values {fmt(got)} for large inputs: {cause}")
    assert_close(got, shifted, f"{what} compared with the same call on the inputs shifted so each row's maximum is 0")
