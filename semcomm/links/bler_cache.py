"""A small on-disk cache of simulated block error rates, so that MCS selection is computed once.

Entries live in one JSON file, ``$SEMCOMM_CACHE/bler.json`` (default
``~/.cache/semcomm/bler.json``), keyed by a string that names everything the number depends
on (link settings, channel model and options, CSI mode, MCS, SNR, block count, seed and the
semcomm version). The file is rewritten atomically after each new entry; a damaged file is
ignored and rebuilt.
"""

from __future__ import annotations

import json
from pathlib import Path

from semcomm.atomic import write_json_atomic
from semcomm.cache import CACHE_ENV_VAR, cache_dir

__all__ = ["CACHE_ENV_VAR", "BlerCache", "cache_dir"]


class BlerCache:
    """Block error counts by key, persisted in ``<cache_dir>/bler.json``.

    Args:
        path: the JSON file (default: ``cache_dir() / "bler.json"``, read at construction).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "bler.json"
        try:
            data = json.loads(self.path.read_text())
            self._entries: dict[str, list[int]] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self._entries = {}

    def get(self, key: str) -> tuple[int, int] | None:
        """``(block errors, blocks)`` stored under ``key``, or None."""
        entry = self._entries.get(key)
        return (int(entry[0]), int(entry[1])) if isinstance(entry, list) and len(entry) == 2 else None

    def put(self, key: str, errors: int, blocks: int) -> None:
        """Store ``(errors, blocks)`` under ``key`` and rewrite the file (merging entries that
        another process wrote meanwhile)."""
        try:
            on_disk = json.loads(self.path.read_text())
        except (OSError, ValueError):
            on_disk = {}
        self._entries = (on_disk if isinstance(on_disk, dict) else {}) | self._entries | {key: [errors, blocks]}
        try:
            write_json_atomic(self.path, self._entries)
        except OSError:
            pass  # a read-only home: the numbers stay cached in memory for this process
