"""Atomic file writes: readers see the old complete file or the new one, never a partial one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["replace_atomic", "write_json_atomic"]


def replace_atomic(path: str | Path, write: Any, mode: str = "w") -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file beside ``path``, which then
    replaces ``path`` in one ``os.replace`` (readers never see a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results and checkpoints are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Serialise ``obj`` as indented JSON to ``path`` atomically."""
    return replace_atomic(path, lambda f: json.dump(obj, f, indent=2, allow_nan=True))
