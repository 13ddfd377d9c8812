"""Image and semantic metrics against independent numpy / scipy formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from semcomm.data import load_sample
from semcomm.metrics import PSNR_CAP_DB, LayerMetrics, accuracy, correct, psnr, ssim

Z95 = 1.959963984540054


def _targets(name: str, n: int) -> torch.Tensor:
    return torch.from_numpy(load_sample(name).images[:n]).float() / 255.0


def _numpy_psnr(recon: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The textbook formula on 8-bit reconstructions, float64, per image."""
    q = np.round(np.clip(recon, 0.0, 1.0) * 255.0) / 255.0
    mse = ((q.astype(np.float64) - target.astype(np.float64)) ** 2).reshape(len(q), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(1.0 / mse), PSNR_CAP_DB)


def _numpy_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of Wang et al. (2004) for one [C, H, W] pair: 11x11 Gaussian window (sigma 1.5),
    valid positions only, K = (0.01, 0.03), data range 1, mean over positions and channels."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / g.sum() ** 2
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for a, b in zip(x.astype(np.float64), y.astype(np.float64)):
        f = lambda img: convolve2d(img, w, mode="valid")  # noqa: E731 (w is symmetric)
        mu_a, mu_b = f(a), f(b)
        var_a, var_b, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
        s = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        values.append(s.mean())
    return float(np.mean(values))


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_psnr_matches_numpy_on_8bit_reconstructions(name: str) -> None:
    target = _targets(name, 6)
    g = torch.Generator().manual_seed(1)
    recon = target + 0.08 * torch.randn(target.shape, generator=g)  # leaves [0, 1]: clamping matters
    recon[0] = target[0]  # exact: capped
    recon[1] = target[1] + 0.4 / 255  # under half a level: quantisation makes it exact
    recon[2] = target[2]
    recon[2, 0, 5, 7] += 1 / 255 if target[2, 0, 5, 7] < 1 else -1 / 255  # one level off at one pixel
    got = psnr(recon, target)
    assert got.shape == (6,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), _numpy_psnr(recon.numpy(), target.numpy()), rtol=0, atol=1e-6)
    assert got[0] == got[1] == PSNR_CAP_DB
    n_values = target[0].numel()
    assert got[2].item() == pytest.approx(10 * np.log10(255.0**2 * n_values), abs=1e-3)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_ssim_is_the_standard_definition_and_falls_with_noise(name: str) -> None:
    target = _targets(name, 4)
    assert ssim(target, target).numpy() == pytest.approx(np.ones(4), abs=1e-5)
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(target.shape, generator=g)
    values = torch.stack([ssim(target + sigma * noise, target) for sigma in (0.02, 0.05, 0.1, 0.2)])  # [4 levels, B]
    assert values.shape == (4, 4)
    assert (values < 1).all() and (values.diff(dim=0) < 0).all()
    recon = (target + 0.1 * noise).clamp(0, 1)
    quantised = (torch.round(recon * 255) / 255).numpy()
    for b in range(4):
        assert values[2, b].item() == pytest.approx(_numpy_ssim(quantised[b], target[b].numpy()), abs=2e-4)


@pytest.mark.parametrize("shape", [(6, 3, 32, 32), (5, 1, 28, 28), (2, 3, 11, 40), (2, 3, 96, 128)])
def test_ssim_by_banded_matrices_equals_pytorch_msssim(shape: tuple[int, ...]) -> None:
    """Small images are filtered by matrix products, not ``pytorch_msssim``'s convolutions: the
    same SSIM (the rows' window, its normalisation, valid borders, the constants)."""
    import pytorch_msssim

    g = torch.Generator().manual_seed(7)
    target = torch.round(torch.rand(shape, generator=g) * 255) / 255
    recon = (target + 0.08 * torch.randn(shape, generator=g)).clamp(0, 1)
    want = pytorch_msssim.ssim(torch.round(recon * 255) / 255, target, data_range=1.0, size_average=False, win_size=11)
    assert torch.allclose(ssim(recon, target), want, atol=1e-6)


def test_ssim_refuses_images_smaller_than_its_window() -> None:
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x, x)


def test_accuracy_and_layer_metrics_against_numpy() -> None:
    g = torch.Generator().manual_seed(3)
    target = _targets("mnist", 50)
    labels = torch.from_numpy(load_sample("mnist").labels[:50])
    recon = target + 0.1 * torch.randn(target.shape, generator=g)
    logits = torch.randn(50, 10, generator=g)
    logits[:30] += 10 * torch.nn.functional.one_hot(labels[:30], 10)  # the first 30 are right
    assert accuracy(logits[:30], labels[:30]) == 1.0
    expected_acc = float((logits.argmax(1) == labels).double().mean())
    assert accuracy(logits, labels) == pytest.approx(expected_acc)

    metrics, without_logits = LayerMetrics(), LayerMetrics()
    for start in range(0, 50, 16):  # uneven batches: 16, 16, 16, 2
        sl = slice(start, start + 16)
        metrics.update(recon[sl], target[sl])
        metrics.update_task("class", {"accuracy": correct(logits[sl], labels[sl]).double()})
        without_logits.update(recon[sl], target[sl])
    got = metrics.compute()
    per_image = _numpy_psnr(recon.numpy(), target.numpy())
    assert got["n_images"] == 50
    assert got["psnr"] == pytest.approx(per_image.mean(), abs=1e-9)
    assert got["psnr_ci95"] == pytest.approx(Z95 * per_image.std(ddof=1) / np.sqrt(50), rel=1e-9)
    assert got["ssim"] == pytest.approx(float(ssim(recon, target).mean()), abs=1e-6)
    assert got["accuracy"] == pytest.approx(expected_acc)
    assert without_logits.compute()["accuracy"] is None and without_logits.compute()["tasks"] == {}
