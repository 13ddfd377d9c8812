"""Loss weighting for multi-task training.

A multi-resolution JSCC model has a loss per (task, layer) (:class:`TaskLosses`): the distortion
of each layer's reconstruction and each receiver-side task's loss at each layer that serves it.
The classic weightings balance ``2 L`` of them: each layer's distortion and the sum of its other
tasks' losses; ``fixed`` also weighs tasks apart (``task_weights``). A :class:`LossWeighting`
turns the per-task losses of a step into the scalar to back-propagate:

    total = weighting(losses, shared_params)

It sees every task's loss each step and, optionally, the shared parameters, which is what
adaptive schemes need (uncertainty weighting learns log-variances; GradNorm and PCGrad look at
per-task gradients on shared parameters; DWA tracks loss ratios across epochs). A weighting
may own parameters (it is an ``nn.Module``; the trainer optimises them with the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from semcomm.registry import Registry

#: The layout's name of the reconstruction task (:data:`semcomm.tasks.RECON`).
RECON_TASK = "recon"

__all__ = ["TaskLosses", "LossWeighting", "FixedWeighting", "EqualWeighting", "WEIGHTINGS", "get_weighting"]


@dataclass
class TaskLosses:
    """The losses of one step, keyed by (task, layer).

    Attributes:
        losses: ``(task, l) -> scalar``, ``l`` 0-based, for every task of layer ``l + 1`` in
            the model's layout (``"recon"`` is the layer's distortion); a layer whose examples
            the step did not decode holds zeros.
        num_layers: ``L``.
        extra: regularisers that every weighting adds with weight 1 (a slimmable receiver's
            distillation loss, a routed receiver's compute penalty), outside the task weighting.
        zero: a scalar zero on the losses' device (what a view gives where a layer has no such
            task).

    The per-layer views :attr:`distortion` (``recon``) and :attr:`semantic` (the sum of the
    layer's other tasks) are the ``2 L`` "tasks" that the classic weightings balance.
    """

    losses: dict[tuple[str, int], torch.Tensor]
    num_layers: int
    extra: list[torch.Tensor] = field(default_factory=list)
    zero: torch.Tensor = field(default_factory=lambda: torch.zeros(()))

    @property
    def distortion(self) -> list[torch.Tensor]:
        """Each layer's ``recon`` loss (zero for a layer without it)."""
        return [self.losses.get((RECON_TASK, l), self.zero) for l in range(self.num_layers)]

    @property
    def semantic(self) -> list[torch.Tensor]:
        """Each layer's sum of its other tasks' losses (zero for a layer without any)."""
        out = []
        for l in range(self.num_layers):
            parts = [v for (task, layer), v in self.losses.items() if layer == l and task != RECON_TASK]
            out.append(torch.stack(parts).sum() if parts else self.zero)
        return out

    def tasks(self) -> list[str]:
        """The tasks that have a loss, in first-appearance order."""
        return list(dict.fromkeys(task for task, _ in self.losses))

    def flat(self) -> list[torch.Tensor]:
        """All ``2 L`` per-layer losses, distortion first."""
        return [*self.distortion, *self.semantic]

    @classmethod
    def from_layers(cls, distortion: Sequence[torch.Tensor], semantic: Sequence[torch.Tensor],
                    extra: Sequence[torch.Tensor] = ()) -> TaskLosses:
        """Per-layer distortion and semantic losses as ``("recon", l)`` and ``("semantic", l)``
        (the ``2 L``-task view given directly: tests, tools)."""
        losses = {(RECON_TASK, l): d for l, d in enumerate(distortion)} | {("semantic", l): s for l, s in enumerate(semantic)}
        zero = next(iter(losses.values())).new_zeros(()) if losses else torch.zeros(())
        return cls(losses, len(distortion), list(extra), zero)

    @staticmethod
    def mean(parts: Sequence[TaskLosses]) -> TaskLosses:
        """The mean over ``parts`` (the same keys and layers) of every loss and regulariser
        (each regulariser list is concatenated, then scaled)."""
        n = len(parts)
        keys = list(parts[0].losses)
        losses = {k: torch.stack([p.losses[k] for p in parts]).sum() / n for k in keys}
        extra = [e / n for p in parts for e in p.extra]
        return TaskLosses(losses, parts[0].num_layers, extra, parts[0].zero)


class LossWeighting(nn.Module):
    """Base class: maps per-task losses (and optionally shared parameters) to one scalar.

    The trainer calls :meth:`backward` once per step (after zeroing the gradients) and
    :meth:`end_epoch` after every epoch. A scheme that combines gradients rather than losses
    (PCGrad) overrides :meth:`backward`; one that follows the losses across epochs (DWA)
    overrides :meth:`end_epoch`.

    Attributes:
        name: registry name.
        needs_positive_losses: the scheme divides or takes ratios of losses (uncertainty,
            DWA, GradNorm), so every task loss must be >= 0 (e.g. ``--distortion mse``, not
            ``log-mse``).
        lr: the learning rate of the scheme's own parameters (None: the model's), for the
            schemes that learn some (uncertainty, GradNorm): at the model's rate they move too
            little in a short run to balance losses that lie orders of magnitude apart.
    """

    name: str = "base"
    needs_positive_losses: bool = False
    lr: float | None = None

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        raise NotImplementedError

    def total(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        """The weighted task losses plus the regularisers (``losses.extra``)."""
        total = self(losses, shared_params)
        return total + torch.stack(losses.extra).sum() if losses.extra else total

    def backward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter]) -> torch.Tensor:
        """Fill the ``.grad`` of every parameter for this step; returns the (detached) total."""
        total = self.total(losses, shared_params)
        total.backward()
        return total.detach()

    def end_epoch(self, mean_losses: list[float]) -> None:
        """Called with the epoch's mean of every task loss (:meth:`TaskLosses.flat` order)."""

    def attach(self, model: nn.Module) -> None:
        """Called once with the model before training (a scheme that acts on modules the model
        declares, such as GradSplit's split convolutions, finds them here)."""

    def current_weights(self) -> dict[str, list[float]]:
        """The weights in force, for logging: ``{"distortion": [...], "semantic": [...]}``."""
        raise NotImplementedError


class FixedWeighting(LossWeighting):
    """``sum_l a_l * distortion_l + sum_l b_l * sum_t w_t * loss_{t,l}`` with constant weights.

    Args:
        num_layers: ``L``.
        distortion: ``a`` (a number for every layer, or one per layer).
        semantic: ``b`` (likewise). The default 0.05 puts a trained classifier's CE (~0.05) on
            the scale of a reconstruction MSE of ~2.5e-3 (26 dB), so neither task swamps the other.
        task_weights: ``w_t``, a factor per task within each layer's semantic sum (a task not
            listed: 1), e.g. ``{"coarse2": 0.5}``.
    """

    name = "fixed"

    def __init__(self, num_layers: int, distortion: float | Sequence[float] = 1.0, semantic: float | Sequence[float] = 0.05,
                 task_weights: dict[str, float] | None = None) -> None:
        super().__init__()
        self.a = _per_layer(distortion, num_layers, "distortion")
        self.b = _per_layer(semantic, num_layers, "semantic")
        self.task_weights = {str(t): float(w) for t, w in (task_weights or {}).items()}
        bad = {t: w for t, w in self.task_weights.items() if not w >= 0}
        if bad:
            raise ValueError(f"task weights must be >= 0, got {bad}")

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        if not self.task_weights:
            semantic = losses.semantic
        else:
            semantic = []
            for l in range(losses.num_layers):
                parts = [self.task_weights.get(task, 1.0) * v for (task, layer), v in losses.losses.items()
                         if layer == l and task != RECON_TASK]
                semantic.append(torch.stack(parts).sum() if parts else losses.zero)
        return sum(a * d for a, d in zip(self.a, losses.distortion)) + sum(
            b * s for b, s in zip(self.b, semantic)
        )

    def current_weights(self) -> dict[str, list[float]]:
        return {"distortion": list(self.a), "semantic": list(self.b)}


class EqualWeighting(FixedWeighting):
    """Every task weight 1 (the plain sum of all ``2 L`` losses)."""

    name = "equal"

    def __init__(self, num_layers: int) -> None:
        super().__init__(num_layers, distortion=1.0, semantic=1.0)


def _per_layer(value: float | Sequence[float], num_layers: int, what: str) -> list[float]:
    values = [float(value)] * num_layers if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != num_layers:
        raise ValueError(f"{what} weights: got {len(values)} values for {num_layers} layers")
    if any(v < 0 for v in values):
        raise ValueError(f"{what} weights must be >= 0, got {values}")
    return values


WEIGHTINGS: Registry[LossWeighting] = Registry("loss weighting", group="semcomm.weightings", package="semcomm.mtl")
WEIGHTINGS.register("fixed", FixedWeighting)
WEIGHTINGS.register("equal", EqualWeighting)


def get_weighting(name: str, num_layers: int, **kwargs: Any) -> LossWeighting:
    """Instantiate the loss weighting registered as ``name`` for ``num_layers`` layers."""
    return WEIGHTINGS.get(name, num_layers=num_layers, **kwargs)
