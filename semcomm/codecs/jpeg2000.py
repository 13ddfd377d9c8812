"""JPEG 2000 (OpenJPEG through ``imagecodecs``), raw J2K codestream.

Settings: irreversible 9/7 wavelet with the colour transform for RGB, one quality layer, one
tile, OpenJPEG's default number of resolutions. Ladder: the target PSNR of OpenJPEG's rate
allocation (``level``, in dB) from 14 to 60 dB in steps of 2 (24 settings); below about 15 dB
only the lowest band is coded, so the lowest settings give the same smallest file.

Bit counting. The codestream is ``SOC, SIZ, COD, QCD, COM ("Created by OpenJPEG ..."), SOT,
SOD, packet data, EOC``. The main header (SOC to COM), the SOT segment with its tile-part length
``Psot`` set to 0 and the SOD marker depend only on the image size, the number of components and
the quality setting: with one tile-part per image, ``Psot = 0`` is the standard's "this
tile-part runs to the EOC marker", so the receiver needs no length. They and the final EOC marker
are the constant header; the payload is the packet data (packet headers and code-block data).

Self-delimiting: packet headers give every code-block length, so the decoder reads exactly the
packets it needs; zero bytes before the appended EOC are ignored.
"""

from __future__ import annotations

import imagecodecs
import numpy as np

from semcomm.codecs.base import Codec, Shape, register

_SOC, _SOT, _SOD, _EOC = 0xFF4F, 0xFF90, 0xFF93, b"\xff\xd9"


@register
class JPEG2000(Codec):
    """JPEG 2000 codestream at a target PSNR; payload = the tile's packet data."""

    name = "jpeg2000"
    qualities = tuple(range(14, 61, 2))

    def _encode_file(self, image: np.ndarray, quality: int) -> bytes:
        data = image[..., 0] if image.shape[2] == 1 else image
        return bytes(imagecodecs.jpeg2k_encode(data, level=quality, codecformat="J2K", numthreads=1))

    def _decode_file(self, file: bytes, shape: Shape) -> np.ndarray:
        return imagecodecs.jpeg2k_decode(file, numthreads=1)

    def _split(self, file: bytes) -> tuple[bytes, bytes]:
        if int.from_bytes(file[:2], "big") != _SOC or not file.endswith(_EOC):
            raise RuntimeError("jpeg2000: the codestream does not start with SOC and end with EOC")
        pos, sot = 2, -1
        while pos + 4 <= len(file):  # marker segments: 2-byte marker, 2-byte length (including itself)
            marker = int.from_bytes(file[pos : pos + 2], "big")
            if marker == _SOD:
                end = pos + 2
                break
            if marker == _SOT:
                sot = pos
            pos += 2 + int.from_bytes(file[pos + 2 : pos + 4], "big")
        else:
            raise RuntimeError("jpeg2000: no SOD marker in the codestream")
        psot = int.from_bytes(file[sot + 6 : sot + 10], "big") if sot >= 0 else -1
        if sot + psot != len(file) - len(_EOC):
            raise RuntimeError("jpeg2000: expected exactly one tile-part running to EOC")
        header = file[: sot + 6] + bytes(4) + file[sot + 10 : end]
        return header, file[end : -len(_EOC)]

    def _join(self, header: bytes, payload: bytes) -> bytes:
        return header + payload + _EOC
