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
    """Wraps a JSCC model; one :class:`LayerResult` per layer.

    The model is a :class:`~semcomm.models.JSCCModel` (any registered architecture) or any
    ``nn.Module`` whose ``forward(images, channel, snr_db, csi=..., generator=...)`` returns a
    :class:`~semcomm.models.JSCCOutput` with the sent ``symbols`` of every layer (they tell the
    channel uses, so the bandwidth ratio of each layer is measured, not declared).

    Args:
        model: the model (put in eval mode).
        name: label in results files and plots (:func:`load_method` names it after its source).
        source: where the model came from (pretrained name, run directory or file).
        sha256: hex digest of the checkpoint file: what identifies the model in results files,
            so a resumed sweep never mixes two models saved under one name or path.
        dataset: what the model was trained on (default: its config's).
        class_names: the classes its ``class`` head predicts (default: its config's).
    """

    def __init__(self, model: nn.Module, name: str = "jscc", source: str | None = None, sha256: str | None = None,
                 dataset: str | None = None, class_names: tuple[str, ...] | None = None) -> None:
        self.model = model.eval()
        self.name = name
        self.source = source
        self.sha256 = sha256
        config = getattr(model, "config", None)
        self.dataset = dataset or getattr(config, "dataset", "images")
        self.class_names = class_names if class_names is not None else getattr(config, "class_names", None)

    @property
    def ratio(self) -> float:
        """Bandwidth ratio of the whole model (all layers) on images of its training size."""
        return self.model.config.cumulative_ratios()[-1]

    def layer_ratios(self) -> tuple[float, ...]:
        """Bandwidth ratio ``k_l / n`` of each layer on images of its training size."""
        n = self.model.config.source_values
        return tuple(k / n for k in self.model.config.layer_symbols)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source, "sha256": self.sha256}
        return out | ({"ratio": self.ratio} if hasattr(self.model, "config") else {})

    def check_images(self, shape: tuple[int, int, int]) -> None:
        check = getattr(self.model, "check_images", None)
        if check is not None:
            check(tuple(shape))

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
        n = images[0].numel()
        if out.symbols:
            uses = [int(s.shape[-1]) for s in out.symbols]
        elif hasattr(self.model, "channel_uses"):
            uses = self.model.channel_uses(tuple(images.shape[1:]))
        else:
            raise ValueError(f"model {self.name!r} returned no sent symbols (JSCCOutput.symbols): they give its channel uses")
        ratios = [sum(uses[: l + 1]) / n for l in range(len(uses))]
        return [LayerResult(recon=r, ratio=q, tasks=dict(tasks)) for r, q, tasks in zip(out.recon, ratios, out.tasks or [{}] * len(ratios))]

    @property
    def has_classifier(self) -> bool:
        """Whether the top layer was trained for the class (``class`` among the top layer's
        tasks): only then does :meth:`classify` mean anything."""
        layout = getattr(self.model, "layout", None)
        return layout is not None and "class" in layout.layers[-1]

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """The top layer's ``class`` head on ``images`` ``[B, C, H, W]`` sent over a noiseless
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
