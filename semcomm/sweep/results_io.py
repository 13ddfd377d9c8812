"""Results files: provenance (config, seed, versions, git revision) and atomic JSON writes.

Every results file written by semcomm is a JSON object that starts with :func:`provenance`
and is written with :func:`write_json_atomic`, so an interrupted run never leaves a truncated
file behind: readers see either the previous complete file or the new one.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

import semcomm
from semcomm.atomic import replace_atomic, write_json_atomic

__all__ = [
    "ResultsFile",
    "first_difference",
    "git_revision",
    "package_versions",
    "SCHEMA_VERSION",
    "provenance",
    "read_json",
    "replace_atomic",
    "write_json_atomic",
]

_VERSIONED = ("torch", "numpy", "scipy", "matplotlib", "pytorch-msssim", "safetensors", "sionna-no-rt")


def git_revision() -> str:
    """``git describe``-like revision of the semcomm source tree (``<sha>`` or ``<sha>-dirty``),
    or ``"unknown"`` when semcomm is not run from a git checkout."""
    src = Path(semcomm.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the numbers."""
    versions = {"python": platform.python_version(), "semcomm": semcomm.__version__}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


#: Version of the results files' layout: 2 added each record's ``tasks`` (the scores of the
#: other receiver-side tasks); files without the key are version 1, read as ``tasks`` empty.
SCHEMA_VERSION = 2


def provenance(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """The header every results file carries: what made these numbers."""
    return {
        "schema": SCHEMA_VERSION,
        "semcomm_version": semcomm.__version__,
        "git_rev": git_revision(),
        "created": _now(),
        "seed": seed,
        "config": config,
        "versions": package_versions(),
    }


def read_json(path: str | Path) -> Any:
    """Read a results file; one-line error if it is missing or not JSON."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a results file")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"results file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"results file {str(path)!r} cannot be read ({err.__class__.__name__})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"results file {str(path)!r} is not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise ValueError(f"results file {str(path)!r} is nested too deeply to be a semcomm results file") from None


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The first place where two JSON values differ, as ``"path: old -> new"`` (values cut to
    40 characters), or None if they are equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if old == new:
        return None
    cut = lambda v: (lambda t: t if len(t) <= 40 else t[:37] + "...")(json.dumps(v))  # noqa: E731
    return f"{path}: {cut(old)} -> {cut(new)}"


def identity(config: Any) -> Any:
    """What identifies an experiment in a results file's ``config``: the config, except that a
    method identified by the sha256 of its checkpoint is not also identified by how its source
    was spelled (``runs/x``, ``runs/x/model.safetensors`` or an absolute path name one model)."""
    if not isinstance(config, dict) or not isinstance(config.get("methods"), list):
        return config
    methods = [{k: v for k, v in m.items() if k != "source"} if isinstance(m, dict) and m.get("sha256") else m
               for m in config["methods"]]
    return {**config, "methods": methods}


class ResultsFile:
    """A resumable results file: provenance header + a list of records, rewritten atomically
    after every record.

    Opening an existing file whose ``config`` and ``seed`` equal this run's resumes it:
    :meth:`has` tells which points are done. A file made with a different config or seed is
    refused (one line naming the first field that differs), so a resumed sweep never mixes two
    experiments. The header keeps the file's first ``created`` time and sets ``updated``.

    Several processes may fill one file at once (e.g. two SNR ranges in two terminals): every
    write takes a lock (the hidden file ``.<name>.lock`` beside it), re-reads the file and
    merges its own records into what is there, so no process loses another's points.

    Args:
        path: the JSON file.
        config: what identifies the experiment (not the SNR grid, which may grow between runs).
        seed: the run's seed (also part of the identity).
        key_fields: record fields that identify a point (e.g. ``("channel", "csi", "snr_db")``).

    Raises:
        ValueError: one line, if the file is not a semcomm results file, holds another
            experiment, or has a record that lacks a key field.
    """

    def __init__(self, path: str | Path, config: dict[str, Any], seed: int, key_fields: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.key_fields = key_fields
        self.config = json.loads(json.dumps(config))
        self.seed = seed
        self.header = provenance(config, seed)
        self.records: list[dict[str, Any]] = self._read()

    @property
    def lock_path(self) -> Path:
        """The lock file every writer of :attr:`path` takes."""
        return self.path.with_name(f".{self.path.name}.lock")

    def _read(self) -> list[dict[str, Any]]:
        """The records already in the file (none if it does not exist), after checking that it
        holds this experiment; remembers its ``created`` time."""
        if not self.path.exists():
            return []
        old = read_json(self.path)
        if not isinstance(old, dict) or not isinstance(old.get("records"), list):
            raise ValueError(f"{str(self.path)!r} is not a semcomm results file; choose another --out")
        differs = first_difference({"config": identity(old.get("config")), "seed": old.get("seed")},
                                   {"config": identity(self.config), "seed": self.seed})
        if differs is not None:
            raise ValueError(
                f"{str(self.path)!r} holds results of a different configuration or seed ({differs}); "
                "choose another --out or delete it"
            )
        first: dict[tuple[Any, ...], int] = {}
        for i, record in enumerate(old["records"]):
            if not isinstance(record, dict) or any(k not in record for k in self.key_fields):
                raise ValueError(f"{str(self.path)!r}: record {i} is malformed (each needs "
                                 f"{', '.join(self.key_fields)}); delete the file or choose another --out")
            key = self._key(record)
            try:
                j = first.setdefault(key, i)
            except TypeError:  # an unhashable key value (a list where a number belongs)
                raise ValueError(f"{str(self.path)!r}: record {i} is malformed (a key field holds a list or object); "
                                 "delete the file or choose another --out") from None
            if j != i:
                where = ", ".join(f"{k} {v!r}" for k, v in zip(self.key_fields, key))
                raise ValueError(f"{str(self.path)!r}: records {j} and {i} are both the record of {where}: one of them "
                                 "was copied in by hand; remove one, or delete the file or choose another --out")
        if isinstance(old.get("created"), str):
            self.header["created"] = old["created"]
        return list(old["records"])

    def _key(self, record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record[k] for k in self.key_fields)

    def has(self, **key: Any) -> bool:
        """Whether a record with these key-field values exists."""
        wanted = tuple(key[k] for k in self.key_fields)
        return any(self._key(r) == wanted for r in self.records)

    def add(self, record: dict[str, Any]) -> None:
        """Add ``record`` (replacing one with the same key) and rewrite the file atomically."""
        self.add_many([record])

    def add_many(self, records: list[dict[str, Any]]) -> None:
        """Add ``records`` (each replacing one with the same key) and rewrite the file once,
        atomically: a reader, or a resumed run, sees all of them or none (e.g. every layer of
        one sweep point). Records another process wrote meanwhile are kept."""
        keys = {self._key(r) for r in records}
        if len(keys) != len(records):
            raise ValueError("add_many: two records share a key")
        with FileLock(self.lock_path):
            on_disk = self._read()
            self.records = [r for r in on_disk if self._key(r) not in keys] + list(records)
            self._write()

    def arrange(self, key: Callable[[dict[str, Any]], Any]) -> None:
        """Sort the file's records by ``key`` (stable) and rewrite it atomically if their order
        changed: a run whose points finished in any order leaves the file in its plan's order."""
        with FileLock(self.lock_path):
            on_disk = self._read()
            self.records = sorted(on_disk, key=key)
            if self.records != on_disk:
                self._write()

    def _write(self) -> None:
        """Write the header and :attr:`records` (the caller holds the lock)."""
        self.header["updated"] = _now()
        write_json_atomic(self.path, {**self.header, "records": self.records})
