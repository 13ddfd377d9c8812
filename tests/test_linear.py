"""The ``linear`` method (KLT + SoftCast + LMMSE): closed-form MSE, layers, causality, CSI, the
shipped KLT, the sweep and its errors."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import channels
from semcomm.data import load_images, load_sample
from semcomm.methods import LinearMethod, SSCCSpec, sweep_methods
from semcomm.methods.linear import linear_coefficients
from semcomm.models.klt import KLT, fit_klt, get_klt, shipped_klt_path
from semcomm.models.softcast import SoftCast, softcast_amplitudes

MNIST_LAYERS = (24, 24, 24)  # the pretrained mnist-l3's


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMCOMM_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def mnist() -> torch.Tensor:
    """The first 500 embedded MNIST test images, float ``[500, 1, 28, 28]``."""
    return torch.from_numpy(load_sample("mnist").images[:500]).float() / 255.0


@pytest.fixture(scope="module")
def linear() -> LinearMethod:
    return LinearMethod("mnist", MNIST_LAYERS, data_root="embedded")


def _psnr(recon: torch.Tensor, x: torch.Tensor) -> float:
    """Mean per-image PSNR (peak 1)."""
    mse = (recon - x).square().flatten(1).mean(1)
    return float((-10 * torch.log10(mse)).mean())


@pytest.mark.parametrize("layer_power", ["equal", "softcast"])
def test_awgn_mse_equals_the_lmmse_formula_on_a_gaussian_source(layer_power: str) -> None:
    # A Gaussian source of known covariance Q diag(lam) Q^T, m of its n components sent.
    n, layers = 1600, (300, 450)
    m = 2 * sum(layers)
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
    lam = 2.0 * 0.997 ** torch.arange(n, dtype=torch.float64)
    mean = torch.rand(n, dtype=torch.float64, generator=g)
    softcast = SoftCast(mean.float(), basis.float(), lam.float(), layers, layer_power)
    batch = 2000
    x = (mean + (torch.randn(batch, n, dtype=torch.float64, generator=g) * lam.sqrt()) @ basis.T).float()
    _, scales, _ = softcast.transmit(x)  # the per-example layer scales the receiver is told
    gain = softcast.amplitudes.double() * scales.double()[:, softcast.layer_of_coefficient]  # [B, m]
    top = {}
    for snr in (0.0, 10.0, 20.0):
        c_hat = linear_coefficients(softcast, x, channels.get("awgn"), snr, "perfect", g)
        half = 10.0 ** (-snr / 10) / 2  # N0/2 per real coefficient
        mse = lam[:m] * half / (gain.square() * lam[:m] + half)  # [B, m]
        for mask in softcast.layer_masks().double():
            recon = softcast.synthesise(c_hat * mask.float(), (n,)).double()
            measured = (recon - x.double()).square().sum(1)  # [B]
            expected = (mse * mask).sum(1) + (lam[:m] * (1 - mask)).sum() + lam[m:].sum()  # sent + not sent
            diff = measured - expected
            assert abs(float(diff.mean())) < 4 * float(diff.std()) / math.sqrt(batch) + 1e-4 * float(expected.mean()), (snr, mask.sum())
        top[snr] = float(measured.mean())
    # The closed form with unit scales (SoftCast.mse_per_coefficient, the per-example scales
    # concentrate at 1 with this many symbols per layer) agrees within 0.5 %.
    for snr, got in top.items():
        unit = softcast.mse_per_coefficient(10.0 ** (-snr / 10)).double().sum() + lam[m:].sum()
        assert float(unit) == pytest.approx(got, rel=5e-3), snr


def test_softcast_amplitudes_give_each_layer_unit_energy() -> None:
    layers = (3, 5, 8)
    lam = torch.sort(torch.rand(32, generator=torch.Generator().manual_seed(1)) * 4 + 1e-3, descending=True).values
    amp = softcast_amplitudes(lam, layers)
    for part_g, part_lam, k in zip(amp.split([2 * k for k in layers]), lam.split([2 * k for k in layers]), layers):
        energy = part_g.double().square() * part_lam.double()
        assert float(energy.sum() / k) == pytest.approx(1.0, rel=1e-6)  # unit energy per complex symbol
        shape = part_g.double().pow(4) * part_lam.double()  # g ∝ lambda^(-1/4) within the layer
        assert torch.allclose(shape, shape[0].expand_as(shape), rtol=1e-5)
    # On a source with these variances, the power before the per-example scaling is 1 per layer.
    softcast = SoftCast(torch.zeros(32), torch.eye(32), lam, layers)
    c = torch.randn(20000, 32, generator=torch.Generator().manual_seed(2)) * lam.sqrt()
    _, scales = softcast.modulate(c)
    assert torch.allclose(scales.pow(-2).mean(0), torch.ones(3), rtol=0.03)


def test_softcast_power_split_is_the_single_layer_allocation_and_keeps_the_frame_at_unit_energy() -> None:
    layers = (3, 5, 8)
    lam = torch.sort(torch.rand(32, generator=torch.Generator().manual_seed(1)) * 4 + 1e-3, descending=True).values
    split = SoftCast(torch.zeros(32), torch.eye(32), lam, layers, "softcast")
    single = SoftCast(torch.zeros(32), torch.eye(32), lam, (16,))
    # Over the whole frame it is SoftCast's one-layer allocation: the top layer's receiver is
    # the single-resolution linear scheme.
    assert torch.allclose(split.amplitudes, single.amplitudes, rtol=1e-6)
    powers = split.layer_powers().double()
    k = torch.tensor(layers, dtype=torch.float64)
    assert float((powers * k).sum() / k.sum()) == pytest.approx(1.0, rel=1e-6)
    # P_l is the mean of sqrt(lambda) over layer l, normalised: decreasing with the eigenvalues.
    root = torch.stack([p.double().sqrt().mean() for p in lam.split([2 * q for q in layers])])
    assert torch.allclose(powers, root / float((root * k).sum() / k.sum()), rtol=1e-5)
    assert powers[0] > 1 > powers[-1]
    # Per example: each layer at exactly P_l, so the frame at exactly unit energy per symbol.
    c = torch.randn(50, 32, generator=torch.Generator().manual_seed(2)) * lam.sqrt()
    symbols, _ = split.modulate(c)
    per_layer = torch.stack([channels.average_power(s, dim=-1)[:, 0] for s in symbols.split(list(layers), -1)], -1)
    assert torch.allclose(per_layer, powers.float().expand(50, -1), rtol=1e-5)
    assert torch.allclose(channels.average_power(symbols, dim=-1), torch.ones(50, 1), rtol=1e-5)
    # More power to layer 1 lowers the MSE of the layer-1 receiver and of the full receiver.
    equal = SoftCast(torch.zeros(32), torch.eye(32), lam, layers)
    for nv in (1.0, 0.1, 0.01):
        for mask in (equal.layer_masks()[0], equal.layer_masks()[-1]):
            assert float((split.mse_per_coefficient(nv) * mask).sum()) < float((equal.mse_per_coefficient(nv) * mask).sum())


def test_unknown_layer_power_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^unknown layer power split 'frame'; choose one of: equal, softcast$"):
        SoftCast(torch.zeros(4), torch.eye(4), torch.ones(4), (2,), "frame")
    with pytest.raises(ValueError, match=r"layer power split.*'frame'.*equal, softcast"):
        LinearMethod("mnist", MNIST_LAYERS, data_root="embedded", layer_power="frame")


@pytest.mark.parametrize("channel", ["awgn", "rayleigh-block"])
def test_layers_refine_monotonically_on_mnist(linear: LinearMethod, mnist: torch.Tensor, channel: str) -> None:
    psnr = {}
    for snr in (-5.0, 0.0, 10.0, 20.0):
        layers = linear.transmit(mnist, channels.get(channel), snr, "perfect", torch.Generator().manual_seed(0))
        assert [r.ratio for r in layers] == pytest.approx([24 / 784, 48 / 784, 72 / 784])
        assert all(r.recon.shape == mnist.shape and r.recon.min() >= 0 and r.recon.max() <= 1 for r in layers)
        psnr[snr] = [_psnr(r.recon, mnist) for r in layers]
        assert psnr[snr] == sorted(psnr[snr]), (snr, psnr[snr])
    for layer in range(3):
        assert [psnr[s][layer] for s in sorted(psnr)] == sorted(psnr[s][layer] for s in psnr)
    if channel == "awgn":  # what the linear scheme reaches on MNIST at 9/98 (embedded sample)
        assert psnr[20.0][2] > psnr[20.0][0] + 4 and psnr[20.0][2] > 24.0


@pytest.mark.parametrize(("channel", "csi"), [("awgn", "perfect"), ("rayleigh-block", "perfect"), ("rician", "none")])
def test_later_layers_do_not_reach_earlier_outputs(
    linear: LinearMethod, mnist: torch.Tensor, monkeypatch: pytest.MonkeyPatch, channel: str, csi: str
) -> None:
    x, ch = mnist[:64], channels.get(channel)
    reference = linear.transmit(x, ch, 5.0, csi, torch.Generator().manual_seed(3))
    send = linear.softcast.transmit
    bounds = np.cumsum((0,) + MNIST_LAYERS)
    for layer in (1, 2):  # perturb the symbols and the side information of layer + 1 (0-based: layer)
        def tampered(images: torch.Tensor, layer: int = layer) -> tuple[torch.Tensor, torch.Tensor, object]:
            symbols, scales, tiling = send(images)
            symbols, scales = symbols.clone(), scales.clone()
            symbols[:, bounds[layer] : bounds[layer + 1]] += torch.complex(torch.randn(64, MNIST_LAYERS[layer]), torch.randn(64, MNIST_LAYERS[layer]))
            scales[:, layer] *= 3.0
            return symbols, scales, tiling

        monkeypatch.setattr(linear.softcast, "transmit", tampered)
        got = linear.transmit(x, ch, 5.0, csi, torch.Generator().manual_seed(3))
        for l in range(layer):
            assert torch.equal(got[l].recon, reference[l].recon), (layer, l)
        assert not torch.equal(got[layer].recon, reference[layer].recon)
        monkeypatch.undo()


def test_no_csi_gives_the_mean_image_on_rayleigh_and_changes_nothing_on_awgn(linear: LinearMethod, mnist: torch.Tensor) -> None:
    x = mnist[:64]
    mean = linear.softcast.mean.reshape(1, 1, 28, 28).clamp(0, 1).expand_as(x)
    for name in ("rayleigh-block", "rayleigh-fast"):
        for r in linear.transmit(x, channels.get(name), 20.0, "none", torch.Generator().manual_seed(0)):
            assert torch.equal(r.recon, mean)  # E h = 0: the LMMSE of every coefficient is its mean, 0
    awgn = channels.get("awgn")
    perfect = linear.transmit(x, awgn, 5.0, "perfect", torch.Generator().manual_seed(0))
    blind = linear.transmit(x, awgn, 5.0, "none", torch.Generator().manual_seed(0))
    for p, b in zip(perfect, blind):
        assert torch.allclose(p.recon, b.recon, atol=1e-6)
    # On Rician with a known LOS phase, no CSI still recovers part of the image.
    rician = linear.transmit(x, channels.get("rician", k_factor=10.0, los_phase=1.0), 20.0, "none", torch.Generator().manual_seed(0))
    assert _psnr(rician[-1].recon, x) > _psnr(mean, x) + 3


def test_linear_takes_the_split_of_power_of_the_model_it_is_matched_to(tmp_path: Path) -> None:
    from semcomm.models import JSCCConfig
    from semcomm.models.checkpoint import save_checkpoint
    from semcomm.models.klt_refine import KLTRefineJSCC

    config = JSCCConfig.for_dataset("mnist", MNIST_LAYERS, arch="klt-refine", width=8, layer_power="softcast")
    klt = get_klt("mnist", "embedded")
    model = KLTRefineJSCC(config, SoftCast(klt.mean, klt.basis, klt.eigvals, MNIST_LAYERS, "softcast"))
    save_checkpoint(tmp_path / "run", model, {"model": config.to_dict()})
    methods = sweep_methods([str(tmp_path / "run")], ["linear"], SSCCSpec([], []), None, data_root="embedded")
    assert methods[1].describe()["layer_power"] == "softcast"
    # with --ratio the layers are the user's, and so is the (default, equal) split
    methods = sweep_methods([str(tmp_path / "run")], ["linear"], SSCCSpec([], []), None, layer_ratios=(24 / 784,) * 2,
                            data_root="embedded")
    assert methods[1].describe()["layer_power"] == "equal"


def test_describe_and_logits(mnist: torch.Tensor) -> None:
    # matched to mnist-l3 (v4: SoftCast's split of power across layers), linear takes its split
    # and its backbone's KLT
    jscc, method = sweep_methods(["mnist-l3"], ["linear"], SSCCSpec([], []), None, data_root="embedded")
    assert isinstance(method, LinearMethod) and method.layer_symbols == MNIST_LAYERS
    assert method.describe() == {
        "name": "linear", "dataset": "mnist", "tile": [1, 28, 28], "layer_symbols": [24, 24, 24], "layer_power": "softcast",
        "ratio": 72 / 784, "klt": {"backbone of": "mnist-l3", "sha256": jscc.sha256}, "classifier": "mnist-l3",
    }
    assert torch.equal(method.softcast.basis, jscc.model.softcast.basis)
    labels = torch.from_numpy(load_sample("mnist").labels[:500])
    layers = method.transmit(mnist, channels.get("awgn"), 20.0, "perfect", torch.Generator().manual_seed(0))
    accuracy = [float((r.tasks["class"].argmax(1) == labels).double().mean()) for r in layers]
    assert all(r.tasks["class"].shape == (500, 10) for r in layers) and accuracy[-1] > 0.95
    # the shipped KLT (fitted on the full training split) when linear is not matched to a model
    shipped = KLT.load(shipped_klt_path("mnist"))
    alone = LinearMethod("mnist", MNIST_LAYERS, data_root="embedded")
    assert alone.describe()["klt"] == {"images": 60000, "md5": shipped.source["md5"]}
    # --ratio gives the layers (one k/n each), overriding the model's.
    (method,) = sweep_methods(["linear"], [], SSCCSpec([], []), "mnist", layer_ratios=(1 / 49, 1 / 49), data_root="embedded")
    assert method.layer_symbols == (16, 16) and method.classifier_name == "mnist-l3"


def test_bad_linear_settings_fail_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    cases = [
        (lambda: LinearMethod("cifar10", (171, 171, 171)), ["cifar10", "--data-root", "SEMCOMM_DATA", "mnist"]),
        (lambda: sweep_methods(["mnist-l3"], ["linear"], SSCCSpec([], []), "cifar10"), ["'mnist-l3'", "mnist", "cifar10"]),
        (lambda: sweep_methods([], ["linear"], SSCCSpec([], []), "mnist"), ["JSCC model", "--ratio"]),
        (lambda: LinearMethod("mnist", (300, 100), data_root="embedded"), ["300+100", "784", "at most 1/2"]),
        (lambda: LinearMethod("mnist", (), data_root="embedded"), ["layer sizes"]),
        (lambda: LinearMethod(None, (24,)), ["dataset", "mnist, cifar10"]),
    ]
    for build, words in cases:
        with pytest.raises(ValueError) as err:
            build()
        message = str(err.value)
        assert "\n" not in message and all(w in message for w in words), message
    # A model of another dataset as the classifier.
    with pytest.raises(ValueError, match="cifar10-l3.* is a cifar10 model, not mnist"):
        sweep_methods(["linear"], [], SSCCSpec([], [], classifier="cifar10-l3"), "mnist", layer_ratios=(1 / 49,), data_root="embedded")


def test_cli_sweeps_linear_layers_with_accuracy(semcomm_cli, tmp_path: Path) -> None:
    args = ["sweep", "mnist-l3", "--method", "linear", "--data-root", "embedded", "--n-images", "40", "--snr", "0,20",
            "--out", "r.json"]
    proc = semcomm_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    jscc, linear = data["config"]["methods"]
    assert linear["name"] == "linear" and linear["layer_symbols"] == [24, 24, 24] and linear["classifier"] == "mnist-l3"
    assert linear["klt"] == {"backbone of": "mnist-l3", "sha256": jscc["sha256"]}
    records = [r for r in data["records"] if r["method"] == "linear"]
    assert [(r["snr_db"], r["layer"]) for r in records] == [(s, l) for s in (0.0, 20.0) for l in (1, 2, 3)]
    ratios = {r["layer"]: r["ratio"] for r in data["records"] if r["method"] == "mnist-l3"}
    for r in records:
        assert r["ratio"] == ratios[r["layer"]] and 0 <= r["accuracy"] <= 1 and r["n_images"] == 40
    top = {r["snr_db"]: r for r in records if r["layer"] == 3}
    assert top[20.0]["psnr"] > top[0.0]["psnr"] + 5 and top[20.0]["accuracy"] > 0.9
    assert "linear" in proc.stdout


def test_cli_linear_on_cifar10_takes_the_models_backbone_or_needs_training_data(semcomm_cli, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SEMCOMM_DATA"}
    # matched to cifar10-l3, linear takes its backbone's KLT: no training data needed
    proc = semcomm_cli("sweep", "cifar10-l3", "--method", "linear", "--data-root", "embedded", "--snr", "10", "--n-images", "20",
                    cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    # with layers of its own (--ratio) it needs the KLT of the training split: one line
    proc = semcomm_cli("sweep", "linear", "--dataset", "cifar10", "--ratio", "1/18", "--data-root", "embedded", "--snr", "10",
                    "--out", "other.json", cwd=tmp_path, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "cifar10" in lines[0] and "--data-root" in lines[0]
    assert not (tmp_path / "other.json").exists()


def _data_root() -> Path:
    env = os.environ.get("SEMCOMM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.mark.skipif(not (_data_root() / "MNIST" / "raw").is_dir(), reason="the full MNIST is not available (set SEMCOMM_DATA)")
def test_shipped_mnist_klt_is_the_fit_on_the_training_split() -> None:
    shipped = KLT.load(shipped_klt_path("mnist"))
    train = load_images("mnist", _data_root(), "train")
    fresh = fit_klt("mnist", train.images)
    assert shipped.source == fresh.source == {"images": 60000, "md5": fresh.source["md5"]}
    assert torch.allclose(shipped.mean, fresh.mean, atol=3e-4)
    assert torch.allclose(shipped.eigvals, fresh.eigvals, rtol=2e-3, atol=1e-7)
    # Leading components (distinct eigenvalues): the same vectors, signs included (float16 rounding).
    dots = (shipped.basis[:, :200] * fresh.basis[:, :200]).sum(0)
    assert float(dots.min()) > 0.999
    # get_klt with the data root fits the same KLT and caches it (float32).
    assert torch.equal(get_klt("mnist", _data_root()).basis, fresh.basis)
