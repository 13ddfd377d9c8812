"""The multi-task comparison's docs views (``docs/results/mtl_views.py`` through
``docs/results/render.py``): cells are the mean ± the Student-t half-width over seeds, a run is
ranked against ``fixed`` only where the intervals separate, each claim's verdict follows its
numbers, and a figure is drawn from the files, linked, and marked stale when they change."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest

from semcomm.stats import mean_ci95
from test_docs_tables import render

SEEDS = (0, 1, 2)
#: run -> (PSNR offset [dB], top-layer accuracy, L1 coarse2 accuracy); the seed adds +-0.05 dB / +-0.5 %.
RUNS = {"fixed": (0.0, 0.80, 0.85), "equal": (0.01, 0.80, 0.85), "gradsplit": (-1.0, 0.70, 0.80),
        "ds": (0.0, 0.80, 0.92), "proxy-attn": (0.0, 0.79, 0.85), "rmn": (0.0, 0.8, 0.85),
        "rmn-cost": (0.0, 0.8, 0.85), "slim": (0.0, 0.8, 0.85), "slim-nokd": (0.0, 0.8, 0.85)}
UNSEEN_DROP = {"fixed": -0.10, "proxy-attn": -0.03}


def _record(run: str, seed: int, channel: str, csi: str, snr: float, layer: int) -> dict[str, Any]:
    offset, top, c2 = RUNS[run]
    wiggle = (seed - 1) * 0.05
    accuracy = top - 0.05 * (3 - layer) + wiggle / 10 + (UNSEEN_DROP.get(run, 0.0) if channel != "awgn" else 0.0)
    if run == "ds" and layer < 3:
        tasks = {"coarse2" if layer == 1 else "coarse4": {"accuracy": c2 + wiggle / 10}}
        accuracy = None
    else:
        tasks = {"class": {"accuracy": accuracy, "coarse2 accuracy": c2 + wiggle / 10}}
    return {"method": f"{run}-s{seed}", "channel": channel, "csi": csi, "snr_db": snr, "layer": layer,
            "psnr": 20.0 + offset + 2 * layer + 0.3 * snr + wiggle, "accuracy": accuracy, "tasks": tasks,
            "n_images": 100, "run": run, "seed": seed, "train_s": 60.0 + seed}


def _routes(depths: list[float]) -> dict[str, Any]:
    return {"snr_db": 10.0, "n_images": 100, "tasks": {
        task: [{"connections": [1.0, 0.5 if d % 1 else 1.0, 0.0, 0.0], "depth": [d]} for _ in range(3)]
        for task, d in zip(("recon", "class"), depths)}}


def _records_file(tmp_path: Path, seeds: tuple[int, ...] = SEEDS) -> str:
    records = [_record(run, seed, "awgn", "perfect", snr, layer) for run in RUNS for seed in seeds
               for snr in (0.0, 10.0, 20.0) for layer in (1, 2, 3)]
    records += [_record(run, seed, ch, csi, 10.0, layer) for run in UNSEEN_DROP for seed in seeds
                for ch, csi in (("rayleigh-block", "perfect"), ("tdl-c", "lmmse")) for layer in (1, 2, 3)]
    linear = [{"channel": "awgn", "csi": "perfect", "snr_db": snr, "layer": layer, "psnr": 19.0 + 2 * layer + 0.3 * snr,
               "accuracy": None} for snr in (0.0, 10.0, 20.0) for layer in (1, 2, 3)]
    body = {"created": "2026-12-07T10:00:00+00:00", "seed": seeds[0], "semcomm_version": "0.1.0", "git_rev": "0123456789",
            "config": {"dataset": "cifar10", "n_images": 100, "seeds": list(seeds), "runs": list(RUNS), "epochs": 8,
                       "limit": 5000, "batch_size": 32, "width": 32},
            "command": "python benchmarks/mtl_compare.py --dataset cifar10", "records": records, "linear": linear,
            "routes": {"rmn": _routes([4.0, 4.0]), "rmn-cost": _routes([1.5, 3.0])}}
    path = tmp_path / f"records-{len(seeds)}.json.gz"
    path.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))
    return str(path)


def _rows(text: str) -> dict[str, list[str]]:
    return {cells[0]: cells for line in text.splitlines() if line.startswith("| `")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_cells_are_means_with_student_t_intervals_and_rank_only_where_they_separate(tmp_path: Path) -> None:
    text = render.render_table(f"mtl {_records_file(tmp_path)} metrics=psnr snr=10")
    rows = _rows(text)
    assert list(rows)[0] == "`linear`" and rows["`linear`"][1] == "24.00 / 26.00 / 28.00"
    mean, half = mean_ci95([20.0 + 2 * 3 + 3.0 + (s - 1) * 0.05 for s in SEEDS])
    assert rows["`fixed`"][1].split(" / ")[2] == f"{mean:.2f}±{half:.2f}"
    assert rows["`gradsplit`"][1].count("↓") == 3  # 1 dB below, intervals of +-0.12 dB: separated at every layer
    assert "↑" not in rows["`equal`"][1] and "↓" not in rows["`equal`"][1]  # 0.01 dB apart: within the intervals
    assert rows["`fixed`"][-1] == f"{61.0:.0f}±{mean_ci95([60.0, 61.0, 62.0])[1]:.0f}"  # training seconds
    one = render.render_table(f"mtl {_records_file(tmp_path, (0,))} metrics=psnr snr=10")
    assert "±" not in one and "↓" not in one  # one seed: no interval, nothing ranked


def test_unseen_and_routes_tables(tmp_path: Path) -> None:
    path = _records_file(tmp_path)
    rows = _rows(render.render_table(f"mtl-unseen {path}"))
    assert set(rows) == {"`fixed`", "`proxy-attn`"}
    assert rows["`fixed`"][-1] == "-10.0±0.0" and rows["`proxy-attn`"][-1].endswith("↑")  # smaller drop: ranked above
    routes = render.render_table(f"mtl-routes {path}")
    assert "| `rmn-cost` | recon | 1.50 (1.00 0.50 0.00 0.00)" in routes


def _slim_and_adapt_files(tmp_path: Path) -> tuple[Path, Path]:
    """A slim_control table file whose class follows its preference, and an adapt_channels file
    whose adaptation gains 10 % accuracy with every seed."""
    slim = tmp_path / "slim.json"
    points = [{"model": "slim", "budget": b, "preference": p, "flops": b - 0.1, "psnr": 25.0 - (p == "class-first"),
               "accuracy": 0.7 + 0.1 * (p == "class-first"), "share_of_best": 0.95,
               "best": {"psnr": 25.5, "accuracy": 0.82, "flops": b}} for b in (0.5, 1.0) for p in ("recon-first", "class-first")]
    slim.write_text(json.dumps({"columns": [], "rows": [], "points": points, "feature_spread": {"slim": 0.0073}}))
    adapt = tmp_path / "adapt.json"
    adapt.write_text(json.dumps({"columns": [], "rows": [], "points": [
        {"target": "rician/none", "on": "target", "layer": 3, "seed": s, "psnr_before": 20.0, "accuracy_before": 0.5,
         "psnr": 21.0 + 0.1 * s, "accuracy": 0.6 + 0.01 * s} for s in SEEDS]}))
    return slim, adapt


def test_claims_follow_the_numbers(tmp_path: Path) -> None:
    slim, adapt = _slim_and_adapt_files(tmp_path)
    text = render.render_table(f"mtl-claims {_records_file(tmp_path)} {slim} {adapt}")
    verdicts = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in text.splitlines()
                if line.startswith("| ") and not line.startswith("| method") and not line.startswith("| ---")}
    assert verdicts["GradSplit (Split to Learn)"] == "**contradicted**"
    assert verdicts["Deep supervision with intermediate concepts"] == "**supported**"
    assert verdicts["Uncertainty-aware physically guided proxy tasks"] == "**supported**"
    assert verdicts["MT-RMN (recurrent modular networks)"] == "**supported**"
    assert verdicts["Multi-resolution JSCC (Semantic Multi-Resolution Communications)"] == "**supported**"
    assert verdicts["Source-free adaptation (adversarial alignment, mean teacher)"] == "**supported**"
    assert verdicts["Controllable slimmable MTL (Efficient Controllable Multi-Task Architectures)"] == (
        "control **supported**; CI-KD: intervals overlap")
    assert "varies across images: `slim` 0.7 %" in text
    # a second target that loses: each target gets its own verdict
    body = json.loads(adapt.read_text())
    body["points"] += [dict(p, target="tdl-c/ls", accuracy=0.45 - 0.01 * p["seed"]) for p in body["points"]]
    adapt.write_text(json.dumps(body))
    both = render.render_table(f"mtl-claims {adapt}")
    row = next(line for line in both.splitlines() if line.startswith("| Source-free"))
    assert row.split("|")[-2].strip() == "rician/none: **supported**; tdl-c/ls: **contradicted**"
    assert "PCGrad (gradient surgery)" not in verdicts  # no pcgrad run in the file: no row
    one = render.render_table(f"mtl-claims {_records_file(tmp_path, (0,))}")
    assert "one seed: no interval" in one and "**contradicted**" not in one
    # without a records file the legend still follows the table after a blank line (not on its last row)
    alone = render.render_table(f"mtl-claims {adapt}").splitlines()
    legend = next(i for i, line in enumerate(alone) if line.startswith("Verdicts:"))
    assert alone[legend - 1] == "" and alone[legend - 2].endswith("|")


def test_the_multiresolution_claim_is_judged_part_by_part(tmp_path: Path) -> None:
    """Its reconstruction and its accuracy must each hold: a flat classifier is not carried by a
    reconstruction that rises."""
    path = Path(_records_file(tmp_path))
    body = json.loads(gzip.decompress(path.read_bytes()))
    for r in body["records"]:
        if r["run"] == "fixed":
            r["accuracy"] = r["tasks"]["class"]["accuracy"] = 0.4 + (r["seed"] - 1) * (0.01 + 0.001 * r["layer"])
    path.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))
    text = render.render_table(f"mtl-claims {path}")
    row = next(line for line in text.splitlines() if line.startswith("| Multi-resolution JSCC"))
    assert row.split("|")[-2].strip() == "reconstruction **supported**; accuracy not shown (intervals overlap)"
    # and every SNR counts: a linear scheme 1.5 dB above at 20 dB contradicts the claim there
    for r in body["linear"]:
        r["psnr"] += 2.5 * (r["snr_db"] == 20.0)
    path.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))
    row = next(line for line in render.render_table(f"mtl-claims {path}").splitlines()
               if line.startswith("| Multi-resolution JSCC"))
    assert row.split("|")[-2].strip() == ("reconstruction **supported** at 0 / 10 dB, **contradicted** at 20 dB; "
                                          "accuracy not shown (intervals overlap)")


def test_a_figure_is_drawn_linked_and_stale_when_its_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "FIGURE_DIR", tmp_path / "figures")
    path = _records_file(tmp_path)
    page = tmp_path / "page.md"
    page.write_text(f"intro\n<!-- figure: coarse mtl-coarse {path} -->\nold\n<!-- figure:end -->\n")
    text = render.render_page(page.read_text(), page, draw=True)
    assert "![coarse](figures/coarse.svg)" in text and "<!-- inputs " in text
    svg = (tmp_path / "figures" / "coarse.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    page.write_text(text)
    assert render.render_page(text, page) == text and not render.missing_figures(page)  # up to date
    _records_file(tmp_path)  # the same numbers: same digest
    assert render.render_page(text, page) == text
    data = json.loads(gzip.decompress(Path(path).read_bytes()))
    data["records"][0]["psnr"] += 1.0
    Path(path).write_bytes(gzip.compress(json.dumps(data).encode()))
    assert render.render_page(text, page) != text  # the file changed: the figure is stale
    (tmp_path / "figures" / "coarse.svg").unlink()
    assert render.missing_figures(page) == ["coarse"]


@pytest.mark.parametrize("spec, words", [("Bad mtl-coarse r.json", ("NAME",)), ("x plot r.json", ("'plot'", "mtl-coarse")),
                                         ("x mtl-coarse", ("NAME",))])
def test_a_bad_figure_marker_is_one_line(spec: str, words: tuple[str, ...]) -> None:
    with pytest.raises(ValueError) as err:
        render.parse_figure_spec(spec)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)


def test_every_figure_view_draws(tmp_path: Path) -> None:
    path = _records_file(tmp_path)
    files = render.load_files([path])
    slim, adapt = _slim_and_adapt_files(tmp_path)
    files += render.load_files([str(slim), str(adapt)])
    for name in ("mtl-layers", "mtl-tradeoff", "mtl-coarse", "mtl-unseen", "mtl-routes", "slim-control", "adapt"):
        figure = render.FIGURES[name](files, {})
        assert figure.axes and all(not math.isnan(sum(ax.get_ylim())) for ax in figure.axes), name
