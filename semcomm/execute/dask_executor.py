"""A plan's points on a Dask cluster: a ``LocalCluster`` of worker processes, or a running scheduler.

The plan goes to every worker once (scattered, broadcast): a plan built from its recipe is a
few kB, and each worker builds the methods, images and channels once, on its first point. Each
point is a future; :meth:`DaskExecutor.run` yields a point's records as its future finishes,
and the client (:func:`~semcomm.execute.base.run_plan`) writes them at once. A worker that dies
mid-point loses only that point, which the scheduler runs again on another worker; a finished
point, already written, is never asked for again. Before any point is submitted, every worker
is asked whether it sees the plan's paths (data root, checkpoints) where this client does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import CancelledError
from typing import Any, TypeVar

import torch
from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.scheduler import KilledWorker

from semcomm.execute.address import check_scheduler
from semcomm.execute.base import Executor, Plan, Progress

__all__ = ["DaskExecutor"]

P = TypeVar("P")


def _run_point(plan: Plan[Any], point: Any) -> list[dict[str, Any]]:
    """One point on a worker, with torch using as many threads as the worker has."""
    threads = get_worker().state.nthreads
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return plan.run_point(point)


def _missing(paths: list[str]) -> list[str]:
    """The paths this process cannot see."""
    return [p for p in paths if not os.path.exists(p)]


class DaskExecutor(Executor):
    """Runs points on Dask workers.

    Args:
        scheduler: address of a running scheduler (``tcp://HOST:8786``) to attach to; or
        workers: worker processes of a ``LocalCluster`` to start on this machine (default: one
            per core), each with ``cores // workers`` threads (torch's threads set to match).
        timeout_s: how long to wait for the scheduler and for a first worker.

    Raises:
        ValueError: one line, for both arguments at once, fewer than 1 worker, a scheduler that
            does not answer, or one without workers.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None, timeout_s: float = 60.0) -> None:
        if scheduler is not None and workers is not None:
            raise ValueError("--scheduler attaches to a running cluster and --workers starts one: give one of them")
        if workers is not None and workers < 1:
            raise ValueError(f"bad --workers {workers}: a cluster needs at least 1 worker")
        self.cluster: LocalCluster | None = None
        if scheduler is not None:
            self.client = Client(check_scheduler(scheduler), timeout=timeout_s)
            try:
                self.client.wait_for_workers(1, timeout=timeout_s)
            except TimeoutError:
                self.client.close()
                raise ValueError(f"--scheduler {scheduler}: no worker joined within {timeout_s:g} s; start workers "
                                 f"(dask worker {scheduler})") from None
        else:
            cores = os.cpu_count() or 1
            count = workers or cores
            try:
                self.cluster = LocalCluster(n_workers=count, threads_per_worker=max(1, cores // count), processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
            except (OSError, RuntimeError, TimeoutError) as err:  # e.g. "Nanny failed to start"
                raise ValueError(f"could not start a local Dask cluster of {count} workers "
                                 f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); try fewer --workers "
                                 "or --executor local") from None
            self.client = Client(self.cluster)

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now."""
        return len(self.client.scheduler_info()["workers"])

    def check_paths(self, plan: Plan[Any]) -> None:
        """Raise a one-line ``ValueError`` if a worker cannot see one of the plan's paths."""
        paths = [str(p) for p in plan.paths()]
        if not paths:
            return
        for worker, missing in sorted(self.client.run(_missing, paths).items()):
            if missing:
                raise ValueError(f"Dask worker {worker} cannot see {missing[0]!r}: every worker needs the data root "
                                 "and the checkpoints at the same path as this client (a shared file system, or a "
                                 "copy at that path)")

    def run(self, plan: Plan[P], points: list[P], progress: Progress) -> Iterator[tuple[P, list[dict[str, Any]]]]:
        if not points:
            return
        self.check_paths(plan)
        progress.describe(f"{plan.title} on {self.workers} Dask workers")
        [shared] = self.client.scatter([plan], broadcast=True, hash=False)
        futures = {self.client.submit(_run_point, shared, point, pure=False): point for point in points}
        try:
            for future in as_completed(futures):
                point = futures.pop(future)
                try:
                    records = future.result()
                except (KilledWorker, CancelledError) as err:
                    raise ValueError(f"the Dask cluster lost the workers running {plan.title} points "
                                     f"({type(err).__name__}); the points finished so far are kept: run the command "
                                     "again (with workers up) to compute the rest") from None
                progress.advance(plan.units(point))
                yield point, records
        finally:
            if futures:
                self.client.cancel(list(futures))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
