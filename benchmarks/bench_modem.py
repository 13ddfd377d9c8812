"""Demapper speed: semcomm's QAMDemapper vs Sionna's Demapper on the same received symbols.

Prints, per modulation and method, the best-of-N wall time of each, the ratio
(Sionna time / ours; > 1 means ours is faster) and the largest LLR difference.

    python benchmarks/bench_modem.py [--symbols 1000000] [--repeats 5] [--threads 2] [--json FILE]

``--json`` writes the ratios as a table for the docs (``docs/results/render.py``): a row per
demapper, a column per modulation.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from sionna.phy.mapping import Demapper, Mapper
from table_file import write_table

from semcomm.digital import QAMDemapper, QAMMapper, get_constellation


def best_time(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    result = fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", default=None, help="also write the ratios as a table to this file, for the docs")
    args = parser.parse_args()
    ratios: dict[str, list[str]] = {"app": [], "maxlog": []}
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    print(f"{args.symbols:,} symbols, best of {args.repeats}, {args.threads} threads, torch {torch.__version__}")
    print(f"{'modulation':>10} {'method':>7} {'ours [ms]':>10} {'sionna [ms]':>12} {'ratio':>7} {'max|dLLR|':>10}")
    for modulation in ("qpsk", "16qam", "64qam", "256qam"):
        m = get_constellation(modulation).bits_per_symbol
        bits = torch.randint(0, 2, (1, args.symbols * m), generator=g, dtype=torch.uint8)
        x = QAMMapper(modulation)(bits)
        no = 0.1
        y = x + (no**0.5) * torch.randn(x.shape, dtype=torch.complex64, generator=g)
        assert torch.allclose(Mapper("qam", m)(bits), x, atol=1e-6)
        for method in ("app", "maxlog"):
            ours = QAMDemapper(modulation, method=method)
            theirs = Demapper(method, "qam", m)
            with torch.inference_mode():
                t_ours, llr_ours = best_time(lambda: ours(y, no), args.repeats)
                t_ref, llr_ref = best_time(lambda: theirs(y, torch.tensor(no)), args.repeats)
            diff = (llr_ours - llr_ref).abs().max().item()
            print(f"{modulation:>10} {method:>7} {t_ours * 1e3:10.1f} {t_ref * 1e3:12.1f} {t_ref / t_ours:7.2f} {diff:10.2e}")
            ratios[method].append(f"{t_ref / t_ours:.2g}×")
    write_table(args.json, ["Sionna time / ours", "QPSK", "16-QAM", "64-QAM", "256-QAM"],
                [[method, *cells] for method, cells in ratios.items()], seed=0,
                config={"symbols": args.symbols, "repeats": args.repeats, "threads": args.threads,
                        "torch": torch.__version__},
                notes=[f"{args.symbols:,} symbols, best of {args.repeats}, {args.threads} threads."])


if __name__ == "__main__":
    main()
