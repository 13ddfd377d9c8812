"""The 5G-style coded link of the SSCC baselines, with its MCS chosen per SNR.

At each SNR the transmitter uses the highest MCS of TS 38.214 Table 5.1.3.1-2 whose simulated
image (transport block) error rate at that SNR, on this channel model and CSI mode, is at most
:data:`~semcomm.links.base.TARGET_LOSS` (10 %); if even MCS 0 loses more, nothing is sent and
every image falls back. Error rates come from random transport blocks per (MCS, SNR)
(:func:`semcomm.digital.link.block_error_rate`, with a fixed seed of its own: the table is the
transmitter's design data, not part of the evaluated draws), found by bisection over the MCS
indices (the error rate rises with the MCS) and cached on disk
(:class:`~semcomm.links.bler_cache.BlerCache`), so a sweep computes each entry once.

How many transport blocks (:func:`design_blocks`): :data:`BLER_BLOCKS` (300) for blocks of up to
4 code blocks (every thumbnail), fewer for large images, so that about 1,200 code blocks are
decoded per entry and never fewer than :data:`MIN_DESIGN_BLOCKS` (30) transport blocks: a 768 x 512
image at k/n = 1/6 (65,536 uses, about 20 code blocks per image) takes 60. A transport block of
many code blocks has a waterfall many times steeper than one code block's (it fails when any
block does), so its 10 % point needs fewer draws to place within a fraction of a dB; at the
full 300 such a design took minutes per SNR.

The images then cross :class:`semcomm.digital.link.LdpcLink` at that MCS: LDPC + Gray QAM, the
channel, the receiver of the CSI mode, and an ideal CRC per code block.
"""

from __future__ import annotations

from typing import Any

import torch

import channels
import semcomm
from semcomm.digital.ldpc import MIN_K
from semcomm.digital.link import LdpcLink, block_error_rate, segment
from semcomm.digital.mcs import mcs_indices
from semcomm.links.base import TARGET_LOSS, BitLink, LinkPlan
from semcomm.links.bler_cache import BlerCache

__all__ = ["BLER_BLOCKS", "MIN_DESIGN_BLOCKS", "AdaptiveLdpcLink", "design_blocks"]

#: Transport blocks simulated per (MCS, SNR) entry of the BLER table (images of up to 4 code blocks).
BLER_BLOCKS = 300
#: The fewest transport blocks per entry, however large the image.
MIN_DESIGN_BLOCKS = 30


def design_blocks(num_codewords: int, n_blocks: int = BLER_BLOCKS) -> int:
    """Transport blocks per BLER-table entry for images of ``num_codewords`` code blocks:
    ``n_blocks`` up to 4 code blocks, else ``ceil(4 n_blocks / C)`` (about ``4 n_blocks`` code
    blocks), at least :data:`MIN_DESIGN_BLOCKS` (never more than ``n_blocks``)."""
    return min(n_blocks, max(MIN_DESIGN_BLOCKS, -(-4 * n_blocks // max(1, num_codewords))))


class AdaptiveLdpcLink(BitLink):
    """LDPC + QAM at the highest MCS whose image error rate is at most 10 % (module docstring).

    Args:
        n_uses: complex channel uses per image.
        n_blocks: transport blocks per BLER-table entry.
        seed: seed of the BLER table's draws.
        cache: where BLER entries persist (default: :class:`BlerCache` in the user's cache folder).
        link_options: options of :class:`~semcomm.digital.link.LdpcLink` (demapper, decoder).
    """

    name = "ldpc"

    def __init__(
        self, n_uses: int, n_blocks: int = BLER_BLOCKS, seed: int = 0, cache: BlerCache | None = None,
        **link_options: Any,
    ) -> None:
        super().__init__(n_uses)
        self.n_blocks, self.seed, self.link_options = n_blocks, seed, link_options
        self.cache = cache if cache is not None else BlerCache()
        self._links = {  # the MCSs with room for one code block
            mcs: LdpcLink(mcs, n_uses, **link_options)
            for mcs in mcs_indices()
            if segment(mcs, n_uses).codeword_info >= MIN_K
        }
        if not self._links:
            raise ValueError(f"{n_uses} channel uses are too few for any LDPC code block; raise the bandwidth ratio")

    @property
    def max_info_bits(self) -> int:
        """Information bits per image at the highest MCS."""
        return max(link.info_bits for link in self._links.values())

    def bler(self, channel: channels.Channel, csi: str, mcs: int, snr_db: float) -> float:
        """Image error rate of MCS ``mcs`` at ``snr_db`` (cached), from :func:`design_blocks`
        transport blocks."""
        options = ",".join(f"{k}={v}" for k, v in sorted(self.link_options.items()))
        blocks = design_blocks(self._links[mcs].num_codewords, self.n_blocks)
        key = (
            f"semcomm {semcomm.__version__} ldpc n_uses={self.n_uses} [{options}] {channel!r} csi={csi} "
            f"mcs={mcs} snr={snr_db:.3f} blocks={blocks} seed={self.seed} scrambled"
        )
        hit = self.cache.get(key)
        if hit is None:
            rate = block_error_rate(self._links[mcs], channel, csi, snr_db, blocks, self.seed)
            hit = (round(rate * blocks), blocks)
            self.cache.put(key, *hit)
        return hit[0] / hit[1]

    def _choose_rate(self, channel: channels.Channel, snr_db: float, csi: str) -> LinkPlan:
        candidates = sorted(self._links)
        good, bad = -1, len(candidates)  # bisection: candidates[good] meets the target, [bad] does not
        losses: dict[int, float] = {}
        while bad - good > 1:
            mid = (good + bad) // 2
            losses[mid] = self.bler(channel, csi, candidates[mid], snr_db)
            good, bad = (mid, bad) if losses[mid] <= TARGET_LOSS else (good, mid)
        if good < 0:
            return LinkPlan(0, 0.0, 1.0, f"none (MCS {candidates[0]} loses > {TARGET_LOSS:.0%})")
        mcs = candidates[good]
        link = self._links[mcs]
        label = f"MCS {mcs} ({link.modulation}, R={link.mcs.rate:.2f})"
        return LinkPlan(link.info_bits, link.info_bits / self.n_uses, losses[good], label, mcs)

    def send(
        self,
        bits: torch.Tensor,
        plan: LinkPlan,
        channel: channels.Channel,
        snr_db: float,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if plan.mcs is None:
            return torch.zeros(bits.shape[0], dtype=torch.bool)
        return self._links[plan.mcs].transmit(bits, channel, snr_db, csi, generator=generator).ok
