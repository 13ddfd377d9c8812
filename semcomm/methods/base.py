"""The one interface shared by every transmission method (JSCC models, SSCC pipelines, bounds).

The sweep runner, the metrics, the results file and the plots know only this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch

import channels

__all__ = ["LayerResult", "Method"]


@dataclass
class LayerResult:
    """What the receiver has after one layer (a single-layer method returns one of these).

    Attributes:
        recon: reconstructed images, float ``[B, C, H, W]`` in [0, 1].
        ratio: bandwidth ratio ``k / n`` spent up to and including this layer on these images
            (complex channel uses per real source value).
        tasks: the outputs ``[B, outputs]`` of the layer's receiver-side task heads, by task
            name (:mod:`semcomm.tasks`; ``"class"``: the class logits); the sweep scores each
            against its target.
        extras: method-specific per-batch numbers (e.g. ``bits``, ``bler``).
    """

    recon: torch.Tensor
    ratio: float
    tasks: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """A way to send images over a channel.

    Any object with this interface runs through a sweep (:class:`semcomm.sweep.SweepPlan`) next
    to the built-in methods; a registered one (:data:`semcomm.methods.METHODS`, or an installed
    package's entry point in the group ``semcomm.methods``) is also found by name.

    Attributes:
        name: label used in results files and plots (e.g. ``"cifar10-l3"``, ``"hevc+ldpc"``).
        dataset: the dataset the method was built for (a JSCC model's training data; the
            images' dataset for the others).
        class_names: the classes its ``class`` outputs refer to (None: it outputs none); the
            sweep scores label tasks only on images labelled with these classes.
        layered: whether the method's results are layers of a multi-resolution system (numbered
            1..L in results files) or one reconstruction (``layer`` null).
        adaptive: whether the transmitter picks its rate for an SNR (digital links; see
            :meth:`designed_for`), or sends the same symbols whatever the SNR (analog, JSCC).
    """

    name: str
    dataset: str
    class_names: tuple[str, ...] | None = None
    layered: bool = True
    adaptive: bool = False

    def describe(self) -> dict[str, Any]:
        """What identifies this method in a results file's config (its name and settings)."""
        return {"name": self.name}

    def to(self, device: torch.device | str) -> Method:
        """This method with its tensors (a model's weights, a KLT) on ``device``; returns
        itself (the default: a method without tensors of its own)."""
        return self

    def check_images(self, shape: tuple[int, int, int]) -> None:
        """Raise a one-line ``ValueError`` if the method cannot send images of ``shape``
        ``(C, H, W)`` (called for every image size of a sweep before any work; default: any)."""

    def check(self, channel: channels.Channel, csi: str) -> None:
        """Raise a one-line ``ValueError`` if the method cannot run over ``channel`` with the
        receiver CSI mode ``csi`` (called for every point of a sweep before any work)."""
        channels.check_csi(csi, channel)

    def designed_for(self, snr_db: list[float]) -> Method:
        """The method whose transmitter is set up for the design SNRs ``snr_db`` (dB, one per
        layer; one for a single-stream method) of a broadcast, whatever SNR each receiver then
        sees. An SNR-agnostic transmitter (analog, JSCC) is its own design: the default."""
        return self

    @abstractmethod
    def transmit(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> list[LayerResult]:
        """Send a batch and return what the receiver reconstructs, one entry per layer.

        Args:
            images: float ``[B, C, H, W]`` in [0, 1] (one size per call; sizes may differ
                between calls).
            channel: the channel (from :func:`channels.get`).
            snr_db: Es/N0 in dB, a number or ``[B]``.
            csi: receiver CSI mode (:data:`channels.CSI_MODES`).
            generator: the source of every random draw.
        """
