"""Results files as data: one reader for ``plot``, ``table`` and the docs' result pages, a tidy
pandas frame, and per-metric pivots (one row per method and layer, one column per SNR).

- :func:`read_results`: a sweep or broadcast results file, checked (one-line errors).
- :func:`concept_accuracy`: a record's accuracy on a coarse concept, from its finest label head.
- :func:`metric_names`: the metrics its records hold (``psnr``, ``ssim``, ``accuracy``, and
  each receiver-side task's, e.g. ``"coarse2 accuracy"``).
- :func:`pivot`: one metric as rows (method, channel, CSI mode, layer) by SNR columns; a cell
  where the method delivered nothing (every image the fallback) is marked.
- :func:`render`: pivots as text (fits the terminal), Markdown, CSV or JSON.
- :func:`to_frame`: one row per record, tasks and extras flattened into columns (needs pandas,
  the ``pandas`` extra).

Input: ``records`` are a results file's (:data:`semcomm.sweep.RECORD_FIELDS`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "Pivot", "concept_accuracy", "metric_names", "nothing_delivered", "pivot", "ratio_label", "read_results", "render", "to_frame"]

#: Output formats of :func:`render`.
FORMATS = ("text", "markdown", "csv", "json")
#: The fields every record must hold to be tabulated or drawn (the others are optional).
REQUIRED = ("method", "dataset", "channel", "csi", "snr_db", "layer", "psnr")
#: The metrics of every record, in display order, with their units.
BASE_METRICS = {"psnr": "dB", "accuracy": "%", "ssim": ""}
#: The mark of a cell where nothing was delivered, and its footnote.
NOTHING_DELIVERED = "*"
NOTHING_NOTE = "* nothing delivered at this point: every image is the fallback (the training mean image)"


def ratio_label(ratio: float) -> str:
    """A bandwidth ratio as an exact fraction where it is one with a denominator up to 4096
    (``1/6``, ``57/1024``: whole channel uses over source values), else 3 significant digits
    (``0.118``)."""
    frac = Fraction(ratio).limit_denominator(4096)
    return f"{frac.numerator}/{frac.denominator}" if math.isclose(float(frac), ratio, rel_tol=1e-9) else f"{ratio:.3g}"


def read_results(path: str | Path) -> dict[str, Any]:
    """A results file (its header and ``records``), checked.

    Raises:
        ValueError: one line, for a file that is missing, not JSON, not a results file, or with
            a record that lacks a field of :data:`REQUIRED` or has a non-number SNR or PSNR.
    """
    from semcomm.sweep.results_io import read_json

    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise ValueError(f"{str(path)!r} is not a semcomm results file")
    for i, r in enumerate(data["records"]):
        if not isinstance(r, dict):
            raise ValueError(f"{str(path)!r}: record {i} is not an object")
        for name in REQUIRED:
            if name not in r:
                raise ValueError(f"{str(path)!r}: record {i} lacks {name!r} (a damaged or foreign file?)")
        if not isinstance(r["snr_db"], (int, float)) or not isinstance(r["psnr"], (int, float)):
            raise ValueError(f"{str(path)!r}: record {i} has a snr_db or psnr that is not a number")
    return data


def _value(record: dict[str, Any], metric: str) -> float | None:
    """``metric`` of ``record``: a base metric, or a task's (``"coarse2 accuracy"``, ``"edges mse"``)."""
    if metric in BASE_METRICS:
        value = record.get(metric)
    else:
        task, _, name = metric.partition(" ")
        value = (record.get("tasks") or {}).get(task, {}).get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def concept_accuracy(record: dict[str, Any], concept: str) -> float | None:
    """The record's accuracy on ``concept`` (``"coarse2"``, ``"coarse4"``) as its finest label
    head reports it: the class head's grouped accuracy (``tasks.class["coarse2 accuracy"]``), else
    a coarser head's, else the concept's own head; None where no head reports it.

    A run that learns classes is scored on the coarse concept its classes group into, so runs
    with and without deep supervision compare on the same question.
    """
    tasks = record.get("tasks") or {}
    for head in ("class", "coarse4", "coarse2"):
        if head == concept:
            break
        if head in tasks and f"{concept} accuracy" in tasks[head]:
            return _value(record, f"{head} {concept} accuracy")
    return _value(record, f"{concept} accuracy")


def metric_names(records: list[dict[str, Any]]) -> list[str]:
    """The metrics the records hold a value of: PSNR, accuracy, SSIM, then each task's
    (``class accuracy`` is ``accuracy``)."""
    names = [m for m in BASE_METRICS if any(_value(r, m) is not None for r in records)]
    for r in records:
        for task, scores in (r.get("tasks") or {}).items():
            for metric in scores:
                name = f"{task} {metric}"
                if (task, metric) != ("class", "accuracy") and name not in names:
                    names.append(name)
    return names


def _is_percent(metric: str) -> bool:
    return metric == "accuracy" or metric.endswith(" accuracy")


@dataclass
class Pivot:
    """One metric of a results file as a table.

    Attributes:
        metric: the metric (``"psnr"``, ``"coarse2 accuracy"``).
        unit: ``"dB"``, ``"%"`` or ``""``.
        keys: the row labels' names (``method``, then ``channel`` and ``csi`` where the file has
            several, ``layer``, ``ratio``).
        snrs: the column SNRs (dB), ascending.
        rows: per row its labels and one cell per SNR (the value, or None where the row has none).
        empty: per row, the SNRs where nothing was delivered.
        title: what the table shows.
    """

    metric: str
    unit: str
    keys: list[str]
    snrs: list[float]
    rows: list[tuple[list[str], list[float | None]]] = field(default_factory=list)
    empty: list[set[float]] = field(default_factory=list)
    title: str = ""

    def cell(self, row: int, column: int) -> str:
        """The formatted cell: 2 decimals for dB and %, 4 for the rest, ``-`` where missing,
        :data:`NOTHING_DELIVERED` after a value where nothing was delivered."""
        value = self.rows[row][1][column]
        if value is None:
            return "-"
        scaled = 100 * value if self.unit == "%" else value
        text = f"{scaled:.2f}" if self.unit in ("dB", "%") else f"{scaled:.4g}"
        return text + (NOTHING_DELIVERED if self.snrs[column] in self.empty[row] else "")


def pivot(records: list[dict[str, Any]], metric: str) -> Pivot:
    """``metric`` of ``records`` as rows (method, channel and CSI mode where several, layer,
    ratio) by SNR columns, rows in order of appearance, layers ascending.

    Raises:
        ValueError: one line, for a metric the records do not hold (naming those they do).
    """
    known = metric_names(records)
    if metric not in known:
        raise ValueError(f"unknown --metric {metric!r}; these results hold: {', '.join(known)}")
    links = list(dict.fromkeys((r["channel"], r["csi"]) for r in records))
    keys = ["method", *(["channel", "csi"] if len(links) > 1 else []), "layer", "ratio"]
    snrs = sorted({float(r["snr_db"]) for r in records})
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["method"], r["channel"], r["csi"], r["layer"]), []).append(r)
    methods = list(dict.fromkeys(r["method"] for r in records))
    order = sorted(groups, key=lambda k: (methods.index(k[0]), links.index((k[1], k[2])), k[3] or 0))
    unit = BASE_METRICS.get(metric, "%" if _is_percent(metric) else "")
    datasets = ", ".join(dict.fromkeys(r["dataset"] for r in records))
    shown = {"psnr": "PSNR", "ssim": "SSIM", "accuracy": "accuracy"}.get(metric, metric)
    out = Pivot(metric, unit, keys, snrs, title=f"{shown}{f' [{unit}]' if unit else ''} on {datasets}, by SNR [dB]")
    for key in order:
        rs = groups[key]
        by_snr = {float(r["snr_db"]): r for r in rs}
        ratio = next((r.get("ratio") for r in reversed(rs) if isinstance(r.get("ratio"), (int, float))), None)
        labels = [key[0], *([key[1], key[2]] if len(links) > 1 else []), "-" if key[3] is None else str(key[3]),
                  "-" if ratio is None else ratio_label(ratio)]
        out.rows.append((labels, [_value(by_snr[s], metric) if s in by_snr else None for s in snrs]))
        out.empty.append({s for s, r in by_snr.items() if (r.get("extras") or {}).get("delivered") == 0})
    return out


def nothing_delivered(records: list[dict[str, Any]]) -> str | None:
    """One line naming each method and the SNRs where it delivered nothing (every image the
    fallback), or None when every point delivered something."""
    empty: dict[str, list[float]] = {}
    for r in records:
        if (r.get("extras") or {}).get("delivered") == 0:
            empty.setdefault(r["method"], []).append(float(r["snr_db"]))
    if not empty:
        return None
    parts = [f"{m} at {', '.join(f'{s:g}' for s in sorted(set(snrs)))} dB" for m, snrs in empty.items()]
    return f"warning: nothing delivered ({'; '.join(parts)}): those points score the fallback image"


def _text(p: Pivot, width: int) -> str:
    """A plain table of the pivot that fits ``width`` columns (SNR columns split into blocks)."""
    labels = [row[0] for row in p.rows]
    label_widths = [max(len(k), *(len(l[i]) for l in labels)) for i, k in enumerate(p.keys)]
    cells = [[p.cell(i, j) for j in range(len(p.snrs))] for i in range(len(p.rows))]
    heads = [f"{s:g}" for s in p.snrs]
    col = max([len(h) for h in heads] + [len(c) for row in cells for c in row] + [4])
    left = sum(label_widths) + 2 * (len(label_widths) - 1)
    per_block = max(1, (width - left) // (col + 2))
    lines = [p.title]
    for start in range(0, len(p.snrs), per_block):
        block = range(start, min(start + per_block, len(p.snrs)))
        head = "  ".join(k.ljust(w) for k, w in zip(p.keys, label_widths))
        lines.append(head + "".join("  " + heads[j].rjust(col) for j in block))
        lines.append("-" * len(lines[-1]))
        for (row_labels, _), row_cells in zip(p.rows, cells):
            text = "  ".join(l.ljust(w) for l, w in zip(row_labels, label_widths))
            lines.append(text + "".join("  " + row_cells[j].rjust(col) for j in block))
    if any(p.empty):
        lines.append(NOTHING_NOTE)
    return "\n".join(lines)


def _markdown(p: Pivot) -> str:
    head = [*p.keys, *(f"{s:g} dB" for s in p.snrs)]
    lines = [f"**{p.title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, (labels, _) in enumerate(p.rows):
        lines.append("| " + " | ".join([*(f"`{labels[0]}`",), *labels[1:], *(p.cell(i, j) for j in range(len(p.snrs)))]) + " |")
    if any(p.empty):
        lines += ["", NOTHING_NOTE.replace("*", "\\*", 1)]
    return "\n".join(lines)


def render(records: list[dict[str, Any]], metrics: list[str], fmt: str = "text", width: int = 100) -> str:
    """``metrics`` of ``records`` as one pivot each: ``text`` (each fits ``width`` columns),
    ``markdown``, ``csv`` (tidy: one line per record and metric) or ``json`` (the same lines).

    Raises:
        ValueError: one line, for an unknown format or metric.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    pivots = [pivot(records, m) for m in metrics]
    if fmt == "text":
        return "\n\n".join(_text(p, width) for p in pivots)
    if fmt == "markdown":
        return "\n\n".join(_markdown(p) for p in pivots)
    rows = [{"metric": p.metric, **dict(zip(p.keys, labels)), "snr_db": snr, "value": value,
             "nothing_delivered": snr in p.empty[i]}
            for p in pivots for i, (labels, values) in enumerate(p.rows) for snr, value in zip(p.snrs, values)
            if value is not None]
    if fmt == "json":
        return json.dumps(rows, indent=1)
    out = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


def to_frame(results: dict[str, Any] | list[dict[str, Any]] | str | Path) -> Any:
    """A tidy ``pandas.DataFrame``: one row per record, its fields as columns, ``tasks`` flattened
    to ``"<task> <metric>"`` columns and ``extras`` to ``"extras.<name>"`` columns.

    Input: a results file's path, its JSON, or its records.

    Raises:
        ImportError: one line saying how to install pandas, when it is missing.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_frame needs pandas: pip install 'semcomm[pandas]'") from None
    if isinstance(results, (str, Path)):
        results = read_results(results)
    records = results["records"] if isinstance(results, dict) else results
    rows = []
    for r in records:
        row = {k: v for k, v in r.items() if k not in ("tasks", "extras")}
        for task, scores in (r.get("tasks") or {}).items():
            for metric, value in scores.items():
                row[f"{task} {metric}"] = value
        for name, value in (r.get("extras") or {}).items():
            row[f"extras.{name}"] = value
        rows.append(row)
    return pd.DataFrame(rows)
