"""Uncoded BER, simulated vs theory, over a grid of modulations and channels.

For each configuration prints the worst ratio simulated/theory and how many SNR points have the
theoretical value inside the simulated 95 % interval (expect about 95 %).

The theory is that of per-symbol nearest-point decisions, i.e. hard decisions on max-log LLRs
(the default here); exact (app) LLRs decide bit by bit, which is optimal per bit and can come
out slightly (about 1 %) below the curve at low SNR.

    python benchmarks/ber_vs_theory.py [--bits 1e6] [--seed 0] [--demapper maxlog|app] [--json FILE]

``--json`` writes the table for the docs (``docs/results/render.py``).
"""

from __future__ import annotations

import argparse

from table_file import write_table

from semcomm.ber import BerConfig, simulate_ber_point
from semcomm.cli.parsing import parse_count

MODULATIONS = {"bpsk": "BPSK", "qpsk": "QPSK", "16qam": "16-QAM", "64qam": "64-QAM", "256qam": "256-QAM"}


def channel_label(channel: str, kwargs: dict) -> str:
    """``rician`` + ``{"k_factor": 3, "block_len": 1}`` -> ``Rician K=3, fast``."""
    if channel == "awgn":
        return "AWGN"
    family, _, kind = channel.partition("-")
    fading = kind or ("fast" if kwargs.get("block_len") == 1 else "block")
    k = f" K={kwargs['k_factor']:g}," if "k_factor" in kwargs else ""
    return f"{family.capitalize()}{k} {fading}"

GRID: list[tuple[str, str, dict, list[float]]] = [
    ("bpsk", "awgn", {}, [0, 2, 4, 6, 8]),
    ("qpsk", "awgn", {}, [0, 3, 6, 9, 12]),
    ("16qam", "awgn", {}, [6, 9, 12, 15, 18]),
    ("64qam", "awgn", {}, [12, 15, 18, 21]),
    ("256qam", "awgn", {}, [18, 21, 24, 27]),
    ("bpsk", "rayleigh-fast", {}, [0, 10, 20, 30]),
    ("qpsk", "rayleigh-block", {}, [0, 10, 20, 30]),
    ("16qam", "rayleigh-fast", {}, [5, 15, 25]),
    ("qpsk", "rician", {"k_factor": 3.0, "block_len": 1}, [0, 5, 10, 15, 20]),
    ("16qam", "rician", {"k_factor": 10.0}, [10, 15, 20]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", default="1e6")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demapper", default="maxlog", choices=("app", "maxlog"))
    parser.add_argument("--json", default=None, help="also write the table to this file, for the docs")
    args = parser.parse_args()
    rows = []
    bits = parse_count(args.bits, "--bits")
    print(f"{'modulation':>10} {'channel':>22} {'SNR [dB]':>16} {'sim/theory':>22} {'theory in CI':>12}")
    for modulation, channel, kwargs, snrs in GRID:
        cfg = BerConfig(modulation=modulation, channel=channel, channel_kwargs=kwargs, bits=bits, seed=args.seed,
                        demapper=args.demapper)
        points = [simulate_ber_point(cfg, float(s)) for s in snrs]
        ratios = [p.ber / p.ber_theory for p in points]
        inside = sum(p.ber_ci95[0] <= p.ber_theory <= p.ber_ci95[1] for p in points)
        name = channel + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(
            f"{modulation:>10} {name:>22} {f'{snrs[0]}..{snrs[-1]}':>16} "
            f"{f'{min(ratios):.3f} .. {max(ratios):.3f}':>22} {f'{inside}/{len(points)}':>12}"
        )
        rows.append([MODULATIONS[modulation], channel_label(channel, kwargs), f"{snrs[0]:g}..{snrs[-1]:g}",
                     f"{min(ratios):.3f} .. {max(ratios):.3f}", f"{inside}/{len(points)}"])
    write_table(args.json, ["modulation", "channel", "Es/N0 [dB]", "simulated / theory", "theory inside the 95 % CI"],
                rows, seed=args.seed, config={"bits": bits, "demapper": args.demapper})


if __name__ == "__main__":
    main()
