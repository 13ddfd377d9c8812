"""``klt-cascade``: ``klt-refine``'s transmitter with a cascaded receiver, where the decoder of
layer ``l`` refines what the decoder of layer ``l - 1`` computed.

``klt-refine`` decodes each layer with a separate pass of one U-Net: decoding all ``L`` layers
of an image costs ``L`` full passes, and the pass of layer 3 starts again from nothing, although
layers 1 and 2 are part of its input. Here the receiver is a chain of ``L`` small stages
(:class:`CascadeReceiver`), one per layer, and stage ``l`` takes, besides the linear
reconstruction of layers ``1..l`` and their noise levels, the features of stage ``l - 1`` (its
full-resolution output feature and its quarter-resolution trunk, each through a 1x1
convolution). Decoding every layer costs the ``L`` stages once; the top layer still sees the
whole chain's depth. Causality is exact: stage ``l`` reads layers ``1..l`` only, directly or
through stages ``1..l-1``.

Everything else is ``klt-refine``'s (:mod:`semcomm.models.klt_refine`): the linear backbone
(KLT, SoftCast, LMMSE) with every learned part a residual on it whose last layer starts at zero,
the SNR-agnostic transmitter CNN, the per-layer power split, tiling of images of any size, and
one head per task reading the stage's pooled trunk feature. The transmitter's options and
parameter names are ``klt-refine``'s, so ``semcomm train --init-from cifar10-l3`` starts the
transmitter from a trained ``klt-refine`` model.

A stage: pixel-unshuffle to half resolution, a 3x3 convolution to ``receiver_width`` channels
(+ the carried full-resolution feature), a residual block, a stride-2 convolution to
``trunk_width`` channels at quarter resolution (+ the carried trunk), ``blocks`` residual blocks
(``first_blocks`` in stage 1, which starts from nothing), sub-pixel upsampling with a skip, a
residual block, and a convolution (initialised to zero) back to the image residual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from semcomm.errors import FieldError
from semcomm.models.base import MAX_WIDTH, JSCCConfig, JSCCOutput, register_architecture
from semcomm.models.klt_refine import CLASSIFIER_SNR_DB, KLTRefineJSCC, KLTRefineOptions
from semcomm.models.layers import ResBlock
from semcomm.models.softcast import Tiling

__all__ = ["CascadeReceiver", "CascadeStage", "KLTCascadeJSCC", "KLTCascadeOptions"]


def _whole(value: object, name: str, example: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WIDTH):
        raise FieldError(name, f"bad {{field}} {value!r}: it must be a whole number from 1 to {MAX_WIDTH}, e.g. {example}")


@dataclass(frozen=True)
class KLTCascadeOptions(KLTRefineOptions):
    """Options of ``klt-cascade``: ``klt-refine``'s (``width`` is the transmitter CNN's) and the
    cascaded receiver's sizes."""

    receiver_width: int = field(default=32, metadata={"help": "conv width of each receiver stage's half-resolution path"})
    trunk_width: int = field(default=96, metadata={"help": "conv width of each receiver stage's quarter-resolution trunk"})
    first_blocks: int = field(default=3, metadata={"help": "residual blocks in the trunk of the first layer's receiver stage"})
    blocks: int = field(default=2, metadata={"help": "residual blocks in the trunk of each later layer's receiver stage"})

    def __post_init__(self) -> None:
        super().__post_init__()
        _whole(self.receiver_width, "receiver_width", 32)
        _whole(self.trunk_width, "trunk_width", 96)
        _whole(self.first_blocks, "first_blocks", 3)
        _whole(self.blocks, "blocks", 2)


class CascadeStage(nn.Module):
    """The receiver stage of one layer: linear images ``[B, C, H, W]`` (``H``, ``W`` even), the
    noise conditions ``[B, K]`` and the previous stage's features (or None) -> the image residual
    ``[B, C, H, W]``, its features (full-resolution ``[B, width, H/2, W/2]``, trunk
    ``[B, trunk, H/4, W/4]``, rounded up).

    Args:
        image_channels: ``C``.
        cond_channels: ``K``.
        width: channels of the half-resolution path.
        trunk: channels of the quarter-resolution trunk.
        blocks: residual blocks of the trunk.
        carries: whether the stage takes a previous stage's features.
    """

    def __init__(self, image_channels: int, cond_channels: int, width: int, trunk: int, blocks: int, carries: bool) -> None:
        super().__init__()
        c4 = 4 * image_channels
        self.inp = nn.Conv2d(c4 + cond_channels, width, 3, padding=1)
        self.carry_high = nn.Conv2d(width, width, 1) if carries else None
        self.high_in = ResBlock(width)
        self.down = nn.Sequential(nn.Conv2d(width, trunk, 3, stride=2, padding=1), nn.PReLU(trunk))
        self.carry_low = nn.Conv2d(trunk, trunk, 1) if carries else None
        self.low = nn.Sequential(*[ResBlock(trunk) for _ in range(blocks)])
        self.up = nn.Sequential(nn.Conv2d(trunk, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width))
        self.high_out = ResBlock(width)
        self.out = nn.Conv2d(width, c4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def trunk(self, images: torch.Tensor, cond: torch.Tensor, carried: tuple[torch.Tensor, torch.Tensor] | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """The down path: (half-resolution feature, trunk feature)."""
        x = F.pixel_unshuffle(images - 0.5, 2)
        x = torch.cat([x, cond[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        if self.inp.weight.is_contiguous(memory_format=torch.channels_last):  # the module was made channels-last
            x = x.contiguous(memory_format=torch.channels_last)
        high = self.inp(x)
        if carried is not None:
            high = high + self.carry_high(carried[0])
        high = self.high_in(high)
        low = self.down(high)
        if carried is not None:
            low = low + self.carry_low(carried[1])
        return high, self.low(low)

    def forward(self, images: torch.Tensor, cond: torch.Tensor, carried: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        high, low = self.trunk(images, cond, carried)
        up = self.up(low)[..., : high.shape[-2], : high.shape[-1]]
        high = self.high_out(up + high)
        return F.pixel_shuffle(self.out(high), 2), (high, low)


class CascadeReceiver(nn.Module):
    """``L`` chained :class:`CascadeStage` s (module doc): stage ``l`` carries stage ``l - 1``'s
    features.

    Args:
        image_channels: ``C``.
        layers: ``L``.
        width: the stages' half-resolution width.
        trunk: the stages' quarter-resolution width.
        first_blocks: residual blocks of stage 1's trunk.
        blocks: residual blocks of each later stage's trunk.
    """

    def __init__(self, image_channels: int, layers: int, width: int, trunk: int, first_blocks: int, blocks: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            CascadeStage(image_channels, 2 * layers, width, trunk, first_blocks if l == 0 else blocks, carries=l > 0)
            for l in range(layers))


@register_architecture("klt-cascade")
class KLTCascadeJSCC(KLTRefineJSCC):
    """``klt-refine`` with a cascaded receiver (module doc): every layer decoded for the price of
    one chain of ``L`` small stages.

    Call ``model(images, channel, snr_db, csi="perfect", generator=g)`` with ``images``
    ``[B, C, H, W]`` in [0, 1] (any ``H``, ``W``); returns a :class:`JSCCOutput` with ``L``
    entries (every layer is decoded: training decodes all of them too).
    """

    Options = KLTCascadeOptions
    decodes_chosen_layers = False
    description = "klt-refine's transmitter + a cascaded receiver (layer l refines layer l-1's features: the fast models)"

    def make_refiner(self, config: JSCCConfig) -> tuple[nn.Module, int]:
        """The :class:`CascadeReceiver`; its pooled trunk feature is ``trunk_width`` wide."""
        o = config.options
        return (CascadeReceiver(config.image_shape[0], config.num_layers, o.receiver_width, o.trunk_width, o.first_blocks,
                                o.blocks), o.trunk_width)

    def reduced_precision_modules(self) -> list[nn.Module]:
        """The transmitter's CNN and every receiver stage."""
        return [self.tx_residual, *self.refiner.stages]

    def split_modules(self) -> list[nn.Conv2d]:
        """Every convolution of the stages but their output ones (the image residuals)."""
        outs = {id(stage.out) for stage in self.refiner.stages}
        return [m for m in self.refiner.modules() if isinstance(m, nn.Conv2d) and id(m) not in outs]

    def decode(self, c_hat: torch.Tensor, cond: torch.Tensor, layer: torch.Tensor, generator: torch.Generator | None = None,
               tiling: Tiling | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        raise NotImplementedError("klt-cascade decodes every layer at once: use receive()")

    def receive(self, c_hat: torch.Tensor, noise_var: torch.Tensor, decode_layers: torch.Tensor | None = None,
                symbols: torch.Tensor | None = None, generator: torch.Generator | None = None,
                tiling: Tiling | None = None) -> JSCCOutput:
        """Every layer's images and task outputs from the LMMSE coefficients ``c_hat``
        ``[B T, m]`` and the per-symbol noise variance of each frame (broadcastable to
        ``[B, T K]``): the stages run in order, stage ``l`` on layers ``1..l``. ``symbols``
        ``[B, T K]`` fill ``JSCCOutput.symbols``; ``tiling`` (None: one tile of the training size
        per image) says how the images were cut. ``decode_layers`` must be None."""
        if decode_layers is not None:
            raise ValueError("klt-cascade decodes every layer (layer l refines layer l-1's features): it takes no decode_layers")
        tiles = 1 if tiling is None else tiling.tiles
        batch, L = c_hat.shape[0] // tiles, self.config.num_layers
        tiling = tiling or Tiling(batch, 1, 1, *self.config.image_shape[1:])
        cond = self._conditions(noise_var, batch, tiles)  # [L, B, 2L]
        images, features, carried = [], [], None
        for l, stage in enumerate(self.refiner.stages):
            linear = self.linear_images(c_hat, torch.full((batch,), l, device=c_hat.device), tiling)
            residual, carried = stage(linear, cond[l], carried)
            images.append(linear + residual)
            features.append(carried[1].mean(dim=(2, 3)))
        imgs, heads, feats = self._outputs(torch.cat(images), torch.cat(features), tiling)
        return self._per_layer(imgs, heads, feats, [slice(l * batch, (l + 1) * batch) for l in range(L)], symbols, tiles)

    def classify_noiseless(self, images: torch.Tensor) -> torch.Tensor:
        """Top layer's ``class`` logits ``[B, classes]`` when every symbol arrives without noise
        (the refiner told :data:`~semcomm.models.klt_refine.CLASSIFIER_SNR_DB`, as for
        ``klt-refine``); the last stage runs its down path only."""
        if "class" not in self.layout.layers[-1]:
            raise ValueError("this model's top layer has no class head")
        symbols, scales, tiling = self._encode(images)
        batch = images.shape[0]
        noise_var = torch.full((), 10.0 ** (-CLASSIFIER_SNR_DB / 10.0), device=images.device)
        c_hat = self.softcast.estimate(self.softcast.to_tiles(symbols, tiling.tiles),
                                       torch.full((), 1e-10, device=images.device), scales, self.gains())
        cond = self._conditions(noise_var, batch, tiling.tiles)
        carried = None
        stages = self.refiner.stages
        for l, stage in enumerate(stages):
            linear = self.linear_images(c_hat, torch.full((batch,), l, device=images.device), tiling)
            if l < len(stages) - 1:
                carried = stage(linear, cond[l], carried)[1]
            else:
                feature = stage.trunk(linear, cond[l], carried)[1].mean(dim=(2, 3))
        return self._outputs(linear, feature, tiling)[1]["class"]
