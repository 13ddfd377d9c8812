"""Small test-split samples shipped inside the package, usable with no data root and no network.

Each is the first ``SAMPLE_SIZES[name]`` images of the official test split, in order, stored
as ``embedded/<name>_test_<n>.npz`` with arrays ``images`` (``uint8 [n, C, H, W]``), ``labels``
(``int64 [n]``) and ``class_names`` (unicode strings). Regenerate them with
``python -m semcomm.data.make_sample --root <data root>``.

Beside each sample lies ``embedded/<name>_train_mean.npz`` (array ``mean``, ``float32
[C, H, W]`` in [0, 1]): the mean image of the full training split, the receiver's fallback
output when a digital link loses an image (:func:`train_mean_image`).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from semcomm.data.base import ImageDataset, check_choice

SAMPLE_SIZES: dict[str, int] = {"mnist": 2000, "cifar10": 1000}


def sample_filename(name: str) -> str:
    """File name of the embedded sample of dataset ``name``, e.g. ``mnist_test_2000.npz``."""
    return f"{name}_test_{SAMPLE_SIZES[name]}.npz"


def train_mean_filename(name: str) -> str:
    """File name of the training-split mean image of dataset ``name``."""
    return f"{name}_train_mean.npz"


def train_mean_image(name: str) -> np.ndarray:
    """The mean image of the full training split of ``"mnist"`` or ``"cifar10"``,
    ``float32 [C, H, W]`` in [0, 1] (shipped, so it needs no data root).

    Raises:
        ValueError: ``name`` has no shipped mean image.
    """
    check_choice("dataset", name, SAMPLE_SIZES)
    resource = resources.files(__package__).joinpath("embedded", train_mean_filename(name))
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        return npz["mean"]


def load_sample(name: str) -> ImageDataset:
    """Load the embedded test-split sample of ``"mnist"`` (2,000 images) or ``"cifar10"`` (1,000).

    Raises:
        ValueError: ``name`` has no embedded sample.
    """
    check_choice("sample dataset", name, SAMPLE_SIZES)
    resource = resources.files(__package__).joinpath("embedded", sample_filename(name))
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
        return ImageDataset(
            name=name,
            images=npz["images"],
            labels=npz["labels"],
            class_names=tuple(str(c) for c in npz["class_names"]),
        )
