"""GradSplit (Deng et al., WACV 2023): task-specific gradient splitting in the shared receiver.

The model declares a series of convolutions of its shared receiver trunk
(``model.split_modules()``; ``klt-refine``: every convolution of the refiner U-Net but its
output one). Each one's output channels are cut into ``T`` contiguous groups, one per task
type: here ``T = 2``, the reconstruction (every layer's distortion) and the semantic task (every
layer's head losses). The forward pass is unchanged, features stay shared; only the gradients
are split: the weight and bias rows of group ``t`` are updated by the losses of the task types
``s`` with ``relation[s][t] = 1``. The default relation is "own task only" (the identity);
any 0/1 matrix may be given, asymmetric ones included (``[[1, 1], [0, 1]]``: the
reconstruction also trains the semantic group, not the reverse), as in the paper. Every other shared
parameter gets the plain weighted sum's gradient, as do the task heads.

Losses are weighted as by ``fixed``: distortion 1, semantic ``semantic`` (0.05).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from semcomm.mtl.adaptive import GradientCombiner
from semcomm.mtl.weighting import WEIGHTINGS, _per_layer

__all__ = ["GradSplit", "TASK_TYPES"]

#: The task types whose groups GradSplit keeps apart, in group order.
TASK_TYPES = ("recon", "semantic")


class GradSplit(GradientCombiner):
    """GradSplit over the model's declared convolutions.

    Args:
        num_layers: ``L``.
        semantic: weight of each layer's semantic loss (one for all layers or one per layer;
            the distortion's is 1).
        relation: ``T x T`` 0/1, ``relation[s][t]``: whether task type ``s``
            (:data:`TASK_TYPES` order) updates group ``t``; None: the identity.
    """

    name = "gradsplit"

    def __init__(self, num_layers: int, semantic: float | Sequence[float] = 0.05,
                 relation: Sequence[Sequence[float]] | None = None) -> None:
        super().__init__(num_layers)
        t = len(TASK_TYPES)
        relation = [[int(s == g) for g in range(t)] for s in range(t)] if relation is None else relation
        if len(relation) != t or any(len(row) != t for row in relation):
            shape = f"{len(relation)} rows of {', '.join(str(len(r)) for r in relation)}"
            raise ValueError(f"--gradsplit-relation must be {t} x {t} (rows and columns: {', '.join(TASK_TYPES)}), got {shape}")
        if any(v not in (0, 1) for row in relation for v in row):
            raise ValueError(f"--gradsplit-relation entries must be 0 or 1, got {[list(r) for r in relation]}")
        #: relation[s][t]: whether task type s updates group t.
        self.relation = [[int(v) for v in row] for row in relation]
        self.semantic = _per_layer(semantic, num_layers, "semantic")
        self.masks: torch.Tensor | None = None  # [T, P], set by attach

    def task_weights(self) -> list[float]:
        return [1.0] * self.num_layers + self.semantic

    def attach(self, model: nn.Module) -> None:
        """Build, for each task type, the 0/1 mask ``[P]`` over the flattened shared parameters
        of what its losses may update."""
        split = getattr(model, "split_modules", None)
        if split is None:
            raise ValueError(f"--weighting gradsplit needs a model that declares its split convolutions (klt-refine), "
                             f"not {type(model).__name__}")
        groups: dict[int, torch.Tensor] = {}  # id(parameter) -> group of each row
        for conv in split():
            rows = conv.out_channels
            group = torch.arange(rows) * len(TASK_TYPES) // rows
            for p in (conv.weight, conv.bias):
                if p is not None:
                    groups[id(p)] = group
        allowed = torch.tensor(self.relation, dtype=torch.float32)  # [T, T]
        masks = []
        for p in model.shared_parameters():
            if id(p) in groups:
                rows = allowed[:, groups[id(p)]]  # [T, rows]: may task type s update this row
                masks.append(rows[:, :, None].expand(-1, -1, p[0].numel()).reshape(len(TASK_TYPES), -1))
            else:
                masks.append(torch.ones(len(TASK_TYPES), p.numel()))
        self.masks = torch.cat(masks, dim=1)

    def combine(self, grads: list[torch.Tensor], tasks: list[int]) -> torch.Tensor:
        if self.masks is None:
            raise RuntimeError("GradSplit.attach(model) must run before training")
        masks = self.masks.to(grads[0].device)
        return sum(masks[k // self.num_layers] * g for g, k in zip(grads, tasks))  # type: ignore[return-value]


WEIGHTINGS.register(GradSplit.name, GradSplit)
