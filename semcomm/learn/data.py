"""The images a training run learns from, on its device, and what analytic parts are fitted on.

:func:`training_set` loads the training split of a registered dataset (or a folder of images),
keeps the first ``limit``, holds out the last ``val`` and gives each step's batch
(:meth:`TrainingSet.batch`): the images as floats in [0, 1], augmented as the dataset says
(:attr:`~semcomm.data.DatasetInfo.augment`), or random crops of a folder's images of several
sizes. :class:`FitImages` is what a fresh model fits its analytic parts on (a KLT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from semcomm.data import EMBEDDED, DatasetInfo, ImageDataset, load_images
from semcomm.errors import FieldError
from semcomm.learn.config import TrainConfig, _folder
from semcomm.models.klt import KLT, get_klt, klt_of, shipped_klt_path

__all__ = ["FitImages", "TrainingSet", "training_set"]


@dataclass(frozen=True)
class FitImages:
    """Training images of one size that a fresh model fits its analytic parts on.

    Attributes:
        name: the dataset's name.
        images: uint8 ``[N, C, H, W]`` (the whole training split, or every whole tile of a
            folder's images at the training size).
        shipped: the data is the embedded sample: take the KLT shipped with semcomm when there
            is one (fitted on the full training split), else fit on the sample.
    """

    name: str
    images: np.ndarray
    shipped: bool = False

    def klt(self) -> KLT:
        """The KLT of the images (cached by their content)."""
        if self.shipped and shipped_klt_path(self.name).is_file():
            klt = get_klt(self.name, EMBEDDED)
            if tuple(klt.shape) == tuple(self.images.shape[1:]):
                return klt
        return klt_of(self.name, self.images)


def _tiles(images: ImageDataset, shape: tuple[int, int, int]) -> np.ndarray:
    """Every whole non-overlapping ``shape`` tile of every image: uint8 ``[N, C, h, w]``."""
    _, h, w = shape
    out = []
    for batch, _ in images.batches(1):
        image = batch[0]
        for top in range(0, image.shape[1] - h + 1, h):
            for left in range(0, image.shape[2] - w + 1, w):
                out.append(image[:, top : top + h, left : left + w])
    if len(out) < 2:
        raise ValueError(f"the images of {images.name} hold fewer than 2 whole {h}x{w} tiles to fit on")
    return np.stack(out)


class TrainingSet:
    """The training images of a run on ``device``, minus the held-out validation images.

    Attributes:
        info: the data's description.
        shape: ``(C, H, W)`` of every batch.
        fit: what a fresh model fits its analytic parts on.
        n: training images.
    """

    def __init__(self, info: DatasetInfo, data: ImageDataset, cfg: TrainConfig, device: torch.device, fit: FitImages) -> None:
        self.info, self.shape, self.fit = info, cfg.image_shape, fit
        data = data.first(cfg.limit) if cfg.limit is not None and cfg.limit <= len(data) else data
        if cfg.val >= len(data):
            raise FieldError("val", f"{{field}} {cfg.val} holds out every one of the {len(data)} training images")
        keep = len(data) - cfg.val
        self._crop = cfg.crop is not None
        labels = None if data.labels is None else torch.from_numpy(data.labels).to(device)
        self.labels = None if labels is None else labels[:keep]
        self.val_labels = None if labels is None else labels[keep:]
        if not self._crop:
            images = torch.from_numpy(np.asarray(data.images)).to(device)
            self.images, self.val_images = images[:keep], images[keep:]
        else:
            every = [torch.from_numpy(np.asarray(im)).to(device) for im in (data.images if isinstance(data.images, tuple) else list(data.images))]
            _, h, w = self.shape
            small = [i for i, im in enumerate(every) if im.shape[1] < h or im.shape[2] < w]
            if small:
                raise ValueError(f"image {small[0]} of {data.name} ({'x'.join(map(str, every[small[0]].shape[1:]))}) is smaller "
                                 f"than the {h}x{w} crops")
            self._all = every[:keep]
            centre = [im[:, (im.shape[1] - h) // 2 : (im.shape[1] - h) // 2 + h, (im.shape[2] - w) // 2 : (im.shape[2] - w) // 2 + w]
                      for im in every[keep:]]
            self.images = torch.zeros(0, *self.shape, dtype=torch.uint8, device=device)
            self.val_images = torch.stack(centre) if centre else torch.zeros(0, *self.shape, dtype=torch.uint8, device=device)
        self.n = keep

    def batch(self, idx: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images ``idx`` ``[B]`` as floats ``[B, C, H, W]`` in [0, 1] (random crops first,
        then the dataset's augmentation, drawn from ``generator``) and their labels (or None)."""
        if self._crop:
            _, h, w = self.shape
            crops = []
            for i in idx.tolist():
                im = self._all[i]
                top = int(torch.randint(0, im.shape[1] - h + 1, (), generator=generator, device=generator.device))
                left = int(torch.randint(0, im.shape[2] - w + 1, (), generator=generator, device=generator.device))
                crops.append(im[:, top : top + h, left : left + w])
            x = torch.stack(crops).float() / 255
        else:
            x = self.images[idx].float() / 255
        if self.info.augment is not None:
            x = self.info.augment(x, generator)
        return x, None if self.labels is None else self.labels[idx]


def training_set(cfg: TrainConfig, device: torch.device, download: bool = False) -> TrainingSet:
    """The run's training images (the embedded sample holds test images only: training on it
    is for smoke tests)."""
    info = cfg.dataset_info()
    if cfg.images is not None:
        data = _folder(cfg.images)[1]
        fit = FitImages(info.name, np.asarray(data.images) if cfg.crop is None else _tiles(data, cfg.image_shape))
    else:
        data = load_images(cfg.dataset, cfg.data_root, "test" if cfg.data_root == EMBEDDED else "train", download)
        fit = FitImages(info.name, np.asarray(data.images), shipped=cfg.data_root == EMBEDDED)
    return TrainingSet(info, data, cfg, device, fit)
