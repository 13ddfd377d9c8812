"""The ``semcomm`` command line.

User errors (a bad SNR list, an unknown modulation or channel, ...) end the command with one
line on stderr, ``error: <what is wrong and what is allowed>``, and exit code 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

import channels
from semcomm.ber import BerConfig, BerPoint, simulate_ber_point
from semcomm.digital import get_constellation
from semcomm.plot import plot_ber
from semcomm.sweep import ResultsFile, parse_count, parse_snr_list

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
    """Turn a ``ValueError`` raised for bad user input into ``error: ...`` on stderr, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValueError as err:
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


def _channel_kwargs(channel: str, k_factor: str | None, block_len: str | None) -> dict[str, Any]:
    if channel not in channels.CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; choose one of: {', '.join(channels.names())}")
    kwargs: dict[str, Any] = {}
    if k_factor is not None:
        if channel != "rician":
            raise ValueError(f"--k-factor applies to the rician channel only, not {channel!r}")
        try:
            kwargs["k_factor"] = float(k_factor)
        except ValueError:
            raise ValueError(f"bad --k-factor {k_factor!r}: expected a number >= 0 (linear K)") from None
    if block_len is not None:
        if channel not in ("rayleigh-block", "rician"):
            raise ValueError(f"--block-len applies to rayleigh-block and rician, not {channel!r}")
        kwargs["block_len"] = parse_count(block_len, "--block-len")
    channels.get(channel, **kwargs)  # validates the options now, before any work
    return kwargs


def _ber_table(config: BerConfig, points: list[BerPoint]) -> Table:
    table = Table(title=f"Uncoded BER: {config.modulation} over {config.channel}, CSI {config.csi}")
    for col in ("Es/N0 [dB]", "Eb/N0 [dB]", "bits", "errors", "BER sim", "95 % CI", "BER theory", "sim/theory"):
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
    channel: Annotated[str, typer.Option(help="awgn, rayleigh-block, rayleigh-fast or rician")] = "awgn",
    snr: Annotated[str, typer.Option(help="Es/N0 in dB: start:stop:step (stop included) or a comma list")] = "0:10:1",
    bits: Annotated[str, typer.Option(help="bits per SNR point, e.g. 1e6")] = "1e6",
    csi: Annotated[str, typer.Option(help="receiver CSI: perfect or none")] = "perfect",
    demapper: Annotated[str, typer.Option(help="app (exact) or maxlog")] = "app",
    k_factor: Annotated[Optional[str], typer.Option(help="Rician K-factor, linear")] = None,
    block_len: Annotated[Optional[str], typer.Option(help="symbols per fading block (default: one per frame)")] = None,
    frame_len: Annotated[str, typer.Option(help="symbols per frame (one example)")] = "100",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="results JSON (resumes if it exists)")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="save a BER-vs-SNR figure here")] = None,
) -> None:
    """Simulate uncoded BER over a channel and compare it with theory."""
    get_constellation(modulation)
    config = BerConfig(
        modulation=modulation,
        channel=channel,
        channel_kwargs=_channel_kwargs(channel, k_factor, block_len),
        csi=csi,
        demapper=demapper,
        bits=parse_count(bits, "--bits"),
        frame_len=parse_count(frame_len, "--frame-len"),
        seed=seed,
    )
    if csi not in channels.CSI_MODES:
        raise ValueError(f"unknown --csi {csi!r}; choose one of: {', '.join(channels.CSI_MODES)}")
    if demapper not in ("app", "maxlog"):
        raise ValueError(f"unknown --demapper {demapper!r}; choose one of: app, maxlog")
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


def main() -> None:
    """Entry point for ``python -m semcomm``."""
    app()
