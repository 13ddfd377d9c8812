"""Faults a user meets: outputs that would overwrite inputs or each other, outputs that are no
regular files, and the other cases of the "nothing lost, nothing mixed" audit. Each gives one
line before any work (or behaves correctly)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from semcomm.atomic import check_distinct, check_writable


def one_line(result) -> str:  # noqa: ANN001 - the fixture's CliResult
    lines = result.error_lines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- outputs: never an input, never each other, always a regular file ---------------------------

def test_out_and_plot_must_differ(semcomm_cli, tmp_path: Path) -> None:
    line = one_line(semcomm_cli("sweep", "mnist-l3", "--snr", "10", "--n-images", "4", "--out", "r.png", "--plot", "r.png"))
    assert "--plot and --out name one file, 'r.png'" in line
    assert not (tmp_path / "r.png").exists()  # before any work


def test_out_and_plot_through_a_link_are_one_file(semcomm_cli, tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "alias.json").symlink_to(tmp_path / "r.json")
    line = one_line(semcomm_cli("ber", "--snr", "0", "--bits", "1e3", "--out", "r.json", "--plot", "alias.json"))
    assert "name one file" in line
    assert (tmp_path / "r.json").read_text() == "{}"


def test_plot_never_overwrites_the_results_it_reads(semcomm_cli, tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"records": []}')
    line = one_line(semcomm_cli("plot", "r.json", "--out", "r.json"))
    assert "--out 'r.json' is also a results file, an input of this command" in line
    assert (tmp_path / "r.json").read_text() == '{"records": []}'


def test_sweep_never_overwrites_the_model_it_evaluates(semcomm_cli, tmp_path: Path) -> None:
    from semcomm.models.checkpoint import resolve_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(resolve_checkpoint("mnist-l3"), run / "model.safetensors")
    before = (run / "model.safetensors").read_bytes()
    line = one_line(semcomm_cli("sweep", str(run), "--snr", "10", "--out", str(run / "model.safetensors")))
    assert "is also a model source, an input of this command" in line
    assert (run / "model.safetensors").read_bytes() == before
    line = one_line(semcomm_cli("adapt", str(run), "--channel", "rician", "--data-root", str(tmp_path), "--out", str(run), "--force"))
    assert f"--out {str(run)!r} holds the model it adapts" in line
    line = one_line(semcomm_cli("train", "--data-root", "embedded", "--init-from", str(run), "--out", str(run), "--force"))
    assert "holds the --init-from model" in line
    assert (run / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("kind", ["fifo", "device", "loop", "directory", "immutable"])
def test_out_must_be_a_regular_writable_file_or_a_new_path(semcomm_cli, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out.json"
    if kind == "fifo":
        os.mkfifo(target)
        want = "is not a regular file (a FIFO, device or socket)"
    elif kind == "device":
        target = Path("/dev/zero")
        want = "is not a regular file (a FIFO, device or socket)"
    elif kind == "loop":
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")
        target = tmp_path / "a"
        want = "a loop of symbolic links"
    elif kind == "directory":
        target.mkdir()
        want = "is a directory; give a file path"
    else:
        target.write_text("{}")
        target.chmod(0o444)
        if os.access(target, os.W_OK):  # root writes read-only files: make it immutable where the platform can
            if shutil.which("chattr") is None or os.system(f"chattr +i {target} 2>/dev/null") != 0:
                pytest.skip("cannot make a file unwritable for this user here (root, no chattr)")
        want = "cannot be written (read-only or immutable)"
    try:
        line = one_line(semcomm_cli("sweep", "mnist-l3", "--snr", "10", "--n-images", "4", "--out", str(target), timeout=60))
        assert want in line
    finally:
        if kind == "immutable":
            os.system(f"chattr -i {target} 2>/dev/null")


def test_check_distinct_allows_distinct_paths(tmp_path: Path) -> None:
    check_distinct([("--out", tmp_path / "a.json"), ("--plot", tmp_path / "a.png")], [("input", tmp_path / "b.json")])
    check_writable(tmp_path / "new" / "deeper" / "a.json", "--out")  # a new path below a writable folder


# -- resume: a point is done when whole; duplicates are refused -----------------------------------

def test_a_point_with_a_lost_layer_record_is_computed_again(semcomm_cli, tmp_path: Path) -> None:
    import json

    args = ("sweep", "mnist-l3", "--snr", "5,15", "--n-images", "8", "--data-root", "embedded", "--out", "r.json")
    assert semcomm_cli(*args).returncode == 0
    data = json.loads((tmp_path / "r.json").read_text())
    whole = [r for r in data["records"] if r["snr_db"] == 5.0]
    assert [r["layers"] for r in whole] == [3, 3, 3]
    data["records"] = [r for r in data["records"] if not (r["snr_db"] == 5.0 and r["layer"] == 2)]
    (tmp_path / "r.json").write_text(json.dumps(data))
    result = semcomm_cli(*args)
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "r.json").read_text())["records"]
    assert [(r["snr_db"], r["layer"]) for r in again] == [(5.0, 1), (5.0, 2), (5.0, 3), (15.0, 1), (15.0, 2), (15.0, 3)]
    assert [r["psnr"] for r in again if r["snr_db"] == 5.0] == [r["psnr"] for r in whole]  # the same draws


def test_duplicate_records_are_refused(semcomm_cli, tmp_path: Path) -> None:
    import json

    args = ("sweep", "mnist-l3", "--snr", "5", "--n-images", "8", "--data-root", "embedded", "--out", "r.json")
    assert semcomm_cli(*args).returncode == 0
    data = json.loads((tmp_path / "r.json").read_text())
    data["records"].append(dict(data["records"][1]))
    (tmp_path / "r.json").write_text(json.dumps(data))
    result = semcomm_cli(*args)
    errors = [line for line in result.error_lines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    line = errors[0]
    assert "records 1 and 3 are both the record of method 'mnist-l3'" in line and "layer 2" in line


# -- checkpoints that declare what they do not hold ----------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"width": 10**6}, "bad model configuration (bad width 1000000: it must be a whole number from 1 to 4096"),
    ({"width": 48}, "has shape"),
    ({"image_shape": [1, 10**5, 10**5]}, "is too large"),
    ({"image_shape": [1, -28, 28]}, "must be (C, H, W) of positive whole numbers"),
])
def test_a_checkpoint_declaring_other_sizes_is_refused_before_allocating(tmp_path: Path, change: dict, message: str) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from semcomm.models.checkpoint import load_checkpoint, resolve_checkpoint

    source = resolve_checkpoint("mnist-l3")
    with safe_open(str(source), framework="pt") as f:
        meta = json.loads(f.metadata()["semcomm"])
    meta["model"] |= change
    save_file(load_file(str(source)), str(tmp_path / "m.safetensors"), metadata={"semcomm": json.dumps(meta)})
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path / "m.safetensors")
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1


def test_deeply_nested_checkpoint_metadata_is_one_line(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from semcomm.models.checkpoint import load_checkpoint

    save_file({"x": __import__("torch").zeros(1)}, str(tmp_path / "m.safetensors"), metadata={"semcomm": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(ValueError, match="nested too deeply"):
        load_checkpoint(tmp_path / "m.safetensors")


# -- identity: what a method is, not how it was spelled; empty values are errors ------------------

def test_one_model_spelled_as_folder_or_file_resumes_one_results_file(semcomm_cli, tmp_path: Path) -> None:
    from semcomm.models.checkpoint import resolve_checkpoint

    (tmp_path / "run").mkdir()
    shutil.copy(resolve_checkpoint("mnist-l3"), tmp_path / "run" / "model.safetensors")
    common = ("--snr", "10", "--n-images", "4", "--data-root", "embedded", "--out", "r.json")
    assert semcomm_cli("sweep", "run", *common).returncode == 0
    again = semcomm_cli("sweep", str(tmp_path / "run" / "model.safetensors"), *common)
    assert again.returncode == 0, again.stderr
    assert "resuming r.json: 1 of 1 points already done" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["sweep", "mnist-l3", "--method", ""], "bad --method '': give at least one name"),
    (["sweep", "mnist-l3", "--name", ""], "bad --name '': give a name"),
    (["sweep", "mnist-l3", "--channel", "awgn,"], "bad --channel 'awgn,': an empty name in the list"),
    (["sweep", "mnist-l3", "--codec", ""], "bad --codec '': give at least one name"),
    (["broadcast", "mnist-l3", "--users", ""], "bad --users ''"),
    (["broadcast", "mnist-l3", "--design-percentile", "10"], "--design-percentile sets the rate of single-stream SSCC"),
    (["train", "--weighting", "pcgrad", "--weighting-opt", "seed=-1"], "the seed must be a whole number from 0 to 2**63-1"),
    (["train", "--weighting", "pcgrad", "--weighting-opt", "seed=1.5"], "the seed must be a whole number from 0 to 2**63-1"),
])
def test_empty_or_ineffective_values_are_one_line(semcomm_cli, tmp_path: Path, args: list[str], message: str) -> None:
    out = ["--out", str(tmp_path / ("t" if args[0] == "train" else "r.json"))]
    line = one_line(semcomm_cli(*args, "--data-root", "embedded", *out))
    assert message in line


# -- a full disk: one line, and the files from before stay whole ------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201 - a fixture
    """A 64 KiB tmpfs at ``tmp_path / "disk"`` (needs the right to mount: root on Linux)."""
    import subprocess
    import sys

    disk = tmp_path / "disk"
    disk.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` but about ``leave`` bytes."""
    free = shutil.disk_usage(disk).free
    (disk / "ballast").write_bytes(b"x" * max(0, free - leave))


def test_a_full_disk_in_a_sweep_is_one_line_and_keeps_the_old_results(semcomm_cli, small_disk: Path) -> None:
    common = ("mnist-l3", "--n-images", "4", "--data-root", "embedded", "--out", str(small_disk / "r.json"))
    assert semcomm_cli("sweep", *common, "--snr", "10").returncode == 0
    before = (small_disk / "r.json").read_text()
    _fill(small_disk, 1024)
    result = semcomm_cli("sweep", *common, "--snr", "10,20")
    errors = [line for line in result.error_lines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and "No space left on device" in errors[0] and "the files from before are as they were" in errors[0]
    assert (small_disk / "r.json").read_text() == before  # whole, unchanged
    assert not list(small_disk.glob(".r.json.*.tmp"))  # no partial temporary file left


def test_a_full_disk_in_training_is_one_line(semcomm_cli, small_disk: Path) -> None:
    _fill(small_disk, 2048)
    result = semcomm_cli("train", "--data-root", "embedded", "--arch", "conv", "--width", "8", "--layers", "2", "--ratio", "1/49",
                         "--epochs", "1", "--limit", "64", "--val", "0", "--out", str(small_disk / "run"))
    errors = [line for line in result.error_lines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert not (small_disk / "run" / "model.safetensors").exists()


# -- caches: validated entries, unwritable folders -------------------------------------------------

@pytest.mark.parametrize("entry", [[0, 0], [5, 3], [-1, 10], "x", [1.5, 10], [1, 2, 3]])
def test_a_malformed_bler_cache_entry_is_simulated_again(tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: object) -> None:
    import json

    from semcomm.links.bler_cache import BlerCache

    (tmp_path / "bler.json").write_text(json.dumps({"k": entry, "good": [3, 40]}))
    cache = BlerCache(tmp_path / "bler.json")
    assert cache.get("k") is None and cache.get("good") == (3, 40)
    assert "is simulated again" in capsys.readouterr().err


def test_an_unwritable_cache_folder_is_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from semcomm.links.bler_cache import BlerCache
    from semcomm.models.klt import klt_of

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SEMCOMM_CACHE", str(tmp_path / "file" / "cache"))  # below a file: nothing can be created
    cache = BlerCache()
    cache.put("k", 1, 10)
    cache.put("j", 1, 10)
    assert cache.get("k") == (1, 10)  # still cached in memory
    assert capsys.readouterr().err.count("block error rates are not cached on disk") == 1
    images = np.random.default_rng(0).integers(0, 256, (8, 1, 4, 4), dtype=np.uint8)
    assert klt_of("tiny", images).basis.shape[0] == 16
    assert "the KLT of tiny is not cached" in capsys.readouterr().err


def test_a_klt_of_identical_images_is_still_fitted_or_refused_in_one_line() -> None:
    import numpy as np

    from semcomm.models.klt import fit_klt

    try:
        klt = fit_klt("flat", np.full((4, 1, 4, 4), 7, dtype=np.uint8))
    except ValueError as err:
        assert "cannot be fitted" in str(err) and len(str(err).splitlines()) == 1
    else:
        assert klt.basis.shape[0] == 16 and bool(__import__("torch").isfinite(klt.basis).all())


def test_a_klt_whose_eigh_does_not_converge_falls_back_to_the_svd(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import torch

    from semcomm.models.klt import fit_klt

    images = np.random.default_rng(1).integers(0, 256, (64, 1, 4, 4), dtype=np.uint8)
    want = fit_klt("x", images)

    def fails(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise torch.linalg.LinAlgError("did not converge")

    monkeypatch.setattr(torch.linalg, "eigh", fails)
    got = fit_klt("x", images)
    assert torch.allclose(got.eigvals, want.eigvals, rtol=1e-4)
    assert torch.allclose((got.basis.T @ want.basis).abs(), torch.eye(16), atol=1e-3)  # the same vectors up to sign


# -- Dask: a listener that is not a scheduler ------------------------------------------------------

def test_a_scheduler_address_that_is_not_dask_is_one_line_within_the_timeout() -> None:
    import socket
    import threading
    import time

    pytest.importorskip("distributed")
    from semcomm.execute.address import check_scheduler

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    start = time.perf_counter()
    with pytest.raises(ValueError, match="does not answer as a Dask scheduler within 1 s"):
        check_scheduler(f"tcp://127.0.0.1:{server.getsockname()[1]}", timeout_s=1.0)
    assert time.perf_counter() - start < 10
    server.close()


def test_a_cluster_that_loses_its_only_worker_is_one_line_and_keeps_finished_points(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first point finishes, then the worker dies (KilledWorker): one line, the first point written."""
    pytest.importorskip("distributed")
    import json

    from distributed.scheduler import KilledWorker

    import semcomm.execute.dask_executor as dask_executor
    from semcomm.execute import run_plan
    from semcomm.sweep import MethodsSpec, ResultsFile, SweepPlan

    monkeypatch.delenv("SEMCOMM_DATA", raising=False)
    plan = SweepPlan.from_spec(MethodsSpec(("mnist-l3",)), ["awgn"], ["perfect"], [0.0, 10.0], n_images=4)

    class Future:
        def __init__(self, point):  # noqa: ANN001
            self.point = point

        def result(self):  # noqa: ANN202
            if self.point.snr_db > 0:
                raise KilledWorker("run_point", "tcp://127.0.0.1:1", 3)
            return plan.run_point(self.point)

    class Client:
        def scatter(self, items, **kwargs):  # noqa: ANN001, ANN003, ANN202
            return items

        def submit(self, fn, shared, point, **kwargs):  # noqa: ANN001, ANN003, ANN202
            return Future(point)

        def cancel(self, futures) -> None:  # noqa: ANN001
            pass

        def scheduler_info(self):  # noqa: ANN202
            return {"workers": {"w": {}}}

    executor = object.__new__(dask_executor.DaskExecutor)
    executor.client, executor.cluster = Client(), None
    monkeypatch.setattr(dask_executor, "as_completed", lambda futures: list(futures))
    results = ResultsFile(tmp_path / "r.json", plan.config, plan.seed, plan.key_fields)
    with pytest.raises(ValueError, match="lost the workers running sweep points .KilledWorker.; the points finished so far"):
        run_plan(plan, results, executor)
    assert {r["snr_db"] for r in json.loads((tmp_path / "r.json").read_text())["records"]} == {0.0}


# -- sizes that allocate or loop: bounded before work ----------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["ber", "--bits", "1e20", "--snr", "0"], "bad --bits '1e20': at most 1,000,000,000,000"),
    (["sweep", "mnist-l3", "--executor", "dask", "--workers", "1e9", "--snr", "0"], "bad --workers '1e9': at most"),
    (["sweep", "mnist-l3", "--channel", "tdl-a", "--csi", "perfect", "--doppler", "1e308", "--snr", "0"],
     "max_doppler_hz=1e+308 exceeds the subcarrier spacing (30000 Hz)"),
    (["sweep", "mnist-l3", "--channel", "tdl-a", "--csi", "perfect", "--delay-spread", "1e308", "--snr", "0"],
     "puts the taps at infinite delays"),
    (["sweep", "mnist-l3", "--channel", "tdl-c", "--csi", "perfect", "--delay-spread", "1e5", "--snr", "0"],
     "is too long for this OFDM numerology"),
    (["adapt", "mnist-l3", "--channel", "rician", "--passes", "1e9", "--data-root", "/nowhere"], "--passes must be from 2"),
    (["adapt", "mnist-l3", "--channel", "rician", "--batch-size", "1e9", "--data-root", "/nowhere"], "at most 4096 received"),
])
def test_sizes_that_cannot_run_are_refused_before_work(semcomm_cli, tmp_path: Path, args: list[str], message: str) -> None:
    out = ["--out", str(tmp_path / ("ad" if args[0] == "adapt" else "r.json"))]
    line = one_line(semcomm_cli(*args, *out, timeout=60))
    assert message in line


def test_a_fading_block_longer_than_the_frame_is_the_frame() -> None:
    import torch

    import channels

    x = torch.ones(2, 10, dtype=torch.complex64)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    huge = channels.get("rayleigh-block", block_len=10**18)(x, 10.0, generator=g())
    whole = channels.get("rayleigh-block", block_len=10)(x, 10.0, generator=g())
    assert torch.equal(huge.y, whole.y)


# -- results files from older versions or damaged ones: plot draws or says why in one line ----------

def test_plot_draws_records_without_optional_fields_and_refuses_damaged_ones(semcomm_cli, tmp_path: Path) -> None:
    import json

    assert semcomm_cli("sweep", "mnist-l3", "--snr", "10", "--n-images", "4", "--data-root", "embedded", "--out", "r.json").returncode == 0
    data = json.loads((tmp_path / "r.json").read_text())
    for record in data["records"]:
        for name in ("psnr_ci95", "ratio", "accuracy", "tasks"):
            record.pop(name)
    (tmp_path / "old.json").write_text(json.dumps(data))
    result = semcomm_cli("plot", "old.json", "--out", "old.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "old.png").stat().st_size > 0
    data["records"][1].pop("psnr")
    (tmp_path / "bad.json").write_text(json.dumps(data))
    assert "'bad.json': record 1 lacks 'psnr'" in one_line(semcomm_cli("plot", "bad.json", "--out", "bad.png"))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in one_line(semcomm_cli("plot", "deep.json", "--out", "deep.png"))


def test_adapt_snr_errors_name_its_own_flag(semcomm_cli, tmp_path: Path) -> None:
    line = one_line(semcomm_cli("adapt", "mnist-l3", "--snr", "nan", "--data-root", "/nowhere", "--out", str(tmp_path / "ad")))
    assert line.startswith("error: bad --snr 'nan'")
