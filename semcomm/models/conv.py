"""Multi-resolution deep JSCC with a semantic (classification) head per layer.

After "Semantic Multi-Resolution Communications" (arXiv 2308.11604): the encoder emits ``L``
layers of complex channel symbols; the receiver that has layers ``1..l`` reconstructs the
image and classifies it; quality and accuracy rise with ``l``.

Design
    - **Encoder** (SNR-agnostic, as a broadcast transmitter serving receivers at different SNRs
      must be): a conv trunk to a feature map, then one linear head per layer giving ``2 k_l``
      reals -> ``k_l`` complex symbols, each layer power-normalised on its own (``E|x|^2 = 1``
      per example and layer), so a receiver that stops after any layer sees a valid signal.
    - **Decoder**: one *progressive* decoder shared by all layers. Its input is, per symbol,
      ``(Re x_hat, Im x_hat, mse)`` — the equalised symbol and its MMSE error variance
      (reliability; see :func:`channels.equalize`) — with the symbols of layers ``> l`` set to
      zero. Zeroing makes causality exact (nothing of layer ``l+1`` can reach output ``l``) and
      sharing the weights keeps the model as small as a single-resolution one; a learned
      layer embedding tells the decoder how many layers it has. Separate decoders per layer
      would cost ``L`` times the parameters for the same compute.
    - **Semantic head** per layer: an MLP on the pooled decoder features of that layer's pass.
    - All layers cross the same channel call (one fading gain per example across layers unless
      the channel's ``block_len`` says otherwise), with per-example SNR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
import torch
from torch import nn

import channels
from semcomm.errors import FieldError
from semcomm.models.base import MAX_WIDTH, JSCCConfig, JSCCModel, JSCCOutput, register_architecture
from semcomm.models.layers import ResBlock, clamp_unit
from semcomm.tasks import TaskLayout

__all__ = ["ConvOptions", "MultiResJSCC"]


@dataclass(frozen=True)
class ConvOptions:
    """Options of ``conv``."""

    width: int = field(default=64, metadata={"help": "conv width of the model"})

    def __post_init__(self) -> None:
        if not (isinstance(self.width, int) and 1 <= self.width <= MAX_WIDTH):
            raise FieldError("width", f"bad {{field}} {self.width!r}: it must be a whole number from 1 to {MAX_WIDTH}, e.g. 64")


def _grid(config: JSCCConfig) -> tuple[int, int]:
    """Spatial size of the latent map: the image downsampled twice by 2."""
    _, h, w = config.image_shape
    return math.ceil(h / 4), math.ceil(w / 4)


def _layer_channels(config: JSCCConfig) -> list[int]:
    """Latent channels per layer: enough ``grid``-sized maps to hold ``2 k_l`` reals."""
    cells = math.prod(_grid(config))
    return [math.ceil(2 * k / cells) for k in config.layer_symbols]


class Encoder(nn.Module):
    """Image ``[B, C, H, W]`` in [0, 1] -> ``L`` unit-power complex layers ``[B, k_l]``.

    Each layer is a conv head on the shared latent grid; its map is flattened and cut to exactly
    ``2 k_l`` reals (pairs -> complex), so any ``k_l`` is possible.
    """

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__()
        c = config.image_shape[0]
        width = config.options.width
        self.trunk = nn.Sequential(
            nn.Conv2d(c, width, 5, stride=2, padding=2), nn.PReLU(width),
            nn.Conv2d(width, width, 5, stride=2, padding=2), nn.PReLU(width),
            ResBlock(width), ResBlock(width),
        )
        self.heads = nn.ModuleList(nn.Conv2d(width, ch, 3, padding=1) for ch in _layer_channels(config))
        self.layer_symbols = config.layer_symbols

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        f = self.trunk(images - 0.5)
        layers = []
        for head, k in zip(self.heads, self.layer_symbols):
            z = head(f).flatten(1)[:, : 2 * k]
            x = torch.complex(z[:, 0::2], z[:, 1::2])
            layers.append(channels.normalize_power(x, dim=-1))
        return layers


class ProgressiveDecoder(nn.Module):
    """Shared decoder: received features of layers ``1..l`` (later layers zeroed) -> image, logits.

    Per received symbol it takes ``(Re, Im, mse)``; each layer's ``3 k_l`` values are laid back
    on the latent grid (zero-padded), giving a ``[B, 2 sum_l c_l, h, w]`` map.
    """

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__()
        c, h, w = config.image_shape
        width = config.options.width
        self.grid = _grid(config)
        self.out_hw = (h, w)
        self.layer_symbols = config.layer_symbols
        self.layer_cells = [ch * math.prod(self.grid) for ch in _layer_channels(config)]
        in_ch = 2 * sum(_layer_channels(config))  # symbol planes + reliability planes
        self.layer_embedding = nn.Embedding(config.num_layers, width)
        self.inp = nn.Conv2d(in_ch, width, 3, padding=1)
        self.body = nn.Sequential(nn.PReLU(width), ResBlock(width), ResBlock(width))
        half = width // 2
        self.up = nn.Sequential(  # sub-pixel upsampling: cheaper than transposed convs at full size
            nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width),
            nn.Conv2d(width, 4 * half, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(half),
            nn.Conv2d(half, c, 3, padding=1),
        )
        self.classifier = nn.Sequential(nn.Linear(width, 128), nn.PReLU(), nn.Linear(128, config.num_classes)) \
            if config.num_classes else None

    def to_grid(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, K, 3]`` per-symbol features -> ``[B, 2 sum c_l, h, w]`` latent map: per layer, c_l
        planes of (Re, Im) pairs and c_l planes holding each symbol's mse twice (aligned with them)."""
        maps = []
        for f, cells in zip(features.split(list(self.layer_symbols), dim=1), self.layer_cells):
            # [B, k, 3] -> 3 maps of the layer's cells, zero-padded from 2k to `cells` reals.
            planes = torch.nn.functional.pad(f[..., :2].flatten(1), (0, cells - 2 * f.shape[1]))
            rel = torch.nn.functional.pad(f[..., 2].repeat_interleave(2, dim=1), (0, cells - 2 * f.shape[1]))
            maps += [planes.unflatten(1, (-1, *self.grid)), rel.unflatten(1, (-1, *self.grid))]
        return torch.cat(maps, dim=1)

    def features(self, latent: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """The shared trunk: ``[N, 2 sum c_l, h, w]`` -> ``[N, width, h, w]`` (see :meth:`forward`)."""
        return self.body(self.inp(latent) + self.layer_embedding(layer)[:, :, None, None])

    def forward(self, latent: torch.Tensor, layer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``latent`` ``[N, 2 sum c_l, h, w]`` with zeros beyond each row's layer; ``layer`` ``[N]``
        0-based layer index of each row. Returns images ``[N, C, H, W]`` and logits ``[N, classes]``
        (None without classes)."""
        f = self.features(latent, layer)
        logits = None if self.classifier is None else self.classifier(f.mean(dim=(2, 3)))
        img = self.up(f)[..., : self.out_hw[0], : self.out_hw[1]] + 0.5
        return clamp_unit(img), logits


def _symbol_features(x_hat: torch.Tensor, mse: torch.Tensor) -> torch.Tensor:
    """Per received symbol ``(Re, Im, mse)``: ``[B, K]`` complex and ``mse`` broadcastable to it
    -> ``[B, K, 3]``."""
    return torch.cat([torch.view_as_real(x_hat), torch.broadcast_to(mse, x_hat.shape).unsqueeze(-1)], dim=-1)


@register_architecture("conv")
class MultiResJSCC(JSCCModel):
    """Multi-resolution JSCC: ``L`` layers of channel symbols, a reconstruction and (with
    classes) a classification per layer, for images of the config's one size.

    Call ``model(images, channel, snr_db, csi="perfect", generator=g)`` with
    ``images`` ``[B, C, H, W]`` in [0, 1]; returns a :class:`JSCCOutput` with ``L`` entries.
    """

    Options = ConvOptions
    tasks_served = frozenset({"recon", "class"})
    description = "the first model: a conv encoder with one head per layer and one progressive decoder"

    @classmethod
    def check_config(cls, config: JSCCConfig) -> None:
        if config.layout() != TaskLayout.default(config.num_layers, labelled=config.class_names is not None):
            raise FieldError("tasks", "{field} needs an architecture with task heads (klt-refine), not 'conv'")

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__(config)
        self.encoder = Encoder(config)
        self.decoder = ProgressiveDecoder(config)
        bounds = torch.tensor([0, *torch.tensor(config.layer_symbols).cumsum(0).tolist()])
        self.register_buffer("bounds", bounds, persistent=False)

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches: the encoder trunk's."""
        return list(self.encoder.trunk.parameters())

    def encode_layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, C, H, W]`` -> ``L`` complex layers ``[B, k_l]`` with unit power each."""
        return self.encode(images)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, C, H, W]`` -> ``L`` complex layers ``[B, k_l]`` with unit power each."""
        if images.dim() != 4:
            raise ValueError(f"images must be [B, C, H, W], got {tuple(images.shape)}")
        self.check_images(tuple(images.shape[1:]))
        return self.encoder(images)

    def receive(self, x_hat: torch.Tensor, mse: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """Decode every layer from the equalised symbols ``x_hat`` ``[B, K]`` and their error
        variance ``mse`` (broadcastable to ``[B, K]``). Returns (recons, logits), ``L`` each
        (logits None without classes); output ``l`` depends on the symbols of layers ``1..l`` only."""
        feats = _symbol_features(x_hat, mse)
        n_layers, batch = self.config.num_layers, x_hat.shape[0]
        # All L receivers in one decoder call: row block l keeps the symbols of layers 1..l.
        keep = torch.arange(x_hat.shape[-1], device=x_hat.device) < self.bounds[1:, None]  # [L, K]
        masked = feats.unsqueeze(0) * keep[:, None, :, None].to(feats.dtype)  # [L, B, K, 3]
        layer = torch.arange(n_layers, device=x_hat.device).repeat_interleave(batch)
        imgs, logits = self.decoder(self.decoder.to_grid(masked.flatten(0, 1)), layer)
        return list(imgs.unflatten(0, (n_layers, batch))), None if logits is None else list(logits.unflatten(0, (n_layers, batch)))

    def classify_noiseless(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, classes]`` of the top layer's semantic head when every layer arrives
        without noise (received symbols = sent symbols, error variance 0); the image decoder
        is not run."""
        symbols = torch.cat(self.encode(images), dim=-1)  # [B, K]
        feats = _symbol_features(symbols, torch.zeros((), device=symbols.device))
        layer = torch.full((symbols.shape[0],), self.config.num_layers - 1, device=symbols.device)
        f = self.decoder.features(self.decoder.to_grid(feats), layer)
        if self.decoder.classifier is None:
            raise ValueError("this conv model was trained without classes: it has no classifier")
        return self.decoder.classifier(f.mean(dim=(2, 3)))

    def forward(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str = "perfect",
        generator: torch.Generator | None = None,
        decode_layers: torch.Tensor | None = None,
    ) -> JSCCOutput:
        if decode_layers is not None:
            raise ValueError("the conv architecture decodes every layer: it takes no decode_layers")
        return self.from_channel_input(self.encode(images), channel, snr_db, csi, generator)

    def channel_input(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The layers of symbols (:meth:`encode`): SNR-agnostic."""
        return self.encode(images)

    def from_channel_input(self, layers: list[torch.Tensor], channel: channels.Channel, snr_db: float | torch.Tensor,
                           csi: str = "perfect", generator: torch.Generator | None = None) -> JSCCOutput:
        out = channel(torch.cat(layers, dim=-1), snr_db, generator=generator)
        rx = channels.receive(out, csi, method="mmse")
        # With h or its pilot estimate (perfect, ls, lmmse), MMSE equalisation reports its MSE.
        mse = rx.noise_var if csi != "none" else rx.noise_var / (1 + rx.noise_var)
        recons, logits = self.receive(rx.x_hat, mse.to(rx.x_hat.real.dtype))
        tasks = [{} for _ in recons] if logits is None else [{"class": lg} for lg in logits]
        return JSCCOutput(recon=recons, tasks=tasks, symbols=layers)
