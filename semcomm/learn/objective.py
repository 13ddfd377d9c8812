"""The training objective: one loss per (task, layer) of a model's outputs.

:class:`Objective` is built once per run from the model's task layout and the training data's
description (each task's target and loss resolved once, not per step); each step it turns a
model's :class:`~semcomm.models.JSCCOutput` into :class:`~semcomm.mtl.TaskLosses`: ``recon``
scored by the distortion loss (:data:`DISTORTIONS`), every head task by the model's
:meth:`~semcomm.models.JSCCModel.task_loss` against the task's target. A loss weighting then
turns them into the step's total.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from semcomm.mtl.weighting import TaskLosses
from semcomm.tasks import RECON, TaskLayout, get_task

if TYPE_CHECKING:
    from semcomm.data.info import DatasetInfo
    from semcomm.models.base import JSCCModel, JSCCOutput

__all__ = ["DISTORTIONS", "LOSS_TO_PSNR", "Objective", "psnr_from_mse"]


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of images in [0, 1] with mean squared error ``mse``."""
    return 10 * math.log10(1 / max(mse, 1e-10))


#: Reconstruction losses: ``(recon, target) -> scalar``: ``"mse"`` (the batch MSE) or
#: ``"log-mse"`` (the batch mean of ``log10`` of each image's MSE, i.e. minus the mean per-image
#: PSNR / 10: the metric itself, and every SNR of the range weighs alike, where the MSE is
#: dominated by the noisiest examples).
DISTORTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "log-mse": lambda r, x: torch.log10((r - x).square().flatten(1).mean(1) + 1e-10).mean(),
}
#: The PSNR (dB) a mean distortion loss means.
LOSS_TO_PSNR: dict[str, Callable[[float], float]] = {
    "mse": lambda v: psnr_from_mse(v),
    "log-mse": lambda v: -10.0 * v,
}


class Objective:
    """Each layer's task losses from a model's outputs.

    Args:
        distortion: the reconstruction loss (:data:`DISTORTIONS`).
        layout: the model's tasks per layer.
        dataset: the training data's description (the tasks' targets).
    """

    def __init__(self, distortion: str, layout: TaskLayout, dataset: DatasetInfo) -> None:
        self.distortion = DISTORTIONS[distortion]
        self.layout = layout
        self.tasks = {name: get_task(name, dataset) for name in layout.head_tasks()}

    def losses(self, model: JSCCModel, out: JSCCOutput, images: torch.Tensor, labels: torch.Tensor | None,
               decode_layers: torch.Tensor | None) -> TaskLosses:
        """Every (task, layer) loss of ``out`` for the batch ``images`` ``[B, C, H, W]`` (labels
        ``[B]`` or None); with ``decode_layers`` ``[B]`` layer ``l``'s outputs are those of the
        examples that decoded it (zeros for a layer none decoded)."""
        zero = images.new_zeros(())
        losses: dict[tuple[str, int], torch.Tensor] = {}
        for l, names in enumerate(self.layout.layers):
            picked = slice(None) if decode_layers is None else decode_layers == l
            x = images[picked]
            y = None if labels is None else labels[picked]
            present = bool(x.shape[0])
            for name in names:
                if not present:
                    losses[(name, l)] = zero
                elif name == RECON:
                    losses[(name, l)] = self.distortion(out.recon[l], x)
                else:
                    if l >= len(out.tasks) or name not in out.tasks[l]:
                        raise ValueError(f"the {model.config.arch} model gave no output for task {name!r} at layer {l + 1} "
                                         "though its layout has it")
                    losses[(name, l)] = model.task_loss(name, out.tasks[l][name], self.tasks[name].target(x, y))
        return TaskLosses(losses, len(self.layout.layers), [], zero)
