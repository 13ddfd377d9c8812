"""A 5G-style digital link: LDPC + Gray QAM over a flat channel, batched over images.

Per image, ``K`` information bits cross ``n_uses`` complex channel uses at one MCS
(:mod:`semcomm.digital.mcs`, ``Qm`` bits per symbol, target rate ``R``), ``G = Qm n_uses`` coded
bits in all:

1. **Code block segmentation** (TS 38.212 §5.2.2 with no code-block CRC): the base graph is
   chosen from the payload ``floor(R G)`` and ``R`` (§7.2.2); ``C = ceil(floor(R G) / K_cb)``
   code blocks (``K_cb`` = 8448 for BG1, 3840 for BG2), all of the same size.
2. **Rate matching**: every code block gets ``E = Qm floor(G / (Qm C))`` coded bits (whole
   symbols, the smaller of the two TS 38.212 §5.4.2.1 sizes for all blocks) and carries
   ``k = floor(R E)`` information bits, so :attr:`LdpcLink.info_bits` ``= C k``. The
   ``G - C E < Qm C`` bits left at the end of the frame carry zeros (unused padding).
3. LDPC encoding (:class:`~semcomm.digital.ldpc.LdpcEncoder`, TS 38.212 bit interleaver for
   ``Qm``), code block concatenation, :class:`~semcomm.digital.qam.QAMMapper`.
4. Any flat channel from :mod:`channels`, per-example SNR, one ``torch.Generator``.
5. Receiver CSI mode (:func:`channels.receive`), :class:`~semcomm.digital.qam.QAMDemapper`
   with the per-symbol post-equalisation noise variance, :class:`~semcomm.digital.ldpc.LdpcDecoder`.

**Ideal CRC**: a code block counts as correct when its decoded information bits equal the sent
ones (a real CRC would detect almost every error at the cost of its 16 or 24 bits, which this
link does not spend); an image is received (``ok``) when all its code blocks are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

import channels
from semcomm.digital.ldpc import MAX_CODE_BLOCK, LdpcCode, LdpcDecoder, LdpcEncoder, select_base_graph
from semcomm.digital.ldpc.code import MIN_K
from semcomm.digital.mcs import get_mcs
from semcomm.digital.qam import QAMDemapper, QAMMapper
from semcomm.seeding import point_generator

__all__ = ["LdpcLink", "LinkOutput", "bler_table"]

#: Coded bits pushed through one :meth:`LdpcLink.transmit` call by :func:`bler_table`.
CHUNK_BITS = 1 << 22


@dataclass(frozen=True)
class LinkOutput:
    """What the receiver of :meth:`LdpcLink.transmit` gets for ``B`` images of ``C`` code blocks.

    Attributes:
        bits_hat: ``uint8 [B, K]`` decoded information bits.
        ok: ``bool [B]``: every code block of the image decoded correctly (ideal CRC).
        codeword_ok: ``bool [B, C]``: code block decoded correctly (ideal CRC).
        converged: ``bool [B, C]``: the decoder ended on a valid codeword (zero syndrome).
        iterations: ``int32 [B, C]`` decoder iterations.
    """

    bits_hat: torch.Tensor
    ok: torch.Tensor
    codeword_ok: torch.Tensor
    converged: torch.Tensor
    iterations: torch.Tensor

    @property
    def bler(self) -> float:
        """Code block error rate: the fraction of code blocks decoded wrongly."""
        return 1.0 - self.codeword_ok.float().mean().item()


class LdpcLink:
    """LDPC-coded QAM link carrying :attr:`info_bits` bits per image in ``n_uses`` channel uses.

    Args:
        mcs: MCS index of TS 38.214 Table 5.1.3.1-2 (0..27).
        n_uses: complex channel uses per image.
        demapper: ``"app"`` or ``"maxlog"`` soft demapping.
        check_update, schedule, num_iter, early_stop, scale, offset, llr_max: decoder options
            (:class:`~semcomm.digital.ldpc.LdpcDecoder`; default: layered sum-product (boxplus),
            20 iterations, early stopping).

    Raises:
        ValueError: on an invalid MCS, a frame too small for one code block of at least
            ``MIN_K`` bits, or invalid demapper / decoder options.

    Attributes:
        mcs: the :class:`~semcomm.digital.mcs.Mcs` row; modulation: its modulation name.
        n_uses, coded_bits (``G = Qm n_uses``), num_codewords (``C``), codeword_bits (``E``),
        codeword_info (``k``), info_bits (``K = C k``), code (the :class:`LdpcCode` of a block).
    """

    def __init__(
        self,
        mcs: int,
        n_uses: int,
        *,
        demapper: str = "app",
        check_update: str = "boxplus",
        schedule: str = "layered",
        num_iter: int = 20,
        early_stop: bool = True,
        scale: float = 0.75,
        offset: float = 0.5,
        llr_max: float = 20.0,
    ) -> None:
        self.mcs = get_mcs(mcs)
        if n_uses < 1:
            raise ValueError(f"n_uses must be >= 1, got {n_uses}")
        qm, rate = self.mcs.qm, self.mcs.rate
        self.n_uses = int(n_uses)
        self.coded_bits = qm * self.n_uses
        payload = math.floor(rate * self.coded_bits)
        bg = select_base_graph(payload, rate)
        self.num_codewords = max(1, math.ceil(payload / MAX_CODE_BLOCK[bg]))
        self.codeword_bits = qm * (self.coded_bits // (qm * self.num_codewords))
        self.codeword_info = math.floor(rate * self.codeword_bits)
        if self.codeword_info < MIN_K:
            raise ValueError(
                f"n_uses={n_uses} at MCS {mcs} carries {self.codeword_info} information bits; at least {MIN_K} are needed"
            )
        self.info_bits = self.num_codewords * self.codeword_info
        self.modulation = self.mcs.modulation
        self.code = LdpcCode(self.codeword_info, self.codeword_bits, bg=bg, num_bits_per_symbol=qm)
        self.encoder = LdpcEncoder(self.code)
        self.decoder = LdpcDecoder(
            self.code, check_update=check_update, schedule=schedule, num_iter=num_iter,
            early_stop=early_stop, scale=scale, offset=offset, llr_max=llr_max,
        )  # fmt: skip
        self.mapper = QAMMapper(self.modulation)
        self.demapper = QAMDemapper(self.modulation, method=demapper)

    def transmit(
        self,
        bits: torch.Tensor,
        channel: channels.Channel | str,
        snr_db: float | torch.Tensor,
        csi: str = "perfect",
        generator: torch.Generator | None = None,
    ) -> LinkOutput:
        """Send one bit string per image and decode it.

        Args:
            bits: ``[B, info_bits]`` 0/1 (uint8, bool or float; nonzero counts as 1).
            channel: a flat channel module or its :func:`channels.get` name.
            snr_db: Es/N0 in dB, a number or a ``[B]`` tensor (one per image).
            csi: receiver CSI mode, one of :data:`channels.CSI_MODES`.
            generator: the source of every random draw (fading and noise).

        Returns:
            :class:`LinkOutput` (``bits_hat [B, K]``, ``ok [B]``, ``codeword_ok [B, C]``, ...).

        Raises:
            ValueError: on a wrong ``bits`` shape, an unknown channel or CSI mode.
        """
        if bits.dim() != 2 or bits.shape[1] != self.info_bits:
            raise ValueError(f"bits must have shape [B, {self.info_bits}]; got {tuple(bits.shape)}")
        ch = channels.get(channel) if isinstance(channel, str) else channel
        channels.check_csi(csi, ch)
        batch, c = bits.shape[0], self.num_codewords
        blocks = (bits != 0).to(torch.uint8).reshape(batch * c, self.codeword_info)
        coded = self.encoder(blocks).reshape(batch, c * self.codeword_bits)
        frame = torch.nn.functional.pad(coded, (0, self.coded_bits - coded.shape[1]))
        with torch.no_grad():
            rx = channels.receive(ch(self.mapper(frame), snr_db, generator=generator), csi)
            llr = self.demapper(rx.x_hat, rx.noise_var)
        llr = llr[:, : c * self.codeword_bits].reshape(batch * c, self.codeword_bits)
        out = self.decoder(llr)
        codeword_ok = (out.bits == blocks).all(dim=1).reshape(batch, c)
        return LinkOutput(
            bits_hat=out.bits.reshape(batch, self.info_bits),
            ok=codeword_ok.all(dim=1),
            codeword_ok=codeword_ok,
            converged=out.ok.reshape(batch, c),
            iterations=out.iterations.reshape(batch, c),
        )

    def __repr__(self) -> str:
        return (
            f"LdpcLink(mcs={self.mcs.index}, {self.modulation}, R={self.mcs.rate:.4f}, n_uses={self.n_uses}, "
            f"info_bits={self.info_bits}, {self.num_codewords} x {self.code})"
        )


def bler_table(
    mcs_list: Sequence[int],
    n_uses: int,
    channel: channels.Channel | str,
    csi: str,
    snrs: Sequence[float],
    n_blocks: int,
    seed: int,
    **link_options: object,
) -> np.ndarray:
    """Transport-block (image) error rate of each MCS at each SNR, with random bits.

    A transport block is the ``info_bits`` of one image over ``n_uses`` channel uses; it is in
    error when any of its code blocks is (ideal CRC). Each (MCS, SNR) point draws from its own
    generator, seeded from ``seed``, the SNR, the MCS, the channel and the CSI mode, so a point
    does not depend on the other points asked for.

    Args:
        mcs_list: MCS indices (rows of the result).
        n_uses: complex channel uses per block.
        channel: a channel module, or its :func:`channels.get` name (default options).
        csi: receiver CSI mode.
        snrs: Es/N0 values in dB (columns of the result).
        n_blocks: transport blocks simulated per point.
        seed: seed of every draw.
        link_options: keyword options of :class:`LdpcLink` (demapper, decoder).

    Returns:
        ``float64 [len(mcs_list), len(snrs)]`` error rates in [0, 1].

    Raises:
        ValueError: on an invalid MCS, channel, CSI mode or ``n_blocks < 1``.
    """
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    ch = channels.get(channel) if isinstance(channel, str) else channel
    channels.check_csi(csi, ch)
    table = np.zeros((len(mcs_list), len(snrs)))
    for row, mcs in enumerate(mcs_list):
        link = LdpcLink(mcs, n_uses, **link_options)  # type: ignore[arg-type]
        per_call = max(1, CHUNK_BITS // link.coded_bits)
        for col, snr in enumerate(snrs):
            g = point_generator(seed, float(snr), f"mcs={mcs}", repr(ch), csi)
            errors = 0
            for start in range(0, n_blocks, per_call):
                count = min(per_call, n_blocks - start)
                bits = torch.randint(0, 2, (count, link.info_bits), generator=g, dtype=torch.uint8)
                errors += int((~link.transmit(bits, ch, float(snr), csi, generator=g).ok).sum())
            table[row, col] = errors / n_blocks
    return table
