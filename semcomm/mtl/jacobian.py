"""Jacobian descent (Quinton and Rey, 2024) through ``torchjd``: ``upgrad`` and ``imtl-g``.

Each step the per-task gradients on the shared parameters (the model's
``shared_parameters()``) form the Jacobian ``J`` ``[T, P]`` (one row per task loss that depends
on them this step, in :meth:`TaskLosses.flat` order). A ``torchjd`` aggregator maps it to one
update direction:

- ``upgrad`` (:class:`torchjd.aggregation.UPGrad`): the mean of the rows, each projected onto
  the dual cone of the rows, ``{v : J v >= 0}``; the direction conflicts with no task
  (``J A(J) >= 0``, up to the small ridge, 1e-4 of the normalised Gramian's diagonal, that
  torchjd's solver adds so that dependent task gradients stay solvable), and with no conflict it
  is the plain mean.
- ``imtl-g`` (:class:`torchjd.aggregation.IMTLG`, Liu et al., ICLR 2021): the combination of
  the rows whose projection on every task's unit gradient is the same.

The direction is scaled by ``T`` so that, without conflict, ``upgrad`` gives the plain sum's
gradient (the scale of ``equal`` and ``pcgrad``, so one learning rate suits all). The other
parameters (task heads) get the plain sum's gradient. ``torchjd`` is an optional dependency
(``pip install "semcomm[mtl]"``); a run that asks for these weightings without it fails in
one line before any work.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import torch

from semcomm.mtl.adaptive import GradientCombiner
from semcomm.mtl.weighting import WEIGHTINGS

__all__ = ["JacobianDescent", "AGGREGATORS"]


def _upgrad() -> Callable[[torch.Tensor], torch.Tensor]:
    from torchjd.aggregation import UPGrad

    return UPGrad()


def _imtl_g() -> Callable[[torch.Tensor], torch.Tensor]:
    from torchjd.aggregation import IMTLG

    return IMTLG()


#: Weighting name -> the torchjd aggregator it builds.
AGGREGATORS: dict[str, Callable[[], Callable[[torch.Tensor], torch.Tensor]]] = {"upgrad": _upgrad, "imtl-g": _imtl_g}


class JacobianDescent(GradientCombiner):
    """Aggregates the per-task gradients on the shared parameters with a ``torchjd`` aggregator.

    Args:
        num_layers: ``L`` (``2 L`` task losses).
        aggregator: a key of :data:`AGGREGATORS`.

    Raises:
        ValueError: one line, if ``torchjd`` (with its quadprog projector) is not installed.
    """

    name = "jacobian"

    def __init__(self, num_layers: int, aggregator: str = "upgrad") -> None:
        if importlib.util.find_spec("torchjd") is None or importlib.util.find_spec("quadprog") is None:
            raise ValueError(f"--weighting {aggregator} needs torchjd with its quadprog projector: "
                             "pip install \"semcomm[mtl]\"")
        super().__init__(num_layers)
        self.name = aggregator
        self.aggregate = AGGREGATORS[aggregator]()

    def direction(self, jacobian: torch.Tensor) -> torch.Tensor:
        """The shared parameters' update ``[P]`` from the Jacobian ``[T, P]``: ``T`` times the
        aggregator's output."""
        return jacobian.shape[0] * self.aggregate(jacobian)

    def combine(self, grads: list[torch.Tensor], tasks: list[int]) -> torch.Tensor:
        return self.direction(torch.stack(grads))


for _name in AGGREGATORS:
    WEIGHTINGS.register(_name, lambda num_layers, _name=_name: JacobianDescent(num_layers, _name))
