"""A wheelhouse from what is already on disk, so that a test can build a fresh venv offline.

``repack(dist, out)`` turns an installed distribution of this venv back into a wheel (the files its
RECORD lists under site-packages, its metadata, a new RECORD); ``wheelhouse(names, out)`` does it
for the named requirements and everything they require (markers evaluated, extras not followed).
Scripts and data files outside site-packages (``bin/``, ``share/``) are left out: pip writes the
console scripts again from ``entry_points.txt``. No network, no download.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

SKIP_META = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def repack(dist: md.Distribution, out: Path) -> Path:
    info = Path(dist._path)  # the .dist-info folder  # noqa: SLF001
    tags = [line.split(":", 1)[1].strip().split("-") for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")] or [["py3", "none", "any"]]
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))  # py2.py3-none-any
    wheel = out / f"{_norm(dist.metadata['Name'])}-{dist.version}-{tag}.whl"
    if wheel.exists():
        return wheel
    site = info.parent
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for f in dist.files or []:
            rel = f.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            if rel.startswith(info.name + "/") and rel.split("/", 1)[1] in SKIP_META:
                continue
            path = site / rel
            if not path.is_file():
                continue
            data = path.read_bytes()
            zf.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{rel},sha256={digest},{len(data)}")
        record.append(f"{info.name}/RECORD,,")
        zf.writestr(f"{info.name}/RECORD", "\n".join(record) + "\n")
    return wheel


def closure(names: list[str]) -> list[md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        req = Requirement(todo.pop())
        key = _norm(req.name)
        if key in seen:
            continue
        dist = md.distribution(req.name)
        seen[key] = dist
        for r in dist.requires or []:
            sub = Requirement(r)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(r)
    return list(seen.values())


def wheelhouse(names: list[str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [repack(d, out) for d in closure(names)]
