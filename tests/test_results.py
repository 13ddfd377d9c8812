"""Results as data: ``semcomm table`` and :func:`semcomm.results.to_frame` hold the file's
records; the summaries fit the terminal; a point where nothing was delivered is marked."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from semcomm.results import concept_accuracy, metric_names, pivot, ratio_label, read_results, render, to_frame


def _record(method: str, snr: float, layer: int | None, psnr: float, delivered: float | None = None, **extra) -> dict:
    return {"method": method, "dataset": "mnist", "channel": "awgn", "csi": "perfect", "snr_db": snr, "layer": layer,
            "layers": 1 if layer is None else 2, "ratio": 3 / 98 * (layer or 1), "psnr": psnr, "psnr_ci95": 0.1, "ssim": 0.9,
            "accuracy": 0.5, "n_images": 10, "tasks": {"class": {"accuracy": 0.5, "coarse2 accuracy": 0.75}},
            "extras": {} if delivered is None else {"delivered": delivered}, **extra}


RECORDS = [_record("jscc", s, l, 20 + s / 10 + l) for s in (0.0, 10.0) for l in (1, 2)] + [
    _record("jpeg+ldpc", 0.0, None, 12.0, delivered=0.0), _record("jpeg+ldpc", 10.0, None, 25.0, delivered=1.0)]


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"seed": 0, "config": {}, "records": RECORDS}))
    return path


def test_to_frame_holds_the_files_records(results_file: Path) -> None:
    pytest.importorskip("pandas")
    frame = to_frame(results_file)
    assert len(frame) == len(RECORDS)
    for row, record in zip(frame.to_dict("records"), RECORDS):
        for key in ("method", "snr_db", "psnr", "ratio", "n_images"):
            assert row[key] == record[key]
        assert row["class coarse2 accuracy"] == record["tasks"]["class"]["coarse2 accuracy"]
    assert list(frame["extras.delivered"].dropna()) == [0.0, 1.0]


def test_pivot_and_formats(results_file: Path) -> None:
    records = read_results(results_file)["records"]
    assert metric_names(records) == ["psnr", "accuracy", "ssim", "class coarse2 accuracy"]
    p = pivot(records, "psnr")
    assert p.keys == ["method", "layer", "ratio"] and p.snrs == [0.0, 10.0]
    assert [labels for labels, _ in p.rows] == [["jscc", "1", "3/98"], ["jscc", "2", "3/49"], ["jpeg+ldpc", "-", "3/98"]]
    assert p.cell(2, 0) == "12.00*" and p.cell(2, 1) == "25.00"  # nothing delivered at 0 dB: marked
    rows = list(csv.DictReader(io.StringIO(render(records, ["psnr", "accuracy"], "csv"))))
    assert len(rows) == 2 * len(RECORDS)
    got = {(r["metric"], r["method"], r["layer"], float(r["snr_db"])): float(r["value"]) for r in rows}
    for record in RECORDS:
        layer = "-" if record["layer"] is None else str(record["layer"])
        assert got[("psnr", record["method"], layer, record["snr_db"])] == record["psnr"]
    assert json.loads(render(records, ["psnr"], "json"))[0]["value"] == RECORDS[0]["psnr"]
    markdown = render(records, ["psnr"], "markdown")
    assert "| `jpeg+ldpc` | - | 3/98 | 12.00* | 25.00 |" in markdown and "nothing delivered" in markdown
    with pytest.raises(ValueError, match="unknown --metric 'bler'; these results hold: psnr, accuracy"):
        pivot(records, "bler")


def test_ratio_format_is_one_everywhere() -> None:
    assert ratio_label(1 / 6) == "1/6" and ratio_label(57 / 512) == "57/512" and ratio_label(0.0557) == "0.0557"
    assert ratio_label(171 / 3072) == "57/1024" and ratio_label(171 / 1024) == "171/1024"
    assert ratio_label(3 / 49) == "3/49" and ratio_label(0.1234567) == "0.123"


def test_text_tables_fit_the_width_by_splitting_snr_columns() -> None:
    many = [_record("a-long-method-name", float(s), 1, 20.0) for s in range(-10, 31)]
    text = render(many, ["psnr"], "text", width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert text.count("a-long-method-name") > 1  # the SNRs continue in a second block


def test_table_command(semcomm_cli, results_file: Path) -> None:
    result = semcomm_cli("table", str(results_file), "--format", "markdown", "--metric", "psnr,class coarse2 accuracy")
    assert result.returncode == 0, result.stderr
    assert "**PSNR [dB] on mnist, by SNR [dB]**" in result.stdout and "class coarse2 accuracy [%]" in result.stdout
    bad = semcomm_cli("table", str(results_file), "--format", "xlsx")
    assert bad.returncode == 2 and bad.error_lines() == ["error: unknown --format 'xlsx'; choose one of: text, markdown, csv, json"]


def test_sweep_refuses_an_unknown_metric_before_work(semcomm_cli, tmp_path: Path) -> None:
    result = semcomm_cli("sweep", "mnist-l3", "--snr", "0", "--n-images", "4", "--data-root", "embedded", "--metric", "bler",
                         "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2 and "bad --metric 'bler'" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_nothing_delivered_is_one_warning_line_and_hollow_in_the_figure(results_file: Path, tmp_path: Path) -> None:
    from semcomm.plot import plot_sweep
    from semcomm.results import nothing_delivered

    records = read_results(results_file)["records"]
    assert nothing_delivered(records) == ("warning: nothing delivered (jpeg+ldpc at 0 dB): those points score the "
                                          "fallback image")
    assert nothing_delivered(records[:4]) is None
    plot_sweep({"records": records}, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_layer_reconstructions_are_each_layers_images() -> None:
    import torch

    import channels
    from semcomm.methods import resolve_method
    from semcomm.plot import layer_reconstructions
    from semcomm.seeding import point_generator

    method = resolve_method("mnist-l3")
    x = torch.rand(3, 1, 28, 28)
    recons = layer_reconstructions(method, x, [0.0, 20.0])
    assert recons.shape == (2, 3, 3, 1, 28, 28)
    direct = method.transmit(x, channels.get("awgn"), 20.0, "perfect", point_generator(0, 20.0, "awgn", "perfect"))
    assert torch.equal(recons[1, 2], direct[2].recon.clamp(0, 1))


def test_concept_accuracy_comes_from_the_finest_head_that_reports_it() -> None:
    both = {"tasks": {"class": {"accuracy": 0.9, "coarse2 accuracy": 0.97},
                      "coarse2": {"accuracy": 0.95}}}
    assert concept_accuracy(both, "coarse2") == 0.97      # the class head's grouping wins
    coarse4 = {"tasks": {"coarse4": {"accuracy": 0.8, "coarse2 accuracy": 0.93}}}
    assert concept_accuracy(coarse4, "coarse2") == 0.93
    assert concept_accuracy(coarse4, "coarse4") == 0.8     # a concept's own head
    own = {"tasks": {"coarse2": {"accuracy": 0.91}}}
    assert concept_accuracy(own, "coarse2") == 0.91
    assert concept_accuracy({"tasks": {"edges": {"mse": 0.1}}}, "coarse2") is None
    assert concept_accuracy({}, "coarse4") is None
