"""The HEIF/AVIF container (ISO base media file format) around a single coded image.

libheif and libavif write ``ftyp``, ``meta`` (with ``hdlr``, ``pitm``, ``iloc``, ``iinf``,
``iprp``: the codec configuration, size, colour and pixel properties) and one ``mdat`` box
holding the coded image, located by a single ``iloc`` extent. Only two fields of the container
depend on the coded image: the ``iloc`` extent length and the ``mdat`` box size, both equal to
(or 8 more than) the length of the ``mdat`` content. :func:`split_mdat` zeroes them and
:func:`set_lengths` sets them back from the content a receiver has, so the rest of the container
is part of the constant header.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["set_lengths", "split_mdat"]

_BOX_HEADER = 8
_FULL_BOX_HEADER = 12  # box header, version (1 byte), flags (3 bytes)


@dataclass(frozen=True)
class _Layout:
    """Where the image-dependent fields of a container are."""

    length_offset: int  # of the iloc extent_length field
    length_size: int  # its size in bytes
    data_offset: int  # where the single extent starts (base_offset + extent_offset)
    mdat: int  # offset of the mdat box


def _uint(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size], "big")


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, int]:
    """Offsets of the boxes in ``data[start:end]`` by type, up to and including an ``mdat``."""
    found: dict[bytes, int] = {}
    pos = start
    while pos + _BOX_HEADER <= end:
        size, kind = _uint(data, pos, 4), data[pos + 4 : pos + 8]
        found[kind] = pos
        if kind == b"mdat":
            break
        if size < _BOX_HEADER:
            raise RuntimeError(f"container: unsupported box size {size} of {kind!r}")
        pos += size
    return found


def _layout(data: bytes) -> _Layout:
    top = _boxes(data, 0, len(data))
    if b"meta" not in top or b"mdat" not in top:
        raise RuntimeError("container: expected top-level 'meta' and 'mdat' boxes")
    meta = top[b"meta"]
    inner = _boxes(data, meta + _FULL_BOX_HEADER, meta + _uint(data, meta, 4))
    if b"iloc" not in inner:
        raise RuntimeError("container: no 'iloc' box in 'meta'")
    pos = inner[b"iloc"]
    version = data[pos + 8]
    offset_size, length_size = data[pos + 12] >> 4, data[pos + 12] & 15
    base_offset_size, index_size = data[pos + 13] >> 4, (data[pos + 13] & 15) if version else 0
    wide = 4 if version == 2 else 2
    pos += 14
    items = _uint(data, pos, wide)
    pos += wide + wide + (2 if version else 0) + 2  # item_count, item_ID, construction_method, data_ref_index
    base_offset = _uint(data, pos, base_offset_size)
    pos += base_offset_size
    extents = _uint(data, pos, 2)
    pos += 2 + index_size
    if items != 1 or extents != 1:
        raise RuntimeError(f"container: expected one item with one extent, got {items} items / {extents} extents")
    offset = base_offset + _uint(data, pos, offset_size)
    return _Layout(pos + offset_size, length_size, offset, top[b"mdat"])


def split_mdat(file: bytes) -> tuple[bytes, bytes]:
    """Split a single-image HEIF/AVIF file into ``(container, content)``.

    ``container`` is the file up to the start of the ``mdat`` content (its 8-byte box header
    included) with the ``iloc`` extent length and the ``mdat`` size zeroed; ``content`` is the
    ``mdat`` content, which must be the last box and exactly the item's extent.
    """
    layout = _layout(file)
    start = layout.mdat + _BOX_HEADER
    if (
        layout.data_offset != start
        or _uint(file, layout.mdat, 4) != len(file) - layout.mdat
        or _uint(file, layout.length_offset, layout.length_size) != len(file) - start
    ):
        raise RuntimeError("container: the image item must be the whole of the last box, 'mdat'")
    header = bytearray(file[:start])
    header[layout.length_offset : layout.length_offset + layout.length_size] = bytes(layout.length_size)
    header[layout.mdat : layout.mdat + 4] = bytes(4)
    return bytes(header), file[start:]


def set_lengths(file: bytes) -> bytes:
    """``file`` (a container from :func:`split_mdat` followed by ``mdat`` content) with the
    ``iloc`` extent length and the ``mdat`` size set from the length of that content."""
    layout = _layout(file)
    content = len(file) - layout.mdat - _BOX_HEADER
    out = bytearray(file)
    out[layout.length_offset : layout.length_offset + layout.length_size] = content.to_bytes(layout.length_size, "big")
    out[layout.mdat : layout.mdat + 4] = (_BOX_HEADER + content).to_bytes(4, "big")
    return bytes(out)
