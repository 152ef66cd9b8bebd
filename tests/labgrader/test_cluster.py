"""Grading on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The batch is bench/batch.py's class of Lab 1 submissions (correct, buggy, hostile) with corrupt and
oversized files in place of some correct ones; one worker is killed (SIGKILL, its process group)
while it is running a task. The oracle is the local grader: the same batch through
``grade.grade_batch`` must give the same gradebook and the same results.json for every submission,
timing fields aside.
"""

from __future__ import annotations

import faulthandler
import json
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import distributed
import pytest

from labgrader import cluster
from labgrader.config import REPO_ROOT
from labgrader.grade import grade_batch
from labgrader.results import strip_timings
from labgrader.submission import MAX_NOTEBOOK_BYTES

sys.path.insert(0, str(REPO_ROOT / "bench"))
from batch import make_batch  # noqa: E402
from dask_cluster import LocalDaskCluster  # noqa: E402

pytestmark = pytest.mark.slow
HANG_GUARD_S = 1200  # the whole module, on a loaded 2-core machine; only a guard, never a timing
CORRUPT = ("not_json", "empty_file", "non_utf8", "json_not_notebook")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    faulthandler.dump_traceback_later(HANG_GUARD_S, exit=True)  # a hung cluster fails the run, never stalls it
    c = LocalDaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        c.start(2)  # port 0: the scheduler picks a free port and writes it to its scheduler file
        client = distributed.Client(c.address, timeout=60, set_as_default=False)
        try:
            client.wait_for_workers(2, timeout=180)
            c.client = client
            yield c
        finally:
            client.close()
    finally:
        c.stop()
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def batch(course, tmp_path_factory):
    """40 submissions: bench/batch.py's class with 5 correct ones replaced by corrupt and oversized files."""
    folder = tmp_path_factory.mktemp("class") / "subs"
    make_batch(course, folder)
    correct = sorted(folder.glob("correct_*.ipynb"))
    for path, name in zip(correct, CORRUPT):
        path.unlink()
        shutil.copy(REPO_ROOT / "tests" / "hostile" / "lab01" / f"{name}.ipynb", folder / f"corrupt_{name}.ipynb")
    correct[len(CORRUPT)].unlink()
    with open(folder / "corrupt_oversized.ipynb", "wb") as fh:  # refused by size, on the client, unshipped
        fh.write(b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "pad": "')
        fh.write(b"x" * MAX_NOTEBOOK_BYTES + b'"}')
    assert len(list(folder.glob("*.ipynb"))) == 40
    return folder


@pytest.fixture(scope="module")
def local_results(course, lab01, batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    summary = grade_batch(course, lab01, [batch], out, jobs=2, profile="quick")
    assert not summary.failed and len(summary.graded) == 40
    return out


# tests/hostile/lab01/expected.toml: the memory bomb ends at the memory limit or, where first-touch page
# faults are slow, at the cell time limit (and the sandbox restarts): the same points either way, so two
# gradings of it may differ in those words and that count only.
RESOURCE_ENDING = re.compile(r"MemoryError: Unable to allocate [^\"\\]*|skipped: cell \d+ took longer than [\d.]+ s and was stopped")


def _results(out: Path) -> dict[str, dict]:
    results = {}
    for f in sorted(out.glob("*/results.json")):
        text, endings = RESOURCE_ENDING.subn("<stopped at a resource limit>", f.read_text())
        result = strip_timings(json.loads(text))
        if endings:
            result["extra_data"].pop("restarts", None)
        results[f.parent.name] = result
    return results


def test_a_worker_killed_mid_batch_loses_nothing_and_grades_match_a_local_run(
        course, lab01, batch, local_results, dask_cluster, tmp_path):
    client = dask_cluster.client
    out = tmp_path / "out"
    seen: list[str] = []
    killed: dict = {}

    def progress(name, result, note):
        seen.append(name)
        if len(seen) == 30 and not killed:  # most results are in: lose a worker that is running a task
            workers = client.scheduler_info(n_workers=-1)["workers"]
            processing = client.processing()
            busy = [(info["name"], processing.get(addr, ())) for addr, info in workers.items()
                    if processing.get(addr)]
            assert busy, "no worker was running a task with 10 submissions to go"
            name_, keys = busy[0]
            killed.update(worker=name_, keys=list(keys))
            dask_cluster.kill_worker(name_)

    summary = cluster.grade_batch_on_cluster(course, lab01, [batch], out, address=dask_cluster.address,
                                             profile="quick", progress=progress)
    assert killed, "the test never killed a worker"
    assert dask_cluster.workers[killed["worker"]].poll() is not None
    assert len(client.scheduler_info(n_workers=-1)["workers"]) == 1
    # Every submission reported once, graded once; the ones the dead worker held were rescheduled.
    assert not summary.failed, summary.failed
    assert Counter(seen) == Counter(summary.graded) and max(Counter(seen).values()) == 1
    assert len(seen) == 40
    in_flight = {k.split("-", 2)[2].rsplit("-", 1)[0] for k in killed["keys"]}
    assert in_flight and in_flight <= set(summary.graded)

    ours, theirs = _results(out), _results(local_results)
    assert sorted(ours) == sorted(theirs) and len(ours) == 40
    for name in theirs:
        assert ours[name] == theirs[name], name
    assert (out / "gradebook.csv").read_bytes() == (local_results / "gradebook.csv").read_bytes()
    assert (out / "report.html").is_file()
    kinds = Counter(n.split("_")[0] for n in ours)
    assert kinds == {"correct": 9, "buggy": 14, "hostile": 12, "corrupt": 5}
    assert {ours[n]["extra_data"]["fatal"] != "" for n in ours if n.startswith("corrupt")} == {True}

    # A rerun resumes: nothing is sent to the cluster, every result is kept as it is.
    before = {f: f.stat().st_mtime_ns for f in out.glob("*/results.json")}
    again = cluster.grade_batch_on_cluster(course, lab01, [batch], out, address=dask_cluster.address,
                                           profile="quick")
    assert len(again.skipped) == 40 and not again.graded
    assert before == {f: f.stat().st_mtime_ns for f in out.glob("*/results.json")}


def test_a_worker_with_another_grader_refuses(course, lab01, dask_cluster):
    """The client's identity is forged: the workers' own fingerprint differs, so nothing is graded."""
    identity = cluster.grader_identity(course, lab01, "quick")
    forged = {**identity, "fingerprint": "0" * 16}
    sub = lab01.solution_path(course.root)
    job = {"course": cluster._course_ref(course), "lab": lab01.id, "profile": "quick", "identity": forged,
           "name": "s", "data": sub.read_bytes()}
    fut = dask_cluster.client.submit(cluster.grade_task, job, pure=False)
    with pytest.raises(cluster.GraderMismatch, match="fingerprint '[0-9a-f]{16}' \\(client: '0{16}'\\)"):
        fut.result(timeout=600)
    with pytest.raises(cluster.ClusterError, match="another grader version"):
        cluster.check_workers(dask_cluster.client, course, lab01, "quick", forged)
    found = dask_cluster.client.run(cluster.worker_identity, job["course"], lab01.id, "quick")
    assert [{k: v for k, v in w.items() if k != "sandbox"} for w in found.values()] == [identity] * len(found)
    job["identity"] = identity  # the same job with the true identity is graded
    result = dask_cluster.client.submit(cluster.grade_task, job, pure=False).result(timeout=600)
    assert result["score"] == result["max_score"] == lab01.max_score
    assert [w["sandbox"] for w in found.values()] == [result["extra_data"]["sandbox"]] * len(found)


def test_an_unreachable_scheduler_is_a_usage_error(course, lab01, tmp_path, monkeypatch, capsys):
    from labgrader.cli import EXIT_USAGE, main

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    sub = tmp_path / "s.ipynb"
    sub.write_bytes(lab01.solution_path(course.root).read_bytes())
    rc = main(["grade", "lab01", str(sub), "--out", str(tmp_path / "out"), "--profile", "quick",
               "--cluster", "tcp://127.0.0.1:9"])
    assert rc == EXIT_USAGE
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "out" / "s" / "results.json").exists()


def test_late_policy_is_applied_on_the_client(course, lab01, dask_cluster, tmp_path, submission_maker):
    """nbgrader's timestamp.txt stays on the client: 1.5 days late (10% per started day) is x 0.8."""
    from datetime import timedelta

    subs = tmp_path / "submitted"
    ann = submission_maker(subs / "ann" / "lab01" / "lab01.ipynb", lab01, course, from_solution=True)
    bob = submission_maker(subs / "bob" / "lab01" / "lab01.ipynb", lab01, course, from_solution=True)
    due = lab01.due.replace(tzinfo=None)
    (ann.parent / "timestamp.txt").write_text(due.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    (bob.parent / "timestamp.txt").write_text((due + timedelta(days=1, hours=12)).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    out = tmp_path / "out"
    summary = cluster.grade_batch_on_cluster(course, lab01, [subs], out, address=dask_cluster.address,
                                             profile="quick", late_policy=True)
    scores = {n.split("__")[0]: r["score"] for n, r in summary.results.items()}
    assert scores == {"ann": 100, "bob": pytest.approx(80)}
    local = grade_batch(course, lab01, [subs], tmp_path / "local", jobs=1, profile="quick", late_policy=True)
    assert _results(out) == _results(tmp_path / "local") and len(local.graded) == 2
    (bob.parent / "timestamp.txt").write_text(due.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))  # a changed timestamp
    again = cluster.grade_batch_on_cluster(course, lab01, [subs], out, address=dask_cluster.address,
                                           profile="quick", late_policy=True)
    assert [n.split("__")[0] for n in again.graded] == ["bob"] and again.results[again.graded[0]]["score"] == 100


def _grading_tasks_on_scheduler(client) -> list[str]:
    return client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks
                                                           if str(k).startswith("grade-")])


def test_ctrl_c_cancels_the_pending_tasks_and_a_rerun_resumes(course, lab01, batch, dask_cluster, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for f in sorted(batch.glob("correct_*.ipynb"))[:6]:
        shutil.copy(f, subs / f.name)
    out = tmp_path / "out"

    def interrupt(name, result, note):
        raise KeyboardInterrupt  # what Ctrl-C raises in the client's loop

    with pytest.raises(KeyboardInterrupt):
        cluster.grade_batch_on_cluster(course, lab01, [subs], out, address=dask_cluster.address, profile="quick",
                                       progress=interrupt)
    kept = sorted(f.parent.name for f in out.glob("*/results.json"))
    assert len(kept) == 1  # the result that arrived is kept
    for _ in range(240):  # the scheduler forgets the cancelled tasks (a hang guard, not a timing)
        if not _grading_tasks_on_scheduler(dask_cluster.client):
            break
        time.sleep(0.5)
    assert _grading_tasks_on_scheduler(dask_cluster.client) == []
    again = cluster.grade_batch_on_cluster(course, lab01, [subs], out, address=dask_cluster.address, profile="quick")
    assert again.skipped == kept and len(again.graded) == 5 and not again.failed
