"""HEVC intra in HEIF (x265 through libheif and ``pillow_heif``): the stand-in for BPG.

BPG is HEVC intra coding of one picture at a constant QP; so is this. Settings: constant QP
(``x265:qp``, as BPG's ``-q``), x265 preset ``slow`` (libheif's default), tuned for PSNR
(``tune=psnr`` and psycho-visual RD, psy-RDOQ and adaptive quantisation off; libheif's default
``tune=ssim`` with psy-RD 1.0 optimises perceived, not squared, error), no thread pool (faster
for small pictures, deterministic). Chroma 4:4:4 for RGB: at low rates it is as good as 4:2:0
(bpgenc's default) and above about 2 kbit on CIFAR-10 it is better, reaching 44 dB where 4:2:0
stalls at 37 dB; monochrome (4:0:0) for grayscale. Ladder: QP 51 (smallest) down to 3 in steps
of 3 (17 settings; x265 codes QP 0 to 3 identically).

Padding: libheif never codes a picture smaller than 64 x 64 (nor odd sizes): it extends the
image to ``max(64, even size)`` per side by repeating edge pixels and records the real size in a
``clap`` (clean aperture) box, which the decoder applies; 32 x 32 and 28 x 28 images are thus
coded as 64 x 64 pictures and come back cropped. The padding is cheap to code (it repeats the
edge) but not free, and it is counted: HEVC here is somewhat worse than BPG, which pads to a
multiple of 8 only.

Bit counting. The file is an ISO-BMFF container (``ftyp``, ``meta`` with ``hdlr``, ``iloc``,
``iinf``, ``pitm`` and ``iprp``: ``hvcC`` with the VPS, SPS and PPS NAL units, ``colr``,
``ispe``, ``clap``, ``pixi``), about 400 bytes, then ``mdat`` with one length-prefixed slice NAL
unit. The container (with the ``iloc`` extent length and ``mdat`` size zeroed, see
:mod:`semcomm.codecs.isobmff`), including the VPS/SPS/PPS, and the slice's 2-byte NAL unit
header depend only on the image size, the number of channels and the QP: they are the constant
header. The payload is the slice NAL unit after its header (slice header and slice data); its
4-byte length prefix is not sent. The first bits of the slice header (slice type, PPS id, QP
delta) are constant too, but image-dependent flags (SAO) follow within the same bytes, so they are
sent: a conservative 1 to 3 bytes.

Self-delimiting: a NAL unit ends with the RBSP stop bit, so its last byte is non-zero (checked
at encoding); the receiver drops trailing zero bytes and rebuilds the length prefix.
"""

from __future__ import annotations

import io

import numpy as np
import pillow_heif

from semcomm.codecs.base import Codec, Shape, register
from semcomm.codecs.isobmff import set_lengths, split_mdat

_NAL_LENGTH = 4  # bytes of the NAL unit length prefix in HEIF (hvcC lengthSizeMinusOne = 3)
_NAL_HEADER = 2

#: x265 settings besides the QP (see the module docstring).
_X265_PARAMS = {
    "tune": "psnr",
    "x265:psy-rd": "0",
    "x265:psy-rdoq": "0",
    "x265:aq-mode": "0",
    "x265:pools": "none",
}


@register
class HEVC(Codec):
    """HEVC intra (x265) in HEIF at constant QP; payload = the slice NAL unit after its header."""

    name = "hevc"
    qualities = tuple(range(51, 2, -3))

    def _encode_file(self, image: np.ndarray, quality: int) -> bytes:
        mode = "L" if image.shape[2] == 1 else "RGB"
        heif = pillow_heif.from_bytes(mode=mode, size=(image.shape[1], image.shape[0]), data=image.tobytes())
        out = io.BytesIO()
        heif.save(out, enc_params={"x265:qp": str(quality), **_X265_PARAMS}, chroma="444")
        return out.getvalue()

    def _decode_file(self, file: bytes, shape: Shape) -> np.ndarray:
        return np.asarray(pillow_heif.open_heif(io.BytesIO(file), convert_hdr_to_8bit=True))

    def _split(self, file: bytes) -> tuple[bytes, bytes]:
        container, content = split_mdat(file)
        nal = content[_NAL_LENGTH:]
        if int.from_bytes(content[:_NAL_LENGTH], "big") != len(nal) or not nal[-1]:
            raise RuntimeError("hevc: expected one NAL unit in 'mdat', ending in a non-zero byte")
        return container + nal[:_NAL_HEADER], nal[_NAL_HEADER:]

    def _join(self, header: bytes, payload: bytes) -> bytes:
        nal = header[-_NAL_HEADER:] + payload.rstrip(b"\0")
        return set_lengths(header[:-_NAL_HEADER] + len(nal).to_bytes(_NAL_LENGTH, "big") + nal)
