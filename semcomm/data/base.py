"""The dataset container, the data-root and split rules, and the errors the loaders raise.

Every error message is a single line, so that command-line front ends can print it as-is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
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
    """A set of 8-bit images held in memory, labelled or not, of one size or of many.

    Attributes:
        name: the dataset's name (a registry name such as ``"mnist"``, or a folder's name).
        images: ``uint8`` ``[N, C, H, W]`` when every image has one size, else a tuple of ``N``
            ``uint8`` arrays ``[C, H_i, W_i]`` (one channel count ``C`` for all).
        labels: ``int64`` ``[N]`` with values in ``0 .. len(class_names) - 1``, or None for
            images without labels (reconstruction only: no accuracy is scored).
        class_names: one name per class, indexed by label (None without labels).
    """

    name: str
    images: np.ndarray | tuple[np.ndarray, ...]
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.images, (list, tuple)):
            object.__setattr__(self, "images", tuple(self.images))
            bad = [i for i, im in enumerate(self.images) if im.dtype != np.uint8 or im.ndim != 3]
            if bad:
                im = self.images[bad[0]]
                raise ValueError(f"{self.name}: image {bad[0]} must be uint8 [C, H, W], got {im.dtype} of shape {im.shape}")
            if len({im.shape[0] for im in self.images}) > 1:
                raise ValueError(f"{self.name}: images have different channel counts "
                                 f"({', '.join(sorted({str(im.shape[0]) for im in self.images}))})")
        elif self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"{self.name}: images must be uint8 [N, C, H, W], "
                f"got {self.images.dtype} of shape {self.images.shape}"
            )
        if (self.labels is None) != (self.class_names is None):
            raise ValueError(f"{self.name}: give both labels and class names, or neither")
        if self.labels is None or self.class_names is None:
            return
        if self.labels.dtype != np.int64 or self.labels.shape != (len(self),):
            raise ValueError(
                f"{self.name}: labels must be int64 [{len(self)}], "
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
        return len(self.images)

    @property
    def labelled(self) -> bool:
        """Whether the images carry class labels."""
        return self.labels is not None

    @property
    def channels(self) -> int:
        """``C``, the channel count of every image (0 for an empty set)."""
        if not len(self):
            return 0
        return int(self.images[0].shape[0])

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` when every image has one size, else None."""
        if isinstance(self.images, np.ndarray):
            return tuple(int(v) for v in self.images.shape[1:])  # type: ignore[return-value]
        shapes = {im.shape for im in self.images}
        return tuple(int(v) for v in shapes.pop()) if len(shapes) == 1 else None  # type: ignore[return-value]

    def shapes(self) -> list[tuple[int, int, int]]:
        """The distinct image shapes ``(C, H, W)``, in order of first appearance."""
        if isinstance(self.images, np.ndarray):
            return [] if not len(self) else [tuple(int(v) for v in self.images.shape[1:])]  # type: ignore[list-item]
        return list(dict.fromkeys(tuple(int(v) for v in im.shape) for im in self.images))  # type: ignore[misc]

    def source_values(self) -> int:
        """The real values of all images, ``sum_i C H_i W_i``."""
        if isinstance(self.images, np.ndarray):
            return int(self.images.size)
        return sum(int(im.size) for im in self.images)

    def batches(self, batch_size: int, max_values: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Consecutive batches of images of one size, in order: (images ``uint8 [B, C, H, W]``,
        labels ``int64 [B]`` or None), each of at most ``batch_size`` images and, with
        ``max_values``, at most ``max(1, max_values // (C H W))`` (large images come in smaller
        batches). A set of one size whose batch fits gives exactly the slices
        ``[start : start + batch_size]``."""
        n = len(self)
        start = 0
        while start < n:
            size = batch_size if max_values is None else max(1, min(batch_size, max_values // max(1, self.images[start].size)))
            if isinstance(self.images, np.ndarray):
                stop = min(start + size, n)
                batch = self.images[start:stop]
            else:
                stop = start + 1
                while stop < n and stop - start < size and self.images[stop].shape == self.images[start].shape:
                    stop += 1
                batch = np.stack(self.images[start:stop])
            yield batch, None if self.labels is None else self.labels[start:stop]
            start = stop

    def first(self, n: int | None) -> ImageDataset:
        """The first ``n`` images (all for None); one-line error if there are fewer."""
        if n is None:
            return self
        if n > len(self):
            raise ValueError(f"asked for the first {n} images of {self.name}, but it has {len(self)}")
        return replace(self, images=self.images[:n], labels=None if self.labels is None else self.labels[:n])

    def digest(self) -> str:
        """md5 of every image's shape and pixels (and the labels): what identifies the set."""
        h = hashlib.md5()
        for im in ([self.images] if isinstance(self.images, np.ndarray) else self.images):
            h.update(repr(im.shape).encode())
            h.update(np.ascontiguousarray(im).tobytes())
        if self.labels is not None:
            h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


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
