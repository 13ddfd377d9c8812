"""Recipes of a plan's methods and images: what builds them again in another process.

A plan sent to a cluster carries these recipes, not loaded models or image arrays: each worker
rebuilds the methods and loads the images once. :meth:`MethodsSpec.portable` and
:meth:`ImagesSpec.portable` pin everything that depends on where the client runs (relative
checkpoint paths, the default model names, ``$SEMCOMM_DATA``), so a worker builds exactly the
client's methods; :meth:`MethodsRecipe.paths` lists what every worker must see.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from semcomm.data import EMBEDDED, ENV_VAR, DatasetInfo, ImageDataset, folder_dataset, images_root, load_images
from semcomm.methods import METHODS, Method, SSCCSpec, sweep_methods
from semcomm.methods.jscc import default_name
from semcomm.models.checkpoint import pretrained_names

__all__ = ["Design", "ImagesSpec", "MethodsRecipe", "MethodsSpec", "first_images"]


def first_images(images: ImageDataset, n: int | None) -> ImageDataset:
    """The first ``n`` images (all of them for None); one-line error if there are fewer."""
    if n is None:
        return images
    if n > len(images):
        raise ValueError(f"--n-images {n} exceeds the {len(images)} images available")
    return dataclasses.replace(images, images=images.images[:n], labels=images.labels[:n])


def _is_checkpoint_path(source: str | None) -> bool:
    return source is not None and source not in METHODS and source not in pretrained_names()


def _absolute(source: str | None) -> str | None:
    return str(Path(source).expanduser().resolve()) if _is_checkpoint_path(source) else source


@dataclass(frozen=True)
class ImagesSpec:
    """The evaluation images: the first ``n`` (all for None) of the test images of ``dataset``
    from ``root`` (a data root, ``"embedded"``, or None for ``$SEMCOMM_DATA`` else embedded), or
    of the folder ``folder`` (:mod:`semcomm.data.folder`; then ``dataset`` is its name)."""

    dataset: str
    root: str | None = None
    n: int | None = None
    folder: str | None = None

    @property
    def embedded(self) -> bool:
        """Whether the images are the embedded sample."""
        return self.folder is None and images_root(self.root) is None

    def load(self) -> ImageDataset:
        if self.folder is not None:
            return first_images(folder_dataset(self.folder)[1], self.n)
        return first_images(load_images(self.dataset, self.root, "test"), self.n)

    def portable(self) -> ImagesSpec:
        """The same images from any process: the root or folder resolved to an absolute path, or ``"embedded"``."""
        if self.folder is not None:
            return dataclasses.replace(self, folder=str(Path(self.folder).expanduser().resolve()))
        root = images_root(self.root)
        return dataclasses.replace(self, root=EMBEDDED if root is None else str(root.resolve()))

    def paths(self) -> list[Path]:
        if self.folder is not None:
            return [Path(self.folder).expanduser().resolve()]
        root = images_root(self.root)
        return [] if root is None else [root.resolve()]


@dataclass(frozen=True)
class MethodsSpec:
    """The methods of a sweep or broadcast as the user named them (the arguments of
    :func:`semcomm.methods.sweep_methods`)."""

    sources: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    sscc: SSCCSpec = SSCCSpec([], [])
    dataset: str | None = None
    layer_ratios: tuple[float, ...] | None = None
    data_root: str | None = None
    names: tuple[str, ...] | None = None
    images: str | None = None
    precision: str = "fp32"

    def images_info(self) -> DatasetInfo | None:
        """The description of the folder of images the methods are for (None: ``dataset``'s)."""
        return None if self.images is None else folder_dataset(self.images)[0]

    def build(self) -> list[Method]:
        """The methods (one-line ``ValueError`` for anything the user got wrong)."""
        return sweep_methods(list(self.sources), list(self.extra), self.sscc, self.dataset,
                             layer_ratios=self.layer_ratios, data_root=self.data_root,
                             names=None if self.names is None else list(self.names), images=self.images_info(),
                             precision=self.precision)

    def with_data_root(self, data_root: str | None) -> MethodsSpec:
        """This spec with ``data_root`` where it names none."""
        return self if self.data_root is not None else dataclasses.replace(self, data_root=data_root)

    def portable(self) -> MethodsSpec:
        """The same methods from any process: checkpoint paths absolute, the JSCC models'
        default names frozen, the data root resolved (None: ``$SEMCOMM_DATA``, else embedded)."""
        checkpoints = [s for s in self.sources if s not in METHODS]
        root = self.data_root or os.environ.get(ENV_VAR) or EMBEDDED
        return dataclasses.replace(
            self,
            sources=tuple(str(_absolute(s)) for s in self.sources),
            sscc=dataclasses.replace(self.sscc, classifier=_absolute(self.sscc.classifier)),
            data_root=root if root == EMBEDDED else str(Path(root).expanduser().resolve()),
            names=self.names if self.names is not None else tuple(default_name(s) for s in checkpoints),
            images=None if self.images is None else str(Path(self.images).expanduser().resolve()),
        )

    def paths(self) -> list[Path]:
        """The checkpoints named by path (pretrained models ship with semcomm) and the data root."""
        named = [s for s in (*self.sources, self.sscc.classifier) if _is_checkpoint_path(s)]
        root = [] if self.data_root in (None, EMBEDDED) else [self.data_root]
        folder = [] if self.images is None else [self.images]
        return [Path(p).expanduser().resolve() for p in [*named, *root, *folder]]  # type: ignore[arg-type]


class Design(Protocol):
    """How a broadcast's transmitters are set up from the methods (see :mod:`semcomm.sweep.broadcast`)."""

    def apply(self, methods: list[Method]) -> list[Method]: ...


@dataclass(frozen=True)
class MethodsRecipe:
    """What rebuilds a plan's methods and images in another process."""

    methods: MethodsSpec
    images: ImagesSpec
    design: Design | None = None

    def build_methods(self) -> list[Method]:
        built = self.methods.build()
        return built if self.design is None else self.design.apply(built)

    def paths(self) -> list[Path]:
        """What every worker must see at the client's path."""
        return list(dict.fromkeys([*self.methods.paths(), *self.images.paths()]))
