"""Channel registry: ``channels.get("rayleigh-block", block_len=64)``, ``channels.get("tdl-c", delay_spread_ns=100)``.

Names: the flat channels ``awgn``, ``rayleigh-block``, ``rayleigh-fast``, ``rician``, and the
OFDM channels ``tdl-a`` ... ``tdl-e`` (:func:`channels.ofdm.tdl_channel` with that TR 38.901
profile; options ``delay_spread_ns=300``, ``max_doppler_hz=0``, ``num_subcarriers=128``,
``num_symbols=14``, ``subcarrier_spacing_khz=30``, ``pilot_symbols=(2, 11)``,
``pilot_spacing=2``, ``cp_len=None``, ``domain="freq"``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from channels.base import Channel
from channels.flat import AWGN, RayleighBlock, RayleighFast, Rician
from channels.ofdm import tdl_channel
from channels.tdl import TDL_PROFILES

__all__ = ["CHANNELS", "get", "names", "register"]

CHANNELS: dict[str, Callable[..., Channel]] = {}


def register(name: str, factory: Callable[..., Channel]) -> None:
    """Add a channel factory under ``name`` (raises if the name is taken)."""
    if name in CHANNELS:
        raise ValueError(f"channel {name!r} is already registered")
    CHANNELS[name] = factory


def names() -> list[str]:
    """Registered channel names, sorted."""
    return sorted(CHANNELS)


def get(name: str, **kwargs: Any) -> Channel:
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
for _model in TDL_PROFILES:
    register(f"tdl-{_model.lower()}", partial(tdl_channel, _model))
