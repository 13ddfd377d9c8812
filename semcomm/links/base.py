"""The bit pipe of a separate source-channel coding (SSCC) system.

A :class:`BitLink` carries one bit string per image over ``n_uses`` complex channel uses of a
:mod:`channels` channel. Per sweep point the transmitter first *plans* (:meth:`BitLink.plan`):
knowing the channel model and the average SNR, but not the realised fades or noise, it picks
a rate and therefore an information-bit budget; the image codec then fits each image into
that budget. :meth:`BitLink.send` returns, per image, whether the bits arrived intact.

Rate rule shared by every link: the highest rate whose probability of losing an image at
this SNR is at most :data:`TARGET_LOSS` (10 %): the block error rate of an LDPC codeword set,
or the outage probability of an ideal code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

import channels

__all__ = ["TARGET_LOSS", "BitLink", "LinkPlan", "scalar_snr"]

#: Largest probability of losing an image that the rate selection accepts.
TARGET_LOSS = 0.1


@dataclass(frozen=True)
class LinkPlan:
    """What the transmitter chose at one sweep point.

    Attributes:
        info_bits: information bits per image the link carries (0: nothing can be sent).
        rate: information bits per complex channel use.
        loss: the predicted probability of losing an image at this rate.
        label: a short description, e.g. ``"MCS 9 (16qam, R=0.60)"``.
        mcs: the MCS index for a coded link, else None.
    """

    info_bits: int
    rate: float
    loss: float
    label: str
    mcs: int | None = None


def scalar_snr(snr_db: float | torch.Tensor) -> float:
    """The one SNR of a point: a digital transmitter picks its rate from it.

    Raises:
        ValueError: ``snr_db`` is a tensor holding different values per example.
    """
    if isinstance(snr_db, torch.Tensor):
        values = snr_db.detach().flatten()
        if values.numel() == 0 or not bool((values == values[0]).all()):
            raise ValueError("a digital link needs one SNR for the whole batch (it selects its rate from it)")
        return float(values[0])
    return float(snr_db)


class BitLink(ABC):
    """A digital link that carries ``info_bits`` per image over ``n_uses`` channel uses.

    Args:
        n_uses: complex channel uses per image (the budget ``k`` of the bandwidth ratio ``k/n``).
    """

    name: str

    def __init__(self, n_uses: int) -> None:
        if not isinstance(n_uses, int) or n_uses < 1:
            raise ValueError(f"a link needs n_uses >= 1 complex channel uses per image, got {n_uses!r}")
        self.n_uses = n_uses
        self._plans: dict[tuple[str, str, float], LinkPlan] = {}

    @property
    def max_info_bits(self) -> int | None:
        """The most information bits per image the link can ever carry (None: no limit)."""
        return None

    def check(self, channel: channels.Channel, csi: str) -> None:
        """Raise a one-line ``ValueError`` if this link cannot run with ``channel`` and ``csi``."""
        channels.check_csi(csi, channel)

    def plan(self, channel: channels.Channel, snr_db: float, csi: str) -> LinkPlan:
        """Choose the rate for ``channel`` at an average Es/N0 of ``snr_db`` (computed once per
        channel model, CSI mode and SNR).

        Raises:
            ValueError: one line, if the link cannot run with ``channel`` and ``csi``.
        """
        self.check(channel, csi)
        key = (repr(channel), csi, float(snr_db))
        if key not in self._plans:
            self._plans[key] = self._choose_rate(channel, float(snr_db), csi)
        return self._plans[key]

    @abstractmethod
    def _choose_rate(self, channel: channels.Channel, snr_db: float, csi: str) -> LinkPlan:
        """The plan for one (channel, SNR, CSI mode); :meth:`plan` caches it."""

    @abstractmethod
    def send(
        self,
        bits: torch.Tensor,
        plan: LinkPlan,
        channel: channels.Channel,
        snr_db: float,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Send ``bits`` (uint8 ``[B, plan.info_bits]``, 0/1) and return bool ``[B]``: True where
        the image's bits arrived exactly."""
