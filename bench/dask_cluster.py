"""Grading on a Dask cluster (``course grade --cluster``): throughput with 1 and 2 workers, and a model.

A real ``dask scheduler`` and ``dask worker --nthreads 1`` processes on 127.0.0.1 grade bench/batch.py's
40 mixed Lab 1 submissions (``--force``, the grading profile) through ``labgrader.cluster``; the
wall time is from the call to the gradebook written, cluster start-up excluded.

The model for N workers, each with its own core, stated with the inputs it is measured from:

    s  = wall(1 worker) / n           service time of one submission on one worker, dispatch included
    t  = mean execution_time          grading itself, as each results.json records it (on the worker)
    o  = s - t                        dispatch overhead per task on the worker's critical path (client
                                      reads and ships the notebook, scheduler, result back, client writes)
    c  = wall(m no-op tasks) / m      what the client and scheduler spend per task: the ceiling
    throughput(N) = min(N / s, 1 / c)  submissions per second

The 2-worker figure on this machine is measured and set beside the model's 2 / s: here two workers
share 2 cores with the client, the scheduler and the rest of the machine, which the model does not.
``LocalDaskCluster`` (scheduler and workers as subprocesses) is also the test suite's cluster.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _dask() -> list[str]:
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


class LocalDaskCluster:
    """A scheduler and ``--nthreads 1`` workers as subprocesses, each in its own process group."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = self.folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        with open(self.folder / log, "wb") as fh:
            p = subprocess.Popen(_dask() + args, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                 start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(p)
        return p

    def start(self, n_workers: int, timeout: float = 120) -> str:
        """Start the scheduler (a free port of its choosing) and the workers; return its address."""
        self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(self.scheduler_file)], "scheduler.log")
        deadline = time.monotonic() + timeout
        while not self.scheduler_file.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError("dask scheduler did not start:\n" + self.log("scheduler.log"))
            time.sleep(0.2)
        for i in range(n_workers):
            self.workers[f"w{i}"] = self._start(
                ["worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"], f"w{i}.log")
        return self.address

    @property
    def address(self) -> str:
        return json.loads(self.scheduler_file.read_text())["address"]

    def log(self, name: str) -> str:
        try:
            return (self.folder / name).read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and everything it started (its sandbox): a node lost mid-task."""
        p = self.workers[name]
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=60)

    def stop(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)

    def __enter__(self) -> LocalDaskCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def dispatch_cost(client, payload: bytes, m: int = 200) -> float:
    """Seconds per task the client and scheduler spend: m no-op tasks carrying a notebook's bytes each."""
    from distributed import as_completed

    t = time.perf_counter()
    futures = [client.submit(len, payload, pure=False) for _ in range(m)]  # a builtin: nothing to import
    for f in as_completed(futures, loop=client.loop):
        f.result()
    return (time.perf_counter() - t) / m


def time_cluster(course, workdir: Path, workers_list=(1, 2), profile: str = "grading") -> dict:
    from batch import make_batch
    from distributed import Client

    from labgrader.cluster import grade_batch_on_cluster

    lab = course.lab("lab01")
    subs = workdir / "cluster_submissions"
    kinds = make_batch(course, subs)
    n = sum(kinds.values())
    files = sorted(subs.glob("*.ipynb"))
    out: dict = {"submissions": n, "kinds": kinds, "profile": profile}
    for k in workers_list:
        with LocalDaskCluster(workdir / f"dask_{k}") as cluster:
            address = cluster.start(k)
            with Client(address, timeout=60, set_as_default=False) as client:
                client.wait_for_workers(k, timeout=180)
                results = workdir / f"cluster_results_{k}"
                t = time.perf_counter()
                summary = grade_batch_on_cluster(course, lab, [subs], results, client=client, force=True,
                                                 profile=profile)
                wall = time.perf_counter() - t
                if len(summary.graded) != n:
                    raise RuntimeError(f"{k} worker(s): {len(summary.graded)}/{n} graded; {summary.failed}")
                entry = {"wall_s": wall, "per_minute": 60 * n / wall,
                         "mean_grade_s": statistics.mean(r["execution_time"] for r in summary.results.values())}
                if k == 1:
                    median_bytes = statistics.median(f.stat().st_size for f in files)
                    payload = next(f for f in files if f.stat().st_size >= median_bytes).read_bytes()
                    entry["dispatch_s_per_task"] = dispatch_cost(client, payload)
                out[f"workers{k}"] = entry
    one = out["workers1"]
    s = one["wall_s"] / n
    t = one["mean_grade_s"]
    c = one["dispatch_s_per_task"]
    out["model"] = {"s": s, "t": t, "o": s - t, "c": c,
                    "projection_per_minute": {N: 60 * min(N / s, 1 / c) for N in (1, 2, 8, 32, 128, 512)},
                    "hours_for_10000": {N: 10000 / min(N / s, 1 / c) / 3600 for N in (1, 2, 8, 32, 128, 512)}}
    if "workers2" in out:
        out["speedup"] = out["workers2"]["per_minute"] / one["per_minute"]
    return out
