"""``semcomm ber``: uncoded BER over a channel against theory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

import channels
from semcomm.ber import MAX_BITS, BerConfig, BerPlan, BerPoint
from semcomm.cli.app import app, check_outputs, console, one_line_errors
from semcomm.cli.execution import ExecutorChoice, run_to_file, with_executor
from semcomm.cli.options import SNR_HELP, with_channel_options
from semcomm.cli.parsing import parse_count, parse_snr_list
from semcomm.plot import plot_ber


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
@with_executor
@with_channel_options
def ber(
    modulation: Annotated[str, typer.Option(help="bpsk, qpsk, 16qam, 64qam or 256qam")] = "qpsk",
    channel: Annotated[str, typer.Option(help="one of: " + ", ".join(channels.names()))] = "awgn",
    snr: Annotated[str, typer.Option(help=SNR_HELP)] = "0:10:1",
    bits: Annotated[str, typer.Option(help="bits per SNR point, e.g. 1e6")] = "1e6",
    csi: Annotated[str, typer.Option(help="receiver CSI: perfect, none, ls or lmmse (TDL/OFDM channels)")] = "perfect",
    demapper: Annotated[str, typer.Option(help="app (exact) or maxlog")] = "app",
    frame_len: Annotated[str, typer.Option(help="symbols per frame (one example)")] = "100",
    seed: Annotated[int, typer.Option(help="seed of every random draw")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="results JSON (resumes if it exists)")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="save a BER-vs-SNR figure here")] = None,
    *,
    channel_options: dict[str, str | None],
    executor: ExecutorChoice,
) -> None:
    """Simulate uncoded BER over a channel and compare it with theory."""
    check_outputs(("--out", out), ("--plot", plot))
    config = BerConfig(
        modulation=modulation,
        channel=channel,
        channel_kwargs=channels.option_kwargs(channel, channel_options),
        csi=csi,
        demapper=demapper,
        bits=parse_count(bits, "--bits", maximum=MAX_BITS, why="a day or more of simulation per point"),
        frame_len=parse_count(frame_len, "--frame-len"),
        seed=seed,
    )
    records = run_to_file(BerPlan(config, parse_snr_list(snr)), out, executor)
    console.print(_ber_table(config, [BerPoint.from_record(r) for r in records]))
    if plot is not None:
        plot_ber({"config": config.to_dict(), "records": records}, plot)
        console.print(f"figure: {plot}")
    if out is not None:
        console.print(f"results: {out}")
