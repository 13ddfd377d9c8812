"""Plans and executors: validated once, picklable, the same records on a real Dask LocalCluster
(2 worker processes) as locally, a killed worker, resume across executors, one-line errors."""

from __future__ import annotations

import inspect
import json
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from distributed import LocalCluster

import channels
import semcomm.cli
from semcomm.ber import BerConfig, BerPlan
from semcomm.data import load_sample
from semcomm.execute import EXECUTORS, LocalExecutor, Progress, run_plan
from semcomm.execute.dask_executor import DaskExecutor
from semcomm.methods import SSCCSpec
from semcomm.methods.analog import UncodedAnalog
from semcomm.models import JSCCConfig
from semcomm.models.conv import MultiResJSCC
from semcomm.models.checkpoint import save_checkpoint
from semcomm.sweep import KEY_FIELDS, ImagesSpec, MethodsRecipe, MethodsSpec, ResultsFile, SweepPlan
from semcomm.sweep.broadcast import BroadcastPlan, UserSNRs

MNIST = dict(data_root="embedded", n_images=16, batch_size=8)


def _sweep(*sources: str, extra: tuple[str, ...] = (), snrs: tuple[float, ...] = (0.0, 10.0),
           names: tuple[str, ...] = ("awgn", "rayleigh-block"), **kwargs: Any) -> SweepPlan:
    spec = MethodsSpec(sources, extra, SSCCSpec(["jpeg"], ["capacity"]), dataset="mnist")
    return SweepPlan.from_spec(spec, list(names), ["perfect"], list(snrs), **(MNIST | kwargs))


def _file(plan: Any, path: Path, executor: Any = None) -> list[dict[str, Any]]:
    """Run ``plan`` into the results file ``path``; the file's records. Run here (no
    ``executor``), torch computes on one thread like the test cluster's workers: a convolution's
    sums on 1 and 2 threads differ in the last bits on some CPUs (PSNR by up to 3e-5 dB,
    measured), and the Dask tests compare records bit for bit."""
    threads = torch.get_num_threads()
    if executor is None:
        torch.set_num_threads(1)
    try:
        run_plan(plan, ResultsFile(path, plan.config, plan.seed, plan.key_fields), executor)
    finally:
        torch.set_num_threads(threads)
    return json.loads(path.read_text())["records"]


def test_a_plan_builds_each_channel_once_and_checks_each_method_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = channels.get
    monkeypatch.setattr(channels, "get", lambda name, **kw: built.append(name) or real(name, **kw))
    checks: list[tuple[str, str]] = []

    class Checked(UncodedAnalog):
        def check(self, channel: channels.Channel, csi: str) -> None:
            checks.append((channel.name, csi))
            super().check(channel, csi)

    images = load_sample("mnist")
    plan = SweepPlan([Checked("mnist")], images, ["awgn", "rayleigh-block"], ["perfect", "none"], [0.0, 5.0],
                     batch_size=1000)
    records = run_plan(plan, None)
    assert built == ["awgn", "rayleigh-block"]  # validation and the whole run included
    assert sorted(checks) == sorted((c, k) for c in ("awgn", "rayleigh-block") for k in ("perfect", "none"))
    assert len(records) == 2 * 2 * 2


def test_a_plan_pickles_as_its_recipe_and_its_copy_gives_the_same_records() -> None:
    plan = _sweep("mnist-l3", "analog", extra=("linear", "sscc"), names=("awgn",))
    blob = pickle.dumps(plan)
    assert len(blob) < 20_000, len(blob)
    copy = pickle.loads(blob)
    assert copy.config == plan.config
    assert run_plan(copy, None) == run_plan(plan, None)


def test_the_recipe_is_portable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative checkpoint paths become absolute, default names are frozen, the data root is resolved."""
    torch.manual_seed(0)
    config = JSCCConfig.for_dataset("mnist", (8, 8), arch="conv", width=8)
    save_checkpoint(tmp_path / "runs" / "small", MultiResJSCC(config), {"model": config.to_dict()})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    plan = SweepPlan.from_spec(MethodsSpec(("runs/small",)), ["awgn"], ["perfect"], [0.0], n_images=4)
    assert plan.recipe is not None
    spec = plan.recipe.methods
    assert spec.sources == (str(tmp_path / "runs" / "small"),) and spec.names == ("small",)
    assert spec.data_root == "embedded" and plan.recipe.images.root == "embedded"
    assert plan.paths() == [tmp_path / "runs" / "small"]
    assert plan.config["methods"][0]["source"] == "runs/small"  # the results file names it as the user did


def test_a_worker_refuses_a_checkpoint_replaced_after_the_client_identified_it(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker rebuilds the methods from their paths; if the file changed since the client
    loaded it (other weights, so another sha256), it refuses instead of scoring model B as A."""
    config = JSCCConfig.for_dataset("mnist", (8, 8), arch="conv", width=8)
    run = tmp_path / "runs" / "small"
    torch.manual_seed(0)
    save_checkpoint(run, MultiResJSCC(config), {"model": config.to_dict()})
    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    plan = SweepPlan.from_spec(MethodsSpec((str(run),)), ["awgn"], ["perfect"], [0.0], n_images=4)
    blob = pickle.dumps(plan)  # what the client ships to a worker
    torch.manual_seed(1)
    save_checkpoint(run, MultiResJSCC(config), {"model": config.to_dict()})  # replaced meanwhile
    worker_copy = pickle.loads(blob)
    with pytest.raises(ValueError, match="method 'small' changed on disk after the run started .*sha256"):
        run_plan(worker_copy, None)


def test_local_executor_and_registry() -> None:
    assert EXECUTORS.names() == ["local", "dask"]
    assert isinstance(EXECUTORS.get("local"), LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor 'ray'; choose one of: local, dask"):
        EXECUTORS.get("ray")


def test_every_channel_option_has_a_flag_and_reaches_its_constructor() -> None:
    values = {"--k-factor": ("3", 3.0), "--block-len": ("4", 4), "--delay-spread": ("100", 100.0), "--doppler": ("5", 5.0)}
    assert set(channels.all_options()) == set(values)
    for command in (semcomm.cli.sweep.sweep, semcomm.cli.ber.ber, semcomm.cli.broadcast.broadcast,
                    semcomm.cli.train.train, semcomm.cli.adapt.adapt):
        flags = {p.name for p in inspect.signature(command).parameters.values()}
        assert {"k_factor", "block_len", "delay_spread", "doppler"} <= flags, command
    for name in channels.names():
        for option in channels.options(name):
            text, value = values[option.flag]
            channel = channels.get(name, **channels.option_kwargs(name, {option.flag: text}))
            owner = channel.tdl if name.startswith("tdl-") else channel
            assert getattr(owner, option.kwarg) == value, (name, option.flag)
    with pytest.raises(ValueError, match="--doppler applies to tdl-a, tdl-b, tdl-c, tdl-d, tdl-e, not 'rician'"):
        channels.option_kwargs("rician", {"--doppler": "5"})
    with pytest.raises(ValueError, match="bad --block-len '1.5': expected a positive whole number"):
        channels.option_kwargs("rician", {"--block-len": "1.5"})


# --- a real Dask cluster: 2 worker processes, one thread each ------------------------------------


@pytest.fixture(scope="module")
def scheduler() -> Any:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def test_dask_gives_the_local_results_file(scheduler: str, tmp_path: Path) -> None:
    plan = _sweep("mnist-l3", "analog", extra=("sscc",), snrs=(0.0, 10.0, 20.0))
    local = _file(plan, tmp_path / "local.json")
    with DaskExecutor(scheduler=scheduler) as dask:
        assert dask.workers == 2
        assert _file(plan, tmp_path / "dask.json", dask) == local  # record for record, in plan order
    assert len(local) == 2 * 3 * (3 + 1 + 1)


def test_ber_and_broadcast_on_dask_equal_local(scheduler: str, tmp_path: Path) -> None:
    ber = BerPlan(BerConfig(modulation="16qam", channel="rayleigh-block", bits=20_000, seed=2), [0.0, 6.0, 12.0])
    spec = MethodsSpec(("mnist-l3",), ("sscc",), SSCCSpec(["jpeg"], ["capacity"]))
    broadcast = BroadcastPlan.from_spec(spec, ["awgn"], ["perfect"], UserSNRs("uniform", (0.0, 20.0)), 4, [0.0, 50.0],
                                        seed=1, batch_size=8, data_root="embedded", n_images=8)
    assert len(pickle.dumps(broadcast)) < 20_000
    with DaskExecutor(scheduler=scheduler) as dask:
        assert _file(ber, tmp_path / "ber-dask.json", dask) == _file(ber, tmp_path / "ber.json")
        assert _file(broadcast, tmp_path / "b-dask.json", dask) == _file(broadcast, tmp_path / "b.json")


def test_resume_across_executors(scheduler: str, tmp_path: Path) -> None:
    reference = _file(_sweep("analog", snrs=(0.0, 10.0, 20.0)), tmp_path / "whole.json")
    path = tmp_path / "r.json"
    _file(_sweep("analog", snrs=(0.0, 10.0)), path)  # started locally
    ran: list[int] = []
    with DaskExecutor(scheduler=scheduler) as dask:  # finished on Dask
        plan = _sweep("analog", snrs=(0.0, 10.0, 20.0))
        results = ResultsFile(path, plan.config, plan.seed, plan.key_fields)
        run_plan(plan, results, dask, Progress(advance=ran.append))
    assert len(ran) == 2  # the 20 dB point on each channel, nothing else
    assert json.loads(path.read_text())["records"] == reference


def test_a_worker_that_cannot_see_the_data_or_a_checkpoint_is_refused(scheduler: str, tmp_path: Path) -> None:
    images = load_sample("mnist")
    recipe = MethodsRecipe(MethodsSpec(("analog",), dataset="mnist"), ImagesSpec("mnist", str(tmp_path / "data-root")))
    unreachable = SweepPlan([UncodedAnalog("mnist")], images, ["awgn"], ["perfect"], [0.0], recipe=recipe)
    torch.manual_seed(0)
    config = JSCCConfig.for_dataset("mnist", (8, 8), arch="conv", width=8)
    save_checkpoint(tmp_path / "run", MultiResJSCC(config), {"model": config.to_dict()})
    gone = SweepPlan.from_spec(MethodsSpec((str(tmp_path / "run"),)), ["awgn"], ["perfect"], [0.0], **MNIST)
    shutil.rmtree(tmp_path / "run")  # as if the workers ran on machines without it
    with DaskExecutor(scheduler=scheduler) as dask:
        for plan, missing in ((unreachable, "data-root"), (gone, "run")):
            with pytest.raises(ValueError) as err:
                run_plan(plan, None, dask)
            message = str(err.value)
            assert message.startswith("Dask worker tcp://") and f"cannot see '{tmp_path / missing}'" in message
            assert "every worker needs the data root and the checkpoints at the same path as this client" in message
            assert "\n" not in message


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_and_repeats_nothing(scheduler: str, tmp_path: Path) -> None:
    plan = _sweep("mnist-l3", snrs=(0.0, 5.0, 10.0, 15.0, 20.0, 25.0), names=("awgn",), n_images=128, batch_size=64)
    reference = _file(plan, tmp_path / "local.json")
    path = tmp_path / "dask.json"
    results = ResultsFile(path, plan.config, plan.seed, plan.key_fields)
    written: list[tuple[Any, ...]] = []
    add_many = results.add_many
    results.add_many = lambda records: written.extend(tuple(r[k] for k in KEY_FIELDS) for r in records) or add_many(records)  # type: ignore[method-assign]
    killed: list[int] = []
    with DaskExecutor(scheduler=scheduler) as dask:
        pids = dask.client.run(os.getpid)

        def kill_a_busy_worker(_: int) -> None:
            busy = [w for w, keys in dask.client.processing().items() if keys]
            if not killed and busy:
                killed.append(pids[busy[0]])
                os.kill(pids[busy[0]], signal.SIGKILL)  # mid-point: its nanny starts a new worker

        run_plan(plan, results, dask, Progress(advance=kill_a_busy_worker))
    assert killed
    assert sorted(written) == sorted(tuple(r[k] for k in KEY_FIELDS) for r in reference)  # each point once
    assert json.loads(path.read_text())["records"] == reference


# --- the command line --------------------------------------------------------------------------


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "semcomm", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_cli_executor_flags_give_one_line_errors(semcomm_cli, tmp_path: Path) -> None:
    sweep = ["sweep", "analog", "--dataset", "mnist", "--data-root", "embedded", "--n-images", "8", "--snr", "0"]
    cases = [
        ([*sweep, "--executor", "dask", "--scheduler", "nonsense"], ["bad --scheduler 'nonsense'", "tcp://HOST:PORT"]),
        ([*sweep, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"], ["--scheduler tcp://127.0.0.1:1",
                                                                               "no scheduler answers there"]),
        ([*sweep, "--executor", "dask", "--workers", "0"], ["bad --workers '0'", "positive whole number"]),
        ([*sweep, "--workers", "2"], ["--workers applies to --executor dask"]),
        ([*sweep, "--executor", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
         ["--scheduler attaches to a running cluster and --workers starts one"]),
        ([*sweep, "--executor", "ray"], ["unknown executor 'ray'; choose one of: local, dask"]),
        (["ber", "--executor", "dask", "--workers", "0"], ["bad --workers '0'"]),
        (["broadcast", "analog", "--dataset", "mnist", "--scheduler", "tcp://127.0.0.1:1"], ["--scheduler applies to"]),
    ]
    for args, names in cases:
        result = semcomm_cli(*args, cwd=tmp_path)
        lines = result.error_lines()
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("error: ") and all(n in lines[0] for n in names), (args, lines[0])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_cli_sweep_on_two_dask_workers_writes_the_local_file(tmp_path: Path) -> None:
    args = ["sweep", "analog", "--method", "sscc", "--ratio", "1/8", "--codec", "jpeg", "--link", "capacity",
            "--dataset", "mnist", "--data-root", "embedded", "--n-images", "16", "--batch-size", "8", "--snr", "0,10",
            "--channel", "awgn,rician", "--k-factor", "2"]
    local = _start(*args, "--out", "local.json", cwd=tmp_path)
    dask = _start(*args, "--out", "dask.json", "--executor", "dask", "--workers", "2", cwd=tmp_path)
    for proc in (local, dask):
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    local_file, dask_file = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("local", "dask"))
    assert dask_file["config"] == local_file["config"] and dask_file["records"] == local_file["records"]
    assert {r["channel"] for r in local_file["records"]} == {"awgn", "rician"}
    assert local_file["config"]["channel_kwargs"] == {"awgn": {}, "rician": {"k_factor": 2.0}}
