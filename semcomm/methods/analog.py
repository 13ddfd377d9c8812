"""Uncoded analog transmission: the textbook reference curve for image transmission.

Transmitter, per image of ``n = C * H * W`` pixel values ``p`` in [0, 1]:

1. centre: ``s = p - 1/2`` (in [-1/2, 1/2]; one zero is appended when ``n`` is odd);
2. pair consecutive values into complex symbols: ``z_i = s_{2i} + j s_{2i+1}``,
   ``k = ceil(n / 2)`` symbols, bandwidth ratio ``k / n = 1/2``;
3. normalise the power of each image: ``u = a z`` with ``a = 1 / sqrt(mean_i |z_i|^2)``, so
   ``mean_i |u_i|^2 = 1`` exactly. The scale ``a`` travels as side information, assumed
   error-free and free of charge (one number per image against ``k`` symbols).

Receiver: :func:`channels.receive` with the CSI mode gives ``u_hat = u + e`` with the
post-equalisation noise variance ``sigma^2`` (``N0 / |h|^2`` with perfect CSI, ``N0``
without). Treating the symbols as unit-power Gaussian, independent of the noise, the linear
MMSE estimate is

    u_lmmse = c * u_hat,   c = E[u u_hat^*] / E|u_hat|^2 = 1 / (1 + sigma^2),

and ``p_hat = clamp(Re/Im(u_lmmse) / a + 1/2, 0, 1)``. Because the transmitter makes the
power of every image exactly 1, ``c`` is the best scalar for every image, whatever its pixel
distribution. On AWGN its error per pixel (before clamping) is
``mean(s^2) * sigma^2 / (1 + sigma^2) = mean(s^2) / (1 + SNR)``: the PSNR grows by 1 dB per
dB at high SNR. Without CSI on a fading channel the receiver sees ``y`` unrotated; the
reconstruction is then as poor as it should be.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import channels
from semcomm.data import DatasetInfo, dataset_info, dataset_names
from semcomm.methods.base import LayerResult, Method

__all__ = ["UncodedAnalog"]


class UncodedAnalog(Method):
    """Uncoded analog (pixel-pair-per-symbol) transmission with an LMMSE receiver.

    Args:
        dataset: the dataset the images come from (a registered name or a description); it only
            labels the results, the method works on any image size.
    """

    name = "analog"
    layered = False

    def __init__(self, dataset: str | DatasetInfo | None = None) -> None:
        if dataset is None:
            raise ValueError(f"method 'analog' needs a dataset; choose one of: {', '.join(dataset_names())}")
        self.dataset = dataset_info(dataset).name

    def transmit(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str,
        generator: torch.Generator | None = None,
    ) -> list[LayerResult]:
        """Send ``images`` ``[B, C, H, W]`` in [0, 1] uncoded; one layer, ratio 1/2, no logits."""
        batch, shape = images.shape[0], images.shape[1:]
        n = math.prod(shape)
        s = F.pad(images.reshape(batch, n).float() - 0.5, (0, n % 2))  # [B, 2k]
        z = torch.complex(s[:, 0::2], s[:, 1::2])  # [B, k]
        scale = torch.rsqrt(channels.average_power(z) + 1e-12)  # [B, 1], side information
        rx = channels.receive(channel(z * scale, snr_db, generator=generator), csi)
        u = rx.x_hat / (1.0 + rx.noise_var)  # LMMSE for unit-power symbols, [B, k]
        pairs = torch.view_as_real(u / scale).reshape(batch, -1)[:, :n]  # [B, n]
        recon = (pairs + 0.5).clamp(0.0, 1.0).reshape(batch, *shape)
        return [LayerResult(recon=recon, ratio=z.shape[1] / n)]
