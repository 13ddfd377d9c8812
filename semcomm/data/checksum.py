"""md5 verification of dataset files, hashed once per process per file version."""

from __future__ import annotations

import hashlib
from pathlib import Path

from semcomm.data.base import ChecksumError

_MD5_CACHE: dict[tuple[str, int, int], str] = {}
"""md5 hex digests keyed by (resolved path, size in bytes, mtime in ns)."""


def _hash_file(path: Path) -> str:
    """md5 hex digest of a file, read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def file_md5(path: Path) -> str:
    """md5 hex digest of ``path``, cached while the file's size and mtime are unchanged."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _MD5_CACHE.get(key)
    if digest is None:
        digest = _MD5_CACHE[key] = _hash_file(path)
    return digest


def verify_md5(path: Path, expected: str) -> Path:
    """Return ``path`` if its md5 is ``expected``.

    Raises:
        ChecksumError: naming the file, the expected and the actual md5.
    """
    actual = file_md5(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: md5 {actual} does not match the expected {expected}; "
            "the file is corrupt or incomplete, delete it and download it again"
        )
    return path
