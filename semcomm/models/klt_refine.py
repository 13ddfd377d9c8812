"""``klt-refine``: multi-resolution JSCC built on the linear analog scheme.

The linear scheme (:class:`~semcomm.models.softcast.SoftCast`: KLT, SoftCast power allocation,
per-coefficient LMMSE) is the backbone; every learned part is a residual on it whose last
layer starts at zero, so the untrained model *is* the linear scheme and training only has to
find the nonlinear gain:

- **Transmitter** (SNR-agnostic, for broadcast): a learned image-to-image CNN adds ``D(x)`` to
  the image before the KLT, ``c = U^T (x + D(x) - mu)`` (``U^T D`` spans every coefficient
  residual), and learned per-coefficient log-gains rescale the SoftCast allocation within each
  layer. Each layer is normalised per example to its power ``P_l`` (1 with
  ``layer_power="equal"``; SoftCast's split of the frame's power with ``"softcast"``, unit
  energy per symbol over the frame); the layer scales reach the receiver as side information,
  as for the linear scheme (same constraint, same side information).
- **Receiver of layers 1..l**: the LMMSE coefficients of layers ``1..l`` (later ones zero)
  give the linear reconstruction ``x_lin``; a U-Net refiner adds a residual,
  ``x_l = x_lin + R(x_lin, q_l)``, conditioned on ``q_l``: per layer, whether it was received
  and its mean log noise variance. One head per receiver-side task of the layout (``class``,
  coarse concepts, proxy cues: :mod:`semcomm.tasks`) reads the refiner's bottleneck, shared by
  the layers that carry the task. With the ``proxy_attention`` option the proxy cues' branches
  feed the other heads' feature through uncertainty-aware gates
  (:class:`~semcomm.tasks.proxy_attention.UncertaintyProxyAttention`).

**Any image size.** The KLT is of the training image size (a tile); a larger or smaller image is
cut into tiles (:meth:`~semcomm.models.softcast.SoftCast.split`), each sent with ``k_l`` symbols
per layer, and both CNNs, fully convolutional, run on the whole (edge-padded) image. An image of
the training size is exactly one tile: the model as trained.

Causality is exact: ``x_lin`` of layer ``l`` uses the coefficients of layers ``1..l`` only and
``q_l`` zeroes the later layers' entries.

Compute is kept small for CPU training: both CNNs work at half resolution (pixel unshuffle),
with the deep part at quarter resolution. Training may decode one random layer per example
(``decode_layers``) instead of all ``L``, which costs one refiner pass per example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

import channels
from semcomm.errors import FieldError
from semcomm.models.base import MAX_WIDTH, JSCCConfig, JSCCModel, JSCCOutput, register_architecture
from semcomm.models.layers import UNet, clamp_unit
from semcomm.models.softcast import LAYER_POWERS, SoftCast, Tiling
from semcomm.tasks import RECON, ProxyTask, get_task
from semcomm.tasks.proxy_attention import UncertaintyProxyAttention

__all__ = ["CLASSIFIER_SNR_DB", "KLTRefineJSCC", "KLTRefineOptions", "Sent"]

#: The SNR whose noise level :meth:`KLTRefineJSCC.classify_noiseless` tells the refiner: the top
#: of the shipped models' training range (-5...20 dB).
CLASSIFIER_SNR_DB = 20.0


@dataclass(frozen=True)
class KLTRefineOptions:
    """Options of ``klt-refine`` (and of the architectures built on it)."""

    width: int = field(default=64, metadata={"help": "conv width of the model's CNNs"})
    layer_power: str = field(default="equal", metadata={
        "help": "split of the frame's power across layers: equal (unit energy per symbol in every layer) or softcast "
                "(SoftCast's allocation over the whole frame: more to layer 1, unit energy over the frame)"})
    proxy_attention: bool = field(default=False, metadata={
        "help": "the proxy cues of the task layout (edges, thumb, colour) feed the other heads through "
                "uncertainty-aware gates"})
    proxy_weight: float = field(default=0.1, metadata={
        "help": "with proxy attention: the weight of each proxy branch's loss (its uncertainty-weighted NLL)"})

    def __post_init__(self) -> None:
        if not (isinstance(self.width, int) and not isinstance(self.width, bool) and 1 <= self.width <= MAX_WIDTH):
            raise FieldError("width", f"bad {{field}} {self.width!r}: it must be a whole number from 1 to {MAX_WIDTH}, e.g. 64")
        if self.layer_power not in LAYER_POWERS:
            raise FieldError("layer_power", f"unknown {{field}} {self.layer_power!r}; choose one of: {', '.join(LAYER_POWERS)}")
        if not (isinstance(self.proxy_weight, (int, float)) and math.isfinite(self.proxy_weight) and self.proxy_weight > 0):
            raise FieldError("proxy_weight", f"bad {{field}} {self.proxy_weight:g}: it must be a number > 0")
        if self.proxy_weight != KLTRefineOptions.proxy_weight and not self.proxy_attention:
            raise FieldError("proxy_weight", "{field} weighs the proxy branches of proxy attention: switch that on too")


class Sent(NamedTuple):
    """What the receiver's linear front end makes of one transmission.

    Attributes:
        c_hat: LMMSE coefficients ``[B T, m]`` of every tile (``T`` tiles per image).
        noise_var: per-symbol noise variance of each image's frame, broadcastable to ``[B, T K]``.
        symbols: the sent frames ``[B, T K]``.
        tiling: how the images were cut into tiles.
    """

    c_hat: torch.Tensor
    noise_var: torch.Tensor
    symbols: torch.Tensor
    tiling: Tiling


@register_architecture("klt-refine")
class KLTRefineJSCC(JSCCModel):
    """Linear analog backbone + learned transmitter residual + learned receiver refinement.

    Call ``model(images, channel, snr_db, csi="perfect", generator=g)`` with ``images``
    ``[B, C, H, W]`` in [0, 1] (any ``H``, ``W``); returns a :class:`JSCCOutput` with ``L`` entries.

    Args:
        config: the architecture (``arch="klt-refine"``).
        softcast: the linear backbone (its KLT buffers are part of the checkpoint); None builds
            an empty one of the right shape, to be filled by ``load_state_dict``.
    """

    Options = KLTRefineOptions
    decodes_chosen_layers = True
    any_size = True
    description = "linear analog backbone (KLT + SoftCast + LMMSE) + learned residuals (the shipped models)"

    @classmethod
    def check_config(cls, config: JSCCConfig) -> None:
        _, h, w = config.image_shape
        if h % 2 or w % 2:
            raise FieldError("image_shape", f"{cls.key} needs an even image height and width ({{field}} {config.image_shape})")
        if 2 * sum(config.layer_symbols) > config.source_values:
            raise FieldError("layer_symbols", f"{'+'.join(map(str, config.layer_symbols))} symbols carry "
                             f"{2 * sum(config.layer_symbols)} KLT coefficients, but an image has {config.source_values}: "
                             "the total bandwidth ratio must be at most 1/2 ({field})")
        if config.options.proxy_attention and not any(
                isinstance(get_task(t, config.dataset_info()), ProxyTask) for t in config.layout().head_tasks()):
            raise FieldError("proxy_attention", "{field} gates proxy cues: give one in the tasks (edges, thumb or colour), "
                             "e.g. '1:class,recon;2:class,recon;3:class,edges,recon'")

    @classmethod
    def legacy_options(cls, flat: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint with proxy attention but without ``proxy_weight`` was trained unweighted (1)."""
        if flat.get("proxy_attention") and "proxy_weight" not in flat:
            return {**flat, "proxy_weight": 1.0}
        return flat

    @classmethod
    def create(cls, config: JSCCConfig, fit_images: Any = None) -> JSCCModel:
        """A fresh model whose backbone is the KLT of the training images (``fit_images.klt()``)."""
        if fit_images is None:
            raise ValueError(f"a fresh {cls.key} model fits its KLT on training images: none were given")
        klt = fit_images.klt()
        if tuple(klt.shape) != tuple(config.image_shape):
            raise ValueError(f"the KLT is of {klt.shape} images, the model of {config.image_shape}")
        return cls(config, SoftCast(klt.mean, klt.basis, klt.eigvals, config.layer_symbols, config.options.layer_power,
                                    tile_shape=config.image_shape))

    def upgrade_state_dict(self, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Checkpoints before ``class`` was an ordinary task hold its head as ``classifier.*``."""
        return {("task_heads.class." + k[len("classifier."):]) if k.startswith("classifier.") else k: v
                for k, v in weights.items()}

    def __init__(self, config: JSCCConfig, softcast: SoftCast | None = None) -> None:
        super().__init__(config)
        c, h, w = config.image_shape
        width, power = config.options.width, config.options.layer_power
        n, m = c * h * w, 2 * sum(config.layer_symbols)
        if softcast is None:
            softcast = SoftCast(torch.zeros(n), torch.zeros(n, m), torch.ones(m), config.layer_symbols, power,
                                tile_shape=config.image_shape)
        if softcast.layer_power != power:
            raise ValueError(f"the backbone splits power {softcast.layer_power!r}, the configuration {power!r}")
        self.softcast = softcast
        self.gain_log = nn.Parameter(torch.zeros(m))
        self.tx_residual = UNet(c, 0, width, depth=2)
        self.refiner, feature = self.make_refiner(config)
        info = config.dataset_info()
        tasks = {name: get_task(name, info) for name in self.layout.head_tasks()}
        head = lambda outputs: nn.Sequential(nn.Linear(feature, 128), nn.PReLU(), nn.Linear(128, outputs))  # noqa: E731
        heads = {"class": head(tasks["class"].outputs)} if "class" in tasks else {}  # made first: the seeds' order
        proxies = {name: t.outputs for name, t in tasks.items() if isinstance(t, ProxyTask)} if config.options.proxy_attention else {}
        self.proxy_attention = UncertaintyProxyAttention(feature, proxies, weight=config.options.proxy_weight) if proxies else None
        heads |= {name: head(t.outputs) for name, t in tasks.items() if name not in proxies and name not in heads}
        self.task_heads = nn.ModuleDict(heads)

    def make_refiner(self, config: JSCCConfig) -> tuple[nn.Module, int]:
        """The receiver's refiner and the width of the pooled feature it gives the task heads:
        here one U-Net (:class:`~semcomm.models.layers.UNet`) of ``width``, ``2 width``."""
        width = config.options.width
        return UNet(config.image_shape[0], 2 * config.num_layers, width, depth=4), 2 * width

    def reduced_precision_modules(self) -> list[nn.Module]:
        """The transmitter's and the receiver's CNNs (their residuals are added to the linear
        scheme's float32 images)."""
        return [self.tx_residual, self.refiner]

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches: the refiner's (every head reads it)."""
        return list(self.refiner.parameters())

    def split_modules(self) -> list[nn.Conv2d]:
        """The shared receiver trunk's convolutions whose output channels GradSplit may split
        by task: every convolution of the refiner but its output one (the image residual)."""
        return [m for m in self.refiner.modules() if isinstance(m, nn.Conv2d) and m is not self.refiner.out]

    def gains(self) -> torch.Tensor:
        """Per-coefficient amplitudes ``[m]``: SoftCast's times the learned factor."""
        return self.softcast.amplitudes * self.gain_log.exp()

    def channel_uses(self, shape: tuple[int, int, int]) -> list[int]:
        """``T k_l`` for an image of ``shape`` cut into ``T`` tiles."""
        self.check_images(shape)
        _, th, tw = self.config.image_shape
        tiles = -(-shape[1] // th) * -(-shape[2] // tw)
        return [tiles * k for k in self.config.layer_symbols]

    def _encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Tiling]:
        """``[B, C, H, W]`` -> (frames ``[B, T K]``, layer scales ``[B T, L]``, tiling)."""
        if images.dim() != 4:
            raise ValueError(f"images must be [B, C, H, W], got {tuple(images.shape)}")
        self.check_images(tuple(images.shape[1:]))
        tiles, tiling = self.softcast.split(images)
        if tiling.tiles > 1 or (tiling.height, tiling.width) != self.config.image_shape[1:]:
            padded = self.softcast.merge(tiles, tiling, crop=False)
            residual, _ = self.tx_residual(padded)
            tiles, _ = self.softcast.split(padded + residual)
        else:
            residual, _ = self.tx_residual(tiles)
            tiles = tiles + residual
        symbols, scales = self.softcast.modulate(self.softcast.analyse(tiles), self.gains())
        return self.softcast.to_frame(symbols, tiling.tiles), scales, tiling

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, H, W]`` -> (frames ``[B, T K]`` with energy ``P_l`` per symbol in each layer,
        layer scales ``[B T, L]``, the side information)."""
        frames, scales, _ = self._encode(images)
        return frames, scales

    def encode_layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, C, H, W]`` -> ``L`` complex layers ``[B, T k_l]``."""
        frames, _, tiling = self._encode(images)
        return list(frames.split(self.softcast.frame_layer_sizes(tiling.tiles), dim=-1))

    def _conditions(self, noise_var: torch.Tensor, batch: int, tiles: int = 1) -> torch.Tensor:
        """``[L, B, 2 L]``: row block ``l`` holds, for layers ``j <= l``, (1, -log10(mean noise var)/2)."""
        sizes = self.softcast.frame_layer_sizes(tiles)
        nv = torch.broadcast_to(noise_var, (batch, sum(sizes)))
        level = torch.stack([-torch.log10(part.mean(-1) + 1e-6) / 2 for part in nv.split(sizes, -1)], -1)
        per_layer = torch.stack([torch.ones_like(level), level], -1)  # [B, L, 2]
        L = self.config.num_layers
        keep = (torch.arange(L, device=nv.device)[None, :] <= torch.arange(L, device=nv.device)[:, None]).to(level.dtype)
        return (per_layer[None] * keep[:, None, :, None]).flatten(-2)  # [L, B, 2L]

    def linear_images(self, c_hat: torch.Tensor, layer: torch.Tensor, tiling: Tiling) -> torch.Tensor:
        """The linear reconstruction of layers ``1..layer[i]+1`` of each image, at the padded size:
        coefficients ``[N T, m]``, 0-based ``layer`` ``[N]`` -> ``[N, C, rows H_t, cols W_t]``."""
        masked = c_hat * self.softcast.layer_masks()[layer.repeat_interleave(tiling.tiles)]
        return self.softcast.merge(self.softcast.synthesise(masked), tiling, crop=False)

    def decode(self, c_hat: torch.Tensor, cond: torch.Tensor, layer: torch.Tensor, generator: torch.Generator | None = None,
               tiling: Tiling | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Receiver of layers ``1..layer[i]+1`` for each image: coefficients ``[N T, m]``,
        conditions ``[N, 2L]``, 0-based ``layer`` ``[N]`` -> images ``[N, C, H, W]``, every task
        head's output ``{task: [N, outputs]}`` and the heads' input feature ``[N, 2 width]``
        (``generator``: unused here, for receivers that draw at random)."""
        tiling = tiling or Tiling(len(layer), 1, 1, *self.config.image_shape[1:])
        linear = self.linear_images(c_hat, layer, tiling)
        residual, feature = self.refiner(linear, cond)
        return self._outputs(linear + residual, feature, tiling)

    def _outputs(self, image: torch.Tensor, feature: torch.Tensor, tiling: Tiling
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """The cropped, clamped image and every head's output from the refined padded image and
        the pooled feature."""
        proxies: dict[str, torch.Tensor] = {}
        if self.proxy_attention is not None:
            feature, proxies = self.proxy_attention(feature)
        heads = {name: head(feature) for name, head in self.task_heads.items()} | proxies
        return clamp_unit(image[..., : tiling.height, : tiling.width]), heads, feature

    def forward(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str = "perfect",
        generator: torch.Generator | None = None,
        decode_layers: torch.Tensor | None = None,
    ) -> JSCCOutput:
        """Send and receive. ``decode_layers`` ``[B]`` (0-based), for training: decode only that
        layer of each example; ``recon[l]`` and ``tasks[l]`` then hold the examples with
        ``decode_layers == l``, in order. None decodes every layer of every example."""
        sent = self.send(images, channel, snr_db, csi, generator)
        return self.receive(sent.c_hat, sent.noise_var, decode_layers, sent.symbols, generator, sent.tiling)

    def send(self, images: torch.Tensor, channel: channels.Channel, snr_db: float | torch.Tensor,
             csi: str = "perfect", generator: torch.Generator | None = None) -> Sent:
        """Encode ``images`` ``[B, C, H, W]``, send them over ``channel`` and apply the linear
        front end (:class:`Sent`); :meth:`receive` takes it from there."""
        return self._over_channel(self._encode(images), channel, snr_db, csi, generator)

    def channel_input(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Tiling]:
        """The frames, their layer scales and the tiling (:meth:`_encode`): SNR-agnostic."""
        return self._encode(images)

    def from_channel_input(self, sent: tuple[torch.Tensor, torch.Tensor, Tiling], channel: channels.Channel,
                           snr_db: float | torch.Tensor, csi: str = "perfect",
                           generator: torch.Generator | None = None) -> JSCCOutput:
        over = self._over_channel(sent, channel, snr_db, csi, generator)
        return self.receive(over.c_hat, over.noise_var, None, over.symbols, generator, over.tiling)

    def _over_channel(self, encoded: tuple[torch.Tensor, torch.Tensor, Tiling], channel: channels.Channel,
                      snr_db: float | torch.Tensor, csi: str, generator: torch.Generator | None) -> Sent:
        symbols, scales, tiling = encoded
        out = channel(symbols, snr_db, generator=generator)
        c_hat, noise_var = self.softcast.receive(out, csi, scales, channel.mean_gain, self.gains(), tiling.tiles)
        return Sent(c_hat, noise_var, symbols, tiling)

    def receive(self, c_hat: torch.Tensor, noise_var: torch.Tensor, decode_layers: torch.Tensor | None = None,
                symbols: torch.Tensor | None = None, generator: torch.Generator | None = None,
                tiling: Tiling | None = None) -> JSCCOutput:
        """Every layer's (or, with ``decode_layers`` ``[B]``, one layer per image's) images and
        task outputs from the LMMSE coefficients ``c_hat`` ``[B T, m]`` and the per-symbol noise
        variance of each frame (broadcastable to ``[B, T K]``); output ``l`` uses layers ``1..l``
        only. ``symbols`` ``[B, T K]``, the sent frames, fill ``JSCCOutput.symbols``;
        ``generator`` feeds a receiver that draws at random in training (routing); ``tiling``
        (None: one tile of the training size per image) says how the images were cut."""
        tiles = 1 if tiling is None else tiling.tiles
        batch, L = c_hat.shape[0] // tiles, self.config.num_layers
        tiling = tiling or Tiling(batch, 1, 1, *self.config.image_shape[1:])
        cond = self._conditions(noise_var, batch, tiles)  # [L, B, 2L]
        if decode_layers is None:
            layer = torch.arange(L, device=c_hat.device).repeat_interleave(batch)
            imgs, heads, features = self.decode(c_hat.repeat(L, 1), cond.flatten(0, 1), layer, generator, tiling)
            rows = [slice(l * batch, (l + 1) * batch) for l in range(L)]
        else:
            imgs, heads, features = self.decode(c_hat, cond[decode_layers, torch.arange(batch, device=c_hat.device)],
                                                decode_layers, generator, tiling)
            rows = [decode_layers == l for l in range(L)]
        return self._per_layer(imgs, heads, features, rows, symbols, tiles)

    def _per_layer(self, imgs: torch.Tensor, heads: dict[str, torch.Tensor], features: torch.Tensor, rows: list[Any],
                   symbols: torch.Tensor | None, tiles: int) -> JSCCOutput:
        """The :class:`JSCCOutput` whose layer ``l`` holds the rows ``rows[l]`` (a slice or a mask)
        of the decoded images, head outputs and features; ``symbols`` split into layers."""
        sizes = self.softcast.frame_layer_sizes(tiles)
        return JSCCOutput(
            recon=[imgs[r] for r in rows],
            tasks=[{name: heads[name][r] for name in tasks if name != RECON} for tasks, r in zip(self.layout.layers, rows)],
            symbols=[] if symbols is None else list(symbols.split(sizes, dim=-1)),
            features=[features[r] for r in rows],
        )

    def task_loss(self, name: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of task ``name``'s output: the task's own, or, for a proxy under
        uncertainty-aware attention, its branch's Gaussian NLL."""
        if self.proxy_attention is not None and name in self.proxy_attention.names:
            return self.proxy_attention.loss(name, prediction, target)
        return super().task_loss(name, prediction, target)

    def classify_noiseless(self, images: torch.Tensor) -> torch.Tensor:
        """Top layer's ``class`` logits ``[B, classes]`` when every symbol arrives without noise.

        The LMMSE sees the sent symbols; the refiner is conditioned as at
        :data:`CLASSIFIER_SNR_DB` (its noise-level input at zero noise would lie far outside the
        range it was trained on, where its features, and so the classifier, are meaningless)."""
        if "class" not in self.layout.layers[-1]:
            raise ValueError("this model's top layer has no class head")
        symbols, scales, tiling = self._encode(images)
        noise_var = torch.full((), 10.0 ** (-CLASSIFIER_SNR_DB / 10.0), device=images.device)
        c_hat = self.softcast.estimate(self.softcast.to_tiles(symbols, tiling.tiles), torch.full((), 1e-10, device=images.device),
                                       scales, self.gains())
        top = torch.full((images.shape[0],), self.config.num_layers - 1, device=images.device)
        if type(self).decode is KLTRefineJSCC.decode and type(self.refiner) is UNet:  # the heads need the down path only
            cond = self._conditions(noise_var, images.shape[0], tiling.tiles)[-1]
            linear = self.linear_images(c_hat, top, tiling)
            return self._outputs(linear, self.refiner.pooled(linear, cond), tiling)[1]["class"]
        return self.receive(c_hat, noise_var, top, tiling=tiling).tasks[-1]["class"]
