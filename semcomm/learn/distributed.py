"""Multi-process training under ``torchrun``: the process group, ranks and the few collectives
the trainer needs.

``torchrun --nproc-per-node N -m semcomm train ...`` starts ``N`` processes per node and gives
each ``WORLD_SIZE`` (processes in all), ``RANK`` (this one's, ``0 ... WORLD_SIZE - 1``),
``LOCAL_RANK`` (its index on its node) and the rendezvous address. Training is distributed when
``WORLD_SIZE`` > 1: :func:`process_group` joins the group (gloo on CPU; NCCL with
``--device cuda``, each process on ``cuda:LOCAL_RANK``) and leaves it afterwards. Without
torchrun (or with one process) every helper is the single-process identity.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "all_reduce_sum",
    "check_same_weights",
    "gather_objects",
    "is_distributed",
    "local_rank",
    "main_first",
    "process_device",
    "process_group",
    "rank",
    "world_size",
]


def world_size() -> int:
    """The number of training processes: torchrun's ``WORLD_SIZE`` (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank: torchrun's ``RANK`` (0 without torchrun)."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's index on its node: torchrun's ``LOCAL_RANK`` (0 without torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    """Whether this process is one of several that train together (torchrun, ``WORLD_SIZE`` > 1)."""
    return world_size() > 1


def process_device(device: torch.device) -> torch.device:
    """The device this process trains on: ``device`` itself in a single process; under torchrun
    ``cpu``, or ``cuda:LOCAL_RANK`` for ``--device cuda``.

    Raises:
        ValueError: one line, for ``--device cuda:N`` under torchrun, or more processes on a
            node than it has CUDA devices.
    """
    if not is_distributed() or device.type != "cuda":
        return device
    if device.index is not None:
        raise ValueError(f"--device {device}: under torchrun every process trains on cuda:LOCAL_RANK; "
                         "give --device cuda")
    if local_rank() >= torch.cuda.device_count():
        raise ValueError(f"torchrun started a process with LOCAL_RANK {local_rank()} but this node has "
                         f"{torch.cuda.device_count()} CUDA devices: give --nproc-per-node at most that many")
    return torch.device("cuda", local_rank())


@contextmanager
def process_group(device: torch.device) -> Iterator[torch.device]:
    """Join torchrun's process group for the duration of the block (a no-op in a single
    process); yields this process's device (:func:`process_device`)."""
    device = process_device(device)
    if not is_distributed():
        yield device
        return
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    try:
        yield device
    finally:
        dist.destroy_process_group()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the block on rank 0 first and on the other processes once it is done (loading data
    that rank 0 may download, or a KLT it may fit and cache); a plain block in a single process."""
    if is_distributed() and rank() != 0:
        dist.barrier()
    yield
    if is_distributed() and rank() == 0:
        dist.barrier()


def _collective_device() -> torch.device:
    """Where the group's collectives take their tensors: this process's GPU under NCCL, else CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` (any shape, the same on every process) over all processes, on
    ``tensor``'s device; ``tensor`` itself in a single process."""
    if not is_distributed():
        return tensor
    total = tensor.to(_collective_device(), copy=True)
    dist.all_reduce(total)
    return total.to(tensor.device)


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def check_same_weights(named: Iterable[tuple[str, torch.Tensor]], when: str) -> None:
    """Check that every process holds the same tensors (a checksum per tensor, its sum and sum
    of squares in float64, compared by one max/min all-reduce); nothing in a single process.

    Args:
        named: ``(name, tensor)`` pairs, in the same order on every process.
        when: for the error, e.g. ``"after epoch 3"``.

    Raises:
        RuntimeError: naming the first tensor whose checksum differs between processes.
    """
    if not is_distributed():
        return
    names, tensors = zip(*named)
    local = torch.stack([torch.stack([t.detach().double().sum(), t.detach().double().square().sum()]) for t in tensors])
    extremes = torch.cat([local, -local]).to(_collective_device())  # [2 P, 2]: max and -min after the reduce
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
    high, low = extremes[: len(names)], -extremes[len(names) :]
    differ = ~((high == low) | (high.isnan() & low.isnan())).all(1)
    if differ.any():
        first = names[int(differ.nonzero()[0])]
        raise RuntimeError(f"the {world_size()} training processes hold different weights {when} (first: {first})")
