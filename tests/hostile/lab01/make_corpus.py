"""(Re)generate the hostile submission corpus for Lab 1: ``tests/hostile/lab01/<case>.ipynb``.

    python tests/hostile/lab01/make_corpus.py            # write every case (deterministic bytes)
    python tests/hostile/lab01/make_corpus.py CASE...    # only these

Most cases are *the full solution plus one hostile thing*, so the expected score in
``expected.toml`` says exactly what the hostile thing costs: the exercise it sits in, plus every
exercise whose functions call that one in the solution (js_divergence and probability_loyalty call
kl_divergence / js_divergence; cross_entropy calls log_softmax_t; kd_loss and hard_label_kd_loss
call cross_entropy). Cases that try to use the hidden reference start from the untouched
skeleton instead, so that any point they score is a leak. The rest are files that are not a
gradeable notebook at all.

The base notebook keeps only what grading reads: the title, the locked setup cell, each exercise
cell (solution markers stripped) and its locked self-check cell (``test_*``), so every file stays
small. The 50 MB notebook is not committed: ``big_notebook(path)`` writes it at test time.

WARNING: these notebooks are hostile on purpose. Grade them only in the bubblewrap sandbox (the
grader's default when bubblewrap is installed and it runs as root). In the process fallback as
root, ``kill_parent`` SIGKILLs the grading process and ``fork_bomb`` is bounded by nothing
(RLIMIT_NPROC does not apply to root). ``expected.toml`` marks such cases ``bwrap_only``.
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from textwrap import dedent, indent

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
NOTEBOOK = "lab01_distillation.ipynb"
EXERCISES = ("softmax_t", "log_softmax_t", "kl_divergence", "js_divergence", "cross_entropy", "kd_loss",
             "hard_label_kd_loss", "label_loyalty", "probability_loyalty", "majority_vote_accuracy",
             "majority_vote_bounds")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


# -- building blocks ------------------------------------------------------------------------------
def _gid(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _base(folder: str) -> nbformat.NotebookNode:
    """The course notebook reduced to what grading reads; solution markers kept (see _strip)."""
    nb = nbformat.read(REPO / folder / NOTEBOOK, as_version=4)
    keep = {"md_title", "setup", *EXERCISES, *(f"test_{e}" for e in EXERCISES)}
    nb.cells = [copy.deepcopy(c) for c in nb.cells if _gid(c) in keep]
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return nb


def solution() -> nbformat.NotebookNode:
    """The full solution (markers stripped when the notebook is written)."""
    return _base("solutions")


def skeleton() -> nbformat.NotebookNode:
    """The untouched student notebook: every exercise raises NotImplementedError."""
    return _base("labs")


def cell(nb, gid: str):
    for c in nb.cells:
        if _gid(c) == gid:
            return c
    raise KeyError(gid)


def inject(nb, gid: str, code: str) -> None:
    """Put ``code`` at the start of the body of exercise ``gid`` (where the solution begins)."""
    c = cell(nb, gid)
    lines = c.source.split("\n")
    at = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
    lines[at:at] = indent(dedent(code).strip("\n"), "    ").split("\n")
    c.source = "\n".join(lines)


def replace(nb, gid: str, source: str) -> None:
    cell(nb, gid).source = dedent(source).strip("\n")


def before(nb, gid: str, code: str) -> None:
    """Top-level code at the head of cell ``gid``, before its definition."""
    c = cell(nb, gid)
    c.source = dedent(code).strip("\n") + "\n\n" + c.source


def add(nb, source: str, *, after: str | None = None, grade_id: str | None = None) -> None:
    """A new code cell (a student's own cell unless ``grade_id`` says otherwise), at the end or after ``after``."""
    new = nbformat.v4.new_code_cell(dedent(source).strip("\n"))
    if grade_id is not None:
        new.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3,
                                    "solution": False}
    at = len(nb.cells) if after is None else nb.cells.index(cell(nb, after)) + 1
    nb.cells.insert(at, new)


def _strip(nb) -> None:
    for c in nb.cells:
        if c.cell_type == "code":
            c.source = "\n".join(line for line in c.source.split("\n") if line.strip() not in (BEGIN, END))


def render(nb) -> bytes:
    """Deterministic bytes: markers stripped, cell ids numbered, nbformat's own JSON layout."""
    nb = copy.deepcopy(nb)
    _strip(nb)
    for i, c in enumerate(nb.cells):
        c.id = f"cell-{i:02d}"
    return nbformat.writes(nb, version=4).encode("utf-8") + b"\n"


IDENTITY_SOFTMAX = '''
def softmax_t(logits, T=1.0):
    """Not a softmax: returns the logits unchanged (every softmax_t check fails)."""
    return np.asarray(logits, dtype=np.float64)
'''


# -- the cases ------------------------------------------------------------------------------------
CASES: dict = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def loop_top_level():
    nb = solution()
    add(nb, "while True:\n    pass", after="setup")
    return nb


@case
def loop_in_function():
    nb = solution()
    inject(nb, "log_softmax_t", "while True:\n    pass")
    return nb


@case
def sleep_forever():
    nb = solution()
    inject(nb, "kl_divergence", "import time\ntime.sleep(10**9)")
    return nb


@case
def os_exit():
    nb = solution()
    inject(nb, "js_divergence", "import os\nos._exit(7)")
    return nb


@case
def sys_exit():
    nb = solution()
    before(nb, "cross_entropy", 'import sys\nsys.exit("I am done here")')
    return nb


@case
def system_exit_in_function():
    nb = solution()
    inject(nb, "label_loyalty", "raise SystemExit(0)")
    return nb


@case
def keyboard_interrupt():
    nb = solution()
    add(nb, "raise KeyboardInterrupt", after="setup")
    inject(nb, "majority_vote_accuracy", "raise KeyboardInterrupt")
    return nb


@case
def base_exception():
    nb = solution()
    inject(nb, "probability_loyalty", 'raise BaseException("not an Exception, a BaseException")')
    return nb


@case
def memory_bomb():
    nb = solution()
    add(nb, """
        def _bomb():
            hog = []
            while True:
                hog.append(np.ones(2**24))  # 128 MB at a time, every page touched

        _bomb()
    """, after="setup")
    inject(nb, "softmax_t", "hog = np.ones(2**31)  # 16 GB at once")
    return nb


@case
def fork_bomb():
    nb = solution()
    add(nb, """
        import os, time

        def _fork_bomb():
            while True:
                try:
                    os.fork()
                except OSError:  # out of processes: every copy sleeps, holding its slot
                    time.sleep(3600)

        _fork_bomb()
    """, after="setup")
    return nb


@case
def fork_once():
    nb = solution()
    add(nb, "import os\nchild = os.fork()  # parent and child both carry on with the notebook", after="setup")
    return nb


@case
def stdout_flood():
    nb = solution()
    add(nb, 'print("x" * 5_000_000)\nfor i in range(100_000):\n    print("line", i)', after="setup")
    return nb


@case
def huge_file():
    nb = solution()
    add(nb, """
        import os, tempfile
        with open(os.path.join(tempfile.gettempdir(), "huge.bin"), "wb") as fh:
            for _ in range(100):
                fh.write(b"\\0" * 2**20)  # 100 MB
    """, after="setup")
    return nb


@case
def network():
    nb = solution()
    add(nb, """
        import socket
        with socket.create_connection(("1.1.1.1", 53), timeout=2) as s:
            s.sendall(b"the notebook is out")
    """, after="setup")
    return nb


_USE_WHAT_WAS_FOUND = """
for name, text in sorted(found.items()):
    print(f"===== {name} =====")  # into the grader's report, if the grader would show it
    print(text[:1500])
    if name.endswith(".py"):
        exec(compile(text, name, "exec"), globals())
    else:
        for c in json.loads(text)["cells"]:
            gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if c["cell_type"] == "code" and not gid.startswith(("exp_", "test_")):
                exec("".join(c["source"]), globals())
"""


@case
def read_reference_relative():
    nb = skeleton()
    add(nb, dedent("""
        # Use the hidden reference (or the solutions) instead of my own code, if they are anywhere above me.
        import json, os
        found = {}
        for up in range(8):
            for rel in ("reference_impl/distillation.py", "solutions/lab01_distillation.ipynb"):
                path = os.path.join(*[".."] * up, rel) if up else rel
                try:
                    with open(path, encoding="utf-8") as fh:
                        found.setdefault(rel, fh.read())
                except OSError:
                    pass
        if not found:
            raise FileNotFoundError("could not read the reference or the solutions by a relative path")
    """) + _USE_WHAT_WAS_FOUND)
    return nb


@case
def read_reference_absolute():
    nb = skeleton()
    add(nb, dedent("""
        # Find the course repository by absolute path: the grader's working directory, the paths an
        # editable install records, the folders around the interpreter, and a short walk of the usual places.
        import glob, json, os, re, sys
        roots = set()
        try:
            cwd = os.readlink(f"/proc/{os.getppid()}/cwd")  # the grader's own folder: tried first
        except OSError:
            cwd = ""
        for entry in sys.path:
            for f in glob.glob(os.path.join(entry, "__editable__*")):
                try:
                    roots.update(os.path.dirname(p) for p in re.findall(r"'(/[^']*?/reference_impl)'", open(f).read()))
                except OSError:
                    pass
        for p in (sys.prefix, sys.base_prefix, sys.executable):
            while p not in ("", "/"):
                p = os.path.dirname(p)
                roots.add(p)
        seen = 0
        for top in ("/work", "/home", "/root", "/srv", "/opt", "/app", "/autograder", "/code", "/src",
                    "/workspace", "/builds", "/mnt", "/tmp"):
            for dirpath, dirnames, _ in os.walk(top):
                seen += 1
                if "reference_impl" in dirnames:
                    roots.add(dirpath)
                depth = dirpath.count("/") - top.count("/")
                dirnames[:] = [] if depth >= 3 or seen > 20000 else [
                    d for d in dirnames if not d.startswith(".") and d not in ("node_modules", "site-packages")]
        found = {}
        for root in [cwd] * bool(cwd) + sorted(roots - {cwd}):  # other checkouts on the machine come after
            for rel in ("reference_impl/distillation.py", "solutions/lab01_distillation.ipynb"):
                try:
                    with open(os.path.join(root, rel), encoding="utf-8") as fh:
                        found.setdefault(rel, fh.read())
                except OSError:
                    pass
        if not found:
            raise FileNotFoundError("could not read the reference or the solutions by an absolute path")
    """) + _USE_WHAT_WAS_FOUND)
    return nb


@case
def import_reference():
    nb = skeleton()
    add(nb, """
        # Import the hidden reference; when the grader's import guard refuses, remove the guard and retry.
        import importlib, sys
        errors = []
        try:
            import reference_impl.distillation as R
        except ImportError as e:
            errors.append(f"{type(e).__name__}: {e}")
            sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_BlockRepository"]
            try:
                R = importlib.import_module("reference_impl.distillation")
            except Exception as e2:
                errors.append(f"{type(e2).__name__}: {e2}")
                raise ImportError(" / then, without the guard: ".join(errors)) from None
        for name in ("softmax_t", "log_softmax_t", "kl_divergence", "js_divergence", "cross_entropy", "kd_loss",
                     "hard_label_kd_loss", "label_loyalty", "probability_loyalty", "majority_vote_accuracy",
                     "majority_vote_bounds"):
            globals()[name] = getattr(R, name)
    """)
    return nb


@case
def import_autograder():
    nb = solution()
    add(nb, """
        # Reach the grader's own modules (to patch its checks) and the course's packages.
        import importlib
        refused = []
        for name in ("labgrader", "labgrader.checks.lab01_distillation", "labgrader.sandbox.wire", "labdatasets"):
            try:
                importlib.import_module(name)
            except ImportError as e:
                refused.append(str(e))
        if refused:
            raise ImportError("; ".join(refused))
    """)
    return nb


@case
def control_identity_softmax():
    nb = solution()
    replace(nb, "softmax_t", IDENTITY_SOFTMAX)
    return nb


@case
def monkeypatch_numpy():
    nb = control_identity_softmax()
    add(nb, """
        # Make every NumPy comparison agree, hoping the grader compares with this NumPy.
        import numpy
        numpy.allclose = lambda *a, **k: True
        numpy.isclose = lambda *a, **k: True
        numpy.array_equal = lambda *a, **k: True
        numpy.all = lambda *a, **k: True
        numpy.any = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        numpy.testing.assert_array_equal = lambda *a, **k: None
    """)
    return nb


@case
def monkeypatch_builtins():
    nb = control_identity_softmax()
    add(nb, """
        # Make the builtins and math that a grader might compare with lie.
        import builtins, math
        builtins.abs = lambda x: 0
        builtins.all = lambda it: True
        builtins.any = lambda it: False
        builtins.round = lambda x, n=None: x
        math.isclose = lambda *a, **k: True
    """)
    return nb


@case
def monkeypatch_hypothesis():
    nb = control_identity_softmax()
    add(nb, """
        # Turn property tests into no-ops, hoping the grader's hypothesis is this one.
        import hypothesis, hypothesis.core
        from hypothesis import settings
        settings.register_profile("rigged", max_examples=1, database=None)
        settings.load_profile("rigged")
        hypothesis.given = hypothesis.core.given = lambda *a, **k: (lambda f: (lambda *x, **y: None))
    """)
    return nb


@case
def rigged_eq():
    nb = solution()
    replace(nb, "label_loyalty", '''
        class AlwaysEqual:
            """Equal to anything, close to anything."""
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __le__(self, other): return True
            def __ge__(self, other): return True
            def __lt__(self, other): return False
            def __gt__(self, other): return False
            def __abs__(self): return 0.0
            def __sub__(self, other): return 0.0
            def __rsub__(self, other): return 0.0
            def __float__(self): return 0.5
            def __bool__(self): return True
            def __hash__(self): return 0


        def label_loyalty(student_probs, teacher_probs):
            return AlwaysEqual()
    ''')
    return nb


@case
def rigged_array():
    nb = solution()
    cell(nb, "softmax_t").source = cell(nb, "softmax_t").source.replace("def softmax_t(", "def _softmax_t(", 1)
    add(nb, '''
        class ArrayLike:
            """Converts to the right answer with np.asarray, and equals everything."""
            def __init__(self, values): self._values = values
            def __array__(self, dtype=None, copy=None): return self._values
            def __eq__(self, other): return True
            shape = property(lambda self: self._values.shape)
            dtype = property(lambda self: self._values.dtype)


        def softmax_t(logits, T=1.0):
            return ArrayLike(_softmax_t(logits, T))
    ''', after="softmax_t")
    return nb


@case
def rigged_float():
    nb = solution()
    cell(nb, "majority_vote_accuracy").source = cell(nb, "majority_vote_accuracy").source.replace(
        "def majority_vote_accuracy(", "def _majority_vote_accuracy(", 1)
    add(nb, '''
        class RiggedFloat(float):
            """The right value, but equal to everything and never far from anything."""
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __float__(self): return 0.5
            def __abs__(self): return RiggedFloat(0.0)
            def __sub__(self, other): return RiggedFloat(0.0)
            __hash__ = float.__hash__


        def majority_vote_accuracy(p, k):
            return RiggedFloat(_majority_vote_accuracy(p, k))
    ''', after="majority_vote_accuracy")
    return nb


@case
def ndarray_subclass():
    nb = solution()
    cell(nb, "softmax_t").source = cell(nb, "softmax_t").source.replace("def softmax_t(", "def _softmax_t(", 1)
    add(nb, '''
        class Trusting(np.ndarray):
            """An ndarray (the right values) whose comparisons always say yes."""
            def __eq__(self, other): return np.ones(self.shape, dtype=bool)
            def __ne__(self, other): return np.zeros(self.shape, dtype=bool)
            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                return np.zeros(self.shape)


        def softmax_t(logits, T=1.0):
            return _softmax_t(logits, T).view(Trusting)
    ''', after="softmax_t")
    return nb


@case
def nan_inf():
    nb = solution()
    replace(nb, "softmax_t", '''
        def softmax_t(logits, T=1.0):
            """NaN everywhere: every comparison with NaN is False, maybe the checks are careless."""
            return np.full(np.shape(logits), np.nan)
    ''')
    replace(nb, "majority_vote_accuracy", '''
        def majority_vote_accuracy(p, k):
            return float("inf")
    ''')
    return nb


@case
def wrong_shape():
    nb = solution()
    cell(nb, "softmax_t").source = cell(nb, "softmax_t").source.replace(
        "    return e / e.sum(axis=-1, keepdims=True)", "    return (e / e.sum(axis=-1, keepdims=True))[..., None]", 1)
    return nb


@case
def wrong_dtype():
    nb = solution()
    cell(nb, "kl_divergence").source = cell(nb, "kl_divergence").source.replace(
        "    return terms.sum(axis=-1)", "    return terms.sum(axis=-1).astype(np.complex128)", 1)
    return nb


@case
def deleted_locked_cells():
    nb = solution()
    nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get("nbgrader", {}).get("locked")]
    return nb


@case
def edited_locked_cells():
    nb = solution()
    replace(nb, "setup", 'import numpy as np\nnp = None\nraise SystemExit("the setup cell was edited")')
    replace(nb, "test_softmax_t", IDENTITY_SOFTMAX)  # a locked self-check cell rewritten to break softmax_t
    add(nb, "import os\nos._exit(1)", grade_id="exp_teacher")  # a locked experiment cell
    return nb


@case
def exercise_cell_marked_experiment():
    nb = solution()
    cell(nb, "softmax_t").metadata["nbgrader"]["grade_id"] = "exp_softmax_t"
    return nb


@case
def deleted_exercise_cell():
    nb = solution()
    nb.cells.remove(cell(nb, "kl_divergence"))
    return nb


@case
def defined_twice():
    nb = solution()
    add(nb, IDENTITY_SOFTMAX)  # a later scratch cell redefines softmax_t: the last definition is what runs
    return nb


@case
def signal_handlers():
    nb = solution()
    add(nb, """
        import signal
        for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGXCPU", "SIGUSR1", "SIGUSR2", "SIGPIPE"):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})
    """, after="setup")
    inject(nb, "softmax_t", "while True:\n    pass")
    return nb


@case
def kill_parent():
    nb = solution()
    add(nb, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", after="setup")
    return nb


@case
def ctypes_segfault():
    nb = solution()
    inject(nb, "majority_vote_accuracy", "import ctypes\nctypes.string_at(0)")
    return nb


@case
def evil_exception_str():
    nb = solution()
    add(nb, '''
        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("str() of this exception raises")

        raise Unprintable()
    ''', after="setup")
    inject(nb, "majority_vote_accuracy", "raise Unprintable()")
    return nb


@case
def tamper_with_venv():
    nb = solution()
    add(nb, """
        # Open NumPy's own source for writing: a grader that shares this NumPy would run my code next time.
        import numpy
        open(numpy.__file__, "a").close()
    """, after="setup")
    return nb


@case
def nbformat_v3():
    nb = solution()
    _strip(nb)
    return nbformat.writes(nbformat.convert(nb, 3), version=3).encode("utf-8") + b"\n"


@case
def non_utf8():
    data = render(solution())
    at = data.index(b"Knowledge distillation")
    return data[:at] + b"\xff\xfe Latin-1 \xe9t\xe9 " + data[at:]


@case
def not_json():
    nb = solution()
    _strip(nb)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "code").encode("utf-8") + b"\n"


@case
def json_not_notebook():
    return b'{"softmax_t": "def softmax_t(logits, T=1.0): ..."}\n'


@case
def no_cells():
    return b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


@case
def malformed_cells():
    return b'{"cells": ["def softmax_t(logits, T=1.0):\\n    return logits"], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


@case
def empty_file():
    return b""


@case
def deep_json():
    return b"[" * 5000 + b"]" * 5000 + b"\n"


@case
def json_huge_number():
    return b'{"cells": [], "metadata": {"n": ' + b"9" * 5000 + b'}, "nbformat": 4, "nbformat_minor": 5}\n'


# Known grader bugs (labgrader/sandbox/session.py trusts the shape of the worker's frames): graded by a
# separate xfail test in tests/labgrader/test_hostile.py, not in the main batch.
_FORGE = '''
import json, os, struct, sys

def _forge(body):
    """Write a frame of my own onto the worker's reply pipe (its number is in sys.argv)."""
    header = json.dumps({"body": body, "buffers": []}).encode()
    os.write(int(sys.argv[2]), struct.pack("<Q", len(header)) + header)
'''


@case
def forged_load_frame():
    nb = solution()
    add(nb, _FORGE + '\n_forge({"event": "loaded", "cells": 5, "functions": 3})', after="setup")
    return nb


@case
def forged_call_reply():
    nb = solution()
    add(nb, _FORGE, after="setup")
    inject(nb, "label_loyalty", "_forge([1, 2])")
    return nb


def big_notebook(path: Path, megabytes: int = 50) -> Path:
    """The full solution carrying a ``megabytes`` MB image output: written at test time, never committed."""
    nb = solution()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (megabytes * 2**20 * 3 // 4)).decode()
    cell(nb, "softmax_t").outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    path.write_bytes(render(nb))
    return path


def build(name: str) -> bytes:
    made = CASES[name]()
    return made if isinstance(made, bytes) else render(made)


def main(argv: list[str]) -> int:
    names = argv or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)} (known: {', '.join(CASES)})", file=sys.stderr)
        return 2
    for name in names:
        data = build(name)
        (HERE / f"{name}.ipynb").write_bytes(data)
        print(f"{name}.ipynb  {len(data):>7} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
