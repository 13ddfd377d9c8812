"""A small on-disk cache of simulated block error rates, so that MCS selection is computed once.

Entries live in one JSON file, ``$SEMCOMM_CACHE/bler.json`` (default
``~/.cache/semcomm/bler.json``), keyed by a string that names everything the number depends
on (link settings, channel model and options, CSI mode, MCS, SNR, block count, seed and the
semcomm version). The file is rewritten atomically after each new entry; a damaged file is
ignored and rebuilt.
"""

from __future__ import annotations

import json
import sys
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
        self._said_unwritable = False
        try:
            data = json.loads(self.path.read_text())
            self._entries: dict[str, list[int]] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self._entries = {}

    def get(self, key: str) -> tuple[int, int] | None:
        """``(block errors, blocks)`` stored under ``key``, or None (also for an entry that is not
        two whole numbers ``0 <= errors <= blocks``, ``blocks >= 1``: it is computed again, with
        a note)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in entry)
                and 0 <= entry[0] <= entry[1] and entry[1] >= 1):
            return entry[0], entry[1]
        print(f"note: {self.path}: the entry {key!r} is not (errors, blocks) with 0 <= errors <= blocks, blocks >= 1 "
              f"({json.dumps(entry)[:60]}); it is simulated again", file=sys.stderr)
        del self._entries[key]
        return None

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
        except OSError as err:  # a read-only home: the numbers stay cached in memory for this process
            if not self._said_unwritable:
                print(f"note: block error rates are not cached on disk ({self.path.parent} is not writable: "
                      f"{err.strerror or err}); set {CACHE_ENV_VAR} to a writable folder to keep them", file=sys.stderr)
                self._said_unwritable = True
