"""Image datasets: one description per dataset in a registry (:mod:`semcomm.data.info`), the MNIST
and CIFAR-10 loaders, a folder of the user's own images, and embedded samples.

Full datasets live under a data root (the ``root`` argument, else ``$SEMCOMM_DATA``) in the
torchvision layout (``MNIST/raw/``, ``cifar-10-batches-py/``); every file is md5-checked
on load and nothing is unpickled beyond numpy arrays. :func:`load_sample` needs neither a
data root nor a network; :func:`load_images` picks between the two for evaluation jobs.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    check_split,
)
from semcomm.data.mnist import load_mnist  # noqa: I001 - registered first: the default dataset
from semcomm.data.cifar10 import load_cifar10
from semcomm.data.folder import folder_dataset, load_folder
from semcomm.data.info import (
    DATASETS,
    DatasetInfo,
    EmbeddedSample,
    dataset_info,
    dataset_names,
    images_info,
    register_dataset,
)
from semcomm.data.sample import load_sample, train_mean_image


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
    info = dataset_info(name)
    check_split(split)
    return info.load(root, split, download)


EMBEDDED = "embedded"
"""The ``root`` that selects the embedded sample in :func:`load_images`."""


def images_root(root: str | os.PathLike[str] | None) -> Path | None:
    """Where :func:`load_images` takes images from: a data root, or None for the embedded sample.

    ``root == "embedded"`` gives None; a path gives that path; ``root is None`` gives
    ``$SEMCOMM_DATA`` if it is set, else None.
    """
    if root is None:
        root = os.environ.get(ENV_VAR) or EMBEDDED
    return None if str(root) == EMBEDDED else Path(root).expanduser()


def load_images(
    name: str, root: str | os.PathLike[str] | None = None, split: str = "test", download: bool = False
) -> ImageDataset:
    """Images to evaluate on: the full split from a data root, or the embedded sample.

    Args:
        name: dataset name (see :data:`DATASETS`).
        root: a data root, ``"embedded"`` for the embedded sample (test split only), or None
            for ``$SEMCOMM_DATA`` if set, else the embedded sample (see :func:`images_root`;
            callers should say which was used).
        split: ``"train"`` or ``"test"``.
        download: fetch missing files of a full dataset first.

    Raises:
        ValueError: unknown ``name``/``split``, or a train split asked of the embedded sample.
        DatasetError: the data root lacks the files or they fail their checks.
    """
    folder = images_root(root)
    if folder is not None:
        return load_dataset(name, folder, split, download=download)
    if check_split(split) != "test":
        raise ValueError(f"the embedded sample holds test images only, not {split!r}; pass a data root")
    return load_sample(name)


__all__ = [
    "DATASETS",
    "EMBEDDED",
    "ENV_VAR",
    "DatasetInfo",
    "EmbeddedSample",
    "dataset_info",
    "dataset_names",
    "folder_dataset",
    "images_info",
    "load_folder",
    "register_dataset",
    "SPLITS",
    "ChecksumError",
    "DataRootError",
    "DatasetError",
    "DownloadError",
    "FormatError",
    "ImageDataset",
    "MissingFileError",
    "load_cifar10",
    "images_root",
    "load_dataset",
    "load_images",
    "load_mnist",
    "load_sample",
    "train_mean_image",
]
