"""Uncoded bit-error-rate simulation of a QAM link over a flat channel, against theory.

bits -> :class:`~semcomm.digital.qam.QAMMapper` -> channel -> receiver CSI mode
(:func:`channels.receive`) -> :class:`~semcomm.digital.qam.QAMDemapper` -> hard decisions.

Each SNR point draws from its own generator, seeded from ``(seed, snr_db)``, so a point's
result does not depend on which other points ran with it: a :class:`BerPlan` (one point per
SNR) runs on any executor (:mod:`semcomm.execute`) with the same results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

import channels
from channels.conventions import esno_db_to_ebno_db
from semcomm.digital import (
    QAMDemapper,
    QAMMapper,
    check_demapping_method,
    fading_ber,
    get_constellation,
    hard_decisions,
)
from semcomm.execute.base import Plan
from semcomm.stats import RunningMean, binomial_ci95
from semcomm.seeding import check_seed, point_generator

__all__ = ["MAX_BITS", "BerConfig", "BerPlan", "BerPoint", "simulate_ber_point", "theoretical_ber"]

#: The most bits one BER point may simulate (about 10^7-10^8 bits/s on two cores: hours at the most).
MAX_BITS = 10**12

#: Bits pushed through the link per vectorised step (bounded memory for 256-QAM "app").
CHUNK_BITS = 1 << 20


@dataclass(frozen=True)
class BerConfig:
    """One uncoded BER experiment (every SNR point shares it).

    Attributes:
        modulation: a name from :data:`semcomm.digital.MODULATIONS`.
        channel: a name from :func:`channels.names`.
        channel_kwargs: options for the channel factory (e.g. ``{"k_factor": 3.0}``).
        csi: receiver CSI mode, one of :data:`channels.CSI_MODES`.
        demapper: ``"app"`` or ``"maxlog"``.
        bits: bits simulated per SNR point (rounded up to whole frames).
        frame_len: complex symbols per example; with block fading and no ``block_len`` each
            frame sees one gain.
        seed: seed of every random draw.
    """

    modulation: str = "qpsk"
    channel: str = "awgn"
    channel_kwargs: dict[str, Any] = field(default_factory=dict)
    csi: str = "perfect"
    demapper: str = "app"
    bits: int = 1_000_000
    frame_len: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate every field now, with one-line errors, before any simulation runs."""
        check_seed(self.seed)
        get_constellation(self.modulation)
        channels.check_csi(self.csi, channels.get(self.channel, **self.channel_kwargs))
        check_demapping_method(self.demapper)
        needed = math.ceil(self.bits / get_constellation(self.modulation).bits_per_symbol)
        if self.frame_len > needed:
            raise ValueError(f"bad --frame-len {self.frame_len}: a frame longer than the {self.bits:,} bits asked for "
                             f"({needed:,} {self.modulation} symbols) is never filled; use at most {needed:,}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def bits_per_frame(self) -> int:
        return self.frame_len * get_constellation(self.modulation).bits_per_symbol

    @property
    def frames(self) -> int:
        """Frames simulated per SNR point: ``bits`` rounded up to whole frames."""
        return math.ceil(self.bits / self.bits_per_frame)


@dataclass(frozen=True)
class BerPoint:
    """Simulated and theoretical BER at one SNR (``snr_db`` is Es/N0 per complex symbol)."""

    snr_db: float
    ebno_db: float
    bits: int
    errors: int
    ber: float
    ber_ci95: tuple[float, float]
    ber_theory: float | None

    def record(self) -> dict[str, Any]:
        """The point as a results-file record (JSON: the interval as a list)."""
        return vars(self) | {"ber_ci95": list(self.ber_ci95)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> BerPoint:
        return cls(**{**record, "ber_ci95": tuple(record["ber_ci95"])})


def _ber_ci95(frame_ber: RunningMean, frames: int) -> tuple[float, float]:
    """95 % interval of the BER from the spread of per-frame error rates (valid under block
    fading, where errors inside a frame are correlated). With no error at all, the Wilson
    upper bound on the frame error rate, which bounds the BER."""
    if frame_ber.total == 0:
        return (0.0, binomial_ci95(0, frames)[1])
    half = frame_ber.ci95_halfwidth()
    return (max(0.0, frame_ber.mean - half), min(1.0, frame_ber.mean + half))


def theoretical_ber(config: BerConfig, snr_db: float, channel: channels.Channel) -> float | None:
    """Closed-form / numerically integrated BER, or None where theory does not apply
    (a fading channel without receiver CSI)."""
    if config.csi != "perfect" and channel.power_gain is not None:
        return None
    return float(fading_ber(config.modulation, snr_db, channel.power_gain))


def simulate_ber_point(
    config: BerConfig,
    snr_db: float,
    progress: Callable[[int], None] | None = None,
) -> BerPoint:
    """Simulate ``config.bits`` bits at ``snr_db`` (Es/N0, dB).

    Args:
        config: the experiment.
        snr_db: Es/N0 in dB.
        progress: called with the number of bits done after each chunk.
    """
    constellation = get_constellation(config.modulation)
    m = constellation.bits_per_symbol
    mapper = QAMMapper(config.modulation)
    demapper = QAMDemapper(config.modulation, method=config.demapper)
    channel = channels.get(config.channel, **config.channel_kwargs)
    generator = point_generator(config.seed, snr_db)

    bits_per_frame, frames_total = config.bits_per_frame, config.frames
    frames_per_chunk = max(1, CHUNK_BITS // bits_per_frame)
    errors = 0
    frame_ber = RunningMean()  # frames are independent; bits inside a fading block are not
    with torch.inference_mode():
        for start in range(0, frames_total, frames_per_chunk):
            frames = min(frames_per_chunk, frames_total - start)
            bits = torch.randint(0, 2, (frames, bits_per_frame), generator=generator, dtype=torch.uint8)
            out = channel(mapper(bits), snr_db, generator=generator)
            rx = channels.receive(out, config.csi)
            decided = hard_decisions(demapper(rx.x_hat, rx.noise_var))
            frame_errors = (decided.bool() != bits.bool()).sum(dim=1)
            errors += int(frame_errors.sum())
            frame_ber.update(frame_errors / bits_per_frame)
            if progress is not None:
                progress(frames * bits_per_frame)
    n_bits = frames_total * bits_per_frame
    return BerPoint(
        snr_db=snr_db,
        ebno_db=round(float(esno_db_to_ebno_db(snr_db, m)), 6),
        bits=n_bits,
        errors=errors,
        ber=errors / n_bits,
        ber_ci95=_ber_ci95(frame_ber, frames_total),
        ber_theory=theoretical_ber(config, snr_db, channel),
    )


class BerPlan(Plan[float]):
    """The BER experiment ``config`` at every SNR of ``snrs`` (Es/N0, dB): one point per SNR,
    records :meth:`BerPoint.record`, progress in bits.

    Raises:
        ValueError: one line, for no SNR or a non-finite one (``config`` validated itself).
    """

    key_fields = ("snr_db",)
    title = "BER"

    def __init__(self, config: BerConfig, snrs: list[float]) -> None:
        if not snrs or not all(math.isfinite(s) for s in snrs):
            raise ValueError(f"need at least one finite SNR, got {snrs}")
        self.experiment, self.seed = config, config.seed
        self._points = [float(s) for s in dict.fromkeys(snrs)]

    @property
    def points(self) -> list[float]:
        return self._points

    @property
    def config(self) -> dict[str, Any]:
        return self.experiment.to_dict()

    def record_point(self, record: dict[str, Any]) -> float:
        return record["snr_db"]

    def run_point(self, point: float, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        return [simulate_ber_point(self.experiment, point, progress).record()]

    def units(self, point: float) -> int:
        """Bits per point (whole frames)."""
        return self.experiment.frames * self.experiment.bits_per_frame

    def describe(self, point: float) -> str:
        return f"BER @ {point:g} dB"
