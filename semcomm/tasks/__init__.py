"""Receiver-side tasks as plugins: the registry, the built-in tasks and the per-layer layout.

Built in: ``class``, ``coarse2``, ``coarse4`` (:mod:`semcomm.tasks.labels`; any other concept a
dataset declares is a task too), ``edges``, ``thumb``, ``colour`` (:mod:`semcomm.tasks.proxy`);
``recon`` names the reconstruction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcomm.tasks.base import RECON, TASKS, Task, TaskLayout, parse_layout
from semcomm.tasks.labels import ClassTask, ConceptTask, coarsen
from semcomm.tasks.proxy import ColourTask, EdgesTask, ProxyTask, ThumbTask, sobel_magnitude

if TYPE_CHECKING:
    from semcomm.data.info import DatasetInfo

__all__ = [
    "RECON", "TASKS", "ClassTask", "ColourTask", "ConceptTask", "EdgesTask", "ProxyTask", "Task",
    "TaskLayout", "ThumbTask", "coarsen", "get_task", "parse_layout", "sobel_magnitude",
]


def get_task(name: str, dataset: str | DatasetInfo) -> Task:
    """The task registered as ``name`` (or, failing that, the concept ``name`` of the dataset)
    for ``dataset`` (a registered name or a description).

    Raises:
        ValueError: one line, for an unknown task or one the dataset cannot serve (a label
            task on images without labels, a concept the dataset does not declare).
    """
    from semcomm.data.info import dataset_info

    info = dataset_info(dataset)
    if name not in TASKS and name in info.concepts:
        return ConceptTask(info, name)
    return TASKS.get(name, dataset=info)
