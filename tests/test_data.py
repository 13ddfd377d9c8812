"""Tests of semcomm.data: loaders on the shared full copy, integrity and safety checks,
error messages, downloads (with a fake network), and the embedded samples."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import shutil
import socket
import struct
import tarfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from semcomm.data import (
    dataset_info,
    ChecksumError,
    DataRootError,
    FormatError,
    ImageDataset,
    MissingFileError,
    checksum,
    cifar10,
    load_cifar10,
    load_dataset,
    load_mnist,
    load_sample,
    mnist,
)
from semcomm.data.download import extract_tar

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Per split: number of images, image shape, first five labels, images per class.
EXPECTED = {
    ("mnist", "train"): (
        60000,
        (1, 28, 28),
        [5, 0, 4, 1, 9],
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    ),
    ("mnist", "test"): (
        10000,
        (1, 28, 28),
        [7, 2, 1, 0, 4],
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    ),
    ("cifar10", "train"): (50000, (3, 32, 32), [6, 9, 9, 4, 1], [5000] * 10),
    ("cifar10", "test"): (10000, (3, 32, 32), [3, 8, 8, 0, 6], [1000] * 10),
}


def _shared_root() -> Path:
    env = os.environ.get("SEMCOMM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = _shared_root()
    if not (root / "MNIST" / "raw").is_dir() or not (root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"full datasets not found at {root} (set SEMCOMM_DATA to a copy)")
    return root


@pytest.fixture(scope="module")
def full(data_root: Path) -> Callable[[str, str], ImageDataset]:
    """Loads each (name, split) of the shared copy at most once per module."""
    return functools.cache(lambda name, split: load_dataset(name, root=data_root, split=split))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "socket", refuse)


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def _copy_files(src: Path, dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True)
    for name in names:
        shutil.copyfile(src / name, dest / name)


def _flip_last_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(data)
    return bytes(data)


# ---------------------------------------------------------------- full datasets


@pytest.mark.parametrize(("name", "split"), list(EXPECTED))
def test_full_split_shapes_labels_and_class_counts(full, name: str, split: str) -> None:
    n, shape, first_labels, per_class = EXPECTED[name, split]
    ds = full(name, split)
    assert ds.name == name and len(ds) == n
    assert ds.images.dtype == np.uint8 and ds.images.shape == (n, *shape)
    assert ds.images.flags.writeable and ds.images.flags.c_contiguous
    assert ds.labels.dtype == np.int64 and ds.labels.shape == (n,)
    assert ds.labels[:5].tolist() == first_labels
    assert np.bincount(ds.labels, minlength=10).tolist() == per_class
    assert ds.class_names == (CIFAR10_CLASSES if name == "cifar10" else tuple("0123456789"))


def test_cifar10_images_are_decoded_channel_planar(full) -> None:
    """Rows hold R, G, B planes; read as interleaved RGB, neighbouring pixels decorrelate."""
    images = full("cifar10", "test").images.astype(np.int16)
    horizontal_step = np.abs(np.diff(images, axis=-1)).mean()
    assert horizontal_step < 20  # about 14 for the right layout, 29 for interleaved RGB


def test_cifar10_never_calls_plain_pickle_load(data_root, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("plain pickle.load used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert len(load_cifar10(data_root, split="test")) == 10000


def test_env_var_is_the_default_root(data_root, monkeypatch) -> None:
    monkeypatch.setenv("SEMCOMM_DATA", str(data_root))
    assert len(load_mnist(split="test")) == 10000


# ---------------------------------------------------------------- error messages


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_missing_root_says_how_to_set_one(name: str, monkeypatch) -> None:
    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    with pytest.raises(DataRootError) as err:
        load_dataset(name)
    assert isinstance(err.value, FileNotFoundError)
    message = _one_line(err)
    assert "SEMCOMM_DATA" in message and "root" in message


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("mnist", "MNIST/raw/t10k-images-idx3-ubyte.gz"),
        ("cifar10", "cifar-10-batches-py/test_batch"),
    ],
)
def test_missing_file_is_named_with_download_hint(tmp_path, name: str, missing: str) -> None:
    with pytest.raises(MissingFileError) as err:
        load_dataset(name, root=tmp_path, split="test")
    message = _one_line(err)
    assert str(tmp_path / missing) in message and "download=True" in message


def test_unknown_dataset_split_or_sample_is_a_one_line_value_error(tmp_path) -> None:
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet", root=tmp_path)
    assert all(word in _one_line(err) for word in ("'imagenet'", "mnist", "cifar10"))
    for loader in (load_mnist, load_cifar10):
        with pytest.raises(ValueError) as err:
            loader(root=tmp_path, split="val")
        assert all(word in _one_line(err) for word in ("'val'", "train", "test"))
    with pytest.raises(ValueError) as err:
        load_sample("kodak")
    assert all(word in _one_line(err) for word in ("'kodak'", "mnist", "cifar10"))


# ---------------------------------------------------------------- integrity


@pytest.mark.parametrize(
    ("name", "folder", "names"),
    [
        ("mnist", "MNIST/raw", ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
        ("cifar10", "cifar-10-batches-py", ["test_batch", "batches.meta"]),
    ],
)
def test_md5_mismatch_names_file_and_both_digests(
    data_root, tmp_path, name: str, folder: str, names: list[str]
) -> None:
    _copy_files(data_root / folder, tmp_path / folder, names)
    corrupt = tmp_path / folder / names[0]
    actual = hashlib.md5(_flip_last_byte(corrupt)).hexdigest()
    expected = (mnist.MD5 if name == "mnist" else cifar10.MD5)[names[0]]
    with pytest.raises(ChecksumError) as err:
        load_dataset(name, root=tmp_path, split="test")
    message = _one_line(err)
    assert str(corrupt) in message and expected in message and actual in message


def test_md5_cache_skips_rehash_but_sees_rewrites(data_root, tmp_path, monkeypatch) -> None:
    names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    _copy_files(data_root / "MNIST/raw", tmp_path / "MNIST/raw", names)
    hashed: list[str] = []
    real_hash = checksum._hash_file

    def counting_hash(path: Path) -> str:
        hashed.append(path.name)
        return real_hash(path)

    monkeypatch.setattr(checksum, "_hash_file", counting_hash)
    load_mnist(tmp_path, split="test")
    load_mnist(tmp_path, split="test")
    assert sorted(hashed) == sorted(names)  # second load reused the cached digests

    labels = tmp_path / "MNIST/raw" / names[1]
    stat = labels.stat()
    _flip_last_byte(labels)  # same size; make sure the mtime moves even on coarse clocks
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ChecksumError):
        load_mnist(tmp_path, split="test")


def _idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_idx(2049, (2,), bytes(2)), "magic number is 2049, expected 2051"),
        (_idx(2051, (2, 28, 28), bytes(28 * 28)), "payload is 784 bytes"),
        (_idx(2051, (2, 28, 28), bytes(3 * 28 * 28)), "payload is 2352 bytes"),
        (struct.pack(">II", 2051, 2), "truncated IDX header"),
    ],
    ids=["wrong-magic", "truncated-payload", "trailing-bytes", "truncated-header"],
)
def test_idx_parser_rejects_bad_files(data: bytes, fragment: str) -> None:
    with pytest.raises(FormatError) as err:
        mnist.parse_idx(data, mnist.IMAGES_MAGIC, "x.idx")
    message = _one_line(err)
    assert "x.idx" in message and fragment in message


def test_idx_parser_reads_header_dims() -> None:
    payload = np.arange(2 * 3 * 4, dtype=np.uint8)
    out = mnist.parse_idx(_idx(2051, (2, 3, 4), payload.tobytes()), 2051, "x")
    np.testing.assert_array_equal(out, payload.reshape(2, 3, 4))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"echo pwned > {self.marker}",)


def test_restricted_unpickler_refuses_os_system(tmp_path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker), protocol=2)
    with pytest.raises(pickle.UnpicklingError) as err:
        cifar10.safe_unpickle(io.BytesIO(payload))
    assert f"{os.system.__module__}.system" in _one_line(err)
    assert not marker.exists()


# ---------------------------------------------------------------- downloads (fake network)


def _fake_urlopen(monkeypatch, files: dict[str, bytes]) -> list[str]:
    """Serve ``files`` by URL instead of the network; returns the list of requested URLs."""
    requested: list[str] = []

    def urlopen(request: urllib.request.Request, timeout: float) -> io.BytesIO:
        requested.append(request.full_url)
        return io.BytesIO(files[request.full_url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return requested


def test_mnist_download_fetches_split_from_mirror(data_root, tmp_path, monkeypatch) -> None:
    names = mnist.SPLIT_FILES["test"]
    served = {mnist.MIRROR + n: (data_root / "MNIST/raw" / n).read_bytes() for n in names}
    requested = _fake_urlopen(monkeypatch, served)
    ds = load_mnist(tmp_path, split="test", download=True)
    assert requested == list(served)
    assert np.array_equal(ds.images, load_mnist(data_root, split="test").images)
    assert sorted(p.name for p in (tmp_path / "MNIST/raw").iterdir()) == sorted(names)


def test_corrupt_download_leaves_no_file(tmp_path, monkeypatch) -> None:
    names = mnist.SPLIT_FILES["test"]
    _fake_urlopen(monkeypatch, {mnist.MIRROR + n: b"not mnist" for n in names})
    with pytest.raises(ChecksumError) as err:
        load_mnist(tmp_path, split="test", download=True)
    assert mnist.MIRROR + names[0] in _one_line(err)
    assert list((tmp_path / "MNIST/raw").iterdir()) == []


def test_cifar10_download_extracts_and_verifies(tmp_path, monkeypatch) -> None:
    """The whole archive flow, on a tiny stand-in archive with its own md5 table."""
    rng = np.random.default_rng(0)
    contents = {
        name: {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [1, 7]}
        for name in cifar10.MD5
        if name != cifar10.META
    }
    contents[cifar10.META] = {b"label_names": [c.encode() for c in CIFAR10_CLASSES]}
    blobs = {name: pickle.dumps(obj, protocol=4) for name, obj in contents.items()}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(archive.getvalue()).hexdigest())
    monkeypatch.setattr(cifar10, "MD5", {n: hashlib.md5(b).hexdigest() for n, b in blobs.items()})
    requested = _fake_urlopen(monkeypatch, {cifar10.URL: archive.getvalue()})

    ds = load_cifar10(tmp_path / "data", split="train", download=True)
    assert requested == [cifar10.URL]
    assert len(ds) == 10 and ds.labels.tolist() == [1, 7] * 5
    assert np.array_equal(ds.images[:2].reshape(2, -1), contents["data_batch_1"][b"data"])
    assert [p.name for p in (tmp_path / "data").iterdir()] == [cifar10.FOLDER]  # archive gone


def test_extract_tar_refuses_path_traversal(tmp_path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(FormatError) as err:
        extract_tar(archive, tmp_path / "dest")
    assert str(archive) in _one_line(err)
    assert not (tmp_path / "escaped.txt").exists()


# ---------------------------------------------------------------- embedded samples


@pytest.mark.parametrize(
    ("name", "shape"), [("mnist", (2000, 1, 28, 28)), ("cifar10", (1000, 3, 32, 32))]
)
def test_sample_loads_offline_without_data_root(no_network, monkeypatch, name, shape) -> None:
    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    ds = load_sample(name)
    assert ds.name == name and ds.images.dtype == np.uint8 and ds.images.shape == shape
    assert ds.labels.dtype == np.int64 and len(ds) == dataset_info(name).sample.size == shape[0]
    assert ds.class_names == (CIFAR10_CLASSES if name == "cifar10" else tuple("0123456789"))
    assert set(np.unique(ds.labels).tolist()) == set(range(10))


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_sample_is_the_head_of_the_full_test_split(full, name: str) -> None:
    sample, test = load_sample(name), full(name, "test")
    n = len(sample)
    assert np.array_equal(sample.images, test.images[:n])
    assert np.array_equal(sample.labels, test.labels[:n])
    assert sample.class_names == test.class_names


def test_sample_files_are_small() -> None:
    embedded = Path(mnist.__file__).with_name("embedded")
    total = sum(p.stat().st_size for p in embedded.glob("*.npz"))
    assert total < 4_000_000
