"""``semcomm plot``: figures from results files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from semcomm.cli.app import app, check_outputs, console, one_line_errors
from semcomm.plot import merge_sweeps, plot_broadcast, plot_sweep
from semcomm.results import nothing_delivered, read_results


@app.command("plot")
@one_line_errors
def plot_results(
    results: Annotated[list[Path], typer.Argument(help="results files of semcomm sweep (several are drawn together)")],
    out: Annotated[Path, typer.Option(help="figure file (png, pdf, svg)")] = Path("fig.png"),
) -> None:
    """PSNR-vs-SNR and accuracy-vs-SNR panels from sweep results files (a method that differs
    between files, e.g. two checkpoints of one name, is drawn apart, labelled with its file), or
    per-user panels and the CDF of user PSNR from broadcast files."""
    check_outputs(("--out", out), inputs=[("a results file", path) for path in results])
    files = []
    for path in results:
        files.append(read_results(path))
    stems = [p.stem for p in results]
    labels = stems if len(set(stems)) == len(stems) else [str(p) for p in results]
    merged = merge_sweeps(list(zip(labels, files)))
    kinds = {"user" in r for r in merged["records"]}
    if len(kinds) > 1:
        raise ValueError("give sweep files or broadcast files, not both: their figures differ")
    (plot_broadcast if kinds == {True} else plot_sweep)(merged, out)
    warning = nothing_delivered(merged["records"])
    if warning:
        print(warning, file=sys.stderr)
    console.print(f"figure: {out}")
