"""Multi-task learning: how per-layer distortion and semantic losses are weighted."""

from semcomm.mtl.weighting import WEIGHTINGS, EqualWeighting, FixedWeighting, LossWeighting, TaskLosses, get_weighting

__all__ = ["WEIGHTINGS", "EqualWeighting", "FixedWeighting", "LossWeighting", "TaskLosses", "get_weighting"]
