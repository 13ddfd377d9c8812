"""Multi-process training: ``torchrun -m semcomm train`` with DistributedDataParallel on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semcomm.models.checkpoint import load_checkpoint
from semcomm.learn import TrainConfig, validate
from semcomm.learn.checkpointing import state_file

#: A tiny conv run on the embedded sample: 192 training images, 32 held out; 2 processes of 96.
TRAIN = ["train", "--data-root", "embedded", "--arch", "conv", "--distortion", "mse", "--limit", "224", "--val", "32",
         "--width", "8", "--layers", "2", "--ratio", "1/49", "--batch-size", "32", "--seed", "3"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def semcomm(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semcomm", *args], capture_output=True, text=True, timeout=300, env=env)


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc-per-node 2 -m semcomm ...`` (a free port on localhost)."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "semcomm", *args], capture_output=True, text=True, timeout=300, env=ENV)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.slow
def test_two_cpu_processes_train_checkpoint_sweep_and_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = torchrun(*TRAIN, "--epochs", "2", "--out", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((run / "config.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"], history
    assert all("val_score" in h for h in history) and (run / "best.safetensors").is_file()  # rank 0 validated
    assert result.stdout.count("checkpoint:") == 1, result.stdout  # one process prints the final table

    state = torch.load(run / state_file(2), weights_only=True)
    assert state["world_size"] == 2 and len(state["generators"]) == 2
    assert not torch.equal(state["generators"][0], state["generators"][1]), "both processes drew the same noise"
    model, meta = load_checkpoint(run)
    assert meta["epoch"] == 2 and model.config.num_layers == 2

    out = tmp_path / "res.json"
    result = semcomm("sweep", str(run), "--snr", "10", "--n-images", "32", "--data-root", "embedded", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {r["layer"] for r in json.loads(out.read_text())["records"]} == {1, 2}

    result = torchrun(*TRAIN, "--epochs", "3", "--resume", "--extend", "--out", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    assert [h["epoch"] for h in json.loads((run / "config.json").read_text())["history"]] == [1, 2, 3]
    assert torch.load(run / state_file(3), weights_only=True)["world_size"] == 2

    line = one_error_line(semcomm(*TRAIN, "--epochs", "4", "--resume", "--extend", "--out", str(run)))
    assert "was trained by 2 processes, not 1 process" in line and "torchrun" in line
    assert load_checkpoint(run)[1]["epoch"] == 3


@pytest.mark.parametrize("weighting", ["pcgrad", "gradnorm", "upgrad", "imtl-g", "gradsplit"])
def test_gradient_combining_weightings_are_refused_under_torchrun(weighting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if weighting in ("upgrad", "imtl-g"):  # Jacobian descent: semcomm[mtl]
        pytest.importorskip("torchjd")
        pytest.importorskip("quadprog")
    cfg = TrainConfig(dataset="mnist", ratios=(1 / 49, 2 / 49), data_root="embedded", arch="klt-refine",
                      distortion="mse", weighting=weighting)
    validate(cfg)  # one process: allowed
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=f"weighting {weighting} combines the per-task gradients itself"):
        validate(cfg)


@pytest.mark.parametrize("weighting", ["fixed", "equal", "uncertainty", "dwa"])
def test_loss_weightings_train_under_torchrun(weighting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    validate(TrainConfig(dataset="mnist", ratios=(1 / 49,), data_root="embedded", distortion="mse", weighting=weighting))


@pytest.mark.slow
def test_gradient_combining_weighting_is_one_line_in_a_torchrun_worker(tmp_path: Path) -> None:
    # A torchrun worker's environment: the refusal comes before the process group is joined.
    worker = {**ENV, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
    line = one_error_line(semcomm(*TRAIN, "--weighting", "pcgrad", "--out", str(tmp_path / "run"), env=worker))
    assert "bypasses DistributedDataParallel's gradient averaging" in line and "fixed, equal, uncertainty, dwa" in line
