"""Channel registry: ``channels.get("rayleigh-block", block_len=64)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.flat import AWGN, FlatChannel, RayleighBlock, RayleighFast, Rician

__all__ = ["CHANNELS", "get", "names", "register"]

CHANNELS: dict[str, Callable[..., FlatChannel]] = {}


def register(name: str, factory: Callable[..., FlatChannel]) -> None:
    """Add a channel factory under ``name`` (raises if the name is taken)."""
    if name in CHANNELS:
        raise ValueError(f"channel {name!r} is already registered")
    CHANNELS[name] = factory


def names() -> list[str]:
    """Registered channel names, sorted."""
    return sorted(CHANNELS)


def get(name: str, **kwargs: Any) -> FlatChannel:
    """Instantiate the channel registered as ``name`` with ``kwargs``.

    Raises:
        ValueError: one line listing the known names, if ``name`` is unknown.
    """
    try:
        factory = CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; choose one of: {', '.join(names())}") from None
    try:
        return factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad options for channel {name!r}: {err}") from None


for _cls in (AWGN, RayleighBlock, RayleighFast, Rician):
    register(_cls.name, _cls)
