"""A folder of the user's own images (``--images``), images of several sizes through every
method, datasets as descriptions, and caches keyed by content."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semcomm.data import DatasetInfo, FormatError, ImageDataset, dataset_info, dataset_names, folder_dataset, load_folder
from semcomm.links.ldpc import design_blocks
from semcomm.methods import LinearMethod, SSCCMethod, UncodedAnalog, resolve_method
from semcomm.sweep import SweepPlan
from semcomm.execute import run_plan


def _picture(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> np.ndarray:
    """A smooth random picture of ``size`` (width, height) saved at ``path``; its pixels."""
    g = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    channels_ = 3 if mode == "RGB" else 1
    planes = [128 + 100 * np.sin(xx / (5 + 3 * c + seed) + g.uniform(0, 6)) * np.cos(yy / (7 + c)) for c in range(channels_)]
    array = np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)
    Image.fromarray(array[..., 0] if mode == "L" else array, mode).save(path)
    return array.transpose(2, 0, 1)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Three unlabelled colour images of two sizes (and a file that is not an image)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    _picture(folder / "a.png", (48, 40), 1)
    _picture(folder / "b.jpg", (48, 40), 2)
    _picture(folder / "c.png", (64, 32), 3)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_folder_loads_in_order_with_labels_from_sub_folders(tmp_path: Path, mixed: Path) -> None:
    images = load_folder(mixed)
    assert images.name == "mine" and len(images) == 3 and not images.labelled and images.class_names is None
    assert isinstance(images.images, tuple) and images.shape is None
    assert images.shapes() == [(3, 40, 48), (3, 32, 64)] and images.source_values() == 2 * 3 * 40 * 48 + 3 * 32 * 64
    assert np.array_equal(images.images[0], np.asarray(Image.open(mixed / "a.png")).transpose(2, 0, 1))
    labelled = tmp_path / "pets"
    for name, seeds in (("dog", (1, 2)), ("cat", (3,))):
        (labelled / name).mkdir(parents=True)
        for s in seeds:
            _picture(labelled / name / f"{s}.png", (20, 20), s, mode="L")
    info, pets = folder_dataset(labelled)
    assert pets.class_names == ("cat", "dog") and pets.labels.tolist() == [0, 1, 1]  # sorted classes, sorted files
    assert pets.channels == 1 and pets.shape == (1, 20, 20) and isinstance(pets.images, np.ndarray)  # all grey: one channel
    assert info.image_shape == (1, 20, 20) and info.class_names == ("cat", "dog") and info.concepts == {}
    assert torch.equal(info.fallback_image((1, 5, 5)), torch.full((1, 5, 5), 0.5))  # no mean image: mid-grey


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p / "missing", "is not a folder of images"),
    (lambda p: p, "holds no images"),
    (lambda p: (_picture(p / "top.png", (8, 8), 0), (p / "x").mkdir(), _picture(p / "x" / "a.png", (8, 8), 1))[0] is None or p,
     "holds images at the top and in class sub-folders"),
])
def test_bad_folders_are_one_line(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message) as err:
        load_folder(make(tmp_path))
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_an_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(FormatError, match="broken.png: not a readable image"):
        load_folder(tmp_path)


def test_batches_keep_one_size_and_bound_their_values(mixed: Path) -> None:
    images = load_folder(mixed)
    assert [b.shape for b, _ in images.batches(8)] == [(2, 3, 40, 48), (1, 3, 32, 64)]
    assert [b.shape[0] for b, _ in images.batches(8, max_values=3 * 40 * 48)] == [1, 1, 1]
    same = ImageDataset("x", np.zeros((5, 1, 4, 4), np.uint8))
    assert [b.shape[0] for b, _ in same.batches(2)] == [2, 2, 1]
    assert images.first(2).shapes() == [(3, 40, 48)] and images.digest() != images.first(2).digest()


def test_datasets_are_descriptions_in_one_registry() -> None:
    assert dataset_names()[:2] == ["mnist", "cifar10"]
    cifar = dataset_info("cifar10")
    assert cifar.image_shape == (3, 32, 32) and cifar.num_classes == 10 and list(cifar.concepts) == ["coarse4", "coarse2"]
    assert cifar.augment is not None and dataset_info("mnist").augment is None and dataset_info("mnist").default_ratio == "3/98"
    assert torch.equal(cifar.fallback_image((3, 32, 32)), torch.from_numpy(cifar.mean_image()))
    colour = cifar.fallback_image((3, 8, 16))  # another size: the mean colour
    assert torch.allclose(colour[:, 0, 0], torch.from_numpy(cifar.mean_image()).mean(dim=(1, 2)))
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; choose one of: mnist, cifar10"):
        dataset_info("svhn")
    with pytest.raises(ValueError, match="concept 'c' must give a group for each class"):
        DatasetInfo("d", 1, class_names=("a", "b"), concepts={"c": (("x",), (0,))})


def test_every_method_sees_each_image_at_its_own_size(mixed: Path) -> None:
    info, images = folder_dataset(mixed)
    model = resolve_method("cifar10-l3")
    linear = LinearMethod("cifar10", model.model.config.layer_symbols, klt=_backbone(model), layer_power="softcast")
    sscc = SSCCMethod("jpeg", "capacity", info, 1 / 6)
    assert sscc.uses((3, 40, 48)) == 960 and sscc.uses((3, 32, 64)) == 1024
    plan = SweepPlan([model, linear, UncodedAnalog(info), sscc], images, ["awgn"], ["perfect"], [10.0], batch_size=8)
    records = {(r["method"], r["layer"]): r for r in run_plan(plan)}
    # cifar10-l3 cuts a 48 x 40 image into 2 x 2 tiles of 32 x 32 (edges replicated), a 64 x 32 one into 2:
    # layer 1 sends 171 symbols per tile
    uses = 2 * 4 * 171 + 2 * 171
    assert records["cifar10-l3", 1]["ratio"] == pytest.approx(uses / images.source_values())
    assert records["linear", 3]["ratio"] == pytest.approx(records["cifar10-l3", 3]["ratio"])
    assert records["jpeg+capacity", None]["ratio"] == pytest.approx((2 * 960 + 1024) / images.source_values())
    assert all(r["accuracy"] is None and r["n_images"] == 3 for r in records.values())  # unlabelled: no accuracy
    assert records["cifar10-l3", 3]["psnr"] > records["cifar10-l3", 1]["psnr"]
    assert records["cifar10-l3", 3]["psnr"] > records["linear", 3]["psnr"]


def _backbone(model):  # type: ignore[no-untyped-def]
    from semcomm.methods.registry import _backbone_klt

    return _backbone_klt(model)


def test_cli_sweeps_and_trains_on_a_folder(semcomm_cli, tmp_path: Path, mixed: Path) -> None:
    env = {**os.environ, "SEMCOMM_CACHE": str(tmp_path / "cache")}

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return semcomm_cli(*args, env=env)

    swept = cli("sweep", "cifar10-l3", "--images", str(mixed), "--method", "linear,analog", "--snr", "10",
                "--out", str(tmp_path / "r.json"))
    assert swept.returncode == 0, swept.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["config"]["images"] == "folder"
    assert data["config"]["images_md5"] == load_folder(mixed).digest()
    assert {r["dataset"] for r in data["records"]} == {"mine"} and "3 images from" in swept.stderr
    grey = tmp_path / "grey"
    grey.mkdir()
    _picture(grey / "g.png", (30, 30), 4, mode="L")
    refused = cli("sweep", "cifar10-l3", "--images", str(grey), "--snr", "10", "--out", str(tmp_path / "g.json"))
    assert refused.returncode == 2 and "takes 3-channel images" in refused.stderr and len(refused.stderr.splitlines()) == 1
    # training on images of several sizes needs --crop; with it, random crops and a KLT of crops
    no_crop = cli("train", "--images", str(mixed), "--out", str(tmp_path / "run"))
    assert no_crop.returncode == 2 and "--crop" in no_crop.stderr
    trained = cli("train", "--images", str(mixed), "--crop", "16", "--width", "8", "--layers", "2", "--ratio", "1/18",
                  "--epochs", "2", "--batch-size", "2", "--val", "0", "--out", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr
    model = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert model["dataset"] == "mine" and model["image_shape"] == [3, 16, 16] and model["class_names"] is None
    assert [p.name.startswith("klt-") and len(p.stem) == 36 for p in (tmp_path / "cache").glob("klt-*")] == [True]
    again = cli("sweep", str(tmp_path / "run"), "--images", str(mixed), "--snr", "10", "--out", str(tmp_path / "s.json"))
    assert again.returncode == 0, again.stderr
    lost = cli("sweep", str(tmp_path / "run"), "--snr", "10", "--out", str(tmp_path / "t.json"))
    assert lost.returncode == 2 and lost.stderr.strip().splitlines() == [
        "error: the model was trained on 'mine', a folder of images or a dataset this semcomm does not know: give the "
        "images to send with --images DIR"]


def test_the_ldpc_design_draws_fewer_transport_blocks_of_many_code_blocks() -> None:
    assert [design_blocks(c) for c in (1, 4, 5, 20, 64, 1000)] == [300, 300, 240, 60, 30, 30]
    assert design_blocks(2, n_blocks=50) == 50
