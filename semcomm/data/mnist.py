"""MNIST from the official gzip-compressed IDX files (no pickle involved).

Layout under the data root: ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``,
the layout torchvision uses.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from semcomm.data.base import (
    FormatError,
    ImageDataset,
    check_split,
    require_files,
    resolve_root,
)
from semcomm.data.info import DatasetInfo, EmbeddedSample, register_dataset
from semcomm.data.checksum import verify_md5
from semcomm.data.download import download_url

MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
"""The mirror torchvision downloads MNIST from."""

FOLDER = Path("MNIST", "raw")
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
SIDE = 28
CLASS_NAMES = tuple(str(digit) for digit in range(10))

MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def parse_idx(data: bytes, magic: int, source: str) -> np.ndarray:
    """Decode an uncompressed unsigned-byte IDX file.

    Args:
        data: the whole file: big-endian ``magic``, one uint32 size per dimension (the low
            byte of ``magic`` is the number of dimensions), then the ``uint8`` payload.
        magic: the magic number the file must carry (2051 images, 2049 labels).
        source: name of the file, for error messages.

    Returns:
        Read-only ``uint8`` array of the dimensions the header gives, e.g. ``[N, 28, 28]``.

    Raises:
        FormatError: wrong magic, or a payload shorter or longer than the header says.
    """
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) >= 4 and (found := int.from_bytes(data[:4], "big")) != magic:
        raise FormatError(f"{source}: IDX magic number is {found}, expected {magic}")
    if len(data) < header:
        raise FormatError(f"{source}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = struct.unpack_from(f">{ndim}I", data, 4)
    size = math.prod(dims)
    if len(data) - header != size:
        raise FormatError(
            f"{source}: IDX payload is {len(data) - header} bytes, "
            f"the header's dimensions {dims} need {size}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Decode the gzip-compressed IDX file at ``path`` (see :func:`parse_idx`)."""
    with gzip.open(path, "rb") as f:
        return parse_idx(f.read(), magic, str(path))


def _download(folder: Path, names: tuple[str, ...]) -> None:
    """Fetch the files among ``names`` that are missing from ``folder``."""
    for name in names:
        if not (folder / name).is_file():
            download_url(MIRROR + name, folder / name, MD5[name])


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    split: str = "test",
    download: bool = False,
) -> ImageDataset:
    """Load an MNIST split, md5-checking its files.

    Args:
        root: data root holding ``MNIST/raw/``; defaults to ``$SEMCOMM_DATA``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        download: fetch missing files from :data:`MIRROR` first.

    Returns:
        Images ``uint8 [N, 1, 28, 28]``, labels ``int64 [N]``, classes ``"0"`` .. ``"9"``.
    """
    names = SPLIT_FILES[check_split(split)]
    folder = resolve_root(root) / FOLDER
    if download:
        _download(folder, names)
    images_path, labels_path = require_files(folder, names, "MNIST")
    images = _read_idx(verify_md5(images_path, MD5[images_path.name]), IMAGES_MAGIC)
    labels = _read_idx(verify_md5(labels_path, MD5[labels_path.name]), LABELS_MAGIC)
    if images.shape[1:] != (SIDE, SIDE) or len(images) != len(labels):
        raise FormatError(
            f"{folder}: MNIST {split} images {images.shape} do not match labels {labels.shape}"
        )
    return ImageDataset(
        name="mnist",
        images=images[:, np.newaxis].copy(),
        labels=labels.astype(np.int64),
        class_names=CLASS_NAMES,
    )


MNIST = register_dataset(DatasetInfo(
    name="mnist",
    channels=1,
    image_shape=(1, SIDE, SIDE),
    class_names=CLASS_NAMES,
    # digit < 5 / >= 5, crossed with "has a closed loop" (0, 6, 8, 9; a 4 counts as open, as
    # most handwritten 4s are): coarse4 -> coarse2.
    concepts={
        "coarse4": (("< 5 open", "< 5 loop", ">= 5 open", ">= 5 loop"), (1, 0, 0, 0, 0, 2, 3, 2, 3, 3)),
        "coarse2": (("< 5", ">= 5"), (0, 0, 0, 0, 0, 1, 1, 1, 1, 1)),
    },
    loader=load_mnist,
    sample=EmbeddedSample("mnist", 2000),
    mean_image=EmbeddedSample("mnist", 2000).mean_image,
    default_ratio="3/98",
    description="MNIST handwritten digits, 28x28 grey, 10 classes",
))
