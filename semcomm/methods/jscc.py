"""The multi-resolution JSCC model as a :class:`~semcomm.methods.base.Method`."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

import channels
from semcomm.methods.base import LayerResult, Method
from semcomm.models.base import JSCCModel
from semcomm.models.checkpoint import MODEL_FILE, load_checkpoint_with_digest, pretrained_names
from semcomm.models.precision import check_precision, set_precision

__all__ = ["ENCODED_BATCHES", "JSCCMethod", "default_name", "load_method"]

#: Batches of images whose encoding a :class:`JSCCMethod` keeps for reuse (a sweep visits every
#: batch once per point: 64 keeps a 10,000-image test set in batches of 256, about 40 MB for
#: ``cifar10-l3``).
ENCODED_BATCHES = 64


def _batch_key(images: torch.Tensor) -> bytes:
    """A digest of a batch: its shape, dtype, device and values."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(images.shape), str(images.dtype), str(images.device))).encode())
    h.update(images.detach().contiguous().cpu().numpy().tobytes())
    return h.digest()


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
        precision: ``"fp32"`` (as trained) or ``"bf16"`` (the architecture's CNNs under bfloat16
            autocast, :mod:`semcomm.models.precision`); a results file keeps the two apart.
    """

    def __init__(self, model: nn.Module, name: str = "jscc", source: str | None = None, sha256: str | None = None,
                 dataset: str | None = None, class_names: tuple[str, ...] | None = None, precision: str = "fp32") -> None:
        self.model = model.eval()
        set_precision(model, precision)
        self.precision = precision
        if isinstance(model, JSCCModel):  # convolutions in channels-last layout: 1.2-1.5x on CPU (last-bit rounding)
            model.to(memory_format=torch.channels_last)
        self.name = name
        self.source = source
        self.sha256 = sha256
        config = getattr(model, "config", None)
        self.dataset = dataset or getattr(config, "dataset", "images")
        self.class_names = class_names if class_names is not None else getattr(config, "class_names", None)
        self._encoded: OrderedDict[bytes, Any] = OrderedDict()  # the transmitter's output per batch of images

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
        out |= {"precision": self.precision} if self.precision != "fp32" else {}  # fp32 files of earlier versions resume
        return out | ({"ratio": self.ratio} if hasattr(self.model, "config") else {})

    def to(self, device: torch.device | str) -> JSCCMethod:
        self.model.to(device)
        self._encoded.clear()
        return self

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
            out = self._send(images, channel, snr_db, csi, generator)
        n = images[0].numel()
        if out.symbols:
            uses = [int(s.shape[-1]) for s in out.symbols]
        elif hasattr(self.model, "channel_uses"):
            uses = self.model.channel_uses(tuple(images.shape[1:]))
        else:
            raise ValueError(f"model {self.name!r} returned no sent symbols (JSCCOutput.symbols): they give its channel uses")
        ratios = [sum(uses[: l + 1]) / n for l in range(len(uses))]
        return [LayerResult(recon=r, ratio=q, tasks=dict(tasks)) for r, q, tasks in zip(out.recon, ratios, out.tasks or [{}] * len(ratios))]

    def _send(self, images: torch.Tensor, channel: channels.Channel, snr_db: float | torch.Tensor, csi: str,
              generator: torch.Generator | None) -> Any:
        """The model's outputs; a :class:`~semcomm.models.JSCCModel`'s SNR-agnostic transmitter
        runs once per batch of images (kept for the next :data:`ENCODED_BATCHES` batches' reuse at
        other SNRs, channels and CSI modes: the same numbers, draw for draw)."""
        if not isinstance(self.model, JSCCModel):
            return self.model(images, channel, snr_db, csi=csi, generator=generator)
        key = _batch_key(images)
        sent = self._encoded.get(key)
        if sent is None:
            sent = self.model.channel_input(images)
            self._encoded[key] = sent
            while len(self._encoded) > ENCODED_BATCHES:
                self._encoded.popitem(last=False)
        else:
            self._encoded.move_to_end(key)
        return self.model.from_channel_input(sent, channel, snr_db, csi=csi, generator=generator)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_encoded": OrderedDict()}  # a copy (a Dask worker) encodes afresh

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


def load_method(source: str, name: str | None = None, precision: str = "fp32") -> JSCCMethod:
    """A JSCC method from a pretrained name (e.g. ``"mnist-l3"``), a run directory or a
    ``.safetensors`` file, labelled ``name`` (default: :func:`default_name`), evaluated at
    ``precision``. Raises a one-line ``ValueError`` if there is no such checkpoint."""
    check_precision(precision)
    try:
        model, _, digest = load_checkpoint_with_digest(source)
    except ValueError as err:
        raise ValueError(f"{err}; or a method name ({', '.join(_method_names())})") from None
    return JSCCMethod(model, name=name or default_name(source), source=source, sha256=digest, precision=precision)


def _method_names() -> list[str]:
    from semcomm.methods.registry import method_names  # the registry imports this module

    return method_names()
