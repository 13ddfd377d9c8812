"""``klt-refine``: multi-resolution JSCC built on the linear analog scheme.

The linear scheme (:class:`~semcomm.models.softcast.SoftCast`: KLT, SoftCast power allocation,
per-coefficient LMMSE) is the backbone; every learned part is a residual on it whose last
layer starts at zero, so the untrained model *is* the linear scheme and training only has to
find the nonlinear gain:

- **Transmitter** (SNR-agnostic, for broadcast): a learned image-to-image CNN adds ``D(x)`` to
  the image before the KLT, ``c = U^T (x + D(x) - mu)`` (``U^T D`` spans every coefficient
  residual), and learned per-coefficient log-gains rescale the SoftCast allocation within each
  layer. Each layer is normalised per example to its power ``P_l`` (1 with
  ``config.layer_power="equal"``; SoftCast's split of the frame's power with ``"softcast"``,
  unit energy per symbol over the frame); the layer scales reach the receiver as side
  information, as for the linear scheme (same constraint, same side information).
- **Receiver of layers 1..l**: the LMMSE coefficients of layers ``1..l`` (later ones zero)
  give the linear reconstruction ``x_lin``; a U-Net refiner adds a residual,
  ``x_l = x_lin + R(x_lin, q_l)``, conditioned on ``q_l``: per layer, whether it was received
  and its mean log noise variance. A classifier reads the refiner's bottleneck, and so does
  one head per other receiver-side task of the configuration's layout (:mod:`semcomm.tasks`:
  coarse concepts, proxy cues), shared by the layers that carry the task. With
  ``config.proxy_attention`` the proxy cues' branches feed the other heads' feature through
  uncertainty-aware gates (:class:`~semcomm.tasks.proxy_attention.UncertaintyProxyAttention`).

Causality is exact: ``x_lin`` of layer ``l`` uses the coefficients of layers ``1..l`` only and
``q_l`` zeroes the later layers' entries.

Compute is kept small for CPU training: both CNNs work at half resolution (pixel unshuffle),
with the deep part at quarter resolution. Training may decode one random layer per example
(``decode_layers``) instead of all ``L``, which costs one refiner pass per example.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import channels
from semcomm.models.multires_jscc import JSCCConfig, JSCCOutput, ResBlock, _clamp_unit
from semcomm.models.softcast import SoftCast
from semcomm.tasks import RECON, ProxyTask, get_task
from semcomm.tasks.proxy_attention import UncertaintyProxyAttention

__all__ = ["CLASSIFIER_SNR_DB", "KLTRefineJSCC", "UNet"]

#: The SNR whose noise level :meth:`KLTRefineJSCC.classify_noiseless` tells the refiner: the top
#: of the shipped models' training range (-5...20 dB).
CLASSIFIER_SNR_DB = 20.0


class UNet(nn.Module):
    """Image-to-image residual CNN: ``[B, C, H, W]`` (+ ``cond`` constant planes) -> ``[B, C, H, W]``
    and a pooled feature ``[B, 2 width]``.

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

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pixel_unshuffle(images - 0.5, 2)
        if cond is not None:
            x = torch.cat([x, cond[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        hi = self.high_in(self.inp(x))
        lo = self.low(self.down(hi))
        up = self.up(lo)[..., : hi.shape[-2], : hi.shape[-1]]
        out = self.out(self.high_out(up + hi))
        return F.pixel_shuffle(out, 2), lo.mean(dim=(2, 3))


class KLTRefineJSCC(nn.Module):
    """Linear analog backbone + learned transmitter residual + learned receiver refinement.

    Call ``model(images, channel, snr_db, csi="perfect", generator=g)`` with ``images``
    ``[B, C, H, W]`` in [0, 1]; returns a :class:`JSCCOutput` with ``L`` entries.

    Args:
        config: the architecture (``arch="klt-refine"``).
        softcast: the linear backbone (its KLT buffers are part of the checkpoint); None builds
            an empty one of the right shape, to be filled by ``load_state_dict``.
    """

    def __init__(self, config: JSCCConfig, softcast: SoftCast | None = None) -> None:
        super().__init__()
        self.config = config
        c, h, w = config.image_shape
        n, m = c * h * w, 2 * sum(config.layer_symbols)
        if softcast is None:
            softcast = SoftCast(torch.zeros(n), torch.zeros(n, m), torch.ones(m), config.layer_symbols, config.layer_power)
        if softcast.layer_power != config.layer_power:
            raise ValueError(f"the backbone splits power {softcast.layer_power!r}, the configuration {config.layer_power!r}")
        self.softcast = softcast
        self.gain_log = nn.Parameter(torch.zeros(m))
        self.tx_residual = UNet(c, 0, config.width, depth=2)
        self.refiner = UNet(c, 2 * config.num_layers, config.width, depth=4)
        self.classifier = nn.Sequential(nn.Linear(2 * config.width, 128), nn.PReLU(), nn.Linear(128, config.num_classes))
        self.layout = config.layout()
        tasks = {name: get_task(name, config.dataset) for name in self.layout.head_tasks() if name != "class"}
        proxies = {name: t.outputs for name, t in tasks.items() if isinstance(t, ProxyTask)} if config.proxy_attention else {}
        self.proxy_attention = UncertaintyProxyAttention(2 * config.width, proxies, weight=config.proxy_weight) if proxies else None
        self.task_heads = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(2 * config.width, 128), nn.PReLU(), nn.Linear(128, t.outputs))
            for name, t in tasks.items() if name not in proxies
        })

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task's loss reaches: the refiner's (recon and class heads share it)."""
        return list(self.refiner.parameters())

    def split_modules(self) -> list[nn.Conv2d]:
        """The shared receiver trunk's convolutions whose output channels GradSplit may split
        by task: every convolution of the refiner but its output one (the image residual)."""
        return [m for m in self.refiner.modules() if isinstance(m, nn.Conv2d) and m is not self.refiner.out]

    def gains(self) -> torch.Tensor:
        """Per-coefficient amplitudes ``[m]``: SoftCast's times the learned factor."""
        return self.softcast.amplitudes * self.gain_log.exp()

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, H, W]`` -> (symbols ``[B, K]``, energy ``P_l`` per symbol for each example and
        layer; layer scales ``[B, L]``, the side information)."""
        expected = self.config.image_shape
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must have shape [B, {', '.join(map(str, expected))}], got {tuple(images.shape)}")
        residual, _ = self.tx_residual(images)
        return self.softcast.modulate(self.softcast.analyse(images + residual), self.gains())

    def _conditions(self, noise_var: torch.Tensor, batch: int) -> torch.Tensor:
        """``[L, B, 2 L]``: row block ``l`` holds, for layers ``j <= l``, (1, -log10(mean noise var)/2)."""
        k = sum(self.config.layer_symbols)
        nv = torch.broadcast_to(noise_var, (batch, k))
        level = torch.stack([-torch.log10(part.mean(-1) + 1e-6) / 2 for part in nv.split(list(self.config.layer_symbols), -1)], -1)
        per_layer = torch.stack([torch.ones_like(level), level], -1)  # [B, L, 2]
        L = self.config.num_layers
        keep = (torch.arange(L, device=nv.device)[None, :] <= torch.arange(L, device=nv.device)[:, None]).to(level.dtype)
        return (per_layer[None] * keep[:, None, :, None]).flatten(-2)  # [L, B, 2L]

    def decode(self, c_hat: torch.Tensor, cond: torch.Tensor, layer: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Receiver of layers ``1..layer[i]+1`` for each row: coefficients ``[N, m]``, conditions
        ``[N, 2L]``, 0-based ``layer`` ``[N]`` -> images ``[N, C, H, W]``, logits ``[N, classes]``,
        every other task head's output ``{task: [N, outputs]}`` and the heads' input feature
        ``[N, 2 width]`` (``generator``: unused here, for receivers that draw at random)."""
        masked = c_hat * self.softcast.layer_masks()[layer]
        linear = self.softcast.synthesise(masked, self.config.image_shape)
        residual, feature = self.refiner(linear, cond)
        proxies: dict[str, torch.Tensor] = {}
        if self.proxy_attention is not None:
            feature, proxies = self.proxy_attention(feature)
        heads = {name: head(feature) for name, head in self.task_heads.items()} | proxies
        return _clamp_unit(linear + residual), self.classifier(feature), heads, feature

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
        layer of each example; ``recon[l]`` and ``logits[l]`` then hold the examples with
        ``decode_layers == l``, in order. None decodes every layer of every example."""
        c_hat, noise_var, symbols = self.send(images, channel, snr_db, csi, generator)
        return self.receive(c_hat, noise_var, decode_layers, symbols, generator)

    def send(self, images: torch.Tensor, channel: channels.Channel, snr_db: float | torch.Tensor,
                 csi: str = "perfect", generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode ``images`` ``[B, C, H, W]``, send them over ``channel`` and apply the linear
        front end: the LMMSE coefficients ``[B, m]``, the per-symbol noise variance the receiver
        sees (broadcastable to ``[B, K]``) and the sent symbols ``[B, K]``; :meth:`receive` takes
        it from there."""
        symbols, scales = self.encode(images)
        out = channel(symbols, snr_db, generator=generator)
        c_hat, noise_var = self.softcast.receive(out, csi, scales, channel.mean_gain, self.gains())
        return c_hat, noise_var, symbols

    def receive(self, c_hat: torch.Tensor, noise_var: torch.Tensor, decode_layers: torch.Tensor | None = None,
                symbols: torch.Tensor | None = None, generator: torch.Generator | None = None) -> JSCCOutput:
        """Every layer's (or, with ``decode_layers`` ``[B]``, one layer per example's) images,
        logits and task outputs from the LMMSE coefficients ``c_hat`` ``[B, m]`` and the
        per-symbol noise variance (broadcastable to ``[B, K]``); output ``l`` uses layers
        ``1..l`` only. ``symbols`` ``[B, K]``, the sent ones, fill ``JSCCOutput.symbols``;
        ``generator`` feeds a receiver that draws at random in training (routing)."""
        batch, L = c_hat.shape[0], self.config.num_layers
        cond = self._conditions(noise_var, batch)  # [L, B, 2L]
        if decode_layers is None:
            layer = torch.arange(L, device=c_hat.device).repeat_interleave(batch)
            imgs, logits, heads, features = self.decode(c_hat.repeat(L, 1), cond.flatten(0, 1), layer, generator)
            rows = [slice(l * batch, (l + 1) * batch) for l in range(L)]
        else:
            imgs, logits, heads, features = self.decode(c_hat, cond[decode_layers, torch.arange(batch, device=c_hat.device)],
                                                        decode_layers, generator)
            rows = [decode_layers == l for l in range(L)]
        heads["class"] = logits
        return JSCCOutput(
            recon=[imgs[r] for r in rows],
            logits=[logits[r] for r in rows],
            symbols=[] if symbols is None else list(symbols.split(list(self.config.layer_symbols), dim=-1)),
            tasks=[{name: heads[name][r] for name in tasks if name != RECON} for tasks, r in zip(self.layout.layers, rows)],
            features=[features[r] for r in rows],
        )

    def task_loss(self, name: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of task ``name``'s output: the task's own, or, for a proxy under
        uncertainty-aware attention, its branch's Gaussian NLL."""
        if self.proxy_attention is not None and name in self.proxy_attention.names:
            return self.proxy_attention.loss(name, prediction, target)
        return get_task(name, self.config.dataset).loss(prediction, target)

    def classify_noiseless(self, images: torch.Tensor) -> torch.Tensor:
        """Top layer's logits ``[B, classes]`` when every symbol arrives without noise.

        The LMMSE sees the sent symbols; the refiner is conditioned as at
        :data:`CLASSIFIER_SNR_DB` (its noise-level input at zero noise would lie far outside the
        range it was trained on, where its features, and so the classifier, are meaningless)."""
        symbols, scales = self.encode(images)
        noise_var = torch.full((), 10.0 ** (-CLASSIFIER_SNR_DB / 10.0), device=images.device)
        c_hat = self.softcast.estimate(symbols, torch.full((), 1e-10, device=images.device), scales, self.gains())
        top = torch.full((images.shape[0],), self.config.num_layers - 1, device=images.device)
        return self.receive(c_hat, noise_var, top).logits[-1]
