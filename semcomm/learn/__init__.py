"""Learning: what a training run is (:mod:`~semcomm.learn.config`), its objective per task and
layer (:mod:`~semcomm.learn.objective`), its images (:mod:`~semcomm.learn.data`), the loop in
one process or several (:mod:`~semcomm.learn.loop`, :mod:`~semcomm.learn.distributed`), its
checkpoints (:mod:`~semcomm.learn.checkpointing`) and source-free channel adaptation
(:mod:`~semcomm.learn.adapt`).

No module here names an architecture, a dataset or a task: those are asked for through their
registries and contracts (:mod:`semcomm.models`, :mod:`semcomm.data`, :mod:`semcomm.tasks`).
"""

from semcomm.learn import distributed
from semcomm.learn.config import TrainConfig, validate
from semcomm.learn.loop import make_optimizer, train, validation_snrs
from semcomm.learn.objective import DISTORTIONS, Objective, psnr_from_mse

__all__ = ["DISTORTIONS", "distributed", "Objective", "TrainConfig", "make_optimizer", "psnr_from_mse", "train", "validate",
           "validation_snrs"]
