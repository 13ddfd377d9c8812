"""Nothing lost, nothing mixed (issue 11): method identity and names, concurrent writers,
checks before work, consistent checkpoints, and one-line errors for every bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from semcomm.atomic import finite_json, write_json_atomic
from semcomm.methods import resolve_method
from semcomm.methods.jscc import default_name
from semcomm.models import JSCCConfig
from semcomm.models.conv import MultiResJSCC
from semcomm.models.checkpoint import save_checkpoint
from semcomm.plot import merge_sweeps
from semcomm.sweep import ResultsFile
import semcomm.learn.checkpointing as training
from semcomm.learn import TrainConfig, train
from semcomm.learn.checkpointing import state_file

SMOKE = dict(dataset="mnist", ratios=(1 / 49, 2 / 49), data_root="embedded", epochs=2, batch_size=64, arch="conv",
             options={"width": 8}, limit=128)


def _save_run(run: Path, seed: int) -> None:
    torch.manual_seed(seed)
    config = JSCCConfig.for_dataset("mnist", (8, 8), arch="conv", width=8)
    save_checkpoint(run, MultiResJSCC(config), {"model": config.to_dict()})


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "semcomm", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# --- 2. methods named after their source; curves of different files kept apart -------------

def test_jscc_methods_are_named_after_their_source(tmp_path: Path) -> None:
    _save_run(tmp_path / "small", 0)
    assert default_name("mnist-l3") == "mnist-l3"
    assert default_name(str(tmp_path / "small")) == "small"
    assert default_name(str(tmp_path / "small" / "model.safetensors")) == "small"
    assert default_name(str(tmp_path / "small" / "best.safetensors")) == "small/best"
    assert resolve_method(str(tmp_path / "small")).name == "small"
    assert resolve_method(str(tmp_path / "small"), name="mine").name == "mine"


def test_two_checkpoints_sweep_into_one_file_and_names_must_differ(tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 1)):
        _save_run(tmp_path / name / "run", seed)
    common = ["--snr", "10", "--n-images", "16", "--data-root", "embedded"]
    procs = [
        _start("sweep", "a/run", "b/run", *common, "--out", "dup.json", cwd=tmp_path),
        _start("sweep", "a/run", "b/run", *common, "--name", "first,second", "--out", "two.json", cwd=tmp_path),
        _start("sweep", "a/run", "b/run", *common, "--name", "first", "--out", "bad.json", cwd=tmp_path),
    ]
    (_, dup), (_, two), (_, bad) = (p.communicate(timeout=300) for p in procs)
    assert procs[0].returncode == 2 and "two methods of the sweep are named run" in dup and "--name" in dup
    assert procs[2].returncode == 2 and "--name gives 1 names for 2 JSCC models" in bad
    assert procs[1].returncode == 0, two
    records = json.loads((tmp_path / "two.json").read_text())["records"]
    assert {(r["method"], r["layer"]) for r in records} == {(m, l) for m in ("first", "second") for l in (1, 2)}


def _sweep_file(sha: str, seed: int, snrs: list[float], psnr: float) -> dict:
    method = {"name": "jscc", "source": "runs/x", "sha256": sha, "ratio": 1 / 6}
    records = [{"method": "jscc", "layer": 1, "channel": "awgn", "csi": "perfect", "snr_db": s, "ratio": 1 / 6,
                "psnr": psnr + s, "psnr_ci95": 0.1, "accuracy": None, "dataset": "mnist"} for s in snrs]
    return {"seed": seed, "config": {"methods": [method], "dataset": "mnist", "n_images": 100}, "records": records}


def test_plot_keeps_different_models_of_one_name_apart() -> None:
    """`semcomm plot a.json b.json` with two checkpoints both called jscc used to draw one curve."""
    merged = merge_sweeps([("a", _sweep_file("1" * 64, 0, [0, 10], 20)), ("b", _sweep_file("2" * 64, 0, [5], 10))])
    assert sorted({r["method"] for r in merged["records"]}) == ["jscc [a]", "jscc [b]"]
    other_seed = merge_sweeps([("a", _sweep_file("1" * 64, 0, [0], 20)), ("b", _sweep_file("1" * 64, 1, [5], 20))])
    assert {r["method"] for r in other_seed["records"]} == {"jscc [a]", "jscc [b]"}
    # Two folders of one name and size, other pixels (their images_md5): apart.
    a, b = _sweep_file("1" * 64, 0, [0], 20), _sweep_file("1" * 64, 0, [5], 20)
    a["config"] |= {"images": "folder", "images_md5": "a" * 32}
    b["config"] |= {"images": "folder", "images_md5": "b" * 32}
    assert {r["method"] for r in merge_sweeps([("a", a), ("b", b)])["records"]} == {"jscc [a]", "jscc [b]"}
    # The same model swept into two files (other SNRs) stays one curve.
    same = merge_sweeps([("a", _sweep_file("1" * 64, 0, [0], 20)), ("b", _sweep_file("1" * 64, 0, [5], 20))])
    assert {r["method"] for r in same["records"]} == {"jscc"} and len(same["records"]) == 2


# --- 3. two writers of one results file -------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, time
    from semcomm.sweep import ResultsFile
    path, first = sys.argv[1], int(sys.argv[2])
    results = ResultsFile(path, {"test": "writers"}, 0, key_fields=("snr_db",))
    for snr in range(first, first + 10, 2):
        time.sleep(0.05)
        results.add({"snr_db": float(snr), "value": snr})
""")


def test_two_processes_writing_one_file_keep_every_point(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(out), str(first)]) for first in (0, 1)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = json.loads(out.read_text())["records"]
    assert sorted(r["snr_db"] for r in records) == [float(s) for s in range(10)]


def test_results_file_keeps_created_adds_updated_and_writes_standard_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    ResultsFile(out, {"a": 1}, 0, ("snr_db",)).add({"snr_db": 0.0, "ci": float("nan")})
    first = json.loads(out.read_text())
    assert first["records"][0]["ci"] is None and "NaN" not in out.read_text()
    data = json.loads(out.read_text())
    data["created"] = "2020-01-01T00:00:00+00:00"
    out.write_text(json.dumps(data))
    ResultsFile(out, {"a": 1}, 0, ("snr_db",)).add({"snr_db": 1.0})
    second = json.loads(out.read_text())
    assert second["created"] == "2020-01-01T00:00:00+00:00" and second["updated"] >= first["updated"]
    assert finite_json({"x": [1.0, float("inf")], "y": (float("-inf"),)}) == {"x": [1.0, None], "y": [None]}


def test_malformed_records_are_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    ResultsFile(out, {"a": 1}, 0, ("snr_db",)).add({"snr_db": 0.0})
    data = json.loads(out.read_text())
    data["records"].append({"value": 3})
    out.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"record 1 is malformed \(each needs snr_db\)"):
        ResultsFile(out, {"a": 1}, 0, ("snr_db",))


def test_orphaned_temporary_files_are_removed_on_the_next_write(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = "".join(c if c.isalnum() or c == "-" else "_" for c in socket.gethostname())
    orphan = tmp_path / f".r.json.{host}.{dead.pid}.x1y2.tmp"
    alive = tmp_path / f".r.json.{host}.{os.getppid()}.x1y2.tmp"  # a running process's write: kept
    orphan.write_text("{")
    alive.write_text("{")
    write_json_atomic(tmp_path / "r.json", {"ok": True})
    assert not orphan.exists() and alive.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == [alive.name]


# --- checkpoints: one atomic unit per epoch ---------------------------------------------------

def test_a_crash_between_the_checkpoint_writes_still_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig(**SMOKE, seed=3)
    train(cfg, tmp_path / "whole")

    real = training.save_checkpoint

    def crash_in_epoch_2(run_dir, model, meta, name="model.safetensors"):  # type: ignore[no-untyped-def]
        if meta["epoch"] == 2:
            raise KeyboardInterrupt  # killed after the state of epoch 2, before its weights
        return real(run_dir, model, meta, name)

    monkeypatch.setattr(training, "save_checkpoint", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "crashed")
    monkeypatch.setattr(training, "save_checkpoint", real)
    assert (tmp_path / "crashed" / state_file(2)).exists() and (tmp_path / "crashed" / state_file(1)).exists()
    history = train(cfg, tmp_path / "crashed", resume=True)
    assert [h["epoch"] for h in history] == [1, 2]
    whole, resumed = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "crashed" / "model.safetensors"))
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert sorted(p.name for p in (tmp_path / "crashed").glob("train_state*")) == [state_file(2)]


def test_resume_names_the_difference_and_extend_trains_longer(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMOKE, "epochs": 1})
    train(cfg, tmp_path)
    with pytest.raises(ValueError, match=r"different configuration \(lr: 0.001 -> 0.0005\)"):
        train(TrainConfig(**{**SMOKE, "epochs": 1, "lr": 5e-4}), tmp_path, resume=True)
    longer = TrainConfig(**{**SMOKE, "epochs": 2})
    with pytest.raises(ValueError, match="planned for 1 epochs, not 2; add extend"):
        train(longer, tmp_path, resume=True)
    history = train(longer, tmp_path, resume=True, extend=True)
    assert [h["epoch"] for h in history] == [1, 2]
    assert json.loads((tmp_path / "config.json").read_text())["train"]["epochs"] == 2


def test_a_training_state_that_is_not_plain_tensors_is_refused_safely(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**SMOKE, "epochs": 1})
    train(cfg, tmp_path)

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    torch.save({"epoch": 1, "x": Evil()}, tmp_path / state_file(1))
    with pytest.raises(ValueError) as err:
        train(cfg, tmp_path, resume=True)
    assert "not a semcomm training state of plain tensors" in str(err.value)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)


# --- one-line errors, before any work ---------------------------------------------------------

def _bad_checkpoints(tmp_path: Path) -> dict[str, Path]:
    _save_run(tmp_path / "good", 0)
    weights = load_file(str(tmp_path / "good" / "model.safetensors"))
    runs = {}
    runs["nomodel"] = tmp_path / "nomodel" / "model.safetensors"
    runs["nomodel"].parent.mkdir()
    save_file(weights, str(runs["nomodel"]), metadata={"semcomm": json.dumps({"epoch": 1})})
    meta = json.dumps({"model": JSCCConfig.for_dataset("mnist", (8, 8), arch="conv", width=8).to_dict()})
    missing = dict(weights)
    missing.pop(sorted(missing)[0])
    runs["missing"] = tmp_path / "missing" / "model.safetensors"
    runs["missing"].parent.mkdir()
    save_file(missing, str(runs["missing"]), metadata={"semcomm": meta})
    shaped = dict(weights)
    key = next(k for k, v in shaped.items() if v.ndim == 4)
    shaped[key] = torch.zeros(1, 1, 1, 1)
    runs["shape"] = tmp_path / "shape" / "model.safetensors"
    runs["shape"].parent.mkdir()
    save_file(shaped, str(runs["shape"]), metadata={"semcomm": meta})
    return runs


def test_every_former_traceback_is_one_line(semcomm_cli, tmp_path: Path) -> None:
    runs = _bad_checkpoints(tmp_path)
    (tmp_path / "afile").write_text("x")
    mnist = ["analog", "--dataset", "mnist", "--data-root", "embedded", "--n-images", "8"]
    train_ok = ["train", "--data-root", "embedded", "--epochs", "1", "--width", "8", "--limit", "64", "--val", "0"]
    cases = [
        (["sweep", str(runs["nomodel"].parent), "--snr", "0"], ["no 'model' configuration"]),
        (["sweep", str(runs["missing"].parent), "--snr", "0"], ["lacks the tensor"]),
        (["sweep", str(runs["shape"].parent), "--snr", "0"], ["has shape (1, 1, 1, 1)"]),
        (["demo", "--model", str(runs["shape"].parent), "--out", "d"], ["has shape (1, 1, 1, 1)"]),
        (["sweep", *mnist, "--snr", "1e308"], ["'1e308' is outside -50...100 dB"]),
        (["ber", "--snr", "1e308"], ["'1e308' is outside -50...100 dB"]),
        (["sweep", *mnist, "--snr", "-400"], ["'-400' is outside -50...100 dB"]),
        (["sweep", *mnist, "--snr", "-50:100:0.001"], ["asks for 150,001 SNRs", "at most 1000"]),
        (["sweep", *mnist, "--snr", "0:1e7:0.001"], ["'1e7' is outside -50...100 dB"]),
        (["ber", "--snr", "0:90:0.01"], ["asks for 9,001 SNRs"]),
        (["ber", "--bits", "1e4", "--frame-len", "1e9"], ["--frame-len 1000000000", "use at most 5,000"]),
        (["plot", str(tmp_path)], ["is a directory, not a results file"]),
        (["sweep", *mnist, "--seed", "-1"], ["bad --seed -1"]),
        (["ber", "--seed", "-1"], ["bad --seed -1"]),
        (["demo", "--seed", "-1", "--out", "d2"], ["bad --seed -1"]),
        ([*train_ok, "--seed", "-1", "--out", "t0"], ["bad --seed -1"]),
        ([*train_ok, "--lr", "0", "--out", "t1"], ["bad --lr 0"]),
        ([*train_ok, "--weighting", "equal", "--semantic-weight", "0.1", "--out", "t2"],
         ["--weighting equal takes no --semantic-weight"]),
        ([*train_ok, "--extend", "--out", "t3"], ["--extend continues a run"]),
        ([*train_ok, "--resume", "--out", "t4"], ["holds no run to continue"]),
        # Outputs that cannot be written: refused before any work.
        (["sweep", *mnist, "--snr", "0", "--out", str(tmp_path)], ["--out", "is a directory"]),
        (["sweep", *mnist, "--snr", "0", "--out", "afile/r.json"], ["'afile' is a file, not a folder"]),
        (["sweep", *mnist, "--snr", "0", "--plot", "afile/f.png"], ["--plot", "'afile' is a file"]),
        (["ber", "--out", str(tmp_path)], ["--out", "is a directory"]),
        (["ber", "--plot", "afile/b.png"], ["--plot", "'afile' is a file"]),
        (["plot", "x.json", "--out", "afile/f.png"], ["--out", "'afile' is a file"]),
        (["demo", "--out", "afile"], ["--out 'afile' is a file; give a folder path"]),
        ([*train_ok, "--out", "afile/run"], ["--out", "'afile' is a file"]),
    ]
    for args, names in cases:
        result = semcomm_cli(*args, cwd=tmp_path)
        lines = result.error_lines()
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("error: ") and all(n in lines[0] for n in names), (args, lines[0])
    assert not (tmp_path / "d").exists() and not (tmp_path / "results.json").exists()


def test_values_that_mean_nothing_are_reported(semcomm_cli, tmp_path: Path) -> None:
    """A ratio that rounds to another one is stored as used, with a warning; --limit above the
    data says all images are used."""
    result = semcomm_cli("train", "--data-root", "embedded", "--epochs", "1", "--width", "8",
                         "--layers", "1", "--ratio", "1e-5", "--limit", "99999", "--val", "0", "--batch-size", "500",
                         "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "warning: layer 1: --ratio 1e-05 rounds to 1 channel uses, so the ratio used (and stored) is 0.001276" in result.stderr
    assert "note: --limit 99999 is above the 2000 training images: all 2000 are used" in result.stderr
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["train"]["ratios"] == [1 / 784] and meta["model"]["layer_symbols"] == [1]
