"""Figures from results files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from semcomm.sweep.results_io import replace_atomic

__all__ = ["plot_ber", "save_figure"]


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` atomically; the format follows the suffix of ``path`` (png, pdf, svg, ...)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    return replace_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"), mode="wb")


def plot_ber(results: dict[str, Any], path: str | Path) -> Path:
    """BER vs Es/N0: simulated points with 95 % intervals and the theoretical curve.

    Args:
        results: a results file written by ``semcomm ber`` (``config`` + ``records``).
        path: output image.
    """
    cfg = results["config"]
    records = sorted(results["records"], key=lambda r: r["snr_db"])
    snr = [r["snr_db"] for r in records]
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot()
    shown = [(s, r) for s, r in zip(snr, records) if r["errors"] > 0]
    if shown:
        xs = [s for s, _ in shown]
        ys = [r["ber"] for _, r in shown]
        lo = [r["ber"] - r["ber_ci95"][0] for _, r in shown]
        hi = [r["ber_ci95"][1] - r["ber"] for _, r in shown]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label="simulated (95 % CI)")
    theory = [(s, r["ber_theory"]) for s, r in zip(snr, records) if r.get("ber_theory")]
    if theory:
        ax.plot(*zip(*theory), "-", lw=1.2, label="theory")
    ax.set_yscale("log")
    ax.set_xlabel("SNR = Es/N0 per complex symbol [dB]")
    ax.set_ylabel("bit error rate")
    ax.set_title(f"{cfg['modulation']} over {cfg['channel']} (CSI: {cfg['csi']}, {cfg['demapper']} demapper)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
