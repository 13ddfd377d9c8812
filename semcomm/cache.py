"""The one folder of semcomm's on-disk caches (BLER tables, KLT fits, the command line's help).

``$SEMCOMM_CACHE``, else ``~/.cache/semcomm``. This module imports nothing heavy, so the
command line's help can use it without importing torch.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "cache_dir"]

#: Environment variable naming the cache folder.
CACHE_ENV_VAR = "SEMCOMM_CACHE"


def cache_dir() -> Path:
    """The cache folder: ``$SEMCOMM_CACHE``, else ``~/.cache/semcomm``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "semcomm"
