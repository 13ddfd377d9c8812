"""Receiver-side tasks: what a decoder layer is trained for and scored on, besides the image.

A :class:`Task` owns its target (from the label, or computed from the source image at the
transmitter), the size of its head's output, its loss and its per-example scores; a registry
(:data:`TASKS`) finds it by name, and a :class:`TaskLayout` says which tasks sit at which
resolution layer. ``recon`` (the reconstruction itself) is a task name of the layout but not a
:class:`Task`: every layer always outputs its image, and ``recon`` in a layer's list says that
the layer's distortion is part of the training loss.

A task is built for a dataset's description (:class:`~semcomm.data.DatasetInfo`: its classes,
concepts and channels). A new task is one module: a :class:`Task` subclass and one
``TASKS.register`` call, or an installed package's entry point in the group ``semcomm.tasks``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

from semcomm.registry import Registry

if TYPE_CHECKING:
    from semcomm.data.info import DatasetInfo

__all__ = ["RECON", "TASKS", "Task", "TaskLayout", "parse_layout"]

#: The layout's name for the reconstruction task (the layer's distortion in the loss).
RECON = "recon"


class Task(ABC):
    """One receiver-side task, evaluated on a decoder layer's pooled features.

    Attributes:
        name: registry name (``"class"``, ``"coarse2"``, ``"edges"``, ...).
        metric: the name of the score that sums it up (a key of :meth:`scores`), drawn in its
            plot panel.
        metric_label: the panel's axis label.
        higher_is_better: whether a larger :attr:`metric` is better.
        needs_labels: whether the target comes from the class labels (such a task is refused
            on images without labels).

    Args:
        dataset: the description of the images the task is trained and scored on.
    """

    name: ClassVar[str]
    metric: ClassVar[str]
    metric_label: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    needs_labels: ClassVar[bool] = False

    def __init__(self, dataset: DatasetInfo) -> None:
        self.dataset = dataset

    @property
    @abstractmethod
    def outputs(self) -> int:
        """Width of the head's output for this task."""

    @abstractmethod
    def target(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The target of each example, from the source images ``[B, C, H, W]`` in [0, 1] and the
        labels ``[B]`` (None for images without labels): class indices ``[B]`` or values
        ``[B, outputs]``."""

    @abstractmethod
    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar training loss of head outputs ``[B, outputs]`` against :meth:`target`."""

    @abstractmethod
    def scores(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example scores ``{name: [B]}`` (a results file holds their means)."""


TASKS: Registry[Task] = Registry("task", group="semcomm.tasks", package="semcomm.tasks")


@dataclass(frozen=True)
class TaskLayout:
    """The tasks of each resolution layer: ``layers[l]`` lists layer ``l + 1``'s, ``recon``
    included when the layer's distortion is trained.

    ``TaskLayout.default(L)`` is what every model before task plugins was trained for:
    ``recon`` and ``class`` at every layer; ``TaskLayout.default(L, labelled=False)`` is
    ``recon`` alone (images without labels).
    """

    layers: tuple[tuple[str, ...], ...]

    @classmethod
    def default(cls, num_layers: int, labelled: bool = True) -> TaskLayout:
        return cls(tuple((RECON, "class") if labelled else (RECON,) for _ in range(num_layers)))

    def head_tasks(self) -> list[str]:
        """Every task with a head (all but ``recon``), in first-appearance order."""
        return list(dict.fromkeys(t for layer in self.layers for t in layer if t != RECON))

    def spec(self) -> str:
        """The ``--tasks`` string of this layout (``"1:recon,class;2:..."``)."""
        return ";".join(f"{l + 1}:{','.join(tasks)}" for l, tasks in enumerate(self.layers))


_LAYER = re.compile(r"^\s*(\d+)\s*:\s*([A-Za-z0-9_\-]+(?:\s*,\s*[A-Za-z0-9_\-]+)*)\s*$")


def parse_layout(spec: str, num_layers: int, concepts: tuple[str, ...] = ()) -> TaskLayout:
    """``"1:coarse2,recon;2:coarse4,recon;3:class,recon"`` -> :class:`TaskLayout`.

    Every layer ``1..num_layers`` is given once, with registered task names, the dataset's
    ``concepts`` or ``recon``.

    Raises:
        ValueError: one line, for a string that does not parse, an unknown task, a layer that
            does not exist, one given twice or one left out.
    """
    example = "e.g. '1:coarse2,recon;2:coarse4,recon;3:class,recon'"
    layers: dict[int, tuple[str, ...]] = {}
    for part in spec.split(";"):
        match = _LAYER.match(part)
        if match is None:
            raise ValueError(f"bad --tasks {spec!r}: expected LAYER:TASK[,TASK...] per layer, separated by ';', {example}")
        layer = int(match.group(1))
        if not 1 <= layer <= num_layers:
            raise ValueError(f"--tasks puts tasks on layer {layer}, but the model has layers 1..{num_layers}")
        if layer in layers:
            raise ValueError(f"--tasks gives layer {layer} twice")
        names = tuple(dict.fromkeys(n.strip() for n in match.group(2).split(",")))
        for name in names:
            if name != RECON and name not in TASKS and name not in concepts:
                known = list(dict.fromkeys([RECON, *TASKS.names(), *concepts]))
                raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(known)}")
        layers[layer] = names
    missing = [l for l in range(1, num_layers + 1) if l not in layers]
    if missing:
        raise ValueError(f"--tasks gives no task for layer {missing[0]}; give every layer 1..{num_layers}, {example}")
    return TaskLayout(tuple(layers[l] for l in range(1, num_layers + 1)))
