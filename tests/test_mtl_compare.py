"""``benchmarks/mtl_compare.py --quick``: the benchmark's whole code path at a toy budget (slow
tier): every run × seed trained (on a Dask cluster of two workers, whose runs' folder the client
creates), the tables and the records written with a 95 % interval over seeds, the unseen-channel
table, the learned routes of the ``klt-rmn`` run, and a rerun that trains nothing (and takes the
routes from their cache once the run's folder is gone)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *executor: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mtl_compare.py"), "--quick", "--runs", "fixed,ds,rmn",
                           "--seeds", "0,1", "--data-root", "embedded", "--out-dir", str(tmp_path / "mtl"),
                           "--json", str(tmp_path / "t.json"), "--unseen-json", str(tmp_path / "u.json"),
                           "--records", str(tmp_path / "r.json.gz"), *executor],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
def test_quick_mode_trains_every_run_and_seed_and_tabulates_intervals(tmp_path: Path) -> None:
    first = _run(tmp_path, "--executor", "dask", "--workers", "2")  # the runs' folder does not exist yet
    assert first.returncode == 0, first.stderr[-2000:]
    table = json.loads((tmp_path / "t.json").read_text())
    rows = {row[0]: row for row in table["rows"]}
    assert set(rows) == {"`linear`", "`fixed`", "`ds`", "`rmn`"}
    assert "±" in rows["`fixed`"][1] and "±" not in rows["`linear`"][1]  # two seeds: an interval; linear: none
    assert table["config"]["seeds"] == [0, 1] and table["command"].startswith("python ")
    unseen = json.loads((tmp_path / "u.json").read_text())
    assert [row[0] for row in unseen["rows"]] == ["`fixed`", "`ds`", "`rmn`"]  # every run is evaluated there
    models = sorted((tmp_path / "mtl" / "mnist").glob("*-s*/model.safetensors"))
    assert [m.parent.name for m in models] == ["ds-s0", "ds-s1", "fixed-s0", "fixed-s1", "rmn-s0", "rmn-s1"]
    records = json.loads(gzip.decompress((tmp_path / "r.json.gz").read_bytes()))
    assert {(r["run"], r["seed"]) for r in records["records"]} == {(run, s) for run in ("fixed", "ds", "rmn") for s in (0, 1)}
    assert records["config"]["seeds"] == [0, 1] and records["linear"] and records["git_rev"]
    assert set(records["routes"]) == {"rmn"} and set(records["routes"]["rmn"]["tasks"]) == {"recon", "class", "coarse2", "coarse4"}
    shutil.rmtree(tmp_path / "mtl" / "mnist" / "rmn-s0")  # resumed elsewhere from the results: the routes come from their cache
    models = [m for m in models if m.parent.name != "rmn-s0"]
    stamps = [m.stat().st_mtime_ns for m in models]

    again = _run(tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [m.stat().st_mtime_ns for m in models] == stamps  # nothing trained again
    assert json.loads((tmp_path / "t.json").read_text())["rows"] == table["rows"]
    assert json.loads(gzip.decompress((tmp_path / "r.json.gz").read_bytes()))["routes"] == records["routes"]
