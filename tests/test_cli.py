"""The ``semcomm`` command line, run as a user runs it (the ``semcomm_cli`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from semcomm.cli.parsing import parse_count, parse_snr_list


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--snr", "abc"], ["'abc'", "start:stop:step"]),
        (["--snr", "10:0:2"], ["stop 0 is below start 10"]),
        (["--modulation", "8psk"], ["'8psk'", "qpsk", "256qam"]),
        (["--channel", "nope"], ["'nope'", "awgn", "rayleigh-block"]),
        (["--bits", "-5"], ["'-5'", "positive whole number"]),
        (["--csi", "psychic"], ["'psychic'", "perfect, none"]),
        (["--demapper", "guess"], ["'guess'", "app, maxlog"]),
        (["--channel", "awgn", "--k-factor", "3"], ["--k-factor", "rician"]),
        (["--channel", "rician", "--k-factor", "-1"], ["k_factor", "-1"]),
    ],
)
def test_bad_input_gives_one_line_error(semcomm_cli, args: list[str], names: list[str]) -> None:
    result = semcomm_cli("ber", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for name in names:
        assert name in lines[0]


def test_ber_job_writes_table_results_and_plot(semcomm_cli, tmp_path: Path) -> None:
    out, fig = tmp_path / "ber.json", tmp_path / "ber.png"
    result = semcomm_cli("ber", "--modulation", "16qam", "--snr", "0:10:5", "--bits", "4e4", "--out", str(out), "--plot", str(fig))
    assert result.returncode == 0, result.stderr
    assert "16qam over awgn" in result.stdout and "BER theory" in result.stdout
    data = json.loads(out.read_text())
    for key in ("semcomm_version", "git_rev", "created", "seed", "config", "versions", "records"):
        assert key in data
    assert data["config"]["modulation"] == "16qam" and data["versions"]["torch"]
    assert [r["snr_db"] for r in data["records"]] == [0.0, 5.0, 10.0]
    for r in data["records"]:
        assert r["ber_ci95"][0] <= r["ber"] <= r["ber_ci95"][1]
        assert r["ber_theory"] == pytest.approx(r["ber"], rel=0.2)
    with Image.open(fig) as im:
        assert im.format == "PNG" and im.size[0] > 400


def test_ber_resumes_finished_points(semcomm_cli, tmp_path: Path) -> None:
    out = tmp_path / "ber.json"
    first = semcomm_cli("ber", "--snr", "0,4", "--bits", "2e4", "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = {r["snr_db"]: r for r in json.loads(out.read_text())["records"]}
    second = semcomm_cli("ber", "--snr", "0,4,8", "--bits", "2e4", "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert "2 of 3 points already done" in second.stderr
    after = {r["snr_db"]: r for r in json.loads(out.read_text())["records"]}
    assert sorted(after) == [0.0, 4.0, 8.0]
    assert after[0.0] == before[0.0] and after[4.0] == before[4.0]
    # A different experiment may not append to the same file.
    clash = semcomm_cli("ber", "--snr", "0", "--bits", "3e4", "--out", str(out))
    assert clash.returncode == 2 and "different configuration" in clash.stderr


def test_snr_list_parsing() -> None:
    assert parse_snr_list("0:20:2") == [float(x) for x in range(0, 21, 2)]
    assert parse_snr_list("-5:5") == [float(x) for x in range(-5, 6)]
    assert parse_snr_list("0,5, 10") == [0.0, 5.0, 10.0]
    assert parse_snr_list("0:1:0.1")[3] == 0.3
    assert parse_snr_list("0:10:5,7.5,5") == [0.0, 5.0, 10.0, 7.5]
    for bad in ("", "1:2:3:4", "0:10:0", "x,1", "inf"):
        with pytest.raises(ValueError) as err:
            parse_snr_list(bad)
        assert "\n" not in str(err.value)


def test_count_parsing() -> None:
    assert parse_count("2e6") == 2_000_000
    assert parse_count("1000") == 1000
    for bad in ("-5", "0", "1.5", "abc", "nan"):
        with pytest.raises(ValueError, match="positive whole number"):
            parse_count(bad, "--bits")


@pytest.mark.parametrize("command", [
    ["sweep", "analog", "--dataset", "mnist", "--data-root", "embedded", "--snr", "10"],
    ["broadcast", "mnist-l3", "--data-root", "embedded", "--n-images", "4"],
    ["adapt", "mnist-l3", "--data-root", "embedded", "--steps", "1"],
    ["train", "--data-root", "embedded", "--epochs", "1"],
])
@pytest.mark.parametrize(("device", "message"), [
    ("meta", "bad --device 'meta': expected cpu, cuda, cuda:N or mps"),
    ("gpu7", "bad --device 'gpu7': expected cpu, cuda, cuda:N or mps"),
    ("cuda", "--device 'cuda': this machine's torch has no usable CUDA device; use cpu"),
    ("mps", "--device 'mps': this machine's torch has no usable MPS device; use cpu"),
])
def test_every_command_that_computes_takes_a_device_or_names_it_in_one_line(semcomm_cli, command: list[str], device: str,
                                                                          message: str, tmp_path: Path) -> None:
    import torch

    if device == "cuda" and torch.cuda.is_available() or device == "mps" and torch.backends.mps.is_available():
        pytest.skip(f"this machine has a {device} device")
    result = semcomm_cli(*command, "--device", device, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.error_lines() == [f"error: {message}"], result.stderr
    assert not (tmp_path / "out").exists()


def test_a_sweep_on_the_cpu_device_is_the_default_sweep(semcomm_cli, tmp_path: Path) -> None:
    common = ["sweep", "mnist-l3", "--method", "linear", "--data-root", "embedded", "--n-images", "32", "--snr", "0,10"]
    assert semcomm_cli(*common, "--out", "a.json").returncode == 0
    assert semcomm_cli(*common, "--device", "cpu", "--out", "b.json").returncode == 0
    a, b = (json.loads((tmp_path / f).read_text())["records"] for f in ("a.json", "b.json"))
    assert a == b


def test_help_comes_at_once_without_importing_torch_and_follows_the_plugins(tmp_path: Path) -> None:
    """The first help request renders and keeps the text; the next ones print it without
    importing torch (what makes them instant), for the group and for a command; an installed
    plugin (an entry point) is part of the key."""
    import os
    import subprocess
    import sys

    from semcomm import launcher

    env = {**os.environ, "SEMCOMM_CACHE": str(tmp_path / "cache"), "COLUMNS": "100"}

    def help_of(*args: str) -> tuple[str, str]:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "semcomm", *args], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
        return proc.stdout, "torch" in imported

    for args in (["--help"], ["sweep", "--help"], ["train", "--help"]):
        first, torch_first = help_of(*args)
        again, torch_again = help_of(*args)
        assert torch_first and not torch_again and first == again
    assert "--route-cost" in again and "--arch" in again  # the architectures' options, from the registry
    assert launcher.is_help_request([]) and launcher.is_help_request(["sweep", "--help"])
    assert not launcher.is_help_request(["sweep", "mnist-l3", "--help"]) and not launcher.is_help_request(["--snr", "--help"])
    key = launcher.help_key(["--help"], 100)
    assert launcher.help_key(["--help"], 120) != key and launcher.help_key(["sweep", "--help"], 100) != key


@pytest.mark.parametrize(("args", "message"), [
    (["sweep", "--bogus"], "error: No such option: --bogus (Possible options: --out) (see 'semcomm sweep --help')"),
    (["nope"], "error: No such command 'nope'. (see 'semcomm --help')"),
    (["plot"], "error: Missing argument 'results'. (see 'semcomm plot --help')"),
])
def test_usage_errors_are_one_line_too(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """What the entry point prints (typer's boxed usage errors are turned into one line, exit 2)."""
    from semcomm.launcher import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]
