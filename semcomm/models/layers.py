"""Layers that several architectures share: the residual block, the U-Net refiner, the
straight-through clamp."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResBlock", "UNet", "clamp_unit"]


class ResBlock(nn.Module):
    """``x + conv(prelu(conv(x)))`` at constant width: ``[B, width, H, W]`` -> same shape."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width), nn.Conv2d(width, width, 3, padding=1)
        )
        self.act = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


def clamp_unit(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] in the forward pass, identity in the backward pass (straight-through).

    A sigmoid output saturates: on MNIST's black background the decoder drives it to 0 within
    a few Adam steps and the gradient vanishes for good. A plain clamp has the same dead zone;
    the straight-through version keeps every pixel trainable while outputs stay in [0, 1].
    """
    return x + (x.clamp(0.0, 1.0) - x).detach()


class UNet(nn.Module):
    """Image-to-image residual CNN, fully convolutional: ``[B, C, H, W]`` (+ ``cond`` ``[B, K]``
    constant planes) -> ``[B, C, H, W]`` and a pooled feature ``[B, 2 width]``.

    Pixel-unshuffle to ``H/2``, one residual block, a stride-2 conv to ``H/4`` with ``2 width``
    channels and ``depth`` residual blocks, sub-pixel upsampling with a skip, one residual block,
    a conv back to ``4 C`` planes (initialised to zero) and pixel-shuffle. ``H``, ``W`` even.
    """

    def __init__(self, image_channels: int, cond_channels: int, width: int, depth: int) -> None:
        super().__init__()
        c4 = 4 * image_channels
        self.inp = nn.Conv2d(c4 + cond_channels, width, 3, padding=1)
        self.high_in = ResBlock(width)
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.PReLU(2 * width))
        self.low = nn.Sequential(*[ResBlock(2 * width) for _ in range(depth)])
        self.up = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width))
        self.high_out = ResBlock(width)
        self.out = nn.Conv2d(width, c4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def pooled(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled feature ``[B, 2 width]`` alone (the down path only: what task heads read),
        exactly as :meth:`forward` computes it."""
        return self._down(images, cond)[1].mean(dim=(2, 3))

    def _down(self, images: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pixel_unshuffle(images - 0.5, 2)
        if cond is not None:
            x = torch.cat([x, cond[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        if self.inp.weight.is_contiguous(memory_format=torch.channels_last):  # the module was made channels-last
            x = x.contiguous(memory_format=torch.channels_last)
        hi = self.high_in(self.inp(x))
        return hi, self.low(self.down(hi))

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hi, lo = self._down(images, cond)
        up = self.up(lo)[..., : hi.shape[-2], : hi.shape[-1]]
        out = self.out(self.high_out(up + hi))
        return F.pixel_shuffle(out, 2), lo.mean(dim=(2, 3))
