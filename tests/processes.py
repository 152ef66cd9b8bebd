"""Processes seen from /proc (Linux): who descends from whom, and waiting for them to be gone."""

from __future__ import annotations

import time
from pathlib import Path


def _table() -> dict[int, tuple[str, int]]:
    """{pid: (state letter, parent pid)} of every process now."""
    table = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            table[int(d.name)] = (fields[0], int(fields[1]))
    return table


def process_tree(root: int) -> dict[int, str]:
    """{pid: state letter} of ``root`` and its descendants."""
    table = _table()
    tree, grew = {root}, True
    while grew:
        more = {p for p, (_, pp) in table.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return {p: table[p][0] for p in tree if p in table}


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def alive(pids) -> set[int]:
    """Those of ``pids`` that still exist and are not zombies (a zombie runs nothing; only its parent's
    wait() removes it, and the parent of an orphan is whatever init the machine has)."""
    table = _table()
    return {p for p in pids if p in table and table[p][0] not in "ZX"}


def wait_until(predicate, seconds: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``seconds`` pass; whether it held."""
    end = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)
