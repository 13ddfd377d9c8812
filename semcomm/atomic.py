"""Atomic file writes: readers see the old complete file or the new one, never a partial one.

The temporary file of a write lies beside its target, named
``.<target>.<host>.<pid>.<random>.tmp``. A process killed mid-write (SIGKILL) leaves its
temporary file behind; the next write of the same target on the same host removes those of
processes that no longer run, so they never accumulate.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["check_distinct", "folder_lock", "check_writable", "same_file_key", "finite_json", "replace_atomic", "write_json_atomic"]


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
    """Check, before any work, that the output ``path`` can be written: a regular file (or,
    with ``directory``, a folder) or a new path, not a FIFO, device, socket or symbolic-link
    loop, not read-only or immutable, below a folder where files can be created. Creates
    nothing.

    Raises:
        ValueError: one line naming ``flag``, the path and what is wrong.
    """
    path = Path(path)
    try:
        info = path.stat() if path.exists() else None
    except OSError as err:  # a symbolic-link loop, a name too long, ...
        raise ValueError(f"{flag} {str(path)!r}: {err.strerror or err}") from None
    if info is None and path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python < 3.13 on a loop
            raise ValueError(f"{flag} {str(path)!r}: a loop of symbolic links") from None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise ValueError(f"{flag} {str(path)!r}: a loop of symbolic links") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode) != directory:
            kind = "a file" if directory else "a directory"
            raise ValueError(f"{flag} {str(path)!r} is {kind}; give a {'folder' if directory else 'file'} path")
        if not directory and not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{flag} {str(path)!r} is not a regular file (a FIFO, device or socket); give a file path")
        if not os.access(path, os.W_OK):
            raise ValueError(f"{flag} {str(path)!r} cannot be written (read-only or immutable)")
    folder = path if directory else path.parent
    above = next(p for p in (folder, *folder.parents, Path(".")) if p.exists())
    if not above.is_dir():
        raise ValueError(f"{flag} {str(path)!r}: {str(above)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=above):
            pass
    except OSError as err:
        raise ValueError(f"{flag} {str(path)!r}: cannot write in {str(above)!r} ({err.strerror or err})") from None


def same_file_key(path: str | Path) -> tuple[Any, ...]:
    """What makes two paths one file: device and inode where it exists (hard and symbolic
    links included), else the absolute path with links resolved."""
    try:
        info = os.stat(path)
        return ("inode", info.st_dev, info.st_ino)
    except OSError:
        return ("path", os.path.realpath(os.path.abspath(os.path.expanduser(str(path)))))


def check_distinct(outputs: list[tuple[str, str | Path | None]], inputs: list[tuple[str, str | Path | None]] = ()) -> None:
    """Check that no two outputs of a command are one file and that no output is one of its
    inputs (each a ``(flag, path)``; None: not given).

    Raises:
        ValueError: one line naming both flags and the path.
    """
    seen: dict[tuple[Any, ...], str] = {}
    for flag, path in outputs:
        if path is None:
            continue
        key = same_file_key(path)
        if key in seen:
            raise ValueError(f"{flag} and {seen[key]} name one file, {str(path)!r}: give each output its own path")
        seen[key] = flag
    for flag, path in inputs:
        if path is not None and same_file_key(path) in seen:
            raise ValueError(f"{seen[same_file_key(path)]} {str(path)!r} is also {flag}, an input of this command: "
                             "give another output path")


@contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold the lock of the run folder ``folder`` (the hidden file ``.lock`` in it) while the
    block runs, so that a second process writing into the same folder stops at once.

    Raises:
        ValueError: one line, when another process holds it (``what`` names the work, e.g.
            "a training").
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(f"{str(folder)!r} is in use by another process ({what} into it is running): wait for it to "
                         "finish or choose another folder") from None
    try:
        yield
    finally:
        lock.release()

