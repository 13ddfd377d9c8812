"""Where a command's points run (``--executor``, ``--workers``, ``--scheduler``) and the run
itself: a plan into its results file, with the progress bar."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from semcomm.cli.app import err_console, progress_bar
from semcomm.cli.options import flag_group
from semcomm.cli.parsing import parse_count
from semcomm.execute import EXECUTORS, Executor, Plan, Progress, check_scheduler, run_plan
from semcomm.registry import check_choice
from semcomm.sweep import ResultsFile

__all__ = ["ExecutorChoice", "parse_executor", "run_to_file", "with_executor"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ExecutorChoice:
    """An executor by name and its options, checked; started only when a plan has work."""

    name: str = "local"
    options: dict[str, Any] = field(default_factory=dict)

    def create(self) -> Executor:
        return EXECUTORS.get(self.name, **self.options)


def parse_executor(name: str, workers: str | None, scheduler: str | None) -> ExecutorChoice:
    """The executor flags, checked before any work (a scheduler address is probed).

    Raises:
        ValueError: one line, for an unknown executor, a cluster flag without ``--executor
            dask``, both cluster flags, a bad worker count or a scheduler that does not answer.
    """
    check_choice("executor", name, EXECUTORS.names())
    given = [flag for flag, value in (("--workers", workers), ("--scheduler", scheduler)) if value is not None]
    if given and name != "dask":
        raise ValueError(f"{given[0]} applies to --executor dask, not --executor {name}; add --executor dask")
    if len(given) == 2:
        raise ValueError("--scheduler attaches to a running cluster and --workers starts one: give one of them")
    options: dict[str, Any] = {}
    if workers is not None:
        cores = os.cpu_count() or 1
        options["workers"] = parse_count(workers, "--workers", maximum=4 * cores,
                                         why=f"4 x this machine's {cores} cores: more processes only compete for them; "
                                             "a larger cluster is --scheduler's")
    if scheduler is not None:
        options["scheduler"] = check_scheduler(scheduler)
    return ExecutorChoice(name, options)


with_executor = flag_group("executor", [
    inspect.Parameter("executor", inspect.Parameter.KEYWORD_ONLY, default="local", annotation=Annotated[
        str, typer.Option(help="where the points run: local (this process) or dask (a Dask cluster: the optional "
                               "dask extra)")]),
    inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[str], typer.Option(help="--executor dask: start a LocalCluster of N worker processes (default: one "
                                         "per core)")]),
    inspect.Parameter("scheduler", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        Optional[str], typer.Option(help="--executor dask: attach to the running scheduler tcp://HOST:PORT")]),
], lambda values: parse_executor(values["executor"], values["workers"], values["scheduler"]))
"""Give a command ``--executor``, ``--workers`` and ``--scheduler``; it receives ``executor``, an :class:`ExecutorChoice`."""


def run_to_file(plan: Plan[Any], out: Path | None, executor: ExecutorChoice) -> list[dict[str, Any]]:
    """Run (or resume) ``plan`` into the results file ``out`` (None: no file) with a progress
    bar; return the plan's records in plan order."""
    results = None if out is None else ResultsFile(out, plan.config, plan.seed, key_fields=plan.key_fields)
    todo = plan.pending([] if results is None else results.records)
    total = len(plan.points)
    if len(todo) < total:
        err_console.print(f"resuming {out}: {total - len(todo)} of {total} {plan.noun} already done")
    if not todo:
        return run_plan(plan, results, pending=todo)
    with executor.create() as running, progress_bar() as bar:
        task = bar.add_task(plan.title, total=sum(plan.units(p) for p in todo))
        progress = Progress(advance=lambda n: bar.advance(task, n),
                            describe=lambda text: bar.update(task, description=text))
        return run_plan(plan, results, running, progress, pending=todo)
