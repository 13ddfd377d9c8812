"""The uncoded analog baseline against theory, the resumable sweep runner, and the sweep/plot CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import norm
from counting import Counting

import channels
from semcomm.data import ImageDataset, MissingFileError, load_images, load_sample
from semcomm.methods import LayerResult, Method
from semcomm.methods.analog import UncodedAnalog
from semcomm.methods.registry import get_method, resolve_method
from semcomm.plot import plot_sweep, ratio_label
from semcomm.sweep import KEY_FIELDS, RECORD_FIELDS, ResultsFile, SweepPlan, run_sweep


def _images(name: str, n: int) -> ImageDataset:
    ds = load_sample(name)
    return dataclasses.replace(ds, images=ds.images[:n], labels=ds.labels[:n])


def _results(path: Path, seed: int = 0) -> ResultsFile:
    return ResultsFile(path, {"test": "sweep"}, seed, key_fields=KEY_FIELDS)


class TwoLayers(Method):
    """A two-layer method with a (random) classifier: layer 2 is a second analog transmission."""

    name = "two-layers"

    def __init__(self, dataset: str) -> None:
        self.dataset, self.analog = dataset, UncodedAnalog(dataset)

    def transmit(self, images, channel, snr_db, csi, generator=None):  # type: ignore[no-untyped-def]
        first = self.analog.transmit(images, channel, snr_db, csi, generator)[0]
        second = self.analog.transmit(images, channel, snr_db, csi, generator)[0]
        logits = torch.randn(images.shape[0], 10, generator=generator)
        return [
            LayerResult(first.recon, 0.5, tasks={"class": logits}),
            LayerResult((first.recon + second.recon) / 2, 1.0, tasks={"class": logits + 1.0}),
        ]


def expected_analog_psnr(images: np.ndarray, snr_db: float) -> float:
    """Mean per-image PSNR of uncoded analog transmission with the LMMSE receiver on AWGN,
    computed from the formulas alone.

    Per image: s = p - 1/2, power P = mean |z|^2 = 2 mean(s^2), c = 1 / (1 + N0). Each
    reconstructed pixel before clamping is Gaussian, mean 1/2 + c s, variance c^2 P N0 / 2
    (the real or imaginary part of CN(0, N0) noise, divided by the scale 1/sqrt(P)). Clamping
    and 8-bit rounding send it to level k/255 with the Gaussian probability of the interval
    rounding to k, so the expected MSE is exact; the PSNR of the expected MSE stands for the
    expected PSNR (784 pixels: the Jensen gap is below 0.01 dB).
    """
    n0 = 10.0 ** (-snr_db / 10.0)
    c = 1.0 / (1.0 + n0)
    edges = np.concatenate([[-np.inf], (np.arange(255) + 0.5) / 255.0, [np.inf]])
    levels = np.arange(256) / 255.0
    psnrs = []
    for image in images.reshape(len(images), -1):
        t = image / 255.0
        s = t - 0.5
        mean, std = 0.5 + c * s, c * np.sqrt(2 * np.mean(s**2) * n0 / 2)
        probs = np.diff(norm.cdf((edges[None, :] - mean[:, None]) / std), axis=1)  # [n, 256]
        mse = np.mean((probs * (levels[None, :] - t[:, None]) ** 2).sum(axis=1))
        psnrs.append(100.0 if mse == 0 else min(100.0, 10 * np.log10(1 / mse)))
    return float(np.mean(psnrs))


def test_analog_awgn_psnr_follows_the_lmmse_formula(tmp_path: Path) -> None:
    images = _images("mnist", 100)
    snrs = [0.0, 10.0, 20.0, 80.0]
    analog = get_method("analog", dataset="mnist")
    records = run_sweep(analog, images, ["awgn"], ["perfect"], snrs, _results(tmp_path / "r.json"), batch_size=100)
    got = {r["snr_db"]: r["psnr"] for r in records}
    for snr in snrs:
        assert got[snr] == pytest.approx(expected_analog_psnr(images.images, snr), abs=0.1), snr
    assert 0.9 <= (got[20.0] - got[10.0]) / 10 <= 1.2  # ~1 dB per dB
    assert got[80.0] == 100.0  # noise far below half a level: 8-bit rounding gives every image back exactly
    assert all(r["ratio"] == 0.5 and r["accuracy"] is None and r["layer"] is None for r in records)


def test_analog_with_perfect_csi_beats_no_csi_on_fading() -> None:
    x = torch.from_numpy(_images("cifar10", 64).images).float() / 255
    analog, ch = UncodedAnalog("cifar10"), channels.get("rayleigh-block")
    mse = {
        csi: float((analog.transmit(x, ch, 20.0, csi, torch.Generator().manual_seed(0))[0].recon - x).square().mean())
        for csi in ch.csi_modes
    }
    assert mse["perfect"] < mse["none"] / 10


def test_records_follow_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    records = run_sweep(
        TwoLayers("mnist"), _images("mnist", 40), ["awgn", "rician"], ["perfect", "none"], [0.0, 10.0], _results(path),
        batch_size=16, channel_kwargs={"rician": {"k_factor": 3.0}},
    )
    data = json.loads(path.read_text())
    for key in ("semcomm_version", "git_rev", "created", "seed", "config", "versions", "records"):
        assert key in data
    assert data["records"] == records and len(records) == 2 * 2 * 2 * 2
    assert [(r["channel"], r["csi"], r["snr_db"], r["layer"]) for r in records[:5]] == [
        ("awgn", "perfect", 0.0, 1),
        ("awgn", "perfect", 0.0, 2),
        ("awgn", "perfect", 10.0, 1),
        ("awgn", "perfect", 10.0, 2),
        ("awgn", "none", 0.0, 1),
    ]
    for r in records:
        assert tuple(r) == RECORD_FIELDS
        assert r["method"] == "two-layers" and r["dataset"] == "mnist" and r["n_images"] == 40
        assert type(r["layer"]) is int and r["ratio"] == 0.5 * r["layer"]
        assert 0 <= r["accuracy"] <= 1 and 0 < r["ssim"] < 1 and r["psnr_ci95"] > 0


def test_resume_computes_only_missing_points_and_reproduces_them(tmp_path: Path) -> None:
    images, snrs = _images("mnist", 30), [0.0, 5.0, 10.0]
    full = Counting(TwoLayers("mnist"))
    reference = run_sweep(full, images, ["awgn"], ["perfect"], snrs, _results(tmp_path / "full.json"), batch_size=10)
    assert full.calls == 3 * 3  # 3 points x 3 batches

    # Killed during the second point: the file holds the first point, both layers, nothing more.
    path = tmp_path / "r.json"
    killed = Counting(TwoLayers("mnist"), fail_at=5)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(killed, images, ["awgn"], ["perfect"], snrs, _results(path), batch_size=10)
    assert json.loads(path.read_text())["records"] == reference[:2]

    resumed = Counting(TwoLayers("mnist"))
    assert run_sweep(resumed, images, ["awgn"], ["perfect"], snrs, _results(path), batch_size=10) == reference
    assert resumed.calls == 2 * 3  # the two missing points only

    # Truncated to the first point's records: again only the rest is computed, identically.
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"records": data["records"][:2]}))
    again = Counting(TwoLayers("mnist"))
    assert run_sweep(again, images, ["awgn"], ["perfect"], snrs, _results(path), batch_size=10) == reference
    assert again.calls == 2 * 3
    done = Counting(TwoLayers("mnist"))
    run_sweep(done, images, ["awgn"], ["perfect"], snrs, _results(path), batch_size=10)
    assert done.calls == 0


def test_same_seed_same_records_other_seed_other_records(tmp_path: Path) -> None:
    images = _images("cifar10", 20)
    runs = [
        run_sweep(
            UncodedAnalog("cifar10"), images, ["rayleigh-block"], ["perfect"], [5.0],
            _results(tmp_path / f"{i}.json", seed), batch_size=8, seed=seed,
        )
        for i, seed in enumerate((7, 7, 8))
    ]
    assert runs[0] == runs[1]
    assert runs[0][0]["psnr"] != runs[2][0]["psnr"]


def test_a_model_refuses_images_it_cannot_take_before_any_work() -> None:
    from semcomm.methods import resolve_method

    with pytest.raises(ValueError, match="takes 1-channel images"):
        SweepPlan([resolve_method("mnist-l3")], _images("cifar10", 4), ["awgn"], ["perfect"], [0.0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel_names": ["awgn", "nope"]}, "unknown channel 'nope'; choose one of: awgn"),
        ({"csi_modes": ["psychic"]}, "unknown CSI mode 'psychic'; choose one of: perfect, none"),
        ({"snrs": []}, "no SNR to sweep"),
        ({"channel_kwargs": {"rician": {"k_factor": -1.0}}, "channel_names": ["rician"]}, "k_factor"),
    ],
)
def test_bad_sweeps_fail_before_any_work(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    method = Counting(UncodedAnalog("mnist"))
    args = {"images": _images("mnist", 4), "channel_names": ["awgn"], "csi_modes": ["perfect"], "snrs": [0.0]} | kwargs
    with pytest.raises(ValueError, match=message):
        run_sweep(method, results=_results(tmp_path / "r.json"), **args)
    assert method.calls == 0 and not (tmp_path / "r.json").exists()


def test_method_registry_and_images(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert isinstance(resolve_method("analog", "cifar10"), UncodedAnalog)
    with pytest.raises(ValueError, match="needs a dataset; choose one of: mnist, cifar10"):
        resolve_method("analog", None)
    with pytest.raises(ValueError, match="unknown method 'nope'; choose one of: analog"):
        get_method("nope")
    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    assert len(load_images("mnist")) == 2000 and len(load_images("cifar10", "embedded")) == 1000
    with pytest.raises(ValueError, match="test images only"):
        load_images("mnist", "embedded", "train")
    monkeypatch.setenv("SEMCOMM_DATA", str(tmp_path))
    with pytest.raises(MissingFileError):
        load_images("mnist")


def test_plot_sweep_draws_layers_links_and_null_layers(tmp_path: Path) -> None:
    records = [
        {"method": m, "dataset": "cifar10", "channel": ch, "csi": "perfect", "snr_db": s, "layer": layer,
         "ratio": ratio, "psnr": 20 + s / 2 + (layer or 0), "psnr_ci95": float("nan") if s == 0 else 0.2,
         "ssim": 0.8, "accuracy": acc, "n_images": 100}
        for m, layer, ratio, acc in (("jscc", 1, 1 / 18, 0.5), ("jscc", 2, 1 / 9, 0.6), ("sscc", None, 1 / 6, None))
        for ch in ("awgn", "rayleigh-block")
        for s in (0.0, 10.0)
    ]
    out = plot_sweep({"records": records}, tmp_path / "fig.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 800
    assert [ratio_label(r) for r in (1 / 9, 0.5, 1 / 6 + 1 / 18, 0.1234567)] == ["1/9", "1/2", "2/9", "0.123"]


def test_cli_bad_inputs_give_one_line_errors(semcomm_cli, tmp_path: Path) -> None:
    ok = ["analog", "--dataset", "mnist", "--data-root", "embedded", "--n-images", "8"]
    cases = [
        (["sweep", *ok, "--channel", "awgn,nope"], ["'nope'", "awgn, rayleigh-block"]),
        (["sweep", *ok, "--csi", "psychic"], ["'psychic'", "perfect, none"]),
        (["sweep", "runs/none", "--dataset", "mnist"], ["'runs/none'"]),
        (["sweep", *ok, "--snr", "abc"], ["'abc'", "start:stop:step"]),
        (["sweep", *ok, "--n-images", "0"], ["--n-images", "positive whole number"]),
        (["plot", "missing.json"], ["'missing.json' does not exist"]),
    ]
    for args, names in cases:
        result = semcomm_cli(*args, cwd=tmp_path)
        lines = result.error_lines()
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("error: ") and all(n in lines[0] for n in names), (args, lines[0])
    assert not (tmp_path / "results.json").exists()


def test_channel_options_go_to_the_channels_that_take_them() -> None:
    assert channels.sweep_option_kwargs(["awgn", "rician", "rayleigh-block"], {"--k-factor": "3", "--block-len": "4"}) == {
        "awgn": {}, "rician": {"k_factor": 3.0, "block_len": 4}, "rayleigh-block": {"block_len": 4}
    }
    with pytest.raises(ValueError, match="--block-len applies to rayleigh-block, rician, none of which is in --channel"):
        channels.sweep_option_kwargs(["awgn"], {"--k-factor": None, "--block-len": "4"})


def test_cli_sweep_resumes_and_plot_writes_png(semcomm_cli, tmp_path: Path) -> None:
    args = ["sweep", "analog", "--dataset", "mnist", "--data-root", "embedded", "--n-images", "64"]
    args += ["--batch-size", "32", "--channel", "awgn,rayleigh-block", "--out", "r.json"]
    first = semcomm_cli(*args, "--snr", "0,10")
    assert first.returncode == 0, first.stderr
    assert "images: 64 mnist test images from the embedded sample" in first.stderr
    assert "PSNR [dB] on mnist, by SNR [dB]" in first.stdout and "analog" in first.stdout and "rayleigh-block" in first.stdout
    assert "PSNR [dB]" in first.stdout
    second = semcomm_cli(*args, "--snr", "0,10,20")
    assert second.returncode == 0, second.stderr
    assert "resuming r.json: 4 of 6 points already done" in second.stderr
    assert len(json.loads((tmp_path / "r.json").read_text())["records"]) == 6
    plot = semcomm_cli("plot", "r.json", "--out", "fig.png")
    assert plot.returncode == 0, plot.stderr
    with Image.open(tmp_path / "fig.png") as im:
        assert im.format == "PNG" and im.size[0] > 800


def test_resumed_sweep_refuses_a_replaced_model_and_names_the_difference(tmp_path: Path) -> None:
    """Issue 11 #1: a run directory replaced by another model of the same ratio must not resume
    into the old model's results file (it used to keep the old 0 dB point and add the new 10 dB)."""
    from semcomm.methods import resolve_method
    from semcomm.models import JSCCConfig
    from semcomm.models.conv import MultiResJSCC
    from semcomm.models.checkpoint import save_checkpoint
    from semcomm.sweep import KEY_FIELDS, ResultsFile, run_sweep
    from semcomm.data import load_images

    config = JSCCConfig.for_dataset("mnist", (8, 8), arch="conv", width=8)
    run = tmp_path / "run"
    images = load_images("mnist", "embedded", "test")
    images = type(images)(images.name, images.images[:32], images.labels[:32], images.class_names)
    out = tmp_path / "r.json"
    for seed, snrs in ((0, [0.0]), (1, [0.0, 10.0])):
        torch.manual_seed(seed)
        save_checkpoint(run, MultiResJSCC(config), {"model": config.to_dict()})
        method = resolve_method(str(run))
        config_dict = {"methods": [method.describe()]}
        if seed == 0:
            run_sweep(method, images, ["awgn"], ["perfect"], snrs, ResultsFile(out, config_dict, 0, KEY_FIELDS))
            continue
        with pytest.raises(ValueError, match=r"config\.methods\[0\]\.sha256: \"[0-9a-f]{36}\.\.\. -> \""):
            ResultsFile(out, config_dict, 0, KEY_FIELDS)
