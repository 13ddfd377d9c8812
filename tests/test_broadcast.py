"""Broadcast: independent receivers, the single-stream service rule, resume, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from counting import Counting

import channels
from semcomm.cli.parsing import parse_user_snr
from semcomm.data import load_sample
from semcomm.methods import resolve_method
from semcomm.methods.sscc import SSCCMethod
from semcomm.sweep import ResultsFile
from semcomm.sweep.broadcast import (
    BROADCAST_KEY_FIELDS,
    design_methods,
    highest_layers,
    run_broadcast,
    summarise,
)


def _images(name: str, n: int):  # type: ignore[no-untyped-def]
    ds = load_sample(name)
    return dataclasses.replace(ds, images=ds.images[:n], labels=ds.labels[:n])


def _results(path: Path) -> ResultsFile:
    return ResultsFile(path, {"test": "broadcast"}, 0, key_fields=BROADCAST_KEY_FIELDS)


def test_a_receiver_depends_only_on_its_own_draws(tmp_path: Path) -> None:
    model = resolve_method("mnist-l3")
    images = _images("mnist", 16)
    snrs = parse_user_snr("uniform:0:20").draw(3, seed=4)
    assert parse_user_snr("uniform:0:20").draw(2, seed=4) == snrs[:2]  # user u's SNR depends on (seed, u) only
    two = run_broadcast(model, images, ["rayleigh-block"], ["perfect"], snrs[:2], _results(tmp_path / "a.json"), seed=4)
    three = run_broadcast(model, images, ["rayleigh-block"], ["perfect"], snrs, _results(tmp_path / "b.json"), seed=4)
    assert [r for r in three if r["user"] < 2] == two
    assert {r["user"] for r in three} == {0, 1, 2} and all(r["snr_db"] == snrs[r["user"]] for r in three)


def test_single_stream_sscc_serves_users_at_or_above_the_design_snr() -> None:
    images = _images("cifar10", 12)
    method = SSCCMethod("jpeg", "capacity", "cifar10", 1 / 6)
    user_snrs = [4.0, 8.0, 10.0, 12.0, 16.0]
    (worst,) = design_methods([method], user_snrs, [0.0], [])
    (median,) = design_methods([method], user_snrs, [50.0], [])
    assert (worst.name, worst.design_snr_db, median.name, median.design_snr_db) == (
        "jpeg+capacity@p0", 4.0, "jpeg+capacity@p50", 10.0)
    channel = channels.get("awgn")
    for snr in user_snrs:
        extras = median.transmit(_float(images), channel, snr, "perfect", torch.Generator().manual_seed(0))[0].extras
        # AWGN has no outage: every image the transmitter sends arrives iff the user's SNR >= the design SNR.
        assert extras["sent"] > 0.5 and extras["delivered"] == (extras["sent"] if snr >= 10.0 else 0.0), snr


def _float(images) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.from_numpy(images.images).float() / 255


def test_ldpc_service_follows_the_bler_table_of_the_design_mcs() -> None:
    """Designed for 10 dB, users at 10 dB and 8.5 dB receive each image with the probability the
    BLER table gives for that MCS at their own SNR."""
    images = _images("cifar10", 100)
    method = SSCCMethod("jpeg", "ldpc", "cifar10", 1 / 6).designed_for([10.0])
    channel = channels.get("awgn")
    plan = method.link.plan(channel, 10.0, "perfect")
    for user_snr in (10.0, 8.5):
        extras = method.transmit(_float(images), channel, user_snr, "perfect", torch.Generator().manual_seed(1))[0].extras
        assert extras["budget_bits"] == plan.info_bits  # the design's MCS, whatever the user's SNR
        expected = 1 - method.link.bler(channel, "perfect", plan.mcs, user_snr)
        sigma = math.sqrt(expected * (1 - expected) / 100) + 1e-3
        assert abs(extras["delivered"] / extras["sent"] - expected) < 4 * sigma + 0.02, (user_snr, extras, expected)


def test_broadcast_resumes_without_recomputing_or_losing_users(tmp_path: Path) -> None:
    images = _images("mnist", 8)
    analog = resolve_method("analog", "mnist")
    snrs = [0.0, 5.0, 10.0, 15.0, 20.0]
    whole = run_broadcast(analog, images, ["awgn"], ["perfect"], snrs, _results(tmp_path / "whole.json"), batch_size=8)
    killed = Counting(analog, fail_at=4)  # one batch per user: killed during user 3, after users 0-2 finished
    with pytest.raises(KeyboardInterrupt):
        run_broadcast(killed, images, ["awgn"], ["perfect"], snrs, _results(tmp_path / "r.json"), batch_size=8,
                      users_per_write=2)
    # Users 0-1 were written together; user 2, finished but not yet written, is written as the run stops.
    assert sorted(r["user"] for r in json.loads((tmp_path / "r.json").read_text())["records"]) == [0, 1, 2]
    again = Counting(analog)
    resumed = run_broadcast(again, images, ["awgn"], ["perfect"], snrs, _results(tmp_path / "r.json"), batch_size=8)
    assert again.calls == 2 and resumed == whole
    summary = summarise(resumed)
    assert summary[0]["users"] == 5 and summary[0]["decode_fraction"] == 1.0 and summary[0]["highest_layer_mean"] == 1
    assert summary[0]["psnr_p10"] < summary[0]["psnr_mean"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "bad --users '0'"),
        (["--user-snr", "uniform:20:0"], "bad --user-snr 'uniform:20:0'"),
        (["--user-snr", "normal:10"], "bad --user-snr 'normal:10'"),
        (["--method", "sscc", "--design-percentile", "101"], "bad --design-percentile '101': percentile 101 is outside 0...100"),
        (["--method", "sscc-scalable", "--layer-percentiles", "0,50"], "--layer-percentiles gives 2 values"),
        (["--users", "3", "--user-snr", "0,10"], "--users 3 but --user-snr lists 2 SNRs"),
    ],
)
def test_broadcast_bad_input_is_one_line(semcomm_cli, args: list[str], message: str, tmp_path: Path) -> None:
    result = semcomm_cli("broadcast", "mnist-l3", "--data-root", "embedded", "--n-images", "4",
                         "--link", "capacity", "--out", str(tmp_path / "b.json"), *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    assert not (tmp_path / "b.json").exists()


def test_broadcast_command_line_writes_records_table_and_figure(semcomm_cli, tmp_path: Path) -> None:
    args = ["broadcast", "mnist-l3", "--method", "linear,sscc,sscc-scalable",
            "--codec", "jpeg", "--link", "capacity", "--users", "6", "--user-snr", "normal:15:5", "--n-images", "8",
            "--design-percentile", "0,50", "--data-root", "embedded", "--out", "b.json", "--plot", "b.png"]
    result = semcomm_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    methods = [m["name"] for m in data["config"]["methods"]]
    assert methods == ["mnist-l3", "linear", "jpeg+capacity@p0", "jpeg+capacity@p50", "jpeg2000-layers+capacity@p0/45/90"]
    assert data["config"]["user_snr"] == {"kind": "normal", "params": [15.0, 5.0]}
    users = {(r["method"], r["user"]) for r in data["records"]}
    assert users == {(m, u) for m in methods for u in range(6)}
    worst = min(r["snr_db"] for r in data["records"])
    assert data["config"]["methods"][2]["design_snr_db"] == worst  # the 0th percentile user's SNR
    assert "Broadcast to 6 users" in result.stdout and (tmp_path / "b.png").stat().st_size > 10_000
    # Rerunning computes nothing and changes nothing.
    again = semcomm_cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "resuming b.json" in again.stderr
    assert json.loads((tmp_path / "b.json").read_text())["records"] == data["records"]


def test_the_highest_layer_decoded_is_the_top_layer_that_decodes() -> None:
    def record(user: int, layer: int | None, decoded: float) -> dict:
        return {"method": "m", "channel": "awgn", "csi": "perfect", "user": user, "layer": layer,
                "extras": {"decoded": decoded}}

    records = [record(0, 1, 1.0), record(0, 2, 0.95), record(0, 3, 0.2),  # layers 1-2
               record(1, 1, 0.0), record(1, 2, 1.0), record(1, 3, 0.5),   # layer 1 empty, layer 2 decodes
               record(2, 1, 0.1), record(2, 2, 0.0), record(2, 3, 0.0),
               {**record(3, None, 0.0), "method": "s", "extras": {"delivered": 0.97}}]
    assert highest_layers(records) == {("m", "awgn", "perfect", 0): 2, ("m", "awgn", "perfect", 1): 2,
                                       ("m", "awgn", "perfect", 2): 0, ("s", "awgn", "perfect", 3): 1}
