"""Trainings as a plan: named training recipes × seeds, each trained into its own folder and then
swept, as independent points any executor runs (in this process, or on a Dask cluster where every
worker trains one run at a time) and a results file resumes.

A point is ``(run, seed)``: train ``recipes[run]`` with that seed into ``<out_dir>/<run>-s<seed>/``
(a finished training is not repeated; an interrupted one continues from its last epoch), then
evaluate it on the first ``n_images`` test images at every :class:`Evaluation`. Its records are
the sweep's, plus ``run``, ``seed`` and ``train_s`` (the training loop's seconds).

    plan = TrainGridPlan({"fixed": cfg, "equal": replace(cfg, weighting="equal")}, seeds=[0, 1, 2],
                         out_dir="out/mtl", n_images=2000, evaluations=[Evaluation(("awgn",), ("perfect",), (0, 10, 20))])
    records = run_plan(plan, ResultsFile("out/mtl/compare.json", plan.config, plan.seed, plan.key_fields), executor)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from semcomm.execute.base import Plan
from semcomm.learn.config import TrainConfig

__all__ = ["Evaluation", "TrainGridPlan"]

Point = tuple[str, int]


@dataclass(frozen=True)
class Evaluation:
    """A sweep each trained run gets: every channel × CSI mode × SNR (dB), every layer.

    ``runs``: the runs it applies to (None: every run)."""

    channels: tuple[str, ...]
    csi: tuple[str, ...]
    snrs: tuple[float, ...]
    runs: tuple[str, ...] | None = None

    def describe(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "csi": list(self.csi), "snrs": [float(s) for s in self.snrs],
                "runs": None if self.runs is None else list(self.runs)}


class TrainGridPlan(Plan[Point]):
    """Train every recipe with every seed and sweep each result (module doc).

    Args:
        recipes: run name -> its :class:`~semcomm.learn.TrainConfig` (the seed is replaced).
        seeds: training seeds; the sweep's channel draws use seed 0 for every run, so runs differ
            by their training alone.
        out_dir: where each run's folder goes.
        n_images: test images of each evaluation (the first ones).
        evaluations: the sweeps of each run.
        batch_size: images per evaluation batch.
    """

    key_fields = ("run", "seed", "channel", "csi", "snr_db", "layer")
    title = "trainings"
    noun = "trainings"

    def __init__(self, recipes: dict[str, TrainConfig], seeds: list[int], out_dir: str | Path, n_images: int,
                 evaluations: list[Evaluation], batch_size: int = 500) -> None:
        if not recipes or not seeds:
            raise ValueError("a training grid needs at least one recipe and one seed")
        datasets = {cfg.dataset for cfg in recipes.values()}
        if len(datasets) != 1:
            raise ValueError(f"the recipes of one grid train on one dataset, got {sorted(datasets)}")
        self.recipes, self.seeds = dict(recipes), sorted(set(seeds))
        self.out_dir, self.n_images, self.evaluations, self.batch_size = Path(out_dir), n_images, evaluations, batch_size
        self.dataset = datasets.pop()
        self.seed = 0

    @property
    def points(self) -> list[Point]:
        """Seed-major: every run's first seed before any run's second, so a grid stopped part-way
        has whole tables of its first seeds."""
        return [(run, seed) for seed in self.seeds for run in self.recipes]

    @property
    def config(self) -> dict[str, Any]:
        return {"recipes": {name: replace(cfg, seed=0).to_dict() for name, cfg in self.recipes.items()},
                "n_images": self.n_images, "evaluations": [e.describe() for e in self.evaluations],
                "batch_size": self.batch_size}

    def record_point(self, record: dict[str, Any]) -> Point | None:
        run, seed = record.get("run"), record.get("seed")
        return (run, seed) if run in self.recipes and seed in self.seeds else None  # type: ignore[return-value]

    def complete(self, records: list[dict[str, Any]]) -> bool:
        """A training's records are whole when every evaluation's every point is there."""
        run = records[0]["run"]
        expected = sum(len(e.channels) * len(e.csi) * len(e.snrs) for e in self.evaluations
                       if e.runs is None or run in e.runs)
        return len({(r["channel"], r["csi"], r["snr_db"]) for r in records}) == expected and super().complete(records)

    def units(self, point: Point) -> int:
        return 1

    def describe(self, point: Point) -> str:
        return f"training {point[0]}, seed {point[1]}"

    def folder(self, point: Point) -> Path:
        """Where the run of ``point`` is trained."""
        return self.out_dir / f"{point[0]}-s{point[1]}"

    def paths(self) -> list[Path]:
        """The runs' folder and the data root: what every worker must see. The runs' folder is
        created here, on the client, so that workers on a shared file system see it before the first
        training writes to it."""
        from semcomm.data import images_root

        self.out_dir.mkdir(parents=True, exist_ok=True)
        root = images_root(self.recipes[next(iter(self.recipes))].data_root)  # None: the embedded sample
        return [self.out_dir.resolve(), *([root.resolve()] if root is not None else [])]

    def run_point(self, point: Point, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        from semcomm.data import load_images
        from semcomm.execute.base import run_plan
        from semcomm.learn.loop import train
        from semcomm.methods import resolve_method
        from semcomm.models.checkpoint import MODEL_FILE
        from semcomm.sweep import SweepPlan
        from semcomm.sweep.spec import first_images

        run, seed = point
        cfg, folder = replace(self.recipes[run], seed=seed), self.folder(point)
        history = train(cfg, folder, resume=(folder / MODEL_FILE).exists())
        seconds = sum(h["seconds"] for h in history)
        method = resolve_method(str(folder))
        images = first_images(load_images(cfg.dataset, cfg.data_root, "test"), self.n_images)
        records = []
        for evaluation in self.evaluations:
            if evaluation.runs is not None and run not in evaluation.runs:
                continue
            sweep = SweepPlan([method], images, list(evaluation.channels), list(evaluation.csi), list(evaluation.snrs),
                              batch_size=self.batch_size)
            records += [r | {"run": run, "seed": seed, "train_s": round(seconds, 3)} for r in run_plan(sweep)]
        if progress is not None:
            progress(1)
        return records
