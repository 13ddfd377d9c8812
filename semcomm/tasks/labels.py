"""Label tasks: the class, and coarse concepts that group classes (for deep supervision with
intermediate concepts, coarse at layer 1 to fine at the top).

The groupings come from the dataset's description (:attr:`semcomm.data.DatasetInfo.concepts`,
fine to coarse, each a coarsening of the one before), so a finer head also predicts every
coarser concept (:func:`coarsen`): a label task's scores are its own ``accuracy`` and, for
each coarser concept ``c``, ``"<c> accuracy"``, from its probabilities summed over each group
of ``c``. ``coarse2`` and ``coarse4`` are registered task names; any other concept a dataset
declares is a task of that dataset under its own name (:func:`semcomm.tasks.get_task`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semcomm.data.info import DatasetInfo
from semcomm.tasks.base import TASKS, Task

__all__ = ["ClassTask", "ConceptTask", "coarsen"]


def coarsen(probabilities: torch.Tensor, groups: tuple[int, ...], num_groups: int) -> torch.Tensor:
    """Class probabilities ``[B, K]`` -> group probabilities ``[B, num_groups]`` (summed)."""
    index = torch.tensor(groups, device=probabilities.device)
    return probabilities.new_zeros(probabilities.shape[0], num_groups).index_add_(1, index, probabilities)


class ConceptTask(Task):
    """Classification of a grouping of the classes (cross-entropy; top-1 accuracy).

    Raises:
        ValueError: one line, for a dataset without labels or without the concept.
    """

    metric = "accuracy"
    metric_label = "top-1 accuracy"
    needs_labels = True

    def __init__(self, dataset: DatasetInfo, concept: str) -> None:
        super().__init__(dataset)
        self.name = concept  # type: ignore[misc]
        if not dataset.labelled:
            raise ValueError(f"task {concept!r} needs labelled images; {dataset.name} has none "
                             "(a folder is labelled by its class sub-folders)")
        if concept not in dataset.concepts:
            raise ValueError(f"task {concept!r} is a concept {dataset.name} does not declare "
                             f"(its concepts: {', '.join(dataset.concepts) or 'none'})")
        self.group_names, self.groups = dataset.concepts[concept]

    def coarser(self) -> list[str]:
        """The dataset's concepts coarser than this task's, fine to coarse."""
        order = list(self.dataset.concepts)
        return order[order.index(self.name) + 1 :] if self.name in order else order

    @property
    def outputs(self) -> int:
        return len(self.group_names)

    def target(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        assert labels is not None, "a label task needs labels"
        return torch.tensor(self.groups, device=labels.device)[labels]

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(prediction, target)

    def scores(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"accuracy": (prediction.argmax(-1) == target).double()}
        probabilities = prediction.softmax(-1)
        for coarser in self.coarser():
            names, fine_to_coarse = self.dataset.concepts[coarser]
            ours = {g: fine_to_coarse[c] for c, g in enumerate(self.groups)}  # each of our groups -> its coarse group
            to_coarse = tuple(ours[g] for g in range(len(self.group_names)))
            grouped = coarsen(probabilities, to_coarse, len(names))
            out[f"{coarser} accuracy"] = (grouped.argmax(-1) == torch.tensor(to_coarse, device=target.device)[target]).double()
        return out


class ClassTask(ConceptTask):
    """The fine class (the dataset's classes)."""

    name = "class"

    def __init__(self, dataset: DatasetInfo) -> None:
        Task.__init__(self, dataset)
        if dataset.class_names is None:
            raise ValueError(f"task 'class' needs labelled images; {dataset.name} has none "
                             "(a folder is labelled by its class sub-folders)")
        self.group_names, self.groups = dataset.class_names, tuple(range(dataset.num_classes))


TASKS.register("class", ClassTask)
for _concept in ("coarse2", "coarse4"):
    TASKS.register(_concept, lambda dataset, _concept=_concept: ConceptTask(dataset, _concept))
