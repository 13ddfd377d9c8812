"""AVIF (AV1 intra through libavif and libaom, via ``imagecodecs``).

Settings: 8-bit YUV 4:4:4 for RGB (no worse than 4:2:0 at low rates, better above about 2 kbit
on CIFAR-10, and it can approach lossless); monochrome (YUV 4:0:0) for grayscale, given to
libavif as RGB with three equal channels (``imagecodecs`` codes a 2-D array losslessly whatever
the quality); encoder speed 6 (about 2 ms per CIFAR-10 image: the default, slowest speed takes
20x longer for almost the same sizes); one thread per image. Ladder: libavif quality 0 .. 95 in
steps of 5 (20 settings; 100 would switch to lossless with different colour signalling).

Bit counting. The file is an ISO-BMFF container (``ftyp``, ``meta`` with ``hdlr``, ``pitm``,
``iloc``, ``iinf`` and ``iprp``: ``ispe``, ``pixi``, ``av1C``, ``colr``), about 270 bytes, then
``mdat`` holding AV1 OBUs: a temporal delimiter, the sequence header and one frame OBU. The
container (with the ``iloc`` extent length and ``mdat`` size zeroed, see
:mod:`semcomm.codecs.isobmff`), the temporal delimiter, the sequence header and the frame OBU's
1-byte OBU header depend only on the image size, the number of channels and the quality setting:
they are the constant header. The payload is the frame OBU's size field (LEB128) and its
content (frame header and tile data).

Self-delimiting: the payload starts with its own length, so the receiver drops whatever
follows it.
"""

from __future__ import annotations

import imagecodecs
import numpy as np

from semcomm.codecs.base import Codec, Shape, register
from semcomm.codecs.isobmff import set_lengths, split_mdat

_OBU_FRAME = 6


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, position after it)`` of the unsigned LEB128 number at ``data[pos:]``."""
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


@register
class AVIF(Codec):
    """AVIF still image; payload = the AV1 frame OBU without its 1-byte OBU header."""

    name = "avif"
    qualities = tuple(range(0, 96, 5))

    def _encode_file(self, image: np.ndarray, quality: int) -> bytes:
        rgb, pixelformat = (np.repeat(image, 3, axis=2), "yuv400") if image.shape[2] == 1 else (image, "yuv444")
        return bytes(imagecodecs.avif_encode(rgb, level=quality, speed=6, pixelformat=pixelformat, numthreads=1))

    def _decode_file(self, file: bytes, shape: Shape) -> np.ndarray:
        return imagecodecs.avif_decode(file, numthreads=1)

    def _split(self, file: bytes) -> tuple[bytes, bytes]:
        container, content = split_mdat(file)
        pos = 0
        while True:  # OBUs: header byte (type in bits 6..3, extension flag, size flag), LEB128 size
            obu = content[pos]
            if obu & 0x06 != 0x02:
                raise RuntimeError("avif: expected OBUs with size fields and no extension headers")
            size, end = _leb128(content, pos + 1)
            if end + size >= len(content):
                break
            pos = end + size
        if end + size != len(content) or (obu >> 3) & 15 != _OBU_FRAME:
            raise RuntimeError("avif: expected the image to end with one frame OBU")
        return container + content[: pos + 1], content[pos + 1 :]

    def _join(self, header: bytes, payload: bytes) -> bytes:
        size, end = _leb128(payload, 0)
        return set_lengths(header + payload[: end + size])
