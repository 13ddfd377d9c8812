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
   mean image of the dataset's training split (:func:`semcomm.data.train_mean_image`).
   Fallbacks count in the PSNR like any image.

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
from semcomm.data import DATASETS, train_mean_image
from semcomm.data.base import check_choice
from semcomm.links import BitLink, get_link, scalar_snr
from semcomm.methods.base import LayerResult, Method
from semcomm.models import symbols_for_ratio

__all__ = ["SSCCMethod", "classify_with_fallback"]


class SSCCMethod(Method):
    """Codec + link, e.g. ``hevc+ldpc``; one :class:`LayerResult` (the SSCC "layer").

    Args:
        codec: codec name (:func:`semcomm.codecs.codec_names`) or a :class:`Codec`.
        link: link name (:func:`semcomm.links.link_names`) or a :class:`BitLink`.
        dataset: ``"mnist"`` or ``"cifar10"`` (sets the image size and the fallback image).
        ratio: bandwidth ratio ``k/n`` (complex channel uses per real source value).
        classifier: maps images ``[B, C, H, W]`` in [0, 1] to logits ``[B, classes]``, or None
            (accuracy is then not reported).
        classifier_name: what the classifier is, for the results file's config.
        design_snr_db: the SNR the transmitter picks its rate for (a broadcast's design user);
            None: the SNR of each point (a unicast link that knows its average SNR).
    """

    layered = False
    adaptive = True

    def __init__(
        self,
        codec: str | Codec,
        link: str,
        dataset: str,
        ratio: float,
        classifier: Callable[[torch.Tensor], torch.Tensor] | None = None,
        classifier_name: str | None = None,
        design_snr_db: float | None = None,
    ) -> None:
        self.dataset = check_choice("dataset", dataset, DATASETS)
        self.design_snr_db = design_snr_db
        self.codec = get_codec(codec) if isinstance(codec, str) else codec
        self.mean_image = torch.from_numpy(train_mean_image(dataset))  # [C, H, W]
        self.ratio_requested = ratio
        self.n_uses = symbols_for_ratio(ratio, self.mean_image.numel())
        self.link: BitLink = get_link(link, n_uses=self.n_uses)
        self.classifier = classifier
        self.classifier_name = classifier_name
        self.name = f"{self.codec.name}+{self.link.name}"
        self._check_ratio()

    def _check_ratio(self) -> None:
        """Refuse a ratio at which the link cannot carry even the smallest encoding of the
        dataset's mean image (a smooth image, cheaper to code than almost any real one)."""
        most = self.link.max_info_bits
        if most is None:
            return
        probe = torch.round(self.mean_image * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        least = self.codec.encode(probe, self.codec.qualities[0]).payload_bits
        if most < least:
            raise ValueError(
                f"bandwidth ratio {self.ratio_requested:g} ({self.n_uses} channel uses) carries at most {most} bits per "
                f"image over {self.link.name}; the smallest {self.codec.name} encoding of a {self.dataset} image needs "
                f"about {least}: raise --ratio"
            )

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
        """The bandwidth ratio actually spent: ``n_uses / n``."""
        return self.n_uses / self.mean_image.numel()

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
        plan = self.link.plan(channel, snr if self.design_snr_db is None else self.design_snr_db, csi)
        pixels = torch.round(images.detach().clamp(0, 1) * 255).to(torch.uint8)
        fit = self.codec.fit(pixels.permute(0, 2, 3, 1).cpu().numpy(), plan.info_bits)
        decoded = torch.from_numpy(fit.images).permute(0, 3, 1, 2).float() / 255.0
        target = pixels.cpu().float() / 255.0
        # An encoding worse than the fallback is not worth sending (the transmitter knows both).
        better = _mse(decoded, target) < _mse(self.mean_image.expand_as(target), target)
        sent = torch.from_numpy(fit.fits) & better
        bits = torch.from_numpy(_stream_bits(fit, sent.numpy(), self.codec.quality_bits, plan.info_bits))
        delivered = self.link.send(bits, plan, channel, snr, csi, generator=generator).cpu() & sent
        recon = torch.where(delivered[:, None, None, None], decoded, self.mean_image).to(images.device)
        logits = None if self.classifier is None else classify_with_fallback(
            self.classifier, self.mean_image, recon, delivered.to(recon.device))
        extras = {
            "budget_bits": plan.info_bits,
            "bits": float((fit.payload_bits * sent.numpy()).mean()),
            "sent": float(sent.double().mean()),
            "delivered": float(delivered.double().mean()),
            "link": plan.label,
        }
        return [LayerResult(recon=recon, logits=logits, ratio=self.ratio, extras=extras)]


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
