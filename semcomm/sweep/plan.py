"""Sweep plans: methods x channels x CSI modes x SNRs, resolved and validated once.

:class:`MethodsPlan` is what sweeps and broadcasts share: the methods, the images and one
channel module per name, each built once and checked once (every method against every channel
and CSI mode) when the plan is built. A plan built :meth:`SweepPlan.from_spec` pickles as its
recipe (:class:`~semcomm.sweep.spec.MethodsRecipe`, a few kB): a worker rebuilds the methods,
images and channels once, on its first point. :func:`run_sweep` is a one-method plan on the
local executor.

A point of a sweep (:class:`MethodPoint`) is one method at one (channel, CSI mode, SNR), all
its layers; its generator comes from ``(seed, snr_db, channel, csi)`` only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

import channels
from semcomm.data import ImageDataset
from semcomm.execute.base import Plan, Progress, run_plan
from semcomm.methods.base import Method
from semcomm.seeding import check_seed, point_generator
from semcomm.sweep.results_io import ResultsFile, first_difference
from semcomm.sweep.runner import KEY_FIELDS, SweepPoint, check_methods, evaluate_point, sweep_points
from semcomm.sweep.spec import ImagesSpec, MethodsRecipe, MethodsSpec

__all__ = ["MethodPoint", "MethodsPlan", "SweepPlan", "run_sweep"]

P = TypeVar("P", bound=Hashable)


class MethodsPlan(Plan[P]):
    """Methods evaluated on images over channels: what sweeps and broadcasts share.

    Args:
        methods: the methods (names distinct), each built for ``images.name``.
        images: the evaluation images.
        channel_names: channels from :func:`channels.names`.
        csi_modes: receiver CSI modes.
        seed: seed of every random draw.
        batch_size: images per ``transmit`` call (the random draws depend on it).
        channel_kwargs: options per channel name, e.g. ``{"rician": {"k_factor": 3.0}}``.
        device: where images and random draws live (the methods' device).
        recipe: what rebuilds ``methods`` and ``images`` elsewhere; with it the plan pickles as
            the recipe, else with its methods and images.

    Raises:
        ValueError: one line, before any work, for a bad seed, batch size, dataset, channel,
            channel option or CSI mode, or a method that cannot run over a channel.
    """

    def __init__(
        self,
        methods: list[Method],
        images: ImageDataset,
        channel_names: list[str],
        csi_modes: list[str],
        seed: int,
        batch_size: int,
        channel_kwargs: dict[str, dict[str, Any]] | None,
        device: torch.device | str = "cpu",
        recipe: MethodsRecipe | None = None,
    ) -> None:
        self.seed = check_seed(seed)
        if batch_size < 1 or len(images) == 0:
            raise ValueError(f"need a batch size >= 1 and at least one image, got {batch_size} and {len(images)}")
        self.channel_names, self.csi_modes = list(channel_names), list(csi_modes)
        self.channel_kwargs = {name: dict((channel_kwargs or {}).get(name, {})) for name in channel_names}
        self.links: dict[str, channels.Channel] | None = {
            name: channels.get(name, **self.channel_kwargs[name]) for name in channel_names
        }
        check_methods(methods, self.links, csi_modes, images.shapes())
        self.batch_size, self.device, self.recipe = batch_size, torch.device(device), recipe
        for method in methods:
            method.to(self.device)
        for link in self.links.values():
            link.to(self.device)
        self.dataset, self.n_images = images.name, len(images)
        folder = None if recipe is None else recipe.images.folder
        # a folder or images in memory: identified by content (not by where they lie)
        self.images_identity = {} if recipe is not None and folder is None else {"images_md5": images.digest()}
        self.method_names = [m.name for m in methods]
        self._described = [m.describe() for m in methods]  # what a worker's rebuilt methods must be
        self._methods: dict[str, Method] | None = {m.name: m for m in methods}
        self._images: ImageDataset | None = images
        self._lock = threading.Lock()

    @property
    def images(self) -> ImageDataset:
        """The evaluation images (rebuilt from the recipe on first use after unpickling)."""
        return self._built()[1]

    @property
    def methods(self) -> list[Method]:
        """The methods, in plan order (rebuilt from the recipe on first use after unpickling)."""
        return list(self._built()[0].values())

    def _built(self) -> tuple[dict[str, Method], ImageDataset, dict[str, channels.Channel]]:
        with self._lock:  # a worker may run several points at once
            if self._methods is None or self._images is None or self.links is None:
                assert self.recipe is not None
                methods = {m.name: m.to(self.device) for m in self.recipe.build_methods()}
                if list(methods) != self.method_names:
                    raise RuntimeError(f"the recipe rebuilt methods {list(methods)}, not {self.method_names}")
                for method, described in zip(methods.values(), self._described):
                    differs = first_difference(described, method.describe())
                    if differs is not None:
                        raise ValueError(f"method {method.name!r} changed on disk after the run started ({differs}): "
                                         "this process will not evaluate another model under its name; keep the "
                                         "files in place while a run uses them")
                self._methods, self._images = methods, self.recipe.images.load()
                self.links = {name: channels.get(name, **kw).to(self.device) for name, kw in self.channel_kwargs.items()}
            return self._methods, self._images, self.links

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_lock"}
        if self.recipe is not None:
            state |= {"_methods": None, "_images": None, "links": None}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def config(self) -> dict[str, Any]:
        """The methods' descriptions, the images (the embedded sample, a full test set, a
        folder or images given in memory; the last two identified by content), the batch size
        and the channels' options."""
        if self.recipe is None:
            images = "in memory"
        elif self.recipe.images.folder is not None:
            images = "folder"
        else:
            images = "embedded" if self.recipe.images.embedded else "full"
        return {
            "methods": [m.describe() for m in self.methods],
            "dataset": self.dataset,
            "images": images,
            "n_images": self.n_images,
            **self.images_identity,
            "batch_size": self.batch_size,
            "channel_kwargs": self.channel_kwargs,
        }

    def units(self, point: P) -> int:
        """Images per point."""
        return self.n_images

    def paths(self) -> list[Path]:
        return [] if self.recipe is None else self.recipe.paths()

    def _evaluate(self, method: str, point: SweepPoint, generator: torch.Generator,
                  progress: Callable[[int], None] | None) -> list[dict[str, Any]]:
        """Every layer's record of ``method`` at ``point``."""
        methods, images, links = self._built()
        with torch.inference_mode():
            return evaluate_point(methods[method], images, links[point.channel], point, self.batch_size, generator,
                                  self.device, progress)


def images_spec(methods: MethodsSpec, built: list[Method], data_root: str | None, n_images: int | None) -> ImagesSpec:
    """The images a plan of ``methods`` evaluates on: the folder it names, else the test images
    of the methods' dataset."""
    if methods.images is not None:
        info = methods.images_info()
        assert info is not None
        return ImagesSpec(info.name, None, n_images, str(methods.images))
    return ImagesSpec(built[0].dataset, data_root, n_images)


@dataclass(frozen=True)
class MethodPoint:
    """One point of a sweep: a method (by name) at one channel, CSI mode and SNR (dB)."""

    method: str
    channel: str
    csi: str
    snr_db: float


class SweepPlan(MethodsPlan[MethodPoint]):
    """Every layer of every method at every (channel, CSI mode, SNR) point: points by method,
    then channel, CSI mode and SNR (the grid's order); see :class:`MethodsPlan` for the
    arguments and their checks.

    Args:
        snrs: Es/N0 values in dB (one SNR for the whole batch at each point).
    """

    key_fields = KEY_FIELDS
    title = "sweep"

    def __init__(
        self,
        methods: list[Method],
        images: ImageDataset,
        channel_names: list[str],
        csi_modes: list[str],
        snrs: list[float],
        seed: int = 0,
        batch_size: int = 256,
        channel_kwargs: dict[str, dict[str, Any]] | None = None,
        device: torch.device | str = "cpu",
        recipe: MethodsRecipe | None = None,
    ) -> None:
        grid = sweep_points(channel_names, csi_modes, snrs)
        super().__init__(methods, images, channel_names, csi_modes, seed, batch_size, channel_kwargs, device, recipe)
        self._points = [MethodPoint(m, g.channel, g.csi, g.snr_db) for m in self.method_names for g in grid]

    @classmethod
    def from_spec(
        cls,
        methods: MethodsSpec,
        channel_names: list[str],
        csi_modes: list[str],
        snrs: list[float],
        seed: int = 0,
        batch_size: int = 256,
        channel_kwargs: dict[str, dict[str, Any]] | None = None,
        data_root: str | None = None,
        n_images: int | None = None,
        device: torch.device | str = "cpu",
    ) -> SweepPlan:
        """The plan of the methods ``methods`` builds, on the first ``n_images`` (all for None)
        of the folder ``methods.images`` or else of the test images of their dataset from
        ``data_root`` (None: ``$SEMCOMM_DATA``, else the embedded sample; also where ``linear``
        fits its KLT unless ``methods`` names a data root); it pickles as its recipe."""
        sweep_points(channel_names, csi_modes, snrs)  # the grid's names first: before loading any model
        methods = methods.with_data_root(data_root)
        built = methods.build()
        images = images_spec(methods, built, data_root, n_images)
        return cls(built, images.load(), channel_names, csi_modes, snrs, seed, batch_size, channel_kwargs, device,
                   MethodsRecipe(methods.portable(), images.portable()))

    @property
    def points(self) -> list[MethodPoint]:
        return self._points

    def record_point(self, record: dict[str, Any]) -> MethodPoint | None:
        if record.get("dataset") != self.dataset:
            return None
        return MethodPoint(record["method"], record["channel"], record["csi"], record["snr_db"])

    def describe(self, point: MethodPoint) -> str:
        return f"sweep {point.method}"

    def run_point(self, point: MethodPoint, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        generator = point_generator(self.seed, point.snr_db, point.channel, point.csi, device=self.device)
        return self._evaluate(point.method, SweepPoint(point.channel, point.csi, point.snr_db), generator, progress)


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
    plan = SweepPlan([method], images, channel_names, csi_modes, snrs, seed, batch_size, channel_kwargs, device)
    return run_plan(plan, results, progress=None if progress is None else Progress(advance=progress))
