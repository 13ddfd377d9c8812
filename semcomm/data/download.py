"""Atomic, md5-checked downloads and safe archive extraction (standard library only)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from semcomm.data.base import ChecksumError, DatasetError, DownloadError, FormatError

_log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_USER_AGENT = "semcomm-dataset-loader"


def _chunks(url: str) -> Iterator[bytes]:
    """The body of ``url``, chunk by chunk.

    Raises:
        DownloadError: the request or the transfer failed.
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            while chunk := response.read(_CHUNK):
                yield chunk
    except (OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"could not download {url}: {reason}") from err


@contextlib.contextmanager
def atomic_output(dest: Path) -> Iterator[BinaryIO]:
    """A new binary file that replaces ``dest`` (mode 0644) only if the block succeeds.

    It is written beside ``dest`` under a temporary name and removed if the block raises,
    so ``dest`` is never seen half-written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download_url(url: str, dest: Path, md5: str) -> Path:
    """Download ``url`` to ``dest`` atomically, keeping it only if its md5 is ``md5``.

    Raises:
        DownloadError: the transfer failed.
        ChecksumError: the downloaded bytes have another md5.
    """
    _log.info("downloading %s to %s", url, dest)
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_output(dest) as out:
        for chunk in _chunks(url):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != md5:
            raise ChecksumError(f"download of {url} has md5 {digest.hexdigest()}, expected {md5}")
    return dest


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract a ``.tar.gz`` into ``dest`` with the ``"data"`` filter.

    The filter refuses absolute paths, ``..`` components, links leaving ``dest`` and device
    files, and drops set-uid bits.

    Raises:
        FormatError: the archive holds a member the filter refuses.
    """
    if not hasattr(tarfile, "data_filter"):
        raise DatasetError("safe archive extraction needs Python >= 3.11.4 (tarfile filters)")
    with tarfile.open(archive, "r:gz") as tar:
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as err:
            raise FormatError(f"{archive}: refused unsafe archive member: {err}") from err
