"""The dataset container, the data-root and split rules, and the errors the loaders raise.

Every error message is a single line, so that command-line front ends can print it as-is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semcomm.registry import check_choice

ENV_VAR = "SEMCOMM_DATA"
"""Environment variable naming the data root when no ``root`` argument is given."""

SPLITS = ("train", "test")


class DatasetError(Exception):
    """Base class of every error raised while locating, fetching or parsing a dataset."""


class DataRootError(DatasetError, FileNotFoundError):
    """No data root was given and ``SEMCOMM_DATA`` is unset."""


class MissingFileError(DatasetError, FileNotFoundError):
    """A dataset file is absent from the data root."""


class ChecksumError(DatasetError, ValueError):
    """A file's md5 differs from the published one."""


class FormatError(DatasetError, ValueError):
    """A file is not in the format its loader expects (bad header, size, content)."""


class DownloadError(DatasetError, OSError):
    """A download failed before its bytes could be checked."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled image classification set held in memory.

    Attributes:
        name: registry name of the dataset, e.g. ``"mnist"``.
        images: ``uint8`` array ``[N, C, H, W]``.
        labels: ``int64`` array ``[N]`` with values in ``0 .. len(class_names) - 1``.
        class_names: one name per class, indexed by label.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"{self.name}: images must be uint8 [N, C, H, W], "
                f"got {self.images.dtype} of shape {self.images.shape}"
            )
        if self.labels.dtype != np.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"{self.name}: labels must be int64 [{self.images.shape[0]}], "
                f"got {self.labels.dtype} of shape {self.labels.shape}"
            )
        if len(self.labels) and not 0 <= self.labels.min() <= self.labels.max() < len(
            self.class_names
        ):
            raise ValueError(
                f"{self.name}: labels span {self.labels.min()}..{self.labels.max()}, "
                f"outside 0..{len(self.class_names) - 1}"
            )

    def __len__(self) -> int:
        """Number of images ``N``."""
        return int(self.labels.shape[0])


def check_split(split: str) -> str:
    """Return ``split`` if it is ``"train"`` or ``"test"``, else raise ``ValueError``."""
    return check_choice("split", split, SPLITS)


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """The data root: ``root`` if given, else ``$SEMCOMM_DATA``.

    Raises:
        DataRootError: neither is set.
    """
    if root is None:
        root = os.environ.get(ENV_VAR) or None
    if root is None:
        raise DataRootError(
            f"no data root: pass root=<folder> or set the {ENV_VAR} environment variable"
        )
    return Path(root).expanduser()


def require_files(folder: Path, names: Iterable[str], dataset: str) -> list[Path]:
    """Paths of ``names`` inside ``folder``, checking that each exists.

    Raises:
        MissingFileError: naming the first missing file and suggesting ``download=True`` / ``--download``.
    """
    paths = [folder / name for name in names]
    for path in paths:
        if not path.is_file():
            raise MissingFileError(
                f"{dataset} file not found: {path}; fetch it with download=True (semcomm train --download)"
            )
    return paths
