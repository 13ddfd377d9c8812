"""``semcomm sweep``: methods over a grid of channels, CSI modes and SNRs, into a results file."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import channels
from semcomm.cli.app import app, check_outputs, console, err_console, one_line_errors
from semcomm.cli.execution import ExecutorChoice, run_to_file, with_executor
from semcomm.cli.options import CHANNEL_HELP, CSI_HELP, IMAGES_HELP, PRECISION_HELP, SNR_HELP, SourcesArgument, dataset_help, with_channel_options
from semcomm.cli.parsing import checkpoint_inputs, parse_count, parse_device, parse_methods, parse_names, parse_snr_list, precision_note
from semcomm.codecs import codec_names
from semcomm.data import images_root
from semcomm.links import link_names
from semcomm.cli.table import check_metric_option, chosen_metrics, metric_help
from semcomm.plot import plot_sweep
from semcomm.results import nothing_delivered, render
from semcomm.sweep import MethodsPlan, SweepPlan

__all__ = ["say_images", "sweep", "sweep_summary"]


def say_images(plan: MethodsPlan[Any], data_root: str | None, folder: str | None = None) -> None:
    """Tell (on stderr) which images the plan evaluates on."""
    if folder is not None:
        err_console.print(f"images: {plan.n_images} images from {folder}")
        return
    root = images_root(data_root)
    where = "the embedded sample" if root is None else str(root)
    err_console.print(f"images: {plan.n_images} {plan.dataset} test images from {where}")


def sweep_summary(records: list[dict[str, Any]], metric: str | None = None) -> str:
    """The records as one table per metric (``--metric``; default PSNR, accuracy, each task's score): a row per
    method and layer, a column per SNR, fitting the terminal's width."""
    return render(records, chosen_metrics(records, metric), "text", shutil.get_terminal_size((100, 24)).columns)


@app.command()
@one_line_errors
@with_executor
@with_channel_options
def sweep(
    sources: SourcesArgument = None,
    method: Annotated[
        Optional[str],
        typer.Option(help="comma list of methods to add: sscc (one stream at the total ratio, per --codec and "
                          "--link), sscc-oracle (an independent encoding per cumulative layer budget, per --codec and "
                          "--link: an upper bound), sscc-scalable (one JPEG 2000 stream cut into per-layer chunks, per "
                          "--link), analog, linear (KLT + SoftCast + LMMSE); layered methods take the layers of the "
                          "first JSCC model or --ratio"),
    ] = None,
    codec: Annotated[str, typer.Option(help="SSCC codecs, comma list of: " + ", ".join(codec_names()))] = "jpeg",
    link: Annotated[str, typer.Option(help="SSCC links, comma list of: " + ", ".join(link_names()))] = "ldpc,capacity",
    ratio: Annotated[
        Optional[str],
        typer.Option(help="bandwidth ratio k/n, or one per layer (1/18,1/18,1/18): the layers of linear, their sum "
                          "for SSCC (default: the first JSCC model's layers and total ratio)"),
    ] = None,
    classifier: Annotated[
        Optional[str],
        typer.Option(help="JSCC model whose top-layer head scores SSCC and linear images (default: the first JSCC source, else <dataset>-l3)"),
    ] = None,
    name: Annotated[
        Optional[str],
        typer.Option(help="labels of the JSCC models, comma list in their order (default: the pretrained or run "
                          "directory name)"),
    ] = None,
    channel: Annotated[str, typer.Option(help=CHANNEL_HELP)] = "awgn",
    csi: Annotated[str, typer.Option(help=CSI_HELP)] = "perfect",
    snr: Annotated[str, typer.Option(help=SNR_HELP)] = "-5:25:2.5",
    out: Annotated[Path, typer.Option(help="results JSON (resumes if it exists)")] = Path("results.json"),
    plot: Annotated[Optional[Path], typer.Option(help="also draw the PSNR/accuracy figure here")] = None,
    dataset: Annotated[Optional[str], typer.Option(help=dataset_help("for methods that do not name one"))] = None,
    images: Annotated[Optional[str], typer.Option(help=IMAGES_HELP + " (each method sees each image at its own size)")] = None,
    data_root: Annotated[
        Optional[str],
        typer.Option(help="data root with the full test set (and the training split that linear's KLT is fitted on), "
                          "or 'embedded' (default: $SEMCOMM_DATA, else embedded)"),
    ] = None,
    batch_size: Annotated[str, typer.Option(help="images per batch")] = "256",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    n_images: Annotated[Optional[str], typer.Option(help="evaluate on the first N test images only")] = None,
    device: Annotated[str, typer.Option(help="where models and draws run: cpu, cuda, cuda:N or mps (the same numbers up to float rounding)")] = "cpu",
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "fp32",
    metric: Annotated[Optional[str], typer.Option(help="the tables printed: " + metric_help())] = None,
    *,
    channel_options: dict[str, str | None],
    executor: ExecutorChoice,
) -> None:
    """Evaluate methods (every layer of a JSCC model or of linear, SSCC baselines) over a grid of channels,
    CSI modes and SNRs: PSNR, SSIM and accuracy, into one resumable results file."""
    check_metric_option(metric)
    check_outputs(("--out", out), ("--plot", plot),
                  inputs=checkpoint_inputs("a model source", list(sources or ())) + checkpoint_inputs("--classifier", [classifier]))
    snrs = parse_snr_list(snr)
    channel_names, csi_modes = parse_names(channel, "--channel"), parse_names(csi, "--csi")
    plan = SweepPlan.from_spec(
        parse_methods(sources, method, codec, link, ratio, classifier, name, dataset, data_root, images, precision),
        channel_names, csi_modes, snrs, seed, parse_count(batch_size, "--batch-size"),
        channels.sweep_option_kwargs(channel_names, channel_options), data_root,
        None if n_images is None else parse_count(n_images, "--n-images"), parse_device(device),
    )
    say_images(plan, data_root, images)
    note = precision_note(precision, parse_device(device))
    if note:
        err_console.print(note)
    records = run_to_file(plan, out, executor)
    warning = nothing_delivered(records)
    if warning:
        print(warning, file=sys.stderr)
    print(sweep_summary(records, metric))
    console.print(f"results: {out}")
    if plot is not None:
        plot_sweep({"records": records}, plot)
        console.print(f"figure: {plot}")
