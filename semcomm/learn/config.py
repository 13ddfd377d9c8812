"""What defines a training run (:class:`TrainConfig`, stored in the checkpoint) and its checks.

The config names an architecture and its options, a dataset (or a folder of images) and the
objective; it never holds an architecture's own rules: those live with the architecture
(:class:`semcomm.models.JSCCModel`: its options dataclass and ``check_config``). Every check
raises a one-line :class:`~semcomm.errors.FieldError` that names the field.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import channels
from semcomm.data import ENV_VAR, DatasetInfo, dataset_info, folder_dataset
from semcomm.errors import FieldError
import semcomm.learn.distributed as distributed
from semcomm.learn.objective import DISTORTIONS
from semcomm.models.base import JSCCConfig, architecture, symbols_for_ratio
from semcomm.mtl import WEIGHTINGS, LossWeighting, get_weighting
from semcomm.registry import check_choice
from semcomm.seeding import check_seed

__all__ = ["TrainConfig", "combines_gradients", "loss_weightings", "validate"]

#: Options of the flat training config written before architectures owned their options.
_LEGACY_OPTIONS = ("width", "layer_power", "proxy_attention", "proxy_weight", "ci_kd", "ci_kd_weight", "route_cost")
#: Their values that meant "not used".
_LEGACY_UNUSED = {"layer_power": "equal", "proxy_attention": False, "ci_kd": True, "ci_kd_weight": 1.0, "route_cost": 0.0}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint).

    Attributes:
        dataset: a registered dataset (:func:`semcomm.data.dataset_names`); with ``images``,
            the folder's name (set from it).
        ratios: bandwidth ratio ``k_l / n`` of each layer (``len(ratios)`` = number of layers).
        images: a folder of images to train on instead of a registered dataset
            (:mod:`semcomm.data.folder`), or None.
        crop: train on random ``crop x crop`` crops (needed when the images have several
            sizes; a model of the ``klt-*`` family then also takes its KLT of crops this size).
        data_root: data root (or ``"embedded"`` for the packaged sample; smoke tests only).
        channel, channel_kwargs, csi: the training channel and receiver CSI mode.
        snr_train: ``(lo, hi)`` dB; each example draws its SNR uniformly from it (lo == hi: fixed).
        epochs, batch_size, lr: optimisation (Adam, cosine decay to lr/100).
        arch: the architecture (:data:`semcomm.models.ARCHITECTURES`).
        options: the architecture's options by field name (its ``Options``; unset ones take
            their defaults).
        tasks: the receiver-side tasks of each layer, a ``--tasks`` string
            (:func:`semcomm.tasks.parse_layout`); None: ``recon`` and ``class`` at every layer
            (``recon`` alone on images without labels).
        sample_layers: decode one random layer per example and step instead of all ``L``
            (``L`` times cheaper per step; needs an architecture that decodes chosen layers).
            None: whatever the architecture can.
        distortion: the reconstruction loss of each layer (:data:`semcomm.learn.objective.DISTORTIONS`).
        val: training images held out (the last ``val`` of the split) to validate on after every
            epoch; the best epoch's weights are kept as ``best.safetensors``. 0: none.
        weighting, weighting_kwargs: loss weighting (:mod:`semcomm.mtl`).
        limit: use only the first ``limit`` training images (None: all).
        seed: the one seed.
        init_from: a checkpoint (pretrained name, run directory or ``.safetensors`` file) whose
            tensors initialise the fresh model wherever their names and shapes match (e.g. a
            ``klt-cascade`` model's transmitter from ``cifar10-l3``); None: a fresh start.
    """

    dataset: str
    ratios: tuple[float, ...]
    images: str | None = None
    crop: int | None = None
    data_root: str | None = None
    channel: str = "awgn"
    channel_kwargs: dict[str, Any] = field(default_factory=dict)
    csi: str = "perfect"
    snr_train: tuple[float, float] = (0.0, 20.0)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    arch: str = "klt-refine"
    options: dict[str, Any] = field(default_factory=dict)
    tasks: str | None = None
    sample_layers: bool | None = None
    distortion: str = "mse"
    val: int = 0
    weighting: str = "fixed"
    weighting_kwargs: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    init_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options))
        if self.images is not None:
            object.__setattr__(self, "images", str(Path(self.images).expanduser().resolve()))
            object.__setattr__(self, "dataset", self.dataset_info().name)
        if self.sample_layers is None and self.arch in _architectures():
            object.__setattr__(self, "sample_layers", architecture(self.arch).decodes_chosen_layers)
        shape = self._shape_or_none()
        if shape is not None and self.ratios and all(isinstance(r, (int, float)) and math.isfinite(r) and r > 0 for r in self.ratios):
            n = math.prod(shape)  # the ratios the model uses: whole channel uses per layer
            object.__setattr__(self, "ratios", tuple(symbols_for_ratio(r, n) / n for r in self.ratios))

    def dataset_info(self) -> DatasetInfo:
        """The description of the training data (the folder's, loaded once, with ``images``)."""
        if self.images is not None:
            return _folder(self.images)[0]
        return dataset_info(self.dataset)

    def _shape_or_none(self) -> tuple[int, int, int] | None:
        try:
            return self.image_shape
        except ValueError:
            return None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the training images: the crop, else the dataset's one size.

        Raises:
            FieldError: images of several sizes and no ``crop``.
        """
        info = self.dataset_info()
        if self.crop is not None:
            return (info.channels, self.crop, self.crop)
        if info.image_shape is None:
            raise FieldError("crop", f"the images of {info.name} have several sizes: give {{field}} N to train on random "
                             "N x N crops")
        return info.image_shape

    def model_config(self) -> JSCCConfig:
        """The model this run trains (architecture, data facts, layer sizes, tasks, options)."""
        info = self.dataset_info()
        shape = self.image_shape
        n = math.prod(shape)
        return JSCCConfig(self.arch, info.name, shape, tuple(symbols_for_ratio(r, n) for r in self.ratios),
                          info.class_names, self.tasks, self.options or None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ratios": list(self.ratios), "snr_train": list(self.snr_train)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config of :meth:`to_dict`, or of a run written before architectures owned their
        options (their keys move into ``options``; an unused one is dropped)."""
        d = dict(d)
        arch = d.get("arch", "conv")
        options = dict(d.pop("options", {}))
        takes = {f.name for f in fields(architecture(arch).Options)} if arch in _architectures() else set()
        legacy = {"proxy_weight": 1.0} if d.get("proxy_attention") and "proxy_weight" not in d else {}
        for key in _LEGACY_OPTIONS:
            if key in d or key in legacy:
                value = d.pop(key) if key in d else legacy[key]
                if key in takes:
                    options.setdefault(key, value)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known} | {
            "arch": arch, "options": options, "ratios": tuple(d["ratios"]), "snr_train": tuple(d["snr_train"])})


def _architectures() -> list[str]:
    from semcomm.models import ARCHITECTURES

    return ARCHITECTURES.names()


@functools.lru_cache(maxsize=4)
def _folder(path: str) -> tuple[DatasetInfo, Any]:
    return folder_dataset(path)


def combines_gradients(weighting: LossWeighting) -> bool:
    """Whether ``weighting`` fills the gradients itself (PCGrad, GradNorm, Jacobian descent,
    GradSplit: it overrides :meth:`LossWeighting.backward`) rather than back-propagating one total."""
    return type(weighting).backward is not LossWeighting.backward


def loss_weightings(num_layers: int) -> list[str]:
    """The weightings that back-propagate one weighted total (those that train under torchrun);
    a weighting that cannot be built here (an optional extra missing) is left out."""
    names = []
    for name in WEIGHTINGS.names():
        try:
            weighting = get_weighting(name, num_layers)
        except ValueError:
            continue
        if not combines_gradients(weighting):
            names.append(name)
    return names


def validate(cfg: TrainConfig) -> JSCCConfig:
    """Check a configuration before any work; return the model config it trains.

    Raises:
        FieldError: one line naming the field, for a configuration that cannot train.
    """
    if cfg.images is None and cfg.data_root is None and not os.environ.get(ENV_VAR):
        raise FieldError("data_root", f"no training data: give {{field}} DIR (or set {ENV_VAR}) or a folder of images; "
                         "'embedded' trains on the small packaged sample, for smoke tests only")
    check_seed(cfg.seed)
    if cfg.images is None:
        dataset_info(cfg.dataset)
    if cfg.crop is not None and not (isinstance(cfg.crop, int) and cfg.crop >= 2):
        raise FieldError("crop", f"bad {{field}} {cfg.crop!r}: it must be a whole number >= 2")
    try:
        cls = architecture(cfg.arch)
    except ValueError as err:
        raise FieldError("arch", str(err).replace("unknown JSCC architecture", "unknown {field}")) from None
    if not cfg.ratios:
        raise FieldError("ratios", "{field}: give one bandwidth ratio per layer")
    if cfg.sample_layers and not cls.decodes_chosen_layers:
        raise FieldError("sample_layers", f"{{field}} needs an architecture that decodes chosen layers, not {cfg.arch!r}")
    model = cfg.model_config()
    check_choice("distortion loss", cfg.distortion, DISTORTIONS)
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise FieldError("lr", f"bad {{field}} {cfg.lr:g}: the learning rate must be a positive number, e.g. 1e-3")
    check_choice("loss weighting", cfg.weighting, WEIGHTINGS.names())
    if cfg.weighting == "gradsplit" and not hasattr(cls, "split_modules"):
        raise FieldError("weighting", f"{{field}} gradsplit splits the convolutions a model declares (split_modules): "
                         f"{cfg.arch!r} declares none")
    try:
        weighting = get_weighting(cfg.weighting, model.num_layers, **cfg.weighting_kwargs)
    except TypeError:
        names = {f"option{i}": f"weighting_kwargs.{k}" for i, k in enumerate(cfg.weighting_kwargs)}
        raise FieldError("weighting", f"{{field}} {cfg.weighting} takes no " + ", ".join("{" + p + "}" for p in names),
                         **names) from None
    if distributed.is_distributed() and combines_gradients(weighting):
        raise FieldError("weighting", f"{{field}} {cfg.weighting} combines the per-task gradients itself, which bypasses "
                         "DistributedDataParallel's gradient averaging, so it cannot train under torchrun: use one that "
                         f"weights the losses ({', '.join(loss_weightings(model.num_layers))}) or train in one process")
    if weighting.needs_positive_losses and cfg.distortion == "log-mse":
        raise FieldError("weighting", f"{{field}} {cfg.weighting} takes ratios of task losses, which must be >= 0: "
                         "use the mse distortion, not log-mse")
    bare = [l + 1 for l, tasks in enumerate(model.layout().layers) if "recon" not in tasks or len(tasks) == 1]
    if weighting.needs_positive_losses and bare:
        raise FieldError("weighting", f"{{field}} {cfg.weighting} takes ratios of task losses, but layer {bare[0]} has no "
                         "recon or no other task (a loss that is always 0): give every layer both")
    if cfg.init_from is not None:
        from semcomm.models.checkpoint import resolve_checkpoint

        try:
            resolve_checkpoint(cfg.init_from)
        except ValueError as err:
            raise FieldError("init_from", "{field}: " + str(err)) from None
    if cfg.val < 0:
        raise FieldError("val", f"{{field}} must be >= 0 images, got {cfg.val}")
    channels.check_csi(cfg.csi, channels.get(cfg.channel, **cfg.channel_kwargs))
    lo, hi = cfg.snr_train
    if hi < lo:
        raise FieldError("snr_train", f"{{field}} {lo:g}:{hi:g} has its upper end below the lower one")
    return model
