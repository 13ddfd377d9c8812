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
broadcast (:meth:`designed_for`). Layers are given as bandwidth ratios ``k_l / n``, so each image
is coded at its own size with ``round(k_l / n * C H W)`` uses per layer. Each layer crosses the channel in its own call: with block
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
from semcomm.data import DatasetInfo, dataset_info
from semcomm.links import BitLink, get_link, scalar_snr
from semcomm.methods.base import LayerResult, Method
from semcomm.methods.sscc import SSCCMethod, classify_with_fallback
from semcomm.models.base import symbols_for_ratio

__all__ = ["OracleSSCC", "ScalableSSCC"]

Classifier = Callable[[torch.Tensor], torch.Tensor]


def _check_designs(name: str, designs: list[float], layers: int) -> list[float]:
    if len(designs) != layers:
        raise ValueError(f"{name} has {layers} layers: give {layers} design SNRs (one per layer), got {len(designs)}")
    return [float(d) for d in designs]


def _cumulative(layer_ratios: tuple[float, ...]) -> list[float]:
    return [sum(layer_ratios[: l + 1]) for l in range(len(layer_ratios))]


def _check_ratios(layer_ratios: tuple[float, ...]) -> tuple[float, ...]:
    """The layers' bandwidth ratios, each a number in (0, 1] (one-line error otherwise)."""
    bad = [r for r in layer_ratios if not (isinstance(r, (int, float)) and 0 < r <= 1)]
    if not layer_ratios or bad:
        raise ValueError(f"layer ratios k_l/n must each lie in (0, 1], got {list(layer_ratios)}")
    return tuple(float(r) for r in layer_ratios)


class OracleSSCC(Method):
    """An independent codec + link encoding per cumulative budget (an upper bound).

    Args:
        codec: codec name.
        link: link name.
        dataset: the images' dataset (a registered name or a description).
        layer_ratios: bandwidth ratio ``k_l / n`` of each layer.
        classifier, classifier_name, class_names: as for :class:`SSCCMethod`.
    """

    adaptive = True

    def __init__(self, codec: str, link: str, dataset: str | DatasetInfo, layer_ratios: tuple[float, ...],
                 classifier: Classifier | None = None, classifier_name: str | None = None,
                 class_names: tuple[str, ...] | None = None) -> None:
        info = dataset_info(dataset)
        self.dataset = info.name
        shared = get_codec(codec)  # one codec instance: each image is encoded once for every layer
        self.layer_ratios = _check_ratios(tuple(layer_ratios))
        self.layers = [
            SSCCMethod(shared, link, info, ratio, classifier=classifier, classifier_name=classifier_name,
                       class_names=class_names)
            for ratio in _cumulative(self.layer_ratios)
        ]
        self.class_names = self.layers[0].class_names
        self.name = f"{self.layers[0].name}/oracle"

    def describe(self) -> dict[str, Any]:
        first = self.layers[0].describe()
        designs = [m.design_snr_db for m in self.layers]
        return {"name": self.name, "codec": first["codec"], "link": first["link"], "layering": "oracle",
                "layer_ratios": list(self.layer_ratios), "classifier": first["classifier"]} | (
            {} if designs[0] is None else {"design_snr_db": designs})

    def check_images(self, shape: tuple[int, int, int]) -> None:
        for layer in self.layers:
            layer.check_images(shape)

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
        dataset: the images' dataset (a registered name or a description).
        layer_ratios: bandwidth ratio ``k_l / n`` of each layer.
        classifier, classifier_name, class_names: as for :class:`SSCCMethod`.
    """

    adaptive = True

    def __init__(self, link: str, dataset: str | DatasetInfo, layer_ratios: tuple[float, ...],
                 classifier: Classifier | None = None, classifier_name: str | None = None,
                 class_names: tuple[str, ...] | None = None) -> None:
        self.info = dataset_info(dataset)
        self.dataset = self.info.name
        self.layer_ratios = _check_ratios(tuple(layer_ratios))
        self.link_name = link
        self._links: dict[tuple[int, ...], list[BitLink]] = {}
        probe = self.info.image_shape or (self.info.channels, 32, 32)
        self.links: list[BitLink] = self.links_for(probe)
        self.codec = LayeredJPEG2000()
        self.classifier = classifier
        self.classifier_name = classifier_name
        self.class_names = class_names if classifier is not None else None
        self.design_snr_db: list[float] | None = None
        self.name = f"{self.codec.name}+{self.links[0].name}"

    def links_for(self, shape: tuple[int, ...]) -> list[BitLink]:
        """Layer ``l``'s link for images of ``shape``: ``round(k_l / n * C H W)`` uses."""
        uses = tuple(symbols_for_ratio(r, int(np.prod(shape))) for r in self.layer_ratios)
        if uses not in self._links:
            self._links[uses] = [get_link(self.link_name, n_uses=k) for k in uses]
        return self._links[uses]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "codec": self.codec.name, "link": self.links[0].name, "layering": "scalable",
                "layer_ratios": list(self.layer_ratios), "classifier": self.classifier_name} | (
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
        shape = tuple(images.shape[1:])
        links = self.links_for(shape)
        mean_image = self.info.fallback_image(shape)
        n = int(np.prod(shape))
        ratios = [sum(link.n_uses for link in links[: l + 1]) / n for l in range(len(links))]
        designs = self.design_snr_db or [snr] * len(links)
        plans = [link.plan(channel, d, csi) for link, d in zip(links, designs)]
        budgets = [p.info_bits for p in plans]
        pixels = torch.round(images.detach().clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        encodings = [self.codec.encode(image, budgets) for image in pixels]
        streams = [self.codec.stream_bits(e, budgets) for e in encodings]  # per image, per layer
        received = []  # per layer: bool [B], the chunk arrived (an empty chunk "arrives")
        for l, (link, plan) in enumerate(zip(links, plans)):
            sent = np.array([len(e.chunks[l]) > 0 for e in encodings])
            ok = np.ones(len(encodings), dtype=bool)
            if sent.any():
                bits = torch.from_numpy(np.stack([stream[l] for stream in streams]))
                ok = ~sent | link.send(bits, plan, channel, snr, csi, generator=generator).cpu().numpy()
            received.append(ok)
        received_per_image = np.stack(received, axis=1)  # [B, L]
        results = []
        for l in range(len(links)):
            decoded = [self.codec.decode(e, r, l + 1) for e, r in zip(encodings, received_per_image)]
            got = torch.tensor([d is not None for d in decoded])
            recon = mean_image.expand(len(decoded), -1, -1, -1).clone()
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
            tasks = {} if self.classifier is None else {"class": classify_with_fallback(
                self.classifier, mean_image, recon, got.to(recon.device))}
            results.append(LayerResult(recon=recon, ratio=ratios[l], tasks=tasks, extras=extras))
        return results
