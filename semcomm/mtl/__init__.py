"""Multi-task learning: how per-layer distortion and semantic losses are weighted."""

from semcomm.mtl.weighting import WEIGHTINGS, EqualWeighting, FixedWeighting, LossWeighting, TaskLosses, get_weighting
from semcomm.mtl.adaptive import DynamicWeightAverage, GradNorm, PCGrad, UncertaintyWeighting
from semcomm.mtl.jacobian import JacobianDescent
from semcomm.mtl.gradsplit import GradSplit

__all__ = [
    "WEIGHTINGS",
    "DynamicWeightAverage",
    "EqualWeighting",
    "FixedWeighting",
    "GradNorm",
    "GradSplit",
    "JacobianDescent",
    "LossWeighting",
    "PCGrad",
    "TaskLosses",
    "UncertaintyWeighting",
    "get_weighting",
]
