"""Regenerate the embedded samples (and training-split mean images) from a full copy of the datasets.

Usage: ``python -m semcomm.data.make_sample --root /path/to/datasets``

The output is byte-for-byte reproducible: the archives are written like
:func:`numpy.savez_compressed` but with fixed zip timestamps.
"""

from __future__ import annotations

import argparse
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from semcomm.data import dataset_info, dataset_names, load_dataset
from semcomm.data.download import atomic_output
from semcomm.data.info import EmbeddedSample

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` with fixed timestamps, atomically.

    Readable by ``np.load(path, allow_pickle=False)``.
    """
    with atomic_output(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def _sample(name: str) -> EmbeddedSample:
    sample = dataset_info(name).sample
    if not isinstance(sample, EmbeddedSample):
        raise ValueError(f"dataset {name!r} ships no embedded sample")
    return sample


def make_sample(name: str, root: str | os.PathLike[str] | None, out_dir: Path) -> Path:
    """Write the first ``size`` test images of ``name`` (its :class:`EmbeddedSample`) to ``out_dir``."""
    full = load_dataset(name, root=root, split="test")
    n = _sample(name).size
    path = out_dir / _sample(name).filename
    write_npz(
        path,
        {
            "images": full.images[:n],
            "labels": full.labels[:n],
            "class_names": np.array(full.class_names, dtype=np.str_),
        },
    )
    return path


def make_train_mean(name: str, root: str | os.PathLike[str] | None, out_dir: Path) -> Path:
    """Write the mean image (``float32 [C, H, W]`` in [0, 1]) of the training split of ``name``."""
    train = load_dataset(name, root=root, split="train")
    mean = train.images.astype(np.float64).mean(axis=0) / 255.0
    path = out_dir / _sample(name).mean_filename
    write_npz(path, {"mean": mean.astype(np.float32)})
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m semcomm.data.make_sample", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", help="data root with the full datasets (default: $SEMCOMM_DATA)")
    parser.add_argument(
        "--out-dir", type=Path, default=EMBEDDED_DIR, help="output folder (default: the package's)"
    )
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in [d for d in dataset_names() if isinstance(dataset_info(d).sample, EmbeddedSample)]:
        for path in (make_sample(name, args.root, args.out_dir), make_train_mean(name, args.root, args.out_dir)):
            print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
