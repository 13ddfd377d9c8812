"""Parsing of the command-line grids: SNR lists and counts."""

from __future__ import annotations

import math

__all__ = ["parse_snr_list", "parse_count"]

_SNR_HELP = "use start:stop:step (stop included, e.g. 0:20:2), start:stop (step 1) or a comma list (e.g. 0,5,10)"


def _number(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad SNR list {whole!r}: {text.strip()!r} is not a number; {_SNR_HELP}") from None
    if not math.isfinite(value):
        raise ValueError(f"bad SNR list {whole!r}: {text.strip()!r} is not finite; {_SNR_HELP}")
    return value


def _parse_range(item: str, whole: str) -> list[float]:
    parts = item.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"bad SNR list {whole!r}: {item!r} has {len(parts) - 1} colons; {_SNR_HELP}")
    start, stop = _number(parts[0], whole), _number(parts[1], whole)
    step = _number(parts[2], whole) if len(parts) == 3 else 1.0
    if step <= 0:
        raise ValueError(f"bad SNR list {whole!r}: step {step:g} must be > 0; {_SNR_HELP}")
    if stop < start:
        raise ValueError(f"bad SNR list {whole!r}: stop {stop:g} is below start {start:g}; {_SNR_HELP}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    # Rounded to 1e-9 dB so that 0:1:0.1 gives 0.3, not 0.30000000000000004.
    return [round(start + i * step, 9) for i in range(count)]


def parse_snr_list(text: str) -> list[float]:
    """Parse an SNR list in dB: ``"0:20:2"`` (stop included), ``"-5:5"`` (step 1), ``"0,5,10"``,
    or a comma list mixing both (``"0:10:2,15,20"``). Returns the values in the order given,
    duplicates removed.

    Raises:
        ValueError: a one-line message naming the bad text and the accepted forms.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"bad SNR list {text!r}: it is empty; {_SNR_HELP}")
    values: list[float] = []
    for item in text.split(","):
        item = item.strip()
        values.extend(_parse_range(item, text) if ":" in item else [_number(item, text)])
    return list(dict.fromkeys(values))


def parse_count(text: str | int | float, what: str = "count") -> int:
    """Parse a positive whole count that may be written in scientific notation (``"2e6"``).

    Raises:
        ValueError: one line naming ``what``, the bad value and what is allowed.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"bad {what} {text!r}: expected a positive whole number such as 1000000 or 2e6") from None
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise ValueError(f"bad {what} {text!r}: expected a positive whole number such as 1000000 or 2e6")
    return int(value)
