"""Render the docs' numeric tables from committed results files, in place between markers.

    python docs/results/render.py            # rewrite every table of every page
    python docs/results/render.py --check    # exit 1 naming each page whose tables are stale

A page asks for a table with a marker pair; the text between them is this script's to write:

    <!-- table: VIEW FILE [FILE ...] [OPTION=VALUE ...] -->
    ... (generated) ...
    <!-- table:end -->

``FILE`` paths are relative to the repository root (``.json.gz``: a large one stored gzipped). ``VIEW`` names one of :data:`VIEWS`:

- ``sweep``: sweep results files as rows (method, CSI mode where several, layer with its k/n)
  by SNR columns, each cell its metrics joined by `` / `` (options ``metrics=psnr,accuracy``;
  ``snr=0,10,20``, ``layers=3``, ``csi=perfect,ls``, ``methods=linear`` keep some; ``labels=``
  names each file's rows);
- ``kodak``: PSNR with its 95 % interval and SSIM per method and SNR, and what a link delivered;
- ``quality``: a model's file and its linear references' (``benchmarks/jscc_quality.py``): rows
  SNR, a column per layer, cells ``ours / linear / ... dB, accuracy``;
- ``broadcast``: a broadcast results file summarised per method (its top layer, or every layer
  with ``layers=all``) and channel: mean / 10th-percentile user PSNR and accuracy, users decoding;
- ``table``: a benchmark's table file (:func:`benchmarks.table_file.write_table`: ``columns``,
  ``rows``) as it is;
- ``mtl``, ``mtl-unseen``, ``mtl-routes``, ``mtl-claims``: the multi-task comparison from
  ``benchmarks/mtl_compare.py --records`` files, with 95 % intervals over seeds, rankings against
  ``fixed`` and each seed paper's claim checked (``docs/results/mtl_views.py``).

A page asks for a figure the same way; the script draws it from the files into
``docs/figures/generated/NAME.svg`` and writes the link and the figure's provenance between the
markers (``VIEW`` names one of :data:`FIGURES`):

    <!-- figure: NAME VIEW FILE [FILE ...] [OPTION=VALUE ...] -->
    ... (generated) ...
    <!-- figure:end -->

A figure is stale when its files changed (the text between its markers holds a digest of them) or
its SVG is missing.

Every table ends with where its numbers come from: the file, its creation date, seed, semcomm
version and git revision. Nothing in a table is typed by hand, so a page cannot drift from its
results; ``tests/test_docs_tables.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semcomm.results import NOTHING_DELIVERED, NOTHING_NOTE, ratio_label
from semcomm.sweep.results_io import read_json


def _sibling(name: str) -> Any:
    """The module ``docs/results/<name>.py`` (this folder is no package)."""
    spec = importlib.util.spec_from_file_location(f"docs_results_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKER = re.compile(r"<!-- table: (?P<spec>[^>]*?) -->\n(?P<body>.*?)<!-- table:end -->", re.S)
FIGURE_MARKER = re.compile(r"<!-- figure: (?P<spec>[^>]*?) -->\n(?P<body>.*?)<!-- figure:end -->", re.S)
#: Where generated figures go.
FIGURE_DIR = DOCS / "figures" / "generated"

View = Callable[[list[dict[str, Any]], dict[str, str]], str]
VIEWS: dict[str, View] = {}


def view(name: str) -> Callable[[View], View]:
    """Register a table view under ``name``."""
    def register(fn: View) -> View:
        VIEWS[name] = fn
        return fn
    return register


def _number(value: Any, digits: int = 2, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{scale * value:.{digits}f}"


def _floats(text: str | None) -> set[float] | None:
    return None if text is None else {float(v) for v in text.split(",")}


def _cell(record: dict[str, Any], metrics: list[str]) -> str:
    parts = []
    for metric in metrics:
        value = record.get(metric)
        if value is None:
            continue
        parts.append(f"{100 * value:.1f} %" if metric == "accuracy" else f"{value:.2f} dB" if metric == "psnr"
                     else f"{value:.3f}")
    delivered = (record.get("extras") or {}).get("delivered")
    return " / ".join(parts) + (f" {NOTHING_DELIVERED}" if delivered == 0 else "")


def _layer_label(record: dict[str, Any]) -> str:
    layer = record.get("layer")
    return f"{'–' if layer is None else layer} ({ratio_label(record['ratio'])})"


@view("sweep")
def sweep_table(files: list[dict[str, Any]], options: dict[str, str]) -> str:
    """Rows (method, CSI where several, layer) by SNR; a cell holds ``metrics`` joined. Options:
    ``metrics=psnr,accuracy``; ``snr=``, ``layers=``, ``csi=``, ``methods=`` keep those (a
    single-stream method has no layer and is always kept); ``labels=`` names each file's rows
    (default: the method), for files whose methods share a name."""
    metrics = options.get("metrics", "psnr,accuracy").split(",")
    snrs_kept, layers_kept = _floats(options.get("snr")), _floats(options.get("layers"))
    csi_kept = None if "csi" not in options else options["csi"].split(",")
    methods_kept = None if "methods" not in options else options["methods"].split(",")
    labels = options["labels"].split(",") if "labels" in options else [None] * len(files)
    if len(labels) != len(files):
        raise ValueError(f"labels={options['labels']} names {len(labels)} files, the marker has {len(files)}")
    records = [(label, r) for label, f in zip(labels, files) for r in f["records"]
               if (snrs_kept is None or float(r["snr_db"]) in snrs_kept)
               and (layers_kept is None or r["layer"] is None or float(r["layer"]) in layers_kept)
               and (csi_kept is None or r["csi"] in csi_kept)
               and (methods_kept is None or r["method"] in methods_kept)]
    snrs = sorted({float(r["snr_db"]) for _, r in records})
    several_csi = len({r["csi"] for _, r in records}) > 1
    rows: dict[tuple[Any, ...], dict[float, dict[str, Any]]] = {}
    for label, r in records:
        rows.setdefault((label or f"`{r['method']}`", r["csi"], r["layer"]), {})[float(r["snr_db"])] = r
    shown = {"psnr": "PSNR", "accuracy": "accuracy", "ssim": "SSIM"}
    head = ["method", *(["CSI"] if several_csi else []), "layer (k/n)", *(f"{s:g} dB" for s in snrs)]
    lines = [f"{' / '.join(shown.get(m, m) for m in metrics)}:", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (name, csi, _), by_snr in rows.items():
        first = next(iter(by_snr.values()))
        cells = [_cell(by_snr[s], metrics) if s in by_snr else "–" for s in snrs]
        lines.append("| " + " | ".join([name, *([csi] if several_csi else []), _layer_label(first), *cells]) + " |")
    if any((r.get("extras") or {}).get("delivered") == 0 for _, r in records):
        lines += ["", NOTHING_NOTE.replace("*", "\\*", 1)]
    return "\n".join(lines)


@view("kodak")
def kodak_table(files: list[dict[str, Any]], options: dict[str, str]) -> str:
    """Per method and SNR: PSNR ± the half-width of its 95 % interval / SSIM, the k/n each
    method spent and, for digital links, how much they delivered."""
    records = [r for f in files for r in f["records"]]
    snrs = sorted({r["snr_db"] for r in records})
    rows: dict[tuple[Any, ...], dict[float, dict[str, Any]]] = {}
    for r in records:
        rows.setdefault((r["method"], r["layer"], r["channel"], r["csi"]), {})[r["snr_db"]] = r
    links = len({(c, m) for _, _, c, m in rows}) > 1
    head = ["method", "layer", "k/n", *(["channel"] if links else []), *[f"{s:g} dB: PSNR [dB] / SSIM" for s in snrs]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (method, layer, channel, csi), by_snr in rows.items():
        any_record = next(iter(by_snr.values()))
        cells = []
        for s in snrs:
            r = by_snr.get(s)
            if r is None:
                cells.append("–")
                continue
            ci = r.get("psnr_ci95")
            interval = "" if ci is None or (isinstance(ci, float) and math.isnan(ci)) else f" ± {ci:.2f}"
            cell = f"{r['psnr']:.2f}{interval} / {r['ssim']:.3f}"
            extras = r.get("extras", {})
            if str(extras.get("link", "")).startswith("none"):
                cell += " (nothing sent)"
            elif "delivered" in extras and extras["delivered"] < 1:
                cell += f" ({100 * extras['delivered']:.0f} % delivered)"
            cells.append(cell)
        row = [f"`{method}`", "–" if layer is None else str(layer), ratio_label(any_record["ratio"]),
               *([f"{channel}/{csi}"] if links else []), *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


@view("quality")
def quality_table(files: list[dict[str, Any]], options: dict[str, str]) -> str:
    """The first file's model against the others (its linear references), per SNR and layer:
    ``ours / reference ... dB, accuracy`` (options ``names=`` labels the references)."""
    by_file = [{(float(r["snr_db"]), r["layer"]): r for r in f["records"]} for f in files]
    snrs = sorted({s for s, _ in by_file[0]})
    layers = sorted({l for _, l in by_file[0]})
    ratios = {l: by_file[0][snrs[0], l]["ratio"] for l in layers}
    names = options.get("names", ",".join(f["records"][0]["method"] for f in files[1:])).split(",")
    head = ["SNR", *(f"layer {l} (k/n {ratio_label(ratios[l])}): ours / {' / '.join(names)}" for l in layers)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in snrs:
        cells = []
        for l in layers:
            ours = by_file[0][s, l]
            refs = [f.get((s, l)) for f in by_file[1:]]
            psnrs = " / ".join(_number(r["psnr"] if r else None) for r in [ours, *refs])
            acc = ours.get("accuracy")
            cells.append(f"{psnrs} dB" + ("" if acc is None else f", {100 * acc:.1f} %"))
        lines.append(f"| {s:g} dB | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@view("broadcast")
def broadcast_table(files: list[dict[str, Any]], options: dict[str, str]) -> str:
    """Per method (its top layer; every layer with ``layers=all``) and channel: mean / 10th
    percentile of the users' PSNR and accuracy, and the fraction of users that decode."""
    from semcomm.sweep.broadcast import summarise

    rows = summarise([r for f in files for r in f["records"]])
    channels = list(dict.fromkeys(r["channel"] for r in rows))
    top: dict[str, int] = {}
    for r in rows:
        top[r["method"]] = max(top.get(r["method"], 0), r["layer"] or 1)
    keep = [r for r in rows if options.get("layers") == "all" or (r["layer"] or 1) == top[r["method"]]]
    head = ["method", "layer (k/n)"]
    for c in channels:
        head += [f"{c}: user PSNR mean / p10 [dB]", "accuracy mean / p10 [%]", "users decoding"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    grouped: dict[tuple[str, Any], dict[str, dict[str, Any]]] = {}
    for r in keep:
        grouped.setdefault((r["method"], r["layer"]), {})[r["channel"]] = r
    for (method, _), by_channel in grouped.items():
        first = next(iter(by_channel.values()))
        cells = [f"`{method}`", _layer_label(first)]
        for c in channels:
            r = by_channel.get(c)
            if r is None:
                cells += ["–"] * 3
                continue
            cells += [f"{r['psnr_mean']:.2f} / {r['psnr_p10']:.2f}",
                      f"{_number(r['accuracy_mean'], 1, 100)} / {_number(r['accuracy_p10'], 1, 100)}",
                      f"{100 * r['decode_fraction']:.0f} %"]
        lines.append("| " + " | ".join(cells) + " |")
    users = max(r["users"] for r in rows)
    return "\n".join(lines) + f"\n\n{users} users per channel."


@view("table")
def plain_table(files: list[dict[str, Any]], options: dict[str, str]) -> str:
    """A benchmark's table file as it is: ``columns`` and ``rows`` (cells formatted there)."""
    out = []
    for f in files:
        lines = ["| " + " | ".join(f["columns"]) + " |", "|" + " --- |" * len(f["columns"])]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in f["rows"]]
        out.append("\n".join(lines) + "".join(f"\n\n{note}" for note in f.get("notes", [])))
    return "\n\n".join(out)


_MTL = _sibling("mtl_views")
VIEWS.update(_MTL.VIEWS)
#: Figure views: name -> function(files, options) -> a matplotlib Figure.
FIGURES: dict[str, Callable[[list[dict[str, Any]], dict[str, str]], Any]] = dict(_MTL.FIGURES)


def _provenance(paths: list[str], files: list[dict[str, Any]]) -> str:
    """Where the numbers come from: the files, grouped by what made them (creation date, seed,
    images, semcomm version and revision, command)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for path, f in zip(paths, files):
        n = {r.get("n_images") for r in f.get("records", [])} - {None}
        images = f", {n.pop():,} images" if len(n) == 1 else ""
        command = f.get("command")
        made = (f"created {str(f.get('created', '?'))[:10]}, seed {f.get('seed')}{images}, semcomm "
                f"{f.get('semcomm_version')} at {str(f.get('git_rev'))[:10]}" + (f"; `{command}`" if command else ""))
        groups.setdefault((made,), []).append(f"`{path}`")
    parts = [f"{', '.join(names)} ({made})" for (made,), names in groups.items()]
    return "Generated from " + "; ".join(parts) + " by `docs/results/render.py`."


def parse_spec(spec: str) -> tuple[str, list[str], dict[str, str]]:
    """``VIEW FILE ... KEY=VALUE ...`` -> (view, files, options).

    Raises:
        ValueError: one line, for an unknown view or a marker with no file.
    """
    words = spec.split()
    if not words or words[0] not in VIEWS:
        raise ValueError(f"unknown table view {words[0] if words else ''!r}; known: {', '.join(VIEWS)}")
    files = [w for w in words[1:] if "=" not in w]
    options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    if not files:
        raise ValueError(f"table marker {spec!r} names no results file")
    return words[0], files, options


def load_files(paths: list[str]) -> list[dict[str, Any]]:
    """The results or table files at ``paths`` (repository-relative; ``.gz`` gzipped JSON)."""
    files = []
    for path in paths:
        if not (ROOT / path).is_file():
            raise ValueError(f"results file {path!r} does not exist")
        data = json.loads(gzip.decompress((ROOT / path).read_bytes())) if path.endswith(".gz") else read_json(ROOT / path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a results or table file")
        files.append(data)
    return files


def render_table(spec: str) -> str:
    """The generated text of one marker: the table and where its numbers come from."""
    name, paths, options = parse_spec(spec)
    files = load_files(paths)
    return f"{VIEWS[name](files, options)}\n\n{_provenance(paths, files)}\n"


def parse_figure_spec(spec: str) -> tuple[str, str, list[str], dict[str, str]]:
    """``NAME VIEW FILE ... KEY=VALUE ...`` -> (name, view, files, options).

    Raises:
        ValueError: one line, for a bad name, an unknown view or no file.
    """
    words = spec.split()
    if len(words) < 3 or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", words[0]):
        raise ValueError(f"figure marker {spec!r}: give NAME (lower case, digits, -) VIEW FILE ...")
    if words[1] not in FIGURES:
        raise ValueError(f"unknown figure view {words[1]!r}; known: {', '.join(FIGURES)}")
    name, _, files, options = words[0], *parse_spec(" ".join(["table", *words[2:]]))
    return name, words[1], files, options


def figure_path(name: str) -> Path:
    """Where the figure ``name`` is drawn."""
    return FIGURE_DIR / f"{name}.svg"


def render_figure(spec: str, page: Path, draw: bool) -> str:
    """The generated text of one figure marker: the image link (relative to ``page``), where its
    numbers come from, and a digest of the spec and the files' bytes; with ``draw`` the SVG is
    (re)drawn where the digest changed or the file is missing."""
    name, view_name, paths, options = parse_figure_spec(spec)
    files = load_files(paths)
    digest = hashlib.sha256(spec.encode() + b"".join((ROOT / p).read_bytes() for p in paths)).hexdigest()[:16]
    link = os.path.relpath(figure_path(name), page.parent)
    body = f"![{name}]({link})\n\n{_provenance(paths, files)} <!-- inputs {digest} -->\n"
    fresh = page.exists() and f"<!-- figure: {spec} -->\n{body}<!-- figure:end -->" in page.read_text()
    if draw and (not fresh or not figure_path(name).exists()):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure = FIGURES[view_name](files, options)
        FIGURE_DIR.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context({"svg.hashsalt": digest, "svg.fonttype": "none"}):
            figure.savefig(figure_path(name), format="svg", metadata={"Date": None})
        plt.close(figure)
    return body


def render_page(text: str, page: Path | None = None, draw: bool = False) -> str:
    """``text`` with every marker's table written anew, and every figure marker's link (the
    figure drawn with ``draw``); ``page`` is where the text lives (figure links are relative)."""
    page = page or DOCS / "index.md"
    text = MARKER.sub(lambda m: f"<!-- table: {m['spec']} -->\n{render_table(m['spec'])}<!-- table:end -->", text)
    return FIGURE_MARKER.sub(
        lambda m: f"<!-- figure: {m['spec']} -->\n{render_figure(m['spec'], page, draw)}<!-- figure:end -->", text)


def pages() -> list[Path]:
    """The Markdown pages (docs and README) that hold at least one table or figure marker."""
    candidates = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [p for p in candidates if MARKER.search(p.read_text()) or FIGURE_MARKER.search(p.read_text())]


def missing_figures(page: Path) -> list[str]:
    """The figures ``page`` asks for whose SVG is not there."""
    return [parse_figure_spec(m["spec"])[0] for m in FIGURE_MARKER.finditer(page.read_text())
            if not figure_path(parse_figure_spec(m["spec"])[0]).exists()]


def stale_pages() -> list[Path]:
    """The pages whose tables or figures differ from what their results files give, or whose
    figures are missing (repository-relative)."""
    return [p.relative_to(ROOT) for p in pages()
            if render_page(p.read_text(), p) != p.read_text() or missing_figures(p)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text()
        try:
            missing = missing_figures(page)  # drawn below unless --check
            new = render_page(text, page, draw=not args.check)
        except (ValueError, KeyError) as err:
            print(f"error: {page.relative_to(ROOT)}: {err}", file=sys.stderr)
            return 2
        if new != text or missing:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print("stale tables (run python docs/results/render.py): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    print(("up to date: " if args.check or not stale else "rewrote: ") + ", ".join(map(str, stale or ["every page"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
