"""The multi-resolution JSCC model as a :class:`~semcomm.methods.base.Method`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

import channels
from semcomm.methods.base import LayerResult, Method
from semcomm.models.checkpoint import MODEL_FILE, load_checkpoint, pretrained_names, resolve_checkpoint

__all__ = ["JSCCMethod", "default_name", "load_method"]


class JSCCMethod(Method):
    """Wraps a trained JSCC model (any architecture); one :class:`LayerResult` per layer.

    Args:
        model: the model (put in eval mode).
        name: label in results files and plots (:func:`load_method` names it after its source).
        source: where the model came from (pretrained name, run directory or file).
        sha256: hex digest of the checkpoint file: what identifies the model in results files,
            so a resumed sweep never mixes two models saved under one name or path.
    """

    def __init__(self, model: nn.Module, name: str = "jscc", source: str | None = None, sha256: str | None = None) -> None:
        self.model = model.eval()
        self.name = name
        self.source = source
        self.sha256 = sha256
        self.dataset = model.config.dataset

    @property
    def ratio(self) -> float:
        """Bandwidth ratio of the whole model (all layers)."""
        return self.model.config.cumulative_ratios()[-1]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256, "ratio": self.ratio}

    def transmit(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> list[LayerResult]:
        with torch.inference_mode():
            out = self.model(images, channel, snr_db, csi=csi, generator=generator)
        ratios = self.model.config.cumulative_ratios()
        return [
            LayerResult(recon=r, logits=lg if "class" in tasks else None, ratio=q,
                        tasks={name: pred for name, pred in tasks.items() if name != "class"})
            for r, lg, q, tasks in zip(out.recon, out.logits, ratios, out.tasks)
        ]

    @property
    def has_classifier(self) -> bool:
        """Whether the top layer was trained for the class (the default layout, or ``class``
        among the top layer's tasks): only then does :meth:`classify` mean anything."""
        return "class" in self.model.config.layout().layers[-1]

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The top layer's semantic head on ``images`` ``[B, C, H, W]`` sent over a noiseless
        link (received symbols = sent symbols, error variance 0): logits ``[B, classes]``.

        This is the classifier the SSCC baselines are scored with, so that their accuracy and
        the JSCC layers' accuracy come from the same network."""
        with torch.inference_mode():
            return self.model.classify_noiseless(images.float())


def default_name(source: str) -> str:
    """The label of a JSCC model in results files and plots: the pretrained name
    (``"cifar10-l3"``), the run directory's name (``runs/big`` -> ``"big"``), or for a weights
    file its run directory's name, with the file's stem unless it is ``model``
    (``runs/big/best.safetensors`` -> ``"big/best"``)."""
    if source in pretrained_names():
        return source
    path = Path(source)
    if path.is_dir() or path.suffix != ".safetensors":
        return path.resolve().name
    run = path.resolve().parent.name
    return run if path.stem == Path(MODEL_FILE).stem else f"{run}/{path.stem}"


def load_method(source: str, name: str | None = None) -> JSCCMethod:
    """A JSCC method from a pretrained name (e.g. ``"mnist-l3"``), a run directory or a
    ``.safetensors`` file, labelled ``name`` (default: :func:`default_name`). Raises a one-line
    ``ValueError`` if there is no such checkpoint."""
    try:
        model, _ = load_checkpoint(source)
    except ValueError as err:
        raise ValueError(f"{err}; or a method name ({', '.join(_method_names())})") from None
    digest = hashlib.sha256(resolve_checkpoint(source).read_bytes()).hexdigest()
    return JSCCMethod(model, name=name or default_name(source), source=source, sha256=digest)


def _method_names() -> list[str]:
    from semcomm.methods.registry import method_names  # the registry imports this module

    return method_names()
