"""Per-point random streams: each point of a sweep draws from its own generator.

A point's generator is seeded from the run's seed, its SNR and any labels naming it (channel,
CSI mode, ...), so a point's result does not depend on which other points ran with it, nor in
which order — which is what makes resumed sweeps identical to uninterrupted ones.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

__all__ = ["MAX_SEED", "check_seed", "point_generator"]

#: The largest seed: ``torch.manual_seed`` takes 64-bit seeds, numpy's SeedSequence any >= 0.
MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> int:
    """``seed`` if it is a whole number in ``0...MAX_SEED``, else a one-line ``ValueError`` naming ``--seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"bad --seed {seed!r}: expected a whole number from 0 to 2**63-1")
    return seed


def point_generator(seed: int, snr_db: float, *labels: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded from ``(seed, snr_db, *labels)``: the same point always sees the same draws.

    Args:
        seed: the run's seed (>= 0).
        snr_db: the point's SNR in dB (resolved to 0.001 dB).
        labels: further names of the point, e.g. ``("rayleigh-block", "perfect")``; each enters
            the seed through its CRC-32, so the stream is stable across Python processes.
        device: device of the generator (it must match the device the draws are made on).
    """
    entropy = [seed, int(round(snr_db * 1000)) % (1 << 32)] + [zlib.crc32(label.encode()) for label in labels]
    key = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint64)
    return torch.Generator(device=device).manual_seed(int(key[0] >> np.uint64(1)))
