"""``klt-rmn``: the ``klt-refine`` model with a recurrent modular receiver (after MT-RMN, Xu et
al., AAAI 2021, "Multi-Task Recurrent Modular Networks").

The transmitter, the linear backbone and the task layout are ``klt-refine``'s; the receiver's
refiner U-Net is replaced by :class:`RoutedReceiver`, which treats the resolution layers as time
steps:

- **step** ``j`` (layers ``1..j`` received): a stem encodes the linear reconstruction from
  layers ``1..j`` (and the noise conditions of those layers) to quarter resolution, a 1x1
  convolution mixes it with the recurrent state (the last module's output at step ``j - 1``),
  and a trunk of ``M`` residual modules runs in sequence, ``h_1 ... h_M``; the recurrent
  state passed on is the reconstruction task's combined feature;
- **routing**: for each task (``recon`` and each head task of the layout) and step, a small
  policy network reads the step's pooled stem feature, the task and the step, and makes ``M``
  binary decisions: which modules connect to the task's decoder. In training the decisions are
  Gumbel-sigmoid samples with a straight-through gradient; at evaluation they are hard
  (logit > 0). At least one module is always connected (the most likely one);
- **compute penalty** (optional, ``semcomm train --route-cost W``; not in MT-RMN, which learns
  the routes from the task losses alone): ``W`` times the expected trunk depth of the routes
  (:func:`expected_depth`, a fraction of the trunk, averaged over tasks and examples), the
  sparsity term of AdaShare (Sun et al., NeurIPS 2020) on depth. Without it nothing rewards a
  short route, and routes tend to connect every module;
- **decoders**: the task's input is the mean of its connected modules' outputs: the
  reconstruction decoder upsamples it to an image residual (its last convolution starts at zero,
  so the untrained model is the linear scheme), the heads read its spatial mean.

Tasks and steps may route differently, so a coarse task at layer 1 may stop after one module
while the fine class at layer 3 uses the whole trunk. At evaluation the trunk runs only as deep
as the deepest connected module. :meth:`KLTRoutedJSCC.routes` reports the learned routes and
each task's compute per layer (the depth of the trunk it needs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

import channels
from semcomm.errors import FieldError
from semcomm.models.base import JSCCConfig, register_architecture
from semcomm.models.klt_refine import KLTRefineJSCC, KLTRefineOptions
from semcomm.models.layers import ResBlock, clamp_unit
from semcomm.models.softcast import SoftCast, Tiling
from semcomm.tasks import RECON

if TYPE_CHECKING:
    from semcomm.learn.objective import Objective
    from semcomm.mtl.weighting import TaskLosses

__all__ = ["KLTRoutedJSCC", "KLTRoutedOptions", "RoutedReceiver", "expected_depth", "gumbel_gates"]

#: Trunk modules of the routed receiver.
NUM_MODULES = 4


def gumbel_gates(logits: torch.Tensor, training: bool, generator: torch.Generator | None = None,
                 tau: float = 1.0) -> torch.Tensor:
    """Binary gates ``[N, M]`` from logits ``[N, M]``: in training a Gumbel-sigmoid sample with a
    straight-through gradient (forward 0/1, backward the relaxed sample's), at evaluation
    ``logits > 0``; a row with no gate open opens its largest logit."""
    if training:
        u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp(1e-6, 1 - 1e-6)
        soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / tau)
    else:
        soft = (logits > 0).to(logits.dtype)
    hard = (soft > 0.5).to(logits.dtype)
    none = hard.sum(-1, keepdim=True) == 0
    hard = torch.where(none, F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype), hard)
    return hard + soft - soft.detach() if training else hard


def expected_depth(probs: torch.Tensor) -> torch.Tensor:
    """The expected trunk depth ``[N]`` (in modules) of routes whose ``M`` gates open
    independently with probabilities ``probs`` ``[N, M]``: the depth is the last open gate's
    index, so ``E[depth] = sum_m P(a gate k >= m is open) = sum_m (1 - prod_{k >= m} (1 - p_k))``
    (the rule that opens the likeliest gate when none is, is left out: a lower bound)."""
    all_closed_from = torch.flip(torch.cumprod(torch.flip(1 - probs, [-1]), -1), [-1])  # prod_{k >= m} (1 - p_k)
    return (1 - all_closed_from).sum(-1)


class RoutedReceiver(nn.Module):
    """Stem, recurrent mixing, ``M`` modules, per-(task, step) routers and task decoders.

    Args:
        image_channels: ``C``.
        cond_channels: width of the noise conditions (``2 L``).
        width: base width (the trunk runs at ``2 width``, quarter resolution).
        tasks: the routed tasks (``recon`` first, then the heads').
        steps: ``L``.
    """

    def __init__(self, image_channels: int, cond_channels: int, width: int, tasks: list[str], steps: int) -> None:
        super().__init__()
        c4, w2 = 4 * image_channels, 2 * width
        self.tasks, self.steps = tasks, steps
        self.stem = nn.Sequential(nn.Conv2d(c4 + cond_channels, width, 3, padding=1), nn.PReLU(width),
                                  nn.Conv2d(width, w2, 3, stride=2, padding=1), nn.PReLU(w2))
        self.mix = nn.Conv2d(2 * w2, w2, 1)
        self.trunk = nn.ModuleList(ResBlock(w2) for _ in range(NUM_MODULES))
        self.router = nn.Sequential(nn.Linear(w2 + len(tasks) + steps, 32), nn.PReLU(), nn.Linear(32, NUM_MODULES))
        self.up = nn.Sequential(nn.Conv2d(w2, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(width))
        self.out = nn.Conv2d(width, c4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.forced: dict[str, torch.Tensor] | None = None  # task -> gates [M] (tests, analysis)

    def gates(self, context: torch.Tensor, step: int, generator: torch.Generator | None
              ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Each task's gates ``[N, M]`` at ``step`` (0-based) from the pooled stem feature
        ``[N, 2 width]``, and the probabilities ``[N, M]`` that its gates open (``sigmoid`` of the
        router's logits; a forced route's gates)."""
        gates, probs = {}, {}
        for t, task in enumerate(self.tasks):
            if self.forced is not None:
                gates[task] = probs[task] = self.forced[task].to(context).expand(context.shape[0], -1)
                continue
            code = torch.zeros(context.shape[0], len(self.tasks) + self.steps, device=context.device)
            code[:, t] = 1
            code[:, len(self.tasks) + step] = 1
            logits = self.router(torch.cat([context, code], -1))
            gates[task], probs[task] = gumbel_gates(logits, self.training, generator), torch.sigmoid(logits)
        return gates, probs

    def step(self, linear: torch.Tensor, cond: torch.Tensor, state: torch.Tensor | None, step: int,
             generator: torch.Generator | None
             ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """One time step: (each task's combined feature ``[N, 2 width, H/4, W/4]``, its gates
        ``[N, M]``, their open probabilities ``[N, M]``, the new state)."""
        x = F.pixel_unshuffle(linear - 0.5, 2)
        x = torch.cat([x, cond[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        h = self.stem(x)
        state = torch.zeros_like(h) if state is None else state
        h = self.mix(torch.cat([h, state], dim=1))
        gates, probs = self.gates(h.mean(dim=(2, 3)), step, generator)
        depth = NUM_MODULES if self.training else int(max(g.nonzero()[:, 1].max() for g in gates.values())) + 1
        outputs = []
        for module in self.trunk[:depth]:
            h = module(h)
            outputs.append(h)
        stacked = torch.stack(outputs, dim=1)  # [N, depth, 2w, h, w]
        combined = {}
        for task, g in gates.items():
            g = g[:, :depth]
            combined[task] = (g[:, :, None, None, None] * stacked).sum(1) / g.sum(1).clamp_min(1)[:, None, None, None]
        return combined, gates, probs, combined[RECON]

    def forward(self, linears: list[torch.Tensor], conds: list[torch.Tensor], generator: torch.Generator | None = None
                ) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]],
                           list[dict[str, torch.Tensor]]]:
        """Steps ``0..len(linears)-1``: each step's image residual ``[N, C, H, W]``, pooled task
        features ``{task: [N, 2 width]}`` (heads), gates ``{task: [N, M]}`` and their open
        probabilities ``{task: [N, M]}``."""
        residuals, features, gates, probs, state = [], [], [], [], None
        for j, (linear, cond) in enumerate(zip(linears, conds)):
            combined, g, p, state = self.step(linear, cond, state, j, generator)
            up = self.up(combined[RECON])[..., : linear.shape[-2] // 2, : linear.shape[-1] // 2]
            residuals.append(F.pixel_shuffle(self.out(up), 2))
            features.append({t: f.mean(dim=(2, 3)) for t, f in combined.items() if t != RECON})
            gates.append(g)
            probs.append(p)
        return residuals, features, gates, probs


@dataclass(frozen=True)
class KLTRoutedOptions(KLTRefineOptions):
    """Options of ``klt-rmn``: those of ``klt-refine`` and the routes' compute penalty."""

    route_cost: float = field(default=0.0, metadata={
        "help": "weight of the compute penalty in training: the expected trunk depth of the routes as a fraction of "
                "the trunk (0: none; e.g. 0.05)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.route_cost, (int, float)) and math.isfinite(self.route_cost) and self.route_cost >= 0):
            raise FieldError("route_cost", f"bad {{field}} {self.route_cost:g}: it must be a number >= 0, e.g. 0.05")


@register_architecture("klt-rmn")
class KLTRoutedJSCC(KLTRefineJSCC):
    """``klt-refine`` with the recurrent modular receiver (:class:`RoutedReceiver`)."""

    Options = KLTRoutedOptions
    description = "klt-refine with a recurrent modular receiver routed per task and layer (MT-RMN)"

    def reduced_precision_modules(self) -> list[nn.Module]:
        """None: the routed receiver's heads read state its trunk leaves behind, outside a
        module's ``forward`` (float32 only)."""
        return []

    def __init__(self, config: JSCCConfig, softcast: SoftCast | None = None) -> None:
        super().__init__(config, softcast)
        c = config.image_shape[0]
        tasks = [RECON, *self.task_heads]  # class first; proxies under attention branch off the class feature
        self.refiner = RoutedReceiver(c, 2 * config.num_layers, config.options.width, tasks, config.num_layers)
        self.last_gates: dict[str, torch.Tensor] = {}  # the last decode's gates [N, M] per task
        self.last_probs: dict[str, torch.Tensor] = {}  # and their open probabilities [N, M]

    def decode(self, c_hat: torch.Tensor, cond: torch.Tensor, layer: torch.Tensor, generator: torch.Generator | None = None,
               tiling: Tiling | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """As :meth:`KLTRefineJSCC.decode`, running the steps ``0..layer[i]`` of each row (step
        ``j`` sees layers ``1..j + 1`` and their conditions only)."""
        L = self.config.num_layers
        last = int(layer.max()) + 1
        tiling = tiling or Tiling(len(layer), 1, 1, *self.config.image_shape[1:])
        cond_layer = torch.arange(L, device=cond.device).repeat_interleave(2)  # the layer of each condition entry
        linears = [self.linear_images(c_hat, torch.full_like(layer, j), tiling) for j in range(last)]
        conds = [cond * (cond_layer <= j).to(cond.dtype) for j in range(last)]
        residuals, features, gates, probs = self.refiner(linears, conds, generator)
        rows = torch.arange(len(layer), device=layer.device)
        pick = lambda per_step: torch.stack(per_step)[layer, rows]  # noqa: E731 (each row's own step)
        linear, residual = pick(linears), pick(residuals)
        pooled = {t: pick([f[t] for f in features]) for t in features[0]}
        self.last_gates = {t: pick([g[t] for g in gates]) for t in gates[0]}
        self.last_probs = {t: pick([p[t] for p in probs]) for t in probs[0]}
        feature = pooled["class"] if "class" in pooled else pooled[next(iter(pooled))] if pooled else linear.new_zeros(len(layer), 0)
        proxies: dict[str, torch.Tensor] = {}
        if self.proxy_attention is not None:
            feature, proxies = self.proxy_attention(feature)
        heads = {name: head(feature if name == "class" else pooled[name]) for name, head in self.task_heads.items()} | proxies
        return clamp_unit((linear + residual)[..., : tiling.height, : tiling.width]), heads, feature

    def training_losses(self, images: torch.Tensor, labels: torch.Tensor | None, channel: channels.Channel,
                        snr_db: torch.Tensor, csi: str, decode_layers: torch.Tensor | None, generator: torch.Generator,
                        objective: Objective) -> TaskLosses:
        """``klt-refine``'s losses plus ``route_cost`` times the routes' expected depth
        (:meth:`route_cost`), in ``extra``."""
        losses = super().training_losses(images, labels, channel, snr_db, csi, decode_layers, generator, objective)
        if self.options.route_cost:
            losses.extra.append(self.options.route_cost * self.route_cost())
        return losses

    def route_cost(self) -> torch.Tensor:
        """The last decode's expected trunk depth as a fraction of the trunk (0...1], averaged
        over the routed tasks and the examples: the compute penalty of ``--route-cost``
        (differentiable in the routers' parameters)."""
        depths = torch.stack([expected_depth(p) for p in self.last_probs.values()])  # [tasks, N]
        return depths.mean() / NUM_MODULES

    @torch.no_grad()
    def routes(self, c_hat: torch.Tensor, noise_var: torch.Tensor) -> dict[str, list[dict[str, list[float]]]]:
        """The learned routes on a batch: per task, per layer, each module's connection rate
        ``[M]`` and the trunk depth the task needs (mean over the batch, in modules)."""
        was = self.training
        self.eval()
        batch, L = c_hat.shape[0], self.config.num_layers
        cond = self._conditions(noise_var, batch)
        report: dict[str, list[dict[str, list[float]]]] = {t: [] for t in self.refiner.tasks}
        for l in range(L):
            layer = torch.full((batch,), l, device=c_hat.device)
            self.decode(c_hat, cond[l], layer)  # one tile of the training size per image
            for task, g in self.last_gates.items():
                depth = (torch.arange(1, NUM_MODULES + 1, device=g.device) * g).max(-1).values
                report[task].append({"connections": g.mean(0).tolist(), "depth": [float(depth.mean())]})
        self.train(was)
        return report
