"""One sweep point evaluated: every layer of a method at one (channel, CSI mode, SNR).

:func:`evaluate_point` sends the images through ``method.transmit`` in batches, from the
point's own generator (:mod:`semcomm.seeding`: a point's numbers depend neither on the other
points nor on resuming), and :class:`~semcomm.metrics.LayerMetrics` accumulates each layer. The
plans (:mod:`semcomm.sweep.plan`) write all the layers of a point at once, atomically, so a
killed sweep leaves whole points only and a rerun computes just the missing ones.

Records (one per point and layer; :data:`RECORD_FIELDS`, identified by :data:`KEY_FIELDS`)::

    {"method", "dataset", "channel", "csi", "snr_db", "layer", "layers", "ratio",
     "psnr", "psnr_ci95", "ssim", "accuracy", "n_images", "tasks", "extras"}

``layer`` counts from 1 (null for a single-reconstruction method such as SSCC); ``layers`` is
the number of records the point has (so a point with a record lost is known to be incomplete
and is computed again; files written before it lack the field); ``ratio`` is
the bandwidth ratio spent up to that layer (over images of several sizes: all their channel
uses over all their source values); ``accuracy`` is None for a method without a classifier at
that layer, and on images without labels (or labelled with other classes than the method's); ``tasks`` holds the mean scores of the layer's receiver-side tasks
(:mod:`semcomm.tasks`), ``{task: {metric: value}}``: ``class`` for a layer with logits (its
``accuracy``, as above, and the accuracy on each coarse concept, ``"coarse2 accuracy"``, ...,
from the class probabilities summed over each group), and every other task head the method
outputs (files written before tasks existed lack the field, which readers take as empty);
``extras`` holds the method's own per-point numbers (e.g. an SSCC link's bit
budget and delivered fraction), averaged over the images, and its labels (e.g. the MCS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import channels
from semcomm.data import DatasetInfo, ImageDataset, images_info
from semcomm.methods.base import Method
from semcomm.metrics import LayerMetrics
from semcomm.tasks import Task, get_task

__all__ = ["KEY_FIELDS", "RECORD_FIELDS", "SNR_DB_RANGE", "SweepPoint", "check_methods", "evaluate_point", "sweep_points"]

RECORD_FIELDS: tuple[str, ...] = (
    "method", "dataset", "channel", "csi", "snr_db", "layer", "layers", "ratio",
    "psnr", "psnr_ci95", "ssim", "accuracy", "n_images", "tasks", "extras",
)
KEY_FIELDS: tuple[str, ...] = ("method", "dataset", "channel", "csi", "snr_db", "layer")
#: The most source values (``B C H W``) of one batch: large images come in smaller batches
#: (4,194,304: 1,365 CIFAR-10 images, 3 Kodak images).
MAX_BATCH_VALUES = 1 << 22
#: SNRs (dB) that a sweep, a BER run or training accepts: beyond them the numbers mean nothing
#: (10^(-50/10) of the signal power, or noise below float32 rounding of unit-energy symbols).
SNR_DB_RANGE: tuple[float, float] = (-50.0, 100.0)


@dataclass(frozen=True)
class SweepPoint:
    """One point of the grid: a channel name, a receiver CSI mode and an SNR (Es/N0, dB)."""

    channel: str
    csi: str
    snr_db: float


def sweep_points(channel_names: list[str], csi_modes: list[str], snrs: list[float]) -> list[SweepPoint]:
    """The grid in sweep order (channel, then CSI mode, then SNR), after checking every name.

    Raises:
        ValueError: one line, on an empty list, an unknown channel or CSI mode, or a
            non-finite SNR.
    """
    for what, values in (("channel", channel_names), ("CSI mode", csi_modes), ("SNR", snrs)):
        if not values:
            raise ValueError(f"no {what} to sweep")
    for name in channel_names:
        if name not in channels.names():
            raise ValueError(f"unknown channel {name!r}; choose one of: {', '.join(channels.names())}")
    for csi in csi_modes:
        channels.check_csi(csi)
    if not all(math.isfinite(s) for s in snrs):
        raise ValueError(f"SNRs must be finite, got {snrs}")
    return [SweepPoint(c, m, float(s)) for c in channel_names for m in csi_modes for s in snrs]


def check_methods(methods: list[Method], links: dict[str, channels.Channel], csi_modes: list[str],
                  shapes: list[tuple[int, int, int]] | None = None) -> None:
    """Ask every method whether it takes every image size of ``shapes`` and runs over every
    channel (name -> module) with every CSI mode.

    Raises:
        ValueError: one line, from the first method that refuses a combination.
    """
    for method in methods:
        for shape in shapes or []:
            method.check_images(shape)
        for link in links.values():
            for csi in csi_modes:
                method.check(link, csi)


def _scorer(name: str, method: Method, info: DatasetInfo) -> Task | None:
    """The task that scores ``method``'s output ``name`` on images of ``info``, or None where it
    cannot be scored: a label task on images without labels, or on images labelled with other
    classes than those the method declares (``class_names``; None: the images')."""
    try:
        task = get_task(name, info)
    except ValueError:
        return None
    declared = getattr(method, "class_names", None)
    if task.needs_labels and declared is not None and tuple(declared) != tuple(info.class_names or ()):
        return None
    return task


def evaluate_point(
    method: Method,
    images: ImageDataset,
    channel: channels.Channel,
    point: SweepPoint,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    progress: Callable[[int], None] | None,
) -> list[dict[str, Any]]:
    """All the layers' records of one point (images of several sizes come in batches of one size)."""
    info = images_info(images)
    metrics: list[LayerMetrics] = []
    uses: list[float] = []  # per layer: channel uses sent (ratio times source values), summed
    seen: list[set[float]] = []  # per layer: the ratios of the batches
    extras: list[_Extras] = []
    scorers: dict[str, Task | None] = {}
    for batch, batch_labels in images.batches(batch_size, MAX_BATCH_VALUES):
        x = torch.from_numpy(batch).to(device).float() / 255.0  # [B, C, H, W]
        labels = None if batch_labels is None else torch.from_numpy(batch_labels).to(device)  # [B]
        layers = method.transmit(x, channel, point.snr_db, point.csi, generator=generator)
        if not metrics:
            metrics = [LayerMetrics() for _ in layers]
            uses = [0.0 for _ in layers]
            seen = [set() for _ in layers]
            extras = [_Extras() for _ in layers]
        if len(layers) != len(metrics):
            raise RuntimeError(f"method {method.name!r} returned {len(layers)} layers, earlier {len(metrics)}")
        for l, (m, e, layer) in enumerate(zip(metrics, extras, layers)):
            m.update(layer.recon, x)
            uses[l] += layer.ratio * x.numel()
            seen[l].add(layer.ratio)
            for name, prediction in layer.tasks.items():
                if name not in scorers:
                    scorers[name] = _scorer(name, method, info)
                task = scorers[name]
                if task is not None:
                    m.update_task(name, task.scores(prediction, task.target(x, labels)))
            e.update(layer.extras, x.shape[0])
        if progress is not None:
            progress(x.shape[0])
    values = images.source_values()
    ratios = [next(iter(r)) if len(r) == 1 else u / values for u, r in zip(uses, seen)]
    return [
        {
            "method": method.name,
            "dataset": images.name,
            "channel": point.channel,
            "csi": point.csi,
            "snr_db": point.snr_db,
            "layer": index if method.layered else None,
            "layers": len(metrics),
            "ratio": ratio,
        }
        | m.compute()
        | {"extras": e.compute()}
        for index, (m, e, ratio) in enumerate(zip(metrics, extras, ratios), start=1)
    ]


class _Extras:
    """Per-point summary of a layer's ``extras``: numbers averaged over the images (weighted by
    batch size), text values listed once each in order of appearance."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._labels: dict[str, dict[str, None]] = {}
        self._count = 0

    def update(self, extras: dict[str, Any], batch: int) -> None:
        self._count += batch
        for key, value in extras.items():
            if isinstance(value, str):
                self._labels.setdefault(key, {})[value] = None
            else:
                self._sums[key] = self._sums.get(key, 0.0) + float(value) * batch

    def compute(self) -> dict[str, Any]:
        means = {key: total / self._count for key, total in self._sums.items()}
        return means | {key: ", ".join(values) for key, values in self._labels.items()}
