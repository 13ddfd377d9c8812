"""The contract of every JSCC architecture, its configuration, and the architecture registry.

An architecture is a :class:`JSCCModel` subclass registered by a decorator on the class (cf.
CompressAI's ``@register_model``), in a module named after its key::

    @register_architecture("tiny")
    class TinyJSCC(JSCCModel):
        Options = TinyOptions                   # a frozen dataclass: one flag per field
        def forward(self, images, channel, snr_db, csi="perfect", generator=None,
                    decode_layers=None) -> JSCCOutput: ...
        def encode_layers(self, images) -> list[torch.Tensor]: ...

What the class owns (and the trainer, the sweep and the CLI never name):

- **encode**: images ``[B, C, H, W]`` -> ``L`` layers of complex channel symbols
  (:meth:`JSCCModel.encode_layers`); **decode** from layers ``1..l``: :meth:`JSCCModel.forward`
  sends them over a channel and returns every layer's (or, with ``decode_layers``, one chosen
  layer per example's) reconstruction and task outputs (:class:`JSCCOutput`);
- **the tasks it serves**: ``config.layout()``, one head output per (task, layer); ``class``
  is a task like any other;
- **its shared parameters** (:meth:`JSCCModel.shared_parameters`, for the loss weightings);
- **its training-loss hook** (:meth:`JSCCModel.training_losses`): the default decodes and
  asks the objective for each (task, layer) loss; an architecture with its own rule (the
  sandwich rule of a slimmable receiver, a routed receiver's compute penalty) overrides it;
- **its options**: :attr:`JSCCModel.Options`, a frozen dataclass whose fields (with a ``help``
  in their metadata) the CLI turns into flags; they are stored in the checkpoint's config and
  validated in the dataclass (one-line :class:`~semcomm.errors.FieldError` naming the field);
- **the image sizes it takes** (:attr:`JSCCModel.any_size`, :meth:`JSCCModel.check_images`)
  and the channel uses it spends on an image (:meth:`JSCCModel.channel_uses`).

Plugins: an installed package's entry point in the group ``semcomm.architectures`` naming the
class registers it under the entry point's name; ``train``, ``sweep`` and ``broadcast`` then
use it by that name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

import channels
from semcomm.errors import FieldError
from semcomm.registry import Registry
from semcomm.tasks import TaskLayout, get_task, parse_layout

if TYPE_CHECKING:
    from semcomm.data.info import DatasetInfo
    from semcomm.learn.objective import Objective
    from semcomm.mtl.weighting import TaskLosses

__all__ = [
    "ARCHITECTURES", "JSCCConfig", "JSCCModel", "JSCCOutput", "NoOptions", "architecture", "build_model",
    "cumulative_ratios", "register_architecture", "symbols_for_ratio",
]


def symbols_for_ratio(ratio: float, source_values: int) -> int:
    """Complex channel uses ``k = round(ratio * n)`` for a bandwidth ratio ``k/n`` (at least 1)."""
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"bandwidth ratio must be a positive number, got {ratio!r}")
    return max(1, round(ratio * source_values))


def cumulative_ratios(layer_symbols: tuple[int, ...], source_values: int) -> list[float]:
    """Bandwidth ratio ``sum_{j<=l} k_j / n`` of layers ``1..l``, for each ``l``, from the
    complex channel uses ``k_j`` of each layer and the ``n`` real values of a source image."""
    return [float(sum(layer_symbols[: l + 1])) / source_values for l in range(len(layer_symbols))]


@dataclass(frozen=True)
class NoOptions:
    """The options of an architecture that declares none."""


ARCHITECTURES: Registry[type[JSCCModel]] = Registry("JSCC architecture", group="semcomm.architectures",
                                                    package="semcomm.models")


def register_architecture(key: str) -> Any:
    """Class decorator: register a :class:`JSCCModel` subclass as architecture ``key`` (the
    name checkpoints store in their config and ``--arch`` takes)."""

    def decorate(cls: type[JSCCModel]) -> type[JSCCModel]:
        cls.key = key
        ARCHITECTURES.register(key, cls)
        return cls

    return decorate


def architecture(key: str) -> type[JSCCModel]:
    """The class registered as ``key`` (the built-in ones are registered on first use).

    Raises:
        ValueError: one line naming the known architectures, for an unknown key.
    """
    cls = ARCHITECTURES.entry(key)
    if not (isinstance(cls, type) and issubclass(cls, JSCCModel)):
        raise ValueError(f"JSCC architecture {key!r} is not a semcomm.models.JSCCModel subclass")
    if getattr(cls, "key", "") != key:  # registered through an entry point, not the decorator
        cls.key = key
    return cls


#: The most channels of a model's training images.
MAX_CHANNELS = 64
#: The most values (``C H W``) of a model's training images (a 2048 x 2048 RGB image).
MAX_SOURCE_VALUES = 3 * 2048 * 2048
#: The widest convolution a built-in architecture's ``width`` options may ask for.
MAX_WIDTH = 4096


@dataclass(frozen=True)
class JSCCConfig:
    """An architecture and everything its weights depend on (stored as JSON with the weights).

    Attributes:
        arch: the architecture's key (:data:`ARCHITECTURES`).
        dataset: the name of the data it was trained for (a registered dataset, or a folder's name).
        image_shape: ``(C, H, W)`` of its training images: the size its ``layer_symbols`` are
            counted for (an architecture that takes any size scales them with the image).
        layer_symbols: complex channel uses ``k_l`` of each layer for an image of ``image_shape``.
        class_names: the classes its label tasks predict, or None (no labels).
        tasks: the receiver-side tasks of each layer as a ``--tasks`` string
            (:func:`semcomm.tasks.parse_layout`), or None for the default: ``recon`` and
            ``class`` at every layer (``recon`` alone without classes).
        options: the architecture's options (an instance of its ``Options``; a dict or None
            is turned into one, None giving the defaults).
    """

    arch: str
    dataset: str
    image_shape: tuple[int, int, int]
    layer_symbols: tuple[int, ...]
    class_names: tuple[str, ...] | None = None
    tasks: str | None = None
    options: Any = None

    def __post_init__(self) -> None:
        cls = architecture(self.arch)
        shape = tuple(self.image_shape)
        if len(shape) != 3 or any(not isinstance(v, int) or v < 1 for v in shape):
            raise FieldError("image_shape", f"{{field}} must be (C, H, W) of positive whole numbers, got {shape}")
        if shape[0] > MAX_CHANNELS or shape[0] * shape[1] * shape[2] > MAX_SOURCE_VALUES:
            raise FieldError("image_shape", f"{{field}} {shape} is too large: at most {MAX_CHANNELS} channels and "
                             f"{MAX_SOURCE_VALUES:,} values (C H W) per training image")
        object.__setattr__(self, "image_shape", shape)
        if len(self.layer_symbols) == 0:
            raise FieldError("layer_symbols", "a JSCC model needs at least one layer ({field} is empty)")
        if any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in self.layer_symbols):
            raise FieldError("layer_symbols", f"{{field}} must be positive whole numbers, got {list(self.layer_symbols)}")
        object.__setattr__(self, "layer_symbols", tuple(self.layer_symbols))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "options", _make_options(cls, self.options))
        if self.tasks is not None:
            concepts = tuple(self.dataset_info().concepts)
            object.__setattr__(self, "tasks", parse_layout(self.tasks, len(self.layer_symbols), concepts).spec())
        for name in self.layout().head_tasks():
            get_task(name, self.dataset_info())  # one line for a task the data cannot serve
            if cls.tasks_served is not None and name not in cls.tasks_served:
                raise FieldError("tasks", f"{{field}}: the {self.arch} architecture serves "
                                 f"{', '.join(sorted(cls.tasks_served))}, not {name}")
        cls.check_config(self)

    @classmethod
    def for_dataset(cls, dataset: str | DatasetInfo, layer_symbols: tuple[int, ...], arch: str = "klt-refine",
                    tasks: str | None = None, **options: Any) -> JSCCConfig:
        """The config of architecture ``arch`` for images of a dataset (its shape and classes)."""
        from semcomm.data.info import dataset_info

        info = dataset_info(dataset)
        if info.image_shape is None:
            raise ValueError(f"dataset {info.name!r} has images of any size: give the training image shape")
        return cls(arch, info.name, info.image_shape, tuple(layer_symbols), info.class_names, tasks, options or None)

    def dataset_info(self) -> DatasetInfo:
        """The registered description of :attr:`dataset` when there is one with this model's
        channels and classes, else one made from this config (no concepts)."""
        from semcomm.data.info import DATASETS, DatasetInfo

        if self.dataset in DATASETS:
            info = DATASETS.entry(self.dataset)
            if isinstance(info, DatasetInfo) and info.channels == self.image_shape[0] and info.class_names == self.class_names:
                return info
        return DatasetInfo(self.dataset, self.image_shape[0], self.image_shape, self.class_names)

    def layout(self) -> TaskLayout:
        """The tasks of each layer (:class:`semcomm.tasks.TaskLayout`); the default: ``recon``,
        and ``class`` where the images are labelled and the architecture serves it."""
        if self.tasks is None:
            served = architecture(self.arch).tasks_served
            return TaskLayout.default(self.num_layers, labelled=self.class_names is not None and (
                served is None or "class" in served))
        return parse_layout(self.tasks, self.num_layers, tuple(self.dataset_info().concepts))

    @property
    def num_classes(self) -> int:
        return 0 if self.class_names is None else len(self.class_names)

    @property
    def source_values(self) -> int:
        """``n``: real values of an image of :attr:`image_shape`."""
        return math.prod(self.image_shape)

    @property
    def num_layers(self) -> int:
        return len(self.layer_symbols)

    def cumulative_ratios(self) -> list[float]:
        """Bandwidth ratio ``sum_{j<=l} k_j / n`` spent by a receiver of layers ``1..l``."""
        return cumulative_ratios(self.layer_symbols, self.source_values)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON: the fields above and one key per option."""
        base = {"arch": self.arch, "dataset": self.dataset, "image_shape": list(self.image_shape),
                "layer_symbols": list(self.layer_symbols),
                "class_names": None if self.class_names is None else list(self.class_names), "tasks": self.tasks}
        return base | dataclasses.asdict(self.options)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JSCCConfig:
        """The config of :meth:`to_dict`, or of a checkpoint written before architectures owned
        their options (the image shape and classes then come from the registered dataset; an
        old key the architecture does not take must hold its old default)."""
        from semcomm.data.info import dataset_info

        d = dict(d)
        arch = d.pop("arch", "conv")  # checkpoints without the key hold the first architecture
        dataset = d.pop("dataset")
        if "image_shape" not in d:
            info = dataset_info(dataset)
            d["image_shape"], d["class_names"] = info.image_shape, info.class_names
        base = {k: d.pop(k) for k in ("image_shape", "layer_symbols", "class_names", "tasks") if k in d}
        klass = architecture(arch)
        options = klass.legacy_options(d)
        return cls(arch, dataset, tuple(base["image_shape"]), tuple(base["layer_symbols"]),
                   None if base.get("class_names") is None else tuple(base["class_names"]), base.get("tasks"), options)


#: Keys of the flat config written before architectures owned their options, with the value
#: that meant "not used" (an architecture without the option accepts only that).
_LEGACY_UNUSED: dict[str, Any] = {"layer_power": "equal", "proxy_attention": False}


def _make_options(cls: type[JSCCModel], given: Any) -> Any:
    """``given`` (None, a dict or an instance) as an instance of ``cls.Options``."""
    if isinstance(given, cls.Options):
        return given
    values = dict(given or {})
    names = {f.name for f in dataclasses.fields(cls.Options)}
    for key in list(values):
        if key in names:
            continue
        if key == "proxy_weight" and not values.get("proxy_attention", False):  # meant nothing without attention
            values.pop(key)
        elif key in _LEGACY_UNUSED and values[key] == _LEGACY_UNUSED[key]:
            values.pop(key)
    unknown = [k for k in values if k not in names]
    if unknown:
        raise FieldError(unknown[0], f"architecture {cls.key!r} has no option {{field}} "
                                     f"(its options: {', '.join(sorted(names)) or 'none'})")
    try:
        return cls.Options(**values)
    except TypeError as err:
        raise ValueError(f"bad options for architecture {cls.key!r}: {err}") from None


@dataclass
class JSCCOutput:
    """Receiver outputs for layers ``1..L``.

    Attributes:
        recon: ``L`` tensors ``[B_l, C, H, W]`` in [0, 1] (``B_l = B`` unless the model decoded
            chosen layers, then the examples of layer ``l``, in order).
        tasks: ``L`` mappings, task name -> head output ``[B_l, outputs]``, for the head tasks
            of each layer in the model's layout (``"class"``: the logits).
        symbols: the transmitted layers, ``L`` complex tensors ``[B, k_l]`` (energy per symbol
            ``P_l`` each: 1 unless the model splits the frame's power unequally).
        features: ``L`` tensors ``[B_l, F]``, the receiver's pooled feature that the task heads
            read (empty for models that do not expose one).
    """

    recon: list[torch.Tensor]
    tasks: list[dict[str, torch.Tensor]] = field(default_factory=list)
    symbols: list[torch.Tensor] = field(default_factory=list)
    features: list[torch.Tensor] = field(default_factory=list)


class JSCCModel(nn.Module):
    """The base class of every JSCC architecture (module doc).

    Args:
        config: the architecture and its options (``config.arch`` is the subclass's key).

    Attributes:
        key: the registry key (set by :func:`register_architecture`).
        Options: the dataclass of its options.
        decodes_chosen_layers: whether :meth:`forward` takes ``decode_layers`` (one layer per
            example: what ``train``'s ``sample_layers`` needs).
        any_size: whether it takes images of any height and width.
        tasks_served: the receiver-side tasks it can serve (``"recon"`` included), or None for
            any (it builds a head for each head task of its layout).
        description: one line for the help of ``--arch``.
    """

    key: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    decodes_chosen_layers: ClassVar[bool] = False
    any_size: ClassVar[bool] = False
    tasks_served: ClassVar[frozenset[str] | None] = None
    description: ClassVar[str] = ""

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__()
        self.config = config
        self.options = config.options
        self.layout = config.layout()

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def create(cls, config: JSCCConfig, fit_images: Any = None) -> JSCCModel:
        """A fresh model to train. ``fit_images`` gives the training images
        (:class:`semcomm.learn.data.FitImages`) to an architecture with analytic parts fitted on
        them (a KLT); the default ignores it."""
        return cls(config)

    @classmethod
    def check_config(cls, config: JSCCConfig) -> None:
        """Raise a one-line ``ValueError`` for a config this architecture cannot build (e.g. a
        task layout it does not serve); called when the config is made."""

    @classmethod
    def legacy_options(cls, flat: dict[str, Any]) -> dict[str, Any]:
        """The options of a flat config dict that may predate some option (the default: as given)."""
        return flat

    def upgrade_state_dict(self, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The tensors of a checkpoint written by an older version of this architecture, renamed
        to today's names (the default: unchanged)."""
        return weights

    # -- the contract -----------------------------------------------------------------------

    def forward(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str = "perfect",
        generator: torch.Generator | None = None,
        decode_layers: torch.Tensor | None = None,
    ) -> JSCCOutput:
        """Send ``images`` ``[B, C, H, W]`` in [0, 1] over ``channel`` at ``snr_db`` (a number or
        ``[B]``) and decode every layer (``decode_layers`` None) or, with ``decode_layers``
        ``[B]`` (0-based; only if :attr:`decodes_chosen_layers`), that layer of each example.
        Output ``l`` must depend on layers ``1..l`` only."""
        raise NotImplementedError

    def encode_layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The transmitter: images ``[B, C, H, W]`` in [0, 1] -> ``L`` complex layers ``[B, k_l]``."""
        raise NotImplementedError

    def channel_input(self, images: torch.Tensor) -> Any:
        """What the SNR-agnostic transmitter makes of ``images`` before the channel (whatever
        :meth:`from_channel_input` takes): a sweep computes it once per image and reuses it at
        every SNR, channel and CSI mode. The default is the images themselves (no reuse)."""
        return images

    def from_channel_input(self, sent: Any, channel: channels.Channel, snr_db: float | torch.Tensor, csi: str = "perfect",
                           generator: torch.Generator | None = None) -> JSCCOutput:
        """Every layer's outputs from :meth:`channel_input`'s result sent over ``channel``: the
        same as ``forward`` on the images, draw for draw."""
        return self(sent, channel, snr_db, csi=csi, generator=generator)

    def reduced_precision_modules(self) -> list[nn.Module]:
        """The learned networks that may be evaluated in reduced precision (``--precision bf16``,
        :mod:`semcomm.models.precision`): each runs its ``forward`` under autocast and returns
        float32. Only networks whose outputs the model then treats in float32 belong here (not
        power normalisation or the channel). Default: none (the architecture runs in float32 only)."""
        return []

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches (what gradient-combining weightings look
        at); default: all of them."""
        return list(self.parameters())

    def task_loss(self, name: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of task ``name``'s head output (default: the task's own loss)."""
        return get_task(name, self.config.dataset_info()).loss(prediction, target)

    def training_losses(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None,
        channel: channels.Channel,
        snr_db: torch.Tensor,
        csi: str,
        decode_layers: torch.Tensor | None,
        generator: torch.Generator,
        objective: Objective,
    ) -> TaskLosses:
        """One training step's losses, keyed by (task, layer): send the batch ``images``
        ``[B, C, H, W]`` at the per-example SNRs ``snr_db`` ``[B]``, decode every layer or
        ``decode_layers`` ``[B]``, and score each layer's outputs (``objective``). An
        architecture with a rule of its own overrides this."""
        chosen = {} if decode_layers is None else {"decode_layers": decode_layers}
        out = self(images, channel, snr_db, csi=csi, generator=generator, **chosen)
        return objective.losses(self, out, images, labels, decode_layers)

    # -- images -----------------------------------------------------------------------------

    def check_images(self, shape: tuple[int, ...]) -> None:
        """Raise a one-line ``ValueError`` if the model cannot send images of ``shape`` ``(C, H, W)``."""
        c, h, w = self.config.image_shape
        if len(shape) != 3 or shape[0] != c:
            raise ValueError(f"{self.key} model for {self.config.dataset} takes {c}-channel images, not {tuple(shape)}")
        if not self.any_size and tuple(shape) != self.config.image_shape:
            raise ValueError(f"the {self.key} architecture takes {c}x{h}x{w} images only, not {'x'.join(map(str, shape))}")

    def channel_uses(self, shape: tuple[int, int, int]) -> list[int]:
        """Complex channel uses of each layer for one image of ``shape`` (default: the
        configured ones, for the one size the model takes)."""
        self.check_images(shape)
        return list(self.config.layer_symbols)

    def classify_noiseless(self, images: torch.Tensor) -> torch.Tensor:
        """The top layer's ``class`` head on ``images`` ``[B, C, H, W]`` sent without noise:
        logits ``[B, classes]`` (what scores the SSCC and linear images). The default sends
        them over AWGN at 100 dB with a fixed generator; an architecture may do it exactly."""
        awgn = channels.get("awgn")
        g = torch.Generator(device=images.device).manual_seed(0)
        top = torch.full((images.shape[0],), self.config.num_layers - 1, device=images.device)
        chosen = {"decode_layers": top} if self.decodes_chosen_layers else {}
        return self(images, awgn, 100.0, csi="perfect", generator=g, **chosen).tasks[-1]["class"]


def build_model(config: JSCCConfig, fit_images: Any = None, fresh: bool = False) -> JSCCModel:
    """The model ``config.arch`` names: fresh for training (analytic parts fitted on
    ``fit_images``), or empty, for a checkpoint's weights to fill.

    Raises:
        ValueError: one line listing the known architectures, for an unknown key.
    """
    cls = architecture(config.arch)
    return cls.create(config, fit_images) if fresh else cls(config)
