"""``semcomm table``: a results file as tables, Markdown, CSV or JSON."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from semcomm.cli.app import app, one_line_errors
from semcomm.results import FORMATS, metric_names, read_results, render


def chosen_metrics(records: list[dict], metric: str | None) -> list[str]:
    """The metrics of ``--metric`` (a comma list; ``all``: every one the records hold), or by
    default those the records hold but SSIM: PSNR, accuracy, then each task's score."""
    held = metric_names(records)
    if metric is None:
        return [m for m in held if m != "ssim"]
    if metric.strip() == "all":
        return held
    names = [m.strip() for m in metric.split(",")]
    if not all(names):
        raise ValueError(f"bad --metric {metric!r}: an empty name in the list")
    missing = [m for m in names if m not in held]
    if missing and len(missing) < len(names):
        print(f"note: these results hold no {', '.join(missing)}: left out", file=sys.stderr)
        names = [m for m in names if m in held]
    return list(dict.fromkeys(names))


def check_metric_option(metric: str | None) -> None:
    """Check ``--metric`` before any work: each name is a metric every record has (psnr, ssim,
    accuracy), ``all``, or ``<task> <score>`` of a registered task (which scores a run holds is
    known only after it: a missing one is then left out with a note).

    Raises:
        ValueError: one line naming the bad name and what is allowed.
    """
    if metric is None or metric.strip() == "all":
        return
    from semcomm.results import BASE_METRICS
    from semcomm.tasks import TASKS

    for name in (m.strip() for m in metric.split(",")):
        task = name.partition(" ")[0]
        if not name or (name not in BASE_METRICS and (" " not in name or task not in TASKS.names())):
            raise ValueError(f"bad --metric {metric!r}: {name!r} is not psnr, accuracy, ssim, all, or '<task> <score>' of "
                             f"a task ({', '.join(TASKS.names())}), e.g. 'class coarse2 accuracy'")


def metric_help() -> str:
    return ("metrics, a comma list: psnr, accuracy, ssim, a task's (e.g. 'class coarse2 accuracy', 'edges mse') or all "
            "(default: all but ssim)")


@app.command("table")
@one_line_errors
def table(
    results: Annotated[Path, typer.Argument(help="a results file of semcomm sweep, broadcast or demo")],
    metric: Annotated[Optional[str], typer.Option(help=metric_help())] = None,
    format: Annotated[str, typer.Option("--format", help=f"output: {', '.join(FORMATS)} (csv and json: one line per method, layer, SNR and metric)")] = "text",
) -> None:
    """One table per metric: a row per method and layer, a column per SNR."""
    records = read_results(results)["records"]
    print(render(records, chosen_metrics(records, metric), format, shutil.get_terminal_size((100, 24)).columns))
