"""An in-process backend for code we trust (our own mutants and alternative solutions in tests).

It has the same ``call`` interface as the sandbox session, and every argument and return value
makes the same wire round trip (so a function returning a list or a NumPy scalar is judged exactly
as in the sandbox), but there is no process, no limit and no isolation: never use it for
student code. ``course validate`` uses it to grade hundreds of mutants quickly.
"""

from __future__ import annotations

import traceback

from .sandbox import CallResult
from .sandbox import wire


class InProcessBackend:
    def __init__(self, namespace: dict):
        self.namespace = namespace

    @classmethod
    def from_source(cls, source: str, preamble: str = "import numpy as np") -> "InProcessBackend":
        ns: dict = {"__name__": "__submission__"}
        exec(compile(preamble + "\n" + source, "<in-process submission>", "exec"), ns)
        return cls(ns)

    @property
    def functions(self) -> set[str]:
        return {k for k, v in self.namespace.items() if callable(v) and not k.startswith("__")}

    def call(self, fn: str, *args, **kwargs) -> CallResult:
        args, kwargs = wire.roundtrip([list(args), kwargs])
        f = self.namespace.get(fn)
        try:
            if f is None:
                raise NameError(f"name '{fn}' is not defined")
            value = f(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the student's error, reported as in the sandbox
            return CallResult(False, error_type=type(exc).__name__, error=str(exc),
                              traceback="".join(traceback.format_exception_only(type(exc), exc)))
        try:
            value = wire.roundtrip(value)
        except wire.WireError as exc:
            return CallResult(False, error_type="UnsupportedReturnValue", error=str(exc))
        return CallResult(True, value=value)

