"""The multi-resolution JSCC model as a :class:`~semcomm.methods.base.Method`."""

from __future__ import annotations

import torch

import channels
from semcomm.methods.base import LayerResult, Method
from semcomm.models.checkpoint import load_checkpoint
from semcomm.models.multires_jscc import MultiResJSCC

__all__ = ["JSCCMethod", "load_method"]


class JSCCMethod(Method):
    """Wraps a trained :class:`MultiResJSCC`; one :class:`LayerResult` per layer.

    Args:
        model: the model (put in eval mode).
        name: label in results files (default ``"jscc"``).
    """

    def __init__(self, model: MultiResJSCC, name: str = "jscc") -> None:
        self.model = model.eval()
        self.name = name
        self.dataset = model.config.dataset

    def transmit(
        self,
        images: torch.Tensor,
        channel: channels.FlatChannel,
        snr_db: float | torch.Tensor,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> list[LayerResult]:
        with torch.inference_mode():
            out = self.model(images, channel, snr_db, csi=csi, generator=generator)
        ratios = self.model.config.cumulative_ratios()
        return [LayerResult(recon=r, logits=lg, ratio=q) for r, lg, q in zip(out.recon, out.logits, ratios)]


def load_method(source: str) -> JSCCMethod:
    """A JSCC method from a pretrained name (e.g. ``"mnist-l3"``), a run directory or a
    ``.safetensors`` file. Raises a one-line ``ValueError`` if there is no such checkpoint."""
    try:
        model, _ = load_checkpoint(source)
    except ValueError as err:
        raise ValueError(f"{err}; or a method name ({', '.join(_method_names())})") from None
    return JSCCMethod(model)


def _method_names() -> list[str]:
    from semcomm.methods.registry import method_names  # the registry imports this module

    return method_names()
