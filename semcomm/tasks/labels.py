"""Label tasks: the class, and coarse concepts that group classes (for deep supervision with
intermediate concepts, coarse at layer 1 to fine at the top).

The groupings (:data:`CONCEPTS`) form a hierarchy, ``class`` -> ``coarse4`` -> ``coarse2``
(each grouping is a coarsening of the finer one), so a finer head also predicts every coarser
concept (:func:`coarsen`): a label task's scores are its own ``accuracy`` and, for each
coarser concept ``c``, ``"<c> accuracy"``, from its probabilities summed over each group of
``c``:

- CIFAR-10: ``coarse2`` = vehicle (airplane, automobile, ship, truck) / animal (the six
  others); ``coarse4`` = road vehicle (automobile, truck), other vehicle (airplane, ship),
  mammal (cat, deer, dog, horse), other animal (bird, frog).
- MNIST: ``coarse2`` = digit < 5 / digit >= 5; ``coarse4`` = that crossed with "has a closed
  loop" (0, 6, 8, 9; a 4 counts as open, as most handwritten 4s are): <5 open (1, 2, 3, 4),
  <5 loop (0), >=5 open (5, 7), >=5 loop (6, 8, 9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semcomm.tasks.base import TASKS, Task

__all__ = ["CONCEPTS", "HIERARCHY", "ClassTask", "ConceptTask", "coarsen"]

#: The label tasks from fine to coarse.
HIERARCHY = ("class", "coarse4", "coarse2")

#: dataset -> concept -> (group names, group of each class 0..9).
CONCEPTS: dict[str, dict[str, tuple[tuple[str, ...], tuple[int, ...]]]] = {
    "cifar10": {
        "coarse2": (("vehicle", "animal"), (0, 0, 1, 1, 1, 1, 1, 1, 0, 0)),
        "coarse4": (("road vehicle", "other vehicle", "mammal", "other animal"), (1, 0, 3, 2, 2, 2, 3, 2, 1, 0)),
    },
    "mnist": {
        "coarse2": (("< 5", ">= 5"), (0, 0, 0, 0, 0, 1, 1, 1, 1, 1)),
        "coarse4": (("< 5 open", "< 5 loop", ">= 5 open", ">= 5 loop"), (1, 0, 0, 0, 0, 2, 3, 2, 3, 3)),
    },
}


def coarsen(probabilities: torch.Tensor, groups: tuple[int, ...], num_groups: int) -> torch.Tensor:
    """Class probabilities ``[B, 10]`` -> group probabilities ``[B, num_groups]`` (summed)."""
    index = torch.tensor(groups, device=probabilities.device)
    return probabilities.new_zeros(probabilities.shape[0], num_groups).index_add_(1, index, probabilities)


class ConceptTask(Task):
    """Classification of a grouping of the classes (cross-entropy; top-1 accuracy)."""

    metric = "accuracy"
    metric_label = "top-1 accuracy"

    def __init__(self, dataset: str, concept: str) -> None:
        super().__init__(dataset)
        self.name = concept  # type: ignore[misc]
        self.group_names, self.groups = CONCEPTS[dataset][concept]

    @property
    def outputs(self) -> int:
        return len(self.group_names)

    def target(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.groups, device=labels.device)[labels]

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(prediction, target)

    def scores(self, prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"accuracy": (prediction.argmax(-1) == target).double()}
        probabilities = prediction.softmax(-1)
        for coarser in HIERARCHY[HIERARCHY.index(self.name) + 1 :]:
            names, fine_to_coarse = CONCEPTS[self.dataset][coarser]
            ours = {g: fine_to_coarse[c] for c, g in enumerate(self.groups)}  # each of our groups -> its coarse group
            to_coarse = tuple(ours[g] for g in range(len(self.group_names)))
            grouped = coarsen(probabilities, to_coarse, len(names))
            out[f"{coarser} accuracy"] = (grouped.argmax(-1) == torch.tensor(to_coarse, device=target.device)[target]).double()
        return out


class ClassTask(ConceptTask):
    """The fine class (10 classes)."""

    name = "class"

    def __init__(self, dataset: str) -> None:
        Task.__init__(self, dataset)
        self.group_names, self.groups = tuple(map(str, range(10))), tuple(range(10))


TASKS.register("class", ClassTask)
for _concept in ("coarse2", "coarse4"):
    TASKS.register(_concept, lambda dataset, _concept=_concept: ConceptTask(dataset, _concept))
