"""The ideal link: a capacity-achieving code of ``n_uses`` channel uses per image.

An image's bits arrive iff the code rate does not exceed the mutual information of the
channel the image actually saw, with Gaussian inputs and perfect receiver CSI:

    I = (1 / n_uses) * sum_j log2(1 + |h_j|^2 * SNR)      [bits per channel use]

over the gains ``h_j`` of its ``n_uses`` symbols, drawn by the channel model itself. The
transmitter knows the channel model and the average SNR but not the fades, and picks the
rate ``R`` = the :data:`~semcomm.links.base.TARGET_LOSS`-quantile of ``I`` (the 10 %-outage
rate), so that at most 10 % of the images are lost; it sends ``floor(n_uses * R)`` bits.

- AWGN: ``I = log2(1 + SNR)`` for every image: ``R`` is the Shannon capacity, nothing is lost.
- Block fading (one gain per image): ``R`` is the 10 %-outage capacity
  ``log2(1 + SNR * F^-1(0.1))`` with ``F`` the CDF of ``|h|^2``.
- Fast fading: ``I`` averages over ``n_uses`` independent fades and concentrates at the
  ergodic capacity as ``n_uses`` grows (at 512 uses and 10 dB on Rayleigh, R is within
  0.1 bit of it); images whose fades fall short are lost.

The quantile is estimated from :data:`PLAN_DRAWS` images' worth of gains drawn with a fixed
seed (exact for AWGN). The bound assumes perfect receiver CSI; on a fading channel any other
CSI mode is refused.
"""

from __future__ import annotations

import math
import zlib

import torch

import channels
from semcomm.links.base import TARGET_LOSS, BitLink, LinkPlan

__all__ = ["PLAN_DRAWS", "CapacityLink", "mutual_information"]

#: Images' worth of channel draws from which the outage quantile is estimated.
PLAN_DRAWS = 4000
_PLAN_CHUNK = 500


def mutual_information(
    channel: channels.Channel, batch: int, n_uses: int, snr_db: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Mutual information (bits per channel use) of ``batch`` images of ``n_uses`` symbols each
    over independent draws of ``channel`` at ``snr_db``, with Gaussian inputs: float64 ``[B]``."""
    device = generator.device if generator is not None else torch.device("cpu")
    probe = torch.ones(batch, n_uses, dtype=torch.complex64, device=device)
    gains = channel(probe, snr_db, generator=generator).h.abs().square().double()  # [B, 1] or [B, n]
    return torch.log2(1.0 + gains / channels.snr_db_to_noise_var(snr_db)).expand(batch, n_uses).mean(dim=1)


class CapacityLink(BitLink):
    """The capacity bound: ``floor(n_uses * R)`` bits, lost when ``R`` exceeds the realised
    mutual information (see the module docstring).

    Args:
        n_uses: complex channel uses per image.
    """

    name = "capacity"

    def check(self, channel: channels.Channel, csi: str) -> None:
        super().check(channel, csi)
        if csi != "perfect" and channel.power_gain is not None:
            raise ValueError(
                f"the capacity link is a bound with perfect receiver CSI; use --csi perfect on {channel.name!r}, not {csi!r}"
            )

    def _choose_rate(self, channel: channels.Channel, snr_db: float, csi: str) -> LinkPlan:
        seed = zlib.crc32(f"capacity-plan {channel!r} {snr_db} {self.n_uses}".encode())
        generator = torch.Generator().manual_seed(seed)
        info = torch.cat([
            mutual_information(channel, _PLAN_CHUNK, self.n_uses, snr_db, generator)
            for _ in range(PLAN_DRAWS // _PLAN_CHUNK)
        ])
        rate = float(torch.quantile(info, TARGET_LOSS, interpolation="lower"))
        bits = math.floor(self.n_uses * rate + 1e-9)
        loss = float((self.n_uses * info < bits).double().mean())
        return LinkPlan(info_bits=bits, rate=bits / self.n_uses, loss=loss, label=f"R={rate:.3f} bit/use")

    def send(
        self,
        bits: torch.Tensor,
        plan: LinkPlan,
        channel: channels.Channel,
        snr_db: float,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        info = mutual_information(channel, bits.shape[0], self.n_uses, snr_db, generator)
        return (self.n_uses * info >= plan.info_bits).to(bits.device)
