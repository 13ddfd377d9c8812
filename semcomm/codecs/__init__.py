"""Image codecs behind one interface, for the separate source-channel coding (SSCC) baselines.

.. code-block:: python

    from semcomm import codecs

    codec = codecs.get("hevc")                 # jpeg | jpeg2000 | webp | avif | hevc
    enc = codec.encode(image, codec.qualities[5])  # image: uint8 [H, W, C], C = 1 or 3
    enc.payload_bits, enc.file_bits            # payload: what a link carries (the default measure)
    codec.decode(enc)                          # uint8 [H, W, C], from the payload + constant header
    fit = codec.fit(images, budget_bits=1024)  # images: uint8 [B, H, W, C]; best fitting quality each
    fit.quality_index, fit.fits, fit.images, fit.payload_bits

See :mod:`semcomm.codecs.base` for the bit counting rules and each codec's module for its
settings, its quality ladder and what it strips. Importing a codec's module registers it.
"""

from semcomm.codecs.avif import AVIF
from semcomm.codecs.base import CODECS, Codec, Encoded, Fit, Ladder, codec_names, get, register
from semcomm.codecs.hevc import HEVC
from semcomm.codecs.jpeg import JPEG
from semcomm.codecs.jpeg2000 import JPEG2000
from semcomm.codecs.webp import WebP

__all__ = [
    "AVIF",
    "CODECS",
    "HEVC",
    "JPEG",
    "JPEG2000",
    "Codec",
    "Encoded",
    "Fit",
    "Ladder",
    "WebP",
    "codec_names",
    "get",
    "register",
]
