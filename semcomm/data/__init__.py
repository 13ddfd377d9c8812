"""Image datasets: MNIST and CIFAR-10 loaders, a name registry, and embedded samples.

Full datasets live under a data root (the ``root`` argument, else ``$SEMCOMM_DATA``) in the
torchvision layout (``MNIST/raw/``, ``cifar-10-batches-py/``); every file is md5-checked
on load and nothing is unpickled beyond numpy arrays. :func:`load_sample` needs neither a
data root nor a network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType

from semcomm.data.base import (
    ENV_VAR,
    SPLITS,
    ChecksumError,
    DataRootError,
    DatasetError,
    DownloadError,
    FormatError,
    ImageDataset,
    MissingFileError,
    check_choice,
)
from semcomm.data.cifar10 import load_cifar10
from semcomm.data.mnist import load_mnist
from semcomm.data.sample import SAMPLE_SIZES, load_sample

Loader = Callable[..., ImageDataset]

DATASETS: Mapping[str, Loader] = MappingProxyType({"mnist": load_mnist, "cifar10": load_cifar10})
"""Loaders by dataset name; each takes ``(root, split, download)``."""


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "test",
    download: bool = False,
) -> ImageDataset:
    """Load split ``split`` of the dataset registered as ``name`` (see :data:`DATASETS`).

    Raises:
        ValueError: unknown ``name`` or ``split`` (one line, listing the known ones).
    """
    loader = DATASETS[check_choice("dataset", name, DATASETS)]
    return loader(root=root, split=split, download=download)


__all__ = [
    "DATASETS",
    "ENV_VAR",
    "SAMPLE_SIZES",
    "SPLITS",
    "ChecksumError",
    "DataRootError",
    "DatasetError",
    "DownloadError",
    "FormatError",
    "ImageDataset",
    "MissingFileError",
    "load_cifar10",
    "load_dataset",
    "load_mnist",
    "load_sample",
]
