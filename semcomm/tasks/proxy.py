"""Proxy tasks: physically guided image cues computed from the source image at the
transmitter and regressed by the receiver (after Wu et al., "Uncertainty Aware Physically
Guided Proxy Tasks", where depth, reflection and material cues help the main task):

- ``edges``: the Sobel gradient magnitude of the luminance, average-pooled to 8 x 8 (where
  the image's structure is);
- ``thumb``: the 8 x 8 average-pooled image (its layout and colours, ``C x 64`` values);
- ``colour``: each channel's mean and standard deviation (``2 C`` values).

Each is regressed with the MSE; its score is the per-example MSE (lower is better). Under
uncertainty-aware attention (:mod:`semcomm.tasks.proxy_attention`) a branch outputs one more
column, its raw uncertainty, and its scores add the ``gate`` that column opens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semcomm.tasks.base import TASKS, Task

__all__ = ["ColourTask", "EdgesTask", "ProxyTask", "ThumbTask", "sobel_magnitude"]

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_LUMA = (0.299, 0.587, 0.114)


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude ``[B, 1, H, W]`` of the luminance of ``[B, C, H, W]`` (replicated
    borders; a grey image is its own luminance)."""
    luma = images if images.shape[1] == 1 else (images * torch.tensor(_LUMA, device=images.device)[:, None, None]).sum(1, keepdim=True)
    kernels = torch.stack([_SOBEL, _SOBEL.T])[:, None].to(images)  # [2, 1, 3, 3]
    grad = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"), kernels)
    return grad.square().sum(1, keepdim=True).sqrt()


class ProxyTask(Task):
    """A regressed image cue; subclasses define :meth:`cue` ``[B, C, H, W] -> [B, outputs]``."""

    metric = "mse"
    metric_label = "MSE of the cue"
    higher_is_better = False

    def cue(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def outputs(self) -> int:
        return self.cue(torch.zeros(1, self.dataset.channels, 16, 16)).shape[1]

    def target(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.cue(images)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction, target)

    def scores(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"mse": (prediction[:, : target.shape[1]] - target).square().mean(-1).double()}
        if prediction.shape[1] == target.shape[1] + 1:  # an uncertainty-aware branch
            from semcomm.tasks.proxy_attention import gate_of

            out["gate"] = gate_of(prediction[:, -1]).double()
        return out


class EdgesTask(ProxyTask):
    name = "edges"

    def cue(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(sobel_magnitude(images), 8).flatten(1)


class ThumbTask(ProxyTask):
    name = "thumb"

    def cue(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 8).flatten(1)


class ColourTask(ProxyTask):
    name = "colour"

    def cue(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(2)
        return torch.cat([flat.mean(-1), flat.std(-1, correction=0)], dim=1)


for _task in (EdgesTask, ThumbTask, ColourTask):
    TASKS.register(_task.name, _task)
