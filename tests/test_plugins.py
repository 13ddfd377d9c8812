"""Bring your own model, method and images: an installed plugin package trains and sweeps
through the CLI with no semcomm file edited, a user's own ``nn.Module`` runs through the
Python API next to the baselines, and every registry takes entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import channels
from semcomm.data import load_sample
from semcomm.methods import JSCCMethod, LinearMethod, UncodedAnalog
from semcomm.models import JSCCOutput
from semcomm.sweep import KEY_FIELDS, ResultsFile, SweepPlan
from semcomm.execute import run_plan

EXAMPLE = Path(__file__).with_name("plugin_example")


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The tiny plugin package (tests/plugin_example) built and installed by pip into a
    folder of its own; the environment whose Python sees it."""
    tmp = tmp_path_factory.mktemp("plugin")
    source, site = tmp / "source", tmp / "site"
    shutil.copytree(EXAMPLE, source)
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-index", "--target", str(site), str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert list(site.glob("semcomm_tiny_plugin-*.dist-info/entry_points.txt"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_an_installed_plugin_package_trains_and_sweeps_by_name(semcomm_cli, plugin_env: dict[str, str], tmp_path: Path) -> None:
    def _cli(*args: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
        return semcomm_cli(*args, env=env, fresh=True)  # a fresh process: the plugin is on its PYTHONPATH

    help_text = _cli("train", "--help", env=plugin_env).stdout
    assert "--hidden" in help_text and "tiny" in help_text  # the plugin's option is a flag, its key an --arch
    run = tmp_path / "tiny-run"
    trained = _cli("train", "--arch", "tiny", "--hidden", "64", "--data-root", "embedded", "--layers", "2", "--ratio", "1/49",
                   "--epochs", "2", "--batch-size", "16", "--limit", "512", "--val", "0", "--lr", "3e-3", "--out", str(run),
                   env=plugin_env)
    assert trained.returncode == 0, trained.stderr
    model = json.loads((run / "config.json").read_text())["model"]
    assert model["arch"] == "tiny" and model["hidden"] == 64 and model["tasks"] is None
    out = tmp_path / "r.json"
    swept = _cli("sweep", str(run), "--method", "mean-colour,analog,linear", "--data-root", "embedded", "--n-images", "64",
                 "--snr", "0,20", "--out", str(out), env=plugin_env)
    assert swept.returncode == 0, swept.stderr
    records = json.loads(out.read_text())["records"]
    assert {r["method"] for r in records} == {"tiny-run", "mean-colour", "analog", "linear"}
    tiny = {(r["snr_db"], r["layer"]): r for r in records if r["method"] == "tiny-run"}
    assert set(tiny) == {(s, l) for s in (0.0, 20.0) for l in (1, 2)}
    assert all(r["accuracy"] is None for r in tiny.values())  # it serves recon only: no accuracy, not zero
    floor = {r["snr_db"]: r["psnr"] for r in records if r["method"] == "mean-colour"}
    assert tiny[20.0, 2]["psnr"] > floor[20.0]  # 64 steps of training beat sending the mean colour
    refused = _cli("train", "--arch", "tiny", "--route-cost", "1", "--data-root", "embedded", "--out", str(tmp_path / "x"),
                   env=plugin_env)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: --route-cost is an option of klt-rmn; --arch tiny does not take it"]
    bad = _cli("train", "--arch", "tiny", "--hidden", "0", "--data-root", "embedded", "--out", str(tmp_path / "y"), env=plugin_env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == ["error: bad --hidden 0: it must be >= 1"]
    class_task = _cli("train", "--arch", "tiny", "--tasks", "1:recon,class;2:recon", "--layers", "2", "--data-root", "embedded",
                      "--out", str(tmp_path / "z"), env=plugin_env)
    assert class_task.returncode == 2 and "the tiny architecture serves recon, not class" in class_task.stderr


def test_without_the_plugin_its_names_are_one_line_errors(semcomm_cli, tmp_path: Path) -> None:
    result = semcomm_cli("sweep", "analog", "--method", "mean-colour", "--dataset", "mnist", "--snr", "10", "--data-root",
                         "embedded", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2 and result.stderr.startswith("error: unknown method 'mean-colour'; choose one of: analog")


class Sandwich(nn.Module):
    """A user's own JSCC model, a plain ``nn.Module``: two layers of symbols (the image's even
    and odd pixels, centred), a per-layer LMMSE receiver; layer 1 repeats its pixels."""

    def forward(self, images: torch.Tensor, channel: channels.Channel, snr_db: float | torch.Tensor, csi: str = "perfect",
                generator: torch.Generator | None = None) -> JSCCOutput:
        flat = images.flatten(1) - 0.5  # [B, n]
        halves = [flat[:, 0::2], flat[:, 1::2]]  # even and odd pixels, n/2 real values each
        layers = [torch.complex(h[:, 0::2], h[:, 1::2]) for h in halves]  # [B, n/4] complex each
        scale = torch.rsqrt(torch.cat(layers, -1).abs().square().mean(-1, keepdim=True) + 1e-12)
        rx = channels.receive(channel(torch.cat(layers, -1) * scale, snr_db, generator=generator), csi)
        estimate = torch.view_as_real(rx.x_hat / (1 + rx.noise_var) / scale).flatten(1)  # [B, n]
        even, odd = estimate.split(flat.shape[1] // 2, dim=-1)
        one = torch.stack([even, even], -1).flatten(1)  # layer 1: each even pixel twice
        both = torch.stack([even, odd], -1).flatten(1)
        return JSCCOutput(recon=[(r + 0.5).clamp(0, 1).view_as(images) for r in (one, both)],
                          tasks=[{}, {}], symbols=[layer * scale for layer in layers])


def test_a_users_own_module_runs_through_a_plan_next_to_the_baselines(tmp_path: Path) -> None:
    images = load_sample("mnist").first(40)
    ours = JSCCMethod(Sandwich(), name="sandwich", dataset="mnist")
    methods = [ours, UncodedAnalog("mnist"), LinearMethod("mnist", (98, 98), data_root="embedded")]
    plan = SweepPlan(methods, images, ["awgn"], ["perfect"], [0.0, 30.0], seed=1, batch_size=16)
    records = run_plan(plan, ResultsFile(tmp_path / "r.json", plan.config, plan.seed, key_fields=KEY_FIELDS))
    by = {(r["method"], r["snr_db"], r["layer"]): r for r in records}
    assert by["sandwich", 0.0, 1]["ratio"] == pytest.approx(196 / 784) and by["sandwich", 0.0, 2]["ratio"] == pytest.approx(0.5)
    assert by["sandwich", 30.0, 2]["psnr"] > by["sandwich", 30.0, 1]["psnr"] and by["sandwich", 30.0, 2]["psnr"] > 35
    # at the same ratio (1/2) the uncoded pairs of pixels are what this model sends in two layers
    assert by["sandwich", 0.0, 2]["psnr"] == pytest.approx(by["analog", 0.0, None]["psnr"], abs=0.15)
    assert json.loads((tmp_path / "r.json").read_text())["config"]["images_md5"] == images.digest()
