"""``klt-slim``: the ``klt-refine`` model with a controllable slimmable receiver (after Aich et
al., ICCV 2023, "Efficient Controllable Multi-Task Architectures").

The transmitter and the linear backbone are ``klt-refine``'s. The receiver is slimmable: its
shared trunk (the refiner's encoder: input convolution, high-resolution block, down-sampling and
the low-resolution blocks) runs at a width multiplier ``m_trunk``, the reconstruction decoder
(the refiner's up-sampling path) at ``m_recon``, and each head task's decoder (its hidden layer)
at its own multiplier, all from :data:`WIDTHS`; a narrow module uses the first channels of the
wide one (one set of weights). :meth:`KLTSlimJSCC.set_widths` picks the configuration.

Training (the trainer calls :meth:`KLTSlimJSCC.sandwich` each step) follows the sandwich rule:
the widest configuration, the narrowest and two random ones, each on the same received
signals, their task losses summed; and configuration-invariant knowledge distillation (CI-KD):
each narrow configuration's pooled trunk feature is pulled towards the widest one's (detached),
over the channels they share.

At run time :func:`choose_widths` maps a receiver FLOPs budget and task preferences to widths:
each task's decoder width follows its preference alone (a more preferred task never gets a
narrower decoder), and the trunk gets the width that maximises the preference-weighted
performance, from a table measured once on the validation split (:func:`measure_table`), among
those that fit the budget. FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import channels
from semcomm.errors import FieldError
from semcomm.models.base import JSCCConfig, register_architecture
from semcomm.models.klt_refine import KLTRefineJSCC, KLTRefineOptions
from semcomm.models.softcast import SoftCast
from semcomm.mtl.weighting import TaskLosses
from semcomm.tasks import RECON

if TYPE_CHECKING:
    from semcomm.learn.objective import Objective

__all__ = ["WIDTHS", "KLTSlimJSCC", "KLTSlimOptions", "SlimUNet", "Widths", "choose_widths", "ci_kd_loss", "measure_table",
           "preference_score", "receiver_flops"]

#: The width multipliers of every slimmable part.
WIDTHS = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Widths:
    """A receiver configuration: the trunk's multiplier and each task decoder's (``recon`` and
    the head tasks; a task not listed runs at full width)."""

    trunk: float = 1.0
    decoders: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, m in [("trunk", self.trunk), *self.decoders.items()]:
            if m not in WIDTHS:
                raise ValueError(f"width {m:g} for {name} is not one of {', '.join(f'{w:g}' for w in WIDTHS)}")

    def decoder(self, task: str) -> float:
        return self.decoders.get(task, 1.0)


def _channels(full: int, m: float) -> int:
    return max(1, int(round(full * m)))


class SlimConv2d(nn.Conv2d):
    """A convolution that reads however many input channels it is given (the first of its
    weight's) and writes its first :attr:`active` output channels (None: all)."""

    active: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.out_channels if self.active is None else self.active
        bias = None if self.bias is None else self.bias[:out]
        return F.conv2d(x, self.weight[:out, : x.shape[1]], bias, self.stride, self.padding)


class SlimPReLU(nn.PReLU):
    """PReLU with one slope per channel of its input (the first ones)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight[: x.shape[1]])


class SlimLinear(nn.Linear):
    """A linear layer on the first input features it is given, writing its first :attr:`active` outputs."""

    active: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.out_features if self.active is None else self.active
        return F.linear(x, self.weight[:out, : x.shape[-1]], self.bias[:out])


class SlimResBlock(nn.Module):
    """``x + conv(prelu(conv(x)))`` at the width of its input."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1, self.act1 = SlimConv2d(width, width, 3, padding=1), SlimPReLU(width)
        self.conv2, self.act = SlimConv2d(width, width, 3, padding=1), SlimPReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.conv1.active = self.conv2.active = x.shape[1]
        return self.act(x + self.conv2(self.act1(self.conv1(x))))


class SlimUNet(nn.Module):
    """The refiner U-Net (:class:`~semcomm.models.layers.UNet`) made slimmable: the trunk
    (``inp``, ``high_in``, ``down``, ``low``) at ``m_trunk``, the reconstruction decoder (``up``,
    ``high_out``) at ``m_recon``; the skip adds the channels both have."""

    def __init__(self, image_channels: int, cond_channels: int, width: int, depth: int) -> None:
        super().__init__()
        c4 = 4 * image_channels
        self.width = width
        self.inp = SlimConv2d(c4 + cond_channels, width, 3, padding=1)
        self.high_in = SlimResBlock(width)
        self.down_conv, self.down_act = SlimConv2d(width, 2 * width, 3, stride=2, padding=1), SlimPReLU(2 * width)
        self.low = nn.Sequential(*[SlimResBlock(2 * width) for _ in range(depth)])
        self.up_conv, self.up_act = SlimConv2d(2 * width, 4 * width, 3, padding=1), SlimPReLU(width)
        self.high_out = SlimResBlock(width)
        self.out = SlimConv2d(width, c4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.set_widths(1.0, 1.0)

    def set_widths(self, trunk: float, recon: float) -> None:
        self.inp.active = _channels(self.width, trunk)
        self.down_conv.active = 2 * _channels(self.width, trunk)
        self.up_conv.active = 4 * _channels(self.width, recon)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.pixel_unshuffle(images - 0.5, 2)
        if cond is not None:
            x = torch.cat([x, cond[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        hi = self.high_in(self.inp(x))
        lo = self.low(self.down_act(self.down_conv(hi)))
        up = self.up_act(F.pixel_shuffle(self.up_conv(lo), 2))[..., : hi.shape[-2], : hi.shape[-1]]
        shared = min(up.shape[1], hi.shape[1])
        up = torch.cat([up[:, :shared] + hi[:, :shared], up[:, shared:]], dim=1)
        return F.pixel_shuffle(self.out(self.high_out(up)), 2), lo.mean(dim=(2, 3))


def ci_kd_loss(narrow: torch.Tensor, widest: torch.Tensor) -> torch.Tensor:
    """Configuration-invariant distillation of a narrow configuration's pooled trunk feature
    ``[B, F_n]`` towards the widest one's ``[B, F]`` (detached; its first ``F_n`` channels): the
    squared error relative to the target's energy, ``||f_n - w||² / ||w||²`` per example, averaged.

    Relative, so scaling every feature by one factor leaves it unchanged: a plain MSE is lowest
    when all features shrink to zero, and (measured: ``benchmarks/mtl_compare.py``'s ``slim`` run,
    MNIST) pulled the whole receiver there within an epoch (chance accuracy, a constant image).
    """
    target = widest[:, : narrow.shape[1]].detach()
    error = (narrow - target).square().sum(1)
    return (error / target.square().sum(1).clamp_min(1e-8)).mean()


@dataclass(frozen=True)
class KLTSlimOptions(KLTRefineOptions):
    """Options of ``klt-slim``: those of ``klt-refine`` (no proxy attention) and CI-KD's."""

    ci_kd: bool = field(default=True, metadata={
        "help": "distil each narrow sandwich configuration's trunk feature towards the widest one's (CI-KD), or train "
                "by the sandwich rule alone (the ablation)"})
    ci_kd_weight: float = field(default=1.0, metadata={"help": "the weight of the CI-KD term against the task losses"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.proxy_attention:
            raise FieldError("proxy_attention", "klt-slim does not take {field}")
        if not (isinstance(self.ci_kd_weight, (int, float)) and math.isfinite(self.ci_kd_weight) and self.ci_kd_weight > 0):
            raise FieldError("ci_kd_weight", f"bad {{field}} {self.ci_kd_weight:g}: it must be a number > 0 "
                             "(switch CI-KD off to leave it out)")
        if self.ci_kd_weight != KLTSlimOptions.ci_kd_weight and not self.ci_kd:
            raise FieldError("ci_kd_weight", "{field} weighs CI-KD, which is switched off")


@register_architecture("klt-slim")
class KLTSlimJSCC(KLTRefineJSCC):
    """``klt-refine`` with the slimmable receiver; :meth:`set_widths` picks the configuration."""

    Options = KLTSlimOptions
    description = "klt-refine with a slimmable receiver trained by the sandwich rule and CI-KD"

    def __init__(self, config: JSCCConfig, softcast: SoftCast | None = None) -> None:
        super().__init__(config, softcast)
        c, w = config.image_shape[0], config.options.width
        self.refiner = SlimUNet(c, 2 * config.num_layers, w, depth=4)
        head = lambda outputs: nn.Sequential(SlimLinear(2 * w, 128), SlimPReLU(128), SlimLinear(128, outputs))  # noqa: E731
        self.task_heads = nn.ModuleDict({name: head(h[-1].out_features) for name, h in self.task_heads.items()})
        self.widths = Widths()

    @property
    def decoder_tasks(self) -> list[str]:
        """The tasks with a slimmable decoder: ``recon`` and the layout's heads (``class`` first)."""
        return [RECON, *self.task_heads]

    def set_widths(self, widths: Widths) -> None:
        """Run the receiver in configuration ``widths`` from now on."""
        unknown = [t for t in widths.decoders if t not in self.decoder_tasks]
        if unknown:
            raise ValueError(f"no decoder for task {unknown[0]!r}; this model's: {', '.join(self.decoder_tasks)}")
        self.refiner.set_widths(widths.trunk, widths.decoder(RECON))
        for name, head in self.task_heads.items():
            head[0].active = _channels(128, widths.decoder(name))
        self.widths = widths

    def sandwich(self, generator: torch.Generator) -> list[Widths]:
        """The configurations of one training step: the widest, the narrowest and two drawn
        at random (trunk and every decoder independently)."""
        tasks = self.decoder_tasks
        pick = lambda: WIDTHS[int(torch.randint(0, len(WIDTHS), (), generator=generator))]  # noqa: E731
        random = [Widths(pick(), {t: pick() for t in tasks}) for _ in range(2)]
        return [Widths(1.0, {t: 1.0 for t in tasks}), Widths(WIDTHS[0], {t: WIDTHS[0] for t in tasks}), *random]

    def training_losses(self, images: torch.Tensor, labels: torch.Tensor | None, channel: channels.Channel,
                        snr_db: torch.Tensor, csi: str, decode_layers: torch.Tensor | None, generator: torch.Generator,
                        objective: Objective) -> TaskLosses:
        """The sandwich rule: the same received signals decoded in each of the step's
        configurations (:meth:`sandwich`); the losses are their mean, and (``ci_kd``) each narrow
        configuration's pooled trunk feature is distilled towards the widest one's
        (:func:`ci_kd_loss` times ``ci_kd_weight``, in ``extra``)."""
        sent = self.send(images, channel, snr_db, csi, generator)
        parts: list[TaskLosses] = []
        widest: list[torch.Tensor] = []
        configurations = self.sandwich(generator)
        for widths in configurations:
            self.set_widths(widths)
            out = self.receive(sent.c_hat, sent.noise_var, decode_layers, generator=generator, tiling=sent.tiling)
            losses = objective.losses(self, out, images, labels, decode_layers)
            if not parts:
                widest = [f.detach() for f in out.features]
            elif self.options.ci_kd:
                losses.extra += [self.options.ci_kd_weight * ci_kd_loss(f, w) for f, w in zip(out.features, widest) if f.numel()]
            parts.append(losses)
        self.set_widths(configurations[0])  # back to the widest
        return TaskLosses.mean(parts)  # on the scale of one model's losses


def receiver_flops(model: KLTSlimJSCC, widths: Widths) -> int:
    """FLOPs of the receiver (refiner and heads) decoding one image's top layer in ``widths``."""
    before = model.widths
    model.set_widths(widths)
    c_hat = torch.zeros(1, model.softcast.num_coefficients, device=model.gain_log.device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.receive(c_hat, torch.tensor(0.1), torch.tensor([model.config.num_layers - 1]))  # one training-size tile
    model.set_widths(before)
    return int(counter.get_total_flops())


#: The predicted-performance table: ``table[trunk][task][decoder width]`` = the task's score.
Table = dict[float, dict[str, dict[float, float]]]


def measure_table(model: KLTSlimJSCC, score: Any) -> Table:
    """Each task's score for every trunk width and decoder width: ``score(model)`` evaluates the
    model as configured and returns ``{task: value}`` (higher is better; e.g. top-layer PSNR and
    accuracy on the validation split)."""
    table: Table = {}
    for trunk in WIDTHS:
        table[trunk] = {}
        for width in WIDTHS:
            model.set_widths(Widths(trunk, {t: width for t in model.decoder_tasks}))
            for task, value in score(model).items():
                table[trunk].setdefault(task, {})[width] = float(value)
    model.set_widths(Widths())
    return table


def choose_widths(model: KLTSlimJSCC, budget: float, preferences: dict[str, float], table: Table) -> Widths:
    """The configuration for a receiver FLOPs ``budget`` and task ``preferences`` (each in
    [0, 1]; unlisted tasks 0).

    Each decoder's width follows its task's preference alone: ``WIDTHS[min(3, floor(4 p))]``.
    The trunk takes, among the widths whose configuration fits the budget, the one that
    maximises ``sum_t p_t score_t / score_t(full)`` in ``table``.

    Raises:
        ValueError: one line, for a preference outside [0, 1], an unknown task, or a budget
            below the configuration at the narrowest trunk.
    """
    for task, p in preferences.items():
        if task not in model.decoder_tasks:
            raise ValueError(f"no decoder for task {task!r}; this model's: {', '.join(model.decoder_tasks)}")
        if not 0 <= p <= 1:
            raise ValueError(f"the preference for {task} must lie in [0, 1], got {p:g}")
    decoders = {t: WIDTHS[min(len(WIDTHS) - 1, math.floor(len(WIDTHS) * preferences.get(t, 0.0)))] for t in model.decoder_tasks}
    fitting = [Widths(trunk, decoders) for trunk in WIDTHS if receiver_flops(model, Widths(trunk, decoders)) <= budget]
    if not fitting:
        smallest = receiver_flops(model, Widths(WIDTHS[0], decoders))
        raise ValueError(f"a budget of {budget:.4g} FLOPs is below the smallest configuration for these preferences "
                         f"({smallest:.4g} FLOPs at trunk width {WIDTHS[0]:g})")

    return max(fitting, key=lambda w: (preference_score(model, w, preferences, table), w.trunk))


def preference_score(model: KLTSlimJSCC, widths: Widths, preferences: dict[str, float], table: Table) -> float:
    """What :func:`choose_widths` maximises: ``sum_t p_t score_t(widths) / score_t(full)`` from
    ``table`` (a task's score depends on the trunk and its own decoder's width)."""
    return sum(preferences.get(t, 0.0) * table[widths.trunk][t][widths.decoder(t)] / table[1.0][t][1.0]
               for t in model.decoder_tasks if t in table[widths.trunk])
