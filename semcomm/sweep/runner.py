"""The resumable SNR sweep: every layer of a method at every (channel, CSI mode, SNR) point.

For each point not yet in the results file, the images go through ``method.transmit`` in
batches, from a generator seeded from ``(seed, snr_db, channel, csi)`` (so a point's numbers
do not depend on the other points, nor on resuming); :class:`~semcomm.metrics.LayerMetrics`
accumulates each layer, and all the layers of the point are written to the file at once,
atomically. A killed sweep therefore leaves whole points only, and rerunning it computes
just the missing ones.

Records (one per point and layer; :data:`RECORD_FIELDS`, identified by :data:`KEY_FIELDS`)::

    {"method", "dataset", "channel", "csi", "snr_db", "layer", "ratio",
     "psnr", "psnr_ci95", "ssim", "accuracy", "n_images", "tasks", "extras"}

``layer`` counts from 1 (null for a single-reconstruction method such as SSCC); ``ratio`` is
the bandwidth ratio spent up to that layer; ``accuracy`` is None for a method without a
classifier at that layer; ``tasks`` holds the mean scores of the layer's receiver-side tasks
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
from semcomm.data import ImageDataset
from semcomm.methods.base import Method
from semcomm.metrics import LayerMetrics
from semcomm.sweep.results_io import ResultsFile
from semcomm.seeding import point_generator
from semcomm.tasks import get_task

__all__ = ["KEY_FIELDS", "RECORD_FIELDS", "SweepPoint", "check_methods", "evaluate_point", "pending_points", "run_sweep", "sweep_points"]

RECORD_FIELDS: tuple[str, ...] = (
    "method", "dataset", "channel", "csi", "snr_db", "layer", "ratio",
    "psnr", "psnr_ci95", "ssim", "accuracy", "n_images", "tasks", "extras",
)
KEY_FIELDS: tuple[str, ...] = ("method", "dataset", "channel", "csi", "snr_db", "layer")
_POINT_FIELDS = KEY_FIELDS[:-1]  # a point's records share these; "layer" tells them apart


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
        if name not in channels.CHANNELS:
            raise ValueError(f"unknown channel {name!r}; choose one of: {', '.join(channels.names())}")
    for csi in csi_modes:
        channels.check_csi(csi)
    if not all(math.isfinite(s) for s in snrs):
        raise ValueError(f"SNRs must be finite, got {snrs}")
    return [SweepPoint(c, m, float(s)) for c in channel_names for m in csi_modes for s in snrs]


def check_methods(methods: list[Method], links: dict[str, channels.Channel], csi_modes: list[str]) -> None:
    """Ask every method whether it runs over every channel (name -> module) with every CSI mode.

    Raises:
        ValueError: one line, from the first method that refuses a combination.
    """
    for method in methods:
        for link in links.values():
            for csi in csi_modes:
                method.check(link, csi)


def _point_key(method: Method, dataset: str, point: SweepPoint) -> tuple[Any, ...]:
    return (method.name, dataset, point.channel, point.csi, point.snr_db)


def _record_point(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record[k] for k in _POINT_FIELDS)


def pending_points(results: ResultsFile, method: Method, dataset: str, points: list[SweepPoint]) -> list[SweepPoint]:
    """The points of ``points`` that ``results`` does not hold yet (a point is written whole)."""
    done = {_record_point(r) for r in results.records}
    return [p for p in points if _point_key(method, dataset, p) not in done]


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
    """All the layers' records of one point."""
    metrics: list[LayerMetrics] = []
    ratios: list[float] = []
    extras: list[_Extras] = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images.images[start : start + batch_size]).to(device).float() / 255.0  # [B, C, H, W]
        labels = torch.from_numpy(images.labels[start : start + batch_size]).to(device)  # [B]
        layers = method.transmit(x, channel, point.snr_db, point.csi, generator=generator)
        if not metrics:
            metrics = [LayerMetrics() for _ in layers]
            ratios = [layer.ratio for layer in layers]
            extras = [_Extras() for _ in layers]
        if len(layers) != len(metrics):
            raise RuntimeError(f"method {method.name!r} returned {len(layers)} layers, earlier {len(metrics)}")
        for m, e, layer in zip(metrics, extras, layers):
            m.update(layer.recon, x, layer.logits, labels)
            for name, prediction in (({"class": layer.logits} if layer.logits is not None else {}) | layer.tasks).items():
                task = get_task(name, images.name)
                m.update_task(name, task.scores(prediction, task.target(x, labels)))
            e.update(layer.extras, x.shape[0])
        if progress is not None:
            progress(x.shape[0])
    return [
        {
            "method": method.name,
            "dataset": images.name,
            "channel": point.channel,
            "csi": point.csi,
            "snr_db": point.snr_db,
            "layer": index if method.layered else None,
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


def run_sweep(
    method: Method,
    images: ImageDataset,
    channel_names: list[str],
    csi_modes: list[str],
    snrs: list[float],
    results: ResultsFile,
    batch_size: int = 256,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    channel_kwargs: dict[str, dict[str, Any]] | None = None,
    device: torch.device | str = "cpu",
) -> list[dict[str, Any]]:
    """Evaluate every layer of ``method`` at every missing point of the grid, writing each point.

    Args:
        method: what to evaluate; ``method.dataset`` must be ``images.name``.
        images: the evaluation images (uint8, converted to float in [0, 1] batch by batch).
        channel_names: names from :func:`channels.names`.
        csi_modes: receiver CSI modes from :data:`channels.CSI_MODES`.
        snrs: Es/N0 values in dB (one SNR for the whole batch at each point).
        results: the results file, opened with ``key_fields=KEY_FIELDS``; points it holds are
            skipped, each new point is added with all its layers in one atomic write.
        batch_size: images per ``transmit`` call (the random draws depend on it).
        seed: seed of every random draw; each point's generator comes from
            ``(seed, snr_db, channel, csi)``.
        progress: called with the number of images after every batch.
        channel_kwargs: options per channel name, e.g. ``{"rician": {"k_factor": 3.0}}``.
        device: where images and random draws live (the method's device).

    Returns:
        The records of every point of the grid (done before or now), in grid order, layers
        ascending.

    Raises:
        ValueError: one line, before any work, for a bad grid, a results file with other key
            fields, a dataset mismatch or a batch size < 1.
    """
    points = sweep_points(channel_names, csi_modes, snrs)
    kwargs = channel_kwargs or {}
    links = {name: channels.get(name, **kwargs.get(name, {})) for name in channel_names}
    if tuple(results.key_fields) != KEY_FIELDS:
        raise ValueError(f"the results file must be keyed by {KEY_FIELDS}, not {tuple(results.key_fields)}")
    if method.dataset != images.name:
        raise ValueError(f"method {method.name!r} was built for {method.dataset!r}, not {images.name!r} images")
    if batch_size < 1 or len(images) == 0:
        raise ValueError(f"need a batch size >= 1 and at least one image, got {batch_size} and {len(images)}")
    check_methods([method], links, csi_modes)
    device = torch.device(device)
    with torch.inference_mode():
        for point in pending_points(results, method, images.name, points):
            generator = point_generator(seed, point.snr_db, point.channel, point.csi, device=device)
            link = links[point.channel]
            results.add_many(evaluate_point(method, images, link, point, batch_size, generator, device, progress))
    wanted = {_point_key(method, images.name, p): i for i, p in enumerate(points)}
    mine = [r for r in results.records if _record_point(r) in wanted]
    return sorted(mine, key=lambda r: (wanted[_record_point(r)], r["layer"] or 0))
