"""SHA-256 verification of the data files vendored in ``datasets/data``.

``datasets/data/SHA256SUMS`` is in the format written by GNU ``sha256sum``
(``<64 hex digits><two spaces><file name>`` per line), so it can also be
checked by hand with ``cd datasets/data && sha256sum -c SHA256SUMS``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The data stay in the course layout's datasets/data/ (beside this package); an installed student
# bundle carries them inside the package, labdatasets/data/.
_HERE = Path(__file__).resolve().parent
DATA_DIR = next((d for d in (_HERE / "data", _HERE.parent / "datasets/data") if d.is_dir()),
                _HERE.parent / "datasets/data")
SUMS_FILE = DATA_DIR / "SHA256SUMS"

RESTORE_HINT = "restore it with `git checkout datasets/data`"


class ChecksumError(RuntimeError):
    """A vendored data file is missing, unlisted or does not match SHA256SUMS."""


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 digest of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def read_sums(sums_file: str | Path = SUMS_FILE) -> dict[str, str]:
    """Parse a ``sha256sum``-format file into ``{file name: hex digest}``."""
    sums_file = Path(sums_file)
    if not sums_file.is_file():
        raise ChecksumError(f"checksum list {sums_file} is missing; {RESTORE_HINT}")
    sums: dict[str, str] = {}
    for lineno, line in enumerate(sums_file.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ChecksumError(
                f"{sums_file}:{lineno}: malformed line {line!r}; {RESTORE_HINT}"
            )
        sums[name.lstrip("*")] = digest.lower()
    return sums


def verify_file(path: str | Path, sums_file: str | Path = SUMS_FILE) -> None:
    """Check ``path`` against the digest listed for its file name in ``sums_file``.

    Raises :class:`ChecksumError` (naming the file and how to restore it) if the
    file is missing, not listed, or its SHA-256 differs from the listed one.
    """
    path = Path(path)
    if not path.is_file():
        raise ChecksumError(f"data file {path} is missing; {RESTORE_HINT}")
    expected = read_sums(sums_file).get(path.name)
    if expected is None:
        raise ChecksumError(
            f"data file {path} is not listed in {sums_file}; {RESTORE_HINT}"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"data file {path} is corrupted or modified: sha256 {actual} != "
            f"expected {expected} (from {sums_file}); {RESTORE_HINT}"
        )
