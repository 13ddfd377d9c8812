"""Loss weighting for multi-task training.

A multi-resolution JSCC model has ``2 L`` tasks: the distortion (MSE) of each layer's
reconstruction and the cross-entropy of each layer's classifier. A :class:`LossWeighting`
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

__all__ = ["TaskLosses", "LossWeighting", "FixedWeighting", "EqualWeighting", "WEIGHTINGS", "get_weighting"]


@dataclass
class TaskLosses:
    """Per-task losses of one step: ``distortion[l]`` and ``semantic[l]`` are scalars for layer
    ``l``; ``extra`` holds regularisers that every weighting adds with weight 1 (e.g. a
    slimmable receiver's distillation loss), outside the task weighting."""

    distortion: list[torch.Tensor]
    semantic: list[torch.Tensor]
    extra: list[torch.Tensor] = field(default_factory=list)

    def flat(self) -> list[torch.Tensor]:
        """All task losses, distortion tasks first."""
        return [*self.distortion, *self.semantic]


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
    """``sum_l a_l * distortion_l + sum_l b_l * CE_l`` with constant weights.

    Args:
        num_layers: ``L``.
        distortion: ``a`` (a number for every layer, or one per layer).
        semantic: ``b`` (likewise). The default 0.05 puts a trained classifier's CE (~0.05) on
            the scale of a reconstruction MSE of ~2.5e-3 (26 dB), so neither task swamps the other.
    """

    name = "fixed"

    def __init__(self, num_layers: int, distortion: float | Sequence[float] = 1.0, semantic: float | Sequence[float] = 0.05) -> None:
        super().__init__()
        self.a = _per_layer(distortion, num_layers, "distortion")
        self.b = _per_layer(semantic, num_layers, "semantic")

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        return sum(a * d for a, d in zip(self.a, losses.distortion)) + sum(
            b * s for b, s in zip(self.b, losses.semantic)
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


WEIGHTINGS: Registry[LossWeighting] = Registry("loss weighting")
WEIGHTINGS.register("fixed", FixedWeighting)
WEIGHTINGS.register("equal", EqualWeighting)


def get_weighting(name: str, num_layers: int, **kwargs: Any) -> LossWeighting:
    """Instantiate the loss weighting registered as ``name`` for ``num_layers`` layers."""
    return WEIGHTINGS.get(name, num_layers=num_layers, **kwargs)
