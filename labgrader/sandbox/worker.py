"""The sandbox worker: holds the student's code and nothing else, answers calls with plain data.

Run by the grader as ``python -I worker.py FD_IN FD_OUT`` from a private temporary directory that
holds a copy of this file and ``wire.py`` only. It imports the standard library, NumPy and
``wire`` — never ``reference_impl``, ``labgrader`` or the checks — and refuses to let the
student's code import them either (a guard, not the security boundary: the boundary is the
process, its limits, and in the bubblewrap mode the filesystem the worker cannot see).

Protocol (one frame per message, see wire.py):

    -> {"op": "load", "cells": [{"index": i, "source": "..."}]}
    <- {"event": "cell_start", "index": i}            before each cell (so a hang can be located)
    <- {"event": "loaded", "cells": [{"index", "ok", "error"}], "functions": [names]}
    -> {"op": "call", "fn": name, "args": [...], "kwargs": {...}, "answered": [names]}
    <- {"event": "ask", "fn": name, "args": [...], "kwargs": {...}}   a call of an "answered" function
    -> {"op": "answer", "ok": true, "value": ...} | {"op": "answer", "ok": false, "error_type", "error"}
    <- {"ok": true, "value": ...} | {"ok": false, "error_type": "...", "error": "...", "traceback": "..."}
       an ok reply also lists, when not empty, "mutated": [argument names the call changed] and
       "aliased": [array arguments the result shares memory with] (see watched_call)

"answered" names other exercises' functions: while this call runs, the student's code calling one
of them gets the grader's answer (the reference's result, as data) instead of running the
student's own, so a bug in one exercise does not cost the exercises that call it.
    -> {"op": "batch", "calls": [{"fn", "args", "kwargs", "answered", "memo"}, ...]}
    <- one reply per call, in order, as for "call" (asks in between); after a call that raised
       NotImplementedError (an exercise not done yet) the worker runs no further call of the batch
    -> {"op": "exit"}

A batch saves the round trip per call (the grader sends the calls it expects a check to make, see
labgrader/runner.py). "memo" maps the sha256 of an "ask" frame to the grader's answer to exactly
that frame: the asking stand-in answers such an ask with a fresh copy of it, without a round trip,
and asks the grader for any other.

Student code's stdout and stderr go to files the grader reads afterwards; the protocol has its own
pipe, so printing cannot corrupt it.
"""

from __future__ import annotations

import os
import sys
import traceback

BLOCKED_PACKAGES = ("reference_impl", "labgrader", "labdatasets")
_getpid, _exit = os.getpid, os._exit  # bound now: the student's code may patch the os module
MAX_ERROR_CHARS = 2000


class AnswerError(Exception):
    """The grader's answer to an answered call was an error (its type's name is in the message)."""


def _asking(name: str, fd_in: int, fd_out: int, wire, memo: dict | None = None):
    """A stand-in for the student's ``name`` that asks the grader for the value (data in, data out);
    ``memo``: answers the grader sent ahead, by the sha256 of the ask's frame."""
    import builtins
    import hashlib

    def ask(*args, **kwargs):
        frame = wire.encode({"event": "ask", "fn": name, "args": list(args), "kwargs": kwargs})
        if memo:
            key = hashlib.sha256(frame).hexdigest()
            if key in memo:
                return wire.roundtrip(memo[key])  # what the grader's answer frame would decode to
        wire.write_bytes(fd_out, frame)
        reply = wire.read_frame(fd_in)
        if reply.get("ok") is True:
            return reply.get("value")
        kind = getattr(builtins, str(reply.get("error_type", "")), None)
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            kind = AnswerError
        raise kind(f"{name}: {reply.get('error', '')}")

    ask.__name__ = ask.__qualname__ = name
    return ask


class _BlockRepository:
    """A meta-path finder that refuses the course's own packages inside the sandbox."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED_PACKAGES:
            raise ImportError(f"'{name}' is not available inside the grading sandbox")
        return None


def _strip_magics(source: str) -> str:
    """Turn IPython line magics and shell escapes (``%matplotlib``, ``!pip``) into no-ops."""
    out = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(line[: len(line) - len(stripped)] + "pass  # " + stripped)
        else:
            out.append(line)
    return "\n".join(out)


def _safe_str(exc: BaseException) -> str:
    """str(exc), or a placeholder when the student's exception class makes str() raise."""
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not take the worker down
        return "<exception str() failed>"
    return text if type(text) is str else "<exception str() failed>"


def _describe(exc: BaseException) -> dict:
    try:
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        # Drop the worker's own frames: the student needs only their code's lines.
        text = "".join(line for line in tb if "worker.py" not in line)
    except BaseException:  # noqa: BLE001
        text = ""
    name = getattr(type(exc), "__name__", "")
    return {
        "error_type": name if type(name) is str else "",
        "error": _safe_str(exc)[:MAX_ERROR_CHARS],
        "traceback": text[-MAX_ERROR_CHARS:],
    }


def _arrays(value, depth: int = 0):
    """The NumPy arrays in a value (nested in lists, tuples and dict values, as the wire allows)."""
    import numpy as np

    if depth > 16:
        return
    if isinstance(value, np.ndarray):
        yield value
    elif type(value) in (list, tuple):
        for v in value:
            yield from _arrays(v, depth + 1)
    elif type(value) is dict:
        for v in value.values():
            yield from _arrays(v, depth + 1)


_IMMUTABLE = (int, float, bool, str, type(None))  # exact types: nothing a call can change in them


def _snapshot(v, encode):
    """What ``v`` holds, to tell after a call whether it changed: an array's dtype, shape and bytes
    (exact, so NaN and -0.0 count), anything else the wire can carry by its encoding; None for an
    immutable value or one the wire cannot carry (not watched)."""
    import numpy as np

    t = type(v)
    if t in _IMMUTABLE:
        return None
    if t is np.ndarray and v.dtype.kind in "biuf" and v.dtype.fields is None:
        return v.dtype.str, v.shape, v.tobytes()
    try:
        return encode(v)
    except Exception:  # noqa: BLE001 - a value the wire cannot carry is not watched
        return None


def _argument_names(fn, args: list, kwargs: dict) -> list[str]:
    import inspect

    try:
        names = list(inspect.signature(fn).bind(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        names = []
    n = len(args) + len(kwargs)
    return (names + [f"argument {i + 1}" for i in range(n)])[:n]


def watched_call(fn, args: list, kwargs: dict, encode):
    """Call ``fn(*args, **kwargs)`` and say which arguments it changed and which its result shares memory with.

    Returns (value, mutated, aliased): the names of the arguments (by the function's signature where it
    binds, else "argument i") whose data differ after the call (compared exactly, see ``_snapshot``),
    and of the array arguments the returned arrays share memory with (the input itself or a view of
    it). The exercises promise "inputs are not modified; a new array is returned" (DEVELOPERS.md,
    "Adding a lab"); labgrader.runner turns either into a failed check. The names are worked out only
    when something is to be said (binding a signature costs more than a small call).
    """
    import numpy as np

    values = list(args) + list(kwargs.values())
    before = [_snapshot(v, encode) for v in values]
    value = fn(*args, **kwargs)
    mutated, aliased = [], []
    results = list(_arrays(value))
    for i, (v, b) in enumerate(zip(values, before)):
        if b is not None:
            try:
                changed = _snapshot(v, encode) != b
            except Exception:  # noqa: BLE001 - the function made its argument unsendable: it changed it
                changed = True
            if changed:
                mutated.append(i)
        if results and any(np.may_share_memory(r, a) for r in results for a in _arrays(v)):
            aliased.append(i)
    if mutated or aliased:
        names = _argument_names(fn, args, kwargs)
        mutated, aliased = [names[i] for i in mutated], [names[i] for i in aliased]
    return value, mutated, aliased


def _leave_if_forked(worker_pid: int) -> None:
    """A process the student's code forked must never speak on the protocol pipes: it would send a
    second reply to every request (or read the grader's next request) and scramble the grading."""
    if _getpid() != worker_pid:
        _exit(0)


def _call(msg: dict, namespace: dict, fd_in: int, fd_out: int, wire, worker_pid: int) -> bool:
    """Call the student's function as ``msg`` says and write the reply frame; False if the call raised
    NotImplementedError (a batch stops there; see CallBatch in session.py)."""
    fn = namespace.get(msg["fn"])
    answered = [n for n in msg.get("answered") or () if n != msg["fn"]]
    memo = msg.get("memo") or None
    saved = {n: namespace[n] for n in answered if n in namespace}
    namespace.update({n: _asking(n, fd_in, fd_out, wire, memo) for n in answered})
    go_on = True
    try:
        if fn is None or not callable(fn):
            raise NameError(f"name '{msg['fn']}' is not defined")
        value, mutated, aliased = watched_call(fn, msg["args"], msg["kwargs"], wire.encode)
    except BaseException as exc:  # noqa: BLE001 - a student's SystemExit must not end the worker
        _leave_if_forked(worker_pid)
        reply = {"ok": False, **_describe(exc)}
        go_on = reply["error_type"] != "NotImplementedError"
        frame = wire.encode(reply)
    else:
        _leave_if_forked(worker_pid)
        try:
            frame = wire.encode({"ok": True, "value": value, **({"mutated": mutated} if mutated else {}),
                                 **({"aliased": aliased} if aliased else {})})
        except BaseException as exc:  # noqa: BLE001 - WireError, or a hostile value's side effects
            frame = wire.encode(
                {"ok": False, "error_type": "UnsupportedReturnValue", "error": str(exc)[:MAX_ERROR_CHARS], "traceback": ""}
            )
    finally:
        for n in answered:
            if n in saved:
                namespace[n] = saved[n]
            else:
                namespace.pop(n, None)
    sys.stdout.flush()
    wire.write_bytes(fd_out, frame)
    return go_on


def main(fd_in: int, fd_out: int) -> None:
    import faulthandler

    import wire  # the copy beside this file

    if faulthandler.is_enabled():  # -X faulthandler: keep the crash report, without the thread's address
        faulthandler.enable(all_threads=False)  # ("Current thread 0x7f..." differs run to run: not deterministic)
    sys.meta_path.insert(0, _BlockRepository())
    worker_pid = _getpid()
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    while True:
        try:
            msg = wire.read_frame(fd_in)
        except wire.ChannelClosed:
            return
        op = msg.get("op")
        if op == "exit":
            return
        if op == "load":
            results = []
            for cell in msg["cells"]:
                wire.write_frame(fd_out, {"event": "cell_start", "index": cell["index"]})
                try:
                    code = compile(_strip_magics(cell["source"]), f"<cell {cell['index']}>", "exec")
                    exec(code, namespace)
                    results.append({"index": cell["index"], "ok": True, "error": ""})
                except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: the cell failed
                    d = _describe(exc)
                    results.append({"index": cell["index"], "ok": False, "error": f"{d['error_type']}: {d['error']}"})
                _leave_if_forked(worker_pid)
                sys.stdout.flush()
            functions = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("__"))
            wire.write_frame(fd_out, {"event": "loaded", "cells": results, "functions": functions})
        elif op == "call":
            _call(msg, namespace, fd_in, fd_out, wire, worker_pid)
        elif op == "batch":
            for call in msg["calls"]:
                if not _call(call, namespace, fd_in, fd_out, wire, worker_pid):
                    break
        else:
            wire.write_frame(fd_out, {"ok": False, "error_type": "ProtocolError", "error": f"unknown op {op!r}", "traceback": ""})


if __name__ == "__main__":
    here = __file__.rsplit("/", 1)[0] or "."
    sys.path.insert(0, here)
    main(int(sys.argv[1]), int(sys.argv[2]))
