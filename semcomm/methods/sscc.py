"""Separate source-channel coding (SSCC): an image codec over a digital link.

Per sweep point (channel, CSI mode, SNR) and batch of images:

1. the link plans its rate from the channel model and the average SNR
   (:meth:`semcomm.links.BitLink.plan`): ``K`` information bits per image;
2. the codec encodes each image at the best quality whose payload (the honest bit count of
   :mod:`semcomm.codecs`) fits in ``K`` bits (:meth:`semcomm.codecs.Codec.fit`);
3. the payload bits, zero-padded to ``K``, cross the link (:meth:`semcomm.links.BitLink.send`);
4. the receiver outputs the decoded image where every bit arrived, and the **fallback** where
   the image was lost, where no quality fitted the budget, or where the best fitting encoding
   is further from the image than the fallback is (the transmitter then sends nothing): the
   mean image of the dataset's training split, its mean colour for images of another size,
   mid-grey for data without one (:meth:`semcomm.data.DatasetInfo.fallback_image`).
   Fallbacks count in the PSNR like any image.

Each image is coded at its own size: its channel uses are ``round(ratio * C H W)``, and the link
(its MCS choice and BLER design) is the one for that many uses.

Accuracy is measured on the reconstructions with one fixed classifier: the top layer's semantic
head of a pretrained multi-resolution JSCC model (:meth:`semcomm.methods.jscc.JSCCMethod.classify`,
default ``"<dataset>-l3"``), run over a noiseless link, so that SSCC and JSCC accuracies come
from the same network.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import channels
from semcomm.codecs import Codec, Fit
from semcomm.codecs import get as get_codec
from semcomm.data import DatasetInfo, dataset_info
from semcomm.links import BitLink, get_link, scalar_snr
from semcomm.methods.base import LayerResult, Method
from semcomm.models.base import symbols_for_ratio

__all__ = ["SSCCMethod", "classify_with_fallback"]


class SSCCMethod(Method):
    """Codec + link, e.g. ``hevc+ldpc``; one :class:`LayerResult` (the SSCC "layer").

    Args:
        codec: codec name (:func:`semcomm.codecs.codec_names`) or a :class:`Codec`.
        link: link name (:func:`semcomm.links.link_names`).
        dataset: the images' dataset, a registered name or a description (its fallback image;
            its image size, if it has one, is where the ratio is first checked).
        ratio: bandwidth ratio ``k/n`` (complex channel uses per real source value).
        classifier: maps images ``[B, C, H, W]`` in [0, 1] to logits ``[B, classes]``, or None
            (accuracy is then not reported).
        classifier_name: what the classifier is, for the results file's config.
        design_snr_db: the SNR the transmitter picks its rate for (a broadcast's design user);
            None: the SNR of each point (a unicast link that knows its average SNR).
        class_names: the classes the classifier predicts.
    """

    layered = False
    adaptive = True

    def __init__(
        self,
        codec: str | Codec,
        link: str,
        dataset: str | DatasetInfo,
        ratio: float,
        classifier: Callable[[torch.Tensor], torch.Tensor] | None = None,
        classifier_name: str | None = None,
        design_snr_db: float | None = None,
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        self.info = dataset_info(dataset)
        self.dataset = self.info.name
        self.design_snr_db = design_snr_db
        self.codec = get_codec(codec) if isinstance(codec, str) else codec
        self.ratio_requested = ratio
        symbols_for_ratio(ratio, 1)  # one line for a bad ratio
        self.link_name = link
        self._links: dict[int, BitLink] = {}
        self._checked: set[tuple[int, int, int]] = set()
        self.shape = self.info.image_shape
        probe = self.shape or (self.info.channels, 32, 32)
        self.link: BitLink = self.link_for(probe)  # at the dataset's size (any-size data: a 32x32 probe)
        self.classifier = classifier
        self.classifier_name = classifier_name
        self.class_names = class_names if classifier is not None else None
        self.name = f"{self.codec.name}+{self.link.name}"
        if self.shape is not None:
            self.check_images(self.shape)

    @property
    def n_uses(self) -> int:
        """Channel uses per image of the dataset's size."""
        return self.link.n_uses

    def uses(self, shape: tuple[int, ...]) -> int:
        """Channel uses of one image of ``shape`` ``(C, H, W)``: ``round(ratio * C H W)``."""
        return symbols_for_ratio(self.ratio_requested, int(np.prod(shape)))

    def link_for(self, shape: tuple[int, ...]) -> BitLink:
        """The link for images of ``shape`` (one instance per number of channel uses)."""
        n = self.uses(shape)
        if n not in self._links:
            self._links[n] = get_link(self.link_name, n_uses=n)
        return self._links[n]

    def check_images(self, shape: tuple[int, int, int]) -> None:
        """Refuse a size at which the link cannot carry even the smallest encoding of the
        fallback image (a smooth image, cheaper to code than almost any real one)."""
        shape = tuple(int(v) for v in shape)
        if shape in self._checked:
            return
        link = self.link_for(shape)
        most = link.max_info_bits
        if most is not None:
            probe = torch.round(self.info.fallback_image(shape) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
            least = self.codec.encode(probe, self.codec.qualities[0]).payload_bits
            if most < least:
                raise ValueError(
                    f"bandwidth ratio {self.ratio_requested:g} ({link.n_uses} channel uses) carries at most {most} bits per "
                    f"{'x'.join(map(str, shape))} image over {link.name}; the smallest {self.codec.name} encoding of such an "
                    f"image needs about {least}: raise --ratio"
                )
        self._checked.add(shape)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "codec": self.codec.name,
            "link": self.link.name,
            "ratio": self.ratio,
            "n_uses": self.n_uses,
            "classifier": self.classifier_name,
        } | ({} if self.design_snr_db is None else {"design_snr_db": self.design_snr_db})

    def designed_for(self, snr_db: list[float]) -> SSCCMethod:
        """This pipeline with its rate picked for the one design SNR ``snr_db[0]``, whatever
        the SNR of the channel it crosses (sharing the codec and its cache)."""
        if len(snr_db) != 1:
            raise ValueError(f"{self.name} is one stream: it takes one design SNR, got {len(snr_db)}")
        designed = copy.copy(self)
        designed.design_snr_db = float(snr_db[0])
        return designed

    @property
    def ratio(self) -> float:
        """The bandwidth ratio actually spent on an image of the dataset's size: ``n_uses / n``
        (the requested ratio for data of any size)."""
        if self.shape is None:
            return self.ratio_requested
        return self.n_uses / int(np.prod(self.shape))

    def check(self, channel: channels.Channel, csi: str) -> None:
        self.link.check(channel, csi)

    def transmit(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> list[LayerResult]:
        """Send ``images`` ``[B, C, H, W]`` in [0, 1] at the rate planned for ``snr_db`` (or for
        :attr:`design_snr_db`); one layer with ``extras``: ``bits`` (payload
        bits sent per image, 0 for an image not sent), ``budget_bits``, ``sent`` (fraction of images with
        an encoding that fits the budget and beats the fallback), ``delivered`` (fraction decoded,
        not fallbacks) and ``link`` (the rate the link chose)."""
        snr = scalar_snr(snr_db)
        shape = tuple(images.shape[1:])
        link = self.link_for(shape)
        mean_image = self.info.fallback_image(shape)
        plan = link.plan(channel, snr if self.design_snr_db is None else self.design_snr_db, csi)
        pixels = torch.round(images.detach().clamp(0, 1) * 255).to(torch.uint8)
        fit = self.codec.fit(pixels.permute(0, 2, 3, 1).cpu().numpy(), plan.info_bits)
        decoded = torch.from_numpy(fit.images).permute(0, 3, 1, 2).float() / 255.0
        target = pixels.cpu().float() / 255.0
        # An encoding worse than the fallback is not worth sending (the transmitter knows both).
        better = _mse(decoded, target) < _mse(mean_image.expand_as(target), target)
        sent = torch.from_numpy(fit.fits) & better
        bits = torch.from_numpy(_stream_bits(fit, sent.numpy(), self.codec.quality_bits, plan.info_bits))
        delivered = link.send(bits, plan, channel, snr, csi, generator=generator).cpu() & sent
        recon = torch.where(delivered[:, None, None, None], decoded, mean_image).to(images.device)
        tasks = {} if self.classifier is None else {"class": classify_with_fallback(
            self.classifier, mean_image, recon, delivered.to(recon.device))}
        extras = {
            "budget_bits": plan.info_bits,
            "bits": float((fit.payload_bits * sent.numpy()).mean()),
            "sent": float(sent.double().mean()),
            "delivered": float(delivered.double().mean()),
            "link": plan.label,
        }
        return [LayerResult(recon=recon, ratio=link.n_uses / int(np.prod(shape)), tasks=tasks, extras=extras)]


def classify_with_fallback(classifier: Callable[[torch.Tensor], torch.Tensor], mean_image: torch.Tensor,
                           recon: torch.Tensor, delivered: torch.Tensor) -> torch.Tensor:
    """Logits ``[B, classes]`` of reconstructions ``[B, C, H, W]``: the classifier on the
    ``delivered`` ones (bool ``[B]``), and its output on the fallback ``mean_image``
    ``[C, H, W]`` (classified once) for the others."""
    fallback = classifier(mean_image[None].to(recon.device))  # [1, classes]
    logits = fallback.expand(recon.shape[0], -1).clone()
    if bool(delivered.any()):
        logits[delivered] = classifier(recon[delivered])
    return logits


def _mse(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error of ``[B, C, H, W]`` images: ``[B]``."""
    return (images - target).square().flatten(1).mean(dim=1)


def _stream_bits(fit: Fit, sent: np.ndarray, quality_bits: int, n_bits: int) -> np.ndarray:
    """The bit stream of each image, zero-padded to ``n_bits``: uint8 ``[B, n_bits]``.

    A stream is the quality index in ``quality_bits`` bits (MSB first), then the payload bytes
    (MSB first): ``fit.payload_bits`` bits in all, which fit in ``n_bits``. An image not
    ``sent`` (bool ``[B]``) sends zeros (its output is the fallback whatever arrives)."""
    out = np.zeros((len(fit.payloads), n_bits), dtype=np.uint8)
    shifts = np.arange(quality_bits - 1, -1, -1)
    for i, (payload, index) in enumerate(zip(fit.payloads, fit.quality_index.tolist())):
        if sent[i]:
            header = (index >> shifts) & 1
            stream = np.concatenate([header, np.unpackbits(np.frombuffer(payload, dtype=np.uint8))])
            out[i, : stream.size] = stream
    return out
