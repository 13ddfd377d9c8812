"""CIFAR-10 from the official "python version" batches, read with a restricted unpickler.

Layout under the data root: ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``,
the layout torchvision uses. The batches are Python 2 pickles; they are never passed to
plain :func:`pickle.load`.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np
from numpy._core.multiarray import _reconstruct

from semcomm.data.base import (
    FormatError,
    ImageDataset,
    check_split,
    require_files,
    resolve_root,
)
from semcomm.data.info import DatasetInfo, EmbeddedSample, hflip, register_dataset
from semcomm.data.checksum import verify_md5
from semcomm.data.download import download_url, extract_tar

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
META = "batches.meta"
SIDE = 32

MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    META: "5ff9c542aee3614f3951f8cda6e48888",
}
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}


_PICKLE_GLOBALS: Mapping[tuple[str, str], Any] = MappingProxyType(
    {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
)
"""The only globals a pickle may reference: those that rebuild a numpy array."""


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves no global outside :data:`_PICKLE_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allowed global, refusing every other one."""
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"forbidden global {module}.{name} in pickle: "
                "only numpy array reconstruction is allowed"
            ) from None


def safe_unpickle(file: BinaryIO) -> Any:
    """Unpickle ``file`` (Python 2 strings kept as ``bytes``), admitting no global but numpy's
    array reconstruction.

    Raises:
        pickle.UnpicklingError: the pickle references any other global, naming it.
    """
    return _ArrayOnlyUnpickler(file, encoding="bytes").load()


def _read_dict(path: Path, keys: tuple[bytes, ...]) -> dict[bytes, Any]:
    """Unpickle the dict at ``path`` and check it has ``keys``."""
    with path.open("rb") as f:
        content = safe_unpickle(f)
    if not isinstance(content, dict) or not all(key in content for key in keys):
        raise FormatError(f"{path}: not a CIFAR-10 dict with keys {[k.decode() for k in keys]}")
    return content


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as images ``uint8 [n, 3, 32, 32]`` and labels ``int64 [n]``."""
    content = _read_dict(path, (b"data", b"labels"))
    data, labels = content[b"data"], np.asarray(content[b"labels"], dtype=np.int64)
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.shape != (len(labels), 3 * SIDE * SIDE)
    ):
        raise FormatError(
            f"{path}: batch data is not uint8 [{len(labels)}, {3 * SIDE * SIDE}] "
            f"(got {getattr(data, 'dtype', type(data).__name__)} {np.shape(data)})"
        )
    # Each row holds the red, then green, then blue 32x32 plane, row-major: already CHW.
    return data.reshape(-1, 3, SIDE, SIDE), labels


def _read_class_names(path: Path) -> tuple[str, ...]:
    """The ten class names stored in ``batches.meta``."""
    names = _read_dict(path, (b"label_names",))[b"label_names"]
    if len(names) != 10 or not all(isinstance(name, bytes) for name in names):
        raise FormatError(f"{path}: expected 10 byte-string label names, got {names!r}")
    return tuple(name.decode("ascii") for name in names)


def _download(root: Path) -> None:
    """Fetch and md5-check the archive, extract it safely and move the verified files into
    ``root / FOLDER``; the archive is deleted afterwards."""
    archive = root / ARCHIVE
    if not archive.is_file():
        download_url(URL, archive, ARCHIVE_MD5)
    verify_md5(archive, ARCHIVE_MD5)
    target = root / FOLDER
    with tempfile.TemporaryDirectory(prefix=".cifar10-extract-", dir=root) as tmp:
        extract_tar(archive, Path(tmp))
        extracted = Path(tmp) / FOLDER
        for name, md5 in MD5.items():
            if not (extracted / name).is_file():
                raise FormatError(f"{archive}: archive lacks {FOLDER}/{name}")
            verify_md5(extracted / name, md5)
        target.mkdir(exist_ok=True)
        for name in MD5:
            os.replace(extracted / name, target / name)
    archive.unlink()


def load_cifar10(
    root: str | os.PathLike[str] | None = None,
    split: str = "test",
    download: bool = False,
) -> ImageDataset:
    """Load a CIFAR-10 split, md5-checking its files.

    Args:
        root: data root holding ``cifar-10-batches-py/``; defaults to ``$SEMCOMM_DATA``.
        split: ``"train"`` (50,000 images, batches 1-5 in order) or ``"test"`` (10,000).
        download: fetch the official archive from :data:`URL` first if a file is missing.

    Returns:
        Images ``uint8 [N, 3, 32, 32]`` (RGB), labels ``int64 [N]``, the class names from
        ``batches.meta`` (airplane, automobile, ..., truck).
    """
    names = (*SPLIT_FILES[check_split(split)], META)
    root = resolve_root(root)
    folder = root / FOLDER
    if download and not all((folder / name).is_file() for name in names):
        root.mkdir(parents=True, exist_ok=True)
        _download(root)
    *batch_paths, meta_path = require_files(folder, names, "CIFAR-10")
    class_names = _read_class_names(verify_md5(meta_path, MD5[META]))
    batches = [_read_batch(verify_md5(path, MD5[path.name])) for path in batch_paths]
    return ImageDataset(
        name="cifar10",
        images=np.concatenate([images for images, _ in batches]),
        labels=np.concatenate([labels for _, labels in batches]),
        class_names=class_names,
    )


CIFAR10 = register_dataset(DatasetInfo(
    name="cifar10",
    channels=3,
    image_shape=(3, SIDE, SIDE),
    class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    # road vehicle (automobile, truck), other vehicle (airplane, ship), mammal (cat, deer, dog,
    # horse), other animal (bird, frog) -> vehicle / animal.
    concepts={
        "coarse4": (("road vehicle", "other vehicle", "mammal", "other animal"), (1, 0, 3, 2, 2, 2, 3, 2, 1, 0)),
        "coarse2": (("vehicle", "animal"), (0, 0, 1, 1, 1, 1, 1, 1, 0, 0)),
    },
    loader=load_cifar10,
    sample=EmbeddedSample("cifar10", 1000),
    mean_image=EmbeddedSample("cifar10", 1000).mean_image,
    augment=hflip,
    default_ratio="1/18",
    description="CIFAR-10, 32x32 colour, 10 classes",
))
