"""WebP, lossy (libwebp's VP8 intra coder through ``imagecodecs``).

Settings: lossy, ``method=6`` (slowest, best compression; about 0.3 ms per CIFAR-10 image), no
alpha, no encoder thread (``numthreads=1`` would start one: 3x slower on small images). VP8
codes YUV 4:2:0 only. Lossy WebP has no grayscale mode: a grayscale image is sent as RGB with
three equal channels (its chroma is flat and costs little) and the receiver keeps the rounded
mean of the decoded channels. Ladder: libwebp quality 0 .. 100 in steps of 5 (21 settings).

Bit counting. The file is the simple lossy format: ``"RIFF", riff size, "WEBP", "VP8 ", chunk
size``, then the VP8 key frame: a 3-byte frame tag (key-frame flag, version, show-frame flag and
the 19-bit size of the first partition), the start code ``9d 01 2a``, 2 bytes each of width and
height (with scaling bits), the first partition (modes and probabilities) and the DCT-token
partition(s), and a pad byte if the chunk size is odd. The RIFF signature, the chunk name, the
start code and the dimensions are the constant header. The frame tag varies with the image and
stays in the payload (all 24 bits, counting 5 constant flag bits too); the payload is the frame
tag and the partitions. The two size fields and the pad byte are not sent: the receiver sets them
from the length of what it received.

Self-delimiting: the first partition's size is in the frame tag, and zero bytes after the last
partition do not change the decoded image (the boolean coder's final byte is flushed with zero
bits; checked in the tests), so the receiver wraps whatever it received.
"""

from __future__ import annotations

import imagecodecs
import numpy as np

from semcomm.codecs.base import Codec, Shape, register

_TAG = slice(20, 23)  # the VP8 frame tag
_FIXED = slice(23, 30)  # start code, width, height


@register
class WebP(Codec):
    """Lossy WebP; payload = the VP8 frame tag and partitions."""

    name = "webp"
    qualities = tuple(range(0, 101, 5))

    def _encode_file(self, image: np.ndarray, quality: int) -> bytes:
        rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
        return bytes(imagecodecs.webp_encode(rgb, level=quality, lossless=False, method=6))

    def _decode_file(self, file: bytes, shape: Shape) -> np.ndarray:
        rgb = imagecodecs.webp_decode(file, hasalpha=False)
        return np.round(rgb.mean(axis=2, keepdims=True)).astype(np.uint8) if shape[2] == 1 else rgb

    def _split(self, file: bytes) -> tuple[bytes, bytes]:
        size = int.from_bytes(file[16:20], "little")
        if file[:4] != b"RIFF" or file[8:16] != b"WEBPVP8 " or len(file) != 20 + size + size % 2:
            raise RuntimeError("webp: expected a RIFF file holding exactly one lossy 'VP8 ' chunk")
        header = file[:4] + bytes(4) + file[8:16] + bytes(4) + file[_FIXED]
        return header, file[_TAG] + file[_FIXED.stop : 20 + size]

    def _join(self, header: bytes, payload: bytes) -> bytes:
        chunk = payload[:3] + header[20:27] + payload[3:]
        pad = bytes(len(chunk) % 2)
        riff = header[8:16] + len(chunk).to_bytes(4, "little") + chunk + pad
        return header[:4] + len(riff).to_bytes(4, "little") + riff
