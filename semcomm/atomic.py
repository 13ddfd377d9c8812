"""Atomic file writes: readers see the old complete file or the new one, never a partial one.

The temporary file of a write lies beside its target, named
``.<target>.<host>.<pid>.<random>.tmp``. A process killed mid-write (SIGKILL) leaves its
temporary file behind; the next write of the same target on the same host removes those of
processes that no longer run, so they never accumulate.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["check_writable", "finite_json", "replace_atomic", "write_json_atomic"]


def _host() -> str:
    return "".join(c if c.isalnum() or c == "-" else "_" for c in socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _remove_orphans(path: Path) -> None:
    """Remove the temporary files of ``path`` left by dead processes of this host."""
    prefix = f".{path.name}.{_host()}."
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        rest = tmp.name[len(prefix):] if tmp.name.startswith(prefix) else ""
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def replace_atomic(path: str | Path, write: Any, mode: str = "w") -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file beside ``path``, which then
    replaces ``path`` in one ``os.replace`` (readers never see a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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


def finite_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (standard JSON has neither):
    e.g. the 95 % interval of a mean over one image."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Serialise ``obj`` as indented, standard JSON (non-finite floats as null, see
    :func:`finite_json`) to ``path`` atomically."""
    text = json.dumps(finite_json(obj), indent=2, allow_nan=False)
    return replace_atomic(path, lambda f: f.write(text))


def check_writable(path: str | Path, flag: str, directory: bool = False) -> None:
    """Check, before any work, that the output ``path`` can be written: a file (or, with
    ``directory``, a folder) that is not in the way of another kind of entry, below a folder
    where files can be created. Creates nothing.

    Raises:
        ValueError: one line naming ``flag``, the path and what is wrong.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != directory:
        kind = "a file" if directory else "a directory"
        raise ValueError(f"{flag} {str(path)!r} is {kind}; give a {'folder' if directory else 'file'} path")
    folder = path if directory else path.parent
    above = next(p for p in (folder, *folder.parents, Path(".")) if p.exists())
    if not above.is_dir():
        raise ValueError(f"{flag} {str(path)!r}: {str(above)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=above):
            pass
    except OSError as err:
        raise ValueError(f"{flag} {str(path)!r}: cannot write in {str(above)!r} ({err.strerror or err})") from None
