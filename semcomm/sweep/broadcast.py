"""Broadcast: one transmitter, many receivers (``semcomm broadcast``).

Each image is transmitted once; ``U`` receivers (users), each with its own average SNR, its
own fading and its own noise, decode it. User ``u``'s SNR and every draw of its channel come
from generators seeded from ``(seed, u, ...)`` only, so adding users changes nobody else's
channel, and a user's records never depend on which other users ran with it.

What the transmitter knows:

- An SNR-agnostic transmitter (JSCC, ``linear``, ``analog``) sends the same symbols to all;
  every receiver decodes every layer.
- Single-stream SSCC picks one rate (MCS) for a *design* SNR: the SNR of the ``p``-th
  percentile user (``design_percentiles``; 0 = the worst user). One method per percentile,
  named ``<codec>+<link>@p<p>``. A receiver whose channel loses the image gets the fallback,
  exactly as in a sweep.
- Layered SSCC (oracle and scalable) picks each layer's rate for its own percentile user
  (``layer_percentiles``), named ``<name>@p<p1>/<p2>/...``: every receiver gets the layers its
  channel carries.

Records: one per (method, channel, CSI mode, user, layer), the sweep's fields plus ``user``;
``snr_db`` is the user's SNR. :func:`summarise` turns them into the per-method numbers: mean
and 10th-percentile user PSNR and accuracy, and the fraction of users that decode each layer
(at least 90 % of the images, ``1 - TARGET_LOSS``, carry it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import channels
from semcomm.data import ImageDataset
from semcomm.links import TARGET_LOSS
from semcomm.methods.base import Method
from semcomm.seeding import point_generator
from semcomm.sweep.grid import SNR_DB_RANGE
from semcomm.sweep.results_io import ResultsFile
from semcomm.sweep.runner import SweepPoint, check_methods, evaluate_point, sweep_points

__all__ = [
    "BROADCAST_KEY_FIELDS",
    "MAX_USERS",
    "UserSNRs",
    "decodes",
    "design_methods",
    "highest_layers",
    "parse_percentiles",
    "parse_user_snr",
    "run_broadcast",
    "summarise",
]

BROADCAST_KEY_FIELDS: tuple[str, ...] = ("method", "dataset", "channel", "csi", "user", "layer")
#: The most users one broadcast may have.
MAX_USERS = 100_000

_USER_SNR_HELP = "use uniform:LO:HI, normal:MEAN:STD (dB) or a comma list of dB values (one per user)"


@dataclass(frozen=True)
class UserSNRs:
    """How users' average SNRs (dB) are drawn: ``uniform`` (lo, hi), ``normal`` (mean, std;
    clipped to the allowed SNR range) or ``list`` (the values, one per user)."""

    kind: str
    params: tuple[float, ...]

    def draw(self, users: int, seed: int) -> list[float]:
        """The SNRs of users ``0..users-1``; user ``u``'s depends on ``(seed, u)`` only."""
        if self.kind == "list":
            return list(self.params[:users])
        out = []
        for u in range(users):
            g = point_generator(seed, 0.0, "user-snr", str(u))
            if self.kind == "uniform":
                lo, hi = self.params
                value = lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))
            else:
                mean, std = self.params
                value = min(max(mean + std * float(torch.randn((), generator=g, dtype=torch.float64)), SNR_DB_RANGE[0]),
                            SNR_DB_RANGE[1])
            out.append(round(value, 6))
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": list(self.params)}


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


def _percentile_user_snr(snrs: list[float], p: float) -> float:
    """The SNR of the ``p``-th percentile user: a real user's (0: the worst, 100: the best)."""
    return float(np.percentile(np.asarray(snrs), p, method="lower"))


def design_methods(methods: list[Method], user_snrs: list[float], design_percentiles: list[float],
                   layer_percentiles: list[float]) -> list[Method]:
    """Each method as the broadcast transmitter runs it (see the module docstring): SNR-agnostic
    methods as they are, single-stream SSCC once per design percentile, layered SSCC with one
    percentile per layer.

    Raises:
        ValueError: one line, if a layered method has another number of layers than
            ``layer_percentiles`` has values.
    """
    out: list[Method] = []
    for method in methods:
        if not method.adaptive:
            out.append(method)
        elif not method.layered:
            for p in design_percentiles:
                designed = method.designed_for([_percentile_user_snr(user_snrs, p)])
                designed.name = f"{method.name}@p{p:g}"
                out.append(designed)
        else:
            try:
                designed = method.designed_for([_percentile_user_snr(user_snrs, p) for p in layer_percentiles])
            except ValueError as err:
                raise ValueError(f"--layer-percentiles gives {len(layer_percentiles)} values: {err}") from None
            designed.name = f"{method.name}@p{'/'.join(f'{p:g}' for p in layer_percentiles)}"
            out.append(designed)
    return out


def run_broadcast(
    method: Method,
    images: ImageDataset,
    channel_names: list[str],
    csi_modes: list[str],
    user_snrs: list[float],
    results: ResultsFile,
    batch_size: int = 256,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    channel_kwargs: dict[str, dict[str, Any]] | None = None,
    users_per_write: int = 20,
) -> list[dict[str, Any]]:
    """Every user's records of ``method`` (already designed, :func:`design_methods`) on every
    (channel, CSI mode), computing only the users ``results`` does not hold.

    Args:
        method: the transmitter as broadcast.
        images: the images every user receives.
        channel_names, csi_modes: the links to evaluate.
        user_snrs: user ``u``'s average SNR (dB) at index ``u``.
        results: opened with ``key_fields=BROADCAST_KEY_FIELDS``; written every
            ``users_per_write`` users (each user whole), atomically.
        batch_size: images per ``transmit`` call.
        seed: user ``u``'s draws come from ``(seed, its SNR, channel, CSI mode, u)``.
        progress: called with the number of images after every batch.
        channel_kwargs: options per channel name.

    Returns:
        The records of every user (done before or now), by channel, CSI mode, user and layer.
    """
    sweep_points(channel_names, csi_modes, [0.0])  # checks the names
    kwargs = channel_kwargs or {}
    links = {name: channels.get(name, **kwargs.get(name, {})) for name in channel_names}
    if tuple(results.key_fields) != BROADCAST_KEY_FIELDS:
        raise ValueError(f"the results file must be keyed by {BROADCAST_KEY_FIELDS}")
    check_methods([method], links, csi_modes)
    done = {(r["method"], r["dataset"], r["channel"], r["csi"], r["user"]) for r in results.records}
    with torch.inference_mode():
        for name in channel_names:
            for csi in csi_modes:
                todo = [u for u in range(len(user_snrs)) if (method.name, images.name, name, csi, u) not in done]
                pending: list[dict[str, Any]] = []
                for i, u in enumerate(todo):
                    point = SweepPoint(name, csi, float(user_snrs[u]))
                    generator = point_generator(seed, point.snr_db, name, csi, "user", str(u))
                    records = evaluate_point(method, images, links[name], point, batch_size, generator,
                                             torch.device("cpu"), progress)
                    pending += [r | {"user": u} for r in records]
                    if (i + 1) % users_per_write == 0 or i + 1 == len(todo):
                        results.add_many(pending)
                        pending = []
    order = {(c, m): i for i, (c, m) in enumerate((c, m) for c in channel_names for m in csi_modes)}
    mine = [r for r in results.records if r["method"] == method.name and (r["channel"], r["csi"]) in order
            and r["user"] < len(user_snrs)]
    return sorted(mine, key=lambda r: (order[r["channel"], r["csi"]], r["user"], r["layer"] or 0))


def decodes(record: dict[str, Any]) -> bool:
    """Whether a user decodes this record's layer: at least ``1 - TARGET_LOSS`` of the images
    carry it (an SSCC layer's ``decoded`` or a single stream's ``delivered`` fraction; an
    analog or JSCC layer always decodes)."""
    extras = record.get("extras") or {}
    fraction = extras.get("decoded", extras.get("delivered", 1.0))
    return fraction >= 1 - TARGET_LOSS - 1e-12


def highest_layers(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
    """Per (method, channel, CSI mode, user): the highest layer the user decodes (0: none; a
    single-stream method's one reconstruction counts as layer 1). A layered SSCC layer
    "decodes" only with every chunk it needs, so layers below it may still carry nothing (a
    layer too small for any chunk)."""
    out: dict[tuple[Any, ...], int] = {}
    for r in records:
        key = (r["method"], r["channel"], r["csi"], r["user"])
        out[key] = max(out.get(key, 0), (r["layer"] or 1) if decodes(r) else 0)
    return out


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (method, channel, CSI mode, layer): users, mean and 10th-percentile user PSNR and
    accuracy (None without a classifier), the fraction of users that decode the layer, and the
    method's mean over users of the highest layer decoded (:func:`highest_layers`)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["method"], r["channel"], r["csi"], r["layer"]), []).append(r)
    highest: dict[tuple[Any, ...], list[int]] = {}
    for (method, channel, csi, _), top in highest_layers(records).items():
        highest.setdefault((method, channel, csi), []).append(top)
    out = []
    for (method, channel, csi, layer), rs in groups.items():
        psnr = np.array([r["psnr"] for r in rs])
        acc = [r["accuracy"] for r in rs]
        has_acc = all(a is not None for a in acc)
        out.append({
            "method": method, "channel": channel, "csi": csi, "layer": layer, "users": len(rs),
            "ratio": rs[0]["ratio"],
            "psnr_mean": float(psnr.mean()), "psnr_p10": float(np.percentile(psnr, 10)),
            "accuracy_mean": float(np.mean(acc)) if has_acc else None,
            "accuracy_p10": float(np.percentile(acc, 10)) if has_acc else None,
            "decode_fraction": float(np.mean([decodes(r) for r in rs])),
            "highest_layer_mean": float(np.mean(highest[method, channel, csi])),
        })
    return out
