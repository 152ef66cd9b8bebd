"""Tests of labgrader/sandbox/wire.py: plain data crosses exactly, anything else is refused.

The oracle for a round trip is the value itself, compared with ``same`` below: exact types at
every level (``type(x) is``, never ``isinstance``), floats bit for bit (NaN by NaN-ness), arrays
by dtype, shape and raw bytes. Malformed frames are written by hand, byte for byte.
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
import time
from collections import OrderedDict
from enum import IntEnum

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labgrader.sandbox import wire
from labgrader.sandbox.wire import MAX_DEPTH, ChannelClosed, ChannelTimeout, WireError


# -- an independent notion of "the same value" ---------------------------------------------------
def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return struct.pack("<d", a) == struct.pack("<d", b)  # also tells 0.0 from -0.0
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a) is np.ndarray:
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b


def arrays_in(v):
    if type(v) is np.ndarray:
        yield v
    elif type(v) in (list, tuple):
        for x in v:
            yield from arrays_in(x)
    elif type(v) is dict:
        for x in v.values():
            yield from arrays_in(x)


def depth(v) -> int:
    """Nesting depth as wire counts it: a leaf at the top is depth 0."""
    if type(v) in (list, tuple):
        return 1 + max((depth(x) for x in v), default=0)
    if type(v) is dict:
        return 1 + max((depth(x) for x in v.values()), default=0)
    return 0


def nested_list(levels: int):
    v = 0
    for _ in range(levels):
        v = [v]
    return v


# -- strategies ---------------------------------------------------------------------------------
DTYPES = [np.float64, np.float32, np.int64, np.bool_, np.uint8]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    a = draw(hnp.arrays(dtype, shape))  # float elements include NaN, +-inf and -0.0
    layout = draw(st.sampled_from(["c", "fortran", "strided"]))
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = a[::2]
    return a


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and +-inf included
    | st.text(max_size=8)
    | arrays()
)
KEYS = st.text(max_size=6).filter(lambda k: not k.startswith("__"))
VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4)
    | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
).filter(lambda v: depth(v) <= MAX_DEPTH)


# -- round trips ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_round_trip_gives_the_same_value_and_exact_types(value):
    """Nested lists, tuples, dicts, numbers, strings, None and arrays come back equal, types exact."""
    back = wire.roundtrip(value)
    assert same(back, value)


@settings(max_examples=100, deadline=None)
@given(arrays())
def test_arrays_come_back_as_fresh_writable_ndarrays(a):
    """A decoded array is a plain np.ndarray that owns its writable memory."""
    original = a.copy()
    back = wire.roundtrip({"x": a})["x"]
    assert type(back) is np.ndarray
    assert back.flags.writeable and back.flags.owndata
    assert not np.shares_memory(back, a)
    assert same(back, original.copy(order="C"))
    if back.size:
        back.reshape(-1)[0] = back.reshape(-1)[-1]  # writing to it must not fail nor touch the input
    assert same(a, original)


def test_special_floats_survive():
    values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    back = wire.roundtrip(values)
    assert same(back, values)
    assert math.copysign(1.0, back[3]) == -1.0


def test_special_floats_inside_arrays_survive():
    a = np.array([np.nan, np.inf, -np.inf, -0.0, 1.0])
    back = wire.roundtrip(a)
    assert np.isnan(back[0]) and back[1] == np.inf and back[2] == -np.inf
    assert np.signbit(back[3]) and back[4] == 1.0


def test_frame_header_is_strict_json():
    """NaN is tagged, so the header is standard JSON that any parser accepts."""
    header, _ = wire.split_frame(wire.encode([math.nan, math.inf]))
    json.loads(header, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_bool_and_int_stay_distinct():
    back = wire.roundtrip([True, 1, 1.0, False, 0])
    assert [type(x) for x in back] == [bool, int, float, bool, int]


def test_big_ints_survive():
    assert wire.roundtrip([2**200, -(2**100)]) == [2**200, -(2**100)]


def test_big_endian_and_half_precision_arrays():
    for dtype in (">f8", ">i4", "<f2", "<u2", "<i1"):
        a = np.arange(6, dtype=dtype).reshape(2, 3)
        back = wire.roundtrip(a)
        assert back.dtype == np.dtype(dtype) and np.array_equal(back, a)


def test_numpy_scalars_arrive_as_zero_dimensional_arrays():
    back = wire.roundtrip([np.float32(1.5), np.int64(-3), np.bool_(True)])
    assert all(type(x) is np.ndarray and x.shape == () for x in back)
    assert [x.dtype for x in back] == [np.float32, np.int64, np.bool_]
    assert [x.item() for x in back] == [1.5, -3, True]


def test_nesting_up_to_max_depth_is_allowed():
    assert wire.roundtrip(nested_list(MAX_DEPTH)) == nested_list(MAX_DEPTH)


# -- refused on encoding -----------------------------------------------------------------------------
class SubArray(np.ndarray):
    pass


class RiggedEq:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class SubFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class SubInt(int):
    pass


class SubStr(str):
    pass


class SubList(list):
    pass


class Colour(IntEnum):
    RED = 1


class SubFloat64(np.float64):
    def __eq__(self, other):
        return True

    __hash__ = np.float64.__hash__


REFUSED = {
    "ndarray subclass": np.zeros(3).view(SubArray),
    "masked array": np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
    "rigged __eq__": RiggedEq(),
    "float subclass": SubFloat(1.0),
    "int subclass": SubInt(1),
    "IntEnum": Colour.RED,
    "str subclass": SubStr("x"),
    "list subclass": SubList([1]),
    "OrderedDict": OrderedDict(a=1),
    "numpy scalar subclass": SubFloat64(1.0),
    "dict with int keys": {1: "a"},
    "dict with tuple keys": {(1, 2): "a"},
    "dict with a '__' key": {"__float__": "nan"},
    "object array": np.array([1, "a"], dtype=object),
    "complex array": np.zeros(2, dtype=np.complex128),
    "complex number": 1 + 2j,
    "complex numpy scalar": np.complex64(1),
    "structured array": np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
    "string array": np.array(["a", "b"]),
    "datetime array": np.array(["2026-01-01"], dtype="datetime64[D]"),
    "void array": np.zeros(2, dtype="V8"),
    "bytes": b"abc",
    "set": {1, 2},
    "function": len,
    "too deep": nested_list(MAX_DEPTH + 1),
}


@pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_values(value):
    with pytest.raises(WireError):
        wire.encode(value)


@pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_values_are_refused_when_nested(value):
    with pytest.raises(WireError):
        wire.encode({"ok": True, "value": [(1, value)]})


def test_complex_is_not_an_allowed_kind():
    assert "c" not in wire.ALLOWED_KINDS and "O" not in wire.ALLOWED_KINDS


# -- refused on decoding -----------------------------------------------------------------------------
def header(body, buffers=()):
    return json.dumps({"body": body, "buffers": list(buffers)}).encode()


def array_header(dtype="<f8", shape=(3,), index=0, nbytes=24):
    return header({"__ndarray__": index, "dtype": dtype, "shape": list(shape)}, [nbytes])


def test_hand_written_frame_decodes():
    """The decoder's own format, written by hand: the oracle for the malformed variants below."""
    payload = np.array([1.0, 2.0, 3.0]).tobytes()
    back = wire.decode(array_header(), payload)
    assert type(back) is np.ndarray and back.tolist() == [1.0, 2.0, 3.0]


MALFORMED = {
    "not JSON": (b"{nope", b""),
    "not UTF-8": (b"\xff\xfe", b""),
    "a list, not an object": (b"[]", b""),
    "no body": (b'{"buffers": []}', b""),
    "no buffers": (b'{"body": 1}', b""),
    "buffers not a list": (b'{"body": 1, "buffers": 3}', b""),
    "buffer length not a number": (b'{"body": 1, "buffers": ["x"]}', b"x"),
    "payload longer than buffers": (header(1), b"extra"),
    "negative buffer length": (header(1, [-4, 4]), b""),
    "payload shorter than buffers": (header(1, [8]), b"1234"),
    "buffer smaller than shape": (array_header(shape=(3,), nbytes=16), b"\0" * 16),
    "buffer larger than shape": (array_header(shape=(2,), nbytes=24), b"\0" * 24),
    "negative shape": (array_header(shape=(-1, -3), nbytes=24), b"\0" * 24),
    "object dtype": (array_header(dtype="|O", nbytes=24), b"\0" * 24),
    "object dtype (short)": (array_header(dtype="O", nbytes=24), b"\0" * 24),
    "complex dtype": (array_header(dtype="<c16", shape=(1,), nbytes=16), b"\0" * 16),
    "structured dtype": (header({"__ndarray__": 0, "dtype": [["a", "<f8"]], "shape": [3]}, [24]), b"\0" * 24),
    "void dtype": (array_header(dtype="|V8"), b"\0" * 24),
    "unknown dtype": (array_header(dtype="zz"), b"\0" * 24),
    "buffer index out of range": (array_header(index=5), b"\0" * 24),
    "buffer index not a number": (array_header(index="x"), b"\0" * 24),
    "shape not a list": (header({"__ndarray__": 0, "dtype": "<f8", "shape": 3}, [24]), b"\0" * 24),
    "array without shape": (header({"__ndarray__": 0, "dtype": "<f8"}, [24]), b"\0" * 24),
    "unknown float tag": (header({"__float__": "huge"}), b""),
    "tuple of a number": (header({"__tuple__": 3}), b""),
    "too deep": (header(nested_list(MAX_DEPTH + 1)), b""),
    "deeper than the JSON parser's recursion": (
        b'{"body": ' + b"[" * 100_000 + b"]" * 100_000 + b', "buffers": []}', b""),
}


@pytest.mark.parametrize("frame", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_wire_error(frame):
    """Whatever bytes arrive, decoding either succeeds or raises WireError, never anything else."""
    with pytest.raises(WireError):
        wire.decode(*frame)


# -- frames over a pipe ------------------------------------------------------------------------------
@pytest.fixture
def pipe():
    r, w = os.pipe()
    fds = {"r": r, "w": w}
    yield fds
    for fd in fds.values():
        if fd >= 0:
            os.close(fd)


def close(fds, end):
    os.close(fds[end])
    fds[end] = -1


@pytest.fixture(params=["read_frame", "FrameReader"])
def read(request, pipe):
    """Read a frame from ``pipe``: with ``wire.read_frame`` (the worker) or a ``wire.FrameReader`` (the grader)."""
    if request.param == "read_frame":
        return lambda deadline=None: wire.read_frame(pipe["r"], deadline)
    return wire.FrameReader(pipe["r"]).read_frame


def test_frames_over_a_pipe_in_order(pipe, read):
    messages = [{"op": "call", "args": [np.arange(5.0), (1, "x")], "kwargs": {"T": math.inf}}, None, [True]]
    for m in messages:
        wire.write_frame(pipe["w"], m)
    for m in messages:
        assert same(read(time.monotonic() + 5), m)


def test_a_frame_larger_than_the_pipe_buffer(pipe, read):
    big = np.arange(1_000_000, dtype=np.float64)  # 8 MB, far more than a pipe holds
    writer = threading.Thread(target=wire.write_frame, args=(pipe["w"], {"value": big}))
    writer.start()
    try:
        back = read(time.monotonic() + 30)
    finally:
        writer.join()
    assert same(back["value"], big)


def test_read_with_deadline_times_out_when_nothing_is_written(pipe, read):
    start = time.monotonic()
    with pytest.raises(ChannelTimeout):
        read(start + 0.2)
    assert 0.2 <= time.monotonic() - start < 30  # the deadline is honoured; the upper bound only catches a hang


def test_read_times_out_on_a_half_written_frame(pipe, read):
    frame = wire.encode({"x": np.zeros(100)})
    os.write(pipe["w"], frame[: len(frame) // 2])
    with pytest.raises(ChannelTimeout):
        read(time.monotonic() + 0.2)


def test_read_reports_a_closed_writer(pipe, read):
    close(pipe, "w")
    with pytest.raises(ChannelClosed):
        read(time.monotonic() + 5)


def test_read_without_deadline_reports_a_closed_writer(pipe, read):
    close(pipe, "w")
    with pytest.raises(ChannelClosed):
        read()


def test_writer_closing_mid_frame_is_channel_closed(pipe, read):
    frame = wire.encode([1, 2, 3])
    os.write(pipe["w"], frame[:-1])
    close(pipe, "w")
    with pytest.raises(ChannelClosed):
        read(time.monotonic() + 5)


def test_oversized_header_length_is_refused_before_reading_it(pipe, read):
    os.write(pipe["w"], struct.pack("<Q", wire.MAX_FRAME_BYTES + 1))
    with pytest.raises(WireError):
        read(time.monotonic() + 1)


def test_oversized_payload_is_refused_before_reading_it(pipe, read):
    head = header(1, [wire.MAX_FRAME_BYTES + 1])
    os.write(pipe["w"], struct.pack("<Q", len(head)) + head)
    with pytest.raises(WireError):
        read(time.monotonic() + 1)


def test_garbage_on_the_pipe_is_a_wire_error(pipe, read):
    os.write(pipe["w"], struct.pack("<Q", 5) + b"hello")
    with pytest.raises(WireError):
        read(time.monotonic() + 1)


def test_the_frame_reader_takes_many_frames_in_one_read_and_keeps_the_rest(pipe, monkeypatch):
    messages = [{"i": i, "a": np.arange(float(i % 7))} for i in range(300)]
    os.write(pipe["w"], b"".join(wire.encode(m) for m in messages))  # ~30 KB: all of it in the pipe
    reads = []
    real_read = os.read
    monkeypatch.setattr(wire.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    reader = wire.FrameReader(pipe["r"])
    for m in messages:
        assert same(reader.read_frame(time.monotonic() + 5), m)
    assert len(reads) == 1  # one read brought all 300 frames


def test_the_frame_reader_resumes_a_frame_after_a_timeout(pipe):
    frame = wire.encode({"x": np.arange(100.0)}) + wire.encode("next")
    reader = wire.FrameReader(pipe["r"])
    os.write(pipe["w"], frame[:37])  # inside the first frame's header
    with pytest.raises(ChannelTimeout):
        reader.read_frame(time.monotonic() + 0.1)
    os.write(pipe["w"], frame[37:])
    assert same(reader.read_frame(time.monotonic() + 5), {"x": np.arange(100.0)})
    assert reader.read_frame(time.monotonic() + 5) == "next"


def test_write_to_a_closed_reader_raises(pipe):
    close(pipe, "r")
    with pytest.raises(BrokenPipeError):
        wire.write_frame(pipe["w"], [1])


def test_write_with_deadline_times_out_when_nobody_reads(pipe):
    os.set_blocking(pipe["w"], False)
    start = time.monotonic()
    with pytest.raises(ChannelTimeout):
        wire.write_frame(pipe["w"], np.zeros(1_000_000), time.monotonic() + 0.2)  # 8 MB, never read
    assert 0.2 <= time.monotonic() - start < 30  # the deadline is honoured; the upper bound only catches a hang


def test_write_with_deadline_delivers_to_a_reader(pipe):
    os.set_blocking(pipe["w"], False)
    big = np.arange(1_000_000, dtype=np.int64)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(wire.read_frame(pipe["r"], time.monotonic() + 30)))
    reader.start()
    try:
        wire.write_frame(pipe["w"], {"value": big}, time.monotonic() + 30)
    finally:
        reader.join()
    assert same(got[0]["value"], big)


def test_non_blocking_write_without_deadline_waits_for_the_reader(pipe):
    os.set_blocking(pipe["w"], False)
    big = np.arange(300_000, dtype=np.float32)
    got: list = []
    def late_reader():
        time.sleep(0.2)  # the pipe fills up first: the writer has to wait for room
        got.append(wire.read_frame(pipe["r"], time.monotonic() + 30))

    reader = threading.Thread(target=late_reader)
    reader.start()
    try:
        wire.write_frame(pipe["w"], big)
    finally:
        reader.join()
    assert same(got[0], big)


# -- identical: the fast test the batches use before comparing encodings ------------------------------
_leaves = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True, width=64),
                    st.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf]), st.text(max_size=2),
                    hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
                               hnp.array_shapes(min_dims=0, max_dims=2, max_side=2)))
_values = st.recursive(_leaves, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.lists(kids, max_size=3).map(tuple),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), kids, max_size=3)), max_leaves=8)


@settings(max_examples=300, database=None)
@given(_values, _values)
def test_identical_values_encode_to_the_same_bytes(a, b):
    if wire.identical(a, b):
        assert wire.encode(a) == wire.encode(b)


@settings(max_examples=200, database=None)
@given(_values)
def test_a_value_is_identical_to_what_the_wire_delivers_of_it(a):
    assert wire.identical(a, wire.roundtrip(a))


@pytest.mark.parametrize("a, b", [
    (0.0, -0.0), (1, 1.0), (True, 1), ((1,), [1]), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    (np.zeros(2), np.zeros(2, dtype=np.float32)), (np.zeros((1, 2)), np.zeros(2)), (np.array([0.0]), np.array([-0.0])),
    (np.float64(1.0), np.array(1.0)),  # encodes alike, but identical is allowed to say no
])
def test_identical_says_no_to_values_that_differ_on_the_wire(a, b):
    assert not wire.identical(a, b)
