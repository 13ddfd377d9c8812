"""LDPC decoding speed: semcomm's decoder vs Sionna's LDPC5GDecoder on the same LLRs.

BPSK over AWGN (Eb/N0 per code, chosen where Sionna's default decoder has a BLER of a few
percent), the same rate-matched LLRs for both decoders. Per code and iteration count it prints
information-bit throughput (Mbit/s) of each, their ratio (ours / Sionna) and the BLER of each
with its error count. Sionna runs its default decoder (flooding, boxplus-phi) and cannot stop
early ("no early stopping used at the moment" in its docs), so the ``ES on`` rows compare our
early stopping against Sionna's full run; the ``ES off`` rows are like for like. Also prints the
encoder throughput of both. On a machine shared with other work, prefer ``--threads 1``: torch's
OpenMP threads spin-wait for a busy core and slow Sionna down many times over.

    python benchmarks/ldpc_throughput.py [--quick] [--codes 1024:2048:1.5,...] [--iters 10,20]
                                         [--blocks 600] [--threads 2] [--json FILE]

``--json`` writes, for the docs (``docs/results/render.py``), a row per code at the largest
iteration count: Sionna's throughput, ours with early stopping per decoder (and the ratio), the
BLER of each.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numba
import numpy as np
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

from table_file import write_table

from semcomm.digital.ldpc import LdpcCode, LdpcDecoder, LdpcEncoder

#: (k, n, Eb/N0 dB): BG2 rate 1/2, BG2 rate 1/3, BG1 rate 2/3.
DEFAULT_CODES = "1024:2048:1.5,512:1536:1.0,4096:6144:2.0"

#: Our decoder configurations: label -> LdpcDecoder options.
CONFIGS: dict[str, dict[str, object]] = {
    "layered boxplus": {"check_update": "boxplus", "schedule": "layered"},
    "layered minsum x0.75": {"check_update": "minsum", "schedule": "layered"},
    "layered offset-minsum": {"check_update": "offset-minsum", "schedule": "layered"},
    "flooding boxplus": {"check_update": "boxplus", "schedule": "flooding"},
}


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeats`` runs (one run if the first takes over 2 s) and the result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        if best > 2.0:
            break
    return best, result


def parse_codes(text: str) -> list[tuple[int, int, float]]:
    out = []
    for item in text.split(","):
        k, n, ebno = item.split(":")
        out.append((int(k), int(n), float(ebno)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", default=DEFAULT_CODES, help="k:n:EbN0dB,... (default: %(default)s)")
    parser.add_argument("--iters", default="10,20", help="iteration counts (default: %(default)s)")
    parser.add_argument("--blocks", type=int, default=600, help="codewords per code (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20 iterations and 150 codewords only")
    parser.add_argument("--json", default=None, help="also write the table of the docs to this file")
    args = parser.parse_args()
    rows = []
    iters = [20] if args.quick else [int(i) for i in args.iters.split(",")]
    blocks = 150 if args.quick else args.blocks
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    print(f"{blocks} codewords per code, {args.threads} threads, torch {torch.__version__}, numba {numba.__version__}")
    print("BPSK/AWGN; Sionna: LDPC5GDecoder (flooding, boxplus-phi, no early stop); ratio = ours / Sionna")

    for k, n, ebno in parse_codes(args.codes):
        code = LdpcCode(k, n)
        bits = torch.randint(0, 2, (blocks, k), generator=g, dtype=torch.uint8)
        encoder, reference_encoder = LdpcEncoder(code), LDPC5GEncoder(k, n)
        t_enc, cw = timed(lambda: encoder(bits), 3)
        t_ref_enc, ref_cw = timed(lambda: reference_encoder(bits.float()), 3)
        assert torch.equal(cw, ref_cw.to(torch.uint8))
        n0 = 10 ** (-(ebno + 10 * np.log10(k / n)) / 10)
        y = 1 - 2 * cw.float() + (n0 / 2) ** 0.5 * torch.randn(cw.shape, generator=g)
        llr = -4 * y / n0  # ln P(1)/P(0)
        mbits = blocks * k / 1e6
        print(
            f"\n(k, n) = ({k}, {n}), {code.bg}, Z = {code.z}, Eb/N0 = {ebno} dB; encoder: ours "
            f"{mbits / t_enc:.0f} Mbit/s, Sionna {mbits / t_ref_enc:.1f} Mbit/s (x{t_ref_enc / t_enc:.0f})"
        )
        print(
            f"{'it':>3} {'our decoder':<22} {'ES':<3} {'ours Mbit/s':>11} {'Sionna Mbit/s':>13} {'ratio':>7} "
            f"{'ours BLER (err)':>17} {'Sionna BLER (err)':>18} {'mean it':>7}"
        )
        for num_iter in iters:
            row: list[str] = [f"({k}, {n}) {code.bg}, {ebno:g} dB"]
            reference = LDPC5GDecoder(reference_encoder, num_iter=num_iter)
            reference(llr[:4])  # warm-up
            t_ref, ref_bits = timed(lambda: reference(llr), 1)
            ref_err = int((ref_bits.to(torch.uint8) != bits).any(1).sum())
            row.append(f"{mbits / t_ref:.3f}")
            blers = [f"{ref_err / blocks:.3g}"]
            for label, options in CONFIGS.items():
                for early_stop in (False, True):
                    decoder = LdpcDecoder(code, num_iter=num_iter, early_stop=early_stop, **options)  # type: ignore[arg-type]
                    decoder(llr[:4])  # compile / load from cache
                    t_ours, out = timed(lambda: decoder(llr), 3)
                    err = int((out.bits != bits).any(1).sum())
                    print(
                        f"{num_iter:>3} {label:<22} {'on' if early_stop else 'off':<3} {mbits / t_ours:11.2f} "
                        f"{mbits / t_ref:13.3f} {t_ref / t_ours:7.0f} {err / blocks:10.4f} ({err:>4}) "
                        f"{ref_err / blocks:11.4f} ({ref_err:>4}) {out.iterations.float().mean():7.2f}"
                    )
                    if early_stop:
                        row.append(f"{mbits / t_ours:.3g} ({t_ref / t_ours:.0f}×)")
                        blers.append(f"{err / blocks:.3g}")
            if num_iter == max(iters):
                rows.append([*row, " / ".join(blers)])
    write_table(args.json, ["code (k, n), Eb/N0", "Sionna [Mbit/s]",
                            *(f"ours, {label} (ES) [Mbit/s]" for label in CONFIGS),
                            f"BLER Sionna / {' / '.join(CONFIGS)}"], rows, seed=args.seed,
                config={"codes": args.codes, "iterations": max(iters), "blocks": blocks, "threads": args.threads},
                notes=[f"{blocks} codewords per code, {max(iters)} iterations, {args.threads} threads, BPSK/AWGN; "
                       "Sionna: LDPC5GDecoder (flooding, box-plus-φ, no early stop); ES: our early stop."])


if __name__ == "__main__":
    main()
