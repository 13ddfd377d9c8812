"""The ``semcomm`` command line.

User errors (a bad SNR list, an unknown modulation or channel, ...) end the command with one
line on stderr, ``error: <what is wrong and what is allowed>``, and exit code 2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import torch
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import channels
from semcomm.ber import BerConfig, BerPoint, simulate_ber_point
from semcomm.data import EMBEDDED, ENV_VAR, DatasetError, ImageDataset, images_root, load_images
from semcomm.atomic import check_writable
from semcomm.codecs import codec_names
from semcomm.links import link_names
from semcomm.methods import Method, SSCCSpec, resolve_method, sweep_methods
from semcomm.models.klt import shipped_klt_path
from semcomm.plot import merge_sweeps, plot_ber, plot_broadcast, plot_sweep, ratio_label
from semcomm.sweep import (
    KEY_FIELDS,
    ResultsFile,
    check_methods,
    parse_count,
    parse_ratios,
    parse_snr_list,
    parse_snr_range,
    parse_weights,
    pending_points,
    run_sweep,
    sweep_points,
)
from semcomm.sweep.results_io import read_json
from semcomm.seeding import check_seed
from semcomm.sweep.broadcast import (
    BROADCAST_KEY_FIELDS,
    MAX_USERS,
    design_methods,
    parse_percentiles,
    parse_user_snr,
    run_broadcast,
    summarise,
)
from semcomm.train import TrainConfig, validate
from semcomm.train import train as train_model

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="semcomm: semantic communication simulator (JSCC vs digital links).",
)
console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for the result tables
    console.width = 120
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root() -> None:
    """semcomm: semantic communication simulator (JSCC vs digital links)."""


def one_line_errors(fn: F) -> F:
    """Turn a ``ValueError`` raised for bad user input, or a dataset that cannot be loaded
    (:class:`~semcomm.data.DatasetError`), into ``error: ...`` on stderr, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, DatasetError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def progress_bar() -> Progress:
    """The progress bar every long job shows (on stderr)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
    )


@dataclass(frozen=True)
class _ChannelOption:
    """A command-line option that sets a keyword of some channels' constructors."""

    kwarg: str
    parse: Callable[[str], Any]
    takers: tuple[str, ...]


def _number(flag: str, meaning: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"bad {flag} {text!r}: expected {meaning}") from None

    return parse


_TDL_CHANNELS = tuple(name for name in channels.names() if name.startswith("tdl-"))
#: Channel options shared by ``ber``, ``sweep`` and ``train``; each applies to its ``takers``.
_CHANNEL_OPTIONS: dict[str, _ChannelOption] = {
    "--k-factor": _ChannelOption("k_factor", _number("--k-factor", "a number >= 0 (linear K)"), ("rician",)),
    "--block-len": _ChannelOption("block_len", lambda v: parse_count(v, "--block-len"), ("rayleigh-block", "rician")),
    "--delay-spread": _ChannelOption("delay_spread_ns", _number("--delay-spread", "an RMS delay spread in ns"), _TDL_CHANNELS),
    "--doppler": _ChannelOption("max_doppler_hz", _number("--doppler", "a maximum Doppler shift in Hz"), _TDL_CHANNELS),
}
KFactorOption = Annotated[Optional[str], typer.Option("--k-factor", help="Rician K-factor, linear")]
BlockLenOption = Annotated[
    Optional[str], typer.Option("--block-len", help="symbols per fading block (default: one per image or frame)")
]
DelaySpreadOption = Annotated[
    Optional[str], typer.Option("--delay-spread", help="TDL RMS delay spread in ns (default 300)")
]
DopplerOption = Annotated[
    Optional[str], typer.Option("--doppler", help="TDL maximum Doppler shift in Hz (default 0: static per example)")
]
SourcesArgument = Annotated[
    Optional[list[str]],
    typer.Argument(help="JSCC run directories or pretrained model names, or method names (analog, linear)"),
]
CHANNEL_HELP = "comma list of: " + ", ".join(channels.names())
CSI_HELP = "comma list of receiver CSI modes: perfect, none (any channel), ls, lmmse (TDL/OFDM channels)"


def _channel_kwargs(channel: str, options: dict[str, str | None]) -> dict[str, Any]:
    """Constructor keywords of ``channel`` from the channel options given (flag -> text or None)."""
    if channel not in channels.CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; choose one of: {', '.join(channels.names())}")
    kwargs: dict[str, Any] = {}
    for flag, text in options.items():
        if text is None:
            continue
        option = _CHANNEL_OPTIONS[flag]
        if channel not in option.takers:
            raise ValueError(f"{flag} applies to {', '.join(option.takers)}, not {channel!r}")
        kwargs[option.kwarg] = option.parse(text)
    channels.get(channel, **kwargs)  # validates the options now, before any work
    return kwargs


def _channel_options(k_factor: str | None, block_len: str | None, delay_spread: str | None,
                     doppler: str | None) -> dict[str, str | None]:
    return {"--k-factor": k_factor, "--block-len": block_len, "--delay-spread": delay_spread, "--doppler": doppler}


def _ber_table(config: BerConfig, points: list[BerPoint]) -> Table:
    table = Table(title=f"Uncoded BER: {config.modulation} over {config.channel}, CSI {config.csi}")
    for col in (r"Es/N0 \[dB]", r"Eb/N0 \[dB]", "bits", "errors", "BER sim", "95 % CI", "BER theory", "sim/theory"):
        table.add_column(col, justify="right")
    for p in points:
        theory = "-" if p.ber_theory is None else f"{p.ber_theory:.3e}"
        ratio = "-" if not p.ber_theory or p.errors == 0 else f"{p.ber / p.ber_theory:.3f}"
        ci = f"[{p.ber_ci95[0]:.2e}, {p.ber_ci95[1]:.2e}]"
        table.add_row(f"{p.snr_db:g}", f"{p.ebno_db:.2f}", f"{p.bits:,}", f"{p.errors:,}", f"{p.ber:.3e}", ci, theory, ratio)
    return table


@app.command()
@one_line_errors
def ber(
    modulation: Annotated[str, typer.Option(help="bpsk, qpsk, 16qam, 64qam or 256qam")] = "qpsk",
    channel: Annotated[str, typer.Option(help="one of: " + ", ".join(channels.names()))] = "awgn",
    snr: Annotated[str, typer.Option(help="Es/N0 in dB: start:stop:step (stop included) or a comma list")] = "0:10:1",
    bits: Annotated[str, typer.Option(help="bits per SNR point, e.g. 1e6")] = "1e6",
    csi: Annotated[str, typer.Option(help="receiver CSI: perfect, none, ls or lmmse (TDL/OFDM channels)")] = "perfect",
    demapper: Annotated[str, typer.Option(help="app (exact) or maxlog")] = "app",
    k_factor: KFactorOption = None,
    block_len: BlockLenOption = None,
    delay_spread: DelaySpreadOption = None,
    doppler: DopplerOption = None,
    frame_len: Annotated[str, typer.Option(help="symbols per frame (one example)")] = "100",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="results JSON (resumes if it exists)")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="save a BER-vs-SNR figure here")] = None,
) -> None:
    """Simulate uncoded BER over a channel and compare it with theory."""
    _check_outputs(("--out", out), ("--plot", plot))
    config = BerConfig(
        modulation=modulation,
        channel=channel,
        channel_kwargs=_channel_kwargs(channel, _channel_options(k_factor, block_len, delay_spread, doppler)),
        csi=csi,
        demapper=demapper,
        bits=parse_count(bits, "--bits"),
        frame_len=parse_count(frame_len, "--frame-len"),
        seed=seed,
    )
    snrs = parse_snr_list(snr)
    results = ResultsFile(out, config.to_dict(), seed, key_fields=("snr_db",)) if out else None
    points: dict[float, BerPoint] = {}
    if results is not None:
        for record in results.records:
            if record["snr_db"] in snrs:
                points[record["snr_db"]] = BerPoint(**{**record, "ber_ci95": tuple(record["ber_ci95"])})
    todo = [s for s in snrs if s not in points]
    if len(todo) < len(snrs):
        err_console.print(f"resuming {out}: {len(snrs) - len(todo)} of {len(snrs)} points already done")
    with progress_bar() as bar:
        task = bar.add_task("BER", total=len(todo) * config.bits)
        for s in todo:
            bar.update(task, description=f"BER @ {s:g} dB")
            points[s] = simulate_ber_point(config, s, progress=lambda n: bar.advance(task, n))
            if results is not None:
                results.add(vars(points[s]) | {"ber_ci95": list(points[s].ber_ci95)})
    ordered = [points[s] for s in snrs]
    console.print(_ber_table(config, ordered))
    if plot is not None:
        records = [vars(p) for p in ordered]
        plot_ber({"config": config.to_dict(), "records": records}, plot)
        console.print(f"figure: {plot}")
    if out is not None:
        console.print(f"results: {out}")


def _check_outputs(*outputs: tuple[str, Path | None]) -> None:
    """Check each (flag, file) output that is given, before any work (:func:`check_writable`)."""
    for flag, path in outputs:
        if path is not None:
            check_writable(path, flag)


def _names(text: str) -> list[str]:
    """A comma list of names, stripped, duplicates removed (``"awgn, rician"``)."""
    return list(dict.fromkeys(t.strip() for t in text.split(",")))


def _sweep_channel_kwargs(names: list[str], options: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """Options per channel of a sweep: each goes to the swept channels that take it; an option
    that no swept channel takes is an error."""
    for flag, text in options.items():
        if text is not None and not set(names) & set(_CHANNEL_OPTIONS[flag].takers):
            takers = ", ".join(_CHANNEL_OPTIONS[flag].takers)
            raise ValueError(f"{flag} applies to {takers}, none of which is in --channel {','.join(names)}")
    return {
        name: _channel_kwargs(name, {f: t for f, t in options.items() if name in _CHANNEL_OPTIONS[f].takers})
        for name in names
    }


def _first_images(images: ImageDataset, n: int | None) -> ImageDataset:
    """The first ``n`` images (all of them for None)."""
    if n is None:
        return images
    if n > len(images):
        raise ValueError(f"--n-images {n} exceeds the {len(images)} images available")
    return dataclasses.replace(images, images=images.images[:n], labels=images.labels[:n])


def _with_ci(value: float, ci95: float | None) -> str:
    """``"27.10 ± 0.12"``; the value alone when the interval is undefined (one image: NaN, or null in a file)."""
    return f"{value:.2f}" if ci95 is None or math.isnan(ci95) else f"{value:.2f} ± {ci95:.2f}"


def _sweep_table(records: list[dict[str, Any]]) -> Table:
    datasets = ", ".join(dict.fromkeys(r["dataset"] for r in records))
    table = Table(title=f"Sweep on {datasets}")
    # "\[" is a literal "[" in rich markup.
    with_tasks = any(r.get("tasks") for r in records)
    for col in ("method", "channel", "csi", r"SNR \[dB]", "layer", "ratio", r"PSNR \[dB] (95 % CI)", "SSIM", "accuracy",
                *(["other tasks"] if with_tasks else [])):
        table.add_column(col, justify="right")
    for r in records:
        accuracy = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f} %"
        tasks = ", ".join(f"{task} {metric} {100 * v:.2f} %" if metric.endswith("accuracy") else f"{task} {metric} {v:.4g}"
                          for task, scores in r.get("tasks", {}).items() for metric, v in scores.items()
                          if (task, metric) != ("class", "accuracy"))  # the accuracy column
        table.add_row(
            r["method"], r["channel"], r["csi"], f"{r['snr_db']:g}", "-" if r["layer"] is None else str(r["layer"]),
            ratio_label(r["ratio"]),
            _with_ci(r["psnr"], r["psnr_ci95"]), f"{r['ssim']:.4f}", accuracy, *([tasks or "-"] if with_tasks else []),
        )
    return table


@app.command()
@one_line_errors
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
    snr: Annotated[str, typer.Option(help="Es/N0 in dB: start:stop:step (stop included) or a comma list")] = "-5:25:2.5",
    out: Annotated[Path, typer.Option(help="results JSON (resumes if it exists)")] = Path("results.json"),
    plot: Annotated[Optional[Path], typer.Option(help="also draw the PSNR/accuracy figure here")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="mnist or cifar10, for methods that do not name one")] = None,
    data_root: Annotated[
        Optional[str],
        typer.Option(help="data root with the full test set (and the training split that linear's KLT is fitted on), "
                          "or 'embedded' (default: $SEMCOMM_DATA, else embedded)"),
    ] = None,
    batch_size: Annotated[str, typer.Option(help="images per batch")] = "256",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    n_images: Annotated[Optional[str], typer.Option(help="evaluate on the first N test images only")] = None,
    block_len: BlockLenOption = None,
    k_factor: KFactorOption = None,
    delay_spread: DelaySpreadOption = None,
    doppler: DopplerOption = None,
) -> None:
    """Evaluate methods (every layer of a JSCC model or of linear, SSCC baselines) over a grid of channels,
    CSI modes and SNRs: PSNR, SSIM and accuracy, into one resumable results file."""
    _check_outputs(("--out", out), ("--plot", plot))
    check_seed(seed)
    snrs = parse_snr_list(snr)
    channel_names, csi_modes = _names(channel), _names(csi)
    sweep_points(channel_names, csi_modes, snrs)  # validates the grid before any work
    channel_kwargs = _sweep_channel_kwargs(channel_names, _channel_options(k_factor, block_len, delay_spread, doppler))
    batch = parse_count(batch_size, "--batch-size")
    n = None if n_images is None else parse_count(n_images, "--n-images")
    methods = _methods(sources, method, codec, link, ratio, classifier, name, dataset, data_root, channel_names,
                       csi_modes, channel_kwargs)
    images, embedded = _test_images(methods[0].dataset, data_root, n)
    records = _sweep_to_file(methods, images, embedded, channel_names, csi_modes, snrs, out,
                             seed, batch, channel_kwargs)
    console.print(_sweep_table(records))
    console.print(f"results: {out}")
    if plot is not None:
        plot_sweep({"records": records}, plot)
        console.print(f"figure: {plot}")


def _methods(
    sources: list[str] | None, method: str | None, codec: str, link: str, ratio: str | None, classifier: str | None,
    name: str | None, dataset: str | None, data_root: str | None, channel_names: list[str],
    csi_modes: list[str], channel_kwargs: dict[str, dict[str, Any]],
) -> list[Method]:
    """The methods of a sweep or broadcast, checked against every channel and CSI mode."""
    ratios = None if ratio is None else parse_ratios(ratio, len(ratio.split(",")))
    sscc = SSCCSpec(_names(codec), _names(link), None if ratios is None else sum(ratios), classifier)
    methods = sweep_methods(sources or [], _names(method) if method else [], sscc, dataset, layer_ratios=ratios,
                            data_root=data_root, names=None if name is None else [t.strip() for t in name.split(",")])
    check_methods(methods, {c: channels.get(c, **channel_kwargs[c]) for c in channel_names}, csi_modes)
    return methods


def _test_images(dataset: str, data_root: str | None, n: int | None) -> tuple[ImageDataset, bool]:
    """The first ``n`` test images (all for None), and whether they are the embedded sample; says which."""
    images = _first_images(load_images(dataset, data_root, "test"), n)
    root = images_root(data_root)
    where = "the embedded sample" if root is None else str(root)
    err_console.print(f"images: {len(images)} {images.name} test images from {where}")
    return images, root is None


def _sweep_to_file(
    methods: list[Method], images: ImageDataset, embedded: bool, channel_names: list[str],
    csi_modes: list[str], snrs: list[float], out: Path, seed: int, batch: int,
    channel_kwargs: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Run (or resume) a sweep of ``methods`` into the results file ``out`` with a progress bar;
    return its records, method by method."""
    config = {
        "methods": [m.describe() for m in methods],
        "dataset": images.name,
        "images": "embedded" if embedded else "full",
        "n_images": len(images),
        "batch_size": batch,
        "channel_kwargs": channel_kwargs,
    }
    points = sweep_points(channel_names, csi_modes, snrs)
    results = ResultsFile(out, config, seed, key_fields=KEY_FIELDS)
    todo = sum(len(pending_points(results, m, images.name, points)) for m in methods)
    done = len(points) * len(methods) - todo
    if done:
        err_console.print(f"resuming {out}: {done} of {len(points) * len(methods)} points already done")
    records: list[dict[str, Any]] = []
    with progress_bar() as bar:
        task = bar.add_task("sweep", total=todo * len(images))
        for m in methods:
            bar.update(task, description=f"sweep {m.name}")
            records += run_sweep(
                m, images, channel_names, csi_modes, snrs, results, batch_size=batch, seed=seed,
                progress=lambda k: bar.advance(task, k), channel_kwargs=channel_kwargs,
            )
    return records


def _broadcast_table(summary: list[dict[str, Any]], users: int) -> Table:
    table = Table(title=f"Broadcast to {users} users")
    for col in ("method", "channel", "csi", "layer", "ratio", r"PSNR mean \[dB]", r"PSNR p10 \[dB]",
                "accuracy mean", "accuracy p10", "users decoding", "mean top layer"):
        table.add_column(col, justify="right")
    percent = lambda v: "-" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    for r in summary:
        table.add_row(r["method"], r["channel"], r["csi"], "-" if r["layer"] is None else str(r["layer"]),
                      ratio_label(r["ratio"]), f"{r['psnr_mean']:.2f}", f"{r['psnr_p10']:.2f}",
                      percent(r["accuracy_mean"]), percent(r["accuracy_p10"]), percent(r["decode_fraction"]),
                      f"{r['highest_layer_mean']:.2f}")
    return table


@app.command()
@one_line_errors
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
    design_percentile: Annotated[str, typer.Option(help="single-stream SSCC: rate for the p-th percentile user (0: the worst); a comma list gives one method each")] = "0",
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
    dataset: Annotated[Optional[str], typer.Option(help="mnist or cifar10, for methods that do not name one")] = None,
    data_root: Annotated[Optional[str], typer.Option(help="data root with the test set, or 'embedded'")] = None,
    n_images: Annotated[str, typer.Option(help="images every user receives (the first N test images)")] = "100",
    batch_size: Annotated[str, typer.Option(help="images per batch")] = "100",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    block_len: BlockLenOption = None,
    k_factor: KFactorOption = None,
    delay_spread: DelaySpreadOption = None,
    doppler: DopplerOption = None,
) -> None:
    """One transmitter, many receivers: each user (own SNR, fading and noise) decodes every
    image; per-user PSNR, SSIM and accuracy per layer, and their mean, 10th percentile and CDF."""
    _check_outputs(("--out", out), ("--plot", plot))
    check_seed(seed)
    spec = parse_user_snr(user_snr)
    count = len(spec.params) if spec.kind == "list" and users is None else parse_count(users or "100", "--users")
    if count > MAX_USERS:
        raise ValueError(f"bad --users {count}: at most {MAX_USERS:,} users")
    if spec.kind == "list" and count != len(spec.params):
        raise ValueError(f"--users {count} but --user-snr lists {len(spec.params)} SNRs; give one per user")
    designs = parse_percentiles(design_percentile, "--design-percentile")
    per_layer = None if layer_percentiles is None else parse_percentiles(layer_percentiles, "--layer-percentiles")
    channel_names, csi_modes = _names(channel), _names(csi)
    sweep_points(channel_names, csi_modes, [0.0])
    channel_kwargs = _sweep_channel_kwargs(channel_names, _channel_options(k_factor, block_len, delay_spread, doppler))
    batch = parse_count(batch_size, "--batch-size")
    n = parse_count(n_images, "--n-images")
    methods = _methods(sources, method, codec, link, ratio, classifier, name, dataset, data_root, channel_names,
                       csi_modes, channel_kwargs)
    if per_layer is None:
        layers = max((len(m.layer_symbols) for m in methods if m.adaptive and m.layered), default=1)
        per_layer = [round(90 * l / max(1, layers - 1), 6) for l in range(layers)]
    snrs = spec.draw(count, seed)
    designed = design_methods(methods, snrs, designs, per_layer)
    images, embedded = _test_images(methods[0].dataset, data_root, n)
    config = {
        "methods": [m.describe() for m in designed],
        "dataset": images.name,
        "images": "embedded" if embedded else "full",
        "n_images": len(images),
        "batch_size": batch,
        "channel_kwargs": channel_kwargs,
        "user_snr": spec.describe(),
    }
    results = ResultsFile(out, config, seed, key_fields=BROADCAST_KEY_FIELDS)
    records: list[dict[str, Any]] = []
    done = {(r["method"], r["channel"], r["csi"], r["user"]) for r in results.records}
    todo_users = sum((m.name, c, k, u) not in done
                     for m in designed for c in channel_names for k in csi_modes for u in range(count))
    if todo_users < len(designed) * len(channel_names) * len(csi_modes) * count:
        err_console.print(f"resuming {out}: {len(done)} users' results already done")
    with progress_bar() as bar:
        task = bar.add_task("broadcast", total=todo_users * len(images))
        for m in designed:
            bar.update(task, description=f"broadcast {m.name}")
            records += run_broadcast(m, images, channel_names, csi_modes, snrs, results, batch_size=batch, seed=seed,
                                     progress=lambda k: bar.advance(task, k), channel_kwargs=channel_kwargs)
    console.print(_broadcast_table(summarise(records), count))
    console.print(f"results: {out}")
    if plot is not None:
        plot_broadcast({"records": records}, plot)
        console.print(f"figure: {plot}")


@app.command("plot")
@one_line_errors
def plot_results(
    results: Annotated[list[Path], typer.Argument(help="results files of semcomm sweep (several are drawn together)")],
    out: Annotated[Path, typer.Option(help="figure file (png, pdf, svg)")] = Path("fig.png"),
) -> None:
    """PSNR-vs-SNR and accuracy-vs-SNR panels from sweep results files (a method that differs
    between files, e.g. two checkpoints of one name, is drawn apart, labelled with its file), or
    per-user panels and the CDF of user PSNR from broadcast files."""
    _check_outputs(("--out", out))
    files = []
    for path in results:
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            raise ValueError(f"{str(path)!r} is not a semcomm results file")
        files.append(data)
    stems = [p.stem for p in results]
    labels = stems if len(set(stems)) == len(stems) else [str(p) for p in results]
    merged = merge_sweeps(list(zip(labels, files)))
    kinds = {"user" in r for r in merged["records"]}
    if len(kinds) > 1:
        raise ValueError("give sweep files or broadcast files, not both: their figures differ")
    (plot_broadcast if kinds == {True} else plot_sweep)(merged, out)
    console.print(f"figure: {out}")


def _device(name: str) -> torch.device:
    """A torch device the machine has, or a one-line error."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"bad --device {name!r}: expected cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r}: this torch has no usable CUDA device; use cpu")
    return device


#: The bandwidth ratio per layer that ``train`` uses without ``--ratio``: the shipped models'.
DEFAULT_RATIOS = {"mnist": "3/98", "cifar10": "1/18"}


def _weighting_kwargs(weighting: str, semantic_weight: str | None, layers: int, options: list[str],
                      relation: str | None = None) -> dict[str, Any]:
    """The loss weighting's options from the flags given: ``fixed`` and ``gradsplit`` take
    ``--semantic-weight`` (default 0.05), ``gradsplit`` ``--gradsplit-relation``, every scheme
    ``--weighting-opt NAME=VALUE``; an option the weighting does not take is refused when the
    config is validated."""
    kwargs: dict[str, Any] = {}
    if relation is not None:
        try:
            kwargs["relation"] = [[float(v) for v in row.split(",")] for row in relation.split(";")]
        except ValueError:
            raise ValueError(f"bad --gradsplit-relation {relation!r}: expected rows of 0/1 separated by ';', "
                             "e.g. '1,1;0,1'") from None
    for option in options:
        key, sep, value = option.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key.strip() or number is None:
            raise ValueError(f"bad --weighting-opt {option!r}: expected NAME=NUMBER, e.g. alpha=1.5")
        kwargs[key.strip()] = int(number) if key.strip() == "seed" and number == int(number) else number
    if semantic_weight is not None:
        kwargs["semantic"] = parse_weights(semantic_weight, layers)
    elif weighting in ("fixed", "gradsplit"):
        kwargs["semantic"] = 0.05
    return kwargs


def _epoch_table(history: list[dict[str, Any]]) -> Table:
    table = Table(title="Training")
    for col in ("epoch", "loss", r"train PSNR per layer \[dB]", "train CE per layer", "seconds"):
        table.add_column(col, justify="right")
    for h in history:
        table.add_row(str(h["epoch"]), f"{h['loss']:.4f}", "  ".join(f"{p:.2f}" for p in h["train_psnr"]),
                      "  ".join(f"{c:.3f}" for c in h["train_ce"]), f"{h['seconds']:.0f}")
    return table


@app.command()
@one_line_errors
def train(
    dataset: Annotated[str, typer.Option(help="mnist or cifar10")] = "mnist",
    out: Annotated[Path, typer.Option(help="run directory (checkpoint written every epoch)")] = Path("runs/jscc"),
    data_root: Annotated[Optional[str], typer.Option(help="data root with the training set (default $SEMCOMM_DATA); 'embedded' for smoke tests")] = None,
    layers: Annotated[int, typer.Option(help="number of layers L")] = 3,
    ratio: Annotated[Optional[str], typer.Option(help="bandwidth ratio k_l/n per layer, e.g. 1/18,1/18,1/18 (one value: every layer; default: the shipped models', 3/98 = 24 uses for mnist, 1/18 for cifar10)")] = None,
    channel: Annotated[str, typer.Option(help="training channel, one of: " + ", ".join(channels.names()))] = "awgn",
    csi: Annotated[str, typer.Option(help="receiver CSI: perfect, none, ls or lmmse (TDL/OFDM channels)")] = "perfect",
    snr_train: Annotated[str, typer.Option(help="training SNR in dB: lo:hi (per-example uniform) or one value")] = "0:20",
    epochs: Annotated[str, typer.Option(help="epochs")] = "10",
    batch_size: Annotated[str, typer.Option(help="images per step")] = "128",
    lr: Annotated[float, typer.Option(help="Adam learning rate (cosine decay to lr/100)")] = 1e-3,
    width: Annotated[str, typer.Option(help="conv width of the model")] = "64",
    arch: Annotated[str, typer.Option(help="JSCC architecture: klt-refine (linear analog backbone + learned residuals), klt-rmn (the same with a recurrent modular receiver routed per task and layer), klt-slim (the same with a slimmable receiver trained by the sandwich rule and CI-KD) or conv (the first model)")] = "klt-refine",
    layer_power: Annotated[str, typer.Option(help="split of the frame's power across layers: equal (unit energy per symbol in every layer) or softcast (SoftCast's allocation over the whole frame: more to layer 1, unit energy over the frame; klt-refine)")] = "equal",
    tasks: Annotated[Optional[str], typer.Option(help="receiver-side tasks per layer, e.g. '1:coarse2,recon;2:coarse4,recon;3:class,recon' (tasks: recon, class, coarse2, coarse4, edges, thumb, colour; default: recon,class at every layer; klt-refine)")] = None,
    proxy_attention: Annotated[bool, typer.Option(help="the proxy cues of --tasks (edges, thumb, colour) feed the other heads through uncertainty-aware gates (klt-refine)")] = False,
    sample_layers: Annotated[Optional[bool], typer.Option("--sample-layers/--all-layers", help="decode one random layer per example and step (L times cheaper), or every layer (default: sample for klt-refine)")] = None,
    distortion: Annotated[str, typer.Option(help="reconstruction loss: log-mse (mean per-image log MSE, i.e. the PSNR: every SNR weighs alike) or mse")] = "log-mse",
    val: Annotated[str, typer.Option(help="training images held out for validation after each epoch; the best epoch is kept as best.safetensors (0: none)")] = "5000",
    semantic_weight: Annotated[
        Optional[str],
        typer.Option(help="weight b_l of each layer's cross-entropy (fixed weighting): one value or one per layer "
                          "(default 0.05)"),
    ] = None,
    weighting: Annotated[str, typer.Option(help="loss weighting: fixed, equal, uncertainty, dwa, gradnorm, pcgrad, upgrad, imtl-g or gradsplit (uncertainty, dwa and gradnorm need --distortion mse; upgrad and imtl-g need semcomm[mtl]; gradsplit takes --semantic-weight and --weighting-opt recon_to_semantic=1 / semantic_to_recon=1)")] = "fixed",
    gradsplit_relation: Annotated[Optional[str], typer.Option(help="GradSplit's task relation, rows (recon; semantic) of 0/1 per group, e.g. '1,1;0,1' (recon also trains the semantic group); default own task only")] = None,
    weighting_opt: Annotated[Optional[list[str]], typer.Option(help="an option of the weighting, NAME=VALUE (repeatable): dwa temperature=2, gradnorm alpha=1.5, pcgrad seed=0")] = None,
    limit: Annotated[Optional[str], typer.Option(help="train on the first N images only")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    k_factor: KFactorOption = None,
    block_len: BlockLenOption = None,
    delay_spread: DelaySpreadOption = None,
    doppler: DopplerOption = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    extend: Annotated[bool, typer.Option(help="with --resume: train the run to a larger --epochs than planned (the cosine schedule then spans the new total)")] = False,
    force: Annotated[bool, typer.Option(help="overwrite a run already in --out")] = False,
    download: Annotated[bool, typer.Option(help="fetch missing dataset files (official URLs, md5-checked)")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda[:N]")] = "cpu",
) -> None:
    """Train a multi-resolution JSCC model; writes model.safetensors + config.json every epoch."""
    check_writable(out, "--out", directory=True)
    cfg = TrainConfig(
        dataset=dataset,
        ratios=parse_ratios(ratio or DEFAULT_RATIOS.get(dataset, "1/18"), layers),
        data_root=data_root,
        channel=channel,
        channel_kwargs=_channel_kwargs(channel, _channel_options(k_factor, block_len, delay_spread, doppler)),
        csi=csi,
        snr_train=parse_snr_range(snr_train),
        epochs=parse_count(epochs, "--epochs"),
        batch_size=parse_count(batch_size, "--batch-size"),
        lr=lr,
        width=parse_count(width, "--width"),
        arch=arch,
        layer_power=layer_power,
        tasks=tasks,
        proxy_attention=proxy_attention,
        sample_layers=sample_layers,
        distortion=distortion,
        val=parse_count(val, "--val", minimum=0),
        weighting=weighting,
        weighting_kwargs=_weighting_kwargs(weighting, semantic_weight, layers, weighting_opt or [], gradsplit_relation),
        limit=None if limit is None else parse_count(limit, "--limit"),
        seed=seed,
    )
    validate(cfg)
    if extend and not resume:
        raise ValueError("--extend continues a run: give it with --resume")
    requested = parse_ratios(ratio or DEFAULT_RATIOS.get(dataset, "1/18"), layers)
    for layer, (asked, used) in enumerate(zip(requested, cfg.ratios), start=1):
        if abs(used - asked) > 0.01 * asked:
            uses = cfg.model_config().layer_symbols[layer - 1]
            print(f"warning: layer {layer}: --ratio {asked:.4g} rounds to {uses} channel uses, "
                  f"so the ratio used (and stored) is {used:.4g}", file=sys.stderr)
    with progress_bar() as bar:
        tasks: list[TaskID] = []  # the bar appears with the first step, after the data has loaded

        def show(desc: str, done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task(desc, total=total))
            bar.update(tasks[0], description=desc, completed=done)

        history = train_model(cfg, out, resume=resume, progress=show, download=download, device=_device(device),
                              force=force, extend=extend, note=lambda text: print(f"note: {text}", file=sys.stderr))
    console.print(_epoch_table(history))
    console.print(f"checkpoint: {out / 'model.safetensors'}")



@app.command()
@one_line_errors
def adapt(
    model: Annotated[str, typer.Argument(help="a trained klt-refine model: run directory, .safetensors file or pretrained name")],
    channel: Annotated[str, typer.Option(help="the target channel, one of: " + ", ".join(channels.names()))] = "tdl-c",
    csi: Annotated[str, typer.Option(help="the receiver's CSI mode there: perfect, none, ls or lmmse (TDL/OFDM)")] = "ls",
    snr: Annotated[str, typer.Option(help="target SNR in dB: lo:hi (per-example uniform) or one value")] = "0:20",
    out: Annotated[Path, typer.Option(help="run directory of the adapted model")] = Path("runs/adapted"),
    data_root: Annotated[Optional[str], typer.Option(help="where the images the transmitter sends come from (training split; default $SEMCOMM_DATA, 'embedded' for smoke tests); the receiver never sees them")] = None,
    steps: Annotated[str, typer.Option(help="adaptation steps")] = "300",
    batch_size: Annotated[str, typer.Option(help="received examples per step")] = "64",
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-4,
    ema: Annotated[float, typer.Option(help="the mean teacher's EMA decay")] = 0.99,
    threshold: Annotated[float, typer.Option(help="teacher confidence above which a pseudo-label is used")] = 0.9,
    passes: Annotated[str, typer.Option(help="stochastic teacher passes for the variance split")] = "4",
    similar: Annotated[float, typer.Option(help="fraction of each batch called source-similar (lowest variance)")] = 0.2,
    adversarial: Annotated[float, typer.Option(help="weight of the discriminator loss (gradient reversal)")] = 0.1,
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    k_factor: KFactorOption = None,
    block_len: BlockLenOption = None,
    delay_spread: DelaySpreadOption = None,
    doppler: DopplerOption = None,
    force: Annotated[bool, typer.Option(help="overwrite a model already in --out")] = False,
) -> None:
    """Adapt a trained receiver to another channel from received signals alone (no source
    data, no labels): mean teacher, variance split, adversarial alignment."""
    from semcomm.adapt import AdaptConfig, TargetLink, adapt as adapt_model, check_target, save_adapted
    from semcomm.models.checkpoint import MODEL_FILE, load_checkpoint

    check_writable(out, "--out", directory=True)
    check_seed(seed)
    cfg = AdaptConfig(channel=channel, csi=csi, snr=parse_snr_range(snr),
                      channel_kwargs=_channel_kwargs(channel, _channel_options(k_factor, block_len, delay_spread, doppler)),
                      steps=parse_count(steps, "--steps"), batch_size=parse_count(batch_size, "--batch-size"), lr=lr, ema=ema,
                      threshold=threshold, passes=parse_count(passes, "--passes"), similar=similar, adversarial=adversarial,
                      seed=seed)
    net, meta = load_checkpoint(model)
    if meta["model"].get("arch") != "klt-refine":
        raise ValueError(f"adapt needs a klt-refine model; {model!r} is {meta['model'].get('arch', 'conv')!r}")
    check_target(meta.get("train", {}), cfg)
    if (out / MODEL_FILE).exists() and not force:
        raise ValueError(f"{str(out)!r} already holds a model: --force overwrites it, or choose another --out")
    root = data_root or os.environ.get(ENV_VAR) or EMBEDDED
    data = load_images(net.config.dataset, root, "test" if root == EMBEDDED else "train")
    link = TargetLink(net, torch.from_numpy(data.images), cfg)
    with progress_bar() as bar:
        task = bar.add_task("adapting", total=cfg.steps)
        adapted, history = adapt_model(net, link, cfg, progress=lambda step, stats: bar.update(
            task, completed=step, description=f"adapting: pseudo-labelled {100 * stats['pseudo_labelled']:.0f} %"))
    path = save_adapted(out, adapted, meta, cfg, history, model)
    console.print(f"adapted in {sum(h['seconds'] for h in history):.0f} s: {path}")


#: The SSCC baseline of the demo: a codec that fits small images, over LDPC and the capacity bound.
DEMO_SSCC = SSCCSpec(codecs=["jpeg"], links=["ldpc", "capacity"])


@app.command()
@one_line_errors
def demo(
    out: Annotated[Path, typer.Option(help="output folder: results.json, fig.png")] = Path("demo"),
    model: Annotated[str, typer.Option(help="pretrained model or run directory")] = "mnist-l3",
    snr: Annotated[str, typer.Option(help="AWGN Es/N0 in dB")] = "-5:20:2.5",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
) -> None:
    """The quick-start job: a pretrained multi-resolution JSCC model, the uncoded analog
    reference, the multi-resolution linear analog reference (KLT + SoftCast + LMMSE, the model's
    layers) and an SSCC baseline (JPEG over 5G LDPC, and over an ideal capacity-achieving code,
    at the model's bandwidth ratio) over AWGN, on the embedded test sample (no download, no
    GPU)."""
    check_writable(out, "--out", directory=True)
    check_seed(seed)
    snrs = parse_snr_list(snr)
    dataset = resolve_method(model).dataset
    shipped = shipped_klt_path(dataset).is_file()  # linear's KLT: the shipped one, else fitted on $SEMCOMM_DATA
    extra = ["analog", "linear", "sscc"]
    if not shipped and not os.environ.get(ENV_VAR):
        err_console.print(f"linear: skipped, no KLT ships for {dataset} (set {ENV_VAR} to fit it on the training split)")
        extra.remove("linear")
    methods = sweep_methods([model], extra, DEMO_SSCC, None, data_root=EMBEDDED if shipped else None)
    images = load_images(methods[0].dataset, "embedded", "test")
    err_console.print(f"images: {len(images)} {images.name} test images from the embedded sample")
    records = _sweep_to_file(methods, images, True, ["awgn"], ["perfect"], snrs, out / "results.json", seed, 500,
                             {"awgn": {}})
    console.print(_sweep_table(records))
    plot_sweep({"records": records}, out / "fig.png")
    console.print(f"results: {out / 'results.json'}")
    console.print(f"figure: {out / 'fig.png'}")


def main() -> None:
    """Entry point for ``python -m semcomm``."""
    app()
