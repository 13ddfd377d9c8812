"""Uncertainty-aware attention over proxy tasks (after Wu et al., "Uncertainty Aware
Physically Guided Proxy Tasks for Unseen Domain Face Anti-Spoofing").

The receiver's pooled feature ``f`` ``[N, F]`` feeds one branch per proxy cue ``p``
(:mod:`semcomm.tasks.proxy`): ``h_p = MLP_p(f)`` ``[N, H]``, from which the branch predicts
the cue ``y_p`` ``[N, D_p]`` and an uncertainty ``v_p = exp(-softplus(u_p))`` in (0, 1]: the
fraction of the cue's variance it expects to leave unexplained for this example. The branch is
trained with the Gaussian negative log-likelihood of the cue with variance ``v_p V_p``
(``V_p``: a running mean of the cue's variance over the training batches), so at the optimum
``v_p`` is the example's ``1 - R^2``. Each proxy's contribution to the main tasks' feature is
gated by its own uncertainty, not by a softmax over proxies:

    f' = f + sum_p g_p W_p h_p,    g_p = 1 - v_p  in [0, 1).

A cue the receiver cannot predict (``R^2 -> 0``) has its gate driven to zero, so it cannot
pollute the main task; a well-predicted cue contributes fully. The main tasks' heads
(``class``, the coarse concepts) read ``f'``. The injections ``W_p`` start at zero, so the
untrained ``f'`` is ``f``: randomly initialised, they added every branch's random projection
to the main feature and the class loss started above chance (measured:
``benchmarks/mtl_compare.py``'s ``proxy-attn`` run, MNIST, cross-entropy 4.0 after the first
epoch, 23 % accuracy after the third, where the same run without proxies reached 60 %).

The branches' NLL reaches the shared receiver, and it is scale-free, so next to a class loss it
steers the shared feature as strongly as the class does; each branch's loss is therefore
weighted (``weight``, Wu et al.'s proxy-loss weight; ``--proxy-weight``, default 0.1).
Measured on ``benchmarks/mtl_compare.py``'s MNIST budget (3 epochs of 10,000 images): at weight
1 the class cross-entropy stood at 3.1 after the first epoch (above chance) and the top layer
classified 44 % at 10 dB, the same with the injections removed (so the shared feature, not the
injection, was hurt); at 0.1 it classified 89 % (93 % without proxies).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UncertaintyProxyAttention", "gate_of", "uncertainty_nll"]


def gate_of(raw: torch.Tensor) -> torch.Tensor:
    """Gate ``1 - exp(-softplus(u))`` in [0, 1) of raw uncertainty logits ``u`` (any shape)."""
    return -torch.expm1(-F.softplus(raw))


def uncertainty_nll(prediction: torch.Tensor, target: torch.Tensor, cue_variance: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian NLL (constants dropped) of a branch's output ``[N, D + 1]`` (the cue, then
    the raw uncertainty ``u``) against the cue ``[N, D]``, with variance ``v V`` per value,
    ``v = exp(-softplus(u))`` and ``V`` = ``cue_variance`` (a scalar tensor)."""
    log_v = -F.softplus(prediction[:, -1:])  # [N, 1]
    squared = (prediction[:, :-1] - target).square() / cue_variance.clamp_min(1e-8)
    return (0.5 * squared * torch.exp(-log_v) + 0.5 * log_v).mean()


class UncertaintyProxyAttention(nn.Module):
    """Proxy branches and their uncertainty gates on a pooled feature.

    Args:
        features: ``F``, the width of the pooled feature.
        proxies: proxy name -> the width ``D_p`` of its cue.
        hidden: ``H``, the width of each branch.
        momentum: of the running cue variances ``V_p``.
        weight: each branch's NLL is multiplied by it in :meth:`loss`.
    """

    def __init__(self, features: int, proxies: dict[str, int], hidden: int = 128, momentum: float = 0.01,
                 weight: float = 1.0) -> None:
        super().__init__()
        self.names = list(proxies)
        self.momentum = momentum
        self.weight = weight
        self.branches = nn.ModuleDict({p: nn.Sequential(nn.Linear(features, hidden), nn.PReLU()) for p in proxies})
        self.outputs = nn.ModuleDict({p: nn.Linear(hidden, d + 1) for p, d in proxies.items()})
        self.inject = nn.ModuleDict({p: nn.Linear(hidden, features, bias=False) for p in proxies})
        for layer in self.inject.values():  # f' = f at the start: a cue adds to the main feature only what it learns to
            nn.init.zeros_(layer.weight)
        self.register_buffer("cue_variance", torch.ones(len(proxies)))
        self.register_buffer("seen", torch.zeros(len(proxies), dtype=torch.bool))  # V_p starts at the first batch's

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``f`` ``[N, F]`` -> (the main tasks' feature ``f'`` ``[N, F]``, each proxy's output
        ``[N, D_p + 1]``: its cue prediction, then the raw uncertainty ``u_p``)."""
        out, main = {}, feature
        for p in self.names:
            hidden = self.branches[p](feature)
            out[p] = self.outputs[p](hidden)
            main = main + gate_of(out[p][:, -1:]) * self.inject[p](hidden)
        return main, out

    def loss(self, name: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The branch's NLL times ``weight``; in training mode it first folds the batch's cue
        variance into ``V_p``."""
        index = self.names.index(name)
        if self.training and target.shape[0] > 1:
            with torch.no_grad():
                batch = target.var(dim=0, correction=0).mean()
                weight = self.momentum if bool(self.seen[index]) else 1.0
                self.cue_variance[index].lerp_(batch, weight)
                self.seen[index] = True
        return self.weight * uncertainty_nll(prediction, target, self.cue_variance[index])
