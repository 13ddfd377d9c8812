"""Training: reproducibility, resume, checkpoints, and the train/demo command lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from semcomm.models.checkpoint import load_checkpoint, pretrained_names
from semcomm.mtl import EqualWeighting, FixedWeighting, TaskLosses, get_weighting
from semcomm.learn import TrainConfig, train
from semcomm.learn.checkpointing import state_file

SMOKE = dict(dataset="mnist", ratios=(1 / 49, 2 / 49), data_root="embedded", epochs=2, batch_size=64, arch="conv",
             options={"width": 8}, limit=192)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def test_same_seed_same_weights_and_resume_continues_exactly(tmp_path: Path) -> None:
    cfg = TrainConfig(**SMOKE, seed=5)
    history = train(cfg, tmp_path / "a")
    assert [h["epoch"] for h in history] == [1, 2]
    train(cfg, tmp_path / "b")
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    # Interrupt after epoch 1 (a run with the same config, killed mid-epoch 2), then resume.
    class Killed(Exception):
        pass

    def kill_in_epoch_2(desc: str, done: int, total: int) -> None:
        if done == total - 1:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, tmp_path / "c", progress=kill_in_epoch_2)
    assert load_checkpoint(tmp_path / "c")[1]["epoch"] == 1
    resumed = train(cfg, tmp_path / "c", resume=True)
    assert [h["epoch"] for h in resumed] == [1, 2]
    wc = weights(tmp_path / "c")
    assert all(torch.equal(wa[k], wc[k]) for k in wa), "resumed run differs from the uninterrupted one"

    other = TrainConfig(**SMOKE, seed=6)
    train(other, tmp_path / "d")
    assert not torch.equal(weights(tmp_path / "d")["encoder.heads.0.weight"], wa["encoder.heads.0.weight"])


def test_klt_refine_resumes_exactly_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMOKE, "limit": 224, "arch": "klt-refine"}, sample_layers=True, distortion="log-mse", val=32)
    history = train(cfg, tmp_path / "a")
    assert all(set(h["val_psnr"]) == {"0", "10", "20"} and len(h["val_psnr"]["10"]) == 2 for h in history)
    best = max(range(2), key=lambda i: history[i]["val_score"])
    kept, meta = load_checkpoint(tmp_path / "a" / "best.safetensors")
    assert meta["epoch"] == best + 1

    class Killed(Exception):
        pass

    def kill_in_epoch_2(desc: str, done: int, total: int) -> None:
        assert "train PSNR" in desc
        if done == total - 1:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, tmp_path / "b", progress=kill_in_epoch_2)
    train(cfg, tmp_path / "b", resume=True)
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "resumed run differs from the uninterrupted one"
    assert not torch.equal(wa["refiner.out.weight"], torch.zeros_like(wa["refiner.out.weight"]))


def test_train_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMOKE, "epochs": 1, "limit": 64})
    train(cfg, tmp_path)
    before = weights(tmp_path)
    with pytest.raises(ValueError, match="already holds a run: resume continues it, force overwrites it"):
        train(TrainConfig(**{**SMOKE, "epochs": 1, "limit": 64, "seed": 9}), tmp_path)
    assert all(torch.equal(before[k], v) for k, v in weights(tmp_path).items())
    train(TrainConfig(**{**SMOKE, "epochs": 1, "limit": 64, "seed": 9}), tmp_path, force=True)
    assert not torch.equal(before["encoder.heads.0.weight"], weights(tmp_path)["encoder.heads.0.weight"])


def test_validation_split_must_leave_training_images(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="val 192 holds out every one of the 192 training images"):
        train(TrainConfig(**SMOKE, val=192), tmp_path)


def test_checkpoint_files_are_safe_formats(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMOKE, "epochs": 1})
    train(cfg, tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["train"] == cfg.to_dict() and meta["model"]["layer_symbols"] == [16, 32]
    state = torch.load(tmp_path / state_file(1), weights_only=True)  # no arbitrary unpickling
    assert state["epoch"] == 1
    with pytest.raises(ValueError, match="different configuration"):
        train(TrainConfig(**{**SMOKE, "epochs": 1, "lr": 5e-4}), tmp_path, resume=True)


def test_loss_weightings() -> None:
    losses = TaskLosses.from_layers(distortion=[torch.tensor(1.0), torch.tensor(2.0)], semantic=[torch.tensor(3.0), torch.tensor(4.0)])
    assert EqualWeighting(2)(losses).item() == pytest.approx(10.0)
    assert FixedWeighting(2, distortion=[1.0, 0.5], semantic=0.1)(losses).item() == pytest.approx(1 + 1 + 0.3 + 0.4)
    with pytest.raises(ValueError, match="3 values for 2 layers"):
        FixedWeighting(2, distortion=[1, 1, 1])
    with pytest.raises(ValueError, match="unknown loss weighting 'gradnorm9'"):
        get_weighting("gradnorm9", 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ratio", "0"], "bad --ratio '0'"),
        (["--layers", "0"], "bad --layers 0"),
        (["--layers", "3", "--ratio", "1/18,1/18"], "2 ratios for --layers 3"),
        (["--dataset", "svhn"], "unknown dataset 'svhn'"),
        (["--snr-train", "20:0"], "bad --snr-train '20:0'"),
        (["--data-root", "/nonexistent/data"], "/nonexistent/data"),
        (["--layer-power", "frame"], "unknown --layer-power 'frame'; choose one of: equal, softcast"),
        (["--layer-power", "softcast", "--arch", "conv"], "--layer-power is an option of klt-refine, klt-rmn, klt-slim, klt-cascade; "
                                                          "--arch conv does not take it"),
        (["--arch", "transformer"], "unknown --arch 'transformer'; choose one of: conv, klt-refine, klt-rmn, klt-slim, klt-cascade"),
        (["--route-cost", "x", "--arch", "klt-rmn"], "bad --route-cost 'x': expected a number"),
        (["--proxy-weight", "0.5"], "--proxy-weight weighs the proxy branches of proxy attention"),
        (["--images", "/nonexistent/folder"], "--images '/nonexistent/folder' is not a folder of images"),
        (["--init-from", "/nonexistent/run"], "--init-from: no checkpoint at '/nonexistent/run'"),
        (["--arch", "klt-cascade", "--sample-layers"], "--sample-layers needs an architecture that decodes chosen layers, "
                                                       "not 'klt-cascade'"),
        (["--arch", "klt-cascade", "--trunk-width", "0"], "bad --trunk-width 0: it must be a whole number from 1 to 4096"),
        (["--width", "1e6"], "bad --width 1000000: it must be a whole number from 1 to 4096"),
        (["--trunk-width", "64"], "--trunk-width is an option of klt-cascade; --arch klt-refine does not take it"),
    ],
)
def test_train_bad_input_one_line(semcomm_cli, args: list[str], message: str, tmp_path: Path) -> None:
    result = semcomm_cli("train", "--data-root", "embedded", "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_train_without_data_root_says_how_to_give_one(semcomm_cli, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SEMCOMM_DATA"}
    result = semcomm_cli("train", "--out", str(tmp_path / "run"), env=env)
    assert result.returncode == 2 and "--data-root" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sweep_refuses_a_pickle_checkpoint(semcomm_cli, tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
    result = semcomm_cli("sweep", str(tmp_path), "--snr", "10", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2 and "not a safetensors checkpoint" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_then_sweep_command_lines(semcomm_cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = semcomm_cli("train", "--data-root", "embedded", "--limit", "160", "--val", "32", "--epochs", "1", "--width", "8",
                 "--layers", "2", "--ratio", "1/49", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert "train PSNR per layer" in result.stdout and (run / "model.safetensors").is_file()
    assert (run / "best.safetensors").is_file()
    meta = json.loads((run / "config.json").read_text())
    assert meta["model"]["arch"] == "klt-refine" and meta["train"]["sample_layers"] and meta["train"]["distortion"] == "log-mse"
    out = tmp_path / "res.json"
    result = semcomm_cli("sweep", str(run), "--snr", "0,10", "--n-images", "64", "--data-root", "embedded", "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = json.loads(out.read_text())["records"]
    assert {(r["snr_db"], r["layer"]) for r in records} == {(0.0, 1), (0.0, 2), (10.0, 1), (10.0, 2)}
    assert all(r["method"] == "run" and r["dataset"] == "mnist" and r["n_images"] == 64 for r in records)


@pytest.mark.skipif("mnist-l3" not in pretrained_names(), reason="the pretrained mnist-l3 model is not shipped")
def test_demo_writes_results_and_figure(semcomm_cli, tmp_path: Path) -> None:
    result = semcomm_cli("demo", "--out", str(tmp_path), "--snr", "0,20", env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert {r["method"] for r in records} == {"mnist-l3", "analog", "linear", "jpeg+ldpc", "jpeg+capacity"}
    jscc = [r for r in records if r["method"] == "mnist-l3"]
    assert {r["layer"] for r in jscc} == {1, 2, 3}
    top = {r["snr_db"]: r for r in jscc if r["layer"] == 3}
    assert top[20.0]["psnr"] > top[0.0]["psnr"] and top[20.0]["accuracy"] > 0.9
    # The linear reference (shipped MNIST KLT) has the model's layers and is scored by its head.
    linear = {(r["snr_db"], r["layer"]): r for r in records if r["method"] == "linear"}
    assert set(linear) == {(s, l) for s in (0.0, 20.0) for l in (1, 2, 3)}
    assert all(r["ratio"] == j["ratio"] for j in jscc for (s, l), r in linear.items() if (s, l) == (j["snr_db"], j["layer"]))
    assert linear[20.0, 3]["psnr"] > linear[20.0, 1]["psnr"] and linear[20.0, 3]["accuracy"] > 0.9
    analog = [r for r in records if r["method"] == "analog"]
    assert all(r["accuracy"] is None for r in analog)
    sscc = {(r["method"], r["snr_db"]): r for r in records if "+" in r["method"]}
    assert all(r["layer"] is None and r["ratio"] == top[0.0]["ratio"] for r in sscc.values())
    # At 0 dB nothing fits 72 channel uses (every image is the mean image); at 20 dB most do.
    assert sscc["jpeg+ldpc", 0.0]["extras"]["delivered"] == 0.0
    assert sscc["jpeg+capacity", 20.0]["psnr"] > sscc["jpeg+capacity", 0.0]["psnr"] + 5
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert (tmp_path / "layers.png").stat().st_size > 10_000  # each layer's reconstructions
    # What it prints: a compact table per metric, no line over 100 columns (COLUMNS=100 here),
    # at most 60 lines, the points where nothing was delivered marked.
    lines = result.stdout.splitlines()
    assert len(lines) <= 60 and max(map(len, lines)) <= 100, result.stdout
    assert lines[0] == "PSNR [dB] on mnist, by SNR [dB]" and "accuracy [%] on mnist, by SNR [dB]" in lines
    assert any(line.startswith("jpeg+ldpc") and "*" in line for line in lines) and any("nothing delivered" in l for l in lines)


@pytest.mark.parametrize("args", [["--lr", "1e10"], ["--semantic-weight", "1e308"]])
def test_training_that_diverges_stops_with_one_line_and_writes_no_nan_model(semcomm_cli, tmp_path: Path, args: list[str]) -> None:
    run = tmp_path / "run"
    result = semcomm_cli("train", "--data-root", "embedded", "--arch", "conv", "--width", "8", "--ratio", "1/49,2/49",
                         "--layers", "2", "--epochs", "2", "--limit", "192", "--val", "0", "--batch-size", "64", "--out", str(run),
                         *args)
    assert result.returncode == 2, result.stderr
    line = result.error_lines()[-1]
    assert line.startswith("error: training diverged at epoch 1, step ") and "is not finite" in line, result.stderr
    assert "no checkpoint was written" in line and "Likely cause: --lr" in line
    assert not (run / "model.safetensors").exists()


def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path: Path) -> None:
    from semcomm.models.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint("mnist-l3")
    with torch.no_grad():
        model.task_heads["class"][0].weight[0, 0] = float("nan")
    save_checkpoint(tmp_path, model, meta)
    with pytest.raises(ValueError, match="tensor 'task_heads.class.0.weight' holds NaN or infinite values"):
        load_checkpoint(tmp_path)


def test_a_run_folder_in_training_is_locked(semcomm_cli, tmp_path: Path) -> None:
    """A second ``train`` (or ``adapt``) into a folder that a running process holds stops at once."""
    from semcomm.atomic import folder_lock

    run = tmp_path / "run"
    with folder_lock(run, "a training"):
        result = semcomm_cli("train", "--data-root", "embedded", "--epochs", "1", "--limit", "64", "--out", str(run))
        assert result.returncode == 2, result.stderr
        assert result.error_lines() == [f"error: {str(run)!r} is in use by another process (a training into it is running): "
                                        "wait for it to finish or choose another folder"]
    assert not (run / "model.safetensors").exists()


def test_resume_refuses_a_training_state_of_other_weights(tmp_path: Path) -> None:
    """A state file of another run (here another seed's, same epoch) is refused, not resumed."""
    from semcomm.learn.checkpointing import state_file

    class Killed(Exception):
        pass

    def kill_in_epoch_2(desc: str, done: int, total: int) -> None:
        if done == total - 1:
            raise Killed

    for seed, run in ((5, "a"), (6, "b")):
        with pytest.raises(Killed):
            train(TrainConfig(**SMOKE, seed=seed), tmp_path / run, progress=kill_in_epoch_2)
    (tmp_path / "a" / state_file(1)).write_bytes((tmp_path / "b" / state_file(1)).read_bytes())
    with pytest.raises(ValueError, match="was written with other weights than the run's model.safetensors"):
        train(TrainConfig(**SMOKE, seed=5), tmp_path / "a", resume=True)
