"""Plans and executors: an experiment resolved once into independent points, run anywhere.

A :class:`Plan` is validated when it is built, then trusted. Its points are independent: each
draws from its own generator, seeded from ``(seed, point)`` only, so an executor may run them
in any order and in any process and still get the same records. An :class:`Executor` runs
points and yields each point's records as it finishes; :func:`run_plan` alone (the client)
writes them to the results file, atomically and under the file's lock, and finally puts the
file in plan order, so every executor leaves the same file, record for record.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # the sweep package imports this module: no import cycle at run time
    from semcomm.sweep.results_io import ResultsFile

__all__ = ["Executor", "LocalExecutor", "Plan", "Progress", "run_plan"]

P = TypeVar("P", bound=Hashable)
Record = dict[str, Any]


def _ignore(_: Any) -> None:
    return None


@dataclass(frozen=True)
class Progress:
    """What a running plan reports to its caller.

    Attributes:
        advance: called with the units of work just done (images, bits; :meth:`Plan.units`).
        describe: called with a short text when a point starts (local) or the run starts (a cluster).
    """

    advance: Callable[[int], None] = _ignore
    describe: Callable[[str], None] = _ignore


class Plan(ABC, Generic[P]):
    """An experiment resolved into independent points (hashable, in plan order).

    Subclasses set :attr:`key_fields` (the results file's), :attr:`title` and :attr:`seed`,
    and define :attr:`points`, :meth:`record_point`, :meth:`run_point`, :meth:`units` and
    :attr:`config`.

    Attributes:
        key_fields: record fields that identify a record in the results file.
        title: what the progress bar calls the job (``"sweep"``).
        noun: what a point is called when a run resumes (``"points"``, ``"users"``).
        points_per_write: finished points written to the file together (each point whole).
        seed: the run's seed, part of the results file's identity.
    """

    key_fields: tuple[str, ...]
    title: str
    noun: str = "points"
    points_per_write: int = 1
    seed: int

    @property
    @abstractmethod
    def points(self) -> list[P]:
        """Every point of the plan, in plan order."""

    @property
    @abstractmethod
    def config(self) -> dict[str, Any]:
        """What identifies the experiment in its results file (with :attr:`seed`)."""

    @abstractmethod
    def record_point(self, record: Record) -> P | None:
        """The point a record of a results file belongs to (None: not one of this experiment's kind)."""

    @abstractmethod
    def run_point(self, point: P, progress: Callable[[int], None] | None = None) -> list[Record]:
        """The records of one point (runs in any process); ``progress`` gets units as they are done."""

    @abstractmethod
    def units(self, point: P) -> int:
        """Units of work of one point, as :meth:`run_point` reports them (images, bits)."""

    def describe(self, point: P) -> str:
        """The progress bar's text while ``point`` runs."""
        return self.title

    def paths(self) -> list[Path]:
        """Files and folders every process that runs points must see (data root, checkpoints)."""
        return []

    def check_results(self, results: ResultsFile) -> None:
        """Raise a one-line ``ValueError`` unless ``results`` is keyed like this plan's records."""
        if tuple(results.key_fields) != self.key_fields:
            raise ValueError(f"the results file must be keyed by {self.key_fields}, not {tuple(results.key_fields)}")

    def pending(self, records: list[Record]) -> list[P]:
        """The points ``records`` (a results file's) do not hold whole yet (:meth:`complete`),
        in plan order."""
        by_point: dict[P, list[Record]] = {}
        for record in records:
            point = self.record_point(record)
            if point is not None:
                by_point.setdefault(point, []).append(record)
        return [p for p in self.points if p not in by_point or not self.complete(by_point[p])]

    def complete(self, records: list[Record]) -> bool:
        """Whether ``records``, all of one point, are every record the point has: when they
        say how many that is (a ``layers`` field), that many distinct layers; records without
        it (files of older versions) count as whole."""
        counts = {r.get("layers") for r in records}
        if counts == {None}:
            return True
        if len(counts) != 1:
            return False
        return len({r.get("layer") for r in records}) == counts.pop()

    def arrangement(self) -> Callable[[Record], tuple[int, ...]]:
        """Sort key of a results file's records: the records of points outside this plan first, in
        their order, then this plan's in plan order (layers ascending within a point)."""
        index = {p: i for i, p in enumerate(self.points)}

        def key(record: Record) -> tuple[int, ...]:
            i = index.get(self.record_point(record))  # type: ignore[arg-type]
            return (0,) if i is None else (1, i, record.get("layer") or 0)

        return key

    def select(self, records: list[Record]) -> list[Record]:
        """This plan's records among ``records``, in plan order."""
        key = self.arrangement()
        return sorted((r for r in records if key(r)[0] == 1), key=key)


class Executor(ABC):
    """Runs a plan's points somewhere; a context manager that releases what it started."""

    @abstractmethod
    def run(self, plan: Plan[P], points: list[P], progress: Progress) -> Iterator[tuple[P, list[Record]]]:
        """Yield ``(point, records)`` for every point of ``points`` as each finishes."""

    def close(self) -> None:
        """Release what the executor started (nothing for the local one)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class LocalExecutor(Executor):
    """Every point in this process, one after the other, in plan order."""

    def run(self, plan: Plan[P], points: list[P], progress: Progress) -> Iterator[tuple[P, list[Record]]]:
        for point in points:
            progress.describe(plan.describe(point))
            yield point, plan.run_point(point, progress.advance)


def run_plan(
    plan: Plan[P],
    results: ResultsFile | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    pending: list[P] | None = None,
) -> list[Record]:
    """Run the points of ``plan`` that ``results`` lacks and return all the plan's records.

    Finished points are written as they arrive (``plan.points_per_write`` at a time, each whole,
    atomically); when the run stops early (an error, Ctrl-C) the points already finished are
    written before the error goes on, so a rerun computes only what is missing. At the end the
    file is put in plan order (:meth:`Plan.arrangement`).

    Args:
        plan: the validated plan.
        results: its results file, or None to keep the records in memory only.
        executor: where the points run (default :class:`LocalExecutor`).
        progress: where progress goes (default: nowhere).
        pending: the points to run, if the caller has computed :meth:`Plan.pending` already.

    Returns:
        The plan's records (done before or now), in plan order.
    """
    if results is not None:
        plan.check_results(results)
    todo = plan.pending(results.records if results is not None else []) if pending is None else pending
    kept: list[Record] = []
    unwritten: list[Record] = []

    def write() -> None:
        if results is None:
            kept.extend(unwritten)
        elif unwritten:
            results.add_many(unwritten)
        unwritten.clear()

    try:
        for count, (_, records) in enumerate((executor or LocalExecutor()).run(plan, todo, progress or Progress()), 1):
            unwritten.extend(records)
            if count % plan.points_per_write == 0:
                write()
    finally:
        write()
    if results is None:
        return plan.select(kept)
    if todo:
        results.arrange(plan.arrangement())
    return plan.select(results.records)
