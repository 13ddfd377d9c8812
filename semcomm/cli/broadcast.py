"""``semcomm broadcast``: one transmitter, many receivers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich import box
from rich.table import Table

import channels
from semcomm.cli.app import app, check_outputs, console, err_console, one_line_errors
from semcomm.cli.execution import ExecutorChoice, run_to_file, with_executor
from semcomm.cli.options import CHANNEL_HELP, CSI_HELP, IMAGES_HELP, PRECISION_HELP, SourcesArgument, dataset_help, with_channel_options
from semcomm.cli.parsing import checkpoint_inputs, parse_count, parse_device, parse_methods, parse_names, parse_percentiles, parse_user_snr, precision_note
from semcomm.cli.sweep import say_images
from semcomm.codecs import codec_names
from semcomm.links import link_names
from semcomm.plot import plot_broadcast
from semcomm.results import ratio_label
from semcomm.sweep.broadcast import MAX_USERS, BroadcastPlan, summarise


def _broadcast_table(summary: list[dict[str, Any]], users: int) -> Table:
    links = len({(r["channel"], r["csi"]) for r in summary}) > 1
    table = Table(title=f"Broadcast to {users} users", box=box.SIMPLE_HEAD, padding=(0, 1))
    # "\[" is a literal "[" in rich markup.
    for col in ("method", *(["link"] if links else []), "layer", "ratio", r"PSNR mean \[dB]", r"PSNR p10 \[dB]",
                r"acc. mean \[%]", r"acc. p10 \[%]", r"decoding \[%]", "mean top layer"):
        table.add_column(col, justify="right")
    percent = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
    for r in summary:
        table.add_row(r["method"], *([f"{r['channel']}/{r['csi']}"] if links else []),
                      "-" if r["layer"] is None else str(r["layer"]), ratio_label(r["ratio"]), f"{r['psnr_mean']:.2f}",
                      f"{r['psnr_p10']:.2f}", percent(r["accuracy_mean"]), percent(r["accuracy_p10"]),
                      percent(r["decode_fraction"]), f"{r['highest_layer_mean']:.2f}")
    return table


@app.command()
@one_line_errors
@with_executor
@with_channel_options
def broadcast(
    sources: SourcesArgument = None,
    method: Annotated[
        Optional[str],
        typer.Option(help="comma list of methods to add: sscc (one stream per --codec and --link and design "
                          "percentile), sscc-oracle, sscc-scalable (layered, one design percentile per layer), "
                          "analog, linear"),
    ] = None,
    users: Annotated[Optional[str], typer.Option(help="number of users (default 100, or the length of a --user-snr list)")] = None,
    user_snr: Annotated[str, typer.Option(help="users' average SNRs in dB: uniform:LO:HI, normal:MEAN:STD or a comma list")] = "uniform:0:20",
    design_percentile: Annotated[Optional[str], typer.Option(help="single-stream SSCC (--method sscc): rate for the p-th percentile user (default 0: the worst); a comma list gives one method each")] = None,
    layer_percentiles: Annotated[Optional[str], typer.Option(help="layered SSCC: one percentile per layer (default: evenly 0...90, e.g. 0,45,90)")] = None,
    codec: Annotated[str, typer.Option(help="SSCC codecs, comma list of: " + ", ".join(codec_names()))] = "jpeg2000",
    link: Annotated[str, typer.Option(help="SSCC links, comma list of: " + ", ".join(link_names()))] = "ldpc",
    ratio: Annotated[Optional[str], typer.Option(help="bandwidth ratio per layer (default: the first JSCC model's)")] = None,
    classifier: Annotated[Optional[str], typer.Option(help="JSCC model whose head scores SSCC and linear images")] = None,
    name: Annotated[Optional[str], typer.Option(help="labels of the JSCC models, comma list in their order")] = None,
    channel: Annotated[str, typer.Option(help=CHANNEL_HELP)] = "awgn",
    csi: Annotated[str, typer.Option(help=CSI_HELP)] = "perfect",
    out: Annotated[Path, typer.Option(help="results JSON (resumes if it exists)")] = Path("broadcast.json"),
    plot: Annotated[Optional[Path], typer.Option(help="also draw the per-user figure here")] = None,
    dataset: Annotated[Optional[str], typer.Option(help=dataset_help("for methods that do not name one"))] = None,
    images: Annotated[Optional[str], typer.Option(help=IMAGES_HELP)] = None,
    data_root: Annotated[Optional[str], typer.Option(help="data root with the test set, or 'embedded'")] = None,
    n_images: Annotated[Optional[str], typer.Option(help="images every user receives (the first N test images; default 100, every image of --images)")] = None,
    batch_size: Annotated[str, typer.Option(help="images per batch")] = "100",
    device: Annotated[str, typer.Option(help="where models and draws run: cpu, cuda, cuda:N or mps (the same numbers up to float rounding)")] = "cpu",
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "fp32",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    *,
    channel_options: dict[str, str | None],
    executor: ExecutorChoice,
) -> None:
    """One transmitter, many receivers: each user (own SNR, fading and noise) decodes every
    image; per-user PSNR, SSIM and accuracy per layer, and their mean, 10th percentile and CDF."""
    check_outputs(("--out", out), ("--plot", plot),
                  inputs=checkpoint_inputs("a model source", list(sources or ())) + checkpoint_inputs("--classifier", [classifier]))
    if design_percentile is not None and "sscc" not in (parse_names(method, "--method") if method is not None else []):
        raise ValueError("--design-percentile sets the rate of single-stream SSCC: without --method sscc it has no effect")
    spec = parse_user_snr(user_snr)
    count = len(spec.params) if spec.kind == "list" and users is None else parse_count("100" if users is None else users, "--users")
    if count > MAX_USERS:
        raise ValueError(f"bad --users {count}: at most {MAX_USERS:,} users")
    if spec.kind == "list" and count != len(spec.params):
        raise ValueError(f"--users {count} but --user-snr lists {len(spec.params)} SNRs; give one per user")
    channel_names = parse_names(channel, "--channel")
    plan = BroadcastPlan.from_spec(
        parse_methods(sources, method, codec, link, ratio, classifier, name, dataset, data_root, images, precision),
        channel_names, parse_names(csi, "--csi"), spec, count, parse_percentiles("0" if design_percentile is None else design_percentile, "--design-percentile"),
        None if layer_percentiles is None else parse_percentiles(layer_percentiles, "--layer-percentiles"),
        seed, parse_count(batch_size, "--batch-size"), channels.sweep_option_kwargs(channel_names, channel_options),
        data_root, parse_count(n_images, "--n-images") if n_images is not None else None if images is not None else 100,
        parse_device(device),
    )
    say_images(plan, data_root, images)
    note = precision_note(precision, parse_device(device))
    if note:
        err_console.print(note)
    records = run_to_file(plan, out, executor)
    console.print(_broadcast_table(summarise(records), count))
    console.print(f"results: {out}")
    if plot is not None:
        plot_broadcast({"records": records}, plot)
        console.print(f"figure: {plot}")
