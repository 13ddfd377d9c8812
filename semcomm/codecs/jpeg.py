"""JPEG (baseline, libjpeg-turbo through ``imagecodecs``).

Settings: baseline sequential DCT, the standard (Annex K) Huffman tables (``optimize=False``),
4:2:0 chroma subsampling for RGB (libjpeg's default; it beats 4:4:4 below about 1.2 kbit on
CIFAR-10), one component for grayscale. Ladder: libjpeg quality 1 .. 95 (27 settings, denser at
low rates; 100 is left out: it costs much more for little gain).

Bit counting. The file is ``SOI, APP0 (JFIF), DQT, SOF0, DHT, SOS header, entropy-coded scan,
EOI``. Everything up to and including the SOS segment, and the final EOI marker, depends only on
the image size, the number of components and the quality (the quantisation tables are the
scaled standard ones and the Huffman tables are the standard ones), so it is the constant
header; the payload is the entropy-coded scan data (byte stuffing included). Optimised Huffman
tables would make the DHT segments image-dependent (they would have to be sent) and cost more in
total at these sizes.

Self-delimiting: the decoder knows the number of MCUs from the header and stops after the last
one; zero bytes after the scan are skipped before the appended EOI.
"""

from __future__ import annotations

import imagecodecs
import numpy as np

from semcomm.codecs.base import Codec, Shape, register

_SOI, _SOS, _EOI = b"\xff\xd8", 0xDA, b"\xff\xd9"


@register
class JPEG(Codec):
    """Baseline JPEG with standard Huffman tables; payload = the entropy-coded scan."""

    name = "jpeg"
    qualities = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 22, 26, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95)

    def _encode_file(self, image: np.ndarray, quality: int) -> bytes:
        data, subsampling = (image[..., 0], None) if image.shape[2] == 1 else (image, "420")
        return bytes(imagecodecs.jpeg8_encode(data, level=quality, optimize=False, subsampling=subsampling))

    def _decode_file(self, file: bytes, shape: Shape) -> np.ndarray:
        return imagecodecs.jpeg8_decode(file)

    def _split(self, file: bytes) -> tuple[bytes, bytes]:
        if not (file.startswith(_SOI) and file.endswith(_EOI)):
            raise RuntimeError("jpeg: the file does not start with SOI and end with EOI")
        pos = len(_SOI)
        while pos + 4 <= len(file):  # marker segments: 0xFF, marker, 2-byte length (including itself)
            marker, length = file[pos + 1], int.from_bytes(file[pos + 2 : pos + 4], "big")
            pos += 2 + length
            if marker == _SOS:
                return file[:pos], file[pos : -len(_EOI)]
        raise RuntimeError("jpeg: no SOS segment in the file")

    def _join(self, header: bytes, payload: bytes) -> bytes:
        return header + payload + _EOI
