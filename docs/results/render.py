"""Render a sweep results file as a Markdown table, into a results page between its markers.

    python docs/results/render.py docs/results/kodak.json docs/results/kodak.md

The page keeps its prose; the text between ``<!-- table:begin -->`` and ``<!-- table:end -->``
is replaced by the table: one row per method (and layer), one column pair per SNR (PSNR in dB
with its 95 % interval, SSIM), with the ratio each spent and, for digital links, the MCS they
chose. The numbers come from the file alone, with the file's own creation date and the seed, so
the page cannot drift from the results.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from semcomm.results import ratio_label

BEGIN, END = "<!-- table:begin -->", "<!-- table:end -->"


def _cell(record: dict[str, Any]) -> str:
    ci = record.get("psnr_ci95")
    interval = "" if ci is None or (isinstance(ci, float) and math.isnan(ci)) else f" ± {ci:.2f}"
    return f"{record['psnr']:.2f}{interval} / {record['ssim']:.3f}"


def table(results: dict[str, Any]) -> str:
    """The Markdown table of a sweep results file (``records``)."""
    records = results["records"]
    snrs = sorted({r["snr_db"] for r in records})
    rows: dict[tuple[str, Any, str, str], dict[float, dict[str, Any]]] = {}
    for r in records:
        rows.setdefault((r["method"], r["layer"], r["channel"], r["csi"]), {})[r["snr_db"]] = r
    links = len({(c, m) for _, _, c, m in rows}) > 1
    head = ["method", "layer", "k/n", *(["channel"] if links else []), *[f"{s:g} dB: PSNR [dB] / SSIM" for s in snrs]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (method, layer, channel, csi), by_snr in rows.items():
        any_record = next(iter(by_snr.values()))
        cells = [_cell(by_snr[s]) if s in by_snr else "–" for s in snrs]
        for s, r in by_snr.items():
            extras = r.get("extras", {})
            if str(extras.get("link", "")).startswith("none"):
                cells[snrs.index(s)] += " (nothing sent)"
            elif "delivered" in extras and extras["delivered"] < 1:
                cells[snrs.index(s)] += f" ({100 * extras['delivered']:.0f} % delivered)"
        row = [f"`{method}`", "–" if layer is None else str(layer), ratio_label(any_record['ratio']),
               *([f"{channel}/{csi}"] if links else []), *cells]
        lines.append("| " + " | ".join(row) + " |")
    n = records[0]["n_images"]
    lines.append("")
    lines.append(f"{n} images; results file `{results.get('created', '?')[:10]}` (created), seed {results.get('seed')}, "
                 f"semcomm {results.get('semcomm_version')} ({str(results.get('git_rev'))[:10]}).")
    return "\n".join(lines)


def render(results_path: Path, page: Path) -> None:
    """Replace the table between the page's markers with the results file's."""
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page}: no {BEGIN} ... {END} markers")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    body = table(json.loads(results_path.read_text()))
    page.write_text(f"{before}{BEGIN}\n{body}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("page", type=Path)
    args = parser.parse_args()
    render(args.results, args.page)


if __name__ == "__main__":
    main()
