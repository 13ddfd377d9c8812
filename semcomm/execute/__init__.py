"""Where a plan's points run: :data:`EXECUTORS` by name.

``local`` (the default) runs every point in this process with the usual progress bar;
``dask`` runs them on a Dask cluster (:mod:`semcomm.execute.dask_executor`, the optional extra
``pip install "semcomm[dask]"``): a ``LocalCluster`` it starts (``workers``) or a running
scheduler (``scheduler``). :func:`run_plan` is the client that writes the results file.
"""

from __future__ import annotations

from typing import Any

from semcomm.execute.address import check_scheduler
from semcomm.execute.base import Executor, LocalExecutor, Plan, Progress, run_plan
from semcomm.registry import Registry

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "Plan", "Progress", "check_scheduler", "run_plan"]


def _dask(**options: Any) -> Executor:
    """A :class:`~semcomm.execute.dask_executor.DaskExecutor`, imported only when asked for."""
    try:
        from semcomm.execute.dask_executor import DaskExecutor
    except ImportError:
        raise ValueError('--executor dask needs Dask: pip install "semcomm[dask]"') from None
    return DaskExecutor(**options)


EXECUTORS: Registry[Executor] = Registry("executor")
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("dask", _dask)
