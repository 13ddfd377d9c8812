"""The docs' numeric tables are generated from committed results files (``docs/results/render.py``):
every page is up to date with its files, a table's numbers are the file's, a hand edit is
overwritten, and a bad marker is one line."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


render = _load("docs_render", ROOT / "docs" / "results" / "render.py")
sys.path.insert(0, str(ROOT / "benchmarks"))
table_file = _load("table_file", ROOT / "benchmarks" / "table_file.py")


def _record(method: str, layer: int | None, snr: float, psnr: float, accuracy: float | None, **extra: object) -> dict:
    return {"method": method, "dataset": "cifar10", "channel": "awgn", "csi": "perfect", "snr_db": snr, "layer": layer,
            "ratio": 171 / 3072 * (layer or 3), "psnr": psnr, "ssim": 0.9, "accuracy": accuracy, "n_images": 1000,
            "extras": extra}


def _results(tmp_path: Path, name: str, records: list[dict]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"created": "2026-12-07T10:00:00+00:00", "seed": 3, "semcomm_version": "0.1.0",
                                "git_rev": "0123456789abcdef", "records": records}))
    return str(path)


def test_every_page_is_up_to_date_with_its_results_files() -> None:
    assert render.pages(), "no page asks for a generated table"
    stale = render.stale_pages()
    assert not stale, f"run python docs/results/render.py: stale {stale}"


def test_every_results_file_a_page_names_is_committed() -> None:
    import subprocess

    tracked = set(subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                                 check=True).stdout.split())
    named = {f for p in render.pages() for m in render.MARKER.finditer(p.read_text())
             for f in render.parse_spec(m["spec"])[1]}
    untracked = sorted(named - tracked)
    assert not untracked, f"pages render files that are not committed: {untracked}"


def test_sweep_table_holds_the_files_numbers_and_marks_what_was_not_delivered(tmp_path: Path) -> None:
    path = _results(tmp_path, "r.json", [
        _record("cifar10-l3", 1, 0.0, 22.4012, 0.7241), _record("cifar10-l3", 1, 10.0, 27.2849, 0.8131),
        _record("jpeg+ldpc", None, 0.0, 12.7, 0.106, delivered=0), _record("jpeg+ldpc", None, 10.0, 27.44, 0.787)])
    text = render.render_page(f"intro\n<!-- table: sweep {path} -->\nold text\n<!-- table:end -->\nrest\n")
    assert "old text" not in text and text.startswith("intro\n") and text.endswith("<!-- table:end -->\nrest\n")
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| `")}
    assert "22.40 dB / 72.4 %" in rows["`cifar10-l3`"] and "27.28 dB / 81.3 %" in rows["`cifar10-l3`"]
    assert "1 (57/1024)" in rows["`cifar10-l3`"]
    assert "12.70 dB / 10.6 % *" in rows["`jpeg+ldpc`"] and "nothing delivered" in text
    assert "created 2026-12-07, seed 3, 1,000 images, semcomm 0.1.0 at 0123456789" in text


def test_sweep_table_keeps_what_the_marker_asks_for(tmp_path: Path) -> None:
    a = _results(tmp_path, "a.json", [_record("linear", l, s, 20 + l + s, None) for l in (1, 2, 3) for s in (0.0, 10.0)])
    b = _results(tmp_path, "b.json", [_record("linear", 3, s, 30 + s, None) for s in (0.0, 10.0)])
    text = render.render_table(f"sweep {a} {b} metrics=psnr layers=3 snr=10 labels=equal,softcast")
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0] == "| method | layer (k/n) | 10 dB |"
    assert lines[2:] == ["| equal | 3 (171/1024) | 33.00 dB |", "| softcast | 3 (171/1024) | 40.00 dB |"]


def test_a_hand_edited_number_is_overwritten(tmp_path: Path) -> None:
    path = _results(tmp_path, "r.json", [_record("linear", 1, 0.0, 21.15, 0.576)])
    page = f"<!-- table: sweep {path} -->\n<!-- table:end -->\n"
    fresh = render.render_page(page)
    edited = fresh.replace("21.15", "21.95")
    assert edited != fresh and render.render_page(edited) == fresh


def test_benchmark_table_files_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    table_file.write_table(out, ["modulation", "ratio"], [["QPSK", "0.998 .. 1.004"], ["BPSK", 1.0]], seed=0,
                           config={"bits": 2_000_000}, notes=["a note"])
    data = json.loads(out.read_text())
    assert data["command"].startswith("python ") and data["seed"] == 0 and data["config"] == {"bits": 2_000_000}
    text = render.render_table(f"table {out}")
    assert "| QPSK | 0.998 .. 1.004 |" in text and "| BPSK | 1.0 |" in text and "a note" in text
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        table_file.write_table(out, ["a", "b"], [["only one"]])


@pytest.mark.parametrize("spec, words", [("plot r.json", ("'plot'", "sweep", "quality")),
                                         ("sweep metrics=psnr", ("names no results file",))])
def test_a_bad_marker_is_one_line(spec: str, words: tuple[str, ...]) -> None:
    with pytest.raises(ValueError) as err:
        render.parse_spec(spec)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)
