"""Classical digital link blocks: Gray QAM modem, closed-form BER theory, MCS table.

The 5G NR LDPC code is :mod:`semcomm.digital.ldpc` and the LDPC + QAM link
:mod:`semcomm.digital.link` (imported on their own: they load numba).
"""

from semcomm.digital.ber_theory import (
    awgn_ber,
    awgn_ber_approx,
    fading_ber,
    rayleigh_ber_bpsk,
    rayleigh_ber_qpsk,
)
from semcomm.digital.mcs import MCS_TABLE, Mcs, get_mcs, info_bits, mcs_indices
from semcomm.digital.qam import (
    DEMAPPING_METHODS,
    MODULATIONS,
    Constellation,
    QAMDemapper,
    QAMMapper,
    check_demapping_method,
    get_constellation,
    hard_decisions,
)

__all__ = [
    "DEMAPPING_METHODS",
    "MCS_TABLE",
    "Mcs",
    "get_mcs",
    "info_bits",
    "mcs_indices",
    "MODULATIONS",
    "Constellation",
    "QAMDemapper",
    "QAMMapper",
    "check_demapping_method",
    "get_constellation",
    "hard_decisions",
    "awgn_ber",
    "awgn_ber_approx",
    "fading_ber",
    "rayleigh_ber_bpsk",
    "rayleigh_ber_qpsk",
]
