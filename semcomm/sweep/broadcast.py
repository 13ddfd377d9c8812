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
(at least 90 % of the images, ``1 - TARGET_LOSS``, carry it). A broadcast is a plan
(:class:`BroadcastPlan`) whose points are users; on a cluster each worker designs the
transmitters again from the users' SNRs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcomm.data import ImageDataset
from semcomm.execute.base import Progress, run_plan
from semcomm.links import TARGET_LOSS
from semcomm.methods.base import Method
from semcomm.seeding import check_seed, point_generator
from semcomm.sweep.plan import MethodsPlan, images_spec
from semcomm.sweep.results_io import ResultsFile
from semcomm.sweep.runner import SNR_DB_RANGE, SweepPoint, sweep_points
from semcomm.sweep.spec import MethodsRecipe, MethodsSpec

__all__ = [
    "BROADCAST_KEY_FIELDS",
    "MAX_USERS",
    "BroadcastDesign",
    "BroadcastPlan",
    "UserPoint",
    "UserSNRs",
    "decodes",
    "default_layer_percentiles",
    "design_methods",
    "highest_layers",
    "run_broadcast",
    "summarise",
]

BROADCAST_KEY_FIELDS: tuple[str, ...] = ("method", "dataset", "channel", "csi", "user", "layer")
#: The most users one broadcast may have.
MAX_USERS = 100_000


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


@dataclass(frozen=True)
class BroadcastDesign:
    """How the transmitters of a broadcast are set up (:func:`design_methods`): the users'
    SNRs, the single-stream design percentiles and the layered per-layer percentiles."""

    user_snrs: tuple[float, ...]
    design_percentiles: tuple[float, ...]
    layer_percentiles: tuple[float, ...]

    def apply(self, methods: list[Method]) -> list[Method]:
        return design_methods(methods, list(self.user_snrs), list(self.design_percentiles),
                              list(self.layer_percentiles))


def default_layer_percentiles(methods: list[Method]) -> list[float]:
    """One percentile per layer of the deepest layered adaptive method, evenly 0...90 (0 for one layer)."""
    layers = max((len(m.layer_ratios) for m in methods if m.adaptive and m.layered), default=1)
    return [round(90 * l / max(1, layers - 1), 6) for l in range(layers)]


@dataclass(frozen=True)
class UserPoint:
    """One point of a broadcast: a method (by name) received by one user over one channel and CSI mode."""

    method: str
    channel: str
    csi: str
    user: int


class BroadcastPlan(MethodsPlan[UserPoint]):
    """Every user's records of every method (as broadcast: :func:`design_methods`) on every
    (channel, CSI mode); points by method, channel, CSI mode and user. See
    :class:`~semcomm.sweep.plan.MethodsPlan` for the other arguments and their checks.

    Args:
        user_snrs: user ``u``'s average SNR (dB) at index ``u``.
        users_per_write: users written to the results file together (each user whole).
        user_snr: how the SNRs were drawn, for the results file's config (None: not recorded).
    """

    key_fields = BROADCAST_KEY_FIELDS
    title = "broadcast"
    noun = "users"

    def __init__(
        self,
        methods: list[Method],
        images: ImageDataset,
        channel_names: list[str],
        csi_modes: list[str],
        user_snrs: list[float],
        seed: int = 0,
        batch_size: int = 256,
        channel_kwargs: dict[str, dict[str, Any]] | None = None,
        users_per_write: int = 20,
        user_snr: UserSNRs | None = None,
        recipe: MethodsRecipe | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        sweep_points(channel_names, csi_modes, [0.0])  # checks the names
        super().__init__(methods, images, channel_names, csi_modes, seed, batch_size, channel_kwargs, device, recipe)
        self.user_snrs = [float(s) for s in user_snrs]
        self.points_per_write = users_per_write
        self.user_snr = user_snr
        self._points = [UserPoint(m, c, k, u) for m in self.method_names for c in self.channel_names
                        for k in self.csi_modes for u in range(len(self.user_snrs))]

    @classmethod
    def from_spec(
        cls,
        methods: MethodsSpec,
        channel_names: list[str],
        csi_modes: list[str],
        user_snr: UserSNRs,
        users: int,
        design_percentiles: list[float],
        layer_percentiles: list[float] | None = None,
        seed: int = 0,
        batch_size: int = 256,
        channel_kwargs: dict[str, dict[str, Any]] | None = None,
        data_root: str | None = None,
        n_images: int | None = None,
        device: torch.device | str = "cpu",
    ) -> BroadcastPlan:
        """The broadcast of the methods ``methods`` builds to ``users`` users drawn from
        ``user_snr``, on the first ``n_images`` test images from ``data_root`` (see
        :meth:`SweepPlan.from_spec`); ``layer_percentiles`` None: :func:`default_layer_percentiles`.
        It pickles as its recipe (a worker designs the transmitters again)."""
        sweep_points(channel_names, csi_modes, [0.0])  # the names first: before loading any model
        methods = methods.with_data_root(data_root)
        built = methods.build()
        snrs = user_snr.draw(users, check_seed(seed))  # before the plan checks it: the draw needs it
        per_layer = default_layer_percentiles(built) if layer_percentiles is None else layer_percentiles
        design = BroadcastDesign(tuple(snrs), tuple(design_percentiles), tuple(per_layer))
        images = images_spec(methods, built, data_root, n_images)
        return cls(design.apply(built), images.load(), channel_names, csi_modes, snrs, seed, batch_size,
                   channel_kwargs, user_snr=user_snr,
                   recipe=MethodsRecipe(methods.portable(), images.portable(), design), device=device)

    @property
    def points(self) -> list[UserPoint]:
        return self._points

    @property
    def config(self) -> dict[str, Any]:
        return super().config | ({} if self.user_snr is None else {"user_snr": self.user_snr.describe()})

    def record_point(self, record: dict[str, Any]) -> UserPoint | None:
        if record.get("dataset") != self.dataset:
            return None
        return UserPoint(record["method"], record["channel"], record["csi"], record["user"])

    def describe(self, point: UserPoint) -> str:
        return f"broadcast {point.method}"

    def run_point(self, point: UserPoint, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """User ``u``'s records: its draws come from ``(seed, its SNR, channel, CSI mode, u)``."""
        snr = self.user_snrs[point.user]
        generator = point_generator(self.seed, snr, point.channel, point.csi, "user", str(point.user))
        records = self._evaluate(point.method, SweepPoint(point.channel, point.csi, snr), generator, progress)
        return [r | {"user": point.user} for r in records]


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
    (channel, CSI mode), computing only the users ``results`` does not hold: a one-method
    :class:`BroadcastPlan` on the local executor.

    Args:
        method: the transmitter as broadcast.
        images: the images every user receives.
        channel_names: the channels to evaluate.
        csi_modes: the receiver CSI modes to evaluate.
        user_snrs: user ``u``'s average SNR (dB) at index ``u``.
        results: opened with ``key_fields=BROADCAST_KEY_FIELDS``; written every
            ``users_per_write`` users (each user whole), atomically, and on an interruption.
        batch_size: images per ``transmit`` call.
        seed: user ``u``'s draws come from ``(seed, its SNR, channel, CSI mode, u)``.
        progress: called with the number of images after every batch.
        channel_kwargs: options per channel name.

    Returns:
        The records of every user (done before or now), by channel, CSI mode, user and layer.
    """
    plan = BroadcastPlan([method], images, channel_names, csi_modes, user_snrs, seed, batch_size, channel_kwargs,
                         users_per_write)
    return run_plan(plan, results, progress=None if progress is None else Progress(advance=progress))


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
