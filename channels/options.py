"""Options that channels declare for themselves: one command-line flag per constructor keyword.

A channel class lists what a user may set on it in ``options`` (e.g. ``Rician.options =
(K_FACTOR, BLOCK_LEN)``); a front end (the semcomm CLI) turns every declared option into a flag
and routes each value to the channels that take it, so a new option is one edit here and one in
the channel's ``options``. Parsers raise one-line ``ValueError`` naming the flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BLOCK_LEN", "ChannelOption", "DELAY_SPREAD", "DOPPLER", "K_FACTOR", "TDL_OPTIONS", "number", "whole_number"]


@dataclass(frozen=True)
class ChannelOption:
    """One option a channel's constructor takes, as a user sets it.

    Attributes:
        flag: the command-line flag, e.g. ``"--k-factor"``.
        kwarg: the constructor keyword it sets, e.g. ``"k_factor"``.
        parse: text -> value; raises a one-line ``ValueError`` naming ``flag``.
        help: one line for the flag's help.
    """

    flag: str
    kwarg: str
    parse: Callable[[str], Any]
    help: str


def number(flag: str, meaning: str) -> Callable[[str], float]:
    """A parser of one real number (its range is checked by the channel)."""

    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"bad {flag} {text!r}: expected {meaning}") from None

    return parse


def whole_number(flag: str) -> Callable[[str], int]:
    """A parser of a whole number >= 1, which may be written in scientific notation (``"1e3"``)."""

    def parse(text: str) -> int:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 1 or value != int(value):
            raise ValueError(f"bad {flag} {text!r}: expected a positive whole number such as 64 or 1e3")
        return int(value)

    return parse


K_FACTOR = ChannelOption("--k-factor", "k_factor", number("--k-factor", "a number >= 0 (linear K)"),
                         "Rician K-factor, linear")
BLOCK_LEN = ChannelOption("--block-len", "block_len", whole_number("--block-len"),
                          "symbols per fading block (default: one per image or frame)")
DELAY_SPREAD = ChannelOption("--delay-spread", "delay_spread_ns", number("--delay-spread", "an RMS delay spread in ns"),
                             "TDL RMS delay spread in ns (default 300)")
DOPPLER = ChannelOption("--doppler", "max_doppler_hz", number("--doppler", "a maximum Doppler shift in Hz"),
                        "TDL maximum Doppler shift in Hz (default 0: static per example)")
#: The options of every TDL channel (``tdl-a`` ... ``tdl-e``).
TDL_OPTIONS = (DELAY_SPREAD, DOPPLER)
