"""The one codec interface, its result types, and the name -> codec registry.

A codec turns an 8-bit image ``[H, W, C]`` (``C`` = 1 or 3) into a file at one setting of its
quality ladder and back. Bits are counted two ways (see :class:`Encoded`):

- **file bits**: the complete file the library writes (container, headers, image data);
- **payload bits** (the default measure): what a link must carry when the receiver already knows
  every byte that is the same for all images of a given shape ``(H, W, C)`` and quality setting
  (the *constant header*, :meth:`Codec.header`), plus ``ceil(log2(len(qualities)))`` bits that
  tell the receiver which quality setting was used. Each codec module says exactly which bytes
  it strips; fields that differ from image to image stay in the payload.

The accounting is enforced, not assumed: :meth:`Codec.encode` checks that the stripped bytes
of every image equal the constant header (which is itself obtained by encoding a fixed
reference image of that shape and quality), and :meth:`Codec.decode` decodes from the constant
header and the payload alone, never from the file. Every payload is also *self-delimiting*: the
receiver may be handed the payload followed by any number of zero bytes (the unused rest of a
bit budget) and decodes the same image, so no payload length is signalled or counted.

Encodings are cached per codec instance, keyed by a hash of the image, so repeated
:meth:`Codec.fit` calls on the same images with different budgets (one per SNR point of a
sweep) encode each image once; keep the instance for the whole sweep.
"""

from __future__ import annotations

import hashlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from semcomm.registry import Registry

__all__ = ["CODECS", "Codec", "Encoded", "Fit", "Ladder", "codec_names", "get", "register"]

Shape = tuple[int, int, int]

#: Seed of the reference image whose encoding defines each constant header.
_REFERENCE_SEED = 0

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, eq=False)
class Encoded:
    """One image encoded at one quality setting.

    Attributes:
        codec: registry name of the codec.
        shape: ``(H, W, C)`` of the image.
        quality_index: position of the quality setting in the codec's ladder.
        quality: the quality setting itself (``codec.qualities[quality_index]``).
        file: the complete file, exactly as the library wrote it.
        payload: the bytes a link carries: the file without its constant header (see the
            codec's module docstring).
        quality_bits: bits that signal ``quality_index``, ``ceil(log2(len(qualities)))``.
    """

    codec: str
    shape: Shape
    quality_index: int
    quality: int
    file: bytes
    payload: bytes
    quality_bits: int

    @property
    def file_bits(self) -> int:
        """Size of the complete file in bits, ``8 * len(file)``."""
        return 8 * len(self.file)

    @property
    def payload_bits(self) -> int:
        """Bits sent over the link: ``8 * len(payload) + quality_bits``."""
        return 8 * len(self.payload) + self.quality_bits


@dataclass(frozen=True, eq=False)
class Ladder:
    """Sizes of a batch of images at every quality setting of a codec.

    Attributes:
        qualities: the codec's ladder, ``Q`` settings ascending in rate.
        payload_bits: int64 ``[B, Q]``, payload bits (quality signalling included).
        file_bits: int64 ``[B, Q]``, complete-file bits.
    """

    qualities: tuple[int, ...]
    payload_bits: np.ndarray
    file_bits: np.ndarray


@dataclass(frozen=True, eq=False)
class Fit:
    """Per image, the best encoding that fits a bit budget (see :meth:`Codec.fit`).

    Attributes:
        quality_index: int64 ``[B]``, the highest ladder index whose payload fits; -1 where
            even the smallest encoding exceeds the budget.
        payload_bits: int64 ``[B]``, payload bits of the chosen encoding; 0 where none fits.
        file_bits: int64 ``[B]``, complete-file bits of the chosen encoding; 0 where none fits.
        images: uint8 ``[B, H, W, C]``, decoded from the constant header and the payload;
            all zeros where none fits (a placeholder: the caller substitutes its fallback).
        payloads: the chosen payloads (``b""`` where none fits), e.g. to send real bits.
    """

    quality_index: np.ndarray
    payload_bits: np.ndarray
    file_bits: np.ndarray
    images: np.ndarray
    payloads: tuple[bytes, ...]

    @property
    def fits(self) -> np.ndarray:
        """bool ``[B]``: whether some encoding fits the budget."""
        return self.quality_index >= 0


@dataclass(frozen=True, eq=False)
class _Entry:
    """Cached encodings of one image at every quality setting: payloads, and payload and file
    bits (int64 ``[Q]``)."""

    payloads: tuple[bytes, ...]
    payload_bits: np.ndarray
    file_bits: np.ndarray


def _check_uint8(array: np.ndarray, what: str, layout: str) -> None:
    """Raise a one-line ``ValueError`` unless ``array`` is uint8 ``layout`` with ``C`` = 1 or 3."""
    ndim = layout.count(",") + 1
    ok = isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.ndim == ndim
    if not (ok and array.shape[-1] in (1, 3)):
        desc = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"{what} must be a uint8 array {layout} with C = 1 or 3, got {desc}")


def _parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None) -> list[R]:
    """``[fn(x) for x in items]``, on ``workers`` threads (None: one per CPU; 1: inline)."""
    items = list(items)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1 or None, got {workers}")
    if workers == 1 or len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


class Codec(ABC):
    """An image codec with a quality ladder, honest bit counting and budget fitting.

    Subclasses set :attr:`name` and :attr:`qualities` and implement the four file-level hooks
    (:meth:`_encode_file`, :meth:`_decode_file`, :meth:`_split`, :meth:`_join`); everything
    else is shared.

    Attributes:
        name: registry name, e.g. ``"jpeg"``.
        qualities: the quality ladder: the settings the codec may use, ascending in rate.
    """

    name: str
    qualities: tuple[int, ...]

    def __init__(self) -> None:
        self._headers: dict[tuple[Shape, int], bytes] = {}
        self._cache: dict[bytes, _Entry] = {}

    # --- hooks -------------------------------------------------------------------------

    @abstractmethod
    def _encode_file(self, image: np.ndarray, quality: int) -> bytes:
        """The complete file of ``image`` (uint8 ``[H, W, C]``) at ``quality``."""

    @abstractmethod
    def _decode_file(self, file: bytes, shape: Shape) -> np.ndarray:
        """Decode a file of an image of ``shape`` ``(H, W, C)`` to uint8 ``[H, W, C]`` (or
        ``[H, W]`` for one channel)."""

    @abstractmethod
    def _split(self, file: bytes) -> tuple[bytes, bytes]:
        """Split a file into ``(constant header, payload)``."""

    @abstractmethod
    def _join(self, header: bytes, payload: bytes) -> bytes:
        """A decodable file from the constant header and a payload that may carry trailing
        zero bytes."""

    # --- public API --------------------------------------------------------------------

    @property
    def quality_bits(self) -> int:
        """Bits that signal the quality setting: ``ceil(log2(len(qualities)))``."""
        return math.ceil(math.log2(len(self.qualities)))

    def quality_index(self, quality: int) -> int:
        """Position of ``quality`` in :attr:`qualities`.

        Raises:
            ValueError: ``quality`` is not on the ladder (one line, listing the ladder).
        """
        try:
            return self.qualities.index(quality)
        except ValueError:
            allowed = ", ".join(str(q) for q in self.qualities)
            message = f"quality {quality!r} is not on the {self.name} ladder; expected one of: {allowed}"
            raise ValueError(message) from None

    def header(self, shape: Shape, quality: int) -> bytes:
        """The constant header the receiver knows for images of ``shape`` ``(H, W, C)`` at
        ``quality``: the stripped bytes of a fixed pseudo-random reference image."""
        key = (tuple(shape), self.quality_index(quality))
        if key not in self._headers:
            reference = np.random.default_rng(_REFERENCE_SEED).integers(0, 256, size=shape, dtype=np.uint8)
            self._headers[key] = self._split(self._encode_file(reference, self.qualities[key[1]]))[0]
        return self._headers[key]

    def encode(self, image: np.ndarray, quality: int) -> Encoded:
        """Encode ``image`` (uint8 ``[H, W, C]``, ``C`` = 1 or 3) at ``quality``.

        Raises:
            ValueError: a malformed image, or ``quality`` not on the ladder.
            RuntimeError: the stripped header of this image differs from the constant header
                (the payload accounting would not hold).
        """
        _check_uint8(image, "image", "[H, W, C]")
        image = np.ascontiguousarray(image)  # e.g. a view of an [N, C, H, W] array
        shape: Shape = image.shape
        index = self.quality_index(quality)
        quality = self.qualities[index]
        file = self._encode_file(image, quality)
        header, payload = self._split(file)
        if header != self.header(shape, quality):
            raise RuntimeError(
                f"{self.name}: the header of this {shape} image at quality {quality} differs from the "
                "constant header, so it cannot be stripped"
            )
        return Encoded(self.name, shape, index, quality, file, payload, self.quality_bits)

    def decode_payload(self, payload: bytes, shape: Shape, quality: int) -> np.ndarray:
        """What the receiver decodes: uint8 ``[H, W, C]`` from the constant header for
        ``(shape, quality)`` and ``payload`` (which may be followed by zero bytes)."""
        file = self._join(self.header(shape, quality), payload)
        image = np.atleast_3d(self._decode_file(file, shape))  # a one-channel [H, W] becomes [H, W, 1]
        if image.shape != tuple(shape) or image.dtype != np.uint8:
            raise RuntimeError(f"{self.name}: decoded {image.dtype} {image.shape}, expected uint8 {tuple(shape)}")
        return image

    def decode(self, encoded: Encoded) -> np.ndarray:
        """Decode ``encoded`` from its payload and the constant header (not from its file):
        uint8 ``[H, W, C]``."""
        if encoded.codec != self.name:
            raise ValueError(f"cannot decode a {encoded.codec!r} encoding with the {self.name!r} codec")
        return self.decode_payload(encoded.payload, encoded.shape, encoded.quality)

    def ladder(self, images: np.ndarray, workers: int | None = None) -> Ladder:
        """Payload and file bits of every image (uint8 ``[B, H, W, C]``) at every quality.

        Encodes each image not yet cached at every quality setting, on ``workers`` threads
        (None: one per CPU; ``imagecodecs`` and ``pillow_heif`` release the GIL while coding).

        Raises:
            ValueError: malformed images.
        """
        _check_uint8(images, "images", "[B, H, W, C]")
        return self._ladder(self._entries(images, workers))

    def fit(self, images: np.ndarray, budget_bits: int | np.ndarray, workers: int | None = None) -> Fit:
        """Per image, the best encoding whose payload fits the budget, and its decoded image.

        "Best" is the highest ladder index whose payload bits are ``<= budget``, found by a
        full scan of the (cached) ladder, so it is exact even where sizes are not monotone in
        the quality setting.

        Args:
            images: uint8 ``[B, H, W, C]``.
            budget_bits: one budget for all images, or int ``[B]``, in bits.
            workers: threads for encoding and decoding (None: one per CPU).

        Raises:
            ValueError: malformed images or budgets.
        """
        _check_uint8(images, "images", "[B, H, W, C]")
        budget = np.asarray(budget_bits)
        if budget.dtype.kind not in "iu" or budget.shape not in ((), (len(images),)):
            raise ValueError(
                f"budget_bits must be an int or an int array [{len(images)}], got {budget.dtype} {budget.shape}"
            )
        entries = self._entries(images, workers)
        ladder = self._ladder(entries)
        fits = ladder.payload_bits <= budget.reshape(-1, 1)
        last = len(self.qualities) - 1
        index = np.where(fits.any(axis=1), last - np.argmax(fits[:, ::-1], axis=1), -1).astype(np.int64)
        rows, chosen = np.arange(len(images)), np.maximum(index, 0)
        payload_bits = np.where(index >= 0, ladder.payload_bits[rows, chosen], 0)
        file_bits = np.where(index >= 0, ladder.file_bits[rows, chosen], 0)
        payloads = tuple(e.payloads[i] if i >= 0 else b"" for e, i in zip(entries, index.tolist()))
        shape = images.shape[1:]

        def decode(item: tuple[bytes, int]) -> np.ndarray:
            payload, i = item
            return self.decode_payload(payload, shape, self.qualities[i]) if i >= 0 else np.zeros(shape, np.uint8)

        decoded = _parallel_map(decode, zip(payloads, index.tolist()), workers)
        out = np.stack(decoded) if decoded else np.zeros(images.shape, np.uint8)
        return Fit(index, payload_bits, file_bits, out, payloads)

    def clear_cache(self) -> None:
        """Forget the cached encodings (constant headers are kept)."""
        self._cache.clear()

    # --- cache -------------------------------------------------------------------------

    @staticmethod
    def _key(image: np.ndarray) -> bytes:
        digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
        digest.update(repr(image.shape).encode())
        return digest.digest()

    def _entries(self, images: np.ndarray, workers: int | None) -> list[_Entry]:
        """Cached encodings of ``images`` (checked by the caller), encoding those not cached."""
        keys = [self._key(image) for image in images]
        todo = {key: image for key, image in zip(keys, images) if key not in self._cache}
        for quality in self.qualities if todo else ():  # constant headers first, once, on this thread
            self.header(images.shape[1:], quality)

        def encode_all(image: np.ndarray) -> _Entry:
            encoded = [self.encode(image, quality) for quality in self.qualities]
            bits = [(e.payload_bits, e.file_bits) for e in encoded]
            return _Entry(tuple(e.payload for e in encoded), *np.array(bits, dtype=np.int64).T)

        for key, entry in zip(todo, _parallel_map(encode_all, todo.values(), workers)):
            self._cache[key] = entry
        return [self._cache[key] for key in keys]

    def _ladder(self, entries: list[_Entry]) -> Ladder:
        shape = (len(entries), len(self.qualities))
        payload = np.array([e.payload_bits for e in entries], dtype=np.int64).reshape(shape)
        file = np.array([e.file_bits for e in entries], dtype=np.int64).reshape(shape)
        return Ladder(self.qualities, payload, file)


CODECS: Registry[Codec] = Registry("codec", group="semcomm.codecs", package="semcomm.codecs")
"""Codec classes by registry name (filled by :func:`register`)."""

C = TypeVar("C", bound=type[Codec])


def register(cls: C) -> C:
    """Class decorator: add a codec class to :data:`CODECS` under its ``name``."""
    CODECS.register(cls.name, cls)
    return cls


codec_names = CODECS.names
#: ``get(name)``: a new instance of the codec (with its own encoding cache).
get = CODECS.get
