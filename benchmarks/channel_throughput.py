"""Channel throughput: our channels vs Sionna's equivalents, generating and applying the same sizes.

Each case draws a fresh channel and noise for a batch and applies them (per-example SNR for
ours, a batch of noise variances for Sionna), on CPU, in single precision:

- AWGN: ``channels.AWGN`` vs ``sionna.phy.channel.AWGN`` on ``[B, n]``.
- Rayleigh, a gain per symbol: ``channels.RayleighFast`` vs ``sionna.phy.channel.FlatFadingChannel(1, 1)``
  on ``B n`` symbols.
- TDL-A / TDL-A with 100 Hz Doppler over CP-OFDM (128 subcarriers of 30 kHz, 14 symbols, 300 ns):
  ``channels.get("tdl-a")`` on one slot of data per example (pilots inserted, per-RE channel,
  data and pilot outputs) vs ``sionna.phy.channel.OFDMChannel(TDL("A"), ResourceGrid)`` on the
  full ``[B, 1, 1, 14, 128]`` grid. Throughput counts resource elements (data + pilots) for both.

Prints symbols (REs) per second of both and their ratio; timings interleave the two
implementations and take the median, as the machine may be shared. Never run as a test.

    python benchmarks/channel_throughput.py [--quick] [--batch 256] [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import channels


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _compare(ours: Callable[[], object], theirs: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median seconds per call of ``ours`` and ``theirs``."""
    for fn in (ours, theirs):  # warm-up (caches, allocator)
        fn()
        fn()
    t_ours, t_theirs = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both
        t_ours.append(_seconds(ours))
        t_theirs.append(_seconds(theirs))
    return statistics.median(t_ours), statistics.median(t_theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batch, few repeats (a smoke run)")
    parser.add_argument("--batch", type=int, default=256, help="examples per call (default 256)")
    parser.add_argument("--symbols", type=int, default=4096, help="symbols per example for the flat channels")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per implementation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (default 1: on a shared machine "
                        "intra-op threads stall on busy cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch, n, repeats = (32, 1024, 3) if args.quick else (args.batch, args.symbols, args.repeats)

    from sionna.phy import config
    from sionna.phy.channel import AWGN, FlatFadingChannel, OFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.ofdm import ResourceGrid

    config.seed = 0
    g = torch.Generator().manual_seed(0)
    snr_db = torch.linspace(0.0, 20.0, batch)
    no = channels.snr_db_to_noise_var(snr_db)
    x = channels.normalize_power(torch.randn(batch, n, dtype=torch.complex64, generator=g))
    rows = []

    awgn, s_awgn = channels.AWGN(), AWGN(device="cpu")
    rows.append(("AWGN", f"{batch}x{n}", batch * n, *_compare(
        lambda: awgn(x, snr_db, generator=g), lambda: s_awgn(x, no[:, None]), repeats)))

    fast, s_flat = channels.RayleighFast(), FlatFadingChannel(1, 1, return_channel=True, device="cpu")
    x_flat, no_flat = x.reshape(-1, 1), no.repeat_interleave(n)
    rows.append(("Rayleigh, per symbol", f"{batch}x{n}", batch * n, *_compare(
        lambda: fast(x, snr_db, generator=g), lambda: s_flat(x_flat, no_flat), repeats)))

    rg = ResourceGrid(num_ofdm_symbols=14, fft_size=128, subcarrier_spacing=30e3, cyclic_prefix_length=12, device="cpu")
    grid = channels.normalize_power(torch.randn(batch, 1, 1, 14, 128, dtype=torch.complex64, generator=g))
    for label, doppler_hz in (("TDL-A OFDM", 0.0), ("TDL-A OFDM, 100 Hz Doppler", 100.0)):
        ours = channels.get("tdl-a", max_doppler_hz=doppler_hz)
        data = grid.reshape(batch, -1)[:, : ours.grid.num_data]
        speed = doppler_hz * 299_792_458.0 / 3.5e9  # f_D = v f_c / c
        theirs = OFDMChannel(TDL("A", 300e-9, 3.5e9, min_speed=speed, device="cpu"), rg, return_channel=True, device="cpu")
        rows.append((label, f"{batch}x14x128", batch * 14 * 128, *_compare(
            lambda: ours(data, snr_db, generator=g), lambda: theirs(grid, no[:, None, None, None, None]), repeats)))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}, median of {repeats} calls")
    print("| channel | size | ours (M sym/s) | Sionna (M sym/s) | ours / Sionna |")
    print("| --- | --- | --- | --- | --- |")
    for label, size, count, t_ours, t_theirs in rows:
        print(f"| {label} | {size} | {count / t_ours / 1e6:.1f} | {count / t_theirs / 1e6:.1f} | {t_theirs / t_ours:.2f} |")


if __name__ == "__main__":
    main()
