"""Dask scheduler addresses: checked, and probed with a plain socket, before any work.

This module needs no Dask: a bad ``--scheduler`` is refused even where Dask is not installed.
"""

from __future__ import annotations

import asyncio
import re
import socket

__all__ = ["check_scheduler"]

_ADDRESS = re.compile(r"(?:tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def check_scheduler(address: str, timeout_s: float = 5.0) -> str:
    """``address`` if it is ``tcp://HOST:PORT`` (or ``tls://``) and something listens there.

    Raises:
        ValueError: one line naming the address and what is wrong.
    """
    match = _ADDRESS.fullmatch(address.strip())
    if match is None or not 0 < int(match[2]) < 65536:
        raise ValueError(f"bad --scheduler {address!r}: expected tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")
    try:
        socket.create_connection((match[1].strip("[]"), int(match[2])), timeout=timeout_s).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(f"--scheduler {address}: no scheduler answers there ({reason}); start one (dask scheduler) "
                         "or check the address") from None
    if not _speaks_dask(address.strip(), timeout_s):
        raise ValueError(f"--scheduler {address}: something listens there but does not answer as a Dask scheduler within "
                         f"{timeout_s:g} s; check the address and port (dask scheduler listens on 8786 by default)")
    return address.strip()


def _speaks_dask(address: str, timeout_s: float) -> bool:
    """Whether ``address`` completes Dask's comm handshake within ``timeout_s`` (a plain TCP
    listener accepts the connection and then says nothing: a Dask client would wait forever).
    True when Dask is not installed (the executor says so itself)."""
    try:
        from distributed.comm import connect
    except ImportError:
        return True

    async def probe() -> None:
        comm = await connect(address, timeout=timeout_s)
        await comm.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout_s + 1.0))
    except (OSError, asyncio.TimeoutError, ValueError):
        return False
    return True
