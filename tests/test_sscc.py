"""SSCC baselines (codec + LDPC / capacity link): budgets, fallbacks, real bits, the sweep CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from semcomm.models.klt_refine import CLASSIFIER_SNR_DB

import channels
from semcomm.codecs import get as get_codec
from semcomm.data import load_sample, train_mean_image
from semcomm.links import AdaptiveLdpcLink, BlerCache
from semcomm.methods import SSCCMethod, load_method
from semcomm.methods.sscc import _stream_bits


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMCOMM_CACHE", str(tmp_path / "cache"))


def _cifar(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    sample = load_sample("cifar10")
    return torch.from_numpy(sample.images[:n]).float() / 255.0, torch.from_numpy(sample.labels[:n])


def test_sscc_fits_the_budget_and_outputs_the_fallback_for_lost_images() -> None:
    x, _ = _cifar(48)
    method = SSCCMethod("jpeg", "ldpc", "cifar10", 1 / 6)
    assert method.n_uses == 512 and method.name == "jpeg+ldpc" and method.layered is False
    ch, g = channels.get("rayleigh-block"), torch.Generator().manual_seed(0)
    (result,) = method.transmit(x, ch, 10.0, "perfect", generator=g)
    plan = method.link.plan(ch, 10.0, "perfect")
    extras = result.extras
    assert extras["budget_bits"] == plan.info_bits > 0 and 0 < extras["bits"] <= plan.info_bits
    mean = torch.from_numpy(train_mean_image("cifar10"))
    fallback = (result.recon == mean).flatten(1).all(dim=1)
    # Block Rayleigh at 10 dB loses some images and delivers most: lost ones are the mean image.
    assert 0 < int(fallback.sum()) < 48
    assert extras["delivered"] == pytest.approx(1 - fallback.double().mean().item())
    assert result.ratio == pytest.approx(1 / 6, rel=1e-3)


def test_capacity_link_below_the_smallest_encoding_gives_the_fallback() -> None:
    x, _ = _cifar(16)
    method = SSCCMethod("jpeg", "capacity", "cifar10", 1 / 6)
    # -10 dB: 512 * log2(1.1) = 70 bits, below any JPEG payload of a CIFAR image (>= ~130 bits).
    (result,) = method.transmit(x, channels.get("awgn"), -10.0, "perfect")
    assert result.extras["budget_bits"] == math.floor(512 * math.log2(1.1))
    assert result.extras["sent"] == 0.0 and result.extras["delivered"] == 0.0
    assert torch.equal(result.recon, torch.from_numpy(train_mean_image("cifar10")).expand_as(x))


def test_the_sent_bit_stream_decodes_to_the_reconstruction() -> None:
    x, _ = _cifar(8)
    codec = get_codec("webp")
    pixels = torch.round(x * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    budget = 1500
    fit = codec.fit(pixels, budget)
    stream = _stream_bits(fit, fit.fits, codec.quality_bits, budget)
    assert stream.shape == (8, budget)
    for i in range(8):
        index = int(np.packbits(np.concatenate([np.zeros(8 - codec.quality_bits, np.uint8), stream[i, : codec.quality_bits]]))[0])
        payload = np.packbits(stream[i, codec.quality_bits :]).tobytes()  # zero padding to the budget included
        decoded = codec.decode_payload(payload, pixels.shape[1:], codec.qualities[index])
        assert index == fit.quality_index[i] and np.array_equal(decoded, fit.images[i])


def test_ldpc_mcs_rises_with_snr_and_meets_the_target_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = AdaptiveLdpcLink(n_uses=128, n_blocks=200, cache=BlerCache(tmp_path / "bler.json"))
    plans = [link.plan(channels.get("awgn"), snr, "perfect") for snr in (-10.0, 0.0, 10.0, 20.0)]
    assert plans[0].mcs is None and plans[0].info_bits == 0  # nothing gets through at -10 dB
    mcs = [p.mcs for p in plans[1:]]
    assert mcs == sorted(mcs) and len(set(mcs)) == 3
    assert all(p.loss <= 0.1 for p in plans[1:])
    # Cached on disk: a new link simulates nothing and chooses the same MCS.
    def no_simulation(*args: object, **kwargs: object) -> None:
        raise AssertionError("the BLER table should come from the cache")

    monkeypatch.setattr("semcomm.links.ldpc.block_error_rate", no_simulation)
    fresh = AdaptiveLdpcLink(n_uses=128, n_blocks=200, cache=BlerCache(tmp_path / "bler.json"))
    assert fresh.plan(channels.get("awgn"), 10.0, "perfect") == plans[2]


def test_classifier_scores_through_a_noiseless_link() -> None:
    x, labels = _cifar(64)
    jscc = load_method("cifar10-l3")
    model = jscc.model  # klt-refine: noiseless symbols, the refiner conditioned as at CLASSIFIER_SNR_DB
    with torch.inference_mode():
        symbols, scales = model.encode(x)
        c_hat = model.softcast.estimate(symbols, torch.full((), 1e-10), scales, model.gains())
        logits = model.receive(c_hat, torch.full((), 10 ** (-CLASSIFIER_SNR_DB / 10))).tasks[-1]["class"]
    assert torch.allclose(jscc.classify(x), logits, atol=1e-5)
    assert (jscc.classify(x).argmax(1) == labels).double().mean() > 0.6


def test_bad_sscc_settings_fail_with_one_line() -> None:
    with pytest.raises(ValueError, match="unknown codec 'bpg'"):
        SSCCMethod("bpg", "ldpc", "cifar10", 1 / 6)
    with pytest.raises(ValueError, match=r"raise --ratio"):
        SSCCMethod("jpeg", "ldpc", "cifar10", 1 / 300)
    with pytest.raises(ValueError, match="unknown link 'turbo'"):
        SSCCMethod("jpeg", "turbo", "cifar10", 1 / 6)


def test_cli_sweeps_jscc_and_sscc_into_one_file_and_resumes(semcomm_cli, tmp_path: Path) -> None:
    args = ["sweep", "mnist-l3", "--method", "sscc", "--codec", "jpeg", "--link", "ldpc,capacity",
            "--data-root", "embedded", "--n-images", "40", "--snr", "5,20", "--out", "r.json", "--plot", "fig.png"]
    first = semcomm_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    methods = [m["name"] for m in data["config"]["methods"]]
    assert methods == ["mnist-l3", "jpeg+ldpc", "jpeg+capacity"]
    assert data["config"]["methods"][1]["classifier"] == "mnist-l3"
    sscc = [r for r in data["records"] if r["method"] != "mnist-l3"]
    assert len(sscc) == 4 and all(r["layer"] is None for r in sscc)
    assert len(data["records"]) == 2 * 3 + 4 and (tmp_path / "fig.png").stat().st_size > 10_000
    # The SSCC ratio defaults to the JSCC model's total ratio.
    assert {r["ratio"] for r in data["records"] if r["layer"] in (None, 3)} == {data["config"]["methods"][0]["ratio"]}
    again = semcomm_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "6 of 6 points already done" in again.stderr
    assert json.loads((tmp_path / "r.json").read_text())["records"] == data["records"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--method", "sscc", "--codec", "bpg", "--dataset", "cifar10", "--ratio", "1/6"], ["'bpg'", "jpeg"]),
        (["--method", "sscc", "--dataset", "cifar10", "--ratio", "0"], ["--ratio", "(0, 1]"]),
        (["--method", "sscc", "--dataset", "cifar10", "--ratio", "1/1000"], ["raise --ratio"]),
        (["--method", "sscc", "--dataset", "cifar10"], ["--ratio"]),
        (["--method", "sscc", "--ratio", "1/6"], ["--dataset"]),
        (["--method", "sscc", "--link", "capacity", "--dataset", "cifar10", "--ratio", "1/6",
          "--channel", "rayleigh-block", "--csi", "none"], ["perfect receiver CSI"]),
        ([], ["nothing to sweep"]),
    ],
)
def test_bad_sscc_sweeps_fail_with_one_line(semcomm_cli, tmp_path: Path, args: list[str], words: list[str]) -> None:
    proc = semcomm_cli("sweep", *args, "--data-root", "embedded", "--n-images", "8", "--snr", "10", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "results.json").exists()
