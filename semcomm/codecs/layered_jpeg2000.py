"""Scalable JPEG 2000: one codestream per image whose quality layers are cut into per-layer chunks.

A layered SSCC transmitter has ``L`` channel layers, layer ``l`` carrying at most ``b_l`` bits
per image (its link's budget at its MCS). :class:`LayeredJPEG2000` encodes each image **once**
as a JPEG 2000 codestream (OpenJPEG through Pillow) with one *quality layer* per channel layer
that can carry one, in LRCP progression (layer first), so the packets of quality layers
``1..q`` are a prefix of the packet data: a real truncation point of the standard. Chunk ``l``
is the packet data of its quality layer; the receiver of channel layers ``1..l`` concatenates
the chunks it holds and decodes that prefix.

Rate control: OpenJPEG's rate allocation aims at a total size per quality layer
(``quality_mode="rates"``); the codestream's PLT marker gives every packet's length, hence the
exact size of each chunk. Each chunk must fit its layer: a layer whose chunk is too large gets
a smaller target and the image is encoded again (a few rounds); a layer that cannot hold even
the smallest chunk carries nothing (the quality layer is dropped; the receiver knows which
layers carry chunks from the budgets, which the plans fix).

Bit counting, as for :mod:`semcomm.codecs.jpeg2000`: the main header (SOC…COM, which depends
only on the image shape and the number of quality layers), the SOT segment with ``Psot = 0``,
the SOD marker and the final EOC are the constant header the receiver knows; the PLT segment is
a transmitter-side aid and is not sent. Each chunk travels as a length field of
``ceil(log2(b_l + 1))`` bits (its size in bytes) followed by its bytes, so a receiver strips the
zero padding of the link exactly.

A lost chunk: quality layer ``q`` depends on layers ``< q`` (inclusion tag trees, code-block
states), so a receiver that lost chunk ``j`` decodes the chunks before it only, whatever it
received above ``j``; a receiver that lost the first non-empty chunk gets the fallback.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import imagecodecs
import numpy as np
from PIL import Image

from semcomm.codecs.base import _REFERENCE_SEED

__all__ = ["LayeredEncoding", "LayeredJPEG2000", "length_bits"]

_SOT, _PLT, _SOD, _EOC = 0xFF90, 0xFF58, 0xFF93, b"\xff\xd9"


def length_bits(budget_bits: int) -> int:
    """Bits of the length field of a chunk in a layer of ``budget_bits``: its size in bytes,
    ``0 ... budget_bits // 8``."""
    return max(1, math.ceil(math.log2(budget_bits // 8 + 1)))


def chunk_capacity(budget_bits: int) -> int:
    """The most chunk bytes a layer of ``budget_bits`` carries after its length field (0 if none)."""
    return max(0, (budget_bits - length_bits(budget_bits)) // 8) if budget_bits > 0 else 0


@dataclass(frozen=True)
class LayeredEncoding:
    """One image cut into per-layer chunks.

    Attributes:
        shape: ``(H, W, C)``.
        chunks: ``L`` byte strings (empty for a layer that carries nothing); their
            concatenation is the codestream's packet data.
        quality_layers: number of JPEG 2000 quality layers (the non-empty chunks); it fixes
            the constant header.
    """

    shape: tuple[int, int, int]
    chunks: tuple[bytes, ...]
    quality_layers: int


class LayeredJPEG2000:
    """Budget-driven scalable JPEG 2000 (see the module docstring).

    Args:
        resolutions: wavelet resolution levels (3 suits 32×32 images: the lowest band is 8×8).
        rounds: encoding rounds of the rate control per image.
    """

    name = "jpeg2000-layers"

    def __init__(self, resolutions: int = 3, rounds: int = 6) -> None:
        self.resolutions = resolutions
        self.rounds = rounds
        self._headers: dict[tuple[tuple[int, int, int], int], bytes] = {}
        self._cache: dict[tuple[bytes, tuple[int, ...]], LayeredEncoding] = {}

    # --- codestream -----------------------------------------------------------------------

    def _codestream(self, image: np.ndarray, sizes: Sequence[int]) -> tuple[bytes, bytes, list[int]]:
        """Encode ``image`` (uint8 ``[H, W, C]``) with quality layers aiming at total file sizes
        ``sizes`` (bytes, increasing); returns (stripped header, packet data, cumulative end of
        each quality layer in the packet data)."""
        data = image[..., 0] if image.shape[2] == 1 else image
        raw = image.size
        buf = io.BytesIO()
        Image.fromarray(data).save(
            buf, "JPEG2000", quality_mode="rates", quality_layers=[raw / s for s in sizes], progression="LRCP",
            plt=True, irreversible=True, no_jp2=True, num_resolutions=self.resolutions, mct=1 if image.shape[2] == 3 else 0,
        )
        file = buf.getvalue()
        pos, sot, plt_at, plt_len = 2, -1, -1, 0
        while True:  # marker segments up to SOD: 2-byte marker, 2-byte length including itself
            marker = int.from_bytes(file[pos : pos + 2], "big")
            if marker == _SOD:
                sod = pos + 2
                break
            length = int.from_bytes(file[pos + 2 : pos + 4], "big")
            if marker == _SOT:
                sot = pos
            elif marker == _PLT:
                plt_at, plt_len = pos, 2 + length
            pos += 2 + length
        if sot < 0 or plt_at < 0 or not file.endswith(_EOC):
            raise RuntimeError("jpeg2000-layers: expected one tile-part with a PLT marker, ending with EOC")
        lengths, value = [], 0
        for byte in file[plt_at + 5 : plt_at + plt_len]:  # Iplt: 7 bits a byte, high bit = "more"
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                lengths.append(value)
                value = 0
        per_layer = len(lengths) // len(sizes)
        ends = [sum(lengths[: (q + 1) * per_layer]) for q in range(len(sizes))]
        header = bytearray(file[:plt_at] + file[plt_at + plt_len : sod])
        header[sot + 6 : sot + 10] = bytes(4)  # Psot = 0: the tile-part runs to EOC
        return bytes(header), file[sod : -len(_EOC)], ends

    def header(self, shape: tuple[int, int, int], quality_layers: int) -> bytes:
        """The constant header for images of ``shape`` with ``quality_layers`` quality layers."""
        key = (tuple(shape), quality_layers)
        if key not in self._headers:
            reference = np.random.default_rng(_REFERENCE_SEED).integers(0, 256, size=shape, dtype=np.uint8)
            sizes = [200 * (q + 1) for q in range(quality_layers)]
            self._headers[key] = self._codestream(reference, sizes)[0]
        return self._headers[key]

    # --- encoding -------------------------------------------------------------------------

    def encode(self, image: np.ndarray, budget_bits: Sequence[int]) -> LayeredEncoding:
        """Encode ``image`` (uint8 ``[H, W, C]``) into ``len(budget_bits)`` chunks, chunk ``l``
        fitting in ``budget_bits[l]`` bits with its length field (cached per image and budgets).

        Raises:
            RuntimeError: the stripped header differs from the constant header.
        """
        image = np.ascontiguousarray(image)
        key = (image.tobytes() + repr(image.shape).encode(), tuple(int(b) for b in budget_bits))
        if key not in self._cache:
            self._cache[key] = self._encode(image, [chunk_capacity(int(b)) for b in budget_bits])
        return self._cache[key]

    def _encode(self, image: np.ndarray, capacity: list[int]) -> LayeredEncoding:
        shape = tuple(image.shape)
        active = [l for l, c in enumerate(capacity) if c > 0]
        margin = {l: 0 for l in active}  # bytes taken off each layer's target after an overshoot
        while active:
            overhead = len(self.header(shape, len(active)))
            cumulative = np.cumsum([capacity[l] for l in active])
            sizes = [overhead + int(c) - margin[l] for c, l in zip(cumulative, active)]
            if any(b <= a for a, b in zip([overhead, *sizes], sizes)):  # a layer squeezed to nothing
                active.remove(next(l for l, a, b in zip(active, [overhead, *sizes], sizes) if b <= a))
                continue
            header, packets, ends = self._codestream(image, sizes)
            if header != self.header(shape, len(active)):
                raise RuntimeError("jpeg2000-layers: the header of this image differs from the constant header")
            chunks = [packets[a:b] for a, b in zip([0, *ends], ends)]
            over = {l: len(c) - capacity[l] for l, c in zip(active, chunks) if len(c) > capacity[l]}
            if not over:
                out = [b""] * len(capacity)
                for l, chunk in zip(active, chunks):
                    out[l] = chunk
                return LayeredEncoding(shape, tuple(out), len(active))
            first = min(over)
            margin[first] += over[first] + 1
            if margin[first] > self.rounds * max(8, capacity[first] // 4):  # it will not fit: drop the layer
                active.remove(first)
        return LayeredEncoding(shape, tuple(b"" for _ in capacity), 0)

    def stream_bits(self, encoding: LayeredEncoding, budget_bits: Sequence[int]) -> list[np.ndarray]:
        """The bits each layer sends for ``encoding``: per layer, uint8 ``[budget_bits[l]]`` =
        the chunk's length in bytes (``length_bits`` bits, MSB first), its bytes, zero padding.
        A layer with no budget sends an empty array."""
        out = []
        for chunk, budget in zip(encoding.chunks, budget_bits):
            bits = np.zeros(int(budget), dtype=np.uint8)
            if budget > 0:
                n = length_bits(int(budget))
                bits[:n] = (len(chunk) >> np.arange(n - 1, -1, -1)) & 1
                payload = np.unpackbits(np.frombuffer(chunk, dtype=np.uint8))
                bits[n : n + payload.size] = payload
            out.append(bits)
        return out

    # --- decoding -------------------------------------------------------------------------

    def decode(self, encoding: LayeredEncoding, received: Sequence[bool], layer: int) -> np.ndarray | None:
        """What the receiver of layers ``1..layer`` decodes, given which chunks arrived
        (``received[l]``, bool per layer): uint8 ``[H, W, C]`` from the chunks before the first
        lost non-empty chunk, or None if no non-empty chunk is usable (the fallback)."""
        prefix, layers_used = b"", 0
        for chunk, ok in zip(encoding.chunks[:layer], received[:layer]):
            if not chunk:
                continue
            if not ok:
                break
            prefix += chunk
            layers_used += 1
        if layers_used == 0:
            return None
        file = self.header(encoding.shape, encoding.quality_layers) + prefix + _EOC
        return np.atleast_3d(imagecodecs.jpeg2k_decode(file, numthreads=1))
