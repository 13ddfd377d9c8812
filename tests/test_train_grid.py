"""Trainings as plan points (``semcomm.learn.grid``): every recipe × seed trained and swept, the
seed reaching the training, nothing trained twice, and one-line errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from semcomm.execute import run_plan
from semcomm.learn import TrainConfig
from semcomm.learn.grid import Evaluation, TrainGridPlan
from semcomm.models.checkpoint import MODEL_FILE
from semcomm.sweep import ResultsFile

TINY = TrainConfig(dataset="mnist", ratios=(1 / 49, 2 / 49), data_root="embedded", epochs=1, batch_size=32, arch="conv",
                   options={"width": 8}, limit=64)


def _plan(tmp_path: Path, **changes: object) -> TrainGridPlan:
    recipes = {"fixed": TINY, "equal": replace(TINY, weighting="equal")}
    evaluations = [Evaluation(("awgn",), ("perfect",), (0.0, 10.0)), Evaluation(("rayleigh-block",), ("perfect",), (10.0,), ("fixed",))]
    return TrainGridPlan(**({"recipes": recipes, "seeds": [0, 1], "out_dir": tmp_path / "runs", "n_images": 32,
                             "evaluations": evaluations} | changes))  # type: ignore[arg-type]


def test_every_recipe_and_seed_is_trained_swept_and_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(tmp_path)
    results = ResultsFile(tmp_path / "grid.json", plan.config, plan.seed, plan.key_fields)
    records = run_plan(plan, results)
    by_point = {(r["run"], r["seed"]) for r in records}
    assert by_point == {("fixed", 0), ("fixed", 1), ("equal", 0), ("equal", 1)}
    # AWGN at 2 SNRs for both runs, Rayleigh at 10 dB for "fixed" only; 2 layers each
    assert len(records) == 2 * 2 * 2 * 2 + 2 * 1 * 2
    assert {r["channel"] for r in records if r["run"] == "equal"} == {"awgn"}
    seconds = {(r["run"], r["seed"]): set() for r in records}
    for r in records:
        seconds[r["run"], r["seed"]].add(r["train_s"])
    assert all(len(v) == 1 and next(iter(v)) >= 0 for v in seconds.values())  # one training time per point
    psnr = {(r["run"], r["seed"]): r["psnr"] for r in records if r["channel"] == "awgn" and r["snr_db"] == 10.0 and r["layer"] == 2}
    assert psnr["fixed", 0] != psnr["fixed", 1]  # the seed reached the training
    assert (plan.folder(("equal", 1)) / MODEL_FILE).exists()

    import semcomm.learn.loop as loop

    stamp = (plan.folder(("fixed", 0)) / MODEL_FILE).stat().st_mtime_ns
    calls: list[bool] = []
    real_train = loop.train
    monkeypatch.setattr(loop, "train", lambda cfg, folder, resume=False: calls.append(resume) or real_train(cfg, folder, resume=resume))
    again = ResultsFile(tmp_path / "grid.json", plan.config, plan.seed, plan.key_fields)
    assert plan.pending(again.records) == [] and run_plan(plan, again) == records and calls == []
    # records lost, trained model kept: the point is swept again, its training only resumed (a no-op)
    lost = ResultsFile(tmp_path / "other.json", plan.config, plan.seed, plan.key_fields)
    redone = run_plan(_plan(tmp_path, seeds=[0], recipes={"fixed": TINY}), lost)
    assert calls == [True] and (plan.folder(("fixed", 0)) / MODEL_FILE).stat().st_mtime_ns == stamp
    assert [r["psnr"] for r in redone if r["channel"] == "awgn"] == [r["psnr"] for r in records
                                                                      if (r["run"], r["seed"], r["channel"]) == ("fixed", 0, "awgn")]


def test_a_grid_trains_on_one_dataset_and_needs_a_recipe_and_a_seed(tmp_path: Path) -> None:
    cifar = replace(TINY, dataset="cifar10", ratios=(1 / 48,))
    with pytest.raises(ValueError, match=r"one dataset, got \['cifar10', 'mnist'\]"):
        _plan(tmp_path, recipes={"a": TINY, "b": cifar})
    with pytest.raises(ValueError, match="at least one recipe and one seed"):
        _plan(tmp_path, seeds=[])


def test_points_run_seed_major_and_the_runs_folder_exists_before_workers_check_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    runs = list(plan.recipes)
    assert plan.points[: len(runs)] == [(run, 0) for run in runs]  # every run's first seed before any second
    assert not (tmp_path / "runs").exists()
    assert plan.paths() == [(tmp_path / "runs").resolve()]  # created, for a Dask worker to check; no path for "embedded"
    assert (tmp_path / "runs").is_dir()
