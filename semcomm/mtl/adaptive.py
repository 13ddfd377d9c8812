"""The classic adaptive loss weightings: uncertainty, DWA, GradNorm and PCGrad.

Each sees the ``2 L`` task losses of a step in :meth:`TaskLosses.flat` order (the distortion of
every layer, then its cross-entropy) and the parameters the model declares shared
(``model.shared_parameters()``).

- :class:`UncertaintyWeighting` (Kendall, Gal and Cipolla, CVPR 2018): learned log-variances
  ``s_k``; total ``sum_k exp(-s_k) L_k / 2 + s_k / 2``. At the optimum ``exp(s_k) = L_k``: a
  noisier task gets a larger variance and a smaller weight.
- :class:`DynamicWeightAverage` (Liu, Johns and Davison, CVPR 2019): ``w_k = K softmax(r_k / T)``
  with ``r_k = L_k(t-1) / L_k(t-2)`` the ratio of the last two epochs' mean losses (1 for the
  first two epochs): a task whose loss falls slowly gets more weight.
- :class:`GradNorm` (Chen et al., ICML 2018): learned weights ``w_k`` (summing to ``K``) pulled
  by ``sum_k |G_k - mean(G) r_k^alpha|``, ``G_k = ||grad_shared(w_k L_k)||`` and ``r_k`` the
  task's loss ratio ``L_k(t) / L_k(0)`` over its mean: the weighted gradient norms on the shared
  parameters equalise (``alpha = 0``) or favour the slower tasks.
- :class:`PCGrad` (Yu et al., NeurIPS 2020): per-task gradients on the shared parameters; each
  one that conflicts with another (negative inner product) is projected onto that one's normal
  plane; the shared gradient is the sum of the projected ones, the other parameters get the
  plain sum's gradient.

A task loss that does not depend on the parameters this step (a layer that no example decoded
when layers are sampled) is left out of the gradient-based schemes' per-task gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from semcomm.mtl.weighting import WEIGHTINGS, LossWeighting, TaskLosses

__all__ = ["DynamicWeightAverage", "GradNorm", "GradientCombiner", "PCGrad", "UncertaintyWeighting"]


def _split(weights: torch.Tensor, num_layers: int) -> dict[str, list[float]]:
    values = [round(float(w), 6) for w in weights]
    return {"distortion": values[:num_layers], "semantic": values[num_layers:]}


def _own_lr(scheme: str, lr: float | None) -> float | None:
    """A scheme's ``lr`` option, checked."""
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"{scheme}: lr must be a number > 0 (the learning rate of its own parameters), got {lr}")
    return None if lr is None else float(lr)


class UncertaintyWeighting(LossWeighting):
    """Homoscedastic-uncertainty weighting; ``log_var`` ``[2 L]`` is learned with the model, at
    the learning rate ``lr`` (None: the model's)."""

    name = "uncertainty"
    needs_positive_losses = True

    def __init__(self, num_layers: int, lr: float | None = None) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.lr = _own_lr("uncertainty", lr)
        self.log_var = nn.Parameter(torch.zeros(2 * num_layers))

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        flat = torch.stack(losses.flat())
        return (0.5 * torch.exp(-self.log_var) * flat + 0.5 * self.log_var).sum()

    def current_weights(self) -> dict[str, list[float]]:
        return _split(0.5 * torch.exp(-self.log_var.detach()), self.num_layers)


class DynamicWeightAverage(LossWeighting):
    """DWA with temperature ``temperature`` (the paper's T = 2)."""

    name = "dwa"
    needs_positive_losses = True

    def __init__(self, num_layers: int, temperature: float = 2.0) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"dwa: temperature must be > 0, got {temperature}")
        self.num_layers = num_layers
        self.temperature = float(temperature)
        self.register_buffer("history", torch.zeros(0, 2 * num_layers, dtype=torch.float64))  # epoch means
        self.register_buffer("weights", torch.ones(2 * num_layers, dtype=torch.float64))

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        flat = torch.stack(losses.flat())
        return (self.weights.to(flat.dtype) * flat).sum()

    def end_epoch(self, mean_losses: list[float]) -> None:
        means = torch.tensor(mean_losses, dtype=torch.float64)[None]
        self.history = torch.cat([self.history, means])[-2:]
        if len(self.history) == 2:
            ratio = self.history[1] / self.history[0].clamp_min(1e-12)
            self.weights = len(ratio) * torch.softmax(ratio / self.temperature, dim=0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.history = torch.zeros_like(state_dict[prefix + "history"])  # its length varies over epochs
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def current_weights(self) -> dict[str, list[float]]:
        return _split(self.weights, self.num_layers)


def _task_gradients(flat: list[torch.Tensor], shared: Sequence[nn.Parameter]) -> list[torch.Tensor | None]:
    """Each loss's gradient on the shared parameters, flattened (None for a loss that does not
    depend on them this step)."""
    out: list[torch.Tensor | None] = []
    for loss in flat:
        if not loss.requires_grad:
            out.append(None)
            continue
        grads = torch.autograd.grad(loss, list(shared), retain_graph=True, allow_unused=True)
        out.append(torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, shared)]))
    return out


class GradNorm(LossWeighting):
    """GradNorm with asymmetry ``alpha`` (the paper's 1.5); ``weights`` ``[2 L]`` are learned by
    the GradNorm loss only, at the learning rate ``lr`` (None: the model's), the model by
    ``sum_k w_k L_k``."""

    name = "gradnorm"
    needs_positive_losses = True

    def __init__(self, num_layers: int, alpha: float = 1.5, lr: float | None = None) -> None:
        super().__init__()
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"gradnorm: alpha must be >= 0, got {alpha}")
        self.num_layers = num_layers
        self.lr = _own_lr("gradnorm", lr)
        self.alpha = float(alpha)
        self.raw = nn.Parameter(torch.ones(2 * num_layers))
        self.register_buffer("initial", torch.zeros(2 * num_layers))  # L_k(0); 0: not seen yet

    def normalised(self) -> torch.Tensor:
        """The weights, positive and summing to the number of tasks."""
        w = self.raw.abs() + 1e-8
        return len(w) * w / w.sum()

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        flat = torch.stack(losses.flat())
        return (self.normalised().detach() * flat).sum()

    def backward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter]) -> torch.Tensor:
        flat = losses.flat()
        grads = _task_gradients(flat, shared_params)
        live = [k for k, g in enumerate(grads) if g is not None]
        with torch.no_grad():
            for k in live:
                if self.initial[k] == 0:
                    self.initial[k] = flat[k].detach().clamp_min(1e-12)
        total = self.total(losses, shared_params)
        total.backward()
        if len(live) > 1:
            w = self.normalised()[live]
            norms = torch.stack([grads[k].norm() for k in live]).detach()  # type: ignore[union-attr]
            g = w * norms  # G_k, differentiable in the weights
            ratio = torch.stack([flat[k].detach() / self.initial[k] for k in live])
            target = (g.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
            (self.raw.grad,) = torch.autograd.grad((g - target).abs().sum(), [self.raw])
        return total.detach()

    def current_weights(self) -> dict[str, list[float]]:
        return _split(self.normalised().detach(), self.num_layers)


class GradientCombiner(LossWeighting):
    """Base of the schemes that combine the per-task gradients on the shared parameters into
    one (PCGrad, Jacobian descent, GradSplit): the other parameters get the plain sum's
    gradient, the shared ones :meth:`combine`'s result plus the regularisers' gradient."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.num_layers = num_layers

    def task_weights(self) -> list[float]:
        """The constant weight of each task loss (:meth:`TaskLosses.flat` order): 1 each."""
        return [1.0] * (2 * self.num_layers)

    def forward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter] | None = None) -> torch.Tensor:
        return sum(w * loss for w, loss in zip(self.task_weights(), losses.flat()))  # type: ignore[return-value]

    def combine(self, grads: list[torch.Tensor], tasks: list[int]) -> torch.Tensor:
        """The shared parameters' gradient ``[P]`` from the live tasks' gradients (each ``[P]``,
        of the weighted loss), ``tasks`` their indices in :meth:`TaskLosses.flat` order."""
        raise NotImplementedError

    def backward(self, losses: TaskLosses, shared_params: Sequence[nn.Parameter]) -> torch.Tensor:
        weighted = [w * loss for w, loss in zip(self.task_weights(), losses.flat())]
        per_task = _task_gradients(weighted, shared_params)
        tasks = [k for k, g in enumerate(per_task) if g is not None]
        (regularisers,) = _task_gradients([torch.stack(losses.extra).sum()], shared_params) if losses.extra else (None,)
        total = self.total(losses, shared_params)
        total.backward()
        if tasks:
            combined = self.combine([per_task[k] for k in tasks], tasks)  # type: ignore[misc]
            if regularisers is not None:  # added to the combination, not combined
                combined = combined + regularisers
            start = 0
            for p in shared_params:
                p.grad = combined[start : start + p.numel()].view_as(p).clone()
                start += p.numel()
        return total.detach()

    def current_weights(self) -> dict[str, list[float]]:
        return _split(torch.ones(2 * self.num_layers), self.num_layers)


class PCGrad(GradientCombiner):
    """Projecting conflicting gradients on the shared parameters (task order: a seeded shuffle
    per step, as in the paper)."""

    name = "pcgrad"

    def __init__(self, num_layers: int, seed: int = 0) -> None:
        super().__init__(num_layers)
        self.seed = int(seed)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))  # saved: a resumed run shuffles alike

    @staticmethod
    def project(grads: list[torch.Tensor], order: list[list[int]]) -> torch.Tensor:
        """The sum of the projected gradients: ``g_k`` is projected in turn onto the normal plane
        of every original ``g_j`` (in ``order[k]``) it conflicts with."""
        out = []
        for k, g in enumerate(grads):
            g = g.clone()
            for j in order[k]:
                dot = torch.dot(g, grads[j])
                if j != k and dot < 0:
                    g = g - dot / grads[j].square().sum().clamp_min(1e-20) * grads[j]
            out.append(g)
        return torch.stack(out).sum(dim=0)

    def combine(self, grads: list[torch.Tensor], tasks: list[int]) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.step))
        self.step += 1
        return self.project(grads, [torch.randperm(len(grads), generator=generator).tolist() for _ in grads])


WEIGHTINGS.register(UncertaintyWeighting.name, UncertaintyWeighting)
WEIGHTINGS.register(DynamicWeightAverage.name, DynamicWeightAverage)
WEIGHTINGS.register(GradNorm.name, GradNorm)
WEIGHTINGS.register(PCGrad.name, PCGrad)
