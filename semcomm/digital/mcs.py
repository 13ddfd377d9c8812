"""Modulation and coding schemes: 3GPP TS 38.214 Table 5.1.3.1-2 (PDSCH, up to 256-QAM).

MCS index ``I`` gives the modulation order ``Qm`` (bits per symbol) and the target code rate
``R = R1024 / 1024``; its spectral efficiency is ``Qm R`` information bits per complex channel
use. Indices 28..31 of the standard are reserved (retransmissions) and not accepted here.

``info_bits(mcs, n_uses) = floor(Qm R n_uses)``: the information bits that ``n_uses`` complex
channel uses carry at the target rate. This is the spirit of the TS 38.214 §5.1.3.2 transport
block size (``N_info = R Qm N_RE``) without its quantisation to the TBS table and without the
CRC bits (our links use an ideal CRC, see :mod:`semcomm.digital.link`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from semcomm.digital.qam import MODULATIONS

__all__ = ["MCS_TABLE", "Mcs", "get_mcs", "info_bits", "mcs_indices"]

_MOD_NAME = {qm: name for name, qm in MODULATIONS.items()}


@dataclass(frozen=True)
class Mcs:
    """One row of TS 38.214 Table 5.1.3.1-2.

    Attributes:
        index: the MCS index ``I_MCS``.
        qm: modulation order (bits per complex symbol).
        rate_x1024: target code rate times 1024, as tabulated (682.5 and 916.5 are not integers).
    """

    index: int
    qm: int
    rate_x1024: float

    @property
    def rate(self) -> float:
        """Target code rate ``R = rate_x1024 / 1024``."""
        return self.rate_x1024 / 1024

    @property
    def spectral_efficiency(self) -> float:
        """``Qm R``: information bits per complex channel use."""
        return self.qm * self.rate

    @property
    def modulation(self) -> str:
        """Name of the modulation for :class:`~semcomm.digital.qam.QAMMapper` (``"qpsk"``, ``"16qam"``, ...)."""
        return _MOD_NAME[self.qm]


#: TS 38.214 Table 5.1.3.1-2: ``(Qm, R x 1024)`` for MCS indices 0..27.
_TABLE_2: tuple[tuple[int, float], ...] = (
    (2, 120), (2, 193), (2, 308), (2, 449), (2, 602),
    (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
    (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
    (8, 682.5), (8, 711), (8, 754), (8, 797), (8, 841), (8, 885), (8, 916.5), (8, 948),
)  # fmt: skip

#: MCS index -> :class:`Mcs`, TS 38.214 Table 5.1.3.1-2 (indices 0..27).
MCS_TABLE: tuple[Mcs, ...] = tuple(Mcs(i, qm, r) for i, (qm, r) in enumerate(_TABLE_2))


def mcs_indices() -> range:
    """The valid MCS indices, ``0 .. 27``."""
    return range(len(MCS_TABLE))


def get_mcs(index: int) -> Mcs:
    """The table row of MCS ``index``.

    Raises:
        ValueError: if ``index`` is not an integer in ``0 .. 27``.
    """
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < len(MCS_TABLE):
        raise ValueError(f"invalid MCS index {index!r}; allowed: integers 0..{len(MCS_TABLE) - 1} (TS 38.214 Table 5.1.3.1-2)")
    return MCS_TABLE[int(index)]


def info_bits(mcs: int, n_uses: int) -> int:
    """Information bits that ``n_uses`` complex channel uses carry at MCS ``mcs``: ``floor(Qm R n_uses)``.

    Raises:
        ValueError: on an invalid MCS index or ``n_uses < 1``.
    """
    if n_uses < 1:
        raise ValueError(f"n_uses must be >= 1, got {n_uses}")
    row = get_mcs(mcs)
    return math.floor(row.qm * row.rate_x1024 * n_uses / 1024)
