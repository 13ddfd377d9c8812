"""Small test-split samples shipped inside the package, usable with no data root and no network.

Each registered dataset may ship one (:class:`~semcomm.data.info.EmbeddedSample`, the
``sample`` of its :class:`~semcomm.data.info.DatasetInfo`): the first images of the official
test split, in order, with the training split's mean image beside it (the receiver's fallback
output when a digital link loses an image). Regenerate them with
``python -m semcomm.data.make_sample --root <data root>``.
"""

from __future__ import annotations

import numpy as np

from semcomm.data.base import ImageDataset
from semcomm.data.info import dataset_info

__all__ = ["load_sample", "train_mean_image"]


def load_sample(name: str) -> ImageDataset:
    """The embedded test-split sample of dataset ``name``.

    Raises:
        ValueError: one line, for an unknown dataset or one without an embedded sample.
    """
    info = dataset_info(name)
    if info.sample is None:
        raise ValueError(f"dataset {name!r} ships no embedded sample: pass a data root")
    return info.sample()


def train_mean_image(name: str) -> np.ndarray:
    """The mean image of the training split of dataset ``name``, ``float32 [C, H, W]`` in [0, 1].

    Raises:
        ValueError: one line, for an unknown dataset or one without a mean image.
    """
    info = dataset_info(name)
    if info.mean_image is None:
        raise ValueError(f"dataset {name!r} has no training mean image")
    return info.mean_image()
