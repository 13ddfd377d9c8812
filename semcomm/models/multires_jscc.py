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
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

import channels
from semcomm.models.softcast import LAYER_POWERS
from semcomm.tasks import TaskLayout, get_task, parse_layout

__all__ = ["JSCCConfig", "JSCCOutput", "MultiResJSCC", "DATASET_SHAPES", "cumulative_ratios", "symbols_for_ratio"]

#: (channels, height, width) and number of classes of the supported datasets.
DATASET_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}


def symbols_for_ratio(ratio: float, source_values: int) -> int:
    """Complex channel uses ``k = round(ratio * n)`` for a bandwidth ratio ``k/n`` (at least 1)."""
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"bandwidth ratio must be a positive number, got {ratio!r}")
    return max(1, round(ratio * source_values))


def cumulative_ratios(layer_symbols: tuple[int, ...], source_values: int) -> list[float]:
    """Bandwidth ratio ``sum_{j<=l} k_j / n`` of layers ``1..l``, for each ``l``, from the
    complex channel uses ``k_j`` of each layer and the ``n`` real values of a source image."""
    return [float(sum(layer_symbols[: l + 1])) / source_values for l in range(len(layer_symbols))]


@dataclass(frozen=True)
class JSCCConfig:
    """Architecture of a :class:`MultiResJSCC` (serialised to JSON next to the weights).

    Attributes:
        dataset: ``"mnist"`` or ``"cifar10"`` (fixes the image shape and class count).
        layer_symbols: complex symbols ``k_l`` of each layer, e.g. ``(171, 171, 171)``.
        width: channels of the conv trunks.
        arch: the architecture's key in :data:`semcomm.models.registry.ARCHITECTURES`
            (``"conv"``, this module's model, is what checkpoints without a key hold).
        layer_power: how the frame's power is split across layers
            (:data:`semcomm.models.softcast.LAYER_POWERS`): ``"equal"`` (unit energy per symbol
            in every layer; what checkpoints without the key hold) or ``"softcast"`` (fixed
            per-layer powers ``P_l`` from SoftCast's allocation over the whole frame, unit
            energy per symbol over the frame; ``klt-refine`` only).
        tasks: the receiver-side tasks of each layer as a ``--tasks`` string
            (:func:`semcomm.tasks.parse_layout`), or None for ``recon`` and ``class`` at every
            layer (what checkpoints without the key hold; other layouts need ``klt-refine``).
        proxy_attention: the proxy cues of the layout feed the main tasks' heads through
            uncertainty-aware gates (:mod:`semcomm.tasks.proxy_attention`; ``klt-refine``).
        proxy_weight: with ``proxy_attention``, the weight of each proxy branch's loss (a
            checkpoint with proxy attention but without the key was trained unweighted: 1).
    """

    dataset: str
    layer_symbols: tuple[int, ...]
    width: int = 64
    arch: str = "conv"
    layer_power: str = "equal"
    tasks: str | None = None
    proxy_attention: bool = False
    proxy_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_SHAPES:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASET_SHAPES)}")
        if len(self.layer_symbols) == 0:
            raise ValueError("a JSCC model needs at least one layer")
        if any(not isinstance(k, int) or k < 1 for k in self.layer_symbols):
            raise ValueError(f"layer_symbols must be positive integers, got {self.layer_symbols}")
        object.__setattr__(self, "layer_symbols", tuple(self.layer_symbols))
        if self.layer_power not in LAYER_POWERS:
            raise ValueError(f"unknown layer power split {self.layer_power!r}; choose one of: {', '.join(LAYER_POWERS)}")
        if self.tasks is not None:
            object.__setattr__(self, "tasks", parse_layout(self.tasks, len(self.layer_symbols)).spec())

    def layout(self) -> TaskLayout:
        """The tasks of each layer (:class:`semcomm.tasks.TaskLayout`)."""
        return TaskLayout.default(self.num_layers) if self.tasks is None else parse_layout(self.tasks, self.num_layers)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return DATASET_SHAPES[self.dataset][0]

    @property
    def num_classes(self) -> int:
        return DATASET_SHAPES[self.dataset][1]

    @property
    def source_values(self) -> int:
        """``n``: real values per image."""
        return math.prod(self.image_shape)

    @property
    def num_layers(self) -> int:
        return len(self.layer_symbols)

    def cumulative_ratios(self) -> list[float]:
        """Bandwidth ratio ``sum_{j<=l} k_j / n`` spent by a receiver of layers ``1..l``."""
        return cumulative_ratios(self.layer_symbols, self.source_values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"layer_symbols": list(self.layer_symbols)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JSCCConfig:
        return cls(dataset=d["dataset"], layer_symbols=tuple(d["layer_symbols"]), width=d["width"], arch=d.get("arch", "conv"),
                   layer_power=d.get("layer_power", "equal"), tasks=d.get("tasks"),
                   proxy_attention=d.get("proxy_attention", False), proxy_weight=d.get("proxy_weight", 1.0 if d.get("proxy_attention") else cls.proxy_weight))


@dataclass
class JSCCOutput:
    """Receiver outputs for layers ``1..L``.

    Attributes:
        recon: ``L`` tensors ``[B, C, H, W]`` in [0, 1].
        logits: ``L`` tensors ``[B, num_classes]``.
        symbols: the transmitted layers, ``L`` complex tensors ``[B, k_l]`` (energy per symbol
            ``P_l`` each: 1 unless the model splits the frame's power unequally).
        tasks: ``L`` mappings, task name -> head output ``[B, outputs]``, for the head tasks
            of each layer in the model's task layout (``"class"``'s is that layer's ``logits``).
        features: ``L`` tensors ``[B, F]``, the receiver's pooled feature that the task heads
            read (``klt-refine``; empty for models that do not expose one).
    """

    recon: list[torch.Tensor]
    logits: list[torch.Tensor]
    symbols: list[torch.Tensor] = field(default_factory=list)
    tasks: list[dict[str, torch.Tensor]] = field(default_factory=list)
    features: list[torch.Tensor] = field(default_factory=list)


class ResBlock(nn.Module):
    """``x + conv(prelu(conv(x)))`` at constant width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width), nn.Conv2d(width, width, 3, padding=1)
        )
        self.act = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


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
        width = config.width
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


def _clamp_unit(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] in the forward pass, identity in the backward pass (straight-through).

    A sigmoid output saturates: on MNIST's black background the decoder drives it to 0 within
    a few Adam steps and the gradient vanishes for good. A plain clamp has the same dead zone;
    the straight-through version keeps every pixel trainable while outputs stay in [0, 1].
    """
    return x + (x.clamp(0.0, 1.0) - x).detach()


class ProgressiveDecoder(nn.Module):
    """Shared decoder: received features of layers ``1..l`` (later layers zeroed) -> image, logits.

    Per received symbol it takes ``(Re, Im, mse)``; each layer's ``3 k_l`` values are laid back
    on the latent grid (zero-padded), giving a ``[B, 2 sum_l c_l, h, w]`` map.
    """

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__()
        c, h, w = config.image_shape
        width = config.width
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
        self.classifier = nn.Sequential(nn.Linear(width, 128), nn.PReLU(), nn.Linear(128, config.num_classes))

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

    def forward(self, latent: torch.Tensor, layer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``latent`` ``[N, 2 sum c_l, h, w]`` with zeros beyond each row's layer; ``layer`` ``[N]``
        0-based layer index of each row. Returns images ``[N, C, H, W]`` and logits ``[N, classes]``."""
        f = self.features(latent, layer)
        logits = self.classifier(f.mean(dim=(2, 3)))
        img = self.up(f)[..., : self.out_hw[0], : self.out_hw[1]] + 0.5
        return _clamp_unit(img), logits


def _symbol_features(x_hat: torch.Tensor, mse: torch.Tensor) -> torch.Tensor:
    """Per received symbol ``(Re, Im, mse)``: ``[B, K]`` complex and ``mse`` broadcastable to it
    -> ``[B, K, 3]``."""
    return torch.cat([torch.view_as_real(x_hat), torch.broadcast_to(mse, x_hat.shape).unsqueeze(-1)], dim=-1)


class MultiResJSCC(nn.Module):
    """Multi-resolution JSCC: ``L`` layers of channel symbols, a reconstruction and a
    classification per layer.

    Call ``model(images, channel, snr_db, csi="perfect", generator=g)`` with
    ``images`` ``[B, C, H, W]`` in [0, 1]; returns a :class:`JSCCOutput` with ``L`` entries.
    """

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = ProgressiveDecoder(config)
        bounds = torch.tensor([0, *torch.tensor(config.layer_symbols).cumsum(0).tolist()])
        self.register_buffer("bounds", bounds, persistent=False)

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches: the encoder trunk's."""
        return list(self.encoder.trunk.parameters())

    def task_loss(self, name: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of task ``name``'s output (the task's own)."""
        return get_task(name, self.config.dataset).loss(prediction, target)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, C, H, W]`` -> ``L`` complex layers ``[B, k_l]`` with unit power each."""
        expected = self.config.image_shape
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must have shape [B, {', '.join(map(str, expected))}], got {tuple(images.shape)}")
        return self.encoder(images)

    def receive(self, x_hat: torch.Tensor, mse: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Decode every layer from the equalised symbols ``x_hat`` ``[B, K]`` and their error
        variance ``mse`` (broadcastable to ``[B, K]``). Returns (recons, logits), ``L`` each;
        output ``l`` depends on the symbols of layers ``1..l`` only."""
        feats = _symbol_features(x_hat, mse)
        n_layers, batch = self.config.num_layers, x_hat.shape[0]
        # All L receivers in one decoder call: row block l keeps the symbols of layers 1..l.
        keep = torch.arange(x_hat.shape[-1], device=x_hat.device) < self.bounds[1:, None]  # [L, K]
        masked = feats.unsqueeze(0) * keep[:, None, :, None].to(feats.dtype)  # [L, B, K, 3]
        layer = torch.arange(n_layers, device=x_hat.device).repeat_interleave(batch)
        imgs, logits = self.decoder(self.decoder.to_grid(masked.flatten(0, 1)), layer)
        return list(imgs.unflatten(0, (n_layers, batch))), list(logits.unflatten(0, (n_layers, batch)))

    def classify_noiseless(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, classes]`` of the top layer's semantic head when every layer arrives
        without noise (received symbols = sent symbols, error variance 0); the image decoder
        is not run."""
        symbols = torch.cat(self.encode(images), dim=-1)  # [B, K]
        feats = _symbol_features(symbols, torch.zeros((), device=symbols.device))
        layer = torch.full((symbols.shape[0],), self.config.num_layers - 1, device=symbols.device)
        f = self.decoder.features(self.decoder.to_grid(feats), layer)
        return self.decoder.classifier(f.mean(dim=(2, 3)))

    def forward(
        self,
        images: torch.Tensor,
        channel: channels.Channel,
        snr_db: float | torch.Tensor,
        csi: str = "perfect",
        generator: torch.Generator | None = None,
    ) -> JSCCOutput:
        layers = self.encode(images)
        out = channel(torch.cat(layers, dim=-1), snr_db, generator=generator)
        rx = channels.receive(out, csi, method="mmse")
        # With h or its pilot estimate (perfect, ls, lmmse), MMSE equalisation reports its MSE.
        mse = rx.noise_var if csi != "none" else rx.noise_var / (1 + rx.noise_var)
        recons, logits = self.receive(rx.x_hat, mse.to(rx.x_hat.real.dtype))
        return JSCCOutput(recon=recons, logits=logits, symbols=layers, tasks=[{"class": lg} for lg in logits])
