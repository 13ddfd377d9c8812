"""Source-free channel adaptation: the API holds no source data and no labels, the mean teacher's
EMA is exact, the variance split selects the stated fraction, and the CLI adapts, saves and
refuses in one line."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest
import torch

from semcomm.learn.adapt import AdaptConfig, Received, TargetLink, adapt, diversity_loss, ema_update, receiver_parameters, variance_split
from semcomm.methods import resolve_method


def test_the_adaptation_entry_point_takes_no_source_data_and_no_labels() -> None:
    params = set(inspect.signature(adapt).parameters)
    assert params == {"model", "received", "cfg", "progress"}
    assert {f.name for f in dataclasses.fields(Received)} == {"c_hat", "noise_var"}  # what a receiver holds
    model = resolve_method("mnist-l3").model
    link = TargetLink(model, torch.zeros(8, 1, 28, 28, dtype=torch.uint8), AdaptConfig("rician", "none", (5.0, 5.0)))
    batch = next(iter(link))
    assert type(batch) is Received and batch.c_hat.shape == (64, 2 * 72)


def test_ema_update_is_exact() -> None:
    teacher, student = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in teacher.parameters()]
    ema_update(teacher.parameters(), student.parameters(), 0.99)
    for t, b, s in zip(teacher.parameters(), before, student.parameters()):
        assert torch.equal(t, b.mul(0.99).add(s.detach(), alpha=1 - 0.99))  # the formula, to the bit
        assert torch.allclose(t, 0.99 * b + 0.01 * s.detach(), rtol=0, atol=1e-7)


@pytest.mark.parametrize(("n", "fraction", "count"), [(50, 0.2, 10), (7, 0.2, 2), (64, 0.5, 32), (3, 0.01, 1)])
def test_variance_split_selects_the_stated_fraction_of_lowest_variance(n: int, fraction: float, count: int) -> None:
    variance = torch.rand(n, generator=torch.Generator().manual_seed(n))
    mask = variance_split(variance, fraction)
    assert int(mask.sum()) == count
    assert float(variance[mask].max()) <= float(variance[~mask].min()) if count < n else True


def test_diversity_loss_is_zero_for_one_class_and_lowest_for_an_even_spread() -> None:
    collapsed = torch.full((6, 10), -30.0)
    collapsed[:, 3] = 30.0
    assert float(diversity_loss(collapsed)) == pytest.approx(0.0, abs=1e-6)
    spread = torch.full((10, 10), -30.0)
    spread[torch.arange(10), torch.arange(10)] = 30.0  # each example confident, the batch even
    assert float(diversity_loss(spread)) == pytest.approx(-torch.log(torch.tensor(10.0)).item(), abs=1e-5)
    logits = torch.randn(16, 10, requires_grad=True)
    assert diversity_loss(spread) <= diversity_loss(logits) <= diversity_loss(collapsed)


def test_adaptation_changes_only_the_receiver_and_leaves_the_model_alone() -> None:
    model = resolve_method("mnist-l3").model
    original = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = AdaptConfig("rician", "none", (5.0, 15.0), steps=3, batch_size=16, lr=1e-3)
    images = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    adapted, history = adapt(model, TargetLink(model, images, cfg), cfg)
    assert len(history) == 3 and all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())
    new = adapted.state_dict()
    assert torch.equal(new["gain_log"], original["gain_log"])  # the deployed transmitter is untouched
    assert all(torch.equal(new[k], v) for k, v in original.items() if k.startswith("tx_residual."))
    assert any(not torch.equal(new[k], v) for k, v in original.items() if k.startswith("refiner."))
    assert {id(p) for p in receiver_parameters(model)}.isdisjoint({id(p) for p in model.tx_residual.parameters()})


def image_folder(folder: Path, count: int = 32, size: int = 28) -> Path:
    """``count`` grey ``size`` x ``size`` PNG images (smooth random blobs) in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for i in range(count):
        small = torch.rand(1, 1, 4, 4, generator=g)
        image = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
        Image.fromarray((image * 255).round().to(torch.uint8).numpy()).save(folder / f"{i:03d}.png")
    return folder


def test_cli_adapts_saves_and_sweeps(semcomm_cli, tmp_path: Path) -> None:
    result = semcomm_cli("adapt", "mnist-l3", "--channel", "rayleigh-block", "--csi", "perfect", "--snr", "5:15", "--steps", "4",
                 "--batch-size", "16", "--images", str(image_folder(tmp_path / "sent")), "--out", str(tmp_path / "ad"))
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "ad" / "config.json").read_text())
    assert meta["adapted"]["from"] == "mnist-l3" and meta["adapted"]["config"]["channel"] == "rayleigh-block"
    sweep = semcomm_cli("sweep", str(tmp_path / "ad"), "--channel", "rayleigh-block", "--csi", "perfect", "--snr", "10",
                "--n-images", "32", "--data-root", "embedded", "--out", str(tmp_path / "r.json"))
    assert sweep.returncode == 0, sweep.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--channel", "awgn", "--csi", "perfect"], "adapting it there changes nothing"),
    (["--ema", "1.5"], "--ema must lie strictly between 0 and 1"),
    (["--passes", "1"], "--passes must be from 2 (a variance needs two passes) to 64"),
    (["--diversity", "-1"], "--diversity must be a number >= 0, got -1"),
    (["--channel", "rayleigh-block", "--csi", "ls"], "CSI mode 'ls'"),
    (["--channel", "rayleigh-block", "--csi", "none"], "the receiver's LMMSE estimate of every coefficient is 0"),
    (["--lr", "0"], "bad --lr 0: the learning rate must be a positive number"),
    (["--lr", "inf"], "bad --lr inf"),
    (["--data-root", "embedded"], "--images and --data-root both name the images to send"),
])
def test_cli_bad_adaptation_is_one_line(semcomm_cli, args: list[str], message: str, tmp_path: Path) -> None:
    result = semcomm_cli("adapt", "mnist-l3", "--images", str(image_folder(tmp_path / "sent", count=4)), "--out",
                         str(tmp_path / "ad"), *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("data_root", ["embedded", None])
def test_adapt_never_sends_test_images(semcomm_cli, tmp_path: Path, data_root: str | None) -> None:
    """Without a training split (the embedded sample holds test images, which sweeps score) adapt
    refuses, saying why, before any work."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "SEMCOMM_DATA"}
    args = ["adapt", "mnist-l3", "--channel", "rician", "--out", str(tmp_path / "ad")]
    result = semcomm_cli(*args, *(["--data-root", data_root] if data_root else []), env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "adapt needs images to send that no sweep scores" in lines[0] and "leak the test set" in lines[0]
    assert not (tmp_path / "ad").exists()


def test_adapt_that_diverges_stops_and_writes_nothing(semcomm_cli, tmp_path: Path) -> None:
    result = semcomm_cli("adapt", "mnist-l3", "--channel", "rician", "--csi", "none", "--steps", "3", "--batch-size", "8",
                         "--lr", "1e30", "--images", str(image_folder(tmp_path / "sent", count=8)), "--out", str(tmp_path / "ad"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "adaptation diverged at step" in lines[-1] and "--lr 1e+30" in lines[-1], result.stderr
    assert not (tmp_path / "ad" / "model.safetensors").exists()

