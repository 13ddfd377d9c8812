"""A folder of the user's own images as a dataset (``--images DIR``).

Layout (torchvision's ImageFolder convention):

- ``DIR/<class>/<image>``: one sub-folder per class, its name the class name (sorted); the
  images are labelled, and accuracy is scored;
- ``DIR/<image>``: no sub-folders with images: the images carry no labels (reconstruction
  only; accuracy columns are absent, not zero).

Images are PNG or JPEG (also BMP, TIFF, WebP: whatever Pillow reads with these extensions) of
any size; files with other extensions are ignored. They load as 8-bit RGB, or as 8-bit grey
when every image is grey. Sizes may differ from image to image: each method then sees each
image at its own size. Images are in sorted path order, so a folder always gives the same set;
:meth:`ImageDataset.digest` identifies it by content.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from semcomm.data.base import FormatError, ImageDataset
from semcomm.data.info import DatasetInfo

__all__ = ["IMAGE_EXTENSIONS", "folder_dataset", "load_folder"]

#: File extensions read as images (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Pillow modes that hold one grey channel.
_GREY = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _read(path: Path, grey: bool) -> np.ndarray:
    """``uint8 [C, H, W]`` of the image at ``path`` (1 channel if ``grey``, else 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the 8 high bits
                array = (np.asarray(im, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                return array[None] if grey else np.repeat(array[None], 3, axis=0)
            array = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise FormatError(f"{path}: not a readable image ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    return array[None].copy() if grey else np.ascontiguousarray(array.transpose(2, 0, 1))


def _mode(path: Path) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.mode
    except (UnidentifiedImageError, OSError) as err:
        raise FormatError(f"{path}: not a readable image ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def load_folder(folder: str | os.PathLike[str]) -> ImageDataset:
    """The images of ``folder`` (module doc), named after the folder (read once per process
    while no file in it changes).

    Raises:
        ValueError: one line, for a path that is not a folder, a folder without images, or
            images both at the top and in class sub-folders.
        FormatError: one line naming a file that is not a readable image.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ValueError(f"--images {str(folder)!r} is not a folder of images")
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file())
    return _load(str(root.resolve()), str(folder), signature)


@functools.lru_cache(maxsize=4)
def _load(root_path: str, given: str, signature: tuple[tuple[str, int, int], ...]) -> ImageDataset:
    root, folder = Path(root_path), given
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and _image_files(d))
    top = _image_files(root)
    if classes and top:
        raise ValueError(f"--images {str(folder)!r} holds images at the top and in class sub-folders "
                         f"({', '.join(classes[:3])}{', ...' if len(classes) > 3 else ''}): put every image in a "
                         "class sub-folder (labelled) or none (unlabelled)")
    files = [(p, c) for c, name in enumerate(classes) for p in _image_files(root / name)] if classes else [(p, -1) for p in top]
    if not files:
        raise ValueError(f"--images {str(folder)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    grey = all(_mode(p) in _GREY for p, _ in files)
    images = [_read(p, grey) for p, _ in files]
    name = root.resolve().name or "images"
    shapes = {im.shape for im in images}
    stacked: np.ndarray | tuple[np.ndarray, ...] = np.stack(images) if len(shapes) == 1 else tuple(images)
    if not classes:
        return ImageDataset(name, stacked)
    return ImageDataset(name, stacked, np.array([c for _, c in files], dtype=np.int64), tuple(classes))


def folder_dataset(folder: str | os.PathLike[str]) -> tuple[DatasetInfo, ImageDataset]:
    """The images of ``folder`` and their description: channels, the common shape (None when
    sizes differ), the class names (None without sub-folders), no concepts, no mean image
    (a lost image falls back to mid-grey), random horizontal flips in training."""
    from semcomm.data.info import hflip

    images = load_folder(folder)
    info = DatasetInfo(name=images.name, channels=images.channels, image_shape=images.shape,
                       class_names=images.class_names, augment=hflip,
                       description=f"the images of {folder}")
    return info, images
