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
   ``G - C E < Qm C`` bits left at the end of the frame carry zeros (unused padding). Steps 1
   and 2 are :func:`segment`.
3. LDPC encoding (:class:`~semcomm.digital.ldpc.LdpcEncoder`, TS 38.212 bit interleaver for
   ``Qm``), code block concatenation, **scrambling** (TS 38.211 §7.3.1.1: the frame XOR the
   length-31 Gold sequence of :func:`gold_sequence`, one fixed ``c_init``; the receiver flips
   the LLRs where the sequence is 1), :class:`~semcomm.digital.qam.QAMMapper`. Without
   scrambling a run of equal bits (an image's zero padding, a code block of zeros) maps to one
   constellation point again and again, which for 16/64/256-QAM may be an inner point of far
   less than unit energy: such a code block sees an SNR several dB below the channel's (an
   all-zero 64-QAM block: 3.7 dB) and fails where random bits decode.
4. Any flat channel from :mod:`channels`, per-example SNR, one ``torch.Generator``.
5. Receiver CSI mode (:func:`channels.receive`), :class:`~semcomm.digital.qam.QAMDemapper`
   with the per-symbol post-equalisation noise variance, :class:`~semcomm.digital.ldpc.LdpcDecoder`.

**Ideal CRC**: a code block counts as correct when its decoded information bits equal the sent
ones (a real CRC would detect almost every error at the cost of its 16 or 24 bits, which this
link does not spend); an image is received (``ok``) when all its code blocks are.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import channels
from semcomm.digital.ldpc import MAX_CODE_BLOCK, MIN_K, LdpcCode, LdpcDecoder, LdpcEncoder, select_base_graph
from semcomm.digital.mcs import get_mcs, info_bits
from semcomm.digital.qam import QAMDemapper, QAMMapper
from semcomm.seeding import point_generator

__all__ = ["SCRAMBLER_C_INIT", "LdpcLink", "LinkOutput", "Segmentation", "bler_table", "block_error_rate", "gold_sequence",
           "segment"]

#: Coded bits pushed through one :meth:`LdpcLink.transmit` call by :func:`block_error_rate`.
CHUNK_BITS = 1 << 22
#: The scrambler's ``c_init`` (TS 38.211 §7.3.1.1: ``n_RNTI 2^15 + q 2^14 + n_ID``; here RNTI 1,
#: codeword 0, cell 0).
SCRAMBLER_C_INIT = 1 << 15


@functools.lru_cache(maxsize=16)
def _gold(c_init: int, length: int) -> np.ndarray:
    nc = 1600
    total = nc + length + 31
    x1 = np.zeros(total, dtype=np.uint8)
    x2 = np.zeros(total, dtype=np.uint8)
    x1[0] = 1
    x2[:31] = [(c_init >> i) & 1 for i in range(31)]
    for n in range(0, total - 31, 28):  # x(n + 31) depends on x(n + 3) at most: 28 at a time
        stop = min(n + 28, total - 31)
        x1[n + 31 : stop + 31] = x1[n + 3 : stop + 3] ^ x1[n:stop]
        x2[n + 31 : stop + 31] = x2[n + 3 : stop + 3] ^ x2[n + 2 : stop + 2] ^ x2[n + 1 : stop + 1] ^ x2[n:stop]
    out = x1[nc : nc + length] ^ x2[nc : nc + length]
    out.setflags(write=False)
    return out


def gold_sequence(length: int, c_init: int = SCRAMBLER_C_INIT) -> torch.Tensor:
    """The pseudo-random sequence ``c(0 .. length - 1)`` of TS 38.211 §5.2.1 (a length-31 Gold
    sequence, ``N_c`` = 1600): uint8 ``[length]``."""
    if length < 0 or not 0 <= c_init < 1 << 31:
        raise ValueError(f"bad Gold sequence length {length} or c_init {c_init}")
    return torch.from_numpy(_gold(int(c_init), int(length)).copy())


@dataclass(frozen=True)
class Segmentation:
    """How one image's frame splits into code blocks (steps 1 and 2 of the module docstring).

    Attributes:
        bg: the base graph, ``"bg1"`` or ``"bg2"``.
        num_codewords: code blocks per image (``C``).
        codeword_bits: coded bits per code block (``E``).
        codeword_info: information bits per code block (``k``).
    """

    bg: str
    num_codewords: int
    codeword_bits: int
    codeword_info: int


def segment(mcs: int, n_uses: int) -> Segmentation:
    """Code block segmentation and rate matching of ``n_uses`` channel uses at MCS ``mcs``.

    The result may have ``codeword_info < MIN_K`` (too few channel uses for a code block), which
    :class:`LdpcLink` rejects.

    Raises:
        ValueError: on an invalid MCS index or ``n_uses < 1``.
    """
    row = get_mcs(mcs)
    payload = info_bits(mcs, n_uses)
    bg = select_base_graph(payload, row.rate)
    num_codewords = max(1, math.ceil(payload / MAX_CODE_BLOCK[bg]))
    codeword_bits = row.qm * (int(n_uses) // num_codewords)
    return Segmentation(bg, num_codewords, codeword_bits, math.floor(row.rate * codeword_bits))


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
        decoder_options: keyword options of :class:`~semcomm.digital.ldpc.LdpcDecoder`
            (``check_update``, ``schedule``, ``num_iter``, ...; default: layered sum-product
            (boxplus), 20 iterations, early stopping).

    Raises:
        ValueError: on an invalid MCS, a frame too small for one code block of at least
            ``MIN_K`` bits, or invalid demapper / decoder options.

    Attributes:
        mcs: the :class:`~semcomm.digital.mcs.Mcs` row.
        n_uses, coded_bits (``G = Qm n_uses``), num_codewords (``C``), info_bits (``K = C k``),
        code (the :class:`LdpcCode` of a block, ``k`` = ``code.k``, ``E`` = ``code.n``).
    """

    def __init__(self, mcs: int, n_uses: int, *, demapper: str = "app", **decoder_options: Any) -> None:
        seg = segment(mcs, n_uses)
        if seg.codeword_info < MIN_K:
            raise ValueError(
                f"n_uses={n_uses} at MCS {mcs} carries {seg.codeword_info} information bits; "
                f"at least {MIN_K} are needed"
            )
        self.mcs = get_mcs(mcs)
        self.n_uses = int(n_uses)
        self.coded_bits = self.mcs.qm * self.n_uses
        self.num_codewords = seg.num_codewords
        self.info_bits = seg.num_codewords * seg.codeword_info
        self.code = LdpcCode(seg.codeword_info, seg.codeword_bits, bg=seg.bg, num_bits_per_symbol=self.mcs.qm)
        self.encoder = LdpcEncoder(self.code)
        self.decoder = LdpcDecoder(self.code, **decoder_options)
        self.mapper = QAMMapper(self.modulation)
        self.demapper = QAMDemapper(self.modulation, method=demapper)
        self.scrambler = gold_sequence(self.coded_bits)

    @property
    def modulation(self) -> str:
        """The modulation name of the MCS (``"qpsk"``, ``"16qam"``, ...)."""
        return self.mcs.modulation

    @property
    def codeword_bits(self) -> int:
        """Coded bits per code block, ``E = code.n``."""
        return self.code.n

    @property
    def codeword_info(self) -> int:
        """Information bits per code block, ``k = code.k``."""
        return self.code.k

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
        frame = torch.nn.functional.pad(coded, (0, self.coded_bits - coded.shape[1])) ^ self.scrambler
        with torch.no_grad():
            rx = channels.receive(ch(self.mapper(frame), snr_db, generator=generator), csi)
            llr = self.demapper(rx.x_hat, rx.noise_var) * (1.0 - 2.0 * self.scrambler.to(rx.x_hat.real.dtype))
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


def _resolve(channel: channels.Channel | str, csi: str, n_blocks: int) -> channels.Channel:
    """The channel module of ``channel``, after checking ``csi`` and ``n_blocks``."""
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    ch = channels.get(channel) if isinstance(channel, str) else channel
    channels.check_csi(csi, ch)
    return ch


def block_error_rate(
    link: LdpcLink,
    channel: channels.Channel | str,
    csi: str,
    snr_db: float,
    n_blocks: int,
    seed: int,
) -> float:
    """Transport-block (image) error rate of ``link`` at one SNR, with random bits.

    A transport block is the ``info_bits`` of one image; it is in error when any of its code
    blocks is (ideal CRC). The draws come from a generator seeded from ``seed``, the SNR, the
    MCS, the channel and the CSI mode (see :func:`bler_table`).

    Args:
        link: the link (its MCS, channel uses, demapper and decoder).
        channel: a channel module, or its :func:`channels.get` name (default options).
        csi: receiver CSI mode.
        snr_db: Es/N0 in dB.
        n_blocks: transport blocks simulated.
        seed: seed of every draw.

    Returns:
        The fraction of the ``n_blocks`` transport blocks in error.

    Raises:
        ValueError: on an invalid channel, CSI mode or ``n_blocks < 1``.
    """
    ch = _resolve(channel, csi, n_blocks)
    g = point_generator(seed, float(snr_db), f"mcs={link.mcs.index}", repr(ch), csi)
    per_call = max(1, CHUNK_BITS // link.coded_bits)
    errors = 0
    for start in range(0, n_blocks, per_call):
        count = min(per_call, n_blocks - start)
        bits = torch.randint(0, 2, (count, link.info_bits), generator=g, dtype=torch.uint8)
        errors += int((~link.transmit(bits, ch, float(snr_db), csi, generator=g).ok).sum())
    return errors / n_blocks


def bler_table(
    mcs_list: Sequence[int],
    n_uses: int,
    channel: channels.Channel | str,
    csi: str,
    snrs: Sequence[float],
    n_blocks: int,
    seed: int,
    **link_options: Any,
) -> np.ndarray:
    """Transport-block (image) error rate of each MCS at each SNR, with random bits.

    Each entry is :func:`block_error_rate` of :class:`LdpcLink` ``(mcs, n_uses, **link_options)``:
    each (MCS, SNR) point draws from its own generator, seeded from ``seed``, the SNR, the MCS,
    the channel and the CSI mode, so a point does not depend on the other points asked for.

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
    ch = _resolve(channel, csi, n_blocks)
    table = np.zeros((len(mcs_list), len(snrs)))
    for row, mcs in enumerate(mcs_list):
        link = LdpcLink(mcs, n_uses, **link_options)
        for col, snr in enumerate(snrs):
            table[row, col] = block_error_rate(link, ch, csi, snr, n_blocks, seed)
    return table
