"""Multi-resolution SSCC: the digital baselines layered like a multi-resolution JSCC model.

Layer ``l`` of the JSCC model it is compared with has ``k_l`` complex channel uses; the receiver
of layers ``1..l`` holds ``k_1 + ... + k_l`` of them. Two ways to spend them digitally:

- :class:`OracleSSCC` (``<codec>+<link>/oracle``): layer ``l`` is an *independent* encoding of
  the image (codec + link, :class:`~semcomm.methods.sscc.SSCCMethod`) over the cumulative
  ``k_1 + ... + k_l`` uses. No single stream can be optimal at every prefix, so this is an
  upper bound for every scalable codec over that link; it is not realisable as one
  transmission (the layers would need ``sum_l (k_1 + ... + k_l)`` uses in all).
- :class:`ScalableSSCC` (``jpeg2000-layers+<link>``): one realisable stream per image. Its
  JPEG 2000 quality layers (:class:`~semcomm.codecs.layered_jpeg2000.LayeredJPEG2000`) are cut
  into per-layer chunks, chunk ``l`` crossing the link in layer ``l``'s ``k_l`` uses with its own
  rate (MCS). The receiver of layers ``1..l`` decodes the chunks it holds up to the first lost
  one; with no usable chunk it outputs the fallback (the training split's mean image).

Both pick each layer's rate for the point's SNR in a sweep, or for a design SNR per layer in a
broadcast (:meth:`designed_for`). Each layer crosses the channel in its own call: with block
fading and no ``--block-len``, each layer of an image sees its own fade (a JSCC model's layers
share one); ``--block-len k_l`` gives every method one fade per ``k_l`` uses.

Accuracy comes from the same classifier as for single-stream SSCC.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import channels
from semcomm.codecs import get as get_codec
from semcomm.codecs.layered_jpeg2000 import LayeredJPEG2000, length_bits
from semcomm.data import DATASETS, train_mean_image
from semcomm.data.base import check_choice
from semcomm.links import BitLink, get_link, scalar_snr
from semcomm.methods.base import LayerResult, Method
from semcomm.methods.sscc import SSCCMethod, classify_with_fallback
from semcomm.models.multires_jscc import cumulative_ratios

__all__ = ["OracleSSCC", "ScalableSSCC"]

Classifier = Callable[[torch.Tensor], torch.Tensor]


def _check_designs(name: str, designs: list[float], layers: int) -> list[float]:
    if len(designs) != layers:
        raise ValueError(f"{name} has {layers} layers: give {layers} design SNRs (one per layer), got {len(designs)}")
    return [float(d) for d in designs]


class OracleSSCC(Method):
    """An independent codec + link encoding per cumulative budget (an upper bound).

    Args:
        codec: codec name.
        link: link name.
        dataset: ``"mnist"`` or ``"cifar10"``.
        layer_symbols: complex channel uses ``k_l`` of each layer.
        classifier, classifier_name: as for :class:`SSCCMethod`.
    """

    adaptive = True

    def __init__(self, codec: str, link: str, dataset: str, layer_symbols: tuple[int, ...],
                 classifier: Classifier | None = None, classifier_name: str | None = None) -> None:
        self.dataset = check_choice("dataset", dataset, DATASETS)
        shared = get_codec(codec)  # one codec instance: each image is encoded once for every layer
        n = int(np.prod(train_mean_image(dataset).shape))
        self.layer_symbols = tuple(layer_symbols)
        self.layers = [
            SSCCMethod(shared, link, dataset, ratio, classifier=classifier, classifier_name=classifier_name)
            for ratio in cumulative_ratios(self.layer_symbols, n)
        ]
        self.name = f"{self.layers[0].name}/oracle"

    def describe(self) -> dict[str, Any]:
        first = self.layers[0].describe()
        designs = [m.design_snr_db for m in self.layers]
        return {"name": self.name, "codec": first["codec"], "link": first["link"], "layering": "oracle",
                "layer_symbols": list(self.layer_symbols), "classifier": first["classifier"]} | (
            {} if designs[0] is None else {"design_snr_db": designs})

    def check(self, channel: channels.Channel, csi: str) -> None:
        self.layers[0].check(channel, csi)

    def designed_for(self, snr_db: list[float]) -> OracleSSCC:
        """Layer ``l``'s stream at the rate for ``snr_db[l]``."""
        designs = _check_designs(self.name, snr_db, len(self.layers))
        designed = copy.copy(self)
        designed.layers = [m.designed_for([d]) for m, d in zip(self.layers, designs)]
        return designed

    def transmit(self, images: torch.Tensor, channel: channels.Channel, snr_db: float | torch.Tensor, csi: str,
                 generator: torch.Generator | None = None) -> list[LayerResult]:
        """Each layer's encoding over its cumulative uses: ``L`` results with the extras of
        :meth:`SSCCMethod.transmit`."""
        return [m.transmit(images, channel, snr_db, csi, generator)[0] for m in self.layers]


class ScalableSSCC(Method):
    """One scalable JPEG 2000 stream per image, chunk ``l`` over layer ``l``'s uses and rate.

    Args:
        link: link name (each layer has its own instance with ``k_l`` uses).
        dataset: ``"mnist"`` or ``"cifar10"``.
        layer_symbols: complex channel uses ``k_l`` of each layer.
        classifier, classifier_name: as for :class:`SSCCMethod`.
    """

    adaptive = True

    def __init__(self, link: str, dataset: str, layer_symbols: tuple[int, ...],
                 classifier: Classifier | None = None, classifier_name: str | None = None) -> None:
        self.dataset = check_choice("dataset", dataset, DATASETS)
        self.mean_image = torch.from_numpy(train_mean_image(dataset))  # [C, H, W]
        self.layer_symbols = tuple(layer_symbols)
        self.links: list[BitLink] = [get_link(link, n_uses=k) for k in self.layer_symbols]
        self.codec = LayeredJPEG2000()
        self.classifier = classifier
        self.classifier_name = classifier_name
        self.design_snr_db: list[float] | None = None
        self.name = f"{self.codec.name}+{self.links[0].name}"
        self.ratios = cumulative_ratios(self.layer_symbols, self.mean_image.numel())

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "codec": self.codec.name, "link": self.links[0].name, "layering": "scalable",
                "layer_symbols": list(self.layer_symbols), "classifier": self.classifier_name} | (
            {} if self.design_snr_db is None else {"design_snr_db": self.design_snr_db})

    def check(self, channel: channels.Channel, csi: str) -> None:
        self.links[0].check(channel, csi)

    def designed_for(self, snr_db: list[float]) -> ScalableSSCC:
        """Chunk ``l`` at the rate for ``snr_db[l]``."""
        designed = copy.copy(self)
        designed.design_snr_db = _check_designs(self.name, snr_db, len(self.links))
        return designed

    def transmit(self, images: torch.Tensor, channel: channels.Channel, snr_db: float | torch.Tensor, csi: str,
                 generator: torch.Generator | None = None) -> list[LayerResult]:
        """Send ``images`` ``[B, C, H, W]``; ``L`` results, layer ``l`` with ``extras``:
        ``budget_bits`` (layer ``l``'s link budget), ``bits`` (mean bits its chunk spends, length
        field included; 0 for an empty chunk), ``delivered`` (fraction of images whose chunk
        ``l`` arrived; an empty chunk counts as arrived), ``decoded`` (fraction whose receiver
        of layers ``1..l`` holds every chunk of those layers and decodes an image) and ``link``
        (layer ``l``'s rate)."""
        snr = scalar_snr(snr_db)
        designs = self.design_snr_db or [snr] * len(self.links)
        plans = [link.plan(channel, d, csi) for link, d in zip(self.links, designs)]
        budgets = [p.info_bits for p in plans]
        pixels = torch.round(images.detach().clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        encodings = [self.codec.encode(image, budgets) for image in pixels]
        streams = [self.codec.stream_bits(e, budgets) for e in encodings]  # per image, per layer
        received = []  # per layer: bool [B], the chunk arrived (an empty chunk "arrives")
        for l, (link, plan) in enumerate(zip(self.links, plans)):
            sent = np.array([len(e.chunks[l]) > 0 for e in encodings])
            ok = np.ones(len(encodings), dtype=bool)
            if sent.any():
                bits = torch.from_numpy(np.stack([stream[l] for stream in streams]))
                ok = ~sent | link.send(bits, plan, channel, snr, csi, generator=generator).cpu().numpy()
            received.append(ok)
        received_per_image = np.stack(received, axis=1)  # [B, L]
        results = []
        for l in range(len(self.links)):
            decoded = [self.codec.decode(e, r, l + 1) for e, r in zip(encodings, received_per_image)]
            got = torch.tensor([d is not None for d in decoded])
            recon = self.mean_image.expand(len(decoded), -1, -1, -1).clone()
            if bool(got.any()):
                arrays = np.stack([d for d in decoded if d is not None]).transpose(0, 3, 1, 2)
                recon[got] = torch.from_numpy(arrays).float() / 255.0
            recon = recon.to(images.device)
            complete = received_per_image[:, : l + 1].all(axis=1)
            chunk_bits = [8 * len(e.chunks[l]) + (length_bits(budgets[l]) if e.chunks[l] else 0) for e in encodings]
            extras = {
                "budget_bits": budgets[l],
                "bits": float(np.mean(chunk_bits)),
                "delivered": float(received[l].mean()),
                "decoded": float((complete & got.numpy()).mean()),
                "link": plans[l].label,
            }
            logits = None if self.classifier is None else classify_with_fallback(
                self.classifier, self.mean_image, recon, got.to(recon.device))
            results.append(LayerResult(recon=recon, logits=logits, ratio=self.ratios[l], extras=extras))
        return results
