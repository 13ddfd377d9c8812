"""Parsing of flag values: SNR lists and ranges, counts, bandwidth ratios, loss weights, users'
SNRs, percentiles, comma lists of names, the device, and the methods of a sweep or broadcast.

Every parser raises a one-line ``ValueError`` naming the flag, the bad value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

import math
from fractions import Fraction

import torch

from semcomm.methods import SSCCSpec
from semcomm.sweep.broadcast import UserSNRs
from semcomm.sweep.runner import SNR_DB_RANGE
from semcomm.sweep.spec import MethodsSpec

__all__ = [
    "MAX_SNR_POINTS",
    "parse_count",
    "parse_device",
    "parse_methods",
    "parse_names",
    "parse_percentiles",
    "parse_ratios",
    "parse_snr_list",
    "parse_snr_range",
    "parse_user_snr",
    "parse_weights",
]

#: The most SNR values one list may hold.
MAX_SNR_POINTS = 1000

_SNR_HELP = "use start:stop:step (stop included, e.g. 0:20:2), start:stop (step 1) or a comma list (e.g. 0,5,10)"


def _number(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad SNR list {whole!r}: {text.strip()!r} is not a number; {_SNR_HELP}") from None
    lo, hi = SNR_DB_RANGE
    if not lo <= value <= hi:
        raise ValueError(f"bad SNR list {whole!r}: {text.strip()!r} is outside {lo:g}...{hi:g} dB")
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
    if count > MAX_SNR_POINTS:
        raise ValueError(f"bad SNR list {whole!r}: {item!r} asks for {count:,} SNRs; at most {MAX_SNR_POINTS} are allowed")
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
        if len(values) > MAX_SNR_POINTS:
            raise ValueError(f"bad SNR list {text!r}: more than {MAX_SNR_POINTS} SNRs; at most {MAX_SNR_POINTS} are allowed")
    return list(dict.fromkeys(values))


def parse_count(text: str | int | float, what: str = "count", minimum: int = 1, maximum: int | None = None,
                why: str = "") -> int:
    """Parse a whole count ``>= minimum`` (default 1) and ``<= maximum`` (if given; ``why`` says
    why) that may be written in scientific notation (``"2e6"``).

    Raises:
        ValueError: one line naming ``what``, the bad value and what is allowed.
    """
    allowed = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"bad {what} {text!r}: expected {allowed} such as 1000000 or 2e6") from None
    if not math.isfinite(value) or value < minimum or value != int(value):
        raise ValueError(f"bad {what} {text!r}: expected {allowed} such as 1000000 or 2e6")
    if maximum is not None and value > maximum:
        raise ValueError(f"bad {what} {text!r}: at most {maximum:,}{' (' + why + ')' if why else ''}")
    return int(value)


def parse_ratios(text: str, layers: int) -> tuple[float, ...]:
    """``"1/18,1/18,1/18"`` (or one value for every layer) -> per-layer bandwidth ratios."""
    if layers < 1:
        raise ValueError(f"bad --layers {layers}: a model needs at least 1 layer")
    ratios = []
    for item in text.split(","):
        try:
            value = float(Fraction(item.strip()))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"bad --ratio {item.strip()!r}: expected a fraction such as 1/18 or a number such as 0.05") from None
        if not 0 < value <= 1:
            raise ValueError(f"bad --ratio {item.strip()!r}: each layer's ratio k/n must be in (0, 1]")
        ratios.append(value)
    if len(ratios) == 1:
        ratios *= layers
    if len(ratios) != layers:
        raise ValueError(f"--ratio gives {len(ratios)} ratios for --layers {layers}; give one per layer or a single one")
    return tuple(ratios)


def parse_weights(text: str, layers: int) -> float | list[float]:
    """``"0.05"`` (every layer) or ``"0.05,0.1,0.2"`` (one per layer) -> loss weights."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"bad --semantic-weight {text!r}: expected a number or one number per layer") from None
    if len(values) not in (1, layers) or any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"bad --semantic-weight {text!r}: give one number >= 0 or {layers} of them")
    return values[0] if len(values) == 1 else values


def parse_snr_range(text: str, flag: str = "--snr-train") -> tuple[float, float]:
    """``"0:20"`` -> (0, 20) (each example draws uniformly from it); ``"10"`` -> (10, 10); errors name ``flag``."""
    parts = text.split(":")
    try:
        lo, hi = (float(parts[0]), float(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise ValueError(f"bad {flag} {text!r}: expected lo:hi in dB (e.g. 0:20) or one value (e.g. 10)")
    if lo < SNR_DB_RANGE[0] or hi > SNR_DB_RANGE[1]:
        raise ValueError(f"bad {flag} {text!r}: SNRs must lie in {SNR_DB_RANGE[0]:g}...{SNR_DB_RANGE[1]:g} dB")
    return lo, hi

_USER_SNR_HELP = "use uniform:LO:HI, normal:MEAN:STD (dB) or a comma list of dB values (one per user)"


def parse_user_snr(text: str) -> UserSNRs:
    """``"uniform:0:20"``, ``"normal:10:4"`` or ``"0,5,10"`` -> :class:`UserSNRs`.

    Raises:
        ValueError: one line naming the bad text and the accepted forms.
    """
    lo_ok, hi_ok = SNR_DB_RANGE
    parts = text.split(":")
    try:
        if parts[0] in ("uniform", "normal") and len(parts) == 3:
            a, b = float(parts[1]), float(parts[2])
            if not (math.isfinite(a) and math.isfinite(b)):
                raise ValueError
            if parts[0] == "uniform" and not lo_ok <= a <= b <= hi_ok:
                raise ValueError(f"bad --user-snr {text!r}: uniform:LO:HI needs {lo_ok:g} <= LO <= HI <= {hi_ok:g} dB")
            if parts[0] == "normal" and (b < 0 or not lo_ok <= a <= hi_ok):
                raise ValueError(f"bad --user-snr {text!r}: normal:MEAN:STD needs a mean in {lo_ok:g}...{hi_ok:g} dB "
                                 "and STD >= 0")
            return UserSNRs(parts[0], (a, b))
        values = tuple(float(v) for v in text.split(","))
    except ValueError as err:
        if str(err).startswith("bad --user-snr"):
            raise
        raise ValueError(f"bad --user-snr {text!r}: {_USER_SNR_HELP}") from None
    if not all(lo_ok <= v <= hi_ok for v in values):
        raise ValueError(f"bad --user-snr {text!r}: every SNR must lie in {lo_ok:g}...{hi_ok:g} dB")
    return UserSNRs("list", values)


def parse_percentiles(text: str, flag: str) -> list[float]:
    """A comma list of percentiles in 0...100 (``"0,50,90"``).

    Raises:
        ValueError: one line naming ``flag`` and the bad value.
    """
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"bad {flag} {text!r}: expected percentiles in 0...100, e.g. 0,50,90") from None
    bad = [v for v in values if not 0 <= v <= 100]
    if bad:
        raise ValueError(f"bad {flag} {text!r}: percentile {bad[0]:g} is outside 0...100")
    return values


def parse_names(text: str, flag: str = "names") -> list[str]:
    """A comma list of names, stripped, duplicates removed (``"awgn, rician"``).

    Raises:
        ValueError: one line naming ``flag``, for an empty list or an empty name in it.
    """
    names = [t.strip() for t in text.split(",")]
    if not all(names):
        raise ValueError(f"bad {flag} {text!r}: " + ("give at least one name" if not text.strip() else "an empty name in the list"))
    return list(dict.fromkeys(names))


#: The device types ``--device`` takes.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def parse_device(name: str) -> torch.device:
    """A torch device this machine has (``cpu``, ``cuda``, ``cuda:N``, ``mps``), or a one-line
    error naming it."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"bad --device {name!r}: expected cpu, cuda, cuda:N or mps") from None
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"bad --device {name!r}: expected cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name!r}: this machine's torch has no usable CUDA device; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices "
                             f"(cuda:0 ... cuda:{torch.cuda.device_count() - 1})")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"--device {name!r}: this machine's torch has no usable MPS device; use cpu")
    return device


def precision_note(precision: str, device: torch.device) -> str | None:
    """A note for ``--precision bf16`` on a CPU without bfloat16 units (emulated: slower), else None."""
    from semcomm.models.precision import cpu_has_bf16

    if precision == "bf16" and device.type == "cpu" and cpu_has_bf16() is False:
        return "note: this CPU has no bfloat16 units (AMX-BF16, AVX512-BF16): --precision bf16 runs emulated, slower than fp32"
    return None


def parse_methods(sources: list[str] | None, method: str | None, codec: str, link: str, ratio: str | None,
                  classifier: str | None, name: str | None, dataset: str | None,
                  data_root: str | None, images: str | None = None, precision: str = "fp32") -> MethodsSpec:
    """The methods of a sweep or broadcast from their flags (built, and checked, by the plan)."""
    from semcomm.models.precision import check_precision

    check_precision(precision)
    ratios = None if ratio is None else parse_ratios(ratio, len(ratio.split(",")))
    sscc = SSCCSpec(parse_names(codec, "--codec"), parse_names(link, "--link"), None if ratios is None else sum(ratios), classifier)
    if images is not None and dataset is not None:
        raise ValueError("--images and --dataset both name the images: give one of them")
    names = None if name is None else [t.strip() for t in name.split(",")]
    if names is not None and not all(names):
        raise ValueError(f"bad --name {name!r}: " + ("give a name" if not name.strip() else "an empty name in the list"))
    for flag, value in (("--classifier", classifier), ("--dataset", dataset), ("--data-root", data_root), ("--images", images)):
        if value is not None and not value.strip():
            raise ValueError(f"bad {flag} {value!r}: it is empty")
    return MethodsSpec(tuple(sources or ()), tuple(parse_names(method, "--method") if method is not None else ()), sscc,
                       dataset, ratios, data_root, None if names is None else tuple(names), images, precision)


def checkpoint_inputs(flag: str, sources: list[str | None]) -> list[tuple[str, str]]:
    """``(flag, checkpoint file)`` for each of ``sources`` that names a checkpoint
    (:func:`~semcomm.models.checkpoint.resolve_checkpoint`: a pretrained name, a run directory or
    a file); method names and missing paths name none."""
    from semcomm.models.checkpoint import resolve_checkpoint

    out = []
    for source in sources:
        if source is None:
            continue
        try:
            out.append((flag, str(resolve_checkpoint(source))))
        except ValueError:  # a method name, or no checkpoint there (the run says so itself)
            continue
    return out


def check_out_folder(out: Path, source: str | None, what: str) -> None:
    """Refuse, in one line, an ``--out`` folder whose ``model.safetensors`` is the checkpoint
    ``source`` (``what`` names it: the run would overwrite its own input)."""
    from semcomm.atomic import check_distinct
    from semcomm.models.checkpoint import MODEL_FILE

    try:
        check_distinct([("--out", out / MODEL_FILE)], checkpoint_inputs(what, [source]))
    except ValueError:
        raise ValueError(f"--out {str(out)!r} holds {what}, whose weights it would overwrite: give another folder") from None
