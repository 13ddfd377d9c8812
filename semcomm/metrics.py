"""Image and semantic metrics, as functions and as batch-by-batch accumulators.

Every reconstruction is first made an 8-bit image (:func:`to_8bit`): clamped to [0, 1] and
quantised to ``round(x * 255) / 255``. A JSCC decoder (continuous output) and an image codec
(8-bit output) are thus scored on the same kind of picture, the one a user would save. The
target is taken as given: it should be the original 8-bit image (``uint8 / 255``), as the
datasets provide.

- :func:`psnr`: per-image PSNR in dB with data range 1, ``10 log10(1 / MSE)``, the MSE over
  all pixels and channels of one image. An exact reconstruction (MSE = 0) would give +inf;
  it is capped at :data:`PSNR_CAP_DB` = 100 dB, far above any inexact 8-bit image (one pixel
  off by one level out of 784 gives 77 dB), so means and intervals stay finite.
- :func:`ssim`: per-image SSIM as ``pytorch_msssim`` defines it (Wang et al. 2004: Gaussian
  window 11 x 11, sigma 1.5, K = (0.01, 0.03), data range 1, averaged over channels). On images
  up to :data:`_MATMUL_SIDE` pixels a side the separable Gaussian filter runs as two products
  with banded matrices (about 20 times faster on a CPU than ``pytorch_msssim``'s depthwise
  convolutions, equal to it within 1e-6); larger images go to ``pytorch_msssim``. The 11-pixel
  window fits both 28 x 28 MNIST (an 18 x 18 map of valid positions) and 32 x 32 CIFAR-10
  (22 x 22) and keeps the standard definition, so the numbers compare with the literature;
  smaller images are refused rather than silently scored without smoothing.
- :func:`accuracy`: top-1 accuracy of class logits.
"""

from __future__ import annotations

from typing import Any

import functools

import pytorch_msssim
import torch

from semcomm.stats import RunningMean

__all__ = ["PSNR_CAP_DB", "SSIM_WIN_SIZE", "LayerMetrics", "accuracy", "correct", "psnr", "ssim", "to_8bit"]

#: PSNR reported for an exact reconstruction (MSE = 0), in dB.
PSNR_CAP_DB = 100.0

#: Side of the Gaussian SSIM window (with sigma 1.5), the standard choice.
SSIM_WIN_SIZE = 11
#: Standard deviation of the Gaussian SSIM window, in pixels.
SSIM_SIGMA = 1.5
#: SSIM's stabilising constants ``K1``, ``K2`` (times the data range, squared).
SSIM_K = (0.01, 0.03)
#: Images up to this many pixels a side are filtered with banded matrices (:func:`_window_matrix`).
_MATMUL_SIDE = 128


def to_8bit(images: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and quantise to 8 bits: ``round(clamp(x, 0, 1) * 255) / 255``, same shape."""
    return torch.round(images.clamp(0.0, 1.0) * 255.0) / 255.0


def _check_pair(recon: torch.Tensor, target: torch.Tensor) -> None:
    if recon.shape != target.shape or recon.dim() != 4:
        raise ValueError(
            f"recon and target must both be [B, C, H, W]; got {tuple(recon.shape)} and {tuple(target.shape)}"
        )


def psnr(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB (data range 1) of the 8-bit reconstruction, capped at 100 dB.

    Args:
        recon: reconstructions ``[B, C, H, W]`` (any real values; made 8-bit first).
        target: originals ``[B, C, H, W]`` in [0, 1].

    Returns:
        float64 ``[B]``.
    """
    _check_pair(recon, target)
    err = to_8bit(recon).double() - target.double()
    mse = err.square().flatten(1).mean(dim=1)
    return (-10.0 * torch.log10(mse)).clamp(max=PSNR_CAP_DB)


def ssim(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of the 8-bit reconstruction (window 11, sigma 1.5, data range 1).

    Args:
        recon: reconstructions ``[B, C, H, W]`` (made 8-bit first), ``H, W >= 11``.
        target: originals ``[B, C, H, W]`` in [0, 1].

    Returns:
        float ``[B]``, the mean SSIM over the channels of each image.
    """
    _check_pair(recon, target)
    if min(recon.shape[-2:]) < SSIM_WIN_SIZE:
        size = f"{SSIM_WIN_SIZE}x{SSIM_WIN_SIZE}"
        raise ValueError(f"SSIM needs images of at least {size}, got {tuple(recon.shape[-2:])}")
    x, y = to_8bit(recon).float(), target.float()
    if max(recon.shape[-2:]) > _MATMUL_SIDE:
        return pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False, win_size=SSIM_WIN_SIZE, win_sigma=SSIM_SIGMA,
                                   K=SSIM_K)
    rows = _window_matrix(x.shape[-2], str(x.device))  # [H', H]
    cols = _window_matrix(x.shape[-1], str(x.device)).T  # [W, W']
    maps = torch.stack([x, y, x * x, y * y, x * y])  # [5, B, C, H, W]
    mu_x, mu_y, xx, yy, xy = rows @ maps @ cols  # each [B, C, H', W']
    c1, c2 = SSIM_K[0] ** 2, SSIM_K[1] ** 2
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    cs = (2 * (xy - mu_xy) + c2) / ((xx - mu_xx) + (yy - mu_yy) + c2)
    ssim_map = ((2 * mu_xy + c1) / (mu_xx + mu_yy + c1)) * cs
    return ssim_map.flatten(2).mean(-1).mean(1)


@functools.lru_cache(maxsize=16)
def _window_matrix(size: int, device: str) -> torch.Tensor:
    """``[size - 10, size]``: row ``i`` holds the normalised Gaussian window (11 taps, sigma 1.5)
    at columns ``i .. i + 10``, so ``M @ x`` is the valid 1-D Gaussian filtering of the rows of
    ``x``, as ``pytorch_msssim``'s convolution computes it."""
    taps = torch.arange(SSIM_WIN_SIZE, dtype=torch.float32) - SSIM_WIN_SIZE // 2
    window = torch.exp(-(taps**2) / (2 * SSIM_SIGMA**2))
    window /= window.sum()
    out = size - SSIM_WIN_SIZE + 1
    matrix = torch.zeros(out, size)
    for i in range(out):
        matrix[i, i : i + SSIM_WIN_SIZE] = window
    return matrix.to(device)


def correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Whether the top-1 class of ``logits`` ``[B, K]`` equals ``labels`` ``[B]``: bool ``[B]``."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"logits must be [B, K] and labels [B]; got {tuple(logits.shape)} and {tuple(labels.shape)}")
    return logits.argmax(dim=1) == labels.to(logits.device)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1] of ``logits`` ``[B, K]`` against ``labels`` ``[B]``."""
    return float(correct(logits, labels).double().mean())


class LayerMetrics:
    """Accumulates the metrics of one layer over the batches of a sweep point.

    Example::

        m = LayerMetrics()
        for ...:
            m.update(result.recon, images)
            m.update_task("class", {"accuracy": correct(logits, labels).double()})
        m.compute()  # {"psnr", "psnr_ci95", "ssim", "accuracy", "n_images", "tasks"}

    Receiver-side tasks (``class`` among them) add their per-example scores with
    :meth:`update_task`; ``accuracy`` is the ``class`` task's.
    """

    def __init__(self) -> None:
        self._psnr = RunningMean()
        self._ssim = RunningMean()
        self._tasks: dict[str, dict[str, RunningMean]] = {}

    def update_task(self, task: str, scores: dict[str, torch.Tensor]) -> None:
        """Add one batch of a task's per-example scores ``{metric: [B]}``."""
        for metric, values in scores.items():
            self._tasks.setdefault(task, {}).setdefault(metric, RunningMean()).update(values.detach().double().cpu())

    def update(self, recon: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch of reconstructions ``[B, C, H, W]`` of the originals ``target``
        ``[B, C, H, W]`` in [0, 1]."""
        self._psnr.update(psnr(recon, target))
        self._ssim.update(ssim(recon, target))

    def compute(self) -> dict[str, Any]:
        """The point's numbers.

        Returns:
            ``psnr``: mean of the per-image PSNR [dB]; ``psnr_ci95``: half-width of its 95 %
            normal interval (nan below 2 images); ``ssim``: mean per-image SSIM; ``accuracy``:
            the ``class`` task's top-1 accuracy, or None without it; ``n_images``; ``tasks``: the
            mean of each task's scores, ``{task: {metric: value}}`` (empty without tasks).
        """
        n = self._psnr.count
        accuracy = self._tasks.get("class", {}).get("accuracy")
        return {
            "psnr": self._psnr.mean,
            "psnr_ci95": self._psnr.ci95_halfwidth(),
            "ssim": self._ssim.mean,
            "accuracy": None if accuracy is None else accuracy.mean,
            "n_images": n,
            "tasks": {task: {metric: m.mean for metric, m in scores.items()} for task, scores in self._tasks.items()},
        }
