"""Data-only messages between the grader and the sandbox worker: JSON plus raw array buffers.

Never pickle: a pickled object can carry code and arbitrary classes, so an object with a rigged
``__eq__`` (or a patched NumPy) could cross into the grader. Here only plain data crosses:

* ``None``, ``bool``, ``int``, ``float`` (NaN and +-inf tagged), ``str``;
* ``list``, ``tuple`` and ``dict`` with ``str`` keys, nested up to ``MAX_DEPTH``;
* NumPy arrays and scalars of boolean, integer and floating dtypes, sent as
  ``{dtype, shape}`` in the JSON header plus the raw bytes in a buffer after it.

Types are matched exactly (``type(v) is float``), never with ``isinstance``: a subclass could
override any method the grader later calls. The receiver rebuilds fresh objects from bytes.

A frame on the pipe is::

    8-byte little-endian header length | header (UTF-8 JSON) | buffer 0 | buffer 1 | ...

with the buffer lengths listed in the header. This module is imported by the grader as
``labgrader.sandbox.wire`` and copied beside the worker, which imports it as ``wire``; it
depends on nothing but the standard library and NumPy.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time

import numpy as np

MAX_DEPTH = 16
MAX_FRAME_BYTES = 256 * 1024 * 1024
ALLOWED_KINDS = "biuf"  # bool, signed int, unsigned int, float
_ndarray = np.ndarray
_generic = np.generic


class WireError(Exception):
    """A value that cannot be sent, or a frame that is malformed."""


class ChannelClosed(Exception):
    """The other end closed the pipe (the worker exited or was killed)."""


class ChannelTimeout(Exception):
    """No complete frame arrived before the deadline."""


def _encode(v, buffers: list, depth: int):
    if depth > MAX_DEPTH:
        raise WireError(f"value is nested deeper than {MAX_DEPTH} levels")
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v
    if t is float:
        if math.isfinite(v):
            return v
        return {"__float__": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if t is list:
        return [_encode(x, buffers, depth + 1) for x in v]
    if t is tuple:
        return {"__tuple__": [_encode(x, buffers, depth + 1) for x in v]}
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str or k.startswith("__"):
                raise WireError(f"dict keys must be strings not starting with '__', got {k!r}")
            out[k] = _encode(x, buffers, depth + 1)
        return out
    if t is _ndarray or (isinstance(v, _generic) and type(v).__module__ == "numpy"):
        a = np.asarray(v) if t is not _ndarray else v
        if type(a) is not _ndarray:
            raise WireError(f"cannot send {t.__module__}.{t.__qualname__}")
        if a.dtype.kind not in ALLOWED_KINDS or a.dtype.fields is not None:
            raise WireError(
                f"cannot send an array of dtype {a.dtype}: return a numeric (bool, int or float) NumPy array"
            )
        data = np.ascontiguousarray(a).tobytes()
        buffers.append(data)
        return {"__ndarray__": len(buffers) - 1, "dtype": a.dtype.str, "shape": list(a.shape)}
    raise WireError(
        f"cannot send a value of type {t.__module__}.{t.__qualname__}: "
        "return a NumPy array, a Python number, or a list/tuple/dict of them"
    )


def identical(a, b, depth: int = 0) -> bool:
    """True only if ``a`` and ``b`` would be sent as the same bytes (exact types, dict order, float
    signs and NaNs, array dtypes, shapes and bytes), without encoding either: a fast test before
    comparing encodings. False may still mean they encode alike (a NumPy scalar and its 0-d array)."""
    t = type(a)
    if t is not type(b) or depth > MAX_DEPTH:
        return False
    if a is None or t is bool or t is str or t is int:
        return a == b
    if t is float:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if t is list or t is tuple:
        return len(a) == len(b) and all(identical(x, y, depth + 1) for x, y in zip(a, b))
    if t is dict:
        return list(a) == list(b) and all(identical(a[k], b[k], depth + 1) for k in a)
    if t is _ndarray:
        return a.dtype.str == b.dtype.str and a.shape == b.shape and a.tobytes() == b.tobytes()
    return False


def encode(message) -> bytes:
    """Encode a message (plain data and arrays) as one frame."""
    buffers: list[bytes] = []
    body = _encode(message, buffers, 0)
    header = json.dumps({"body": body, "buffers": [len(b) for b in buffers]}, allow_nan=False).encode()
    frame = b"".join([struct.pack("<Q", len(header)), header, *buffers])
    if len(frame) > MAX_FRAME_BYTES:
        raise WireError(f"message of {len(frame)} bytes exceeds the limit of {MAX_FRAME_BYTES}")
    return frame


def _decode(v, buffers: list[bytes], depth: int):
    if depth > MAX_DEPTH:
        raise WireError("frame nested too deeply")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, list):
        return [_decode(x, buffers, depth + 1) for x in v]
    if isinstance(v, dict):
        if "__float__" in v:
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v["__float__"]]
        if "__tuple__" in v:
            return tuple(_decode(x, buffers, depth + 1) for x in v["__tuple__"])
        if "__ndarray__" in v:
            dtype = np.dtype(v["dtype"])
            if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None:
                raise WireError(f"refusing array of dtype {dtype}")
            shape = tuple(int(s) for s in v["shape"])
            if any(s < 0 for s in shape):
                raise WireError(f"negative dimension in shape {shape}")
            buf = buffers[int(v["__ndarray__"])]
            if math.prod(shape) * dtype.itemsize != len(buf):
                raise WireError(f"array buffer of {len(buf)} bytes does not match shape {shape} and dtype {dtype}")
            return np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
        return {k: _decode(x, buffers, depth + 1) for k, x in v.items()}
    raise WireError(f"unexpected JSON value {v!r}")


def decode(header: bytes, payload: bytes):
    """Decode a frame's header and the bytes of its buffers back into plain data."""
    try:
        meta = json.loads(header)
        lengths = [int(n) for n in meta["buffers"]]
        body = meta["body"]
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise WireError(f"malformed frame header: {e}") from None
    if any(n < 0 for n in lengths) or sum(lengths) != len(payload):
        raise WireError("frame buffers do not add up to the payload length")
    buffers, pos = [], 0
    for n in lengths:
        buffers.append(payload[pos : pos + n])
        pos += n
    try:
        return _decode(body, buffers, 0)
    except WireError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as e:  # e.g. a bad dtype, buffer index or tag
        raise WireError(f"malformed frame: {type(e).__name__}: {e}") from None


def split_frame(frame: bytes) -> tuple[bytes, bytes]:
    """(header, payload) of an encoded frame, for decoding a frame held in memory."""
    (hlen,) = struct.unpack("<Q", frame[:8])
    return frame[8 : 8 + hlen], frame[8 + hlen :]


def roundtrip(value):
    """Encode and decode ``value``: what the other side of the pipe would see."""
    return decode(*split_frame(encode(value)))


class FrameReader:
    """Frames from one file descriptor, read in chunks of up to a pipe's capacity: when the other side
    writes faster than this side reads (a batch's replies), one read (and at most one wait) brings
    many frames instead of three reads and three waits per frame. All reads of ``fd`` must go through
    the same reader (it keeps what it has read ahead). ``read_ahead=False`` reads no byte past the
    frame asked for (``read_frame``, for a side that may hand the descriptor on)."""

    CHUNK = 1 << 16

    def __init__(self, fd: int, read_ahead: bool = True):
        self.fd = fd
        self._buf = bytearray()
        self._chunk = self.CHUNK if read_ahead else 0

    def _fill(self, n: int, deadline: float | None) -> None:
        while len(self._buf) < n:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChannelTimeout()
                ready, _, _ = select.select([self.fd], [], [], remaining)
                if not ready:
                    raise ChannelTimeout()
            chunk = os.read(self.fd, min(max(n - len(self._buf), self._chunk), 1 << 20))
            if not chunk:
                raise ChannelClosed()
            self._buf += chunk

    def read_frame(self, deadline: float | None = None):
        """The next frame (as ``read_frame``), waiting until ``deadline`` (a time.monotonic() value)."""
        self._fill(8, deadline)
        (hlen,) = struct.unpack("<Q", self._buf[:8])
        if hlen > MAX_FRAME_BYTES:
            raise WireError(f"frame header of {hlen} bytes exceeds the limit")
        self._fill(8 + hlen, deadline)
        header = bytes(self._buf[8 : 8 + hlen])
        total = _payload_length(header)
        self._fill(8 + hlen + total, deadline)
        payload = bytes(self._buf[8 + hlen : 8 + hlen + total])
        del self._buf[: 8 + hlen + total]
        return decode(header, payload)


def _payload_length(header: bytes) -> int:
    try:
        total = sum(int(n) for n in json.loads(header)["buffers"])
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise WireError(f"malformed frame header: {e}") from None
    if total > MAX_FRAME_BYTES:
        raise WireError(f"frame payload of {total} bytes exceeds the limit")
    return total


def read_frame(fd: int, deadline: float | None = None):
    """Read one frame from a file descriptor, and not a byte more; ``deadline`` is a time.monotonic() value."""
    return FrameReader(fd, read_ahead=False).read_frame(deadline)


def write_frame(fd: int, message, deadline: float | None = None) -> None:
    """Write one frame to a file descriptor (blocking, or until ``deadline``: see write_bytes)."""
    write_bytes(fd, encode(message), deadline)


def write_bytes(fd: int, frame: bytes, deadline: float | None = None) -> None:
    """Write an already encoded frame to a file descriptor.

    Without a ``deadline`` this blocks until the reader has taken all of it. With one (a
    time.monotonic() value) it raises ChannelTimeout if the reader stops reading before the frame
    is written; ``fd`` should then be non-blocking (``os.set_blocking(fd, False)``), otherwise a
    single large write can still wait for the reader past the deadline.
    """
    view = memoryview(frame)
    while view:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            _, ready, _ = select.select([], [fd], [], remaining)
            if not ready:
                raise ChannelTimeout()
        try:
            n = os.write(fd, view)
        except BlockingIOError:  # a non-blocking pipe that is full
            if deadline is None:
                select.select([], [fd], [])
            continue
        view = view[n:]
