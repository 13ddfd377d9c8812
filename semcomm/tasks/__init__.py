"""Receiver-side tasks as plugins: the registry, the built-in tasks and the per-layer layout.

Built in: ``class``, ``coarse2``, ``coarse4`` (:mod:`semcomm.tasks.labels`), ``edges``,
``thumb``, ``colour`` (:mod:`semcomm.tasks.proxy`); ``recon`` names the reconstruction.
"""

from semcomm.tasks.base import RECON, TASKS, Task, TaskLayout, parse_layout
from semcomm.tasks.labels import CONCEPTS, ClassTask, ConceptTask, coarsen
from semcomm.tasks.proxy import ColourTask, EdgesTask, ProxyTask, ThumbTask, sobel_magnitude

__all__ = [
    "CONCEPTS", "RECON", "TASKS", "ClassTask", "ColourTask", "ConceptTask", "EdgesTask", "ProxyTask", "Task",
    "TaskLayout", "ThumbTask", "coarsen", "get_task", "parse_layout", "sobel_magnitude",
]


def get_task(name: str, dataset: str) -> Task:
    """The task registered as ``name`` for ``dataset`` (unknown name: one-line ``ValueError``)."""
    return TASKS.get(name, dataset=dataset)
