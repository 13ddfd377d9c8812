"""Channel registry: ``channels.get("rayleigh-block", block_len=64)``, ``channels.get("tdl-c", delay_spread_ns=100)``.

Names: the flat channels ``awgn``, ``rayleigh-block``, ``rayleigh-fast``, ``rician``, and the
OFDM channels ``tdl-a`` ... ``tdl-e`` (:func:`channels.ofdm.tdl_channel` with that TR 38.901
profile; options ``delay_spread_ns=300``, ``max_doppler_hz=0``, ``num_subcarriers=128``,
``num_symbols=14``, ``subcarrier_spacing_khz=30``, ``pilot_symbols=(2, 11)``,
``pilot_spacing=2``, ``cp_len=None``, ``domain="freq"``).

Each name also has the options a user may set on it (:mod:`channels.options`; a channel class
declares them in ``options``): :func:`options`, :func:`all_options`, and :func:`option_kwargs` /
:func:`sweep_option_kwargs`, which route flag values to the channels that take them.

**Built-in modules and plugins.** The first look-up imports every module of this package, so a
new channel is one module that calls :func:`register`. Installed packages add channels through
the Python entry-point group
``semcomm.channels``: an entry point naming a channel class (or factory, with its ``options``)
registers it under the entry point's name the first time a name is looked up; one naming a
module is imported (it calls :func:`register` itself). A plugin that fails to load is reported
on stderr in one line and left out.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Callable
from functools import partial
from importlib import metadata
from typing import Any

from channels.base import Channel
from channels.flat import AWGN, RayleighBlock, RayleighFast, Rician
from channels.ofdm import tdl_channel
from channels.options import ChannelOption
from channels.tdl import TDL, TDL_PROFILES

__all__ = ["CHANNELS", "PLUGIN_GROUP", "all_options", "get", "names", "option_kwargs", "options", "register", "sweep_option_kwargs", "takers"]

CHANNELS: dict[str, Callable[..., Channel]] = {}
_OPTIONS: dict[str, tuple[ChannelOption, ...]] = {}
#: The entry-point group of channel plugins.
PLUGIN_GROUP = "semcomm.channels"
_plugins_loaded = False


def _load_plugins() -> None:
    """Register the channels of every module of this package and of installed plugins (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # first: a module's or plugin's import may call register
    package = importlib.import_module(__package__ or "channels")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    for point in metadata.entry_points(group=PLUGIN_GROUP):
        try:
            loaded = point.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin must not break the others
            print(f"warning: channel plugin {point.name!r} ({point.value}) failed to load: {err.__class__.__name__}: {err}",
                  file=sys.stderr)
            continue
        if not isinstance(loaded, types.ModuleType) and point.name not in CHANNELS:
            register(point.name, loaded)


def register(name: str, factory: Callable[..., Channel], options: tuple[ChannelOption, ...] | None = None) -> None:
    """Add a channel factory under ``name`` (raises if the name is taken), with the options a
    user may set (default: the factory's own ``options``, e.g. a channel class's)."""
    if name in CHANNELS:
        raise ValueError(f"channel {name!r} is already registered")
    CHANNELS[name] = factory
    _OPTIONS[name] = tuple(getattr(factory, "options", ()) if options is None else options)


def names() -> list[str]:
    """Registered channel names (plugins' included), sorted."""
    _load_plugins()
    return sorted(CHANNELS)


def get(name: str, **kwargs: Any) -> Channel:
    """Instantiate the channel registered as ``name`` with ``kwargs``.

    Raises:
        ValueError: one line listing the known names, if ``name`` is unknown.
    """
    if name not in CHANNELS:
        _load_plugins()
    try:
        factory = CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; choose one of: {', '.join(names())}") from None
    try:
        return factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad options for channel {name!r}: {err}") from None


def _known(name: str) -> str:
    if name not in CHANNELS:
        _load_plugins()
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}; choose one of: {', '.join(names())}")
    return name


def options(name: str) -> tuple[ChannelOption, ...]:
    """The options the channel registered as ``name`` takes (one-line error for an unknown name)."""
    return _OPTIONS[_known(name)]


def all_options() -> dict[str, ChannelOption]:
    """Every option some channel takes, by flag, in order of first declaration."""
    _load_plugins()
    out: dict[str, ChannelOption] = {}
    for name in CHANNELS:
        for option in _OPTIONS[name]:
            out.setdefault(option.flag, option)
    return out


def takers(flag: str) -> list[str]:
    """The channel names that take the option ``flag``, sorted."""
    return [name for name in names() if any(o.flag == flag for o in _OPTIONS[name])]


def option_kwargs(name: str, given: dict[str, str | None]) -> dict[str, Any]:
    """Constructor keywords of channel ``name`` from option texts by flag (None: not given).

    Raises:
        ValueError: one line, for an unknown channel, an option it does not take, or a value
            the option cannot parse. (The values' ranges are the constructor's to check.)
    """
    own = {o.flag: o for o in options(name)}
    kwargs: dict[str, Any] = {}
    for flag, text in given.items():
        if text is None:
            continue
        if flag not in own:
            raise ValueError(f"{flag} applies to {', '.join(takers(flag))}, not {name!r}")
        kwargs[own[flag].kwarg] = own[flag].parse(text)
    return kwargs


def sweep_option_kwargs(channel_names: list[str], given: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """Constructor keywords per channel of a grid: each option goes to the channels of
    ``channel_names`` that take it; an option that none of them takes is an error (one line)."""
    for flag, text in given.items():
        if text is not None and not set(channel_names) & set(takers(flag)):
            raise ValueError(f"{flag} applies to {', '.join(takers(flag))}, none of which is in --channel "
                             f"{','.join(channel_names)}")
    return {
        name: option_kwargs(name, {flag: text for flag, text in given.items() if name in takers(flag)})
        for name in channel_names
    }


for _cls in (AWGN, RayleighBlock, RayleighFast, Rician):
    register(_cls.name, _cls)
for _model in TDL_PROFILES:
    register(f"tdl-{_model.lower()}", partial(tdl_channel, _model), TDL.options)
